"""Dates and numbers as the reader's language writes them (issue 18): format_date, format_datetime, format_number.

The filters follow the reader: the actor for screens, each recipient for emails, the first
locale for the audit line. They are checked where they are written like every filter, kept
out of conditions, bounded like the rest of a template, and Babel loads only when one is used.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import DEMO, PROJECT, copy_project
from hypothesis import given
from hypothesis import strategies as st
from test_i18n import cli, translated

from clientflow.conditions import limits
from clientflow.conditions.program import Program
from clientflow.conditions.reader import FILTERS, Reader, format_date, format_datetime, format_number, reading
from clientflow.errors import CompileError, ExpressionError
from clientflow.language.code import Text

NOW = "2025-03-14T09:26:53Z"


@pytest.fixture(autouse=True)
def fresh_budget() -> None:
    """The filters are called here outside a rendering: each test starts a budget of its own (one an earlier test
    file started would run out after its seconds, whatever this test does)."""
    limits.fresh()


@pytest.mark.parametrize(
    ("locale", "filtered", "expected"),
    [
        (None, lambda: format_date("2025-03-14"), "Mar 14, 2025"),
        ("en", lambda: format_date("2025-03-14", "long"), "March 14, 2025"),
        ("fr", lambda: format_date("2025-03-14", "long"), "14 mars 2025"),
        ("fr", lambda: format_date({"iso": "2025-03-14T23:30:00+00:00", "date": "2025-03-14"}, "full"), "vendredi 14 mars 2025"),
        ("de", lambda: format_date(date(2025, 3, 14)), "14.03.2025"),
        ("fr", lambda: format_date("2025-03-14", "d MMMM"), "14 mars"),
        ("fr-CA", lambda: format_date("2025-03-14", "short"), "2025-03-14"),
        ("en", lambda: format_datetime("2025-03-14T09:26:53Z"), "Mar 14, 2025, 9:26:53\u202fAM"),
        ("fr", lambda: format_datetime("2025-03-14T09:26:53+01:00", "short"), "14/03/2025 09:26"),
        ("fr", lambda: format_datetime(datetime(2025, 3, 14, 9, 26)), "14 mars 2025, 09:26:00"),
        ("en", lambda: format_number(1234567.891), "1,234,567.891"),
        ("fr", lambda: format_number(1234567.891), "1\u202f234\u202f567,891"),
        ("de", lambda: format_number("1234.5", 2), "1.234,50"),
        ("fr", lambda: format_number(3, 0), "3"),
    ],
)
def test_each_filter_writes_as_the_readers_language_does(locale: str | None, filtered: Any, expected: str) -> None:
    with reading(Reader(locale)):
        assert filtered() == expected


@pytest.mark.parametrize(
    ("filtered", "said"),
    [
        (lambda: format_date("next tuesday"), "format_date needs a date such as 2025-03-14"),
        (lambda: format_date({"iso": None}), "not 'none'"),
        (lambda: format_date(None, 7), "the format is one of"),
        (lambda: format_number(None, 99), "decimals is a whole number from 0 to 20"),
        (lambda: format_date("2025-03-14" * 1000), "format_date needs a date"),
        (lambda: format_datetime(42), "format_datetime needs a date"),
        (lambda: format_number("many"), "format_number needs a number"),
        (lambda: format_number(True), "not bool"),
        (lambda: format_number([1, 2]), "not list"),
        (lambda: format_number(1.5, 99), "decimals is a whole number from 0 to 20"),
        (lambda: format_number("9" * 5000), "over the limit"),
        (lambda: format_number("1e999999"), "over the limit"),
    ],
)
def test_a_value_a_filter_cannot_write_is_a_plain_error(filtered: Any, said: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        filtered()
    assert said in str(caught.value)


VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80) | st.dates().map(str) | st.datetimes().map(lambda d: d.isoformat()),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["iso", "date", "x"]), inner, max_size=3),
    max_leaves=12,
)
FORMATS = st.one_of(st.none(), st.sampled_from(["short", "medium", "long", "full", "d MMMM y", "EEEE"]), st.text(max_size=12), st.integers(-5, 30))


@given(value=VALUES, fmt=FORMATS, name=st.sampled_from(sorted(FILTERS)), locale=st.sampled_from([None, "en", "fr", "fr-CA", "de", "zz"]))
def test_whatever_a_template_gives_a_filter_it_writes_text_or_says_why(value: Any, fmt: Any, name: str, locale: str | None) -> None:
    """Data is not trusted: any value and any format give a short text or an ExpressionError, never another failure."""
    with reading(Reader(locale)):
        try:
            out = FILTERS[name](value) if fmt is None else FILTERS[name](value, fmt)
        except ExpressionError:
            return
    assert isinstance(out, str) and len(out) < 1000


def test_a_program_renders_for_its_reader_and_the_audit_for_the_first_locale() -> None:
    program = Program()
    text = Text("{{ when | format_date('long') }}, {{ amount | format_number(2) }}", None)
    program.compile_template(text, {"when", "amount"})
    assert program.template(text).localized and program.template(text).fast is not None  # the fast path, not Jinja2's
    scope = {"when": "2025-03-14", "amount": 1234.5}
    assert program.render(text, scope) == "March 14, 2025, 1,234.50"
    program.written, program.reader = Reader("en"), Reader("fr")
    assert program.render(text, scope) == "14 mars 2025, 1\u202f234,50"
    assert program.render(text, scope, as_written=True) == "March 14, 2025, 1,234.50"
    plain = Text("{{ amount }}", None)
    program.compile_template(plain, {"amount"})
    assert not program.template(plain).localized  # nothing to set around it


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("{{ when | format_dat }}", "unknown filter 'format_dat'; did you mean 'format_date'?"),
        ("{{ when | format_date('longg') }}", "'longg' is no format; did you mean 'long'?"),
        ("{{ when | format_date(style='long') }}", "format_date has no argument 'style'"),
        ("{{ amount | format_number(21) }}", "decimals is a whole number from 0 to 20, not 21"),
        ("{{ amount | format_number(decimals='two') }}", "decimals is a whole number"),
        ("{{ when | format_datetime('long', 'x') }}", "format_datetime takes at most 1 argument"),
    ],
)
def test_a_filter_written_wrong_is_refused_when_the_text_compiles(source: str, said: str) -> None:
    with pytest.raises(CompileError) as caught:
        Program().compile_template(Text(source, None), {"when", "amount"})
    assert said in str(caught.value)


def test_a_condition_cannot_depend_on_who_reads_it() -> None:
    with pytest.raises(CompileError) as caught:
        Program().compiler.compile("client.renewal_date | format_date == 'March 14, 2025'", {"client"})
    assert "format_date writes a value as its reader's language does" in str(caught.value)


def swap(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def dated(tmp_path: Path) -> Path:
    """The fixture project with a date and a number in a screen, an email and the audit line."""
    project = copy_project(tmp_path / "project")
    flow = project / "flows" / "deactivate-client.yaml"
    swap(flow, "title: What deactivating {{ client.name }} means", "title: What deactivating {{ client.name }} on {{ now | format_date('long') }} means")
    swap(flow, "client notified: {{", "on {{ now | format_date('long') }}, {{ client.users | length | format_number(1) }} users; client notified: {{")
    swap(project / "templates" / "emails" / "deactivate-client.txt", "Your data is safe", "Since {{ now | format_date('full') }}, your data is safe")
    return project


def run(project: Path, *options: str, data: Path = DEMO) -> dict[str, Any]:
    args = ("simulate", "deactivate-client", "--project", project, "--data", data, "--actor", "alice@northwind.example", "--client", "c1", "--now", NOW)
    result = cli(*args, "--answer", "notify_client=true", "--format", "json", "--no-input", *options)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_screens_follow_the_actor_emails_their_recipient_and_the_audit_the_first_locale(dated: Path, tmp_path: Path) -> None:
    translated(dated, lambda source: "FR " + source)
    english, french = run(dated), run(dated, "--locale", "fr")
    assert english["screens"][1]["title"] == "What deactivating Acme Ltd on March 14, 2025 means"
    assert french["screens"][1]["title"] == "FR What deactivating Acme Ltd on 14 mars 2025 means"
    assert "on March 14, 2025, 2.0 users" in english["audit"]["summary"], english["audit"]
    assert french["audit"] == english["audit"]
    carla = "email: carla@acme.example, role: administrator"
    mixed = tmp_path / "mixed.yaml"
    demo = DEMO.read_text(encoding="utf-8").replace(carla, f"{carla}, locale: fr", 1)
    mixed.write_text(demo.replace("email: dev@acme.example, role: standard", "email: dev@acme.example, role: administrator", 1), encoding="utf-8")
    emails = {e["locale"]: e["text"] for e in run(dated, data=mixed)["emails"] if e["template"] == "deactivate-client"}
    assert "Since Friday, March 14, 2025, your data is safe" in emails["en"]
    assert "Since vendredi 14 mars 2025, your data is safe" in emails["fr"]


def test_a_misspelt_filter_in_a_project_is_reported_at_its_file_line_and_column(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    flow = project / "flows" / "deactivate-client.yaml"
    swap(flow, "title: What deactivating {{ client.name }} means", "title: What deactivating {{ client.name }} on {{ now | fromat_date }} means")
    result = cli("validate", "--project", project)
    assert result.exit_code == 1
    line = next(n for n, text in enumerate(flow.read_text(encoding="utf-8").splitlines(), 1) if "fromat_date" in text)
    (said,) = [x for x in result.output.splitlines() if "fromat_date" in x]
    assert said.startswith(f"flows/deactivate-client.yaml:{line}:") and "did you mean 'format_date'?" in said


def test_a_filter_given_what_the_data_schema_says_is_no_date_is_reported(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    flow = project / "flows" / "deactivate-client.yaml"
    swap(flow, "title: What deactivating {{ client.name }} means", "title: What deactivating {{ client.users | format_date }} means")
    result = cli("validate", "--project", project)
    assert result.exit_code == 1
    assert "format_date writes a date, and it is given a list of user" in result.output


def test_babel_is_imported_only_when_a_catalog_or_a_filter_is_used() -> None:
    script = f"""
