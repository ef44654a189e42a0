"""In-memory storage: for data files, dry-runs and tests. Nothing outlives the process.

A transaction works on a private copy of what it writes and publishes it at
the end under one lock, so a failure leaves the store as it was.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from clientflow.hookspecs import RegisterStorage, hookimpl
from clientflow.storage import ConflictError, Document, IndexKey, ReadOnlyError, Ref, clone


class MemoryStorage:
    """Everything in dicts, guarded by one lock for writers."""

    name = "memory"
    persistent = False  # what it holds is gone with the process: `clientflow init` refuses it

    def __init__(self, **_settings: Any) -> None:
        self.docs: dict[str, dict[str, Document]] = {}
        self.keys: dict[Ref, list[IndexKey]] = {}
        self.index: dict[IndexKey, Ref | set[Ref]] = {}  # one ref, or a set where a key is shared
        self.runs: dict[str, dict[str, Any]] = {}
        self.audit_log: list[dict[str, Any]] = []
        self.audit_ids: set[str] = set()
        self.messages: dict[str, dict[str, Any]] = {}
        self.later: dict[str, dict[str, Any]] = {}  # scheduled work, by id
        self.meta: dict[str, str] = {}
        self.lock = threading.RLock()
        self._sorted: dict[str, list[str]] = {}
        # a read-only transaction holds nothing of its own (it reads what is published, and every write is refused): one serves all
        self._reading = _Reading(MemoryTransaction(self, read_only=True))

    def sorted_ids(self, collection: str) -> list[str]:
        """The ids of a collection in order, kept until the next write lands."""
        ids = self._sorted.get(collection)
        if ids is None:
            ids = self._sorted[collection] = sorted(self.docs.get(collection, {}))
        return ids

    def transaction(self, *, write: bool = False) -> AbstractContextManager[MemoryTransaction]:
        if not write:
            return self._reading  # nothing to take or release: no generator, and no new object
        return self._writing()

    @contextmanager
    def _writing(self) -> Iterator[MemoryTransaction]:
        with self.lock:
            tx = MemoryTransaction(self, read_only=False)
            yield tx
            tx.publish()

    def clear(self) -> None:
        """Forget everything (as `clientflow init --force` empties a database)."""
        with self.lock:
            self.__init__()  # type: ignore[misc]

    def close(self) -> None:
        pass


class _Reading:
    """A read-only transaction's block: it reads what is published, and leaves nothing behind."""

    __slots__ = ("tx",)

    def __init__(self, tx: MemoryTransaction) -> None:
        self.tx = tx

    def __enter__(self) -> MemoryTransaction:
        return self.tx

    def __exit__(self, *exc: object) -> None:
        return None


_NONE: dict[Any, Any] = {}  # what a read-only transaction has written: nothing (never changed: its writes are refused)


