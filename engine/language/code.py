"""Conditions and texts as the model holds them: their source and where it was written.

The model holds no compiled form. Compiling is asked of whoever the loader is given
(`Compilers`; engine/conditions/program.py implements it): compile one piece of code
against the names known where it is written, or raise `errors.CompileError`, and say
what it uses (`Uses`, plain data) so that the checks can read it. A loaded `Project`
carries what was compiled beside its model (`Compiled`), looked up by the code object.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import field
from typing import Any, Protocol

from ..errors import Location
from ..plain import frozen


@frozen
class Expr:
    """A condition or a value (`if`, `when`, `to`, `from`, `confirm`, effect values): Jinja2 expression syntax."""

    source: str
    location: Location | None = field(default=None, compare=False, repr=False)


@frozen
class Text:
    """A text (titles, bodies, labels, messages, banners, emails): a Jinja2 template; `html` ones are autoescaped."""

    source: str
    location: Location | None = field(default=None, compare=False, repr=False)
    html: bool = False


@frozen
class Uses:
    """What a compiled piece of code reads: names, keys looked up on a name, constants a key is compared with.

    `names` is known for conditions only (a text's is left empty).
    """

    names: frozenset[str] = frozenset()
    attributes: frozenset[tuple[str, str]] = frozenset()  # (name, key) pairs such as ("answers", "reason")
    literals: tuple[tuple[tuple[str, str], Any], ...] = ()  # ((name, key), constant) compared with == or !=
    unknown: tuple[tuple[int, int, str], ...] = ()  # fields the data schema says cannot exist: (line, col, message) in the source


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
