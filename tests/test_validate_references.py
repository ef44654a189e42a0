"""`clientflow validate` checks the files that name flows, steps and answers; `clientflow demo` exits 1 on a refused run.

The scenarios (scenarios/*.yaml) and the demo runs (data/demo-runs.yaml) are not part
of the project, but they name its flows, steps and answers: a flow renamed or a
question removed leaves them stale. Each test writes a small library project inline.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from clientflow.cli import cli
from clientflow.errors import did_you_mean

LIBRARY = {
    "flows/project.yaml": """
        product: {name: Town Library, sender: desk@library.example}
        entities:
          branch: {collection: branches, keys: [id], label: id}
          librarian: {nested: {in: [branch], key: staff}, keys: [id, email], label: email}
          book: {collection: books, keys: [id, title], label: title}
        subject: {entity: book, match: [id, title]}
        actor: {entity: librarian, match: [id, email]}
    """,
    "flows/lend-book.yaml": """
        id: lend-book
        title: Lend a book
        summary: Lend a book from the shelf to a reader.
        subject: book
        preconditions:
          - {name: on-shelf, if: "book.status == 'shelved'", message: "{{ book.title }} is {{ book.status }}."}
        steps:
          - id: reader
            kind: form
            title: Who borrows {{ book.title }}?
            fields:
              - {name: card, type: text, label: Reader's card, required: true}
              - name: weeks
                type: choice
                label: For how long
                required: true
                options:
                  - {value: two, label: Two weeks}
                  - {value: four, label: Four weeks}
          - id: receipt
            kind: form
            title: Print a receipt?
            fields:
              - {name: printed, type: boolean, required: false, default: false}
        outcome:
          effects:
            - {op: update, field: status, to: "'lent'"}
          banner: "{{ book.title }} is lent."
          reversible: true
          audit: "{{ actor.email }} lent {{ book.id }}"
    """,
    "data/demo.yaml": """
        branches:
          - id: riverside
            staff:
              - {id: l1, email: lee@library.example}
        books:
          - {id: b1, title: Emma, status: shelved}
          - {id: b2, title: Dune, status: lent}
    """,
    "data/demo-runs.yaml": """
        lend-book:
          actor: lee@library.example
          subject: Emma
          answers: {card: R-17, weeks: two}
    """,
    "scenarios/lend-book.yaml": """
        defaults: {given: ../data/demo.yaml, flow: lend-book, actor: l1, book: b1}
        scenarios:
          - name: a shelved book is lent for the weeks chosen
            answers: {card: R-17, weeks: four}
            expect:
              status: completed
              screens: [reader, receipt]
              changes: [{op: update, entity: book, id: b1, field: status, after: lent}]
          - name: a lent book cannot be lent again
            book: b2
            expect: {blocked_by: [on-shelf]}
    """,
}


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The library project in tmp_path, the current folder inside it (paths print relative to it)."""
    root = tmp_path / "library"
    for name, text in LIBRARY.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    monkeypatch.chdir(root)
    return root


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, text: str) -> int:
    """The 1-based line of `path` holding `text`."""
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


def test_a_consistent_project_validates_and_counts_what_it_checked(library: Path) -> None:
    result = invoke("validate")
    assert result.exit_code == 0, result.output
    assert result.stdout == "ok: 1 flows, 2 steps, 0 email templates, 2 scenarios, 1 demo runs, no problems.\n"
    report = json.loads(invoke("validate", "--format", "json").stdout)
    assert (report["valid"], report["scenarios"], report["demo_runs"]) == (True, 2, 1)
    assert invoke("test").exit_code == 0
    assert invoke("demo").exit_code == 0


def test_without_scenarios_or_demo_runs_there_is_nothing_more_to_check(library: Path) -> None:
    (library / "data" / "demo-runs.yaml").unlink()
    (library / "scenarios" / "lend-book.yaml").unlink()
    (library / "scenarios").rmdir()
    result = invoke("validate")
    assert result.exit_code == 0, result.output
    assert result.stdout == "ok: 1 flows, 2 steps, 0 email templates, no problems.\n"


