"""`clientflow bulk` against single runs: counts, reports, commits, selections, failures, and a resumed run.

Every expectation comes from `Engine.simulate` run for one client at a time on
the same data; bulk must say the same, client by client, in its summary and
in its report (JSON Lines or CSV), as a dry-run and with --yes.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from conftest import DEMO, PROJECT, REPO

from clientflow import Engine
from clientflow.bulk import run_bulk, where_subjects
from clientflow.cli import cli

ACTOR = "u1"

# each flow with answers that give every kind of outcome over the data: completed, blocked, invalid, needs input
FLOWS = {
    "deactivate-client": {"notify_client": True},
    "delete-client": {"confirm_name": "not the client's name"},
    "disconnect-client": {},
}


def answer_args(answers: dict[str, Any]) -> list[str]:
    return [arg for name, value in answers.items() for arg in ("--answer", f"{name}={json.dumps(value) if isinstance(value, bool) else value}")]


def invoke(*args: object, env: dict[str, str] | None = None) -> Result:
    """`clientflow ARGS` in process, without the CLIENTFLOW_* settings of the machine; notifiers off unless `env` says otherwise."""
    clean: dict[str, str | None] = {name: None for name in os.environ if name.startswith("CLIENTFLOW_")}
    clean["CLIENTFLOW_NOTIFIERS"] = ""
    clean.update(env or {})
    return CliRunner().invoke(cli, [str(a) for a in args], env=clean, catch_exceptions=False)


def bulk(
    flow: str, *selection: object, data: Path | None = None, db: Path | None = None, answers: dict[str, Any] | None = None, extra: tuple[object, ...] = ()
) -> Result:
    source = ["--data", data] if data is not None else ["--db", db]
    return invoke(
        "bulk", flow, "--project", PROJECT, *source, "--actor", ACTOR, *selection, *answer_args(answers if answers is not None else FLOWS[flow]), *extra
    )


def summary_of(result: Result) -> dict[str, Any]:
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def load(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)  # type: ignore[no-any-return]


def client_ids(path: Path) -> list[str]:
    return sorted(c["id"] for c in load(path)["clients"])


def generate(clients: int, path: Path) -> Path:
    """A data file of `clients` clients in a realistic mix of states, from benchmarks/gen_data.py."""
    spec = importlib.util.spec_from_file_location("gen_data", REPO / "benchmarks" / "gen_data.py")
    assert spec is not None and spec.loader is not None
    gen_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_data)
    path.write_text(json.dumps(gen_data.make(clients)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(200, tmp_path_factory.mktemp("data") / "clients-200.json")


@pytest.fixture(params=["demo.yaml", "clients-200.json"])
def data_file(request: pytest.FixtureRequest, generated: Path) -> Path:
    return DEMO if request.param == "demo.yaml" else generated


def single_runs(data: Path, flow: str, answers: dict[str, Any], subjects: list[str]) -> dict[str, dict[str, Any]]:
    """What one `Engine.simulate` per client says: status, failed rules and their messages, changes, emails."""
    engine = Engine.open(PROJECT, data=data, notifiers={})
    out = {}
    for subject in subjects:
        plan = engine.simulate(flow, ACTOR, subject, answers)
        failures = (
            plan.blocked_by if plan.status == "blocked" else plan.errors if plan.status == "invalid" else plan.needs if plan.status == "needs_input" else []
        )
        out[subject] = {
            "status": plan.status,
            "rules": [f.get("rule", f.get("field")) for f in failures],
            "messages": [f["message"] for f in failures] if plan.status in ("blocked", "invalid") else [],
            "changes": plan.changes,
            "emails": len(plan.emails),
        }
    engine.close()
    return out


def expected_summary(flow: str, expected: dict[str, dict[str, Any]], *, dry_run: bool) -> dict[str, Any]:
    statuses = Counter(e["status"] for e in expected.values())
    blocked_by = Counter(rule for e in expected.values() if e["status"] == "blocked" for rule in e["rules"])
    return {
        "flow": flow, "dry_run": dry_run, "total": len(expected), "completed": statuses["completed"], "blocked": statuses["blocked"],
        "invalid": statuses["invalid"], "needs_input": statuses["needs_input"], "skipped": 0, "errors": 0,
        "blocked_by": dict(sorted(blocked_by.items())), "interrupted": False,
    }  # fmt: skip


def report_lines(path: Path) -> dict[str, dict[str, Any]]:
    """The report by subject, CSV read back into the JSON Lines shape."""
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert rows and list(rows[0]) == ["subject", "status", "rules", "message", "run", "changes", "emails"]
        lines = [{**r, "rules": r["rules"].split(), "changes": int(r["changes"]), "emails": int(r["emails"]), "run": r["run"] or None} for r in rows]
    else:
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    by_subject = {line["subject"]: line for line in lines}
    assert len(by_subject) == len(lines), "a subject appears twice in the report"
    return by_subject


def assert_report_matches(report: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]], *, committed: bool) -> None:
    assert sorted(report) == sorted(expected)
    for subject, want in expected.items():
        line = report[subject]
        assert line["status"] == want["status"], subject
        assert line["rules"] == want["rules"], subject
        for message in want["messages"]:
            assert message in line["message"], (subject, message)
        assert line["changes"] == len(want["changes"]), subject
        assert line["emails"] == want["emails"], subject
        assert (line["run"] is not None) == (committed and want["status"] in ("completed", "blocked")), subject


def exit_code(summary: dict[str, Any]) -> int:
    for key, code in (("errors", 1), ("invalid", 4), ("needs_input", 5), ("blocked", 3)):
        if summary[key]:
            return code
    return 0


# dry-run ----------------------------------------------------------------------
@pytest.mark.parametrize("report_name", ["report.jsonl", "report.csv"])
@pytest.mark.parametrize("flow", list(FLOWS))
def test_a_dry_run_says_what_single_runs_say(data_file: Path, flow: str, report_name: str, tmp_path: Path) -> None:
    subjects = client_ids(data_file)
    expected = single_runs(data_file, flow, FLOWS[flow], subjects)
    report = tmp_path / report_name
    result = bulk(flow, "--where", "true", data=data_file, extra=("--format", "json", "--report", report))
    summary = summary_of(result)
    assert summary == expected_summary(flow, expected, dry_run=True)
    assert result.exit_code == exit_code(summary), result.output
    assert_report_matches(report_lines(report), expected, committed=False)


def test_the_demo_data_gives_every_kind_of_outcome() -> None:
    """The parametrized flows above really cover completed, blocked, invalid and needs-input clients."""
    seen = Counter()
    for flow, answers in FLOWS.items():
        seen.update(e["status"] for e in single_runs(DEMO, flow, answers, client_ids(DEMO)).values())
    assert {"completed", "blocked", "invalid", "needs_input"} <= set(seen)


def test_a_dry_run_writes_nothing_to_the_database(tmp_path: Path) -> None:
    db = init_db(DEMO, tmp_path)
    before = Engine.open(PROJECT, db=db, notifiers={}).export()
    result = bulk("deactivate-client", "--where", "true", db=db, extra=("--format", "json"))
    assert summary_of(result)["completed"] > 0
    engine = Engine.open(PROJECT, db=db, notifiers={})
    assert engine.export() == before
    assert engine.audit_log() == []


def test_the_text_summary_groups_blocked_clients_by_rule(generated: Path) -> None:
    expected = single_runs(generated, "deactivate-client", FLOWS["deactivate-client"], client_ids(generated))
    result = bulk("deactivate-client", "--where", "true", data=generated)
    counts = expected_summary("deactivate-client", expected, dry_run=True)
    assert "deactivate-client (dry run): 200 clients" in result.stdout  # the project's word for its subjects
    assert f"completed:   {counts['completed']}" in result.stdout
    assert f"blocked:     {counts['blocked']}" in result.stdout
    for rule, count in counts["blocked_by"].items():
        assert f"    {rule}: {count}" in result.stdout


def test_the_text_summary_names_the_first_blocked_subjects_of_each_rule(generated: Path) -> None:
    """Without --report, the summary says which subjects each rule blocked: the first five, then how many more."""
    expected = single_runs(generated, "deactivate-client", FLOWS["deactivate-client"], client_ids(generated))
    result = bulk("deactivate-client", "--where", "true", data=generated)
    by_rule: dict[str, list[str]] = {}
    for subject, outcome in expected.items():
        if outcome["status"] == "blocked":
            for rule in outcome["rules"]:
                by_rule.setdefault(rule, []).append(subject)
    assert by_rule and any(len(subjects) > 5 for subjects in by_rule.values())
    lines = result.stdout.splitlines()
    for rule, subjects in by_rule.items():
        shown = ", ".join(subjects[:5]) + (f" and {len(subjects) - 5} more" if len(subjects) > 5 else "")
        assert f"    {rule}: {len(subjects)} — {shown}" in lines, result.stdout
    assert "    (--report FILE lists every client, with why)" in lines


# committed ----------------------------------------------------------------------
def init_db(data: Path, tmp_path: Path) -> Path:
    db = tmp_path / "clientflow.db"
    result = invoke("init", "--project", PROJECT, "--data", data, "--db", db)
    assert result.exit_code == 0, result.output
    return db


@pytest.mark.parametrize("report_name", ["report.jsonl", "report.csv"])
def test_yes_commits_each_client_as_a_single_run_would(data_file: Path, report_name: str, tmp_path: Path) -> None:
    flow = "deactivate-client"
    subjects = client_ids(data_file)
    expected = single_runs(data_file, flow, FLOWS[flow], subjects)
    db = init_db(data_file, tmp_path)
    report = tmp_path / report_name
    outbox = tmp_path / "outbox"
    result = bulk(flow, "--where", "true", db=db, extra=("--yes", "--format", "json", "--report", report, "--outbox", outbox))
    summary = summary_of(result)
    assert summary == expected_summary(flow, expected, dry_run=False)
    assert result.exit_code == exit_code(summary), result.output
    assert_report_matches(report_lines(report), expected, committed=True)

    engine = Engine.open(PROJECT, db=db, notifiers={})
    after = {c["id"]: c for c in engine.export()["clients"]}
    original = {c["id"]: c for c in load(data_file)["clients"]}
    for subject, want in expected.items():
        changed = {c.field: c.after for c in want["changes"]}
        assert after[subject] == {**original[subject], **changed}, subject
    audit = Counter((entry["subject"], entry["status"]) for entry in engine.audit_log())
    assert audit == Counter((s, e["status"]) for s, e in expected.items() if e["status"] in ("completed", "blocked"))
    assert len(list(outbox.glob("*.eml"))) == sum(e["emails"] for e in expected.values() if e["status"] == "completed")


# one client's failure ---------------------------------------------------------------
def test_one_clients_failure_neither_stops_nor_undoes_the_others(tmp_path: Path) -> None:
    data = load(DEMO)
    acme = next(c for c in data["clients"] if c["id"] == "c1")
    acme["users"][0]["email"] = "carla at acme"  # not an address: its email cannot be written, so c1 fails
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    expected = single_runs(DEMO, "deactivate-client", FLOWS["deactivate-client"], client_ids(DEMO))
    assert expected["c1"]["status"] == "completed" and expected["c2"]["status"] == "completed"

    db = init_db(broken, tmp_path)
    report = tmp_path / "report.jsonl"
    result = bulk("deactivate-client", "--clients", "c1,c2,nobody,c3", db=db, extra=("--yes", "--format", "json", "--report", report))
    summary = summary_of(result)
    assert result.exit_code == 1, result.output
    assert (summary["total"], summary["completed"], summary["errors"], summary["blocked"]) == (4, 1, 2, 1)
    lines = report_lines(report)
    assert lines["c1"]["status"] == "error" and "carla at acme" in lines["c1"]["message"]
    assert lines["nobody"]["status"] == "error"
    assert lines["c2"]["status"] == "completed"
    assert lines["c3"]["status"] == expected["c3"]["status"] == "blocked"
    clients = {c["id"]: c for c in Engine.open(PROJECT, db=db, notifiers={}).export()["clients"]}
    assert clients["c1"]["subscription"] == "active"  # its transaction was rolled back
    assert clients["c2"]["subscription"] == "deactivated"


def test_the_text_summary_names_the_subjects_that_met_an_error_and_why(tmp_path: Path) -> None:
    # it said only "errors: 2": the unknown id was found in --report alone
    ghosts = [f"nobody{n}" for n in range(7)]
    result = bulk("deactivate-client", "--clients", ",".join(["c2", *ghosts]), data=DEMO)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    at = lines.index("  errors:      7")
    named = lines[at + 1 : at + 6]
    assert [line.split(":")[0].strip() for line in named] == ghosts[:5]
    assert all("nobody" in line.split(":", 1)[1] for line in named)  # each with its own reason, naming it
    assert lines[at + 6] == "    and 2 more (--report FILE lists every client, with why)"


# selections ------------------------------------------------------------------------
def test_where_selects_the_clients_its_condition_holds_for(generated: Path, tmp_path: Path) -> None:
    condition = "client.subscription == 'active' and client.users | length > 1"
    chosen = [c["id"] for c in load(generated)["clients"] if c["subscription"] == "active" and len(c["users"]) > 1]
    assert 0 < len(chosen) < 200
    expected = single_runs(generated, "deactivate-client", FLOWS["deactivate-client"], chosen)
    report = tmp_path / "report.jsonl"
    result = bulk("deactivate-client", "--where", condition, data=generated, extra=("--format", "json", "--report", report))
    assert summary_of(result) == expected_summary("deactivate-client", expected, dry_run=True)
    assert_report_matches(report_lines(report), expected, committed=False)


@pytest.mark.parametrize("source", ["db", "data"])
def test_a_where_condition_that_does_not_read_the_subject_lists_every_id_page_by_page(
    source: str, generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--where true` lists the ids alone where the storage offers it (SQLite: no document read for it), the same as a
    condition reading each client that holds for every one; `false` lists none."""
    import clientflow.bulk

    monkeypatch.setattr(clientflow.bulk, "PAGE", 7)  # 200 clients: many pages, the last one short
    engine = Engine.open(PROJECT, db=init_db(generated, tmp_path), notifiers={}) if source == "db" else Engine.open(PROJECT, data=generated, notifiers={})
    statements: list[str] = []
    if source == "db":
        engine.storage._connect().set_trace_callback(statements.append)  # type: ignore[attr-defined]
    with engine:
        assert list(where_subjects(engine, "true")) == client_ids(generated)
        read = [s for s in statements if "body" in s]
        assert list(where_subjects(engine, "false")) == []
        assert read == []  # the ids alone (both backends: the same ids)
        assert list(where_subjects(engine, "client.id is not none and product.name is not none")) == client_ids(generated)
        if source == "db":
            assert len([s for s in statements if "body" in s]) == 200 // 7 + 1  # a condition reading the client reads each page's documents


