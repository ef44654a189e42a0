"""The storage interface every backend implements, and the records it keeps.

Storage is document-shaped and knows nothing of the project's meaning: it
keeps top-level records (documents) per collection with a version each, an
index of look-up keys (entity, key, value) pointing at the documents holding
them, the runs, the audit log and the outbox. A transaction is all or nothing;
`get(..., lock=True)` and versioned writes keep concurrent commits apart.
The shared suite in engine/testing/storage.py (`clientflow.testing`) is the contract in executable form.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

from .errors import ClientflowError

IndexKey = tuple[str, str, str]  # (entity, key, value), e.g. ("user", "email", "a@b.example")
Ref = tuple[str, str]  # (collection, id) of a top-level document


class Document(NamedTuple):
    """A top-level record as stored, with the version its last write gave it (a tuple: cheap to make by the thousand)."""

    collection: str
    id: str
    body: dict[str, Any]
    version: int


class ConflictError(ClientflowError):
    """A versioned write found another version: someone changed the record first.

    Also raised for a second audit entry or outbox message with an id already used.
    """

    def __init__(self, collection: str, id: str) -> None:
        self.collection, self.id = collection, id
        super().__init__(f"{collection}/{id} was changed by someone else")


class ReadOnlyError(RuntimeError):
    """A write through a transaction opened without `write=True`."""

    def __init__(self) -> None:
        super().__init__("this transaction is read-only; open it with transaction(write=True) to change anything")


class SnapshotMoved(RuntimeError):
    """A question's first read no longer held when it needed a snapshot for more (QuestionStorage): ask it again."""

    def __init__(self) -> None:
        super().__init__("the data changed while the question was read; ask it again")


