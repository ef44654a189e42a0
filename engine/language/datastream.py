"""Data files read record by record, in bounded memory: JSON and JSON Lines.

`open_stream(path, display)` gives a reader whose `records()` yields every
record of every top-level list, one at a time, each with what is needed to say
where it was written (`Record.at`). Only one chunk of the file and the record
being read are held, so a file of any size can be loaded; one record (or one
top-level value that is not a list) may hold at most MAX_RECORD_BYTES.

* JSON (`.json`): one object of named lists, `{"NAME": [{...}, {...}], ...}`,
  as `clientflow export --format json` writes it. Each record is decoded by the
  json module's C scanner straight from the buffer.
* JSON Lines (`.jsonl`, `.ndjson`): one record per line,
  `{"collection": "NAME", "record": {...}}`; blank lines are skipped. A broken
  line is reported and reading goes on with the next one.

Syntax errors are DataErrors located as `path:line:col`; a problem inside a
record is located by reading that record's text again with positions (JSON is
YAML 1.2 flow style), which only a record in error pays for.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from json.decoder import scanstring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from ..errors import DataError, Location, Problem, keypath
from .yamlfile import MAX_DATA_BYTES, MAX_DEPTH, MAX_NUMBER_DIGITS, json_syntax, load_yaml

CHUNK = 1 << 20  # bytes read (and decoded) at a time
MAX_RECORD_BYTES = MAX_DATA_BYTES  # one record, or one top-level value that is not a list
JSON_LINES = (".jsonl", ".ndjson")
ENVELOPE = '{"collection": NAME, "record": {...}}'
_SPACE = re.compile(r"[ \t\n\r]*")
_NEXT_ITEM = re.compile(r"[ \t\n\r]*,[ \t\n\r]*(?=[^ \t\n\r\]])")  # a comma, and the next item's first character in the buffer
_NUMBER_GOES_ON = re.compile(r"[0-9.eE+\-]*")
_TRUNCATED_NEAR = 16  # a decoding error this close to the end of the buffer may only mean "read more"


def is_streamed(display: str) -> bool:
    """Whether a data file of this name is read as a stream (JSON, JSON Lines) rather than whole (YAML)."""
    return display.endswith(".json") or display.endswith(JSON_LINES)


def open_stream(path: Path, display: str) -> JsonReader | JsonLinesReader:
    """The streaming reader for a JSON (`.json`) or JSON Lines (`.jsonl`, `.ndjson`) data file."""
    return JsonLinesReader(path, display) if display.endswith(JSON_LINES) else JsonReader(path, display)


class Text(NamedTuple):
    """A stretch of a file's text whose first character was written at (line, col)."""

    display: str
    text: str
    line: int
    col: int

    def location(self, offset: int) -> Location:
        """Where the character at `offset` of this text was written."""
        newlines = self.text.count("\n", 0, offset)
        if not newlines:
            return Location(self.display, self.line, self.col + offset)
        return Location(self.display, self.line + newlines, offset - self.text.rfind("\n", 0, offset))


class Record(NamedTuple):
    """One record of a top-level list: its list's name, its index there, its value and where its text is."""

    name: str
    position: int  # its index in its list (-1: a top-level value itself)
    value: Any
    source: Text
    start: int
    end: int
    prefix: tuple[Any, ...] = ()  # the record's path inside its own text (JSON Lines: ("record",))

    def at(self, path: tuple[Any, ...] = (), *, key: bool = False) -> Location:
        """Where a value inside the record (or its key) was written; the record's start when that cannot be told."""
        base = self.source.location(self.start)
        if not path and not self.prefix:
            return base
        text = self.source.text[self.start : self.end]
        try:
            whole, positions = load_yaml(text, self.source.display, DataError)
        except DataError:
            return base
        inner = whole
        for part in self.prefix:
            inner = inner.get(part) if isinstance(inner, dict) else None
        if inner != self.value:
            return base  # JSON that YAML reads otherwise: the record's start is all we can say
        found = positions.at((*self.prefix, *path), key=key)
        return _shift(base, found)