def test_a_where_condition_that_does_not_compile_is_an_error(generated: Path) -> None:
    result = bulk("deactivate-client", "--where", "client.nonsense ==", data=generated)
    assert result.exit_code == 1
    assert "--where" in result.stderr


def test_a_where_condition_reading_a_field_the_schema_lacks_is_refused_before_any_record_with_a_did_you_mean(tmp_path: Path) -> None:
    # it ran, and failed on the first record: "--where failed on c1: ... there is no 'subscripton' here"
    db = init_db(DEMO, tmp_path)
    result = bulk("deactivate-client", "--where", "client.subscripton == 'active'", db=db, extra=("--yes",))
    assert result.exit_code == 1
    assert "--where: client has no field 'subscripton'; did you mean 'subscription'?" in result.stderr
    assert "failed on" not in result.stderr
    clients = Engine.open(PROJECT, db=db, notifiers={}).export()["clients"]
    assert clients == load(DEMO)["clients"]  # nothing committed


def test_clients_lists_ids_and_names(tmp_path: Path) -> None:
    report = tmp_path / "report.jsonl"
    result = bulk("deactivate-client", "--clients", "c1, Sunset Cafe ,c2", data=DEMO, extra=("--format", "json", "--report", report))
    summary = summary_of(result)
    assert (summary["total"], summary["completed"], summary["blocked"], summary["blocked_by"]) == (3, 2, 1, {"active-subscription": 1})
    assert {s: line["status"] for s, line in report_lines(report).items()} == {"c1": "completed", "Sunset Cafe": "blocked", "c2": "completed"}


