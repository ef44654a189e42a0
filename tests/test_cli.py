"""The command line, command by command: options, JSON shapes, every exit code, errors in one sentence."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cli_support import DEMO, NOW, PROJECT, clean_env, copy_project, invoke

from clientflow.cli import COMMANDS

DATA = ("--project", PROJECT, "--data", DEMO)
FLOWS = sorted(p.stem for p in (PROJECT / "flows").glob("*.yaml") if p.stem not in ("project", "rules"))
BUILT = ("validate", "flows", "plugins", "config", "available", "simulate", "run", "init", "export", "graph", "demo")


def stdout_json(result):  # one JSON document and nothing else on stdout
    return json.loads(result.stdout)


# help ----------------------------------------------------------------------
def test_help_lists_every_command_and_the_exit_codes():
    result = invoke("--help")
    assert result.exit_code == 0, result.output
    for name in BUILT:
        assert f"  {name} " in result.output
    for line in ("0  done", "1  a project, definition or data error", "2  usage error", "3  blocked by a rule", "4  invalid answer", "5  needs input"):
        assert line in result.output


@pytest.mark.parametrize("name", BUILT)
def test_each_command_has_help_with_the_exit_codes(name):
    assert name in COMMANDS
    result = invoke(name, "--help", "--project", PROJECT)
    assert result.exit_code == 0, result.output
    assert "--project DIR" in result.output
    assert "Exit codes:" in result.output and "5  needs input" in result.output


def test_the_subject_option_takes_the_projects_word():
    result = invoke("simulate", "--help", "--project", PROJECT)
    assert "--client, --subject ID|NAME" in result.output
    assert "The client acted on" in result.output
    assert invoke("available", *DATA, "--actor", "u1", "--subject", "c1").exit_code == 0


# validate, flows, plugins, config ---------------------------------------------
def test_validate_is_clean_on_the_shipped_project():
    result = invoke("validate", "--project", PROJECT)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: 6 flows")
    assert stdout_json(invoke("validate", "--project", PROJECT, "--format", "json"))["valid"] is True


def test_validate_reports_a_broken_flow_located(tmp_path):
    project = copy_project(tmp_path / "p")
    path = project / "flows" / "reactivate-client.yaml"
    path.write_text(path.read_text().replace("kind: info", "kind: infos"))
    result = invoke("validate", "--project", project)
    assert result.exit_code == 1
    assert "reactivate-client.yaml:" in result.stderr and "Traceback" not in result.output
    line = next(line for line in result.stderr.splitlines() if "reactivate-client.yaml" in line)
    path_part, row, col, message = line.split(":", 3)
    assert row.isdigit() and col.isdigit() and "infos" in message
    document = stdout_json(invoke("validate", "--project", project, "--format", "json"))
    assert document["valid"] is False and document["problems"][0]["line"] == int(row)


def test_validate_names_a_broken_data_file_once_as_the_project_names_it(tmp_path):
    # the scenarios name the demo data as ../data/demo.yaml: its problems were reported twice, once as scenarios/../data/demo.yaml
    project = copy_project(tmp_path / "p")
    shutil.copytree(PROJECT / "scenarios", project / "scenarios")
    data = project / "data" / "demo.yaml"
    data.write_text(data.read_text(encoding="utf-8").replace("billing: partner", "billing: nobody", 1), encoding="utf-8")
    result = invoke("validate", "--project", project, "--no-cache")
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if "'nobody' is not allowed" in line]
    assert len(lines) == 1 and lines[0].startswith("data/demo.yaml:"), result.stderr
    assert "../" not in result.stderr
    tested = invoke("test", "--project", project, project / "scenarios")
    assert "../" not in tested.stdout + tested.stderr and "data/demo.yaml:" in tested.stdout + tested.stderr


def test_flows_lists_every_flow():
    result = invoke("flows", "--project", PROJECT)
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.stdout.splitlines()] == FLOWS
    assert [f["flow"] for f in stdout_json(invoke("flows", "--project", PROJECT, "--format", "json"))] == FLOWS


def test_plugins_lists_the_built_ins_with_their_hooks():
    result = invoke("plugins", "--project", PROJECT)  # not the current folder's project: the shipped one, when run from the checkout
    assert result.exit_code == 0, result.output
    assert "sqlite  (clientflow.default_plugins.sqlite; clientflow 0.1.0)" in result.stdout and "    clientflow_register_storage" in result.stdout
    document = stdout_json(invoke("plugins", "--project", PROJECT, "--format", "json"))
    names = {p["name"]: p for p in document["plugins"]}
    assert "clientflow_register_notifiers" in names["outbox_files"]["hooks"]
    assert {"memory", "sqlite"} <= set(document["registered"]["storage"])
    assert "outbox" in document["registered"]["notifiers"]


def test_config_shows_the_projects_storage_and_notifiers():
    document = stdout_json(invoke("config", "--project", PROJECT, "--format", "json"))
    assert document["storage"]["backend"] == "sqlite"
    assert document["storage"]["path"] == str(PROJECT / ".clientflow" / "clientflow.db")
    assert "outbox" in document["notifiers"]
    assert invoke("config", "--project", PROJECT).stdout.startswith("# from pyproject.toml")


# available -------------------------------------------------------------------
def test_available_json_has_the_contract_shape():
    result = invoke("available", *DATA, "--actor", "alice@northwind.example", "--client", "Acme Ltd", "--format", "json")
    assert result.exit_code == 0, result.output
    document = stdout_json(result)
    assert list(document) == ["actor", "subject", "flows"]
    assert document["actor"] == "u1" and document["subject"] == "c1"
    assert [f["flow"] for f in document["flows"]] == FLOWS
    for item in document["flows"]:
        assert list(item) == ["flow", "title", "available", "reasons"]
        assert all(list(r) == ["rule", "message"] for r in item["reasons"])
    offered = {f["flow"] for f in document["flows"] if f["available"]}
    assert offered == {"deactivate-client", "disconnect-client"}
    delete = next(f for f in document["flows"] if f["flow"] == "delete-client")
    assert delete["reasons"] == [
        {"rule": "no-users", "message": "Acme Ltd has 2 user(s), so its data would be lost to them. Disconnect it instead, and hand it to its owner."}
    ]


def test_available_text_says_why_not():
    result = invoke("available", *DATA, "--actor", "u2", "--client", "c1")
    assert result.exit_code == 0, result.output
    assert "✗ disconnect-client  Disconnect client" in result.stdout
    assert "practice-administrator: Only an administrator of the practice can do this" in result.stdout
    assert result.stdout.rstrip().endswith("0 of 6 offered.")


# simulate --------------------------------------------------------------------
def test_simulate_json_is_the_plan_contract():
    result = invoke(
        "simulate", "disconnect-client", *DATA, "--actor", "u1", "--client", "c1", "--answer", "owner=carla@acme.example", "--format", "json", "--now", NOW
    )
    assert result.exit_code == 0, result.output
    plan = stdout_json(result)
    contract = ["flow", "status", "dry_run", "screens", "blocked_by", "errors", "needs", "changes", "emails", "banners", "reversible", "audit"]
    assert [key for key in plan if key in contract] == contract
    assert plan["status"] == "completed" and plan["dry_run"] is True
    assert [s["step"] for s in plan["screens"]] == ["explain", "survey", "choose-owner"]
    assert plan["changes"] == [
        {"op": "update", "entity": "client", "id": "c1", "field": "owner", "before": None, "after": "cu1"},
        {"op": "update", "entity": "client", "id": "c1", "field": "partner", "before": "p1", "after": None},
    ]
    assert [e["to"] for e in plan["emails"]] == [["alice@northwind.example"], ["carla@acme.example"]]
    assert plan["audit"]["answers"]["owner"] == "cu1" and plan["reversible"] is False


def test_answers_are_yaml_scalars_and_a_file_can_hold_them(tmp_path):
    answers = tmp_path / "answers.yaml"
    answers.write_text("reason: Season over\nnotify_client: false\n")
    base = ("simulate", "deactivate-client", *DATA, "--actor", "u1", "--client", "c1", "--format", "json")
    plan = stdout_json(invoke(*base, "--answers", answers, "--answer", "notify_client=true"))
    assert plan["audit"]["answers"] == {"reason": "Season over", "notify_client": True}
    assert len(plan["emails"]) == 2  # the later --answer wins over the file
    plan = stdout_json(invoke(*base, "--answers", answers))
    assert plan["audit"]["answers"]["notify_client"] is False and len(plan["emails"]) == 1


def test_a_broken_answers_file_is_located(tmp_path):
    answers = tmp_path / "answers.yaml"
    answers.write_text("reason: [unclosed\n")
    result = invoke("simulate", "deactivate-client", *DATA, "--actor", "u1", "--client", "c1", "--answers", answers)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{answers}:2:1: YAML syntax")


def test_now_takes_iso_8601_and_refuses_anything_else():
    base = ("available", *DATA, "--actor", "u1", "--client", "c1")
    for moment in ("2025-01-06", "2025-01-06T09:00:00Z", "2025-01-06T09:00:00+02:00", "2025-01-06T09:00"):
        assert invoke(*base, "--now", moment).exit_code == 0, moment
    result = invoke(*base, "--now", "next tuesday")
    assert result.exit_code == 2
    assert "'next tuesday' is not an ISO 8601 date or time" in result.stderr


# exit codes --------------------------------------------------------------------
def test_exit_0_completed():
    assert invoke("simulate", "reactivate-client", *DATA, "--actor", "u1", "--client", "c3").exit_code == 0


def test_exit_1_unknown_flow_suggests_the_nearest():
    result = invoke("simulate", "disconnect-clent", *DATA, "--actor", "u1", "--client", "c1")
    assert result.exit_code == 1
    assert result.stderr == "error: unknown flow 'disconnect-clent'; did you mean 'disconnect-client'?\n"
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("option", "given", "meant"),
    [
        ("--actor", "alice", "alice@northwind.example"),
        ("--actor", "alice@northwind.exampel", "alice@northwind.example"),
        ("--actor", "U1", "u1"),
        ("--client", "acme", "Acme Ltd"),
        ("--client", "Acme Ltf", "Acme Ltd"),
        ("--client", "sunset cafe", "Sunset Cafe"),
    ],
)
def test_exit_1_unknown_actor_or_subject_suggests_the_nearest(option, given, meant):
    names = {"--actor": "u1", "--client": "c1", option: given}
    result = invoke("simulate", "reactivate-client", *DATA, "--actor", names["--actor"], "--client", names["--client"])
    assert result.exit_code == 1
    what = "user" if option == "--actor" else "client"
    assert result.stderr == f"error: unknown {what} {given!r}; did you mean {meant!r}?\n"


def test_exit_1_in_json_mode_still_prints_one_document():
    result = invoke("simulate", "nope", *DATA, "--actor", "u1", "--client", "c1", "--format", "json")
    assert result.exit_code == 1
    assert stdout_json(result) == {
        "error": {"message": "unknown flow 'nope'; expected one of " + ", ".join(repr(f) for f in FLOWS), "exit_code": 1, "problems": []}
    }


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("broken.yaml", "clients:\n  - id: c1\n    name: [oops\n", "broken.yaml:4:1: YAML syntax: "),  # what follows is the YAML library's own words
        ("broken.json", '{"clients": [}', "broken.json:1:14: JSON syntax: Expecting value"),
        ("misspelt.yaml", "partners: []\nclients:\n  - id: c1\n    nam: Acme\n", "misspelt.yaml:4:5: clients[0]: unknown key 'nam'; did you mean 'name'?"),
    ],
    ids=lambda v: v if isinstance(v, str) and v.endswith(("yaml", "json")) else "",
)
def test_exit_1_broken_data_file_is_path_line_col(tmp_path, name, text, where):
    path = tmp_path / name
    path.write_text(text)
    result = invoke("available", "--project", PROJECT, "--data", path, "--actor", "u1", "--client", "c1")
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if line.startswith(f"{path.parent}/{where}")], result.stderr
    assert "Traceback" not in result.output


def test_exit_1_missing_database_is_not_created(tmp_path):
    missing = tmp_path / "none.db"
    result = invoke("available", "--project", PROJECT, "--db", missing, "--actor", "u1", "--client", "c1")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: there is no database at {missing}; create it with `clientflow init --data FILE --db {missing}`")
    assert not missing.exists()


def test_exit_1_no_project_here(tmp_path):
    result = invoke("flows", "--project", tmp_path)
    assert result.exit_code == 1
    assert "no flows/ folder here, so no project; make one with `clientflow new DIR`" in result.stderr


def test_exit_2_usage_errors():
    missing = invoke("simulate", "disconnect-client", *DATA, "--client", "c1")
    assert missing.exit_code == 2 and "Missing option '--actor'" in missing.stderr
    both = invoke("available", *DATA, "--db", "x.db", "--actor", "u1", "--client", "c1")
    assert both.exit_code == 2 and "give either --data or --db, not both" in both.stderr
    bad = invoke("simulate", "disconnect-client", *DATA, "--actor", "u1", "--client", "c1", "--answer", "owner")
    assert bad.exit_code == 2 and "'owner' is not NAME=VALUE" in bad.stderr
    typo = invoke("simulat")
    assert typo.exit_code == 2 and "no command 'simulat'; did you mean 'simulate'?" in typo.stderr
    subject = invoke("simulate", "disconnect-client", *DATA, "--actor", "u1")
    assert subject.exit_code == 2 and "'--client' / '--subject'" in subject.stderr


def test_exit_3_blocked_says_which_rule_and_why():
    result = invoke("simulate", "disconnect-client", *DATA, "--actor", "u2", "--client", "c1", "--answer", "owner=cu1")
    assert result.exit_code == 3, result.output
    assert "Plan: disconnect-client by u2 on c1 — blocked (dry run)" in result.stdout
    assert "✗ practice-administrator: Only an administrator of the practice can do this" in result.stdout
    plan = stdout_json(invoke("simulate", "disconnect-client", *DATA, "--actor", "u3", "--client", "c1", "--format", "json"))
    assert plan["status"] == "blocked" and plan["blocked_by"][0]["rule"] == "own-practice-clients"
    assert plan["changes"] == [] and plan["emails"] == []


def test_exit_4_invalid_answer():
    result = invoke("simulate", "delete-client", *DATA, "--actor", "u1", "--client", "c2", "--answer", "confirm_name=empty shell co")
    assert result.exit_code == 4, result.output
    assert "✗ confirm_name: Client name: must be typed exactly as 'Empty Shell Co'" in result.stdout
    unknown = invoke("simulate", "delete-client", *DATA, "--actor", "u1", "--client", "c2", "--answer", "confirm=Empty Shell Co", "--format", "json")
    assert unknown.exit_code == 4
    assert stdout_json(unknown)["errors"] == [{"field": "confirm", "message": "delete-client has no field 'confirm'; did you mean 'confirm_name'?"}]


def test_exit_5_needs_input_names_the_missing_answer():
    result = invoke("simulate", "disconnect-client", *DATA, "--actor", "u1", "--client", "c1")
    assert result.exit_code == 5, result.output
    assert "? owner (screen choose-owner) — give it with --answer owner=..." in result.stdout
    plan = stdout_json(invoke("simulate", "disconnect-client", *DATA, "--actor", "u1", "--client", "c1", "--format", "json", "--no-input"))
    assert plan["status"] == "needs_input" and plan["needs"] == [{"step": "choose-owner", "field": "owner"}]


def test_the_installed_command_exits_with_the_same_codes(tmp_path):
    command = shutil.which("clientflow")
    assert command is not None, "install the project first: python3 -m pip install -e ."
    cases = {
        0: ["simulate", "reactivate-client", "--actor", "u1", "--client", "c3"],
        1: ["simulate", "reactivate-clint", "--actor", "u1", "--client", "c3"],
        3: ["simulate", "reactivate-client", "--actor", "u2", "--client", "c3"],
        4: ["simulate", "delete-client", "--actor", "u1", "--client", "c2", "--answer", "confirm_name=x"],
        5: ["simulate", "delete-client", "--actor", "u1", "--client", "c2"],
    }
    env = {k: v for k, v in os.environ.items() if k not in clean_env()}
    for code, args in cases.items():
        done = subprocess.run(
            [command, *args, "--project", str(PROJECT), "--data", str(DEMO)], capture_output=True, text=True, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL
        )
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
    usage = subprocess.run([command, "simulate"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert usage.returncode == 2 and "Missing argument 'FLOW'" in usage.stderr


# run ---------------------------------------------------------------------------
def test_run_without_a_terminal_and_without_yes_applies_nothing(tmp_path):
    db = tmp_path / "db.sqlite"
    assert invoke("init", "--project", PROJECT, "--data", DEMO, "--db", db).exit_code == 0
    before = db.read_bytes()
    result = invoke("run", "reactivate-client", "--project", PROJECT, "--db", db, "--actor", "u1", "--client", "c3", "--outbox", tmp_path / "out")
    assert result.exit_code == 5
    assert "nothing applied" in result.stderr and "pass --yes" in result.stderr
    assert db.read_bytes() == before and not (tmp_path / "out").exists()
    document = stdout_json(invoke("run", "reactivate-client", "--project", PROJECT, "--db", db, "--actor", "u1", "--client", "c3", "--format", "json"))
    assert document["status"] == "needs_input" and document["needs"] == [{"step": "commit", "field": "--yes"}]
    assert document["changes"] == [] and document["emails"] == []


def test_run_reports_blocked_and_invalid_with_their_codes_and_changes_nothing(tmp_path):
    db = tmp_path / "db.sqlite"
    invoke("init", "--project", PROJECT, "--data", DEMO, "--db", db)
    before = invoke("export", "--project", PROJECT, "--db", db).stdout
    base = ("--project", PROJECT, "--db", db, "--outbox", tmp_path / "out", "--yes")
    assert invoke("run", "reactivate-client", *base, "--actor", "u1", "--client", "c1").exit_code == 3
    assert invoke("run", "delete-client", *base, "--actor", "u1", "--client", "c2", "--answer", "confirm_name=no").exit_code == 4
    assert invoke("run", "delete-client", *base, "--actor", "u1", "--client", "c2").exit_code == 5
    assert invoke("export", "--project", PROJECT, "--db", db).stdout == before
    assert not (tmp_path / "out").exists()


def test_run_json_is_the_applied_plan(tmp_path):
    db = tmp_path / "db.sqlite"
    invoke("init", "--project", PROJECT, "--data", DEMO, "--db", db)
    result = invoke(
        "run",
        "reactivate-client",
        "--project",
        PROJECT,
        "--db",
        db,
        "--actor",
        "u1",
        "--client",
        "c3",
        "--yes",
        "--format",
        "json",
        "--outbox",
        tmp_path / "out",
        "--now",
        NOW,
    )
    assert result.exit_code == 0, result.output
    plan = stdout_json(result)
    assert plan["status"] == "completed" and plan["dry_run"] is False and plan["run"]
    assert len(list((tmp_path / "out").glob("*.eml"))) == 1


def test_run_with_the_defaults_uses_the_projects_database_and_outbox(tmp_path):
    project = copy_project(tmp_path / "project")
    assert invoke("init", "--project", project, "--data", project / "data" / "demo.yaml").exit_code == 0
    assert (project / ".clientflow" / "clientflow.db").is_file()
    result = invoke("run", "reactivate-client", "--project", project, "--actor", "u1", "--client", "Sunset Cafe", "--yes")
    assert result.exit_code == 0, result.output
    assert f"Emails written to {project / '.clientflow' / 'outbox'}" in result.stdout
    assert len(list((project / ".clientflow" / "outbox").glob("*.eml"))) == 1


def test_outbox_option_adds_the_outbox_when_the_configuration_chose_other_notifiers(tmp_path):
    project = copy_project(tmp_path / "project")
    (project / "clientflow.toml").write_text('notifiers = []\n[storage]\nbackend = "sqlite"\n')
    invoke("init", "--project", project, "--data", project / "data" / "demo.yaml")
    result = invoke("run", "reactivate-client", "--project", project, "--actor", "u1", "--client", "c3", "--yes", "--outbox", tmp_path / "mail")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 1


# init and export ---------------------------------------------------------------
def test_init_refuses_to_overwrite_without_force(tmp_path):
    db = tmp_path / "db.sqlite"
    first = invoke("init", "--project", PROJECT, "--data", DEMO, "--db", db)
    assert first.exit_code == 0 and first.stdout == f"loaded 9 records from {DEMO} into the sqlite database at {db}\n"
    again = invoke("init", "--project", PROJECT, "--data", DEMO, "--db", db)
    assert again.exit_code == 1 and f"the sqlite database at {db} already holds records; pass --force to replace them" in again.stderr
    assert invoke("init", "--project", PROJECT, "--data", DEMO, "--db", db, "--force").exit_code == 0


def test_init_checks_the_data_before_touching_the_database(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("clients: [\n")
    db = tmp_path / "db.sqlite"
    result = invoke("init", "--project", PROJECT, "--data", broken, "--db", db)
    assert result.exit_code == 1 and result.stderr.startswith(f"{broken}:2:1: YAML syntax")
    assert not db.exists()


def test_export_round_trips_through_init(tmp_path):
    db = tmp_path / "db.sqlite"
    invoke("init", "--project", PROJECT, "--data", DEMO, "--db", db)
    exported = invoke("export", "--project", PROJECT, "--db", db)
    assert exported.exit_code == 0, exported.output
    assert yaml.safe_load(exported.stdout) == yaml.safe_load(DEMO.read_text())
    again = tmp_path / "again.yaml"
    again.write_text(exported.stdout)
    copy = tmp_path / "copy.sqlite"
    assert invoke("init", "--project", PROJECT, "--data", again, "--db", copy).exit_code == 0
    assert json.loads(invoke("export", "--project", PROJECT, "--db", copy, "--format", "json").stdout) == yaml.safe_load(DEMO.read_text())


def test_export_of_a_missing_database_says_so(tmp_path):
    result = invoke("export", "--project", PROJECT, "--db", tmp_path / "none.db")
    assert result.exit_code == 1 and "there is no database at" in result.stderr


def test_json_data_files_are_read(tmp_path):
    data = tmp_path / "demo.json"
    data.write_text(json.dumps(yaml.safe_load(DEMO.read_text())))
    result = invoke("available", "--project", PROJECT, "--data", data, "--actor", "u1", "--client", "c1", "--format", "json")
    assert result.exit_code == 0, result.output
    assert stdout_json(result)["subject"] == "c1"


def test_domain_words_stay_out_of_the_help_the_engine_writes():
    # the words come from the project at run time: a project about tickets gets --ticket
    result = invoke("simulate", "--help", "--project", Path("/nonexistent"))
    assert "--subject ID|NAME" in result.output and "--client" not in result.output
    assert "The subject acted on" in result.output


def test_a_broken_data_file_is_named_as_it_was_given_from_the_current_folder(tmp_path, monkeypatch):
    # --data data/bad.yaml was reported as /the/absolute/path/data/bad.yaml:line:col
    project = copy_project(tmp_path / "p")
    bad = project / "data" / "bad.yaml"
    bad.write_text(DEMO.read_text(encoding="utf-8").replace("billing: partner", "billing: nobody", 1), encoding="utf-8")
    monkeypatch.chdir(project)
    result = invoke("simulate", "deactivate-client", "--data", "data/bad.yaml", "--actor", "u1", "--client", "c1", "--no-input")
    assert result.exit_code == 1
    assert result.stderr.startswith("data/bad.yaml:") and "'nobody' is not allowed" in result.stderr, result.stderr
    monkeypatch.chdir(tmp_path)
    elsewhere = invoke("simulate", "deactivate-client", "--project", "p", "--data", "p/data/bad.yaml", "--actor", "u1", "--client", "c1", "--no-input")
    assert elsewhere.stderr.startswith("p/data/bad.yaml:"), elsewhere.stderr


@pytest.mark.parametrize("where", ["file/proj", "ro/proj", "/proc/clientflow-new/proj"])  # /proc: where not even root may make a folder
def test_new_where_no_folder_can_be_made_is_a_mistake_to_fix_not_a_bug(tmp_path, monkeypatch, where):
    # it exited 70 ("This is a bug") with an unexpected FileNotFoundError / NotADirectoryError / PermissionError
    monkeypatch.chdir(tmp_path)  # not the checkout: the command line reads the current folder's project for its words
    (tmp_path / "file").write_text("not a folder", encoding="utf-8")
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    try:
        if where.startswith("ro/") and os.access(tmp_path / "ro", os.W_OK):
            pytest.skip("this user may write into a read-only folder (root); the /proc case stands for it")
        if where.startswith("/proc/") and not Path("/proc/self").is_dir():
            pytest.skip("no /proc here (Linux's)")
        result = invoke("new", tmp_path / where)
    finally:
        (tmp_path / "ro").chmod(0o700)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: cannot create the folder {tmp_path / where}: ") and "give a folder you may write in" in result.stderr
    assert "bug" not in result.stderr


def test_a_database_that_cannot_be_made_where_db_says_is_a_mistake_to_fix_not_a_bug(tmp_path, monkeypatch):
    # init --db /proc/x.db exited 70 ("This is a bug") with an unexpected OperationalError (or NotADirectoryError)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("not a folder", encoding="utf-8")
    for db in (tmp_path / "file" / "x.db", Path("/proc/clientflow-test.db")):
        result = invoke("init", "--project", PROJECT, "--data", DEMO, "--db", db)
        assert result.exit_code == 1, result.output
        assert f"cannot open the SQLite database {db} (" in result.stderr and "give a --db in a folder you may write in" in result.stderr, result.stderr
        assert "bug" not in result.stderr


# What a command's work needs, loaded only once the work is done: a command's --help answers without it.
HELP_LOADS_NONE_OF = {
    "i18n": ("clientflow.language.catalogs", "clientflow.language.plurals"),
    "outbox": ("clientflow.outbox", "clientflow.storage"),
    "worker": ("clientflow.outbox", "clientflow.storage"),
}


@pytest.mark.parametrize("name", sorted(HELP_LOADS_NONE_OF))
def test_a_commands_help_loads_none_of_its_work(name: str) -> None:
    script = (
        "import sys\nfrom clientflow.cli import main\n"
        f"try:\n    main([{name!r}, '--help'])\nexcept SystemExit:\n    pass\n"
        f"print('loaded:', *(m for m in {HELP_LOADS_NONE_OF[name]!r} if m in sys.modules))"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLIENTFLOW_")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, env=env)
    assert done.returncode == 0, done.stderr
    assert f"Usage: clientflow {name}" in done.stdout and done.stdout.splitlines()[-1] == "loaded:", done.stdout
