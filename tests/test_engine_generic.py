"""The engine is generic: it names no domain word, and runs a project about something else entirely, untouched."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from conftest import REPO, Recorder, open_engine

from clientflow import Engine

DOMAIN = re.compile(r"\b(client|clients|partner|practice|subscription|owner)\b", re.IGNORECASE)


def domain_words(paths: list[Path]) -> list[str]:
    """`file:line: text` for every line naming a domain word."""
    return [
        f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}:{number}: {line.strip()}"
        for path in paths
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if DOMAIN.search(line)
    ]


def test_the_engine_names_no_domain_word() -> None:
    sources = sorted((REPO / "engine").rglob("*.py"))
    assert len(sources) > 10
    found = domain_words(sources)
    assert found == [], "engine/ must not name the domain (it belongs in flows/, templates/ and data):\n" + "\n".join(found)


def test_the_domain_word_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('"""Acts on a Client."""\nactor_practice = 1  # a name, not the word\nowners = owner_id = 2\nOWNER=3\n', encoding="utf-8")
    assert domain_words([sample]) == [f'{sample}:1: """Acts on a Client."""', f"{sample}:4: OWNER=3"]


# a second project: offboarding employees ------------------------------------------------------
OFFBOARDING = {
    "flows/project.yaml": """
        product:
          name: People Hub
          sender: hr@people.example
        entities:
          team:
            collection: teams
            keys: [id, name]
            label: name
          member:
            nested: {in: [team], key: members}
            keys: [id, email]
            label: email
          employee:
            collection: employees
            keys: [id, email]
            label: name
          ticket:
            collection: tickets
            keys: [id]
            label: id
        subject:
          entity: employee
          match: [id, email]
        actor:
          entity: member
          match: [id, email]
          within:
            team: actor_team
        context:
          team: lookup('team', employee.team)
        reach:
          - name: own-team
            if: actor_team is not none and employee.team == actor_team.id
            message: "{{ employee.name }} is not in your team, so you cannot act on them."
    """,
    "flows/offboard-employee.yaml": """
        id: offboard-employee
        title: Offboard employee
        summary: On an employee's last day, end their access and hand their work to a teammate.
        subject: employee
        started_by:
          - name: team-lead
            if: actor.role == 'lead'
            message: Only a team lead can offboard someone, and you are {{ actor.role }}.
        preconditions:
          - name: still-here
            if: employee.status == 'active'
            message: "{{ employee.name }} has already left."
        steps:
          - id: explain
            kind: info
            title: Offboard {{ employee.name }} from {{ team.name }}?
            body: Their access ends today. A ticket asks IT to collect their laptop.
          - id: handover
            kind: choice
            title: Who takes over {{ employee.name }}'s work?
            fields:
              - name: successor
                type: choice
                label: Successor
                required: true
                options:
                  from: team.members
                  value: id
                  match: [email]
                  label: "{{ item.email }}"
          - id: laptop
            kind: form
            title: Where should {{ employee.name }} send the laptop?
            when: employee.remote
            fields:
              - {name: address, type: text, required: true}
          - id: confirm
            kind: confirm
            title: Type {{ employee.email }} to confirm
            fields:
              - name: typed
                type: text
                label: Email
                required: true
                confirm: employee.email
        outcome:
          effects:
            - {op: update, field: status, to: "'left'"}
            - {op: update, field: successor, to: answers.successor}
            - op: create
              entity: ticket
              values: {id: "'off-' ~ employee.id", employee: employee.id, task: "'collect laptop'"}
          emails:
            - template: farewell
              to: employee.email
          banner: "{{ employee.name }} has been offboarded."
          reversible: false
          audit: "{{ actor.email }} offboarded {{ employee.email }}"
    """,
    "templates/emails/farewell.txt": """
        Subject: Goodbye from {{ team.name }}, {{ employee.name }}
        Your access to {{ product.name }} ends today. Thank you!
    """,
    "people.yaml": """
        teams:
          - id: t1
            name: Platform
            members:
              - {id: m1, email: lee@people.example, role: lead}
              - {id: m2, email: kim@people.example, role: engineer}
          - id: t2
            name: Design
            members:
              - {id: m3, email: ada@people.example, role: lead}
        employees:
          - {id: e1, name: Robin Stone, email: robin@people.example, team: t1, status: active, successor: null, remote: false}
          - {id: e2, name: Sam Far, email: sam@people.example, team: t1, status: active, successor: null, remote: true}
        tickets: []
    """,
}


@pytest.fixture
def people(embedded: str, tmp_path: Path) -> Engine:
    root = tmp_path / "people"
    for name, text in OFFBOARDING.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return open_engine(embedded, tmp_path, root=root, data=root / "people.yaml", notifiers={"record": Recorder()})


def test_another_project_runs_on_the_same_engine(people: Engine) -> None:
    assert people.available("lee@people.example", "robin@people.example").offered() == ["offboard-employee"]
    view = people.start("offboard-employee", "lee@people.example", "robin@people.example")
    assert view.screen is not None and view.screen.title == "Offboard Robin Stone from Platform?"
    view = people.submit(view.run, {})
    assert view.screen is not None and [o["value"] for o in view.screen.fields[0]["options"]] == ["m1", "m2"]
    view = people.submit(view.run, {"successor": "kim@people.example"})
    assert people.submit(view.run, {"typed": "robin@people.exampl"}).errors[0]["field"] == "typed"
    view = people.submit(view.run, {"typed": "robin@people.example"})
    assert view.status == "ready"

    plan = people.commit(view.run)
    assert plan.status == "completed"
    assert [(c.op, c.entity, c.id, c.field, c.after) for c in plan.changes] == [
        ("update", "employee", "e1", "status", "left"),
        ("update", "employee", "e1", "successor", "m2"),
        ("create", "ticket", "off-e1", None, {"id": "off-e1", "employee": "e1", "task": "collect laptop"}),
    ]
    assert [(e.template, e.to, e.subject) for e in plan.emails] == [("farewell", ["robin@people.example"], "Goodbye from Platform, Robin Stone")]
    assert plan.banners == ["Robin Stone has been offboarded."]
    data = people.export()
    assert data["employees"][0]["status"] == "left" and data["tickets"] == [{"id": "off-e1", "employee": "e1", "task": "collect laptop"}]
    assert people.audit_log()[-1]["summary"] == "lee@people.example offboarded robin@people.example"


def test_another_projects_rules_and_reach_are_explained(people: Engine) -> None:
    outsider = people.simulate("offboard-employee", "ada@people.example", "robin@people.example").blocked_by
    assert outsider == [{"rule": "own-team", "message": "robin@people.example is not in your team, so you cannot act on them."}]  # named as asked, no more
    engineer = people.simulate("offboard-employee", "m2", "e1").blocked_by
    assert engineer == [{"rule": "team-lead", "message": "Only a team lead can offboard someone, and you are engineer."}]
    assert people.apply("offboard-employee", "m1", "e1", {"successor": "m2", "typed": "robin@people.example"}).status == "completed"  # type: ignore[union-attr]
    assert people.simulate("offboard-employee", "m1", "e1").blocked_by == [{"rule": "still-here", "message": "Robin Stone has already left."}]


def test_a_step_whose_condition_is_false_is_skipped_both_ways(people: Engine) -> None:
    def screens(subject: str) -> list[str]:
        return [screen.step for screen in people.simulate("offboard-employee", "m1", subject, {"successor": "m2"}).screens]

    assert screens("e1") == ["explain", "handover", "confirm"]
    assert screens("e2") == ["explain", "handover", "laptop"]

    view = people.start("offboard-employee", "m1", "e2")
    for answers in ({}, {"successor": "m2"}, {"address": "1 Far Lane"}):
        view = people.submit(view.run, answers)
    assert view.screen is not None and view.screen.step == "confirm"
    assert people.back(view.run).screen.step == "laptop"  # type: ignore[union-attr]
    assert people.back(view.run).screen.step == "handover"  # type: ignore[union-attr]

    remote_free = people.start("offboard-employee", "m1", "e1")
    people.submit(remote_free.run, {})
    at_confirm = people.submit(remote_free.run, {"successor": "m1"})
    assert at_confirm.screen is not None and at_confirm.screen.step == "confirm"
    assert people.back(remote_free.run).screen.step == "handover"  # type: ignore[union-attr]
