"""clientflow diff: an edit of the flows compared as models (semantic), on data (behaviour) and by its scenarios.

Each test copies the fixture project into a fresh git repository, commits it, edits
the working tree and asks `clientflow diff` what changed. Expected pairs are worked
out independently, with Engine.available on both versions.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import DEMO, PROJECT, invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientflow import Engine
from clientflow.conditions.program import load_project
from clientflow.errors import ExitCode
from clientflow.review import semantic

FLOW = "delete-client"
DROPPED = "no-users"  # the precondition the edit drops
STEP = "double-check"  # the step the edit adds
FLOW_FILES = sorted(p.name for p in (PROJECT / "flows").glob("*.yaml") if p.stem not in ("project", "rules"))


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from tmp_path: removing a revision's copy walks it by names relative to its folder, which a watch
    of reads from the repository's root (shipped_guard) would take for the shipped flows/ and templates/."""
    monkeypatch.chdir(tmp_path)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def repository(tmp_path: Path) -> Path:
    """The fixture project, committed in a git repository of its own."""
    repo = tmp_path / "repo"
    shutil.copytree(PROJECT, repo)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "the project")
    return repo


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def add_step_and_drop_rule(project: Path) -> None:
    path = project / "flows" / f"{FLOW}.yaml"
    edit(path, f"  - rule: {DROPPED}\n", "")
    edit(path, "  - id: confirm\n", f"  - id: {STEP}\n    kind: info\n    title: Check {{{{ client.name }}}} once more\n  - id: confirm\n")


def diff(*args: object) -> Any:
    return invoke("diff", *args)


def document(*args: object) -> dict[str, Any]:
    result = diff(*args, "--format", "json")
    assert result.exit_code in (0, 6), result.output
    return json.loads(result.stdout)


def people(data: Path) -> tuple[list[str], list[str]]:
    """The actors (users of partners and of clients) and the subjects (clients) of a data file, read directly."""
    doc = yaml.safe_load(data.read_text(encoding="utf-8"))
    actors = [u["id"] for key in ("partners", "clients") for holder in doc[key] for u in holder.get("users", [])]
    return actors, [c["id"] for c in doc["clients"]]


def availability(root: Path) -> dict[tuple[str, str, str], bool]:
    actors, subjects = people(DEMO)
    with Engine.open(root, data=DEMO, notifiers={}) as engine:
        return {(f.flow, a, s): f.available for a in actors for s in subjects for f in engine.available(a, s).flows}


# the contract -----------------------------------------------------------------
def test_an_added_step_and_a_dropped_rule_are_named_and_the_pairs_it_opens_listed(tmp_path: Path) -> None:
    repo = repository(tmp_path)
    add_step_and_drop_rule(repo)
    doc = document("--project", repo, "--no-scenarios")
    assert {"base", "head", "flows", "behaviour"} <= set(doc) and isinstance(doc["base"], str) and isinstance(doc["head"], str)

    flows = {f["flow"]: f for f in doc["flows"]}
    assert set(flows) == {name.removesuffix(".yaml") for name in FLOW_FILES}
    changed = flows.pop(FLOW)
    assert changed["status"] == "changed"
    assert all(f["status"] == "unchanged" and f["changes"] == [] for f in flows.values())
    for change in changed["changes"]:
        assert {"kind", "path", "message"} <= set(change) and all(isinstance(change[k], str) for k in ("kind", "path", "message"))
    added = [c for c in changed["changes"] if STEP in c["path"] and STEP in c["message"]]
    assert [c["kind"] for c in added] == ["step-added"]
    lines = (repo / "flows" / f"{FLOW}.yaml").read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if text.strip() == f"- id: {STEP}")
    assert added[0]["head"].startswith(f"flows/{FLOW}.yaml:{line}:") and added[0]["base"] is None
    dropped = [c for c in changed["changes"] if c["kind"] == "rule-dropped"]
    assert len(dropped) == 1 and DROPPED in dropped[0]["message"] and dropped[0]["head"] is None

    before, after = availability(PROJECT), availability(repo)
    state = {True: "offered", False: "blocked"}
    expected = {(f, a, s, state[before[f, a, s]], state[after[f, a, s]]) for f, a, s in before if before[f, a, s] != after[f, a, s]}
    assert expected, "the edit must change some pair's availability for this test to mean anything"
    listed = {(b["flow"], b["actor"], b["subject"], b["before"], b["after"]) for b in doc["behaviour"]}
    assert listed == expected  # behaviour: exactly the pairs whose availability the dropped rule changed
    for pair in doc["behaviour"]:
        assert pair["before"] in ("offered", "blocked", "absent") and pair["after"] in ("offered", "blocked", "absent")
        if pair["before"] == "blocked":
            assert DROPPED in pair["before_blocked_by"]
    for pair in doc["plans"]:  # offered in both: listed for the plan's differences (the new screen)
        assert pair["before"] == pair["after"] == "offered" and before[FLOW, pair["actor"], pair["subject"]]
        screens = next(d for d in pair["plan"] if d["what"] == "screens")
        assert STEP in screens["after"] and STEP not in screens["before"]
    offered_both = {(a, s) for f, a, s in before if f == FLOW and before[f, a, s] and after[f, a, s]}
    assert {(b["actor"], b["subject"]) for b in doc["plans"]} == offered_both


