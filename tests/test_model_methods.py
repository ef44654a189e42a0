"""The classes engine/plain.py makes (the model's and the others') behave as the dataclasses they stand for.

Each class is compared with the `@dataclass` made from its own fields (frozen=True for a frozen one, and order=True
for an ordered one): the same signature, fields and `__match_args__`; on instances made of the same values, the
same repr, equality (also where only a field left out of comparisons differs), hash, order, and the same refusals
to assign or delete any attribute; `dataclasses.replace` and default factories as before.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from clientflow import config, errors, outbox, plugins
from clientflow.commands import validate_cache
from clientflow.conditions import expressions, reader, types
from clientflow.language import catalogs, code, fixes, model, plurals, project
from clientflow.runtime import due
from clientflow.scenarios import demoruns, expectations, suite

MODULES = [model, code, catalogs, fixes, plurals, project, demoruns, expectations, suite, errors, config, plugins, expressions, reader, due, validate_cache]
CLASSES = [
    value
    for module in MODULES
    for value in vars(module).values()
    if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == module.__name__
]
CLASSES += [types.TypeProblem, outbox.Delivery]  # made by plain beside classes of their modules that are still dataclasses


def _frozen(cls: type) -> bool:
    return "__setattr__" in vars(cls)  # made for the frozen ones only (plain.frozen)


def _ordered(cls: type) -> bool:
    return "__lt__" in vars(cls)  # made for the ordered ones only (plain.ordered)


def _twin(cls: type) -> Any:
    """The dataclass `cls` stands for: @dataclass (frozen=True for a frozen one) over the same fields."""
    fields = []
    for f in dataclasses.fields(cls):
        options: dict[str, Any] = {"init": f.init, "repr": f.repr, "compare": f.compare, "hash": f.hash}
        if f.default is not dataclasses.MISSING:
            options["default"] = f.default
        if f.default_factory is not dataclasses.MISSING:
            options["default_factory"] = f.default_factory
        fields.append((f.name, f.type, dataclasses.field(**options)))
    return dataclasses.make_dataclass(cls.__name__, fields, frozen=_frozen(cls), order=_ordered(cls), namespace={"__qualname__": cls.__qualname__})


def _parameters(cls: type) -> str:
    return str(inspect.signature(cls).replace(return_annotation=inspect.Signature.empty))


def _values(cls: type, tag: str) -> dict[str, Any]:
    """A value for each field (hashable, distinct per field and per tag)."""
    return {f.name: (f.name, tag) for f in dataclasses.fields(cls)}


def test_every_class_written_out_is_compared() -> None:
    assert len(CLASSES) == 15 + 17 + 12
    assert all("__init__" in vars(cls) and "__repr__" in vars(cls) and "__eq__" in vars(cls) for cls in CLASSES)
    assert sum(_frozen(cls) for cls in CLASSES) == 15 + 11 + 6
    assert sum(_ordered(cls) for cls in CLASSES) == 2


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_a_model_class_behaves_as_its_frozen_dataclass(cls: type) -> None:
    twin = _twin(cls)
    assert _parameters(cls) == _parameters(twin)
    assert [(f.name, f.default, f.default_factory, f.init, f.repr, f.compare, f.hash) for f in dataclasses.fields(cls)] == [
        (f.name, f.default, f.default_factory, f.init, f.repr, f.compare, f.hash) for f in dataclasses.fields(twin)
    ]
    assert cls.__match_args__ == twin.__match_args__  # type: ignore[attr-defined]

    given = _values(cls, "a")
    mine, theirs = cls(**given), twin(**given)
    assert repr(mine) == repr(theirs)
    if not _frozen(cls):  # compared by value, so unhashable, as a dataclass that is not frozen
        assert cls.__hash__ is None and twin.__hash__ is None
        assert mine == cls(**given) and mine != twin(**given)
        for f in dataclasses.fields(cls):
            changed = {**given, f.name: (f.name, "b")}
            assert (mine == cls(**changed)) == (theirs == twin(**changed))
        return
    assert hash(mine) == hash(theirs)
    assert mine == cls(**given) and not (mine != cls(**given))
    assert mine != theirs and (mine == theirs) is False  # another class: never equal, as between two dataclasses
    if _ordered(cls):  # ordered by the compared fields, with its own class only
        with pytest.raises(TypeError):
            mine < theirs  # noqa: B015
        for f in dataclasses.fields(cls):
            changed = {**given, f.name: (f.name, "b")}
            assert (mine < cls(**changed), mine >= cls(**changed)) == (theirs < twin(**changed), theirs >= twin(**changed))
    for f in dataclasses.fields(cls):
        changed = {**given, f.name: (f.name, "b")}
        assert (mine == cls(**changed)) == (theirs == twin(**changed))
        assert (hash(mine) == hash(cls(**changed))) == (hash(theirs) == hash(twin(**changed)))
    for name in [*given, "other"]:
        for obj in (mine, theirs):
            with pytest.raises(dataclasses.FrozenInstanceError) as assigned:
                setattr(obj, name, 1)
            with pytest.raises(dataclasses.FrozenInstanceError) as deleted:
                delattr(obj, name)
            assert (str(assigned.value), str(deleted.value)) == (f"cannot assign to field {name!r}", f"cannot delete field {name!r}")

    required = {f.name: (f.name, "c") for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    made, twin_made = cls(**required), twin(**required)
    assert repr(made) == repr(twin_made)
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING:  # a new value each time, as the factory makes it
            assert getattr(made, f.name) == getattr(twin_made, f.name) and getattr(made, f.name) is not getattr(cls(**required), f.name)

    replaced = dataclasses.replace(mine, **{next(iter(given)): ("x", "y")})
    assert type(replaced) is cls and repr(replaced) == repr(dataclasses.replace(theirs, **{next(iter(given)): ("x", "y")}))
    if required:  # the same complaint, naming the same missing arguments
        with pytest.raises(TypeError) as missing:
            cls()
        with pytest.raises(TypeError) as twin_missing:
            twin()
        assert str(missing.value).split("() ", 1)[1] == str(twin_missing.value).split("() ", 1)[1]


def test_a_loaded_project_is_equal_to_itself_and_prints_as_before() -> None:
    from pathlib import Path

    from clientflow.conditions.program import load_project

    root = Path(__file__).resolve().parent / "fixtures" / "accounts"
    first, second = load_project(root), load_project(root)
    assert first == second
    flow = next(iter(first.flows.values()))
    assert repr(flow).startswith(f"Flow(id={flow.id!r}, title=")
    assert "location=" not in repr(flow)
