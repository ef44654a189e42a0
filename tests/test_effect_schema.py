"""A run never writes what the data schema refuses: the plan already says so, the commit changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import copy_project, invoke, plain

from clientflow import Engine
from clientflow.errors import ExitCode, RunError


def _computed(root: Path, value: str) -> Path:
    """The fixture project with deactivate-client setting the subscription to a computed `value`."""
    flow = root / "flows" / "deactivate-client.yaml"
    text = flow.read_text(encoding="utf-8")
    old = """{op: update, field: subscription, to: "'deactivated'"}"""
    assert old in text
    flow.write_text(text.replace(old, '{op: update, field: subscription, to: "' + value + '"}'), encoding="utf-8")
    return root


@pytest.fixture
def paused(tmp_path: Path) -> Path:
    return _computed(copy_project(tmp_path / "project"), "'pau' ~ 'sed'")


def test_the_dry_run_names_the_field_and_the_values_allowed(paused: Path) -> None:
    engine = Engine.open(paused, data=paused / "data" / "demo.yaml", notifiers={})
    with pytest.raises(RunError) as caught:
        engine.simulate("deactivate-client", "u1", "c1")
    message = str(caught.value)
    assert "data schema does not allow" in message and "client c1: subscription: 'paused'" in message
    assert "'active'" in message and "'deactivated'" in message


def test_a_commit_changes_nothing_and_exits_1(paused: Path, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    assert invoke("init", "--project", paused, "--data", paused / "data" / "demo.yaml", "--db", db).exit_code == 0
    before = invoke("export", "--project", paused, "--db", db).stdout
    result = invoke("run", "deactivate-client", "--actor", "u1", "--subject", "c1", "--yes", "--project", paused, "--db", db)
    assert result.exit_code == ExitCode.ERROR, result.output
    assert "subscription: 'paused'" in plain(result.stderr)
    assert invoke("export", "--project", paused, "--db", db).stdout == before


def test_flush_refuses_too_when_the_plan_was_not_asked(paused: Path) -> None:
    """The last line of defence: Records.flush checks every record it would write."""
    from clientflow.runtime.data import Records

    engine = Engine.open(paused, data=paused / "data" / "demo.yaml", notifiers={})
    before = engine.export()
    with pytest.raises(RunError), engine.storage.transaction() as tx:
        records = Records(engine.project, tx)
        records.set("client", "c1", "subscription", "paused")
        records.flush()
    assert engine.export() == before


def test_what_the_schema_allows_commits(tmp_path: Path) -> None:
    root = _computed(copy_project(tmp_path / "project"), "'deactiv' ~ 'ated'")
    engine = Engine.open(root, data=root / "data" / "demo.yaml", notifiers={})
    plan = engine.apply("deactivate-client", "u1", "c1", {}, deliver=False)
    assert plan is not None and plan.status == "completed"
    assert [c for c in engine.export()["clients"] if c["id"] == "c1"][0]["subscription"] == "deactivated"
