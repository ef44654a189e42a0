"""What a scenario expects of a plan, and every way the plan differs from it.

`read` turns a scenario's validated `expect` mapping into an `Expect`, checking each
name it mentions (steps, rules, fields, templates, flows) against the flow: a name the
flow lacks (misspelled, or removed from the flow since) fails the scenario, located.
`compare` matches a plan against it and returns `Mismatch`es: expected and actual
side by side, and for a change or an email, field by field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..errors import did_you_mean
from ..language.model import BUILTIN_EFFECTS, Project
from ..plain import frozen
from ..runtime.approvals import APPROVERS_RULE, STARTER_RULE
from ..runtime.plan import Plan

CHANGE_KEYS = ("op", "entity", "id", "field", "before", "after")
EMAIL_KEYS = ("template", "to", "subject", "text")
Report = Callable[[tuple[Hashable, ...], str], None]
FLOW_KEYS = ("status", "blocked_by", "screens", "changes", "emails", "banner", "reversible", "errors", "needs", "warnings")  # need a flow
LATER_KEYS = ("worker", "exists")  # only in a `then` step
EXPECT_KEYS = (*FLOW_KEYS, "offered", "scheduled", *LATER_KEYS)
SCHEDULED_KEYS = ("at", "kind", "op", "entity", "field", "template", "unless")


@frozen
class Expect:
    """The expectations of one scenario; None means "not checked"."""

    status: str | None = None
    blocked_by: tuple[tuple[str, str | None], ...] | None = None
    offered: tuple[str, ...] | None = None
    screens: tuple[str, ...] | None = None
    changes: tuple[dict[str, Any], ...] | None = None
    emails: tuple[dict[str, Any], ...] | None = None
    banner: str | None = None
    no_banner: bool = False
    reversible: bool | None = None
    errors: tuple[tuple[str, str | None], ...] | None = None
    needs: tuple[str, ...] | None = None
    warnings: tuple[tuple[str, str | None], ...] | None = None  # (code, text the message contains)
    scheduled: tuple[dict[str, Any], ...] | None = None  # the plan's scheduled parts, or (in a `then` step) the pending work
    worker_changes: tuple[dict[str, Any], ...] | None = None  # in a `then` step: what the worker's pass changed
    worker_emails: tuple[dict[str, Any], ...] | None = None
    worker_dropped: tuple[str, ...] | None = None
    exists: bool | None = None
    unknown: tuple[str, ...] = ()  # located messages for names the flow does not have


@frozen
class Mismatch:
    """One way the plan differs from the scenario.

    `expected` or `actual` is None for a missing or an unexpected item; `fields`
    lists (key, expected, actual) for each key of an item that differs.
    """

    what: str
    expected: Any
    actual: Any
    fields: tuple[tuple[str, Any, Any], ...] = ()
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "expected": self.expected,
            "actual": self.actual,
            "fields": [{"key": k, "expected": e, "actual": a} for k, e, a in self.fields],
            "note": self.note,
        }


# reading ----------------------------------------------------------------


def _updated_fields(project: Project) -> frozenset[str] | None:
    """Every field an update effect of any flow writes (a change of a later step may come from another flow's
    scheduled work), or None when a plugin's effect may write fields no flow names."""
    effects = [effect for flow in project.flows.values() for effect in flow.outcome.effects]
    if any(effect.op not in BUILTIN_EFFECTS for effect in effects):
        return None
    return frozenset(effect.field for effect in effects if effect.op == "update" and effect.field is not None)