def _shift(base: Location, inner: Location) -> Location:
    """A location inside a text that starts at `base`, from the location within that text."""
    if inner.line <= 1:
        return Location(base.path, base.line, base.col + max(inner.col, 1) - 1)
    return Location(base.path, base.line + inner.line - 1, inner.col)


class _DuplicateKey(ValueError):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_pairs)
_PLAIN = json.JSONDecoder()


def _explain(exc: BaseException, record_text: str, base: Location, display: str, path: tuple[Any, ...] = ()) -> Problem:
    """A located problem for a value (a record, a line) that would not decode for another reason than its syntax.

    `path` is where the value sits in the file's data, for the message.
    """
    if isinstance(exc, _DuplicateKey) or isinstance(exc, RecursionError):
        try:  # YAML says where (JSON is YAML 1.2 flow style)
            load_yaml(record_text, display, DataError)
        except DataError as located:
            kept = [p for p in located.problems if "duplicate key" in p.message or "nested more than" in p.message]
            if kept:  # its lines count from the record's first: a line the message names is shifted as the location is
                message = re.sub(r"\(first at line (\d+)\)", lambda m: f"(first at line {int(m.group(1)) + base.line - 1})", kept[0].message)
                return Problem(_shift(base, kept[0].location), _under(path, message))
        if isinstance(exc, _DuplicateKey):
            return Problem(base, _under(path, f"duplicate key {exc.args[0]!r}; keep one"))
        return Problem(base, _under(path, f"nested more than {MAX_DEPTH} levels deep; flatten it"))
    found = re.search(rf"\d{{{MAX_NUMBER_DIGITS + 1},}}", record_text)
    if found is not None:  # int() refuses so many digits
        digits = len(found.group())
        where = Text(display, record_text, base.line, base.col).location(found.start())
        return Problem(where, f"a number of {digits:,} digits is over the limit of {MAX_NUMBER_DIGITS:,}; write it in quotes to keep it as text")
    return Problem(base, f"cannot read this value: {exc}")


def _under(path: tuple[Any, ...], message: str) -> str:
    """A message about a place inside a value (`users[0]: ...`, or none) as one about the place in the whole file."""
    outer = keypath(path)
    if not outer:
        return message
    if message.startswith(("duplicate key", "nested more than")):
        return f"{outer}: {message}"
    return f"{outer}{message}" if message.startswith("[") else f"{outer}.{message}"


def _too_big(where: Location) -> DataError:
    return DataError(
        [Problem(where, f"one record of more than {MAX_RECORD_BYTES:,} bytes; the limit is for one record (a whole file may be of any size): split it")]
    )


