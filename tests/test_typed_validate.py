"""validate checks every field name against the data schema: each typo at its own path:line:col, with the nearest field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import copy_project, invoke, plain

from clientflow.errors import ExitCode


def edited(tmp_path: Path, file: str, old: str, new: str) -> Path:
    root = copy_project(tmp_path / "project")
    path = root / file
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return root


CASES = {
    "a rule's condition": (
        "flows/rules.yaml",
        "if: client.billing == 'partner'",
        "if: client.biling == 'partner'",
        "flows/rules.yaml:19:16: rules.paid-by-practice.if: client has no field 'biling'; did you mean 'billing'?",
    ),
    "a filter's field argument": (
        "flows/deactivate-client.yaml",
        "selectattr('role', 'equalto', 'administrator')",
        "selectattr('rloe', 'equalto', 'administrator')",
        "flows/deactivate-client.yaml:55:38: outcome.emails[1].to: user has no field 'rloe'; did you mean 'role'?",
    ),
    "a text template": (
        "templates/emails/deactivate-client.txt",
        "{{ partner.name }}",
        "{{ partner.nmae }}",
        "templates/emails/deactivate-client.txt:1:77: partner has no field 'nmae'; did you mean 'name'?",
    ),
    "an HTML template": (
        "templates/emails/deactivate-client.html",
        "<strong>{{ client.name }}</strong>",
        "<strong>{{ client.nmae }}</strong>",
        "templates/emails/deactivate-client.html:2:86: client has no field 'nmae'; did you mean 'name'?",
    ),
    "an effect's field": (
        "flows/reactivate-client.yaml",
        "field: subscription,",
        "field: subscripton,",
        "flows/reactivate-client.yaml:23:27: outcome.effects[0].field: client has no field 'subscripton'; did you mean 'subscription'?",
    ),
    "an effect's literal value": (
        "flows/deactivate-client.yaml",
        """to: "'deactivated'\"""",
        """to: "'paused'\"""",
        "flows/deactivate-client.yaml:50:45: outcome.effects[0].to: 'paused' is not allowed in client.subscription; use one of 'active', 'deactivated'",
    ),
    "a text indexed by a name": (
        "flows/rules.yaml",
        "if: client.billing == 'partner'",
        "if: client.billing['plan'] == 'partner'",
        "flows/rules.yaml:19:25: rules.paid-by-practice.if: a text has no field 'plan': a text is indexed only by position, e.g. [0]",
    ),
    "a list ordered against a number": (
        "flows/rules.yaml",
        "if: client.subscription == 'active'",
        "if: client.users > 0",
        "flows/rules.yaml:43:9: rules.active-subscription.if: cannot compare a list of user with a number:"
        " `>` orders two numbers or two texts; did you mean `client.users | length > 0`?",
    ),
    "a listed field compared with a value it never holds": (
        "flows/rules.yaml",
        "if: client.subscription == 'deactivated'",
        "if: client.subscription == 'actve'",
        "flows/rules.yaml:49:32: rules.deactivated-subscription.if: 'actve' is not allowed in client.subscription;"
        " did you mean 'active'? (one of 'active', 'deactivated')",
    ),
    "a number indexed": (
        "flows/deactivate-client.yaml",
        'banner: "{{ client.name }}',
        'banner: "{{ (client.users | length)[0] }}{{ client.name }}',
        "flows/deactivate-client.yaml:57:39: outcome.banner: a number cannot be indexed: only a list (by position) or a record (by field name) can",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_mistake_is_located_with_the_nearest_field(tmp_path: Path, case: str) -> None:
    file, old, new, expected = CASES[case]
    root = edited(tmp_path, file, old, new)
    result = invoke("validate", "--project", root)
    assert result.exit_code == ExitCode.ERROR
    assert expected in plain(result.output).splitlines(), plain(result.output)


def test_json_names_the_file_line_and_column(tmp_path: Path) -> None:
    file, old, new, expected = CASES["a text template"]
    root = edited(tmp_path, file, old, new)
    document = json.loads(invoke("validate", "--project", root, "--format", "json").stdout)
    (problem,) = document["problems"]
    assert f"{problem['path']}:{problem['line']}:{problem['col']}: {problem['message']}" == expected


def test_the_line_inside_the_template_file_is_the_line_reported(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    path = root / "templates" / "emails" / "deactivate-client.txt"
    lines = path.read_text(encoding="utf-8").split("\n")
    lines.insert(4, "{% for u in client.users %}{{ u.emial }}{% endfor %}")
    path.write_text("\n".join(lines), encoding="utf-8")
    output = plain(invoke("validate", "--project", root).output)
    assert "templates/emails/deactivate-client.txt:5:33: user has no field 'emial'; did you mean 'email'?" in output.splitlines()


def test_a_shared_name_is_typed_like_the_rest(tmp_path: Path) -> None:
    root = edited(
        tmp_path,
        "flows/project.yaml",
        "  partner: lookup('partner', client.partner)\n",
        "  partner: lookup('partner', client.partner)\n  holder_name: partner.nmae\n",
    )
    output = plain(invoke("validate", "--project", root).output)
    assert "partner has no field 'nmae'; did you mean 'name'?" in output


def test_a_computed_value_is_left_to_the_run_and_the_demo_runs_catch_it(tmp_path: Path) -> None:
    file, old, _, _ = CASES["an effect's literal value"]
    root = edited(tmp_path, file, old, """to: "'pau' ~ 'sed'\"""")
    output = plain(invoke("validate", "--project", root).output)
    assert "outcome.effects[0].to" not in output  # not a constant: nothing to say at the effect
    assert "data/demo-runs.yaml:" in output and "subscription: 'paused' is not allowed" in output


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ((), "unknown email template 'farewell': create templates/emails/farewell.txt (and farewell.html)"),
        (
            ("farewell.TXT",),
            "unknown email template 'farewell': create templates/emails/farewell.txt (and farewell.html); "
            "found templates/emails/farewell.TXT — rename it to farewell.txt",
        ),
        (
            ("Farewell.text",),
            "unknown email template 'farewell': create templates/emails/farewell.txt (and farewell.html); "
            "found templates/emails/Farewell.text — rename it to farewell.txt",
        ),
    ],
)
def test_a_missing_template_is_a_fix_it(tmp_path: Path, files: tuple[str, ...], expected: str) -> None:
    root = edited(tmp_path, "flows/delete-client.yaml", "template: delete-confirmation", "template: farewell")
    for name in files:
        (root / "templates" / "emails" / name).write_text("Subject: Bye\n\nBye.\n", encoding="utf-8")
    output = plain(invoke("validate", "--project", root).output)
    assert any(line.startswith("flows/delete-client.yaml:") and line.endswith(expected) for line in output.splitlines()), output


