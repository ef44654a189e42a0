"""Peer engines answering the availability question for the shipped flows, for the benchmark.

"Which flows are offered to this actor for this client, with every failed rule
and its message?" answered by GoRules zen-engine (a decision table evaluated by
key), by transitions and by python-statemachine (each flow a transition guarded
by its rules). Each peer reads the same in-memory indexes as `handwritten.py`
(`scope_of` below) and must give exactly its answer; `run.py` checks that once
before timing. Each peer goes the cheapest way its library offers that still
lets the library decide.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

from handwritten import ADMIN_ONLY, _long_date

Scope = dict[str, Any]
Answer = list[dict[str, Any]]

REACH = ("own-practice-clients", "own-business")
FLOWS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("deactivate-client", "Deactivate client", (*REACH, "practice-administrator", "paid-by-practice", "active-subscription", "not-pending-deletion")),
    ("delete-client", "Delete client", (*REACH, "practice-administrator", "paid-by-practice", "no-users", "deletion-not-pending")),
    ("disconnect-client", "Disconnect client", (*REACH, "practice-administrator", "paid-by-practice", "has-users", "not-pending-deletion")),
    ("disconnect-self-paying-client", "Disconnect self-paying client", (*REACH, "practice-administrator", "self-paying", "has-users", "not-pending-deletion")),
    ("invite-accountant", "Invite an accountant or bookkeeper", (*REACH, "business-administrator", "not-connected", "not-pending-deletion")),
    ("reactivate-client", "Reactivate client", (*REACH, "practice-administrator", "paid-by-practice", "deactivated-subscription", "not-pending-deletion")),
    ("restore-client", "Restore client", (*REACH, "practice-administrator", "pending-deletion")),
)


def scope_of(ix: dict[str, Any], actor_id: str, client_id: str) -> Scope:
    """The records a rule may read, found in `handwritten.index` the way `handwritten.available` finds them,
    and `named`: the client as asked, all a reach refusal may show of it."""
    user, kind, holder = ix["users"][actor_id]
    client = ix["clients"][client_id]
    return {
        "named": client_id,
        "actor": user,
        "client": client,
        "actor_practice": holder if kind == "partner" else None,
        "actor_business": holder if kind == "client" else None,
        "partner": ix["partners"].get(client["partner"]) if client["partner"] is not None else None,
        "deletion_due": client.get("deletion_due"),
    }


# The rules as Python guards and messages, for the two state-machine libraries.
CONDITIONS: dict[str, Callable[[Scope], bool]] = {
    "own-practice-clients": lambda s: s["actor_practice"] is None or s["client"]["partner"] == s["actor_practice"]["id"],
    "own-business": lambda s: s["actor_business"] is None or s["actor_business"]["id"] == s["client"]["id"],
    "practice-administrator": lambda s: s["actor_practice"] is not None and s["actor"]["role"] == "administrator",
    "business-administrator": lambda s: s["actor_business"] is not None and s["actor"]["role"] == "administrator",
    "paid-by-practice": lambda s: s["client"]["billing"] == "partner",
    "self-paying": lambda s: s["client"]["billing"] == "self_paying",
    "has-users": lambda s: len(s["client"]["users"]) > 0,
    "no-users": lambda s: len(s["client"]["users"]) == 0,
    "active-subscription": lambda s: s["client"]["subscription"] == "active",
    "deactivated-subscription": lambda s: s["client"]["subscription"] == "deactivated",
    "not-connected": lambda s: s["client"]["partner"] is None,
    "not-pending-deletion": lambda s: s["deletion_due"] is None,
    "deletion-not-pending": lambda s: s["deletion_due"] is None,  # flow.due is none when availability is asked
    "pending-deletion": lambda s: s["deletion_due"] is not None,
}
MESSAGES: dict[str, Callable[[Scope], str]] = {
    "own-practice-clients": lambda s: (
        f"{s['named']} is not one of your practice's clients, so you cannot act on it. Ask the practice that holds it, or the business itself."
    ),
    "own-business": lambda s: "You can only act on the business you belong to.",
    "practice-administrator": lambda s: ADMIN_ONLY.format(role=s["actor"]["role"]),
    "business-administrator": lambda s: (
        f"Only an administrator of {s['client']['name']} can invite a practice. Ask one of the business's administrators to send the invitation."
    ),
    "paid-by-practice": lambda s: (
        f"{s['client']['name']} pays for its own subscription, so your practice cannot change it. "
        'You can only remove it from your account, with "Disconnect self-paying client".'
    ),
    "self-paying": lambda s: f'Your practice pays for {s["client"]["name"]}\'s subscription; use "Disconnect client" or "Deactivate client" instead.',
    "has-users": lambda s: (
        f"{s['client']['name']} has no users, active or invited, so nobody could take over its data after the disconnection. "
        "Invite a user to the client first, or delete it."
    ),
    "no-users": lambda s: (
        f"{s['client']['name']} has {'one user' if len(s['client']['users']) == 1 else str(len(s['client']['users'])) + ' users'}, "
        "so its data would be lost to them. Disconnect it instead, and hand it to its owner."
    ),
    "active-subscription": lambda s: (
        f"{s['client']['name']}'s subscription is already deactivated. You can reactivate it from Business settings > Subscription."
    ),
    "deactivated-subscription": lambda s: f"{s['client']['name']}'s subscription is active, so there is nothing to reactivate.",
    "not-connected": lambda s: (
        f"{s['client']['name']} is already connected to {s['partner']['name'] if s['partner'] else 'a practice'}. "
        "That practice has to disconnect it before you can invite another one."
    ),
    "not-pending-deletion": lambda s: (
        f"{s['client']['name']} is due to be deleted on {_long_date(s['deletion_due'])}. "
        'An administrator of the practice can restore it with "Restore client" until then.'
    ),
    "deletion-not-pending": lambda s: (
        f"{s['client']['name']} is already due to be deleted on {_long_date(s['deletion_due'])}. "
        'An administrator of the practice can restore it with "Restore client" until then.'
    ),
    "pending-deletion": lambda s: f"{s['client']['name']} is not waiting to be deleted, so there is nothing to restore.",
}


def method(rule: str) -> str:
    """A rule's name as a Python identifier: `own-practice-clients` -> `own_practice_clients`."""
    return rule.replace("-", "_")


