"""Reading YAML safely, keeping where every value was written.

`load_yaml` returns plain Python values (dict, list, str, int, float, bool,
None) and a `Positions` table from key paths to (line, column). It builds them
from libyaml's event stream with an explicit stack, so no nesting can exhaust
the C stack, and it refuses anchors and aliases, merge keys, duplicate keys,
custom tags, more than one document, files over a size or depth bound and
bytes that are not UTF-8. It never turns `no` or `on` into booleans: plain
scalars follow the YAML 1.2 core schema, everything else is a string. When
libyaml refuses a file, `yamlsyntax` names the common causes (a quote that
ends a text early, a ': ' in a text, lines out of line) where they were written.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from ..errors import DataError, DefinitionError, Location, Problem, keypath
from .pyyaml import yaml
from .yamlsyntax import explain, quoted

try:  # libyaml when present: several times faster
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the build of PyYAML
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_BYTES = 8 * 1024 * 1024  # a definition file
MAX_DATA_BYTES = 64 * 1024 * 1024  # a data file written as JSON (about 200,000 records)
MAX_YAML_DATA_BYTES = 4 * 1024 * 1024  # a data file written as YAML: it takes some 30 times the time and 5 times the memory of JSON
MAX_PROBLEMS = 50  # reported per file before reading stops
MAX_DEPTH = 64
MAX_NUMBER_DIGITS = 4_300  # digits of a whole number in a file (Python's own default limit for reading one)

PathKey = tuple[Hashable, ...]

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^[-+]?(?:[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$")
_CORE_TAG = "tag:yaml.org,2002:"
_MAY_RESOLVE = frozenset("~nNtTfF0123456789+-.")  # the first characters of every text _NULL, _BOOL, _INT or _FLOAT matches

# libyaml's wording of the commonest slips, and what to do about each
_SYNTAX_HINTS = (
    ("mapping values are not allowed", "a ':' where no key can start; put text holding ': ' in quotes, or check the indentation"),
    ("could not find expected ':'", "a line that is not KEY: VALUE; add the ':' or put the text in quotes"),
    ("did not find expected key", "the indentation of this line does not fit the lines above; line it up with its siblings"),
    ("did not find expected '-' indicator", "the indentation of this list item does not fit the items above; line it up with them"),
    ("found unexpected end of stream", "the file ends inside a quoted text or a [ ] or { }; close it"),
    ("found unknown escape character", "an unknown \\ escape inside double quotes; use single quotes, or write \\\\"),
)


class Positions:
    """Where each value (and each mapping key) of one file was written."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.values: dict[PathKey, tuple[int, int]] = {}
        self.keys: dict[PathKey, tuple[int, int]] = {}
        self.blocks: set[PathKey] = set()  # values written as literal blocks (`|`): their lines are the file's

    def at(self, key_path: PathKey, *, key: bool = False) -> Location:
        """The location of a value (or of its key), falling back to the nearest parent."""
        table = self.keys if key else self.values
        probe = tuple(key_path)
        while True:
            if probe in table:
                line, col = table[probe]
                return Location(self.path, line, col)
            if probe in self.values:
                line, col = self.values[probe]
                return Location(self.path, line, col)
            if not probe:
                return Location(self.path, 1, 1)
            probe = probe[:-1]


def _problem(path: str, mark: Any, message: str) -> Problem:
    if mark is None:
        return Problem(Location(path, 1, 1), message)
    return Problem(Location(path, mark.line + 1, mark.column + 1), message)