class _Buffer:
    """The file's text from the reading position on, decoded a chunk at a time."""

    def __init__(self, handle: BinaryIO, display: str) -> None:
        self.handle = handle
        self.display = display
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.source = Text(display, "", 1, 1)
        self.pos = 0
        self.eof = False

    @property
    def text(self) -> str:
        return self.source.text

    def location(self, offset: int | None = None) -> Location:
        return self.source.location(self.pos if offset is None else offset)

    def more(self, want: int = 0) -> bool:
        """Read on (at least `want` characters' worth), dropping what was consumed; False at the end of the file."""
        if self.eof:
            return False
        raw = self.handle.read(max(want, CHUNK))
        try:
            fresh = self.decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as exc:
            good = raw[: max(exc.start, 0)].decode("utf-8", "ignore")
            where = Text(self.display, self.text + good, self.source.line, self.source.col).location(len(self.text) + len(good))
            byte = exc.object[exc.start : exc.start + 1].hex()
            raise DataError([Problem(where, f"the byte 0x{byte} is not UTF-8 text; save the file as UTF-8")]) from exc
        if not raw:
            self.eof = True
        start = self.source.location(self.pos)
        self.source = Text(self.display, self.text[self.pos :] + fresh, start.line, start.col)
        self.pos = 0
        return bool(raw) or bool(fresh)

    def next_char(self) -> str:
        """The next character that is not JSON white space ('' at the end of the file); the position moves onto it."""
        while True:
            self.pos = _SPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return ""

    def decode(self, decode: Callable[[str, int], tuple[Any, int]], path: tuple[Any, ...] = ()) -> tuple[Any, int]:
        """One value decoded from the position on: (value, end). Reads on while the value runs past the buffer.

        `path` is where the value sits in the file's data, for messages.
        """
        while True:
            try:
                value, end = decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                near_end = exc.pos >= len(self.text) - _TRUNCATED_NEAR or exc.msg.startswith("Unterminated string")
                if near_end and not self.eof:
                    held = len(self.text) - self.pos
                    if held > MAX_RECORD_BYTES:
                        raise _too_big(self.location()) from exc
                    self.more(held)  # double what is held: a long record costs linear time
                    continue
                raise DataError([Problem(self.location(exc.pos), json_syntax(exc))]) from exc
            except (ValueError, RecursionError) as exc:  # a duplicate key, too deep, too many digits
                end = self._end_of_value()
                text = self.text[self.pos : end]
                raise DataError([_explain(exc, text, self.location(), self.display, path)]) from exc
            if not self.eof and _NUMBER_GOES_ON.match(self.text, end).end() >= len(self.text):  # type: ignore[union-attr]
                self.more(len(self.text) - self.pos)  # a number (or what follows it) may go on in the next chunk
                continue
            if end - self.pos > MAX_RECORD_BYTES // 4 and len(self.text[self.pos : end].encode()) > MAX_RECORD_BYTES:
                raise _too_big(self.location())
            return value, end

    def _end_of_value(self) -> int:
        try:
            return int(_PLAIN.raw_decode(self.text, self.pos)[1])
        except (ValueError, RecursionError):
            return len(self.text)

    def syntax(self, message: str) -> DataError:
        return DataError([Problem(self.location(), f"JSON syntax: {message}")])


class JsonReader:
    """A JSON data file, `{"NAME": [records], ...}`, read one record at a time.

    After `records()` is exhausted, `shape` holds each top-level name with its
    value (an empty list for the lists that were streamed), `counts` how many
    records each list held, and `members` a Record for each top-level value
    (that of a streamed list placed at its `[`) for locating problems about it.
    """

    def __init__(self, path: Path, display: str) -> None:
        self.path = path
        self.display = display
        self.shape: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self.members: dict[str, Record] = {}
        self.keys: dict[str, Location] = {}
        self.problems: list[Problem] = []  # those found without stopping (JSON Lines); a JSON file stops at its first

    def records(self) -> Iterator[Record]:
        """Every record of every top-level list, in file order. Raises DataError at a syntax error."""
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise DataError([Problem(Location(self.display), f"cannot read the file: {exc.strerror}")]) from exc
        with handle:
            buf = _Buffer(handle, self.display)
            buf.more()
            yield from self._document(buf)

    def _document(self, buf: _Buffer) -> Iterator[Record]:
        first = buf.next_char()
        if first != "{":
            what = "the file is empty" if first == "" else "a JSON data file is one object of named lists"
            raise DataError([Problem(buf.location(), f'{what}: {{"NAME": [{{...}}, ...], ...}}')])
        buf.pos += 1
        char = buf.next_char()
        if char == "}":
            buf.pos += 1
        else:
            while True:
                if char != '"':
                    raise buf.syntax("Expecting property name enclosed in double quotes")
                where = buf.location()
                name, buf.pos = buf.decode(lambda text, pos: scanstring(text, pos + 1))
                if name in self.keys:
                    first_line = self.keys[name].line
                    raise DataError([Problem(where, f"duplicate key {name!r} (first at line {first_line}); keep one")])
                self.keys[name] = where
                if buf.next_char() != ":":
                    raise buf.syntax("Expecting ':' delimiter")
                buf.pos += 1
                if buf.next_char() == "[":
                    yield from self._list(buf, name)
                else:
                    value, end = buf.decode(_DECODER.raw_decode, (name,))
                    self.members[name] = Record(name, -1, value, buf.source, buf.pos, end)
                    self.shape[name] = value
                    buf.pos = end
                char = buf.next_char()
                if char == ",":
                    buf.pos += 1
                    char = buf.next_char()
                    continue
                if char == "}":
                    buf.pos += 1
                    break
                raise buf.syntax("Expecting ',' delimiter")
        if buf.next_char() != "":
            raise buf.syntax("Extra data")

    def _list(self, buf: _Buffer, name: str) -> Iterator[Record]:
        self.members[name] = Record(name, -1, [], buf.source, buf.pos, buf.pos + 1)
        self.shape[name] = []
        buf.pos += 1
        index = 0
        decode = _DECODER.raw_decode
        if buf.next_char() == "]":
            buf.pos += 1
            self.counts[name] = 0
            return
        limit = MAX_RECORD_BYTES // 4
        scan = _DECODER.scan_once  # type: ignore[attr-defined] # what `decode` calls, without its frame: it raises StopIteration where decode says "Expecting value"
        next_item = _NEXT_ITEM.match
        make = tuple.__new__  # a Record without NamedTuple's __new__ frame (a record of the file: about 0.2 us of 4)
        while True:
            source, start = buf.source, buf.pos
            text = source.text
            try:  # the common case: a record (an object) decoded whole from the buffer, well under the size limit
                value, end = scan(text, start)
            except (StopIteration, ValueError, RecursionError):
                value, end = buf.decode(decode, (name, index))  # the same decoding again, which reads on or says what is wrong
                source = buf.source
                text = source.text
            else:
                # buf.decode's other checks: an object ends at its `}`, so nothing of it can be in the next chunk (as a
                # number could); one of more than `limit` characters may be over the byte limit
                if type(value) is not dict or end - start > limit:
                    value, end = buf.decode(decode, (name, index))
                    source = buf.source
                    text = source.text
            yield make(Record, (name, index, value, source, buf.pos, end, ()))
            index += 1
            found = next_item(text, end)
            if found is not None:  # the common case, without a call per character class
                buf.pos = found.end()
                continue
            buf.pos = end
            char = buf.next_char()
            if char == ",":
                buf.pos += 1
                buf.next_char()
                continue
            if char == "]":
                buf.pos += 1
                break
            raise buf.syntax("Expecting ',' delimiter")
        self.counts[name] = index


