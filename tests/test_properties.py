"""Property tests: random data and random answers on every shipped flow.

Hypothesis generates practices, clients and users (roles, billing,
subscription states, dangling references, odd names and bad addresses) and
answers of every kind (valid options, other tenants' users, wrong types,
oversized and look-alike text), then checks, for every shipped flow:

* never a traceback: every call returns a plan or view, or raises a ClientflowError;
* never a partial write: after anything but a completed commit the data equals the data before;
* `simulate` completes only when `available` offered the flow, and the hot path agrees with `available`;
* a dry-run and a real run of the same inputs produce the same plan (the JSON, less the run id
  and the dry-run flag), and the data afterwards is what the plan's changes say;
* a run driven screen by screen (random submits, backs, views, commits, cancels) keeps the same promises.

Examples are derandomized, so the figures printed are the same on every run; set
CLIENTFLOW_SOAK=1 for a soak twenty times longer (and random).
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from conftest import PROJECT as ACCOUNTS
from conftest import figures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientflow import Engine
from clientflow.conditions.program import load_project
from clientflow.errors import ClientflowError
from clientflow.language.project import Extensions
from clientflow.plugins import Registry
from clientflow.runtime.context import Clock
from clientflow.runtime.data import check_data, import_data
from clientflow.runtime.plan import Plan

NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
SOAK = os.environ.get("CLIENTFLOW_SOAK", "") not in ("", "0")
FLOWS = sorted(p.stem for p in (ACCOUNTS / "flows").glob("*.yaml") if p.stem not in ("project", "rules"))


def examples(n: int) -> Any:
    return settings(
        max_examples=n * 20 if SOAK else n,
        deadline=None,
        derandomize=not SOAK,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


TALLY: Counter[str] = Counter()


def _figures() -> str:
    outcomes = ", ".join(f"{n} {k.split(':', 1)[1]}" for k, n in sorted(TALLY.items()) if k.startswith("status:"))
    return (
        f"properties: {TALLY['examples']} examples generated over {len(FLOWS)} flows: {TALLY['one-shot']} one-shot "
        f"({TALLY['memory']} in memory, {TALLY['sqlite']} on SQLite; {outcomes}), {TALLY['stepped']} step by step "
        f"({TALLY['actions']} screen actions; {TALLY['committed']} committed, {TALLY['not committed']} not); "
        f"0 tracebacks, 0 partial writes{' (soak)' if SOAK else ''}"
    )


summary = figures(_figures)


# the project, loaded once; a fresh in-memory storage per example ------------------------------------
REGISTRY = Registry.collect()
PROJECT = load_project(ACCOUNTS, Extensions(REGISTRY.functions, REGISTRY.filters, REGISTRY.effects))


def engine_over(data: dict[str, Any], folder: str | None = None) -> Engine:
    """The project over `data`: in memory, or in a SQLite file in `folder`."""
    check_data(PROJECT, data, None, "generated")
    storage = REGISTRY.storage("memory") if folder is None else REGISTRY.storage("sqlite", path=str(Path(folder) / "db.sqlite"))
    engine = Engine(PROJECT, storage, clock=Clock(NOW), notifiers={}, registry=REGISTRY)
    with engine.storage.transaction(write=True) as tx:
        import_data(PROJECT, tx, data)
    return engine


# data ------------------------------------------------------------------------------------------------
NAMES = st.one_of(
    st.sampled_from(["Acme Ltd", "Café Zoë", "Cafe\u0301 Zoe\u0308", "Ｆｕｌｌ Ｗｉｄｔｈ", "Сafe", "<b>Bold</b> & Co", 'O\'Brien "Ltd"']),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=24),
)
ROLES = st.sampled_from(["administrator", "standard"])


@st.composite
def datasets(draw: st.DrawFn) -> dict[str, Any]:
    """1-3 practices and 1-5 clients in any state, every id and key unique, some addresses bad, some references dangling."""
    seq = iter(range(10_000))

    def address(kind: str) -> str:
        n = next(seq)
        return draw(st.sampled_from([f"{kind}{n}@mail{n % 3}.example", f"{kind}{n}@mail{n % 3}.example", f"bad address {n}", f"{kind}{n}@localhost"]))

    def name(prefix: str) -> str:
        return f"{draw(NAMES)} {prefix}{next(seq)}"  # unique, since names are look-up keys

    partners = []
    for p in range(draw(st.integers(1, 3))):
        users = [{"id": f"u{next(seq)}", "name": name("u"), "email": address("u"), "role": draw(ROLES)} for _ in range(draw(st.integers(0, 3)))]
        partners.append({"id": f"p{p}", "name": name("p"), "users": users})
    clients = []
    for c in range(draw(st.integers(1, 5))):
        users = [
            {"id": f"cu{next(seq)}", "name": name("cu"), "email": address("cu"), "role": draw(ROLES), "status": draw(st.sampled_from(["active", "invited"]))}
            for _ in range(draw(st.integers(0, 3)))
        ]
        clients.append(
            {
                "id": f"c{c}",
                "name": name("c"),
                "partner": draw(st.sampled_from([None, "p-gone", *[p["id"] for p in partners]])),
                "billing": draw(st.sampled_from(["partner", "self_paying"])),
                "subscription": draw(st.sampled_from(["active", "deactivated"])),
                "owner": draw(st.sampled_from([None, "cu-gone", *[u["id"] for u in users]])),
                "users": users,
            }
        )
    return {"partners": partners, "clients": clients}


def users_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [u for holder in (*data["partners"], *data["clients"]) for u in holder["users"]]


def answer(draw: st.DrawFn, flow_id: str, name: str, data: dict[str, Any], subject: dict[str, Any]) -> Any:
    """One answer for a field: usually plausible, sometimes hostile."""
    _, field = PROJECT.flow(flow_id).fields()[name]
    junk = st.one_of(
        st.none(), st.booleans(), st.integers(-5, 5), st.lists(st.text(max_size=3), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=1)
    )
    if field.confirm is not None:
        plausible: Any = st.sampled_from(
            [
                subject["name"],
                subject["name"],
                subject["name"],
                unicodedata.normalize("NFD", subject["name"]),
                unicodedata.normalize("NFKC", subject["name"]),
                subject["name"].upper(),
                subject["name"] + " ",
                subject["name"].replace("a", "а"),
            ]
        )
    elif field.type == "choice":
        own = [u[k] for u in subject["users"] for k in ("id", "email")]
        plausible = st.sampled_from(own * 4 + [u[k] for u in users_of(data) for k in ("id", "email")] + ["nobody"])
    elif field.type == "boolean":
        plausible = st.sampled_from([True, False, "yes", "no", "maybe"])
    elif name == "partner":
        plausible = st.sampled_from([p["id"] for p in data["partners"]] + ["p-gone"])
    else:
        plausible = st.one_of(st.text(max_size=30), st.just("x" * (field.max_length + 1)))
    return draw(junk if draw(st.integers(0, 5)) == 5 else plausible)  # 5, not 0: Hypothesis leans to the simplest value


# what each flow's rules ask of its client: drawn often, so that runs get past the rules as well as being stopped by them
FITS: dict[str, dict[str, Any]] = {
    "disconnect-client": {"billing": "partner", "users": True},
    "delete-client": {"billing": "partner", "users": False},
    "deactivate-client": {"billing": "partner", "subscription": "active"},
    "reactivate-client": {"billing": "partner", "subscription": "deactivated"},
    "disconnect-self-paying-client": {"billing": "self_paying", "users": True},
    "invite-accountant": {"partner": None},
}


def fit(draw: st.DrawFn, flow: str, subject: dict[str, Any], data: dict[str, Any]) -> None:
    """Make the client meet the flow's rules (most of the time), leaving the rest as generated."""
    for key, wanted in FITS[flow].items():
        if key == "users":
            if wanted and not subject["users"]:
                subject["users"].append({"id": "cu-fit", "name": "Fit", "email": "fit@mail.example", "role": "administrator", "status": "active"})
            if not wanted:
                subject["users"] = []
        else:
            subject[key] = wanted
    if flow != "invite-accountant" and subject["partner"] in (None, "p-gone"):
        subject["partner"] = draw(st.sampled_from([p["id"] for p in data["partners"]]))