def read(doc: Mapping[str, Any], project: Project, flow_id: str | None, error: Report, unknown: Report, *, later: bool = False) -> Expect:
    """An `Expect` from a schema-valid mapping.

    `error(keys, message)` reports what makes the scenario unreadable; `unknown(keys,
    message)` a name the flow does not have, which fails the scenario when it runs.
    `later`: the expectations of a `then` step, which may also say what the worker did.
    """
    if not later:
        for key in LATER_KEYS:
            if key in doc:
                error((key,), f"expect.{key} is for a step under `then` (after time has moved forward); move it there")
    timed = _timed(doc)
    if flow_id is None:
        for key in doc:
            if key in FLOW_KEYS:
                error((), f"expect.{key} needs a flow; without one a scenario checks only which flows are offered (expect.offered)")
        if "scheduled" in doc and not later:
            error(("scheduled",), "expect.scheduled needs a flow (what its plan schedules) or a step under `then` (what is pending)")
        _names(doc.get("offered", []), project.flows, "flow", ("offered",), unknown)
        return Expect(offered=tuple(doc["offered"]) if "offered" in doc else None, **timed)
    flow = project.flow(flow_id)
    if "offered" in doc:
        error(("offered",), "expect.offered lists the flows offered and needs no flow; move it to a scenario without one")
    rules = [r.name for r in (*project.reach, *flow.rules)]
    for step in flow.approvals:  # who may decide a run waiting for approval: the engine's own rules, then the step's
        assert step.approval is not None
        rules += [STARTER_RULE, APPROVERS_RULE, *(r.name for r in step.approval.approvers)]
    fields = flow.fields()
    blocked = _pairs(doc.get("blocked_by"), "rule")
    errors = _pairs(doc.get("errors"), "field")
    _names([r for r, _ in blocked or ()], rules, f"rule of {flow_id}", ("blocked_by",), unknown)
    _names([f for f, _ in errors or ()], fields, f"field of {flow_id}", ("errors",), unknown)
    _names(doc.get("needs", []), fields, f"field of {flow_id}", ("needs",), unknown)
    _names(doc.get("screens", []), [s.id for s in flow.steps], f"step of {flow_id}", ("screens",), unknown)
    templates = [e.template for e in flow.outcome.emails]
    sent = [t for t in templates if t in project.emails]  # a name the flow gives that no template has is its own error, told there
    for index, email in enumerate(doc.get("emails", [])):
        if "template" in email and email["template"] not in templates:
            if len(sent) < len(templates) and email["template"] in project.emails:
                continue  # a real template, most likely the one the flow's misspelled name meant: not a mistake of the scenario
            unknown(("emails", index, "template"), f"{flow_id} sends no email {email['template']!r}{did_you_mean(email['template'], sent)}")
    updated = _updated_fields(project)
    for index, change in enumerate(doc.get("changes", [])):
        if "entity" in change and change["entity"] not in project.entities:
            unknown(("changes", index, "entity"), f"unknown entity {change['entity']!r}{did_you_mean(change['entity'], project.entities)}")
        field = change.get("field")
        if updated is not None and isinstance(field, str) and field not in updated:
            unknown(("changes", index, "field"), f"no flow of the project updates a field {field!r}{did_you_mean(field, updated)}")
    return Expect(
        status=doc.get("status"),
        blocked_by=blocked,
        screens=tuple(doc["screens"]) if "screens" in doc else None,
        changes=tuple(doc["changes"]) if "changes" in doc else None,
        emails=tuple(doc["emails"]) if "emails" in doc else None,
        banner=doc.get("banner"),
        no_banner="banner" in doc and doc["banner"] is None,
        reversible=doc.get("reversible"),
        errors=errors,
        needs=tuple(doc["needs"]) if "needs" in doc else None,
        warnings=_pairs(doc.get("warnings"), "code"),
        **timed,
    )