def test_fail_on_behaviour_exits_6_when_a_pair_changed_and_0_when_none_did(tmp_path: Path) -> None:
    repo = repository(tmp_path)
    assert diff("--project", repo, "--no-scenarios", "--fail-on", "behaviour").exit_code == ExitCode.OK
    add_step_and_drop_rule(repo)
    result = diff("--project", repo, "--no-scenarios", "--fail-on", "behaviour")
    assert result.exit_code == ExitCode.CHANGED == 6, result.output
    assert diff("--project", repo, "--no-scenarios").exit_code == ExitCode.OK  # without --fail-on, a review is a report


def test_a_reworded_message_is_a_semantic_change_that_changes_no_pair(tmp_path: Path) -> None:
    repo = repository(tmp_path)
    edit(repo / "flows" / "rules.yaml", "Disconnect it instead,", "Disconnect it first,")
    assert diff("--project", repo, "--no-scenarios", "--fail-on", "behaviour").exit_code == ExitCode.OK
    assert diff("--project", repo, "--no-scenarios", "--fail-on", "semantic").exit_code == ExitCode.CHANGED
    doc = document("--project", repo, "--no-scenarios")
    changes = [c for f in doc["flows"] for c in f["changes"]]
    assert changes and {c["kind"] for c in changes} == {"rule-message"} and all(DROPPED in c["path"] for c in changes)
    assert "[-instead,-]" in changes[0]["message"] and "{+first,+}" in changes[0]["message"]
    assert doc["behaviour"] == []


def test_an_email_text_change_is_shown_as_it_renders_on_the_demo_data(tmp_path: Path) -> None:
    repo = repository(tmp_path)
    edit(repo / "templates" / "emails" / "delete-confirmation.txt", "This cannot be undone.", "Nothing can bring it back.")
    doc = document("--project", repo, "--no-scenarios")
    change = next(c for f in doc["flows"] for c in f["changes"] if c["kind"] == "email-text")
    assert change["rendered"] is True and "Nothing can bring it back." in change["diff"]["text"] and "{{" not in change["diff"]["text"]
    actors, subjects = people(DEMO)
    assert change["sample"]["actor"] in actors and change["sample"]["subject"] in subjects
    assert doc["behaviour"] == []  # nobody's availability changed
    plans = [d for b in doc["plans"] for d in b["plan"]]
    assert plans and {d["what"] for d in plans} == {"email-text"}
    assert diff("--project", repo, "--no-scenarios", "--fail-on", "behaviour").exit_code == ExitCode.OK
    assert diff("--project", repo, "--no-scenarios", "--fail-on", "plan").exit_code == ExitCode.CHANGED


