"""A compiled, conservative check of tool arguments against their JSON Schema (pure).

``jsonschema`` walks a schema generically on every call (~50 µs for a retrieve's arguments, the
largest piece of the server's own work per call). The tool schemas are generated here from a handful
of keywords, so each is compiled once into nested closures that answer one question: *is this value
certainly valid?* The answer ``True`` is only given when ``jsonschema`` would accept the value too —
every test is as strict as the keyword's or stricter (``integer`` takes no ``1.0``, a ``pattern`` is
searched exactly as ``jsonschema`` searches it). ``False`` means "not sure": the caller then asks
``jsonschema``, which decides and words the error, so a refusal reads exactly as it did before. A
schema with a keyword this module does not know compiles to ``None``: always ask ``jsonschema``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

__all__ = ["Check", "compile_check", "depth_bound"]

#: ``True``: the value is valid for the schema; ``False``: not known to be (ask ``jsonschema``).
Check = Callable[[object], bool]

# Keywords that only annotate: they never make a value invalid.
_ANNOTATIONS: Final = frozenset({"$schema", "description", "title"})

# Exact types per JSON Schema name (``bool`` is not an ``int`` here, unlike ``isinstance``).
_TYPES: Final[Mapping[str, Callable[[object], bool]]] = {
    "string": lambda v: type(v) is str,
    "integer": lambda v: type(v) is int,  # stricter: jsonschema also takes 1.0
    "number": lambda v: type(v) is int or type(v) is float,
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
}


class _Unknown(Exception):
    """A keyword or value this compiler does not handle: the schema compiles to ``None``."""


def compile_check(schema: Mapping[str, Any]) -> Check | None:
    """The compiled check of ``schema``, or ``None`` when it uses anything not handled here."""
    try:
        return _compile(schema)
    except _Unknown:
        return None


def depth_bound(schema: object) -> int | None:
    """How deep a value valid for ``schema`` can nest (a scalar 0, an object of scalars 1, ...), or
    ``None`` when nothing bounds it (no ``type``, or an object or array whose members are free).

    A value that passes the compiled check conforms to the schema, so when the bound is small its
    depth needs no walk of its own.
    """
    if not isinstance(schema, Mapping):
        return None
    kinds = schema.get("type")
    names = [kinds] if isinstance(kinds, str) else kinds
    if not isinstance(names, list) or not names:
        return None
    containers: list[list[object]] = []  # the members of each container kind the schema allows
    if "object" in names:
        additional = schema.get("additionalProperties", True)
        if additional is True:
            return None
        members = list(schema.get("properties", {}).values())
        containers.append(members if additional is False else [*members, additional])
    if "array" in names:
        containers.append([schema.get("items")])  # no `items`: None, so unbounded
    deepest = 0
    for members in containers:
        for member in members:
            bound = depth_bound(member)
            if bound is None:
                return None
            deepest = max(deepest, bound + 1)
        deepest = max(deepest, 1)  # an empty container is one level deep
    return deepest


def _compile(schema: object) -> Check:
    if not isinstance(schema, Mapping):
        raise _Unknown
    checks: list[Check] = []
    for keyword, value in schema.items():
        if keyword in _ANNOTATIONS:
            continue
        if keyword == "additionalProperties":  # the one keyword that reads its siblings
            checks.append(_additional(value, schema))
            continue
        build = _KEYWORDS.get(keyword)
        if build is None:
            raise _Unknown
        checks.append(build(value))
    return _all(checks)


def _all(checks: list[Check]) -> Check:
    """Every check, as a chain of ``and`` (a generator per call cost a retrieve's arguments ~30 %)."""
    if not checks:
        return _anything
    if len(checks) == 1:
        return checks[0]
    first, rest = checks[0], _all(checks[1:])
    return lambda v: first(v) and rest(v)


def _type(value: object) -> Check:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or any(n not in _TYPES for n in names):
        raise _Unknown
    tests = tuple(_TYPES[n] for n in names)
    if len(tests) == 1:
        return tests[0]
    return lambda v: any(test(v) for test in tests)


def _count(value: object) -> int:
    if type(value) is not int or value < 0:
        raise _Unknown
    return value


def _max_length(value: object) -> Check:
    limit = _count(value)
    return lambda v: type(v) is not str or len(v) <= limit


def _min_length(value: object) -> Check:
    limit = _count(value)
    return lambda v: type(v) is not str or len(v) >= limit


def _number(value: object) -> int | float:
    if type(value) is not int and type(value) is not float:
        raise _Unknown
    return value


def _is_number(v: object) -> bool:
    return type(v) is int or type(v) is float


def _minimum(value: object) -> Check:
    low = _number(value)
    return lambda v: not _is_number(v) or v >= low  # type: ignore[operator]


def _maximum(value: object) -> Check:
    high = _number(value)
    return lambda v: not _is_number(v) or v <= high  # type: ignore[operator]


def _pattern(value: object) -> Check:
    if not isinstance(value, str):
        raise _Unknown
    search = re.compile(value).search  # jsonschema's own test: re.search(pattern, instance)
    return lambda v: type(v) is not str or search(v) is not None


def _max_items(value: object) -> Check:
    limit = _count(value)
    return lambda v: type(v) is not list or len(v) <= limit


def _max_properties(value: object) -> Check:
    limit = _count(value)
    return lambda v: type(v) is not dict or len(v) <= limit


def _min_properties(value: object) -> Check:
    limit = _count(value)
    return lambda v: type(v) is not dict or len(v) >= limit


def _required(value: object) -> Check:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise _Unknown
    names = tuple(value)
    if not names:
        return _anything
    return lambda v: type(v) is not dict or all(name in v for name in names)


def _properties(value: object) -> Check:
    if not isinstance(value, Mapping):
        raise _Unknown
    subs = {name: _compile(sub) for name, sub in value.items()}

    def check(v: object) -> bool:
        if type(v) is not dict:
            return True
        for name, item in v.items():  # the given properties: fewer than the declared ones
            sub = subs.get(name)
            if sub is not None and not sub(item):
                return False
        return True

    return check


def _additional(value: object, schema: Mapping[str, Any]) -> Check:
    if "patternProperties" in schema:
        raise _Unknown  # which keys are "additional" would depend on it
    known = frozenset(schema.get("properties", {}))
    if value is False:
        return lambda v: type(v) is not dict or known.issuperset(v)
    if value is True:
        return _anything
    sub = _compile(value)
    return lambda v: type(v) is not dict or all(key in known or sub(item) for key, item in v.items())


def _anything(value: object) -> bool:
    del value
    return True


def _property_names(value: object) -> Check:
    sub = _compile(value)
    return lambda v: type(v) is not dict or all(sub(key) for key in v)


_KEYWORDS: Final[Mapping[str, Callable[[object], Check]]] = {
    "type": _type,
    "maxLength": _max_length,
    "minLength": _min_length,
    "minimum": _minimum,
    "maximum": _maximum,
    "pattern": _pattern,
    "maxItems": _max_items,
    "maxProperties": _max_properties,
    "minProperties": _min_properties,
    "required": _required,
    "properties": _properties,
    "propertyNames": _property_names,
}
