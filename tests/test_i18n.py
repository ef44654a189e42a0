"""Translations (issue 18): locales in the project, catalogs extracted and merged, checked like code.

Each test works on a copy of the fixture project, with `locales:` and the catalogs written by the test.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, unescape, write_po
from click.testing import CliRunner, Result
from conftest import DEMO, NOW, PROJECT, copy_project
from hypothesis import given
from hypothesis import strategies as st

from clientflow.cli import cli as main
from clientflow.conditions.program import load_project
from clientflow.conditions.translations import translator
from clientflow.errors import CompileError, DefinitionError
from clientflow.language.catalogs import placeholder_problem
from clientflow.language.code import Text
from clientflow.language.model import codes
from clientflow.language.yamlfile import load_data_text
from clientflow.runtime.data import check_data


def declare(root: Path, *locales: str) -> None:
    """Add `locales:` to the copy's project file, just after data_schema."""
    path = root / "flows" / "project.yaml"
    text = path.read_text(encoding="utf-8")
    listed = ", ".join(locales)
    path.write_text(text.replace("data_schema: schema/data.schema.json\n", f"data_schema: schema/data.schema.json\nlocales: [{listed}]\n", 1), encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


def test_a_project_declares_its_locales_the_first_is_the_source_language(project: Path) -> None:
    assert load_project(project).locales == ()
    declare(project, "en", "fr", "fr-CA")
    assert load_project(project).locales == ("en", "fr", "fr-CA")


@pytest.mark.parametrize("bad", ["french", "f", "fr_CA", "''"])
def test_a_locale_that_is_no_language_tag_is_refused_where_it_is_written(project: Path, bad: str) -> None:
    declare(project, "en", bad)
    with pytest.raises(DefinitionError) as caught:
        load_project(project)
    (problem,) = caught.value.problems
    text = (project / "flows" / "project.yaml").read_text(encoding="utf-8").splitlines()
    assert problem.location.path == "flows/project.yaml"
    assert text[problem.location.line - 1].startswith("locales:")


def test_a_user_may_carry_a_locale_in_the_data_file(project: Path) -> None:
    loaded = load_project(project)
    demo = DEMO.read_text(encoding="utf-8")
    user = "email: alice@northwind.example, role: administrator"
    assert user in demo
    data, positions = load_data_text(demo.replace(user, f"{user}, locale: fr-CA", 1), "data/demo.yaml")
    check_data(loaded, data, positions, "data/demo.yaml")
    broken = demo.replace(user, f"{user}, locale: French", 1)
    data, positions = load_data_text(broken, "data/demo.yaml")
    with pytest.raises(DefinitionError) as caught:
        check_data(loaded, data, positions, "data/demo.yaml")
    line = next(number for number, text in enumerate(broken.splitlines(), 1) if "locale: French" in text)
    assert [p.location.line for p in caught.value.problems] == [line]


# -- catalogs: extract and update -----------------------------------------------------------


def cli(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def read(path: Path) -> Catalog:
    with path.open("rb") as given:
        return read_po(given)


def entries_of(catalog: Catalog) -> dict[str | None, Message]:
    return {m.context: m for m in catalog if m.id}


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


def test_extract_writes_every_text_with_its_place_and_its_line(project: Path) -> None:
    loaded = load_project(project)
    result = cli("i18n", "extract", "--project", project)
    assert result.exit_code == 0, result.output
    template = read(project / "locales" / "clientflow.pot")
    found = entries_of(template)
    texts = [code for code in codes(loaded) if isinstance(code, Text) and code.source.strip()]
    words = {word for flow in loaded.flows.values() for word in (flow.title, flow.summary)}  # where flows are listed
    assert {m.id for m in found.values()} == {t.source for t in texts} | words
    for flow in loaded.flows.values():
        line = line_of(project / "flows" / f"{flow.id}.yaml", "title: ")
        assert found[f"{flow.id}/title"].id == flow.title
        assert found[f"{flow.id}/title"].locations == [(f"flows/{flow.id}.yaml", line)]
    flow = loaded.flows["deactivate-client"]
    step = flow.steps[0]
    title = found[f"deactivate-client/steps/{step.id}/title"]
    assert title.id == step.title.source
    assert title.locations == [("flows/deactivate-client.yaml", line_of(project / "flows" / "deactivate-client.yaml", step.title.source))]
    for name, email in loaded.emails.items():
        assert found[f"email/{name}/subject"].id == email.subject.source
        assert found[f"email/{name}/text"].locations == [(f"templates/emails/{name}.txt", email.text.location.line if email.text.location else 0)]
        if email.html is not None:
            assert found[f"email/{name}/html"].id == email.html.source
    for rule in loaded.reach:
        assert found[f"reach/{rule.name}/message"].id == rule.message.source
    again = cli("i18n", "extract", "--project", project)
    assert "unchanged" in again.output and "unchanged" not in result.output


def test_update_adds_new_texts_marks_changed_ones_fuzzy_and_keeps_gone_ones_obsolete(project: Path) -> None:
    declare(project, "en", "fr")
    assert cli("i18n", "extract", "--project", project).exit_code == 0
    result = cli("i18n", "update", "--project", project)
    assert result.exit_code == 0, result.output
    po = project / "locales" / "fr" / "LC_MESSAGES" / "clientflow.po"
    catalog = read(po)
    assert catalog.locale is not None and str(catalog.locale) == "fr"
    assert all(not m.string for m in catalog if m.id)
    assert not (project / "locales" / "en").exists()  # the flows are written in the first locale
    for message in catalog:  # a translator's work
        if message.id:
            message.string = "FR " + str(message.id)
    with po.open("wb") as out:
        write_po(out, catalog)
    loaded = load_project(project)
    step = loaded.flows["deactivate-client"].steps[0]
    assert step.body is not None and "\n" not in step.body.source
    flow_file = project / "flows" / "deactivate-client.yaml"
    text = flow_file.read_text(encoding="utf-8")
    changed = text.replace(f"title: {step.title.source}\n", "title: Something else entirely, written anew\n", 1)
    changed = changed.replace(f"    body: {step.body.source}\n", "", 1)  # a text that is gone
    assert changed.count("\n") == text.count("\n") - 1
    flow_file.write_text(changed, encoding="utf-8")
    result = cli("i18n", "extract", "--project", project)
    assert result.exit_code == 0, result.output
    assert cli("i18n", "update", "--project", project).exit_code == 0
    merged = entries_of(read(po))
    title = merged[f"deactivate-client/steps/{step.id}/title"]
    assert title.id == "Something else entirely, written anew"
    assert title.fuzzy and title.string == "FR " + step.title.source
    lines = po.read_text(encoding="utf-8").splitlines()
    at = lines.index(f'msgctxt "deactivate-client/steps/{step.id}/title"')
    assert lines[at - 1] == f'#| msgid "{step.title.source}"'  # what it was translated from (Babel does not read it back)
    others = [m for c, m in merged.items() if c != title.context]
    assert others and all(not m.fuzzy and m.string == "FR " + str(m.id) for m in others)
    gone = read(po).obsolete
    assert [(m.context, m.string) for m in gone.values()] == [(f"deactivate-client/steps/{step.id}/body", "FR " + step.body.source)]


def test_a_new_place_of_a_text_translated_elsewhere_starts_from_that_translation_not_a_near_one(project: Path) -> None:
    # a stranger's: the old button "Deactivate" became "Continue", and a new step's button says "Deactivate"; Babel's
    # guess for it was the translation of "Reactivate" (a near text), though "Deactivate" itself was translated
    declare(project, "en", "fr")
    assert cli("i18n", "extract", "--project", project).exit_code == 0
    assert cli("i18n", "update", "--project", project).exit_code == 0
    po, pot = project / "locales" / "fr" / "LC_MESSAGES" / "clientflow.po", project / "locales" / "clientflow.pot"
    translated, template = read(po), read(pot)
    for context, source, words in (("x/a/next", "Deactivate", "Désactiver"), ("x/b/next", "Reactivate", "Réactiver")):
        translated.add(source, words, context=context)
        template.add(source, context=context)
    for catalog, path in ((translated, po), (template, pot)):
        with path.open("wb") as out:
            write_po(out, catalog)
    template.delete("Deactivate", context="x/a/next")
    template.add("Continue", context="x/a/next")  # changed in place
    template.add("Deactivate", context="x/c/next")  # the same text at a new place
    with pot.open("wb") as out:
        write_po(out, template)
    assert cli("i18n", "update", "--project", project).exit_code == 0
    merged = entries_of(read(po))
    assert (merged["x/c/next"].string, merged["x/c/next"].fuzzy) == ("Désactiver", True)
    assert (merged["x/a/next"].id, merged["x/a/next"].string, merged["x/a/next"].fuzzy) == ("Continue", "Désactiver", True)
    assert (merged["x/b/next"].string, merged["x/b/next"].fuzzy) == ("Réactiver", False)
    lines = po.read_text(encoding="utf-8").splitlines()
    assert lines[lines.index('msgctxt "x/c/next"') - 1] == '#| msgid "Deactivate"'  # what it starts from, shown


# -- checked like code ----------------------------------------------------------------------


PO = "locales/fr/LC_MESSAGES/clientflow.po"


def translated(project: Path, translate: Callable[[str], str] = lambda source: "FR " + source) -> Path:
    """Declare en and fr, extract, update, and translate every entry (keeping its placeholders)."""
    declare(project, "en", "fr")
    assert cli("i18n", "extract", "--project", project).exit_code == 0
    assert cli("i18n", "update", "--project", project).exit_code == 0
    po = project / PO
    catalog = read(po)
    for message in catalog:
        if message.id:
            message.string = translate(str(message.id))
    with po.open("wb") as out:
        write_po(out, catalog, width=0)
    return po


def edit(po: Path, context: str, change: Callable[[list[str], int], None]) -> int:
    """Change the entry of `context` in place; returns the line of its msgstr."""
    lines = po.read_text(encoding="utf-8").splitlines()
    at = lines.index(f'msgctxt "{context}"')
    msgstr = next(n for n in range(at, len(lines)) if lines[n].startswith("msgstr"))
    change(lines, msgstr)
    po.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return msgstr + 1


def problems(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith(PO) and ": warning: " not in line]


def test_a_fully_translated_catalog_passes_check_and_validate(project: Path) -> None:
    translated(project)
    checked = cli("i18n", "check", "--project", project)
    assert checked.exit_code == 0, checked.output
    validated = cli("validate", "--project", project)
    assert validated.exit_code == 0, validated.output


def test_an_emptied_msgstr_fails_validate_at_its_line_in_the_catalog(project: Path) -> None:
    po = translated(project)
    context = "deactivate-client/steps/survey/title"

    def empty(lines: list[str], at: int) -> None:
        lines[at] = 'msgstr ""'

    line = edit(po, context, empty)
    for command in ("validate", "i18n check"):
        result = cli(*command.split(), "--project", project)
        assert result.exit_code == 1, result.output
        assert [p.split(": ")[0] for p in problems(result)] == [f"{PO}:{line}:1"]
        assert context in problems(result)[0]


def unclosed(lines: list[str], at: int) -> None:
    lines[at] = lines[at].removesuffix('"')  # the translator's closing quote lost


def msgid_deleted(lines: list[str], at: int) -> None:
    del lines[at - 1]  # the msgid line above the msgstr, deleted by mistake


@pytest.mark.parametrize(
    ("change", "line_shift", "col", "message"),
    [
        (unclosed, 0, 8, 'this text has no closing "; end it with " on the same line'),
        (msgid_deleted, -1, 1, "a msgstr with no msgid before it; put back the msgid line of the text it translates"),
    ],
    ids=["unclosed-quote", "msgid-deleted"],
)
def test_a_catalog_line_babel_would_misread_is_located_and_update_writes_nothing(
    project: Path, change: Callable[[list[str], int], None], line_shift: int, col: int, message: str
) -> None:
    # Babel reads both without complaint: the text one character short, or the msgstr as the next entry's translation
    po = translated(project)
    line = edit(po, "deactivate-client/steps/explain/title", change) + line_shift
    for command in ("validate", "i18n check"):
        result = cli(*command.split(), "--project", project)
        assert result.exit_code == 1, result.output
        assert [p.split(": ", 1)[0] for p in problems(result)] == [f"{PO}:{line}:{col}"], result.output
        assert message in problems(result)[0]
    before = po.read_bytes()
    updated = cli("i18n", "update", "--project", project)
    assert updated.exit_code == 1, updated.output
    assert f"{PO}:{line}:{col}: {message}" in updated.output and "Traceback" not in updated.output
    assert po.read_bytes() == before  # merged, the damage would be written back: nothing is written


def test_a_fuzzy_translation_is_not_ready(project: Path) -> None:
    po = translated(project)
    context = "deactivate-client/steps/explain/title"

    def fuzzy(lines: list[str], at: int) -> None:
        lines.insert(lines.index(f'msgctxt "{context}"'), "#, fuzzy")

    edit(po, context, fuzzy)
    result = cli("i18n", "check", "--project", project)
    assert result.exit_code == 1
    (problem,) = problems(result)
    lines = po.read_text(encoding="utf-8").splitlines()
    assert lines[int(problem.split(":")[1]) - 1].startswith("msgid") and context in problem


@pytest.mark.parametrize(
    ("context", "translation"),
    [
        ("deactivate-client/steps/explain/title", "Ce que signifie la désactivation de {{ client.nom }}"),  # a placeholder renamed
        ("deactivate-client/steps/explain/title", "Ce que signifie la désactivation"),  # a placeholder dropped
        ("deactivate-client/steps/explain/title", "Désactiver {{ client.name }} {% if %}"),  # does not parse
        ("deactivate-client/steps/explain/title", "Désactiver {{ client.name }}{% if actor.name %}!{% endif %}"),  # a name the source does not read
        ("deactivate-client/steps/explain/title", "Désactiver {{ client.name }}{% if client.nmae %}!{% endif %}"),  # a field the data schema lacks
    ],
)
def test_a_broken_translation_is_reported_at_its_msgstr(project: Path, context: str, translation: str) -> None:
    po = translated(project)

    def write(lines: list[str], at: int) -> None:
        lines[at] = f'msgstr "{translation}"'

    line = edit(po, context, write)
    result = cli("i18n", "check", "--project", project)
    assert result.exit_code == 1, result.output
    (problem,) = problems(result)
    assert problem.startswith(f"{PO}:{line}:") and context in problem
    assert cli("validate", "--project", project).exit_code == 1


def test_obsolete_entries_are_warnings_and_validate_still_passes(project: Path) -> None:
    with (project / "flows" / "project.yaml").open("a", encoding="utf-8") as out:  # its buttons named: no other warning
        out.write("buttons: {next: Continue, back: Back, cancel: Cancel}\n")
    po = translated(project)
    with po.open("a", encoding="utf-8") as out:
        out.write('\n#~ msgctxt "gone/steps/old/title"\n#~ msgid "An old title"\n#~ msgstr "Un ancien titre"\n')
    line = po.read_text(encoding="utf-8").splitlines().index('#~ msgctxt "gone/steps/old/title"') + 1
    result = cli("validate", "--project", project)
    assert result.exit_code == 0, result.output
    warned = [w for w in result.stderr.splitlines() if w.startswith(PO)]
    assert len(warned) == 1 and "gone/steps/old/title" in warned[0]
    assert int(warned[0].split(":")[1]) in (line, line + 1)
    assert "1 warning: obsolete catalog entries" in result.stdout


def test_a_plural_count_other_than_the_locales_cldr_rule_is_reported(project: Path) -> None:
    from babel.messages.plurals import get_plural

    po = translated(project)
    forms = get_plural("fr").num_plurals
    text = po.read_text(encoding="utf-8")
    header = next(line for line in text.splitlines() if "Plural-Forms:" in line)
    plural = '\nmsgctxt "x/users"\nmsgid "one user"\nmsgid_plural "{{ n }} users"\n' + "".join(
        f'msgstr[{i}] "{{{{ n }}}} utilisateurs"\n' for i in range(forms)
    )
    po.write_text(text + plural, encoding="utf-8")
    assert cli("i18n", "check", "--project", project).exit_code == 0  # the count matches CLDR: the entry is only unused
    po.write_text((text + plural).replace(f"nplurals={forms};", f"nplurals={forms + 1};"), encoding="utf-8")
    result = cli("i18n", "check", "--project", project)
    assert result.exit_code == 1
    line = po.read_text(encoding="utf-8").splitlines().index(header.replace(f"nplurals={forms};", f"nplurals={forms + 1};")) + 1
    assert [p.split(": ")[0] for p in problems(result)] == [f"{PO}:{line}:1"]


NAMES = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), min_size=1, max_size=5, unique=True)


