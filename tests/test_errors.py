"""The error hierarchy: every class is a StoreError, carries its fields, says something, and pickles."""

from __future__ import annotations

import dataclasses
import inspect
import pickle

import pytest

import axonstore
from axonstore import errors

CLASSES = [
    cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, errors.StoreError)
]
SAMPLE = {"int": 3, "float": 0.5, "str": "x", "tuple[str, ...]": ("a", "b"), "object": "v", "str | None": "k"}


def sample_instance(cls: type[errors.StoreError]) -> errors.StoreError:
    values = {f.name: SAMPLE.get(str(f.type), "x") for f in dataclasses.fields(cls) if f.init}
    return cls(**values)


def test_every_public_error_is_exported() -> None:
    names = {cls.__name__ for cls in CLASSES}
    assert names == {n for n in errors.__all__ if isinstance(getattr(errors, n), type)}
    assert names <= set(axonstore.__all__)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_error_says_something_and_round_trips(cls: type[errors.StoreError]) -> None:
    error = sample_instance(cls)
    assert isinstance(error, errors.StoreError)
    assert str(error) == error.message() != ""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error)


def test_contract_fields() -> None:
    assert errors.UnexpectedChar(";", 10).ch == ";"
    assert errors.Query("persist", "boom", "22P02").sqlstate == "22P02"
    assert errors.SchemaDrift("retrieve", "42703", "x").sqlstate == "42703"
    assert errors.PoolInit("postgresql://u:***@h/db", "bad").dsn_masked.endswith("@h/db")
    assert errors.AmbiguousTable("t", ("a", "b")).schemas == ("a", "b")
    assert issubclass(errors.EmbeddedUnavailable, errors.Connect)
    assert issubclass(errors.UnknownStore, errors.RegistryError)
    assert issubclass(errors.SubFloorWrite, errors.EpistemicError)
    assert errors.UnboundedWrite.hint is not None and "all_rows" in errors.UnboundedWrite.hint


def test_table_not_resolved_text_is_actionable() -> None:
    text = str(errors.TableNotResolved("widgets"))
    assert "`widgets`" in text and "pg_catalog" in text and "migration" in text and "SELECT" in text
    assert "42P01" not in text


def test_epistemic_errors_name_the_operation() -> None:
    assert str(errors.SubFloorWrite("claims", 0.2, 0.5, "mutate")).startswith("mutate into")
    assert str(errors.UnelevatedWrite("claims", 0.5)).startswith("persist into")
