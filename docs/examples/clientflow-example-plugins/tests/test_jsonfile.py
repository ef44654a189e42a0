"""The JSON-file backend passes clientflow's storage contract, and keeps its own promises."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clientflow.errors import ConfigError
from clientflow.storage import ConflictError, Document
from clientflow.testing import Backend, StorageContract

from clientflow_example_plugins.jsonfile import JsonFileStorage, LockTimeout


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    path = tmp_path / "store.json"
    # Each open() is a new handle onto the same file, as another process would open it; a read
    # transaction keeps what it loaded first, so reads are snapshots.
    return Backend(open=lambda: JsonFileStorage(path), snapshot_reads=True)


class TestJsonFileContract(StorageContract):
    """Every promise of a storage backend, unchanged: one fixture is all it needs."""


def write(storage: JsonFileStorage, id: str, n: int, expect: int | None = None) -> int:
    with storage.transaction(write=True) as tx:
        return tx.put(Document("things", id, {"id": id, "n": n}, 0), [], expect_version=expect)


def read(storage: JsonFileStorage, id: str) -> Document | None:
    with storage.transaction() as tx:
        return tx.get("things", id)


def test_a_relative_path_is_the_projects_not_the_current_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    write(JsonFileStorage("state/store.json", project_root=project), "t1", 1)
    assert (project / "state" / "store.json").is_file()
    assert list(elsewhere.iterdir()) == []


def test_a_writer_waits_for_another_at_most_its_lock_timeout(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    first, second = JsonFileStorage(path), JsonFileStorage(path, lock_timeout=0.2)
    write(first, "t1", 1)
    with first.transaction(write=True) as tx:
        tx.put(Document("things", "t1", {"id": "t1", "n": 2}, 0), [], expect_version=1)
        with pytest.raises(LockTimeout) as raised:
            write(second, "t2", 1)
        assert isinstance(raised.value, ConflictError)  # the engine's "someone else got there first"
        assert str(path) in str(raised.value) and "0.2s" in str(raised.value)
        assert read(second, "t1") == Document("things", "t1", {"id": "t1", "n": 1}, 1)  # readers never wait
    assert read(second, "t1") == Document("things", "t1", {"id": "t1", "n": 2}, 2)
    assert read(second, "t2") is None


def test_a_write_that_fails_while_saving_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.json"
    storage = JsonFileStorage(path)
    write(storage, "t1", 1)
    before = path.read_bytes()

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        write(storage, "t1", 2, expect=1)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.json", "store.json.lock"]
    assert write(storage, "t1", 3, expect=1) == 2  # and the store goes on


def test_a_damaged_file_is_named_at_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    path.write_text('{\n  "format": 1,\n  oops\n}\n')
    with pytest.raises(ConfigError) as raised:
        read(JsonFileStorage(path), "t1")
    assert str(raised.value).startswith(f"{path}:3:3: not JSON: ")


@pytest.mark.parametrize("text", ['["a list"]', '{"format": 2}', '"text"'])
def test_a_file_of_another_shape_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "store.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match="not a jsonfile store"):
        read(JsonFileStorage(path), "t1")
    assert path.read_text() == text
