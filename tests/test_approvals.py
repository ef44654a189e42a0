"""Runs that wait for a person: approval steps, loaded, stored as awaiting_approval, decided, expired.

The tests run on a copy of the fixture project (tests/approval_support.py) whose deactivate-client
flow ends with an approval step by another administrator of the practice, unless the reason is 'urgent'.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from approval_support import APPROVAL_STEP, APPROVER, OTHER_PRACTICE, STANDARD, STARTER, SUBJECT, THIRD, approval_project, open_approval
from cli_support import invoke
from conftest import NOW
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientflow import Engine
from clientflow.errors import DefinitionError, ExitCode, RunError, RunNotFound
from clientflow.runtime.due import carry_out
from clientflow.storage import SchedulingTransaction

ANSWERS = {"notify_client": False}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return approval_project(tmp_path / "project")


@pytest.fixture(params=["memory", "sqlite"])
def engine(request: pytest.FixtureRequest, root: Path) -> Any:
    opened = open_approval(root, request.param)
    yield opened
    opened.close()


def waiting(engine: Engine, answers: dict[str, Any] | None = None) -> str:
    plan = engine.apply("deactivate-client", STARTER, SUBJECT, answers or ANSWERS)
    assert plan is not None and plan.status == "awaiting_approval", plan.to_json()
    assert plan.run is not None
    return plan.run


def subscription(engine: Engine) -> str:
    return str(next(c for c in engine.export()["clients"] if c["id"] == SUBJECT)["subscription"])


def run_record(engine: Engine, run: str) -> dict[str, Any]:
    with engine.storage.transaction() as tx:
        found = tx.load_run(run)
    assert found is not None
    return found


def pending(engine: Engine) -> list[dict[str, Any]]:
    with engine.storage.transaction() as tx:
        assert isinstance(tx, SchedulingTransaction)
        return tx.scheduled(status="pending")


def outbox(engine: Engine) -> list[dict[str, Any]]:
    with engine.storage.transaction() as tx:
        return tx.outbox()


# the language -------------------------------------------------------------------------
def test_the_model_holds_the_approval_as_plain_data(root: Path) -> None:
    engine = open_approval(root, "memory")
    (step,) = engine.project.flow("deactivate-client").approvals
    assert step.kind == "approval" and step.approval is not None
    assert [r.name for r in step.approval.approvers] == ["practice-administrator"]
    assert (step.approval.expires, step.approval.seconds) == ("7 days", 7 * 86400)
    assert step.approval.request is not None and step.approval.request.template == "approval-request"
    assert step.approval.decision is not None and step.approval.decision.to.source == "actor.email"
    assert engine.project.flow("delete-client").approvals == ()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("expires: 7 days", "expires: 7 fortnights", "'7 fortnights' is not a duration"),
        ("      - rule: practice-administrator\n    expires", "      - rule: practice-admin\n    expires", "unknown rule 'practice-admin'"),
        ("template: approval-request", "template: approval-requets", "approval-requets"),
        ("to: actor.email", "to: actor.emial", "emial"),
        ("    expires: 7 days\n", "", "missing key 'expires'"),
    ],
)
def test_a_wrong_approval_step_is_a_located_error(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in APPROVAL_STEP
    root = approval_project(tmp_path / "project", APPROVAL_STEP.replace(old, new))
    with pytest.raises(DefinitionError) as caught:
        open_approval(root, "memory")
    assert message in str(caught.value)
    assert all(p.location.path.endswith("deactivate-client.yaml") for p in caught.value.problems), str(caught.value)


def test_approvers_belong_to_an_approval_step_and_one_is_enough(tmp_path: Path) -> None:
    wrong = APPROVAL_STEP.replace("kind: approval", "kind: info")
    with pytest.raises(DefinitionError, match="approvers belongs to a step of kind: approval"):
        open_approval(approval_project(tmp_path / "a", wrong), "memory")
    twice = APPROVAL_STEP + APPROVAL_STEP.replace("id: second-approval", "id: third-approval")
    with pytest.raises(DefinitionError, match="a flow waits for one approval"):
        open_approval(approval_project(tmp_path / "b", twice), "memory")


# waiting ------------------------------------------------------------------------------
def test_a_run_reaching_the_approval_step_waits_and_changes_nothing(engine: Engine) -> None:
    dry = engine.simulate("deactivate-client", STARTER, SUBJECT, ANSWERS)
    assert dry.status == "awaiting_approval" and [c.op for c in dry.changes] == ["update"]
    run = waiting(engine)
    assert subscription(engine) == "active"
    record = run_record(engine, run)
    assert record["status"] == "awaiting_approval" and record["approval"]["step"] == "second-approval"
    assert record["approval"]["expires"] == (NOW + timedelta(days=7)).isoformat()
    (expiry,) = pending(engine)
    assert (expiry["kind"], expiry["run"], expiry["due"]) == ("approval", run, record["approval"]["expires"])
    assert engine.audit_log()[-1]["status"] == "awaiting_approval"
    with pytest.raises(RunError, match="awaits approval"):
        engine.commit(run)


def test_the_when_condition_makes_the_approval_optional(engine: Engine) -> None:
    plan = engine.apply("deactivate-client", STARTER, SUBJECT, {**ANSWERS, "reason": "urgent"})
    assert plan is not None and plan.status == "completed" and plan.to_json()["approval"] is None
    assert subscription(engine) == "deactivated" and pending(engine) == []


def test_the_approvers_are_emailed_and_the_starter_is_not(root: Path) -> None:
    engine = open_approval(root, "sqlite", notifiers={"record": _Recorder()})
    plan = engine.apply("deactivate-client", STARTER, SUBJECT, ANSWERS)
    assert plan is not None and plan.approval is not None
    (request,) = plan.approval["emails"]
    assert sorted(request["to"]) == [APPROVER, THIRD] and plan.run in request["text"]
    sent = engine.notifiers["record"].sent  # type: ignore[attr-defined]
    assert [e.template for e in sent] == ["approval-request"] and sent[0].run == plan.run
    engine.close()


def test_the_waiting_run_survives_a_restart(root: Path) -> None:
    first = open_approval(root, "sqlite")
    run = waiting(first)
    first.close()
    again = open_approval(root, "sqlite")
    assert [a["run"] for a in again.approvals(APPROVER)] == [run]
    assert again.approve(run, APPROVER).status == "completed"
    again.close()


# deciding -----------------------------------------------------------------------------
def test_another_administrator_approves_and_the_run_commits(engine: Engine) -> None:
    run = waiting(engine)
    shown = engine.approval(run, APPROVER)
    assert shown.status == "awaiting_approval" and [c.to_json()["after"] for c in shown.changes] == ["deactivated"]
    plan = engine.approve(run, APPROVER, reason="fine by me")
    assert plan.status == "completed" and plan.exit_code == ExitCode.OK
    assert plan.approval is not None and (plan.approval["status"], plan.approval["by"], plan.approval["reason"]) == ("approved", "u4", "fine by me")
    assert subscription(engine) == "deactivated" and pending(engine) == []
    entry = engine.audit_log()[-1]
    assert entry["status"] == "completed" and entry["actor"] == "u1" and entry["approval"]["by"] == "u4"
    with pytest.raises(RunError, match="not awaiting approval"):
        engine.approve(run, THIRD)


def test_the_starter_may_not_approve_their_own_run(engine: Engine) -> None:
    run = waiting(engine)
    plan = engine.approve(run, STARTER)
    assert plan.status == "blocked" and plan.exit_code == ExitCode.BLOCKED
    assert [b["rule"] for b in plan.blocked_by] == ["not-the-starter"]
    assert engine.reject(run, STARTER, "changed my mind").status == "blocked"
    assert subscription(engine) == "active" and run_record(engine, run)["status"] == "awaiting_approval"
    assert engine.approvals(STARTER) == []


def test_an_actor_the_approvers_rules_leave_out_is_told_why(engine: Engine) -> None:
    run = waiting(engine)
    plan = engine.approve(run, STANDARD)
    assert plan.status == "blocked" and [b["rule"] for b in plan.blocked_by] == ["practice-administrator"]
    assert engine.approvals(STANDARD) == [] and subscription(engine) == "active"


def test_a_rejection_needs_a_reason_and_tells_the_starter(engine: Engine) -> None:
    run = waiting(engine)
    with pytest.raises(RunError, match="needs a reason"):
        engine.reject(run, APPROVER, "  ")
    plan = engine.reject(run, APPROVER, "not this month")
    assert plan.status == "rejected" and plan.exit_code == ExitCode.OK
    assert run_record(engine, run)["approval"]["reason"] == "not this month"
    assert subscription(engine) == "active" and pending(engine) == []
    assert engine.audit_log()[-1]["status"] == "rejected"


def test_the_decision_is_emailed_to_the_starter(root: Path) -> None:
    recorder = _Recorder()
    engine = open_approval(root, "sqlite", notifiers={"record": recorder})
    engine.reject(waiting(engine), APPROVER, "not this month")
    decision = recorder.sent[-1]
    assert decision.template == "approval-decision" and decision.to == (STARTER,)
    assert "rejected" in decision.subject and "not this month" in decision.text
    engine.close()


def test_approval_checks_every_rule_again_on_what_is_stored_then(engine: Engine) -> None:
    run = waiting(engine)
    other = engine.apply("deactivate-client", APPROVER, SUBJECT, {**ANSWERS, "reason": "urgent"})  # deactivated meanwhile
    assert other is not None and other.status == "completed"
    plan = engine.approve(run, THIRD)
    assert plan.status == "blocked" and [b["rule"] for b in plan.blocked_by] == ["active-subscription"]
    assert run_record(engine, run)["status"] == "blocked" and pending(engine) == []


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzéøßABCXYZ0123456789"), min_size=4, max_size=20).map(lambda s: "Zq" + s))
def test_a_refusal_outside_reach_tells_nothing_of_the_subject(tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    root = approval_project(tmp_path_factory.mktemp("reach") / "project")
    data = root / "data" / "demo.yaml"
    data.write_text(data.read_text(encoding="utf-8").replace("Acme Ltd", name), encoding="utf-8")
    engine = open_approval(root, "memory")
    run = waiting(engine)
    for attempt in (engine.approve, engine.approval, lambda r, a: engine.reject(r, a, "no")):
        with pytest.raises(RunNotFound) as caught:
            attempt(run, OTHER_PRACTICE)
        said = str(caught.value)
        assert said == f"there is no run {run!r}; start the flow again"
        assert name not in said and SUBJECT not in said.replace(run, "")
    assert engine.approvals(OTHER_PRACTICE) == [] and run_record(engine, run)["status"] == "awaiting_approval"


# expiring -----------------------------------------------------------------------------
def test_the_worker_expires_a_request_at_its_time_and_tells_the_starter(root: Path) -> None:
    recorder = _Recorder()
    engine = open_approval(root, "sqlite", notifiers={"record": recorder})
    run = waiting(engine)
    engine.close()
    before = open_approval(root, "sqlite", NOW + timedelta(days=6))
    assert carry_out(before.runner).applied == [] and run_record(before, run)["status"] == "awaiting_approval"
    before.close()
    after = open_approval(root, "sqlite", NOW + timedelta(days=7, seconds=1), notifiers={"record": recorder})
    assert carry_out(after.runner).applied == [f"{run}-approval"]
    assert run_record(after, run)["status"] == "expired" and subscription(after) == "active"
    assert after.audit_log()[-1]["status"] == "expired"
    after.deliver()
    assert recorder.sent[-1].template == "approval-decision" and "expired" in recorder.sent[-1].subject
    with pytest.raises(RunError, match="not awaiting approval"):
        after.approve(run, APPROVER)
    after.close()


def test_a_request_past_its_time_cannot_be_approved_even_before_the_worker_runs(root: Path) -> None:
    engine = open_approval(root, "sqlite")
    run = waiting(engine)
    engine.close()
    late = open_approval(root, "sqlite", NOW + timedelta(days=7))
    with pytest.raises(RunError, match="expired at"):
        late.approve(run, APPROVER)
    assert run_record(late, run)["status"] == "awaiting_approval" and subscription(late) == "active"
    assert carry_out(late.runner).applied == [f"{run}-approval"] and run_record(late, run)["status"] == "expired"
    late.close()


# the command line ---------------------------------------------------------------------
def test_the_command_line_contract(root: Path) -> None:
    db = root / "cli.db"
    assert invoke("init", "--project", root, "--db", db, "--data", root / "data" / "demo.yaml").exit_code == 0
    now = "--now=2025-03-14T09:00:00Z"
    common = ("--project", root, "--db", db, now)
    started = invoke("run", "deactivate-client", *common, "--actor", STARTER, "--subject", SUBJECT, "--answer", "notify_client=no", "--yes", "--format", "json")
    assert started.exit_code == 0, started.output
    body = json.loads(started.stdout)
    assert body["status"] == "awaiting_approval" and isinstance(body["run"], str)
    listed = invoke("approvals", *common, "--actor", APPROVER, "--format", "json")
    assert listed.exit_code == 0 and [a["run"] for a in json.loads(listed.stdout)["approvals"]] == [body["run"]]
    own = invoke("approve", body["run"], *common, "--actor", STARTER, "--format", "json")
    assert own.exit_code == ExitCode.BLOCKED == 3, own.output
    assert invoke("approve", body["run"], *common, "--actor", APPROVER, "--reject").exit_code == ExitCode.USAGE
    done = invoke("approve", body["run"], *common, "--actor", APPROVER, "--format", "json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["status"] == "completed"
    again = invoke("approve", body["run"], *common, "--actor", THIRD)
    assert again.exit_code == ExitCode.ERROR and "not awaiting approval" in again.stderr


def test_the_command_line_rejects_with_a_reason(root: Path) -> None:
    db = root / "cli.db"
    invoke("init", "--project", root, "--db", db, "--data", root / "data" / "demo.yaml")
    common = ("--project", root, "--db", db)
    started = json.loads(invoke("run", "deactivate-client", *common, "--actor", STARTER, "--subject", SUBJECT, "--yes", "--format", "json").stdout)
    text = invoke("approve", started["run"], *common, "--actor", APPROVER, "--reject", "--reason", "not now")
    assert text.exit_code == 0 and "rejected by u4: not now" in text.stdout
    assert "nothing awaits your approval" in invoke("approvals", *common, "--actor", APPROVER).stdout


# races --------------------------------------------------------------------------------
RACER = r"""
import json, sys, time
from pathlib import Path
from datetime import datetime
from clientflow import Engine
from clientflow.errors import ClientflowError

