"""Authorization is the engine's: the project's `reach` holds even for a flow that forgets every rule.

A copy of the project gets a deliberately careless flow — no `started_by`, no
`preconditions` — that deletes its client. Another practice's user, and a
client's own user reaching for a different business, are still refused in
`available`, the availability hot path, `simulate`, `start`, `apply` and
`commit` (where the actor moved out of reach after the run started), with
the reach rule's message, and nothing changes. Users within reach are offered
the careless flow: the refusals come from reach, not from the flow.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import copy_project
from conftest import open_engine

from clientflow import Engine
from clientflow.runtime.data import Records
from clientflow.storage import Document

CARELESS = """\
id: careless-delete
title: Delete without asking
summary: A flow that forgets every rule; only the project's reach stands between it and any client.
subject: client
steps:
  - id: go
    kind: info
    title: Delete {{ client.name }}
outcome:
  effects:
    - {op: delete}
  emails:
    - template: delete-confirmation
      to: actor.email
  banner: "{{ client.name }} deleted."
  reversible: false
  audit: "{{ actor.email }} deleted {{ client.id }} carelessly"
"""

# (outsider, subject, the reach rule that refuses, an insider for whom the same flow is offered)
OUTSIDERS = [
    pytest.param("hana@harbor.example", "Acme Ltd", "own-practice-clients", "sam@northwind.example", id="another-practices-client"),
    pytest.param("carla@acme.example", "Sunset Cafe", "own-business", "sol@sunset.example", id="client-user-on-another-business"),
]


@pytest.fixture(scope="module")
def careless_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("careless") / "project")
    (project / "flows" / "careless-delete.yaml").write_text(CARELESS, encoding="utf-8")
    return project


@pytest.fixture
def engine(embedded: str, tmp_path: Path, careless_project: Path) -> Iterator[Engine]:
    engine = open_engine(embedded, tmp_path, root=careless_project)
    assert not engine.project.flow("careless-delete").rules, "the careless flow must have no rules of its own"
    yield engine
    engine.close()


def refused(reasons: list[dict[str, str]], rule: str) -> bool:
    return [r["rule"] for r in reasons] == [rule] and all(r["message"].strip() for r in reasons)


@pytest.mark.parametrize(("outsider", "subject", "rule", "insider"), OUTSIDERS)
def test_available_and_the_hot_path_refuse_an_outsider(engine: Engine, outsider: str, subject: str, rule: str, insider: str) -> None:
    offered = {f.flow: f for f in engine.available(outsider, subject).flows}
    assert not offered["careless-delete"].available
    assert refused(offered["careless-delete"].reasons, rule), offered["careless-delete"].reasons
    assert "careless-delete" in engine.available(insider, subject).offered(), "within reach the careless flow is offered: it has no rule of its own"
    fast = {f["flow"]: f for f in engine.checker()(outsider, subject)}
    assert fast["careless-delete"]["available"] is False and refused(fast["careless-delete"]["reasons"], rule)


@pytest.mark.parametrize(("outsider", "subject", "rule", "insider"), OUTSIDERS)
def test_simulate_start_and_apply_refuse_an_outsider_and_change_nothing(engine: Engine, outsider: str, subject: str, rule: str, insider: str) -> None:
    before = engine.export()
    plan = engine.simulate("careless-delete", outsider, subject)
    assert plan.status == "blocked" and refused(plan.blocked_by, rule) and plan.changes == [] and plan.emails == []
    view = engine.start("careless-delete", outsider, subject)
    assert view.status == "blocked" and refused(view.blocked_by, rule) and view.screen is None
    applied = engine.apply("careless-delete", outsider, subject)
    assert applied is not None and applied.status == "blocked" and refused(applied.blocked_by, rule)
    assert engine.export() == before
    assert [e["status"] for e in engine.audit_log()] == ["blocked", "blocked"]
    with engine.storage.transaction() as tx:
        assert tx.outbox() == []
    assert engine.simulate("careless-delete", insider, subject).status == "completed"


def move_user(engine: Engine, user: str, to_collection: str, to_id: str) -> None:
    """Move a nested user record to another holder, as an administrator's edit would (the subject's record untouched unless it held the user)."""
    with engine.storage.transaction(write=True) as tx:
        records = Records(engine.project, tx)
        found = records.locate("user", "id", user)
        assert found is not None
        (collection, holder_id), record = found
        source = tx.get(collection, holder_id)
        target = tx.get(to_collection, to_id)
        assert source is not None and target is not None
        source.body["users"] = [u for u in source.body["users"] if u["id"] != user]
        target.body["users"].append(record)
        for doc in (source, target):
            tx.put(Document(doc.collection, doc.id, doc.body, 0), records.keys(doc.collection, doc.body), expect_version=doc.version)


@pytest.mark.parametrize(
    ("actor", "subject", "moved_to", "rule"),
    [
        pytest.param("u1", "c1", ("partners", "p2"), "own-practice-clients", id="practice-user-moved-to-another-practice"),
        pytest.param("cu1", "c1", ("clients", "c3"), "own-business", id="client-user-moved-to-another-business"),
    ],
)
def test_commit_rechecks_reach_for_a_run_started_within_it(engine: Engine, actor: str, subject: str, moved_to: tuple[str, str], rule: str) -> None:
    view = engine.start("careless-delete", actor, subject, {})
    assert view.status == "ready", view.to_json()
    move_user(engine, actor, *moved_to)
    before = engine.export()
    plan = engine.commit(view.run)
    assert plan.status == "blocked" and refused(plan.blocked_by, rule), plan.blocked_by
    assert plan.changes == [] and plan.emails == []
    assert engine.export() == before
    assert engine.view(view.run).status == "blocked"
    with engine.storage.transaction() as tx:
        assert tx.outbox() == []


def test_without_the_move_the_same_commit_goes_through(engine: Engine) -> None:
    """The control for the test above: the careless flow does delete when the actor is within reach."""
    view = engine.start("careless-delete", "u1", "c1", {})
    plan = engine.commit(view.run)
    assert plan.status == "completed"
    assert "c1" not in {c["id"] for c in engine.export()["clients"]}


def test_reach_is_declared_once_in_the_project_not_in_the_flows(careless_project: Path) -> None:
    engine = Engine.open(careless_project, data=careless_project / "data" / "demo.yaml", notifiers={})
    names: Any = [r.name for r in engine.project.reach]
    assert names == ["own-practice-clients", "own-business"]
    for flow in engine.project.flows.values():
        assert not {r.name for r in flow.rules} & set(names), f"{flow.id} repeats a reach rule"
