"""`@frozen`, `@ordered` and `@mutable` (engine/plain.py) make the classes `@dataclass(frozen=True)`,
`@dataclass(frozen=True, order=True)` and `@dataclass()` make.

Hypothesis writes classes: fields with and without defaults and factories, fields left out of
`__init__`, of the repr, of comparisons or of the hash, a class's own `__eq__` or `__hash__`, a
`__post_init__`. Each is made both ways, and the two compared: signature, fields and
`__match_args__`; on instances made of the same arguments (positional, keyword, too many, too
few, unknown), the same values or the same refusal, the same repr, equality, hash (or
unhashability), the same order (ordered), the same refusals to assign or delete, and `dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clientflow.plain import frozen, mutable, ordered

FIELD = st.fixed_dictionaries(
    {
        "default": st.sampled_from(["none", "value", "factory"]),
        "init": st.booleans(),
        "repr": st.booleans(),
        "compare": st.booleans(),
        "hash": st.sampled_from([None, True, False]),
    }
)


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    fields = draw(st.lists(FIELD, max_size=5))
    seen_default = False
    for spec in fields:  # a field without a default may not follow one with a default (as dataclass refuses)
        if spec["init"] and spec["default"] == "none" and seen_default:
            spec["default"] = "value"
        seen_default = seen_default or (spec["init"] and spec["default"] != "none")
    frozen_one = draw(st.booleans())
    return {
        "fields": fields,
        "frozen": frozen_one,
        "order": frozen_one and draw(st.booleans()),
        "own": draw(st.sampled_from([None, "eq", "hash", "post_init"])),
    }


def _namespace(spec: dict[str, Any]) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__annotations__": {}}
    for k, f in enumerate(spec["fields"]):
        name = f"f{k}"
        namespace["__annotations__"][name] = "Any"
        options = {key: f[key] for key in ("init", "repr", "compare", "hash")}
        if f["default"] == "value":
            options["default"] = k * 10
        elif f["default"] == "factory":
            options["default_factory"] = list
        namespace[name] = dataclasses.field(**options)
    if spec["own"] == "eq":
        namespace["__eq__"] = lambda self, other: other is self
    elif spec["own"] == "hash":
        namespace["__hash__"] = lambda self: 7
    elif spec["own"] == "post_init":

        def __post_init__(self: Any) -> None:
            object.__setattr__(self, "seen", True)

        namespace["__post_init__"] = __post_init__
    return namespace


def _both(spec: dict[str, Any]) -> tuple[Any, Any]:
    ours = (ordered if spec["order"] else frozen if spec["frozen"] else mutable)(type("Thing", (), _namespace(spec)))
    theirs = dataclasses.dataclass(frozen=spec["frozen"], order=spec["order"])(type("Thing", (), _namespace(spec)))
    return ours, theirs


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "value", fn()
    except Exception as exc:  # noqa: BLE001 - compared whole
        return type(exc).__name__, str(exc)


def _state(thing: Any) -> dict[str, Any]:
    return dict(vars(thing)) if hasattr(thing, "__dict__") else {}


@settings(max_examples=300, deadline=None, derandomize=True)
@given(spec=specs(), extra=st.sampled_from(["exact", "keywords", "fewer", "more", "unknown", "twice"]))
def test_a_plain_class_behaves_as_the_dataclass_it_stands_for(spec: dict[str, Any], extra: str) -> None:
    ours, theirs = _both(spec)
    assert [(f.name, f.init, f.repr, f.compare, f.hash) for f in dataclasses.fields(ours)] == [
        (f.name, f.init, f.repr, f.compare, f.hash) for f in dataclasses.fields(theirs)
    ]
    assert ours.__match_args__ == theirs.__match_args__
    assert str(inspect.signature(ours)) == str(inspect.signature(theirs))
    given_names = [f.name for f in dataclasses.fields(theirs) if f.init]
    args: list[Any] = [("value", n) for n in range(len(given_names))]
    kwargs: dict[str, Any] = {}
    if extra == "keywords":
        kwargs, args = dict(zip(given_names, args, strict=True)), []
    elif extra == "fewer" and args:
        args = args[:-1]
    elif extra == "more":
        args.append("one too many")
    elif extra == "unknown":
        kwargs["nobody"] = 1
    elif extra == "twice" and given_names:
        kwargs[given_names[0]] = "again"
    made = _outcome(lambda: ours(*args, **kwargs))
    twin = _outcome(lambda: theirs(*args, **kwargs))
    assert made[0] == twin[0], (made, twin)
    if made[0] != "value":
        return
    a, b = made[1], twin[1]
    assert _state(a) == _state(b)
    assert _outcome(lambda: repr(a)) == _outcome(lambda: repr(b))  # (a field never set: the same AttributeError)
    again, twin_again = ours(*args, **kwargs), theirs(*args, **kwargs)
    assert _outcome(lambda: (a == again, a != again, a == "other")) == _outcome(lambda: (b == twin_again, b != twin_again, b == "other"))
    assert _outcome(lambda: hash(a))[0] == _outcome(lambda: hash(b))[0]
    if _outcome(lambda: hash(b))[0] == "value" and spec["own"] != "hash":
        assert (hash(a) == hash(again)) == (hash(b) == hash(twin_again))
    for name in [*(f.name for f in dataclasses.fields(theirs)), "other"]:
        assert _outcome(lambda name=name: setattr(a, name, 1)) == _outcome(lambda name=name: setattr(b, name, 1))
        assert _outcome(lambda name=name: delattr(a, name)) == _outcome(lambda name=name: delattr(b, name))
    if not spec["frozen"]:
        assert _state(a) == _state(b)
    changes = {given_names[-1]: "changed"} if given_names else {}
    assert _outcome(lambda: _state(dataclasses.replace(a, **changes))) == _outcome(lambda: _state(dataclasses.replace(b, **changes)))
    pairs = [(a, again, b, twin_again), (a, "other", b, "other")]
    variant = _outcome(lambda: (dataclasses.replace(a, **changes), dataclasses.replace(b, **changes)))
    if variant[0] == "value":
        pairs.append((a, variant[1][0], b, variant[1][1]))
    for x, y, x_twin, y_twin in pairs:
        assert _outcome(lambda x=x, y=y: (x < y, x <= y, x > y, x >= y, y < x, y >= x)) == _outcome(
            lambda x=x_twin, y=y_twin: (x < y, x <= y, x > y, x >= y, y < x, y >= x)
        )


def test_a_frozen_subclass_keeps_its_own_attributes_and_refuses_the_fields() -> None:
    @frozen
    class Base:
        x: int
        y: list[int] = dataclasses.field(default_factory=list)

    class Child(Base):
        pass

    child = Child(1)
    child.note = "allowed"  # type: ignore[attr-defined]  # not a field, and not the class itself: as a dataclass allows
    assert child.note == "allowed" and child.y == []  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'x'"):
        child.x = 2  # type: ignore[misc]
    assert repr(Base(1, [2])) == "test_a_frozen_subclass_keeps_its_own_attributes_and_refuses_the_fields.<locals>.Base(x=1, y=[2])"
    assert Base(1) == Base(1) and Base(1) != Base(2)


@pytest.mark.parametrize(
    "body",
    [
        "class Thing(Base):\n    y: int",
        "class Thing:\n    x: int\n    y: dataclasses.InitVar[int]",
        "class Thing:\n    x: int\n    y: int = dataclasses.field(kw_only=True)",
        "class Thing:\n    x: int\n    _: dataclasses.KW_ONLY\n    y: int",
    ],
    ids=["a data class base", "an InitVar", "a keyword-only field", "KW_ONLY"],
)
def test_what_a_plain_class_does_not_do_as_a_dataclass_is_refused_when_it_is_made(body: str) -> None:
    namespace: dict[str, Any] = {"dataclasses": dataclasses, "Base": dataclasses.dataclass(type("Base", (), {"__annotations__": {"x": "int"}}))}
    exec(body, namespace)  # noqa: S102 - a class statement written here
    with pytest.raises(TypeError, match="plain class"):
        frozen(namespace["Thing"])
