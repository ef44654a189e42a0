"""The model is plain data: code held as source, compiled beside it (engine/conditions/program.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from clientflow import load_project
from clientflow.language.code import NOT_COMPILED, Expr, Text

BUILT_BY_HAND = textwrap.dedent(
    """
    import sys
    from clientflow.errors import Location
    from clientflow.language.code import Expr, Text
    from clientflow.language.model import Rule

    def rule(condition, path, line):
        return Rule("admin", Expr(condition, Location(path, line + 1, 7)), Text("only admins", Location(path, line + 2, 12)), Location(path, line, 5))

    here, moved, other = rule("actor.role == 'admin'", "a.yaml", 3), rule("actor.role == 'admin'", "b.yaml", 30), rule("actor.role != 'admin'", "a.yaml", 3)
    print(here == moved, here == other, hash(here) == hash(moved))
    print(repr(here))
    print(",".join(sorted(m for m in sys.modules if m.startswith(("clientflow.conditions", "clientflow.runtime", "jinja2")))))
    """
)


def test_a_model_is_built_compared_and_printed_without_a_compiler() -> None:
    done = subprocess.run([sys.executable, "-c", BUILT_BY_HAND], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    compared, shown, imported = done.stdout.split("\n")[:3]
    assert compared == "True False True"  # where it was written is not what it says
    assert "actor.role == 'admin'" in shown and "only admins" in shown and "Location" not in shown
    assert imported == ""


def test_a_moved_flow_says_the_same_and_is_compiled_anew(project_copy: Path) -> None:
    before = load_project(project_copy)
    path = project_copy / "flows" / "reactivate-client.yaml"
    path.write_text("\n\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    after = load_project(project_copy)
    old, new = before.flow("reactivate-client"), after.flow("reactivate-client")
    assert new.steps == old.steps and new.outcome == old.outcome and new.rules == old.rules
    assert new.steps[0].title.location is not None and old.steps[0].title.location is not None
    assert new.steps[0].title.location.line == old.steps[0].title.location.line + 2
    scope = {"client": {"name": "Acme"}}
    assert after.program.render(new.steps[0].title, scope) == before.program.render(old.steps[0].title, scope) == "Reactivate Acme?"
    with pytest.raises(LookupError, match="not compiled"):
        before.program.render(new.steps[0].title, scope)  # each program knows the code of its own model


def test_a_changed_condition_is_a_changed_model(project_copy: Path) -> None:
    before = load_project(project_copy)
    path = project_copy / "flows" / "reactivate-client.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("to: \"'active'\"", "to: \"'deactivated'\""), encoding="utf-8")
    after = load_project(project_copy)
    old, new = before.flow("reactivate-client").outcome.effects[0], after.flow("reactivate-client").outcome.effects[0]
    assert (old.to, new.to) == (Expr("'active'"), Expr("'deactivated'"))
    assert old != new and before.program.evaluate(old.to, {}) != after.program.evaluate(new.to, {})


def test_what_a_piece_of_code_uses_is_read_from_its_compiled_form(project_copy: Path) -> None:
    project = load_project(project_copy)
    flow = project.flow("reactivate-client")
    assert ("client", "name") in project.program.uses(flow.outcome.banner or Text("")).attributes
    email = flow.outcome.emails[0]
    assert project.program.uses(email.to).names == {"client"}


def test_a_model_built_by_hand_says_it_was_never_compiled() -> None:
    with pytest.raises(LookupError, match="load_project"):
        NOT_COMPILED.evaluate(Expr("true"), {})
