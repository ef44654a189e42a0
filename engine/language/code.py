"""Conditions and texts as the model holds them: their source and where it was written.

The model holds no compiled form. Compiling is asked of whoever the loader is given
(`Compilers`; engine/conditions/program.py implements it): compile one piece of code
against the names known where it is written, or raise `errors.CompileError`, and say
what it uses (`Uses`, plain data) so that the checks can read it. A loaded `Project`
carries what was compiled beside its model (`Compiled`), looked up by the code object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from dataclasses import FrozenInstanceError, dataclass, field
from reprlib import recursive_repr
from typing import Any, Protocol

from ..errors import Location

# What the classes whose dataclass methods are written out use (engine/language/model.py says why: Python 3.11's
# dataclasses compile each generated method with an exec of its own at import; written out, they come from the
# module's cached bytecode). tests/test_model_methods.py compares each such class with the dataclass it stands for.
set_field = object.__setattr__  # a frozen dataclass's __init__ sets its fields so
DEFAULT_FACTORY: Any = getattr(dataclasses, "_HAS_DEFAULT_FACTORY", object())  # a default_factory field's default (shown as <factory>)


def dataclass_repr() -> Any:
    """A dataclass's __repr__ wrapper: `...` for an object met again while it is being printed."""
    return recursive_repr("...")


_set, _FACTORY, _recursive_repr = set_field, DEFAULT_FACTORY, dataclass_repr


@dataclass(init=False, repr=False, eq=False)
class Expr:
    """A condition or a value (`if`, `when`, `to`, `from`, `confirm`, effect values): Jinja2 expression syntax."""

    source: str
    location: Location | None = field(default=None, compare=False, repr=False)

    # written out as @dataclass(frozen=True) makes them (tests/test_model_methods.py compares): imported, not generated
    def __init__(self, source: str, location: Location | None = None) -> None:
        _set(self, "source", source)
        _set(self, "location", location)

    @_recursive_repr()
    def __repr__(self) -> str:
        return self.__class__.__qualname__ + f"(source={self.source!r})"

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return (self.source,) == (other.source,)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.source,))

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self) is Expr or name in {"source", "location"}:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is Expr or name in {"source", "location"}:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super().__delattr__(name)


@dataclass(init=False, repr=False, eq=False)
class Text:
    """A text (titles, bodies, labels, messages, banners, emails): a Jinja2 template; `html` ones are autoescaped."""

    source: str
    location: Location | None = field(default=None, compare=False, repr=False)
    html: bool = False

    # written out as @dataclass(frozen=True) makes them (tests/test_model_methods.py compares): imported, not generated
    def __init__(self, source: str, location: Location | None = None, html: bool = False) -> None:
        _set(self, "source", source)
        _set(self, "location", location)
        _set(self, "html", html)

    @_recursive_repr()
    def __repr__(self) -> str:
        return self.__class__.__qualname__ + f"(source={self.source!r}, html={self.html!r})"

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return (self.source, self.html) == (other.source, other.html)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.source, self.html))

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self) is Text or name in {"source", "location", "html"}:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is Text or name in {"source", "location", "html"}:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super().__delattr__(name)


@dataclass(init=False, repr=False, eq=False)
class Uses:
    """What a compiled piece of code reads: names, keys looked up on a name, constants a key is compared with.

    `names` is known for conditions only (a text's is left empty).
    """

    names: frozenset[str] = frozenset()
    attributes: frozenset[tuple[str, str]] = frozenset()  # (name, key) pairs such as ("answers", "reason")
    literals: tuple[tuple[tuple[str, str], Any], ...] = ()  # ((name, key), constant) compared with == or !=
    unknown: tuple[tuple[int, int, str], ...] = ()  # fields the data schema says cannot exist: (line, col, message) in the source

    # written out as @dataclass(frozen=True) makes them (tests/test_model_methods.py compares): imported, not generated
    def __init__(
        self,
        names: frozenset[str] = frozenset(),
        attributes: frozenset[tuple[str, str]] = frozenset(),
        literals: tuple[tuple[tuple[str, str], Any], ...] = (),
        unknown: tuple[tuple[int, int, str], ...] = (),
    ) -> None:
        _set(self, "names", names)
        _set(self, "attributes", attributes)
        _set(self, "literals", literals)
        _set(self, "unknown", unknown)

    @_recursive_repr()
    def __repr__(self) -> str:
        return self.__class__.__qualname__ + f"(names={self.names!r}, attributes={self.attributes!r}, literals={self.literals!r}, unknown={self.unknown!r})"

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return (self.names, self.attributes, self.literals, self.unknown) == (other.names, other.attributes, other.literals, other.unknown)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.names, self.attributes, self.literals, self.unknown))

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self) is Uses or name in {"names", "attributes", "literals", "unknown"}:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is Uses or name in {"names", "attributes", "literals", "unknown"}:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super().__delattr__(name)


