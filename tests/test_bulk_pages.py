"""What a bulk run shares across a page of subjects, and the look-ups it makes cheaper, answer as before.

* `KeyPlan.holds` (does a changed body hold this key?) answers what listing every
  key of the body (`KeyPlan.keys`) answers, for generated bodies;
* `simulate_many` (its page's look-ups shared) gives each subject the plan
  `simulate` gives it alone, on the tests' project, with recipients shared
  between subjects and readers of another language;
* the data-schema check resolved once per project refuses what the schema refuses.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pluggy
import pytest
import yaml
from cli_support import copy_project
from conftest import DEMO, PROJECT, Recorder
from hypothesis import given, settings
from hypothesis import strategies as st

from clientflow import Engine, hookimpl, hookspecs
from clientflow.conditions.expressions import built_in_only
from clientflow.default_plugins.memory import MemoryStorage
from clientflow.errors import ExpressionError
from clientflow.language import schemas
from clientflow.plugins import load_plugins
from clientflow.runtime.context import resolve_actor
from clientflow.runtime.data import Records, import_data, key_plan, record_checks
from clientflow.runtime.runs import steady

DATA: dict[str, Any] = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
VALUES = st.one_of(st.none(), st.sampled_from(["1", "a", "x@y.example", "None", ""]), st.integers(-2, 2), st.booleans())
USERS = st.lists(
    st.one_of(st.dictionaries(st.sampled_from(["id", "email", "name"]), VALUES, max_size=3), st.none(), st.integers(), st.lists(VALUES, max_size=2)),
    max_size=4,
)
BODIES = st.fixed_dictionaries({}, optional={"id": VALUES, "name": VALUES, "email": VALUES, "users": st.one_of(USERS, st.none(), VALUES)})
_ENGINE = Engine.open(PROJECT, data=DEMO, notifiers={})


@settings(max_examples=300, deadline=None)
@given(body=BODIES, collection=st.sampled_from(["partners", "clients", "other"]), value=st.sampled_from(["1", "a", "x@y.example", "None", "", "True", "-1"]))
def test_holds_answers_what_the_listed_keys_answer(body: dict[str, Any], collection: str, value: str) -> None:
    plan = key_plan(_ENGINE.project)
    for entity in ("partner", "client", "user", "nobody"):
        for key in ("id", "name", "email", "role"):
            assert answer(lambda: plan.holds(collection, entity, key, body, value)) == answer(lambda: (entity, key, value) in plan.keys(collection, body))


def answer(ask: Any) -> Any:
    """What `ask()` returns, or the type of what it raises (a nested list that is not a list cannot be walked)."""
    try:
        return ask()
    except Exception as exc:  # noqa: BLE001 - compared, not hidden
        return type(exc)


def test_a_page_of_plans_is_each_subject_planned_alone(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    path = project / "flows" / "project.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("data_schema: schema/data.schema.json\n", "data_schema: schema/data.schema.json\nlocales: [en, fr]\n", 1)
    )
    data = copy.deepcopy(DATA)
    for n, client in enumerate(data["clients"]):
        for user in client["users"]:
            user["locale"] = ["fr", "en"][n % 2]
    data["partners"][0]["users"][0]["locale"] = "fr"
    ids = [c["id"] for c in data["clients"]]
    locales: set[str | None] = set()
    for actor in ("u1", "u2", "u3"):
        engine = Engine.open(project, storage=MemoryStorage(), notifiers={})
        with engine.storage.transaction(write=True) as tx:
            import_data(engine.project, tx, data)
        for flow in engine.project.flows:
            for answers in ({"notify_client": True}, {}):
                page = dict(engine.simulate_many(flow, actor, ids * 2, answers))
                for subject in ids:
                    alone = engine.simulate(flow, actor, subject, answers)
                    alone.rules = []  # a bulk run lists only the rules that do not hold
                    shown = page[subject]
                    assert not isinstance(shown, Exception)
                    alone.screens = shown.screens = []  # nor does it draw the screens on its way
                    assert shown.to_json() == alone.to_json(), (flow, actor, subject)
                    locales.update(email.locale for email in shown.emails)
    assert locales == {"en", "fr"}  # readers of both languages, each looked up


def test_the_check_made_once_refuses_what_the_schema_refuses() -> None:
    project = _ENGINE.project
    assert project.data_schema
    checks = record_checks(project)
    assert record_checks(project) is checks
    good = copy.deepcopy(DATA["clients"][0])
    bad = {**good, "users": [{**good["users"][0], "email": "not an address"}], "billing": 7}
    folder = str((PROJECT / project.data_schema).parent)
    for body in (good, bad):
        assert checks.problems("clients", body) == schemas.record_problems(body, "data.schema.json", folder, "clients")
    assert checks.problems("clients", good) == []
    assert any(problem.startswith("billing:") for problem in checks.problems("clients", bad))


def test_a_brief_commit_writes_what_a_full_one_writes() -> None:
    """`apply(brief=True)` (a bulk commit) draws no screen and lists only failed rules; its run, audit entry, records and outbox are the same."""

    class Keep:
        name = "outbox"

        def send(self, email: Any) -> None:
            return None

    written = []
    for brief in (False, True):
        engine = Engine.open(PROJECT, data=DEMO, notifiers={"outbox": Keep()}, now=datetime(2025, 1, 6, 9, tzinfo=UTC))
        ids = iter(range(10_000))
        made = lambda: f"{next(ids):032x}"  # noqa: E731 - the ids a commit makes (its run's, its audit entry's), the same for both
        with mock.patch("clientflow.api.new_id", made), mock.patch("clientflow.runtime.core.new_id", made):
            plans = [
                engine.apply(flow, "u1", c["id"], {"notify_client": True}, deliver=False, brief=brief)
                for flow in ("deactivate-client", "delete-client")
                for c in DATA["clients"]
            ]
        with engine.storage.transaction() as tx:
            written.append((engine.export(), engine.audit_log(), tx.outbox(), [tx.load_run(p.run) for p in plans if p is not None and p.run]))
        shown = [p.to_json() for p in plans if p is not None]
        assert any(s["status"] == "completed" for s in shown) and any(s["status"] == "blocked" for s in shown)
        if brief:
            assert all(s["rules"] == [] for s in shown)
            assert all(s["screens"] == [] for s in shown if s["status"] in ("completed", "blocked")), [(s["status"], s["screens"]) for s in shown]
        else:
            assert any(s["screens"] for s in shown)
    assert written[0] == written[1]


def test_steps_shown_by_an_answer_are_worked_out_again_as_answers_come(tmp_path: Path) -> None:
    """A walk works out the steps shown once when no step's `when` reads `answers`, and after every answer when one does."""
    project = copy_project(tmp_path / "project")
    path = project / "flows" / "deactivate-client.yaml"
    extra = (
        "  - id: message\n    kind: form\n    title: What should they read?\n    when: answers.notify_client\n"
        "    fields:\n      - {name: note, type: text, label: Note, required: true}\n"
    )
    path.write_text(path.read_text(encoding="utf-8").replace("outcome:\n", extra + "outcome:\n", 1), encoding="utf-8")
    engine = Engine.open(project, data=DEMO, notifiers={})
    program = engine.project.program
    assert not steady(program, engine.project.flows["deactivate-client"])
    assert all(steady(program, flow) for flow in _ENGINE.project.flows.values())
    for brief in (False, True):
        asked = engine.apply("deactivate-client", "u1", "c1", {"notify_client": True}, brief=brief)
        assert asked is not None and (asked.status, asked.needs) == ("needs_input", [{"step": "message", "field": "note"}])
    assert engine.simulate("deactivate-client", "u1", "c1", {"notify_client": False}).status == "completed"
    ((_, planned),) = engine.simulate_many("deactivate-client", "u1", ["c1"], {"notify_client": True, "note": "hello"})
    assert not isinstance(planned, Exception) and planned.status == "completed"