def fitting_actor(flow: str, subject: dict[str, Any], data: dict[str, Any]) -> str | None:
    """An administrator on the right side: the client's practice, or the business itself for an invitation."""
    if flow == "invite-accountant":
        holders = [subject]
    else:
        holders = [p for p in data["partners"] if p["id"] == subject["partner"]]
    for holder in holders:
        for user in holder["users"]:
            if user["role"] == "administrator":
                return str(user["id"])
        if holder["users"]:
            holder["users"][0]["role"] = "administrator"
            return str(holder["users"][0]["id"])
    return None


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], str, str, str, dict[str, Any]]:
    """Data, a flow, an actor (any user), a client, and answers to some or all of the flow's fields."""
    data = draw(datasets())
    flow = draw(st.sampled_from(FLOWS))
    subject = draw(st.sampled_from(data["clients"]))
    if draw(st.integers(0, 3)) < 3:
        fit(draw, flow, subject, data)
    actor = fitting_actor(flow, subject, data) if draw(st.integers(0, 3)) < 3 else None
    everyone = users_of(data)
    if actor is None and everyone:
        actor = draw(st.sampled_from([u["id"] for u in everyone]))
    if actor is None:
        data["partners"][0]["users"].append({"id": "u-only", "name": "Only", "email": "only@mail.example", "role": "administrator"})
        actor = "u-only"
    answers = {name: answer(draw, flow, name, data, subject) for name in PROJECT.flow(flow).fields() if draw(st.integers(0, 9)) < 9}
    if draw(st.integers(0, 9)) == 9:
        answers["not_a_field"] = "x"
    return data, flow, actor, subject["id"], answers


