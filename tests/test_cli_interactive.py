"""At a terminal: the installed `clientflow` walks the screens, driven through a pseudo-terminal.

Each test types as a person would (Enter, numbers, y/n, a name), so the prompts,
the re-asking after a wrong answer and the confirmation before a commit are
exercised exactly as they run for a user.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pexpect
import pytest
import yaml
from cli_support import DEMO, NOW, PROJECT, invoke, plain


def spawn(tmp_path: Path, *args: object) -> pexpect.spawn:
    command = shutil.which("clientflow")
    assert command is not None, "install the project first: python3 -m pip install -e ."
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")}
    child = pexpect.spawn(command, [str(a) for a in (*args, "--project", PROJECT, "--now", NOW)], cwd=str(tmp_path), env=env, encoding="utf-8", timeout=30)
    child.logfile_read = open(tmp_path / "terminal.log", "w", encoding="utf-8")  # closed by finish()
    return child


def finish(child: pexpect.spawn) -> tuple[str, int]:
    """Everything shown until the command ends, without colours, and its exit code."""
    child.expect(pexpect.EOF)
    shown = plain(child.before or "")
    child.close()
    child.logfile_read.close()
    return shown, child.exitstatus


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "practice.db"
    assert invoke("init", "--project", PROJECT, "--data", DEMO, "--db", path).exit_code == 0
    return path


def clients(db: Path) -> dict[str, dict]:
    result = invoke("export", "--project", PROJECT, "--db", db)
    return {c["id"]: c for c in yaml.safe_load(result.stdout)["clients"]}


def test_simulate_walks_every_screen_going_back_and_reasking_a_wrong_choice(tmp_path):
    child = spawn(tmp_path, "simulate", "disconnect-client", "--data", DEMO, "--actor", "u1", "--client", "c1")
    child.expect("Disconnect Acme Ltd from your practice?")
    child.expect("Enter: Disconnect client  ·  c: Cancel")  # the first screen has no Back
    child.sendline("")
    child.expect("Tell us why")
    child.expect(r"Why are you disconnecting this client\? \(Enter to skip\)")
    child.sendline("Moving to another firm")
    child.expect("Enter: Continue  ·  b: Back  ·  c: Cancel")
    child.sendline("b")
    child.expect("Disconnect Acme Ltd from your practice?")
    child.sendline("")
    child.expect(r"\(Enter to skip\) \[Moving to another firm\]")  # the answer is kept when going back
    child.sendline("")
    child.expect("Enter: Continue")
    child.sendline("")
    child.expect(r"1\) Carla Diaz <carla@acme.example>  \(cu1\)")
    child.expect(r"2\) Dev Patel <dev@acme.example> \(invited\)  \(cu2\)")
    child.expect(r"Account owner \(1-2\)")
    child.sendline("3")
    child.expect("choose a number from 1 to 2")
    child.sendline("nobody@acme.example")
    child.expect("✗ Account owner: 'nobody@acme.example' is not one of the options")
    child.sendline("2")
    child.expect("Enter: Disconnect client  ·  b: Back")
    child.sendline("")
    shown, code = finish(child)
    assert code == 0, shown
    assert "Plan: disconnect-client by u1 on c1 — completed (dry run)" in shown
    assert '~ client c1 owner: null -> "cu2"' in shown
    assert "To: dev@acme.example" in shown


def test_run_asks_then_commits_after_yes(tmp_path, db):
    outbox = tmp_path / "outbox"
    child = spawn(tmp_path, "run", "deactivate-client", "--db", db, "--actor", "u1", "--client", "Acme Ltd", "--outbox", outbox)
    child.expect(r"Reason \(Enter to skip\)")
    child.sendline("Closing for the winter")
    child.expect("Enter: Continue")
    child.sendline("")
    child.expect("What deactivating Acme Ltd means")
    child.sendline("")
    child.expect(r"Email the client about the deactivation \[y/N\]")
    child.sendline("maybe")
    child.expect("Error: invalid input")  # yes or no only
    child.sendline("y")
    child.expect("Enter: Deactivate")
    child.sendline("")
    child.expect('~ client c1 subscription: "active" -> "deactivated"')
    child.expect(r"Apply these changes for real\? \[y/N\]")
    assert clients(db)["c1"]["subscription"] == "active"  # nothing before the answer
    child.sendline("y")
    shown, code = finish(child)
    assert code == 0, shown
    assert "Applied deactivate-client: 1 change(s), 2 email(s)." in shown
    assert f"Emails written to {outbox}" in shown
    assert clients(db)["c1"]["subscription"] == "deactivated"
    assert len(list(outbox.glob("*.eml"))) == 2


def test_run_applies_nothing_when_the_answer_is_no(tmp_path, db):
    before = db.read_bytes()
    child = spawn(tmp_path, "run", "reactivate-client", "--db", db, "--actor", "u1", "--client", "c3", "--outbox", tmp_path / "outbox")
    child.expect("Reactivate Sunset Cafe?")  # every answer is known: the plan is shown whole, then confirmed
    child.expect('~ client c3 subscription: "deactivated" -> "active"')
    child.expect(r"Apply these changes for real\? \[y/N\]")
    child.sendline("")
    shown, code = finish(child)
    assert code == 0, shown
    assert "Nothing applied." in shown
    assert db.read_bytes() == before and not (tmp_path / "outbox").exists()


def test_run_with_a_typed_confirmation_reasks_until_exact(tmp_path, db):
    child = spawn(tmp_path, "run", "delete-client", "--db", db, "--actor", "u1", "--client", "c2", "--outbox", tmp_path / "outbox")
    child.expect("Empty Shell Co has nobody to hand its data to")
    child.expect("Enter: Delete client  ·  c: Keep the client")
    child.sendline("")
    child.expect(r"Client name \(type it exactly as shown to confirm\)")
    child.sendline("Empty shell co")
    child.expect("✗ Client name: must be typed exactly as 'Empty Shell Co'")
    child.expect(r"Client name \(type it exactly as shown to confirm\)")
    child.sendline("Empty Shell Co")
    child.expect("Enter: Delete permanently")
    child.sendline("")
    child.expect(r"- client c2 \(deleted\)")
    child.expect(r"Apply these changes for real\?")
    child.sendline("yes")
    shown, code = finish(child)
    assert code == 0, shown
    assert "c2" not in clients(db)


def test_cancel_button_ends_the_run_with_nothing_applied(tmp_path, db):
    before = db.read_bytes()
    child = spawn(tmp_path, "run", "disconnect-client", "--db", db, "--actor", "u1", "--client", "c1")
    child.expect("Enter: Disconnect client  ·  c: Cancel")
    child.sendline("c")
    shown, code = finish(child)
    assert code == 0, shown
    assert "Cancelled; nothing applied." in shown
    assert db.read_bytes() == before


def test_end_of_input_stops_with_exit_5(tmp_path, db):
    before = db.read_bytes()
    child = spawn(tmp_path, "run", "disconnect-client", "--db", db, "--actor", "u1", "--client", "c1", "--answer", "reason=x")
    child.expect("Enter: Disconnect client")
    child.sendline("")
    child.expect("Enter: Continue")  # the survey was answered on the command line: only its button is asked
    child.sendline("")
    child.expect(r"Account owner \(1-2\)")
    child.sendeof()
    shown, code = finish(child)
    assert code == 5, shown
    assert "Stopped before the last screen; nothing applied." in shown
    assert db.read_bytes() == before


def test_no_input_never_prompts_even_at_a_terminal(tmp_path):
    child = spawn(tmp_path, "simulate", "disconnect-client", "--data", DEMO, "--actor", "u1", "--client", "c1", "--no-input")
    shown, code = finish(child)
    assert code == 5, shown
    assert "? owner (screen choose-owner) — give it with --answer owner=..." in shown
    assert "Enter:" not in shown


def test_json_at_a_terminal_does_not_prompt_and_needs_yes(tmp_path, db):
    before = db.read_bytes()
    child = spawn(tmp_path, "run", "reactivate-client", "--db", db, "--actor", "u1", "--client", "c3", "--format", "json")
    shown, code = finish(child)
    assert code == 5, shown
    assert '"field": "--yes"' in shown and "Apply these changes" not in shown
    assert db.read_bytes() == before


def test_yes_at_a_terminal_commits_without_asking(tmp_path, db):
    child = spawn(tmp_path, "run", "reactivate-client", "--db", db, "--actor", "u1", "--client", "c3", "--yes", "--outbox", tmp_path / "outbox")
    shown, code = finish(child)
    assert code == 0, shown
    assert "Plan: reactivate-client by u1 on c3 — completed (applied)" in shown and "Apply these changes" not in shown
    assert clients(db)["c3"]["subscription"] == "active"
