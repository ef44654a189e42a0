"""Texts and conditions are lexed in one pass (engine/conditions/lexing.py, a start-up cost) and read by Jinja2's own
parser: the tokens must be Jinja2's lexer's, type for type, value for value and line for line, or None (Jinja2 lexes).
Compared on every text and condition of the tests' project, on texts written out below and on hypothesis-made sources
of the characters that matter to Jinja2's syntax; a source Jinja2 cannot lex is never taken; the trees and errors of
`lexing.parse` are `env.parse`'s."""

from __future__ import annotations

from typing import Any

from conftest import PROJECT
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import Environment
from jinja2.exceptions import TemplateSyntaxError
from test_simple_tree import same

from clientflow.conditions import lexing
from clientflow.conditions.expressions import _PARSE_ENV
from clientflow.conditions.expressions import parse as parse_condition
from clientflow.conditions.templates import Texts
from clientflow.errors import CompileError

TEXTS = Texts()
ENVS = [TEXTS.text_env, TEXTS.html_env]
TAKEN = [
    "{{ client.name }} will be deleted on {{ deletion_at | format_date('long') }}",
    "{% if deletion_grace %}{{ client.name }} will go{% else %}gone{% endif %}\n",
    "Hello {{ lookup('user', answers.owner).name }},\n\n{{ partner.name }} has removed {{ client.name }}.\n",
    "{{ 'yes' if answers.notify_client and emails else 'no' }}",
    "{{ (a or b) | format_date('long') }} {{ a[0] }} {{ x.1 }} {{ 1.5 * 2 // 3 ** 4 }} {{ a != b }} {{ a ~ b }}",
    "{% for x in items %}{{ loop.index }}: {{ x }}{% endfor %}",
    "{{ '}}' }} and {{ \"%}\" }} {{ 'a\nb' }}\n{{ c }}",
    "{% trans count=n %}one{% pluralize %}{{ count }} many{% endtrans %}",
    "{{ a }} }} %} stray closers in the words",
]
LEFT = [
    "{# a comment #}{{ a }}",
    "{{- a }}",
    "{{ a -}}",
    "{%- if a %}{% endif %}",
    "{% if a -%}{% endif %}",
    "{% raw %}{{ a }}{% endraw %}",
    "a\r\nb {{ c }}",
    "{{ {'a': 1} }}",
    "{{ 'a\\'b' }}",
    "{{ 'a\\nb' }}",
    "{{ 'é\\u00e9' }}",
    "{{ 1e3 }}",
    "{{ 01 }}",
    "{{ 1.5.2 }}",
    "{{ x.1.5 }}",
    "{{ café }}",
    "{{ a $ b }}",
    "{{ a",
    "{{ (a }}",
    "{{ a) }}",
    "{{ a] }}",
    "{% if a }}",
]
CONDITIONS = ["a == 1", "partner is not none and 'settings' in partner", "not (a or b) and c[0] | length > 2", "x.y.z", "  a\n== b  \n"]


def jinja_tokens(env: Any, source: str, state: str = "root") -> list[Any] | None:
    """Jinja2's tokens (eof left out), or None when its lexer refuses the source."""
    try:
        return list(env.lexer.tokenize(source, None, None, None if state == "root" else state))
    except TemplateSyntaxError:
        return None


def _project_sources() -> tuple[list[str], list[str]]:
    """Every text and condition the tests' project's check parses (the `{` texts and the conditions' sources)."""
    from clientflow.conditions.program import load_project
    from clientflow.language.project import Extensions
    from clientflow.plugins import Registry

    registry = Registry.collect()
    project = load_project(PROJECT, Extensions(registry.functions, registry.filters, registry.effects))
    texts = [template.source for template in project.program._templates.values() if "{" in template.source]
    conditions = [expression.source for expression in project.program._expressions.values()]
    return texts, conditions


def test_the_projects_texts_and_conditions_lex_as_jinja2_lexes_them() -> None:
    texts, conditions = _project_sources()
    assert len(texts) > 50 and len(conditions) > 20
    for env in ENVS:
        for source in texts + TAKEN:
            assert lexing.tokens(env, source) == jinja_tokens(env, source), source
        for source in LEFT:
            assert lexing.tokens(env, source) is None, source
    for source in conditions + CONDITIONS:
        assert lexing.tokens(_PARSE_ENV, source, "variable") == jinja_tokens(_PARSE_ENV, source, "variable"), source


def test_the_trees_and_errors_are_jinja2s() -> None:
    texts, conditions = _project_sources()
    for env in ENVS:
        for source in [*texts, *TAKEN, "{% if a %}never closed", "{{ a b }}", "{% endif %}", "{{ a | }}"]:
            try:
                want: Any = env.parse(source)
            except TemplateSyntaxError as exc:
                want = (exc.message, exc.lineno, str(exc))
            try:
                got: Any = lexing.parse(env, source)
            except TemplateSyntaxError as exc:
                got = (exc.message, exc.lineno, str(exc))
            assert same(got, want) if not isinstance(want, tuple) else got == want, source
    for source in [*conditions, *CONDITIONS, "a b", "a ==", "(a", "a = 1", "a.", "}}"]:
        try:
            tree: Any = parse_condition(source)
        except CompileError as exc:
            tree = str(exc)
        assert isinstance(tree, str) or tree.lineno >= 1


_TEXT = "{}%#'\" \n\t.|()[]-+~*/=<>!,:_ab1é\\"
_WORDS = st.sampled_from(
    ["{{", "}}", "{%", "%}", "if", "endif", "else", "a", "b.c", "'s'", '"t"', "1", "2.5", "(", ")", "[", "]", " | f", " ", "\n", "x", "é", "-", "not"]
)


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(st.one_of(st.text(alphabet=_TEXT, max_size=30), st.lists(_WORDS, max_size=16).map("".join)))
def test_a_source_lexes_as_jinja2_lexes_it_or_is_left_to_jinja2(source: str) -> None:
    for env, state in ((ENVS[0], "root"), (ENVS[1], "root"), (_PARSE_ENV, "variable")):
        mine = lexing.tokens(env, source, state)
        if mine is not None:  # taken: Jinja2 lexes it too, to the same tokens
            assert mine == jinja_tokens(env, source, state), (source, state)


def test_an_environment_of_another_syntax_is_left_to_jinja2() -> None:
    assert lexing.tokens(Environment(variable_start_string="<<", variable_end_string=">>"), "{{ a }}") is None
    assert lexing.tokens(Environment(trim_blocks=True), "{% if a %}\nb{% endif %}") is None
    assert lexing.tokens(Environment(), "{{ a }}\n") is None  # without keep_trailing_newline, Jinja2 drops the last line break
    assert lexing.tokens(Environment(keep_trailing_newline=True), "{{ a }}\n") is not None
