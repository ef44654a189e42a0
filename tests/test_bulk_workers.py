"""`bulk --workers N`: clients spread over processes sharing one database give a one-process run's result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import DEMO, PROJECT, REPO

from clientflow import Engine

sys.path.insert(0, str(REPO / "benchmarks"))
from gen_data import make  # noqa: E402

NOW = "2026-11-28T12:00:00+00:00"


def _env(storage: dict[str, str], outbox: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")}
    env.update(storage, CLIENTFLOW_NOTIFIERS="outbox", CLIENTFLOW_OUTBOX=str(outbox))
    return env


def _bulk(env: dict[str, str], workers: int) -> dict[str, Any]:
    args = ["bulk", "deactivate-client", "--project", str(PROJECT), "--actor", "u1", "--where", "true", "--answer", "notify_client=true"]
    args += ["--yes", "--workers", str(workers), "--format", "json", "--now", NOW]
    done = subprocess.run([sys.executable, "-m", "clientflow", *args], env=env, capture_output=True, text=True, timeout=300, cwd=PROJECT)
    assert done.returncode in (0, 3), done.stderr  # 3: some clients are blocked by a rule, as the data makes them
    return dict(json.loads(done.stdout))


def _state(env: dict[str, str]) -> tuple[Any, ...]:
    with Engine.open(PROJECT, env=env, notifiers={}) as engine:
        audit = sorted((e["subject"], e["status"], json.dumps(e["changes"], sort_keys=True)) for e in engine.audit_log())
        with engine.storage.transaction() as tx:
            mail = sorted((m["email"]["template"], tuple(m["email"]["to"]), m["status"]) for m in tx.outbox())
        return engine.export(), audit, mail


def _load(env: dict[str, str], data_file: Path) -> None:
    with Engine.open(PROJECT, env=env, notifiers={}) as engine:
        engine.load_data(data_file)


def _compare(tmp_path: Path, one: dict[str, str], two: dict[str, str]) -> None:
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps(make(150, seed=11)), encoding="utf-8")
    env_one, env_two = _env(one, tmp_path / "out1"), _env(two, tmp_path / "out2")
    _load(env_one, data_file)
    _load(env_two, data_file)
    single, spread = _bulk(env_one, 1), _bulk(env_two, 2)
    assert spread == single
    assert single["total"] == 150 and single["completed"] > 50 and single["blocked"] > 10
    exported_one, audit_one, mail_one = _state(env_one)
    exported_two, audit_two, mail_two = _state(env_two)
    assert exported_two == exported_one
    assert audit_two == audit_one and len([a for a in audit_one if a[1] == "completed"]) == single["completed"]
    assert mail_two == mail_one and all(status == "sent" for _, _, status in mail_one)
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) and len(list((tmp_path / "out2").iterdir())) == len(mail_two)


def test_two_workers_on_sqlite_equal_one(tmp_path: Path) -> None:
    _compare(tmp_path, {"CLIENTFLOW_DB": str(tmp_path / "one.db")}, {"CLIENTFLOW_DB": str(tmp_path / "two.db")})


@pytest.mark.postgres
def test_two_workers_on_postgresql_equal_one(tmp_path: Path, postgres_url: str, postgres_schema: str) -> None:
    _compare(
        tmp_path,
        {"CLIENTFLOW_DB": postgres_url, "CLIENTFLOW_DB_SCHEMA": postgres_schema + "_one"},
        {"CLIENTFLOW_DB": postgres_url, "CLIENTFLOW_DB_SCHEMA": postgres_schema},
    )
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{postgres_schema}_one" CASCADE')


def test_workers_need_a_shared_database(tmp_path: Path) -> None:
    args = ["bulk", "deactivate-client", "--project", str(PROJECT), "--data", str(DEMO), "--actor", "u1", "--where", "true", "--workers", "2"]
    done = subprocess.run([sys.executable, "-m", "clientflow", *args], capture_output=True, text=True, timeout=60, cwd=PROJECT)
    assert done.returncode == 2
    assert "--workers needs a shared database" in done.stderr