def test_a_page_computes_a_context_value_read_from_the_same_records_once(tmp_path: Path) -> None:
    """Context names that read neither the subject nor a function nor a plugin's filter are shared by a page's scopes, keyed by the very values they read."""
    project = copy_project(tmp_path / "project")
    path = project / "flows" / "project.yaml"
    names = (
        "  partner: lookup('partner', client.partner)\n"
        "  admins: (partner.users if partner else []) | selectattr('role', 'equalto', 'administrator') | map(attribute='email') | list\n"
        "  own_admins: client.users | selectattr('role', 'equalto', 'administrator') | map(attribute='email') | list\n"
        "  soon: now | add_days(7)\n"
        "  again: lookup('partner', 'p1')\n"
        "  named: (partner.name if partner else 'nobody') ~ ' and ' ~ actor.email\n"
    )
    path.write_text(path.read_text(encoding="utf-8").replace("  partner: lookup('partner', client.partner)\n", names, 1), encoding="utf-8")
    engine = Engine.open(project, data=DEMO, notifiers={})
    scopes = engine.runner.scopes
    assert scopes.shared == {"admins": ("partner",), "named": ("actor", "partner")}  # not a look-up, the client, nor a plugin's filter (add_days)
    program = engine.project.program
    assert not built_in_only(program.expression(engine.project.context["soon"]))
    assert built_in_only(program.expression(engine.project.context["admins"]))
    with engine.storage.transaction() as tx:
        records = Records(engine.project, tx)
        actor = resolve_actor(engine.project, records, "u1")
        static = scopes.for_actor(actor, datetime(2025, 1, 6, tzinfo=UTC), records)
        shared: dict[Any, Any] = {}
        first, second, other = (scopes.with_subject(static, records.get("client", c), records, shared) for c in ("c1", "c2", "c6"))
        alone = [scopes.with_subject(static, records.get("client", c), records) for c in ("c1", "c2", "c6")]
    assert first["partner"] is second["partner"] and first["admins"] is second["admins"] and first["named"] is second["named"]
    assert other["partner"] is not first["partner"] and other["admins"] == ["hana@harbor.example"] and other["named"].startswith("Harbor")
    assert first["own_admins"] is not second["own_admins"]
    data = [{k: v for k, v in scope.items() if k not in ("lookup", "all")} for scope in (first, second, other, *alone)]  # functions: made per scope
    assert data[:3] == data[3:]


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("own", "(client.users | length) // ((client.users | length) - (client.users | length))"),  # the subject's: made per subject
        ("shared", "(partner.users | length) // ((partner.users | length) - (partner.users | length))"),  # shared by a page
        ("looked", "lookup('partner', client.partner).users[7].email"),
    ],
)
def test_a_context_name_that_fails_on_a_page_says_what_it_says_alone(tmp_path: Path, name: str, source: str) -> None:
    """A page's scopes call each name's generated function directly: a failure is worded as the name's own evaluation words it."""
    project = copy_project(tmp_path / "project")
    path = project / "flows" / "project.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("  partner: lookup('partner', client.partner)\n", f"  partner: lookup('partner', client.partner)\n  {name}: {source}\n", 1),
        encoding="utf-8",
    )
    engine = Engine.open(project, data=DEMO, notifiers={})
    scopes = engine.runner.scopes
    assert (name in scopes.shared) is (name == "shared")
    said = []
    with engine.storage.transaction() as tx:
        records = Records(engine.project, tx)
        static = scopes.for_actor(resolve_actor(engine.project, records, "u1"), datetime(2025, 1, 6, tzinfo=UTC), records)
        for shared in (None, {}):
            with pytest.raises(ExpressionError) as raised:
                scopes.with_subject(static, records.get("client", "c1"), records, shared)
            said.append(str(raised.value))
    assert said[0] == said[1] and said[0].startswith(source)
    ((_, planned),) = engine.simulate_many("deactivate-client", "u1", ["c1"], {"notify_client": True})
    assert isinstance(planned, ExpressionError) and str(planned) == said[0]