def test_clients_file_reads_one_per_line_skipping_comments_and_blank_lines(tmp_path: Path) -> None:
    listing = tmp_path / "clients.txt"
    listing.write_text("# year-end offboarding\nc1\n\n  c4  \n# not this one: c2\nc6\n", encoding="utf-8")
    report = tmp_path / "report.jsonl"
    result = bulk("deactivate-client", "--clients-file", listing, data=DEMO, extra=("--format", "json", "--report", report))
    expected = single_runs(DEMO, "deactivate-client", FLOWS["deactivate-client"], ["c1", "c4", "c6"])
    assert summary_of(result) == expected_summary("deactivate-client", expected, dry_run=True)
    assert_report_matches(report_lines(report), expected, committed=False)


def test_subjects_are_chosen_exactly_one_way() -> None:
    result = bulk("deactivate-client", "--clients", "c1", "--where", "true", data=DEMO)
    assert result.exit_code == 2
    result = bulk("deactivate-client", data=DEMO)
    assert result.exit_code == 2


# interrupted and resumed ----------------------------------------------------------------
def completed_per_client(db: Path) -> Counter[str]:
    log = Engine.open(PROJECT, db=db, notifiers={}).audit_log()
    return Counter(entry["subject"] for entry in log if entry["status"] == "completed")


