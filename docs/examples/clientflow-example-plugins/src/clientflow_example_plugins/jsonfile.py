"""The `jsonfile` storage backend: a whole project's records in one JSON file.

A write transaction takes an exclusive lock (fcntl.flock on `<file>.lock`), loads the file,
applies its changes to that copy, and writes the whole file again atomically (a temporary
file, fsync, os.replace): a crash leaves the old file or the new one, never a mix. Writers
therefore run one at a time, which is all `get(lock=True)` and `outbox(claim=True)` ask.
A read transaction loads the file once and keeps that snapshot; it takes no lock.
Made for small projects and for reading what a flow did; POSIX only (fcntl).

    storage = {backend = "jsonfile", path = ".clientflow/store.json"}
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from clientflow.errors import ConfigError
from clientflow.hookspecs import RegisterStorage, hookimpl
from clientflow.storage import ConflictError, Document, IndexKey, ReadOnlyError, Ref

FORMAT = 1
SETTINGS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "description": "the JSON file, relative to the project folder"},
        "lock_timeout": {"type": "number", "exclusiveMinimum": 0, "description": "seconds"},
    },
    "additionalProperties": False,
}


@hookimpl
def clientflow_register_storage(register: RegisterStorage) -> None:
    register("jsonfile", JsonFileStorage, settings=SETTINGS)


def empty() -> dict[str, Any]:
    """What the file holds before anything is written."""
    return {
        "format": FORMAT,
        "docs": {},  # collection -> id -> {"body", "version", "keys": [[entity, key, value], ...]}
        "runs": {},  # id -> run
        "audit": [],  # entries in the order written
        "outbox": [],  # messages in queue order, each with its "seq"
        "next_seq": 1,
        "meta": {},
    }


class LockTimeout(ConflictError):
    """Another writer held the file longer than `lock_timeout`: as with a conflict, try again."""

    def __init__(self, path: Path, seconds: float) -> None:
        super().__init__("jsonfile", str(path))
        self.args = (f"{path} stayed locked by another writer for {seconds:g}s; try again",)


class JsonFileStorage:
    """One JSON file; every handle onto the same path sees the same data."""

    name = "jsonfile"

    def __init__(
        self,
        path: str | Path = ".clientflow/store.json",
        lock_timeout: float = 30,
        project_root: Path | None = None,
    ) -> None:
        file = Path(path).expanduser()
        if not file.is_absolute() and project_root is not None:
            file = project_root / file  # relative to the project, whatever the current folder
        self.path = file
        # The lock lives in a file of its own: os.replace gives the data file a new inode,
        # so a lock taken on the old one would not keep the next writer out.
        self.lock_path = file.with_name(file.name + ".lock")
        self.lock_timeout = lock_timeout

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[JsonFileTransaction]:
        if not write:
            yield JsonFileTransaction(self._load(), write=False)
            return
        with self._locked():
            tx = JsonFileTransaction(self._load(), write=True)
            yield tx  # an exception here skips the save: nothing of the transaction lands
            if tx.changed:
                self._save(tx.data)

    def clear(self) -> None:
        """Forget everything (`clientflow init --force`)."""
        with self._locked():
            self._save(empty())

    def close(self) -> None:
        pass  # nothing stays open between transactions

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A file opened for each transaction: flock then keeps apart threads as well as processes.
        with open(self.lock_path, "a") as lock:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockTimeout(self.path, self.lock_timeout) from None
                    time.sleep(0.005)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return empty()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{self.path}: cannot be read: {exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{self.path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConfigError(f"{self.path}: not a jsonfile store (format {FORMAT}); give another path")
        return data

    def _save(self, data: dict[str, Any]) -> None:
        temporary = self.path.with_name(f".{self.path.name}.tmp")  # one writer at a time: one name
        try:
            with open(temporary, "w", encoding="utf-8") as out:
                json.dump(data, out)  # ASCII with escapes: any string Python holds survives
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself survives a power cut
        finally:
            os.close(folder)


class JsonFileTransaction:
    """One transaction over its own loaded copy of the file."""

    def __init__(self, data: dict[str, Any], *, write: bool) -> None:
        self.data = data
        self.write = write
        self.changed = False

    def _change(self) -> None:
        if not self.write:
            raise ReadOnlyError()
        self.changed = True

    def _out(self, value: Any) -> Any:
        # What a write transaction hands out is the caller's to change: a copy. A read
        # transaction's data was loaded for it alone, so it may hand out its own.
        return copy.deepcopy(value) if self.write else value

    # documents and their index keys ----------------------------------------------------
    def get(self, collection: str, id: str, *, lock: bool = False) -> Document | None:
        entry = self.data["docs"].get(collection, {}).get(id)
        if entry is None:
            return None
        return Document(collection, id, self._out(entry["body"]), entry["version"])

    def lookup(self, entity: str, key: str, value: str) -> list[Ref]:
        wanted = [entity, key, value]
        return sorted(
            (collection, id)
            for collection, docs in self.data["docs"].items()
            for id, entry in docs.items()
            if wanted in entry["keys"]
        )

    def scan(
        self, collection: str, *, after: str | None = None, limit: int | None = None
    ) -> Iterator[Document]:
        docs = self.data["docs"].get(collection, {})
        ids = sorted(id for id in docs if after is None or id > after)  # code-point order
        for id in ids[:limit]:
            entry = docs.get(id)
            if entry is not None:  # not deleted while the caller walked
                yield Document(collection, id, self._out(entry["body"]), entry["version"])

    def put(self, document: Document, keys: list[IndexKey] | None, *, expect_version: int | None) -> int:
        self._change()
        docs = self.data["docs"].setdefault(document.collection, {})
        current = docs.get(document.id)
        if (current["version"] if current else None) != expect_version:
            raise ConflictError(document.collection, document.id)
        version = current["version"] + 1 if current else 1
        kept = current["keys"] if current and keys is None else [list(k) for k in keys or []]
        docs[document.id] = {"body": copy.deepcopy(document.body), "version": version, "keys": kept}
        return version

    def delete(self, collection: str, id: str, *, expect_version: int) -> None:
        self._change()
        docs = self.data["docs"].get(collection, {})
        current = docs.get(id)
        if current is None or current["version"] != expect_version:
            raise ConflictError(collection, id)
        del docs[id]

    # audit and runs ------------------------------------------------------------------
    def add_audit(self, entry: dict[str, Any]) -> None:
        self._change()
        if any(e["id"] == entry["id"] for e in self.data["audit"]):
            raise ConflictError("audit", entry["id"])
        self.data["audit"].append(copy.deepcopy(entry))

    def audit(self, *, since: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        end = None if limit is None else since + limit
        entries: list[dict[str, Any]] = self._out(self.data["audit"][since:end])
        return entries

    def save_run(self, run: dict[str, Any]) -> None:
        self._change()
        self.data["runs"][run["id"]] = copy.deepcopy(run)

    def load_run(self, id: str) -> dict[str, Any] | None:
        run: dict[str, Any] | None = self._out(self.data["runs"].get(id))
        return run

    # outbox ----------------------------------------------------------------------------
    def add_outbox(self, messages: list[dict[str, Any]]) -> None:
        self._change()
        known = {m["id"] for m in self.data["outbox"]}
        for message in messages:
            if message["id"] in known:
                raise ConflictError("outbox", message["id"])
            known.add(message["id"])
            self.data["outbox"].append({**copy.deepcopy(message), "seq": self.data["next_seq"]})
            self.data["next_seq"] += 1

    def outbox(
        self,
        *,
        status: str | None = None,
        due: str | None = None,
        limit: int | None = None,
        claim: bool = False,  # writers hold the whole file: what they read is theirs already
    ) -> list[dict[str, Any]]:
        found = [
            m
            for m in self.data["outbox"]
            if (status is None or m["status"] == status)
            and (due is None or (m.get("next_attempt") or "") <= due)
        ]
        messages: list[dict[str, Any]] = self._out(found[:limit])
        return messages

    def update_outbox(self, id: str, changes: dict[str, Any]) -> None:
        self._change()
        for message in self.data["outbox"]:
            if message["id"] == id:
                message.update(copy.deepcopy(changes))
                return
        raise KeyError(id)

    # the backend's own key-value table ---------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        value: str | None = self.data["meta"].get(key)
        return value

    def set_meta(self, key: str, value: str | None) -> None:
        self._change()
        if value is None:
            self.data["meta"].pop(key, None)
        else:
            self.data["meta"][key] = value
