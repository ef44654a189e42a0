"""engine/conditions/expressions.py: conditions compile once, evaluate as data look-ups, and cannot escape."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_compile_fuzz import EXPRESSIONS
from test_compile_fuzz import NAMES as FUZZ_NAMES

from clientflow.conditions.expressions import MAX_DEPTH, MAX_SIZE, MAX_SOURCE, CompileError, Compiler, DataFunction
from clientflow.errors import ExpressionError

NAMES = frozenset({"actor", "client", "partner", "answers", "now", "product", "flow", "lookup"})
RECORDS = {"p1": {"id": "p1", "name": "Northwind"}}
SCOPE: dict[str, Any] = {
    "actor": {"id": "u1", "role": "administrator", "email": "alice@northwind.example"},
    "client": {
        "id": "c1",
        "name": "Acme Ltd",
        "partner": "p1",
        "billing": "partner",
        "users": [
            {"id": "cu1", "role": "administrator", "email": "carla@acme.example", "status": "active"},
            {"id": "cu2", "role": "standard", "email": "dev@acme.example", "status": "invited"},
        ],
    },
    "partner": RECORDS["p1"],
    "answers": {"owner": "cu1", "reason": None, "notify_client": False},
    "now": {"year": 2025},
    "product": {"name": "Bookkeeping Platform"},
    "flow": {"id": "disconnect-client"},
    "lookup": DataFunction("lookup", lambda entity, id: RECORDS.get(id) if entity == "partner" else None),
}


def compile_(source: str) -> Any:
    return Compiler(["lookup"]).compile(source, NAMES)


def evaluate(source: str) -> Any:
    return compile_(source)(SCOPE)


def refused(source: str) -> str:
    with pytest.raises(CompileError) as raised:
        compile_(source)
    return str(raised.value)


def failing(source: str) -> str:
    expression = compile_(source)
    with pytest.raises(ExpressionError) as raised:
        expression(SCOPE)
    return str(raised.value)


@pytest.mark.parametrize(
    ("source", "result"),
    [
        ("client.billing == 'partner'", True),
        ("client.billing != 'partner'", False),
        ("actor.role == 'administrator' and client.partner == partner.id", True),
        ("not (client.users | length > 0)", False),
        ("client.users | length", 2),
        ("client.users | selectattr('role', 'equalto', 'administrator') | map(attribute='email') | list", ["carla@acme.example"]),
        ("client.users | rejectattr('status', 'eq', 'active') | map(attribute='id') | join(', ')", "cu2"),
        ("answers.reason is none", True),
        ("answers.owner is not none", True),
        ("answers.reason | default('no reason')", None),
        ("client.nickname | default('none given')", "none given"),
        ("answers.notify_client or client.users | length == 0", False),
        ("client.name ~ ' (' ~ client.id ~ ')'", "Acme Ltd (c1)"),
        ("'yes' if answers.notify_client else 'no'", "no"),
        ("now.year + 1", 2026),
        ("[1, 2, 3] | sum", 6),
        ("'cu1' in client.users | map(attribute='id') | list", True),
        ("lookup('partner', client.partner).name", "Northwind"),
        ("lookup('partner', 'p9') is none", True),
        ("client['name']", "Acme Ltd"),
        ("client.users[1].email", "dev@acme.example"),
        ("client.nickname is defined", False),
        ("true", True),
        ("none", None),
    ],
)
def test_conditions_evaluate_against_data(source: str, result: Any) -> None:
    assert evaluate(source) == result


def test_an_expression_knows_what_it_refers_to() -> None:
    expression = compile_("answers.plan == 'pause' and client.users | length > 0 and lookup('partner', client.partner)")
    assert expression.names == {"answers", "client", "lookup"}
    assert ("answers", "plan") in expression.attributes
    assert expression.literals == ((("answers", "plan"), "pause"),)


def test_compiled_code_only_looks_keys_up() -> None:
    python = compile_("client.name == actor.email and client.users[0].role == 'x'").python
    assert "s['client']['name']" in python
    assert "." not in python.replace("'", "").replace("s[client][name]", "")  # no attribute access in the generated code


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("clinet.billing == 'partner'", "unknown name 'clinet'; did you mean 'client'?"),
        ("ticket.id", "unknown name 'ticket'; the names here are actor, answers, client, flow, lookup, now, partner, product"),
        ("no", "unknown name 'no'; write false (no is not a value in conditions; for the text, write 'no' in quotes)"),
        ("yes", "unknown name 'yes'; write true (yes is not a value in conditions; for the text, write 'yes' in quotes)"),
        ("client.users | lenght", "unknown filter 'lenght'; did you mean 'length'?"),
        ("client.users | shuffle", "unknown filter 'shuffle'; the filters are listed in docs/flow-language.md"),
        ("client.partner is nothing", "unknown test 'nothing'; did you mean 'string'?"),
        ("client.partner is null", "unknown test 'null'; write `is none` (none is the empty value in conditions)"),
        ("lookp('partner', 'p1')", "unknown function 'lookp'; did you mean 'lookup'?"),
        ("client.billing = 'partner'", "a single = does not compare; write == to compare two values"),
        ("{{ client.name }}", "a condition is written without {{ }} or {% %}; remove them"),
        ("client.name client.id", "unexpected 'client' after the end of the condition; join conditions with and / or"),
        ("client.users | length >", "the condition stops before it is complete; finish it, or remove the last operator"),
        ("client.name[0:2]", "slices are not allowed in a condition"),
        ("'%s' % client.name", "string formatting with % is not allowed; use ~ to join text"),
    ],
)
def test_mistakes_are_refused_at_compile_time_with_a_fix(source: str, message: str) -> None:
    assert refused(source) == message


@pytest.mark.parametrize(
    "source",
    [
        "client.__class__",
        "client['__class__']",
        "().__class__",
        "client.name.__class__.__mro__",
        "lookup.__globals__",
        "client._private",
        "(client.users | first).__class__",
    ],
)
def test_no_attribute_can_be_reached(source: str) -> None:
    assert "cannot be looked up: names starting with _ are not data" in refused(source)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("client.name.upper()", "upper() cannot be called: only the project's functions can, such as lookup('entity', id); use a filter or a test instead"),
        (
            "client.name.format(x=1)",
            "format() cannot be called: only the project's functions can, such as lookup('entity', id); use a filter or a test instead",
        ),
        ("client()", "unknown function 'client'; the functions are lookup"),
        ("client.users[0]()", "this cannot be called: only the project's functions can, such as lookup('entity', id); use a filter or a test instead"),
    ],
)
def test_only_the_projects_functions_can_be_called(source: str, message: str) -> None:
    assert refused(source) == message


def test_a_key_computed_at_run_time_cannot_reach_an_attribute_either() -> None:
    expression = Compiler([]).compile("client[field]", {"client", "field"})
    assert expression({"client": {"name": "Acme"}, "field": "name"}) == "Acme"
    with pytest.raises(ExpressionError, match="key '__class__' cannot be looked up"):
        expression({"client": {"name": "Acme"}, "field": "__class__"})


def test_a_method_of_a_text_is_not_there_to_look_up() -> None:
    assert failing("client.name.upper == 'x'") == "client.name.upper == 'x': a text is indexed only by position, e.g. [0]"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("client.users > 0", "cannot compare a list with a number"),  # a constant on one side: plain Python's comparison
        ("0 < client.users", "cannot compare a number with a list"),
        ("client.users >= client.name", "cannot compare a list with a text"),  # two values read from the data: _compare's
        ("client >= partner", "cannot compare a record with a record"),
        ("answers.reason < 3", "cannot compare none with a number"),
        ("client.users is gt(0)", "cannot compare a list with a number"),  # the test, through its own helper
        ("client.name + 1", "cannot add a number to a text"),
        ("client.users - 1", "cannot use `-` on a list and a number"),
        ("-client.name", "cannot use `-` on a text"),
        ("1 in answers.reason", "cannot look for a value in none: only in a list, a text or a record"),
        ("answers.notify_client | length", "a yes/no value has no length"),
        ("answers.reason | first", "none is not a list"),
        ("client.id[0][0][0] * client.id", "cannot repeat a value by a text: only a whole number of times"),
        ("client.users['x']", "a list is indexed only by position, e.g. [0]"),
        ("client.users[9]", "there is no item at that position"),
        ("3 // (client.users | length - 2)", "division by zero"),
    ],
)
def test_a_failure_at_run_time_is_said_in_our_words(source: str, message: str) -> None:
    """A rule that could not be checked shows this text to users (and the API): what failed, never Python's own words."""
    assert failing(source) == f"{source}: {message}"