import sys
from clientflow.conditions.program import load_project
from clientflow.language.code import Text
project = load_project({str(PROJECT)!r})
assert not any(m == "babel" or m.startswith("babel.") for m in sys.modules), "loaded at load"
text = Text("{{{{ when | format_date }}}}", None)
project.program.compile_template(text, {{"when"}})
assert "babel" not in sys.modules, "loaded when compiled"
print(project.program.render(text, {{"when": "2025-03-14"}}))
assert "babel" in sys.modules
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Mar 14, 2025"


def test_catalogs_are_read_once_per_process_not_per_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import babel.messages.pofile as pofile

    from clientflow.api import Engine

    project = copy_project(tmp_path / "project")
    po = translated(project, lambda source: "FR " + source)
    carla = "email: carla@acme.example, role: administrator"
    data = tmp_path / "french-carla.yaml"
    data.write_text(DEMO.read_text(encoding="utf-8").replace(carla, f"{carla}, locale: fr", 1), encoding="utf-8")
    reads: list[str] = []
    real = pofile.read_po

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(str(getattr(args[0], "name", args[0])))
        return real(*args, **kwargs)

    monkeypatch.setattr(pofile, "read_po", counted)

    def plans(engine: Engine) -> list[str]:
        french = engine.in_locale("fr")
        for _ in range(3):
            plan = french.simulate("deactivate-client", "alice@northwind.example", "c1", {"notify_client": True}).to_json()
            assert plan["screens"][0]["title"].startswith("FR ") and {e["locale"] for e in plan["emails"]} == {"en", "fr"}
            engine.simulate("deactivate-client", "alice@northwind.example", "c1", {"notify_client": True})
        return reads

    with Engine.open(project, data=data, notifiers={}) as engine:
        assert plans(engine) == [str(po)]  # screens and emails, three plans each: one read
    with Engine.open(project, data=data, notifiers={}) as engine:
        assert plans(engine) == [str(po)]  # the project loaded again in the same process: still that one read
    po.write_text(po.read_text(encoding="utf-8").replace('msgstr "FR Deactivate client"', 'msgstr "FR Désactiver le client"'), encoding="utf-8")
    with Engine.open(project, data=data, notifiers={}) as engine:
        assert plans(engine) == [str(po), str(po)]  # a catalog that changed is read again


