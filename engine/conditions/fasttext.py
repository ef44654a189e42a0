"""Plain templates compiled to Python, like conditions: no Jinja2 context per render.

Most texts are text with `{{ expressions }}` and `{% if %}` blocks. Those are
translated with the condition translator (data look-ups, allow-listed filters,
bounded arithmetic, nothing else) into one Python function that joins strings,
escaping expression output in HTML templates exactly as Jinja2's autoescape
does. Anything else (loops, macros, assignments, filters outside the
condition allow-list, `safe`) returns None, and Jinja2's sandbox renders it.
Both paths print values as Jinja2 does (`str()`; none prints as None), and
within the same bounds (engine/conditions/limits.py): a value is measured before it is
printed, and the parts before they are joined.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from jinja2 import nodes
from markupsafe import escape

from ..errors import ExpressionError
from ..language import plurals
from . import limits
from .expressions import CompileError, Compiler, _Translator, generated
from .limits import MAX_OUTPUT
from .reader import FREE_VALUES, plural_block, plural_function

_UNSAFE_FILTERS = {"safe", "escape", "e", "forceescape", "tojson"}


_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})


def _html(value: Any) -> str:
    """What Jinja2's autoescape prints for a value: the same five characters escaped (measured first)."""
    if type(value) is str:
        if "&" in value or "<" in value or ">" in value or '"' in value or "'" in value:
            if len(value) > MAX_OUTPUT:
                _too_long(len(value))
            return value.translate(_ESCAPES)
        return value
    limits.text_size(value, MAX_OUTPUT)
    if hasattr(value, "__html__"):
        return str(escape(value))
    return str(value).translate(_ESCAPES)


def _text(value: Any) -> str:
    """What Jinja2 prints for a value that is not a text, measured before it is printed (a number prints short)."""
    if value.__class__ not in limits.FLAT:
        limits.text_size(value, MAX_OUTPUT)
    return str(value)


def _too_long(size: int) -> None:
    raise ExpressionError(f"produced {size:,} characters; the limit is {MAX_OUTPUT:,}")


class _NotPlain(Exception):
    """The template uses something only Jinja2 can render."""


_Block = tuple[str, str, tuple[str, ...], tuple[bool, ...]]  # a plural block: its two forms, its names, which are not the count
Plain = tuple[str, dict[str, Any]]  # a plain template's Python source, and the names it may call


def translate_fast(compiler: Compiler, tree: nodes.Template, names: frozenset[str], *, html: bool, found: Sequence[nodes.Node] | None = None) -> Plain | None:
    """The Python source of a function rendering `tree`, with its namespace, or None when it is not a plain template.

    The function keeps a running count of the characters it has produced and
    stops as soon as it passes MAX_OUTPUT, so what it builds is bounded
    without a budget; only templates whose expressions call the bounded
    helpers (`*`, `~`, filters that build) start one (`_fresh()`).
    `found`, every node of the tree when the caller has walked it already, lets
    the expressions be checked in one pass instead of one walk each.
    The translation keeps within Python's limits (expressions at most MAX_DEPTH deep,
    each level a few brackets; no loops; blocks as deep as the template's, which
    `templates._check_nesting` bounds), so compiling it does not fail.
    """
    translator = _Translator(compiler, names, text=True)
    blocks: list[_Block] = []
    try:
        if found is not None:
            for node in found:  # every expression of a plain template is below an output or a test: the same as checking each
                _check_node(node)
        flat = _flat(tree.body, translator, html, blocks, checked=found is not None)
        body = _statements(tree.body, translator, html, blocks, checked=found is not None) if flat is None else flat
    except (_NotPlain, CompileError):
        return None
    # a text whose plural blocks are all it spends the budget on, with few enough values that they cannot run it out
    # (limits.MAX_BUILT, see reader.FREE_VALUES), fills them in without counting them: the same text or the same error
    free = not translator.costly and sum(len(block[2]) for block in blocks) <= FREE_VALUES
    alone = free and len(blocks) == 1  # the budget is then started by the block, should it spend (reader.plural_block)
    fresh = ["    _fresh()"] if translator.costly or (blocks and not alone) else []
    if flat is not None:
        source = "\n".join(["def _render(s):", *fresh]) + "\n" + _indent(flat, 1)
    else:
        head = ["def _render(s):", *fresh, "    out = []", "    add = out.append", "    n = 0"]
        source = "\n".join(head) + "\n" + _indent(body, 1) + f"    if n > {MAX_OUTPUT}:\n        _too_long(n)\n    return _join(out)\n"
    namespace = dict(compiler.namespace)
    namespace.update(_t=_text, _h=_html, _too_long=_too_long, _str=str, _len=len, _join="".join, _plural=plural_function(html))
    for i, (singular, plural, keys, given) in enumerate(blocks):
        namespace[f"_plural{i}"] = plural_block(singular, plural, keys, given, html=html, free=free, alone=alone)
    return source, namespace


