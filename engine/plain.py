"""Plain data classes, as `@dataclass` makes them, without generating their methods.

`@frozen` is `@dataclass(frozen=True)`, `@ordered` is `@dataclass(frozen=True, order=True)` and
`@mutable` is `@dataclass()`: the same fields, defaults and factories, `dataclasses.fields` and
`replace`, the same `__init__` signature, repr, equality, order (ordered: `<`, `<=`, `>`, `>=` compare
the compared fields as a tuple, with another object of the very same class only) and hash (frozen:
hashable, and assigning or deleting a field refused with the same error; mutable: unhashable). Python's `dataclass` writes each class's methods as source
and compiles each with an `exec` of its own when the module is imported, about six a class:
a cost of every start of every command. Here the methods are the same few functions for every
class, reading each class's fields from a table made once when the class is made.
tests/test_plain.py compares classes hypothesis writes, made both ways; tests/test_model_methods.py every class
the engine makes this way with the dataclass it stands for. What they do not do
as a dataclass would is refused when the class is made: inheriting from a data class, `InitVar` and
keyword-only fields (a `@dataclass` subclass of a plain class is not refused, and sees it as not frozen).
"""

from __future__ import annotations

import dataclasses
import inspect
import operator
from collections.abc import Callable
from operator import attrgetter
from reprlib import recursive_repr
from typing import Any, TypeVar, dataclass_transform

__all__ = ["frozen", "mutable", "ordered"]

_set = object.__setattr__
_C = TypeVar("_C", bound=type)


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def frozen(cls: _C) -> _C:
    """`@dataclass(frozen=True)`, its methods made without an `exec`."""
    return _made(cls, frozen=True)


@dataclass_transform(frozen_default=True, order_default=True, field_specifiers=(dataclasses.field,))
def ordered(cls: _C) -> _C:
    """`@dataclass(frozen=True, order=True)`, its methods made without an `exec`."""
    return _made(cls, frozen=True, order=True)


@dataclass_transform(field_specifiers=(dataclasses.field,))
def mutable(cls: _C) -> _C:
    """`@dataclass()`, its methods made without an `exec`."""
    return _made(cls, frozen=False)


