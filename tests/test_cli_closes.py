"""Every command that opens a SQLite database closes it before the process ends.

A connection left open at exit leaves the database's last commits in its `-wal` file: an operator who copies
`clientflow.db` alone (a backup, a move to another machine) copies it without them. So each command is run as
the console script runs it, in a process of its own, and the folder is looked at afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEMO, PROJECT

COMMANDS = {
    "bulk --yes": ("bulk", "deactivate-client", "--actor", "u1", "--where", "true", "--answer", "notify_client=true", "--yes"),
    "bulk --yes --workers 2": ("bulk", "deactivate-client", "--actor", "u1", "--where", "true", "--answer", "notify_client=true", "--yes", "--workers", "2"),
    "bulk dry-run": ("bulk", "deactivate-client", "--actor", "u1", "--where", "true", "--answer", "notify_client=true"),
    "run --yes": ("run", "reactivate-client", "--actor", "u1", "--client", "c3", "--yes"),
    "available": ("available", "--actor", "u1", "--client", "c1"),
    "simulate": ("simulate", "reactivate-client", "--actor", "u1", "--client", "c3"),
    "scheduled": ("scheduled",),
    "approvals": ("approvals", "--actor", "u1"),
    "versions": ("versions",),
    "export": ("export",),
    "worker --once": ("worker", "--once"),
    "outbox": ("outbox",),
}


def clientflow(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")} | {"CLIENTFLOW_NOTIFIERS": ""}
    command = [sys.executable, "-c", "from clientflow.cli import main; main()", *map(str, args)]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_command_leaves_the_sqlite_database_closed(name: str, tmp_path: Path) -> None:
    db = tmp_path / "clientflow.db"
    assert clientflow("init", "--project", PROJECT, "--data", DEMO, "--db", db, cwd=tmp_path).returncode == 0
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != db.name)
    assert left == [], f"init left {left}"
    done = clientflow(*COMMANDS[name], "--project", PROJECT, "--db", db, cwd=tmp_path)
    assert done.returncode in (0, 3), done.stderr  # 3: some subjects refused, as the demo data has them
    assert "Traceback" not in done.stderr
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != db.name)
    assert left == [], f"{name} left {left} beside the database: it ended without closing it"
