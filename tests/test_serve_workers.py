"""`clientflow serve --workers N`, and the engines one API process serves its requests with (one database connection each)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import DEMO, NOW, PROJECT

pytest.importorskip("fastapi", reason="the web extra is part of the test extra: pip install -e '.[test]'")
from fastapi.testclient import TestClient  # noqa: E402
from test_api import SECRET, bearer, error_of  # noqa: E402
from test_api_auth import free_port, wait_for  # noqa: E402

from clientflow import Engine  # noqa: E402
from clientflow.cli import cli  # noqa: E402
from clientflow.web import WebSettings, create_app  # noqa: E402
from clientflow.web.source import POOL  # noqa: E402


def database(tmp_path: Path) -> Path:
    db = tmp_path / "clientflow.db"
    with Engine.open(PROJECT, db=db, notifiers={}) as engine:
        engine.load_data(DEMO)
    return db


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--data", str(DEMO)], {}, "--data"),
        (["--data", str(DEMO), "--preview"], {}, "--preview"),
        ([], {"CLIENTFLOW_STORAGE": "memory"}, "memory"),
    ],
    ids=["data", "preview", "memory-storage"],
)
def test_more_than_one_worker_needs_a_database_the_processes_share(args: list[str], env: dict[str, str], named: str) -> None:
    result = CliRunner().invoke(cli, ["serve", "--project", str(PROJECT), "--workers", "2", *args], env={"CLIENTFLOW_API_SECRET": SECRET, **env})
    assert result.exit_code == 2, result.output
    assert "--workers 2 needs a database the processes share" in result.output and named in result.output


@pytest.mark.parametrize(
    "settings",
    [
        WebSettings(project=PROJECT),
        WebSettings(project=PROJECT, db=Path("/srv/flows/clientflow.db"), secret="s" * 43, now=NOW, outbox=Path("/tmp/outbox")),
        WebSettings(project=PROJECT, db="postgresql://flows@db.internal:5432/flows", now=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        WebSettings(project=PROJECT, data=DEMO, preview=True),
    ],
    ids=["bare", "sqlite", "postgresql", "preview"],
)
def test_the_settings_reach_the_worker_processes_unchanged(settings: WebSettings) -> None:
    assert WebSettings.from_text(settings.to_text()) == settings


def test_each_request_holds_an_engine_of_its_own_sharing_the_project(tmp_path: Path) -> None:
    app = create_app(WebSettings(project=PROJECT, db=database(tmp_path), secret=SECRET, now=NOW))
    source = app.state.source
    with source.lease() as first, source.lease() as second:
        assert first is not second and first.storage is not second.storage
        assert first.project is second.project and [id(n) for n in first.notifiers.values()] == [id(n) for n in second.notifiers.values()]
    with source.lease() as again:
        assert again in (first, second)  # returned engines are used again, not made afresh
    held: list[Any] = []
    release = threading.Event()
    leased = threading.Semaphore(0)

    def hold() -> None:
        with source.lease() as engine:
            held.append(engine)
            leased.release()
            release.wait(30)

    threads = [threading.Thread(target=hold) for _ in range(POOL + 2)]
    for thread in threads:
        thread.start()
    for _ in range(POOL):
        assert leased.acquire(timeout=30)
    assert len({id(e) for e in held}) == POOL == len(held)  # at most POOL at once: the others wait for one to come back
    release.set()
    for thread in threads:
        thread.join(30)
    assert len(held) == POOL + 2 and len({id(e) for e in held}) == POOL
    source.close()


def test_an_engine_in_memory_is_the_one_engine(tmp_path: Path) -> None:
    app = create_app(WebSettings(project=PROJECT, data=DEMO, secret=SECRET, now=NOW, outbox=tmp_path / "outbox"))
    with app.state.source.lease() as first, app.state.source.lease() as second:
        assert first is second is app.state.source.engine()


def test_availability_refuses_an_unknown_actor_before_anything_else(tmp_path: Path) -> None:
    app = create_app(WebSettings(project=PROJECT, db=database(tmp_path), secret=SECRET, now=NOW))
    with TestClient(app) as api:
        refused = error_of(api.get("/flows", headers=bearer("u999")), 403, "unknown_actor")
        for params in ({"client": "c1"}, {"client": "nobody"}, {}):
            assert error_of(api.get("/availability", params=params, headers=bearer("u999")), 403, "unknown_actor") == refused
        assert api.get("/availability", params={"client": "c1"}, headers=bearer("u1")).json()["actor"] == "u1"


def request(base: str, path: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with urllib.request.urlopen(urllib.request.Request(f"{base}{path}", data=data, headers=headers), timeout=10) as response:  # noqa: S310 - local
        return dict(json.load(response))


def test_worker_processes_share_the_database_and_the_key_of_the_printed_token(tmp_path: Path) -> None:
    db, port = database(tmp_path), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")}
    env.update(CLIENTFLOW_OUTBOX=str(tmp_path / "outbox"), PYTHONUNBUFFERED="1")  # no API secret: the key is made at start
    args = ["serve", "--project", str(PROJECT), "--db", str(db), "--port", str(port), "--workers", "2", "--actor", "u1"]
    process = subprocess.Popen(
        [sys.executable, "-c", "from clientflow.cli import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/openapi.json")
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(6)]
        assert any("2 worker processes share" in line for line in lines), lines
        token = next(line for line in lines if "Authorization: Bearer" in line).split("Bearer", 1)[1].strip()
        # several connections, answered by whichever worker takes each: all accept the token, all see the same runs
        run = request(base, "/flows/deactivate-client/runs", token, {"client": "c1"})["run"]
        for answers in ({"reason": "moving"}, {}, {"notify_client": False}):
            assert request(base, f"/runs/{run}/answers", token, {"answers": answers})["run"] == run
        assert request(base, f"/runs/{run}", token)["status"] == "ready"
        assert request(base, f"/runs/{run}/commit", token, {})["status"] == "completed"
        assert all(request(base, "/availability?client=c1", token)["actor"] == "u1" for _ in range(6))
    finally:
        process.terminate()
        process.wait(timeout=30)
    with Engine.open(PROJECT, db=db, notifiers={}) as engine:
        assert [(e["run"], e["status"]) for e in engine.audit_log()] == [(run, "completed")]


def test_a_port_already_taken_is_a_mistake_to_fix_exit_1_not_blocked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # uvicorn's startup failure exited 3, the code of "blocked by a rule"
    import socket

    monkeypatch.chdir(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--project", str(PROJECT), "--data", str(DEMO), "--port", str(port)], env={"CLIENTFLOW_API_SECRET": SECRET})
    assert result.exit_code == 1, result.output
    assert f"the server could not start on 127.0.0.1:{port}" in result.output and "choose another --port" in result.output
