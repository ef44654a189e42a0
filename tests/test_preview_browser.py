"""The preview page in a real browser: Playwright driving Debian's Chromium, headless, against `clientflow serve --preview`.

Walks disconnect-client end to end and checks the plan shown; takes one
screenshot per screen. The screenshots land in docs/screenshots/ (for the
README) only with CLIENTFLOW_UPDATE_SCREENSHOTS=1; otherwise in a temporary
folder. Under CI=true a browser that cannot start fails the tests.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from test_api_auth import free_port
from test_preview import delayed_copy, edit, project_copy

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO / "docs" / "screenshots"
WIDTH = 1000
IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")
WAIT_MS = 15_000


def unavailable(reason: str) -> None:
    message = f"the browser tests cannot run: {reason}. Install it with `apt-get install -y chromium` and `pip install -e '.[test]'`."
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        unavailable("the playwright package is missing")
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing")
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000)
        except Error as exc:
            unavailable(f"Chromium did not start ({str(exc).splitlines()[0]})")
        yield launched
        launched.close()


class Preview:
    """`clientflow serve --preview` on a copy of the project, in its own process."""

    def __init__(self, root: Path, log: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable, "-c", "from clientflow.cli import main; main()", "serve", "--preview",
            "--project", str(root), "--data", str(root / "data" / "demo.yaml"), "--port", str(self.port), "--now", "2025-03-14T09:26:53",
        ]  # fmt: skip
        self.log = log.open("w")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, cwd=root)
        deadline = time.monotonic() + 30
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"{self.url}/preview/version", timeout=2):  # noqa: S310 - a local URL
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"the preview server did not start:\n{log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)
        self.log.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Preview]:
    preview = Preview(project_copy(tmp_path), tmp_path / "serve.log")
    yield preview
    preview.stop()


@pytest.fixture
def page(browser: Any, server: Preview) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": WIDTH, "height": 800}, device_scale_factor=1)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.set_default_timeout(WAIT_MS)
    opened.goto(f"{server.url}/preview")
    opened.wait_for_selector("#verdict")
    yield opened
    context.close()
    assert errors == [], f"the page raised: {errors}"


class Shots:
    """One screenshot per screen, the whole page each time."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.taken: list[Path] = []

    def take(self, page: Any, name: str) -> None:
        page.wait_for_timeout(150)  # let the sandboxed email frames paint
        height = int(page.evaluate("document.documentElement.scrollHeight"))
        page.set_viewport_size({"width": WIDTH, "height": max(height, 600)})
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path))  # the viewport, grown to the page: frames render, unlike full_page
        page.set_viewport_size({"width": WIDTH, "height": 800})
        self.taken.append(path)


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def choose(page: Any, flow: str, actor: str, subject: str) -> None:
    page.select_option("#flow", flow)
    page.select_option("#actor", actor)
    page.select_option("#subject", subject)
    page.wait_for_selector(f"#availability[data-for='{flow}|{actor}|{subject}'] #verdict")


def next_screen(page: Any, step: str) -> None:
    page.click("button[data-action=next]")
    page.wait_for_selector(f"#run[data-step={step}]")


