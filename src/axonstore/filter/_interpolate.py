"""``${name}`` / ``$name`` substitution inside string literals (ANCHOR §3.8, Unicode-correct: D1).

Single pass: a substituted value is never scanned again, so ``${x}`` with ``x = "${y}"`` yields ``${y}``.
A name that resolves to nothing is kept literally.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import lru_cache, partial
from typing import Final

_PLACEHOLDER: Final = re.compile(r"\$(?:\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def interpolate(template: str, bindings: Mapping[str, object] | None) -> str:
    """Substitute ``${name}``, ``${base.path.to.field}`` and ``$name`` from ``bindings``.

    >>> interpolate("%${q}% and $who, not ${missing}", {"q": "adm", "who": "é"})
    '%adm% and é, not ${missing}'
    """
    if not bindings or "$" not in template:
        return template
    return _PLACEHOLDER.sub(partial(_substitute, bindings), template)


def _substitute(bindings: Mapping[str, object], m: re.Match[str]) -> str:
    braced, bare = m.groups()
    value = _resolve_dotted(braced, bindings) if braced is not None else _lookup(bindings, bare)
    return m.group(0) if value is None else value


def interpolator(template: str) -> Callable[[Mapping[str, object] | None], str]:
    """``interpolate`` specialised for one template, for reuse: a template that is exactly one
    placeholder (``'${id}'``, the common case) resolves with a lookup instead of a regex pass."""
    if template[:1] != "$":  # cannot be one placeholder: no regex, no cache entry for it
        return partial(interpolate, template)
    return _placeholder_interpolator(template)


@lru_cache(maxsize=1024)  # such templates recur across expressions (`id = '${id}'`): build each once
def _placeholder_interpolator(template: str) -> Callable[[Mapping[str, object] | None], str]:
    whole = _PLACEHOLDER.fullmatch(template)
    if whole is None:
        return partial(interpolate, template)
    braced, bare = whole.groups()
    name = bare if braced is None else braced
    # Only a braced name with a dot walks into JSON; any other is one exact lookup (one call less).
    walks = braced is not None and "." in braced

    def resolve(bindings: Mapping[str, object] | None) -> str:
        if not bindings:
            return template
        value = _resolve_dotted(name, bindings) if walks else _lookup(bindings, name)
        return template if value is None else value

    return resolve


def _lookup(bindings: Mapping[str, object], name: str) -> str | None:
    value = bindings.get(name)
    if type(value) is str:  # the commonest binding, with no call
        return value
    return None if value is None else binding_text(value)


def binding_text(value: object) -> str:
    """A binding as text: strings as they are, booleans as ``true``/``false``, anything else ``str()``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _resolve_dotted(name: str, bindings: Mapping[str, object]) -> str | None:
    """Exact key first; else ``base.f1.f2`` walked through the JSON object in binding ``base``."""
    exact = _lookup(bindings, name)
    if exact is not None or "." not in name:
        return exact
    base, _, path = name.partition(".")
    raw = bindings.get(base)
    if raw is None:
        return None
    current = _parse_json(binding_text(raw))
    for segment in path.split("."):
        if isinstance(current, str):  # a JSON string holding an object is walked into, too
            current = _parse_json(current)
        if not isinstance(current, dict) or segment not in current:
            return None
        current = current[segment]
    if isinstance(current, str):
        return current
    return json.dumps(current, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


_NOT_JSON: Final = object()


def _parse_json(text: str) -> object:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # a binding nested past the parser's depth is not walkable
        return _NOT_JSON


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")
