"""The names a source text reads, as the catalog check works them out without Jinja2's code generator
(engine/conditions/templates.py `names_read`, kept on each compiled text), are exactly Jinja2's own answer
(`meta.find_undeclared_variables`): on every text of the tests' project, and on templates that set, loop,
define names or hold plural blocks (where the cheap reading must defer to Jinja2's)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import PROJECT
from jinja2 import meta, nodes

from clientflow.conditions.program import load_project, program_of
from clientflow.conditions.templates import names_read
from clientflow.conditions.translations import _reads
from clientflow.language import catalogs

PLAIN = [
    "{{ client.name }} and {{ answers['reason'] }}",
    "{% if client.active and not answers.x %}{{ a | default(b) }}{% elif c is defined %}{{ d[1:2] }}{% endif %}",
    "{{ range(3) | list }} {{ (a ~ b) * 2 }} {{ {'k': v}[key] }} {{ [p, q][0] }} {{ -n + +m }}",
    "{{ f(x, y=z) }} {{ g if h else i }}",
    "{% raw %}{{ not_a_name }}{% endraw %}{{ loop }} {{ caller }}",
    "{{ a.b.c }}{{ d['e'].f }}{{ g | join(h) }}{{ i is divisibleby(j) }}{{ k in l }}",
]
NAMING = [  # names set, bound or defined: Jinja2 is asked
    "{{ x }}{% set x = 1 %}{{ x }}",
    "{% set y = client.name %}{{ y }}",
    "{% for item in items %}{{ item }} {{ loop.index }} {{ other }}{% endfor %}",
    "{% macro m(a) %}{{ a }} {{ caller() if caller else b }}{% endmacro %}{{ m(c) }}",
    "{% with z = client %}{{ z.name }}{% endwith %}{{ z }}",
    "{% filter upper %}{{ name }}{% endfilter %}",
]
PLURAL = [
    "{% trans count=n %}one {{ count }}{% pluralize %}{{ count }} of {{ who }}{% endtrans %}",
    "{% trans count=items | length, name=user.name %}{{ name }}: one{% pluralize %}{{ name }}: {{ count }}{% endtrans %}",
]


@pytest.fixture(scope="module")
def program() -> Any:
    return program_of(load_project(PROJECT))


def jinja2s(env: Any, source: str) -> set[str]:
    return set(meta.find_undeclared_variables(env.parse(source)))


@pytest.mark.parametrize("source", PLAIN + NAMING + PLURAL)
@pytest.mark.parametrize("html", [False, True], ids=["text", "html"])
def test_the_names_a_text_reads_are_jinja2s(program: Any, source: str, html: bool) -> None:
    env = program.texts.html_env if html else program.texts.text_env
    if source in PLURAL:
        env.allow_plurals()
    found = names_read(list(env.parse(source).find_all(nodes.Node)), env)
    if source in NAMING:
        assert found is None
    elif source in PLAIN:
        assert found is not None
    if found is not None:
        assert set(found) == jinja2s(env, source)


def test_every_text_of_the_project_reads_what_jinja2_says(program: Any) -> None:
    project = load_project(PROJECT)
    program = program_of(project)
    texts = [entry.text for entry in catalogs.entries(project)]
    known = [text for text in texts if "{" in text.source and program.template(text).reads is not None]
    assert len(known) > 20  # most texts are read without Jinja2's code generator
    for text in texts:
        env = program.texts.html_env if text.html else program.texts.text_env
        assert _reads(program, text) == (jinja2s(env, text.source) if "{" in text.source else set()), text.source
