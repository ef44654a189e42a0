"""End to end through the command line: init, simulate, run --yes, export, available."""

from __future__ import annotations

import email
import json
from email import policy
from pathlib import Path

import yaml
from cli_support import DEMO, NOW, PROJECT, invoke


def files(folder: Path) -> dict[str, bytes]:
    """Every file of the database's folder (the file itself and any SQLite side files), by name."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def offered(db: Path, actor: str, subject: str) -> set[str]:
    result = invoke("available", "--project", PROJECT, "--db", db, "--actor", actor, "--client", subject, "--format", "json")
    assert result.exit_code == 0, result.output
    return {f["flow"] for f in json.loads(result.stdout)["flows"] if f["available"]}


def test_init_simulate_run_export_available(tmp_path):
    folder = tmp_path / "db"
    db = folder / "practice.db"
    outbox = tmp_path / "outbox"
    common = ("--project", PROJECT, "--db", db, "--now", NOW)

    # init: the demo data into a new database
    result = invoke("init", "--project", PROJECT, "--data", DEMO, "--db", db)
    assert result.exit_code == 0, result.output
    assert offered(db, "u1", "c1") == {"deactivate-client", "disconnect-client"}
    assert offered(db, "carla@acme.example", "c1") == set()
    typo = invoke("available", "--project", PROJECT, "--db", db, "--actor", "alice", "--client", "c1")
    assert typo.exit_code == 1 and typo.stderr == "error: unknown user 'alice'; did you mean 'alice@northwind.example'?\n"

    # simulate: a complete plan, and not one byte of the database changes
    before = files(folder)
    result = invoke("simulate", "deactivate-client", *common, "--actor", "u1", "--client", "Acme Ltd", "--answer", "notify_client=true", "--format", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["status"] == "completed" and plan["dry_run"] is True
    assert plan["changes"] == [{"op": "update", "entity": "client", "id": "c1", "field": "subscription", "before": "active", "after": "deactivated"}]
    assert files(folder) == before
    assert not outbox.exists()

    # run --yes: the database changes and each email is a .eml file in the outbox folder
    result = invoke("run", "deactivate-client", *common, "--actor", "u1", "--client", "Acme Ltd", "--answer", "notify_client=true", "--yes", "--outbox", outbox)
    assert result.exit_code == 0, result.output
    assert "Plan: deactivate-client by u1 on c1 — completed (applied)" in result.stdout
    assert f"Emails written to {outbox}" in result.stdout
    assert files(folder) != before
    written = sorted(outbox.glob("*.eml"))
    assert len(written) == 2
    messages = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in written]
    practice = next(m for m in messages if m["To"] == "alice@northwind.example")
    assert practice["From"] == "no-reply@platform.example"
    assert practice["Subject"] == "Acme Ltd's subscription has been deactivated"
    assert practice["Message-ID"].startswith("<") and practice["Message-ID"].endswith("@platform.example>")
    assert written[messages.index(practice)].name == practice["Message-ID"].strip("<>").replace("@", "_") + ".eml"  # named by Message-ID
    body = practice.get_body(preferencelist=("plain",))
    assert body is not None and "You deactivated Acme Ltd's subscription." in body.get_content()
    assert practice.get_body(preferencelist=("html",)) is not None
    assert {m["To"] for m in messages} == {"alice@northwind.example", "carla@acme.example"}

    # two more: a disconnection and a deletion
    result = invoke(
        "run", "disconnect-client", *common, "--actor", "u1", "--client", "Sunset Cafe", "--answer", "owner=sol@sunset.example", "--yes", "--outbox", outbox
    )
    assert result.exit_code == 0, result.output
    result = invoke("run", "delete-client", *common, "--actor", "u1", "--client", "c2", "--answer", "confirm_name=Empty Shell Co", "--yes", "--outbox", outbox)
    assert result.exit_code == 0, result.output
    assert len(list(outbox.glob("*.eml"))) == 5

    # export: every change is there, and the deleted client is gone
    result = invoke("export", "--project", PROJECT, "--db", db)
    assert result.exit_code == 0, result.output
    clients = {c["id"]: c for c in yaml.safe_load(result.stdout)["clients"]}
    assert "c2" not in clients and set(clients) == {"c1", "c3", "c4", "c5", "c6", "c7"}
    assert clients["c1"]["subscription"] == "deactivated" and clients["c1"]["partner"] == "p1"
    assert clients["c3"]["partner"] is None and clients["c3"]["owner"] == "cu3"

    # available: the reverse action is now offered
    assert offered(db, "u1", "c1") == {"reactivate-client", "disconnect-client"}  # no longer deactivate-client
    assert offered(db, "sol@sunset.example", "Sunset Cafe") == {"invite-accountant"}
    assert offered(db, "u1", "c3") == set()  # no longer the practice's to act on
    missing = invoke("available", "--project", PROJECT, "--db", db, "--actor", "u1", "--client", "c2")
    assert missing.exit_code == 1 and missing.stderr.startswith("error: unknown client 'c2'")

    # and back again: the business invites a practice, the practice reactivates
    result = invoke("run", "invite-accountant", *common, "--actor", "cu3", "--client", "c3", "--answer", "partner=p1", "--yes", "--outbox", outbox)
    assert result.exit_code == 0, result.output
    assert "reactivate-client" in offered(db, "u1", "c3")
    result = invoke("run", "reactivate-client", *common, "--actor", "u1", "--client", "c1", "--yes", "--outbox", outbox)
    assert result.exit_code == 0, result.output
    assert offered(db, "u1", "c1") == {"deactivate-client", "disconnect-client"}


def test_a_run_that_ends_blocked_says_nothing_was_applied(tmp_path):
    db = tmp_path / "practice.db"
    assert invoke("init", "--project", PROJECT, "--data", DEMO, "--db", db).exit_code == 0
    # c1 is deactivated by the first run; the same run again is blocked by the rule that it must be active
    common = ("deactivate-client", "--project", PROJECT, "--db", db, "--now", NOW, "--actor", "u1", "--client", "c1", "--answer", "notify_client=true", "--yes")
    assert "— completed (applied)" in invoke("run", *common).stdout
    again = invoke("run", *common)
    assert "Plan: deactivate-client by u1 on c1 — blocked (nothing applied)" in again.stdout
    assert "(applied)" not in again.stdout