def read_text(path: Path, display: str, error: type[DefinitionError] = DefinitionError, limit: int = MAX_BYTES, too_big: str = "") -> str:
    """Read a file as UTF-8 text within the size bound, or raise a located error.

    A file over the bound is refused by its size before any of it is read (and
    reading stops at the bound, should it grow meanwhile). `too_big` replaces
    the end of the refusal, after "the file is N bytes; ".
    """
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            raw = b"" if size > limit else handle.read(limit + 1)
    except OSError as exc:
        raise error([Problem(Location(display), f"cannot read the file: {exc.strerror}")]) from exc
    if size > limit or len(raw) > limit:
        size = max(size, len(raw))
        raise error([Problem(Location(display, 1, 1), f"the file is {size:,} bytes; {too_big or f'the limit is {limit:,}: split it into smaller files'}")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        raise error([Problem(Location(display, line, col), f"the byte 0x{byte} is not UTF-8 text; save the file as UTF-8")]) from exc


def read_data_text(path: Path, display: str) -> str:
    """Read a data file within its bound: MAX_DATA_BYTES as JSON (a name ending in .json), MAX_YAML_DATA_BYTES as YAML."""
    if display.endswith(".json"):
        return read_text(path, display, DataError, MAX_DATA_BYTES)
    advice = (
        f"the limit is {MAX_DATA_BYTES:,} for a data file written as JSON and {MAX_YAML_DATA_BYTES:,} as YAML: "
        "write large data as JSON (a name ending in .json; `clientflow export --format json` writes one), "
        "which loads many times faster in a fraction of the memory"
    )
    return read_text(path, display, DataError, MAX_YAML_DATA_BYTES, advice)


def load_yaml(text: str, display: str, error: type[DefinitionError] = DefinitionError) -> tuple[Any, Positions]:
    """Parse one YAML document into plain values and their positions, or raise `error` with every problem."""
    builder = _Builder(display, text)
    try:
        loader = _Loader(text)  # what yaml.parse does, without a generator between each event and the builder
        try:
            feed, get_event = builder.feed, loader.get_event
            event = get_event()
            while event is not None:  # None once the stream has ended, from libyaml's parser and PyYAML's alike
                feed(event)
                event = get_event()
        finally:
            loader.dispose()
    except _TooDeep:
        pass  # stop reading at once: libyaml slows down with every level it goes deeper
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        deep = _too_deep_before(text, mark.index if mark is not None else len(text))
        if deep is not None:  # the parser looks ahead and may stop at its own depth bound before we see the events
            builder.problems.append(Problem(Location(display, *deep), f"nested more than {MAX_DEPTH} levels deep; flatten it"))
        elif not builder.unquoted_braces:  # a {{ text not in quotes usually breaks the syntax further on: one mistake
            builder.problems.append(_syntax_problem(display, exc, text))
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        builder.problems.append(Problem(Location(display, line, col), f"the control character U+{code:04X} cannot be in a YAML file; remove it"))
    except yaml.YAMLError as exc:
        builder.problems.append(Problem(Location(display, 1, 1), f"YAML syntax: {exc}"))
    try:
        builder.finish()
    except _TooDeep:
        pass  # the problems so far are enough to act on
    if builder.problems:
        raise error(builder.problems)
    return builder.root, builder.positions


def json_syntax(exc: json.JSONDecodeError) -> str:
    """A JSON syntax error in our words where the json module's end mid-sentence ("Invalid control character at")."""
    if exc.msg.startswith("Invalid control character"):
        return "JSON syntax: a control character (such as a line break) inside a text: the text is not closed on its line, or it should be written as \\n"
    return f"JSON syntax: {exc.msg.removesuffix(' at')}"


def load_data_text(text: str, display: str) -> tuple[Any, Positions]:
    """Parse a data file: JSON when its name ends in .json, YAML otherwise.

    JSON is read by the json module (fast), and its positions are worked out
    only when a problem has to be located.
    """
    if not display.endswith(".json"):
        return load_yaml(text, display, DataError)
    try:
        value = json.loads(text, object_pairs_hook=_unique_pairs, parse_int=_whole_number)
    except json.JSONDecodeError as exc:
        raise DataError([Problem(Location(display, exc.lineno, exc.colno), json_syntax(exc))]) from exc
    except _LongNumber as exc:
        found = re.search(rf"\d{{{MAX_NUMBER_DIGITS + 1},}}", text)
        at = found.start() if found else 0
        line, col = text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1
        raise DataError([Problem(Location(display, line, col), str(exc))]) from exc
    except (_DuplicateKey, RecursionError) as exc:
        try:  # YAML says where (JSON is YAML 1.2 flow style); if it cannot, say what
            load_yaml(text, display, DataError)
        except DataError as located:
            kept = [p for p in located.problems if "duplicate key" in p.message or "nested more than" in p.message]
            if kept:
                raise DataError(kept) from exc
        if isinstance(exc, _DuplicateKey):
            raise DataError([Problem(Location(display, 1, 1), f"duplicate key {exc.args[0]!r}; keep one")]) from exc
        raise DataError([Problem(Location(display, 1, 1), f"nested more than {MAX_DEPTH} levels deep; flatten it")]) from exc
    return value, _JsonPositions(display, text, value)


class _JsonPositions(Positions):
    """Positions in a JSON file, worked out on first use (large files load fast)."""

    def __init__(self, path: str, text: str, value: Any) -> None:
        super().__init__(path)
        self._pending: tuple[str, Any] | None = (text, value)

    def at(self, key_path: PathKey, *, key: bool = False) -> Location:
        if self._pending is not None:
            text, value = self._pending
            self._pending = None
            try:
                located, positions = load_yaml(text, self.path, DataError)
            except DataError:
                located, positions = None, None
            if positions is not None and located == value:  # otherwise JSON that YAML reads otherwise: no lines
                self.values, self.keys = positions.values, positions.keys
        return super().at(key_path, key=key)


class _DuplicateKey(ValueError):
    pass


class _LongNumber(ValueError):
    """A whole number with more than MAX_NUMBER_DIGITS digits (reading it would fail, or take long)."""

    def __init__(self, digits: int) -> None:
        super().__init__(f"a number of {digits:,} digits is over the limit of {MAX_NUMBER_DIGITS:,}; write it in quotes to keep it as text")


def _whole_number(text: str) -> int:
    if len(text.lstrip("+-")) > MAX_NUMBER_DIGITS:
        raise _LongNumber(len(text.lstrip("+-")))
    return int(text)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _too_deep_before(text: str, end: int) -> tuple[int, int] | None:
    """Where flow brackets ([ and {) first nest more than MAX_DEPTH deep before `end`, if they do.

    Quoted text and comments are skipped, and a document that starts in
    block style counts as one level (as the event loop counts it); this only
    names the place when the parser itself gave up, so it need not know the
    rest of YAML.
    """
    lines = (raw.lstrip() for raw in io.StringIO(text))  # lazily: only the first significant line is needed
    first = next((raw[:1] for raw in lines if raw and not raw.startswith(("#", "%", "---"))), "")
    depth, quote, line, start = (0 if first in ("[", "{") else 1), "", 1, 0
    index, end = 0, min(end + 1, len(text))
    while index < end:
        char = text[index]
        if char == "\n":
            line, start = line + 1, index + 1
        elif quote:
            if char == quote and not (quote == '"' and text[index - 1] == "\\"):
                quote = ""
        elif char in "'\"" and (index == 0 or text[index - 1] in " \t\n[{,:"):
            quote = char
        elif char == "#" and (index == 0 or text[index - 1] in " \t\n"):
            index = text.find("\n", index)
            if index < 0:
                break
            continue
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line, index - start + 1
        elif char in "]}":
            depth = max(depth - 1, 0)
        index += 1
    return None


def _syntax_problem(display: str, exc: yaml.MarkedYAMLError, text: str) -> Problem:
    """libyaml's refusal as a located message: the cause where it was written when it is a known slip."""
    mark = exc.problem_mark or exc.context_mark
    if exc.problem_mark is not None and 0 <= exc.problem_mark.index < len(text) and text[exc.problem_mark.index] == "\t":
        return _problem(display, mark, "YAML syntax: a tab character; indent with spaces, not tabs")
    cause = explain(exc, text, _Loader)
    if cause is not None:
        return Problem(Location(display, cause.line, cause.col), f"YAML syntax: {cause.message}")
    reason = exc.problem or exc.context or "not valid YAML"
    hint = next((hint for needle, hint in _SYNTAX_HINTS if needle in reason), reason)
    return _problem(display, mark, f"YAML syntax: {hint}")


class _TooDeep(Exception):
    """Raised inside the event loop to stop reading: nested too deeply, or too many problems."""


class _Frame:
    """One open mapping or list while the event stream is read."""

    __slots__ = ("value", "path", "mark", "key", "discard", "braces", "flow", "key_event", "plain", "split")

    def __init__(self, value: dict[str, Any] | list[Any] | None, path: PathKey, event: yaml.Event) -> None:
        self.value = value  # None: a part being thrown away (too deep, a complex key, a duplicate)
        self.path = path
        self.mark = event.start_mark
        # a { } mapping with no key yet: if a { } mapping comes next, the text began with {{
        self.braces = isinstance(event, yaml.MappingStartEvent) and bool(event.flow_style)
        self.key: str | None = None  # a mapping's key waiting for its value
        self.discard = False  # the pending key's value is thrown away
        # in a { } mapping, a text without quotes ends at a ',': what follows reads as keys with no value
        self.flow = isinstance(event, yaml.MappingStartEvent) and bool(event.flow_style)
        self.key_event: yaml.ScalarEvent | None = None
        self.plain: tuple[str, int] | None = None  # the last entry's key and where its plain value starts
        self.split: _Split | None = None


class _Split:
    """A text in { } cut at its commas: the entry it began in, and how far the keys with no value go."""

    __slots__ = ("comma", "key", "start", "end", "stray")

    def __init__(self, comma: int, key: str, start: int, end: int, stray: str) -> None:
        self.comma, self.key, self.start, self.end, self.stray = comma, key, start, end, stray


class _Builder:
    """Turns libyaml events into plain values and positions, iteratively."""

    def __init__(self, display: str, text: str = "") -> None:
        self.display = display
        self.text = text
        self.positions = Positions(display)
        self.problems: list[Problem] = []
        self.root: Any = None
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, bool]] = {}  # name -> (mark, used)
        self.documents = 0
        self.unquoted_braces = False

    def _error(self, mark: Any, message: str, path: PathKey = ()) -> None:
        where = keypath(path)
        self.problems.append(_problem(self.display, mark, f"{where}: {message}" if where else message))
        if len(self.problems) == MAX_PROBLEMS:  # an alias bomb would otherwise list millions
            self.problems.append(_problem(self.display, mark, f"more than {MAX_PROBLEMS} problems: reading stopped here; fix these and validate again"))
            raise _TooDeep

    def feed(self, event: yaml.Event) -> None:
        """Take the next event: the commonest in one pass (a block mapping's plain key or untagged value, a list's item, a
        mapping or list opened there, and closed), everything else by `_general`, which places them too
        (tests/test_yamlfile.py compares the two)."""
        if type(event) is yaml.ScalarEvent and event.tag is None and not event.anchor and self.documents <= 1 and self.stack:
            frame = self.stack[-1]
            container = frame.value
            if container.__class__ is dict and not frame.flow and not frame.discard:
                key = frame.key
                text = event.value
                if key is None:  # a key: its own text, as _key takes it (a number's too long digits still reported)
                    if text in container or text == "<<" or len(text) > MAX_NUMBER_DIGITS:
                        self._general(event)  # a duplicate, a merge key, a key that may be a number too long to read
                        return
                    frame.braces = False
                    frame.key = text
                    frame.key_event = event
                    mark = event.start_mark
                    self.positions.keys[(*frame.path, text)] = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
                    return
                style = event.style
                value = text if style or (text and text[0] not in _MAY_RESOLVE) else self._scalar(event)
                path = (*frame.path, key)
                mark = event.start_mark
                self.positions.values[path] = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
                if style == "|":
                    self.positions.blocks.add(path)
                container[key] = value
                frame.key = None
                return
            if container.__class__ is list:
                text = event.value
                style = event.style
                value = text if style or (text and text[0] not in _MAY_RESOLVE) else self._scalar(event)
                path = (*frame.path, len(container))
                mark = event.start_mark
                self.positions.values[path] = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
                if style == "|":
                    self.positions.blocks.add(path)
                container.append(value)
                return
        elif (type(event) is yaml.MappingStartEvent or type(event) is yaml.SequenceStartEvent) and not event.anchor and self.documents <= 1:
            stack = self.stack
            if stack and len(stack) < MAX_DEPTH:  # a block mapping's value, or a list's item, that is a mapping or list
                parent = stack[-1]
                container = parent.value
                key = parent.key
                if isinstance(container, dict) and key is not None and not parent.flow and not parent.discard:
                    path = (*parent.path, key)
                elif isinstance(container, list):
                    path = (*parent.path, len(container))
                else:
                    self._general(event)
                    return
                made: dict[str, Any] | list[Any] = {} if type(event) is yaml.MappingStartEvent else []
                parent.braces = False
                mark = event.start_mark
                self.positions.values[path] = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
                if isinstance(container, list):
                    container.append(made)
                elif key is not None:
                    container[key] = made
                    parent.key = None
                stack.append(_Frame(made, path, event))
                return
        elif (type(event) is yaml.MappingEndEvent or type(event) is yaml.SequenceEndEvent) and self.documents <= 1:
            frame = self.stack.pop()
            if frame.split is not None:
                self._report_split(frame)
            return
        self._general(event)

    def _general(self, event: yaml.Event) -> None:
        if self.documents <= 1:  # the commonest events, straight to their place (what the general case below does)
            kind = type(event)
            if type(event) is yaml.ScalarEvent:
                if event.anchor:
                    self._anchor(event)
                self._place(event, self._scalar(event))
                return
            if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                frame = self.stack.pop()
                if frame.split is not None:
                    self._report_split(frame)
                return
            if type(event) is yaml.MappingStartEvent or type(event) is yaml.SequenceStartEvent:
                if event.anchor:
                    self._anchor(event)
                self._open(event)
                return
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self._error(event.start_mark, "a second document ('---'); keep one document per file")
            return
        if isinstance(event, (yaml.StreamStartEvent, yaml.StreamEndEvent, yaml.DocumentEndEvent)):
            return
        if self.documents > 1:
            return
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            self._report_split(self.stack.pop())
            return
        if isinstance(event, yaml.AliasEvent):
            self._alias(event)
            return
        assert isinstance(event, yaml.NodeEvent)
        self._anchor(event)
        if isinstance(event, yaml.ScalarEvent):
            self._place(event, self._scalar(event))
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            self._open(event)

    def finish(self) -> None:
        for name, (mark, used) in self.anchors.items():
            if not used:
                self._error(mark, f"anchor &{name} is not allowed; remove it (anchors and aliases are refused so that every value reads on its own)")

    # the parts ------------------------------------------------------------
    def _anchor(self, event: yaml.NodeEvent) -> None:
        if event.anchor and event.anchor not in self.anchors:
            self.anchors[event.anchor] = (event.start_mark, False)

    def _alias(self, event: yaml.AliasEvent) -> None:
        name = event.anchor or ""
        anchored = self.anchors.get(name)
        if anchored is not None:
            self.anchors[name] = (anchored[0], True)
        frame = self.stack[-1] if self.stack else None
        if frame is not None and frame.value is not None and frame.discard:
            self._place(event, None)  # the value of a refused merge key: reported there already
            return
        if anchored is None:
            self._error(event.start_mark, f"alias *{name} is not allowed, and nothing is anchored &{name}; write the value out in full")
        else:
            line = anchored[0].line + 1
            self._error(
                event.start_mark, f"alias *{name} repeats the value anchored &{name} at line {line}; write that value out here in full and remove &{name}"
            )
        self._place(event, None)

    def _scalar(self, event: yaml.ScalarEvent) -> Any:
        tag = event.tag
        if tag is None:
            if event.style:
                return event.value
            text = event.value
            if text and text[0] not in _MAY_RESOLVE:  # a plain word: no null, boolean or number starts this way
                return text
            try:
                return resolve_plain(text)
            except _LongNumber as exc:
                self._error(event.start_mark, str(exc))
                return text
        if tag != "!" and not tag.startswith(_CORE_TAG):
            self._error(event.start_mark, f"the tag {tag} is not allowed; remove it")
            return event.value
        if tag == _CORE_TAG + "str" or event.style or tag == "!":
            return event.value
        try:
            return resolve_plain(event.value)
        except _LongNumber as exc:
            self._error(event.start_mark, str(exc))
            return event.value

    def _place(self, event: yaml.Event, value: Any) -> None:
        """Put a finished value (scalar or alias) where the stream has got to."""
        if not self.stack:
            self.root = value
            self.positions.values[()] = _mark(event)
            return
        frame = self.stack[-1]
        if frame.value is None:
            return
        if frame.value.__class__ is list:
            path = (*frame.path, len(frame.value))
            mark = event.start_mark
            self.positions.values[path] = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
            if event.__class__ is yaml.ScalarEvent and event.style == "|":
                self.positions.blocks.add(path)
            frame.value.append(value)
            return
        if frame.key is None and not frame.discard:
            self._key(frame, event, value)
            return
        self._value(frame, event, value)

    def _key(self, frame: _Frame, event: yaml.Event, value: Any) -> None:
        frame.braces = False
        if not isinstance(event, yaml.ScalarEvent):
            self._error(event.start_mark, "a key must be a plain value, not an alias", frame.path)
            frame.discard = True
            return
        key = event.value
        if key == "<<" and not event.style and event.tag is None:
            self._error(event.start_mark, "merge keys (<<) are not allowed; write each key out in full", frame.path)
            frame.discard = True
            return
        assert isinstance(frame.value, dict)
        if key in frame.value:
            first = self.positions.keys.get((*frame.path, key), (0, 0))
            self._error(event.start_mark, f"duplicate key {key!r} (first at line {first[0]}); keep one", frame.path)
            frame.discard = True
            return
        frame.key = key
        frame.key_event = event
        self.positions.keys[(*frame.path, key)] = _mark(event)

    def _value(self, frame: _Frame, event: yaml.Event, value: Any) -> None:
        if frame.discard:
            frame.discard = False
            return
        assert isinstance(frame.value, dict) and frame.key is not None
        if frame.flow:
            self._comma_in_text(frame, event, value)
        self._locate((*frame.path, frame.key), event)
        frame.value[frame.key] = value
        frame.key = None

    def _comma_in_text(self, frame: _Frame, event: yaml.Event, value: Any) -> None:
        """`{label: Yes, within three months}`: a plain key with no value right after a plain text is the rest of that text."""
        if isinstance(event, yaml.ScalarEvent) and not event.style:
            key = frame.key_event
            if value is None and frame.plain is not None and key is not None and not key.style and _index(event.start_mark) == _index(event.end_mark):
                comma = self.text.rfind(",", 0, _index(key.start_mark))
                if frame.split is None and comma >= frame.plain[1]:
                    frame.split = _Split(comma, frame.plain[0], frame.plain[1], _index(key.end_mark), key.value)
                elif frame.split is not None:
                    frame.split.end = _index(key.end_mark)
                return
            if frame.split is not None:
                self._report_split(frame)
            # a text (not a number) that a comma may have cut short
            frame.plain = (frame.key, _index(event.start_mark)) if value.__class__ is str and value and frame.key is not None else None
            return
        if frame.split is not None:
            self._report_split(frame)
        frame.plain = None

    def _report_split(self, frame: _Frame) -> None:
        split, frame.split = frame.split, None
        if split is None:
            return
        text = self.text[split.start : split.end]
        line = self.text.count("\n", 0, split.comma)
        mark = yaml.Mark(self.display, split.comma, line, split.comma - (self.text.rfind("\n", 0, split.comma) + 1), None, 0)
        self._error(
            mark,
            f"the ',' ends the text of {split.key}:, and {split.stray!r} was read as another key (inside {{ }} a comma separates entries); "
            f"put the text in quotes: {split.key}: {quoted(text)}",
            frame.path,
        )

    def _locate(self, path: PathKey, event: yaml.Event) -> None:
        self.positions.values[path] = _mark(event)
        if isinstance(event, yaml.ScalarEvent) and event.style == "|":
            self.positions.blocks.add(path)

    def _open(self, event: yaml.CollectionStartEvent) -> None:
        container: dict[str, Any] | list[Any] = {} if isinstance(event, yaml.MappingStartEvent) else []
        if not self.stack:
            self.root = container
            self.positions.values[()] = _mark(event)
            self.stack.append(_Frame(container, (), event))
            return
        frame = self.stack[-1]
        if frame.value is None:
            self.stack.append(_Frame(None, frame.path, event))
            return
        if isinstance(frame.value, dict) and frame.key is None and not frame.discard:
            if frame.braces and isinstance(event, yaml.MappingStartEvent) and event.flow_style:
                self._error(frame.mark, 'a text that starts with {{ must be in quotes, or YAML reads a mapping; write "{{ ... }} ..."', frame.path)
                self.unquoted_braces = True
            else:
                self._error(event.start_mark, "a key must be a plain value, not a list or mapping", frame.path)
            frame.discard = True
            self.stack.append(_Frame(None, frame.path, event))
            return
        if isinstance(frame.value, dict) and frame.discard:
            frame.discard = False
            self.stack.append(_Frame(None, frame.path, event))
            return
        frame.braces = False
        path = (*frame.path, len(frame.value)) if isinstance(frame.value, list) else (*frame.path, frame.key)
        if len(self.stack) >= MAX_DEPTH:
            self._error(event.start_mark, f"nested more than {MAX_DEPTH} levels deep; flatten it")
            raise _TooDeep
        self._place(event, container)
        self.stack.append(_Frame(container, path, event))


def _index(mark: Any) -> int:
    return int(mark.index) if mark is not None else 0


def _mark(event: yaml.Event) -> tuple[int, int]:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def resolve_plain(text: str) -> Any:
    """A plain (unquoted) scalar by the YAML 1.2 core schema: `no`, `on`, `yes` stay text."""
    if _NULL.match(text):
        return None
    if _BOOL.match(text):
        return text.lower() == "true"
    if _INT.match(text):
        if len(text.lstrip("+-")) > MAX_NUMBER_DIGITS:
            raise _LongNumber(len(text.lstrip("+-")))
        return int(text, 0) if text.lstrip("+-")[:2] in ("0o", "0x") else int(text)
    if _FLOAT.match(text):
        lowered = text.lower()
        return float(lowered.replace(".", "", 1)) if ("inf" in lowered or "nan" in lowered) else float(text)
    return text