# the demo runs ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "at", "message"),
    [
        ("lend-book:", "lend-bok:", "lend-bok:", "unknown flow 'lend-bok'; did you mean 'lend-book'?"),
        ("weeks: two", "wekes: two", "wekes", "lend-book has no field 'wekes'; did you mean 'weeks'?"),
        ("subject: Emma", "subjet: Emma", "actor:", "lend-book: give actor and subject (text) and answers (a mapping); found subjet"),
    ],
    ids=["flow", "answer", "key"],
)
def test_a_stale_name_in_the_demo_runs_is_located_with_a_did_you_mean(library: Path, old: str, new: str, at: str, message: str) -> None:
    runs = library / "data" / "demo-runs.yaml"
    edit(runs, old, new)
    result = invoke("validate")
    assert result.exit_code == 1
    assert result.stdout == ""
    [problem] = result.stderr.splitlines()
    path, line, col, text = problem.split(":", 3)
    assert (path, int(line), text) == ("data/demo-runs.yaml", line_of(runs, at), f" {message}")
    assert int(col) >= 1
    assert "Traceback" not in result.output


def test_a_demo_run_the_flow_refuses_is_a_problem_for_validate_and_demo_exits_1(library: Path) -> None:
    runs = library / "data" / "demo-runs.yaml"
    edit(runs, "weeks: two", "weeks: six")  # a name that exists, a value the flow refuses
    validated = invoke("validate")
    assert validated.exit_code == 1
    [problem] = validated.stderr.splitlines()
    assert problem.startswith(f"data/demo-runs.yaml:{line_of(runs, 'answers')}:")
    assert "the demo run of lend-book is refused (weeks: " in problem and "six" in problem

    shown = invoke("demo")
    assert shown.exit_code == 1
    assert "     status   invalid" in shown.stdout  # the whole demo is still shown
    assert "Try your own" in shown.stdout
    assert shown.stderr.splitlines() == [problem]


def test_a_demo_run_on_someone_not_in_the_demo_data_is_a_problem(library: Path) -> None:
    runs = library / "data" / "demo-runs.yaml"
    edit(runs, "actor: lee@library.example", "actor: lea@library.example")
    result = invoke("validate")
    assert result.exit_code == 1
    [problem] = result.stderr.splitlines()
    assert problem.startswith(f"data/demo-runs.yaml:{line_of(runs, 'answers')}:")
    assert "the demo run of lend-book cannot run on data/demo.yaml" in problem and "'lea@library.example'" in problem


def test_a_guessed_demo_run_the_flow_refuses_makes_demo_exit_1(library: Path) -> None:
    (library / "data" / "demo-runs.yaml").write_text("{}\n", encoding="utf-8")
    # a guess takes the first option of each choice (a text it leaves out): make the flow refuse that option
    edit(library / "flows" / "lend-book.yaml", "label: Reader's card, required: true", "label: Reader's card, required: false")
    rule = "        validate:\n          - {if: \"value != 'two'\", message: Two weeks is too short.}\n"
    edit(library / "flows" / "lend-book.yaml", "        options:\n", rule + "        options:\n")
    validated = invoke("validate")
    assert validated.exit_code == 0, validated.output  # nothing in the runs file is wrong
    shown = invoke("demo")
    assert shown.exit_code == 1
    [problem] = shown.stderr.splitlines()
    assert problem.startswith("data/demo-runs.yaml: lend-book has no demo run here, and the one guessed for it is refused (weeks: ")


def test_the_demo_runs_are_not_checked_against_data_that_is_not_there(library: Path) -> None:
    (library / "data" / "demo.yaml").rename(library / "data" / "elsewhere.yaml")
    edit(library / "scenarios" / "lend-book.yaml", "../data/demo.yaml", "../data/elsewhere.yaml")
    edit(library / "data" / "demo-runs.yaml", "weeks: two", "weeks: six")
    result = invoke("validate")
    assert result.exit_code == 0, result.output  # its names are right; only `demo --data` knows which data it runs on


