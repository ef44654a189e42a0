"""Approvals and reach: to an actor outside reach of a run's subject, every run is a run that is not there.

On a copy of the fixture project whose deactivate-client flow waits for another administrator
(tests/approval_support.py), Hypothesis adds practices, their users and clients (every name a
random token). Northwind's administrator starts runs on its own clients: one awaiting approval,
one completed, one blocked. For every generated outsider (a user of another practice, or of a
business outside Northwind) and every one of those runs, `Engine.approve/reject/approval` raise
what they raise for a run id that does not exist, word for word but the id; the CLI's `approve`
(text and JSON; stdout, stderr, exit code) and `approvals` answer byte for byte as for a missing
run, or as when nothing waits at all. Within reach, the answers still say what they say
(the control: each assertion can fail).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from approval_support import STANDARD, STARTER, approval_project, open_approval
from cli_support import invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientflow import Engine
from clientflow.errors import ClientflowError, RunNotFound

NOW = "2025-03-14T09:00:00Z"
TOKEN = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789"), min_size=6, max_size=12)


@st.composite
def tenants(draw: st.DrawFn) -> dict[str, Any]:
    """Other practices (with users and clients) and businesses on their own: every id and name a fresh token."""
    tokens = iter(draw(st.lists(TOKEN, min_size=48, max_size=48, unique=True)))
    partners, clients, outsiders = [], [], []
    for _ in range(draw(st.integers(1, 3))):
        pid = f"p-{next(tokens)}"
        users = []
        for role in draw(st.lists(st.sampled_from(["administrator", "standard"]), min_size=1, max_size=3)):
            uid = f"u-{next(tokens)}"
            users.append({"id": uid, "name": f"N {next(tokens)}", "email": f"{next(tokens)}@x{pid}.example", "role": role})
            outsiders.append(uid)
        partners.append({"id": pid, "name": f"Practice {next(tokens)}", "users": users})
        clients.append(_client(f"c-{next(tokens)}", f"Client {next(tokens)}", pid, []))
    if draw(st.booleans()):  # a business on its own, its administrator an actor too
        uid = f"cu-{next(tokens)}"
        user = {"id": uid, "name": f"N {next(tokens)}", "email": f"{next(tokens)}@own.example", "role": "administrator", "status": "active"}
        clients.append(_client(f"c-{next(tokens)}", f"Own {next(tokens)}", None, [user]))
        outsiders.append(uid)
    return {"partners": partners, "clients": clients, "outsiders": draw(st.permutations(outsiders))[:3]}


def _client(cid: str, name: str, partner: str | None, users: list[dict[str, Any]]) -> dict[str, Any]:
    billing = "partner" if partner else "self_paying"
    return {"id": cid, "name": name, "partner": partner, "billing": billing, "subscription": "active", "owner": None, "users": users}


def project(target: Path, extra: dict[str, Any]) -> Path:
    root = approval_project(target)
    data = root / "data" / "demo.yaml"
    loaded = yaml.safe_load(data.read_text(encoding="utf-8"))
    loaded["partners"] += extra["partners"]
    loaded["clients"] += extra["clients"]
    data.write_text(yaml.safe_dump(loaded, sort_keys=False), encoding="utf-8")
    return root


def runs(engine: Engine) -> dict[str, str]:
    """Northwind's runs on its own clients: awaiting approval (c1), completed (c2), blocked (c3, already deactivated)."""
    made = {}
    for status, subject, answers in (("awaiting_approval", "c1", {"notify_client": False}), ("completed", "c2", {"reason": "urgent"}), ("blocked", "c3", {})):
        plan = engine.apply("deactivate-client", STARTER, subject, answers)
        assert plan is not None and plan.status == status and plan.run, plan
        made[status] = plan.run
    return made


def answer(call: Callable[[], Any], run: str) -> tuple[str, str, int]:
    """What a call answers, the run's id written RUN: the error's type, words and exit code (or the plan's JSON)."""
    try:
        result = call()
    except ClientflowError as exc:
        return type(exc).__name__, str(exc).replace(run, "RUN"), int(exc.exit_code)
    return "plan", str(result.to_json()).replace(run, "RUN"), int(result.exit_code)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=tenants())
