"""A copy of the fixture project whose deactivate-client flow waits for another administrator's approval.

Northwind (p1) gains two more administrators, u4 (bea@northwind.example) and u5 (cole@...); u1 starts the runs.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from cli_support import copy_project
from conftest import NOW

from clientflow import Engine

APPROVAL_STEP = """  - id: second-approval
    kind: approval
    title: Another administrator approves deactivating {{ client.name }}
    body: The deactivation waits until another administrator of {{ actor_practice.name }} approves it.
    when: not answers.reason or answers.reason != 'urgent'
    approvers:
      - rule: practice-administrator
    expires: 7 days
    request:
      template: approval-request
      to: partner.users | selectattr("role", "equalto", "administrator") | rejectattr("id", "equalto", actor.id) | map(attribute="email") | list
    decision:
      template: approval-decision
      to: actor.email
"""
REQUEST = """Subject: {{ actor.email }} asks you to approve: {{ flow.title }} for {{ client.name }}

Run {{ approval.run }} waits for your approval until {{ approval.expires }}.
"""
DECISION = """Subject: {{ flow.title }} for {{ client.name }}: {{ approval.status }}

Your request was {{ approval.status }}{% if approval.by %} by {{ approval.by }}{% endif %}.{% if approval.reason %} Reason: {{ approval.reason }}{% endif %}
"""
SECOND_ADMIN = (
    "      - {id: u4, name: Bea Boss, email: bea@northwind.example, role: administrator}\n"
    "      - {id: u5, name: Cole Chief, email: cole@northwind.example, role: administrator}\n"
)
THIRD = "cole@northwind.example"
STARTER, APPROVER, STANDARD, OTHER_PRACTICE = "alice@northwind.example", "bea@northwind.example", "sam@northwind.example", "hana@harbor.example"
SUBJECT = "c1"


def approval_project(target: Path, step: str = APPROVAL_STEP) -> Path:
    """The copy, in `target`: deactivate-client ends with `step` (an approval unless the reason is 'urgent')."""
    root = copy_project(target)
    flow = root / "flows" / "deactivate-client.yaml"
    text = flow.read_text(encoding="utf-8")
    text = text.replace("outcome:\n", step + "outcome:\n", 1)
    flow.write_text(text, encoding="utf-8")
    emails = root / "templates" / "emails"
    (emails / "approval-request.txt").write_text(REQUEST, encoding="utf-8")
    (emails / "approval-decision.txt").write_text(DECISION, encoding="utf-8")
    data = root / "data" / "demo.yaml"
    marker = "      - {id: u2, name: Sam Standard, email: sam@northwind.example, role: standard}\n"
    data.write_text(data.read_text(encoding="utf-8").replace(marker, marker + SECOND_ADMIN, 1), encoding="utf-8")
    return root


def open_approval(root: Path, backend: str, now: datetime = NOW, **options: object) -> Engine:
    """An engine on the copy: memory (data loaded), or a SQLite file loaded once, or a PostgreSQL URL given as `db`."""
    options.setdefault("notifiers", {})
    if backend == "memory":
        return Engine.open(root, data=root / "data" / "demo.yaml", now=now, **options)  # type: ignore[arg-type]
    db = options.pop("db", root / "clientflow.db")
    engine = Engine.open(root, db=db, now=now, **options)  # type: ignore[arg-type]
    if engine.is_empty():
        engine.load_data(root / "data" / "demo.yaml")
    return engine
