"""The storage contract in executable form: every backend must pass all of it, unchanged.

`StorageContract` holds the tests. A backend's own test module runs them by
subclassing it and providing a `backend` fixture that yields a `Backend`:

    import pytest
    from clientflow.testing import Backend, StorageContract

    @pytest.fixture
    def backend(tmp_path):
        path = tmp_path / "store.json"
        yield Backend(open=lambda: JsonFileStorage(path=path), snapshot_reads=False)

    class TestJsonFileStorage(StorageContract):
        pass

Nothing here names a backend: what differs between them is declared on the
`Backend` (`snapshot_reads`), never tested around. Optional capabilities
(`Storage.clear`, and on a transaction `load_documents`, `clear` and `runs`) are
tested when the backend has them, and the generic paths used without them
on every backend.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from clientflow.storage import (
    ClearingTransaction,
    ConflictError,
    Document,
    ExistingStorage,
    FetchingTransaction,
    IdScanningTransaction,
    ListingTransaction,
    LoadingTransaction,
    OccasionTransaction,
    OnceLookupTransaction,
    OnceTransaction,
    PrefetchingTransaction,
    QuestionStorage,
    ReadOnlyError,
    SchedulingTransaction,
    SharedReadTransaction,
    Storage,
    Transaction,
    load_documents,
)

C = "things"  # the collection the tests write to


@dataclass
class Backend:
    """How the suite reaches one backend.

    `open()` returns a new handle (a `Storage`) onto the same stored data, as
    a second process would open it; a backend kept in one object may return
    that object each time. `snapshot_reads` says whether a read transaction
    keeps seeing the data as it was when it first read, even after another
    transaction commits (otherwise it sees each commit as it lands).
    """

    open: Callable[[], Storage]
    snapshot_reads: bool
    handles: list[Storage] = field(default_factory=list)

    def handle(self) -> Storage:
        storage = self.open()
        self.handles.append(storage)
        return storage

    def close(self) -> None:
        for storage in reversed(self.handles):
            storage.close()


def doc(id: str, body: dict[str, Any] | None = None, collection: str = C) -> Document:
    return Document(collection, id, {"id": id, **(body or {})}, 0)


def put(storage: Storage, id: str, body: dict[str, Any] | None = None, *, expect: int | None = None, keys: list[tuple[str, str, str]] | None = None) -> int:
    with storage.transaction(write=True) as tx:
        return tx.put(doc(id, body), keys or [], expect_version=expect)


def read(storage: Storage, id: str, collection: str = C) -> Document | None:
    with storage.transaction() as tx:
        return tx.get(collection, id)


def later(id: str, due: str, *, subject: str = "s1", flow: str = "f1", status: str = "pending", lease: str | None = None) -> dict[str, Any]:
    """A scheduled item as the engine writes one (the suite's own fields beside the required ones)."""
    return {"id": id, "due": due, "subject": subject, "flow": flow, "status": status, "lease": lease, "what": {"n": [1, None]}}


def message(id: str, *, status: str = "pending", next_attempt: str | None = None) -> dict[str, Any]:
    return {"id": id, "notifier": "record", "status": status, "attempts": 0, "next_attempt": next_attempt, "email": {"to": [f"{id}@example.com"]}}


class Boom(Exception):
    """Raised inside a transaction to make it roll back."""


LOADED = 5_500  # documents of the bulk-load tests: more than one batch of every built-in backend


def many(count: int, produced: list[int] | None = None, *, start: int = 0) -> Iterator[tuple[Document, list[tuple[str, str, str]]]]:
    """New documents with their keys, made one at a time (as a data file being read); `produced` counts them."""
    for n in range(start, start + count):
        if produced is not None:
            produced.append(n)
        body = {"n": n, "name": f"Thing {n} ✓", "tags": ["a", {"b": n % 3}]}
        yield doc(f"t{n:05d}", body), [("thing", "k", f"k{n}"), ("thing", "even" if n % 2 == 0 else "odd", "yes")]


class PutOnly:
    """A transaction seen without its optional capabilities: what a backend offering none of them looks like."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx

    def __getattr__(self, name: str) -> Any:
        if name in ("load_documents", "clear"):
            raise AttributeError(name)
        return getattr(self.tx, name)


class StorageContract:
    """Every promise of clientflow.storage.Storage and Transaction, one test each."""

    @pytest.fixture
    def storage(self, backend: Backend) -> Iterator[Storage]:
        yield backend.handle()
        backend.close()

    @pytest.fixture
    def open_storage(self, backend: Backend) -> Callable[[], Storage]:
        """Another handle onto the same data, closed at the end of the test."""
        return backend.handle

    # documents ------------------------------------------------------------
    def test_a_missing_document_is_none(self, storage: Storage) -> None:
        assert read(storage, "nobody") is None

    def test_a_new_document_comes_back_as_written_with_version_1(self, storage: Storage) -> None:
        body = {"name": "Zoë Ünicode ✓", "n": 7, "x": 2.5, "ok": True, "none": None, "list": [1, "two", {"three": 3}], "nested": {"a": {"b": []}}}
        assert put(storage, "t1", body) == 1
        found = read(storage, "t1")
        assert found == Document(C, "t1", {"id": "t1", **body}, 1)

    def test_each_versioned_write_increments_the_version(self, storage: Storage) -> None:
        put(storage, "t1", {"n": 1})
        assert put(storage, "t1", {"n": 2}, expect=1) == 2
        assert put(storage, "t1", {"n": 3}, expect=2) == 3
        found = read(storage, "t1")
        assert found is not None and (found.body["n"], found.version) == (3, 3)

    def test_creating_a_document_that_exists_conflicts(self, storage: Storage) -> None:
        put(storage, "t1", {"n": 1})
        with pytest.raises(ConflictError) as caught:
            put(storage, "t1", {"n": 2})
        assert (caught.value.collection, caught.value.id) == (C, "t1")
        assert read(storage, "t1").body["n"] == 1  # type: ignore[union-attr]

    def test_a_write_expecting_another_version_conflicts(self, storage: Storage) -> None:
        put(storage, "t1", {"n": 1})
        put(storage, "t1", {"n": 2}, expect=1)
        with pytest.raises(ConflictError):
            put(storage, "t1", {"n": 3}, expect=1)
        with pytest.raises(ConflictError):
            put(storage, "absent", {"n": 1}, expect=1)
        assert read(storage, "t1").body["n"] == 2  # type: ignore[union-attr]
        assert read(storage, "absent") is None

    def test_collections_keep_their_own_ids(self, storage: Storage) -> None:
        with storage.transaction(write=True) as tx:
            tx.put(doc("same", {"in": "a"}, "alpha"), [], expect_version=None)
            tx.put(doc("same", {"in": "b"}, "beta"), [], expect_version=None)
        assert read(storage, "same", "alpha").body["in"] == "a"  # type: ignore[union-attr]
        assert read(storage, "same", "beta").body["in"] == "b"  # type: ignore[union-attr]

    def test_bodies_written_or_read_for_writing_are_the_callers_own(self, storage: Storage) -> None:
        tags = ["a"]
        body: dict[str, Any] = {"id": "t1", "tags": tags}
        with storage.transaction(write=True) as tx:
            tx.put(Document(C, "t1", body, 0), [], expect_version=None)
        tags.append("changed after the write")
        with storage.transaction(write=True) as tx:
            got = tx.get(C, "t1")
            assert got is not None
            got.body["tags"].append("changed after the read")
            scanned = next(iter(tx.scan(C)))
            scanned.body["tags"].append("changed after the scan")
        assert read(storage, "t1").body["tags"] == ["a"]  # type: ignore[union-attr]

    # index keys -------------------------------------------------------------
    def test_lookup_finds_documents_by_key_sorted_by_collection_and_id(self, storage: Storage) -> None:
        with storage.transaction(write=True) as tx:
            tx.put(doc("t2"), [("thing", "colour", "red")], expect_version=None)
            tx.put(doc("t1"), [("thing", "colour", "red"), ("thing", "size", "big")], expect_version=None)
            tx.put(doc("a9", collection="alpha"), [("thing", "colour", "red")], expect_version=None)
            tx.put(doc("t3"), [("thing", "colour", "blue")], expect_version=None)
        with storage.transaction() as tx:
            assert tx.lookup("thing", "colour", "red") == [("alpha", "a9"), (C, "t1"), (C, "t2")]
            assert tx.lookup("thing", "size", "big") == [(C, "t1")]
            assert tx.lookup("thing", "colour", "green") == []
            assert tx.lookup("other", "colour", "red") == []

    def test_a_write_replaces_the_documents_keys(self, storage: Storage) -> None:
        put(storage, "t1", keys=[("thing", "email", "old@example.com")])
        put(storage, "t1", expect=1, keys=[("thing", "email", "new@example.com")])
        with storage.transaction() as tx:
            assert tx.lookup("thing", "email", "old@example.com") == []
            assert tx.lookup("thing", "email", "new@example.com") == [(C, "t1")]

    def test_a_write_without_keys_keeps_the_documents_keys(self, storage: Storage) -> None:
        put(storage, "t1", keys=[("thing", "email", "kept@example.com")])
        with storage.transaction(write=True) as tx:
            assert tx.put(doc("t1", {"changed": True}), None, expect_version=1) == 2
            assert tx.lookup("thing", "email", "kept@example.com") == [(C, "t1")]
        with storage.transaction() as tx:
            assert tx.lookup("thing", "email", "kept@example.com") == [(C, "t1")]
            assert tx.get(C, "t1").body == {"id": "t1", "changed": True}  # type: ignore[union-attr]

    def test_a_transaction_sees_its_own_writes(self, storage: Storage) -> None:
        put(storage, "t1", keys=[("thing", "k", "1")])
        with storage.transaction(write=True) as tx:
            tx.put(doc("t2", {"new": True}), [("thing", "k", "1")], expect_version=None)
            tx.delete(C, "t1", expect_version=1)
            assert tx.get(C, "t2").body["new"] is True  # type: ignore[union-attr]
            assert tx.get(C, "t1") is None
            assert tx.lookup("thing", "k", "1") == [(C, "t2")]
            assert [d.id for d in tx.scan(C)] == ["t2"]

    # scanning ---------------------------------------------------------------
    def test_scan_goes_in_code_point_order_of_ids(self, storage: Storage) -> None:
        ids = ["b", "B", "a10", "a2", "é", "Z", "a", "_x", "0"]
        with storage.transaction(write=True) as tx:
            for id in ids:
                tx.put(doc(id), [], expect_version=None)
            tx.put(doc("elsewhere", collection="alpha"), [], expect_version=None)
        with storage.transaction() as tx:
            assert [d.id for d in tx.scan(C)] == sorted(ids)
            assert [d.id for d in tx.scan("empty")] == []

    def test_scan_streams_a_large_collection(self, storage: Storage) -> None:
        ids = [f"t{n:05d}" for n in range(1_234)]
        with storage.transaction(write=True) as tx:
            for id in reversed(ids):
                tx.put(doc(id, {"n": int(id[1:])}), [], expect_version=None)
        with storage.transaction() as tx:
            stream = tx.scan(C)
            assert not isinstance(stream, (list, tuple))
            first = next(iter(stream))
            assert (first.id, first.body["n"], first.version) == ("t00000", 0, 1)
            rest = [d.id for d in stream]
        assert rest == ids[1:]

    def test_scan_pages_with_after_and_limit(self, storage: Storage) -> None:
        ids = [f"t{n:03d}" for n in range(25)]
        with storage.transaction(write=True) as tx:
            for id in ids:
                tx.put(doc(id), [], expect_version=None)
        pages: list[list[str]] = []
        after: str | None = None
        while True:
            with storage.transaction() as tx:
                page = [d.id for d in tx.scan(C, after=after, limit=10)]
            if not page:
                break
            pages.append(page)
            after = page[-1]
        assert [len(p) for p in pages] == [10, 10, 5]
        assert [i for p in pages for i in p] == ids
        with storage.transaction() as tx:
            assert [d.id for d in tx.scan(C, after="t0225")] == ids[23:]  # "t0225" sorts between t022 and t023

    def test_scan_ids_where_offered_gives_the_ids_scan_gives(self, storage: Storage) -> None:
        ids = [f"t{n:03d}" for n in range(25)]
        with storage.transaction(write=True) as tx:
            for id in reversed(ids):
                tx.put(doc(id), [], expect_version=None)
            tx.put(doc("elsewhere", collection="alpha"), [], expect_version=None)
            if not isinstance(tx, IdScanningTransaction):
                return
            tx.put(doc("t100"), [], expect_version=None)  # this transaction's own write is seen
            assert tx.scan_ids(C) == [d.id for d in tx.scan(C)] == [*ids, "t100"]
        with storage.transaction() as tx:
            assert isinstance(tx, IdScanningTransaction)
            for after, limit in ((None, None), (None, 10), ("t009", 10), ("t0225", None), ("t100", 5), ("t020", 0)):
                assert tx.scan_ids(C, after=after, limit=limit) == [d.id for d in tx.scan(C, after=after, limit=limit)], (after, limit)
            assert tx.scan_ids(C, after="t019", limit=3) == ["t020", "t021", "t022"]
            assert tx.scan_ids("empty") == []

    def test_get_shared_where_offered_gives_what_get_gives(self, storage: Storage) -> None:
        put(storage, "t1", {"n": 1})
        for step in ("read", "write", "read", "roll back", "read", "delete", "read"):
            try:
                with storage.transaction(write=step != "read") as tx:
                    if not isinstance(tx, SharedReadTransaction):
                        return
                    for id in ("t1", "absent"):
                        assert tx.get_shared(C, id) == tx.get(C, id), (step, id)
                    found = tx.get(C, "t1")
                    if step in ("write", "roll back") and found is not None:
                        tx.put(doc("t1", {"n": found.body["n"] + 1}), [], expect_version=found.version)
                    elif step == "delete" and found is not None:
                        tx.delete(C, "t1", expect_version=found.version)
                    assert tx.get_shared(C, "t1") == tx.get(C, "t1"), step  # this transaction's own write, not what it read first
                    if step == "roll back":
                        raise Boom()
            except Boom:
                pass
        assert read(storage, "t1") is None

    def test_lookup_documents_where_offered_gives_what_lookup_and_get_give(self, storage: Storage) -> None:
        put(storage, "t2", {"n": 2}, keys=[("thing", "k", "v"), ("thing", "k", "w")])
        put(storage, "t1", {"n": 1}, keys=[("thing", "k", "v"), ("thing", "k", "v")])
        put(storage, "t1", {"n": 3}, expect=1, keys=[("thing", "k", "v")])
        with storage.transaction(write=True) as tx:
            if not isinstance(tx, FetchingTransaction):
                return
            tx.put(doc("t3", {"n": 4}), [("thing", "k", "v")], expect_version=None)  # this transaction's own write is seen
            for value in ("v", "w", "nothing"):
                assert tx.lookup_documents("thing", "k", value) == [tx.get(*ref) for ref in tx.lookup("thing", "k", value)]
            assert [(d.id, d.body["n"], d.version) for d in tx.lookup_documents("thing", "k", "v")] == [("t1", 3, 2), ("t2", 2, 1), ("t3", 4, 1)]

    def test_fetch_documents_where_offered_gives_what_lookup_documents_and_get_give(self, storage: Storage) -> None:
        put(storage, "t2", {"n": 2}, keys=[("thing", "k", "v"), ("thing", "k", "w")])
        put(storage, "t1", {"n": 1}, keys=[("thing", "k", "v"), ("thing", "k", "v")])
        put(storage, "t1", {"n": 3}, expect=1, keys=[("thing", "k", "v")])
        with storage.transaction(write=True) as tx:
            if not isinstance(tx, PrefetchingTransaction) or not isinstance(tx, FetchingTransaction):
                return
            tx.put(doc("t3", {"n": 4}), [("thing", "k", "w")], expect_version=None)  # this transaction's own write is seen
            lookups = [("thing", "k", "v"), ("thing", "k", "nothing"), ("thing", "k", "w"), ("thing", "k", "v")]
            refs = [(C, "t1"), (C, "missing"), (C, "t3"), ("elsewhere", "t1"), (C, "t1")]
            found, documents = tx.fetch_documents(lookups, refs)
            assert found == [tx.lookup_documents(*lookup) for lookup in lookups]
            assert documents == [tx.get(*ref) for ref in refs]
            shown = [[(d.id, d.body["n"], d.version) for d in listed] for listed in found[:3]]
            assert shown == [[("t1", 3, 2), ("t2", 2, 1)], [], [("t2", 2, 1), ("t3", 4, 1)]]
            assert [d.id if d else None for d in documents] == ["t1", None, "t3", None, "t1"]
            assert tx.fetch_documents([], []) == ([], [])

    def test_a_locked_get_with_a_meta_value_where_offered_gives_what_get_and_get_meta_give(self, storage: Storage) -> None:
        put(storage, "t1", {"n": 1})
        put(storage, "t1", {"n": 2}, expect=1)
        with storage.transaction(write=True) as tx:
            if not isinstance(tx, OnceTransaction):
                return
            tx.set_meta("suite:done", "r1")  # this transaction's own write is seen
            for id, key in (("t1", "suite:done"), ("t1", "suite:not"), ("missing", "suite:done"), ("missing", "suite:not")):
                assert tx.get_locked_with_meta(C, id, key) == (tx.get(C, id), tx.get_meta(key)), (id, key)
            document, value = tx.get_locked_with_meta(C, "t1", "suite:done")
            assert value == "r1" and document is not None and (document.body, document.version) == ({"id": "t1", "n": 2}, 2)
            assert tx.put(doc("t1", {"n": 3}), None, expect_version=2) == 3  # written at the version it read locked
        assert read(storage, "t1") == Document(C, "t1", {"id": "t1", "n": 3}, 3)

    def test_a_locked_get_with_a_meta_value_then_a_lookup_where_offered_gives_what_each_gives(self, storage: Storage) -> None:
        put(storage, "t1", {"n": 1}, keys=[("thing", "k", "v")])
        put(storage, "t1", {"n": 2}, expect=1, keys=[("thing", "k", "v")])
        put(storage, "t2", {"n": 5}, keys=[("thing", "k", "v"), ("thing", "k", "w")])
        with storage.transaction(write=True) as tx:
            if not isinstance(tx, OnceLookupTransaction) or not isinstance(tx, FetchingTransaction):
                return
            tx.set_meta("suite:done", "r1")  # this transaction's own writes are seen
            tx.put(doc("t3", {"n": 4}), [("thing", "k", "w")], expect_version=None)
            for id in ("t1", "missing"):
                for key in ("suite:done", "suite:not"):
                    for value in ("v", "w", "nothing"):
                        lookup = ("thing", "k", value)
                        expected = (tx.get(C, id), tx.get_meta(key), tx.lookup_documents(*lookup))
                        assert tx.get_locked_with_meta_then_lookup(C, id, key, lookup) == expected, (id, key, value)
            document, done, found = tx.get_locked_with_meta_then_lookup(C, "t1", "suite:done", ("thing", "k", "w"))
            assert done == "r1" and document is not None and (document.body, document.version) == ({"id": "t1", "n": 2}, 2)
            assert [(d.id, d.body["n"], d.version) for d in found] == [("t2", 5, 1), ("t3", 4, 1)]
            assert tx.put(doc("t1", {"n": 3}), None, expect_version=2) == 3  # written at the version it read locked
        assert read(storage, "t1") == Document(C, "t1", {"id": "t1", "n": 3}, 3)

    @pytest.mark.parametrize("with_lookup", [False, True], ids=["alone", "then a look-up"])
    def test_a_locked_get_with_a_meta_value_waits_for_a_holder_and_reads_the_value_it_committed(
        self, storage: Storage, open_storage: Callable[[], Storage], with_lookup: bool
    ) -> None:
        """Two writers run the same resumable commit at once: the second, waiting for the first's lock, must read the resume
        key the first committed with it (read once the lock is held), or it would run again what the first ran."""
        put(storage, "t1", {"n": 1}, keys=[("thing", "k", "v")])
        with storage.transaction(write=True) as tx:
            if not isinstance(tx, OnceTransaction) or (with_lookup and not isinstance(tx, OnceLookupTransaction)):
                return
        seen: list[tuple[int | None, str | None]] = []

        def first(tx: Transaction) -> None:
            assert isinstance(tx, OnceTransaction)
            document, value = tx.get_locked_with_meta(C, "t1", "suite:once")
            assert value is None and document is not None
            tx.put(doc("t1", {"n": 2}), [("thing", "k", "v")], expect_version=document.version)
            tx.set_meta("suite:once", "r1")

        def second(tx: Transaction) -> None:
            if with_lookup:
                assert isinstance(tx, OnceLookupTransaction)
                document, value, _ = tx.get_locked_with_meta_then_lookup(C, "t1", "suite:once", ("thing", "k", "v"))
            else:
                assert isinstance(tx, OnceTransaction)
                document, value = tx.get_locked_with_meta(C, "t1", "suite:once")
            seen.append((document.version if document else None, value))

        _second_writer_waits(storage, open_storage(), first, second)
        assert seen == [(2, "r1")]  # the document and the key as committed together: never the key as it was before

    def test_a_question_where_offered_reads_as_a_read_transaction_does(self, storage: Storage) -> None:
        put(storage, "t1", {"n": 1}, keys=[("thing", "k", "v")])
        put(storage, "t2", {"n": 2}, keys=[("thing", "k", "v")])
        if not isinstance(storage, QuestionStorage):
            return
        with storage.transaction() as tx:
            expected = (tx.get(C, "t1"), tx.lookup("thing", "k", "v"), tx.get(C, "t2"), tx.get(C, "missing"))
        with storage.question() as tx:
            assert (tx.get(C, "t1"), tx.lookup("thing", "k", "v"), tx.get(C, "t2"), tx.get(C, "missing")) == expected
            with pytest.raises(ReadOnlyError):
                tx.put(doc("t3"), [], expect_version=None)
        with storage.question() as tx:
            assert tx.get(C, "t2") == expected[2]  # one read alone

    # deleting ---------------------------------------------------------------
    def test_delete_removes_the_document_and_its_keys(self, storage: Storage) -> None:
        put(storage, "t1", keys=[("thing", "k", "v")])
        put(storage, "t2", keys=[("thing", "k", "v")])
        with storage.transaction(write=True) as tx:
            tx.delete(C, "t1", expect_version=1)
        assert read(storage, "t1") is None
        with storage.transaction() as tx:
            assert tx.lookup("thing", "k", "v") == [(C, "t2")]
            assert [d.id for d in tx.scan(C)] == ["t2"]

    def test_delete_of_another_version_or_of_nothing_conflicts(self, storage: Storage) -> None:
        put(storage, "t1")
        put(storage, "t1", expect=1)
        with pytest.raises(ConflictError):
            with storage.transaction(write=True) as tx:
                tx.delete(C, "t1", expect_version=1)
        with pytest.raises(ConflictError):
            with storage.transaction(write=True) as tx:
                tx.delete(C, "absent", expect_version=1)
        assert read(storage, "t1").version == 2  # type: ignore[union-attr]

    def test_a_document_read_locked_then_deleted_is_gone_in_and_after_its_transaction(self, storage: Storage) -> None:
        put(storage, "t1", {"n": 1}, keys=[("thing", "k", "v")])
        with storage.transaction(write=True) as tx:
            found = tx.get(C, "t1", lock=True)
            assert found is not None
            tx.delete(C, "t1", expect_version=found.version)
            assert tx.get(C, "t1") is None and tx.lookup("thing", "k", "v") == []
            tx.put(doc("t1", {"n": 2}), [], expect_version=None)
        found = read(storage, "t1")
        assert found is not None and (found.body["n"], found.version) == (2, 1)
        with storage.transaction() as tx:
            assert tx.lookup("thing", "k", "v") == []

    def test_a_deleted_id_can_be_created_again(self, storage: Storage) -> None:
        put(storage, "t1", {"n": 1})
        with storage.transaction(write=True) as tx:
            tx.delete(C, "t1", expect_version=1)
        put(storage, "t1", {"n": 2})
        found = read(storage, "t1")
        assert found is not None and found.body["n"] == 2

    # runs -------------------------------------------------------------------
    def test_runs_are_saved_replaced_and_loaded_by_id(self, storage: Storage) -> None:
        with storage.transaction(write=True) as tx:
            tx.save_run({"id": "r1", "status": "open", "answers": {"a": [1, None]}})
            tx.save_run({"id": "r2", "status": "open"})
        with storage.transaction(write=True) as tx:
            tx.save_run({"id": "r1", "status": "ready", "answers": {}})
        with storage.transaction() as tx:
            assert tx.load_run("r1") == {"id": "r1", "status": "ready", "answers": {}}
            assert tx.load_run("r2") == {"id": "r2", "status": "open"}
            assert tx.load_run("r3") is None

    def test_runs_are_listed_in_id_order_in_pages_when_the_backend_lists_them(self, storage: Storage) -> None:
        with storage.transaction(write=True) as tx:
            if not isinstance(tx, ListingTransaction):
                return  # optional: `clientflow versions` then says the backend cannot list its runs
            for id in ("r3", "r1", "r2"):
                tx.save_run({"id": id, "status": "open", "version": id})
            assert [r["id"] for r in tx.runs()] == ["r1", "r2", "r3"]  # this transaction's own writes included
        with storage.transaction(write=True) as tx:
            tx.save_run({"id": "r1", "status": "completed", "version": "r1"})
        with storage.transaction() as tx:
            assert isinstance(tx, ListingTransaction)
            assert [(r["id"], r["status"]) for r in tx.runs()] == [("r1", "completed"), ("r2", "open"), ("r3", "open")]
            assert [r["id"] for r in tx.runs(after="r1", limit=1)] == ["r2"]
            assert [r["id"] for r in tx.runs(after="r3")] == []

    # audit ------------------------------------------------------------------
    def test_audit_entries_come_back_in_the_order_written(self, storage: Storage) -> None:
        names = ["zulu", "alpha", "mike", "bravo", "yankee"]
        for start in (0, 2, 4):
            with storage.transaction(write=True) as tx:
                for name in names[start : start + 2]:
                    tx.add_audit({"id": name, "what": {"n": names.index(name)}})
        with storage.transaction() as tx:
            assert [e["id"] for e in tx.audit()] == names
            assert tx.audit()[2] == {"id": "mike", "what": {"n": 2}}
            assert [e["id"] for e in tx.audit(since=2)] == names[2:]
            assert [e["id"] for e in tx.audit(since=1, limit=2)] == names[1:3]
            assert [e["id"] for e in tx.audit(limit=1)] == names[:1]

    def test_an_audit_id_is_written_once(self, storage: Storage) -> None:
        with storage.transaction(write=True) as tx:
            tx.add_audit({"id": "a1", "n": 1})
        with pytest.raises(ConflictError):
            with storage.transaction(write=True) as tx:
                tx.add_audit({"id": "a1", "n": 2})
        with storage.transaction() as tx:
            assert tx.audit() == [{"id": "a1", "n": 1}]

    # outbox -----------------------------------------------------------------
    def test_the_outbox_lists_messages_in_queue_order(self, storage: Storage) -> None:
        with storage.transaction(write=True) as tx:
            tx.add_outbox([message("m3"), message("m1")])
        with storage.transaction(write=True) as tx:
            tx.add_outbox([message("m2")])
        with storage.transaction() as tx:
            listed = tx.outbox()
        assert [m["id"] for m in listed] == ["m3", "m1", "m2"]
        seqs = [m["seq"] for m in listed]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3
        assert {k: v for k, v in listed[0].items() if k != "seq"} == message("m3")

    def test_the_outbox_filters_by_status_due_and_limit(self, storage: Storage) -> None:
        with storage.transaction(write=True) as tx:
            tx.add_outbox([
                message("now", next_attempt=None),
                message("past", next_attempt="2025-01-01T10:00:00+00:00"),
                message("exact", next_attempt="2025-01-01T12:00:00+00:00"),
                message("later", next_attempt="2025-01-01T12:00:01+00:00"),
                message("done", status="sent"),
                message("gave-up", status="failed"),
            ])  # fmt: skip
        due = "2025-01-01T12:00:00+00:00"
        with storage.transaction() as tx:
            assert [m["id"] for m in tx.outbox(status="pending")] == ["now", "past", "exact", "later"]
            assert [m["id"] for m in tx.outbox(status="pending", due=due)] == ["now", "past", "exact"]
            assert [m["id"] for m in tx.outbox(status="pending", due=due, limit=2)] == ["now", "past"]
            assert [m["id"] for m in tx.outbox(status="sent")] == ["done"]
            assert [m["id"] for m in tx.outbox(status="failed")] == ["gave-up"]
            assert [m["id"] for m in tx.outbox(status="sending")] == []
            assert len(tx.outbox()) == 6

    def test_outbox_updates_change_delivery_fields(self, storage: Storage) -> None:
        with storage.transaction(write=True) as tx:
            tx.add_outbox([message("m1"), message("m2")])
        with storage.transaction(write=True) as tx:
            claimed = tx.outbox(status="pending", limit=1, claim=True)
            assert [m["id"] for m in claimed] == ["m1"]
            tx.update_outbox("m1", {"status": "sent", "attempts": 1, "sent_at": "2025-01-01T12:00:00+00:00"})
            tx.update_outbox("m2", {"status": "pending", "attempts": 1, "error": "refused", "next_attempt": "2025-01-02T00:00:00+00:00"})
        with storage.transaction() as tx:
            sent = tx.outbox(status="sent")
            assert [(m["id"], m["attempts"], m["sent_at"], m["email"]) for m in sent] == [("m1", 1, "2025-01-01T12:00:00+00:00", message("m1")["email"])]
            assert [m["id"] for m in tx.outbox(status="pending", due="2025-01-01T23:59:59+00:00")] == []
            waiting = tx.outbox(status="pending", due="2025-01-02T00:00:00+00:00")
            assert [(m["id"], m["error"]) for m in waiting] == [("m2", "refused")]

    def test_outbox_ids_are_unique_and_known(self, storage: Storage) -> None:
        with storage.transaction(write=True) as tx:
            tx.add_outbox([message("m1")])
        with pytest.raises(ConflictError):
            with storage.transaction(write=True) as tx:
                tx.add_outbox([message("m2"), message("m1")])
        with pytest.raises(KeyError):
            with storage.transaction(write=True) as tx:
                tx.update_outbox("nobody", {"status": "sent"})
        with storage.transaction() as tx:
            assert [m["id"] for m in tx.outbox()] == ["m1"]

    # scheduled work (optional: SchedulingTransaction) -----------------------
    def test_scheduled_items_come_back_as_written_in_due_order_and_filtered(self, storage: Storage) -> None:
        with storage.transaction(write=True) as tx:
            if not isinstance(tx, SchedulingTransaction):
                return  # optional: a flow with delayed parts then cannot commit on this backend, and says so
            tx.add_scheduled([
                later("w3", "2025-03-20T00:00:00+00:00", subject="s2"),
                later("w1", "2025-03-15T00:00:00+00:00"),
                later("w2", "2025-03-15T00:00:00+00:00", flow="f2"),
            ])  # fmt: skip
            assert [i["id"] for i in tx.scheduled()] == ["w1", "w2", "w3"]  # this transaction's own writes included
        with storage.transaction() as tx:
            assert isinstance(tx, SchedulingTransaction)
            assert tx.scheduled(subject="s2") == [later("w3", "2025-03-20T00:00:00+00:00", subject="s2")]
            assert [i["id"] for i in tx.scheduled(flow="f1")] == ["w1", "w3"]
            assert [i["id"] for i in tx.scheduled(subject="s1", flow="f2")] == ["w2"]
            assert [i["id"] for i in tx.scheduled(due="2025-03-16T00:00:00+00:00")] == ["w1", "w2"]
            assert [i["id"] for i in tx.scheduled(limit=1)] == ["w1"]
            assert [i["id"] for i in tx.scheduled(id="w2")] == ["w2"] and tx.scheduled(id="w2", flow="f1") == [] and tx.scheduled(id="w9") == []
            assert tx.scheduled(status="done") == []

    def test_a_claimed_item_is_skipped_until_its_lease_runs_out(self, storage: Storage) -> None:
        with storage.transaction(write=True) as tx:
            if not isinstance(tx, SchedulingTransaction):
                return
            tx.add_scheduled([later("w1", "2025-03-15T00:00:00+00:00"), later("w2", "2025-03-15T00:00:00+00:00")])
        with storage.transaction(write=True) as tx:
            assert isinstance(tx, SchedulingTransaction)
            (first,) = tx.scheduled(status="pending", due="2025-03-15T01:00:00+00:00", limit=1, claim=True)
            tx.update_scheduled(first["id"], {"lease": "2025-03-15T01:05:00+00:00", "worker": "a"})
        with storage.transaction() as tx:
            assert isinstance(tx, SchedulingTransaction)
            assert [i["id"] for i in tx.scheduled(status="pending", due="2025-03-15T01:01:00+00:00")] == ["w2"]
            assert [i["id"] for i in tx.scheduled(status="pending", due="2025-03-15T01:05:00+00:00")] == ["w1", "w2"]
            assert tx.scheduled(subject="s1", limit=1)[0] == {**first, "lease": "2025-03-15T01:05:00+00:00", "worker": "a"}

    def test_scheduled_ids_are_unique_and_known_and_roll_back_with_their_transaction(self, storage: Storage) -> None:
        with storage.transaction(write=True) as tx:
            if not isinstance(tx, SchedulingTransaction):
                return
            tx.add_scheduled([later("w1", "2025-03-15T00:00:00+00:00")])
        with storage.transaction(write=True) as tx:
            assert isinstance(tx, SchedulingTransaction)
            with pytest.raises(ConflictError):
                tx.add_scheduled([later("w2", "2025-03-15T00:00:00+00:00"), later("w1", "2025-03-16T00:00:00+00:00")])
            assert [i["id"] for i in tx.scheduled()] == ["w1"]  # nothing of the call is kept; the transaction goes on
            with pytest.raises(KeyError):
                tx.update_scheduled("nobody", {"status": "done"})
        with pytest.raises(Boom):
            with storage.transaction(write=True) as tx:
                assert isinstance(tx, SchedulingTransaction)
                tx.add_scheduled([later("w3", "2025-03-15T00:00:00+00:00")])
                tx.update_scheduled("w1", {"status": "done"})
                raise Boom()
        with storage.transaction() as tx:
            assert isinstance(tx, SchedulingTransaction)
            assert [(i["id"], i["status"]) for i in tx.scheduled()] == [("w1", "pending")]

    def test_an_occasion_where_offered_is_the_pending_parts_of_one_run_due_at_one_time_in_id_order(self, storage: Storage) -> None:
        due = "2025-03-15T00:00:00+00:00"
        with storage.transaction(write=True) as tx:
            if not isinstance(tx, OccasionTransaction) or not isinstance(tx, SchedulingTransaction):
                return
            tx.add_scheduled([
                {**later("w3", due), "run": "r1"}, {**later("w1", due, lease="2025-03-15T01:00:00+00:00"), "run": "r1", "worker": "a"},
                {**later("w2", due, status="done"), "run": "r1"}, {**later("w4", "2025-03-16T00:00:00+00:00"), "run": "r1"},
                {**later("w5", due), "run": "r2"}, {**later("w6", due, subject="s2"), "run": "r1"}, {**later("w7", due, flow="f2"), "run": "r1"},
            ])  # fmt: skip
        with storage.transaction(write=True) as tx:
            assert isinstance(tx, OccasionTransaction) and isinstance(tx, SchedulingTransaction)
            taken = tx.lock_occasion("s1", "f1", "r1", due)
            assert [(i["id"], i.get("worker")) for i in taken] == [("w1", "a"), ("w3", None)]  # whoever claimed them
            assert taken[0] == tx.scheduled(id="w1")[0]
            tx.update_scheduled("w1", {"status": "done", "lease": None})
            assert [i["id"] for i in tx.lock_occasion("s1", "f1", "r1", due)] == ["w3"]  # this transaction's own change seen
        with storage.transaction() as tx:
            assert isinstance(tx, SchedulingTransaction)
            assert [(i["id"], i["status"], i["lease"]) for i in tx.scheduled(subject="s1", flow="f1")][:2] == [("w1", "done", None), ("w2", "done", None)]

    def test_an_occasion_where_offered_waits_for_a_holder_and_reads_what_it_committed(self, storage: Storage, open_storage: Callable[[], Storage]) -> None:
        due = "2025-03-15T00:00:00+00:00"
        with storage.transaction(write=True) as tx:
            if not isinstance(tx, OccasionTransaction) or not isinstance(tx, SchedulingTransaction):
                return
            tx.add_scheduled([{**later(f"w{n}", due), "run": "r1"} for n in (1, 2)])
        taken: list[tuple[str, str | None]] = []

        def first(tx: Transaction) -> None:
            assert isinstance(tx, SchedulingTransaction)
            tx.update_scheduled("w1", {"status": "done"})
            tx.update_scheduled("w2", {"worker": "b"})

        def second(tx: Transaction) -> None:
            assert isinstance(tx, OccasionTransaction)
            taken.extend((i["id"], i.get("worker")) for i in tx.lock_occasion("s1", "f1", "r1", due))

        _second_writer_waits(storage, open_storage(), first, second)
        assert taken == [("w2", "b")]  # as committed: neither skipped nor read before

    def test_two_workers_claiming_at_once_never_take_the_same_item(self, storage: Storage, open_storage: Callable[[], Storage]) -> None:
        with storage.transaction(write=True) as tx:
            if not isinstance(tx, SchedulingTransaction):
                return
            tx.add_scheduled([later(f"w{n:02}", f"2025-03-15T00:{n:02}:00+00:00") for n in range(20)])
        taken: dict[str, list[str]] = {"a": [], "b": []}
        errors: list[BaseException] = []

        def worker(name: str, store: Storage) -> None:
            try:
                while True:
                    with store.transaction(write=True) as tx:
                        assert isinstance(tx, SchedulingTransaction)
                        due = tx.scheduled(status="pending", due="2025-03-15T01:00:00+00:00", limit=2, claim=True)
                        for item in due:
                            tx.update_scheduled(item["id"], {"lease": "2025-03-15T02:00:00+00:00", "worker": name})
                    if not due:
                        return
                    taken[name].extend(i["id"] for i in due)
            except BaseException as exc:  # noqa: BLE001 - reported below: a thread's failure must fail the test
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=("a", storage)), threading.Thread(target=worker, args=("b", open_storage()))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == [] and not any(t.is_alive() for t in threads)
        assert not set(taken["a"]) & set(taken["b"])
        assert sorted(taken["a"] + taken["b"]) == [f"w{n:02}" for n in range(20)]
        with storage.transaction() as tx:
            assert isinstance(tx, SchedulingTransaction)
            assert {i["id"]: i["worker"] for i in tx.scheduled()} == {i: w for w, ids in taken.items() for i in ids}

    # meta -------------------------------------------------------------------
    def test_meta_keys_are_set_replaced_and_removed(self, storage: Storage) -> None:
        with storage.transaction(write=True) as tx:
            assert tx.get_meta("suite:a") is None
            tx.set_meta("suite:a", "1")
            tx.set_meta("suite:b", "two")
            assert tx.get_meta("suite:a") == "1"
        with storage.transaction(write=True) as tx:
            tx.set_meta("suite:a", "one")
            tx.set_meta("suite:b", None)
        with storage.transaction() as tx:
            assert (tx.get_meta("suite:a"), tx.get_meta("suite:b")) == ("one", None)

    # read-only transactions ---------------------------------------------------
    WRITES: dict[str, Callable[[Any], object]] = {
        "put": lambda tx: tx.put(doc("new"), [], expect_version=None),
        "put a new version": lambda tx: tx.put(doc("t1", {"n": 2}), [], expect_version=1),
        "delete": lambda tx: tx.delete(C, "t1", expect_version=1),
        "add_audit": lambda tx: tx.add_audit({"id": "a2"}),
        "save_run": lambda tx: tx.save_run({"id": "r2"}),
        "add_outbox": lambda tx: tx.add_outbox([message("m2")]),
        "update_outbox": lambda tx: tx.update_outbox("m1", {"status": "sent"}),
        "set_meta": lambda tx: tx.set_meta("suite:k", "v"),
    }

    @pytest.mark.parametrize("write", WRITES, ids=str)
    def test_a_read_only_transaction_refuses_every_write(self, storage: Storage, write: str) -> None:
        with storage.transaction(write=True) as tx:
            tx.put(doc("t1", {"n": 1}), [("thing", "k", "v")], expect_version=None)
            tx.add_audit({"id": "a1"})
            tx.save_run({"id": "r1"})
            tx.add_outbox([message("m1")])
        before = self.everything(storage)
        with pytest.raises(ReadOnlyError), storage.transaction() as tx:
            self.WRITES[write](tx)
        assert self.everything(storage) == before

    # all or nothing -----------------------------------------------------------
    def test_an_exception_rolls_back_every_kind_of_write(self, storage: Storage) -> None:
        put(storage, "t1", {"n": 1}, keys=[("thing", "k", "old")])
        put(storage, "t2")
        with storage.transaction(write=True) as tx:
            tx.add_outbox([message("m1")])
            tx.set_meta("suite:k", "before")
        before = self.everything(storage)
        with pytest.raises(Boom), storage.transaction(write=True) as tx:
            tx.put(doc("t1", {"n": 2}), [("thing", "k", "new")], expect_version=1)
            tx.put(doc("t3"), [], expect_version=None)
            tx.delete(C, "t2", expect_version=1)
            tx.add_audit({"id": "a1"})
            tx.save_run({"id": "r1"})
            tx.add_outbox([message("m2")])
            tx.update_outbox("m1", {"status": "sent"})
            tx.set_meta("suite:k", "after")
            raise Boom
        assert self.everything(storage) == before
        assert put(storage, "t3") == 1  # the storage is still usable

    def test_a_conflict_midway_leaves_nothing_of_its_transaction(self, storage: Storage) -> None:
        put(storage, "t1")
        before = self.everything(storage)
        with pytest.raises(ConflictError), storage.transaction(write=True) as tx:
            tx.put(doc("t2"), [], expect_version=None)
            tx.add_audit({"id": "a1"})
            tx.put(doc("t1", {"n": 9}), [], expect_version=7)
        assert self.everything(storage) == before

    # concurrency ---------------------------------------------------------------
    def test_nobody_sees_a_write_before_its_transaction_ends(self, storage: Storage, open_storage: Callable[[], Storage]) -> None:
        put(storage, "t1", {"n": 1})
        reader = open_storage()
        with storage.transaction(write=True) as tx:
            tx.put(doc("t1", {"n": 2}), [], expect_version=1)
            tx.put(doc("t2"), [], expect_version=None)
            tx.add_audit({"id": "a1"})
            tx.set_meta("suite:k", "v")
            with reader.transaction() as other:
                assert other.get(C, "t1") == Document(C, "t1", {"id": "t1", "n": 1}, 1)
                assert other.get(C, "t2") is None
                assert other.audit() == []
                assert other.get_meta("suite:k") is None
        with reader.transaction() as other:
            assert other.get(C, "t1") == Document(C, "t1", {"id": "t1", "n": 2}, 2)
            assert [d.id for d in other.scan(C)] == ["t1", "t2"]
            assert [e["id"] for e in other.audit()] == ["a1"]

    def test_a_read_transaction_sees_a_concurrent_commit_only_if_the_backend_does_not_promise_snapshots(
        self, backend: Backend, storage: Storage, open_storage: Callable[[], Storage]
    ) -> None:
        put(storage, "t1", {"n": 1})
        writer = open_storage()
        with storage.transaction() as tx:
            assert tx.get(C, "t1").body["n"] == 1  # type: ignore[union-attr]
            put(writer, "t1", {"n": 2}, expect=1)
            seen = tx.get(C, "t1")
        assert seen is not None
        assert seen.body["n"] == (1 if backend.snapshot_reads else 2)
        assert read(storage, "t1").body["n"] == 2  # type: ignore[union-attr]

    def test_of_two_concurrent_writers_expecting_one_version_exactly_one_wins(self, storage: Storage, open_storage: Callable[[], Storage]) -> None:
        put(storage, "t1", {"by": "nobody"})
        other = open_storage()
        outcome: dict[str, object] = {}

        def second_writer() -> None:
            try:
                put(other, "t1", {"by": "second"}, expect=1)
                outcome["second"] = "wrote"
            except ConflictError as exc:
                outcome["second"] = exc

        thread = threading.Thread(target=second_writer)
        with storage.transaction(write=True) as tx:
            tx.put(doc("t1", {"by": "first"}), [], expect_version=1)
            thread.start()  # it cannot write before this transaction ends
        thread.join(timeout=120)
        assert not thread.is_alive()
        assert isinstance(outcome["second"], ConflictError)
        found = read(storage, "t1")
        assert found is not None and (found.body["by"], found.version) == ("first", 2)

    def test_committed_data_is_there_for_a_new_handle(self, storage: Storage, open_storage: Callable[[], Storage]) -> None:
        put(storage, "t1", {"n": 1}, keys=[("thing", "k", "v")])
        with storage.transaction(write=True) as tx:
            tx.add_audit({"id": "a1"})
            tx.save_run({"id": "r1"})
            tx.add_outbox([message("m1")])
            tx.set_meta("suite:k", "v")
        expected = self.everything(storage)
        storage.close()
        assert self.everything(open_storage()) == expected

    # optional capabilities ----------------------------------------------------------
    def test_a_store_written_to_is_not_missing_for_a_new_handle(self, storage: Storage, open_storage: Callable[[], Storage]) -> None:
        put(storage, "t1", {"n": 1})
        storage.close()
        handle = open_storage()
        if isinstance(handle, ExistingStorage):  # optional: a backend without it is taken as there (no skip: a kit's suite stays clean)
            assert handle.missing() is None
        assert read(handle, "t1") is not None  # the handle that asked works as any other

    def test_load_documents_streams_many_new_documents_as_put_would(self, storage: Storage, open_storage: Callable[[], Storage]) -> None:
        with storage.transaction(write=True) as tx:
            if not isinstance(tx, LoadingTransaction):
                return  # optional: a data file is then loaded one put() at a time (the generic path, tested below)
            produced: list[int] = []
            assert tx.load_documents(many(LOADED, produced)) == LOADED
        assert len(produced) == LOADED  # consumed once, as a stream
        self.assert_loaded(open_storage(), LOADED)

    def test_load_documents_of_one_that_exists_or_comes_twice_conflicts_and_keeps_nothing_of_the_call(self, storage: Storage) -> None:
        with storage.transaction(write=True) as tx:
            if not isinstance(tx, LoadingTransaction):
                return
            tx.put(doc(f"t{LOADED - 7:05d}", {"n": "before"}), [("thing", "k", "before")], expect_version=None)
            with pytest.raises(ConflictError) as caught:
                tx.load_documents(many(LOADED))
            assert (caught.value.collection, caught.value.id) == (C, f"t{LOADED - 7:05d}")
            assert [d.id for d in tx.scan(C)] == [f"t{LOADED - 7:05d}"]  # and the transaction goes on
            with pytest.raises(ConflictError) as caught:
                tx.load_documents([(doc("a"), []), (doc("b"), [("thing", "k", "v")]), (doc("a"), [])])
            assert (caught.value.collection, caught.value.id) == (C, "a")
            tx.put(doc("after"), [], expect_version=None)
        with storage.transaction() as tx:
            assert [d.id for d in tx.scan(C)] == ["after", f"t{LOADED - 7:05d}"]
            assert tx.lookup("thing", "k", "v") == [] and tx.lookup("thing", "k", "before") == [(C, f"t{LOADED - 7:05d}")]

    def test_load_documents_keeps_nothing_of_the_call_when_the_items_raise(self, storage: Storage) -> None:
        def failing() -> Iterator[tuple[Document, list[tuple[str, str, str]]]]:
            yield from many(LOADED // 2)
            raise Boom

        with storage.transaction(write=True) as tx:
            if not isinstance(tx, LoadingTransaction):
                return
            with pytest.raises(Boom):
                tx.load_documents(failing())
            assert next(iter(tx.scan(C)), None) is None
            assert tx.load_documents(many(3)) == 3
        self.assert_loaded(storage, 3)

    def test_the_generic_load_puts_each_document_where_a_backend_has_no_bulk_path(self, storage: Storage) -> None:
        with storage.transaction(write=True) as tx:
            assert load_documents(PutOnly(tx), many(LOADED // 10)) == LOADED // 10
        self.assert_loaded(storage, LOADED // 10)
        with storage.transaction(write=True) as tx:
            assert load_documents(tx, many(LOADED // 10, start=LOADED // 10)) == LOADED // 10  # the bulk path when there is one
        self.assert_loaded(storage, 2 * (LOADED // 10))

    def test_clear_inside_a_transaction_empties_the_store_with_the_transaction(self, storage: Storage, open_storage: Callable[[], Storage]) -> None:
        with storage.transaction() as tx:
            if not isinstance(tx, ClearingTransaction):
                return  # optional: `clientflow init --force` then checks the whole file first and empties the store apart
            version = tx.get_meta("schema_version")
        put(storage, "t1", {"n": 1}, keys=[("thing", "k", "v")])
        with storage.transaction(write=True) as tx:
            tx.add_audit({"id": "a1"})
            tx.save_run({"id": "r1"})
            tx.add_outbox([message("m1")])
            tx.set_meta("suite:k", "v")
        before = self.everything(storage)
        empty: dict[str, Any] = {"docs": [], "keys": {"v": [], "old": [], "new": []}, "audit": [], "runs": [None, None], "outbox": [], "meta": None}
        with pytest.raises(Boom), storage.transaction(write=True) as tx:
            tx.clear()  # type: ignore[attr-defined]
            assert next(iter(tx.scan(C)), None) is None and tx.lookup("thing", "k", "v") == [] and tx.audit() == []
            raise Boom
        assert self.everything(open_storage()) == before
        with storage.transaction(write=True) as tx:
            tx.clear()  # type: ignore[attr-defined]
            tx.put(doc("t1", {"n": 2}), [("thing", "k", "new")], expect_version=None)  # ids may be used again at once
        assert self.everything(open_storage()) == {**empty, "docs": [("t1", {"id": "t1", "n": 2}, 1)], "keys": {"v": [], "old": [], "new": [(C, "t1")]}}
        with storage.transaction() as tx:
            assert tx.get_meta("schema_version") == version

    def test_clear_empties_everything_and_the_store_stays_usable(self, storage: Storage, open_storage: Callable[[], Storage]) -> None:
        clear = getattr(storage, "clear", None)
        if not callable(clear):
            return  # optional: `clientflow init --force` refuses such a backend with a message (tested in test_storage_opener)
        put(storage, "t1", {"n": 1}, keys=[("thing", "k", "v")])
        with storage.transaction(write=True) as tx:
            tx.add_audit({"id": "a1"})
            tx.save_run({"id": "r1"})
            tx.add_outbox([message("m1")])
            tx.set_meta("suite:k", "v")
        clear()
        empty: dict[str, Any] = {"docs": [], "keys": {"v": [], "old": [], "new": []}, "audit": [], "runs": [None, None], "outbox": [], "meta": None}
        assert self.everything(storage) == empty
        assert self.everything(open_storage()) == empty
        put(storage, "t1", {"n": 2}, keys=[("thing", "k", "v")])  # ids may be used again
        with storage.transaction(write=True) as tx:
            tx.add_audit({"id": "a1"})
        found = read(storage, "t1")
        assert found is not None and (found.body["n"], found.version) == (2, 1)

    # helpers --------------------------------------------------------------------
    @staticmethod
    def assert_loaded(storage: Storage, count: int) -> None:
        """The documents `many(count)` makes, each at version 1 and found by its keys."""
        with storage.transaction() as tx:
            found = [(d.id, d.body, d.version) for d in tx.scan(C)]
            assert found == [(document.id, document.body, 1) for document, _ in many(count)]
            for n in sorted({0, count // 2, count - 1}):
                assert tx.lookup("thing", "k", f"k{n}") == [(C, f"t{n:05d}")]
            assert tx.lookup("thing", "even", "yes") == [(C, f"t{n:05d}") for n in range(0, count, 2)]

    @staticmethod
    def everything(storage: Storage) -> dict[str, Any]:
        """What the suite's tests can have written, as plain data."""
        with storage.transaction() as tx:
            return {
                "docs": [(d.id, d.body, d.version) for d in tx.scan(C)],
                "keys": {v: tx.lookup("thing", "k", v) for v in ("v", "old", "new")},
                "audit": tx.audit(),
                "runs": [tx.load_run(r) for r in ("r1", "r2")],
                "outbox": [{k: v for k, v in m.items() if k != "seq"} for m in tx.outbox()],
                "meta": tx.get_meta("suite:k"),
            }


def _second_writer_waits(storage: Storage, other: Storage, first: Callable[[Transaction], None], second: Callable[[Transaction], None]) -> None:
    """`first` in a write transaction of `storage`; while it is open, `second` in a write transaction of `other` (another
    handle on the same store), in a thread of its own: it waits for the first (on a server), or starts after its commit
    (a backend that serialises writers). Fails with whatever the second raised."""
    holding, errors = threading.Event(), list[BaseException]()

    def run() -> None:
        try:
            holding.wait(5)
            with other.transaction(write=True) as tx:
                second(tx)
        except BaseException as exc:  # noqa: BLE001 - reported below: a thread's failure must fail the test
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    with storage.transaction(write=True) as tx:
        first(tx)
        holding.set()
        thread.join(0.3)  # the second starts, and waits or queues, while the first is open
    thread.join(10)
    assert errors == [] and not thread.is_alive()