def test_disconnect_client_end_to_end_with_a_screenshot_per_screen(page: Any, tmp_path: Path) -> None:
    shots = Shots(tmp_path)
    assert page.inner_text("#subject-word") == "Client"  # the project's word, not the page's
    assert page.inner_text("#actor-word") == "Acting user"
    choose(page, "disconnect-client", "u1", "c1")
    assert page.inner_text("#verdict") == "Offered: “Disconnect client” can be started here."
    shots.take(page, "choose")

    page.click("#start")
    page.wait_for_selector("#run[data-step=explain]")
    assert page.inner_text("#screen-title") == "Disconnect Acme Ltd from your practice?"
    body = page.inner_text("#run .body")
    assert "Disconnecting ends the link between Acme Ltd and Northwind Bookkeeping." in body
    assert "This cannot be undone from your side" in body
    assert page.locator("#run .body p").count() == 3
    assert page.inner_text("button[data-action=next]") == "Disconnect client"
    assert page.locator("#run button[data-action=back]").count() == 0  # nothing to go back to
    shots.take(page, "explain")

    next_screen(page, "survey")
    assert page.inner_text("#screen-title") == "Tell us why (optional)"
    assert page.inner_text("label[for=field-reason]") == "Why are you disconnecting this client? (optional)"
    page.fill("#field-reason", "Moving to another bookkeeper")
    shots.take(page, "survey")

    next_screen(page, "choose-owner")
    assert page.inner_text("#screen-title") == "Who should own Acme Ltd's account?"
    assert page.locator("#run input[type=radio]").count() == 2
    assert [t.strip() for t in page.locator("#run label.option").all_inner_texts()] == [
        "Carla Diaz <carla@acme.example>",
        "Dev Patel <dev@acme.example> (invited)",
    ]
    page.click("button[data-action=next]")  # no choice made: the screen says what is missing
    page.wait_for_selector("#error-owner:not([hidden])")
    assert "an answer is required" in page.inner_text("#error-owner")
    assert page.get_attribute("#run input[type=radio] >> nth=0", "aria-invalid") == "true"
    page.check("#run label.option:has-text('Carla Diaz') input")
    shots.take(page, "choose-owner")

    page.click("button[data-action=next]")
    page.wait_for_selector("#plan:not([hidden])")
    plan = page.locator("#plan")
    assert page.inner_text("#plan-title") == "What would happen"
    assert plan.locator(".banner").inner_text() == "Acme Ltd has been disconnected from your practice and now belongs to Carla Diaz."
    rows = [row.split("\t") for row in plan.locator("table.changes tbody tr").all_inner_texts()]
    assert rows == [["~", "client c1", "owner", "null", '"cu1"'], ["~", "client c1", "partner", '"p1"', "null"]]
    emails = plan.locator("article.email")
    assert emails.count() == 2
    assert emails.nth(1).locator("h4").inner_text() == "Acme Ltd is no longer managed by Northwind Bookkeeping"
    assert "carla@acme.example" in emails.nth(1).locator("dd").first.inner_text()
    frame = emails.nth(1).locator("iframe")
    assert frame.get_attribute("sandbox") == ""  # sandboxed: no script, no same origin
    assert "Hello Carla Diaz" in frame.get_attribute("srcdoc")
    assert "Hello Carla Diaz" in page.frame_locator("article.email >> nth=1 >> iframe").locator("body").inner_text()
    emails.nth(1).locator("summary").click()
    assert "you are now the owner of the business's account" in " ".join(emails.nth(1).locator("pre").inner_text().split())
    assert plan.locator(".reversible").inner_text().startswith("No. Only the business can reverse this")
    assert plan.locator(".audit").inner_text() == "alice@northwind.example disconnected Acme Ltd (c1); owner cu1"
    shots.take(page, "plan")

    assert [p.name for p in shots.taken] == ["01-choose.png", "02-explain.png", "03-survey.png", "04-choose-owner.png", "05-plan.png"]
    for path in shots.taken:
        width, height = png_size(path)
        assert width == WIDTH and height >= 600, (path, width, height)
    assert png_size(shots.taken[-1])[1] > png_size(shots.taken[1])[1]  # the plan is the long page
    if os.environ.get("CLIENTFLOW_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for path in shots.taken:
            shutil.copy(path, SCREENSHOTS / path.name)


def test_back_keeps_answers_and_cancel_changes_nothing(page: Any) -> None:
    choose(page, "disconnect-client", "u1", "c1")
    page.click("#start")
    page.wait_for_selector("#run[data-step=explain]")
    next_screen(page, "survey")
    page.fill("#field-reason", "Closing the account")
    next_screen(page, "choose-owner")
    page.click("button[data-action=back]")
    page.wait_for_selector("#run[data-step=survey]")
    assert page.input_value("#field-reason") == "Closing the account"
    page.click("button[data-action=cancel]")
    page.wait_for_selector("#run:not([data-step]) h2")
    assert page.inner_text("#run h2") == "Cancelled"
    assert "Nothing was changed." in page.inner_text("#run")


def test_why_a_flow_is_not_offered(page: Any) -> None:
    choose(page, "disconnect-client", "u1", "c1")
    page.click("#start")
    page.wait_for_selector("#run[data-step=explain]")
    choose(page, "disconnect-client", "u2", "c1")
    assert page.is_hidden("#run")  # the walk shown belonged to the previous choice
    verdict = page.inner_text("#verdict")
    assert verdict.startswith("Not offered: “Disconnect client” would not be shown, because:")
    assert "practice-administrator: Only an administrator of the practice can do this, and your access level is standard." in verdict
    page.click("#start")
    page.wait_for_selector("#run h2:has-text('This flow is not offered here')")
    assert "practice-administrator" in page.inner_text("#run")


def test_a_typed_confirmation_must_match(page: Any) -> None:
    choose(page, "delete-client", "u1", "c2")
    page.click("#start")
    page.wait_for_selector("#run[data-step=warning]")
    assert page.inner_text("button[data-action=cancel]") == "Keep the client"
    next_screen(page, "confirm")
    assert page.inner_text("button[data-action=next]") == "Delete permanently"
    assert page.get_attribute("button[data-action=next]", "class") == "danger"
    page.fill("#field-confirm_name", "empty shell co")
    page.click("button[data-action=next]")
    page.wait_for_selector("#error-confirm_name:not([hidden])")
    assert "Empty Shell Co" in page.inner_text("#error-confirm_name")
    page.fill("#field-confirm_name", "Empty Shell Co")
    page.click("button[data-action=next]")
    page.wait_for_selector("#plan:not([hidden])")
    assert page.locator("#plan table.changes tbody tr").all_inner_texts()[0].split("\t")[:3] == ["−", "client c2", "(deleted)"]


def test_the_page_reloads_on_a_change_and_shows_located_problems(page: Any, server: Preview) -> None:
    choose(page, "disconnect-client", "u1", "c1")
    page.click("#start")
    page.wait_for_selector("#run[data-step=explain]")
    next_screen(page, "survey")
    flow = server.root / "flows" / "disconnect-client.yaml"
    edit(flow, "title: Tell us why (optional)", "title: Why are you leaving? (optional)")
    page.wait_for_selector("#screen-title:has-text('Why are you leaving? (optional)')")
    assert page.get_attribute("#run", "data-step") == "survey"  # the walk was replayed to where it was
    assert page.inner_text("#watch").startswith("Reloaded after a change")

    edit(flow, "    kind: survey", "    kind: questionnaire")
    page.wait_for_selector("#problems:not([hidden])")
    problems = page.inner_text("#problem-list")
    line = next(n for n, text in enumerate(flow.read_text(encoding="utf-8").splitlines(), 1) if "questionnaire" in text)
    assert f"disconnect-client.yaml:{line}:" in problems and "questionnaire" in problems
    assert page.is_hidden("#picker") and page.is_hidden("#run")

    edit(flow, "    kind: questionnaire", "    kind: survey")
    page.wait_for_selector("#problems[hidden]", state="attached")
    page.wait_for_selector("#picker:not([hidden])")
    page.wait_for_selector("#run[data-step=survey]")


@pytest.fixture
def bilingual(browser: Any, tmp_path: Path) -> Iterator[Any]:
    """The preview of the project declaring en and fr, every French text its English with "FR " before it."""
    from test_i18n import translated

    root = project_copy(tmp_path)
    translated(root, lambda source: "FR " + source)
    preview = Preview(root, tmp_path / "serve.log")
    context = browser.new_context(viewport={"width": WIDTH, "height": 800}, device_scale_factor=1)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.set_default_timeout(WAIT_MS)
    try:
        opened.goto(f"{preview.url}/preview")
        opened.wait_for_selector("#verdict")
        yield opened
    finally:
        context.close()
        preview.stop()
    assert errors == [], f"the page raised: {errors}"


def test_the_language_picker_shows_the_walk_in_the_locale_chosen(bilingual: Any) -> None:
    page = bilingual
    assert page.is_visible("#locale-pick")
    assert page.eval_on_selector_all("#locale option", "options => options.map(o => o.value)") == ["", "en", "fr"]
    assert "(fr)" in page.inner_text("#locale option[value=fr]")
    choose(page, "disconnect-client", "u1", "c1")
    page.click("#start")
    page.wait_for_selector("#run[data-step=explain]")
    english = page.inner_text("#screen-title")
    assert english == "Disconnect Acme Ltd from your practice?"
    next_screen(page, "survey")
    page.fill("#field-reason", "Moving on")

    page.select_option("#locale", "fr")  # the walk is replayed in French, to the screen it was on
    page.wait_for_selector("#screen-title:has-text('FR Tell us why (optional)')")
    assert page.get_attribute("#run", "data-step") == "survey" and page.get_attribute("#run", "lang") == "fr"
    assert page.inner_text("label[for=field-reason]").startswith("FR Why are you disconnecting this client?")
    page.wait_for_selector("#availability[data-locale=fr] #verdict")
    assert page.inner_text("#flow option[value=disconnect-client]") == "FR Disconnect client (disconnect-client)"
    assert page.inner_text("#verdict") == "Offered: “FR Disconnect client” can be started here."
    page.click("button[data-action=back]")
    page.wait_for_selector("#screen-title:has-text('FR Disconnect Acme Ltd from your practice?')")

    page.select_option("#locale", "")  # back to the acting person's own (Alice has none: the flows' own)
    page.wait_for_selector(f"#screen-title:text-is('{english}')")
    assert page.inner_text("#flow option[value=disconnect-client]") == "Disconnect client (disconnect-client)"


def test_the_plan_shows_the_scheduled_work_as_a_dated_timeline(browser: Any, tmp_path: Path) -> None:
    preview = Preview(delayed_copy(tmp_path), tmp_path / "serve.log")
    context = browser.new_context(viewport={"width": WIDTH, "height": 800}, device_scale_factor=1)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(f"{preview.url}/preview")
        page.wait_for_selector("#verdict")
        choose(page, "deactivate-client", "u1", "c1")
        page.click("#start")
        page.wait_for_selector("#run[data-step=survey]")
        next_screen(page, "explain")
        next_screen(page, "notify")
        page.click("button[data-action=next]")
        page.wait_for_selector("#plan:not([hidden])")
        timeline = page.locator("#plan ol.timeline")
        assert page.inner_text("#plan h3:has-text('Later')") == "Later, unless cancelled (2 scheduled)"
        whens = timeline.locator("li.when")
        assert whens.count() == 2  # one entry per time, the soonest first
        assert [whens.nth(n).locator("time").get_attribute("datetime") for n in range(2)] == ["2025-03-14T11:26:53+00:00", "2025-03-28T09:26:53+00:00"]
        first, second = whens.nth(0), whens.nth(1)
        assert first.locator("section.later p").inner_text().startswith("Scheduled: email deactivate-practice on 2025-03-14T11:26:53")
        assert first.locator("article.email").count() == 1 and first.locator(".unless").count() == 0
        assert "alice@northwind.example" in first.locator("article.email dd").first.inner_text()
        said = second.locator("section.later p").inner_text()
        assert said.startswith("Scheduled: update client.subscription on 2025-03-28T09:26:53") and said.endswith("(unless client.owner is not none)")
        rows = [row.split("\t") for row in second.locator("table.changes tbody tr").all_inner_texts()]
        assert rows == [["~", "client c1", "subscription", '"active"', '"deactivated"']]
        assert page.locator("#plan > table.changes").count() == 0  # nothing changes at the commit itself
    finally:
        context.close()
        preview.stop()
    assert errors == [], f"the page raised: {errors}"


def test_a_project_in_one_language_shows_no_picker(page: Any) -> None:
    assert page.is_hidden("#locale-pick")


def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    module = sys.modules[__name__]
    monkeypatch.setattr(module, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        unavailable("Chromium is missing")
    monkeypatch.setattr(module, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception):
        unavailable("Chromium is missing")
