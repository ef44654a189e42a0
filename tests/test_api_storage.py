"""Runs live in storage: two API processes share one SQLite file; a changed flow is noticed; any project's words."""

from __future__ import annotations

import os
import shutil
import textwrap
import threading
from pathlib import Path

import pytest
from conftest import DEMO, NOW, PROJECT

pytest.importorskip("fastapi", reason="the web extra is part of the test extra: pip install -e '.[test]'")
from fastapi.testclient import TestClient  # noqa: E402
from test_api import ALICE, SECRET, bearer, error_of, walk_disconnect  # noqa: E402

from clientflow import Engine  # noqa: E402
from clientflow.tokens import mint  # noqa: E402
from clientflow.web import WebSettings, create_app  # noqa: E402


def database(tmp_path: Path, root: Path = PROJECT) -> Path:
    """A SQLite file holding the demo data, as `clientflow init` would leave it."""
    db = tmp_path / "shared.db"
    with Engine.open(root, db=db, notifiers={}) as engine:
        engine.load_data(DEMO)
    return db


def server(db: Path, tmp_path: Path, root: Path = PROJECT) -> TestClient:
    """One API process on `db`, as `clientflow serve --db` starts it."""
    return TestClient(create_app(WebSettings(project=root, db=db, secret=SECRET, now=NOW, outbox=tmp_path / "outbox")))


def test_a_run_started_on_one_process_is_continued_on_another(tmp_path: Path) -> None:
    db = database(tmp_path)
    with server(db, tmp_path) as first, server(db, tmp_path) as second:
        assert first.app is not second.app
        run = first.post("/flows/disconnect-client/runs", json={"client": "Acme Ltd"}, headers=bearer(ALICE)).json()["run"]
        survey = second.post(f"/runs/{run}/answers", json={"answers": {}}, headers=bearer(ALICE)).json()
        assert survey["screen"]["step"] == "survey"
        owner = first.post(f"/runs/{run}/answers", json={"answers": {"reason": "moving"}}, headers=bearer(ALICE)).json()
        assert owner["screen"]["step"] == "choose-owner"
        assert second.get(f"/runs/{run}", headers=bearer(ALICE)).json()["screen"]["step"] == "choose-owner"
        second.post(f"/runs/{run}/answers", json={"answers": {"owner": "cu1"}}, headers=bearer(ALICE))
        plan = first.post(f"/runs/{run}/commit", headers=bearer(ALICE))
        assert plan.status_code == 200, plan.text
        error_of(second.post(f"/runs/{run}/commit", headers=bearer(ALICE)), 409, "run_finished")
    with Engine.open(PROJECT, db=db, notifiers={}) as engine:
        assert engine.export()["clients"][0]["partner"] is None
        assert [e["status"] for e in engine.audit_log() if e["run"] == run] == ["completed"]


def test_a_commit_on_one_process_conflicts_with_a_run_on_another(tmp_path: Path) -> None:
    db = database(tmp_path)
    with server(db, tmp_path) as first, server(db, tmp_path) as second:
        slow = walk_disconnect(first)
        quick = second.post("/flows/deactivate-client/runs", json={"client": "c1", "answers": {"notify_client": False}}, headers=bearer(ALICE)).json()
        assert second.post(f"/runs/{quick['run']}/commit", headers=bearer(ALICE)).status_code == 200
        error = error_of(first.post(f"/runs/{slow}/commit", headers=bearer(ALICE)), 409, "conflict")
        assert "changed by someone else" in error["message"]
    with Engine.open(PROJECT, db=db, notifiers={}) as engine:
        acme = engine.export()["clients"][0]
        assert (acme["partner"], acme["subscription"]) == ("p1", "deactivated")  # only the first commit landed


def test_a_run_whose_flow_changed_says_so(tmp_path: Path) -> None:
    root = tmp_path / "project"
    for name in ("flows", "templates", "schema"):
        shutil.copytree(PROJECT / name, root / name)
    db = database(tmp_path, root)
    with server(db, tmp_path, root) as before:
        run = before.post("/flows/deactivate-client/runs", json={"client": "c1"}, headers=bearer(ALICE)).json()["run"]
    flow = root / "flows" / "deactivate-client.yaml"
    flow.write_text(flow.read_text(encoding="utf-8").replace("title: Before you go on (optional)", "title: Why? (optional)"), encoding="utf-8")
    with server(db, tmp_path, root) as after:
        error = error_of(after.get(f"/runs/{run}", headers=bearer(ALICE)), 409, "flow_changed")
        assert "deactivate-client" in error["message"] and "start it again" in error["message"]
        error_of(after.post(f"/runs/{run}/answers", json={"answers": {}}, headers=bearer(ALICE)), 409, "flow_changed")
        fresh = after.post("/flows/deactivate-client/runs", json={"client": "c1"}, headers=bearer(ALICE)).json()
        assert fresh["screen"]["title"] == "Why? (optional)"


