"""Plural blocks in texts: `{% trans count=N %}{{ count }} user{% pluralize %}{{ count }} users{% endtrans %}`.

A text is translated as a whole (engine/language/catalogs.py); a part of it whose words
change with a number is a plural block, read by Jinja2's i18n extension. Each block is a
gettext entry of its own, with a msgid (the form for one) and a msgid_plural, that a
translator gives as many forms as their language has (CLDR's rule, through Babel).
`configure` sets a Jinja2 environment up the way texts are compiled; `blocks` finds a
text's blocks, their words written as the template writes them (`{{ count }}`, where
Jinja2 itself says `%(count)s`).
"""

from __future__ import annotations

import re
from typing import Any

from ..plain import frozen

EXTENSION = "jinja2.ext.i18n"
EXTENSION_ID = "jinja2.ext.InternationalizationExtension"  # as an environment lists it once added
FUNCTION = "ngettext"  # what a plural block calls; nothing else of gettext is offered
_TAG = re.compile(r"\{%-?\s*trans\b")
_BLOCK = re.compile(r"\{%-?\s*trans\b.*?\{%-?\s*endtrans\s*-?%\}", re.DOTALL)
_TEMPLATE_NAME = re.compile(r"%|\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}")
_PYTHON_NAME = re.compile(r"%%|%\(([A-Za-z_][A-Za-z0-9_]*)\)s")
_parser: Any = None


@frozen
class Block:
    """One plural block of a text: the line it starts at (in the text) and its two forms, as written."""

    line: int
    singular: str
    plural: str


def configure(env: Any) -> None:
    """Read `{% trans %}` blocks as texts are compiled: whitespace folded (trimmed), values passed by name."""
    env.add_extension(EXTENSION)
    env.policies["ext.i18n.trimmed"] = True
    env.newstyle_gettext = True


def has_blocks(source: str) -> bool:
    """Whether a text may hold a plural block (a quick look, before any parsing)."""
    return "trans" in source and _TAG.search(source) is not None


def written(source: str) -> list[str]:
    """Each `{% trans %}...{% endtrans %}` of a text as written (white space folded): a translation keeps them."""
    return [" ".join(found.split()) for found in _BLOCK.findall(source)]


def blocks(source: str) -> list[Block]:
    """The plural blocks of a text, in order; none when it has none or does not parse (its compile says why)."""
    if not has_blocks(source):
        return []
    # Jinja (~30 ms) only for a text with plural blocks
    from jinja2 import Environment, TemplateSyntaxError
    from jinja2.ext import extract_from_ast

    global _parser
    if _parser is None:
        _parser = Environment(keep_trailing_newline=True, autoescape=True)  # parses only: nothing is rendered here
        configure(_parser)
    try:
        tree = _parser.parse(source)
    except (TemplateSyntaxError, RecursionError, ValueError):
        return []
    found = []
    for line, name, strings in extract_from_ast(tree, (FUNCTION,), babel_style=False):
        if name == FUNCTION and isinstance(strings, tuple) and len(strings) >= 2 and isinstance(strings[0], str) and isinstance(strings[1], str):
            found.append(Block(line, to_python_format(strings[0], back=True), to_python_format(strings[1], back=True)))
    return found


def to_python_format(text: str, *, back: bool = False) -> str:
    """A form as Jinja2 passes it (`%(count)s`, `%%`) from the template's way (`{{ count }}`, `%`); `back` the other way."""
    if back:
        return _PYTHON_NAME.sub(lambda m: "%" if m.group(1) is None else "{{ " + m.group(1) + " }}", text)
    return _TEMPLATE_NAME.sub(lambda m: "%%" if m.group(1) is None else f"%({m.group(1)})s", text)