def test_a_translation_changed_in_a_catalog_is_an_edit_of_its_flow(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    context, source, french = "delete-client/steps/confirm/title", "Delete {{ client.name }} for good?", "Supprimer {{ client.name }} pour de bon ?"
    for root, translation in ((old, ""), (new, french)):
        shutil.copytree(PROJECT, root)
        edit(root / "flows" / "project.yaml", "data_schema:", "locales: [en, fr]\ndata_schema:")
        catalog = root / "locales" / "fr" / "LC_MESSAGES" / "clientflow.po"
        catalog.parent.mkdir(parents=True)
        header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        catalog.write_text(
            f"{header}msgctxt {json.dumps(context)}\nmsgid {json.dumps(source)}\nmsgstr {json.dumps(translation, ensure_ascii=False)}\n", encoding="utf-8"
        )
    doc = document(old, new, "--project", new, "--no-scenarios")
    changed = [f for f in doc["flows"] if f["status"] != "unchanged"]
    assert [f["flow"] for f in changed] == [FLOW]
    [change] = changed[0]["changes"]
    assert change["kind"] == "translation" and context in change["path"] and change["after"] == french and change["before"] is None
    assert change["head"].startswith("locales/fr/LC_MESSAGES/clientflow.po:")


def test_a_damaged_catalog_is_said_where_it_is_not_read_as_translations_moved(tmp_path: Path) -> None:
    """A msgid line deleted: read leniently, its msgstr would become the next text's translation (an edit nobody made)."""
    old, new = tmp_path / "old", tmp_path / "new"
    contexts = [("delete-client/steps/confirm/title", "Delete {{ client.name }} for good?", "Supprimer {{ client.name }} pour de bon ?")]
    contexts.append(("delete-client/title", "Delete client", "Supprimer le client"))
    for root in (old, new):
        shutil.copytree(PROJECT, root)
        edit(root / "flows" / "project.yaml", "data_schema:", "locales: [en, fr]\ndata_schema:")
        catalog = root / "locales" / "fr" / "LC_MESSAGES" / "clientflow.po"
        catalog.parent.mkdir(parents=True)
        entries = "".join(f"msgctxt {json.dumps(c)}\nmsgid {json.dumps(s)}\nmsgstr {json.dumps(t, ensure_ascii=False)}\n\n" for c, s, t in contexts)
        catalog.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n' + entries, encoding="utf-8")
    damaged = new / "locales" / "fr" / "LC_MESSAGES" / "clientflow.po"
    lines = damaged.read_text(encoding="utf-8").split("\n")
    gone = next(i for i, line in enumerate(lines) if line.startswith('msgid "Delete {{'))
    damaged.write_text("\n".join(lines[:gone] + lines[gone + 1 :]), encoding="utf-8")
    result = invoke("diff", old, new, "--project", new, "--no-scenarios")
    assert result.exit_code == ExitCode.ERROR
    assert f"locales/fr/LC_MESSAGES/clientflow.po:{gone + 1}:1: a msgstr with no msgid before it" in result.output
    assert "translation" not in result.stdout


# reformatting is no change ------------------------------------------------------
def test_reformatting_a_flow_file_gives_no_entries(tmp_path: Path) -> None:
    repo = repository(tmp_path)
    path = repo / "flows" / f"{FLOW}.yaml"
    doc = yaml.safe_load(path.read_text())

    class Quoted(yaml.SafeDumper):  # every text in quotes, single or double; keys in reverse order; mappings inline
        pass

    Quoted.add_representer(str, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"' if "\n" in text else "'"))
    text = "# rewritten\n" + yaml.dump(dict(reversed(list(doc.items()))), Dumper=Quoted, default_flow_style=True, sort_keys=False, width=50)
    assert yaml.safe_load(text) == doc
    path.write_text(text)
    result = diff("--project", repo, "--no-scenarios", "--fail-on", "behaviour", "--format", "json")
    assert result.exit_code == ExitCode.OK, result.output
    found = json.loads(result.stdout)
    assert found["behaviour"] == [] and found["project"] == []
    assert all(f["status"] == "unchanged" and f["changes"] == [] for f in found["flows"])
    assert diff("--project", repo, "--no-scenarios", "--fail-on", "semantic").exit_code == ExitCode.OK


PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9 ._-]*[A-Za-z0-9._-]|[A-Za-z]")
KEYWORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}


