"""map and selectattr read a one-key path directly, and check each attribute text once: the same answers and refusals.

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
from clientflow.conditions.expressions import TESTS, _attribute, _attribute_path, _select
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
