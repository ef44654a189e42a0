"""`bulk --workers N`: clients spread over processes sharing one database give a one-process run's result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import DEMO, PROJECT, REPO

from clientflow import Engine

sys.path.insert(0, str(REPO / "benchmarks"))
from gen_data import make  # noqa: E402

NOW = "2026-11-28T12:00:00+00:00"


def _env(storage: dict[str, str], outbox: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")}
    env.update(storage, CLIENTFLOW_NOTIFIERS="outbox", CLIENTFLOW_OUTBOX=str(outbox))
    return env


def _bulk(env: dict[str, str], workers: int) -> dict[str, Any]:
    args = ["bulk", "deactivate-client", "--project", str(PROJECT), "--actor", "u1", "--where", "true", "--answer", "notify_client=true"]
    args += ["--yes", "--workers", str(workers), "--format", "json", "--now", NOW]
    done = subprocess.run([sys.executable, "-m", "clientflow", *args], env=env, capture_output=True, text=True, timeout=300, cwd=PROJECT)
    assert done.returncode in (0, 3), done.stderr  # 3: some clients are blocked by a rule, as the data makes them
    return dict(json.loads(done.stdout))


def _state(env: dict[str, str]) -> tuple[Any, ...]:
    with Engine.open(PROJECT, env=env, notifiers={}) as engine:
        audit = sorted((e["subject"], e["status"], json.dumps(e["changes"], sort_keys=True)) for e in engine.audit_log())
        with engine.storage.transaction() as tx:
            mail = sorted((m["email"]["template"], tuple(m["email"]["to"]), m["status"]) for m in tx.outbox())
        return engine.export(), audit, mail


def _load(env: dict[str, str], data_file: Path) -> None:
    with Engine.open(PROJECT, env=env, notifiers={}) as engine:
        engine.load_data(data_file)


def _compare(tmp_path: Path, one: dict[str, str], two: dict[str, str]) -> None:
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps(make(150, seed=11)), encoding="utf-8")
    env_one, env_two = _env(one, tmp_path / "out1"), _env(two, tmp_path / "out2")
    _load(env_one, data_file)
    _load(env_two, data_file)
    single, spread = _bulk(env_one, 1), _bulk(env_two, 2)
    assert spread == single
    assert single["total"] == 150 and single["completed"] > 50 and single["blocked"] > 10
    exported_one, audit_one, mail_one = _state(env_one)
    exported_two, audit_two, mail_two = _state(env_two)
    assert exported_two == exported_one
    assert audit_two == audit_one and len([a for a in audit_one if a[1] == "completed"]) == single["completed"]
    assert mail_two == mail_one and all(status == "sent" for _, _, status in mail_one)
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) and len(list((tmp_path / "out2").iterdir())) == len(mail_two)


def test_two_workers_on_sqlite_equal_one(tmp_path: Path) -> None:
    _compare(tmp_path, {"CLIENTFLOW_DB": str(tmp_path / "one.db")}, {"CLIENTFLOW_DB": str(tmp_path / "two.db")})


@pytest.mark.postgres
def test_two_workers_on_postgresql_equal_one(tmp_path: Path, postgres_url: str, postgres_schema: str) -> None:
    _compare(
        tmp_path,
        {"CLIENTFLOW_DB": postgres_url, "CLIENTFLOW_DB_SCHEMA": postgres_schema + "_one"},
        {"CLIENTFLOW_DB": postgres_url, "CLIENTFLOW_DB_SCHEMA": postgres_schema},
    )
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{postgres_schema}_one" CASCADE')


def test_workers_need_a_shared_database(tmp_path: Path) -> None:
    args = ["bulk", "deactivate-client", "--project", str(PROJECT), "--data", str(DEMO), "--actor", "u1", "--where", "true", "--workers", "2"]
    done = subprocess.run([sys.executable, "-m", "clientflow", *args], capture_output=True, text=True, timeout=60, cwd=PROJECT)
    assert done.returncode == 2
    assert "--workers needs a shared database" in done.stderr


# stopped, killed, resumed: nothing lost, nothing twice, the operator told ---------------
ROUND = 2000  # enough clients that a signal lands while the workers are committing


def _committing(tmp_path: Path, *, notify: bool = False) -> tuple[list[str], dict[str, str], Path]:
    """A database of ROUND clients and the `bulk --yes --workers 2` command over it, its report in tmp_path/report.jsonl."""
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps(make(ROUND, seed=5, committable=True)), encoding="utf-8")
    env = _env({"CLIENTFLOW_DB": str(tmp_path / "x.db")}, tmp_path / "out")
    _load(env, data_file)
    report = tmp_path / "report.jsonl"
    args = ["bulk", "deactivate-client", "--project", str(PROJECT), "--actor", "u1", "--where", "true", "--answer", f"notify_client={str(notify).lower()}"]
    command = [sys.executable, "-m", "clientflow", *args, "--yes", "--workers", "2", "--report", str(report)]
    return command, env, report


def _started(command: list[str], env: dict[str, str], report: Path) -> subprocess.Popen[str]:
    """The command, in a process group of its own, once its report has ten lines (the workers are committing)."""
    process = subprocess.Popen(command, env=env, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if report.exists() and len(report.read_text(encoding="utf-8").splitlines()) >= 10:
            return process
        time.sleep(0.005)
    process.kill()
    raise AssertionError(f"the bulk ended before it could be stopped: {process.communicate()}")


def _communicate(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Its output once it ends; a bulk that hangs is killed with its workers, so that a failing test leaves nothing behind."""
    try:
        return process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise


