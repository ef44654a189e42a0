"""The availability hot path (engine/runtime/rulebook.py) answers exactly what Engine.available answers."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import DEMO, PROJECT

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