# GoRules zen-engine --------------------------------------------------------
# Each row of a "collect" decision table matches when its rule FAILS and outputs the rule and its message,
# written in zen's expression language (template literals for the messages).
ZEN_RULES: tuple[tuple[str, str, str], ...] = (
    ("own-practice-clients", "actor_practice != null and client.partner != actor_practice.id",
     "`${named} is not one of your practice's clients, so you cannot act on it. Ask the practice that holds it, or the business itself.`"),
    ("own-business", "actor_business != null and actor_business.id != client.id", "'You can only act on the business you belong to.'"),
    ("practice-administrator", "actor_practice == null or actor.role != 'administrator'",
     "`Only an administrator of the practice can do this, and your access level is ${actor.role}. Ask an administrator of your practice to do it for you, "
     "or to give you administrator access.`"),
    ("business-administrator", "actor_business == null or actor.role != 'administrator'",
     "`Only an administrator of ${client.name} can invite a practice. Ask one of the business's administrators to send the invitation.`"),
    ("paid-by-practice", "client.billing != 'partner'",
     "`${client.name} pays for its own subscription, so your practice cannot change it. You can only remove it from your account, "
     'with "Disconnect self-paying client".`'),
    ("self-paying", "client.billing != 'self_paying'",
     "`Your practice pays for ${client.name}'s subscription; use \"Disconnect client\" or \"Deactivate client\" instead.`"),
    ("has-users", "len(client.users) == 0",
     "`${client.name} has no users, active or invited, so nobody could take over its data after the disconnection. Invite a user to the client first, "
     "or delete it.`"),
    ("no-users", "len(client.users) != 0",
     "`${client.name} has ${len(client.users) == 1 ? 'one user' : string(len(client.users)) + ' users'}, so its data would be lost to them. "
     "Disconnect it instead, and hand it to its owner.`"),
    ("active-subscription", "client.subscription != 'active'",
     "`${client.name}'s subscription is already deactivated. You can reactivate it from Business settings > Subscription.`"),
    ("deactivated-subscription", "client.subscription != 'deactivated'", "`${client.name}'s subscription is active, so there is nothing to reactivate.`"),
    ("not-connected", "client.partner != null",
     "`${client.name} is already connected to ${partner != null ? partner.name : 'a practice'}. That practice has to disconnect it before you can invite "
     "another one.`"),
    # a pending deletion's date is written as zen gives it (ISO 8601): no data set of the benchmark has one
    ("not-pending-deletion", "client.deletion_due != null",
     "`${client.name} is due to be deleted on ${client.deletion_due}. An administrator of the practice can restore it with \"Restore client\" until then.`"),
    ("deletion-not-pending", "client.deletion_due != null",
     "`${client.name} is already due to be deleted on ${client.deletion_due}. An administrator of the practice can restore it with \"Restore client\" until then.`"),
    ("pending-deletion", "client.deletion_due == null", "`${client.name} is not waiting to be deleted, so there is nothing to restore.`"),
)  # fmt: skip


