"""The preview's "compare with" control: the working files' review against a git revision, as `clientflow diff` makes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import NOW
from test_diff import DROPPED, FLOW, STEP, add_step_and_drop_rule, repository

pytest.importorskip("fastapi", reason="the web extra is part of the test extra")
from fastapi.testclient import TestClient  # noqa: E402
from test_api import SECRET  # noqa: E402

from clientflow.web import WebSettings, create_app  # noqa: E402


@pytest.fixture(autouse=True)
def _outside_the_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # as in test_diff: a revision's copy is removed by names relative to its folder


def preview(root: Path) -> TestClient:
    return TestClient(create_app(WebSettings(project=root, data=root / "data" / "demo.yaml", preview=True, secret=SECRET, now=NOW)))


def test_the_page_has_the_control(tmp_path: Path) -> None:
    repo = repository(tmp_path)
    with preview(repo) as page:
        html = page.get("/preview").text
        assert 'id="compare-form"' in html and 'id="compare-base"' in html


def test_compare_shows_what_the_working_files_change(tmp_path: Path) -> None:
    repo = repository(tmp_path)
    with preview(repo) as page:
        unchanged = page.get("/preview/compare", params={"base": "HEAD"}).json()
        assert unchanged["behaviour"] == [] and all(f["status"] == "unchanged" for f in unchanged["flows"])
        add_step_and_drop_rule(repo)
        review = page.get("/preview/compare", params={"base": "HEAD"}).json()
    changed = next(f for f in review["flows"] if f["flow"] == FLOW)
    assert changed["status"] == "changed" and any(STEP in c["message"] for c in changed["changes"])
    assert review["behaviour"] and all(DROPPED in b["before_blocked_by"] for b in review["behaviour"] if b["before"] == "blocked")
    assert any(s["flow"] == FLOW and "now offered" in s["sentence"] for s in review["summary"])


def test_an_unknown_revision_is_a_clear_error(tmp_path: Path) -> None:
    repo = repository(tmp_path)
    with preview(repo) as page:
        answer = page.get("/preview/compare", params={"base": "no-such-branch"})
        assert answer.status_code == 400 and "no-such-branch" in answer.json()["error"]["message"]
        assert page.get("/preview/compare", params={"base": "--output=x"}).status_code == 400
