"""A review grouped for people: the pairs that changed counted by flow and by cause.

"archive-item: now blocked for 3 subjects (6 pairs) by `not-empty`". The JSON lists every
pair; text and Markdown print these groups, each with a few of its pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import Review
from .behaviour import PairChange


@dataclass
class Group:
    """Pairs of one flow that changed the same way, and the sentence that says how."""

    flow: str
    sentence: str
    pairs: list[PairChange] = field(default_factory=list)
    detail: dict[str, Any] | None = None  # for a plan's difference: the first pair's

    def who(self, review: Review, limit: int) -> list[str]:
        """`Acme Ltd (c1) · Alice Admin (u1)` for the first pairs, then `and N more`."""
        behaviour = review.behaviour
        assert behaviour is not None
        lines = [f"{_named(behaviour.subjects, p.subject)} · {_named(behaviour.actors, p.actor)}" for p in self.pairs[:limit]]
        if len(self.pairs) > limit:
            lines.append(f"and {len(self.pairs) - limit} more")
        return lines


def _named(names: dict[str, str], key: str) -> str:
    label = names.get(key, key)
    return f"{label} ({key})" if label != key else key


def rules(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) or "no rule"


def _count(review: Review, pairs: list[PairChange]) -> str:
    entity = review.project.entities[review.project.subject_entity]
    subjects = len({p.subject for p in pairs})
    word = entity.name if subjects == 1 else (entity.collection or f"{entity.name}s")
    return f"{subjects} {word} ({len(pairs)} pair{'s' if len(pairs) != 1 else ''})"


def _plan_key(difference: dict[str, Any]) -> tuple[Any, ...]:
    what = difference["what"]
    if what in ("status", "screens", "emails"):
        return (what, difference.get("template"), repr(difference["before"]) if what != "emails" else difference["before"] is None)
    return (what, difference.get("template"), difference.get("step"))


def _plan_sentence(difference: dict[str, Any], count: str) -> str:
    what, before, after = difference["what"], difference.get("before"), difference.get("after")
    template, step = difference.get("template"), difference.get("step")
    sentences = {
        "status": f"dry-runs end {after} instead of {before} for {count}",
        "screens": f"screens {' → '.join(map(str, before or [])) or '(none)'} become {' → '.join(map(str, after or [])) or '(none)'} for {count}",
        "screen-text": f"screen {step!r} reads differently for {count}",
        "changes": f"the changes differ for {count}",
        "emails": f"email {template!r} {'now sent' if before is None else 'no longer sent'} for {count}",
        "email-recipients": f"email {template!r} goes to other recipients for {count}",
        "email-text": f"email {template!r} reads differently for {count}",
        "banner": f"the banner differs for {count}",
        "undo": f"undo differs for {count}",
    }
    return sentences.get(what, f"{what} differs for {count}")


def groups(review: Review) -> list[Group]:
    """The behaviour's pairs grouped by flow and cause, flows in order, larger groups first within a flow."""
    if review.behaviour is None:
        return []
    availability: dict[tuple[Any, ...], list[PairChange]] = {}
    plans: dict[tuple[Any, ...], tuple[dict[str, Any], list[PairChange]]] = {}
    for pair in review.behaviour.pairs:
        if pair.before != pair.after:
            deciding = pair.before_blocked_by if pair.after == "offered" else pair.after_blocked_by
            availability.setdefault((pair.flow, pair.before, pair.after, tuple(deciding)), []).append(pair)
        for difference in pair.plan:
            found = plans.setdefault((pair.flow, *_plan_key(difference)), (difference, []))
            found[1].append(pair)
    out: list[Group] = []
    for (flow, before, after, deciding), pairs in availability.items():
        count = _count(review, pairs)
        if before == "absent":
            sentence = f"new flow, offered for {count}"
        elif after == "absent":
            sentence = f"flow gone, was offered for {count}"
        elif after == "offered":
            sentence = f"now offered for {count}, no longer blocked by {rules(list(deciding))}"
        else:
            sentence = f"now blocked for {count} by {rules(list(deciding))}"
        out.append(Group(flow, sentence, pairs))
    for key, (difference, pairs) in plans.items():
        out.append(Group(key[0], _plan_sentence(difference, _count(review, pairs)), pairs, difference))
    order = {d.flow: i for i, d in enumerate(review.semantic.flows)}
    out.sort(key=lambda g: (order.get(g.flow, len(order)), g.detail is not None, -len(g.pairs)))
    return out


def gate(review: Review, fail_on: str) -> bool:
    """Whether `--fail-on` asks to fail: behaviour (a pair's availability changed), plan (that, or a dry-run differs),
    semantic (any edit); none never."""
    pairs = review.behaviour.pairs if review.behaviour else []
    if fail_on == "behaviour":
        return any(p.before != p.after for p in pairs)
    if fail_on == "plan":
        return bool(pairs)
    if fail_on == "semantic":
        return review.semantic.changed
    return False