class MemoryTransaction:
    writes: dict[Ref, tuple[Document | None, list[IndexKey]]]
    new_audit: list[dict[str, Any]]
    new_runs: dict[str, dict[str, Any]]
    new_messages: dict[str, dict[str, Any]]
    new_later: dict[str, dict[str, Any]]
    new_meta: dict[str, str | None]

    def __init__(self, store: MemoryStorage, read_only: bool) -> None:
        self.store = store
        self.read_only = read_only
        self.new_audit = []
        if read_only:  # no write is accepted, so every pending-write table stays empty: share one
            self.writes = self.new_runs = self.new_messages = self.new_later = self.new_meta = _NONE
            return
        self.writes, self.new_runs, self.new_messages, self.new_later, self.new_meta = {}, {}, {}, {}, {}

    def _check(self) -> None:
        if self.read_only:
            raise ReadOnlyError()

    def _current(self, ref: Ref) -> Document | None:
        if ref in self.writes:
            return self.writes[ref][0]
        return self.store.docs.get(ref[0], _NONE).get(ref[1])

    def get(self, collection: str, id: str, *, lock: bool = False) -> Document | None:
        if self.read_only:  # readers never change what they read (the engine copies before it writes)
            held = self.store.docs.get(collection)
            return None if held is None else held.get(id)
        doc = self._current((collection, id))
        return None if doc is None else _own(doc)

    def lookup(self, entity: str, key: str, value: str) -> list[Ref]:
        hit = self.store.index.get((entity, key, value))
        if self.read_only:
            return [] if hit is None else sorted(hit) if isinstance(hit, set) else [hit]
        found: set[Ref] = set() if hit is None else set(hit) if isinstance(hit, set) else {hit}
        for ref, (doc, keys) in self.writes.items():
            found.discard(ref)
            if doc is not None and (entity, key, value) in keys:
                found.add(ref)
        return sorted(found)

    def scan(self, collection: str, *, after: str | None = None, limit: int | None = None) -> Iterator[Document]:
        ids = self.store.sorted_ids(collection)
        own = sorted(ref[1] for ref in self.writes if ref[0] == collection)
        if own:
            ids = sorted(set(ids) | set(own))
        start = 0 if after is None else bisect.bisect_right(ids, after)
        count = 0
        for id in itertools.islice(ids, start, None):
            if limit is not None and count >= limit:
                return
            doc = self._current((collection, id))
            if doc is not None:
                count += 1
                yield doc if self.read_only else _own(doc)

    def put(self, document: Document, keys: list[IndexKey] | None, *, expect_version: int | None) -> int:
        self._check()
        ref = (document.collection, document.id)
        current = self._current(ref)
        if (current.version if current else None) != expect_version:
            raise ConflictError(*ref)
        version = (current.version if current else 0) + 1
        stored = Document(document.collection, document.id, clone(document.body), version)
        if keys is None:  # keep the keys it has
            keys = self.writes[ref][1] if ref in self.writes else self.store.keys.get(ref, [])
        self.writes[ref] = (stored, list(keys))
        return version

    def load_documents(self, items: Iterable[tuple[Document, list[IndexKey]]]) -> int:
        """Many new documents at once (a data file being loaded): the store takes them as they are, all or nothing."""
        self._check()
        loaded: dict[Ref, tuple[Document | None, list[IndexKey]]] = {}
        writes, docs = self.writes, self.store.docs
        make = tuple.__new__  # a Document without NamedTuple's __new__ frame
        for document, keys in items:
            collection, id = ref = (document.collection, document.id)
            # taken: loaded before, or current (written in this transaction, or else published), as `_current` says
            if ref in loaded or (self._current(ref) is not None if writes else id in docs.get(collection, _NONE)):
                raise ConflictError(*ref)
            loaded[ref] = (make(Document, (collection, id, document.body, 1)), keys)
        if writes:
            writes.update(loaded)
        else:  # the transaction's first writes (a data file loaded): these are all of them
            self.writes = loaded
        return len(loaded)

    def delete(self, collection: str, id: str, *, expect_version: int) -> None:
        self._check()
        current = self._current((collection, id))
        if current is None or current.version != expect_version:
            raise ConflictError(collection, id)
        self.writes[(collection, id)] = (None, [])

    def add_audit(self, entry: dict[str, Any]) -> None:
        self._check()
        if entry["id"] in self.store.audit_ids or any(e["id"] == entry["id"] for e in self.new_audit):
            raise ConflictError("audit", entry["id"])
        self.new_audit.append(clone(entry))

    def audit(self, *, since: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        entries = self.store.audit_log + self.new_audit
        end = None if limit is None else since + limit
        return clone(entries[since:end])

    def save_run(self, run: dict[str, Any]) -> None:
        self._check()
        self.new_runs[run["id"]] = clone(run)

    def load_run(self, id: str) -> dict[str, Any] | None:
        run = self.new_runs.get(id) or self.store.runs.get(id)
        return clone(run) if run else None

    def runs(self, *, after: str | None = None, limit: int | None = None) -> Iterator[dict[str, Any]]:
        ids = sorted(i for i in {*self.store.runs, *self.new_runs} if after is None or i > after)
        for id in ids[:limit] if limit is not None else ids:
            yield clone(self.new_runs.get(id) or self.store.runs[id])

    def add_outbox(self, messages: list[dict[str, Any]]) -> None:
        self._check()
        for message in messages:
            if message["id"] in self.store.messages or message["id"] in self.new_messages:
                raise ConflictError("outbox", message["id"])
            stored = clone(message)
            stored["seq"] = len(self.store.messages) + len(self.new_messages) + 1
            self.new_messages[message["id"]] = stored

    def outbox(self, *, status: str | None = None, due: str | None = None, limit: int | None = None, claim: bool = False) -> list[dict[str, Any]]:
        merged = {**self.store.messages, **self.new_messages}
        found = [
            clone(m)
            for m in sorted(merged.values(), key=lambda m: m["seq"])
            if (status is None or m["status"] == status) and (due is None or (m.get("next_attempt") or "") <= due)
        ]
        return found[:limit] if limit is not None else found

    def update_outbox(self, id: str, changes: dict[str, Any]) -> None:
        self._check()
        current = self.new_messages.get(id) or clone(self.store.messages[id])
        current.update(changes)
        self.new_messages[id] = current

    def add_scheduled(self, items: list[dict[str, Any]]) -> None:
        self._check()
        added: dict[str, dict[str, Any]] = {}
        for item in items:
            if item["id"] in self.store.later or item["id"] in self.new_later or item["id"] in added:
                raise ConflictError("scheduled", item["id"])
            added[item["id"]] = clone(item)
        self.new_later.update(added)

    def scheduled(
        self,
        *,
        status: str | None = None,
        due: str | None = None,
        subject: str | None = None,
        flow: str | None = None,
        limit: int | None = None,
        claim: bool = False,
        id: str | None = None,
    ) -> list[dict[str, Any]]:
        merged = {**self.store.later, **self.new_later}
        if id is not None:
            merged = {id: merged[id]} if id in merged else {}
        found = [
            clone(item)
            for item in sorted(merged.values(), key=lambda i: (i["due"], i["id"]))
            if (status is None or item["status"] == status)
            and (due is None or (item["due"] <= due and (item.get("lease") or "") <= due))
            and (subject is None or item["subject"] == subject)
            and (flow is None or item["flow"] == flow)
        ]
        return found[:limit] if limit is not None else found

    def update_scheduled(self, id: str, changes: dict[str, Any]) -> None:
        self._check()
        current = self.new_later.get(id) or clone(self.store.later[id])
        current.update(clone(changes))
        self.new_later[id] = current

    def get_meta(self, key: str) -> str | None:
        if key in self.new_meta:
            return self.new_meta[key]
        return self.store.meta.get(key)

    def set_meta(self, key: str, value: str | None) -> None:
        self._check()
        self.new_meta[key] = value

    def publish(self) -> None:
        store = self.store
        store._sorted.clear()
        docs, held, index = store.docs, store.keys, store.index
        unindex = bool(held)  # an empty store (a data file being loaded) has no keys to take back
        setdefault = index.setdefault
        for ref, (doc, keys) in self.writes.items():  # a data file's every record: no object made here but what is kept
            old = held.pop(ref, None) if unindex else None
            if old:
                for key in old:
                    _unindex(index, key, ref)
            if doc is None:
                docs.get(ref[0], {}).pop(ref[1], None)
                continue
            collection = docs.get(ref[0])
            if collection is None:
                collection = docs[ref[0]] = {}
            collection[ref[1]] = doc
            held[ref] = keys
            for key in keys:
                hit = setdefault(key, ref)  # a key met first (most of them): kept with one look-up of the index
                if hit is ref:
                    continue
                if isinstance(hit, set):
                    hit.add(ref)
                elif hit != ref:
                    index[key] = {hit, ref}
        store.audit_log.extend(self.new_audit)
        store.audit_ids.update(e["id"] for e in self.new_audit)
        store.runs.update(self.new_runs)
        store.messages.update(self.new_messages)
        store.later.update(self.new_later)
        for name, value in self.new_meta.items():
            if value is None:
                store.meta.pop(name, None)
            else:
                store.meta[name] = value


def _unindex(index: dict[IndexKey, Ref | set[Ref]], key: IndexKey, ref: Ref) -> None:
    hit = index.get(key)
    if hit == ref:
        del index[key]
    elif isinstance(hit, set):
        hit.discard(ref)
        if len(hit) == 1:
            index[key] = next(iter(hit))


def _own(doc: Document) -> Document:
    """A copy the caller may change without changing the store."""
    return Document(doc.collection, doc.id, clone(doc.body), doc.version)


class MemoryPlugin:
    """Registers the in-memory backend under the name `memory`."""

    @hookimpl
    def clientflow_register_storage(self, register: RegisterStorage) -> None:
        register("memory", MemoryStorage)
