"""The words of a review: an `Edit` and a flow's edits, what "the same" means, and where each thing is written.

Two model nodes are the same when `canon` gives the same value: locations and a flow's
version hash left out, conditions compared token by token (`a=='x'` is `a == "x"`),
texts by their source. `Edits` collects one flow's edits with the place of each in both
versions, read from the files' positions (`path:line:col`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment

from ..errors import DefinitionError, Location
from ..language.code import Expr, Text
from ..language.model import Project, Rule
from ..language.yamlfile import Positions, load_yaml, read_text
from .words import word_diff

SHORT = 60  # a text this long or shorter is quoted whole in a message; a longer one as a word diff
Keys = tuple[Any, ...]


@dataclass
class Edit:
    """One change of meaning: its kind, the model path, a sentence, and where it is in each version."""

    kind: str
    path: str
    message: str
    base: str | None = None  # path:line:col in the base version (None: not there)
    head: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # before / after (source), diff (words), the step or rule named
    # the edits JSON also lists after this one, as it listed them before this kind was known (a renamed field: the
    # field-removed and field-added it stands for, each naming the other), so that a reader of the JSON knowing
    # only those still finds them; text and Markdown show this edit alone
    also: list[Edit] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "message": self.message, "base": self.base, "head": self.head, **self.extra}

    def listed(self) -> list[dict[str, Any]]:
        """This edit as JSON lists it: itself, then what it also stands for."""
        return [self.to_json(), *(edit.to_json() for edit in self.also)]


@dataclass
class FlowDiff:
    """One flow's status between the versions and its edits (a renamed flow is `changed`, `was` its old id)."""

    flow: str
    status: str  # added | removed | changed | unchanged
    changes: list[Edit] = field(default_factory=list)
    was: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"flow": self.flow, "status": self.status, "changes": [item for c in self.changes for item in c.listed()]}
        if self.was is not None:
            out["was"] = self.was
        return out


# equality ---------------------------------------------------------------
@lru_cache(maxsize=1)
def _lexer() -> Any:

    return Environment(autoescape=True).lexer  # only its lexer is used: nothing is rendered


@lru_cache(maxsize=8192)
def _tokens(source: str) -> tuple[Any, ...]:
    """A condition as Jinja2 reads it: tokens without whitespace, strings unquoted."""
    try:
        return tuple((t.type, t.value) for t in _lexer().tokenize("{{ " + source + " }}"))
    except Exception:  # noqa: BLE001 - it compiled when loaded; should it not lex here, its words alone
        return ("words", *source.split())


def canon(node: Any) -> Any:
    """A model node as a hashable value that two versions share exactly when they mean the same."""
    if isinstance(node, Expr):
        return ("expr", _tokens(node.source))
    if isinstance(node, Text):
        return ("text", node.source, node.html)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        parts = tuple((f.name, canon(getattr(node, f.name))) for f in dataclasses.fields(node) if f.compare and f.name != "version")
        return (type(node).__name__, parts)
    if isinstance(node, (tuple, list)):
        return ("list", tuple(canon(item) for item in node))
    if isinstance(node, Mapping):
        return ("map", tuple(sorted(((str(k), canon(v)) for k, v in node.items()), key=lambda kv: kv[0])))
    if isinstance(node, (set, frozenset)):
        return ("set", tuple(sorted(repr(item) for item in node)))
    return (type(node).__name__, node if isinstance(node, (str, int, float, bool, type(None))) else repr(node))


def same(a: Any, b: Any) -> bool:
    """Whether two model nodes mean the same (locations, layout and a flow's version hash left out)."""
    return a is b or canon(a) == canon(b)


def shown(node: Any) -> str:
    """A model value as a person reads it in a message."""
    if node is None:
        return "(none)"
    if isinstance(node, (Expr, Text)):
        return node.source
    if isinstance(node, bool):  # as the YAML says it
        return "true" if node else "false"
    if isinstance(node, (tuple, list)):
        return ", ".join(shown(item) for item in node) or "(none)"
    if isinstance(node, Mapping):
        return ", ".join(f"{k}: {shown(v)}" for k, v in node.items()) or "(none)"
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        parts = [f"{f.name}: {shown(getattr(node, f.name))}" for f in dataclasses.fields(node) if f.compare and getattr(node, f.name) not in (None, (), {})]
        return "{" + ", ".join(parts) + "}"
    return json.dumps(node, ensure_ascii=False) if isinstance(node, str) else str(node)