@st.composite
def rewritten(draw: st.DrawFn, value: Any) -> str:
    """`value` written as YAML another way: keys in another order, other quotes and styles, comments anywhere."""

    def scalar(item: Any) -> str:
        if item is None:
            return "null"
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, (int, float)):
            return repr(item)
        styles = ["double"] + (["single"] if "\n" not in item else []) + (["plain"] if PLAIN.fullmatch(item) and item.lower() not in KEYWORDS else [])
        style = draw(st.sampled_from(styles))
        if style == "double":
            return json.dumps(item, ensure_ascii=False)
        if style == "single":
            return "'" + item.replace("'", "''") + "'"
        return str(item)

    def inline(item: Any) -> str:
        if isinstance(item, dict):
            keys = draw(st.permutations(list(item)))
            return "{" + ", ".join(f"{scalar(k)}: {inline(item[k])}" for k in keys) + "}"
        if isinstance(item, list):
            return "[" + ", ".join(inline(x) for x in item) + "]"
        return scalar(item)

    def block(item: Any, indent: int) -> list[str]:
        pad = " " * indent
        lines: list[str] = []
        if isinstance(item, dict):
            for key in draw(st.permutations(list(item))):
                child = item[key]
                if isinstance(child, (dict, list)) and child and draw(st.booleans()):
                    lines.append(f"{pad}{scalar(key)}:")
                    lines.extend(block(child, indent + 2))
                else:
                    lines.append(f"{pad}{scalar(key)}: {inline(child)}")
        else:
            for child in item:
                if isinstance(child, (dict, list)) and child and draw(st.booleans()):
                    inner = block(child, indent + 2)
                    lines.append(f"{pad}- {inner[0].lstrip()}")
                    lines.extend(inner[1:])
                else:
                    lines.append(f"{pad}- {inline(child)}")
        return lines

    lines = block(value, 0)
    out: list[str] = []
    for line in lines:
        if draw(st.integers(0, 4)) == 0:
            out.append(" " * draw(st.integers(0, 6)) + "# " + draw(st.sampled_from(["note", "why: because", "- not a step", "id: x"])))
        out.append(line + ("  # aside" if draw(st.integers(0, 5)) == 0 else ""))
    return "\n".join(out) + "\n"


BASE_MODEL = None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(FLOW_FILES))
def test_random_cosmetic_rewrites_of_a_flow_are_no_change(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, name: str) -> None:
    global BASE_MODEL
    if BASE_MODEL is None:
        BASE_MODEL = load_project(PROJECT)
    original = (PROJECT / "flows" / name).read_text(encoding="utf-8")
    text = data.draw(rewritten(yaml.safe_load(original)), label="rewritten")
    assert yaml.safe_load(text) == yaml.safe_load(original)  # the rewrite means the same YAML
    root = tmp_path_factory.mktemp("cosmetic")
    for part in ("flows", "templates", "schema"):
        shutil.copytree(PROJECT / part, root / part)
    (root / "flows" / name).write_text(text, encoding="utf-8")
    found = semantic.compare(BASE_MODEL, load_project(root))
    assert not found.changed, [e.to_json() for f in found.flows for e in f.changes] + [e.to_json() for e in found.project]


