"""Delivery from the outbox: retries with backoff, failures parked with the reason,
leases, stopping mid-batch, stable Message-IDs, and `clientflow outbox`.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import DEMO, NOW, PROJECT, Recorder
from delivery_support import MovableClock, queue, row, statuses

from clientflow import Engine
from clientflow.cli import cli
from clientflow.default_plugins.outbox_files import OutboxFolder
from clientflow.outbox import LEASE_SECONDS, PermanentFailure, claim, deliver, release, retry_failed
from clientflow.plugins import Registry
from clientflow.storage import Email, Storage


class Flaky:
    """A notifier that fails the first `failures` sends, then records."""

    name = "flaky"

    def __init__(self, failures: int = 0, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionError("relay unreachable")
        self.sent: list[Email] = []
        self.tries: list[str] = []

    def send(self, email: Email) -> None:
        self.tries.append(email.message_id)
        if len(self.tries) <= self.failures:
            raise self.error
        self.sent.append(email)


@pytest.fixture
def storage() -> Storage:
    return Registry.collect().storage("memory")  # type: ignore[no-any-return]


def outbox(storage: Storage, status: str | None = None) -> list[dict[str, Any]]:
    with storage.transaction() as tx:
        return tx.outbox(status=status)


# retries ------------------------------------------------------------------
def test_failures_back_off_exponentially_then_park_the_message_with_the_reason(storage: Storage) -> None:
    clock = MovableClock()
    queue(storage, 1, "flaky")
    notifier = Flaky(failures=99)
    waits = []
    for attempt in range(1, 5):
        report = deliver(storage, {"flaky": notifier}, clock, max_attempts=4, backoff_seconds=10)
        [message] = outbox(storage)
        assert message["attempts"] == attempt
        if attempt < 4:
            assert (report.retried, message["status"]) == (1, "pending")
            waits.append((datetime.fromisoformat(message["next_attempt"]) - clock.now()).total_seconds())
            clock.advance(waits[-1])
    assert waits == [10, 20, 40]
    assert (report.failed, message["status"]) == (1, "failed")
    assert message["error"] == "ConnectionError: relay unreachable"
    assert report.errors == ["<run1-0@platform.example> to person0@example.com: ConnectionError: relay unreachable"]
    assert len(notifier.tries) == 4 and notifier.sent == []


def test_a_message_is_not_tried_before_it_is_due(storage: Storage) -> None:
    clock = MovableClock()
    queue(storage, 1, "flaky")
    notifier = Flaky(failures=1)
    deliver(storage, {"flaky": notifier}, clock, backoff_seconds=30)
    clock.advance(29)
    assert deliver(storage, {"flaky": notifier}, clock).sent == 0
    clock.advance(1)
    assert deliver(storage, {"flaky": notifier}, clock).sent == 1
    assert notifier.tries == ["<run1-0@platform.example>"] * 2


def test_a_permanent_failure_is_parked_at_once(storage: Storage) -> None:
    queue(storage, 1, "flaky")
    report = deliver(storage, {"flaky": Flaky(failures=1, error=PermanentFailure("550 no such user"))}, MovableClock())
    [message] = outbox(storage)
    assert (report.failed, message["status"], message["attempts"], message["error"]) == (1, "failed", 1, "550 no such user")


def test_a_notifier_that_is_not_enabled_is_waited_for(storage: Storage) -> None:
    queue(storage, 1, "smtp")
    report = deliver(storage, {"flaky": Flaky()}, MovableClock())
    [message] = outbox(storage)
    assert (report.retried, message["status"]) == (1, "pending")
    assert message["error"] == "notifier 'smtp' is not enabled"


def test_an_incomplete_message_is_parked_not_crashed_on(storage: Storage) -> None:
    broken = row(0, "flaky")
    del broken["email"]["subject"]
    with storage.transaction(write=True) as tx:
        tx.add_outbox([broken, row(1, "flaky")])
    notifier = Flaky()
    report = deliver(storage, {"flaky": notifier}, MovableClock())
    assert (report.sent, report.failed) == (1, 1)
    assert "incomplete" in outbox(storage, "failed")[0]["error"]


def test_retry_failed_queues_failed_messages_again_due_now(storage: Storage) -> None:
    clock = MovableClock()
    queue(storage, 3, "flaky")
    deliver(storage, {"flaky": Flaky(failures=2, error=PermanentFailure("refused"))}, clock)
    assert sorted(statuses(storage).values()) == ["failed", "failed", "sent"]
    assert retry_failed(storage, clock) == 2
    waiting = outbox(storage, "pending")
    assert [(m["attempts"], m["next_attempt"]) for m in waiting] == [(0, clock.now().isoformat())] * 2
    notifier = Flaky()
    assert deliver(storage, {"flaky": notifier}, clock).sent == 2
    assert [e.message_id for e in notifier.sent] == ["<run1-0@platform.example>", "<run1-1@platform.example>"]


# leases and stopping --------------------------------------------------------
def test_a_claim_whose_sender_died_is_taken_again_after_the_lease(storage: Storage) -> None:
    clock = MovableClock()
    queue(storage, 2, "flaky")
    claimed = claim(storage, clock, limit=1)  # ... and the process dies here
    assert [r["id"] for r in claimed] == ["run1-0-flaky"]
    notifier = Flaky()
    assert deliver(storage, {"flaky": notifier}, clock).sent == 1  # only the other one
    clock.advance(LEASE_SECONDS - 1)
    assert deliver(storage, {"flaky": notifier}, clock).sent == 0
    clock.advance(1)
    assert deliver(storage, {"flaky": notifier}, clock).sent == 1
    assert [e.message_id for e in notifier.sent] == ["<run1-1@platform.example>", "<run1-0@platform.example>"]
    assert outbox(storage, "sent")[0]["attempts"] == 2


def test_stopping_finishes_the_message_in_hand_and_gives_the_rest_back(storage: Storage) -> None:
    clock = MovableClock()
    queue(storage, 5, "flaky")
    notifier = Flaky()
    report = deliver(storage, {"flaky": notifier}, clock, stop=lambda: len(notifier.sent) >= 1)
    assert report.sent == 1
    assert sorted(statuses(storage).values()) == ["pending"] * 4 + ["sent"]
    assert {m["attempts"] for m in outbox(storage, "pending")} == {0}
    assert deliver(storage, {"flaky": notifier}, clock).sent == 4
    assert len(notifier.sent) == len({e.message_id for e in notifier.sent}) == 5


class Slow(Flaky):
    """Each send takes `seconds` on the test's clock."""

    def __init__(self, clock: MovableClock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds = clock, seconds

    def send(self, email: Email) -> None:
        self.clock.advance(self.seconds)
        super().send(email)


def test_a_slow_sender_gives_back_claims_before_their_lease_could_run_out(storage: Storage) -> None:
    clock = MovableClock()
    queue(storage, 6, "flaky")
    notifier = Slow(clock, seconds=LEASE_SECONDS / 4)
    report = deliver(storage, {"flaky": notifier}, clock, batch=6)
    assert report.sent == 6
    assert set(statuses(storage).values()) == {"sent"}
    assert len({e.message_id for e in notifier.sent}) == 6
    assert max(m["attempts"] for m in outbox(storage)) == 1  # given back, not counted as tried


def test_release_leaves_alone_a_row_claimed_again_by_someone_else(storage: Storage) -> None:
    clock = MovableClock()
    queue(storage, 1, "flaky")
    mine = claim(storage, clock)
    clock.advance(LEASE_SECONDS)
    theirs = claim(storage, clock)
    assert [r["id"] for r in theirs] == [r["id"] for r in mine]
    assert release(storage, mine) == 0
    assert outbox(storage)[0]["status"] == "sending"
    assert release(storage, theirs) == 1
    assert outbox(storage)[0]["status"] == "pending"


# Message-IDs ---------------------------------------------------------------
def test_each_email_keeps_one_message_id_across_notifiers_and_attempts(tmp_path: Path) -> None:
    flaky, recorder = Flaky(failures=1), Recorder()
    engine = Engine.open(PROJECT, data=DEMO, now=NOW, notifiers={"flaky": flaky, "record": recorder})
    engine.config.delivery["backoff_seconds"] = 0
    plan = engine.apply("deactivate-client", "u1", "c1", {"notify_client": True})
    assert plan.status == "completed" and len(plan.emails) == 2
    engine.deliver()
    ids = [e.message_id for e in recorder.sent]
    assert len(set(ids)) == 2 and all(i.startswith(f"<{plan.run}-") for i in ids)
    assert flaky.tries.count(ids[0]) == 2  # failed once, then the same Message-ID again
    assert sorted(e.message_id for e in flaky.sent) == sorted(ids)
    assert sorted(statuses(engine.storage).values()) == ["sent"] * 4


def test_the_outbox_folder_keeps_one_file_per_message_id_however_often_it_is_sent(tmp_path: Path, storage: Storage) -> None:
    clock = MovableClock()
    folder = OutboxFolder(tmp_path / "out")
    queue(storage, 1, "outbox")
    claim(storage, clock)  # the first sender wrote the file, then died before recording it
    from clientflow.outbox import email_of

    folder.send(email_of(outbox(storage)[0]))
    first = (tmp_path / "out" / "run1-0_platform.example.eml").read_bytes()
    clock.advance(LEASE_SECONDS)
    assert deliver(storage, {"outbox": folder}, clock).sent == 1
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["run1-0_platform.example.eml"]
    assert (tmp_path / "out" / "run1-0_platform.example.eml").read_bytes() == first
    assert b"Message-ID: <run1-0@platform.example>" in first


# the command ------------------------------------------------------------------
@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "clientflow.toml").write_text('notifiers = ["outbox"]\n[notifier.outbox]\ndir = "mail"\n', encoding="utf-8")
    return tmp_path