class Compiled(Protocol):
    """What a loaded project carries beside its model: each condition and text of it, compiled."""

    @property
    def buttons(self) -> Mapping[str, Text]:
        """The project's labels of the buttons a step leaves out (Project.buttons), rendered by `render`."""
        ...

    def evaluate(self, code: Expr, scope: Mapping[str, Any]) -> Any:
        """The value of a condition in `scope`; a failure is an ExpressionError naming it."""
        ...

    def render(self, code: Text, scope: Mapping[str, Any], *, as_written: bool = False) -> str:
        """A text rendered in `scope` (`as_written`: for a reader of the first locale); a failure is an ExpressionError naming it."""
        ...

    def uses(self, code: Expr | Text) -> Uses:
        """What a compiled condition or text reads."""
        ...


class _NotCompiled:
    """The program of a model built by hand: nothing was compiled, so nothing can run."""

    buttons: Mapping[str, Text] = {}  # noqa: RUF012 - read only

    def _refuse(self, code: Expr | Text) -> LookupError:
        return LookupError(f"{code!r} was never compiled: this model was built without compilers; load the project with clientflow.load_project")

    def evaluate(self, code: Expr, scope: Mapping[str, Any]) -> Any:
        raise self._refuse(code)

    def render(self, code: Text, scope: Mapping[str, Any], *, as_written: bool = False) -> str:
        raise self._refuse(code)

    def uses(self, code: Expr | Text) -> Uses:
        raise self._refuse(code)


NOT_COMPILED: Compiled = _NotCompiled()


class Compilers(Compiled, Protocol):
    """What the loader asks of whoever compiles: each piece as it is read, against the names known there."""

    def fix(self, name: str, keys: Iterable[str]) -> None:
        """Declare the only keys `name` has (product, flow, now), so that a misspelled one fails at load."""
        ...

    def compile_expression(self, code: Expr, names: Iterable[str], items: Mapping[str, Expr] | None = None) -> Uses:
        """Compile a condition; raise CompileError with a fix-it message when it cannot be.

        `items` names the lists some names range over (`item` in options `from`): their items' type is known.
        """
        ...

    def compile_template(self, code: Text, names: Iterable[str], items: Mapping[str, Expr] | None = None) -> Uses:
        """Compile a text; raise CompileError (with the line of the text at fault) when it cannot be."""
        ...

    def condition_problem(self, code: Expr) -> str | None:
        """Why a compiled condition cannot give true or false (its type known to be something else), or None."""
        ...

    def declare_data(self, schema: Mapping[str, Any] | None, entities: Mapping[str, Any], bound: Mapping[str, tuple[str, bool]]) -> None:
        """The data schema's types, for the names bound to an entity's records: name -> (entity, may be none)."""
        ...

    def bind(self, name: str, code: Expr) -> None:
        """`name` holds the value of `code` (a project's shared name): it has that value's type."""
        ...

    def effect_problem(self, entity: str, field: str, value: Expr | None) -> str | None:
        """Why an effect may not write `value` (None: a value computed at run time) into `entity.field`, or None."""
        ...

    def refusal_problem(self, source: str, subject: str, words: Collection[str], allowed: Collection[str]) -> str | None:
        """What a reach rule's message may not show, or None (see engine/conditions/program.py)."""
        ...
