"""The shared storage suite (clientflow.testing (engine/testing/storage.py)) on every backend, and what is particular to SQLite.

To prove a new backend, write a factory like the ones below and add one line
to BACKENDS: the suite itself never changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from clientflow.plugins import Registry
from clientflow.storage import Storage
from clientflow.testing.storage import Backend, StorageContract, put, read


@contextmanager
def memory(tmp_path: Path) -> Iterator[Backend]:
    store = Registry.collect().storage("memory")
    yield Backend(open=lambda: store, snapshot_reads=False)


@contextmanager
def sqlite(tmp_path: Path) -> Iterator[Backend]:
    path = tmp_path / "suite.db"
    yield Backend(open=lambda: Registry.collect().storage("sqlite", path=str(path)), snapshot_reads=True)


BACKENDS: list[Callable[[Path], AbstractContextManager[Backend]]] = [
    memory,
    sqlite,
]


@pytest.fixture(params=BACKENDS, ids=lambda factory: factory.__name__)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with request.param(tmp_path) as opened:
        yield opened


class TestStorage(StorageContract):
    """Every backend of BACKENDS through the whole contract."""


def test_every_built_in_backend_is_in_the_suite() -> None:
    # only ours: a third-party backend installed beside clientflow proves itself with the same kit, in its own tests
    import importlib

    import pluggy

    from clientflow import hookspecs
    from clientflow.plugins import DEFAULT_PLUGINS

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for spec in DEFAULT_PLUGINS:
        module, _, name = spec.partition(":")
        pm.register(getattr(importlib.import_module(module), name)())
    registered = set(Registry.collect(pm).storages)
    proven = {factory.__name__ for factory in BACKENDS}
    assert registered <= proven | {"postgresql"}, f"add a factory to BACKENDS for {sorted(registered - proven)}"


def open_sqlite(path: Path) -> Storage:
    return Registry.collect().storage("sqlite", path=str(path))  # type: ignore[no-any-return]


def test_sqlite_creates_its_schema_on_first_use_with_a_version(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "new.db"
    storage = open_sqlite(path)
    assert not path.exists()  # nothing happens before the first transaction
    with storage.transaction() as tx:
        assert tx.get_meta("schema_version") == "1"
    storage.close()
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert {"docs", "keys", "runs", "audit", "outbox", "meta"} <= tables
    assert mode == "wal"


def test_sqlite_refuses_a_schema_version_it_does_not_know(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    storage = open_sqlite(path)
    put(storage, "t1")
    with storage.transaction(write=True) as tx:
        tx.set_meta("schema_version", "99")
    storage.close()
    with pytest.raises(RuntimeError, match="schema version 99"):
        read(open_sqlite(path), "t1")


def test_sqlite_keeps_data_across_processes_worth_of_handles(tmp_path: Path) -> None:
    path = tmp_path / "kept.db"
    first = open_sqlite(path)
    put(first, "t1", {"n": 1})
    first.close()
    second = open_sqlite(path)
    assert put(second, "t1", {"n": 2}, expect=1) == 2
    second.close()
    found = read(open_sqlite(path), "t1")
    assert found is not None and found.body["n"] == 2