T = TypeVar("T")


def attempt(call: Callable[[], T]) -> T | ClientflowError:
    """The call's result, or the ClientflowError it raised; anything else is a traceback and fails the test."""
    try:
        return call()
    except ClientflowError as exc:
        return exc


def comparable(plan: Plan) -> dict[str, Any]:
    out = plan.to_json()
    del out["run"], out["dry_run"]
    return out


def same_outcome(a: Plan | ClientflowError, b: Plan | ClientflowError) -> None:
    if isinstance(a, ClientflowError) or isinstance(b, ClientflowError):
        assert type(a) is type(b) and str(a) == str(b), (a, b)
    else:
        assert comparable(a) == comparable(b)


def assert_applied(before: dict[str, Any], after: dict[str, Any], plan: Plan) -> None:
    """The data after a commit is what the plan's changes say, field by field."""
    clients_before = {c["id"]: c for c in before["clients"]}
    clients_after = {c["id"]: c for c in after["clients"]}
    for change in plan.changes:
        assert change.entity == "client"
        if change.op == "delete":
            assert change.id in clients_before and change.id not in clients_after
        else:
            assert clients_after[change.id][change.field] == change.after
    touched = {c.id for c in plan.changes}
    assert {k: v for k, v in clients_before.items() if k not in touched} == {k: v for k, v in clients_after.items() if k not in touched}
    assert before["partners"] == after["partners"]


# properties --------------------------------------------------------------------------------------------
@examples(400)
@given(cases())
def test_one_shot_runs_keep_every_promise(case: tuple[dict[str, Any], str, str, str, dict[str, Any]]) -> None:
    one_shot(case, engine_over(case[0]), "memory")


