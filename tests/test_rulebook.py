"""The availability hot path (engine/runtime/rulebook.py) answers exactly what Engine.available answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import DEMO, PROJECT
from hypothesis import given, settings
from hypothesis import strategies as st

from clientflow import Engine


def _everyone(data: dict) -> tuple[list[str], list[str]]:
    actors = [u["id"] for group in ("partners", "clients") for record in data[group] for u in record["users"]]
    actors += [u["email"] for record in data["partners"] for u in record["users"]]
    subjects = [c["id"] for c in data["clients"]] + [c["name"] for c in data["clients"]]
    return actors, subjects


def test_the_checker_equals_available_for_every_actor_and_subject() -> None:
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    engine = Engine.open(PROJECT, data=DEMO)
    checker = engine.checker(data)
    actors, subjects = _everyone(data)
    compared = 0
    for actor in actors:
        for subject in subjects:
            assert checker(actor, subject) == engine.available(actor, subject).to_json()["flows"], (actor, subject)
            compared += 1
    assert compared == len(actors) * len(subjects) > 100


def test_the_checker_without_data_reads_the_storage_once() -> None:
    engine = Engine.open(PROJECT, data=DEMO)
    assert engine.checker()("u2", "c1") == engine.available("u2", "c1").to_json()["flows"]


def test_a_rule_that_cannot_be_checked_is_refused_the_same_way_on_both_paths(project_copy: Path) -> None:
    rules = project_copy / "flows" / "rules.yaml"
    text = rules.read_text(encoding="utf-8")
    rules.write_text(text.replace("if: client.billing == 'partner'", "if: lookup('nowhere', client.id) is none"), encoding="utf-8")
    engine = Engine.open(project_copy, data=DEMO)
    slow = engine.available("u1", "c1").to_json()["flows"]
    fast = engine.checker()("u1", "c1")
    assert fast == slow
    reasons = [r for f in slow for r in f["reasons"] if r["rule"] == "paid-by-practice"]
    assert reasons and all("could not be checked" in r["message"] and "unknown entity 'nowhere'" in r["message"] for r in reasons)


def _eager_verdicts(engine: Engine, actor: str, subject: str) -> list[list]:
    """Every flow's verdicts as the rulebook lists them at once (its dict entries), from the same records."""
    from clientflow.runtime.context import resolve
    from clientflow.runtime.data import Records

    runner = engine.runner
    with engine.storage.transaction() as tx:
        records = Records(engine.project, tx)
        scope = runner.scopes.question(resolve(engine.project, records, actor, subject), engine.clock.now, records)
        return [entry["verdicts"] for entry in runner.rulebook(verdicts=True).evaluate(scope, subject)]


def test_available_lists_every_rules_verdict_when_first_read_as_the_rulebook_lists_them_at_once() -> None:
    import pickle

    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    engine = Engine.open(PROJECT, data=DEMO)
    actors, subjects = _everyone(data)
    failed_shared = 0
    for actor in actors:
        for subject in subjects:
            eager = _eager_verdicts(engine, actor, subject)
            answer = engine.available(actor, subject)
            copied = pickle.loads(pickle.dumps(answer))  # pickling reads `rules` as any reader does
            assert [flow.rules for flow in answer.flows] == eager == [flow.rules for flow in copied.flows], (actor, subject)
            assert copied == answer and repr(copied) == repr(answer)
            made: dict[str, object] = {}  # a failed rule's verdict is one object, shared by every flow it guards (as at once)
            for flow in answer.flows:
                for verdict in flow.rules:
                    if not verdict.passed and not answer.outside_reach:
                        assert made.setdefault(verdict.rule, verdict) is verdict
                        failed_shared += 1
            assert all(flow.rules is flow.rules for flow in answer.flows)  # made once, then the flow's own
    assert failed_shared > 100