def test_a_close_template_name_is_suggested_with_the_way_to_create_one(tmp_path: Path) -> None:
    root = edited(tmp_path, "flows/delete-client.yaml", "template: delete-confirmation", "template: delete-confirmaton")
    output = plain(invoke("validate", "--project", root).output)
    assert "unknown email template 'delete-confirmaton'; did you mean 'delete-confirmation'? Or create templates/emails/delete-confirmaton.txt" in output


def test_python_never_warns_on_the_terminal_about_what_a_condition_was_translated_into(tmp_path: Path) -> None:
    """`'x'['y']` and `(1)[0]` make Python warn "perhaps you missed a comma?", quoting generated code: said at the
    author's own line instead, and nothing else on stderr (a process of its own: the warning is printed at compile time)."""
    root = edited(tmp_path, "flows/rules.yaml", "if: client.billing == 'partner'", "if: \"'partner'['plan'] == 'partner' or (1)[0] == 1\"")
    command = [sys.executable, "-c", "from clientflow.cli import main; main()", "validate", "--project", str(root), "--no-cache"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == ExitCode.ERROR
    assert "Warning" not in done.stderr + done.stdout, done.stderr
    assert "flows/rules.yaml:19:21: rules.paid-by-practice.if: a text has no field 'plan'" in done.stderr
    assert "flows/rules.yaml:19:48: rules.paid-by-practice.if: a number cannot be indexed" in done.stderr


def test_a_rule_whose_values_do_not_fit_at_run_time_says_so_in_our_words(tmp_path: Path) -> None:
    """Where the schema cannot say (a client record open to other keys), the rule fails when it runs: the reason users
    read names the condition and what could not be compared, not Python's error."""
    root = edited(tmp_path, "flows/rules.yaml", "if: client.subscription == 'active'", "if: client.users > 0")
    schema = root / "schema" / "data.schema.json"
    document = json.loads(schema.read_text(encoding="utf-8"))
    del document["$defs"]["client"]["additionalProperties"]
    schema.write_text(json.dumps(document), encoding="utf-8")
    assert invoke("validate", "--project", root, "--no-cache").exit_code == ExitCode.OK
    data = root / "data" / "demo.yaml"
    result = invoke("available", "--project", root, "--data", data, "--actor", "u1", "--client", "c1", "--format", "json")
    reasons = [r["message"] for f in json.loads(result.stdout)["flows"] for r in f["reasons"] if r["rule"] == "active-subscription"]
    assert reasons and set(reasons) == {"this rule could not be checked, so the action is not offered: client.users > 0: cannot compare a list with a number"}
