"""The built-in `moments` plugin: filters that do arithmetic on times, for conditions and texts.

`value | add_days(n)` is the ISO 8601 time n days after `value` (`now`, an ISO 8601 text, or a
datetime; a time without a zone is read as UTC); `value | iso_date` is its calendar date
(YYYY-MM-DD). A project computes a due time with them (`now | add_days(14)`), compares it with a
stored one (`account.renewal < now | add_days(30)`, both written by these filters) and shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from clientflow.errors import ExpressionError
from clientflow.hookspecs import RegisterFunction, hookimpl

MAX_DAYS = 36500  # a hundred years: far enough for any grace period, never past the calendar's end


def moment(value: Any) -> datetime:
    """A datetime (UTC when it names no zone) from `now`, an ISO 8601 text or a datetime; ExpressionError otherwise."""
    if isinstance(value, Mapping) and isinstance(value.get("iso"), str):  # `now`
        value = value["iso"]
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ExpressionError(f"{value!r} is not an ISO 8601 time (like 2025-03-28T09:00:00+00:00)") from None
    if not isinstance(value, datetime):
        raise ExpressionError(f"a time is needed here (now, or an ISO 8601 text), not {type(value).__name__}")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def add_days(value: Any, days: Any) -> str:
    """The ISO 8601 time `days` days after `value` (before, when negative), in `value`'s zone."""
    if isinstance(days, bool) or not isinstance(days, (int, float)):
        raise ExpressionError(f"add_days needs a number of days, not {days!r}")
    if abs(days) > MAX_DAYS:
        raise ExpressionError(f"add_days: {days} days is over the limit of {MAX_DAYS}")
    # `now` (a dict: no ABC check): the same few answers for a whole bulk run
    if (isinstance(value, dict) or isinstance(value, Mapping)) and isinstance(value.get("iso"), str):
        return _days_after(value["iso"], days)
    return _add(value, days)


@lru_cache(maxsize=256)
def _days_after(iso: str, days: int | float) -> str:
    """`add_days` of `now` by its ISO 8601 text (a pure function of the text and the days; a failure is not kept)."""
    return _add(iso, days)


def _add(value: Any, days: Any) -> str:
    try:
        return (moment(value) + timedelta(days=days)).isoformat()
    except OverflowError:
        raise ExpressionError(f"add_days: {days} days from {value} is past the calendar's end") from None


def iso_date(value: Any) -> str:
    """The calendar date of a time, YYYY-MM-DD (empty for none)."""
    if value is None:
        return ""
    return moment(value).date().isoformat()


class MomentsPlugin:
    """Registers the filters `add_days` and `iso_date`."""

    @hookimpl
    def clientflow_register_functions(self, register: RegisterFunction) -> None:
        register("add_days", add_days, kind="filter")
        register("iso_date", iso_date, kind="filter")
