"""`dataclass`, the standard library's, whose methods are compiled when first used: a start-up cost.

`dataclasses.dataclass` writes each method it adds (`__init__`, `__eq__`, `__hash__`,
`__setattr__` and `__delattr__` of a frozen class, the order methods) as Python source
and compiles it at once. Importing what `clientflow validate` needs makes 67 dataclasses,
319 methods and about 105 KB of source, compiled in about 27 ms (the cost is the size of
the source, not the number of `compile()` calls: compiling them together saves nothing);
a cold validate then uses 47 of them, all `__init__`.

Here the standard library still does all the work: its `_create_fn` is given the same
arguments, only later. While a class is made, each method (but `__repr__`, which the
standard library wraps at once) is put on the class as a `_Later`, which holds those
arguments; the first time it is looked up (an instance made or compared, a hash, an
attribute set, `getattr`, `inspect.signature`...), it compiles the method exactly as the
standard library would have, puts it on the class in its own place and gives it. From then
on the class holds the standard library's function (tests/test_classes.py compares code,
names, defaults, closures and behaviour with plain dataclasses'). Types see the standard
library's decorator.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

_making = threading.local()  # .on: this thread is making a class with `dataclass` below
_lock = threading.RLock()  # one thread at a time replaces dataclasses' method maker
_ORIGINAL: Callable[..., Any] = dataclasses._create_fn  # type: ignore[attr-defined]


class _Later:
    """A method dataclasses wrote, compiled by dataclasses the first time it is looked up."""

    __slots__ = ("__name__", "_arguments")

    def __init__(self, name: str, arguments: tuple[Any, ...]) -> None:
        self.__name__ = name
        self._arguments = arguments  # what dataclasses gave `_create_fn`

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        function = self._compiled(owner if owner is not None else type(instance))
        return function if instance is None else function.__get__(instance, owner)

    def _compiled(self, owner: type) -> Any:
        name, args, body, globals_, locals_, return_type = self._arguments
        function = _ORIGINAL(name, args, body, globals=globals_, locals=locals_, return_type=return_type)
        for holder in owner.__mro__:  # the class that holds this (a subclass may be asking)
            if vars(holder).get(name) is self:
                function.__qualname__ = f"{holder.__qualname__}.{name}"  # as dataclasses names it
                setattr(holder, name, function)
                break
        return function


def _deferred(
    name: str,
    args: list[str],
    body: list[str],
    *,
    globals: dict[str, Any] | None = None,  # noqa: A002 - dataclasses' own keyword names
    locals: dict[str, Any] | None = None,  # noqa: A002
    return_type: Any = dataclasses.MISSING,
) -> Any:
    """dataclasses' `_create_fn`, deferred: a `_Later` holding its arguments, for a class `dataclass` below is making."""
    if not getattr(_making, "on", False) or name == "__repr__":  # another thread's class; __repr__ is wrapped at once
        return _ORIGINAL(name, args, body, globals=globals, locals=locals, return_type=return_type)
    return _Later(name, (name, args, body, globals, locals, return_type))


def _make(cls: type, options: dict[str, Any]) -> type:
    with _lock:
        was = getattr(_making, "on", False)
        _making.on = True
        dataclasses._create_fn = _deferred  # type: ignore[attr-defined]
        try:
            made: type = dataclasses.dataclass(cls, **options)  # type: ignore[call-overload]
        finally:
            _making.on = was
            if not was:
                dataclasses._create_fn = _ORIGINAL  # type: ignore[attr-defined]
    return made


if TYPE_CHECKING:
    from dataclasses import dataclass
else:

    def dataclass(cls: type | None = None, /, **options: Any) -> Any:
        """`dataclasses.dataclass`, its methods compiled when first used."""
        if cls is None:
            return lambda given: _make(given, options)
        return _make(cls, options)