def sqlite_with_messages(project: Path) -> Storage:
    storage: Storage = Registry.collect().storage("sqlite", path=str(project / ".clientflow" / "clientflow.db"))
    queue(storage, 3, "outbox")
    with storage.transaction(write=True) as tx:
        tx.update_outbox("run1-1-outbox", {"status": "failed", "attempts": 5, "error": "SMTPException: 451 try later"})
        tx.update_outbox("run1-2-outbox", {"status": "sent", "attempts": 1, "sent_at": "2025-03-14T09:00:00+00:00"})
    return storage


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_outbox_lists_pending_sent_and_failed_messages_as_json(project: Path) -> None:
    sqlite_with_messages(project).close()
    result = run("outbox", "--project", str(project), "--format", "json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)["messages"]
    assert [(m["id"], m["status"], m["attempts"]) for m in listed] == [
        ("run1-0-outbox", "pending", 0),
        ("run1-1-outbox", "failed", 5),
        ("run1-2-outbox", "sent", 1),
    ]
    assert listed[1]["to"] == ["person1@example.com"] and listed[1]["subject"] == "Message 1"
    assert listed[1]["error"] == "SMTPException: 451 try later"
    only = json.loads(run("outbox", "--project", str(project), "--format", "json", "--status", "failed").output)["messages"]
    assert [m["id"] for m in only] == ["run1-1-outbox"]


def test_outbox_as_text_shows_each_message_and_its_error(project: Path) -> None:
    sqlite_with_messages(project).close()
    result = run("outbox", "--project", str(project))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "1 pending, 1 failed, 1 sent"
    assert lines[1].startswith("pending  run1-0-outbox  to person0@example.com  'Message 0'  attempts 0")
    assert lines[2].startswith("failed   run1-1-outbox  to person1@example.com  'Message 1'  attempts 5")
    assert lines[3] == "         error: SMTPException: 451 try later"
    assert lines[4].startswith("sent     run1-2-outbox") and "sent 2025-03-14T09:00:00+00:00" in lines[4]


def test_outbox_retry_queues_the_failed_and_delivers_what_is_due(project: Path) -> None:
    sqlite_with_messages(project).close()
    result = run("outbox", "--project", str(project), "--retry", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["requeued"] == 1
    assert document["delivery"] == {"sent": 2, "retried": 0, "failed": 0, "errors": []}
    assert [m["status"] for m in document["messages"]] == ["sent"] * 3
    assert sorted(p.name for p in (project / "mail").iterdir()) == ["run1-0_platform.example.eml", "run1-1_platform.example.eml"]


def test_outbox_reads_the_database_given_with_db(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.db"
    storage: Storage = Registry.collect().storage("sqlite", path=str(elsewhere))
    queue(storage, 2, "outbox", run="other")
    storage.close()
    result = run("outbox", "--project", str(project), "--db", str(elsewhere), "--format", "json")
    assert [m["id"] for m in json.loads(result.output)["messages"]] == ["other-0-outbox", "other-1-outbox"]


def test_an_empty_outbox_says_so(project: Path) -> None:
    storage: Storage = Registry.collect().storage("sqlite", path=str(project / ".clientflow" / "clientflow.db"))
    with storage.transaction(write=True):
        pass  # a database made, its outbox empty (one never made is refused: tests/test_no_database.py)
    storage.close()
    result = run("outbox", "--project", str(project))
    assert (result.exit_code, result.output) == (0, "The outbox is empty.\n")


class Blinking:
    """A storage whose write transactions fail `failures` times after the first `healthy` ones."""

    def __init__(self, inner: Storage, healthy: int, failures: int) -> None:
        self.inner, self.healthy, self.failures = inner, healthy, failures
        self.name = inner.name
        self.writes = 0

    def transaction(self, *, write: bool = False) -> Any:
        if write:
            self.writes += 1
            if self.healthy < self.writes <= self.healthy + self.failures:
                raise ConnectionError("the database went away for a moment")
        return self.inner.transaction(write=write)

    def close(self) -> None:
        self.inner.close()


def test_a_result_is_recorded_even_if_the_database_blinks_after_the_send(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    import clientflow.outbox

    monkeypatch.setattr(clientflow.outbox, "RECORD_RETRY_PAUSES", (0, 0, 0))
    queue(storage, 1, "flaky")
    notifier = Flaky()
    report = deliver(Blinking(storage, healthy=1, failures=2), {"flaky": notifier}, MovableClock())  # type: ignore[arg-type]
    assert report.sent == 1 and len(notifier.sent) == 1
    assert statuses(storage) == {"run1-0-flaky": "sent"}


def test_a_database_gone_for_good_after_the_send_is_raised_not_hidden(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    import clientflow.outbox

    monkeypatch.setattr(clientflow.outbox, "RECORD_RETRY_PAUSES", (0, 0, 0))
    queue(storage, 1, "flaky")
    with pytest.raises(ConnectionError):
        deliver(Blinking(storage, healthy=1, failures=4), {"flaky": Flaky()}, MovableClock())  # type: ignore[arg-type]
    assert statuses(storage) == {"run1-0-flaky": "sending"}  # taken again once the lease runs out


def test_an_outbox_with_none_of_the_status_asked_says_that_not_that_it_is_empty(project: Path) -> None:
    storage: Storage = Registry.collect().storage("sqlite", path=str(project / ".clientflow" / "clientflow.db"))
    queue(storage, 2, "outbox")  # pending, none failed
    storage.close()
    result = run("outbox", "--project", str(project), "--status", "failed")
    assert (result.exit_code, result.output) == (0, "No failed messages in the outbox.\n")
    assert "2 pending" in run("outbox", "--project", str(project)).output
