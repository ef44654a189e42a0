"""A scope whose costlier names are computed when first read: what availability questions are asked with.

Conditions and plain texts read names as `s[name]`; a `LazyScope` computes a
name it does not hold yet (a context name, `now`, `lookup`) on that first read,
keeps it, and gives it to every later read, so each is computed at most once per
question and only when a rule or a message reads it. A name that cannot be
computed raises where it is read (the rule reading it could not be checked).
Jinja2 copies the names it is given: a text it renders gets `complete()`, every
name it reads computed (every name, when that cannot be told without rendering).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

Later = Mapping[str, Callable[["LazyScope"], Any]]


class LazyScope(dict[str, Any]):
    """A dict of names, and `later`: how to compute the names not held yet, each from the scope (and `source`)."""

    __slots__ = ("later", "source")

    def __init__(self, values: Mapping[str, Any], later: Later, source: Any = None) -> None:
        super().__init__(values)
        self.later = later
        self.source = source  # what the computations read besides the scope: a reader, a clock

    def __missing__(self, name: str) -> Any:
        make = self.later.get(name)
        if make is None:
            raise KeyError(name)
        value = self[name] = make(self)
        return value

    def complete(self, names: Collection[str] | None = None) -> dict[str, Any]:
        """The names as a plain dict, every one computed, or (`names`) those of them a text reads (a context name may read those above it)."""
        for name in self.later:
            if name not in self and (names is None or name in names):
                self[name]  # noqa: B018 - computed by __missing__
        return dict(self)