@settings(max_examples=200, deadline=None)
@given(
    when=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
    days=st.one_of(st.integers(-40_000, 40_000), st.floats(-40_000, 40_000, allow_nan=False)),
)
def test_add_days_of_now_answers_what_it_answers_for_the_time_itself(when: datetime, days: float) -> None:
    """`now | add_days(n)` is kept by now's text (a bulk run asks it for every subject): the same text, or the same refusal, every time."""
    from clientflow.default_plugins.moments import add_days
    from clientflow.language.words import Moment

    def answer(value: Any) -> Any:
        try:
            return add_days(value, days)
        except ExpressionError as exc:
            return str(exc)

    expected = answer(when.isoformat())  # its text: what `now` prints as
    assert answer(Moment(when)) == expected
    assert answer(Moment(when)) == expected


def test_with_no_observer_a_commit_makes_no_event_and_still_delivers() -> None:
    """A commit's events are made only when an observer hears them; one registered later hears the next commit's."""
    heard: list[dict[str, Any]] = []

    class Watcher:
        @hookimpl
        def clientflow_run_event(self, event: dict[str, Any]) -> None:
            heard.append(event)

    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    load_plugins(manager)
    recorder = Recorder()
    engine = Engine.open(PROJECT, data=DEMO, plugins=manager, notifiers={"record": recorder}, now=datetime(2025, 1, 6, 9, tzinfo=UTC))
    assert not engine.registry.observed()
    with mock.patch("clientflow.runtime.core.event", side_effect=AssertionError("no run event is made for nobody")):
        first = engine.apply("deactivate-client", "u1", "c1", {"notify_client": True})
    assert first is not None and first.status == "completed" and len(recorder.sent) == 2  # delivered after the commit, as before
    manager.register(Watcher())
    assert engine.registry.observed()
    second = engine.apply("reactivate-client", "u1", "c3")
    assert second is not None and [e["type"] for e in heard] == ["started", "committed", "delivered"] and heard[1]["run"] == second.run