@runtime_checkable
class Transaction(Protocol):
    """One unit of work: everything written through it lands together or not at all.

    A transaction sees its own writes. Every write method raises ReadOnlyError
    in a transaction opened without `write=True`. Bodies go in and come out as
    JSON data; the store keeps its own copy of what is written, and what a
    write transaction reads is the caller's to change (a read-only one may
    hand out shared bodies, which callers must not change). Ids are ordered
    by code point (as Python sorts strings).
    """

    def get(self, collection: str, id: str, *, lock: bool = False) -> Document | None:
        """The document, or None. `lock` holds it against other writers until the end."""

    def lookup(self, entity: str, key: str, value: str) -> list[Ref]:
        """The documents whose index holds (entity, key, value), sorted by (collection, id)."""

    def scan(self, collection: str, *, after: str | None = None, limit: int | None = None) -> Iterator[Document]:
        """Documents of a collection in id order, streamed, not loaded at once.

        `after` starts past that id and `limit` stops after so many, so that a
        long walk can go page by page, each page in its own short transaction.
        """

    def put(self, document: Document, keys: list[IndexKey] | None, *, expect_version: int | None) -> int:
        """Write a document and replace its index keys (None: keep the keys it has); return its new version.

        `expect_version` None means the document must not exist yet; otherwise
        the stored version must equal it, or ConflictError is raised.
        """

    # Optional (see LoadingTransaction and ClearingTransaction below): `load_documents(items)`,
    # many new documents streamed in at once; `clear()`, the store emptied inside this transaction.

    def delete(self, collection: str, id: str, *, expect_version: int) -> None:
        """Remove a document and its index keys; ConflictError on another version."""

    def add_audit(self, entry: dict[str, Any]) -> None:
        """Append an entry to the audit log; an `id` already used raises ConflictError."""

    def audit(self, *, since: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Audit entries in the order they were written, after position `since`."""

    def save_run(self, run: dict[str, Any]) -> None:
        """Insert or replace a run's state record, keyed by its `id`."""

    def load_run(self, id: str) -> dict[str, Any] | None:
        """A run's state record, or None."""

    def add_outbox(self, messages: list[dict[str, Any]]) -> None:
        """Queue messages for delivery; each has a unique `id` (ConflictError otherwise), a `status` and a `notifier`."""

    def outbox(self, *, status: str | None = None, due: str | None = None, limit: int | None = None, claim: bool = False) -> list[dict[str, Any]]:
        """Messages by status (pending, sent, failed) in queue order.

        `due` keeps messages whose `next_attempt` is empty or at or before it
        (ISO 8601 text compares in time order); `claim` locks the rows
        returned so that other workers skip them. Each message comes back as
        it was queued, with its changes and its queue position `seq`.
        """

    def update_outbox(self, id: str, changes: dict[str, Any]) -> None:
        """Change a message's delivery fields (status, attempts, error, next_attempt, sent_at); KeyError for an unknown id."""

    def get_meta(self, key: str) -> str | None:
        """A value of the storage's own key-value table (schema version, bulk progress)."""

    def set_meta(self, key: str, value: str | None) -> None:
        """Set (or, with None, remove) a key of the storage's own table."""


@runtime_checkable
class LoadingTransaction(Protocol):
    """Optional on a Transaction: many new documents at once, as `clientflow init` loads a data file."""

    def load_documents(self, items: Iterable[tuple[Document, list[IndexKey]]]) -> int:
        """Insert new documents with their index keys; return how many.

        `items` is consumed as a stream, a batch at a time (a backend uses its bulk
        path: executemany, COPY), never held whole. Each document must not exist
        yet nor come twice: ConflictError names one that does, and then nothing
        of this call is kept (the transaction stays usable); so too when `items`
        itself raises. Versions start at 1; the store takes ownership of the bodies.
        """


@runtime_checkable
class FetchingTransaction(Protocol):
    """Optional on a Transaction: a look-up and the documents it names in one question (one round trip to a server)."""

    def lookup_documents(self, entity: str, key: str, value: str) -> list[Document]:
        """The documents `lookup(entity, key, value)` names, in the same order, as `get` (without a lock) would give each."""


@runtime_checkable
class PrefetchingTransaction(Protocol):
    """Optional on a Transaction: the documents of several look-ups and several references in one question (one round trip to a server)."""

    def fetch_documents(self, lookups: list[IndexKey], refs: list[Ref]) -> tuple[list[list[Document]], list[Document | None]]:
        """For each look-up, what `lookup_documents` gives; for each reference, what `get` (without a lock) gives; in the orders asked."""


@runtime_checkable
class OnceTransaction(Protocol):
    """Optional on a Transaction: a document read locked and a meta value, in one question (one round trip to a server):
    what a bulk commit asks first, its subject and whether its resume key is recorded already."""

    def get_locked_with_meta(self, collection: str, id: str, key: str) -> tuple[Document | None, str | None]:
        """What `get(collection, id, lock=True)` and `get_meta(key)` give, in this order: the value read once the lock is
        held (a writer who waited for it sees the key committed with what it waited for)."""


@runtime_checkable
class OnceLookupTransaction(Protocol):
    """Optional on a Transaction: `get_locked_with_meta`, then a look-up read after the lock is held (its own statement,
    as `lookup_documents` would be asked next), in one question: a bulk commit's first question with its actor's look-up."""

    def get_locked_with_meta_then_lookup(self, collection: str, id: str, key: str, lookup: IndexKey) -> tuple[Document | None, str | None, list[Document]]:
        """What `get_locked_with_meta(collection, id, key)` gives, then what `lookup_documents(*lookup)` gives just after it."""


@runtime_checkable
class SharedReadTransaction(Protocol):
    """Optional on a Transaction: a document read for a caller that never changes it (the engine's `Records`, which
    writes changes to copies). A write transaction may then hand out, as a read-only one may, a body it keeps for later
    transactions while the store holds that document unchanged: a bulk run's commits read their actor's holder once."""

    def get_shared(self, collection: str, id: str) -> Document | None:
        """What `get(collection, id)` (without a lock) gives in this transaction; its body is not to be changed."""


@runtime_checkable
class IdScanningTransaction(Protocol):
    """Optional on a Transaction: a collection's ids without their documents: what `bulk --where` lists when its condition
    does not read the subject (`--where true`), so no document is read or decoded for it."""

    def scan_ids(self, collection: str, *, after: str | None = None, limit: int | None = None) -> list[str]:
        """The ids of the documents `scan(collection, after=after, limit=limit)` gives, in the same order."""


@runtime_checkable
class ClearingTransaction(Protocol):
    """Optional on a Transaction: the store emptied inside it, so that emptying and reloading land together."""

    def clear(self) -> None:
        """Remove every document, key, run, audit entry, outbox message and meta key but the schema version, as `Storage.clear` does."""


@runtime_checkable
class ListingTransaction(Protocol):
    """Optional on a Transaction: every run, for operators (`clientflow versions`): which versions runs in flight are on."""

    def runs(self, *, after: str | None = None, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Every run kept, in id order, streamed; `after` starts past that id and `limit` stops after so many."""


@runtime_checkable
class SchedulingTransaction(Protocol):
    """Optional on a Transaction: scheduled work (an outcome's delayed parts), written with the commit, claimed like the outbox.

    An item is JSON data with at least `id`, `status` (pending, then done, dropped or
    cancelled), `due` and `lease` (ISO 8601 UTC text, `lease` empty until a worker claims it),
    `subject` and `flow`; it comes back as it was written, with its changes.
    """

    def add_scheduled(self, items: list[dict[str, Any]]) -> None:
        """Schedule items; an `id` already used raises ConflictError (and nothing of this call is kept)."""

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
        """Items in (due, id) order, filtered by status, subject, flow and id.

        `due` keeps the items due at or before it whose `lease` is empty or at or before it
        (a claim that ran out); `claim` locks the rows returned so that other workers skip
        them (PostgreSQL: FOR UPDATE SKIP LOCKED; the others serialise writers).
        """

    def update_scheduled(self, id: str, changes: dict[str, Any]) -> None:
        """Change an item's fields (status, lease, ...); KeyError for an unknown id."""


@runtime_checkable
class OccasionTransaction(Protocol):
    """Optional on a SchedulingTransaction: one run's parts due at one time, locked in one question (one round trip to a server)."""

    def lock_occasion(self, subject: str, flow: str, run: str, due: str) -> list[dict[str, Any]]:
        """The pending items of `run` (of `flow` on `subject`) due at exactly `due`, in id order, each locked in that order.

        A row another transaction holds is waited for, then read again: left out unless still
        pending. Every caller locks in id order, so two that reach the same items wait for each
        other rather than deadlock; a deadlock or a lock wait that ran out raises ConflictError.
        """


def load_documents(tx: Transaction, items: Iterable[tuple[Document, list[IndexKey]]]) -> int:
    """New documents into `tx` through the backend's bulk path when it has one, else one `put` each; return how many.

    Without the bulk path a conflict leaves the documents put before it in the
    transaction: the caller rolls it back.
    """
    if isinstance(tx, LoadingTransaction):
        return tx.load_documents(items)
    count = 0
    for document, keys in items:
        tx.put(document, keys, expect_version=None)
        count += 1
    return count


# The text a SQL backend stores for a body: compact, keys sorted, characters as written. One encoder for every body
# written (json.dumps with these arguments makes a new one for each call: about 1.7 us, three or four times a commit).
_BODY_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True)
_make_encoder = getattr(json.encoder, "c_make_encoder", None)  # None in a Python built without the _json accelerator
# what `encode` gives the C encoder besides the record of values being written: ensure_ascii=False writes characters as they are
_ENCODING = (
    _BODY_ENCODER.default, json.encoder.encode_basestring, None, _BODY_ENCODER.key_separator, _BODY_ENCODER.item_separator,
    _BODY_ENCODER.sort_keys, _BODY_ENCODER.skipkeys, _BODY_ENCODER.allow_nan,
)  # fmt: skip


def dumps_body(value: Any) -> str:
    """`_BODY_ENCODER.encode(value)`: the same text, or the same error, by the C encoder that `encode` itself makes
    for each call (with a fresh record of the values being written, as it checks for circular ones), without the
    Python steps around it (about 8,000 instructions, two or three times a commit)."""
    if _make_encoder is None or isinstance(value, str):
        return _BODY_ENCODER.encode(value)
    return "".join(_make_encoder({}, *_ENCODING)(value, 0))


# what json.loads reads a value with (the C scanner when there is one); typeshed leaves the attribute out
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def loads_body(text: str) -> Any:
    """`json.loads(text)` of a stored body: the same value, or the same error. A text that is one JSON value and
    nothing else (every body a backend writes) is read by the scanner directly, without `json.loads`'s Python steps
    around it (type checks, the BOM and whitespace look-ups); anything else goes to `json.loads` itself."""
    try:
        value, end = _scan(text, 0)
    except (StopIteration, ValueError, TypeError):  # not a value at its start (whitespace, a BOM), or not valid: as json.loads says it
        return json.loads(text)
    if end != len(text):  # something after the value (whitespace, or more): json.loads reads or refuses it
        return json.loads(text)
    return value


def batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """`items` in lists of at most `size`, read lazily (what a backend's bulk path writes at a time)."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


@runtime_checkable
class Storage(Protocol):
    """A backend: hands out transactions; opened once per process."""

    name: str

    def transaction(self, *, write: bool = False) -> AbstractContextManager[Transaction]:
        """A transaction; with `write`, writers are serialised from the first statement.

        Leaving the block commits; an exception rolls everything back and
        propagates. Nobody else sees a write before its transaction ends.
        """

    def close(self) -> None:
        """Release connections and files."""

    # Optional: `clear()` empties the store (every document, run, audit entry, outbox
    # message and meta key but the backend's own schema version), in one transaction;
    # `clientflow init --force` needs it. `persistent = False` marks a backend that keeps
    # nothing after the process (init refuses it).


@runtime_checkable
class ExistingStorage(Protocol):
    """Optional on a Storage: whether its store was made yet, told without making it.

    Every command but `clientflow init` opens storage asking this first, and refuses a store
    that was never made (a mistyped path, an empty database) rather than make an empty one.
    """

    def missing(self) -> str | None:
        """None when the store is there; else where it should be, for "there is no database at ..." (a file; a URL and its schema)."""


@runtime_checkable
class QuestionStorage(Protocol):
    """Optional on a Storage: a read-only transaction for a question that can be asked again.

    It may spare a server round trips (PostgreSQL: no BEGIN or COMMIT when one statement answers it).
    What it reads is as of one snapshot, as in `transaction()`; when that cannot be kept, SnapshotMoved
    comes out of the block, and the caller asks again in `transaction()`.
    """

    def question(self) -> AbstractContextManager[Transaction]: ...


@dataclass(frozen=True)
class Email:
    """A rendered email, as the outbox keeps it and notifiers receive it."""

    id: str
    message_id: str
    sender: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None
    template: str
    run: str


@runtime_checkable
class Notifier(Protocol):
    """Sends one email; raises on failure so that the outbox retries it later."""

    name: str

    def send(self, email: Email) -> None:
        """Deliver `email` or raise. Must be idempotent on `email.message_id` where it can."""


def clone(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists, scalars), several times faster than copy.deepcopy."""
    kind = type(value)
    if kind is dict:
        return {k: clone(v) for k, v in value.items()}
    if kind is list:
        return [clone(v) for v in value]
    return value
