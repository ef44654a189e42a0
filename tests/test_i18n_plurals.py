"""Plurals (issue 18): `{% trans count=N %}one user{% pluralize %}{{ count }} users{% endtrans %}`.

A plural block is an entry of its own in the catalogs (msgid, msgid_plural, one msgstr per
CLDR form of the language), checked at its line in the `.po`, and rendered with the
reader's form; in the text around it, the block is kept as written, like a placeholder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po, write_po
from conftest import DEMO, copy_project
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup
from test_i18n import PO, cli, declare, edit, problems

from clientflow.conditions import limits
from clientflow.conditions import reader as reader_module
from clientflow.conditions.program import Program, load_project
from clientflow.conditions.reader import FREE_VALUES, Reader, plural_rule, reading
from clientflow.errors import CompileError, ExpressionError
from clientflow.language.catalogs import entries
from clientflow.language.code import Text

BLOCK = "{% trans count=client.users | length %}one user{% pluralize %}{{ count }} users{% endtrans %}"
CONTEXT = "rules/no-users/message"
FRENCH = ("{{ count }} utilisateur", "{{ count }} d'utilisateurs", "{{ count }} utilisateurs")  # CLDR: 0 and 1; millions; the rest


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The fixture project, its "2 user(s)" rule message written with a plural block."""
    root = copy_project(tmp_path / "project")
    rules = root / "flows" / "rules.yaml"
    text = rules.read_text(encoding="utf-8")
    old = "{{ client.name }} has {{ client.users | length }} user(s), so"
    assert old in text
    rules.write_text(text.replace(old, "{{ client.name }} has " + BLOCK + ", so", 1), encoding="utf-8")
    return root


def translate(project: Path, forms: tuple[str, ...] = FRENCH) -> Path:
    """Declare en and fr, extract, update; each text gets "FR " before it, each plural block `forms`."""
    declare(project, "en", "fr")
    assert cli("i18n", "extract", "--project", project).exit_code == 0
    assert cli("i18n", "update", "--project", project).exit_code == 0
    po = project / PO
    with po.open("rb") as given:
        catalog = read_po(given)
    for message in catalog:
        if message.id:
            message.string = forms if isinstance(message.id, tuple) else "FR " + message.id
    with po.open("wb") as out:
        write_po(out, catalog, width=0)
    return po


def reasons(project: Path, data: Path = DEMO, *options: str) -> list[str]:
    args = ("available", "--project", project, "--data", data, "--actor", "alice@northwind.example", "--client", "c1", "--format", "json", *options)
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return [r["message"] for f in json.loads(result.stdout)["flows"] for r in f["reasons"] if r["rule"] == "no-users"]


def test_a_plural_block_is_an_entry_with_msgid_and_msgid_plural(project: Path) -> None:
    (entry,) = [e for e in entries(load_project(project)) if e.plural is not None]
    assert (entry.context, entry.text.source, entry.plural) == (f"{CONTEXT}/plural/0", "one user", "{{ count }} users")
    po = translate(project)
    with (project / "locales" / "clientflow.pot").open("rb") as given:
        template = {m.context: m for m in read_po(given) if m.id}
    assert template[f"{CONTEXT}/plural/0"].id == ("one user", "{{ count }} users")
    assert template[f"{CONTEXT}/plural/0"].locations == template[CONTEXT].locations  # the line the text is written at
    assert BLOCK in template[CONTEXT].id  # the text keeps its block, which the translator keeps as written
    text = po.read_text(encoding="utf-8")
    assert 'msgid_plural "{{ count }} users"\nmsgstr[0] "{{ count }} utilisateur"\nmsgstr[1]' in text and "msgstr[2]" in text  # three French forms
    checked = cli("i18n", "check", "--project", project)
    assert checked.exit_code == 0, checked.output


def users(tmp_path: Path, count: int) -> Path:
    """The demo data with the business c1 holding `count` users."""
    data = load_data(DEMO)
    acme = next(c for c in data["clients"] if c["id"] == "c1")
    first = acme["users"][0]
    acme["users"] = [{**first, "id": f"x{n}", "email": f"x{n}@acme.example"} for n in range(count)]
    path = tmp_path / f"users-{count}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def load_data(path: Path) -> dict[str, Any]:
    from clientflow.language.yamlfile import load_data_text

    data, _ = load_data_text(path.read_text(encoding="utf-8"), str(path))
    return dict(data)