# another project entirely: the API speaks its words -------------------------------------------
LIBRARY = {
    "flows/project.yaml": """
        product: {name: Town Library, sender: desk@library.example}
        entities:
          branch: {collection: branches, keys: [id, name], label: name}
          librarian: {nested: {in: [branch], key: staff}, keys: [id, email], label: email}
          book: {collection: books, keys: [id, title], label: title}
        subject: {entity: book, match: [id, title]}
        actor: {entity: librarian, match: [id, email], within: {branch: actor_branch}}
        reach:
          - name: own-branch
            if: actor_branch is not none and book.branch == actor_branch.id
            message: "{{ book.title }} belongs to another branch."
    """,
    "flows/retire-book.yaml": """
        id: retire-book
        title: Retire a book
        summary: Take a worn-out book off the shelves for good.
        subject: book
        preconditions:
          - name: on-shelf
            if: book.status == 'shelved'
            message: "{{ book.title }} is {{ book.status }}."
        steps:
          - id: why
            kind: choice
            title: Why retire {{ book.title }}?
            fields:
              - name: cause
                type: choice
                label: Cause
                required: true
                options:
                  - {value: worn, label: Worn out}
                  - {value: lost, label: Lost}
        outcome:
          effects:
            - {op: update, field: status, to: "'retired'"}
          banner: "{{ book.title }} is retired."
          reversible: false
          audit: "{{ actor.email }} retired {{ book.id }}"
    """,
    "books.yaml": """
        branches:
          - id: b1
            name: Riverside
            staff:
              - {id: l1, email: ines@library.example}
        books:
          - {id: k1, title: Moby Dick, branch: b1, status: shelved}
          - {id: k2, title: Emma, branch: b1, status: lent}
    """,
}


def test_another_projects_api_names_its_subject_in_its_own_word(tmp_path: Path) -> None:
    root = tmp_path / "library"
    for name, text in LIBRARY.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    app = create_app(WebSettings(project=root, data=root / "books.yaml", secret=SECRET, now=NOW))
    token = {"Authorization": f"Bearer {mint(SECRET, 'ines@library.example')}"}
    with TestClient(app) as api:
        schema = api.get("/openapi.json").json()
        assert [p["name"] for p in schema["paths"]["/availability"]["get"]["parameters"]] == ["book"]
        assert schema["components"]["schemas"]["StartRun"]["anyOf"] == [{"required": ["book"]}, {"required": ["subject"]}]
        offered = api.get("/availability", params={"book": "Emma"}, headers=token).json()
        assert offered["flows"][0]["reasons"] == [{"rule": "on-shelf", "message": "Emma is lent."}]
        view = api.post("/flows/retire-book/runs", json={"book": "Moby Dick"}, headers=token).json()
        assert view["screen"]["title"] == "Why retire Moby Dick?"
        assert [o["label"] for o in view["screen"]["fields"][0]["options"]] == ["Worn out", "Lost"]
        ready = api.post(f"/runs/{view['run']}/answers", json={"answers": {"cause": "worn"}}, headers=token).json()
        plan = api.post(f"/runs/{ready['run']}/commit", headers=token).json()
        assert plan["banners"] == ["Moby Dick is retired."]
        assert plan["changes"] == [{"op": "update", "entity": "book", "id": "k1", "field": "status", "before": "shelved", "after": "retired"}]
        error_of(api.get("/availability", params={"book": "Ulysses"}, headers=token), 404, "unknown_subject")


def _open_files(prefix: Path) -> list[str]:
    """The files this process holds open whose path starts with `prefix` (Linux's /proc)."""
    held = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed while listed
            continue
        if target.startswith(str(prefix)):
            held.append(target)
    return held


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads the open files from Linux's /proc")
def test_shutting_the_app_down_closes_its_engines_and_its_threads(tmp_path: Path) -> None:
    db = database(tmp_path)

    def availability_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith("clientflow-availability")]

    before = len(availability_threads())
    with server(db, tmp_path) as api:
        for _ in range(3):
            assert api.get("/availability", params={"client": "c1"}, headers=bearer(ALICE)).status_code == 200
        assert api.post("/flows/deactivate-client/runs", json={"client": "c1"}, headers=bearer(ALICE)).status_code == 201
        assert _open_files(db), "the engines hold the database open while the app serves"
        assert len(availability_threads()) > before
    assert _open_files(db) == []
    assert len(availability_threads()) == before


def test_an_app_shut_down_serves_again_when_started_again(tmp_path: Path) -> None:
    db = database(tmp_path)
    app = create_app(WebSettings(project=PROJECT, db=db, secret=SECRET, now=NOW, outbox=tmp_path / "outbox"))
    answers = []
    for _ in range(2):
        with TestClient(app) as api:
            answers.append(api.get("/availability", params={"client": "c1"}, headers=bearer(ALICE)).json())
            assert api.post("/flows/deactivate-client/runs", json={"client": "c1"}, headers=bearer(ALICE)).status_code == 201
        assert _open_files(db) == []
    assert answers[0] == answers[1] and answers[0]["flows"]