@given(names=NAMES, order=st.randoms(use_true_random=False), words=st.lists(st.sampled_from(["le", "la", "de", "et", "à", ":", ""]), min_size=6, max_size=6))
def test_placeholders_may_move_but_not_go_or_change(names: list[str], order: random.Random, words: list[str]) -> None:
    source = "Text " + " and ".join(f"{{{{ actor.{name} }}}}" for name in names)
    moved = list(names)
    order.shuffle(moved)
    translation = " ".join(f"{words[i % len(words)]} {{{{actor.{name}}}}}" for i, name in enumerate(moved))
    assert placeholder_problem(source, translation) is None
    dropped = " ".join(f"{{{{ actor.{name} }}}}" for name in moved[1:])
    assert placeholder_problem(source, dropped) is not None
    renamed = translation.replace(f"actor.{moved[0]}}}", f"actor.{moved[0]}x}}", 1)
    assert placeholder_problem(source, renamed) is not None


# -- rendering in a locale ------------------------------------------------------------------


def simulate(project: Path, *options: str) -> tuple[Result, dict[str, Any]]:
    args = ("simulate", "deactivate-client", "--project", project, "--data", DEMO, "--actor", "alice@northwind.example", "--client", "c1")
    result = cli(*args, "--answer", "notify_client=true", "--format", "json", "--no-input", *options)
    return result, json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}


