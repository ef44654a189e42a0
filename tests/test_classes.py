"""`clientflow.classes.dataclass` makes the standard library's dataclasses, their methods compiled when first used
(a start-up cost): once looked up, every method is the one `dataclasses.dataclass` makes, its code equal (bytes,
constants, names, lines, flags), its name, qualified name, defaults, annotations and closure the same; the classes
behave the same (construction, defaults, repr, equality, hashing, order, frozen fields, `replace`, `fields`,
signatures, docstrings, subclasses), over the options the engine uses and more; a method not used is not compiled;
and a dataclass made meanwhile in another thread is made as usual."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import threading
from types import FunctionType, MemberDescriptorType
from typing import Any, ClassVar

import pytest

import clientflow
from clientflow import classes

OPTIONS = [
    {},
    {"frozen": True},
    {"eq": False},
    {"frozen": True, "eq": False},
    {"frozen": True, "order": True},
    {"order": True},
    {"slots": True},
    {"frozen": True, "slots": True},
    {"unsafe_hash": True},
    {"kw_only": True},
    {"repr": False, "init": False},
]
IDS = [",".join(f"{k}={v}" for k, v in o.items()) or "default" for o in OPTIONS]
METHODS = ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__", "__lt__", "__le__", "__gt__", "__ge__")


def shapes() -> dict[str, Any]:
    """Class bodies, made anew on each call (a dataclass decorator changes the class it is given)."""

    class Plain:
        """Fields with and without defaults."""

        a: int
        b: str = "b"

    class Factories:
        """Default factories, a field out of __init__, out of repr, out of comparison, a class variable."""

        a: int
        items: list[int] = dataclasses.field(default_factory=list)
        seen: dict[str, int] = dataclasses.field(default_factory=dict, repr=False, compare=False)
        hidden: int = dataclasses.field(default=3, init=False)
        kind: ClassVar[str] = "k"

    class Post:
        """A __post_init__ and an InitVar."""

        a: int
        extra: dataclasses.InitVar[int] = 0
        total: int = dataclasses.field(init=False, default=0)

        def __post_init__(self, extra: int) -> None:
            object.__setattr__(self, "total", self.a + extra)

    class Own:
        """Methods of its own, which dataclasses keeps."""

        a: int

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Own)

        def __hash__(self) -> int:
            return 7

        def __repr__(self) -> str:
            return "own"

    class Empty:
        """No field at all."""

    class Undocumented:
        a: int
        b: list[int] = dataclasses.field(default_factory=list)

    return {"Plain": Plain, "Factories": Factories, "Post": Post, "Own": Own, "Empty": Empty, "Undocumented": Undocumented}


def closure(fn: FunctionType, cls: type) -> list[Any]:
    """A function's closure values, its own class named alike on both sides (the frozen methods close over their class,
    with slots the class as it was before dataclasses made it anew)."""
    values = [cell.cell_contents for cell in fn.__closure__ or ()]
    return ["<class>" if isinstance(value, type) and value.__qualname__ == cls.__qualname__ else value for value in values]


def same_function(mine: Any, theirs: Any, cls: type) -> None:
    if hasattr(theirs, "__wrapped__"):  # __repr__, wrapped against recursion
        assert type(mine) is type(theirs) and hasattr(mine, "__wrapped__")
        mine, theirs = mine.__wrapped__, theirs.__wrapped__
    assert isinstance(mine, FunctionType) and isinstance(theirs, FunctionType)
    assert mine.__code__ == theirs.__code__  # bytes, constants, names, variables, flags, first line and line table
    assert mine.__code__.co_qualname == theirs.__code__.co_qualname
    for attribute in ("__name__", "__qualname__", "__module__", "__defaults__", "__kwdefaults__", "__annotations__", "__doc__"):
        assert getattr(mine, attribute) == getattr(theirs, attribute), attribute
    assert mine.__globals__ is theirs.__globals__
    assert closure(mine, cls) == closure(theirs, cls)


def made(options: dict[str, Any], shape: str) -> tuple[type, type]:
    return classes.dataclass(**options)(shapes()[shape]), dataclasses.dataclass(**options)(shapes()[shape])


@pytest.mark.parametrize("options", OPTIONS, ids=IDS)
@pytest.mark.parametrize("shape", list(shapes()))
def test_the_methods_are_the_standard_librarys_once_used(shape: str, options: dict[str, Any]) -> None:
    if shape == "Own" and (options.get("order") or options.get("unsafe_hash") or options.get("slots")):
        pytest.skip("dataclasses refuses or replaces these itself, the same either way")
    mine, theirs = made(options, shape)
    assert sorted(vars(mine)) == sorted(vars(theirs))
    for name in METHODS:  # looked up once: compiled and put on the class
        if name in vars(theirs):
            getattr(mine, name)
    for name, value in vars(theirs).items():
        if isinstance(value, FunctionType) or hasattr(value, "__wrapped__"):
            same_function(vars(mine)[name], value, mine)
        elif isinstance(value, MemberDescriptorType):  # a slot
            assert isinstance(vars(mine)[name], MemberDescriptorType), name
        elif name not in ("__dict__", "__weakref__", "__dataclass_fields__", "__dataclass_params__", "__module__", "__qualname__"):
            if not isinstance(value, (property, type)):
                assert value == vars(mine)[name] or (value is None and vars(mine)[name] is None), name
    assert [(f.name, f.default, f.init, f.repr, f.compare, f.hash) for f in dataclasses.fields(mine)] == [
        (f.name, f.default, f.init, f.repr, f.compare, f.hash) for f in dataclasses.fields(theirs)
    ]
    assert repr(mine.__dataclass_params__) == repr(theirs.__dataclass_params__)  # type: ignore[attr-defined]
    assert str(inspect.signature(mine)) == str(inspect.signature(theirs))
    assert mine.__doc__ == theirs.__doc__


def test_a_method_not_used_is_not_compiled() -> None:
    cls = classes.dataclass(frozen=True, order=True)(shapes()["Plain"])
    later = [name for name, value in vars(cls).items() if isinstance(value, classes._Later)]
    assert sorted(later) == sorted(["__init__", "__eq__", "__hash__", "__setattr__", "__delattr__", "__lt__", "__le__", "__gt__", "__ge__"])
    cls(1)
    assert isinstance(vars(cls)["__init__"], FunctionType) and isinstance(vars(cls)["__eq__"], classes._Later)
    assert cls(1) == cls(1)
    assert isinstance(vars(cls)["__eq__"], FunctionType) and isinstance(vars(cls)["__hash__"], classes._Later)


def behaviour(cls: type, options: dict[str, Any]) -> list[Any]:
    """What instances of a Plain class do: their repr, equality, hash, order, frozen fields and replacement."""
    said: list[Any] = []

    def attempt(action: Any) -> Any:
        try:
            result = action()
            return ("ok", result if isinstance(result, (bool, str, type(None))) else repr(result).replace(cls.__qualname__, "<class>"))
        except Exception as exc:  # noqa: BLE001 - the kind and words of the failure are the behaviour compared
            return (type(exc).__name__, str(exc).replace(cls.__qualname__, "<class>"))

    make = (lambda *a, **k: cls(**dict(zip(("a", "b"), a, strict=False)), **k)) if options.get("kw_only") else cls
    if options.get("init") is False:
        return [attempt(lambda: cls(1))]
    one, other = make(1), make(2, "c")
    said.append(attempt(lambda: repr(one).replace(cls.__qualname__, "<class>")))
    said.append(attempt(lambda: one == make(1)))
    said.append(attempt(lambda: one == other))
    said.append(attempt(lambda: hash(one) == hash(make(1))))
    said.append(attempt(lambda: one < other))
    said.append(attempt(lambda: setattr(one, "a", 5)))
    said.append(attempt(lambda: delattr(one, "b")))
    said.append(attempt(lambda: setattr(one, "other", 5)))
    said.append(attempt(lambda: repr(dataclasses.replace(other, a=9)).replace(cls.__qualname__, "<class>")))
    said.append(attempt(lambda: make()))
    said.append(attempt(lambda: make(1, "b", 3)))
    return said


@pytest.mark.parametrize("options", OPTIONS, ids=IDS)
def test_the_classes_behave_as_the_standard_librarys(options: dict[str, Any]) -> None:
    mine, theirs = made(options, "Plain")
    assert behaviour(mine, options) == behaviour(theirs, options)
    post = classes.dataclass(shapes()["Post"])
    assert post(2, 3).total == 5 and repr(post(2)) == repr(dataclasses.dataclass(shapes()["Post"])(2))
    factories = classes.dataclass(frozen=True)(shapes()["Factories"])
    first, second = factories(1), factories(1)
    assert first.items == [] and first.items is not second.items and first.hidden == 3 and first == second


def test_a_subclass_uses_its_parents_methods_first() -> None:
    parent = classes.dataclass(frozen=True)(shapes()["Plain"])

    class Child(parent):  # type: ignore[misc, valid-type]
        """Not a dataclass: its instances are made by the parent's __init__, compared by its __eq__."""

    child = Child(1)  # the parent's __init__, compiled on the parent
    assert isinstance(vars(parent)["__init__"], FunctionType) and "__init__" not in vars(Child)
    assert child == Child(1) and hash(child) == hash(Child(1)) and vars(parent)["__eq__"].__qualname__.endswith("Plain.__eq__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        child.a = 2

    @classes.dataclass(frozen=True)
    class Sub(parent):  # type: ignore[misc, valid-type]
        """A dataclass of its own."""

        c: int = 0

    assert Sub(1, "b", 2) == Sub(1, "b", 2) and Sub(1) != Sub(2) and repr(Sub(1)).endswith("Sub(a=1, b='b', c=0)")


def test_a_dataclass_made_in_another_thread_meanwhile_is_made_as_usual() -> None:
    made: list[Any] = []

    def other() -> None:
        made.append(dataclasses.dataclass(frozen=True)(shapes()["Plain"]))

    with classes._lock:  # as while this thread makes a class: dataclasses' method maker is replaced
        classes._making.on = True
        dataclasses._create_fn = classes._deferred  # type: ignore[attr-defined]
        try:
            thread = threading.Thread(target=other)
            thread.start()
            thread.join(10)
        finally:
            dataclasses._create_fn = classes._ORIGINAL  # type: ignore[attr-defined]
            classes._making.on = False
    (cls,) = made
    assert not any(isinstance(value, classes._Later) for value in vars(cls).values())
    assert cls(1) == cls(1) and hash(cls(1)) == hash(cls(1)) and repr(cls(1)).endswith("Plain(a=1, b='b')")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cls(1).a = 2


def engine_classes() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(clientflow.__path__, "clientflow."):
        if info.name.startswith(("clientflow.web", "clientflow.default_plugins.postgres")) or info.name.endswith("__main__"):
            continue  # optional dependencies; the command itself
        module = importlib.import_module(info.name)
        found += [value for value in vars(module).values() if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == info.name]
    return found


def test_every_method_of_the_engines_dataclasses_compiles_into_its_place() -> None:
    found = engine_classes()
    assert len(found) > 60
    deferred = 0
    for cls in found:
        for name, value in list(vars(cls).items()):
            if isinstance(value, classes._Later):
                deferred += 1
                function = getattr(cls, name)
                assert isinstance(function, FunctionType) and vars(cls)[name] is function, f"{cls.__qualname__}.{name}"
                assert function.__qualname__ == f"{cls.__qualname__}.{name}"
    assert deferred > 0 or all(not isinstance(v, classes._Later) for cls in found for v in vars(cls).values())
