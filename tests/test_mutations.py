"""The shipped scenarios bite: each single mutation of the shipped flows makes at least one of them fail.

Every mutation is applied to a copy of the project, which must still load; the
untouched copy passes every scenario, so a failure is the mutation's doing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import PROJECT

from clientflow.conditions.program import load_project
from clientflow.language.project import Extensions
from clientflow.language.yamlfile import load_yaml
from clientflow.plugins import Registry
from clientflow.scenarios.suite import ScenarioResult, load_suite, run_suite, scenario_files

FOLDERS = ("flows", "templates", "schema", "data", "scenarios")


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    change: Callable[[Any], None]


def item(items: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [i for i in items if all(i.get(k) == v for k, v in match.items())]
    assert len(found) == 1, f"the shipped file has changed: no single item {match}"
    return found[0]


def step(doc: dict[str, Any], step_id: str) -> dict[str, Any]:
    return item(doc["steps"], id=step_id)


def field(doc: dict[str, Any], step_id: str, name: str) -> dict[str, Any]:
    return item(step(doc, step_id)["fields"], name=name)


def email(doc: dict[str, Any], template: str) -> dict[str, Any]:
    return item(doc["outcome"]["emails"], template=template)


def drop(items: list[dict[str, Any]], **match: Any) -> None:
    items.remove(item(items, **match))


def setting(target: dict[str, Any], key: str, value: Any) -> None:
    assert key in target or value is not None
    target[key] = value


def negate(rule: dict[str, Any]) -> None:
    rule["if"] = f"not ({rule['if']})"


def swap_first_steps(doc: dict[str, Any]) -> None:
    doc["steps"][0], doc["steps"][1] = doc["steps"][1], doc["steps"][0]


def add_survey(doc: dict[str, Any]) -> None:
    doc["steps"].insert(1, {"id": "survey", "kind": "survey", "title": "Why?", "fields": [{"name": "reason", "type": "text", "required": False}]})


def retitle(lines: list[str]) -> None:
    assert lines[0].startswith("Subject: ")
    lines[0] = "Subject: A business has left your practice"


MUTATIONS = [
    Mutation("a precondition dropped: disconnecting needs no users", "flows/disconnect-client.yaml", lambda d: drop(d["preconditions"], rule="has-users")),
    Mutation("a shared rule negated: active-subscription", "flows/rules.yaml", lambda d: negate(d["rules"]["active-subscription"])),
    Mutation("a shared rule negated: self-paying", "flows/rules.yaml", lambda d: negate(d["rules"]["self-paying"])),
    Mutation(
        "an email removed: the client never hears of a deactivation",
        "flows/deactivate-client.yaml",
        lambda d: drop(d["outcome"]["emails"], template="deactivate-client"),
    ),
    Mutation(
        "a recipient changed: the new owner's email goes to the actor",
        "flows/disconnect-client.yaml",
        lambda d: setting(email(d, "disconnect-client"), "to", "actor.email"),
    ),
    Mutation(
        "a recipient broadened: every user hears of a reactivation",
        "flows/reactivate-client.yaml",
        lambda d: setting(email(d, "reactivate-client"), "to", "client.users | map(attribute='email') | list"),
    ),
    Mutation(
        "an email's when flipped: the client is told when not chosen",
        "flows/deactivate-client.yaml",
        lambda d: setting(email(d, "deactivate-client"), "when", "not answers.notify_client"),
    ),
    Mutation(
        "a step's when added: the owner is not asked once a reason is given",
        "flows/disconnect-client.yaml",
        lambda d: setting(step(d, "choose-owner"), "when", "answers.reason is none"),
    ),
    Mutation(
        "a step's when added: the delete warning only for clients with users",
        "flows/delete-client.yaml",
        lambda d: setting(step(d, "warning"), "when", "client.users | length > 0"),
    ),
    Mutation(
        "an effect's value changed: deactivation sets another state",
        "flows/deactivate-client.yaml",
        lambda d: setting(item(d["outcome"]["effects"], field="subscription"), "to", "'active'"),  # allowed by the schema, wrong by the scenarios
    ),
    Mutation("an effect removed: a disconnect keeps the practice", "flows/disconnect-client.yaml", lambda d: drop(d["outcome"]["effects"], field="partner")),
    Mutation(
        "an effect's value changed: an invitation connects nobody",
        "flows/invite-accountant.yaml",
        lambda d: setting(item(d["outcome"]["effects"], field="partner"), "to", "none"),
    ),
    Mutation(
        "a shared rule's condition changed: two users needed", "flows/rules.yaml", lambda d: setting(d["rules"]["has-users"], "if", "client.users | length > 1")
    ),
    Mutation(
        "a shared rule weakened: any business user may invite",
        "flows/rules.yaml",
        lambda d: setting(d["rules"]["business-administrator"], "if", "actor_business is not none"),
    ),
    Mutation("a confirm removed: the name need not be typed exactly", "flows/delete-client.yaml", lambda d: field(d, "confirm", "confirm_name").pop("confirm")),
    Mutation("a check removed: any practice id is accepted", "flows/invite-accountant.yaml", lambda d: field(d, "choose-practice", "partner").pop("validate")),
    Mutation(
        "a default flipped: the client is emailed unless told not to",
        "flows/deactivate-client.yaml",
        lambda d: setting(field(d, "notify", "notify_client"), "default", True),
    ),
    Mutation(
        "a banner changed: the owner is not named",
        "flows/disconnect-client.yaml",
        lambda d: setting(d["outcome"], "banner", "{{ client.name }} has been disconnected."),
    ),
    Mutation("a reach rule dropped: a practice reaches every client", "flows/project.yaml", lambda d: drop(d["reach"], name="own-practice-clients")),
    Mutation("who may start dropped: anyone may reactivate", "flows/reactivate-client.yaml", lambda d: setting(d, "started_by", [])),
    Mutation("reversibility flipped: deactivation is final", "flows/deactivate-client.yaml", lambda d: setting(d["outcome"], "reversible", False)),
    Mutation("steps swapped: the survey before the explanation", "flows/disconnect-client.yaml", swap_first_steps),
    Mutation("a survey added to the self-paying disconnect", "flows/disconnect-self-paying-client.yaml", add_survey),
    Mutation(
        "options narrowed: invited users cannot own",
        "flows/disconnect-client.yaml",
        lambda d: setting(field(d, "choose-owner", "owner")["options"], "from", "client.users | selectattr('status', 'equalto', 'active') | list"),
    ),
    Mutation(
        "a precondition swapped: deactivating a deactivated client",
        "flows/deactivate-client.yaml",
        lambda d: setting(item(d["preconditions"], rule="active-subscription"), "rule", "deactivated-subscription"),
    ),
    Mutation("an email subject changed", "templates/emails/disconnect-practice.txt", retitle),
]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.collect()


def copy_project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for folder in FOLDERS:
        shutil.copytree(PROJECT / folder, root / folder)
    return root


def apply(root: Path, mutation: Mutation) -> None:
    path = root / mutation.file
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".txt":
        lines = text.split("\n")
        mutation.change(lines)
        changed = "\n".join(lines)
    else:
        doc, _ = load_yaml(text, mutation.file)  # YAML 1.2, as the engine reads it: nothing is coerced on the way back
        mutation.change(doc)
        changed = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=200)
    assert changed != text
    path.write_text(changed, encoding="utf-8")


def run(root: Path, registry: Registry) -> list[ScenarioResult]:
    project = load_project(root, Extensions(registry.functions, registry.filters, registry.effects))  # a mutation must still load
    return run_suite(project, load_suite(project, scenario_files([root / "scenarios"])), registry)


def test_the_untouched_copy_passes_every_scenario(tmp_path: Path, registry: Registry) -> None:
    results = run(copy_project(tmp_path), registry)
    assert results and [r.scenario.name for r in results if not r.passed] == []


def test_there_are_at_least_ten_distinct_mutations() -> None:
    assert len({m.name for m in MUTATIONS}) == len(MUTATIONS) >= 10
    assert len({m.file for m in MUTATIONS}) >= 6


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_the_suite_catches_the_mutation(mutation: Mutation, tmp_path: Path, registry: Registry) -> None:
    root = copy_project(tmp_path)
    apply(root, mutation)
    # caught by what the flow does, not only by a scenario naming something the mutation removed
    failed = [r.scenario.name for r in run(root, registry) if any(m.what != "unknown name" for m in r.mismatches)]
    assert failed, f"no scenario noticed: {mutation.name}"