def test_a_scenario_shows_the_screens_in_the_actors_locale(dated: Path) -> None:
    translated(dated, lambda source: "FR " + source)
    (dated / "data").mkdir(exist_ok=True)
    (dated / "data" / "demo.yaml").write_text(DEMO.read_text(encoding="utf-8"), encoding="utf-8")
    (dated / "scenarios").mkdir(exist_ok=True)
    (dated / "scenarios" / "french.yaml").write_text(
        """defaults:
  given:
    data: ../data/demo.yaml
    patch:
      - set: {user u1: {locale: fr}}
  flow: deactivate-client
  actor: u1
  client: c1
  now: 2025-03-14T09:26:53Z
scenarios:
  - name: a French administrator reads the banner in French, and the audit stays in English
    answers: {notify_client: false}
    expect:
      status: completed
      banner: "FR Acme Ltd's subscription has been deactivated"
""",
        encoding="utf-8",
    )
    result = cli("test", "--project", dated, dated / "scenarios" / "french.yaml")
    assert result.exit_code == 0, result.output
    (dated / "scenarios" / "french.yaml").write_text(
        (dated / "scenarios" / "french.yaml").read_text(encoding="utf-8").replace("user u1: {locale: fr}", "user u1: {locale: en}"), encoding="utf-8"
    )
    assert cli("test", "--project", dated, dated / "scenarios" / "french.yaml").exit_code == 1