# the scenarios ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "at", "message"),
    [
        ("flow: lend-book", "flow: lend-bok", "flow: lend-bok", "unknown flow 'lend-bok'; did you mean 'lend-book'?"),
        ("screens: [reader, receipt]", "screens: [reader, reciept]", "reciept", "no step of lend-book is named 'reciept'; did you mean 'receipt'?"),
        ("answers: {card: R-17, weeks: four}", "answers: {card: R-17, wekes: four}", "wekes", "lend-book has no field 'wekes'; did you mean 'weeks'?"),
    ],
    ids=["flow", "step", "answer"],
)
def test_a_stale_name_in_a_scenario_is_located_with_a_did_you_mean(library: Path, old: str, new: str, at: str, message: str) -> None:
    scenarios = library / "scenarios" / "lend-book.yaml"
    edit(scenarios, old, new)
    result = invoke("validate")
    assert result.exit_code == 1
    [problem] = result.stderr.splitlines()  # one mistake, one problem: nothing it leads to is reported again
    path, line, _, text = problem.split(":", 3)
    assert (path, int(line), text) == ("scenarios/lend-book.yaml", line_of(scenarios, at), f" {message}")
    assert invoke("test").exit_code == 1  # `clientflow test` fails the scenario too


def test_validate_reports_the_problems_of_every_file_at_once(library: Path) -> None:
    edit(library / "scenarios" / "lend-book.yaml", "screens: [reader, receipt]", "screens: [reader, reciept]")
    edit(library / "data" / "demo-runs.yaml", "weeks: two", "wekes: two")
    result = invoke("validate", "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert sorted((p["path"], p["message"]) for p in report["problems"]) == [
        ("data/demo-runs.yaml", "lend-book has no field 'wekes'; did you mean 'weeks'?"),
        ("scenarios/lend-book.yaml", "no step of lend-book is named 'reciept'; did you mean 'receipt'?"),
    ]


def test_the_names_listed_for_a_stale_one_are_each_listed_once() -> None:
    # a flow whose two steps share an id (itself reported) listed it twice for a scenario's stale step name
    assert did_you_mean("notify", ["explain", "survey", "explain"]) == "; expected one of 'explain', 'survey'"
    assert did_you_mean("explian", ["explain", "explain"]) == "; did you mean 'explain'?"


def test_a_misspelled_template_in_a_flow_is_told_at_the_flow_not_as_the_scenarios_fix(tmp_path: Path) -> None:
    # a stranger's: every correct scenario line said "sends no email 'deactivate-practice'; did you mean 'deactivate-practise'?"
    from cli_support import PROJECT, copy_project

    root = copy_project(tmp_path / "project")
    shutil.copytree(PROJECT / "scenarios", root / "scenarios")
    flow = root / "flows" / "deactivate-client.yaml"
    flow.write_text(flow.read_text(encoding="utf-8").replace("template: deactivate-practice", "template: deactivate-practise"), encoding="utf-8")
    assert "deactivate-practice" in (root / "scenarios" / "deactivate-client.yaml").read_text(encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", "--no-cache", "--project", str(root), "--format", "json"])
    problems = json.loads(result.stdout)["problems"]
    assert [p["path"] for p in problems] == ["flows/deactivate-client.yaml"]
    assert "did you mean 'deactivate-practice'?" in problems[0]["message"]
    scenario = root / "scenarios" / "deactivate-client.yaml"  # a name no template has is still the scenario's mistake
    scenario.write_text(scenario.read_text(encoding="utf-8").replace("deactivate-practice", "deactivate-practis", 1), encoding="utf-8")
    again = json.loads(CliRunner().invoke(cli, ["validate", "--no-cache", "--project", str(root), "--format", "json"]).stdout)["problems"]
    assert [p["path"] for p in again] == ["flows/deactivate-client.yaml", "scenarios/deactivate-client.yaml"]
    assert again[1]["message"].startswith("deactivate-client sends no email 'deactivate-practis'")
    assert "deactivate-practise" not in again[1]["message"]  # never the flow's misspelling as the fix
