"""A project's program: every condition and text of its model, compiled once, kept beside it.

The model (engine/language/model.py) holds code as source (`Expr`, `Text`). `Program`
compiles each piece as the loader reads it (it is the loader's `Compilers`), keeps
the compiled form under the code object's identity, and is what the runtime asks:
`program.evaluate(rule.condition, scope)`, `program.render(step.title, scope)`, or
for generated code `program.expression(code)` / `program.template(code)`.
`load_project` is the loader wired to a fresh `Program`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from jinja2 import nodes

from ..errors import CompileError
from ..language import plurals
from ..language.code import Expr, Text, Uses
from ..language.model import Project
from ..language.project import Extensions, read_project
from ..language.words import DATA_FUNCTIONS
from . import types
from .expressions import MAX_SOURCE, Compiler, Expression, parse
from .reader import Reader, reading, source_reader
from .templates import Template, Texts


class Program:
    """Compiled conditions and texts by the identity of the model's code objects (held, so the ids stay theirs)."""

    def __init__(self, functions: Iterable[str] = DATA_FUNCTIONS, filters: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.compiler = Compiler(functions, filters)
        self.texts = Texts(filters=filters, compiler=self.compiler)
        self._expressions: dict[int, Expression] = {}
        self._templates: dict[int, Template] = {}
        self._held: list[Expr | Text] = []
        self.types: dict[str, types.Type] = {}  # names whose records' type the data schema gives
        self._trees: dict[str, nodes.Expr] = {}  # conditions parsed for the type check, by source: one parse each
        self.entity_types: dict[str, types.Type] = {}
        self.written: Reader = source_reader(None)  # the reader of the texts as written (the project's first locale)
        self.reader: Reader = self.written  # who its texts are rendered for: another for a project in a reader's locale
        self.buttons: dict[str, Text] = {}  # the project's labels of the buttons a step does not name itself (Project.buttons)

    @property
    def namespace(self) -> dict[str, Any]:
        """What generated code may call: the translated conditions' helpers, filters and tests."""
        return self.compiler.namespace

    # what the loader asks (language.code.Compilers) ---------------------------------
    def fix(self, name: str, keys: Iterable[str]) -> None:
        """Declare the only keys `name` has (product, flow, now), so that a misspelled one fails at load."""
        self.compiler.fixed[name] = self.texts.fixed[name] = frozenset(keys)

    def compile_expression(self, code: Expr, names: Iterable[str], items: Mapping[str, Expr] | None = None) -> Uses:
        """Compile a condition against the names known where it is written; CompileError when it cannot be."""
        # parsed once for both the compiler and the type check (which reads the tree only when the data schema gives types)
        tree = self._tree(code.source) if self.entity_types and len(code.source) <= MAX_SOURCE else None
        compiled = self.compiler.compile(code.source, names, tree)
        self._expressions[id(code)] = compiled
        self._held.append(code)
        unknown = self._typed(code.source, items, lambda check: check.expression(self._tree(code.source)))
        return _uses(compiled, unknown)

    def compile_template(self, code: Text, names: Iterable[str], items: Mapping[str, Expr] | None = None) -> Uses:
        """Compile a text against the names known where it is written; CompileError when it cannot be."""
        typed: list[tuple[tuple[int, int, str], ...]] = []

        def type_check(tree: nodes.Template) -> None:  # the tree the compiler parsed and checked, read before it is compiled
            typed.append(self._typed(code.source, items, lambda check: check.template(tree)))

        compiled = self.texts.compile(code.source, frozenset(names), html=code.html, inspect=type_check)
        self._templates[id(code)] = compiled
        self._held.append(code)
        return _uses(compiled, typed[0] if typed else ())

    # types from the data schema (engine/conditions/types.py) ---------------------------
    def declare_data(self, schema: Mapping[str, Any] | None, entities: Mapping[str, Any], bound: Mapping[str, tuple[str, bool]]) -> None:
        """The data schema's types, for the names bound to an entity's records: name -> (entity, may be none)."""
        if schema is None:
            return
        self.entity_types = types.entity_types(schema, entities)
        for name, (entity, optional) in bound.items():
            found = self.entity_types.get(entity, types.ANY)
            self.types[name] = types.union(found, types.NULL) if optional else found

    def bind(self, name: str, code: Expr) -> None:
        """`name` holds the value of `code` (a project's shared name): it has that value's type."""
        if self.entity_types:
            check = types.TypeCheck(code.source, self.types, self.entity_types)
            self.types[name] = check.expression(self._tree(code.source))

    def condition_problem(self, code: Expr) -> str | None:
        """Why a compiled condition cannot give true or false (its type known to be something else), or None."""
        if len(code.source) > MAX_SOURCE:
            return None
        found = types.TypeCheck(code.source, self.types, self.entity_types).expression(self._tree(code.source))
        kinds = list(types.members(found))
        if any(not isinstance(t, types.Value | types.List | types.Object) for t in kinds):
            return None  # nothing known of some part: checked when it runs
        if any(isinstance(t, types.Value) and (not t.kinds or "boolean" in t.kinds) for t in kinds):
            return None
        return f"gives {found.describe()}, not true or false; write a condition such as `x > 0` or `x is not none`"

    def effect_problem(self, entity: str, field: str, value: Expr | None) -> str | None:
        """Why an effect may not write `value` into `entity.field` (a literal checked now; None: computed, checked at run time)."""
        record = self.entity_types.get(entity)
        if record is None:
            return None
        missing = types.missing_field(record, field)
        if missing is not None:
            return missing
        if value is None:
            return None
        try:
            tree = self._tree(value.source)
        except CompileError:
            return None
        if not isinstance(tree, nodes.Const):
            return None
        return types.value_problem(types.field_type(record, field), tree.value, f"{entity}.{field}")

    def field_problems(self, source: str) -> tuple[tuple[int, int, str], ...]:
        """The fields a condition written outside the project (`bulk --where`) reads that the data schema says cannot
        exist, as `validate` words them: (line, col, message); none without a data schema."""
        return self._typed(source, None, lambda check: check.expression(self._tree(source)))

    def _typed(self, source: str, items: Mapping[str, Expr] | None, walk: Callable[[types.TypeCheck], Any]) -> tuple[tuple[int, int, str], ...]:
        """The fields `source` reads that the data schema says cannot exist (none without a data schema)."""
        if not self.entity_types:
            return ()
        scope = dict(self.types)
        for name, code in (items or {}).items():
            scope[name] = types.item_of(types.TypeCheck(code.source, self.types, self.entity_types).expression(self._tree(code.source)))
        check = types.TypeCheck(source, scope, self.entity_types)
        walk(check)
        return tuple((p.line, p.col, p.message) for p in check.problems)

    def _tree(self, source: str) -> nodes.Expr:
        """A condition parsed (CompileError when it cannot be); the type check only reads the tree, so it is parsed once."""
        tree = self._trees.get(source)
        if tree is None:
            tree = self._trees[source] = parse(source)
        return tree

    def refusal_problem(self, source: str, subject: str, words: Collection[str], allowed: Collection[str]) -> str | None:
        """What a reach rule's message may not show, or None: see `refusal_problem`."""
        return refusal_problem(source, self.texts.text_env, subject, words, allowed)

    # what the runtime asks (language.code.Compiled) ----------------------------------
    def expression(self, code: Expr) -> Expression:
        """The compiled form of a condition of the model."""
        try:
            return self._expressions[id(code)]
        except KeyError:
            raise _not_compiled(code) from None

    def template(self, code: Text) -> Template:
        """The compiled form of a text of the model."""
        try:
            return self._templates[id(code)]
        except KeyError:
            raise _not_compiled(code) from None

    def evaluate(self, code: Expr, scope: Mapping[str, Any]) -> Any:
        """The value of a condition in `scope`; a failure is an ExpressionError naming it."""
        try:
            compiled = self._expressions[id(code)]
        except KeyError:
            raise _not_compiled(code) from None
        return compiled(scope)

    def render(self, code: Text, scope: Mapping[str, Any], *, as_written: bool = False) -> str:
        """A text rendered in `scope` for this program's reader (`as_written`: for the first locale's, as the audit line is).

        A failure is an ExpressionError naming it.
        """
        try:
            compiled = self._templates[id(code)]
        except KeyError:
            raise _not_compiled(code) from None
        if compiled.localized:  # a date, a number or a plural: written as its reader's language writes it
            with reading(self.written if as_written else self.reader):
                return compiled.render(scope)
        return compiled.render(scope)

    def uses(self, code: Expr | Text) -> Uses:
        """What a compiled condition or text reads."""
        return _uses(self.expression(code) if isinstance(code, Expr) else self.template(code))


def _uses(compiled: Expression | Template, unknown: tuple[tuple[int, int, str], ...] = ()) -> Uses:
    if isinstance(compiled, Expression):
        return Uses(compiled.names, compiled.attributes, compiled.literals, unknown)
    return Uses(attributes=compiled.attributes, unknown=unknown)


def _not_compiled(code: Expr | Text) -> LookupError:
    return LookupError(f"{code!r} was not compiled by this program: compile it with compile_expression or compile_template first")


def program_of(project: Project) -> Program:
    """The program a loaded project carries (generated code needs the compiled forms themselves)."""
    program = project.program
    if not isinstance(program, Program):
        raise LookupError("this project was not loaded with clientflow.load_project: its conditions and texts were never compiled")
    return program


def load_project(root: str | Path, extensions: Extensions | None = None) -> Project:
    """Load, validate and compile the project under `root`; one DefinitionError holds every problem.

    The files under `root` are read as data only: nothing in the folder can change
    what code runs (generated code is compiled afresh in every process, never cached).
    """
    extensions = extensions or Extensions()
    program = Program([*DATA_FUNCTIONS, *extensions.functions], extensions.filters)
    project = read_project(root, program, extensions)
    titles = {flow.id: flow.title for flow in project.flows.values()}
    program.written = program.reader = source_reader(project.locales[0] if project.locales else None, titles)
    program.buttons = project.buttons  # a screen's buttons its step leaves out, rendered (and translated) as the project's texts
    return project


def refusal_problem(source: str, env: Any, subject: str, words: Collection[str], allowed: Collection[str]) -> str | None:
    """What a reach rule's message may not show, or None: it is shown to those the rule refuses.

    It may show the actor's side (`allowed`) and the subject only by the keys it is
    named by and its label (`words`), which then read as the caller's own words
    (engine/runtime/context.py, `outsider_scope`); anything else would tell an outsider
    about a record it may not reach.
    """
    if "{" not in source:
        return None
    try:
        tree = env.parse(source)
    except Exception:  # noqa: BLE001 - a message that does not parse is reported where it is compiled
        return None
    assigned = {"loop", "caller", "varargs", "kwargs", "range", plurals.FUNCTION}  # a plural block shows what its count= and names give
    for node in tree.find_all(nodes.Name):
        if node.ctx in ("store", "param"):
            assigned.add(node.name)
    looks = [look for look in tree.find_all((nodes.Getattr, nodes.Getitem)) if isinstance(look.node, nodes.Name) and look.node.name == subject]
    named = {id(look.node) for look in looks if _key(look) in words}
    shown = ", ".join(f"{subject}.{word}" for word in words)
    fix = f"it may name the {subject} only as they did ({shown}), and otherwise show {', '.join(allowed)}"
    for look in looks:
        if id(look.node) not in named and isinstance(_key(look), str):
            return f"a reach message is shown to those the rule refuses, so it may not show {subject}.{_key(look)}: {fix}"
    for node in tree.find_all(nodes.Name):
        if node.ctx != "load" or node.name in assigned or id(node) in named:
            continue
        if node.name == subject:
            return f"a reach message is shown to those the rule refuses, so it may not show the {subject} itself: {fix}"
        if node.name not in allowed:
            return f"a reach message is shown to those the rule refuses, so it may not use {node.name!r}, which could show the {subject}: {fix}"
    return None


def _key(look: Any) -> Any:
    return look.attr if isinstance(look, nodes.Getattr) else getattr(look.arg, "value", None)