def test_a_flows_rules_may_be_replaced_before_they_are_read() -> None:
    engine = Engine.open(PROJECT, data=DEMO)
    flow = engine.available("u1", "c1").flows[0]
    flow.rules = []
    assert flow.rules == [] and flow.to_json()["flow"] == flow.flow
    other = engine.available("u1", "c1").flows[0]
    del other.rules  # as with a plain slot: gone once deleted
    try:
        other.rules  # noqa: B018
    except AttributeError as exc:
        assert "rules" in str(exc)
    else:
        raise AssertionError("a deleted `rules` is still read")


def test_context_names_computed_before_their_first_read_answer_as_when_the_read_computes_them(project_copy: Path) -> None:
    """The rulebook computes a data-only context name just before the rule or message that first reads it; one that fails
    is left to that read. The answers, verdicts and messages are those of the same scope with nothing computed early."""
    from clientflow.conditions.lazy import LazyScope
    from clientflow.runtime.context import resolve
    from clientflow.runtime.data import Records

    class Unhinted(LazyScope):  # not a LazyScope itself: the rulebook computes nothing early for it
        __slots__ = ()

    project = project_copy / "flows" / "project.yaml"
    text = project.read_text(encoding="utf-8")
    added = "  partner: lookup('partner', client.partner)\n  first_user: client.users[0].id\n  later_partner: partner.name if partner else none\n"
    project.write_text(text.replace("  partner: lookup('partner', client.partner)\n", added), encoding="utf-8")
    rules = project_copy / "flows" / "rules.yaml"
    written = rules.read_text(encoding="utf-8")
    written = written.replace("if: client.billing == 'partner'", "if: first_user is not none and client.billing == 'partner'")
    written = written.replace("if: client.billing == 'self_paying'", "if: later_partner is none or client.billing == 'self_paying'")
    rules.write_text(written, encoding="utf-8")
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    engine = Engine.open(project_copy, data=DEMO)
    runner = engine.runner
    early = 0
    for verdicts in (False, True):
        book = runner.rulebook(verdicts=verdicts)
        actors, subjects = _everyone(data)
        for actor in actors:
            for subject in subjects:
                with engine.storage.transaction() as tx:
                    records = Records(engine.project, tx)
                    scope = runner.scopes.question(resolve(engine.project, records, actor, subject), engine.clock.now, records)
                    plain = Unhinted(dict(scope), scope.later, scope.source)
                    want = book.evaluate(plain, subject)
                    got = book.evaluate(scope, subject)
                assert [{k: v for k, v in e.items() if k != "verdicts"} for e in got] == [{k: v for k, v in e.items() if k != "verdicts"} for e in want]
                if verdicts:
                    assert [e["verdicts"] for e in got] == [e["verdicts"] for e in want], (actor, subject)
                computed = {name: (scope[name], plain[name]) for name in ("partner", "first_user", "later_partner") if name in scope and name in plain}
                assert all(a == b for a, b in computed.values()), (actor, subject, computed)  # the same values, computed early or not
                early += "first_user" in computed
    broken = [r for f in engine.available("u1", "c2").flows for r in f.rules if r.broken]  # c2 has no users: first_user fails
    assert broken and all("first_user" in (r.message or "") for r in broken)
    assert early > 50


def test_messages_written_into_the_rule_function_read_as_their_own_functions(monkeypatch: object) -> None:
    """A plain text's lines written into the rule function give its text, or its error's message, as its own function does."""
    import copy

    import pytest

    from clientflow.runtime import rulebook

    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    inlined = Engine.open(PROJECT, data=DEMO)
    book = inlined.runner.rulebook()
    assert len(book.inlined) >= 5
    assert "_h0 = s['client']['name']" in book._loose_source  # the name the messages print, read once (`_hoist`)
    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setattr(rulebook, "_inline", lambda *_: None)
    called = Engine.open(PROJECT, data=DEMO)
    assert not called.runner.rulebook().inlined
    actors, _ = _everyone(data)
    compared = unwritten = 0
    absent = object()  # a client without a name: each message reads it again, and fails as its function fails
    for name in ("Acme Ltd", 12345, 1.5, None, ["a", "b"], {"x": 1}, "<b>&'\"{}", "x" * 200_001, absent):
        changed = copy.deepcopy(data)
        for client in changed["clients"]:
            client["name"] = name
            if name is absent:
                del client["name"]
        fast, slow = inlined.checker(changed), called.checker(changed)
        for actor in actors:
            for subject in ("c1", "c2", "c5", "c7"):
                got = fast(actor, subject)
                assert got == slow(actor, subject), (name, actor, subject)
                compared += 1
                unwritten += sum("could not be written" in r["message"] for f in got for r in f["reasons"])
    assert compared > 100 and unwritten > 10  # the name too long to print: each message's error, as its function gives it


