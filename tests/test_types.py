"""Types from the data schema: a field that cannot exist is found before anything runs, and nothing else is."""

from __future__ import annotations

import json
import string
from typing import Any

from conftest import PROJECT
from hypothesis import given, settings
from hypothesis import strategies as st

from clientflow.conditions import types as T
from clientflow.conditions.expressions import parse
from clientflow.conditions.program import load_project
from clientflow.conditions.templates import Texts

DOC = json.loads((PROJECT / "schema" / "data.schema.json").read_text(encoding="utf-8"))


def _scope() -> tuple[dict[str, T.Type], dict[str, T.Type]]:
    project = load_project(PROJECT)
    entities = T.entity_types(DOC, project.entities)
    names = {"actor": entities["user"], "client": entities["client"], "actor_practice": T.union(entities["partner"], T.NULL)}
    return names, entities


NAMES, ENTITIES = _scope()


def problems(source: str) -> list[T.TypeProblem]:
    check = T.TypeCheck(source, NAMES, ENTITIES)
    check.expression(parse(source))
    return check.problems


def template_problems(source: str) -> list[T.TypeProblem]:
    check = T.TypeCheck(source, NAMES, ENTITIES)
    return check.template(Texts().text_env.parse(source))


def test_entities_get_their_records_type_from_the_collections_and_nesting() -> None:
    assert isinstance(ENTITIES["client"], T.Object) and "users" in ENTITIES["client"].fields
    assert {m.name for m in T.members(ENTITIES["user"]) if isinstance(m, T.Object)} == {"user"}


def test_a_misspelled_field_is_named_with_the_nearest_one_at_its_column() -> None:
    assert problems("client.usres") == [T.TypeProblem(1, 8, "client has no field 'usres'; did you mean 'users'?")]


def test_fields_read_through_filters_lookups_and_indexes() -> None:
    assert [p.message for p in problems("client.users | selectattr('rloe', 'equalto', 'x') | list")] == ["user has no field 'rloe'; did you mean 'role'?"]
    assert [p.message for p in problems("lookup('partner', client.partner).nmae")] == ["partner has no field 'nmae'; did you mean 'name'?"]
    assert [p.message for p in problems("client.users[0].emial")] == ["user has no field 'emial'; did you mean 'email'?"]
    assert [p.message for p in problems("client.users | map(attribute='emial') | join(', ')")] == ["user has no field 'emial'; did you mean 'email'?"]
    assert [p.message for p in problems("(client.users | first).nmae")] == ["user has no field 'nmae'; did you mean 'name'?"]


def test_a_field_with_nothing_close_lists_the_fields_there_are() -> None:
    (problem,) = problems("lookup('partner', client.partner).zzzzzz")
    assert problem.message.startswith("partner has no field 'zzzzzz'; its fields are ") and "name" in problem.message


def test_what_exists_passes() -> None:
    for source in (
        "actor_practice.id == client.partner",
        "client.users | map(attribute='role') | list",
        "client.users | selectattr('role', 'equalto', 'administrator') | map(attribute='email') | list",
        "lookup('partner', client.partner).name",
        "client['name'] ~ (client.users | length)",
    ):
        assert problems(source) == [], source


def test_templates_follow_loops_and_sets_line_by_line() -> None:
    source = "Hello {{ client.name }}\n{% for u in client.users %}{{ u.emali }}{% endfor %}\n{% set p = lookup('partner', client.partner) %}{{ p.nmae }}"
    assert [(p.line, p.col, p.message) for p in template_problems(source)] == [
        (2, 33, "user has no field 'emali'; did you mean 'email'?"),
        (3, 53, "partner has no field 'nmae'; did you mean 'name'?"),
    ]


def test_where_the_type_cannot_be_known_nothing_is_said() -> None:
    for source in ("unknown_name.anything", "lookup(word, client.id).anything", "product.whatever", "(client.users | unique).x.y"):
        assert problems(source) == [], source
    open_schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert T.missing_field(T.SchemaTypes(open_schema).of(open_schema), "b") is None


# generated: closed records of random shape; a path is reported exactly when the schema lacks it
KEYS = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=6)


def schemas(depth: int = 3) -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.sampled_from([{"type": "string"}, {"type": "number"}, {"enum": ["a", "b"]}])
    if depth == 0:
        return leaf
    return st.one_of(
        leaf,
        st.dictionaries(KEYS, st.deferred(lambda: schemas(depth - 1)), min_size=1, max_size=4).map(
            lambda props: {"type": "object", "additionalProperties": False, "properties": props}
        ),
    )


def exists(schema: dict[str, Any], path: list[str]) -> bool | None:
    """True/False when the path can/cannot exist; None when the walk leaves the records (a value has no fields to know)."""
    for key in path:
        if schema.get("type") != "object":
            return None
        if key not in schema["properties"]:
            return False
        schema = schema["properties"][key]
    return True


@settings(max_examples=300, deadline=None)
@given(schemas(), st.lists(KEYS, min_size=1, max_size=4))
def test_generated_paths_are_reported_exactly_when_they_cannot_exist(schema: dict[str, Any], path: list[str]) -> None:
    source = "record." + ".".join(f"f_{k}" for k in path)
    renamed = _prefixed(schema)
    typed = {"record": T.SchemaTypes(renamed).of(renamed, "record")}
    check = T.TypeCheck(source, typed)
    check.expression(parse(source))
    verdict = exists(renamed, [f"f_{k}" for k in path])
    if verdict is False:
        assert len(check.problems) == 1 and "has no field" in check.problems[0].message
    else:
        assert check.problems == []


