"""Reading YAML safely, keeping where every value was written.

`load_yaml` returns plain Python values (dict, list, str, int, float, bool,
None) and a `Positions` table from key paths to (line, column). It refuses
anchors and aliases, duplicate keys, files over a size or depth bound and
bytes that are not UTF-8, and it never turns `no` or `on` into booleans:
plain scalars follow the YAML 1.2 core schema, everything else is a string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from .errors import DataError, DefinitionError, Location, Problem

try:  # libyaml when present: several times faster
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the build of PyYAML
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64

PathKey = tuple[Hashable, ...]

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^[-+]?(?:[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$")


class Positions:
    """Where each value (and each mapping key) of one file was written."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.values: dict[PathKey, tuple[int, int]] = {}
        self.keys: dict[PathKey, tuple[int, int]] = {}

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


def read_text(path: Path, display: str, error: type[DefinitionError] = DefinitionError) -> str:
    """Read a file as UTF-8 text within the size bound, or raise a located error."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error([Problem(Location(display), f"cannot read the file: {exc.strerror}")]) from exc
    if len(raw) > MAX_BYTES:
        raise error([Problem(Location(display, 1, 1), f"the file is {len(raw):,} bytes; the limit is {MAX_BYTES:,}")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise error([Problem(Location(display, line, col), "the file is not UTF-8 text; save it as UTF-8")]) from exc


def load_yaml(text: str, display: str, error: type[DefinitionError] = DefinitionError) -> tuple[Any, Positions]:
    """Parse one YAML document into plain values and their positions."""
    positions = Positions(display)
    if "&" in text or "*" in text:
        _refuse_aliases(text, display, error)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = exc.problem or exc.context or "not valid YAML"
        raise error([_problem(display, mark, f"YAML syntax: {reason}")]) from exc
    except yaml.YAMLError as exc:
        raise error([Problem(Location(display, 1, 1), f"YAML syntax: {exc}")]) from exc
    if node is None:
        return None, positions
    problems: list[Problem] = []
    value = _convert(node, (), positions, problems, display, 0)
    if problems:
        raise error(problems)
    return value, positions


def load_data_text(text: str, display: str) -> tuple[Any, Positions]:
    """Parse a data file: JSON when its name ends in .json, YAML otherwise."""
    if display.endswith(".json"):
        try:
            return json.loads(text), Positions(display)
        except json.JSONDecodeError as exc:
            raise DataError([Problem(Location(display, exc.lineno, exc.colno), f"JSON syntax: {exc.msg}")]) from exc
    return load_yaml(text, display, DataError)


def _refuse_aliases(text: str, display: str, error: type[DefinitionError]) -> None:
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                raise error([_problem(display, event.start_mark, f"alias *{event.anchor} is not allowed; write the value out in full")])
            anchor = getattr(event, "anchor", None)
            if anchor:
                raise error([_problem(display, event.start_mark, f"anchor &{anchor} is not allowed; write each value out in full")])
    except yaml.MarkedYAMLError:
        return  # compose reports the syntax error with its location


def _convert(node: yaml.Node, key_path: PathKey, positions: Positions, problems: list[Problem], display: str, depth: int) -> Any:
    positions.values[key_path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if depth > MAX_DEPTH:
        problems.append(_problem(display, node.start_mark, f"nested more than {MAX_DEPTH} levels deep"))
        return None
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(_problem(display, key_node.start_mark, "a key must be a plain value, not a list or mapping"))
                continue
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(_problem(display, key_node.start_mark, "merge keys (<<) are not allowed; write each key out"))
                continue
            key = _scalar(key_node)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                key = str(key_node.value)
            if key in result:
                first = positions.keys.get((*key_path, key), (0, 0))
                problems.append(
                    _problem(display, key_node.start_mark, f"duplicate key {key!r} (first at line {first[0]}); keep one")
                )
                continue
            positions.keys[(*key_path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = _convert(value_node, (*key_path, key), positions, problems, display, depth + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(item, (*key_path, index), positions, problems, display, depth + 1)
            for index, item in enumerate(node.value)
        ]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    text = node.value
    if node.tag not in ("tag:yaml.org,2002:str",) and not node.style and node.tag.startswith("tag:yaml.org,2002:"):
        # Plain scalar: resolve by the YAML 1.2 core schema, not YAML 1.1.
        if _NULL.match(text):
            return None
        if _BOOL.match(text):
            return text.lower() == "true"
        if _INT.match(text):
            return int(text, 0) if text.lstrip("+-")[:2] in ("0o", "0x") else int(text)
        if _FLOAT.match(text):
            lowered = text.lower()
            return float(lowered.replace(".", "", 1)) if ("inf" in lowered or "nan" in lowered) else float(text)
    return text