# versions: folders, revisions, mistakes ---------------------------------------------
def test_two_folders_are_compared_without_git(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(PROJECT, old)
    shutil.copytree(PROJECT, new)
    add_step_and_drop_rule(new)
    doc = document(old, new, "--project", new, "--no-scenarios")
    assert doc["base"] == str(old) and doc["head"] == str(new)
    assert [f["flow"] for f in doc["flows"] if f["status"] != "unchanged"] == [FLOW]
    assert any(b["before"] == "blocked" and b["after"] == "offered" for b in doc["behaviour"])


def test_two_revisions_are_compared_and_the_working_tree_is_left_alone(tmp_path: Path) -> None:
    repo = repository(tmp_path)
    first = git(repo, "rev-parse", "HEAD").strip()
    add_step_and_drop_rule(repo)
    git(repo, "commit", "-q", "-am", "the edit")
    edit(repo / "flows" / "rules.yaml", "Disconnect it instead,", "Disconnect it first,")  # not committed: not in either revision
    status = git(repo, "status", "--porcelain")
    doc = document(first, "HEAD", "--project", repo, "--no-scenarios")
    assert doc["base"].startswith(first[:7]) and doc["head"].startswith("HEAD")
    kinds = {c["kind"] for f in doc["flows"] for c in f["changes"]}
    assert kinds == {"step-added", "rule-dropped"}
    assert git(repo, "status", "--porcelain") == status


def test_an_unknown_revision_is_a_clear_error(tmp_path: Path) -> None:
    repo = repository(tmp_path)
    result = diff("no-such-revision", "--project", repo)
    assert result.exit_code == ExitCode.ERROR
    assert "no-such-revision" in result.stderr and "revision" in result.stderr and "Traceback" not in result.output
    as_json = diff("HEAD~5", "--project", repo, "--format", "json")
    assert as_json.exit_code == ExitCode.ERROR and json.loads(as_json.stdout)["error"]["exit_code"] == 1


def test_a_folder_outside_git_or_without_a_project_is_a_clear_error(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    shutil.copytree(PROJECT, outside)
    result = diff("--project", outside)
    assert result.exit_code == ExitCode.ERROR and "not in a git repository" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = diff(empty, outside, "--project", outside)
    assert result.exit_code == ExitCode.ERROR and "holds no project" in result.stderr and str(empty) in result.stderr


# what people read ---------------------------------------------------------------
def test_markdown_starts_with_a_summary_table_and_folds_the_details(tmp_path: Path) -> None:
    repo = repository(tmp_path)
    add_step_and_drop_rule(repo)
    result = diff("--project", repo, "--format", "markdown")
    assert result.exit_code == ExitCode.OK, result.output
    lines = result.stdout.splitlines()
    table = next(i for i, line in enumerate(lines) if line.startswith("| flow | definition | behaviour"))
    assert lines[table + 1] == "| --- | --- | --- |"
    assert lines[table + 2].startswith(f"| <code>{FLOW}</code> | changed, 2 edits |") and "<code>no-users</code>" in lines[table + 2]
    assert table < next(i for i, line in enumerate(lines) if line.startswith("<details>"))
    assert result.stdout.count("<details>") == result.stdout.count("</details>") >= 3
    assert "a client with users cannot be deleted: passed → failed" in result.stdout  # its scenario expects no-users to block


def test_text_groups_the_pairs_by_flow_and_cause(tmp_path: Path) -> None:
    repo = repository(tmp_path)
    add_step_and_drop_rule(repo)
    before, after = availability(PROJECT), availability(repo)
    opened = {s for f, a, s in before if f == FLOW and not before[f, a, s] and after[f, a, s]}
    result = diff("--project", repo, "--no-scenarios")
    assert result.exit_code == ExitCode.OK, result.output
    assert f"{FLOW}: now offered for {len(opened)} clients" in result.stdout and f"no longer blocked by `{DROPPED}`" in result.stdout


def test_the_projects_own_button_labels_are_a_project_setting_the_review_names(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(PROJECT, old)
    shutil.copytree(PROJECT, new)
    added = "data_schema: schema/data.schema.json\nbuttons: {back: Go back}\n"
    edit(old / "flows" / "project.yaml", "data_schema: schema/data.schema.json\n", "data_schema: schema/data.schema.json\nbuttons: {back: Back}\n")
    edit(new / "flows" / "project.yaml", "data_schema: schema/data.schema.json\n", added)
    doc = document(old, new, "--project", new, "--no-scenarios")
    assert [(c["kind"], c["path"], c["before"], c["after"]) for c in doc["project"]] == [("project-settings", "buttons.back", "Back", "Go back")]
    assert doc["project"][0]["head"].startswith("flows/project.yaml:")
    assert diff(old, new, "--project", new, "--no-scenarios", "--fail-on", "semantic").exit_code == ExitCode.CHANGED


# a renamed field -----------------------------------------------------------------
RENAMED_FLOW, OLD_FIELD, NEW_FIELD = "deactivate-client", "notify_client", "tell_client"


def rename_field(root: Path, *, type_too: bool = False) -> None:
    """Rename a field where it is declared and where the flow and its email templates use it; scenarios and demo runs left naming the old."""
    flow = root / "flows" / f"{RENAMED_FLOW}.yaml"
    edit(flow, f"name: {OLD_FIELD}\n        type: boolean", f"name: {NEW_FIELD}\n        type: {'text' if type_too else 'boolean'}")
    for path in [flow, *sorted((root / "templates" / "emails").glob("deactivate-practice.*"))]:
        path.write_text(path.read_text(encoding="utf-8").replace(f"answers.{OLD_FIELD}", f"answers.{NEW_FIELD}"), encoding="utf-8")


def test_a_renamed_field_is_one_rename_that_names_what_still_uses_the_old_name(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(PROJECT, old)
    shutil.copytree(PROJECT, new)
    rename_field(new)
    doc = document(old, new, "--project", new, "--no-scenarios")
    changes = next(f for f in doc["flows"] if f["flow"] == RENAMED_FLOW)["changes"]
    kinds = [c["kind"] for c in changes]
    # JSON still lists the pair a rename stands for, as it did before renames were told apart, each naming the other
    [added] = [c for c in changes if c["kind"] == "field-added"]
    [removed] = [c for c in changes if c["kind"] == "field-removed"]
    assert kinds.index("field-renamed") + 1 == kinds.index("field-added") and kinds.index("field-added") + 1 == kinds.index("field-removed")
    assert added["field"] == NEW_FIELD and added["renamed_from"] == OLD_FIELD and added["head"] and OLD_FIELD not in added["path"]
    assert removed["field"] == OLD_FIELD and removed["renamed_to"] == NEW_FIELD and removed["base"] and removed["head"] is None
    [renamed] = [c for c in changes if c["kind"] == "field-renamed"]
    assert renamed["field"] == renamed["after"] == NEW_FIELD and renamed["renamed_from"] == renamed["before"] == OLD_FIELD
    assert {"path", "message", "base", "head"} <= set(renamed) and NEW_FIELD in renamed["path"]
    expected = {
        f"{folder}/{path.name}:{number}"
        for folder in ("scenarios", "data")
        for path in (new / folder).glob("*.yaml")
        if RENAMED_FLOW in path.read_text(encoding="utf-8")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(rf"\b{OLD_FIELD}\b", line)
    }
    assert any(p.startswith("scenarios/") for p in expected) and any(p.startswith("data/") for p in expected)
    assert {p.rsplit(":", 1)[0] for p in renamed["still_named_by"]} == expected

    text = diff(old, new, "--project", new, "--no-scenarios").output
    assert f"field-renamed    field '{OLD_FIELD}' renamed '{NEW_FIELD}'" in text and f"still named '{OLD_FIELD}' in {len(expected)} places" in text
    assert "field-added" not in text and "field-removed" not in text  # shown as the rename alone
    markdown = diff(old, new, "--project", new, "--no-scenarios", "--format", "markdown").output
    assert "**field-renamed**" in markdown and "<code>scenarios/deactivate-client.yaml:" in markdown


def test_a_field_gone_and_one_new_of_another_type_are_not_a_rename(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(PROJECT, old)
    shutil.copytree(PROJECT, new)
    rename_field(new, type_too=True)
    edit(new / "flows" / f"{RENAMED_FLOW}.yaml", "        default: false\n", "")
    doc = document(old, new, "--project", new, "--no-scenarios")
    kinds = [c["kind"] for f in doc["flows"] for c in f["changes"]]
    assert "field-renamed" not in kinds and kinds.count("field-added") == kinds.count("field-removed") == 1


# translations a change left stale ------------------------------------------------
TITLE_CONTEXT, TITLE, RETITLED = "delete-client/steps/confirm/title", "Delete {{ client.name }} for good?", "Delete {{ client.name }} for ever?"


def with_locales(root: Path, translated: dict[str, tuple[str, str]], *, declare: bool = True) -> None:
    """Declare en and fr, with a French catalog holding `translated` (context -> (source, translation))."""
    if declare:
        edit(root / "flows" / "project.yaml", "data_schema:", "locales: [en, fr]\ndata_schema:")
    catalog = root / "locales" / "fr" / "LC_MESSAGES" / "clientflow.po"
    catalog.parent.mkdir(parents=True, exist_ok=True)
    lines = ['msgid ""', 'msgstr ""', '"Content-Type: text/plain; charset=UTF-8\\n"', ""]
    for context, (source, translation) in translated.items():
        lines += [f"msgctxt {json.dumps(context)}", f"msgid {json.dumps(source)}", f"msgstr {json.dumps(translation, ensure_ascii=False)}", ""]
    catalog.write_text("\n".join(lines), encoding="utf-8")


def test_changed_and_new_texts_without_a_current_translation_are_listed_per_locale(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(PROJECT, old)
    with_locales(old, {TITLE_CONTEXT: (TITLE, "Supprimer {{ client.name }} pour de bon ?")})
    shutil.copytree(old, new)
    edit(new / "flows" / f"{FLOW}.yaml", TITLE, RETITLED)  # the catalog still translates the old words
    add_step_and_drop_rule(new)
    doc = document(old, new, "--project", new, "--no-scenarios")
    [stale] = doc["untranslated"]
    assert stale["locale"] == "fr" and stale["catalog"] == "locales/fr/LC_MESSAGES/clientflow.po"
    contexts = {t["context"] for t in stale["texts"]}
    assert contexts == {TITLE_CONTEXT, f"{FLOW}/steps/{STEP}/title"} and stale["count"] == 2  # texts unchanged are not listed, translated or not
    assert {t["source"] for t in stale["texts"]} == {RETITLED, "Check {{ client.name }} once more"}
    assert stale["commands"] == ["clientflow i18n extract", "clientflow i18n update"]
    assert {"base", "head", "flows", "behaviour", "plans", "project", "scenarios", "data", "notes"} <= set(doc)

    text = diff(old, new, "--project", new, "--no-scenarios").output
    assert "Translations: 2 changed or new texts not translated yet (fr 2)" in text and TITLE_CONTEXT in text
    assert "clientflow i18n extract, then clientflow i18n update" in text
    markdown = diff(old, new, "--project", new, "--no-scenarios", "--format", "markdown").output
    assert "<b>Translations</b>" in markdown and "<code>clientflow i18n update</code>" in markdown

    with_locales(new, {TITLE_CONTEXT: (RETITLED, "Supprimer {{ client.name }} à jamais ?")}, declare=False)  # translated as it now reads
    assert {t["context"] for t in document(old, new, "--project", new, "--no-scenarios")["untranslated"][0]["texts"]} == {f"{FLOW}/steps/{STEP}/title"}


def test_a_project_of_one_language_has_no_translations_to_report(tmp_path: Path) -> None:
    repo = repository(tmp_path)
    add_step_and_drop_rule(repo)
    doc = document("--project", repo, "--no-scenarios")
    assert doc["untranslated"] == []
    assert "Translations" not in diff("--project", repo, "--no-scenarios").output
