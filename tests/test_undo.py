"""An outcome's `undo` is a template like its banner: rendered in the outcome's scope, for the reader's locale, and translated.

Each test works on a copy of the fixture project, its deactivate-client `undo` rewritten by the test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import DEMO, NOW
from test_i18n import PO, cli, edit, entries_of, problems, read, translated

WRITTEN = "  undo: Reactivate the client from Business settings > Subscription.\n"
TEMPLATE = "Reactivate {{ client.name }} from Business settings > Subscription{% if answers.notify_client %} and tell its administrators{% endif %}."


@pytest.fixture
def project(tmp_path: Path) -> Path:
    from conftest import copy_project

    root = copy_project(tmp_path / "project")
    flow = root / "flows" / "deactivate-client.yaml"
    text = flow.read_text(encoding="utf-8")
    assert WRITTEN in text
    flow.write_text(text.replace(WRITTEN, f"  undo: {json.dumps(TEMPLATE)}\n"), encoding="utf-8")
    return root


def simulate(project: Path, *options: str, fmt: str = "json") -> Any:
    args = ("simulate", "deactivate-client", "--project", project, "--data", DEMO, "--actor", "alice@northwind.example", "--client", "c1")
    result = cli(*args, "--answer", "notify_client=true", "--format", fmt, "--no-input", *options)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if fmt == "json" else result.stdout


def test_undo_is_rendered_in_the_outcomes_scope_in_json_and_text(project: Path) -> None:
    assert cli("validate", "--project", project).exit_code == 0
    plan = simulate(project)
    said = "Reactivate Acme Ltd from Business settings > Subscription and tell its administrators."
    assert plan["undo"] == said
    assert f"Can be undone: yes — {said}" in simulate(project, fmt="text")


def test_a_blocked_plan_has_no_undo_when_it_reads_the_run_and_its_text_when_it_reads_nothing(project: Path) -> None:
    args = ("simulate", "deactivate-client", "--project", project, "--data", DEMO, "--actor", "sam@northwind.example", "--client", "c1")
    blocked = json.loads(cli(*args, "--format", "json", "--no-input").stdout)
    assert blocked["status"] == "blocked" and blocked["undo"] is None  # never the template as written
    flow = project / "flows" / "deactivate-client.yaml"
    flow.write_text(flow.read_text(encoding="utf-8").replace(f"  undo: {json.dumps(TEMPLATE)}\n", WRITTEN), encoding="utf-8")
    blocked = json.loads(cli(*args, "--format", "json", "--no-input").stdout)
    assert blocked["status"] == "blocked" and blocked["undo"] == "Reactivate the client from Business settings > Subscription."


def test_a_name_undo_cannot_read_is_a_located_error(project: Path) -> None:
    flow = project / "flows" / "deactivate-client.yaml"
    flow.write_text(flow.read_text(encoding="utf-8").replace("{{ client.name }} from", "{{ clinet.name }} from"), encoding="utf-8")
    line = next(n for n, text in enumerate(flow.read_text(encoding="utf-8").splitlines(), 1) if text.startswith("  undo:"))
    result = cli("validate", "--project", project)
    assert result.exit_code == 1
    (said,) = result.output.splitlines()
    assert said.startswith(f"flows/deactivate-client.yaml:{line}:") and "outcome.undo: unknown name 'clinet'; did you mean 'client'?" in said


def test_undo_is_extracted_checked_at_its_po_line_and_shown_in_the_readers_locale(project: Path) -> None:
    po = translated(project, lambda source: "FR " + source)
    entry = entries_of(read(project / "locales" / "clientflow.pot"))["deactivate-client/outcome/undo"]
    assert entry.id == TEMPLATE and entry.locations == [("flows/deactivate-client.yaml", entry.locations[0][1])]
    english, french = simulate(project), simulate(project, "--locale", "fr")
    assert french["undo"] == "FR " + english["undo"] and english["undo"].startswith("Reactivate Acme Ltd")
    assert french["audit"] == english["audit"]

    def empty(lines: list[str], at: int) -> None:
        lines[at] = 'msgstr ""'

    line = edit(po, "deactivate-client/outcome/undo", empty)
    result = cli("i18n", "check", "--project", project)
    assert result.exit_code == 1
    assert [p.split(": ")[0] for p in problems(result)] == [f"{PO}:{line}:1"]
    assert simulate(project, "--locale", "fr")["undo"] == english["undo"]  # not ready: shown as written, rendered


def test_the_api_plan_gives_undo_in_the_actors_locale(project: Path, tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from clientflow.tokens import mint
    from clientflow.web import WebSettings, create_app

    translated(project, lambda source: "FR " + source)
    secret = "K3vQ9xLm2ZpW7rTb5NcY8hJd4FsG6aUe1oXi0kVnR-w"
    alice = "email: alice@northwind.example, role: administrator"
    data = tmp_path / "french-alice.yaml"
    data.write_text(DEMO.read_text(encoding="utf-8").replace(alice, f"{alice}, locale: fr-CA", 1), encoding="utf-8")
    settings = WebSettings(project=project, data=data, secret=secret, now=NOW, outbox=tmp_path / "outbox")
    with TestClient(create_app(settings)) as client:
        auth = {"Authorization": f"Bearer {mint(secret, 'u1', ttl=3600)}"}
        run = client.post("/flows/deactivate-client/runs", json={"client": "c1"}, headers=auth).json()["run"]
        for answers in ({}, {}, {"notify_client": True}):  # survey, explain, notify
            ready = client.post(f"/runs/{run}/answers", json={"answers": answers}, headers=auth).json()
        assert ready["status"] == "ready", ready
        plan = client.get(f"/runs/{run}/plan", headers=auth).json()
    assert plan["undo"] == "FR Reactivate Acme Ltd from Business settings > Subscription and tell its administrators."