class JsonLinesReader(JsonReader):
    """A JSON Lines data file: one `{"collection": NAME, "record": {...}}` per line.

    A line that cannot be read is added to `problems` and reading goes on, so
    that one run reports every broken line (up to the caller's bound).
    """

    def records(self) -> Iterator[Record]:
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise DataError([Problem(Location(self.display), f"cannot read the file: {exc.strerror}")]) from exc
        with handle:
            number = 0
            while raw := handle.readline(MAX_RECORD_BYTES + 1):
                number += 1
                if len(raw) > MAX_RECORD_BYTES:
                    raise _too_big(Location(self.display, number, 1))
                record = self._line(raw, number)
                if record is not None:
                    yield record

    def _line(self, raw: bytes, number: int) -> Record | None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            col = len(raw[: exc.start].decode("utf-8", "ignore")) + 1
            self.problems.append(
                Problem(Location(self.display, number, col), f"the byte 0x{raw[exc.start : exc.start + 1].hex()} is not UTF-8 text; save the file as UTF-8")
            )
            return None
        if not text.strip():
            return None
        source = Text(self.display, text, number, 1)
        try:
            envelope = _DECODER.decode(text)
        except json.JSONDecodeError as exc:
            self.problems.append(Problem(source.location(exc.pos), json_syntax(exc)))
            return None
        except (ValueError, RecursionError) as exc:
            self.problems.append(_explain(exc, text, source.location(0), self.display))
            return None
        name = envelope.get("collection") if isinstance(envelope, dict) else None
        if not isinstance(name, str) or set(envelope) != {"collection", "record"}:
            self.problems.append(Problem(source.location(0), f"each line of a JSON Lines data file is {ENVELOPE}"))
            return None
        index = self.counts.get(name, 0)
        self.counts[name] = index + 1
        if name not in self.members:
            self.members[name] = Record(name, -1, name, source, 0, len(text), ("collection",))
            self.shape[name] = []
        return Record(name, index, envelope["record"], source, 0, len(text), ("record",))