@pytest.mark.parametrize(("count", "english", "french"), [(1, "has one user,", "1 utilisateur,"), (2, "has 2 users,", "2 utilisateurs,")])
def test_each_reader_gets_the_form_their_language_gives_the_count(project: Path, tmp_path: Path, count: int, english: str, french: str) -> None:
    translate(project)
    data = users(tmp_path, count)
    (said,) = reasons(project, data)
    (dit,) = reasons(project, data, "--locale", "fr")
    assert english in said and said.startswith("Acme Ltd has")
    assert dit.startswith("FR Acme Ltd has") and french in dit


@pytest.mark.parametrize(("count", "form"), [(0, 0), (1, 0), (2, 2), (17, 2), (1_000_000, 1), (2_000_000, 1), (1_000_001, 2)])
def test_the_form_follows_the_locales_cldr_rule(count: int, form: int) -> None:
    program = Program()
    text = Text("{% trans count=n %}one{% pluralize %}{{ count }} many{% endtrans %}", None)
    program.compile_template(text, {"n"})
    assert program.template(text).localized
    forms = ("%(count)s un", "%(count)s de", "%(count)s des")
    program.reader = Reader("fr", {("one", "%(count)s many"): forms}, plural_rule("fr"))
    assert program.render(text, {"n": count}) == forms[form] % {"count": count}
    program.reader = Reader("en")  # the template's own forms: English says one only for 1
    assert program.render(text, {"n": count}) == ("one" if count == 1 else f"{count} many")
    program.reader = Reader("fr")  # a text written in French: its form for one serves 0 and 1, as CLDR says
    assert program.render(text, {"n": count}) == ("one" if count in (0, 1) else f"{count} many")


def test_the_values_of_a_plural_block_are_escaped_in_html_and_measured() -> None:
    program = Program()
    text = Text("<p>{% trans count=n, name=who %}{{ name }} has one{% pluralize %}{{ name }} has {{ count }}{% endtrans %}</p>", None, html=True)
    program.compile_template(text, {"n", "who"})
    assert program.render(text, {"n": 2, "who": "<b>Smith & Sons</b>"}) == "<p>&lt;b&gt;Smith &amp; Sons&lt;/b&gt; has 2</p>"
    with pytest.raises(ExpressionError):
        program.render(text, {"n": 2, "who": ["x" * 1000] * 1000})
    for count in ("2", None, 1.5, True):
        with pytest.raises(ExpressionError) as caught:
            program.render(text, {"n": count, "who": "x"})
        assert "whole number" in str(caught.value)


@given(count=st.one_of(st.integers(), st.floats(), st.text(max_size=5), st.none(), st.lists(st.integers(), max_size=3)), value=st.text(max_size=50))
def test_whatever_a_plural_block_is_given_it_writes_text_or_says_why(count: Any, value: str) -> None:
    program = Program()
    text = Text("{% trans count=n, v=v %}{{ v }} one{% pluralize %}{{ v }} {{ count }}{% endtrans %}", None)
    program.compile_template(text, {"n", "v"})
    program.reader = Reader("pl", {("%(v)s one", "%(v)s %(count)s"): ("%(v)s a", "%(v)s b %(count)s", "%(v)s c %(count)s")}, plural_rule("pl"))
    try:
        out = program.render(text, {"n": count, "v": value})
    except ExpressionError:
        return
    assert out.startswith(value)


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("{% trans %}hello{% endtrans %}", "a {% trans %} block here is a plural"),
        ('{% trans "ctx" count=n %}one{% pluralize %}many{% endtrans %}', "a {% trans %} block here is a plural"),
        ("{% trans count=n %}{{ client.name }} one{% pluralize %}many{% endtrans %}", "inside {% trans %}, a {{ }} holds one name"),
        ("{% trans count=n %}{{ nobody }} one{% pluralize %}many{% endtrans %}", "unknown name 'nobody'"),
        ("{% trans count=n %}one{% pluralize %}{% if n %}many{% endif %}{% endtrans %}", "control structures in translatable sections are not allowed"),
    ],
)
def test_a_plural_block_written_wrong_is_refused_when_it_compiles(source: str, said: str) -> None:
    with pytest.raises(CompileError) as caught:
        Program().compile_template(Text(source, None), {"n", "client"})
    assert said in str(caught.value)


