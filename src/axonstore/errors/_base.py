"""The base of every axonstore error."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(eq=False)
class StoreError(Exception):
    """Base of every axonstore error. Catch this to handle any failure of the library."""

    #: A one-line suggestion the CLI prints as ``hint:`` (``None`` when the message says it all).
    hint: ClassVar[str | None] = None

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message())

    def message(self) -> str:
        """The human-readable text of this error (also ``str(error)``)."""
        return "axonstore failed"

    def __str__(self) -> str:
        return self.message()

    def __reduce__(self) -> tuple[Any, ...]:
        values = tuple(getattr(self, f.name) for f in dataclasses.fields(self))
        return (type(self), values)