def difference(what: str, before: Any, after: Any) -> tuple[str, dict[str, Any]]:
    """`what: 'a' → 'b'` for short values, `what: … [-a-]{+b+} …` for long texts; and the extra keys."""
    old, new = shown(before), shown(after)
    extra: dict[str, Any] = {"before": None if before is None else old, "after": None if after is None else new}
    if len(old) <= SHORT and len(new) <= SHORT and "\n" not in old + new:
        return f"{what}: {old} → {new}", extra
    diff = word_diff(old, new) or "(line breaks only)"
    extra["diff"] = diff
    return f"{what}: {diff}", extra


# where things are --------------------------------------------------------
class Side:
    """One version's project and the positions of its files, read once each."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.root = Path(project.root)
        self.read: dict[str, Positions | None] = {}

    def at(self, file: str, keys: Keys) -> str:
        if file not in self.read:
            try:
                self.read[file] = load_yaml(read_text(self.root / file, file), file)[1]
            except (DefinitionError, OSError):
                self.read[file] = None
        found = self.read[file]
        return str(found.at(keys)) if found is not None else file


Where = Keys | Location | str | None


class Edits:
    """Collects the edits of one flow (or of the project file) with their locations in both versions."""

    def __init__(self, base: Side, head: Side, base_file: str, head_file: str) -> None:
        self.base, self.head, self.base_file, self.head_file = base, head, base_file, head_file
        self.found: list[Edit] = []

    def _loc(self, side: Side, file: str, where: Where) -> str | None:
        if where is None or isinstance(where, str):
            return where
        if isinstance(where, Location):
            return str(where)
        return side.at(file, where)

    def add(self, kind: str, path: str, message: str, base: Where = None, head: Where = None, **extra: Any) -> Edit:
        located = self.make(kind, path, message, base, head, **extra)
        self.found.append(located)
        return located

    def make(self, kind: str, path: str, message: str, base: Where = None, head: Where = None, **extra: Any) -> Edit:
        """An edit located in each version, not added (`Edit.also`)."""
        return Edit(kind, path, message, self._loc(self.base, self.base_file, base), self._loc(self.head, self.head_file, head), extra)

    def rules(self, section: str, before: Sequence[Rule], after: Sequence[Rule]) -> None:
        """Rules added to or dropped from a list, its order, and each kept rule's condition and message."""
        old, new = [r.name for r in before], [r.name for r in after]
        for index, rule in enumerate(after):
            if rule.name not in old:
                self.add(
                    "rule-added",
                    f"{section}.{rule.name}",
                    f"rule {rule.name!r} added to {section}: {rule.condition.source}",
                    head=(section, index),
                    rule=rule.name,
                    condition=rule.condition.source,
                )
        for index, rule in enumerate(before):
            if rule.name not in new:
                self.add(
                    "rule-dropped",
                    f"{section}.{rule.name}",
                    f"rule {rule.name!r} dropped from {section}",
                    base=(section, index),
                    rule=rule.name,
                    condition=rule.condition.source,
                )
        self.order("rule-moved", section, old, new, (section,))
        for rule in before:
            if rule.name not in new:
                continue
            other = after[new.index(rule.name)]
            if not same(rule.condition, other.condition):
                message, extra = difference(f"rule {rule.name!r}: condition", rule.condition, other.condition)
                self.add("rule-condition", f"{section}.{rule.name}", message, rule.condition.location, other.condition.location, rule=rule.name, **extra)
            if not same(rule.message, other.message):
                message, extra = difference(f"rule {rule.name!r}: message", rule.message, other.message)
                self.add("rule-message", f"{section}.{rule.name}", message, rule.message.location, other.message.location, rule=rule.name, **extra)

    def order(self, kind: str, section: str, before: Sequence[str], after: Sequence[str], keys: Keys) -> None:
        """The order of the items both versions hold, when it changed."""
        kept_before = [n for n in before if n in after]
        kept_after = [n for n in after if n in before]
        if kept_before != kept_after:
            self.add(kind, section, f"{section} reordered: {', '.join(kept_before)} → {', '.join(kept_after)}", keys, keys)