def test_a_plural_block_written_wrong_in_a_flow_is_reported_where_it_is(project: Path) -> None:
    rules = project / "flows" / "rules.yaml"
    rules.write_text(rules.read_text(encoding="utf-8").replace(BLOCK, "{% trans %}some users{% endtrans %}", 1), encoding="utf-8")
    result = cli("validate", "--project", project)
    assert result.exit_code == 1
    line = next(n for n, text in enumerate(rules.read_text(encoding="utf-8").splitlines(), 1) if "{% trans %}" in text)
    (said,) = [x for x in result.output.splitlines() if "{% trans %}" in x]
    assert said.startswith("flows/rules.yaml:") and int(said.split(":")[1]) in (line - 1, line)  # a folded text is located at its `>-`


def form_line(po: Path, index: int) -> int:
    lines = po.read_text(encoding="utf-8").splitlines()
    at = lines.index(f'msgctxt "{CONTEXT}/plural/0"')
    return next(n for n in range(at, len(lines)) if lines[n].startswith(f"msgstr[{index}]")) + 1


@pytest.mark.parametrize(
    ("form", "said"),
    [
        ('"des utilisateurs"', "it leaves out {{ count }}"),  # 21 or 0 people would read "des utilisateurs" with no number
        ('"{{ nombre }} utilisateurs"', "the source has no {{ nombre }}"),
        ('"{{ count | upper }} utilisateurs"', "a plural form holds words and the block's {{ name }}s only"),
        ('""', "not translated into fr yet"),
    ],
)
def test_a_translated_form_whose_placeholders_differ_is_reported_at_its_line(project: Path, form: str, said: str) -> None:
    po = translate(project)
    line = form_line(po, 1)
    lines = po.read_text(encoding="utf-8").splitlines()
    lines[line - 1] = f"msgstr[1] {form}"
    po.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for command in ("i18n check", "validate"):
        result = cli(*command.split(), "--project", project)
        assert result.exit_code == 1, result.output
        (problem,) = problems(result)
        assert said in problem and f"{CONTEXT}/plural/0" in problem
        assert problem.startswith(f"{PO}:{line}:")
    (english,) = reasons(project)
    (french,) = reasons(project, DEMO, "--locale", "fr")  # a form that is not ready: the block as written
    assert french == "FR " + english


def test_a_plural_without_as_many_forms_as_the_language_is_reported(project: Path) -> None:
    po = translate(project)
    line = form_line(po, 2)
    lines = po.read_text(encoding="utf-8").splitlines()
    del lines[line - 1]
    po.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("i18n", "check", "--project", project)
    assert result.exit_code == 1
    (problem,) = problems(result)
    assert "2 plural forms, but fr has 3 (CLDR); write msgstr[0] to msgstr[2]" in problem
    assert lines[int(problem.split(":")[1]) - 1].startswith(("msgid", "msgctxt"))


def test_a_translation_that_changes_its_block_is_reported(project: Path) -> None:
    po = translate(project)

    def change(lines: list[str], at: int) -> None:
        lines[at] = lines[at].replace("one user{% pluralize %}", "un utilisateur{% pluralize %}")

    line = edit(po, CONTEXT, change)
    result = cli("i18n", "check", "--project", project)
    assert result.exit_code == 1
    (problem,) = problems(result)
    assert problem.startswith(f"{PO}:{line}:") and "blocks differ from the source's" in problem


def test_a_changed_plural_form_in_the_source_makes_the_translation_stale(project: Path) -> None:
    translate(project)
    rules = project / "flows" / "rules.yaml"
    rules.write_text(rules.read_text(encoding="utf-8").replace("{{ count }} users{% endtrans %}", "{{ count }} people{% endtrans %}", 1), encoding="utf-8")
    result = cli("i18n", "check", "--project", project)
    assert result.exit_code == 1 and f"{CONTEXT}/plural/0" in result.output
    assert cli("i18n", "extract", "--project", project).exit_code == 0
    updated = cli("i18n", "update", "--project", project)
    assert "fuzzy" in updated.output
    po = (project / PO).read_text(encoding="utf-8")
    assert 'msgid_plural "{{ count }} people"' in po