def test_an_english_recipient_of_a_french_actors_run_reads_english_dates(dated: Path, tmp_path: Path) -> None:
    translated(dated, lambda source: "FR " + source)
    alice = "email: alice@northwind.example, role: administrator"
    data = tmp_path / "french-alice.yaml"
    data.write_text(DEMO.read_text(encoding="utf-8").replace(alice, f"{alice}, locale: fr", 1), encoding="utf-8")
    plan = run(dated, data=data)
    assert plan["screens"][1]["title"] == "FR What deactivating Acme Ltd on 14 mars 2025 means"  # the actor reads French
    (carla,) = [e for e in plan["emails"] if e["template"] == "deactivate-client"]
    assert carla["locale"] == "en" and "Since Friday, March 14, 2025, your data is safe" in carla["text"]
    assert "on March 14, 2025" in plan["audit"]["summary"]


@pytest.mark.parametrize("actor_reads", ["en", "fr"])
def test_an_email_names_the_flow_in_its_readers_language(dated: Path, tmp_path: Path, actor_reads: str) -> None:
    swap(dated / "templates" / "emails" / "deactivate-client.txt", "your data is safe", "({{ flow.title }}) your data is safe")
    translated(dated, lambda source: "FR " + source)
    demo = DEMO.read_text(encoding="utf-8")
    alice, carla = "email: alice@northwind.example, role: administrator", "email: carla@acme.example, role: administrator"
    demo = demo.replace(carla, f"{carla}, locale: fr", 1).replace(alice, f"{alice}, locale: {actor_reads}", 1)
    demo = demo.replace("email: dev@acme.example, role: standard", "email: dev@acme.example, role: administrator", 1)
    data = tmp_path / "mixed.yaml"
    data.write_text(demo, encoding="utf-8")
    emails = {e["locale"]: e["text"] for e in run(dated, data=data)["emails"] if e["template"] == "deactivate-client"}
    assert "(Deactivate client) your data is safe" in emails["en"]
    assert "(FR Deactivate client) your data is safe" in emails["fr"]


@pytest.mark.parametrize("name", sorted(FILTERS))
@pytest.mark.parametrize("locale", [None, "fr", "fr-CA"])
def test_none_writes_nothing_in_every_locale(name: str, locale: str | None) -> None:
    """A field the data may leave empty (the type check lets a nullable field through) does not stop the text."""
    with reading(Reader(locale)):
        assert FILTERS[name](None) == ""