def test_the_checker_finds_by_any_key_or_refuses_as_available_does() -> None:
    """The checker's one look-up per party (Snapshot.named) finds what `find` finds by each key in turn, or names the same unknown."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from clientflow.errors import UnknownName

    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    engine = Engine.open(PROJECT, data=DEMO)
    checker = engine.checker(data)
    actors, subjects = _everyone(data)
    words = st.sampled_from([*actors, *subjects, "c1 ", "C1", "", "nobody@example.com"]) | st.text(max_size=6)

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(words, words)
    def check(actor: str, subject: str) -> None:
        try:
            want = engine.available(actor, subject).to_json()["flows"]
        except UnknownName as exc:
            try:
                checker(actor, subject)
            except UnknownName as got:
                assert str(got) == str(exc)
                return
            raise AssertionError(f"the checker found {actor!r} and {subject!r}") from None
        assert checker(actor, subject) == want

    check()
    snapshot = checker.snapshot
    for entity, keys in ((engine.project.actor_entity, engine.project.actor_match), (engine.project.subject_entity, engine.project.subject_match)):
        named = snapshot.named(entity, tuple(keys))
        assert named and all(named[word] is snapshot.find(entity, word, keys) for word in named)


def test_a_scope_without_a_name_every_question_holds_is_answered_reading_the_scope_where_each_rule_reads_it() -> None:
    """The rule function reads the actor, its holders and the subject into locals once; a scope lacking one is checked as before."""
    from clientflow.runtime.context import resolve
    from clientflow.runtime.data import Records

    engine = Engine.open(PROJECT, data=DEMO)
    runner = engine.runner
    book = runner.rulebook()
    with engine.storage.transaction() as tx:
        records = Records(engine.project, tx)
        scope = runner.scopes.question(resolve(engine.project, records, "u1", "c1"), engine.clock.now, records)
        whole = book.evaluate(scope, "c1")
        del scope["actor"]
        lacking = book.evaluate(scope, "c1")
    assert whole != lacking
    broken = [r["message"] for f in lacking for r in f["reasons"] if "could not be checked" in r["message"]]
    assert broken and all("there is no 'actor' here" in message for message in broken)


def test_reads_made_local_are_only_the_scopes_own() -> None:
    from clientflow.runtime.rulebook import _localized

    lines = ["    x = s['client']['name'] + \"s['client']\" + t.s['client'] + s['other']", "    y = s [ 'client' ]"]
    made = _localized(lines, ["client"])
    assert made is not None
    assert made[0] == ["    x = _q0['name'] + \"s['client']\" + t.s['client'] + s['other']", "    y = _q0"]
    assert made[1] == {"client": "_q0"}
    assert _localized(["    s['client'] = 1"], ["client"]) is None
    assert _localized(["    _q0 = s['client']"], ["client"]) is None


def test_reads_are_found_as_the_tokenizer_finds_them() -> None:
    """`_reads` (one pattern over the lines) finds the same `s[...]` reads as Python's tokenizer, on hypothesis-made
    sources that the tokenizer reads: strings and comments that hold look-alikes, attributes, spaces, prefixes, operators."""
    import tokenize

    from hypothesis import assume, given, settings
    from hypothesis import strategies as st

    from clientflow.runtime.rulebook import _SCANNED, _localized, _reads, _tokenized_reads

    taken = []  # the sources _reads read itself (the others, a read after a `.`, it leaves to tokenize)

    keys = st.sampled_from(["'client'", '"client"', "'actor'", "u'client'", "b'client'", "r'client'", "f'client'", "'cli\\'ent'", "'é'", "'client' 'x'"])
    spaces = st.sampled_from(["", " ", "  ", "\t"])
    afters = st.sampled_from(["", " = 1", "= 1", " == 1", " != 1", " <= 1", " >= 1", " += 1", " <<= 1", " >>= 1", " **= 1", " //= 1", " := 1",
                              " < 1", " ** 1", " * = 1", "[0]", ".x", " # note", " # x =", "  # a == b", " if x else y", " -> 1"])  # fmt: skip

    @st.composite
    def read(draw: st.DrawFn) -> str:
        before = draw(st.sampled_from(["", "x.", "x. ", "... ", "...", "1.", "1. ", "x..", "(", "[", "1 + ", "not ", "f(", "xs", "_", "é"]))
        opened = before.count("(") + before.count("[")
        core = f"s{draw(spaces)}[{draw(spaces)}{draw(keys)}{draw(spaces)}]"
        return before + core + draw(afters) + ")" * before.count("(") + "]" * before.count("[") * (opened > 0)

    fragments = st.one_of(
        read(),
        st.sampled_from(["'s[\\'client\\']'", "\"s['client']\"", "# s['client'] = 1", "f's[{x}]'", "rb's['", "'.'", "x = 1", "s", "s[x]", "..."]),
        st.text(alphabet="s[]'\" .=#\\é_xa1(){}", max_size=12),
    )
    line = st.lists(fragments, min_size=1, max_size=4).map(lambda parts: "    " + " ".join(parts))

    @settings(max_examples=600, deadline=None, derandomize=True)
    @given(st.lists(line, min_size=1, max_size=4))
    def check(lines: list[str]) -> None:
        source = "\n".join(lines) + "\n"
        assume(_SCANNED.search(source) is None)
        try:
            want = _tokenized_reads(source)
        except (tokenize.TokenError, IndentationError, SyntaxError):
            assume(False)
            return
        found = _reads(source)
        assert found in (want, None)
        taken.append(found is not None)
        _localized(lines, ["client", "actor"])  # and the rewrite reads them without failing

    check()
    assert sum(taken) > len(taken) / 2


def test_a_message_naming_its_flow_names_each_flow_and_the_scope_ends_on_the_last(project_copy: Path) -> None:
    """`flow` is written only before the flows that read it (and the last): each message still names its own flow."""
    from clientflow.runtime.context import resolve
    from clientflow.runtime.data import Records

    rules = project_copy / "flows" / "rules.yaml"
    text = rules.read_text(encoding="utf-8")
    rules.write_text(text.replace("give you administrator access.", "give you administrator access ({{ flow.id }})."), encoding="utf-8")
    engine = Engine.open(project_copy, data=DEMO)
    answer = engine.checker()("u2", "c1")
    assert answer == engine.available("u2", "c1").to_json()["flows"]
    named = [(f["flow"], r["message"]) for f in answer for r in f["reasons"] if r["rule"] == "practice-administrator"]
    assert len(named) >= 4 and all(message.endswith(f"({flow}).") for flow, message in named)
    with engine.storage.transaction() as tx:
        records = Records(engine.project, tx)
        scope = engine.runner.scopes.question(resolve(engine.project, records, "u1", "c1"), engine.clock.now, records)
        engine.runner.rulebook().evaluate(scope, "c1")
    assert scope["flow"] == list(engine.project.flows.values())[-1].reference


def test_a_reach_refusal_is_written_once_for_every_flow_unless_it_names_the_flow(project_copy: Path) -> None:
    """Outside reach, every flow holds the one refusal (its reason and verdict made once, shared); one naming `flow` names each flow."""
    engine = Engine.open(PROJECT, data=DEMO)
    answer = engine.available("u3", "c1")
    assert answer.outside_reach and len(answer.flows) > 2
    first = answer.flows[0]
    for flow in answer.flows:
        assert flow.reasons == first.reasons and len(flow.reasons) == 1 and type(flow.reasons) is list, flow
        assert flow.rules == first.rules and flow.rules[0].message == flow.reasons[0]["message"] and not flow.rules[0].passed
    assert answer.to_json()["flows"] == engine.checker()("u3", "c1")

    project = project_copy / "flows" / "project.yaml"
    text = project.read_text(encoding="utf-8")
    assert "Ask the practice that holds it, or the business itself." in text
    project.write_text(text.replace("Ask the practice that holds it, or the business itself.", "({{ flow.id }})"), encoding="utf-8")
    named = Engine.open(project_copy, data=DEMO)
    answer = named.available("u3", "c1")
    assert answer.outside_reach
    for flow in answer.flows:
        assert flow.reasons[0]["message"].endswith(f"({flow.flow})") and flow.rules[0].message == flow.reasons[0]["message"], flow
    assert answer.to_json()["flows"] == named.checker()("u3", "c1")


def test_a_questions_scope_is_the_lazy_scope_its_constructor_makes() -> None:
    """Scopes.asked makes its LazyScope without calling __init__: the same names, `later` and `source` as LazyScope(...) gives."""
    from clientflow.conditions.lazy import LazyScope
    from clientflow.runtime.context import resolve
    from clientflow.runtime.data import Records

    engine = Engine.open(PROJECT, data=DEMO)
    checker = engine.checker()
    scopes = engine.runner.scopes
    parties = resolve(engine.project, checker.snapshot, "u1", "c1")
    with engine.storage.transaction() as tx:
        records = Records(engine.project, tx)
        for reader in (checker.lookup, records):
            made = scopes.question(parties, engine.clock.now, reader)
            later = scopes.later if reader is checker.lookup else scopes.later_listing
            want = LazyScope(
                {**scopes.base, "lookup": made["lookup"], "actor": parties.actor, **parties.holders, "client": parties.subject},
                later,
                (reader, engine.clock.now),
            )
            assert type(made) is LazyScope and made == want and made.later is want.later and made.source == want.source
            assert made["partner"] == want["partner"] and made == want  # computed when first read, the same way


def test_a_questions_scope_from_what_find_parties_finds_is_the_one_resolve_and_asked_give() -> None:
    """Engine.available finds its parties with find_parties and makes its scope with asked_held (no Parties, no holders
    dict): for every word naming an actor or a subject, and words naming none, the same records, holders, names in the
    same order, `later` and `source`, or the same refusal."""
    from clientflow.errors import UnknownName
    from clientflow.runtime.context import find_parties, resolve
    from clientflow.runtime.data import Records
    from clientflow.runtime.views import FlowAvailability

    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    engine = Engine.open(PROJECT, data=DEMO)
    project, runner = engine.project, engine.runner
    scopes, book = runner.asking()
    assert scopes is runner.scopes and book is runner.rulebook(verdicts=True, entry=FlowAvailability)
    actors, subjects = _everyone(data)
    compared = held = refused = 0
    with engine.storage.transaction() as tx:
        for actor in [*actors, "nobody"]:
            for subject in [*subjects, "nobody"]:
                records = Records(project, tx)
                try:
                    parties = resolve(project, Records(project, tx), actor, subject)
                except UnknownName as exc:
                    try:
                        find_parties(project, records, actor, subject)
                    except UnknownName as mine:
                        assert str(mine) == str(exc), (actor, subject)
                        refused += 1
                        continue
                    raise AssertionError(f"{actor}/{subject}: found, where resolve refuses: {exc}") from None
                found, holder, record = find_parties(project, records, actor, subject)
                made = scopes.asked_held(found, holder, record, engine.clock.now, records)
                want = scopes.asked(parties.actor, parties.holders, parties.subject, engine.clock.now, records)
                assert found == parties.actor and record == parties.subject, (actor, subject)
                assert list(made) == list(want), (actor, subject)  # the same names, in the same order
                assert all(made[name] is want[name] for name in made if name != "lookup"), (actor, subject)  # each the very same value
                assert made["lookup"].fn == want["lookup"].fn and made.later is want.later and made.source == want.source, (actor, subject)
                assert book.evaluate(made, subject) == book.evaluate(want, subject), (actor, subject)
                compared += 1
                held += any(made[name] is not None for name in project.actor_within.values())
    assert compared == len(actors) * len(subjects) and held == compared and refused == len(actors) + len(subjects) + 1


@pytest.mark.parametrize("dated", [", checked on {{ now | format_date('long') }}", ""])
def test_messages_read_for_a_reader_written_into_the_rule_function_read_as_their_own_functions(project_copy: Path, monkeypatch: object, dated: str) -> None:
    """A message with a plural block or a date (read for the program's reader) is written into the rule function with
    the reader set around its lines, or given to its plural block when that is all that reads it: the same texts as its
    own function called with the reader set, and the reader left as it was after the question (also after a message
    that could not be written)."""
    import copy

    import pytest

    from clientflow.conditions import reader
    from clientflow.runtime import rulebook

    rules = project_copy / "flows" / "rules.yaml"
    written = rules.read_text(encoding="utf-8")
    plural = "{{ client.name }} has {% trans count=client.users | length %}one user{% pluralize %}{{ count }} users{% endtrans %}"
    written = written.replace("{{ client.name }} has {{ client.users | length }} user(s)", plural + dated)
    assert plural in written
    rules.write_text(written, encoding="utf-8")
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    inlined = Engine.open(project_copy, data=DEMO)
    book = inlined.runner.rulebook()
    localized = [i for i in book.inlined if book.program.template(book.rules[i].message).localized]
    assert localized  # the plural and dated message is written into the rule function
    assert ("_plural0.reading(_rd, " in book._loose_source) == (not dated)  # its block given the reader, unless a date reads it too
    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setattr(rulebook, "_inline", lambda *_: None)
    called = Engine.open(project_copy, data=DEMO)
    actors, _ = _everyone(data)
    compared = 0
    for name in ("Acme Ltd", 12345, None, "x" * 200_001):
        changed = copy.deepcopy(data)
        for client in changed["clients"]:
            client["name"] = name
        fast, slow = inlined.checker(changed), called.checker(changed)
        for actor in actors:
            for subject in ("c1", "c2", "c5"):
                got = fast(actor, subject)
                assert got == slow(actor, subject), (name, actor, subject)
                assert reader.READER.get() is None  # set and reset around the message's lines
                compared += sum("users" in r["message"] or "one user" in r["message"] for f in got for r in f["reasons"])
    assert compared > 10


def test_a_scope_function_called_directly_gives_what_the_call_as_written_gives() -> None:
    """A context name that calls a function of the scope (`lookup('partner', client.partner)`) is written so that a
    `DataFunction` given flat values calls its own function directly; a nested value (walked and bounded), a function of
    another kind, an unknown entity or a missing name give the same value or the same error as the call as written."""
    from clientflow.conditions import limits
    from clientflow.conditions.expressions import DataFunction
    from clientflow.errors import ExpressionError
    from clientflow.runtime.rulebook import _direct_call

    calls = []

    def get(entity: str, id: object) -> object:
        calls.append(entity)
        if entity != "partner":
            raise ExpressionError(f"lookup: unknown entity {entity!r}")
        return None if id is None else {"id": id}

    def outcome(lines: list[str], scope: dict) -> object:
        namespace = {"s": scope, "_DataFunction": DataFunction, "_FLAT": limits.FLAT}
        try:
            exec("\n".join(lines), namespace)  # noqa: S102 - the test's own lines
        except Exception as exc:  # noqa: BLE001 - the error is what is compared
            return (type(exc), str(exc))
        return namespace["out"]

    written = "s['lookup']('partner', s['client']['partner'])"
    direct = _direct_call(written, "out")
    assert direct[-1].startswith("out = _dfn.fn('partner', _dfa1) if _dfn.__class__ is _DataFunction and _dfa1.__class__ in _FLAT")
    other = "s['lookup']('nobody', s['client']['partner'], s['client']['id'])"
    huge = list(range(limits.MAX_CELLS + 1))
    compared = 0
    for python in (written, other):
        for lookup in (DataFunction("lookup", get), get, lambda *args: args, None):
            for partner in ("p1", None, 3, 2.5, True, ["p1"], {"id": "p1"}, huge):
                client = {"id": "c1"} if partner == 3 else {"id": "c1", "partner": partner}  # 3: no partner key at all
                scope = {"client": client} if lookup is None else {"client": client, "lookup": lookup}
                calls.clear()
                want, called = outcome([f"out = {python}"], dict(scope)), list(calls)
                calls.clear()
                assert outcome(_direct_call(python, "out"), dict(scope)) == want, (python, lookup, partner)
                assert calls == called  # the function is called (or not) as the call as written calls it
                compared += 1
    assert compared == 64
    book = Engine.open(PROJECT, data=DEMO).runner.rulebook()
    assert "_dfn.fn('partner', _dfa1)" in book._loose_source  # the shipped project's `partner` is written so


_LEAVES = st.one_of(st.none(), st.integers(-2, 2), st.text("ab", max_size=2), st.sampled_from(["x", [], [1], ()]))
_VALUES = st.recursive(
    _LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "due"]), inner, max_size=3)), max_leaves=8
)


@settings(max_examples=300, deadline=None)
@given(
    scope=st.dictionaries(st.sampled_from(["client", "other"]), _VALUES, max_size=2),
    path=st.lists(st.one_of(st.sampled_from(["a", "b", "due"]), st.integers(0, 2)), min_size=1, max_size=3),
    fallback=st.sampled_from([None, 0, "none", False]),
    lazy=st.booleans(),
    missing=st.booleans(),
)
def test_a_value_read_with_a_default_written_out_reads_as_dig_reads_it(scope: dict, path: list, fallback: object, lazy: bool, missing: bool) -> None:
    """`_dug`'s lines (a context name such as `client.deletion_due | default(none)`, written into the rule function) give
    what `_dig` gives; or, only where reading the scope's name itself fails, an error (left to the read, which gives `_dig`'s)."""
    from clientflow.conditions.expressions import MISSING, _dig
    from clientflow.conditions.lazy import LazyScope
    from clientflow.runtime import rulebook

    if missing and isinstance(scope.get("client"), dict):
        scope["client"]["due"] = MISSING  # a value that stands for none given
    keys = ("client", *path)
    lines = rulebook._dug(f"_dig(s, {keys!r}, {fallback!r})", "out")
    assert lines is not None
    s = LazyScope(scope, {}) if lazy else dict(scope)
    namespace = {"s": s, "_LACKING": rulebook._LACKING, "_MISSING": MISSING, "_dict": dict, "_dig": _dig}
    want = _dig(s, keys, fallback)
    try:
        exec("\n".join(lines), namespace)  # noqa: S102 - the test's own lines
    except KeyError:
        assert "client" not in scope and want == fallback
        return
    assert namespace["out"] == want and type(namespace["out"]) is type(want)


def test_a_plain_string_key_reads_as_literal_eval_reads_it() -> None:
    """`_string_value` reads a quoted key without an escape or prefix itself: the same value as `ast.literal_eval`, or
    the same refusal, on hypothesis-made tokens (quotes, escapes, prefixes, line breaks, NUL, non-ASCII)."""
    import ast

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from clientflow.runtime.rulebook import _string_value

    inside = st.text(alphabet=st.sampled_from(["a", "é", "'", '"', "\\", "\n", "\r", "\0", " ", "n", "𝄞", "\t"]), max_size=8)
    token = st.tuples(st.sampled_from(["", "r", "b", "u", "f", "rb"]), st.sampled_from(["'", '"']), inside).map(lambda t: f"{t[0]}{t[1]}{t[2]}{t[1]}")

    def outcome(read: Any, key: str) -> Any:
        try:
            return ("value", read(key))
        except (ValueError, SyntaxError):
            return ("refused", None)

    @settings(max_examples=500, deadline=None, derandomize=True)
    @given(st.one_of(token, st.sampled_from(["'client'", '"client"', "''", "'a' 'b'", "'cli\\'ent'", "'é'"])))
    def check(key: str) -> None:
        assert outcome(_string_value, key) == outcome(ast.literal_eval, key), key

    check()
