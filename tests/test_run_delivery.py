"""`clientflow run` says what became of the run's emails: on stderr, in the JSON document, in the exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pluggy
import pytest
from click.testing import CliRunner
from conftest import DEMO, copy_project

import clientflow.plugins
from clientflow import hookimpl
from clientflow.cli import cli
from clientflow.outbox import PermanentFailure
from clientflow.plugins import load_plugins


class Flaky:
    """A notifier whose far side refuses for good, or only for now."""

    name = "flaky"
    mode = "permanent"

    def __init__(self, **settings: Any) -> None:
        pass

    def send(self, email: Any) -> None:
        if Flaky.mode == "permanent":
            raise PermanentFailure("550 5.1.1 no such mailbox")
        if Flaky.mode == "transient":
            raise ConnectionRefusedError("the relay is down")


class FlakyPlugin:
    @hookimpl
    def clientflow_register_notifiers(self, register: Any) -> None:
        register("flaky", Flaky)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pm = load_plugins(pluggy.PluginManager("clientflow"))
    pm.register(FlakyPlugin(), name="flaky")
    monkeypatch.setattr(clientflow.plugins, "_pm", pm)
    root = copy_project(tmp_path / "project")
    (root / "clientflow.toml").write_text('notifiers = ["flaky"]\n')
    done = CliRunner().invoke(cli, ["init", "--project", str(root), "--data", str(DEMO)])
    assert done.exit_code == 0, done.output
    return root


def run(project: Path) -> Any:
    args = ["run", "reactivate-client", "--project", str(project), "--actor", "u1", "--client", "c3", "--yes", "--format", "json"]
    return CliRunner().invoke(cli, args)


def test_an_email_that_failed_for_good_is_reported_and_the_exit_code_says_so(project: Path) -> None:
    Flaky.mode = "permanent"
    result = run(project)
    document = json.loads(result.stdout)
    assert document["status"] == "completed"  # the commit stands
    assert result.exit_code == 1
    (failed,) = document["delivery"]["failed"]
    assert failed["notifier"] == "flaky" and "550 5.1.1 no such mailbox" in failed["error"]
    assert document["delivery"]["pending"] == [] and document["delivery"]["sent"] == 0
    assert "failed for good through flaky: 550 5.1.1 no such mailbox" in result.stderr and "outbox --retry" in result.stderr


def test_an_email_waiting_for_a_retry_is_reported_and_the_run_succeeds(project: Path) -> None:
    Flaky.mode = "transient"
    result = run(project)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert len(document["delivery"]["pending"]) == 1 and document["delivery"]["failed"] == []
    assert "wait in the outbox for a retry" in result.stderr


def test_a_delivered_email_is_counted(project: Path) -> None:
    Flaky.mode = "ok"
    result = run(project)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["delivery"] == {"sent": 1, "pending": [], "failed": []}
