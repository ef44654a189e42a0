"""Patches: a scenario's changes to its own copy of a data file.

A patch sets fields of a record, adds a record (a nested one says which record holds
it) or removes records; records are named `ENTITY ID`, e.g. `user u7`. Mistakes go to
an `error(keys, message)` callback, keys relative to the patch, so the scenario loader
can point at them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any

from ..errors import did_you_mean
from ..language.model import Entity, Project

KeyPath = tuple[Hashable, ...]
Report = Callable[[KeyPath, str], None]


def apply(project: Project, data: dict[str, Any], patch: Mapping[str, Any], error: Report) -> None:
    """Apply one schema-valid patch to `data` in place."""
    _Patcher(project, data, error).apply(patch)


def records(project: Project, data: Mapping[str, Any], entity: Entity) -> Iterator[tuple[list[Any], dict[str, Any]]]:
    """Each record of `entity` in a data file, with the list that holds it."""
    if entity.collection:
        items = data.get(entity.collection) or []
        yield from ((items, item) for item in items if isinstance(item, dict))
        return
    for holder in entity.nested_in:
        for _, outer in records(project, data, project.entities[holder]):
            inner = outer.get(entity.nested_key or "") or []
            yield from ((inner, item) for item in inner if isinstance(item, dict))


class _Patcher:
    """Applies one patch (set, add or remove) to a data file's values."""

    def __init__(self, project: Project, data: dict[str, Any], error: Report) -> None:
        self.project, self.data, self.error = project, data, error

    def apply(self, patch: Mapping[str, Any]) -> None:
        if "set" in patch:
            for name, values in patch["set"].items():
                found = self.find(name, ("set", name))
                if found is not None:
                    found[1].update(copy.deepcopy(values))
        elif "remove" in patch:
            names = patch["remove"] if isinstance(patch["remove"], list) else [patch["remove"]]
            for index, name in enumerate(names):
                found = self.find(name, ("remove", index) if isinstance(patch["remove"], list) else ("remove",))
                if found is not None:
                    found[0].remove(found[1])
        else:
            self.add(patch)

    def entity(self, word: str, at: KeyPath) -> Entity | None:
        if word not in self.project.entities:
            self.error(at, f"unknown entity {word!r}{did_you_mean(word, self.project.entities)}")
            return None
        return self.project.entities[word]

    def find(self, name: str, at: KeyPath) -> tuple[list[Any], dict[str, Any]] | None:
        word, _, id_ = name.partition(" ")
        entity = self.entity(word, at)
        if entity is None:
            return None
        id_ = id_.strip()
        ids = []
        for holder, record in records(self.project, self.data, entity):
            if str(record.get("id")) == id_:
                return holder, record
            ids.append(str(record.get("id")))
        self.error(at, f"there is no {word} {id_!r} in the data{did_you_mean(id_, ids)}")
        return None

    def add(self, patch: Mapping[str, Any]) -> None:
        word, record = next(iter(patch["add"].items()))
        entity = self.entity(word, ("add",))
        if entity is None:
            return
        if entity.collection:
            if "to" in patch:
                self.error(("to",), f"a {word} is not held by another record; remove 'to'")
                return
            self.data.setdefault(entity.collection, []).append(copy.deepcopy(record))
            return
        if "to" not in patch:
            self.error(("add",), f"a {word} lives inside a {' or '.join(entity.nested_in)}; say which with to: 'ENTITY ID'")
            return
        holder = self.find(patch["to"], ("to",))
        if holder is None:
            return
        if patch["to"].partition(" ")[0] not in entity.nested_in:
            self.error(("to",), f"a {word} can only be added to a {' or '.join(entity.nested_in)}")
            return
        holder[1].setdefault(entity.nested_key or "", []).append(copy.deepcopy(record))
