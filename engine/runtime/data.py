"""Records as the project declares them, read through one storage transaction.

`Records` turns the project's entities (top-level collections and records
nested inside them) into look-ups by id or by any declared key, and keeps
changes on private copies until `flush` writes them with version checks.
A dry-run simply never flushes: the copies are its overlay.
"""

from __future__ import annotations

import builtins
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import faults
from ..errors import ClientflowError, DataError, ExpressionError, Location, Problem, RunError, UnknownName, did_you_mean
from ..language import schemas
from ..language.model import Entity, Project
from ..language.schemas import keypath
from ..storage import Document, IndexKey, Ref, Transaction, clone

SUGGEST_SCAN = 5_000  # records scanned for a did-you-mean; beyond that none is offered


@dataclass(frozen=True, init=False)
class Change:
    """One field-level change: what a plan shows and an audit entry keeps."""

    op: str  # update | delete | create
    entity: str
    id: str
    field: str | None
    before: Any
    after: Any
    predicted: bool = False

    def __init__(self, op: str, entity: str, id: str, field: str | None, before: Any, after: Any, predicted: bool = False) -> None:
        # what the frozen dataclass's own __init__ sets, in one update instead of an object.__setattr__ per field (every
        # planned change of a bulk run makes one)
        self.__dict__.update(op=op, entity=entity, id=id, field=field, before=before, after=after, predicted=predicted)

    def to_json(self) -> dict[str, Any]:
        out = {"op": self.op, "entity": self.entity, "id": self.id, "field": self.field, "before": self.before, "after": self.after}
        if self.predicted:
            out["predicted"] = True
        return out


