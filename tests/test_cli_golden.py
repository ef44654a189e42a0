"""Golden transcripts: `clientflow simulate` text for every flow of the fixture project, compared exactly.

Each file under tests/golden/ holds the command (without the project and data
options every case shares), its stdout and its exit code. They change only when
regenerated on purpose:

    CLIENTFLOW_UPDATE_GOLDEN=1 python3 -m pytest tests/test_cli_golden.py
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
from cli_support import DEMO, NOW, PROJECT, invoke

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("CLIENTFLOW_UPDATE_GOLDEN") == "1"

# name -> (arguments after `simulate`, expected exit code)
CASES = {
    # a representative completed run of every shipped flow
    "deactivate-client": (
        "deactivate-client --actor alice@northwind.example --client 'Acme Ltd' --answer 'reason=Seasonal business' --answer notify_client=true",
        0,
    ),
    "delete-client": ("delete-client --actor u1 --client c2 --answer 'confirm_name=Empty Shell Co'", 0),
    "disconnect-client": ("disconnect-client --actor u1 --client c1 --answer owner=carla@acme.example", 0),
    "disconnect-self-paying-client": ("disconnect-self-paying-client --actor u1 --client 'Solo Design' --answer owner=cu4", 0),
    "invite-accountant": ("invite-accountant --actor finn@freeform.example --client c5 --answer partner=p2", 0),
    "reactivate-client": ("reactivate-client --actor u1 --client 'Sunset Cafe'", 0),
    # blocked: by a flow's own rule, by the project's reach, and for the business side
    "blocked-standard-user": ("disconnect-client --actor sam@northwind.example --client c1 --answer owner=cu1", 3),
    "blocked-no-users-to-hand-over": ("disconnect-client --actor u1 --client 'Empty Shell Co'", 3),
    "blocked-other-practice": ("deactivate-client --actor hana@harbor.example --client c1", 3),
    "blocked-already-connected": ("invite-accountant --actor carla@acme.example --client c1 --answer partner=p2", 3),
    # needs input: the plan stops at the first screen that waits for an answer
    "needs-owner": ("disconnect-client --actor u1 --client c1", 5),
    "needs-typed-name": ("delete-client --actor u1 --client c2", 5),
    # invalid answers
    "invalid-typed-name": ("delete-client --actor u1 --client c2 --answer 'confirm_name=Empty shell co'", 4),
    "invalid-practice": ("invite-accountant --actor cu5 --client c5 --answer partner=p9", 4),
}


def transcript(arguments: str) -> tuple[str, int]:
    result = invoke("simulate", *shlex.split(arguments), "--project", PROJECT, "--data", DEMO, "--now", NOW, "--no-input")
    return f"$ clientflow simulate {arguments}\n{result.stdout}[exit {result.exit_code}]\n", result.exit_code


@pytest.mark.parametrize("name", sorted(CASES))
def test_simulate_transcript(name):
    arguments, code = CASES[name]
    text, exit_code = transcript(arguments)
    path = GOLDEN / f"simulate-{name}.txt"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert exit_code == code, text
    assert path.is_file(), f"no transcript {path.name}; write it with CLIENTFLOW_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def test_every_shipped_flow_has_a_completed_transcript_and_no_transcript_is_stale():
    flows = {p.stem for p in (PROJECT / "flows").glob("*.yaml")} - {"project", "rules"}
    assert flows <= {name for name, (_, code) in CASES.items() if code == 0}
    assert {p.name for p in GOLDEN.glob("*.txt")} == {f"simulate-{name}.txt" for name in CASES}
    assert {code for _, code in CASES.values()} == {0, 3, 4, 5}
