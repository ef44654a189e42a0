"""A run finishes on the project version it started under, whatever is edited meanwhile (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import copy_project
from conftest import DEMO

from clientflow import Engine
from clientflow.errors import RunError
from clientflow.runtime.core import VERSION_KEY

FLOW = "flows/deactivate-client.yaml"
OLD_TITLE = "title: Before you go on (optional)"
NEW_TITLE = "title: One question first (optional)"


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A database URL (or file) and the environment that selects it."""
    if request.param == "sqlite":
        yield str(tmp_path / "state.db"), {}
        return
    url = request.getfixturevalue("postgres_url")
    schema = request.getfixturevalue("postgres_schema")
    yield url, {"CLIENTFLOW_DB_SCHEMA": schema}


def opened(root: Path, database: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> Engine:
    db, env = database
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Engine.open(root, db=db, notifiers={})


def edit(root: Path, old: str, new: str) -> None:
    path = root / FLOW
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_a_run_started_before_an_edit_finishes_on_its_version(tmp_path: Path, database: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_project(tmp_path / "project")
    with opened(root, database, monkeypatch) as engine:
        engine.load_data(DEMO)
        view = engine.start("deactivate-client", "u1", "c1")
        assert view.screen is not None and view.screen.title == "Before you go on (optional)"
        started_on = view.version
    edit(root, OLD_TITLE, NEW_TITLE)
    edit(root, "    buttons: {next: Deactivate, back: Back, cancel: Cancel}", "    buttons: {next: Deactivate now, back: Back, cancel: Cancel}")
    with opened(root, database, monkeypatch) as engine:
        assert engine.project.flow("deactivate-client").version != started_on
        resumed = engine.view(view.run)
        assert resumed.version == started_on and resumed.screen is not None and resumed.screen.title == "Before you go on (optional)"
        step = engine.submit(view.run, {"reason": "closing"})
        while step.status == "open":
            step = engine.submit(view.run, {})
        plan = engine.commit(view.run, deliver=False)
        assert plan.status == "completed" and [c.after for c in plan.changes] == ["deactivated"]
        fresh = engine.start("deactivate-client", "u1", "c2")
        assert fresh.version != started_on and fresh.screen is not None and fresh.screen.title == "One question first (optional)"


def test_a_run_whose_flow_was_removed_still_finishes(tmp_path: Path, database: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_project(tmp_path / "project")
    with opened(root, database, monkeypatch) as engine:
        engine.load_data(DEMO)
        view = engine.start("deactivate-client", "u1", "c1", {"reason": "", "notify_client": False})
        assert view.status == "ready"
    (root / FLOW).unlink()
    with opened(root, database, monkeypatch) as engine:
        assert "deactivate-client" not in engine.project.flows
        assert engine.commit(view.run, deliver=False).status == "completed"


def test_without_its_version_kept_the_run_is_refused_and_nothing_changes(
    tmp_path: Path, database: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_project(tmp_path / "project")
    with opened(root, database, monkeypatch) as engine:
        engine.load_data(DEMO)
        view = engine.start("deactivate-client", "u1", "c1")
        with engine.storage.transaction(write=True) as tx:
            tx.set_meta(VERSION_KEY + view.version, None)
    edit(root, OLD_TITLE, NEW_TITLE)
    with opened(root, database, monkeypatch) as engine:
        before = engine.export()
        with pytest.raises(RunError, match="changed since run .* and that version is not kept"):
            engine.submit(view.run, {"reason": "x"})
        assert engine.export() == before


def test_identical_versions_are_kept_once(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    with Engine.open(root, db=tmp_path / "state.db", notifiers={}) as engine:
        engine.load_data(DEMO)
        first = engine.start("deactivate-client", "u1", "c1")
        second = engine.start("deactivate-client", "u1", "c2")
        assert first.version == second.version
        with engine.storage.transaction() as tx:
            kept = tx.get_meta(VERSION_KEY + first.version)
        assert kept is not None and FLOW in kept


def test_versions_lists_runs_in_flight_and_migrate_moves_those_that_fit(tmp_path: Path) -> None:
    import json as json_module

    from cli_support import invoke

    root = copy_project(tmp_path / "project")
    db = tmp_path / "state.db"
    with Engine.open(root, db=db, notifiers={}) as engine:
        engine.load_data(DEMO)
        fits = engine.start("deactivate-client", "u1", "c1")  # on its first screen, survey
        moved_on = engine.submit(engine.start("deactivate-client", "u1", "c2").run, {"reason": "x"})  # past survey
        old = fits.version
    # the edit renames the screen the second run has answered: only the first (which has answered none yet) fits the new flow
    edit(root, "  - id: survey\n", "  - id: questions\n")
    edit(root, OLD_TITLE, NEW_TITLE)
    listed = json_module.loads(invoke("versions", "--project", root, "--db", db, "--format", "json").stdout)
    assert [(v["flow"], v["version"], v["current"], v["kept"], v["runs"]) for v in listed["versions"]] == [("deactivate-client", old, False, True, 2)]
    moved = json_module.loads(invoke("versions", "--project", root, "--db", db, "--format", "json", "--migrate").stdout)
    assert moved["moved"] == 1
    assert [(v["current"], v["kept"], v["runs"]) for v in moved["versions"]] == [(True, True, 1), (False, True, 1)]
    with Engine.open(root, db=db, notifiers={}) as engine:
        assert engine.view(fits.run).version != old  # moved: on the current version now
        assert engine.view(moved_on.run).version == old  # stays, and finishes on its own
    text = invoke("versions", "--project", root, "--db", db).stdout
    assert "1 run(s) in flight  (current)" in text and "1 run(s) in flight  (kept)" in text


def test_migrate_moves_a_run_whose_screens_all_remain(tmp_path: Path) -> None:
    import json as json_module

    from cli_support import invoke

    root = copy_project(tmp_path / "project")
    db = tmp_path / "state.db"
    with Engine.open(root, db=db, notifiers={}) as engine:
        engine.load_data(DEMO)
        run = engine.start("deactivate-client", "u1", "c1")
    edit(root, OLD_TITLE, NEW_TITLE)  # a reworded title: every screen is still there
    moved = json_module.loads(invoke("versions", "--project", root, "--db", db, "--format", "json", "--migrate").stdout)
    assert moved["moved"] == 1 and [(v["current"], v["runs"]) for v in moved["versions"]] == [(True, 1)]
    with Engine.open(root, db=db, notifiers={}) as engine:
        view = engine.view(run.run)
        assert view.version == engine.project.flow("deactivate-client").version
        assert view.screen is not None and view.screen.title == "One question first (optional)"