def test_a_bulk_run_stopped_after_some_clients_resumes_without_repeating_them(generated: Path, tmp_path: Path) -> None:
    db = init_db(generated, tmp_path)
    expected = single_runs(generated, "deactivate-client", FLOWS["deactivate-client"], client_ids(generated))
    answers = FLOWS["deactivate-client"]

    engine = Engine.open(PROJECT, db=db, notifiers={})
    seen: list[Any] = []
    first = run_bulk(
        engine, "deactivate-client", ACTOR, where_subjects(engine, "true"), answers, dry_run=False, selection="where:true",
        on_item=seen.append, should_stop=lambda: len(seen) >= 25,
    )  # fmt: skip
    assert first.interrupted and first.total == 25
    committed_before = {item.subject for item in seen if item.status == "completed"}
    assert committed_before and first.completed == len(committed_before)

    again = Engine.open(PROJECT, db=db, notifiers={})
    second = run_bulk(again, "deactivate-client", ACTOR, where_subjects(again, "true"), answers, dry_run=False, selection="where:true")
    assert not second.interrupted
    assert second.total == 200
    assert second.skipped == len(committed_before)
    assert second.completed + second.skipped == sum(e["status"] == "completed" for e in expected.values())
    completed = completed_per_client(db)
    assert set(completed) == {s for s, e in expected.items() if e["status"] == "completed"}
    assert set(completed.values()) == {1}