def test_simulate_shows_the_screens_in_the_locale_asked_for_with_fallback(project: Path) -> None:
    translated(project, lambda source: "FR " + source)
    _, source = simulate(project)
    titles = [screen["title"] for screen in source["screens"]]
    assert titles and not any(title.startswith("FR ") for title in titles)
    for tag in ("fr", "fr-CA", "FR"):
        result, french = simulate(project, "--locale", tag)
        assert result.exit_code == 0, result.output
        assert [screen["title"] for screen in french["screens"]] == ["FR " + title for title in titles]
        assert french["audit"] == source["audit"]  # the audit line stays in the first locale
        assert french["emails"] == source["emails"]  # an email follows its recipient, not the actor
    _, english = simulate(project, "--locale", "en")
    assert english["screens"] == source["screens"]


def test_a_translation_not_ready_shows_the_text_as_written(project: Path) -> None:
    po = translated(project, lambda source: "FR " + source)
    context = "deactivate-client/steps/survey/title"

    def fuzzy(lines: list[str], at: int) -> None:
        lines.insert(lines.index(f'msgctxt "{context}"'), "#, fuzzy")

    edit(po, context, fuzzy)
    _, source = simulate(project)
    _, french = simulate(project, "--locale", "fr")
    assert french["screens"][0]["title"] == source["screens"][0]["title"]
    assert french["screens"][1]["title"] == "FR " + source["screens"][1]["title"]