def _completed_once(env: dict[str, str]) -> set[str]:
    """The clients with a completed audit entry, each checked to have exactly one, its run's emails queued once each (and no other run's)."""
    with Engine.open(PROJECT, env=env, notifiers={}) as engine:
        entries = [e for e in engine.audit_log() if e["status"] == "completed"]
        with engine.storage.transaction() as tx:
            queued = [(m["run"], m["message_id"]) for m in tx.outbox()]
    subjects = [e["subject"] for e in entries]
    assert len(subjects) == len(set(subjects)), "a client changed twice"
    assert {run for run, _ in queued} == {e["run"] for e in entries}, "an email queued for a run that did not commit, or a run without its email"
    assert len({message for _, message in queued}) == len(queued), "an email queued twice"
    return set(subjects)


def _group_gone(pgid: int, within: float = 30.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.killpg(pgid, signal.SIGKILL)  # a failing test leaves no process behind
    return False


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_a_stopped_spread_bulk_says_interrupted_and_goes_on(tmp_path: Path, how: str) -> None:
    # Ctrl-C at a terminal reaches the workers too: each died in KeyboardInterrupt and the bulk
    # ended "error: a bulk worker stopped" (exit 1, no summary); SIGTERM killed the parent outright
    command, env, report = _committing(tmp_path)
    process = _started(command, env, report)
    if how == "ctrl-c":
        os.killpg(process.pid, signal.SIGINT)  # as a terminal sends it: to the whole group
    else:
        process.send_signal(signal.SIGTERM)  # as a service manager stops a job
    out, err = _communicate(process)
    assert process.returncode == 130, (out, err)
    first = {json.loads(line)["subject"] for line in report.read_text(encoding="utf-8").splitlines()}
    assert f"Interrupted after {len(first)}; run the same command again to go on." in out, (out, err)
    assert _completed_once(env) == first
    assert _group_gone(process.pid), "a worker outlived the bulk"

    done = subprocess.run([*command[:-2], "--format", "json"], env=env, cwd=PROJECT, capture_output=True, text=True, timeout=300)
    summary = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert (summary["total"], summary["skipped"], summary["completed"]) == (ROUND, len(first), ROUND - len(first))
    assert len(_completed_once(env)) == ROUND


def test_workers_end_when_the_bulk_is_killed(tmp_path: Path) -> None:
    # they waited for work forever, each holding the database open
    command, env, report = _committing(tmp_path)
    process = _started(command, env, report)
    process.kill()
    process.wait(timeout=30)
    assert _group_gone(process.pid), "the workers outlived their killed parent"
    before = _completed_once(env)
    done = subprocess.run([*command[:-2], "--format", "json"], env=env, cwd=PROJECT, capture_output=True, text=True, timeout=300)
    summary = json.loads(done.stdout)
    assert (summary["total"], summary["skipped"]) == (ROUND, len(before)), done.stderr
    assert len(_completed_once(env)) == ROUND


def _catching(pid: int, sig: int, within: float = 60.0) -> None:
    """Wait until process `pid` has a handler for `sig` (its SigCgt mask in /proc)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:") and int(line.split()[1], 16) >> (sig - 1) & 1:
                return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never caught signal {sig}")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and "spawn_main" in (stat.parent / "cmdline").read_bytes().decode(errors="replace"):
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")
@pytest.mark.parametrize(("sig", "said"), [(signal.SIGKILL, "ended by signal 9 with"), (signal.SIGTERM, "ended by exit code 143 with")])
def test_a_worker_killed_from_outside_is_told_not_hidden(tmp_path: Path, sig: signal.Signals, said: str) -> None:
    # the bulk exited 0, "completed" short of the clients by those the dead worker held, interrupted: false
    # (SIGKILL: as the OOM killer would; SIGTERM to the worker alone: the rest of its chunk was answered "skipped", and lost)
    command, env, report = _committing(tmp_path)
    process = _started(command, env, report)
    workers = _children(process.pid)
    assert len(workers) == 2, workers
    if sig == signal.SIGTERM:  # once it catches it: a worker still starting ends by the signal itself (told as such)
        _catching(workers[0], sig)
    os.kill(workers[0], sig)
    out, err = _communicate(process)
    assert process.returncode == 1, (out, err)
    assert f"a bulk worker stopped: {said}" in err and "run the same command again to go on" in err, err
    committed = _completed_once(env)
    assert len(committed) < ROUND
    done = subprocess.run([*command[:-2], "--format", "json"], env=env, cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert json.loads(done.stdout)["skipped"] == len(committed), done.stderr
    assert len(_completed_once(env)) == ROUND


def test_a_bulk_stopped_before_its_emails_went_out_says_so_and_the_next_run_sends_them(tmp_path: Path) -> None:
    # a stop request did not stop delivery (a second signal broke it off mid-message), and a
    # run again found every client committed (completed 0) and sent nothing
    from clientflow.bulk import run_bulk, where_subjects

    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps(make(40, seed=5, committable=True)), encoding="utf-8")
    env = _env({"CLIENTFLOW_DB": str(tmp_path / "x.db")}, tmp_path / "out")
    _load(env, data_file)
    answers = {"notify_client": True}
    seen: list[Any] = []
    with Engine.open(PROJECT, env=env) as engine:
        first = run_bulk(
            engine, "deactivate-client", "u1", where_subjects(engine, "true"), answers, dry_run=False, selection="where:true",
            on_item=seen.append, should_stop=lambda: len(seen) >= 40,  # asked once every client is committed: as delivery starts
        )  # fmt: skip
    assert first.completed == 40 and first.interrupted
    assert len(_completed_once(env)) == 40
    assert _outbox_statuses(env) == {"pending": first.emails_waiting} and first.to_json()["emails_waiting"] == first.emails_waiting > 40
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    with Engine.open(PROJECT, env=env) as engine:
        second = run_bulk(engine, "deactivate-client", "u1", where_subjects(engine, "true"), answers, dry_run=False, selection="where:true")
    assert (second.completed, second.skipped, second.emails_waiting) == (0, 40, 0)
    assert _outbox_statuses(env) == {"sent": first.emails_waiting}
    assert len(list((tmp_path / "out").iterdir())) == first.emails_waiting


def _outbox_statuses(env: dict[str, str]) -> dict[str, int]:
    with Engine.open(PROJECT, env=env, notifiers={}) as engine, engine.storage.transaction() as tx:
        statuses = [m["status"] for m in tx.outbox()]
    return {s: statuses.count(s) for s in set(statuses)}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")
def test_ctrl_c_while_the_workers_start_prints_no_traceback(tmp_path: Path) -> None:
    # a worker still importing when Ctrl-C came printed its KeyboardInterrupt traceback to the terminal
    command, env, _ = _committing(tmp_path)
    process = subprocess.Popen(command, env=env, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None and not _children(process.pid):
        time.sleep(0.001)
    first = _children(process.pid)[0]
    status = dict(line.split(":", 1) for line in (Path("/proc") / str(first) / "status").read_text().splitlines() if ":" in line)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal sends it, while the workers import
    held = int(status["SigIgn"], 16) | int(status["SigBlk"], 16)
    assert held & (1 << (signal.SIGINT - 1)), "a worker started deaf to Ctrl-C only once it had imported the engine"
    out, err = _communicate(process)
    assert process.returncode == 130, (out, err)
    assert "Interrupted after" in out, (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert _group_gone(process.pid)
