"""engine/conditions/templates.py: texts see data and nothing else; HTML is escaped; every bound holds."""

from __future__ import annotations

from typing import Any

import pytest

from clientflow.conditions.expressions import CompileError, DataFunction
from clientflow.conditions.templates import MAX_LOOP, MAX_OUTPUT, Texts
from clientflow.errors import ExpressionError

NAMES = frozenset({"actor", "client", "answers", "product", "lookup"})
SCOPE: dict[str, Any] = {
    "actor": {"name": "Alice Admin", "email": "alice@northwind.example"},
    "client": {"id": "c1", "name": "Acme <b>Ltd</b> & Co", "users": [{"name": "Carla"}, {"name": "Dev"}]},
    "answers": {"owner": "cu1", "notify_client": True},
    "product": {"name": "Bookkeeping Platform"},
    "lookup": DataFunction("lookup", lambda entity, id: {"name": "Carla Diaz"} if id == "cu1" else None),
}


def render(source: str, *, html: bool = False, scope: dict[str, Any] | None = None) -> str:
    return Texts().compile(source, NAMES, html=html).render(SCOPE if scope is None else scope)


def refused(source: str, *, html: bool = False) -> CompileError:
    with pytest.raises(CompileError) as raised:
        Texts().compile(source, NAMES, html=html)
    return raised.value


def failing(source: str, *, html: bool = False) -> str:
    template = Texts().compile(source, NAMES, html=html)
    with pytest.raises(ExpressionError) as raised:
        template.render(SCOPE)
    return str(raised.value)


def test_texts_render_data() -> None:
    text = "Hello {{ actor.name }}, {{ client.users | map(attribute='name') | join(' and ') }} use {{ product.name }}."
    assert render(text) == "Hello Alice Admin, Carla and Dev use Bookkeeping Platform."
    assert render("{% if answers.notify_client %}told{% else %}silent{% endif %}") == "told"
    assert render("{% for user in client.users %}{{ loop.index }}.{{ user.name }} {% endfor %}") == "1.Carla 2.Dev "
    assert render("{% for user in client.users %}{{ user.name }}{{ '' if loop.last else ', ' }}{% endfor %}") == "Carla, Dev"
    assert render("{{ lookup('user', answers.owner).name }}") == "Carla Diaz"
    assert render("No placeholders at all.") == "No placeholders at all."


def test_plain_text_is_not_escaped_and_html_is() -> None:
    assert render("{{ client.name }}") == "Acme <b>Ltd</b> & Co"
    assert render("<p>{{ client.name }}</p>", html=True) == "<p>Acme &lt;b&gt;Ltd&lt;/b&gt; &amp; Co</p>"
    assert render("<p>{{ '<script>' ~ actor.name }}</p>", html=True) == "<p>&lt;script&gt;Alice Admin</p>"


def test_undefined_is_strict_when_compiled() -> None:
    error = refused("Hello\n{{ clent.name }}")
    assert str(error) == "unknown name 'clent'; did you mean 'client'?"
    assert error.line == 2


def test_undefined_is_strict_when_rendered() -> None:
    assert failing("{{ client.nickname }}") == "'{{ client.nickname }}': there is no 'nickname' here"
    assert "has no attribute 'nickname'" in failing("{% for u in client.users %}{{ client.nickname }}{% endfor %}")


def test_the_keys_of_fixed_names_are_checked_when_compiled() -> None:
    texts = Texts()
    texts.fixed["product"] = frozenset({"name", "sender"})
    assert texts.compile("{{ product.name }}", NAMES).render(SCOPE) == "Bookkeeping Platform"
    with pytest.raises(CompileError, match="product has no key 'nmae'; did you mean 'name'\\?"):
        texts.compile("The {{ product.nmae }} team", NAMES)


@pytest.mark.parametrize(
    "source",
    [
        "{{ client.__class__ }}",
        "{{ client['__class__'] }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ lookup.__globals__ }}",
        "{% macro m() %}x{% endmacro %}{{ m.__call__ }}",
        "{{ client._private }}",
    ],
)
def test_no_python_attribute_can_be_reached(source: str) -> None:
    assert "cannot be looked up: names starting with _ are not data" in str(refused(source))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{% include 'footer.txt' %}", "include is not allowed in a template; write the text out here"),
        ("{% extends 'base.txt' %}", "extends is not allowed in a template; write the text out here"),
        ("{% import 'macros.txt' as m %}", "import is not allowed in a template; write the text out here"),
        ("{{ cycler('a') }}", "unknown name 'cycler'"),
        ("{{ self }}", "unknown name 'self'"),
        ("{{ loop.index }}", "unknown name 'loop'"),
        ("{{ client | attr('name') }}", "unknown filter 'attr'"),
        ("{{ client.name | shout }}", "unknown filter 'shout'"),
        ("{% if client is callable %}x{% endif %}", "unknown test 'callable'"),
    ],
)
def test_what_a_template_may_not_use_is_refused_when_compiled(source: str, message: str) -> None:
    assert str(refused(source)).startswith(message)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ client.name.upper() }}", "not allowed: Undefined cannot be called in a template; use a filter instead"),
        ("{{ client.users.append(1) }}", "not allowed: Undefined cannot be called in a template; use a filter instead"),
        ("{% for u in client.users %}{{ loop.cycle('a', 'b') }}{% endfor %}", "not allowed: Undefined cannot be called in a template"),
        ("{{ client.name * 1000000000 }}", "repeating a value 1,000,000,000 times is over the limit"),
        ("{{ 10 ** 10 ** 10 }}", "a power that large is over the limit"),
        ("{{ range(10 ** 9) | list }}", f"not allowed: range of 1,000,000,000 items is over the limit of {MAX_LOOP:,}"),
        ("{% for i in range(100000) %}{{ client.name }}{% endfor %}", f"over the limit of {MAX_OUTPUT:,} characters"),
    ],
)
def test_the_sandbox_refuses_at_render_time_with_a_clear_error(source: str, message: str) -> None:
    assert message in failing(source)