@pytest.mark.parametrize(
    ("count", "refused"),
    [("actor.roles | length", None), ("client.users | length", "may not show client.users"), ("1, who=client.owner", "may not show client.owner")],
)
def test_a_reach_message_with_a_plural_block_shows_an_outsider_only_what_it_may(count: str, refused: str | None) -> None:
    program = Program()
    source = f"{{% trans count={count} %}}one{{% pluralize %}}{{{{ count }}}} things{{% endtrans %}} about {{{{ client.name }}}}"
    program.compile_template(Text(source, None), {"actor", "client"})
    problem = program.refusal_problem(source, "client", ["id", "name"], ["actor", "product"])
    assert problem is None if refused is None else refused in str(problem)


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ('{{ ngettext("%(x)s" * 20000, "b", 1, x=big) }}', "over the limit"),  # a value repeated: measured as it is built
        ('{{ ngettext("%d", "b", 1) }}', "a plural form holds % only as written"),
        ('{{ ngettext("%(nobody)s", "b", 1) }}', "which its block does not give"),
    ],
)
def test_a_plural_called_by_hand_is_bounded_like_a_block(source: str, said: str) -> None:
    program = Program()
    text = Text(source, None)
    program.compile_template(text, {"big"})
    with pytest.raises(ExpressionError) as caught:
        program.render(text, {"big": "x" * 150_000})
    assert said in str(caught.value)


# a plural block of a plain text filled in without a budget (reader.plural_block, free=True) ---------------------
_BIG = "x" * limits.MAX_OUTPUT  # the longest value a block takes
_VALUES = st.one_of(
    st.text("ab<&'\" %", max_size=8), st.integers(), st.sampled_from([_BIG, _BIG + "y", "<b>&", Markup("<i>"), 10**30, -(10**18), 2.0, None, True, [1, "a"]])
)
_FORM_PARTS = st.one_of(st.sampled_from(["one ", " <&> ", "%(v0)s", "%(v1)s", "%(count)s"]), st.sampled_from(["%%", "%", "%(gone)s", "%(v0)d", "%(v0)"]))
_READERS = [Reader(None), Reader("en"), Reader("fr"), Reader("pl", {}, plural_rule("pl"))]


def _outcome(block: Any, reader: Reader, count: Any, values: list[Any]) -> tuple[str, str]:
    limits.fresh()
    with reading(reader):
        try:
            out = block(count, *values)
        except ExpressionError as exc:
            return ("error", str(exc))
    return (type(out).__name__, str(out))


def _given(block: Any, reader: Reader, count: Any, values: list[Any]) -> tuple[str, str]:
    """`_outcome`, the reader given to the block (`block.reading`) rather than set: and left unset after it."""
    limits.fresh()
    assert reader_module.READER.get() is None
    try:
        out = block.reading(reader, count, *values)
    except ExpressionError as exc:
        return ("error", str(exc))
    finally:
        assert reader_module.READER.get() is None
    return (type(out).__name__, str(out))


@settings(max_examples=300)
@given(
    count=st.one_of(st.integers(), st.sampled_from([1, 0, 2, 10**18, 1.0, 2.5, "2", None, True])),
    values=st.lists(_VALUES, max_size=FREE_VALUES - 1),
    counts=st.lists(st.booleans(), min_size=FREE_VALUES - 1, max_size=FREE_VALUES - 1),
    singular=st.lists(_FORM_PARTS, max_size=4).map("".join),
    plural=st.lists(_FORM_PARTS, max_size=4).map("".join),
    html=st.booleans(),
    reader=st.sampled_from(_READERS),
    translated=st.booleans(),
)
def test_a_plural_block_filled_without_a_budget_writes_what_ngettext_writes(
    count: Any, values: list[Any], counts: list[bool], singular: str, plural: str, html: bool, reader: Reader, translated: bool
) -> None:
    """Same text (and type), or the same error, for any count, values and forms; and the budget ngettext keeps never runs out."""
    keys = ("count", *(f"v{i}" for i in range(len(values))))
    given_ = (False, *(not same for same in counts[: len(values)]))  # a value that is not given is the count
    passed = [v for v, own in zip(values, given_[1:], strict=True) if own]
    if translated:
        reader = Reader("pl", {(singular, plural): (singular + "a", plural + "b", "%(count)s c")}, plural_rule("pl"))
    free = reader_module.plural_block(singular, plural, keys, given_, html=html, free=True)
    counted = reader_module.plural_block(singular, plural, keys, given_, html=html, free=False)
    assert _outcome(free, reader, count, passed) == _outcome(counted, reader, count, passed)
    assert _given(free, reader, count, passed) == _outcome(counted, reader, count, passed)
    limits.fresh()
    with reading(reader):
        try:
            counted(count, *passed)
        except ExpressionError as exc:
            assert "in all" not in str(exc) and "seconds" not in str(exc)  # never the budget: FREE_VALUES values cannot run it out