def _made(cls: _C, *, frozen: bool, order: bool = False) -> _C:
    # what these classes do not do as a dataclass would: refused, not done otherwise
    if any(dataclasses.is_dataclass(base) for base in cls.__mro__[1:]):
        raise TypeError(f"{cls.__qualname__}: a plain class does not inherit from a data class (make it a @dataclass)")
    annotations = cls.__dict__.get("__annotations__", {})
    if any("InitVar" in str(kind) or "KW_ONLY" in str(kind) for kind in annotations.values()) or any(
        isinstance(value, dataclasses.Field) and value.kw_only is True for value in cls.__dict__.values()
    ):
        raise TypeError(f"{cls.__qualname__}: a plain class has no InitVar or keyword-only fields (make it a @dataclass)")
    own_hash = cls.__dict__.get("__hash__", dataclasses.MISSING)
    explicit_hash = not (own_hash is dataclasses.MISSING or (own_hash is None and "__eq__" in cls.__dict__))  # as dataclass tells
    made: Any = dataclasses.dataclass(init=False, repr=False, eq=False)(cls)  # fields, defaults, __match_args__: no method generated
    fields = dataclasses.fields(made)
    given = tuple(f for f in fields if f.init)
    names = tuple(f.name for f in given)
    later = tuple((f.name, f.default_factory) for f in fields if not f.init and f.default_factory is not dataclasses.MISSING)  # a default: the class's
    shown = tuple(f.name for f in fields if f.repr)
    compared = tuple(f.name for f in fields if f.compare)
    hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
    every = frozenset(f.name for f in fields)
    post_init = getattr(cls, "__post_init__", None) is not None

    fill = tuple((f.name, f.default, None if f.default_factory is dataclasses.MISSING else f.default_factory) for f in given)

    def bound(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The values of `given` from keyword (or fewer) arguments, without `_bound`'s checks when nothing is wrong
        (about 1,200 objects of the model are made by keyword as a project loads); `_bound` says what is wrong."""
        if len(args) > len(fill):
            return _bound(cls, given, args, kwargs)
        values = list(args)
        used = 0
        for name, default, factory in fill[len(args) :]:
            if name in kwargs:
                values.append(kwargs[name])
                used += 1
            elif default is not dataclasses.MISSING:
                values.append(default)
            elif factory is not None:
                values.append(factory())
            else:
                return _bound(cls, given, args, kwargs)  # a missing argument: its TypeError
        if used != len(kwargs):
            return _bound(cls, given, args, kwargs)  # an unknown or repeated keyword: its TypeError
        return values

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        if kwargs or len(args) != len(names):
            args = bound(args, kwargs)
        for name, value in zip(names, args, strict=True):
            _set(self, name, value)
        for name, factory in later:
            _set(self, name, factory())
        if post_init:
            self.__post_init__()

    def shown_as(self: Any) -> str:
        return f"{self.__class__.__qualname__}({', '.join(f'{name}={getattr(self, name)!r}' for name in shown)})"

    compared_of = _values_of(compared)  # a tuple, as a dataclass compares and hashes (one field too: the tuple's identity check)

    def equal(self: Any, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return compared_of(self) == compared_of(other)
        return NotImplemented

    init.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *(_parameter(f) for f in given)], return_annotation=None
    )
    methods: dict[str, Callable[..., Any] | None] = {"__init__": init, "__repr__": recursive_repr()(shown_as), "__eq__": equal}
    if order:
        for name, compare in _ORDER.items():
            if name in cls.__dict__:  # as dataclass refuses it
                raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}. Consider using functools.total_ordering")
            methods[name] = _ordering(compare, compared_of)
    if frozen:
        hashed_of = _values_of(hashed)

        def hashed_as(self: Any) -> int:
            return hash(hashed_of(self))

        def assign(self: Any, name: str, value: Any) -> None:
            if type(self) is made or name in every:
                raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
            super(made, self).__setattr__(name, value)

        def delete(self: Any, name: str) -> None:
            if type(self) is made or name in every:
                raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
            super(made, self).__delattr__(name)

        methods.update(__hash__=hashed_as, __setattr__=assign, __delattr__=delete)
    else:
        methods["__hash__"] = None  # equality by value, as a dataclass: unhashable
    for name, method in methods.items():
        if method is not None:
            method.__name__, method.__qualname__ = name, f"{cls.__qualname__}.{name}"
        if name == "__hash__" and not explicit_hash or name not in cls.__dict__:  # a class's own methods kept, as dataclass keeps them
            setattr(cls, name, method)
    return cls


_ORDER = {"__lt__": operator.lt, "__le__": operator.le, "__gt__": operator.gt, "__ge__": operator.ge}


def _ordering(compare: Callable[[Any, Any], bool], values_of: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any, Any], Any]:
    """One of the order methods a dataclass writes: the compared fields as tuples, with an object of the same class only."""

    def ordering(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return compare(values_of(self), values_of(other))
        return NotImplemented

    return ordering


def _values_of(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A function giving an object's values of `names` as a tuple (operator.attrgetter, in C, for two or more)."""
    if len(names) >= 2:
        return attrgetter(*names)
    if names:
        name = names[0]
        return lambda obj: (getattr(obj, name),)
    return lambda obj: ()


def _parameter(f: dataclasses.Field[Any]) -> inspect.Parameter:
    default = f.default if f.default is not dataclasses.MISSING else (_FACTORY if f.default_factory is not dataclasses.MISSING else inspect.Parameter.empty)
    return inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=f.type)


_FACTORY: Any = getattr(dataclasses, "_HAS_DEFAULT_FACTORY", object())  # how a dataclass's signature shows a default made by a factory


def _bound(cls: type, given: tuple[dataclasses.Field[Any], ...], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The values of `given`, in order, from arguments as a dataclass's `__init__` takes them (its defaults and factories
    filled in), or the TypeError Python raises for that `__init__`, in its words."""
    where = f"{cls.__qualname__}.__init__()"
    needed = sum(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING for f in given)
    if len(args) > len(given):
        most = len(given) + 1
        takes = f"from {needed + 1} to {most}" if needed < len(given) else str(most)
        raise TypeError(f"{where} takes {takes} positional argument{'s' if most != 1 else ''} but {len(args) + 1} were given")
    for name in kwargs:
        if not any(f.name == name for f in given):
            raise TypeError(f"{where} got an unexpected keyword argument {name!r}")
        if any(f.name == name for f in given[: len(args)]):
            raise TypeError(f"{where} got multiple values for argument {name!r}")
    values = list(args)
    missing = []
    for f in given[len(args) :]:
        if f.name in kwargs:
            values.append(kwargs[f.name])
        elif f.default is not dataclasses.MISSING:
            values.append(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            values.append(f.default_factory())
        else:
            missing.append(repr(f.name))
    if missing:
        named = missing[0] if len(missing) == 1 else (" and ".join(missing) if len(missing) == 2 else ", ".join(missing[:-1]) + ", and " + missing[-1])
        raise TypeError(f"{where} missing {len(missing)} required positional argument{'s' if len(missing) > 1 else ''}: {named}")
    return tuple(values)