FLATS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, width=16), st.text(max_size=3))
DATA_VALUES = st.one_of(FLATS, st.lists(FLATS, max_size=3), st.dictionaries(st.text(max_size=3), FLATS, max_size=2))
KINDS = {type(None): "none", bool: "a yes/no value", int: "a number", float: "a number", str: "a text", list: "a list", dict: "a record"}


@settings(max_examples=300, deadline=None)
@given(a=DATA_VALUES, b=DATA_VALUES, op=st.sampled_from(["<", "<=", ">", ">="]))
def test_an_order_of_any_two_values_is_an_answer_or_names_their_kinds(a: Any, b: Any, op: str) -> None:
    """Whatever the data holds, an order is true, false, or `cannot compare X with Y` in the data's kinds (items' for two lists)."""
    source = f"answers.a {op} answers.b"
    try:
        assert Compiler([]).compile(source, {"answers"})({"answers": {"a": a, "b": b}}) in (True, False)
    except ExpressionError as exc:
        said = str(exc)
        if isinstance(a, list) and isinstance(b, list):
            assert said.startswith(f"{source}: cannot compare ") and said.removeprefix(f"{source}: cannot compare ").count(" with ") == 1, said
        else:
            assert said == f"{source}: cannot compare {KINDS[type(a)]} with {KINDS[type(b)]}"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("'a' * 10**9", "repeating a value 1,000,000,000 times is over the limit"),
        ("[1] * 10**6", "repeating a value 1,000,000 times is over the limit"),
        ("10 ** 10**10", "a power that large is over the limit"),
        ("9 ** 999", "a power that large is over the limit"),
        ("client.name * 100000", "is over the limit"),
        ("(client.name ~ client.name) * 10000", "is over the limit"),
    ],
)
def test_huge_values_are_refused_with_a_clear_error(source: str, message: str) -> None:
    assert message in failing(source)