def test_the_most_a_free_plural_block_can_be_given_stays_within_the_budget() -> None:
    """FREE_VALUES values, each the costliest a value may be, counted as ngettext counts them, leave the budget above nothing."""
    costliest = ["x" * (limits.MAX_OUTPUT - 6)]  # not a text (printed, then counted twice), printed as long as a value may be
    assert limits.text_size(costliest, limits.MAX_OUTPUT) <= limits.MAX_OUTPUT
    keys = tuple(f"v{i}" for i in range(FREE_VALUES))
    counted = reader_module.plural_block("%(v0)s", "%(v0)s", keys, (True,) * FREE_VALUES, html=False, free=False)
    limits.fresh()
    assert counted(2, *[costliest] * FREE_VALUES) == str(costliest)
    assert limits._state.budget is not None and limits._state.budget.left >= 0
    over = reader_module.plural_block("%(v0)s", "%(v0)s", (*keys, "w"), (True,) * (FREE_VALUES + 1), html=False, free=False)
    limits.fresh()
    with pytest.raises(ExpressionError, match="in all"):  # one more would: the bound is tight
        over(2, *[costliest] * (FREE_VALUES + 1))


def test_a_text_with_more_plural_values_than_the_free_bound_counts_them() -> None:
    program = Program()
    names = ", ".join(f"v{i}=n" for i in range(FREE_VALUES))
    text = Text(f"{{% trans count=n, {names} %}}one{{% pluralize %}}{{{{ count }}}} many{{% endtrans %}}", None)
    program.compile_template(text, {"n"})
    free = program.template(text).fast
    assert free is not None and "counted" in repr(free.__globals__["_plural0"])
    short = Text("{% trans count=n %}one{% pluralize %}{{ count }} many{% endtrans %}", None)
    program.compile_template(short, {"n"})
    assert "block" in repr(program.template(short).fast.__globals__["_plural0"])


@settings(max_examples=100)
@given(
    asked=st.lists(st.tuples(st.sampled_from(range(len(_READERS) + 1)), st.one_of(st.integers(-3, 40), st.sampled_from([10**18, 2.0, "2"]))), max_size=80),
    singular=st.lists(_FORM_PARTS, max_size=3).map("".join),
    plural=st.lists(_FORM_PARTS, max_size=3).map("".join),
    html=st.booleans(),
)
def test_a_plural_block_asked_again_writes_each_time_what_ngettext_writes(asked: list[tuple[int, Any]], singular: str, plural: str, html: bool) -> None:
    """The usual block (`count=` alone) keeps its texts for the last reader by count: asked again, by any reader in turn, the same text."""
    readers = [*_READERS, Reader("pl", {(singular, plural): (singular + "a", plural + "b", "%(count)s c")}, plural_rule("pl"))]
    free = reader_module.plural_block(singular, plural, ("count",), (False,), html=html, free=True)
    counted = reader_module.plural_block(singular, plural, ("count",), (False,), html=html, free=False)
    for which, count in asked:
        assert _outcome(free, readers[which], count, []) == _outcome(counted, readers[which], count, [])
        assert _given(free, readers[which], count, []) == _outcome(counted, readers[which], count, [])  # its kept texts too


@pytest.mark.parametrize("count", [2, 10**19, 2.5])
def test_a_texts_only_plural_block_starts_its_budget_itself(count: Any) -> None:
    """A plain text whose one free plural block is all it spends starts no budget (its block does, should it spend):
    rendered after an evaluation that spent the whole budget, the same text as in a fresh one, or the same refusal."""
    program = Program()
    text = Text("{{ name }} has {% trans count=n %}one user{% pluralize %}{{ count }} users{% endtrans %}", None)
    program.compile_template(text, {"n", "name"})
    fast = program.template(text).fast
    assert fast is not None and "_fresh()" not in program.template(text).python
    outcomes = []
    for spent in (False, True):
        limits.fresh()
        if spent:
            with pytest.raises(ExpressionError, match="in all"):
                limits.spend(limits.MAX_BUILT + 1)
        try:
            outcomes.append(fast({"n": count, "name": "Acme"}))
        except ExpressionError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0] == (
        f"Acme has {count} users" if isinstance(count, int) else "the count of a plural block is a whole number (such as users | length); not float"
    )
