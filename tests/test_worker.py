"""`clientflow worker`: several processes share one outbox, each email goes out once,
and SIGTERM lets the message in hand finish before a clean exit.

Workers are real processes running the command; mail goes to a real SMTP
server in this process, which counts Message-IDs.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import PROJECT, REPO
from delivery_support import HOST, Mailbox, queue, smtp_server, statuses

from clientflow.plugins import Registry
from clientflow.storage import Storage

WAIT = 120  # seconds any single wait in these tests may take at most


def write_config(project: Path, storage: str, smtp_port: int, *, batch: int = 10) -> None:
    (project / "clientflow.toml").write_text(
        f"""
storage = {storage}
notifiers = ["smtp"]
[notifier.smtp]
host = "{HOST}"
port = {smtp_port}
security = "none"
timeout = 10
[delivery]
batch = {batch}
poll_seconds = 0.05
backoff_seconds = 1
""",
        encoding="utf-8",
    )


class Worker:
    """One `clientflow worker` process."""

    def __init__(self, project: Path, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), "CLIENTFLOW_LOAD_PLUGINS": "sqlite,postgres,smtp"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from clientflow.cli import main; main()", "worker", "--project", str(project), "--format", "json", *args],
            cwd=PROJECT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []

    def wait_ready(self) -> None:
        """Read its standard error until it says it is ready (bounded)."""
        assert self.process.stderr is not None
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            readable, _, _ = select.select([self.process.stderr], [], [], deadline - time.monotonic())
            if not readable:
                break
            line = self.process.stderr.readline()
            if not line:
                break
            self.log.append(line)
            if line.startswith("worker: ready"):
                return
        self.process.kill()
        raise AssertionError("the worker never got ready:\n" + "".join(self.log) + self.process.stderr.read())

    def finish(self, *, terminate: bool = False) -> tuple[int, dict[str, object], str]:
        if terminate:
            self.process.send_signal(signal.SIGTERM)
        try:
            out, err = self.process.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
        log = "".join(self.log) + err
        assert out.strip(), f"no summary on stdout; stderr:\n{log}"
        return self.process.returncode, json.loads(out), log


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.communicate()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.mark.postgres
def test_four_workers_deliver_a_thousand_emails_exactly_once(tmp_path: Path, postgres_url: str, postgres_schema: str, workers: list[Worker]) -> None:
    storage: Storage = Registry.collect().storage("postgresql", url=postgres_url, schema=postgres_schema)
    with storage.transaction():
        pass  # the schema made before the workers start: a worker refuses a database that was never made
    with smtp_server() as (port, box):
        write_config(tmp_path, f'{{backend = "postgresql", url = "{postgres_url}", schema = "{postgres_schema}"}}', port)
        workers.extend(Worker(tmp_path) for _ in range(4))
        for worker in workers:
            worker.wait_ready()
        started = time.monotonic()
        expected = queue(storage, 1000)
        wait_for(lambda: len(box.received) >= 1000, "1,000 emails at the server")  # cheap: the server needs the CPU
        elapsed = time.monotonic() - started
        wait_for(lambda: set(statuses(storage).values()) == {"sent"}, "every message recorded as sent")
        results = [worker.finish(terminate=True) for worker in workers]
    counts = box.message_ids()
    assert sorted(counts) == sorted(expected)
    assert set(counts.values()) == {1}, [m for m, n in counts.items() if n > 1][:5]
    assert [code for code, _, _ in results] == [0, 0, 0, 0], [log for _, _, log in results]
    sent = [int(summary["sent"]) for _, summary, _ in results]  # type: ignore[call-overload]
    assert sum(sent) == 1000
    assert sum(1 for n in sent if n) >= 2, f"one worker did everything: {sent}"
    print(f"\n4 workers on PostgreSQL: 1000 emails in {elapsed:.2f}s ({1000 / elapsed:.0f}/s), per worker {sent}")
    storage.close()


def test_two_workers_on_sqlite_take_turns_and_send_each_email_once(tmp_path: Path, workers: list[Worker]) -> None:
    db = tmp_path / "shared.db"
    storage: Storage = Registry.collect().storage("sqlite", path=str(db))
    expected = queue(storage, 200)
    with smtp_server() as (port, box):
        write_config(tmp_path, f'{{backend = "sqlite", path = "{db}"}}', port)
        workers.extend(Worker(tmp_path, "--once") for _ in range(2))
        results = [worker.finish() for worker in workers]
    assert [code for code, _, _ in results] == [0, 0], [log for _, _, log in results]
    counts = box.message_ids()
    assert sorted(counts) == sorted(expected) and set(counts.values()) == {1}
    assert sum(int(summary["sent"]) for _, summary, _ in results) == 200  # type: ignore[call-overload]
    assert set(statuses(storage).values()) == {"sent"}


def test_sigterm_finishes_the_message_in_hand_gives_back_the_rest_and_exits_0(tmp_path: Path, workers: list[Worker]) -> None:
    db = tmp_path / "outbox.db"
    storage: Storage = Registry.collect().storage("sqlite", path=str(db))
    queue(storage, 5)
    hold = threading.Event()
    with smtp_server(Mailbox(hold=hold)) as (port, box):
        write_config(tmp_path, f'{{backend = "sqlite", path = "{db}"}}', port)
        worker = Worker(tmp_path)
        workers.append(worker)
        worker.wait_ready()
        assert box.data_started.wait(WAIT), "the worker never started sending"
        worker.process.send_signal(signal.SIGTERM)
        hold.set()  # the server accepts the message the worker is sending
        code, summary, log = worker.finish()
    assert code == 0, log
    assert summary == {"sent": 1, "retried": 0, "failed": 0, "errors": [], "stopped": True}
    assert list(box.message_ids().values()) == [1]
    assert sorted(statuses(storage).values()) == ["pending"] * 4 + ["sent"]  # none left "sending"
    with storage.transaction() as tx:
        assert {m["attempts"] for m in tx.outbox(status="pending")} == {0}


def test_once_delivers_what_is_due_and_exits(tmp_path: Path, workers: list[Worker]) -> None:
    db = tmp_path / "outbox.db"
    storage: Storage = Registry.collect().storage("sqlite", path=str(db))
    queue(storage, 3)
    with smtp_server(Mailbox(refuse_data="451 4.3.0 later")) as (port, box):
        write_config(tmp_path, f'{{backend = "sqlite", path = "{db}"}}', port)
        worker = Worker(tmp_path, "--once")
        workers.append(worker)
        code, summary, log = worker.finish()
    assert code == 0, log
    assert (summary["sent"], summary["retried"], summary["stopped"]) == (0, 3, False)
    assert "worker: sent 0, to retry 3, failed 0" in log
    assert "sqlite storage, notifiers smtp, once\n" in log and "every" not in log  # it does not promise a next round
    assert box.received == []


def test_once_tells_of_emails_another_sender_claimed_and_when_they_are_due_again(tmp_path: Path, workers: list[Worker]) -> None:
    # a bulk or worker killed while sending leaves its claimed emails as `sending` until the lease runs
    # out; `worker --once` said "done; sent 1" and nothing of them, as though all had gone out
    from clientflow.outbox import claim
    from clientflow.runtime.context import Clock

    db = tmp_path / "outbox.db"
    storage: Storage = Registry.collect().storage("sqlite", path=str(db))
    queue(storage, 3)
    taken = claim(storage, Clock(None), limit=2)  # by a sender that is then killed
    until = max(datetime.fromisoformat(row["claimed"]) for row in taken) + timedelta(seconds=300)
    with smtp_server(Mailbox()) as (port, box):
        write_config(tmp_path, f'{{backend = "sqlite", path = "{db}"}}', port)
        worker = Worker(tmp_path, "--once")
        workers.append(worker)
        code, summary, log = worker.finish()
    assert code == 0, log
    assert (summary["sent"], summary["held"], summary["held_until"]) == (1, 2, until.isoformat(timespec="seconds")), summary
    assert len(box.received) == 1
    assert sorted(statuses(storage).values()) == ["sending", "sending", "sent"]
    text = subprocess.run(
        [sys.executable, "-c", "from clientflow.cli import main; main()", "worker", "--project", str(tmp_path), "--once"],
        env={**os.environ, "PYTHONPATH": str(REPO), "CLIENTFLOW_LOAD_PLUGINS": "sqlite,postgres,smtp"}, capture_output=True, text=True, timeout=WAIT,
    )  # fmt: skip
    assert text.returncode == 0, text.stderr
    assert (
        f"worker: 2 email(s) claimed by another sender, which may have been stopped while sending; due again when its claim runs out, at {until.isoformat(timespec='seconds')}"
        in text.stdout
    )
