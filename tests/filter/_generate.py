"""A fast random generator of where-expressions, bindings and column types for the property tests.

Hypothesis' own recursive strategies cost milliseconds per example; this costs microseconds, so each
hypothesis example (a seed) checks a batch of generated cases and a CI run checks well over 100 000.
"""

from __future__ import annotations

import random
from collections.abc import Callable

BINDING_NAMES = ("v", "w", "tenant", "obj")
MARK = "§"  # appears in binding values only: the generator never writes it into an expression
_COLUMNS = ("a", "b", "id", "name", "NOT", "in", "now", "and", "_x1", "Amount", "is", "between", "LIKE")
_SPACES = (" ", " ", " ", "  ", "\t", "\n", "\u3000", "\xa0", "")
_OPS = ("=", "==", "!=", "<>", "<", "<=", ">", ">=", "LIKE", "like", "ILIKE", "NOT LIKE", "not ilike")
_UNITS = ("second", "minutes", "HOUR", "days", "week", "months", "year", "fortnight")
_TEXT = "abcé xyz'\"\\%_$();,-{}.\n\t0123§"
_HOSTILE = (
    "'",
    "''",
    '"',
    "'; DROP TABLE t; --",
    "$1",
    "${v}",
    ")",
    "(",
    "\n",
    "\\",
    "é",
    "%",
    "--",
    "OR 1=1",
)
_DAMAGE = (*"()',\";$-+=!<>%:.\\", "AND", "NOT", " ", "é", "IN", "OR", "null")
_TYPES = ("int4", "text", "uuid", "billing.tier", "bad type", "x.y.z", "int8", "numeric")


class Generator:
    """Everything drawn from one seeded ``random.Random``, so a failing seed replays exactly."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def pick(self, options: tuple[str, ...]) -> str:
        return options[self.r.randrange(len(options))]

    def column(self) -> str:
        if self.r.random() < 0.7:
            return self.pick(_COLUMNS)
        first = self.r.choice("abcxyz_ABC")
        return first + "".join(self.r.choice("abc_0129XYZ") for _ in range(self.r.randrange(9)))

    def text(self) -> str:
        pieces = []
        for _ in range(self.r.randrange(4)):
            if self.r.random() < 0.35:
                name = self.pick(BINDING_NAMES)
                pieces.append(f"${{{name}}}" if self.r.random() < 0.6 else f"${name}")
            else:
                pieces.append("".join(self.r.choice(_TEXT) for _ in range(self.r.randrange(6))))
        return "".join(pieces)

    def string(self) -> str:
        mark = self.pick(("'", '"'))
        escaped = self.text().replace("\\", "\\\\").replace(mark, "\\" + mark)
        return f"{mark}{escaped}{mark}"

    def number(self) -> str:
        roll = self.r.random()
        if roll < 0.5:
            return str(
                self.r.randint(-(2**70), 2**70) if self.r.random() < 0.2 else self.r.randint(-999, 999)
            )
        if roll < 0.9:
            return f"{self.r.uniform(-1e6, 1e6):.{self.r.randrange(7)}f}"
        return self.pick(("007", "-0", "1.", "0.5", "1.2.3", "9" * 400))

    def value(self) -> str:
        roll = self.r.random()
        if roll < 0.45:
            return self.string()
        if roll < 0.85:
            return self.number()
        return self.pick(("true", "FALSE", "null", "Null", "TRUE"))

    def bound(self) -> str:
        roll = self.r.random()
        return self.string() if roll < 0.4 else self.number() if roll < 0.9 else self.pick(("true", "false"))

    def time(self) -> str:
        if self.r.random() < 0.3:
            return "now()"
        sp = self.pick(_SPACES[:4])
        amount = self.r.choice((str(self.r.randrange(2**32)), "${v}", "+5", "-5"))
        return f"now(){sp}{self.pick(('+', '-'))}{sp}interval{sp}'{amount} {self.pick(_UNITS)}'"

    def condition(self) -> str:
        col, sp, op = self.column(), self.pick(_SPACES), self.pick(_OPS)
        negate = "NOT " if self.r.random() < 0.3 else ""
        form = self.r.randrange(6)
        if form <= 1:
            return f"{col}{sp}{op}{sp}{self.value()}"
        if form == 2:
            return f"{col} IS {negate}NULL"
        if form == 3:
            values = ", ".join(self.bound() for _ in range(1 + self.r.randrange(5)))
            return f"{col}{sp}{negate}IN{sp}({values})"
        if form == 4:
            return f"{col} {negate}BETWEEN {self.bound()} AND {self.bound()}"
        return f"{col}{sp}{op if op[0] in '<>=!' else '<'}{sp}{self.time()}"

    def expression(self, depth: int = 0) -> str:
        if depth > 3 or self.r.random() < 0.35:
            return self.condition()
        parts = [self.expression(depth + 1) for _ in range(1 + self.r.randrange(3))]
        out = parts[0]
        for part in parts[1:]:
            out = f"{out} {self.pick(('AND', 'OR', 'and', 'Or'))} {part}"
        wrap = self.r.randrange(4)
        return {0: out, 1: f"({out})", 2: f"NOT ({out})", 3: f"NOT {out}"}[wrap]

    def damaged(self, expr: str) -> str:
        chars = list(expr)
        for _ in range(self.r.randrange(4)):
            where = self.r.randrange(len(chars) + 1)
            action = self.r.randrange(3)
            if action == 0:
                chars.insert(where, self.pick(_DAMAGE))
            elif where < len(chars):
                if action == 1:
                    del chars[where]
                else:
                    chars[where] = self.pick(_DAMAGE)
        return "".join(chars)

    def bindings(self) -> dict[str, str]:
        out = {}
        for i, name in enumerate(BINDING_NAMES):
            hostile = self.pick(_HOSTILE) if self.r.random() < 0.6 else self.text()
            out[name] = f"{hostile}{MARK}{i}"
        return out

    def column_types(self) -> dict[str, str] | None:
        if self.r.random() < 0.4:
            return None
        return {self.column(): self.pick(_TYPES) for _ in range(self.r.randrange(5))}


def batch(seed: int, size: int, check: Callable[[Generator, str], None]) -> None:
    """Run ``check`` on ``size`` generated expressions; a failure names the seed and the expression."""
    gen = Generator(seed)
    for _ in range(size):
        expr = gen.expression()
        if gen.r.random() < 0.3:
            expr = gen.damaged(expr)
        try:
            check(gen, expr)
        except AssertionError as exc:
            raise AssertionError(f"seed={seed} expr={expr!r}: {exc}") from exc