def test_a_nullable_field_given_a_date_filter_passes_validate_and_the_run_shows_the_rest(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    flow = root / "flows" / "deactivate-client.yaml"
    text = flow.read_text(encoding="utf-8")
    banner = '  banner: "{{ client.name }}\'s subscription has been deactivated. You can reactivate it at any time."\n'
    assert banner in text
    flow.write_text(text.replace(banner, "  banner: \"{{ client.name }} deactivated.{{ client.owner | format_date('long') }}\"\n"), encoding="utf-8")
    assert cli("validate", "--project", root).exit_code == 0  # client.owner may be null: the data schema says so
    args = ("simulate", "deactivate-client", "--project", root, "--data", DEMO, "--actor", "alice@northwind.example", "--client", "c1")
    result = cli(*args, "--answer", "notify_client=false", "--format", "json", "--no-input")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["banners"] == ["Acme Ltd deactivated."]


def test_a_locale_with_a_region_reads_its_own_dates_and_its_languages_texts(dated: Path, tmp_path: Path) -> None:
    """fr-CA: the texts of the fr catalog (the project declares no fr-CA), the dates as fr-CA writes them; en-GB likewise."""
    swap(dated / "flows" / "deactivate-client.yaml", "format_date('long') }} means", "format_date('short') }} means")
    swap(dated / "templates" / "emails" / "deactivate-client.txt", "format_date('full')", "format_date('short')")
    translated(dated, lambda source: "FR " + source)
    titles = {tag: run(dated, "--locale", tag)["screens"][1]["title"] for tag in ("fr", "fr-CA", "fr-ca", "en-GB")}
    assert titles["fr"] == "FR What deactivating Acme Ltd on 14/03/2025 means"
    assert titles["fr-CA"] == titles["fr-ca"] == "FR What deactivating Acme Ltd on 2025-03-14 means"
    assert titles["en-GB"] == "What deactivating Acme Ltd on 14/03/2025 means"
    alice, carla = "email: alice@northwind.example, role: administrator", "email: carla@acme.example, role: administrator"
    data = tmp_path / "canadian.yaml"
    data.write_text(
        DEMO.read_text(encoding="utf-8").replace(alice, f"{alice}, locale: fr-CA", 1).replace(carla, f"{carla}, locale: fr-CA", 1), encoding="utf-8"
    )
    plan = run(dated, data=data)
    assert plan["screens"][1]["title"] == titles["fr-CA"]  # the actor's own locale
    (email,) = [e for e in plan["emails"] if e["template"] == "deactivate-client"]
    assert email["locale"] == "fr" and email["text"].startswith("FR ") and "Since 2025-03-14, your data is safe" in email["text"]  # fr texts
    assert "on March 14, 2025" in plan["audit"]["summary"]  # the audit line: the first locale


def test_the_api_reads_a_regions_dates_from_accept_language_and_the_locale_asked(dated: Path, tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from clientflow.tokens import mint
    from clientflow.web import WebSettings, create_app

    swap(dated / "flows" / "deactivate-client.yaml", "format_date('long') }} means", "format_date('short') }} means")
    translated(dated, lambda source: "FR " + source)
    secret = "K3vQ9xLm2ZpW7rTb5NcY8hJd4FsG6aUe1oXi0kVnR-w"
    settings = WebSettings(project=dated, data=DEMO, secret=secret, now=datetime.fromisoformat(NOW), outbox=tmp_path / "outbox")
    auth = {"Authorization": f"Bearer {mint(secret, 'u1', ttl=3600)}"}
    with TestClient(create_app(settings)) as client:

        def title(query: str = "", **headers: str) -> str:
            run = client.post(f"/flows/deactivate-client/runs{query}", json={"client": "c1"}, headers={**auth, **headers}).json()
            answered = client.post(f"/runs/{run['run']}/answers{query}", json={"answers": {}}, headers={**auth, **headers}).json()
            return str(answered["screen"]["title"])

        assert title(**{"Accept-Language": "fr-CA, fr;q=0.9"}) == "FR What deactivating Acme Ltd on 2025-03-14 means"
        assert title("?locale=fr") == "FR What deactivating Acme Ltd on 14/03/2025 means"
        assert title("?locale=fr-CA") == "FR What deactivating Acme Ltd on 2025-03-14 means"
        assert title() == "What deactivating Acme Ltd on 3/14/25 means"