def zen_content() -> dict[str, Any]:
    """The decision graph: request -> one collect table of every rule -> response."""
    rows = [{"_id": f"r{i}", "fails": fails, "rule": json.dumps(rule), "message": message} for i, (rule, fails, message) in enumerate(ZEN_RULES)]
    table = {
        "hitPolicy": "collect",
        "inputs": [{"id": "fails", "name": "Rule fails"}],
        "outputs": [{"id": "rule", "name": "Rule", "field": "rule"}, {"id": "message", "name": "Message", "field": "message"}],
        "rules": rows,
    }
    return {
        "nodes": [
            {"id": "request", "type": "inputNode", "name": "Request", "position": {"x": 0, "y": 0}},
            {"id": "rules", "type": "decisionTableNode", "name": "Rules", "position": {"x": 300, "y": 0}, "content": table},
            {"id": "response", "type": "outputNode", "name": "Response", "position": {"x": 600, "y": 0}},
        ],
        "edges": [
            {"id": "in", "sourceId": "request", "targetId": "rules", "type": "edge"},
            {"id": "out", "sourceId": "rules", "targetId": "response", "type": "edge"},
        ],
    }


class Zen:
    """zen-engine's fast path: `ZenEngine.evaluate("availability", context)` with the graph held by a static loader."""

    name = "zen-engine"
    KEY = "availability"

    def __init__(self, ix: dict[str, Any]) -> None:
        import zen

        self.ix = ix
        self.engine = zen.ZenEngine({"loader": {"type": "static", "content": {self.KEY: zen_content()}}})
        self.version = _version("zen-engine")
        self.evaluate: Callable[[str, Scope], Any] = self.engine.evaluate
        probe = self.engine.evaluate(self.KEY, scope_of(ix, next(iter(ix["users"])), next(iter(ix["clients"]))))
        if inspect.isawaitable(probe):  # versions whose evaluate is async only: one event loop, one evaluation per call
            import asyncio

            loop = asyncio.new_event_loop()
            loop.run_until_complete(probe)
            self.evaluate = lambda key, context: loop.run_until_complete(self.engine.evaluate(key, context))

    def __call__(self, actor: str, client: str) -> Answer:
        response = self.evaluate(self.KEY, scope_of(self.ix, actor, client))
        failed = {row["rule"]: row["message"] for row in response["result"]}
        refused = [{"rule": rule, "message": failed[rule]} for rule in REACH if rule in failed][:1]  # outside reach: the refusal alone
        out = []
        for flow, title, rules in FLOWS:
            reasons = refused or [{"rule": rule, "message": failed[rule]} for rule in rules if rule in failed]
            out.append({"flow": flow, "title": title, "available": not reasons, "reasons": reasons})
        return out


