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
