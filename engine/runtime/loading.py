"""Loading a data file into storage that must be empty (or is emptied), all or nothing: `clientflow init`.

JSON and JSON Lines files are streamed (`language/datastream.py`): records are
checked against the project's data schema a batch at a time and written
through the backend's bulk path (`storage.load_documents`) as they come, all
in one write transaction. A problem anywhere stops the writing; reading goes on
to report every problem (up to MAX_PROBLEMS), located, and the transaction
rolls back. Look-up keys must be unique across the file: each key is kept as a
64-bit fingerprint (8 bytes, in buckets), and only fingerprints met twice are
looked at again, by a second reading of the file, to say which records clash.
YAML files are bounded by their size before they are read, and read whole.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator
from itertools import chain, groupby
from operator import attrgetter
from pathlib import Path
from typing import Any

from ..errors import ClientflowError, DataError, Location, Problem, keypath
from ..language import schemas
from ..language.datastream import JSON_LINES, JsonReader, Record, is_streamed, open_stream
from ..language.model import Entity, Project
from ..language.yamlfile import MAX_PROBLEMS, MAX_YAML_DATA_BYTES, Positions, load_data_text, read_data_text
from ..storage import ClearingTransaction, ConflictError, Document, IndexKey, Storage, Transaction, batches, load_documents
from .data import check_data, flow_problems, import_data, key_plan

BATCH = 2000  # records checked against the schema, and handed to storage, at a time
BUCKETS = 256  # fingerprint arrays: checking one for repeats needs a set of 1/BUCKETS of the keys
_NAME = attrgetter("name")  # a record's list


def replace_data(project: Project, storage: Storage, path: Path, *, force: bool = False, display: str | None = None, where: str | None = None) -> int:
    """Load a data file into `storage`, which must hold no record (or, with `force`, is emptied); return how many records.

    Everything lands in one write transaction, or nothing does: a bad record
    anywhere raises a DataError listing every problem found, located. A backend
    that keeps nothing is refused, and with `force` one that cannot be emptied;
    one that empties only in a transaction of its own has the whole file
    checked first. `where` names the storage in messages.
    """
    display = display or str(path)
    where = where or f"the {storage.name} storage"
    if not getattr(storage, "persistent", True):
        raise ClientflowError(f"the {storage.name} storage keeps nothing after the command; give --db PATH|URL or configure sqlite or postgresql")
    whole = None if is_streamed(display) else read_yaml(project, path, display)
    with storage.transaction(write=True) as tx:
        apart = False  # emptied in a transaction of its own, once the whole file is known to be good
        if _holds_records(project, tx):
            if not force:
                raise ClientflowError(f"{where} already holds records; pass --force to replace them")
            if not callable(getattr(storage, "clear", None)):
                raise ClientflowError(f"the {storage.name} storage backend cannot be emptied by clientflow; empty {where} yourself, or give another database")
            if isinstance(tx, ClearingTransaction):
                tx.clear()
            else:
                apart = True
        if not apart:
            return _load(project, tx, path, display, whole)
    _load(project, None, path, display, whole)
    storage.clear()  # type: ignore[attr-defined]
    with storage.transaction(write=True) as tx:
        return _load(project, tx, path, display, whole)


def load_into(project: Project, storage: Storage, path: Path, display: str | None = None) -> int:
    """Load a data file into `storage` as it stands, in one transaction, all or nothing (what `--data FILE` does)."""
    display = display or shown(path)
    whole = None if is_streamed(display) else read_yaml(project, path, display)
    with storage.transaction(write=True) as tx:
        return _load(project, tx, path, display, whole)


def shown(path: Path) -> str:
    """A data file's path as its problems name it: from the current folder when it is under it (as it was most likely
    typed: `data/demo.yaml`, which the command line makes absolute), else as given."""
    if path.is_absolute():
        try:
            return str(path.relative_to(Path.cwd()))
        except (ValueError, OSError):  # elsewhere, or no current folder
            return str(path)
    return str(path)


def read_yaml(project: Project, path: Path, display: str) -> tuple[Any, Positions]:
    """A YAML data file read whole and checked; refused by its size before any of it is read."""
    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # reading says what is wrong
    if size > MAX_YAML_DATA_BYTES:
        raise DataError(
            [
                Problem(
                    Location(display, 1, 1),
                    f"the file is {size:,} bytes; the limit is {MAX_YAML_DATA_BYTES:,} for a data file written as YAML: write large data as "
                    "JSON (a name ending in .json) or JSON Lines (.jsonl), which init reads as a stream, in little memory and at any size "
                    "(`clientflow export --format json` or `--format jsonl` writes one)",
                )
            ]
        )
    doc, positions = load_data_text(read_data_text(path, display), display)
    check_data(project, doc, positions, display, unique=True)
    return doc, positions


def _holds_records(project: Project, tx: Transaction) -> bool:
    for entity in project.entities.values():
        if entity.collection and next(iter(tx.scan(entity.collection, limit=1)), None) is not None:
            return True
    return bool(tx.audit(limit=1)) or bool(tx.outbox(limit=1))


def _load(project: Project, tx: Transaction | None, path: Path, display: str, whole: tuple[Any, Positions] | None) -> int:
    """Check (and with `tx`, write) the file; raise DataError with every problem."""
    if whole is not None:
        return import_data(project, tx, whole[0], display, whole[1]) if tx is not None else 0
    return _Stream(project, path, display).run(tx)


class _Stream:
    """One reading of a streamed file: schema checks per batch, ids, key fingerprints, writing."""

    def __init__(self, project: Project, path: Path, display: str) -> None:
        self.project = project
        self.path = path
        self.display = display
        self.plan = key_plan(project)
        self.entities = {e.collection: e for e in project.entities.values() if e.collection}
        self.filler: dict[str, Any] = {name: [] for name in self.entities}  # what a batch's probe holds besides its records
        self.schema_name: str | None = None
        self.schema_dir: str | None = None
        if project.data_schema:
            schema_path = Path(project.root) / project.data_schema
            self.schema_name, self.schema_dir = schema_path.name, str(schema_path.parent)
        self.own_ids = {name for name, e in self.entities.items() if "id" not in e.keys}  # ids that no key fingerprint covers
        self.problems: list[Problem] = []
        self.buckets = [array("q") for _ in range(BUCKETS)]
        self.count = 0

    def run(self, tx: Transaction | None) -> int:
        """Read the file through; with `tx`, write its records as they are found good (one stream into the backend)."""
        reader = open_stream(self.path, self.display)
        stream = batches(reader.records(), BATCH)  # shared: writing stops at a problem, checking goes on from there
        conflict = None
        try:
            if tx is not None:
                try:
                    load_documents(tx, chain.from_iterable(self._good_batches(stream, reader)))
                except ConflictError as exc:  # a document twice in the file (located below), or someone else's
                    conflict = exc
            whole = self._check_rest(stream, reader)
        except DataError as exc:  # the file cannot be read on
            raise DataError([*self.problems, *reader.problems, *exc.problems][: MAX_PROBLEMS + 1]) from exc
        if whole:
            self._check_shape(reader)
        if not self.problems:
            self._check_unique()
        if self.problems:
            raise DataError(self.problems[: MAX_PROBLEMS + 1])
        if conflict is not None:
            raise conflict
        return self.count

    def _good_batches(self, stream: Iterator[list[Record]], reader: JsonReader) -> Iterator[list[tuple[Document, list[IndexKey]]]]:
        """The documents to write, a batch at a time, until the first problem."""
        for batch in stream:
            items = self._check(batch)
            self.problems += reader.problems
            reader.problems.clear()
            if self.problems:
                if len(self.problems) >= MAX_PROBLEMS:
                    self._stop(batch[-1])
                return
            self.count += len(items)
            yield items

    def _check_rest(self, stream: Iterator[list[Record]], reader: JsonReader) -> bool:
        """Check what is left unwritten; False when reading stopped early (too many problems)."""
        if len(self.problems) > MAX_PROBLEMS:
            return False
        for batch in stream:
            self.count += len(self._check(batch))
            self.problems += reader.problems
            reader.problems.clear()
            if len(self.problems) >= MAX_PROBLEMS:
                self._stop(batch[-1])
                return False
        return True

    def _stop(self, record: Record) -> None:
        self.problems = self.problems[:MAX_PROBLEMS]
        self.problems.append(Problem(record.at(), f"more than {MAX_PROBLEMS} problems: reading stopped here; fix these and load the file again"))

    # each batch -------------------------------------------------------------------------------
    def _check(self, batch: list[Record]) -> list[tuple[Document, list[IndexKey]]]:
        items: list[tuple[Document, list[IndexKey]]] = []
        buckets, mask = self.buckets, BUCKETS - 1
        make = tuple.__new__  # a Document without NamedTuple's __new__ frame
        for name, grouped in groupby(batch, key=_NAME):
            group = list(grouped)
            if self.schema_name is not None and not self._valid(name, group):
                continue
            if name not in self.entities:
                continue  # a top-level list the project does not keep: checked by the schema, not stored
            own_id = name in self.own_ids
            keys_of = self.plan.keys_of(name)
            for record in group:
                value = record.value
                ident = value.get("id") if type(value) is dict else None
                if ident is None or isinstance(ident, (dict, list)):
                    self.problems.append(Problem(record.at(), f"{keypath((name, record.position))}: a record needs an id (text or a number)"))
                    continue
                ident = ident if type(ident) is str else str(ident)
                keys = keys_of(value)
                for fingerprint in map(hash, keys):
                    buckets[fingerprint & mask].append(fingerprint)
                if own_id:
                    fingerprint = hash((name, ident))
                    buckets[fingerprint & mask].append(fingerprint)
                items.append((make(Document, (name, ident, value, 0)), keys))
        return items

    def _valid(self, name: str, group: list[Record]) -> bool:
        """Check a batch's records of one list against the data schema, as the whole file would be; keep their problems."""
        probe = {**self.filler, name: [r.value for r in group]}
        positions = _BatchPositions(self.display, name, group)
        found = schemas.validate(probe, self.schema_name or "", positions, self.schema_dir) or flow_problems(self.project, probe, positions)
        if not found:
            return True
        item = re.compile(rf"{re.escape(name)}\[(\d+)\]")
        valid = True
        for problem in found:
            match = item.match(problem.message)
            if match is None:
                continue  # about the probe's other lists, or the list itself: the shape check's
            index = group[int(match.group(1))].position
            self.problems.append(Problem(problem.location, f"{name}[{index}]{problem.message[match.end() :]}"))
            valid = False
        return valid

    # the whole file ---------------------------------------------------------------------------
    def _check_shape(self, reader: JsonReader) -> None:
        """The top level: which lists there are and the values that are not lists (a list's own length is not checked)."""
        shape = dict(reader.shape)
        if self.display.endswith(JSON_LINES):
            shape = {**self.filler, **shape}  # a collection without lines is an empty one
        if self.schema_name is None:
            for name, value in shape.items():
                if name in self.entities and value is not None and not isinstance(value, list):
                    self.problems.append(Problem(_ShapePositions(self.display, reader).at((name,)), f"{name}: a collection is a list of records"))
            return
        for problem in schemas.validate(shape, self.schema_name, _ShapePositions(self.display, reader), self.schema_dir):
            if not any(count and problem.message.startswith(f"{name}: ") for name, count in reader.counts.items()):
                self.problems.append(problem)

    def _check_unique(self) -> None:
        """Keys met twice: from the fingerprints, then (only for those seen twice) exactly, by reading the file again."""
        suspects: set[int] = set()
        for bucket in self.buckets:
            if len(set(bucket)) != len(bucket):
                seen: set[int] = set()
                for fingerprint in bucket:
                    if fingerprint in seen:
                        suspects.add(fingerprint)
                    seen.add(fingerprint)
        self.buckets = []
        if not suspects:
            return
        first: dict[tuple[str, ...], Location] = {}
        for record in open_stream(self.path, self.display).records():
            entity = self.entities.get(record.name)
            if entity is None or type(record.value) is not dict:
                continue
            for mark, path, shown, what in self._marks(entity, record):
                if hash(mark) not in suspects:
                    continue
                where = record.at(path)
                if mark not in first:
                    first[mark] = where
                    continue
                field = path[-1]
                full = keypath((record.name, record.position, *path))
                self.problems.append(
                    Problem(where, f"{full}: another {what} already has {field} {shown!r} (first at line {first[mark].line}); {field} must be unique")
                )
                if len(self.problems) >= MAX_PROBLEMS:
                    self._stop(record)
                    return

    def _marks(self, entity: Entity, record: Record) -> Iterator[tuple[tuple[str, ...], tuple[Any, ...], Any, str]]:
        """Each look-up key of a record as the key plan makes it, with its path in the record, its value as written and the entity's name."""
        entities = self.project.entities
        body = record.value
        for top in entities.values():
            if top.collection == record.name:
                for key in top.keys:
                    if body.get(key) is not None:
                        yield (top.name, key, _text(body[key])), (key,), body[key], top.name
        for nested in entities.values():
            if nested.nested_key and record.name in {entities[h].collection for h in nested.nested_in}:
                for index, item in enumerate(body.get(nested.nested_key) or ()):
                    if type(item) is dict:
                        for key in nested.keys:
                            if item.get(key) is not None:
                                yield (nested.name, key, _text(item[key])), (nested.nested_key, index, key), item[key], nested.name
        if record.name in self.own_ids:
            yield (record.name, _text(body["id"])), ("id",), body["id"], f"record of {record.name}"


