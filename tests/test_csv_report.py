"""The bulk CSV report opens in a spreadsheet as text: a cell that would start a formula gets a leading ' (OWASP)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from cli_support import invoke
from conftest import DEMO, PROJECT
from hypothesis import given, settings
from hypothesis import strategies as st

from clientflow.commands.bulk import REPORT_FIELDS, Report
from clientflow.commands.csvfile import FORMULA_STARTS

HOSTILE = '=HYPERLINK("http://x","y")'


def cells(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_a_client_named_like_a_formula_is_written_as_text(tmp_path: Path) -> None:
    data = tmp_path / "demo.yaml"
    text = DEMO.read_text(encoding="utf-8")
    assert "name: Sunset Cafe\n" in text
    data.write_text(text.replace("name: Sunset Cafe\n", f"name: '{HOSTILE}'\n", 1), encoding="utf-8")
    report = tmp_path / "report.csv"
    args = ("bulk", "deactivate-client", "--project", PROJECT, "--data", data, "--actor", "u1", "--clients", "c1,c3")
    invoke(*args, "--answer", "notify_client=true", "--report", report)
    rows = {row[0]: dict(zip(REPORT_FIELDS, row, strict=True)) for row in cells(report)[1:]}
    assert rows["c3"]["status"] == "blocked" and rows["c3"]["message"].startswith(f"'{HOSTILE}'s subscription")
    assert rows["c1"]["status"] == "completed" and rows["c1"]["message"] == ""
    assert not [cell for row in cells(report) for cell in row if cell.startswith(FORMULA_STARTS)]
    lines = tmp_path / "report.jsonl"  # JSON Lines is not opened by a spreadsheet: the message as it is
    invoke(*args, "--answer", "notify_client=true", "--report", lines)
    by_subject = {line["subject"]: line for line in map(json.loads, lines.read_text(encoding="utf-8").splitlines())}
    assert by_subject["c3"]["message"].startswith(f"{HOSTILE}'s subscription")


TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20)
NAMES = st.one_of(TEXT, st.tuples(st.sampled_from(FORMULA_STARTS), TEXT).map("".join))


@settings(max_examples=200, deadline=None)
@given(subjects=st.lists(NAMES, min_size=1, max_size=5, unique=True), rules=st.lists(NAMES, max_size=2), message=NAMES)
def test_no_cell_of_the_report_starts_a_formula_and_ordinary_names_are_unchanged(
    tmp_path_factory: pytest.TempPathFactory, subjects: list[str], rules: list[str], message: str
) -> None:
    path = tmp_path_factory.mktemp("report") / "report.csv"
    report = Report(path)
    for subject in subjects:
        report.write({"subject": subject, "status": "blocked", "rules": rules, "message": message, "run": None, "changes": 0, "emails": 0})
    report.close()
    header, *rows = cells(path)
    assert header == list(REPORT_FIELDS)
    assert not [cell for row in rows for cell in row if cell.startswith(FORMULA_STARTS)]
    written = [subject if not subject.startswith(FORMULA_STARTS) else "'" + subject for subject in subjects]
    assert [row[0] for row in rows] == written  # an ordinary name as it is; one that would start a formula, behind a '
    assert {row[3] for row in rows} == {message if not message.startswith(FORMULA_STARTS) else "'" + message}
    assert {row[2] for row in rows} == {" ".join(rules) if not " ".join(rules).startswith(FORMULA_STARTS) else "'" + " ".join(rules)}
