"""The names a source text reads, as the catalog check works them out (engine/conditions/translations.py `_reads`),
are exactly Jinja2's own answer (`meta.find_undeclared_variables`), on every text of the tests' project and on
templates that set, loop and define names (where the cheap reading must defer to Jinja2's)."""

from __future__ import annotations

import pytest
from conftest import PROJECT
from jinja2 import meta

from clientflow.conditions.program import load_project, program_of
from clientflow.conditions.translations import _reads
from clientflow.language import catalogs
from clientflow.language.code import Text

TRICKY = [
    "plain text, no name",
    "{{ client.name }} and {{ answers['reason'] }}",
    "{% if client.active and not answers.x %}{{ a | default(b) }}{% elif c is defined %}{{ d[1:2] }}{% endif %}",
    "{{ x }}{% set x = 1 %}{{ x }}",
    "{% set y = client.name %}{{ y }}",
    "{% for item in items %}{{ item }} {{ loop.index }} {{ other }}{% endfor %}",
    "{% macro m(a) %}{{ a }} {{ caller() if caller else b }}{% endmacro %}{{ m(c) }}",
    "{% with z = client %}{{ z.name }}{% endwith %}{{ z }}",
    "{{ range(3) | list }} {{ (a ~ b) * 2 }} {{ {'k': v}[key] }} {{ [p, q][0] }} {{ -n + +m }}",
    "{% filter upper %}{{ name }}{% endfilter %}",
    "{{ f(x, y=z) }} {{ g if h else i }}",
    "{% raw %}{{ not_a_name }}{% endraw %}{{ loop }} {{ caller }}",
    "{{ a.b.c }}{{ d['e'].f }}{{ g | join(h) }}{{ i is divisibleby(j) }}{{ k in l }}",
]


@pytest.fixture(scope="module")
def program():  # type: ignore[no-untyped-def]
    return program_of(load_project(PROJECT))


@pytest.mark.parametrize("source", TRICKY)
@pytest.mark.parametrize("html", [False, True])
def test_the_names_a_text_reads_are_jinja2s(program, source: str, html: bool) -> None:  # type: ignore[no-untyped-def]
    env = program.texts.html_env if html else program.texts.text_env
    assert _reads(program, Text(source, None, html)) == meta.find_undeclared_variables(env.parse(source))


def test_every_text_of_the_project_reads_what_jinja2_says(program) -> None:  # type: ignore[no-untyped-def]
    project = load_project(PROJECT)
    program = program_of(project)
    texts = [entry.text for entry in catalogs.entries(project)]
    assert sum("{{" in text.source for text in texts) > 20
    for text in texts:
        env = program.texts.html_env if text.html else program.texts.text_env
        assert _reads(program, text) == meta.find_undeclared_variables(env.parse(text.source)), text.source
