"""Every shipped flow through the engine, on memory and on SQLite: step by step, in one go, and dry.

The expectations below are written from flows/*.yaml, templates/emails/* and
data/demo.yaml as a reader would work them out; the engine must agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from conftest import DEMO, NOW, Recorder

from clientflow import Engine
from clientflow.errors import UnknownName

STATUSES = {"completed", "blocked", "needs_input", "invalid", "cancelled"}
KINDS = {"info", "survey", "choice", "form", "confirm"}
OPS = {"update", "delete", "create"}


def assert_contract(plan: dict[str, Any]) -> None:
    """The plan contract of issue 3: these keys with these types (more keys may follow)."""
    assert isinstance(plan["flow"], str)
    assert plan["status"] in STATUSES
    assert isinstance(plan["dry_run"], bool)
    for screen in plan["screens"]:
        assert isinstance(screen["step"], str) and screen["kind"] in KINDS and isinstance(screen["title"], str)
    for item in plan["blocked_by"]:
        assert isinstance(item["rule"], str) and isinstance(item["message"], str) and item["message"]
    for item in plan["errors"]:
        assert isinstance(item["field"], str) and isinstance(item["message"], str) and item["message"]
    for item in plan["needs"]:
        assert isinstance(item["step"], str) and isinstance(item["field"], str)
    for change in plan["changes"]:
        assert change["op"] in OPS and isinstance(change["entity"], str) and isinstance(change["id"], str)
        assert change["field"] is None or isinstance(change["field"], str)
        assert "before" in change and "after" in change
    for email in plan["emails"]:
        assert isinstance(email["template"], str) and isinstance(email["subject"], str) and isinstance(email["text"], str)
        assert isinstance(email["to"], list) and all(isinstance(a, str) for a in email["to"]) and email["to"]
        assert email["html"] is None or isinstance(email["html"], str)
    assert isinstance(plan["banners"], list) and all(isinstance(b, str) for b in plan["banners"])
    assert isinstance(plan["reversible"], bool)
    audit = plan["audit"]
    assert isinstance(audit["flow"], str) and isinstance(audit["actor"], str) and isinstance(audit["subject"], str)
    assert isinstance(audit["answers"], dict) and all(isinstance(k, str) for k in audit["answers"])
    if plan["status"] != "completed":
        assert plan["changes"] == [] and plan["emails"] == []


def demo_record(collection: str, id: str) -> dict[str, Any]:
    records = yaml.safe_load(DEMO.read_text(encoding="utf-8"))[collection]
    return next(r for r in records if r["id"] == id)  # type: ignore[no-any-return]


@dataclass
class Case:
    flow: str
    actor: str
    subject: str
    screens: list[tuple[str, str, dict[str, Any]]]  # step, kind, answers given on it
    changes: list[tuple[str, str, str, str | None, Any, Any]]  # op, entity, id, field, before, after
    emails: list[tuple[str, list[str], str]]  # template, recipients, subject
    banner: str
    reversible: bool
    stored: dict[str, Any]  # the answers as the audit keeps them
    actor_id: str = "u1"
    subject_id: str = ""

    @property
    def answers(self) -> dict[str, Any]:
        return {k: v for _, _, given in self.screens for k, v in given.items()}


CASES = [
    Case(
        "disconnect-client", "u1", "c1",
        [("explain", "info", {}), ("survey", "survey", {"reason": "They sold the business"}), ("choose-owner", "choice", {"owner": "carla@acme.example"})],
        [("update", "client", "c1", "owner", None, "cu1"), ("update", "client", "c1", "partner", "p1", None)],
        [
            ("disconnect-practice", ["alice@northwind.example"], "Acme Ltd has been disconnected from Northwind Bookkeeping"),
            ("disconnect-client", ["carla@acme.example"], "Acme Ltd is no longer managed by Northwind Bookkeeping"),
        ],
        "Acme Ltd has been disconnected from your practice and now belongs to Carla Diaz.",
        False,
        {"reason": "They sold the business", "owner": "cu1"},
        subject_id="c1",
    ),
    Case(
        "delete-client", "u1", "c2",
        [("warning", "info", {}), ("confirm", "confirm", {"confirm_name": "Empty Shell Co"})],
        [("delete", "client", "c2", None, demo_record("clients", "c2"), None)],
        [("delete-confirmation", ["alice@northwind.example"], "Empty Shell Co has been deleted")],
        "Empty Shell Co and all of its data have been deleted.",
        False,
        {"confirm_name": "Empty Shell Co"},
        subject_id="c2",
    ),
    Case(
        "deactivate-client", "alice@northwind.example", "Acme Ltd",  # named by email and by name: stored as ids
        [("survey", "survey", {"reason": "Seasonal business"}), ("explain", "info", {}), ("notify", "form", {"notify_client": True})],
        [("update", "client", "c1", "subscription", "active", "deactivated")],
        [
            ("deactivate-practice", ["alice@northwind.example"], "Acme Ltd's subscription has been deactivated"),
            ("deactivate-client", ["carla@acme.example"], "Your Bookkeeping Platform subscription has been paused by Northwind Bookkeeping"),
        ],
        "Acme Ltd's subscription has been deactivated. You can reactivate it at any time.",
        True,
        {"reason": "Seasonal business", "notify_client": True},
        subject_id="c1",
    ),
    Case(
        "disconnect-self-paying-client", "u1", "c4",
        [("explain", "info", {}), ("choose-owner", "choice", {"owner": "cu4"})],
        [("update", "client", "c4", "owner", None, "cu4"), ("update", "client", "c4", "partner", "p1", None)],
        [
            ("self-paying-disconnect-practice", ["alice@northwind.example"], "Solo Design has been removed from Northwind Bookkeeping"),
            ("self-paying-disconnect-client", ["ines@solo.example"], "Northwind Bookkeeping no longer has access to Solo Design"),
        ],
        "Solo Design has been removed from your practice; its own subscription carries on.",
        False,
        {"owner": "cu4"},
        subject_id="c4",
    ),
    Case(
        "reactivate-client", "u1", "c3",
        [("confirm", "info", {})],
        [("update", "client", "c3", "subscription", "deactivated", "active")],
        [("reactivate-client", ["sol@sunset.example"], "Your Bookkeeping Platform subscription is active again")],
        "Sunset Cafe's subscription is active again.",
        True,
        {},
        subject_id="c3",
    ),
    Case(
        "invite-accountant", "cu5", "c5",
        [("choose-practice", "form", {"partner": "p2"})],
        [("update", "client", "c5", "partner", None, "p2")],
        [("invitation-practice", ["hana@harbor.example"], "Freeform Studio has connected to your practice")],
        "Harbor Accounts is now connected to Freeform Studio.",
        True,
        {"partner": "p2"},
        actor_id="cu5",
        subject_id="c5",
    ),
]  # fmt: skip


def by_flow(case: Case) -> str:
    return case.flow


def everything(engine: Engine) -> dict[str, Any]:
    data = engine.export()
    with engine.storage.transaction() as tx:
        return {"data": data, "audit": tx.audit(), "outbox": tx.outbox(), "meta": tx.get_meta("schema_version")}


def assert_outcome(plan: dict[str, Any], case: Case, *, dry_run: bool) -> None:
    assert_contract(plan)
    assert (plan["flow"], plan["status"], plan["dry_run"]) == (case.flow, "completed", dry_run)
    assert [(s["step"], s["kind"]) for s in plan["screens"]] == [(step, kind) for step, kind, _ in case.screens]
    assert (plan["blocked_by"], plan["errors"], plan["needs"]) == ([], [], [])
    assert [(c["op"], c["entity"], c["id"], c["field"], c["before"], c["after"]) for c in plan["changes"]] == case.changes
    assert [(e["template"], e["to"], e["subject"]) for e in plan["emails"]] == case.emails
    for email in plan["emails"]:
        assert email["text"].strip() and email["html"] and "{{" not in email["text"] + email["html"]
    assert plan["banners"] == [case.banner]
    assert plan["reversible"] is case.reversible
    assert {k: plan["audit"][k] for k in ("flow", "actor", "subject", "answers")} == {
        "flow": case.flow,
        "actor": case.actor_id,
        "subject": case.subject_id,
        "answers": case.stored,
    }


def assert_applied(engine: Engine, case: Case) -> None:
    """The data now says what the changes said."""
    clients = {c["id"]: c for c in engine.export()["clients"]}
    for op, _, id, field, _, after in case.changes:
        if op == "delete":
            assert id not in clients
        else:
            assert clients[id][field] == after


@pytest.mark.parametrize("case", CASES, ids=by_flow)
def test_step_by_step_with_a_step_back(demo_engine: Engine, recorder: Recorder, case: Case) -> None:
    view = demo_engine.start(case.flow, case.actor, case.subject)
    for step, kind, answers in case.screens:
        assert view.status == "open", view.to_json()
        assert view.screen is not None and (view.screen.step, view.screen.kind) == (step, kind)
        assert view.screen.title and "{{" not in view.screen.title
        view = demo_engine.submit(view.run, answers)
    assert (view.status, view.screen) == ("ready", None)

    back = demo_engine.back(view.run)
    last_step, last_kind, last_answers = case.screens[-1]
    assert back.status == "open" and back.screen is not None and back.screen.step == last_step
    shown = {f["name"]: f.get("value") for f in back.screen.fields}
    assert shown == {name: case.stored[name] for name in last_answers}
    view = demo_engine.submit(view.run, {})  # the answers given before going back are kept
    assert view.status == "ready"

    before = everything(demo_engine)
    assert demo_engine.plan(view.run).to_json()["changes"] == [
        dict(zip(("op", "entity", "id", "field", "before", "after"), c, strict=True)) for c in case.changes
    ]
    assert everything(demo_engine) == before  # the plan of a run is a dry-run

    plan = demo_engine.commit(view.run, deliver=False)
    assert_outcome(plan.to_json(), case, dry_run=False)
    assert plan.run == view.run
    assert_applied(demo_engine, case)

    with demo_engine.storage.transaction() as tx:
        rows = tx.outbox()
        entry = tx.audit()[-1]
    assert [(r["email"]["template"], r["email"]["to"], r["notifier"], r["status"], r["run"]) for r in rows] == [
        (template, to, "record", "pending", view.run) for template, to, _ in case.emails
    ]
    assert len({r["message_id"] for r in rows}) == len(rows)
    assert (entry["status"], entry["run"], entry["flow"], entry["actor"], entry["subject"]) == (
        "completed",
        view.run,
        case.flow,
        case.actor_id,
        case.subject_id,
    )
    assert entry["answers"] == case.stored
    assert entry["changes"] == plan.to_json()["changes"]
    assert entry["time"] == NOW.isoformat()

    assert recorder.sent == []
    report = demo_engine.deliver()
    assert report.sent == len(case.emails)
    assert [(e.template, list(e.to), e.subject) for e in recorder.sent] == case.emails
    assert [e.message_id for e in recorder.sent] == [r["message_id"] for r in rows]
    assert demo_engine.deliver().sent == 0  # never twice
    with demo_engine.storage.transaction() as tx:
        assert {r["status"] for r in tx.outbox()} <= {"sent"}


@pytest.mark.parametrize("case", CASES, ids=by_flow)
def test_in_one_go_after_an_identical_dry_run(demo_engine: Engine, recorder: Recorder, case: Case) -> None:
    before = everything(demo_engine)
    dry = demo_engine.simulate(case.flow, case.actor, case.subject, case.answers).to_json()
    assert_outcome(dry, case, dry_run=True)
    assert everything(demo_engine) == before
    assert recorder.sent == []

    plan = demo_engine.apply(case.flow, case.actor, case.subject, case.answers)
    assert plan is not None
    done = plan.to_json()
    assert_outcome(done, case, dry_run=False)
    assert {k: v for k, v in done.items() if k not in ("dry_run", "run")} == {k: v for k, v in dry.items() if k not in ("dry_run", "run")}
    assert_applied(demo_engine, case)
    assert [(e.template, list(e.to)) for e in recorder.sent] == [(t, to) for t, to, _ in case.emails]
    with demo_engine.storage.transaction() as tx:
        assert [e["status"] for e in tx.audit()] == ["completed"]
        assert tx.load_run(done["run"])["status"] == "completed"

    if case.changes[0][0] == "delete":
        with pytest.raises(UnknownName):  # it is gone
            demo_engine.simulate(case.flow, case.actor, case.subject_id, case.answers)
    else:
        again = demo_engine.simulate(case.flow, case.actor, case.subject_id, case.answers)
        assert again.status == "blocked"  # what it did is what its rules now refuse


def test_without_the_optional_email_only_the_practice_hears(demo_engine: Engine) -> None:
    plan = demo_engine.apply("deactivate-client", "u1", "c1", {"notify_client": False})
    assert plan is not None
    assert [(e.template, e.to) for e in plan.emails] == [("deactivate-practice", ["alice@northwind.example"])]
    assert plan.audit["answers"] == {"reason": None, "notify_client": False}


# refused ----------------------------------------------------------------------
BLOCKED = [
    ("deactivate-client", "u2", "c4", [("practice-administrator", "your access level is standard"), ("paid-by-practice", "Solo Design pays for its own subscription")]),
    ("deactivate-client", "cu1", "c1", [("practice-administrator", "your access level is administrator")]),
    ("deactivate-client", "u3", "c1", [("own-practice-clients", "c1 is not one of your practice's clients")]),  # out of reach: named as asked
    ("deactivate-client", "u1", "c7", [("active-subscription", "Dormant Holdings's subscription is already deactivated")]),
    ("disconnect-client", "u1", "c7", [("has-users", "Dormant Holdings has no users, active or invited")]),
    ("delete-client", "u1", "c1", [("no-users", "Acme Ltd has 2 user(s)")]),
    ("disconnect-self-paying-client", "u1", "c1", [("self-paying", "Your practice pays for Acme Ltd's subscription")]),
    ("reactivate-client", "u1", "c1", [("deactivated-subscription", "Acme Ltd's subscription is active, so there is nothing to reactivate.")]),
    ("invite-accountant", "cu1", "c1", [("not-connected", "Acme Ltd is already connected to Northwind Bookkeeping")]),
    ("invite-accountant", "cu1", "c5", [("own-business", "You can only act on the business you belong to.")]),
    ("invite-accountant", "cu6", "c5", [("business-administrator", "Only an administrator of Freeform Studio can invite a practice")]),
]  # fmt: skip


@pytest.mark.parametrize(("flow", "actor", "subject", "expected"), BLOCKED, ids=[f"{b[0]}-{b[1]}-{b[2]}" for b in BLOCKED])
def test_blocked_with_every_failed_rule_and_its_message(demo_engine: Engine, flow: str, actor: str, subject: str, expected: list[tuple[str, str]]) -> None:
    before = everything(demo_engine)
    plan = demo_engine.simulate(flow, actor, subject, {}).to_json()
    assert_contract(plan)
    assert plan["status"] == "blocked"
    assert [b["rule"] for b in plan["blocked_by"]] == [rule for rule, _ in expected]
    for item, (_, words) in zip(plan["blocked_by"], expected, strict=True):
        assert words in item["message"]
        assert "\n" not in item["message"] and "  " not in item["message"]
    assert plan["screens"] == []

    offered = {f.flow: f for f in demo_engine.available(actor, subject).flows}
    assert offered[flow].available is False
    assert offered[flow].reasons == plan["blocked_by"]
    assert everything(demo_engine) == before

    view = demo_engine.start(flow, actor, subject)
    assert (view.status, view.screen, view.blocked_by) == ("blocked", None, plan["blocked_by"])
    applied = demo_engine.apply(flow, actor, subject, {})
    assert applied is not None and applied.to_json()["blocked_by"] == plan["blocked_by"]
    assert demo_engine.export() == before["data"]


def test_available_offers_exactly_the_flows_whose_rules_hold(demo_engine: Engine) -> None:
    assert demo_engine.available("u1", "c1").offered() == ["deactivate-client", "disconnect-client"]
    assert demo_engine.available("u1", "c2").offered() == ["deactivate-client", "delete-client"]
    assert demo_engine.available("u1", "c3").offered() == ["disconnect-client", "reactivate-client"]
    assert demo_engine.available("u1", "c4").offered() == ["disconnect-self-paying-client"]
    assert demo_engine.available("cu5", "c5").offered() == ["invite-accountant"]
    assert demo_engine.available("u3", "c1").offered() == []
    assert demo_engine.available("u3", "Harbor Marine").offered() == ["deactivate-client", "disconnect-client"]


INVALID = [
    ("disconnect-client", "c1", {"owner": "nobody@acme.example"}, "owner", "'nobody@acme.example' is not one of the options"),
    ("disconnect-client", "c1", {"owner": "hugo@marine.example"}, "owner", "is not one of the options"),  # another client's user
    ("disconnect-self-paying-client", "c4", {"owner": "cu1"}, "owner", "'cu1' is not one of the options"),
    ("delete-client", "c2", {"confirm_name": "Empty Shell co"}, "confirm_name", "must be typed exactly as 'Empty Shell Co'"),
    ("delete-client", "c2", {"confirm_name": " Empty Shell Co"}, "confirm_name", "must be typed exactly as 'Empty Shell Co'"),
    ("deactivate-client", "c1", {"notify_client": "perhaps"}, "notify_client", "must be yes or no (true or false), not 'perhaps'"),  # was: not str
    ("deactivate-client", "c1", {"reason": "x" * 1001, "notify_client": True}, "reason", "at most 1,000"),
    ("disconnect-client", "c1", {"owner": "cu1", "colour": "red"}, "colour", "has no field 'colour'"),
]  # fmt: skip


@pytest.mark.parametrize(("flow", "subject", "answers", "field", "words"), INVALID, ids=[f"{i[0]}-{i[3]}-{n}" for n, i in enumerate(INVALID)])
def test_invalid_answers_name_the_field_at_fault_and_change_nothing(
    demo_engine: Engine, recorder: Recorder, flow: str, subject: str, answers: dict[str, Any], field: str, words: str
) -> None:
    before = everything(demo_engine)
    plan = demo_engine.apply(flow, "u1", subject, answers)
    assert plan is not None
    out = plan.to_json()
    assert_contract(out)
    assert out["status"] == "invalid"
    assert [e["field"] for e in out["errors"]] == [field]
    assert words in out["errors"][0]["message"]
    assert everything(demo_engine) == before
    assert recorder.sent == []


def test_the_invited_practice_must_exist(embedded: str, tmp_path: Any) -> None:
    from conftest import open_engine

    engine = open_engine(embedded, tmp_path)
    plan = engine.simulate("invite-accountant", "finn@freeform.example", "Freeform Studio", {"partner": "p9"})
    assert plan.status == "invalid"
    assert plan.errors == [{"field": "partner", "message": 'Practice id: No practice has the id "p9". Check the id the practice gave you.'}]


def test_a_typed_confirmation_equal_after_nfc_normalisation_is_accepted(embedded: str, tmp_path: Any) -> None:
    from conftest import open_engine

    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data["clients"].append({"id": "c9", "name": "Café Crème", "partner": "p1", "billing": "partner", "subscription": "active", "owner": None, "users": []})
    path = tmp_path / "accents.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    engine = open_engine(embedded, tmp_path, data=path)
    decomposed = "Cafe\u0301 Cre\u0300me"
    assert decomposed != "Café Crème"

    view = engine.start("delete-client", "u1", "c9")
    view = engine.submit(view.run, {})
    wrong = engine.submit(view.run, {"confirm_name": "Cafe Creme"})
    assert (wrong.status, [e["field"] for e in wrong.errors]) == ("invalid", ["confirm_name"])
    assert engine.view(view.run).screen.step == "confirm"  # type: ignore[union-attr]
    ready = engine.submit(view.run, {"confirm_name": decomposed})
    assert ready.status == "ready"
    plan = engine.commit(ready.run)
    assert plan.status == "completed"
    assert plan.audit["answers"] == {"confirm_name": "Café Crème"}
    assert "c9" not in {c["id"] for c in engine.export()["clients"]}


# needs input, and answers given ahead -------------------------------------------------
def test_a_run_without_its_required_answer_needs_input(demo_engine: Engine) -> None:
    plan = demo_engine.simulate("disconnect-client", "u1", "c1", {"reason": "Closing"}).to_json()
    assert_contract(plan)
    assert plan["status"] == "needs_input"
    assert plan["needs"] == [{"step": "choose-owner", "field": "owner"}]
    assert [s["step"] for s in plan["screens"]] == ["explain", "survey", "choose-owner"]
    owner = plan["screens"][-1]["fields"][0]
    assert [(o["value"], o["label"]) for o in owner["options"]] == [
        ("cu1", "Carla Diaz <carla@acme.example>"),
        ("cu2", "Dev Patel <dev@acme.example> (invited)"),
    ]


def test_answers_given_ahead_go_as_far_as_they_allow(demo_engine: Engine) -> None:
    view = demo_engine.start("disconnect-client", "u1", "c1", {"reason": "Closing"})
    assert view.status == "needs_input"
    assert view.needs == [{"step": "choose-owner", "field": "owner"}]
    assert view.screen is not None and view.screen.step == "choose-owner"
    view = demo_engine.submit(view.run, {"owner": "dev@acme.example"})
    assert view.status == "ready"
    assert demo_engine.commit(view.run).audit["answers"] == {"reason": "Closing", "owner": "cu2"}

    all_at_once = demo_engine.start("delete-client", "u1", "c2", {"confirm_name": "Empty Shell Co"})
    assert (all_at_once.status, all_at_once.screen) == ("ready", None)
    assert demo_engine.commit(all_at_once.run).status == "completed"


def test_submit_ahead_from_the_first_screen(demo_engine: Engine) -> None:
    view = demo_engine.start("disconnect-self-paying-client", "u1", "c4")
    assert view.screen is not None and view.screen.step == "explain"
    view = demo_engine.submit(view.run, {"owner": "ines@solo.example"}, ahead=True)
    assert view.status == "ready"
    assert demo_engine.commit(view.run).audit["answers"] == {"owner": "cu4"}


def test_a_step_accepts_only_its_own_fields_and_requires_them(demo_engine: Engine) -> None:
    view = demo_engine.start("disconnect-client", "u1", "c1")
    early = demo_engine.submit(view.run, {"owner": "cu1"})
    assert early.status == "invalid"
    assert early.errors[0]["field"] == "owner" and "'choose-owner'" in early.errors[0]["message"]
    assert demo_engine.view(view.run).screen.step == "explain"  # type: ignore[union-attr]
    demo_engine.submit(view.run, {})
    at_owner = demo_engine.submit(view.run, {})
    assert at_owner.screen is not None and at_owner.screen.step == "choose-owner"
    missing = demo_engine.submit(view.run, {})
    assert (missing.status, missing.errors[0]["field"]) == ("invalid", "owner")
    assert "required" in missing.errors[0]["message"]


def test_unknown_actor_or_subject_is_named_with_a_suggestion(demo_engine: Engine) -> None:
    with pytest.raises(UnknownName, match="did you mean 'Acme Ltd'"):
        demo_engine.simulate("deactivate-client", "u1", "Acme Limited")
    with pytest.raises(UnknownName, match="alice@northwind.example"):
        demo_engine.available("alice@northwind.exmaple", "c1")
    with pytest.raises(UnknownName, match="unknown flow 'deactivate-clients'"):
        demo_engine.simulate("deactivate-clients", "u1", "c1")
