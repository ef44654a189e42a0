"""Choices from any collection the project declares: all(entity), with where: and label:, reach applied to subjects."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import copy_project, invoke, plain

from clientflow import Engine
from clientflow.errors import ExitCode

TEXT_FIELD = """      - name: partner
        type: text
        label: Practice id
        required: true
        max_length: 200
        validate:
          - if: lookup('partner', value) is not none
            message: No practice has the id "{{ value }}". Check the id the practice gave you.
"""


def choice(source: str, where: str | None = None, label: str = "{{ item.name }}") -> str:
    lines = [
        "      - name: partner",
        "        type: choice",
        "        label: Practice",
        "        required: true",
        "        options:",
        f"          from: {source}",
    ]
    if where is not None:
        lines.append(f"          where: {where}")
    lines += ["          value: id", "          match: [name]", f'          label: "{label}"']
    return "\n".join(lines) + "\n"


def project(tmp_path: Path, field: str) -> Path:
    root = copy_project(tmp_path / "project")
    flow = root / "flows" / "invite-accountant.yaml"
    text = flow.read_text(encoding="utf-8")
    assert TEXT_FIELD in text
    flow.write_text(text.replace(TEXT_FIELD, field), encoding="utf-8")
    return root


def engine(root: Path) -> Engine:
    return Engine.open(root, data=root / "data" / "demo.yaml", notifiers={})


def offered(root: Path) -> list[tuple[str, str]]:
    plan = engine(root).simulate("invite-accountant", "finn@freeform.example", "c5")
    (field,) = plan.screens[0].fields
    return [(o["value"], o["label"]) for o in field["options"]]


def test_all_lists_every_record_of_an_entity(tmp_path: Path) -> None:
    root = project(tmp_path, choice("all('partner')"))
    data = engine(root).export()
    assert offered(root) == [(p["id"], p["name"]) for p in sorted(data["partners"], key=lambda p: p["id"])]


def test_where_leaves_records_out_and_the_answer_must_be_one_listed(tmp_path: Path) -> None:
    root = project(tmp_path, choice("all('partner')", where="item.id != 'p1'"))
    assert [value for value, _ in offered(root)] == ["p2"]
    e = engine(root)
    assert e.simulate("invite-accountant", "finn@freeform.example", "c5", {"partner": "p1"}).status == "invalid"
    assert e.simulate("invite-accountant", "finn@freeform.example", "c5", {"partner": "p2"}).status == "completed"
    by_name = e.simulate("invite-accountant", "finn@freeform.example", "c5", {"partner": "Harbor Accounts"})
    assert by_name.status == "completed" and by_name.changes[0].after == "p2"


def test_records_of_the_subject_entity_are_only_those_the_actor_may_reach(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    flow = root / "flows" / "deactivate-client.yaml"
    text = flow.read_text(encoding="utf-8")
    old = "      - name: reason\n"
    assert old in text
    field = "      - {name: also, type: choice, required: false, options: {from: \"all('client')\", value: id, label: '{{ item.name }}'}}\n"
    flow.write_text(text.replace(old, field + old, 1), encoding="utf-8")
    e = engine(root)
    plan = e.simulate("deactivate-client", "u1", "c1")
    listed = {o["value"] for s in plan.screens for f in s.fields if f["name"] == "also" for o in f["options"]}
    reachable = {c["id"] for c in e.export()["clients"] if c.get("partner") == "p1"}  # u1 is an administrator of p1
    assert listed == reachable and listed != {c["id"] for c in e.export()["clients"]}


def test_a_collection_named_where_a_list_is_meant_says_how_to_list_it(tmp_path: Path) -> None:
    root = project(tmp_path, choice("partners"))
    output = plain(invoke("validate", "--project", root).output)
    assert "'partners' is a collection, not a name conditions see; to offer every partner, write from: all('partner')" in output
    assert "flows/invite-accountant.yaml:27:" in output


def test_where_and_label_are_typed_by_the_records_listed(tmp_path: Path) -> None:
    root = project(tmp_path, choice("all('partner')", where="item.nmae != ''", label="{{ item.nmae }}"))
    output = plain(invoke("validate", "--project", root).output)
    assert output.count("partner has no field 'nmae'; did you mean 'name'?") == 2


def test_too_many_records_to_choose_from_is_an_error_not_a_huge_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import clientflow.runtime.context as context

    monkeypatch.setattr(context, "MAX_ALL", 1)
    root = project(tmp_path, choice("all('partner')"))
    result = invoke(
        "simulate", "invite-accountant", "--project", root, "--data", root / "data" / "demo.yaml", "--actor", "finn@freeform.example", "--subject", "c5"
    )
    assert result.exit_code == ExitCode.ERROR and "all('partner') holds more than 1 records" in plain(result.output)