def test_bounded_arithmetic_still_works() -> None:
    assert evaluate("'ab' * 3") == "ababab"
    assert evaluate("2 ** 10") == 1024
    assert len(evaluate(f"'a' * {MAX_SIZE}")) == MAX_SIZE


def test_a_huge_constant_is_refused_where_it_is_written() -> None:
    assert refused("1" + "0" * 100) == "a number over 256 bits is over the limit"


def test_a_condition_too_long_or_too_deep_is_refused() -> None:
    assert refused("true and " * (MAX_SOURCE // 9) + "true").startswith("the condition is ")
    assert refused("not " * (MAX_DEPTH + 1) + "true") == f"the condition is nested more than {MAX_DEPTH} levels deep"
    assert evaluate("not " * (MAX_DEPTH - 1) + "true") is False


def test_a_condition_is_compiled_into_python_when_first_evaluated() -> None:
    expression = compile_("client.users | length > 1")
    assert "function" not in vars(expression)  # checked and translated when compiled; Python's compile waits for the first use
    assert expression(SCOPE) is True and "function" in vars(expression)
    assert compile_("not " * (MAX_DEPTH - 1) + "true").function(SCOPE) is False  # the deepest and the longest compile too
    assert compile_("client.name != '" + "x" * (MAX_SOURCE - 17) + "'").function(SCOPE) is True


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(source=EXPRESSIONS)
def test_every_condition_that_compiles_has_python_that_compiles(source: str) -> None:
    """What compiles is translated within Python's limits: its function, built when first evaluated, never fails to compile."""
    try:
        expression = Compiler(["lookup"]).compile(source, FUZZ_NAMES)
    except CompileError:
        return
    assert callable(expression.function)


def test_a_failure_at_run_time_names_the_condition() -> None:
    assert failing("client.missing == 1") == "client.missing == 1: there is no 'missing' here"
    assert failing("client.users | length / 0") == "client.users | length / 0: division by zero"


def test_keys_fixed_at_load_are_checked_when_compiled() -> None:
    compiler = Compiler(["lookup"])
    compiler.fixed["product"] = frozenset({"name", "sender"})
    assert compiler.compile("product.name", NAMES)(SCOPE) == "Bookkeeping Platform"
    with pytest.raises(CompileError, match="product has no key 'nmae'; did you mean 'name'\\?"):
        compiler.compile("product.nmae", NAMES)
    with pytest.raises(CompileError, match="product has no key 'colour'; the keys of product are name, sender"):
        compiler.compile("product['colour']", NAMES)


def test_compiling_the_same_source_twice_gives_the_same_expression() -> None:
    compiler = Compiler([])
    assert compiler.compile("client.id", {"client"}) is compiler.compile("client.id", {"client"})


def test_builtin_signatures_written_out_equal_what_inspect_reads() -> None:
    """The built-ins' signatures are written out (no tokenize import); each equals inspect.signature's."""
    import inspect

    from clientflow.conditions.expressions import BUILTIN_SIGNATURES

    assert BUILTIN_SIGNATURES
    for function, signature in BUILTIN_SIGNATURES.items():
        assert signature == inspect.signature(function), function


def test_a_wrapped_builtin_filter_is_read_as_written_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A template's filters are wrapped (bounds.filters): `length` still gets the written-out signature, equal to inspect's."""
    import inspect

    from clientflow.conditions import expressions
    from clientflow.conditions.templates import Texts

    wrapped = Texts().text_env.filters["length"]
    assert wrapped is not len and inspect.unwrap(wrapped) is len
    assert expressions._signature(wrapped) is expressions.BUILTIN_SIGNATURES[len]
    assert expressions._signature(wrapped) == inspect.signature(wrapped)
    monkeypatch.setattr(inspect, "_signature_from_builtin", None)  # inspect's reading of built-ins (with tokenize) is never reached
    assert expressions._signature(wrapped) == expressions.BUILTIN_SIGNATURES[len]


def test_builtin_filters_still_refuse_arguments_they_do_not_take() -> None:
    compiler = Compiler()
    with pytest.raises(CompileError, match=r"length takes at most 0 arguments, not 1"):
        compiler.compile("client.users | length(2)", NAMES)
    with pytest.raises(CompileError, match=r"abs has no argument 'x'"):
        compiler.compile("now.year | abs(x=1)", NAMES)


def test_default_over_a_name_and_its_keys_is_read_in_one_call_with_the_same_answers() -> None:
    """`name.key[0].key | default(constant)` is translated to _dig; it answers, and fails, as default(_maybe(...)) does."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from clientflow.conditions.expressions import _default, _maybe

    leaves = st.one_of(st.none(), st.integers(-3, 3), st.text(max_size=3), st.booleans())
    values = st.recursive(
        leaves, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "0"]), inner, max_size=3)), max_leaves=12
    )
    steps = st.lists(st.one_of(st.sampled_from([".a", ".b", "['a']", "[0]", "[1]", "['0']"])), min_size=1, max_size=4)
    names = frozenset({"actor", "client"})

    @settings(max_examples=300, deadline=None)
    @given(client=values, path=steps, fallback=st.sampled_from(["none", "0", "'x'", "true", "''"]))
    def check(client: Any, path: list[str], fallback: str) -> None:
        source = "client" + "".join(path) + f" | default({fallback})"
        expression = Compiler().compile(source, names)
        assert "_dig(" in expression.python and "_maybe" not in expression.python
        scope = {"actor": {}, "client": client}
        old = "s['client']" + "".join(f"[{p[1:]!r}]" if p.startswith(".") else p for p in path)
        written = {"none": None, "0": 0, "'x'": "x", "true": True, "''": ""}[fallback]
        try:
            want: Any = _default(_maybe(eval(f"lambda: {old}", {"s": scope})), written)  # noqa: S307 - the translation as it was
        except Exception as exc:  # noqa: BLE001 - what the old translation raised, compared below
            want = type(exc)
        try:
            got: Any = expression(scope)
        except ExpressionError as exc:
            got = type(exc.__cause__)
        assert got == want and type(got) is type(want)

    check()
    assert "_dig" not in Compiler().compile("client.a | default(client.b)", names).python  # a fallback to compute is computed after, as before
    assert "_dig" not in Compiler().compile("client[client.a] | default(0)", names).python
