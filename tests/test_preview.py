"""The preview server: its page and assets, the context it offers, its own tokens, dry-run only, reloading."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DEMO, NOW, PROJECT, REPO

pytest.importorskip("fastapi", reason="the web extra is part of the test extra: pip install -e '.[test]'")
from fastapi.testclient import TestClient  # noqa: E402
from test_api import SECRET, bearer, error_of  # noqa: E402

from clientflow.tokens import verify  # noqa: E402
from clientflow.web import WebSettings, create_app  # noqa: E402
from clientflow.web.errors import CODES  # noqa: E402

STATIC = REPO / "engine" / "web" / "static"
DOMAIN = re.compile(r"\b(client|clients|partner|practice|subscription|owner)\b", re.IGNORECASE)


def project_copy(tmp_path: Path) -> Path:
    """The shipped project and demo data, copied so that a test may edit them."""
    root = tmp_path / "project"
    for name in ("flows", "templates", "schema"):
        shutil.copytree(PROJECT / name, root / name)
    (root / "data").mkdir()
    shutil.copy(DEMO, root / "data" / "demo.yaml")
    return root


def edit(path: Path, old: str, new: str) -> None:
    """Change a file and move its modification time on, as an editor's save does."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    later = time.time() + 5
    os.utime(path, (later, later))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return project_copy(tmp_path)


@pytest.fixture
def preview(root: Path) -> Iterator[TestClient]:
    app = create_app(WebSettings(project=root, data=root / "data" / "demo.yaml", preview=True, secret=SECRET, now=NOW))
    with TestClient(app) as test_client:
        yield test_client


