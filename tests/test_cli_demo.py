"""`clientflow demo`, the README's main job, and the README's commands themselves."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess

import pytest
import yaml
from cli_support import PROJECT, REPO, copy_project, invoke

FLOWS = sorted(p.stem for p in (PROJECT / "flows").glob("*.yaml") if p.stem not in ("project", "rules"))


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the project, with the current folder inside it (as after a clone)."""
    copy = copy_project(tmp_path / "project")
    monkeypatch.chdir(copy)
    return copy


def demo(*args: object) -> str:
    result = invoke("demo", *args)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def commands(text: str, prefix: str) -> list[list[str]]:
    """The command lines the demo prints after `prefix`, without `clientflow` and the comment."""
    found = []
    for line in text.splitlines():
        if line.lstrip().startswith(prefix):
            words = shlex.split(line.lstrip()[len(prefix) :], comments=True)
            assert words[0] == "clientflow"
            found.append(words[1:])
    return found


def test_demo_shows_every_flow_its_offers_and_a_completed_plan(project):
    text = demo()
    assert text.startswith("clientflow demo: every flow of Bookkeeping Platform, dry-run on demo data\n")
    assert "7 clients, in every state the flows care about:" in text
    assert "  Empty Shell Co (c2)    billing: partner      owner: null  partner: p1    subscription: active       users: 0" in text
    for flow in FLOWS:
        assert re.search(rf"^── {flow} · ", text, re.M), flow
    words = " ".join(text.split())
    assert "Offered on: Acme Ltd (c1) to alice@northwind.example; Sunset Cafe (c3) to alice@northwind.example; Harbor Marine (c6)" in words
    assert "Not offered to alice@northwind.example on: Empty Shell Co (c2): has-users;" in words
    assert "why, on Empty Shell Co: Empty Shell Co has no users, active or invited" in words
    assert "     changes  - client c2 (deleted)" in text
    assert '     changes  ~ client c1 owner: null -> "cu1"' in text
    assert "     status" not in text  # every representative run completes
    assert text.count("     undo     ") == len(FLOWS)
    assert "Try your own (copy and paste):" in text


def kept(folder):
    """The files under `folder`, but the compiled-code cache (a cache like __pycache__)."""
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and "cache" not in p.relative_to(folder).parts)


def test_demo_is_deterministic_and_leaves_nothing_behind(project):
    before = kept(project)
    assert demo() == demo()
    assert kept(project) == before


def test_every_dry_run_the_demo_shows_can_be_run_and_agrees(project):
    text = demo()
    runs = commands(text, "$ ")
    assert sorted(words[1] for words in runs) == FLOWS
    for words in runs:
        result = invoke(*words, "--format", "json", "--now", "2025-01-06T09:00:00Z")
        assert result.exit_code == 0, (words, result.output)
        plan = json.loads(result.stdout)
        assert plan["status"] == "completed"
        for email in plan["emails"]:
            assert f"✉ {email['template']} to {', '.join(email['to'])}: " in text


def test_every_command_of_try_your_own_works(project):
    expected = {"available": 0, "simulate": 0, "graph": 0, "init": 0, "run": 5, "export": 0}  # no terminal here: run needs --yes
    text = demo()
    section = text.split("Try your own (copy and paste):\n", 1)[1]
    tried = [shlex.split(line, comments=True) for line in section.splitlines() if line.startswith("  clientflow ")]
    assert [words[1] for words in tried] == ["available", "simulate", "simulate", "graph", "init", "run", "export"]
    for words in tried:
        result = invoke(*words[1:])
        assert result.exit_code == expected[words[1]], (words, result.output)
    assert (project / ".clientflow" / "demo.db").is_file()
    assert section.splitlines()[-1] == "Then change the flows in flows/ and check them with `clientflow validate`."


def test_demo_from_another_folder_names_the_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = demo("--project", PROJECT)
    assert f"clientflow simulate disconnect-client --project {PROJECT} --data {PROJECT / 'data' / 'demo.yaml'} " in text
    for words in commands(text, "$ ")[:2]:
        assert invoke(*words).exit_code == 0


def test_without_representative_runs_the_demo_guesses(project):
    (project / "data" / "demo-runs.yaml").unlink()
    text = demo()
    assert "$ clientflow simulate disconnect-client --data data/demo.yaml --actor alice@northwind.example --client 'Acme Ltd' --answer owner=cu1" in text
    # a typed name or a free text cannot be guessed: the plan says what it still needs
    assert "     status   needs input\n     needs    confirm_name (screen confirm)" in text
    assert "     needs    partner (screen choose-practice)" in text


def test_a_broken_runs_file_is_located(project):
    (project / "data" / "demo-runs.yaml").write_text("disconnect-clent:\n  actor: u1\n  subject: c1\n")
    result = invoke("demo")
    assert result.exit_code == 1
    assert result.stderr == "data/demo-runs.yaml:1:1: unknown flow 'disconnect-clent'; did you mean 'disconnect-client'?\n"


def test_demo_without_data_says_where_it_looked(tmp_path):
    result = invoke("demo", "--project", PROJECT, "--data", tmp_path / "none.yaml")
    assert result.exit_code == 1 and f"there is no demo data at {tmp_path / 'none.yaml'}" in result.stderr


# the README ---------------------------------------------------------------------
def readme_block(title: str) -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split(f"## {title}", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_the_readme_starts_with_install_and_demo():
    assert readme_block("Two commands")[0].split("#")[0].strip() == "python3 -m pip install . && clientflow demo"


def test_the_installed_demo_runs_in_a_clean_copy(tmp_path):
    copy = copy_project(tmp_path / "clone")
    before = kept(copy)
    command = shutil.which("clientflow")
    assert command is not None, "install the project first: python3 -m pip install ."
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")}
    done = subprocess.run([command, "demo"], cwd=copy, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and "Try your own" in done.stdout
    assert kept(copy) == before  # no database, no outbox: only what was cloned


def test_the_readme_everyday_commands_work(project):
    codes = []
    for line in readme_block("Everyday commands"):
        for part in line.split("#")[0].split("&&"):
            words = shlex.split(part)
            assert words[0] == "clientflow", line
            result = invoke(*words[1:])
            codes.append(result.exit_code)
            assert result.exit_code in (0, 5), (line, result.output)  # 5: --no-input and an answer left out
    assert codes.count(5) == 1
    exported = yaml.safe_load(invoke("export").stdout)
    assert next(c for c in exported["clients"] if c["id"] == "c1")["subscription"] == "deactivated"


def test_demo_in_a_folder_that_is_no_project_says_how_to_make_one(tmp_path):
    result = invoke("demo", "--project", tmp_path)
    assert result.exit_code == 1 and "no demo data" not in result.stderr
    assert "no flows/ folder here, so no project; make one with `clientflow new DIR`" in result.stderr
