"""`op: set` is the old word for `op: update`: it loads with a located warning, and `clientflow fix` rewrites it in place."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import copy_project, invoke, plain

from clientflow.errors import ExitCode

FLOW = "flows/deactivate-client.yaml"
NEW = """{op: update, field: subscription, to: "'deactivated'"}"""
OLD = """{op: set, field: subscription, to: "'deactivated'"}  # the old word"""


def old_words(tmp_path: Path) -> tuple[Path, str]:
    root = copy_project(tmp_path / "project")
    path = root / FLOW
    text = path.read_text(encoding="utf-8")
    assert NEW in text
    text = text.replace(NEW, OLD)
    path.write_text(text, encoding="utf-8")
    block = root / "flows" / "reactivate-client.yaml"
    block_text = block.read_text(encoding="utf-8").replace(
        """{op: update, field: subscription, to: "'active'"}""", """{op: 'set', field: subscription, to: "'active'"}"""
    )
    block.write_text(block_text, encoding="utf-8")
    return root, text


def test_the_old_word_loads_with_a_located_warning(tmp_path: Path) -> None:
    root, _ = old_words(tmp_path)
    result = invoke("validate", "--project", root)
    assert result.exit_code == ExitCode.OK
    warnings = [line for line in plain(result.stderr).splitlines() if "warning:" in line]
    assert warnings[0].startswith(f"{FLOW}:50:12: warning: outcome.effects[0].op: 'set' is the old word for 'update'")
    assert "clientflow fix" in warnings[0] and len(warnings) == 2
    assert "(2 warnings: `clientflow fix` clears them)" in result.stdout
    document = json.loads(invoke("validate", "--project", root, "--format", "json").stdout)
    assert [(w["path"], w["line"], w["col"]) for w in document["warnings"]] == [(FLOW, 50, 12), ("flows/reactivate-client.yaml", 23, 12)]


def test_check_lists_the_fixes_and_changes_nothing(tmp_path: Path) -> None:
    root, text = old_words(tmp_path)
    result = invoke("fix", "--check", "--project", root)
    assert result.exit_code == ExitCode.ERROR
    assert f"{FLOW}:50:12: op: set -> op: update" in result.stdout and "2 fixes to make" in result.stdout
    assert (root / FLOW).read_text(encoding="utf-8") == text


def test_fix_changes_only_the_word_and_then_there_is_nothing_to_fix(tmp_path: Path) -> None:
    root, text = old_words(tmp_path)
    result = invoke("fix", "--project", root)
    assert result.exit_code == ExitCode.OK and "fixed 2 in 2 files" in result.stdout
    assert (root / FLOW).read_text(encoding="utf-8") == text.replace(OLD, OLD.replace("op: set", "op: update"))  # the comment stays
    assert """{op: 'update', field: subscription""" in (root / "flows" / "reactivate-client.yaml").read_text(encoding="utf-8")
    clean = invoke("validate", "--project", root)
    assert clean.exit_code == ExitCode.OK and "warning" not in clean.output
    assert "nothing to fix" in invoke("fix", "--project", root).stdout


def test_a_plan_says_update_whichever_word_the_flow_used(tmp_path: Path) -> None:
    from clientflow import Engine

    root, _ = old_words(tmp_path)
    engine = Engine.open(root, data=root / "data" / "demo.yaml", notifiers={})
    assert [c.op for c in engine.simulate("deactivate-client", "u1", "c1").changes] == ["update"]
