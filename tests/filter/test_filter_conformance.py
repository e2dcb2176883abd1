"""Every case of the shared conformance corpus, loaded from the file (CONTRACT §4, §5)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import axonstore.errors
from axonstore.filter import build_pg_where

_VENDORED = Path(__file__).resolve().parents[1] / "fixtures" / "where.jsonl"
_SHARED = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "where.jsonl"


def _corpus_path() -> Path:
    """The shared corpus when this checkout sits next to it (or AXON_CONFORMANCE_FILE), else the copy."""
    override = os.environ.get("AXON_CONFORMANCE_FILE")
    if override:
        return Path(override)
    return _SHARED if _SHARED.exists() else _VENDORED


def _cases() -> list[dict[str, Any]]:
    lines = _corpus_path().read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


CASES = _cases()
#: CONTRACT §12 and the 0.2 hardening, in the same format (this project's own cases, not the shared corpus).
_SECOND_ROUND = Path(__file__).resolve().parents[1] / "fixtures" / "where_second_round.jsonl"
SECOND_ROUND = [json.loads(line) for line in _SECOND_ROUND.read_text(encoding="utf-8").splitlines() if line]


def test_corpus_is_loaded_whole() -> None:
    assert len(CASES) >= 163
    assert len({case["id"] for case in CASES}) == len(CASES)
    if _SHARED.exists():  # the copy a clean CI checkout uses must not drift from the source
        assert _VENDORED.read_text(encoding="utf-8") == _SHARED.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES + SECOND_ROUND, ids=[case["id"] for case in CASES + SECOND_ROUND])
def test_case(case: dict[str, Any]) -> None:
    call = (case["expr"], case["offset"], case["bindings"], case["column_types"])
    if "error" in case:
        error_class = getattr(axonstore.errors, case["error"])
        with pytest.raises(error_class) as raised:
            build_pg_where(*call)
        assert type(raised.value) is error_class
        for field, expected in case["fields"].items():
            assert getattr(raised.value, field) == expected, field
        return
    sql, params = build_pg_where(*call)
    assert sql == case["sql"]
    assert params == case["params"]
    assert [type(p) for p in params] == [type(p) for p in case["params"]]


def test_second_round_cases_are_many_and_distinct() -> None:
    assert len(SECOND_ROUND) >= 50
    assert len({case["id"] for case in CASES + SECOND_ROUND}) == len(CASES) + len(SECOND_ROUND)


@pytest.mark.parametrize("case", [c for c in CASES + SECOND_ROUND if "sql" in c], ids=lambda c: c["id"])
def test_case_is_stable_when_cached(case: dict[str, Any]) -> None:
    """A second compile (served from the parse and plan caches) gives the same answer."""
    call = (case["expr"], case["offset"], case["bindings"], case["column_types"])
    assert build_pg_where(*call) == build_pg_where(*call) == (case["sql"], case["params"])