@examples(60)
@given(cases())
def test_one_shot_runs_keep_every_promise_on_sqlite(case: tuple[dict[str, Any], str, str, str, dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        engine = engine_over(case[0], folder)
        try:
            one_shot(case, engine, "sqlite")
        finally:
            engine.close()


def one_shot(case: tuple[dict[str, Any], str, str, str, dict[str, Any]], engine: Engine, backend: str) -> None:
    _, flow, actor, subject, answers = case
    before = engine.export()

    offered = attempt(lambda: engine.available(actor, subject))
    assert not isinstance(offered, ClientflowError), offered
    entry = next(f for f in offered.flows if f.flow == flow)
    assert engine.checker()(actor, subject) == offered.to_json()["flows"], "the hot path disagrees with available()"

    dry = attempt(lambda: engine.simulate(flow, actor, subject, answers))
    if isinstance(dry, Plan):
        assert dry.dry_run and (dry.status == "blocked") == (not entry.available), "simulate and available disagree"
        if dry.status == "completed":
            assert flow in offered.offered()
        if dry.status == "blocked":
            assert [b["rule"] for b in dry.blocked_by] == [r["rule"] for r in entry.reasons]
        else:
            assert dry.blocked_by == []
        if dry.status != "completed":
            assert dry.changes == [] and dry.emails == []
    assert engine.export() == before, "a dry-run wrote"

    real = attempt(lambda: engine.apply(flow, actor, subject, answers))
    assert real is not None
    after = engine.export()
    same_outcome(dry, real)
    if isinstance(real, Plan) and real.status == "completed":
        assert not real.dry_run
        assert_applied(before, after, real)
        assert [e["status"] for e in engine.audit_log()] == ["completed"]
    else:
        assert after == before, "a refused commit wrote"
        assert [e for e in engine.audit_log() if e["status"] == "completed"] == []
        with engine.storage.transaction() as tx:
            assert tx.outbox() == []
    TALLY["examples"] += 1
    TALLY["one-shot"] += 1
    TALLY[backend] += 1
    TALLY[f"status:{real.status if isinstance(real, Plan) else 'error'}"] += 1


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), st.booleans()),
        st.tuples(st.just("back"), st.none()),
        st.tuples(st.just("view"), st.none()),
        st.tuples(st.just("commit"), st.none()),
        st.tuples(st.just("plan"), st.none()),
    ),
    max_size=8,
)
# then the run is answered in full and committed (most often), cancelled, or left open; and anything may follow
ENDINGS = st.sampled_from([[("submit", True), ("commit", None)], [("cancel", None)], []])
ACTIONS = st.tuples(STEPS, ENDINGS, st.lists(st.tuples(st.sampled_from(["submit", "commit", "back", "cancel"]), st.booleans()), max_size=2)).map(
    lambda t: t[0] + t[1] + t[2]
)


@examples(200)
@given(cases(), ACTIONS)
def test_runs_driven_screen_by_screen_keep_every_promise(case: tuple[dict[str, Any], str, str, str, dict[str, Any]], actions: list[tuple[str, Any]]) -> None:
    data, flow, actor, subject, answers = case
    engine = engine_over(data)
    before = engine.export()
    start = attempt(lambda: engine.start(flow, actor, subject))
    assert not isinstance(start, ClientflowError), start
    offered = flow in engine.available(actor, subject).offered()
    assert (start.status == "blocked") == (not offered)
    run, committed = start.run, None
    for action, ahead in actions:
        TALLY["actions"] += 1
        if action == "submit":
            view = attempt(lambda: engine.view(run))
            screen = None if isinstance(view, ClientflowError) else view.screen
            given_now = answers if ahead else {f["name"]: answers[f["name"]] for f in (screen.fields if screen else []) if f["name"] in answers}
            result: Any = attempt(lambda: engine.submit(run, given_now, ahead=bool(ahead)))
        elif action == "back":
            result = attempt(lambda: engine.back(run))
        elif action == "view":
            result = attempt(lambda: engine.view(run))
        elif action == "plan":
            result = attempt(lambda: engine.plan(run))
            assert engine.export() == before
        elif action == "cancel":
            result = attempt(lambda: engine.cancel(run))
        else:
            preview = attempt(lambda: engine.plan(run))
            result = attempt(lambda: engine.commit(run))
            if isinstance(result, Plan) and result.status == "completed":
                assert isinstance(preview, Plan) and preview.status == "completed"
                same_outcome(preview, result)
                committed = result
                assert_applied(before, engine.export(), result)
                break
        if committed is None:
            assert engine.export() == before, f"{action} wrote before any commit"
        if isinstance(result, ClientflowError):
            assert str(result).strip(), "an error without a message"
    if committed is None:
        assert engine.export() == before
        assert [e for e in engine.audit_log() if e["status"] == "completed"] == []
    TALLY["examples"] += 1
    TALLY["stepped"] += 1
    TALLY["committed" if committed else "not committed"] += 1
