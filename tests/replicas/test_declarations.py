"""``[resources.X]`` keys of CONTRACT §13: ``readers``, ``reads``, ``max_lag_ms`` (parsed, checked,
masked), and the registry handing them to the backend — no server needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from axonstore import StoreRegistry
from axonstore.declarations import ResourceSpec, StoreSpec, parse_declarations
from axonstore.errors import InvalidDeclaration, UnresolvedEndpoint

TOML = """
[resources.main]
endpoint = "postgresql://app:s3cret-primary@db-primary/app"
readers = ["postgresql://app:s3cret-reader@db-replica-1/app", "env:AXON_TEST_READER_2"]
capacity = 20
reads = "Session"
max_lag_ms = 2500

[stores.claims]
backend = "postgresql"
resource = "main"
"""


def test_the_keys_parse_and_are_normalised() -> None:
    declared = parse_declarations(TOML, "axonstore.toml")
    main = declared.resources["main"]
    assert main.readers == ("postgresql://app:s3cret-reader@db-replica-1/app", "env:AXON_TEST_READER_2")
    assert main.reads == "session"
    assert main.max_lag_ms == 2500
    assert "s3cret" not in repr(main)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('readers = "postgresql://r/app"', "readers"),
        ("readers = [1]", "readers"),
        ('readers = ["  "]', "readers"),
        ('reads = "nearest"', "reads"),
        ("reads = 1", "reads"),
        ("max_lag_ms = -1", "max_lag_ms"),
        ("max_lag_ms = 1.5", "max_lag_ms"),
        ('max_lag_ms = "5s"', "max_lag_ms"),
        ('reader = ["postgresql://r/app"]', "reader"),  # a typo gets a suggestion
    ],
)
def test_bad_values_name_the_key(line: str, key: str) -> None:
    text = f'[resources.main]\nendpoint = "postgresql://app:pw-secret@h/app"\n{line}\n'
    with pytest.raises(InvalidDeclaration) as caught:
        parse_declarations(text, "axonstore.toml")
    assert caught.value.key == key
    assert "pw-secret" not in str(caught.value)
    if key == "reader":
        assert "readers" in str(caught.value)


def test_the_registry_passes_routing_to_the_backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AXON_TEST_READER_2", "postgresql://app:s3cret-two@db-replica-2/app")
    path = tmp_path / "axonstore.toml"
    path.write_text(TOML)
    registry = StoreRegistry.from_toml(path)
    routing = registry.routing("claims")
    assert routing["reads"] == "session"
    assert routing["max_lag_ms"] == 2500
    assert routing["readers"] == [
        "postgresql://app:***@db-replica-1/app",
        "postgresql://app:***@db-replica-2/app",
    ]
    assert set(routing["routing_stats"]) == {"postgresql://app:***@db-primary/app", *routing["readers"]}
    assert "s3cret" not in repr(registry.store("claims").backend)


def test_an_unset_reader_variable_is_an_unresolved_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AXON_TEST_READER_2", raising=False)
    declared = parse_declarations(TOML, "axonstore.toml")
    registry = StoreRegistry(declared)
    with pytest.raises(UnresolvedEndpoint, match="AXON_TEST_READER_2"):
        registry.store("claims")


def test_a_resource_without_readers_reads_from_the_primary() -> None:
    resource = ResourceSpec("main", "postgresql://h/app")
    registry = StoreRegistry.build([StoreSpec("claims", "postgresql", resource="main")], [resource])
    assert registry.routing("claims") == {
        "reads": "primary",
        "max_lag_ms": 5000,
        "readers": [],
        "routing_stats": {"postgresql://h/app": {"reads": 0, "fallbacks": 0, "lag_ms": 0.0, "healthy": True}},
    }
    memory = StoreRegistry.build([StoreSpec("notes", "in_memory")])
    assert memory.routing("notes") == {}
