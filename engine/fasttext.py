"""Plain templates compiled to Python, like conditions: no Jinja2 context per render.

Most texts are text with `{{ expressions }}` and `{% if %}` blocks. Those are
translated with the condition translator (data look-ups, allow-listed filters,
bounded arithmetic, nothing else) into one Python function that joins strings,
escaping expression output in HTML templates exactly as Jinja2's autoescape
does. Anything else (loops, macros, assignments, filters outside the
condition allow-list, `safe`) returns None, and Jinja2's sandbox renders it.
Both paths print values as Jinja2 does (`str()`; none prints as None), and
within the same bounds (engine/limits.py): a value is measured before it is
printed, and the parts before they are joined.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import nodes
from markupsafe import escape

from . import limits
from .errors import ExpressionError
from .expressions import CompileError, Compiler, _Translator, generated
from .limits import MAX_OUTPUT

_UNSAFE_FILTERS = {"safe", "escape", "e", "forceescape", "tojson"}


_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})


def _html(value: Any) -> str:
    """What Jinja2's autoescape prints for a value: the same five characters escaped."""
    if type(value) is str:
        if "&" in value or "<" in value or ">" in value or '"' in value or "'" in value:
            return limits.sized(value.translate(_ESCAPES))  # type: ignore[no-any-return]
        return value
    if hasattr(value, "__html__"):
        limits.text_size(value)
        return limits.sized(str(escape(value)))  # type: ignore[no-any-return]
    return limits.sized(limits.text(value).translate(_ESCAPES))  # type: ignore[no-any-return]


def _joined(parts: list[str] | tuple[str, ...]) -> str:
    """The rendered text, its size known before it is joined."""
    size = sum(map(len, parts))
    if size > MAX_OUTPUT:
        raise ExpressionError(f"produced {size:,} characters; the limit is {MAX_OUTPUT:,}")
    return "".join(parts)


class _NotPlain(Exception):
    """The template uses something only Jinja2 can render."""


def compile_fast(compiler: Compiler, tree: nodes.Template, names: frozenset[str], *, html: bool) -> Callable[[Mapping[str, Any]], str] | None:
    """A Python function rendering `tree`, or None when it is not a plain template."""
    translator = _Translator(compiler, names)
    try:
        body = _statements(tree.body, translator, "_h" if html else "_t")
    except (_NotPlain, CompileError):
        return None
    if all(line.startswith("add(") for line in body):  # no branches: one join of the parts
        parts = ", ".join(line[4:-1] for line in body)
        source = f"def _render(s):\n    _fresh()\n    return _joined(({parts},))\n"
    else:
        source = "def _render(s):\n    _fresh()\n    out = []\n    add = out.append\n" + _indent(body or ["pass"], 1) + "    return _joined(out)\n"
    namespace = dict(compiler.namespace)
    namespace["_t"], namespace["_h"], namespace["_joined"] = limits.text, _html, _joined
    try:
        code = generated(source, "<template>")
    except CompileError:
        return None  # Jinja2 compiles it, or says why it cannot
    exec(code, namespace)  # noqa: S102 - built only from the allow-listed translation
    function: Callable[[Mapping[str, Any]], str] = namespace["_render"]
    return function


def _indent(lines: list[str], depth: int) -> str:
    return "".join("    " * depth + line + "\n" for line in lines)


def _statements(body: list[nodes.Node], translator: _Translator, out: str) -> list[str]:
    lines: list[str] = []
    for node in body:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData):
                    if child.data:
                        lines.append(f"add({child.data!r})")
                else:
                    _check(child)
                    lines.append(f"add({out}({translator.visit(child, 0)}))")
        elif isinstance(node, nodes.If):
            _check(node.test)
            lines.append(f"if {translator.visit(node.test, 0)}:")
            lines.extend("    " + line for line in (_statements(node.body, translator, out) or ["pass"]))
            for branch in node.elif_:
                _check(branch.test)
                lines.append(f"elif {translator.visit(branch.test, 0)}:")
                lines.extend("    " + line for line in (_statements(branch.body, translator, out) or ["pass"]))
            if node.else_:
                lines.append("else:")
                lines.extend("    " + line for line in (_statements(node.else_, translator, out) or ["pass"]))
        else:
            raise _NotPlain(type(node).__name__)
    return lines


def _check(node: nodes.Node) -> None:
    for found in node.find_all(nodes.Filter):
        if found.name in _UNSAFE_FILTERS:
            raise _NotPlain(found.name)
    if isinstance(node, nodes.CondExpr) and node.expr2 is None:
        raise _NotPlain("inline if without else")  # Jinja2 makes it undefined: let it say so
    for condition in node.find_all(nodes.CondExpr):
        if condition.expr2 is None:
            raise _NotPlain("inline if without else")