def build_fast(plain: Plain) -> Callable[[Mapping[str, Any]], str] | None:
    """The function a translation defines, compiled; None should Python refuse it (Jinja2 then renders the template)."""
    source, namespace = plain
    try:
        code = generated(source, "<template>")
    except CompileError:
        return None  # Jinja2 compiles it, or says why it cannot
    exec(code, namespace)  # noqa: S102 - built only from the allow-listed translation
    function: Callable[[Mapping[str, Any]], str] = namespace["_render"]
    return function


def _indent(lines: list[str], depth: int) -> str:
    return "".join("    " * depth + line + "\n" for line in lines)


def _statements(body: list[nodes.Node], translator: _Translator, html: bool, blocks: list[_Block], *, checked: bool = False) -> list[str]:
    """The lines rendering `body`; `checked`: its expressions were checked already (`_check_node` on every node)."""
    lines: list[str] = []
    for node in body:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData):
                    if child.data:
                        lines += [f"add({child.data!r})", f"n += {len(child.data)}"]
                else:
                    if not checked:
                        _check(child)
                    value = _value(child, translator, blocks)
                    convert = ["_v = _h(_v)"] if html else ["if _type(_v) is not _str:", "    _v = _t(_v)"]
                    lines += [f"_v = {value}", *convert, "n += _len(_v)", f"if n > {MAX_OUTPUT}:", "    _too_long(n)", "add(_v)"]
        elif isinstance(node, nodes.If):
            if not checked:
                _check(node.test)
            lines.append(f"if {translator.visit(node.test, 0)}:")
            lines.extend("    " + line for line in (_statements(node.body, translator, html, blocks, checked=checked) or ["pass"]))
            for branch in node.elif_:
                if not checked:
                    _check(branch.test)
                lines.append(f"elif {translator.visit(branch.test, 0)}:")
                lines.extend("    " + line for line in (_statements(branch.body, translator, html, blocks, checked=checked) or ["pass"]))
            if node.else_:
                lines.append("else:")
                lines.extend("    " + line for line in (_statements(node.else_, translator, html, blocks, checked=checked) or ["pass"]))
        else:
            raise _NotPlain(type(node).__name__)
    return lines


def _flat(body: list[nodes.Node], translator: _Translator, html: bool, blocks: list[_Block], *, checked: bool = False) -> list[str] | None:
    """The lines rendering a text as one f-string of its values (None when it has anything but outputs and `{% if %}` blocks).

    The values are computed, converted and counted in the same order, against the same
    limit, as `_statements` does; only the joining differs (no list, one string built).
    An `{% if %}` block is one value of the f-string: the text of the branch taken, made
    the same way within it (a branch that shows nothing: the empty text).
    """
    if not all(isinstance(node, (nodes.Output, nodes.If)) for node in body):
        return None
    flat = _Flat(translator, html, blocks, checked)
    text = flat.parts(body)
    if not flat.values:
        return None  # a text without values is a constant: `Texts` never asks
    lines = flat.lines
    if flat.unchecked and not flat.pending:  # text counted in a block since the last value: checked here, as `_statements` does
        lines += [f"if n > {MAX_OUTPUT}:", "    _too_long(n)"]
    elif flat.pending and flat.checked_in is lines and flat.checked_at == len(lines):  # the text after the last value, counted
        # with it: one check, refusing with the count the first of the two checks would have refused with
        pending = flat.pending
        lines[-3:] = [f"{lines[-3]} + {pending}", f"if n > {MAX_OUTPUT}:", f"    _too_long(n - {pending} if n - {pending} > {MAX_OUTPUT} else n)"]
    elif flat.pending:
        lines += [f"n += {flat.pending}", f"if n > {MAX_OUTPUT}:", "    _too_long(n)"]
    lines.append("return f" + repr(text))
    return lines


