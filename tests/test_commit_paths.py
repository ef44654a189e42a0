"""The short paths a commit takes say what the general ones say.

* A stored body is written (`dumps_body`) as `json.JSONEncoder(...).encode` writes it, and read
  (`loads_body`) as `json.loads` reads it: the same text, value or error, whatever the input.
* `now`'s date and time (`Moment`) are the slices of its ISO 8601 text that `date().isoformat()`
  and `time().replace(microsecond=0).isoformat()` give, in any zone.
* A commit happens at one instant: its scope's `now`, its run's times and its audit entry's time.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import open_engine
from hypothesis import example, given
from hypothesis import strategies as st

from clientflow.language.words import Moment
from clientflow.storage import dumps_body, loads_body

REFERENCE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True)

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=20
)


def outcome(fn: Any, value: Any) -> tuple[str, Any]:
    try:
        return "value", fn(value)
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        return type(exc).__name__, str(exc)


def same_value(a: Any, b: Any) -> bool:
    """Equal, the same types all the way down, and NaN where NaN is."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_value(a[k], b[k]) for k in a)
    return bool(a == b)


@given(VALUES)
@example({"b": 1, "a": [1.5, None, "é\u2028"]})
@example({1: "a", "1": "b"})  # keys that are not texts: sorted as the reference sorts them (or refused alike)
@example({"x": float("nan")})
@example({"x": object()})
@example("a text")
def test_dumps_body_writes_what_the_encoder_writes(value: Any) -> None:
    assert outcome(dumps_body, value) == outcome(REFERENCE.encode, value)


def test_dumps_body_refuses_a_circular_value_as_the_encoder_does() -> None:
    value: dict[str, Any] = {"a": []}
    value["a"].append(value)
    assert outcome(dumps_body, value) == outcome(REFERENCE.encode, value)
    assert dumps_body({"a": [1]}) == '{"a":[1]}'  # and writes the next value as before


@given(VALUES.map(REFERENCE.encode))
def test_loads_body_reads_what_json_reads_of_a_stored_body(text: str) -> None:
    mine, theirs = outcome(loads_body, text), outcome(json.loads, text)
    assert mine[0] == theirs[0] and same_value(mine[1], theirs[1])


@given(st.text() | st.sampled_from(["", " {}", "{} ", "\ufeff{}", "[1,", '{"a":1}x', "NaN", "1e999", '"\\ud800"', "[" * 5000 + "]" * 5000, "{}\n"]))
def test_loads_body_reads_or_refuses_any_text_as_json_does(text: str) -> None:
    mine, theirs = outcome(loads_body, text), outcome(json.loads, text)
    assert mine[0] == theirs[0]
    assert same_value(mine[1], theirs[1]) if mine[0] == "value" else mine[1] == theirs[1]


ZONES = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=11, seconds=7)), None])


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 30)), ZONES)
@example(datetime(999, 1, 2, 3, 4, 5), UTC)
@example(datetime(2026, 12, 8, 23, 59, 59, 999999), None)
def test_moment_date_and_time_are_those_of_the_datetime(moment: datetime, zone: Any) -> None:
    moment = moment.replace(tzinfo=zone)
    now = Moment(moment)
    assert now["iso"] == moment.isoformat()
    assert now["date"] == moment.date().isoformat()
    assert now["time"] == moment.time().replace(microsecond=0).isoformat()


def test_a_commit_happens_at_one_instant(embedded: str, tmp_path: Path) -> None:
    """Its run's created and updated and its audit entry's time are the first reading of the clock in the commit."""
    engine = open_engine(embedded, tmp_path)
    try:
        seen: list[str] = []
        now = engine.clock.now

        def later() -> datetime:
            moment = now() + timedelta(seconds=len(seen))  # each reading of the clock a second after the one before
            seen.append(moment.isoformat())
            return moment

        engine.clock.now = later  # type: ignore[method-assign]
        plan = engine.apply("deactivate-client", "u1", "c2", {"notify_client": False})
        assert plan is not None and plan.status == "completed", plan
        with engine.storage.transaction() as tx:
            run = tx.load_run(plan.run or "")
        (entry,) = [e for e in engine.audit_log() if e["run"] == plan.run]
        assert run is not None and run["created"] == run["updated"] == entry["time"] == seen[0]
    finally:
        engine.close()


@pytest.mark.parametrize("text", ['{"a":1}', "[]", '"x"', "1", "null"])
def test_loads_body_of_what_a_backend_writes(text: str) -> None:
    assert loads_body(text) == json.loads(text)