def test_a_locale_the_project_does_not_declare_is_refused(project: Path) -> None:
    translated(project)
    result, _ = simulate(project, "--locale", "de")
    assert result.exit_code == 1
    assert "'de'" in result.output and "Traceback" not in result.output
    # two letters from 'en' is no near miss: the declared locales are listed instead
    assert "did you mean" not in result.output and "expected one of 'en', 'fr'" in result.output
    result, _ = simulate(project, "--locale", "fr_FR")
    assert result.exit_code == 1
    assert "unknown locale 'fr_FR'; did you mean 'fr'?" in result.output


def test_each_email_is_rendered_in_its_recipients_locale(project: Path, tmp_path: Path) -> None:
    translated(project, lambda source: "FR " + source)
    demo = DEMO.read_text(encoding="utf-8")
    carla, dev = "email: carla@acme.example, role: administrator", "email: dev@acme.example, role: administrator"
    assert carla in demo
    mixed = demo.replace(carla, f"{carla}, locale: fr-CA", 1).replace("email: dev@acme.example, role: standard", dev, 1)
    data = tmp_path / "mixed.yaml"
    data.write_text(mixed, encoding="utf-8")
    args = ("simulate", "deactivate-client", "--project", project, "--data", data, "--actor", "alice@northwind.example", "--client", "c1")
    result = cli(*args, "--answer", "notify_client=true", "--format", "json", "--no-input")
    assert result.exit_code == 0, result.output
    emails = {(e["template"], e["locale"]): e for e in json.loads(result.stdout)["emails"]}
    french, english = emails[("deactivate-client", "fr")], emails[("deactivate-client", "en")]
    assert french["to"] == ["carla@acme.example"] and english["to"] == ["dev@acme.example"]  # a mixed business: each reads their own
    assert french["subject"] == "FR " + english["subject"] and french["text"] == "FR " + english["text"]
    assert emails[("deactivate-practice", "en")]["to"] == ["alice@northwind.example"]
    assert len(emails) == 3