def _prefixed(schema: dict[str, Any]) -> dict[str, Any]:
    """Field names that are never Jinja2 keywords (`in`, `is`, `if`...)."""
    if schema.get("type") != "object":
        return schema
    return {**schema, "properties": {f"f_{k}": _prefixed(v) for k, v in schema["properties"].items()}}


def test_a_value_indexed_where_it_never_can_be_is_a_problem_at_its_key() -> None:
    """A number, a yes/no value or a whole number indexed at all, a text by a name (optional or not): never works."""
    assert [(p.col, p.message) for p in problems("client.name['first']")] == [(14, "a text has no field 'first': a text is indexed only by position, e.g. [0]")]
    assert [p.message for p in problems("(client.users | length)[0]")] == [
        "a number cannot be indexed: only a list (by position) or a record (by field name) can"
    ]
    assert [p.message for p in problems("true['x']")] == ["a yes/no value cannot be indexed: only a list (by position) or a record (by field name) can"]
    optional = T.union(T.Value(frozenset({"string", "null"})), T.NULL)
    assert T.unindexable(optional, "x") == "a text has no field 'x': a text is indexed only by position, e.g. [0]"
    assert T.unindexable(T.Value(frozenset({"integer"})), 0) == "a whole number cannot be indexed: only a list (by position) or a record (by field name) can"
    for fine in ("client.name[0]", "client['name']", "client.users[0].name", "(client.name ~ 'x')[1]", "actor_practice.name[0]"):
        assert problems(fine) == [], fine
    assert T.unindexable(T.NULL, "x") is None and T.unindexable(T.ANY, "x") is None


def test_an_order_between_values_that_have_none_is_a_problem_with_the_way_it_was_meant() -> None:
    assert problems("client.users > 0") == [
        T.TypeProblem(1, 1, "cannot compare a list of user with a number: `>` orders two numbers or two texts; did you mean `client.users | length > 0`?")
    ]
    assert [(p.col, p.message) for p in problems("client.id == 'c1' and 2 <= client.name")] == [
        (28, "cannot compare a number with a text: `<=` orders two numbers or two texts; did you mean `2 <= client.name | length`?")
    ]
    assert [p.message for p in problems("lookup('partner', client.partner) < client.users")] == [
        "cannot compare a record (partner) with a list of user: `<` orders two numbers or two texts; a record has no order: compare one of its fields"
    ]
    assert [p.message for p in problems("(client.users | length) >= client.users")] == [
        "cannot compare a number with a list of user: `>=` orders two numbers or two texts; to compare how many items (or characters) it holds, use `| length`"
    ]


def test_orders_that_can_hold_pass() -> None:
    for source in (
        "client.users | length > 0",
        "client.name < 'n'",
        "client.users >= client.users",
        "true > 0",
        "actor_practice.name > 'a'",  # a record or none: none is the data's own gap, said where it is read
        "lookup(word, client.id) > 0",  # nothing known
        "(client.users if client.id == 'c1' else 0) > 0",  # may be a number
    ):
        assert problems(source) == [], source


def test_a_listed_field_compared_with_a_value_it_never_holds_is_a_problem_at_the_value() -> None:
    assert problems("client.subscription == 'actve'") == [
        T.TypeProblem(1, 24, "'actve' is not allowed in client.subscription; did you mean 'active'? (one of 'active', 'deactivated')")
    ]
    assert [(p.col, p.message) for p in problems('"paused" != client.subscription or client.billing in ["partner", \'x\'] ')] == [
        (1, "'paused' is not allowed in client.subscription; use one of 'active', 'deactivated'"),
        (66, "'x' is not allowed in client.billing; use one of 'partner', 'self_paying'"),
    ]
    assert [p.message for p in template_problems("{% if client.subscription == 'deactivatd' %}x{% endif %}")] == [
        "'deactivatd' is not allowed in client.subscription; did you mean 'deactivated'? (one of 'active', 'deactivated')"
    ]
    for fine in ("client.subscription == 'active'", "client.subscription != none", "client.name == 'actve'", "client.subscription in answers"):
        assert problems(fine) == [], fine


ORDER_KINDS = {  # a schema, and a value it allows
    "text": ({"type": "string"}, "a"),
    "number": ({"type": "number"}, 1.5),
    "yes/no": ({"type": "boolean"}, True),
    "list": ({"type": "array", "items": {"type": "number"}}, [1]),
    "record": ({"type": "object", "additionalProperties": False, "properties": {"x": {"type": "number"}}}, {"x": 1}),
}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(ORDER_KINDS)), st.sampled_from(sorted(ORDER_KINDS)), st.sampled_from(["<", "<=", ">", ">="]))
def test_an_order_is_reported_exactly_when_python_could_never_work_it_out(left: str, right: str, op: str) -> None:
    (left_schema, a), (right_schema, b) = ORDER_KINDS[left], ORDER_KINDS[right]
    typed = {"a": T.SchemaTypes(left_schema).of(left_schema, "a"), "b": T.SchemaTypes(right_schema).of(right_schema, "b")}
    check = T.TypeCheck(f"a {op} b", typed)
    check.expression(parse(f"a {op} b"))
    try:
        eval(f"a {op} b", {"a": a, "b": b})  # noqa: S307 - the oracle: Python's own order of two fixed values
        fails = False
    except TypeError:
        fails = True
    assert bool(check.problems) == fails, (left, right, check.problems)