def preview_token(preview: TestClient, actor: str) -> dict[str, str]:
    response = preview.post("/preview/token", json={"actor": actor})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_the_page_and_its_assets(preview: TestClient) -> None:
    page = preview.get("/preview")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/preview/assets/preview.js" defer></script>' in page.text
    assert '<html lang="en">' in page.text
    script = preview.get("/preview/assets/preview.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "/preview/version" in script.text
    assert preview.get("/preview/assets/preview.css").headers["content-type"].startswith("text/css")
    error_of(preview.get("/preview/assets/app.py"), 404, "not_found")
    error_of(preview.get("/preview/assets/..%2Fapp.py"), 404, "not_found")


def test_the_page_names_no_domain_word() -> None:
    files = sorted(STATIC.iterdir())
    assert {p.name for p in files} >= {"preview.html", "preview.js", "preview.css"}
    found = [f"{p.name}:{n}: {line.strip()}" for p in files for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if DOMAIN.search(line)]
    assert found == [], "the preview takes its words from the project:\n" + "\n".join(found)


def test_the_context_lists_flows_actors_and_subjects_in_the_projects_words(preview: TestClient) -> None:
    context = preview.get("/preview/context").json()
    assert context["problems"] == [] and context["version"]
    assert context["subject"] == {"entity": "client"} and context["actor"] == {"entity": "user"}
    assert context["product"]["name"] == "Bookkeeping Platform"
    assert "disconnect-client" in [f["flow"] for f in context["flows"]]
    actors = {a["id"]: a["label"] for a in context["actors"]}
    assert actors["u1"] == "Alice Admin <alice@northwind.example> · Northwind Bookkeeping"
    assert actors["cu1"] == "Carla Diaz <carla@acme.example> · Acme Ltd"
    assert {"id": "c1", "label": "Acme Ltd"} in context["subjects"]


def test_preview_tokens_drive_the_api_but_open_no_real_server(preview: TestClient, root: Path) -> None:
    headers = preview_token(preview, "alice@northwind.example")
    assert preview.get("/availability", params={"client": "c1"}, headers=headers).json()["actor"] == "u1"
    with pytest.raises(Exception, match="signature"):
        verify(SECRET, headers["Authorization"].split()[1])  # signed with the preview's own key
    error_of(preview.get("/flows", headers=bearer("u1")), 401, "unauthenticated")  # the configured secret opens no preview
    error_of(preview.post("/preview/token", json={"actor": "nobody@nowhere.example"}), 403, "unknown_actor")
    error_of(preview.post("/preview/token", json={}), 400, "bad_request")


def test_the_preview_walks_a_run_but_refuses_to_commit(preview: TestClient) -> None:
    headers = preview_token(preview, "u1")
    view = preview.post("/flows/disconnect-client/runs", json={"client": "c1", "answers": {"owner": "cu1"}}, headers=headers).json()
    assert view["status"] == "ready"
    plan = preview.get(f"/runs/{view['run']}/plan", headers=headers).json()
    assert plan["status"] == "completed" and len(plan["emails"]) == 2 and plan["emails"][0]["html"]
    error_of(preview.post(f"/runs/{view['run']}/commit", headers=headers), 403, "dry_run_only")
    context = preview.get("/preview/context").json()
    assert {"id": "c1", "label": "Acme Ltd"} in context["subjects"]
    assert preview.get(f"/runs/{view['run']}", headers=headers).json()["status"] == "ready"


def test_a_serve_without_preview_has_no_preview_page(tmp_path: Path) -> None:
    with TestClient(create_app(WebSettings(project=PROJECT, data=DEMO, secret=SECRET, outbox=tmp_path))) as api:
        error_of(api.get("/preview"), 404, "not_found")
        error_of(api.post("/preview/token", json={"actor": "u1"}), 404, "not_found")


def test_a_changed_flow_is_reloaded(preview: TestClient, root: Path) -> None:
    first = preview.get("/preview/version").json()
    assert preview.get("/preview/version").json() == first  # nothing changed: the same version
    edit(root / "flows" / "disconnect-client.yaml", "title: Tell us why (optional)", "title: Why are you leaving? (optional)")
    second = preview.get("/preview/version").json()
    assert second["version"] != first["version"] and second["problems"] == []
    headers = preview_token(preview, "u1")
    view = preview.post("/flows/disconnect-client/runs", json={"client": "c1", "answers": {}}, headers=headers).json()
    assert view["screen"]["title"] == "Who should own Acme Ltd's account?"
    plan = preview.get(f"/runs/{view['run']}/plan", headers=headers).json()
    assert plan["screens"][1]["title"] == "Why are you leaving? (optional)"


def test_a_changed_template_and_data_file_are_reloaded(preview: TestClient, root: Path) -> None:
    edit(root / "templates" / "emails" / "disconnect-client.txt", "Your data stays with you.", "Your data stays yours.")
    edit(root / "data" / "demo.yaml", "name: Acme Ltd", "name: Acme Limited")
    assert {"id": "c1", "label": "Acme Limited"} in preview.get("/preview/context").json()["subjects"]
    headers = preview_token(preview, "u1")
    view = preview.post("/flows/disconnect-client/runs", json={"client": "c1", "answers": {"owner": "cu1"}}, headers=headers).json()
    emails = preview.get(f"/runs/{view['run']}/plan", headers=headers).json()["emails"]
    assert "Your data stays yours." in emails[1]["text"] and "Acme Limited" in emails[1]["subject"]


def test_a_broken_flow_is_shown_located_then_the_fix_is_picked_up(preview: TestClient, root: Path) -> None:
    headers = preview_token(preview, "u1")
    flow = root / "flows" / "disconnect-client.yaml"
    edit(flow, "    kind: survey", "    kind: questionnaire")
    version = preview.get("/preview/version").json()
    problems = version["problems"]
    assert problems, version
    located = [p for p in problems if p["path"].endswith("disconnect-client.yaml")]
    assert located and all(p["line"] > 1 for p in located)
    line = next(n for n, text in enumerate(flow.read_text(encoding="utf-8").splitlines(), 1) if "questionnaire" in text)
    assert any(p["line"] == line and "questionnaire" in p["message"] for p in located), located
    context = preview.get("/preview/context").json()
    assert context["problems"] == problems and "flows" not in context
    error = error_of(preview.get("/flows", headers=headers), 503, "project_invalid")
    assert error["problems"] == problems
    edit(flow, "    kind: questionnaire", "    kind: survey")
    assert preview.get("/preview/version").json()["problems"] == []
    assert preview.get("/flows", headers=preview_token(preview, "u1")).status_code == 200


def test_a_broken_data_file_is_shown_located(preview: TestClient, root: Path) -> None:
    edit(
        root / "data" / "demo.yaml",
        "    billing: partner\n    subscription: active\n    owner: null\n    users:\n      - {id: cu1",
        "    billing: [partner\n    users:\n      - {id: cu1",
    )
    problems = preview.get("/preview/version").json()["problems"]
    assert problems and problems[0]["path"].endswith("demo.yaml") and problems[0]["line"] > 1


def test_a_preview_that_starts_broken_still_serves_its_page(root: Path) -> None:
    edit(root / "flows" / "rules.yaml", "if: client.users | length > 0", "if: client.users | length >")
    app = create_app(WebSettings(project=root, data=root / "data" / "demo.yaml", preview=True, secret=SECRET))
    with TestClient(app) as preview:
        assert preview.get("/preview").status_code == 200
        problems = preview.get("/preview/context").json()["problems"]
        assert any(p["path"].endswith("rules.yaml") for p in problems)


def test_the_readme_documents_every_endpoint_and_shows_the_preview(preview: TestClient) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## HTTP API and preview\n", 1)[1].split("\n## ", 1)[0]
    for path, item in preview.get("/openapi.json").json()["paths"].items():
        for method in item:
            assert f"`{method.upper()} {path}" in section or f"/{path.rsplit('/', 1)[1]}`" in section, (method, path)
    shown = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", section)
    assert shown and all(p.startswith("docs/") and (REPO / "docs" / p.removeprefix("docs/")).is_file() for p in shown), shown
    assert sorted(p.name for p in (REPO / "docs" / "screenshots").glob("*.png")) == [
        "01-choose.png", "02-explain.png", "03-survey.png", "04-choose-owner.png", "05-plan.png",
    ]  # fmt: skip
    for code in CODES:
        if code != "internal":
            assert f"`{code}`" in section, code


def test_the_context_offers_the_projects_locales_and_the_api_shows_the_one_asked_for(root: Path) -> None:
    from test_i18n import translated

    assert "locales" not in (root / "flows" / "project.yaml").read_text(encoding="utf-8")
    translated(root, lambda source: "FR " + source)
    app = create_app(WebSettings(project=root, data=root / "data" / "demo.yaml", preview=True, secret=SECRET, now=NOW))
    with TestClient(app) as preview:
        assert preview.get("/preview/context").json()["locales"] == ["en", "fr"]  # the picker's choices
        headers = preview_token(preview, "u1")

        def title(**params: str) -> str:
            view = preview.post("/flows/disconnect-client/runs", params=params, json={"client": "c1"}, headers=headers)
            assert view.status_code == 201, view.text
            return str(view.json()["screen"]["title"])

        english = title()
        assert title(locale="fr") == "FR " + english and title(locale="fr-CA") == "FR " + english  # fr-CA falls back to fr
        assert title(locale="en") == english
        french = {**headers, "Accept-Language": "fr"}
        asked = preview.post("/flows/disconnect-client/runs", params={"locale": "en"}, json={"client": "c1"}, headers=french)
        assert asked.json()["screen"]["title"] == english  # what is asked for comes before Accept-Language (and the actor's own)
        titles = preview.get("/availability", params={"client": "c1", "locale": "fr"}, headers=headers).json()["flows"]
        assert titles and all(f["title"].startswith("FR ") for f in titles)
        refused = error_of(preview.get("/availability", params={"client": "c1", "locale": "de"}, headers=headers), 400, "bad_request")
        assert "'de'" in refused["message"] and "en, fr" in refused["message"]


def test_a_project_with_one_language_offers_no_picker(preview: TestClient) -> None:
    assert preview.get("/preview/context").json()["locales"] == []


DELAYED = {  # deactivate-client, its change 14 days after the commit (unless the subject has an owner by then), its email 2 hours after
    "    - {op: update, field: subscription, to: \"'deactivated'\"}\n": (
        "    - op: update\n      field: subscription\n      to: \"'deactivated'\"\n      after: 14 days\n      unless: client.owner is not none\n"
    ),
    "    - template: deactivate-practice\n      to: actor.email\n": "    - template: deactivate-practice\n      to: actor.email\n      after: 2 hours\n",
}


def delayed_copy(tmp_path: Path) -> Path:
    """The project copy whose deactivate-client does its work later (DELAYED)."""
    root = project_copy(tmp_path)
    flow = root / "flows" / "deactivate-client.yaml"
    for old, new in DELAYED.items():
        edit(flow, old, new)
    return root


def test_the_preview_shows_the_scheduled_work_as_a_dated_timeline(tmp_path: Path) -> None:
    root = delayed_copy(tmp_path)
    app = create_app(WebSettings(project=root, data=root / "data" / "demo.yaml", preview=True, secret=SECRET, now=NOW))
    with TestClient(app) as preview:
        headers = preview_token(preview, "u1")
        view = preview.post("/flows/deactivate-client/runs", json={"client": "c1", "answers": {"notify_client": False}}, headers=headers).json()
        assert view["status"] == "ready", view
        plan = preview.get(f"/runs/{view['run']}/plan", headers=headers).json()
        script = preview.get("/preview/assets/preview.js").text
    assert plan["status"] == "completed" and plan["changes"] == [] and plan["emails"] == [], plan  # nothing at the commit itself
    later = {item["kind"]: item for item in plan["scheduled"]}
    assert set(later) == {"effect", "email"}
    assert later["email"]["at"] == "2025-03-14T11:26:53+00:00" and later["effect"]["at"] == "2025-03-28T09:26:53+00:00"
    assert later["effect"]["unless"] == "client.owner is not none" and later["email"]["unless"] is None
    assert [(c["field"], c["after"]) for c in later["effect"]["changes"]] == [("subscription", "deactivated")]
    assert [e["template"] for e in later["email"]["emails"]] == ["deactivate-practice"]
    # the page draws them: one dated entry per time, each part with its unless, changes and emails (the browser test sees it drawn)
    assert "timeline(plan.scheduled)" in script and "function timeline(scheduled)" in script
    for shown in ('el("time", { dateTime: at', "(unless ${item.unless})", "changesTable(item.changes)", "item.emails.map(emailCard)"):
        assert shown in script, shown