def test_the_screens_follow_the_actors_own_locale_unless_one_is_asked_for(project: Path, tmp_path: Path) -> None:
    translated(project, lambda source: "FR " + source)
    alice = "email: alice@northwind.example, role: administrator"
    data = tmp_path / "french-alice.yaml"
    data.write_text(DEMO.read_text(encoding="utf-8").replace(alice, f"{alice}, locale: fr", 1), encoding="utf-8")
    args = ("simulate", "deactivate-client", "--project", project, "--actor", "alice@northwind.example", "--client", "c1", "--format", "json", "--no-input")
    english = json.loads(cli(*args, "--data", DEMO).stdout)
    french = json.loads(cli(*args, "--data", data).stdout)
    asked = json.loads(cli(*args, "--data", data, "--locale", "en").stdout)
    titles = [s["title"] for s in english["screens"]]
    assert [s["title"] for s in french["screens"]] == ["FR " + t for t in titles]
    assert [s["title"] for s in asked["screens"]] == titles


def test_available_gives_the_reasons_and_the_flows_titles_in_the_locale(project: Path) -> None:
    translated(project, lambda source: "FR " + source)
    args = ("available", "--project", project, "--data", DEMO, "--actor", "sam@northwind.example", "--client", "c1", "--format", "json")
    english, french = json.loads(cli(*args).stdout), json.loads(cli(*args, "--locale", "fr").stdout)
    reasons = [r["message"] for f in english["flows"] for r in f["reasons"]]
    assert reasons and [r["message"] for f in french["flows"] for r in f["reasons"]] == ["FR " + message for message in reasons]
    assert [f["title"] for f in french["flows"]] == ["FR " + f["title"] for f in english["flows"]]
    assert [f["flow"] for f in french["flows"]] == [f["flow"] for f in english["flows"]]