def test_only_data_functions_can_be_called() -> None:
    scope = {**SCOPE, "client": {**SCOPE["client"], "run": print}}
    template = Texts().compile("{{ client.run('x') }}", NAMES)
    with pytest.raises(ExpressionError, match="cannot be called in a template"):
        template.render(scope)


@pytest.mark.parametrize(
    ("source", "message", "line"),
    [
        ("Hello\n{% for user in client.users %}{{ user.name }}\n", "template syntax error: {% for %} is never closed; add {% endfor %}", 2),
        ("{% if answers.owner %}x{% endfi %}", "template syntax error: unknown tag {% endfi %}; did you mean 'endif'?", 1),
        ("Hi\nthere {{ client.name }", "template syntax error: a single } closes nothing; close {{ with }}", 2),
        # a tag Jinja2 knows but where it cannot stand: said so, never "did you mean" the same tag
        (
            "Hi\n{{ client.name }}{% endif %}",
            "template syntax error: {% endif %} closes no {% if %}; remove it, or open the block with {% if ... %} before it",
            2,
        ),
        (
            "{% if answers.owner %}x{% endfor %}",
            "template syntax error: {% endfor %} closes no {% for %}: the block open here is a {% if %}, which {% endif %} closes",
            1,
        ),
        (
            "x {% else %} y",
            "template syntax error: {% else %} continues an {% if %} (or a {% for %}), but none is open here; add the block it belongs to, or remove it",
            1,
        ),
        (
            "{% if answers.owner %}x{% else %}y{% else %}z{% endif %}",
            "template syntax error: {% else %} cannot come here: the {% if %} open here takes only {% endif %} next",
            1,
        ),
        # a {{ or {% left open
        ("Hello\n{{ client.name has gone", "template syntax error: a {{ ... }} holds one value, but 'has' follows it; add }} where the value ends", 2),
        ("Hello {{ client.name ", "template syntax error: a {{ is never closed; add }} where its value ends", 1),
        ("Hello {% if answers.owner ", "template syntax error: a {% is never closed; add %} where its tag ends", 1),
    ],
)
def test_syntax_errors_say_what_to_write_and_on_which_line(source: str, message: str, line: int) -> None:
    error = refused(source)
    assert str(error) == message
    assert error.line == line


def test_a_template_knows_which_keys_it_looks_up() -> None:
    template = Texts().compile("{{ answers.owner }} {{ client['name'] }} {% for u in client.users %}{{ u.name }}{% endfor %}", NAMES)
    assert {("answers", "owner"), ("client", "name"), ("client", "users")} <= template.attributes


def test_a_plain_texts_python_is_compiled_when_it_is_first_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading checks a text whole but compiles its Python only when it is rendered (start-up pays only for what it shows)."""
    from clientflow.conditions import fasttext

    compiled: list[str] = []
    real = fasttext.generated
    monkeypatch.setattr(fasttext, "generated", lambda source, name: compiled.append(source) or real(source, name))
    template = Texts().compile("Dear {{ actor.name }}, {% if answers.notify_client %}we told {{ client.name }}{% endif %}.", NAMES)
    assert compiled == []
    first = template.render(SCOPE)
    assert len(compiled) == 1 and template.fast is not None
    assert template.render(SCOPE) == first == "Dear Alice Admin, we told Acme <b>Ltd</b> & Co."
    assert len(compiled) == 1


def test_a_constant_part_that_cannot_be_worked_out_is_a_compile_error_not_a_crash() -> None:
    from clientflow.conditions.templates import Texts
    from clientflow.errors import CompileError

    with pytest.raises(CompileError, match="cannot be worked out"):
        Texts().compile("{% for i in [1] %}{{ [1][{'k': 1, [1]: 1}] }}{% endfor %}", {"client"})


def test_a_value_of_the_wrong_kind_met_while_rendering_is_told_in_our_words_not_pythons() -> None:
    # it said "TypeError: unsupported operand type(s) for -: 'str' and 'int'": Python's words, in a text users may see
    said = failing("{{ client.name - 1 }}")
    assert said == "'{{ client.name - 1 }}': cannot use `-` on a text and a number"
    assert "Error" not in said and "operand" not in said