@pytest.mark.postgres
def test_a_commit_asks_postgresql_for_its_recipients_records_together(
    tmp_path: Path, postgres_url: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With locales, each recipient's record is read for its language: on PostgreSQL every recipient of the outcome in one statement; the same plans and rows."""
    from clientflow.default_plugins import postgres

    project = copy_project(tmp_path / "project")
    path = project / "flows" / "project.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("data_schema: schema/data.schema.json\n", "data_schema: schema/data.schema.json\nlocales: [en, fr]\n", 1)
    )
    monkeypatch.setenv("CLIENTFLOW_DB_SCHEMA", postgres_schema)
    sent: list[list[str]] = []
    original = postgres.PostgresTransaction._send

    def counting(self: object, statements: list[tuple[str, object]]) -> object:
        sent.append([sql.split()[0] for sql, _ in statements])
        return original(self, statements)  # type: ignore[arg-type]

    monkeypatch.setattr(postgres.PostgresTransaction, "_send", counting)
    results = []
    for together in (True, False):
        if not together:
            monkeypatch.setattr(Records, "prefetch", lambda self, wanted: None)
        engine = Engine.open(project, db=postgres_url, now=datetime(2025, 1, 6, 9, tzinfo=UTC), notifiers={})
        engine.storage.clear()
        engine.load_data(DEMO)
        sent.clear()
        plan = engine.apply("deactivate-client", "u1", "c1", {"notify_client": True})  # to the actor and to Acme's administrator
        assert plan is not None and plan.status == "completed" and [e.to for e in plan.emails] == [["alice@northwind.example"], ["carla@acme.example"]]
        results.append(([(e.to, e.subject, e.text, e.html, e.locale) for e in plan.emails], plan.changes, plan.audit["summary"], engine.export(), len(sent)))
        if together:
            assert ["(SELECT"] in sent  # both recipients' look-ups in one statement
        engine.close()
    assert results[0][:4] == results[1][:4] and results[0][4] == results[1][4] - 1  # one round trip less