def test_the_python_api_answers_an_outsider_as_for_a_missing_run(tmp_path_factory: pytest.TempPathFactory, backend: str, extra: dict[str, Any]) -> None:
    root = project(tmp_path_factory.mktemp("reach") / "project", extra)
    engine = open_approval(root, backend)
    made = runs(engine)
    missing = uuid.uuid4().hex

    def answers(run: str, actor: str) -> list[tuple[str, str, int]]:
        return [
            answer(lambda: engine.approve(run, actor), run),
            answer(lambda: engine.reject(run, actor, "no"), run),
            answer(lambda: engine.approval(run, actor), run),
        ]

    for actor in extra["outsiders"]:
        gone = answers(missing, actor)
        assert gone == [("RunNotFound", "there is no run 'RUN'; start the flow again", 1)] * 3
        for status, run in made.items():
            assert answers(run, actor) == gone, (status, actor)
        assert engine.approvals(actor) == []
    # nothing was decided, and each attempt on a run whose flow is known is in the audit log
    assert engine.approval(made["awaiting_approval"], "u4").status == "awaiting_approval"
    refused = [e for e in engine.audit_log() if e["status"] == "refused"]
    assert {e["actor"] for e in refused} == set(extra["outsiders"]) and {e["run"] for e in refused} == set(made.values())
    # the control: within reach, the same calls say what they say
    assert answers(made["completed"], "u4")[0] == ("RunError", "run RUN is completed, not awaiting approval; there is nothing to decide", 1)
    assert answers(made["blocked"], STANDARD)[0][1] == "run RUN is blocked, not awaiting approval; there is nothing to decide"
    assert answers(made["awaiting_approval"], STANDARD)[0][0] == "plan"
    with pytest.raises(RunNotFound):
        engine.approve(missing, "u4")
    engine.close()


def _cli(root: Path, db: Path, *args: object) -> tuple[int, str, str]:
    result = invoke(*args, "--project", root, "--db", db, f"--now={NOW}")
    return result.exit_code, result.stdout, result.stderr


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=tenants())
def test_the_command_line_answers_an_outsider_byte_for_byte_as_for_a_missing_run(tmp_path_factory: pytest.TempPathFactory, extra: dict[str, Any]) -> None:
    root = project(tmp_path_factory.mktemp("cli") / "project", extra)
    db = root / "cli.db"
    assert invoke("init", "--project", root, "--db", db, "--data", root / "data" / "demo.yaml").exit_code == 0
    outsiders = extra["outsiders"][:2]
    lists = {(a, f): _cli(root, db, "approvals", "--actor", a, "--format", f) for a in outsiders for f in ("text", "json")}  # nothing waits yet
    engine = open_approval(root, "sqlite", db=db)
    made = runs(engine)
    engine.close()
    missing = uuid.uuid4().hex

    def said(run: str, actor: str, fmt: str, *more: str) -> tuple[int, str, str]:
        code, out, err = _cli(root, db, "approve", run, "--actor", actor, "--format", fmt, *more)
        return code, out.replace(run, "RUN"), err.replace(run, "RUN")

    for actor in outsiders:
        for fmt in ("text", "json"):
            gone = said(missing, actor, fmt)
            assert gone[0] == 1 and "there is no run 'RUN'; start the flow again" in gone[2]
            for status, run in made.items():
                assert said(run, actor, fmt) == gone, (status, actor, fmt)
            assert said(made["awaiting_approval"], actor, fmt, "--reject", "--reason", "no") == said(missing, actor, fmt, "--reject", "--reason", "no")
            assert _cli(root, db, "approvals", "--actor", actor, "--format", fmt) == lists[(actor, fmt)]
    # the control: within reach, a finished run is told as it is, and the waiting run is offered
    assert "is completed, not awaiting approval" in said(made["completed"], "u4", "text")[2]
    assert made["awaiting_approval"] in _cli(root, db, "approvals", "--actor", "u4", "--format", "json")[1]


def test_over_http_an_outsider_gets_word_for_word_the_answer_of_a_missing_run(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from clientflow.tokens import mint
    from clientflow.web import WebSettings, create_app

    secret = "K3vQ9xLm2ZpW7rTb5NcY8hJd4FsG6aUe1oXi0kVnR-w"
    root = approval_project(tmp_path / "project")
    db = root / "api.db"
    engine = open_approval(root, "sqlite", db=db)
    made = runs(engine)
    engine.close()
    missing = uuid.uuid4().hex
    app = create_app(WebSettings(project=root, db=db, secret=secret, now=datetime.fromisoformat(NOW), outbox=root / "outbox"))

    def asked(api: TestClient, method: str, path: str, run: str, actor: str) -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {mint(secret, actor, ttl=3600)}"}
        body = {"reason": "no"} if method == "POST" else None
        response = api.request(method, path.format(run=run), json=body, headers=headers)
        return response.status_code, response.text.replace(run, "RUN")

    with TestClient(app) as api:
        for method, path in (("GET", "/runs/{run}/approval"), ("POST", "/runs/{run}/approve"), ("POST", "/runs/{run}/reject")):
            gone = asked(api, method, path, missing, "u3")
            assert gone[0] == 404 and "run_not_found" in gone[1]
            for status, run in made.items():
                assert asked(api, method, path, run, "u3") == gone, (method, path, status)
        assert asked(api, "GET", "/runs/{run}/approval", made["awaiting_approval"], "u4")[0] == 200  # the control
