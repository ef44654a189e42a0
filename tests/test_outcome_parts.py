"""Pieces of an outcome made once instead of per run: the same answers and messages as made each time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clientflow.conditions.translations import reader_locale
from clientflow.errors import ClientflowError, Location
from clientflow.language.code import Expr
from clientflow.language.model import Email, Project
from clientflow.runtime.data import Change
from clientflow.runtime.outcome import addresses, one_line, spaced


def test_a_bad_recipient_is_named_with_its_email_as_before() -> None:
    email = Email("notice", Expr("client_admin_emails"), None, Location("flows/x.yaml"))
    with pytest.raises(ClientflowError) as raised:
        addresses(["ok@example.com", "not an address"], email)
    assert str(raised.value) == (
        "email 'notice' to (client_admin_emails): 'not an address' is not a valid email address; fix it in the data before running this flow"
    )
    with pytest.raises(ClientflowError, match=r"^email 'notice' to \(client_admin_emails\): 101 recipients is over the limit of 100$"):
        addresses([f"a{i}@example.com" for i in range(101)], email)
    with pytest.raises(ClientflowError, match=r"^there: 'x' is not"):
        addresses("x", "there")
    with pytest.raises(ClientflowError, match=r"^asked: 'x' is not"):
        addresses("x", lambda: "asked")
    assert addresses([{"email": "a@example.com"}, None, "a@example.com"], email) == ["a@example.com"]


@pytest.mark.parametrize(
    ("locales", "given", "served"),
    [
        (("en", "fr"), "fr", "fr"),
        (("en", "fr"), "fr-CA", "fr"),
        (("en", "fr"), "en", "en"),
        (("en", "fr"), "de", "en"),
        (("en", "fr"), None, "en"),
        (("en", "fr"), "", "en"),
        (("en", "fr"), 3, "en"),
        (("fr-CA", "fr"), "fr-CA", "fr"),  # the first locale's parent, declared: the catalog that serves it
        (("en", "fr-CA", "fr"), "fr-ca", "fr-CA"),
        (("en",), "x" * 40, "en"),
    ],
)
def test_the_locale_serving_a_reader_is_worked_out_the_same_each_time(locales: tuple[str, ...], given: object, served: str) -> None:
    project = Project.__new__(Project)
    object.__setattr__(project, "locales", locales)
    assert reader_locale(project, given) == served
    assert reader_locale(project, given) == served  # asked again: the kept answer


def test_a_change_is_made_compared_and_replaced_as_a_frozen_dataclass_is() -> None:
    import dataclasses

    change = Change("update", "client", "c1", "subscription", "active", "deactivated")
    assert change == Change("update", "client", "c1", "subscription", "active", "deactivated", predicted=False)
    assert change != Change("update", "client", "c1", "subscription", "active", "deactivated", predicted=True)
    assert dataclasses.replace(change, predicted=True).predicted is True
    assert dataclasses.astuple(change) == ("update", "client", "c1", "subscription", "active", "deactivated", False)
    assert hash(Change("delete", "client", "c1", None, None, None)) == hash(Change("delete", "client", "c1", None, None, None))
    with pytest.raises(dataclasses.FrozenInstanceError):
        change.after = "x"  # type: ignore[misc]
    assert repr(change) == "Change(op='update', entity='client', id='c1', field='subscription', before='active', after='deactivated', predicted=False)"


def test_recipients_and_now_given_as_other_mappings_are_read_as_before() -> None:
    from types import MappingProxyType

    from clientflow.default_plugins.moments import add_days

    email = Email("notice", Expr("to"), None, Location("flows/x.yaml"))
    assert addresses([MappingProxyType({"email": "a@example.com"}), MappingProxyType({"name": "none"})], email) == ["a@example.com"]
    now = {"iso": "2025-03-28T09:00:00+00:00"}
    assert add_days(MappingProxyType(now), 2) == add_days(now, 2) == "2025-03-30T09:00:00+00:00"


def test_a_bulk_summary_counts_each_rule_as_a_counter_update_did() -> None:
    from clientflow.bulk import Item, Summary

    summary = Summary("f", True)
    for index, rules in enumerate([["a", "b"], ["a"], ["a", "a"], []]):
        summary.add(Item(f"s{index}", "blocked", rules=rules))
    summary.add(Item("s9", "completed"))
    assert dict(summary.blocked_by) == {"a": 4, "b": 1}
    assert summary.blocked_subjects == {"a": ["s0", "s1", "s2", "s2"], "b": ["s0"]}
    assert (summary.total, summary.blocked, summary.completed) == (5, 4, 1)


def test_a_printable_text_holds_no_white_space_but_the_space() -> None:
    """`spaced` and `one_line` keep a printable text with no space doubled or at an end as it is: that rests on this."""
    import sys

    assert [hex(c) for c in range(sys.maxunicode + 1) if chr(c).isspace() and chr(c).isprintable()] == ["0x20"]


def _one_line_by_words(text: str) -> str:
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


@settings(max_examples=500, deadline=None)
@given(st.text(st.sampled_from([" ", "\n", "\t", "\x0b", "\xa0", "\u2028", "\u3000", "\x85", "a", "é", "-", "Ω"])) | st.text())
def test_a_line_is_folded_as_splitting_it_into_words_and_joining_them_does(text: str) -> None:
    assert one_line(text) == _one_line_by_words(text)
    assert spaced(text) == " ".join(text.split())
    if text.isprintable() and " ".join(text.split()) == text:
        assert one_line(text) is text and spaced(text) is text  # kept as it is, not made again