def test_ctrl_c_stops_a_committing_bulk_after_the_current_client_and_the_same_command_goes_on(tmp_path: Path) -> None:
    data = generate(2000, tmp_path / "clients-2000.json")  # enough clients to be stopped midway
    db = init_db(data, tmp_path)
    first_report = tmp_path / "first.jsonl"
    command = [sys.executable, "-c", "from clientflow.cli import main; main()", "bulk", "deactivate-client", "--project", str(PROJECT), "--db", str(db),
               "--actor", ACTOR, "--where", "true", "--answer", "notify_client=true", "--yes"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")} | {"CLIENTFLOW_NOTIFIERS": "", "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([*command, "--report", str(first_report)], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if first_report.exists() and len(first_report.read_text(encoding="utf-8").splitlines()) >= 10:
            process.send_signal(signal.SIGINT)
            break
        time.sleep(0.005)
    out, err = process.communicate(timeout=120)
    first = report_lines(first_report)
    assert 10 <= len(first) < 2000, "the run ended before it could be interrupted"
    assert f"Interrupted after {len(first)}; run the same command again to go on." in out, (out, err)
    committed_before = {s for s, line in first.items() if line["status"] == "completed"}
    assert completed_per_client(db) == Counter(committed_before)

    second_report = tmp_path / "second.jsonl"
    done = subprocess.run([*command, "--report", str(second_report), "--format", "json"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    summary = json.loads(done.stdout)
    assert (summary["total"], summary["skipped"], summary["interrupted"]) == (2000, len(committed_before), False), done.stderr
    second = report_lines(second_report)
    assert {s for s, line in second.items() if line["status"] == "skipped"} == committed_before
    completed = completed_per_client(db)
    assert set(completed.values()) == {1}
    assert set(completed) == committed_before | {s for s, line in second.items() if line["status"] == "completed"}
    assert len(completed) == summary["completed"] + summary["skipped"]


def test_a_report_that_cannot_be_written_stops_the_command_before_any_subject(tmp_path: Path) -> None:
    # it exited 70 ("This is a bug") with an unexpected FileNotFoundError, once the engine was open
    db = init_db(DEMO, tmp_path)
    before = Engine.open(PROJECT, db=db, notifiers={}).export()
    report = tmp_path / "no-such-folder" / "done.csv"
    result = bulk("deactivate-client", "--clients", "c1,c2", "--yes", db=db, extra=("--report", report))
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: cannot write the report {report}: No such file or directory"), result.stderr
    assert Engine.open(PROJECT, db=db, notifiers={}).export() == before  # nothing was committed