class KeyPlan:
    """Which keys of a top-level body (and of the records nested in it) go into the look-up index."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.plans: dict[str, Callable[[dict[str, Any]], list[IndexKey]]] = {}
        self.tests: dict[tuple[str, str, str], Callable[[dict[str, Any], str], bool]] = {}
        self.read_fields: dict[str, tuple[str, ...]] = {}

    def fields(self, collection: str) -> tuple[str, ...]:
        """The top-level fields of a body that its keys are made of (each key of its own records, each nested list)."""
        fields = self.read_fields.get(collection)
        if fields is None:
            plan = self._plan(collection)
            fields = self.read_fields[collection] = tuple(dict.fromkeys(f for _, keys, nested in plan for f in (keys if nested is None else (nested,))))
        return fields

    def keys(self, collection: str, body: dict[str, Any]) -> list[IndexKey]:
        return self.keys_of(collection)(body)

    def keys_of(self, collection: str) -> Callable[[dict[str, Any]], list[IndexKey]]:
        """`keys` for bodies of one collection, looked up once (a data file's records call it by the thousand)."""
        keys_of = self.plans.get(collection)
        if keys_of is None:
            keys_of = self.plans[collection] = self._generate(self._plan(collection))
        return keys_of

    @staticmethod
    def _generate(plan: list[tuple[str, tuple[str, ...], str | None]]) -> Callable[[dict[str, Any]], list[IndexKey]]:
        """One function per collection listing every key of a body (a data file imports thousands of documents through it)."""

        def each(name: str, key: str) -> list[str]:
            return [
                f"value = item.get({key!r})",
                "if value is not None:",
                f"    add(({name!r}, {key!r}, value if type(value) is str else str(value)))",
            ]

        return _walker("_keys(body)", ["out = []", "add = out.append"], plan, each, "out")

    def holds(self, collection: str, entity: str, key: str, body: dict[str, Any], value: str) -> bool:
        """`(entity, key, value) in keys(collection, body)`, without listing every key of the body."""
        test = self.tests.get((collection, entity, key))
        if test is None:
            test = self.tests[(collection, entity, key)] = self._generate_test(self._plan(collection), entity, key)
        return test(body, value)

    @staticmethod
    def _generate_test(plan: list[tuple[str, tuple[str, ...], str | None]], entity: str, key: str) -> Callable[[dict[str, Any], str], bool]:
        """`_generate`'s walk of the body (every nested list, as far as it goes: a value that cannot be walked fails
        as it does there), comparing this entity's `key` with `wanted` instead of listing every key."""

        def each(name: str, one: str) -> list[str]:  # only this entity's `key` is compared
            if (name, one) != (entity, key):
                return []
            return [f"value = item.get({one!r})", "if value is not None and (value if type(value) is str else str(value)) == wanted:", "    found = True"]

        return _walker("_holds(body, wanted)", ["found = False"], plan, each, "found")

    def _plan(self, collection: str) -> list[tuple[str, tuple[str, ...], str | None]]:
        entities = self.project.entities
        plan: list[tuple[str, tuple[str, ...], str | None]] = [(e.name, e.keys, None) for e in entities.values() if e.collection == collection]
        for entity in entities.values():
            if entity.nested_key and collection in {entities[h].collection for h in entity.nested_in}:
                plan.append((entity.name, entity.keys, entity.nested_key))
        return plan


def _walker(
    signature: str, head: list[str], plan: list[tuple[str, tuple[str, ...], str | None]], each: Callable[[str, str], list[str]], result: str
) -> Callable[..., Any]:
    """A function walking a collection's body as `plan` says: `head`, then for each record (the body itself, then
    those of each nested list) the lines `each(entity, key)` gives for each of its keys, then `return result`.
    A top-level record with no lines is not visited; a nested list always is (a value that cannot be walked fails alike)."""
    lines = [f"def {signature}:", *(f"    {line}" for line in head)]
    for name, keys, nested_key in plan:
        own = [line for key in keys for line in each(name, key)]
        if nested_key is None:
            if not own:
                continue
            lines.append("    item = body")
            indent = "    "
        else:
            lines += [f"    for item in body.get({nested_key!r}) or ():", "        if type(item) is not dict:", "            continue"]
            indent = "        "
        lines += [indent + line for line in own]
    lines.append(f"    return {result}")
    namespace: dict[str, Any] = {}
    exec("\n".join(lines) + "\n", namespace)  # noqa: S102 - built from the project's entity names only
    function: Callable[..., Any] = namespace[signature.split("(")[0]]
    return function


_KEY_PLANS: dict[int, tuple[Project, KeyPlan]] = {}


def key_plan(project: Project) -> KeyPlan:
    """The project's KeyPlan, generated once per project (a commit must not pay for it)."""
    held = _KEY_PLANS.get(id(project))
    if held is None or held[0] is not project:
        if len(_KEY_PLANS) > 16:
            _KEY_PLANS.clear()
        held = _KEY_PLANS[id(project)] = (project, KeyPlan(project))
    return held[1]


class RecordChecks:
    """The data-schema check of changed records, resolved once per project: the schema file's folder and name, each collection's entity."""

    def __init__(self, project: Project) -> None:
        assert project.data_schema
        schema_path = os.path.join(project.root, project.data_schema)
        self.name = os.path.basename(schema_path)
        self.directory = os.path.abspath(os.path.dirname(schema_path))
        self.names = {e.collection: e.name for e in project.entities.values() if e.collection}
        self.checks: dict[str, Callable[[Any], list[str]]] = {}

    def problems(self, collection: str, body: dict[str, Any]) -> list[str]:
        """What the data schema refuses in one top-level body, each as `field: message`."""
        check = self.checks.get(collection)
        if check is None:
            check = self.checks[collection] = schemas.record_check(self.name, self.directory, collection)
        return check(body)


_RECORD_CHECKS: dict[int, tuple[Project, str | None, RecordChecks]] = {}


def record_checks(project: Project) -> RecordChecks:
    """The project's RecordChecks, made once per project (and working folder, should its root be relative)."""
    where = None if os.path.isabs(project.root) else os.getcwd()
    held = _RECORD_CHECKS.get(id(project))
    if held is None or held[0] is not project or held[1] != where:
        if len(_RECORD_CHECKS) > 16:
            _RECORD_CHECKS.clear()
        held = _RECORD_CHECKS[id(project)] = (project, where, RecordChecks(project))
    return held[2]


_NO_REFS: frozenset[Ref] = frozenset()
_ABSENT = object()  # a field a body lacks (flush)


class Records:
    """The project's records in one transaction, with copy-on-write changes."""

    __slots__ = ("project", "tx", "fetch", "read", "working", "deleted", "created", "looked_up")  # made for every question: no __dict__

    def __init__(
        self, project: Project, tx: Transaction, read: dict[Ref, Document | None] | None = None, looked_up: dict[IndexKey, list[Ref]] | None = None
    ) -> None:
        """`read` and `looked_up` (what storage answered, before this run's own changes) may be shared
        by the Records of one read-only transaction (a bulk dry-run's page)."""
        self.project = project
        self.tx = tx
        # how a document is read without a lock: shared where the transaction offers it (SharedReadTransaction), since
        # nothing here changes what it read (changes go to copies, `working`): a write transaction need not decode it afresh
        self.fetch: Callable[[str, str], Document | None] = getattr(tx, "get_shared", None) or tx.get
        self.read: dict[Ref, Document | None] = {} if read is None else read
        self.working: dict[Ref, dict[str, Any]] = {}
        self.deleted: set[Ref] | frozenset[Ref] = _NO_REFS  # a set of its own once this run deletes or creates a record
        self.created: set[Ref] | frozenset[Ref] = _NO_REFS
        self.looked_up: dict[IndexKey, list[Ref]] = {} if looked_up is None else looked_up

    @property
    def key_plan(self) -> KeyPlan:
        return key_plan(self.project)

    # reading ------------------------------------------------------------
    def _document(self, ref: Ref, lock: bool = False) -> Document | None:
        if lock:
            self.read[ref] = self.tx.get(ref[0], ref[1], lock=True)
        elif ref not in self.read:
            self.read[ref] = self.fetch(ref[0], ref[1])
        return self.read[ref]

    def body(self, ref: Ref, lock: bool = False) -> dict[str, Any] | None:
        """The current body of a top-level record, changes included."""
        if not (self.working or self.deleted or lock):  # nothing changed here (every read-only question): what was read
            read = self.read
            doc = read[ref] if ref in read else read.setdefault(ref, self.fetch(ref[0], ref[1]))
            return None if doc is None else doc.body
        if ref in self.deleted:
            return None
        if ref in self.working and not lock:
            return self.working[ref]
        doc = self._document(ref, lock)
        if ref in self.working:
            return self.working[ref]
        return doc.body if doc else None

    def version(self, ref: Ref) -> int | None:
        doc = self._document(ref)
        return doc.version if doc else None

    def entity(self, name: str) -> Entity:
        try:
            return self.project.entities[name]
        except KeyError:
            raise UnknownName("entity", name, self.project.entities) from None

    def locate(self, entity_name: str, key: str, value: Any) -> tuple[Ref, dict[str, Any]] | None:
        """The top-level document holding the record, and the record itself."""
        if value is None or isinstance(value, (dict, list)):
            return None
        entity = self.project.entities.get(entity_name) or self.entity(entity_name)  # (UnknownName from `entity`)
        value = value if value.__class__ is str else str(value)
        if entity.collection and key == "id":
            ref = (entity.collection, value)
            body = self.body(ref)
            return (ref, body) if body is not None else None
        if self.working and not self.deleted:  # changed here: what storage found first, when none of it is changed
            found = self._found(entity_name, key, value)
            if self.working.keys().isdisjoint(found):
                for ref in found:  # `_refs` lists these first, as read (this run changed none of them)
                    doc = self._document(ref)
                    if doc is None or doc.body is None:
                        continue
                    record = self._within(entity, doc.body, key, value)
                    if record is not None:
                        return ref, record
        for ref in self._refs(entity_name, key, value):
            body = self.body(ref)
            if body is None:
                continue
            record = self._within(entity, body, key, value)
            if record is not None:
                return ref, record
        return None

    @property
    def prefetches(self) -> bool:
        """Whether `prefetch` reads anything here (the transaction answers several look-ups in one question)."""
        return getattr(self.tx, "fetch_documents", None) is not None

    def prefetch(self, wanted: Iterable[tuple[str, str, Any]]) -> None:
        """Read in one question what `locate` would read for each (entity, key, value), where the transaction can
        (PrefetchingTransaction: one round trip to a server for all); elsewhere nothing: each is read when asked."""
        fetch = getattr(self.tx, "fetch_documents", None)
        if fetch is None:  # as `prefetches` says
            return
        lookups: list[IndexKey] = []
        refs: list[Ref] = []
        for entity_name, key, value in wanted:
            entity = self.project.entities.get(entity_name)
            if entity is None or value is None or isinstance(value, (dict, list)):
                continue  # `locate` reads nothing for these
            value = str(value)
            if entity.collection and key == "id":
                if (entity.collection, value) not in self.read:
                    refs.append((entity.collection, value))
            elif (entity_name, key, value) not in self.looked_up:
                lookups.append((entity_name, key, value))
        if len(lookups) + len(refs) < 2:
            return  # one question either way
        found, documents = fetch(lookups, refs)
        for lookup, listed in zip(lookups, found, strict=True):
            for document in listed:
                self.read.setdefault((document.collection, document.id), document)
            self.looked_up[lookup] = [(d.collection, d.id) for d in listed]
        for ref, document in zip(refs, documents, strict=True):
            self.read.setdefault(ref, document)

    def keep(self, lookup: IndexKey, documents: list[Document]) -> list[Ref]:
        """What `lookup_documents(*lookup)` gave in this transaction, kept as `_found` keeps what it asks."""
        for document in documents:
            self.read.setdefault((document.collection, document.id), document)  # what was read already (perhaps locked) stays
        found = self.looked_up[lookup] = [(d.collection, d.id) for d in documents]
        return found

    def _found(self, entity: str, key: str, value: str) -> list[Ref]:
        """What storage holds under this key (before this run's changes), asked once per transaction."""
        found = self.looked_up.get((entity, key, value))
        if found is None:  # what storage holds does not change under this transaction but by our own writes
            fetch = getattr(self.tx, "lookup_documents", None)  # FetchingTransaction: the documents come with the look-up
            if fetch is None:
                found = self.looked_up[(entity, key, value)] = self.tx.lookup(entity, key, value)
            else:
                found = self.keep((entity, key, value), fetch(entity, key, value))
        return found

    def _refs(self, entity: str, key: str, value: str) -> list[Ref]:
        found = self._found(entity, key, value)
        if not (self.working or self.deleted):
            return found  # read, never changed, by the caller
        refs = [r for r in found if r not in self.working and r not in self.deleted]
        holds = self.key_plan.holds
        for ref, body in self.working.items():
            if holds(ref[0], entity, key, body, value):
                refs.append(ref)
        return refs

    def _within(self, entity: Entity, body: dict[str, Any], key: str, value: str) -> dict[str, Any] | None:
        if entity.collection:
            return body if str(body.get(key)) == value else None
        for item in body.get(entity.nested_key or "", []) or []:
            if isinstance(item, dict) and str(item.get(key)) == value:
                return item
        return None

    def get(self, entity: str, id: Any) -> dict[str, Any] | None:
        """The record of `entity` with this id, or None (what `lookup()` gives conditions)."""
        known = self.project.entities.get(entity)
        if known is None:
            raise ExpressionError(f"lookup: unknown entity {entity!r}{did_you_mean(entity, self.project.entities)}")
        if known.collection and type(id) is str:  # a top-level record by its id: its document (as `locate` finds it)
            if self.working or self.deleted:
                return self.body((known.collection, id))
            ref = (known.collection, id)  # nothing changed (every read-only question): what was read, as `body` reads it
            read = self.read
            doc = read[ref] if ref in read else read.setdefault(ref, self.fetch(known.collection, id))
            return None if doc is None else doc.body
        found = self.locate(entity, "id", id)
        return found[1] if found else None

    def find(self, entity: str, given: str, keys: Iterable[str]) -> dict[str, Any]:
        """The record named by `given` under any of `keys`, or UnknownName with a suggestion."""
        known = self.project.entities.get(entity)
        if known is not None and known.collection and type(given) is str and not (self.working or self.deleted):
            for key in keys:  # a top-level record by its id, nothing changed: its document, as `locate` reads it
                if key == "id":
                    ref = (known.collection, given)
                    read = self.read
                    doc = read[ref] if ref in read else read.setdefault(ref, self.fetch(ref[0], ref[1]))
                    if doc is not None and doc.body is not None:
                        return doc.body
                break  # any other key (or the id not found): as below
        for key in keys:
            found = self.locate(entity, key, given)
            if found:
                return found[1]
        raise UnknownName(entity, given, self.suggestions(entity, keys))

    def find_held(self, entity_name: str, given: str, keys: Iterable[str]) -> tuple[dict[str, Any], tuple[str, dict[str, Any]] | None]:
        """`find`, and (as `holder` gives it) the entity name and record of the one holding it: one look-up for both."""
        entity = self.project.entities.get(entity_name) or self.entity(entity_name)
        if not (entity.collection or self.working or self.deleted) and type(given) is str:  # a nested record, nothing changed: read directly
            holders = _holders(self.project, entity)
            read, nested, looked_up = self.read, entity.nested_key or "", self.looked_up
            for key in keys:
                refs = looked_up.get((entity_name, key, given))  # what `_refs` gives when nothing changed: what storage found
                for ref in self._found(entity_name, key, given) if refs is None else refs:  # what `locate` reads, in the same order
                    doc = read[ref] if ref in read else read.setdefault(ref, self.fetch(ref[0], ref[1]))
                    body = None if doc is None else doc.body
                    if body is None:
                        continue
                    for item in body.get(nested, []) or []:
                        if isinstance(item, dict) and str(item.get(key)) == given:
                            holder = holders.get(ref[0])
                            return item, None if holder is None else (holder, body or {})
            raise UnknownName(entity_name, given, self.suggestions(entity_name, keys))
        for key in keys:
            found = self.locate(entity_name, key, given)
            if found:
                ref, record = found
                if not entity.collection:
                    for holder in entity.nested_in:
                        if self.project.entities[holder].collection == ref[0]:
                            return record, (holder, self.body(ref) or {})
                return record, None
        raise UnknownName(entity_name, given, self.suggestions(entity_name, keys))

    def holder(self, entity_name: str, id: str) -> tuple[str, dict[str, Any]] | None:
        """For a nested record, the entity name and record of the one holding it."""
        entity = self.entity(entity_name)
        if entity.collection:
            return None
        found = self.locate(entity_name, "id", id)
        if not found:
            return None
        collection = found[0][0]
        for holder in entity.nested_in:
            if self.project.entities[holder].collection == collection:
                return holder, self.body(found[0]) or {}
        return None

    def all(self, entity_name: str, limit: int) -> list[dict[str, Any]]:
        """The records of `entity_name` as storage holds them, in id order, at most `limit` (what `all(entity)` lists)."""
        return list(itertools.islice(self._scan_bodies(self.entity(entity_name)), limit))

    def suggestions(self, entity_name: str, keys: Iterable[str]) -> list[str]:
        entity = self.entity(entity_name)
        keys = list(keys)
        out: list[str] = []
        for index, body in enumerate(self._scan_bodies(entity)):
            if index >= SUGGEST_SCAN:
                return []
            out.extend(str(body[k]) for k in keys if body.get(k) is not None)
        return out

    def _scan_bodies(self, entity: Entity) -> Iterator[dict[str, Any]]:
        if entity.collection:
            for doc in self.tx.scan(entity.collection):
                yield doc.body
            return
        for holder in entity.nested_in:
            collection = self.project.entities[holder].collection
            if collection:
                for doc in self.tx.scan(collection):
                    yield from (i for i in doc.body.get(entity.nested_key or "", []) or [] if isinstance(i, dict))

    def keys(self, collection: str, body: dict[str, Any]) -> list[IndexKey]:
        """The look-up keys of a top-level body, its nested records' included."""
        return self.key_plan.keys(collection, body)

    # changing -----------------------------------------------------------
    def _writable(self, ref: Ref) -> dict[str, Any]:
        """This run's own copy of a top-level body. Copies are shallow: whatever is
        changed below the top is copied on its way (see `set`), never changed in place."""
        if ref not in self.working:
            body = self.body(ref)
            if body is None:
                raise ClientflowError(f"{ref[0]} {ref[1]} no longer exists")
            self.working[ref] = dict(body)
        return self.working[ref]

    def set(self, entity_name: str, id: Any, field: str, value: Any) -> Change:
        entity = self.entity(entity_name)
        found = self.locate(entity_name, "id", id)
        if found is None:
            raise ClientflowError(f"there is no {entity_name} with id {id!r} to change")
        ref, _ = found
        record = body = self._writable(ref)
        if not entity.collection:  # a nested record: copy its list and itself before changing it
            key = entity.nested_key or ""
            items = list(body.get(key) or [])
            for index, item in enumerate(items):
                if isinstance(item, dict) and str(item.get("id")) == str(id):
                    record = items[index] = dict(item)
                    break
            body[key] = items
        before = clone(record.get(field))
        record[field] = clone(value)
        return Change("update", entity_name, str(id), field, before, value)

    def delete(self, entity_name: str, id: Any) -> Change:
        entity = self.entity(entity_name)
        found = self.locate(entity_name, "id", id)
        if found is None:
            raise ClientflowError(f"there is no {entity_name} with id {id!r} to delete")
        ref, record = found
        before = clone(record)
        if entity.collection:
            if not isinstance(self.deleted, set):  # the first this run deletes
                self.deleted = set(self.deleted)
            self.deleted.add(ref)
            self.working.pop(ref, None)
        else:
            body = self._writable(ref)
            items = body.get(entity.nested_key or "", [])
            body[entity.nested_key or ""] = [i for i in items if not (isinstance(i, dict) and str(i.get("id")) == str(id))]
        return Change("delete", entity_name, str(id), None, before, None)

    def create(self, entity_name: str, values: dict[str, Any]) -> Change:
        entity = self.entity(entity_name)
        if not entity.collection:
            raise ClientflowError(f"{entity_name} records live inside others; create them with a plugin effect")
        if values.get("id") is None:
            raise ClientflowError(f"a new {entity_name} needs an id")
        ref = (entity.collection, str(values["id"]))
        if self.body(ref) is not None:
            raise ClientflowError(f"a {entity_name} with id {values['id']!r} already exists")
        if isinstance(self.deleted, set):  # else none was deleted
            self.deleted.discard(ref)
        self.working[ref] = clone(values)
        if not isinstance(self.created, set):  # the first this run creates
            self.created = set(self.created)
        self.created.add(ref)
        return Change("create", entity_name, str(values["id"]), None, None, clone(values))

    def refused(self) -> list[str]:
        """What the data schema refuses in the records this transaction changed or created, each as `entity id: field: message`."""
        if not self.project.data_schema or not self.working:
            return []
        check = record_checks(self.project)
        out = []
        for ref, body in sorted(self.working.items()):
            for message in check.problems(ref[0], body):
                out.append(f"{check.names.get(ref[0], ref[0])} {ref[1]}: {message}")
        return out

    def flush(self, *, checked: bool = False) -> None:
        """Write every change through the transaction, each checked against the version read; never a record the data schema refuses.

        `checked`: the caller has just asked `refused()` of these very changes (it found nothing) and nothing changed
        them since, so the data schema is not asked twice (a bulk commit's every subject).
        """
        refused = [] if checked else self.refused()
        if refused:
            raise RunError(refusal_message(refused))
        for ref in sorted(self.deleted):
            version = self.version(ref)
            if version is not None:
                self.tx.delete(ref[0], ref[1], expect_version=version)
                faults.point("between-writes")
        for ref, body in sorted(self.working.items()):
            if ref in self.created:
                self.tx.put(Document(ref[0], ref[1], body, 0), self.keys(ref[0], body), expect_version=None)
                continue
            read = self._document(ref)
            if read is not None and all(body.get(f, _ABSENT) is read.body.get(f, _ABSENT) for f in self.key_plan.fields(ref[0])):
                keys = None  # every value its keys are made of is the very one read (copies are made on change): the same keys
            else:
                keys = self.keys(ref[0], body)
                if read is not None and keys == self.keys(ref[0], read.body):
                    keys = None
            self.tx.put(Document(ref[0], ref[1], body, 0), keys, expect_version=self.version(ref))
            faults.point("between-writes")


_HOLDERS: dict[int, tuple[Entity, dict[str, str]]] = {}


def _holders(project: Project, entity: Entity) -> dict[str, str]:
    """A nested entity's holders by their collection: the first of `nested_in` held there, as `find_held` picks it."""
    held = _HOLDERS.get(id(entity))
    if held is None or held[0] is not entity:
        if len(_HOLDERS) > 64:
            _HOLDERS.clear()
        by_collection: dict[str, str] = {}
        for holder in entity.nested_in:
            collection = project.entities[holder].collection
            if collection:
                by_collection.setdefault(collection, holder)
        held = _HOLDERS[id(entity)] = (entity, by_collection)
    return held[1]


def refusal_message(refused: list[str]) -> str:
    """Why a run that would write what the data schema refuses changes nothing."""
    return "this run would write what the data schema does not allow, so nothing was changed: " + "; ".join(refused)


class Snapshot:
    """Records held in memory, read-only, indexed by every declared key: what `Engine.checker()` reads.

    It answers as `Records` does (`get`, `find`, `holder`), so parties and scopes are built the same way.
    """

    def __init__(self, project: Project, data: Mapping[str, Any]) -> None:
        self.project = project
        self.index: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.holders: dict[int, tuple[str, dict[str, Any]]] = {}
        self._named: dict[tuple[str, tuple[str, ...]], dict[str, dict[str, Any]]] = {}  # see `named`
        for entity in project.entities.values():
            if not entity.collection:
                continue
            for record in data.get(entity.collection, []) or []:
                self._add(entity.name, record)
                for nested in project.entities.values():
                    if nested.nested_key and entity.name in nested.nested_in:
                        for child in record.get(nested.nested_key, []) or []:
                            self._add(nested.name, child)
                            self.holders[id(child)] = (entity.name, record)

    def _add(self, entity: str, record: dict[str, Any]) -> None:
        for key in self.project.entities[entity].keys:
            value = record.get(key)
            if value is not None:
                self.index.setdefault((entity, key, str(value)), record)

    def get(self, entity: str, id: Any) -> dict[str, Any] | None:
        """What `lookup(entity, id)` gives conditions."""
        if entity not in self.project.entities:
            raise ExpressionError(f"lookup: unknown entity {entity!r}{did_you_mean(entity, self.project.entities)}")
        if id is None:
            return None
        return self.index.get((entity, "id", id if id.__class__ is str else str(id)))

    def find(self, entity: str, given: str, keys: Iterable[str]) -> dict[str, Any]:
        """The record named by `given` under any of `keys`, or UnknownName with a suggestion."""
        for key in keys:
            record = self.index.get((entity, key, given))
            if record is not None:
                return record
        raise UnknownName(entity, given, [v for (e, k, v) in self.index if e == entity and k in keys])

    def named(self, entity: str, keys: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        """Each record of `entity` by every word `find(entity, word, keys)` finds it by: one look-up instead of one per key.

        The first key wins, as in `find`; made when first asked for (the snapshot does not change).
        """
        named = self._named.get((entity, keys))
        if named is None:
            named = self._named[(entity, keys)] = {}
            for key in keys:
                for (e, k, value), record in self.index.items():
                    if e == entity and k == key:
                        named.setdefault(value, record)
        return named

    def all(self, entity_name: str, limit: int) -> list[dict[str, Any]]:
        """The records of `entity_name`, in the order the data gave them, at most `limit`."""
        found = (record for (entity, key, _), record in self.index.items() if entity == entity_name and key == "id")
        return list(itertools.islice(found, limit))

    def find_held(self, entity: str, given: str, keys: Iterable[str]) -> tuple[dict[str, Any], tuple[str, dict[str, Any]] | None]:
        """`find`, and the entity name and record of the one holding it (None for a top-level record)."""
        record = self.find(entity, given, keys)
        return record, self.holders.get(builtins.id(record))

    def holder(self, entity_name: str, id: str) -> tuple[str, dict[str, Any]] | None:
        """For a nested record, the entity name and record of the one holding it."""
        record = self.index.get((entity_name, "id", id))
        return None if record is None else self.holders.get(builtins.id(record))


def import_data(project: Project, tx: Transaction, data: dict[str, Any], display: str = "data", positions: Any = None) -> int:
    """Write a validated data file's records into storage; return how many top-level records.

    Every look-up key must be unique: a duplicate raises the located DataError
    (and the transaction, rolled back, leaves nothing behind).
    """
    plan = key_plan(project)
    items: list[tuple[Document, list[IndexKey]]] = []
    seen: set[IndexKey] = set()
    count = 0
    for entity in project.entities.values():
        collection = entity.collection
        if not collection:
            continue
        for item in data.get(collection, []) or []:
            keys = plan.keys(collection, item)
            count += len(keys)
            items.append((Document(collection, str(item["id"]), item, 0), keys))
            seen.update(keys)
    if len(seen) != count:
        _raise_duplicates(project, data, positions, display)
    load = getattr(tx, "load_documents", None)
    if load is not None:  # a backend that can take many new documents at once
        load(items)
    else:
        for document, keys in items:
            tx.put(document, keys, expect_version=None)
    return len(items)


def check_data(project: Project, data: Any, positions: Any, display: str, *, unique: bool = True) -> None:
    """Validate a data file: the project's data schema, then (with `unique`) unique keys. Raises DataError."""
    problems: list[Problem] = []
    if project.data_schema:
        schema_path = Path(project.root) / project.data_schema
        problems = schemas.validate(data, schema_path.name, positions, str(schema_path.parent))
    elif not isinstance(data, dict):
        problems = [Problem(Location(display, 1, 1), "a data file must be a mapping of collections")]
    if problems:
        raise DataError(problems)
    problems = flow_problems(project, data, positions, display)
    if problems:
        raise DataError(problems)
    if not unique:
        return
    plan, count, distinct = key_plan(project), 0, set()
    for entity in project.entities.values():
        for item in data.get(entity.collection, []) or [] if entity.collection else []:
            if isinstance(item, dict):
                found = plan.keys(entity.collection or "", item)
                count += len(found)
                distinct.update(found)
    if len(distinct) != count:
        _raise_duplicates(project, data, positions, display)


def flow_problems(project: Project, data: Any, positions: Any, display: str = "") -> list[Problem]:
    """Each value the data schema marks `"x-flow"` that names no flow of the project, or a flow without the step it asks for.

    `"x-flow": true` asks for a flow; `"x-flow": KIND` for a flow with a step of that kind (a setting that
    makes flows wait for approval, say, does nothing for a flow without an approval step).
    """
    if not project.data_schema:
        return []
    schema_path = os.path.join(project.root, project.data_schema)
    problems: list[Problem] = []
    for pattern, wanted in schemas.flow_references(os.path.basename(schema_path), os.path.dirname(schema_path)):
        for path, value in schemas.values_at(data, pattern):
            if not isinstance(value, str):
                continue  # the schema says what type it is
            flow = project.flows.get(value)
            if flow is None:
                said = f"{value!r} is not a flow of the project{did_you_mean(value, project.flows)}"
            elif isinstance(wanted, str) and not any(step.kind == wanted for step in flow.steps):
                having = sorted(f.id for f in project.flows.values() if any(step.kind == wanted for step in f.steps))
                among = f"; the flows with one: {', '.join(having)}" if having else "; no flow has one"
                said = f"flow {value!r} has no {wanted} step, so naming it here changes nothing{among}"
            else:
                continue
            problems.append(Problem(positions.at(path) if positions is not None else Location(display, 1, 1), f"{keypath(path)}: {said}"))
    return problems


def _raise_duplicates(project: Project, data: Any, positions: Any, display: str) -> None:
    """Find where each duplicate key is written, and raise them all as one DataError."""
    problems: list[Problem] = []
    seen: dict[tuple[str, str, str], tuple[Any, ...]] = {}
    for entity in project.entities.values():
        if not entity.collection:
            continue
        for index, item in enumerate(data.get(entity.collection, []) or []):
            path = (entity.collection, index)
            _unique(project, entity, item, path, seen, positions, problems)
            for nested in project.entities.values():
                if nested.nested_key and entity.name in nested.nested_in:
                    for sub, child in enumerate(item.get(nested.nested_key, []) or []):
                        _unique(project, nested, child, (*path, nested.nested_key, sub), seen, positions, problems)
    if problems:
        raise DataError(problems)


def _unique(project: Project, entity: Entity, item: Any, path: tuple[Any, ...], seen: dict[Any, Any], positions: Any, problems: list[Problem]) -> None:
    if not isinstance(item, dict):
        return
    for key in entity.keys:
        if item.get(key) is None:
            continue
        mark = (entity.name, key, str(item[key]))
        if mark in seen:
            first = seen[mark]
            where = positions.at(first) if positions else None
            line = f" (first at line {where.line})" if where and where.line else ""
            problems.append(
                Problem(
                    positions.at((*path, key)), f"{keypath((*path, key))}: another {entity.name} already has {key} {item[key]!r}{line}; {key} must be unique"
                )
            )
        else:
            seen[mark] = (*path, key)
