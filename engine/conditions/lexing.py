"""Jinja2's tokens for the texts and conditions a project writes, found with one pattern; Jinja2's own parser reads them.

Parsing a text or a condition is about half lexing: Jinja2's lexer tries its rules one
by one at each position, through two generators. `tokens` gives the very tokens it
gives (type, value, line), in one pass, for what most texts are: words, `{{ }}` and
`{% %}` tags holding names, strings without a backslash, plain numbers, operators and
brackets. For anything else (a comment, whitespace control, a raw block, a brace or a
character outside ASCII within a tag, another syntax, a number Jinja2 reads otherwise,
an unclosed tag or bracket) it gives None, and Jinja2 lexes the source itself: the
parser, its tree and its errors are Jinja2's either way. tests/test_lexing.py compares
the tokens with Jinja2's lexer on every text of the shipped project and on hypothesis-made
sources.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import nodes
from jinja2.lexer import (
    TOKEN_BLOCK_BEGIN,
    TOKEN_BLOCK_END,
    TOKEN_DATA,
    TOKEN_FLOAT,
    TOKEN_INTEGER,
    TOKEN_NAME,
    TOKEN_STRING,
    TOKEN_VARIABLE_BEGIN,
    TOKEN_VARIABLE_END,
    Token,
    TokenStream,
    operators,
)
from jinja2.parser import Parser

# what only Jinja2's lexer reads as it should: a comment, whitespace control, a raw block, a carriage return
_ODD = re.compile(r"\{#|\{\{[-+]|\{%[-+]|-\}\}|[-+]%\}|\{%\s*raw|\r")
# one token inside a tag, in the order Jinja2's lexer tries its rules: the tag's end, whitespace, a float, an integer,
# a name, a string, an operator (the longest first). A number that runs on into something Jinja2 would read otherwise
# (`1.5.2`, `1e3`, `01`, `x.1.5`) matches nothing, nor does a character outside ASCII (a name going on in such letters).
_TAG = re.compile(
    r"(?P<end>\}\}|%\})"
    r"|(?P<ws>[ \t\n\x0b\x0c]+)"
    r"|(?P<float>(?<!\.)\d+\.\d+)(?![\w.])"
    r"|(?P<integer>[1-9]\d*|0)(?![\w.])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<string>'[^'\\]*'|\"[^\"\\]*\")"
    r"|(?P<op>//|\*\*|==|!=|>=|<=|[-+/*%~\[\]().:|,;=<>])"
)
_CLOSES = {")": "(", "]": "["}
_DEFAULT_SYNTAX = ("{%", "%}", "{{", "}}", "{#", "#}", None, None)


def tokens(env: Any, source: str, state: str = "root") -> list[Token] | None:
    """The tokens Jinja2's lexer gives for `source` in `env` (`state`: "root", a text; "variable", a condition), or None."""
    if _ODD.search(source) is not None or not _plain(env):
        return None
    if state == "root" and not env.keep_trailing_newline and source.endswith("\n"):
        return None  # Jinja2 drops the last line break first
    out: list[Token] = []
    append = out.append
    lineno, pos, size = 1, 0, len(source)
    end: str | None = None  # the end of the tag being read ("}}" or "%}"); None at the top of a text, or in a condition
    within = state == "variable"
    opened: list[str] = []
    while True:
        if not within:
            variable, block = source.find("{{", pos), source.find("{%", pos)
            at = min(variable, block) if variable >= 0 and block >= 0 else max(variable, block)
            data = source[pos:] if at < 0 else source[pos:at]
            if data:
                append(Token(lineno, TOKEN_DATA, data))
                lineno += data.count("\n")
            if at < 0:
                return out
            end = "}}" if at == variable else "%}"
            append(Token(lineno, TOKEN_VARIABLE_BEGIN if end == "}}" else TOKEN_BLOCK_BEGIN, source[at : at + 2]))
            pos, within = at + 2, True
            continue
        match = _TAG.match(source, pos)
        if match is None:
            if pos >= size and end is None:  # a condition read to its end
                return out
            return None  # a character Jinja2 reads otherwise, or a tag left open
        kind, text = match.lastgroup, match.group()
        pos = match.end()
        if kind == "ws":
            lineno += text.count("\n")
        elif kind == "end":
            if text != end or opened:
                return None
            append(Token(lineno, TOKEN_VARIABLE_END if text == "}}" else TOKEN_BLOCK_END, text))
            within, end = False, None
        elif kind == "name":
            append(Token(lineno, TOKEN_NAME, text))
        elif kind == "string":
            append(Token(lineno, TOKEN_STRING, text[1:-1]))
            lineno += text.count("\n")
        elif kind == "integer":
            append(Token(lineno, TOKEN_INTEGER, int(text)))  # type: ignore[arg-type]  # a number's value, as Jinja2's lexer gives it
        elif kind == "float":
            append(Token(lineno, TOKEN_FLOAT, float(text)))  # type: ignore[arg-type]
        else:
            if text in "([":
                opened.append(text)
            elif text in ")]" and (not opened or opened.pop() != _CLOSES[text]):
                return None  # Jinja2 says which bracket it expected
            append(Token(lineno, operators[text], text))


def _plain(env: Any) -> bool:
    """Whether `env` reads texts with Jinja2's default syntax, and its extensions leave sources and tokens as they are."""
    syntax = (
        env.block_start_string, env.block_end_string, env.variable_start_string, env.variable_end_string,
        env.comment_start_string, env.comment_end_string, env.line_statement_prefix, env.line_comment_prefix,
    )  # fmt: skip
    if syntax != _DEFAULT_SYNTAX or env.trim_blocks or env.lstrip_blocks or env.newline_sequence != "\n":
        return False
    if not env.extensions:
        return True
    from jinja2.ext import Extension  # loaded only once a text has plural blocks (the only extension a sandbox gets)

    return all(type(e).preprocess is Extension.preprocess and type(e).filter_stream is Extension.filter_stream for e in env.extensions.values())


def parser(env: Any, source: str, state: str = "root") -> Parser | None:
    """Jinja2's parser of `source`, reading the tokens `tokens` found; None when they are Jinja2's lexer's to find."""
    found = tokens(env, source, state)
    if found is None:
        return None
    made = Parser(env, "", state=None if state == "root" else state)  # nothing to lex: its stream is replaced
    made.stream = TokenStream(iter(found), None, None)
    return made


def parse(env: Any, source: str) -> nodes.Template:
    """`env.parse(source)`: the same tree, or the same error, which Jinja2 raises by parsing the source itself."""
    made = parser(env, source)
    if made is not None:
        try:
            return made.parse()
        except Exception:  # noqa: BLE001, S110 - the same tokens fail the same way: Jinja2 raises its error as it does
            pass
    return env.parse(source)


__all__ = ["tokens", "parser", "parse"]
