"""Loading a whole project: every problem of every file at once, each located, none twice.

The corpus (test_language_corpus.py) breaks one file at a time; these tests
break several together, or break what the corpus cannot (a missing file, an
invalid data schema), and check that one mistake never hides or multiplies
the others.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from clientflow import DefinitionError, load_project

CORPUS = Path(__file__).resolve().parent / "flows" / "invalid"
LOCATED = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")


def expected(kind: str, name: str) -> str:
    message = yaml.safe_load((CORPUS / kind / "expected.yaml").read_text(encoding="utf-8"))[name]
    assert isinstance(message, str)
    return message


def problems_of(root: Path) -> list[str]:
    with pytest.raises(DefinitionError) as raised:
        load_project(root)
    return [str(problem) for problem in raised.value.problems]


def order(problem: str) -> tuple[str, int, int]:
    found = LOCATED.match(problem)
    assert found, f"not located: {problem}"
    return found["path"], int(found["line"]), int(found["col"])


def test_all_errors_of_all_files_in_one_pass(project_copy: Path) -> None:
    for name in ("unknown-key.yaml", "condition-unknown-name.yaml", "duplicate-step-id.yaml", "tab-indent.yaml", "template-syntax-error.yaml"):
        shutil.copy(CORPUS / "flows" / name, project_copy / "flows" / name)
    shutil.copy(CORPUS / "rules" / "condition-syntax.yaml", project_copy / "flows" / "rules.yaml")
    for name in ("no-subject.txt", "unknown-name.txt", "orphan.html"):
        shutil.copy(CORPUS / "emails" / name, project_copy / "templates" / "emails" / name)

    found = problems_of(project_copy)

    wanted = [
        expected("flows", "unknown-key.yaml"),
        expected("flows", "condition-unknown-name.yaml"),
        expected("flows", "duplicate-step-id.yaml"),
        expected("flows", "tab-indent.yaml"),
        expected("flows", "template-syntax-error.yaml"),
        expected("rules", "condition-syntax.yaml"),
        expected("emails", "no-subject.txt"),
        expected("emails", "unknown-name.txt"),
        expected("emails", "orphan.html"),
    ]
    assert sorted(found) == sorted(wanted)
    assert found == sorted(found, key=order)  # by file, then line, then column
    assert {order(p)[0] for p in found} == {
        "flows/unknown-key.yaml",
        "flows/condition-unknown-name.yaml",
        "flows/duplicate-step-id.yaml",
        "flows/tab-indent.yaml",
        "flows/template-syntax-error.yaml",
        "flows/rules.yaml",
        "templates/emails/no-subject.txt",
        "templates/emails/unknown-name.txt",
        "templates/emails/orphan.html",
    }


def test_a_misspelled_key_in_the_project_file_hides_no_problem_of_any_flow(project_copy: Path) -> None:
    shutil.copy(CORPUS / "project" / "unknown-key.yaml", project_copy / "flows" / "project.yaml")
    for name in ("unknown-key.yaml", "tab-indent.yaml", "condition-unknown-name.yaml"):
        shutil.copy(CORPUS / "flows" / name, project_copy / "flows" / name)

    found = problems_of(project_copy)

    # The misspelled key is reported and read as the key it meant, so the conditions are checked too.
    assert found == sorted(
        [
            expected("project", "unknown-key.yaml"),
            expected("flows", "unknown-key.yaml"),
            expected("flows", "tab-indent.yaml"),
            expected("flows", "condition-unknown-name.yaml"),
        ],
        key=order,
    )


def test_an_entity_mistake_in_the_project_file_is_not_repeated_in_every_flow(project_copy: Path) -> None:
    shutil.copy(CORPUS / "project" / "unknown-subject-entity.yaml", project_copy / "flows" / "project.yaml")
    shutil.copy(CORPUS / "emails" / "no-subject.txt", project_copy / "templates" / "emails" / "no-subject.txt")
    assert problems_of(project_copy) == [expected("project", "unknown-subject-entity.yaml"), expected("emails", "no-subject.txt")]


def test_a_missing_project_file_is_named(project_copy: Path) -> None:
    (project_copy / "flows" / "project.yaml").unlink()
    assert problems_of(project_copy) == ["flows/project.yaml: the file is missing; every project needs flows/project.yaml (see docs/flow-language.md)"]


def test_a_folder_without_flows_is_not_a_project(tmp_path: Path) -> None:
    assert problems_of(tmp_path) == [
        f"{tmp_path}: no flows/ folder here, so no project; make one with `clientflow new DIR`, or pass --project DIR to name an existing project folder"
    ]


def test_a_data_schema_that_is_not_json_is_reported_where_it_is_named(project_copy: Path) -> None:
    (project_copy / "schema" / "data.schema.json").write_text("{ not json", encoding="utf-8")
    [problem] = problems_of(project_copy)
    assert problem.startswith("flows/project.yaml:6:14: data_schema: 'schema/data.schema.json' is not a readable JSON file (")
    assert problem.endswith("); fix the file it names")


def test_a_data_schema_that_is_not_a_json_schema_is_reported(project_copy: Path) -> None:
    (project_copy / "schema" / "data.schema.json").write_text('{"type": "mapping"}', encoding="utf-8")
    [problem] = problems_of(project_copy)
    assert problem.startswith("flows/project.yaml:6:14: data_schema: 'schema/data.schema.json' is not a valid JSON Schema (")


def write_flow(root: Path, name: str, steps: str) -> None:
    """A small valid flow around `steps` (YAML, indented two spaces)."""
    (root / "flows" / f"{name}.yaml").write_text(
        f"id: {name}\ntitle: T\nsummary: S\nsubject: client\nsteps:\n{steps}outcome:\n  reversible: true\n  audit: done\n",
        encoding="utf-8",
    )


def test_a_template_error_in_a_literal_block_is_located_at_its_own_line(project_copy: Path) -> None:
    steps = "  - id: explain\n    kind: info\n    title: Hello\n    body: |\n      One line.\n      Two {{ clent.name }}.\n"
    write_flow(project_copy, "block", steps)
    assert problems_of(project_copy) == ["flows/block.yaml:11:14: steps[0].body: unknown name 'clent'; did you mean 'client'?"]


def test_a_template_error_on_a_line_indented_inside_a_literal_block_is_at_its_column(project_copy: Path) -> None:
    steps = "  - id: explain\n    kind: info\n    title: Hello\n    body: |\n      One line.\n          Two {{ clent.name }}.\n"
    write_flow(project_copy, "block", steps)  # the text's line 2 is "    Two {{ clent.name }}.": its own 4 spaces count once
    assert problems_of(project_copy) == ["flows/block.yaml:11:18: steps[0].body: unknown name 'clent'; did you mean 'client'?"]


def test_a_template_error_on_a_later_line_of_a_quoted_text_says_which_line(project_copy: Path) -> None:
    steps = '  - id: explain\n    kind: info\n    title: Hello\n    body: "One line.\\nTwo {{ clent.name }}."\n'
    write_flow(project_copy, "quoted", steps)
    assert problems_of(project_copy) == ["flows/quoted.yaml:9:11: steps[0].body: unknown name 'clent'; did you mean 'client'? (line 2 of the text)"]


def test_product_flow_and_now_have_fixed_keys(project_copy: Path) -> None:
    steps = "  - id: explain\n    kind: info\n    title: '{{ product.name }} {{ flow.title }} {{ now.year }}'\n    when: now.yaer > 2000\n"
    write_flow(project_copy, "fixed", steps)
    assert problems_of(project_copy) == ["flows/fixed.yaml:9:11: steps[0].when: now has no key 'yaer'; did you mean 'year'?"]


def test_a_shared_rule_that_does_not_compile_is_reported_once(project_copy: Path) -> None:
    rules = project_copy / "flows" / "rules.yaml"
    rules.write_text(rules.read_text(encoding="utf-8").replace("if: actor_practice is not none and", "if: actor_practise is not none and"), encoding="utf-8")
    # five flows use practice-administrator: one message, at the rule, and no "unknown rule" in any flow
    assert problems_of(project_copy) == ["flows/rules.yaml:6:9: rules.practice-administrator.if: unknown name 'actor_practise'; did you mean 'actor_practice'?"]


def test_an_email_template_that_does_not_compile_is_not_also_unknown_to_the_flows_using_it(project_copy: Path) -> None:
    email = project_copy / "templates" / "emails" / "disconnect-client.txt"
    email.write_text(
        email.read_text(encoding="utf-8").replace("{{ partner.name }} has disconnected", "{{ partner.name }} has {{ gibberish }} disconnected"),
        encoding="utf-8",
    )
    assert problems_of(project_copy) == ["templates/emails/disconnect-client.txt:5:27: unknown name 'gibberish'; the names here are " + NAMES]


NAMES = "actor, actor_business, actor_practice, all, answers, approval, client, flow, lookup, now, partner, product, range"


def test_an_answer_an_email_template_uses_and_its_flow_lacks_is_reported_in_the_template_naming_the_flow(project_copy: Path) -> None:
    # it was reported at the flow's `template:` key alone, without the template file or its line
    flow = project_copy / "flows" / "deactivate-client.yaml"
    text = flow.read_text(encoding="utf-8")
    flow.write_text(text.replace("notify_client", "tell_client"), encoding="utf-8")
    found = problems_of(project_copy)
    said = [p for p in found if "answers.notify_client" in p]
    emails = project_copy / "templates" / "emails"
    lines = {}
    for name in ("deactivate-practice.html", "deactivate-practice.txt"):
        written = (emails / name).read_text(encoding="utf-8").splitlines()
        number = next(n for n, line in enumerate(written, 1) if "answers.notify_client" in line)
        lines[name] = f"templates/emails/{name}:{number}:{written[number - 1].index('answers.notify_client') + 1}: "
    flow_lines = flow.read_text(encoding="utf-8").splitlines()
    at = next(n for n, line in enumerate(flow_lines, 1) if "template: deactivate-practice" in line)
    assert len(said) == 2, found
    for problem, start in zip(said, sorted(lines.values()), strict=True):
        assert problem.startswith(start), problem
        assert f"sent by deactivate-client (flows/deactivate-client.yaml:{at}:" in problem
        assert problem.endswith("no field is named 'notify_client'; did you mean 'tell_client'?")
