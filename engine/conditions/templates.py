"""Texts and emails: Jinja2 templates in an immutable, data-only sandbox.

Templates see data (mappings, lists, strings, numbers) and nothing else: a
dotted name looks a key up, never a Python attribute; no method can be called;
only allow-listed filters and the project's functions exist; names that are
not defined fail (strict undefined); arithmetic, loops and output are bounded.
Plain-text templates are not escaped; HTML templates are autoescaped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from types import CodeType
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.runtime import Context, LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import ExpressionError, did_you_mean
from ..language import plurals
from . import bounds, limits, reader
from .expressions import MAX_DEPTH, CompileError, Compiler, DataFunction, _suggest, argument_problem, check_attribute_argument, python_code, python_failure
from .fasttext import Plain, build_fast, translate_fast
from .lazy import LazyScope
from .limits import MAX_OUTPUT

MAX_LOOP = 100_000  # iterations of loops over range() in one rendering
MAX_BLOCKS = 16  # blocks ({% if %}, {% for %}, {% macro %}...) nested in one another
# what `loop` tells inside {% for %}: data only, none of its methods
LOOP_KEYS = frozenset({"index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0", "previtem", "nextitem"})

SAFE_TEMPLATE_FILTERS = {
    "capitalize", "default", "d", "escape", "e", "first", "join", "last", "length", "count", "list",
    "lower", "upper", "map", "replace", "reverse", "round", "select", "reject", "selectattr",
    "rejectattr", "sort", "string", "striptags", "sum", "title", "trim", "truncate", "unique",
    "urlencode", "int", "float", "abs", "min", "max", "safe", "batch", "slice", "wordcount", "dictsort",
    "groupby",
}  # fmt: skip


class DataSandbox(ImmutableSandboxedEnvironment):
    """A sandbox in which templates can read data and nothing else."""

    intercepted_binops = frozenset(["*", "**", "+", "%"])

    def __init__(self, *, autoescape: bool, functions: Mapping[str, Callable[..., Any]], filters: Mapping[str, Callable[..., Any]]) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=True, finalize=bounds.finalize)
        self.concat = bounds.concat_output  # type: ignore[assignment]  # the text of macros and {% set %} blocks, measured
        self.filters = bounds.filters({k: v for k, v in self.filters.items() if k in SAFE_TEMPLATE_FILTERS})
        self.filters.update(filters)
        self.tests = bounds.tests({k: v for k, v in self.tests.items() if not k.startswith("callable")})
        self.globals = {"range": self._range, plurals.FUNCTION: reader.plural_function(autoescape), **functions}
        self._callables = {id(v) for v in self.globals.values()}  # the bound method held here: each self._range is a new object

    def allow_plurals(self) -> None:
        """Read `{% trans count=N %}...{% pluralize %}...{% endtrans %}` (from the first text that has one: jinja2.ext loads then)."""
        if plurals.EXTENSION_ID not in self.extensions:
            plurals.configure(self)

    def _compile(self, source: str, filename: str) -> CodeType:
        """Jinja2's generated Python, compiled as ours is: Python's warnings about it never reach the terminal."""
        return python_code(source, filename)

    def _range(self, *args: int) -> range:
        result = range(*args)
        if len(result) > MAX_LOOP:
            raise SecurityError(f"range of {len(result):,} items is over the limit of {MAX_LOOP:,}")
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            if attribute.startswith("_"):
                return self.unsafe_undefined(obj, attribute)
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        if isinstance(obj, Macro):
            return super().getattr(obj, attribute)
        if isinstance(obj, LoopContext) and attribute in LOOP_KEYS:
            return getattr(obj, attribute)
        return self.undefined(obj=obj, name=attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(argument, str) and argument.startswith("_"):
            return self.unsafe_undefined(obj, argument)
        if isinstance(obj, (Mapping, list, tuple, str)):
            try:
                if isinstance(argument, slice):
                    return limits.slice_of(obj, argument)
                return obj[argument]
            except (KeyError, IndexError, TypeError):
                return self.undefined(obj=obj, name=argument)
        return self.undefined(obj=obj, name=argument)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if id(__obj) in __self._callables or isinstance(__obj, (Macro, DataFunction)):
            bounds.spend(__context.eval_ctx)
            return __context.call(__obj, *args, **kwargs)
        raise SecurityError(f"{bounds.describe(__obj)} cannot be called in a template; use a filter instead")

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        try:
            if operator == "*":
                return limits.mul(left, right)
            if operator == "**":
                return limits.power(left, right)
            if operator == "+":
                return limits.add(left, right)
            return bounds.modulo(left, right)
        except ExpressionError as exc:
            raise SecurityError(str(exc)) from exc


class Texts:
    """Compiles and renders the templates of one project."""

    def __init__(
        self,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        filters: Mapping[str, Callable[..., Any]] | None = None,
        compiler: Compiler | None = None,
    ) -> None:
        functions = dict(functions or {})
        filters = {**reader.FILTERS, **(filters or {})}  # a plugin's filter of the same name replaces one of them
        self.compiler = compiler or Compiler(functions, filters)
        self.text_env = DataSandbox(autoescape=False, functions=functions, filters=filters)
        self.html_env = DataSandbox(autoescape=True, functions=functions, filters=filters)
        self.fixed: dict[str, frozenset[str]] = {}  # names whose keys are known at load, e.g. product: {name, sender}

    def compile(
        self,
        source: str,
        names: frozenset[str] | set[str],
        *,
        html: bool = False,
        name: str | None = None,
        inspect: Callable[[nodes.Template], Any] | None = None,
    ) -> Template:
        """Compile a template once; unknown names and syntax errors raise CompileError.

        `inspect` is given the parsed tree once it has passed every check, before
        anything rewrites it (the type check reads it there: one parse for both).
        """
        env = self.html_env if html else self.text_env
        if "{" not in source:  # no tag, no placeholder: plain text, nothing to parse
            return Template(source, None, source, reads=frozenset())
        if plurals.has_blocks(source):
            env.allow_plurals()
        try:
            tree = simple_tree(env, source) or env.parse(source)
        except TemplateSyntaxError as exc:
            line = _unclosed_line(env, source, exc.message) or exc.lineno or 0
            if plurals.has_blocks(source) and "end of print statement" in (exc.message or ""):
                inside = "inside {% trans %}, a {{ }} holds one name: name the value in the tag, {% trans count=..., name=user.name %}, and write {{ name }}"
                raise CompileError(f"template syntax error: {inside}", line) from exc
            raise CompileError(f"template syntax error: {_sentence(exc.message)}", line) from exc
        except RecursionError as exc:  # Jinja2's parser recurses once per level of nesting
            raise CompileError("the template is nested too deeply; flatten its blocks and brackets", 1) from exc
        except ValueError as exc:  # a whole number Python will not read: more digits than its limit
            long = re.search(r"\d{4301,}", source)
            line = source.count("\n", 0, long.start()) + 1 if long else 1
            raise CompileError("a number of more than 4,300 digits cannot be read; write it in quotes as text", line) from exc
        found = _Nodes(tree)  # one walk of the tree, which every check below reads
        _check_tree(tree, names, env, self.fixed, found, source)
        plain = translate_fast(self.compiler, tree, frozenset(names), html=html, found=found.nodes)
        if plain is None or source.count("{%") > MAX_BLOCKS:  # the fast path's translation refuses these itself
            _check_nesting(tree)
        attributes = _keys_used(tree, found)
        localized = _reads_locale(env, found)
        if inspect is not None:
            inspect(tree)

        def make() -> Any:
            bounds.bound_tree(tree, env)
            return env.from_string(tree)

        # A plain template's Python is compiled when it is first rendered: its translation keeps within Python's
        # limits (fasttext.translate_fast), so only the time moves, to where it is needed; a text never shown costs none.
        template = Template(source, make, None, attributes=attributes, plain=plain, localized=localized, reads=names_read(found.nodes, env))
        if plain is None:  # compiled now, so that a template that validates always runs
            try:
                template.compiled  # noqa: B018
            except (SyntaxError, RecursionError, MemoryError, ValueError, TemplateError) as exc:
                raise CompileError(f"the template is too complex to compile ({type(exc).__name__}); split it or nest it less deeply", 1) from exc
            except TypeError as exc:  # Jinja2 works out constant parts when it compiles: [1][{[1]: 1}] cannot be
                raise CompileError(f"a part of this template that does not depend on the data cannot be worked out ({exc}); remove it", 1) from exc
        return template


# Most texts are words, `{{ name.key }}` placeholders and `{% if %}` blocks: their tree is built here, node for node and
# line for line as Jinja2's lexer and parser build it (tests/test_simple_tree.py compares the two, hypothesis-made texts
# too), at about a third of the cost. The expressions built are names and keys, quoted texts, calls, filters, `==`,
# `!=`, `and`, `or` and brackets round one value, each tag on one line; anything else (another tag, a `{` or `}` in the
# words, another keyword, a number, a backslash, a line break inside a tag, whitespace control) is parsed by Jinja2,
# whose tree then passes the same checks.
_PIECE = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}")  # a placeholder or a tag, on one line ("." stops at a line break)
_DOTTED = re.compile(r" *([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*) *")
_TAG = re.compile(r" *(if|elif|else|endif)(?: +([^ ].*?))? *")
_TOKEN = re.compile(r" *(?:([A-Za-z_][A-Za-z0-9_]*)|'([^'\\\n]*)'|\"([^\"\\\n]*)\"|(==|!=|[.|(),]))")
_NOT_NAMES = frozenset({"true", "false", "none", "True", "False", "None", "not", "and", "or", "in", "is", "if", "else"})
_DEFAULT_SYNTAX = ("{%", "%}", "{{", "}}", "{#", "#}", None, None)


class _NotSimple(Exception):
    """Something `simple_tree` does not build: Jinja2 parses the text."""


def simple_tree(env: Any, source: str) -> nodes.Template | None:
    """The tree Jinja2 parses `source` into, when it holds only the forms built here (see above); else None."""
    if "\r" in source or "{#" in source:
        return None  # Jinja2 rewrites line breaks in the words; comments are Jinja2's to read
    syntax = (
        env.block_start_string, env.block_end_string, env.variable_start_string, env.variable_end_string,
        env.comment_start_string, env.comment_end_string, env.line_statement_prefix, env.line_comment_prefix,
    )  # fmt: skip
    if syntax != _DEFAULT_SYNTAX or not env.keep_trailing_newline or env.trim_blocks or env.lstrip_blocks or env.newline_sequence != "\n":
        return None
    if any(not _leaves_source(ext) for ext in env.extensions.values()):
        return None
    top: list[nodes.Node] = []
    body = top  # where the next node goes
    blocks: list[tuple[nodes.If, list[nodes.Node], bool]] = []  # each {% if %} open: its node, the body it is in, whether in its else
    output: list[nodes.Node] = []  # the words and values since the last tag, which make one Output node
    at, line = 0, 1
    try:
        for match in _PIECE.finditer(source):
            line = _words(source[at : match.start()], line, output, env)
            at = match.end()
            if match.group(1) is not None:
                output.append(_expression(match.group(1), line, env))
                continue
            if output:
                body.append(nodes.Output(output, lineno=output[0].lineno, environment=env))
                output = []
            tag = _TAG.fullmatch(match.group(2))
            if tag is None:
                return None
            word, rest = tag.groups()
            if (rest is None) != (word in ("else", "endif")) or (word != "if" and not blocks) or (word in ("elif", "else") and blocks[-1][2]):
                return None  # a test missing or extra, or a tag no open block takes here: Jinja2 says so
            if word == "if":
                block = nodes.If(_expression(rest, line, env), [], [], [], lineno=line, environment=env)
                body.append(block)
                blocks.append((block, body, False))
                body = block.body
            elif word == "elif":
                branch = nodes.If(_expression(rest, line, env), [], [], [], lineno=line, environment=env)
                blocks[-1][0].elif_.append(branch)
                body = branch.body
            elif word == "else":
                block, outer, _ = blocks.pop()
                blocks.append((block, outer, True))
                body = block.else_
            else:
                body = blocks.pop()[1]
        _words(source[at:], line, output, env)
    except _NotSimple:
        return None
    if blocks:
        return None  # a block never closed: Jinja2 says so
    if output:
        body.append(nodes.Output(output, lineno=output[0].lineno, environment=env))
    if not top:
        return None
    return nodes.Template(top, lineno=1, environment=env)  # each node made with its environment: no set_environment walk


def _words(words: str, line: int, output: list[nodes.Node], env: Any) -> int:
    """Add the words between two tags (none when empty, as Jinja2 adds none); the line after them."""
    if not words:
        return line
    if "{" in words or "}" in words:
        raise _NotSimple(words)
    output.append(nodes.TemplateData(words, lineno=line, environment=env))
    return line + words.count("\n")


def _expression(text: str, line: int, env: Any) -> nodes.Expr:
    """The tree of one expression (inside `{{ }}`, or an `{% if %}`'s test) as Jinja2's parser builds it."""
    dotted = _DOTTED.fullmatch(text)
    if dotted is not None:  # most are a name and its keys
        parts = dotted.group(1).split(".")
        if any(part in _NOT_NAMES for part in parts):
            raise _NotSimple(text)
        node: nodes.Expr = nodes.Name(parts[0], "load", lineno=line, environment=env)
        for part in parts[1:]:
            node = nodes.Getattr(node, part, "load", lineno=line, environment=env)
        return node
    tokens: list[tuple[str, str]] = []  # (kind, value): "name", "text", or the operator itself
    at, end = 0, len(text.rstrip(" "))
    while at < end:
        token = _TOKEN.match(text, at)
        if token is None:
            raise _NotSimple(text)
        name, single, double, operator = token.groups()
        if name in ("and", "or"):
            tokens.append((name, name))
        elif name in _NOT_NAMES:
            raise _NotSimple(text)
        else:
            tokens.append(("name", name) if name else ("text", single if double is None else double) if operator is None else (operator, operator))
        at = token.end()
    reader = _Reader(tokens, line, env)
    node = reader.either()
    if reader.at != len(tokens):
        raise _NotSimple(text)
    return node


class _Reader:
    """Jinja2's parser for the few forms `_expression` builds, node for node: or, and, compare, filters, postfix, primary."""

    def __init__(self, tokens: list[tuple[str, str]], line: int, env: Any) -> None:
        self.tokens, self.at, self.line, self.env = tokens, 0, line, env

    def _next(self, *kinds: str) -> str:
        """The value of the next token, which must be of one of `kinds`."""
        if self.at >= len(self.tokens) or self.tokens[self.at][0] not in kinds:
            raise _NotSimple(kinds)
        self.at += 1
        return self.tokens[self.at - 1][1]

    def _peek(self) -> str:
        return self.tokens[self.at][0] if self.at < len(self.tokens) else ""

    def either(self) -> nodes.Expr:
        """`a or b`, each side `a and b` (parse_or, parse_and), made left to right."""
        return self._joined("or", nodes.Or, self.both)

    def both(self) -> nodes.Expr:
        return self._joined("and", nodes.And, self.compare)

    def _joined(self, word: str, make: type[nodes.BinExpr], side: Callable[[], nodes.Expr]) -> nodes.Expr:
        """`side` joined by `word` (`or`, `and`): each `make(left, right)`, left to right."""
        left = side()
        while self._peek() == word:
            self._next(word)
            left = make(left, side(), lineno=self.line, environment=self.env)
        return left

    def compare(self) -> nodes.Expr:
        """`a == b != c` (parse_compare), each side with its filters."""
        expr = self.filtered()
        ops = []
        while self._peek() in ("==", "!="):
            ops.append(nodes.Operand("eq" if self._next("==", "!=") == "==" else "ne", self.filtered(), environment=self.env))
        return nodes.Compare(expr, ops, lineno=self.line, environment=self.env) if ops else expr

    def filtered(self) -> nodes.Expr:
        """A value and its `| filter(args)` (parse_unary: parse_postfix, then parse_filter_expr)."""
        node = self.postfix()
        while self._peek() == "|":
            self._next("|")
            name = self._next("name")
            args = self.arguments() if self._peek() == "(" else []
            node = nodes.Filter(node, name, args, [], None, None, lineno=self.line, environment=self.env)
        if self._peek() in (".", "("):
            raise _NotSimple("a filter's value looked into, or called")  # a dotted filter name, a call of a filter
        return node

    def postfix(self) -> nodes.Expr:
        """A name or a quoted text, then its `.key`s and calls (parse_primary, parse_postfix)."""
        kind = self._peek()
        if kind == "(":  # one value in brackets is that value (a tuple is Jinja2's to build)
            self._next("(")
            node = self.either()
            self._next(")")
        else:
            value = self._next("name", "text")
            node = (
                nodes.Name(value, "load", lineno=self.line, environment=self.env)
                if kind == "name"
                else nodes.Const(value, lineno=self.line, environment=self.env)
            )
        while self._peek() in (".", "("):
            if self._peek() == ".":
                self._next(".")
                node = nodes.Getattr(node, self._next("name"), "load", lineno=self.line, environment=self.env)
            else:
                node = nodes.Call(node, self.arguments(), [], None, None, lineno=self.line, environment=self.env)
        return node

    def arguments(self) -> list[nodes.Expr]:
        """`(a, b)`: values given by position, no trailing comma (parse_call_args)."""
        self._next("(")
        args: list[nodes.Expr] = []
        while self._peek() != ")":
            if args:
                self._next(",")
            args.append(self.either())
        self._next(")")
        return args


def _leaves_source(extension: Any) -> bool:
    """Whether an extension leaves a template's text and tokens as they are (the plural blocks' does)."""
    from jinja2.ext import Extension  # loaded only once a text has plural blocks (the only extension a sandbox gets)

    return type(extension).preprocess is Extension.preprocess and type(extension).filter_stream is Extension.filter_stream


# The nodes of a text that names nothing: in it, every name read is read from the context, so the names it reads are
# its Name nodes, as Jinja2's code generator (meta.find_undeclared_variables) finds them at several times the cost.
_PLAIN = (
    nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const, nodes.Getattr, nodes.Getitem, nodes.Slice, nodes.Filter,
    nodes.Test, nodes.If, nodes.CondExpr, nodes.Compare, nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Neg,
    nodes.Pos, nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.Pow, nodes.Concat,
    nodes.Call, nodes.Keyword, nodes.List, nodes.Tuple, nodes.Dict, nodes.Pair,
)  # fmt: skip


def names_read(found: list[nodes.Node], env: Any) -> frozenset[str] | None:
    """The names a template (`found`: every node below its root) reads from its scope, as Jinja2's
    `meta.find_undeclared_variables` gives them; None when it sets, loops or defines names (ask Jinja2 then)."""
    names = set()
    for node in found:
        if not isinstance(node, _PLAIN):
            return None
        if isinstance(node, nodes.Name):
            if node.ctx != "load":
                return None
            names.add(node.name)
    return frozenset(name for name in names if name not in env.globals)  # Jinja2 leaves out the environment's globals


class Template:
    """One compiled template; constant texts skip Jinja2 entirely."""

    __slots__ = ("source", "_compiled", "_make", "constant", "_fast", "_plain", "attributes", "localized", "reads", "python")

    def __init__(
        self,
        source: str,
        make: Callable[[], Any] | None,
        constant: str | None,
        fast: Callable[[Mapping[str, Any]], str] | None = None,
        *,
        attributes: frozenset[tuple[str, str]] = frozenset(),
        plain: Plain | None = None,
        localized: bool = False,
        reads: frozenset[str] | None = None,
    ) -> None:
        self.source, self.constant = source, constant
        self.reads = reads  # the names it reads from its scope, when known without Jinja2's code generator (names_read)
        self._fast, self._plain = fast, plain  # `plain`: the fast path's Python, compiled into `fast` when first used
        self.python = plain[0] if plain is not None else None  # that Python's text, kept (the rulebook writes it into its function)
        self._make, self._compiled = make, None
        self.attributes = attributes  # (name, key) pairs looked up, such as ("answers", "reason")
        self.localized = localized  # reads its reader (a date, a number, a plural): rendered within `reader.reading`

    @property
    def fast(self) -> Callable[[Mapping[str, Any]], str] | None:
        """The plain template's Python function, compiled on first use; None when Jinja2 renders the template."""
        plain = self._plain
        if plain is not None:
            self._fast = build_fast(plain)  # None only should Python refuse it: then Jinja2 renders it, as it would have
            self._plain = None
        return self._fast

    @property
    def compiled(self) -> Any:
        """The Jinja2 template, compiled on first use."""
        if self._compiled is None and self._make is not None:
            self._compiled = self._make()
        return self._compiled

    def render(self, scope: Mapping[str, Any]) -> str:
        """Render, turning every failure into an ExpressionError naming the text."""
        if self.constant is not None:
            return self.constant
        try:
            fast = self._fast if self._plain is None else self.fast
            if fast is not None:
                out = fast(scope)
            else:
                if isinstance(scope, LazyScope):  # Jinja2 copies the names it is given: every one computed first
                    scope = scope.complete(self.reads)  # those it reads, when known
                limits.fresh()
                out = bounds.joined(self.compiled.generate(scope), MAX_OUTPUT)
        except UndefinedError as exc:
            raise ExpressionError(f"{_short(self.source)}: {exc.message}") from exc
        except SecurityError as exc:
            raise ExpressionError(f"{_short(self.source)}: not allowed: {exc}") from exc
        except ExpressionError as exc:
            raise ExpressionError(f"{_short(self.source)}: {exc}") from exc
        except KeyError as exc:
            raise ExpressionError(f"{_short(self.source)}: there is no {exc.args[0]!r} here") from exc
        except TemplateError as exc:
            raise ExpressionError(f"{_short(self.source)}: {type(exc).__name__}: {exc}") from exc
        except (TypeError, ValueError, LookupError, ArithmeticError, AttributeError, RecursionError, MemoryError) as exc:
            raise ExpressionError(f"{_short(self.source)}: {python_failure(exc)}") from exc  # in our words, as a condition's are
        if len(out) > MAX_OUTPUT:
            raise ExpressionError(f"{_short(self.source)}: produced {len(out):,} characters; the limit is {MAX_OUTPUT:,}")
        return out


_TAGS = (
    "if",
    "elif",
    "else",
    "endif",
    "for",
    "endfor",
    "set",
    "endset",
    "macro",
    "endmacro",
    "call",
    "endcall",
    "filter",
    "endfilter",
    "with",
    "endwith",
    "raw",
    "endraw",
)


def _unclosed_line(env: DataSandbox, source: str, message: str | None) -> int:
    """For a block never closed, the line of its opening tag (Jinja2 reports the end of the text)."""
    innermost = re.search(r"The innermost block that needs to be closed is '(\w+)'", message or "")
    if not innermost or not (message or "").startswith("Unexpected end of template"):
        return 0
    opened: list[tuple[str, int]] = []
    tag: list[tuple[int, str, str]] | None = None
    try:
        for lineno, kind, value in env.lex(source):
            if kind == "block_begin":
                tag = []
            elif kind == "block_end" and tag is not None:
                words = [v for _, k, v in tag if k == "name"]
                if words and words[0].startswith("end") and opened:
                    opened.pop()
                elif words and words[0] not in ("elif", "else") and not (words[0] == "set" and any(v == "=" for _, _, v in tag)):
                    opened.append((words[0], tag[0][0]))
                tag = None
            elif tag is not None and kind != "whitespace":
                tag.append((lineno, kind, value))
    except TemplateSyntaxError:
        return 0
    blocks = [line for name, line in opened if name == innermost.group(1)]
    return blocks[-1] if blocks else 0


def _sentence(message: str | None) -> str:
    """Jinja2's syntax error in a few plain words, saying what to add or change."""
    text = (message or "not a valid template").strip()
    unknown = re.match(r"Encountered unknown tag '(\w+)'", text)
    innermost = re.search(r"The innermost block that needs to be closed is '(\w+)'", text)
    if unknown and unknown.group(1) in _TAGS:  # a tag Jinja2 knows, where it cannot stand: "did you mean" would name it again
        return _misplaced(unknown.group(1), text)
    if unknown:
        return f"unknown tag {{% {unknown.group(1)} %}}" + did_you_mean(unknown.group(1), _TAGS)
    if text.startswith("unexpected end of template, expected 'end of print statement'"):
        return "a {{ is never closed; add }} where its value ends"
    if text.startswith("unexpected end of template, expected 'end of statement block'"):
        return "a {% is never closed; add %} where its tag ends"
    printed = re.match(r"expected token 'end of print statement', got '(.*)'", text)
    if printed:
        return f"a {{{{ ... }}}} holds one value, but '{printed.group(1)}' follows it; add }}}} where the value ends"
    if innermost and text.startswith("Unexpected end of template"):
        block = innermost.group(1)
        return f"{{% {block} %}} is never closed; add {{% end{block} %}}"
    if text == "unexpected '}'":
        return "a single } closes nothing; close {{ with }}"
    text = text.rstrip(".")
    return text[:1].lower() + text[1:]


def _misplaced(tag: str, text: str) -> str:
    """A tag Jinja2 knows where it cannot stand: a closing or continuing tag that no open block takes."""
    innermost = re.search(r"The innermost block that needs to be closed is '(\w+)'", text)
    looking = re.search(r"Jinja was looking for the following tags: (.*?)\. ", text)
    closes = tag[3:] if tag.startswith("end") else None
    if innermost is not None:
        block = innermost.group(1)
        if closes:
            return f"{{% {tag} %}} closes no {{% {closes} %}}: the block open here is a {{% {block} %}}, which {{% end{block} %}} closes"
        takes = " or ".join(f"{{% {name} %}}" for name in re.findall(r"'(\w+)'", looking.group(1))) if looking else f"{{% end{block} %}}"
        return f"{{% {tag} %}} cannot come here: the {{% {block} %}} open here takes only {takes} next"
    if closes:
        return f"{{% {tag} %}} closes no {{% {closes} %}}; remove it, or open the block with {{% {closes} ... %}} before it"
    return f"{{% {tag} %}} continues an {{% if %}} (or a {{% for %}}), but none is open here; add the block it belongs to, or remove it"


def _reads_locale(env: DataSandbox, found: _Nodes) -> bool:
    """Whether a template writes something as its reader's locale does: a date or number filter, or a plural block."""
    for used in found.of(nodes.Filter):
        if reader.is_locale_filter(used.name, env.filters.get(used.name)):
            return True
    return any(isinstance(call.node, nodes.Name) and call.node.name == plurals.FUNCTION for call in found.of(nodes.Call))


_GETTEXT = {"gettext", "pgettext", "npgettext", "_"}  # what a {% trans %} block without a plural, or with a context, calls


def _keys_used(tree: nodes.Template, found: _Nodes | None = None) -> frozenset[tuple[str, str]]:
    """The keys looked up directly on a name: `answers.reason` gives ("answers", "reason")."""
    keys = set()
    for look in (found or _Nodes(tree)).of(nodes.Getattr, nodes.Getitem):
        key = look.attr if isinstance(look, nodes.Getattr) else getattr(look.arg, "value", None)
        if isinstance(look.node, nodes.Name) and isinstance(key, str):
            keys.add((look.node.name, key))
    return frozenset(keys)


class _Nodes:
    """Every node below a tree, in the order `tree.find_all` yields them (depth first, fields in order), found in one walk.

    Jinja2's `find_all` is a recursive generator, and the checks below would walk each
    tree once per kind of node they look for; this walks it once, without recursion.
    """

    __slots__ = ("nodes", "_by_kind", "_by_type")

    def __init__(self, tree: nodes.Node) -> None:
        found: list[nodes.Node] = []
        stack: list[nodes.Node] = [tree]
        node_class = nodes.Node
        while stack:
            node = stack.pop()
            found.append(node)
            for name in reversed(node.fields):  # pushed last to first, so that they come off the stack in order
                value = getattr(node, name, None)  # as Node.iter_fields does, a field never set is left out
                if isinstance(value, list):
                    stack.extend(item for item in reversed(value) if isinstance(item, node_class))
                elif isinstance(value, node_class):
                    stack.append(value)
        self.nodes = found[1:]  # find_all leaves the tree itself out
        self._by_kind: dict[tuple[type, ...], list[Any]] = {}
        self._by_type: dict[type, list[Any]] = {}  # the nodes of each class, in order: a tree holds a few classes
        for node in self.nodes:
            listed = self._by_type.get(type(node))
            if listed is None:
                self._by_type[type(node)] = [node]
            else:
                listed.append(node)

    def of(self, *kinds: type) -> list[Any]:
        """The nodes of these kinds, in order (as `tree.find_all(kinds)`): each class the tree holds is asked once."""
        listed = self._by_kind.get(kinds)
        if listed is None:
            classes = [cls for cls in self._by_type if issubclass(cls, kinds)]
            if not classes:
                listed = []
            elif len(classes) == 1:
                listed = self._by_type[classes[0]]
            else:  # nodes of several classes, in the tree's order
                listed = [node for node in self.nodes if type(node) in classes]
            self._by_kind[kinds] = listed
        return listed


def _short(source: str) -> str:
    source = " ".join(source.split())
    return repr(source if len(source) <= 60 else source[:57] + "...")


def _column(source: str, line: int, word: str, after: str = "") -> int:
    """The 1-based column of `word` as a name in `line` of `source` (not a key after a dot; after `after` when given), or 0."""
    lines = source.split("\n")
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    found = re.search(rf"(?<![\w.]){re.escape(after)}\s*\b({re.escape(word)})\b" if after else rf"(?<![\w.]){re.escape(word)}\b", text)
    if found is None:
        return 0
    return (found.start(1) if after else found.start()) + 1


def _check_tree(
    tree: nodes.Template,
    names: frozenset[str] | set[str],
    env: DataSandbox,
    fixed: Mapping[str, frozenset[str]] | None = None,
    found: _Nodes | None = None,
    source: str = "",
) -> None:
    """Refuse unknown top-level names, keys of `fixed` names, filters and dunder look-ups before anything runs.

    `source` (the text parsed) gives an unknown name its column: Jinja2's nodes carry only their line.
    """
    found = found or _Nodes(tree)
    assigned: set[str] = set()
    for node in found.of(nodes.Assign, nodes.AssignBlock, nodes.For, nodes.Macro, nodes.With, nodes.CallBlock, nodes.FilterBlock):
        for target in node.find_all(nodes.Name):
            if target.ctx in ("store", "param"):
                assigned.add(target.name)
        if isinstance(node, nodes.Macro):
            assigned.add(node.name)
        if isinstance(node, nodes.For):
            assigned.add("loop")
    for kind in (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport):
        first = next(iter(found.of(kind)), None)
        if first is not None:
            raise CompileError(f"{kind.__name__.lower()} is not allowed in a template; write the text out here", first.lineno)
    for call in found.of(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name in _GETTEXT and call.node.name not in names:
            raise CompileError(
                "a {% trans %} block here is a plural: give it count=... and a {% pluralize %} part, and no context"
                " (the whole text is translated already; a block is for the words that change with a number)",
                call.lineno,
            )
    known = set(names) | assigned | set(env.globals) | {"caller", "varargs", "kwargs"}
    for name in found.of(nodes.Name):
        if name.ctx == "load" and name.name not in known:
            raise CompileError(
                f"unknown name {name.name!r}{_suggest(name.name, known - {'caller', 'varargs', 'kwargs', plurals.FUNCTION}, 'names here are')}",
                name.lineno,
                _column(source, name.lineno, name.name),
            )
    for look in found.of(nodes.Getattr, nodes.Getitem):
        key = look.attr if isinstance(look, nodes.Getattr) else getattr(look.arg, "value", None)
        if isinstance(key, str) and key.startswith("_"):
            raise CompileError(f"{key!r} cannot be looked up: names starting with _ are not data", look.lineno)
        looked_in = look.node.name if isinstance(look.node, nodes.Name) and look.node.name not in assigned else None
        keys = (fixed or {}).get(looked_in or "")
        if looked_in is not None and keys is not None and isinstance(key, str) and key not in keys:
            raise CompileError(f"{looked_in} has no key {key!r}{_suggest(key, keys, f'keys of {looked_in} are')}", look.lineno)
    for used in found.of(nodes.Filter):
        if used.name not in env.filters or used.name.startswith("_"):
            raise CompileError(
                f"unknown filter {used.name!r}{_suggest(used.name, [f for f in env.filters if not f.startswith('_')], 'filters are')}",
                used.lineno,
                _column(source, used.lineno, used.name, after="|"),
            )
        _check_arguments(used, env.filters[used.name], used.name)
        if used.name in ATTRIBUTE_ARGUMENT:
            try:
                check_attribute_argument(used, *ATTRIBUTE_ARGUMENT[used.name])
            except CompileError as exc:
                raise CompileError(str(exc), used.lineno) from exc
        if reader.is_locale_filter(used.name, env.filters[used.name]):
            problem = reader.argument_problem(used)
            if problem:
                raise CompileError(problem, used.lineno)
    for tested in found.of(nodes.Test):
        if tested.name not in env.tests:
            raise CompileError(f"unknown test {tested.name!r}{_suggest(tested.name, env.tests, 'tests are')}", tested.lineno)
        _check_arguments(tested, env.tests[tested.name], f"the test {tested.name}")
    for call in found.of(nodes.Call):
        _check_arguments(call, None, getattr(call.node, "name", "this call"))


# where the attribute of a filter is given: (position after the value, keyword)
ATTRIBUTE_ARGUMENT: dict[str, tuple[int | None, str | None]] = {
    "map": (None, "attribute"),
    "selectattr": (0, None),
    "rejectattr": (0, None),
    "sort": (2, "attribute"),
    "join": (1, "attribute"),
    "sum": (0, "attribute"),
    "unique": (1, "attribute"),
    "min": (1, "attribute"),
    "max": (1, "attribute"),
    "groupby": (0, "attribute"),
}
_BLOCKS = (nodes.If, nodes.For, nodes.Macro, nodes.CallBlock, nodes.FilterBlock, nodes.With, nodes.AssignBlock, nodes.Scope, nodes.ScopedEvalContextModifier)


def _check_arguments(node: nodes.Filter | nodes.Test | nodes.Call, function: Any, name: str) -> None:
    """Keyword arguments that are names, each given once, and that the filter or test takes."""
    if isinstance(node, nodes.Filter) and name in ("map", "select", "reject", "selectattr", "rejectattr"):
        function = None  # they pass their extra arguments on to another filter or test
    problem = argument_problem(function, name, len(node.args), [str(k.key) for k in node.kwargs], applied=not isinstance(node, nodes.Call))
    if problem:
        raise CompileError(problem, node.lineno)


def _check_nesting(tree: nodes.Template) -> None:
    """Blocks nested at most MAX_BLOCKS deep (an {% elif %} is not nested), expressions at most MAX_DEPTH, finite numbers."""
    stack: list[tuple[nodes.Node, int, int]] = [(tree, 0, 0)]
    while stack:
        node, blocks, depth = stack.pop()
        if isinstance(node, nodes.Const) and isinstance(node.value, float) and not math.isfinite(node.value):
            raise CompileError("a number here is too large (the largest is about 1.8e308); write a smaller one", node.lineno)
        if isinstance(node, _BLOCKS):
            blocks += 1
            if blocks > MAX_BLOCKS:
                raise CompileError(f"blocks are nested more than {MAX_BLOCKS} levels deep; flatten them", node.lineno)
        if isinstance(node, nodes.Expr):
            depth += 1
            if depth > MAX_DEPTH:
                raise CompileError(f"an expression is nested more than {MAX_DEPTH} levels deep; flatten it", node.lineno)
        for field, value in node.iter_fields():
            children = value if isinstance(value, list) else [value]
            same_level = isinstance(node, nodes.If) and field == "elif_"
            stack.extend((child, blocks - 1 if same_level else blocks, depth) for child in children if isinstance(child, nodes.Node))


__all__ = ["Texts", "Template", "DataSandbox"]