spec = json.loads(sys.argv[1])
engine = Engine.open(spec["project"], now=datetime.fromisoformat(spec["now"]), notifiers={})
barrier = Path(spec["barrier"])
(barrier / f"ready-{spec['me']}").touch()
deadline = time.monotonic() + 60
while len(list(barrier.glob("ready-*"))) < spec["processes"]:
    if time.monotonic() > deadline:
        sys.exit("the other process never reached the barrier")
    time.sleep(0.005)
try:
    plan = engine.approve(spec["run"], spec["actor"]) if spec["decision"] == "approve" else engine.reject(spec["run"], spec["actor"], "no")
    print(json.dumps({"outcome": plan.status}))
except ClientflowError as exc:
    print(json.dumps({"outcome": "error", "message": str(exc)}))
engine.close()
"""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def storage_env(request: pytest.FixtureRequest, root: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return {"CLIENTFLOW_DB": str(root / "race.db")}
    return {"CLIENTFLOW_DB": request.getfixturevalue("postgres_url"), "CLIENTFLOW_DB_SCHEMA": request.getfixturevalue("postgres_schema")}


@pytest.mark.parametrize("decisions", [("approve", "approve"), ("approve", "reject")])
def test_two_approvers_racing_decide_once(root: Path, storage_env: dict[str, str], decisions: tuple[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")} | storage_env
    engine = Engine.open(root, now=NOW, env=env, notifiers={})
    engine.load_data(root / "data" / "demo.yaml")
    run = waiting(engine)
    barrier = root / "barrier"
    barrier.mkdir()
    children = []
    for me, (actor, decision) in enumerate(zip((APPROVER, THIRD), decisions, strict=True)):
        spec = {
            "project": str(root),
            "now": NOW.isoformat(),
            "run": run,
            "actor": actor,
            "decision": decision,
            "barrier": str(barrier),
            "me": me,
            "processes": 2,
        }
        children.append(subprocess.Popen([sys.executable, "-c", RACER, json.dumps(spec)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        results.append(json.loads(out))
    decided = [r for r in results if r["outcome"] in ("completed", "rejected")]
    assert len(decided) == 1, results
    (loser,) = [r for r in results if r not in decided]
    assert loser["outcome"] == "error" and "meanwhile" in loser["message"] or "not awaiting approval" in loser["message"], results
    audit = [e for e in engine.audit_log() if e["run"] == run and e["status"] in ("completed", "rejected")]
    assert len(audit) == 1 and audit[0]["status"] == decided[0]["outcome"]
    assert subscription(engine) == ("deactivated" if decided[0]["outcome"] == "completed" else "active")
    assert pending(engine) == []
    engine.close()


class _Recorder:
    name = "record"

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, email: Any) -> None:
        self.sent.append(email)


# the HTTP API -------------------------------------------------------------------------
def test_the_api_starts_lists_shows_and_decides_approvals(root: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from clientflow.tokens import mint
    from clientflow.web import WebSettings, create_app

    secret = "K3vQ9xLm2ZpW7rTb5NcY8hJd4FsG6aUe1oXi0kVnR-w"

    def bearer(actor: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(secret, actor, ttl=3600)}"}

    app = create_app(WebSettings(project=root, data=root / "data" / "demo.yaml", secret=secret, now=NOW, outbox=root / "outbox"))
    with TestClient(app) as api:
        started = api.post("/flows/deactivate-client/runs", json={"client": SUBJECT, "answers": ANSWERS}, headers=bearer("u1"))
        assert started.status_code == 201 and started.json()["status"] == "ready", started.text
        run = started.json()["run"]
        committed = api.post(f"/runs/{run}/commit", headers=bearer("u1"))
        assert committed.status_code == 200 and committed.json()["status"] == "awaiting_approval", committed.text
        assert api.post(f"/runs/{run}/answers", json={"answers": {}}, headers=bearer("u1")).json()["error"]["code"] == "awaiting_approval"
        assert api.get(f"/runs/{run}", headers=bearer("u1")).json()["status"] == "awaiting_approval"
        assert [a["run"] for a in api.get("/approvals", headers=bearer("u4")).json()["approvals"]] == [run]
        assert api.get("/approvals", headers=bearer("u1")).json() == {"approvals": []}
        shown = api.get(f"/runs/{run}/approval", headers=bearer("u4"))
        assert shown.status_code == 200 and shown.json()["status"] == "awaiting_approval" and shown.json()["changes"], shown.text
        outsider = api.post(f"/runs/{run}/approve", json={}, headers=bearer("u3"))
        assert outsider.status_code == 404 and outsider.json()["error"]["code"] == "run_not_found" and "Acme" not in outsider.text
        own = api.post(f"/runs/{run}/approve", json={}, headers=bearer("u1"))
        assert own.status_code == 403 and own.json()["error"]["code"] == "blocked" and "not-the-starter" in own.text
        assert api.post(f"/runs/{run}/reject", json={}, headers=bearer("u4")).json()["error"]["code"] == "bad_request"
        approved = api.post(f"/runs/{run}/approve", json={"reason": "fine"}, headers=bearer("u4"))
        assert approved.status_code == 200 and approved.json()["status"] == "completed", approved.text
        assert api.post(f"/runs/{run}/approve", json={}, headers=bearer("u5")).json()["error"]["code"] == "run_not_found"
        paths = api.get("/openapi.json").json()["paths"]
        assert {"/approvals", "/runs/{run}/approval", "/runs/{run}/approve", "/runs/{run}/reject"} <= set(paths)


def test_the_preview_shows_the_approval_screen_and_what_waiting_would_do(root: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from clientflow.web import WebSettings, create_app

    app = create_app(WebSettings(project=root, data=root / "data" / "demo.yaml", now=NOW, preview=True, outbox=root / "outbox"))
    with TestClient(app) as preview:
        token = preview.post("/preview/token", json={"actor": STARTER}).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        view = preview.post("/flows/deactivate-client/runs", json={"client": SUBJECT}, headers=headers).json()
        for answers in ({}, {}, {"notify_client": False}):
            view = preview.post(f"/runs/{view['run']}/answers", json={"answers": answers}, headers=headers).json()
        assert view["screen"]["kind"] == "approval" and view["screen"]["step"] == "second-approval", view
        view = preview.post(f"/runs/{view['run']}/answers", json={"answers": {}}, headers=headers).json()
        plan = preview.get(f"/runs/{view['run']}/plan", headers=headers).json()
        assert plan["status"] == "awaiting_approval" and plan["approval"]["expires"] and plan["changes"], plan
        assert preview.post(f"/runs/{view['run']}/commit", headers=headers).json()["error"]["code"] == "dry_run_only"
        assert preview.post(f"/runs/{view['run']}/approve", json={}, headers=headers).json()["error"]["code"] == "dry_run_only"
        script = preview.get("/preview/assets/preview.js").text
        assert "awaiting_approval" in script and "Approval request" in script


def test_bulk_counts_the_runs_that_wait_and_a_resumed_bulk_does_not_ask_twice(root: Path) -> None:
    db = root / "bulk.db"
    invoke("init", "--project", root, "--db", db, "--data", root / "data" / "demo.yaml")
    args = ("bulk", "deactivate-client", "--project", root, "--db", db, "--actor", STARTER, "--clients", "c1", "--yes", "--format", "json")
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["awaiting_approval"] == 1
    again = invoke(*args)
    assert again.exit_code == 0 and json.loads(again.stdout)["skipped"] == 1 and "awaiting_approval" not in json.loads(again.stdout), again.output
    engine = open_approval(root, "sqlite", db=db)
    assert len(engine.approvals(APPROVER)) == 1
    engine.close()


# crashes ------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["after-recheck", "between-writes", "before-commit", "after-commit", "after-send"])
def test_an_approval_killed_at_a_fault_point_decides_all_or_nothing_and_mail_goes_out_once(root: Path, fault: str) -> None:
    from clientflow.faults import EXIT_CODE

    db, out = root / "crash.db", root / "out"
    invoke("init", "--project", root, "--db", db, "--data", root / "data" / "demo.yaml")
    engine = open_approval(root, "sqlite", db=db)
    run = waiting(engine)
    engine.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")} | {"CLIENTFLOW_FAULT": fault}
    args = [sys.executable, "-c", "from clientflow.cli import main; main()", "approve", run, "--project", str(root), "--db", str(db)]
    args += ["--actor", APPROVER, "--outbox", str(out), "--now", NOW.isoformat(), "--format", "json"]
    died = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, cwd=str(root))
    assert died.returncode == EXIT_CODE, died.stderr
    after = open_approval(root, "sqlite", NOW + timedelta(days=1), db=db)
    status, audit = run_record(after, run)["status"], [e["status"] for e in after.audit_log() if e["run"] == run]
    if fault in ("after-recheck", "between-writes", "before-commit"):  # never committed: the request still waits, whole
        assert (status, subscription(after), audit) == ("awaiting_approval", "active", ["awaiting_approval"])
        assert [i["kind"] for i in pending(after)] == ["approval"]
        again = invoke("approve", run, "--project", root, "--db", db, "--actor", APPROVER, "--outbox", out, "--now", NOW.isoformat())
        assert again.exit_code == 0, again.output  # and it can be decided again
    else:
        assert (status, subscription(after), audit) == ("completed", "deactivated", ["awaiting_approval", "completed"])
        assert pending(after) == []
    after.close()
    retried = invoke("outbox", "--retry", "--project", root, "--db", db, "--outbox", out, "--now", (NOW + timedelta(days=1)).isoformat())
    assert retried.exit_code == 0, retried.output
    ids = [line for path in sorted(out.iterdir()) for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("Message-ID:")]
    assert len(ids) == len(set(ids)) and any("-decision-" in i for i in ids), ids


# scenarios ----------------------------------------------------------------------------
DECIDING = """\
defaults:
  given: ../data/demo.yaml
  flow: deactivate-client
  actor: u1
  client: c1
  now: 2025-03-03T09:00:00Z
