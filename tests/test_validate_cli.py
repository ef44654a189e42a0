"""`clientflow validate` and `clientflow flows`, through click's CliRunner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import PROJECT

from clientflow import DefinitionError, load_project
from clientflow.cli import cli
from clientflow.scenarios.suite import load_suite, scenario_files

CORPUS = Path(__file__).resolve().parent / "flows" / "invalid"
FIXTURE_FLOWS = sorted(p.stem for p in (PROJECT / "flows").glob("*.yaml") if p.name not in ("project.yaml", "rules.yaml"))


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def broken(root: Path) -> list[str]:
    """Three broken files in a copy of the fixture project; returns the messages the loader gives."""
    for name in ("unknown-key.yaml", "condition-unknown-name.yaml"):
        shutil.copy(CORPUS / "flows" / name, root / "flows" / name)
    shutil.copy(CORPUS / "emails" / "no-subject.txt", root / "templates" / "emails" / "no-subject.txt")
    with pytest.raises(DefinitionError) as raised:
        load_project(root)
    return [str(p) for p in raised.value.problems]


def test_the_fixture_project_validates_with_a_one_line_summary() -> None:
    code, out, err = run("validate", "--project", str(PROJECT))
    assert code == 0, out + err
    project = load_project(PROJECT)
    steps = sum(len(flow.steps) for flow in project.flows.values())
    emails = len(list((PROJECT / "templates" / "emails").glob("*.txt")))
    scenarios = len(load_suite(project, scenario_files([PROJECT / "scenarios"])))  # validate checks them, and the demo runs
    runs = len(yaml.safe_load((PROJECT / "data" / "demo-runs.yaml").read_text(encoding="utf-8")))
    assert out == f"ok: 6 flows, {steps} steps, {emails} email templates, {scenarios} scenarios, {runs} demo runs, no problems.\n"
    assert err == ""


def test_the_project_defaults_to_the_current_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT)
    code, out, _ = run("validate")
    assert code == 0
    assert out.startswith("ok: 6 flows, ")


def test_a_broken_project_exits_1_with_every_located_error_and_no_traceback(project_copy: Path) -> None:
    messages = broken(project_copy)
    assert len(messages) == 3

    code, out, err = run("validate", "--project", str(project_copy))

    assert code == 1
    assert out == ""
    assert err.splitlines() == [*messages, "3 problems found."]
    assert "Traceback" not in err


def test_validate_json_on_the_fixture_project() -> None:
    code, out, _ = run("validate", "--project", str(PROJECT), "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["valid"] is True
    assert report["flows"] == 6
    assert report["problems"] == []


def test_validate_json_lists_each_problem_with_its_place(project_copy: Path) -> None:
    messages = broken(project_copy)

    code, out, _ = run("validate", "--project", str(project_copy), "--format", "json")

    assert code == 1
    report = json.loads(out)
    assert report["valid"] is False
    assert [f"{p['path']}:{p['line']}:{p['col']}: {p['message']}" for p in report["problems"]] == messages
    assert all(isinstance(p["line"], int) and p["line"] > 0 for p in report["problems"])


def test_a_folder_that_is_not_a_project_is_one_clear_message(tmp_path: Path) -> None:
    code, out, err = run("validate", "--project", str(tmp_path))
    assert code == 1
    assert (
        err
        == f"{tmp_path}: no flows/ folder here, so no project; make one with `clientflow new DIR`, or pass --project DIR to name an existing project folder\n"
    )
    assert "Traceback" not in out + err


def test_flows_lists_the_six_flows_of_the_fixture_with_their_titles() -> None:
    code, out, _ = run("flows", "--project", str(PROJECT))
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == FIXTURE_FLOWS
    assert len(lines) == 6
    for line in lines:
        flow_id, title = line.split(None, 1)
        text = yaml.safe_load((PROJECT / "flows" / f"{flow_id}.yaml").read_text(encoding="utf-8"))
        assert title == text["title"]


def test_flows_on_a_broken_project_reports_the_problems(project_copy: Path) -> None:
    messages = broken(project_copy)
    code, out, err = run("flows", "--project", str(project_copy))
    assert code == 1
    assert out == ""
    assert err.splitlines()[:-1] == messages


def test_only_the_console_script_freezes_what_a_full_check_made(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`clientflow validate` (cli.main: one command, then the process ends) freezes what its full check made, so that
    neither the next collection nor Python's at shutdown walks it (collector.collector_paused); run in a process
    that goes on (click's CliRunner, as here and in an application), it only pauses the collector. Same output either way."""
    import gc

    from clientflow.cli import main

    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(gc.isenabled()))
    code, out, err = run("validate", "--project", str(PROJECT), "--no-cache")
    assert code == 0 and frozen == [] and gc.isenabled()
    with pytest.raises(SystemExit) as ended:
        main(["validate", "--project", str(PROJECT), "--no-cache"])
    # frozen while paused (the command's modules once imported, then what the check made), then collecting again
    assert ended.value.code == 0 and frozen == [False, False] and gc.isenabled()
    assert capsys.readouterr().out == out


def test_plain_undo_text_is_kept_as_written(project_copy: Path) -> None:
    project = load_project(project_copy)
    undo = project.flows["delete-client"].outcome.undo
    assert undo is not None and undo.source == "Deleted data cannot be recovered."