def _timed(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The expectations about time: scheduled work, the worker's pass, whether the subject still exists."""
    worker = doc.get("worker", {})
    return {
        "scheduled": tuple(doc["scheduled"]) if "scheduled" in doc else None,
        "worker_changes": tuple(worker["changes"]) if "changes" in worker else None,
        "worker_emails": tuple(worker["emails"]) if "emails" in worker else None,
        "worker_dropped": tuple(worker["dropped"]) if "dropped" in worker else None,
        "exists": doc.get("exists"),
    }


def _pairs(items: Sequence[Any] | None, key: str) -> tuple[tuple[str, str | None], ...] | None:
    if items is None:
        return None
    return tuple((item, None) if isinstance(item, str) else (item[key], item.get("message")) for item in items)


def _names(given: Sequence[str], known: Any, what: str, at: tuple[Hashable, ...], error: Report) -> None:
    for index, name in enumerate(given):
        if name not in known:
            error((*at, index), f"no {what} is named {name!r}{did_you_mean(name, known)}")


# comparing --------------------------------------------------------------
def compare_offered(expect: Expect, offered: Sequence[str]) -> list[Mismatch]:
    """Mismatches between the flows expected to be offered and those offered."""
    names = [Mismatch("unknown name", None, None, note=n) for n in expect.unknown]
    if expect.offered is None or set(expect.offered) == set(offered):
        return names
    missing = sorted(set(expect.offered) - set(offered))
    extra = sorted(set(offered) - set(expect.offered))
    note = "; ".join(part for part in (f"not offered: {', '.join(missing)}" if missing else "", f"also offered: {', '.join(extra)}" if extra else "") if part)
    return [*names, Mismatch("offered", sorted(expect.offered), sorted(offered), note=note)]


def compare(expect: Expect, plan: Plan) -> list[Mismatch]:
    """Every difference between a plan and what the scenario expects of it."""
    out = [Mismatch("unknown name", None, None, note=n) for n in expect.unknown]
    if expect.status is not None and expect.status != plan.status:
        why = (
            "; ".join(f"{b['rule']}: {b['message']}" for b in plan.blocked_by)
            or "; ".join(f"{e['field']}: {e['message']}" for e in plan.errors)
            or "; ".join(f"no answer for {n['field']} (screen {n['step']})" for n in plan.needs)
        )
        out.append(Mismatch("status", expect.status, plan.status, note=why))
    if expect.blocked_by is not None:
        out += _named("blocked_by", expect.blocked_by, {b["rule"]: b["message"] for b in plan.blocked_by})
    if expect.errors is not None:
        out += _named("errors", expect.errors, {e["field"]: e["message"] for e in plan.errors})
    if expect.needs is not None and sorted(expect.needs) != sorted(n["field"] for n in plan.needs):
        out.append(Mismatch("needs", sorted(expect.needs), sorted(n["field"] for n in plan.needs)))
    shown = [s.step for s in plan.screens]
    if expect.screens is not None and list(expect.screens) != shown:
        out.append(Mismatch("screens", list(expect.screens), shown))
    if expect.changes is not None:
        out += _items("changes", expect.changes, [c.to_json() for c in plan.changes], CHANGE_KEYS, _change_fits)
    if expect.emails is not None:
        out += _items("emails", expect.emails, [e.to_json() for e in plan.emails], EMAIL_KEYS, _email_fits)
    if expect.no_banner and plan.banners:
        out.append(Mismatch("banner", None, plan.banners, note="no banner was expected"))
    if expect.banner is not None and not any(expect.banner in b for b in plan.banners):
        out.append(Mismatch("banner", expect.banner, plan.banners, note="no banner contains the expected text"))
    if expect.reversible is not None and expect.reversible != plan.reversible:
        out.append(Mismatch("reversible", expect.reversible, plan.reversible))
    if expect.warnings is not None:
        out += _warnings(expect.warnings, plan.warnings)
    if expect.scheduled is not None:
        out += compare_scheduled(expect, [s.to_json() for s in plan.scheduled])
    return out


def scheduled_shape(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plan's scheduled part, or a pending item, as a scenario matches it: at, kind, op, entity, field, template, unless."""
    what = item.get("what", {})
    return {"at": item.get("at"), "kind": item.get("kind"), **{k: what.get(k) for k in ("op", "entity", "field", "template")}, "unless": item.get("unless")}


def _scheduled_fits(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> list[str]:
    wrong = []
    for key in SCHEDULED_KEYS:
        if key not in expected:
            continue
        if key == "at":
            if _instant(expected[key]) is None or _instant(expected[key]) != _instant(actual.get(key)):
                wrong.append(key)
        elif key == "unless":
            if str(expected[key]) not in str(actual.get(key) or ""):
                wrong.append(key)
        elif not _same(expected[key], actual.get(key)):
            wrong.append(key)
    return wrong


def _instant(value: Any) -> datetime | None:
    """An ISO 8601 time (UTC when it names no zone), or None when it is not one."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def compare_scheduled(expect: Expect, actual: Sequence[Mapping[str, Any]]) -> list[Mismatch]:
    """Exactly the scheduled work expected, each matching on the keys it gives."""
    assert expect.scheduled is not None
    return _items("scheduled", expect.scheduled, [scheduled_shape(a) for a in actual], SCHEDULED_KEYS, _scheduled_fits)


def compare_later(expect: Expect, worker: Mapping[str, Any], pending: Sequence[Mapping[str, Any]], exists: bool) -> list[Mismatch]:
    """What a `then` step expects of the worker's pass (`worker`: its changes, emails and dropped reasons), the pending work and the subject."""
    out: list[Mismatch] = []
    if expect.worker_changes is not None:
        out += _items("worker changes", expect.worker_changes, worker["changes"], CHANGE_KEYS, _change_fits)
    if expect.worker_emails is not None:
        out += _items("worker emails", expect.worker_emails, worker["emails"], EMAIL_KEYS, _email_fits)
    if expect.worker_dropped is not None:
        reasons = [d["reason"] for d in worker["dropped"]]
        unmatched = list(reasons)
        for text in expect.worker_dropped:
            hit = next((r for r in unmatched if text in r), None)
            if hit is None:
                out.append(Mismatch("worker dropped", text, reasons, note="no part was dropped for a reason containing this"))
            else:
                unmatched.remove(hit)
        for reason in unmatched:
            out.append(Mismatch("worker dropped", None, reason, note="a part was dropped that the step does not expect"))
    if expect.scheduled is not None:
        out += compare_scheduled(expect, pending)
    if expect.exists is not None and expect.exists != exists:
        out.append(Mismatch("exists", expect.exists, exists, note="the subject was expected to " + ("exist" if expect.exists else "be gone")))
    return out


def _warnings(expected: Sequence[tuple[str, str | None]], actual: Sequence[Mapping[str, str]]) -> list[Mismatch]:
    """Exactly the warnings expected (by code, as often as listed), each with the text it should contain."""
    codes, got = sorted(code for code, _ in expected), sorted(w["code"] for w in actual)
    out = []
    if codes != got:
        missing = [c for c in codes if codes.count(c) > got.count(c)]
        extra = [c for c in got if got.count(c) > codes.count(c)]
        note = "; ".join(
            p
            for p in (f"missing: {', '.join(dict.fromkeys(missing))}" if missing else "", f"unexpected: {', '.join(dict.fromkeys(extra))}" if extra else "")
            if p
        )
        out.append(Mismatch("warnings", codes, [w["message"] for w in actual], note=note))
    for code, text in expected:
        if text is not None and not any(w["code"] == code and text in w["message"] for w in actual):
            out.append(Mismatch(f"warnings {code}", text, [w["message"] for w in actual if w["code"] == code], note="no warning contains the expected text"))
    return out


def _named(what: str, expected: Sequence[tuple[str, str | None]], actual: Mapping[str, str]) -> list[Mismatch]:
    names = sorted(name for name, _ in expected)
    out = []
    if names != sorted(actual):
        missing = [n for n in names if n not in actual]
        extra = [n for n in sorted(actual) if n not in names]
        note = "; ".join(p for p in (f"missing: {', '.join(missing)}" if missing else "", f"unexpected: {', '.join(extra)}" if extra else "") if p)
        out.append(Mismatch(what, names, sorted(actual), note=note))
    for name, text in expected:
        if text is not None and name in actual and text not in actual[name]:
            out.append(Mismatch(f"{what} {name}", text, actual[name], note="the message does not contain the expected text"))
    return out


def _same(expected: Any, actual: Any) -> bool:
    """Equal as data: yes/no is never a number, and an id written as a number matches its text."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, (int, float)) and isinstance(actual, str):
        return str(expected) == actual
    return bool(expected == actual)


def _change_fits(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> list[str]:
    """The keys of an expected change that the actual change does not match."""
    return [k for k in CHANGE_KEYS if k in expected and not _same(expected[k], actual.get(k))]


def _email_fits(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> list[str]:
    """The keys of an expected email that the actual email does not match."""
    wrong = []
    if "template" in expected and expected["template"] != actual["template"]:
        wrong.append("template")
    if "to" in expected:
        to = expected["to"]
        if (to not in actual["to"]) if isinstance(to, str) else (sorted(to) != sorted(actual["to"])):
            wrong.append("to")
    for key in ("subject", "text"):
        if key in expected and expected[key] not in (actual[key] or ""):
            wrong.append(key)
    return wrong


def _items(
    what: str,
    expected: Sequence[Mapping[str, Any]],
    actual: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    fits: Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]],
) -> list[Mismatch]:
    """Match expected items to actual ones one to one; report the rest field by field."""
    taken_by: dict[int, int] = {}  # actual index -> expected index

    def place(i: int, tried: set[int]) -> bool:
        for j in range(len(actual)):
            if j in tried or fits(expected[i], actual[j]):
                continue
            tried.add(j)
            if j not in taken_by or place(taken_by[j], tried):
                taken_by[j] = i
                return True
        return False

    for i in range(len(expected)):
        place(i, set())
    placed = set(taken_by.values())
    free = [j for j in range(len(actual)) if j not in taken_by]
    out = []
    for i, item in enumerate(expected):
        if i in placed:
            continue
        closest = min(free, key=lambda j: (len(fits(item, actual[j])), j), default=None)
        if closest is None:
            out.append(Mismatch(f"{what}[{i}]", dict(item), None, note=f"missing {what[:-1]}"))
            continue
        free.remove(closest)
        wrong = fits(item, actual[closest])
        shown = {k: actual[closest].get(k) for k in keys}
        out.append(Mismatch(f"{what}[{i}]", dict(item), shown, tuple((k, item[k], shown[k]) for k in wrong), note="closest"))
    for j in free:
        out.append(Mismatch(what, None, {k: actual[j].get(k) for k in keys}, note=f"unexpected {what[:-1]}"))
    return out


def show(value: Any) -> str:
    """A value as a scenario file would write it."""
    return json.dumps(value, ensure_ascii=False, default=str)