scenarios:
  - name: approved a day later
    expect: {status: awaiting_approval}
    then:
      - after: 1 day
        decide: {by: bea@northwind.example}
        expect:
          status: completed
          changes: [{field: subscription, after: deactivated}]
  - name: rejected by the starter
    expect: {status: awaiting_approval}
    then:
      - after: 1 day
        decide: {by: u1, reject: no}
        expect: {status: blocked, blocked_by: [not-the-starter]}
"""


def test_a_scenario_decides_a_waiting_run_in_a_later_step(root: Path) -> None:
    (root / "scenarios").mkdir(exist_ok=True)
    (root / "scenarios" / "deciding.yaml").write_text(DECIDING, encoding="utf-8")
    result = invoke("test", "--project", root, root / "scenarios" / "deciding.yaml")
    assert result.exit_code == 0 and result.stdout.rstrip().endswith("2 passed, 0 failed"), result.output
    both = DECIDING.replace("        decide: {by: u1, reject: no}\n", "        decide: {by: u1, reject: no}\n        flow: reactivate-client\n")
    (root / "scenarios" / "deciding.yaml").write_text(both, encoding="utf-8")
    wrong = invoke("test", "--project", root, root / "scenarios" / "deciding.yaml")
    assert wrong.exit_code == 1 and "deciding.yaml:20:17: " in wrong.output and "not both" in wrong.output, wrong.output


def test_the_graph_draws_the_wait_for_approval(root: Path) -> None:
    drawn = invoke("graph", "deactivate-client", "--project", root)
    assert drawn.exit_code == 0, drawn.output
    assert "waits for approval by:<br/>practice-administrator (never the starter)<br/>expires after 7 days" in drawn.stdout
    assert '-.->|"rejected or expired"|' in drawn.stdout and '|"approved: every rule checked again"| result' in drawn.stdout


def test_observers_see_a_run_wait_and_be_decided(root: Path) -> None:
    import pluggy

    from clientflow import hookimpl
    from clientflow.plugins import load_plugins

    seen: list[dict[str, Any]] = []

    class Watcher:
        @hookimpl
        def clientflow_run_event(self, event: dict[str, Any]) -> None:
            seen.append(event)

    pm = load_plugins(pluggy.PluginManager("clientflow"))
    pm.register(Watcher())
    engine = Engine.open(root, data=root / "data" / "demo.yaml", plugins=pm, notifiers={}, now=NOW)
    first = waiting(engine)
    engine.reject(first, APPROVER, "not now")
    second = waiting(engine)
    engine.approve(second, THIRD)
    types = [e["type"] for e in seen]
    assert types == ["started", "awaiting_approval", "rejected", "started", "awaiting_approval", "committed"]
    rejected = next(e for e in seen if e["type"] == "rejected")
    assert rejected["run"] == first and rejected["approval"]["reason"] == "not now" and rejected["approval"]["by"] == "u4"
    assert seen[-1]["audit"]["actor"] == "u1" and seen[-1]["run"] == second


def test_even_approvers_rules_that_let_anyone_approve_never_let_the_starter_or_an_outsider(tmp_path: Path) -> None:
    anyone = APPROVAL_STEP.replace(
        "      - rule: practice-administrator\n", "      - name: anyone\n        if: 'true'\n        message: Anyone may approve this.\n"
    )
    engine = open_approval(approval_project(tmp_path / "project", anyone), "memory")
    run = waiting(engine)
    assert [b["rule"] for b in engine.approve(run, STARTER).blocked_by] == ["not-the-starter"]
    with pytest.raises(RunNotFound):
        engine.approve(run, OTHER_PRACTICE)
    assert [a["run"] for a in engine.approvals(STANDARD)] == [run]
    assert engine.approve(run, STANDARD).status == "completed"


@pytest.mark.postgres
def test_on_postgresql_a_waiting_run_survives_a_restart_and_expires_by_the_worker(root: Path, postgres_url: str, postgres_schema: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")} | {"CLIENTFLOW_DB": postgres_url, "CLIENTFLOW_DB_SCHEMA": postgres_schema}
    first = Engine.open(root, now=NOW, env=env, notifiers={})
    first.load_data(root / "data" / "demo.yaml")
    approved, expiring = waiting(first), waiting(first, {"notify_client": True})
    first.close()
    again = Engine.open(root, now=NOW + timedelta(days=1), env=env, notifiers={})
    assert sorted(a["run"] for a in again.approvals(APPROVER)) == sorted([approved, expiring])
    assert run_record(again, approved)["status"] == "awaiting_approval"
    assert again.approve(approved, APPROVER).status == "completed"
    again.close()
    late = Engine.open(root, now=NOW + timedelta(days=8), env=env, notifiers={})
    assert carry_out(late.runner).applied == [f"{expiring}-approval"]
    assert run_record(late, expiring)["status"] == "expired" and pending(late) == []
    late.close()


EXPIRER = r"""
import json, sys, time
from pathlib import Path
from datetime import datetime
from clientflow import Engine