# transitions ----------------------------------------------------------------
class Transitions:
    """One `transitions.Machine`: from state `client`, one trigger per flow, guarded by the flow's rules.

    The library decides (`may_<flow>(scope)`, which stops at the first failed
    guard); for each flow it refuses, the failed guards are listed by checking
    that transition's conditions one by one.
    """

    name = "transitions"

    def __init__(self, ix: dict[str, Any]) -> None:
        from transitions import Machine

        self.ix = ix
        self.model = type("ClientRules", (), {method(rule): staticmethod(check) for rule, check in CONDITIONS.items()})()
        self.machine = Machine(
            model=self.model,
            states=["client", *(flow for flow, _, _ in FLOWS)],
            transitions=[{"trigger": method(flow), "source": "client", "dest": flow, "conditions": [method(r) for r in rules]} for flow, _, rules in FLOWS],
            initial="client",
            auto_transitions=False,
        )
        self.flows = []
        for flow, title, _ in FLOWS:
            (transition,) = self.machine.get_transitions(trigger=method(flow), source="client")
            guards = [(c.func.replace("_", "-"), getattr(self.model, c.func)) for c in transition.conditions]
            self.flows.append((flow, title, getattr(self.model, f"may_{method(flow)}"), guards))
        self.version = _version("transitions")

    def __call__(self, actor: str, client: str) -> Answer:
        s = scope_of(self.ix, actor, client)
        out = []
        for flow, title, may, guards in self.flows:
            reasons = [] if may(s) else why(guards, s)
            out.append({"flow": flow, "title": title, "available": not reasons, "reasons": reasons})
        return out


# python-statemachine ---------------------------------------------------------
class StateMachineLib:
    """One python-statemachine `StateMachine`: from state `client`, one event per flow with the rules as `cond`.

    The library decides (`enabled_events(s=scope)`, each event's guards
    stopping at the first false); for each flow it refuses, the failed guards
    are listed by calling that event's guards one by one.
    """

    name = "python-statemachine"

    def __init__(self, ix: dict[str, Any]) -> None:
        from statemachine import State, StateMachine

        self.ix = ix
        attrs: dict[str, Any] = {"client": State("client", initial=True)}
        for flow, _, _ in FLOWS:
            attrs[f"to_{method(flow)}"] = State(flow, final=True)
        for flow, _, rules in FLOWS:
            attrs[method(flow)] = attrs["client"].to(attrs[f"to_{method(flow)}"], cond=[method(r) for r in rules])
        for rule, check in CONDITIONS.items():
            attrs[method(rule)] = _guard(check)
        self.machine = type("ClientRules", (StateMachine,), attrs)()
        self.flows = [(flow, title, method(flow), [(r, CONDITIONS[r]) for r in rules]) for flow, title, rules in FLOWS]
        self.version = _version("python-statemachine")

    def __call__(self, actor: str, client: str) -> Answer:
        s = scope_of(self.ix, actor, client)
        enabled = {event.id for event in self.machine.enabled_events(s=s)}
        out = []
        for flow, title, event, guards in self.flows:
            reasons = [] if event in enabled else why(guards, s)
            out.append({"flow": flow, "title": title, "available": not reasons, "reasons": reasons})
        return out


def why(guards: list[tuple[str, Callable[[Scope], bool]]], s: Scope) -> list[dict[str, str]]:
    """The failed guards of a refused flow: outside reach, the first reach refusal alone."""
    for rule in REACH:
        if not CONDITIONS[rule](s):
            return [{"rule": rule, "message": MESSAGES[rule](s)}]
    return [{"rule": rule, "message": MESSAGES[rule](s)} for rule, check in guards if not check(s)]


def _guard(check: Callable[[Scope], bool]) -> Callable[[Any, Scope], bool]:
    def guard(self: Any, s: Scope) -> bool:
        return check(s)

    return guard


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


PEERS = (Zen, Transitions, StateMachineLib)