def _text(value: Any) -> str:
    return value if type(value) is str else str(value)


class _BatchPositions(Positions):
    """Positions for a probe `{NAME: [the batch's records]}`: each record's own, in the file."""

    def __init__(self, display: str, name: str, group: list[Record]) -> None:
        super().__init__(display)
        self.name, self.group = name, group

    def at(self, key_path: tuple[Any, ...], *, key: bool = False) -> Location:
        path = tuple(key_path)
        if len(path) >= 2 and path[0] == self.name and type(path[1]) is int and path[1] < len(self.group):
            inner = path[2:]
            return self.group[path[1]].at(inner, key=key and bool(inner))
        return Location(self.path, 1, 1)


class _ShapePositions(Positions):
    """Positions of the file's top level: each name, and each value that is not a streamed list."""

    def __init__(self, display: str, reader: JsonReader) -> None:
        super().__init__(display)
        self.reader = reader

    def at(self, key_path: tuple[Any, ...], *, key: bool = False) -> Location:
        path = tuple(key_path)
        member = self.reader.members.get(path[0]) if path else None
        if member is None:
            return Location(self.path, 1, 1)
        if key and len(path) == 1 and path[0] in self.reader.keys:
            return self.reader.keys[path[0]]
        return member.at(path[1:], key=key and len(path) > 1)