spec = json.loads(sys.argv[1])
engine = Engine.open(spec["project"], now=datetime.fromisoformat(spec["now"]), notifiers={})
barrier = Path(spec["barrier"])
(barrier / f"ready-{spec['me']}").touch()
while len(list(barrier.glob("ready-*"))) < spec["processes"]:
    time.sleep(0.005)
print(json.dumps({"outcome": "carried", "applied": engine.carry_out().applied}))
engine.close()
"""


def test_an_approval_racing_the_expiry_leaves_exactly_one_outcome(root: Path, storage_env: dict[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")} | storage_env
    engine = Engine.open(root, now=NOW, env=env, notifiers={})
    engine.load_data(root / "data" / "demo.yaml")
    run = waiting(engine)
    expires = NOW + timedelta(days=7)
    barrier = root / "barrier"
    barrier.mkdir()
    jobs = [
        (RACER, {"run": run, "actor": APPROVER, "decision": "approve", "now": (expires - timedelta(seconds=1)).isoformat()}),  # a clock a second behind
        (EXPIRER, {"now": (expires + timedelta(seconds=1)).isoformat()}),
    ]
    children = []
    for me, (script, spec) in enumerate(jobs):
        spec |= {"project": str(root), "barrier": str(barrier), "me": me, "processes": 2}
        children.append(subprocess.Popen([sys.executable, "-c", script, json.dumps(spec)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        results.append(json.loads(out))
    approved, carried = results
    status = run_record(engine, run)["status"]
    assert (approved["outcome"] == "completed") == (status == "completed") and (carried["applied"] == [f"{run}-approval"]) == (status == "expired"), results
    assert status in ("completed", "expired")
    ends = [e["status"] for e in engine.audit_log() if e["run"] == run and e["status"] in ("completed", "expired")]
    assert ends == [status] and pending(engine) == []
    assert subscription(engine) == ("deactivated" if status == "completed" else "active")
    engine.close()