class _Flat:
    """`_flat`'s lines, made part by part: the values so far (`_v0`, `_v1`...) and the characters not counted yet."""

    def __init__(self, translator: _Translator, html: bool, blocks: list[_Block], checked: bool) -> None:
        self.translator, self.html, self.blocks, self.checked = translator, html, blocks, checked
        self.lines: list[str] = []
        self.values = 0
        self.pending = 0  # characters of text not counted yet
        self.blocks_seen = False  # whether an `{% if %}` was seen (`n` is then started at the first, if no value did)
        self.unchecked = False  # whether text was counted since the last value was (in a block: checked with what follows)
        self.checked_in: list[str] | None = None  # the lines the last value's check ends, and where
        self.checked_at = 0

    def parts(self, body: list[nodes.Node]) -> str:
        """Lines computing `body`'s values (added to `self.lines`), and the f-string body joining them."""
        text: list[str] = []  # text with its braces doubled, and {_vK}
        for node in body:
            if isinstance(node, nodes.If):
                text.append("{" + self.block(node) + "}")
                continue
            if not isinstance(node, nodes.Output):
                raise _NotPlain(type(node).__name__)  # a loop, an assignment...: Jinja2 renders the text
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData):
                    self.pending += len(child.data)
                    text.append(child.data.replace("{", "{{").replace("}", "}}"))
                    continue
                if not self.checked:
                    _check(child)
                v = self.value()
                convert = [f"{v} = _h({v})"] if self.html else [f"if _type({v}) is not _str:", f"    {v} = _t({v})"]
                counted = f"{self.pending} + _len({v})" if self.pending else f"_len({v})"
                started = self.values > 1 or self.blocks_seen
                self.lines += [f"{v} = {_value(child, self.translator, self.blocks)}", *convert, f"n += {counted}" if started else f"n = {counted}"]
                self.lines += [f"if n > {MAX_OUTPUT}:", "    _too_long(n)"]
                self.checked_in, self.checked_at = self.lines, len(self.lines)
                text.append("{" + v + "}")
                self.pending, self.unchecked = 0, False
        return "".join(text)

    def value(self) -> str:
        self.values += 1
        return f"_v{self.values - 1}"

    def block(self, node: nodes.If) -> str:
        """An `{% if %}` block as one value: its tests in order, each branch's text made in its own lines."""
        if not self.blocks_seen and not self.values:
            self.lines.append(f"n = {self.pending}")  # counted as `_statements` counts text: added, checked with the next value
        elif self.pending:
            self.lines.append(f"n += {self.pending}")
        self.blocks_seen, self.pending = True, 0
        v = self.value()
        branches = [(node.test, node.body), *((branch.test, branch.body) for branch in node.elif_)]
        outer = self.lines
        for k, (test, branch) in enumerate(branches):
            if not self.checked:
                _check(test)
            outer.append(f"{'if' if k == 0 else 'elif'} {self.translator.visit(test, 0)}:")
            outer += ["    " + line for line in self.branch(branch, v)]
        outer.append("else:")
        outer += ["    " + line for line in self.branch(node.else_, v)]
        self.lines, self.unchecked = outer, True
        return v

    def branch(self, body: list[nodes.Node], v: str) -> list[str]:
        """The lines of one branch, ending with `v` set to its text."""
        outer, self.lines = self.lines, []
        before = self.values
        text = self.parts(body)
        if self.pending:
            self.lines.append(f"n += {self.pending}")
            self.pending = 0
        if text == "{_v" + str(before) + "}" and self.values == before + 1:  # one value alone: that value
            self.lines.append(f"{v} = _v{before}")
        elif self.values > before:  # values in it: an f-string of them
            self.lines.append(f"{v} = f{text!r}")
        else:  # text alone: the text itself
            self.lines.append(f"{v} = {_data(body)!r}")
        lines, self.lines = self.lines, outer
        return lines


def _data(body: list[nodes.Node]) -> str:
    """The text of a branch holding text alone (its outputs' text)."""
    return "".join(child.data for node in body if isinstance(node, nodes.Output) for child in node.nodes if isinstance(child, nodes.TemplateData))


def _value(node: nodes.Node, translator: _Translator, blocks: list[_Block]) -> str:
    """The Python of one printed value: an expression, or a plural block's call (`{% trans count=N %}`: the reader's form, filled in).

    A block becomes its own function (`reader.plural_block`, added to `blocks`), called with the count and
    the values of its names, each computed once in the order written (a name given as the count itself, as
    `count=` is, is not computed twice). Whether the text spends a budget is decided once every value is seen:
    `translator.costly` says what else it spends on, the blocks themselves not counted.
    """
    if (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Name)
        and node.node.name == plurals.FUNCTION
        and len(node.args) == 3
        and all(isinstance(arg, nodes.Const) and isinstance(arg.value, str) for arg in node.args[:2])
        and node.dyn_args is None
        and node.dyn_kwargs is None
        and all(keyword.key.isidentifier() for keyword in node.kwargs)
    ):
        singular, plural = (arg.value for arg in node.args[:2] if isinstance(arg, nodes.Const))
        keys = tuple(keyword.key for keyword in node.kwargs)
        if len(set(keys)) != len(keys):
            raise _NotPlain("a name given twice")  # Jinja2 says so
        count = translator.visit(node.args[2], 0)
        values = [translator.visit(keyword.value, 0) for keyword in node.kwargs]
        given = tuple(value != count for value in values)  # False: the same expression as the count, passed once
        blocks.append((singular, plural, keys, given))
        passed = "".join(f", {value}" for value, own in zip(values, given, strict=True) if own)
        return f"_plural{len(blocks) - 1}({count}{passed})"
    return translator.visit(node, 0)


def _check(node: nodes.Node) -> None:
    _check_node(node)
    for found in node.find_all((nodes.Filter, nodes.CondExpr)):
        _check_node(found)


def _check_node(node: nodes.Node) -> None:
    """What only Jinja2 renders as it should: a filter that marks or escapes text, an inline if without else (undefined)."""
    if isinstance(node, nodes.Filter) and node.name in _UNSAFE_FILTERS:
        raise _NotPlain(node.name)
    if isinstance(node, nodes.CondExpr) and node.expr2 is None:
        raise _NotPlain("inline if without else")  # Jinja2 makes it undefined: let it say so
