"""A command that reads or works a store refuses one that was never made, and makes nothing.

Only `init` (and `demo`, in a folder of its own) make a store. Every other command, `worker`
and `outbox` included, answers a mistyped --db or CLIENTFLOW_DB, a project never initialised,
or a PostgreSQL database without clientflow's schema with the same error and exit code 1,
and leaves no file, folder or schema behind: a service worker pointed at the wrong place says
so at once rather than watch an empty store for ever.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import DEMO, PROJECT, clean_env, copy_project
from click.testing import CliRunner, Result

from clientflow.cli import cli
from clientflow.config import mask_url

# every command that opens the project's store, with what it needs to get that far
COMMANDS: dict[str, tuple[str, ...]] = {
    "worker --once": ("worker", "--once"),
    "outbox": ("outbox",),
    "outbox --retry": ("outbox", "--retry"),
    "export": ("export",),
    "scheduled": ("scheduled",),
    "versions": ("versions",),
    "approvals": ("approvals", "--actor", "u1"),
    "approve": ("approve", "r1", "--actor", "u1"),
    "available": ("available", "--actor", "u1", "--client", "c1"),
    "simulate": ("simulate", "reactivate-client", "--actor", "u1", "--client", "c3"),
    "run --yes": ("run", "reactivate-client", "--actor", "u1", "--client", "c3", "--yes"),
    "bulk --yes": ("bulk", "deactivate-client", "--actor", "u1", "--where", "true", "--answer", "notify_client=true", "--yes"),
    "serve --token-for": ("serve", "--token-for", "u1"),
}
WITH_DATA_OPTION = {"available", "simulate", "run --yes", "bulk --yes", "serve --token-for"}  # the advice names --data only where there is one


def invoke(*args: object, **env: str) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env={**clean_env(), "CLIENTFLOW_API_SECRET": "s" * 40, **env}, catch_exceptions=False)


def advice(name: str, named: str = "") -> str:
    data = ", or read a data file with --data FILE" if name in WITH_DATA_OPTION else ""
    return f"create it with `clientflow init --data FILE{' --db ' + named if named else ''}`{data}\n"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_mistyped_sqlite_path_is_refused_and_nothing_is_made(name: str, tmp_path: Path) -> None:
    db = tmp_path / "typo" / "dir" / "x.db"
    done = invoke(*COMMANDS[name], "--project", PROJECT, "--db", db)
    assert done.exit_code == 1, done.output
    assert done.stderr == f"error: there is no database at {db}; {advice(name, str(db))}"
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_project_never_initialised_is_refused_and_gets_no_database(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = copy_project(tmp_path / "project")
    before = sorted(project.rglob("*"))
    monkeypatch.chdir(project)
    done = invoke(*COMMANDS[name])
    assert done.exit_code == 1, done.output
    assert done.stderr == f"error: there is no database at .clientflow/clientflow.db; {advice(name)}"
    assert sorted(project.rglob("*")) == before and not (project / ".clientflow").exists()


def test_a_service_workers_mistyped_clientflow_db_is_refused(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    done = invoke("worker", "--once", "--project", project, CLIENTFLOW_DB="clientflwo.db")
    assert done.exit_code == 1, done.output
    assert done.stderr == f"error: there is no database at {project / 'clientflwo.db'}; create it with `clientflow init --data FILE`\n"
    assert "worker: ready" not in done.output
    assert not (project / "clientflwo.db").exists() and not (project / ".clientflow").exists()


@pytest.mark.parametrize("name", ["worker --once", "outbox"])
def test_the_refusal_is_one_json_document_with_format_json(name: str, tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    done = invoke(*COMMANDS[name], "--project", PROJECT, "--db", db, "--format", "json")
    assert done.exit_code == 1
    message = f"there is no database at {db}; create it with `clientflow init --data FILE --db {db}`"
    assert json.loads(done.stdout) == {"error": {"message": message, "exit_code": 1, "problems": []}}
    assert not db.exists()


def test_worker_and_outbox_work_a_database_init_made(tmp_path: Path) -> None:
    db = tmp_path / "clientflow.db"
    assert invoke("init", "--project", PROJECT, "--data", DEMO, "--db", db).exit_code == 0
    worked = invoke("worker", "--once", "--project", PROJECT, "--db", db, "--outbox", tmp_path / "outbox")
    assert worked.exit_code == 0, worked.output
    assert worked.stdout == "worker: done; sent 0, to retry 0, failed 0\n"
    listed = invoke("outbox", "--project", PROJECT, "--db", db)
    assert listed.exit_code == 0 and listed.stdout == "The outbox is empty.\n", listed.output


# PostgreSQL: a database without clientflow's schema is no database ----------------------------
def schema_there(url: str, schema: str) -> list[str]:
    """The schema's tables, or ["(no schema)"] when there is no such schema."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is None:
            return ["(no schema)"]
        return sorted(r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)))


@pytest.mark.postgres
@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_postgresql_database_without_the_schema_is_refused_and_gets_none(name: str, postgres_url: str, postgres_schema: str) -> None:
    done = invoke(*COMMANDS[name], "--project", PROJECT, "--db", postgres_url, CLIENTFLOW_DB_SCHEMA=postgres_schema)
    assert done.exit_code == 1, done.output
    where = f"{mask_url(postgres_url)} (it has no schema {postgres_schema!r})"
    assert done.stderr == f"error: there is no database at {where}; {advice(name, mask_url(postgres_url))}"
    assert schema_there(postgres_url, postgres_schema) == ["(no schema)"]


@pytest.mark.postgres
@pytest.mark.parametrize("name", ["worker --once", "outbox", "export"])
def test_an_empty_schema_made_for_clientflow_stays_empty(name: str, postgres_url: str, postgres_schema: str) -> None:
    """An operator may make the schema (and grant on it) before `init` fills it: it is no database yet."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{postgres_schema}"')
    done = invoke(*COMMANDS[name], "--project", PROJECT, "--db", postgres_url, CLIENTFLOW_DB_SCHEMA=postgres_schema)
    assert done.exit_code == 1 and "there is no database at" in done.stderr, done.output
    assert schema_there(postgres_url, postgres_schema) == []


@pytest.mark.postgres
def test_worker_and_outbox_work_a_postgresql_database_init_made(postgres_url: str, postgres_schema: str, tmp_path: Path) -> None:
    env: dict[str, Any] = {"CLIENTFLOW_DB_SCHEMA": postgres_schema}
    assert invoke("init", "--project", PROJECT, "--data", DEMO, "--db", postgres_url, **env).exit_code == 0
    tables = schema_there(postgres_url, postgres_schema)
    assert "meta" in tables
    worked = invoke("worker", "--once", "--project", PROJECT, "--db", postgres_url, "--outbox", tmp_path / "outbox", **env)
    assert worked.exit_code == 0, worked.output
    assert worked.stdout == "worker: done; sent 0, to retry 0, failed 0\n"
    listed = invoke("outbox", "--project", PROJECT, "--db", postgres_url, "--format", "json", **env)
    assert listed.exit_code == 0 and json.loads(listed.stdout) == {"messages": []}, listed.output
    assert schema_there(postgres_url, postgres_schema) == tables
