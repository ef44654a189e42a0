"""The short paths a commit takes say what the general ones say.

* `now`'s date and time (`Moment`) are the slices of its ISO 8601 text that `date().isoformat()`
  and `time().replace(microsecond=0).isoformat()` give, in any zone.
* A commit happens at one instant: its scope's `now`, its run's times and its audit entry's time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from conftest import open_engine
from hypothesis import example, given
from hypothesis import strategies as st

from clientflow.language.words import Moment

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