def test_available_answers_in_the_locale_chosen_from_the_actors_record(project: Path) -> None:
    from clientflow.api import Engine

    translated(project, lambda source: "FR " + source)
    engine = Engine.open(project, data=DEMO, now=NOW)
    seen: list[dict[str, Any]] = []

    def choose(locale: str | None) -> Callable[[dict[str, Any]], str | None]:
        def chooser(actor: dict[str, Any]) -> str | None:
            seen.append(actor)
            return locale

        return chooser

    english = engine.available("sam@northwind.example", "c1").to_json()
    french = engine.available("sam@northwind.example", "c1", locale=choose("fr")).to_json()
    kept = engine.available("sam@northwind.example", "c1", locale=choose(None)).to_json()
    assert [a.get("email") for a in seen] == ["sam@northwind.example"] * 2  # the actor's record, as the question read it
    assert french == engine.in_locale("fr").available("sam@northwind.example", "c1").to_json() != english
    assert kept == english


# -- the HTTP API ---------------------------------------------------------------------------


def test_the_api_shows_the_actors_locale_then_accept_language(project: Path, tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from clientflow.tokens import mint
    from clientflow.web import WebSettings, create_app

    translated(project, lambda source: "FR " + source)
    secret = "K3vQ9xLm2ZpW7rTb5NcY8hJd4FsG6aUe1oXi0kVnR-w"
    sam = "email: sam@northwind.example, role: standard"
    data = tmp_path / "french-sam.yaml"
    data.write_text(DEMO.read_text(encoding="utf-8").replace(sam, f"{sam}, locale: fr-CA", 1), encoding="utf-8")
    settings = WebSettings(project=project, data=data, secret=secret, now=NOW, outbox=tmp_path / "outbox")

    def title(client: TestClient, actor: str, **headers: str) -> str:
        auth = {"Authorization": f"Bearer {mint(secret, actor, ttl=3600)}", **headers}
        response = client.post("/flows/deactivate-client/runs", json={"client": "c1"}, headers=auth)
        assert response.status_code == 201, response.text
        return str(response.json()["screen"]["title"])

    def reasons(client: TestClient, actor: str, **headers: str) -> list[str]:
        auth = {"Authorization": f"Bearer {mint(secret, actor, ttl=3600)}", **headers}
        response = client.get("/availability", params={"client": "c1"}, headers=auth)
        assert response.status_code == 200, response.text
        return [r["message"] for f in response.json()["flows"] for r in f["reasons"]]

    with TestClient(create_app(settings)) as client:
        source = title(client, "u1")
        assert not source.startswith("FR ")
        assert title(client, "u1", **{"Accept-Language": "de-DE, fr;q=0.8, en;q=0.5"}) == "FR " + source
        assert title(client, "u1", **{"Accept-Language": "en, fr;q=0.9"}) == source
        listed = client.get("/flows", headers={"Authorization": f"Bearer {mint(secret, 'u2', ttl=3600)}"}).json()["flows"]
        assert listed and all(f["title"].startswith("FR ") and f["summary"].startswith("FR ") for f in listed)
        english = reasons(client, "u1")
        own = reasons(client, "u2", **{"Accept-Language": "en"})  # the actor's own locale comes first
        assert own and all(message.startswith("FR ") for message in own)
        assert english != own
        assert reasons(client, "u1", **{"Accept-Language": "fr"}) == ["FR " + message for message in english]  # then Accept-Language
        assert reasons(client, "u1", **{"Accept-Language": "de"}) == english
        asked = client.get("/availability", params={"client": "c1", "locale": "en"}, headers={"Authorization": f"Bearer {mint(secret, 'u2', ttl=3600)}"})
        assert [r["message"] for f in asked.json()["flows"] for r in f["reasons"]] == [m.removeprefix("FR ") for m in own]  # asked: first


def test_demo_shows_the_flows_in_the_locale(project: Path) -> None:
    translated(project, lambda source: "FR " + source)
    english, french = cli("demo", "--project", project, "--data", DEMO), cli("demo", "--project", project, "--data", DEMO, "--locale", "fr")
    assert english.exit_code == 0 and french.exit_code == 0, french.output
    loaded = load_project(project)
    for flow in loaded.flows.values():
        assert f"FR {flow.title}" in french.output and f"FR {flow.title}" not in english.output
    # the commands to copy show what the demo showed: in French too
    suggested = [line.strip() for line in french.output.splitlines() if line.strip().startswith(("$ clientflow", "clientflow"))]
    locale_verbs = [line for line in suggested if line.split()[1 + line.startswith("$")] in ("available", "simulate", "run")]
    assert locale_verbs and all(" --locale fr" in line for line in locale_verbs), suggested
    assert not any("--locale" in line for line in english.output.splitlines())


def test_what_is_not_ready_is_said_where_it_can_be_fixed(project: Path) -> None:
    result = cli("i18n", "update", "--project", project)  # no locales declared
    assert result.exit_code == 1 and "flows/project.yaml" in result.output and "locales:" in result.output
    po = translated(project)
    text = po.read_text(encoding="utf-8")
    po.unlink()
    missing = cli("i18n", "check", "--project", project)
    assert missing.exit_code == 1 and missing.output.startswith(f"{PO}: ")
    lines = text.splitlines()
    at = next(n for n, x in enumerate(lines) if x.startswith('msgstr "FR '))
    lines[at] = "a line no gettext tool writes"
    po.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("validate", "--project", project)
    assert result.exit_code == 1
    assert [p.split(": ")[0] for p in problems(result)] == [f"{PO}:{at + 1}:1"], result.output
    po.write_bytes(b"#" * (9 * 1024 * 1024))
    result = cli("i18n", "check", "--project", project)
    assert result.exit_code == 1 and [p.split(": ")[0] for p in problems(result)] == [PO] and "MiB" in result.output
    simulated, _ = simulate(project, "--locale", "fr")  # a catalog that cannot be used shows the texts as written
    assert simulated.exit_code == 0, simulated.output


FIXTURE = load_project(PROJECT)  # the tests' project, loaded once (read only)
SOURCE = FIXTURE.flows["deactivate-client"].steps[1].title  # "What deactivating {{ client.name }} means": reads client only
OTHER_NAMES = sorted((FIXTURE.names | {"lookup"}) - {"client"})
TEMPLATE_WORDS = {"true", "false", "none", "True", "False", "None", "range", "ngettext", "caller", "varargs", "kwargs"}  # no data: constants and Jinja's own


@given(
    name=st.one_of(
        st.sampled_from(OTHER_NAMES), st.from_regex(r"[A-Za-z_][a-z0-9_]{0,10}", fullmatch=True).filter(lambda n: n != "client" and n not in TEMPLATE_WORDS)
    )
)
def test_a_translation_can_read_nothing_its_source_does_not(name: str) -> None:
    """A translator's text is compiled with its source's names only: it cannot show the actor, the partner or any other data."""
    translate = translator(FIXTURE)
    assert translate(SOURCE, Text("Ce que signifie {{ client.name }}", SOURCE.location)).unknown == ()
    with pytest.raises(CompileError):
        translate(SOURCE, Text(f"{{% if {name} %}}!{{% endif %}}Ce que signifie {{{{ client.name }}}}", SOURCE.location))


def test_approve_and_approvals_answer_in_the_deciding_actors_locale(tmp_path: Path) -> None:
    # the command line's approve showed its plan (banner, undo) as written to a French approver; the API answered in French
    from approval_support import APPROVER, STARTER, SUBJECT, approval_project

    root = approval_project(tmp_path / "project")
    translated(root, lambda source: "FR " + source)
    data = root / "data" / "demo.yaml"
    bea = "email: bea@northwind.example, role: administrator"
    data.write_text(data.read_text(encoding="utf-8").replace(bea, f"{bea}, locale: fr", 1), encoding="utf-8")
    db = tmp_path / "cf.db"
    common = ("--project", root, "--db", db, "--now", NOW)
    assert cli("init", "--project", root, "--db", db, "--data", data).exit_code == 0
    started = json.loads(cli("run", "deactivate-client", *common, "--actor", STARTER, "--client", SUBJECT, "--yes", "--format", "json").stdout)
    assert started["status"] == "awaiting_approval" and not started["banners"][0].startswith("FR ")  # alice reads the flows as written
    listed = json.loads(cli("approvals", *common, "--actor", APPROVER, "--format", "json").stdout)["approvals"]
    assert [item["title"] for item in listed] == ["FR Deactivate client"]
    asked = json.loads(cli("approvals", *common, "--actor", APPROVER, "--format", "json", "--locale", "en").stdout)["approvals"]
    assert [item["title"] for item in asked] == ["Deactivate client"]
    done = cli("approve", started["run"], *common, "--actor", APPROVER, "--format", "json")
    plan = json.loads(done.stdout)
    assert plan["status"] == "completed", done.output
    assert plan["banners"] and all(text.startswith("FR ") for text in plan["banners"])
    assert plan["undo"].startswith("FR ")


def test_a_changed_multi_line_text_keeps_its_previous_source_as_gettext_writes_it_until_reviewed(project: Path) -> None:
    # Babel wrote a multi-line previous source as one wrapped comment (msgfmt: "end-of-line within string"),
    # read it back as a translator comment and wrote it as `# | msgid ...` for good, even once reviewed
    po = translated(project)
    flow = project / "flows" / "delete-client.yaml"
    text = flow.read_text(encoding="utf-8")
    flow.write_text(text.replace("so it cannot be\n", "so it can not be\n", 1), encoding="utf-8")
    context = "delete-client/steps/warning/body"
    old = next(str(m.id) for m in read(po) if m.context == context)
    assert "\n" in old and "can not" not in old

    def previous_lines() -> list[str]:
        lines = po.read_text(encoding="utf-8").splitlines()
        at = lines.index(f'msgctxt "{context}"')
        start = at
        while lines[start - 1].startswith("#|"):
            start -= 1
        return lines[start:at]

    for _ in range(2):  # merged once, then again while it is still to review: the same lines each time
        assert cli("i18n", "extract", "--project", project).exit_code == 0
        assert cli("i18n", "update", "--project", project).exit_code == 0
        shown = previous_lines()
        assert shown[0] == '#| msgid ""' and all(line.startswith('#| "') and line.endswith('"') for line in shown[1:]), shown
        assert "".join(unescape(line[3:]) for line in shown[1:]) == old
        assert "# |" not in po.read_text(encoding="utf-8")
        assert entries_of(read(po))[context].fuzzy
    if shutil.which("msgfmt"):
        checked = subprocess.run(["msgfmt", "-c", "-o", os.devnull, str(po)], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stderr
    catalog = read(po)  # the translator reviews it
    entries_of(catalog)[context].flags.discard("fuzzy")
    with po.open("wb") as out:
        write_po(out, catalog, width=0)
    assert cli("i18n", "update", "--project", project).exit_code == 0
    written = po.read_text(encoding="utf-8")
    assert "#|" not in written and "# |" not in written


def test_the_buttons_a_step_leaves_out_are_the_projects_own_texts_translated_like_the_others(project: Path) -> None:
    # a French screen showed the engine's English "Back" (and Continue, Cancel) wherever its step named no such button
    result = cli("simulate", "reactivate-client", "--project", project, "--data", DEMO, "--actor", "u1", "--client", "c3", "--format", "json", "--no-input")
    assert [s["buttons"]["back"] for s in json.loads(result.stdout)["screens"]] == ["Back"]  # no `buttons:`: the engine's word
    path = project / "flows" / "project.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(
            "data_schema: schema/data.schema.json\n", 'data_schema: schema/data.schema.json\nbuttons: {back: Go back, cancel: "Stop, {{ actor.name }}"}\n', 1
        ),
        encoding="utf-8",
    )
    translated(project, lambda source: "FR " + source)
    contexts = {m.context: str(m.id) for m in read(project / PO) if m.id}
    assert contexts["buttons/back"] == "Go back" and contexts["buttons/cancel"] == "Stop, {{ actor.name }}" and "buttons/next" not in contexts
    args = ("simulate", "reactivate-client", "--project", project, "--data", DEMO, "--actor", "u1", "--client", "c3", "--format", "json", "--no-input")
    english = json.loads(cli(*args).stdout)["screens"][0]["buttons"]
    french = json.loads(cli(*args, "--locale", "fr").stdout)["screens"][0]["buttons"]
    assert english == {"next": "Reactivate", "cancel": "Cancel", "back": "Go back"}  # the step's own cancel wins
    assert french == {"next": "FR Reactivate", "cancel": "FR Cancel", "back": "FR Go back"}
    broken = text.replace("data_schema: schema/data.schema.json\n", "data_schema: schema/data.schema.json\nbuttons: {back: '{{ nobody.name }}'}\n", 1)
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(DefinitionError) as raised:
        load_project(project)
    assert any(str(p).startswith("flows/project.yaml:") and "buttons.back" in str(p) and "nobody" in str(p) for p in raised.value.problems), (
        raised.value.problems
    )


def test_check_without_languages_to_translate_into_says_so(project: Path) -> None:
    # it said "translated into none besides the source language"
    result = cli("i18n", "check", "--project", project)
    assert result.exit_code == 0, result.output
    assert "no language to translate them into" in result.output and "locales: [en, fr]" in result.output
    assert "translated into" not in result.output