def test_all_in_a_bulk_subjects_scope_lists_what_it_lists_alone_and_leaves_no_cycle(tmp_path: Path) -> None:
    """A bulk subject's `all` reads a copy of its scope's names (Scopes._readers, apart): the same records and verdicts as
    a subject planned alone, called from a context name (the scope half made) and from a rule; no reference cycle is left."""
    import gc

    project = copy_project(tmp_path / "project")
    path = project / "flows" / "project.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("context:\n", "context:\n  practices: all('partner') | length\n", 1))
    rules = project / "flows" / "rules.yaml"
    text = rules.read_text(encoding="utf-8")
    assert "    if: client.billing == 'partner'\n" in text
    text = text.replace(
        "    if: client.billing == 'partner'\n",
        "    if: client.billing == 'partner' and (all('client') | length) > 4 and practices == 2\n",
        1,
    )
    rules.write_text(text.replace("so your practice cannot change it.", "so your practice cannot change it ({{ all('client') | length }} reached).", 1))
    data = copy.deepcopy(DATA)
    ids = [c["id"] for c in data["clients"]]
    blocked = 0
    for actor in ("u1", "u2", "u3"):
        engine = Engine.open(project, storage=MemoryStorage(), notifiers={})
        with engine.storage.transaction(write=True) as tx:
            import_data(engine.project, tx, data)
        for flow in ("disconnect-client", "deactivate-client"):
            page = dict(engine.simulate_many(flow, actor, ids, {"notify_client": True}))
            for subject in ids:
                alone = engine.simulate(flow, actor, subject, {"notify_client": True})
                alone.rules = []
                shown = page[subject]
                assert not isinstance(shown, Exception)
                alone.screens = shown.screens = []
                assert shown.to_json() == alone.to_json(), (flow, actor, subject)
                blocked += any("reached" in str(item.get("message")) for item in shown.blocked_by or [])
        gc.collect()
        many = list(engine.simulate_many("disconnect-client", actor, ids * 30, {"notify_client": True}))
        assert len(many) == len(ids) * 30
        assert gc.collect() < len(ids) * 30  # a cycle per subject (its scope and its all) left about 13 objects each
    assert blocked  # the rule reading all() refused some, in its message's words


def _located_through_every_ref(records: Records, entity_name: str, key: str, value: Any) -> Any:
    """What `Records.locate` answered before it looked first where storage holds the record: every ref `_refs` lists, in order."""
    if value is None or isinstance(value, (dict, list)):
        return None
    entity = records.entity(entity_name)
    value = str(value)
    if entity.collection and key == "id":
        body = records.body((entity.collection, value))
        return ((entity.collection, value), body) if body is not None else None
    for ref in records._refs(entity_name, key, value):
        body = records.body(ref)
        if body is not None and (record := records._within(entity, body, key, value)) is not None:
            return ref, record
    return None


_ADDRESSES = sorted({u["email"] for group in ("partners", "clients") for r in DATA[group] for u in r["users"]} | {"nobody@else.example", "None"})
_CHANGES = st.lists(
    st.one_of(
        st.tuples(
            st.just("set"),
            st.sampled_from(["client", "partner"]),
            st.sampled_from(["c1", "c2", "c3", "p1", "p2"]),
            st.sampled_from(["name", "subscription", "users"]),
            st.integers(0, 9),
        ),
        st.tuples(st.just("user"), st.sampled_from(["cu1", "cu2", "cu3", "u1", "u2", "u3"]), st.sampled_from(["email", "name"]), st.sampled_from(_ADDRESSES)),
        st.tuples(st.just("delete"), st.sampled_from(["client", "user"]), st.sampled_from(["c2", "c3", "cu1", "u2"])),
        st.tuples(st.just("create"), st.sampled_from(_ADDRESSES)),
    ),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(changes=_CHANGES)
def test_a_record_located_after_changes_is_the_one_every_ref_gives(changes: list[tuple[Any, ...]]) -> None:
    """`locate` looks first where storage holds a record when the run changed none of it: the same record, or none, as before."""
    with _ENGINE.storage.transaction() as tx:
        records = Records(_ENGINE.project, tx, {}, {})
        for change in changes:
            try:
                if change[0] == "set":
                    _, entity, ident, name, n = change
                    value = [{"id": f"n{n}", "email": _ADDRESSES[n % len(_ADDRESSES)], "role": "administrator"}] if name == "users" else f"v{n}"
                    records.set(entity, ident, name, value)
                elif change[0] == "user":
                    records.set("user", change[1], change[2], change[3])
                elif change[0] == "delete":
                    records.delete(change[1], change[2])
                else:
                    records.create("client", {"id": f"new-{change[1]}", "name": "New", "users": [{"id": "nu", "email": change[1], "role": "standard"}]})
            except Exception:  # noqa: BLE001, S112 - a change that cannot be made here (already deleted, ...) is left out
                continue
            for address in _ADDRESSES:
                assert records.locate("user", "email", address) == _located_through_every_ref(records, "user", "email", address), (changes, address)
            for name in ("Acme Ltd", "Harbor Accounts", "v1", "New"):
                for entity in ("client", "partner"):
                    assert records.locate(entity, "name", name) == _located_through_every_ref(records, entity, "name", name)
