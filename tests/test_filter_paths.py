"""map and selectattr read a one-key path directly, and check each attribute text once: the same answers and refusals.
`list` copies a list whose length it checked, and `sized` measures a text or list itself: the same values, refusals and budget.

`_attribute` is held to the general walk of a dotted path, and `_attribute_path`
(remembering the texts limits.attribute_path accepted) to limits.attribute_path,
for generated items, paths and attributes, asked twice each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clientflow.conditions import limits
from clientflow.conditions.expressions import TESTS, _attribute, _attribute_path, _map, _select
from clientflow.errors import ExpressionError

KEYS = st.sampled_from(["a", "b", "_x", "0", "a.b", " _y", "a,_b", "", "é"])
ITEMS = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=3)), lambda inner: st.dictionaries(KEYS, inner, max_size=3) | st.lists(inner, max_size=2), max_leaves=6
)


def walked(item: Any, path: str | int) -> Any:
    """What `_attribute` did for every path before it read a one-key path directly."""
    for part in str(path).split("."):
        item = item[part] if isinstance(item, Mapping) else None
    return item


def outcome(ask: Any) -> Any:
    try:
        return ("value", ask())
    except (ExpressionError, KeyError, TypeError) as exc:
        return ("raised", type(exc), str(exc))


@settings(max_examples=400, deadline=None)
@given(item=ITEMS, path=st.one_of(KEYS, st.integers(0, 2), st.text(max_size=4)))
def test_a_one_key_path_reads_what_the_walk_reads(item: Any, path: str | int) -> None:
    assert outcome(lambda: _attribute(item, path)) == outcome(lambda: walked(item, path))


@settings(max_examples=400, deadline=None)
@given(attribute=st.one_of(KEYS, st.text(max_size=6), st.integers(), st.none(), st.floats(allow_nan=False), st.lists(st.integers(), max_size=2)))
def test_an_attribute_is_refused_as_limits_refuses_it_however_often_it_is_asked(attribute: Any) -> None:
    expected = outcome(lambda: limits.attribute_path(attribute))
    for _ in range(2):
        got = outcome(lambda: _attribute_path(attribute))
        assert got == expected if expected[0] == "raised" else got[0] == "value"


@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(
        st.one_of(
            st.dictionaries(KEYS, st.one_of(st.none(), st.integers(-1, 1), st.booleans(), st.text(max_size=2), st.floats(allow_nan=True)), max_size=3),
            st.none(),
            st.integers(),
        ),
        max_size=5,
    ),
    attribute=KEYS,
    test=st.sampled_from(["eq", "equalto", "=="]),
    other=st.one_of(st.none(), st.integers(-1, 1), st.booleans(), st.text(max_size=2), st.floats(allow_nan=True), st.lists(st.integers(), max_size=1)),
    keep=st.booleans(),
)
def test_selecting_by_equality_keeps_what_the_test_keeps(items: list[Any], attribute: str, test: str, other: Any, keep: bool) -> None:
    """selectattr/rejectattr with eq, equalto or == and a flat value compare with `==` directly: the same items kept, or the same refusal."""
    check = TESTS[test]

    def kept() -> list[Any]:  # what _select did for every test before
        limits.attribute_path(attribute)
        return [i for i in items if bool(check(walked(i, attribute), other)) is keep]

    limits.fresh()  # an evaluation's budget starts afresh, as generated code starts it
    assert outcome(lambda: _select(items, attribute, test, other, keep=keep)) == outcome(kept)


@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(st.one_of(ITEMS, st.booleans()), max_size=5), attribute=st.one_of(KEYS, st.integers(0, 2)), default=st.one_of(st.none(), st.integers(-1, 1))
)
def test_mapping_reads_what_the_walk_reads(items: list[Any], attribute: str | int, default: Any) -> None:
    """map over a one-key path reads each item as `_attribute` does: the same values (none replaced by the default), or the same refusal."""

    def mapped() -> list[Any]:  # what _map did for every path before
        limits.attribute_path(attribute)
        return [v if (v := walked(i, attribute)) is not None else default for i in items]

    limits.fresh()
    assert outcome(lambda: _map(items, attribute, default)) == outcome(mapped)


def budget_left() -> int:
    budget = limits._state.budget
    return limits.MAX_BUILT if budget is None else budget.left


@settings(max_examples=200, deadline=None)
@given(items=st.one_of(st.lists(st.integers(), max_size=8), st.tuples(st.integers(), st.integers()), st.text(max_size=8)), limit=st.integers(0, 9))
def test_listing_gives_a_new_list_of_the_items_and_spends_their_count(items: Any, limit: int) -> None:
    """`list`: a list of the items (never the very list given), counted against the budget; past `limit`, the same refusal."""
    limits.fresh()
    got = outcome(lambda: limits.listed(items, limit))
    if len(items) > limit:
        assert got == ("raised", ExpressionError, f"a list of {len(items):,} items is over the limit of {limit:,}")
        return
    assert got == ("value", list(items)) and got[1] is not items
    assert budget_left() == limits.MAX_BUILT - len(items)


@settings(max_examples=200, deadline=None)
@given(
    value=st.one_of(st.text(max_size=5), st.lists(st.integers(), max_size=5), st.tuples(st.integers()), st.integers(), st.booleans(), st.none(), st.floats())
)
def test_a_value_just_built_is_measured_and_counted_as_within_and_spend_do(value: Any) -> None:
    """`sized`: refused when `within` refuses, else counted (a text, list or tuple by its length) and given back as it is."""
    limits.fresh()
    expected = outcome(lambda: limits.within(value))
    spent = len(value) if isinstance(value, (str, list, tuple)) else 0
    limits.fresh()
    got = outcome(lambda: limits.sized(value))
    assert got == expected
    if got[0] == "value":
        assert got[1] is value and budget_left() == limits.MAX_BUILT - spent


def test_a_text_or_list_over_the_size_limit_is_refused_before_it_is_counted() -> None:
    big = "x" * (limits.MAX_SIZE + 1)
    limits.fresh()
    assert outcome(lambda: limits.sized(big)) == ("raised", ExpressionError, f"a value of {len(big):,} items is over the limit of {limits.MAX_SIZE:,}")
    assert budget_left() == limits.MAX_BUILT
    assert outcome(lambda: limits.sized(2 ** (limits.MAX_BITS + 1)))[0] == "raised"
