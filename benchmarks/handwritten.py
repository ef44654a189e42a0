"""The availability answer for the shipped flows, written by hand: the floor to compare with.

It gives exactly the answer `clientflow available` gives (same flows, rules, messages),
with no engine at all: `available` reads in-memory indexes built once (`index`);
`available_sqlite` reads the records from the engine's SQLite file on every call.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

FLOWS = (
    ("deactivate-client", "Deactivate client"),
    ("delete-client", "Delete client"),
    ("disconnect-client", "Disconnect client"),
    ("disconnect-self-paying-client", "Disconnect self-paying client"),
    ("invite-accountant", "Invite an accountant or bookkeeper"),
    ("reactivate-client", "Reactivate client"),
    ("restore-client", "Restore client"),
)
ADMIN_ONLY = "Only an administrator of the practice can do this, and your access level is {role}. Ask an administrator of your practice to do it for you, or to give you administrator access."


def index(data: dict[str, Any]) -> dict[str, Any]:
    """Users by id and email (with the record holding them), clients and partners by id and name."""
    users: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {}
    for kind, collection in (("partner", "partners"), ("client", "clients")):
        for record in data[collection]:
            for user in record["users"]:
                users.setdefault(user["id"], (user, kind, record))
                users.setdefault(user["email"], (user, kind, record))
    partners = {p["id"]: p for p in data["partners"]}
    clients = {c["id"]: c for c in data["clients"]}
    for c in data["clients"]:
        clients.setdefault(c["name"], c)
    return {"users": users, "partners": partners, "clients": clients}


def available(ix: dict[str, Any], actor_id: str, client_id: str) -> list[dict[str, Any]]:
    user, kind, holder = ix["users"][actor_id]
    client = ix["clients"][client_id]
    partner = ix["partners"].get(client["partner"]) if client["partner"] is not None else None
    practice = holder if kind == "partner" else None
    business = holder if kind == "client" else None
    name = client["name"]
    refusal = None  # outside reach, every flow holds the first refusal alone, naming the client as asked
    if not (practice is None or client["partner"] == practice["id"]):
        refusal = {
            "rule": "own-practice-clients",
            "message": f"{client_id} is not one of your practice's clients, so you cannot act on it. Ask the practice that holds it, or the business itself.",
        }
    elif not (business is None or business["id"] == client["id"]):
        refusal = {"rule": "own-business", "message": "You can only act on the business you belong to."}
    if refusal is not None:
        return [{"flow": flow, "title": title, "available": False, "reasons": [refusal]} for flow, title in FLOWS]
    reach: list[dict[str, str]] = []
    admin = practice is not None and user["role"] == "administrator"
    admin_r = [] if admin else [{"rule": "practice-administrator", "message": ADMIN_ONLY.format(role=user["role"])}]
    paid = client["billing"] == "partner"
    paid_r = (
        []
        if paid
        else [
            {
                "rule": "paid-by-practice",
                "message": f'{name} pays for its own subscription, so your practice cannot change it. You can only remove it from your account, with "Disconnect self-paying client".',
            }
        ]
    )
    users = len(client["users"])
    has_users = (
        []
        if users > 0
        else [
            {
                "rule": "has-users",
                "message": f"{name} has no users, active or invited, so nobody could take over its data after the disconnection. Invite a user to the client first, or delete it.",
            }
        ]
    )
    no_users = (
        []
        if users == 0
        else [
            {
                "rule": "no-users",
                "message": f"{name} has {'one user' if users == 1 else f'{users} users'}, so its data would be lost to them. Disconnect it instead, and hand it to its owner.",
            }
        ]
    )
    active = (
        []
        if client["subscription"] == "active"
        else [
            {
                "rule": "active-subscription",
                "message": f"{name}'s subscription is already deactivated. You can reactivate it from Business settings > Subscription.",
            }
        ]
    )
    deactivated = (
        []
        if client["subscription"] == "deactivated"
        else [{"rule": "deactivated-subscription", "message": f"{name}'s subscription is active, so there is nothing to reactivate."}]
    )
    self_paying = (
        []
        if client["billing"] == "self_paying"
        else [{"rule": "self-paying", "message": f'Your practice pays for {name}\'s subscription; use "Disconnect client" or "Deactivate client" instead.'}]
    )
    business_admin = (
        []
        if (business is not None and user["role"] == "administrator")
        else [
            {
                "rule": "business-administrator",
                "message": f"Only an administrator of {name} can invite a practice. Ask one of the business's administrators to send the invitation.",
            }
        ]
    )
    not_connected = (
        []
        if client["partner"] is None
        else [
            {
                "rule": "not-connected",
                "message": f"{name} is already connected to {partner['name'] if partner else 'a practice'}. That practice has to disconnect it before you can invite another one.",
            }
        ]
    )

    due = client.get("deletion_due")
    pending = (
        []
        if due is None
        else [
            {
                "rule": "not-pending-deletion",
                "message": f'{name} is due to be deleted on {_long_date(due)}. An administrator of the practice can restore it with "Restore client" until then.',
            }
        ]
    )
    already = (
        []
        if due is None
        else [
            {
                "rule": "deletion-not-pending",
                "message": f'{name} is already due to be deleted on {_long_date(due)}. An administrator of the practice can restore it with "Restore client" until then.',
            }
        ]
    )
    restorable = [] if due is not None else [{"rule": "pending-deletion", "message": f"{name} is not waiting to be deleted, so there is nothing to restore."}]

    def entry(flow: str, title: str, reasons: list[dict[str, str]]) -> dict[str, Any]:
        return {"flow": flow, "title": title, "available": not reasons, "reasons": reasons}

    return [
        entry("deactivate-client", "Deactivate client", reach + admin_r + paid_r + active + pending),
        entry("delete-client", "Delete client", reach + admin_r + paid_r + no_users + already),
        entry("disconnect-client", "Disconnect client", reach + admin_r + paid_r + has_users + pending),
        entry("disconnect-self-paying-client", "Disconnect self-paying client", reach + admin_r + self_paying + has_users + pending),
        entry("invite-accountant", "Invite an accountant or bookkeeper", reach + business_admin + not_connected + pending),
        entry("reactivate-client", "Reactivate client", reach + admin_r + paid_r + deactivated + pending),
        entry("restore-client", "Restore client", reach + admin_r + restorable),
    ]


def _long_date(value: str) -> str:
    """A date as the English long format writes it: March 17, 2025."""
    day = datetime.fromisoformat(value)
    return f"{day:%B} {day.day}, {day.year}"


# the same answer with its records read from SQLite --------------------------------------------------
def open_sqlite(path: str | Path) -> sqlite3.Connection:
    """A plain sqlite3 connection to a database `clientflow init` wrote, with the engine's pragmas (plugins/sqlite.py)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=30000"):
        conn.execute(pragma)
    return conn


def _document(conn: sqlite3.Connection, collection: str, id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT body FROM docs WHERE collection=? AND id=?", (collection, id)).fetchone()
    return json.loads(row[0]) if row else None


def _holding(conn: sqlite3.Connection, entity: str, key: str, value: str) -> list[tuple[str, str]]:
    return conn.execute("SELECT collection, id FROM keys WHERE entity=? AND key=? AND value=?", (entity, key, value)).fetchall()


def available_sqlite(conn: sqlite3.Connection, actor_id: str, client_id: str) -> list[dict[str, Any]]:
    """`available`, its records read from the SQLite file on every call, in one read transaction: the storage-backed floor.

    The look-ups a program on this schema makes: the user through the key index (by id, else
    by email) and the record holding it, the client by id (else by name), its practice by id;
    each body decoded with json.loads; then the same check as `available`.
    """
    conn.execute("BEGIN")
    try:
        user = kind = holder = None
        for key in ("id", "email"):
            for collection, id in _holding(conn, "user", key, actor_id):
                found = _document(conn, collection, id)
                for candidate in found["users"] if found else ():
                    if candidate.get(key) == actor_id:
                        user, kind, holder = candidate, ("partner" if collection == "partners" else "client"), found
                        break
                if user is not None:
                    break
            if user is not None:
                break
        client = _document(conn, "clients", client_id)
        if client is None:
            for collection, id in _holding(conn, "client", "name", client_id):
                client = _document(conn, collection, id)
        if user is None or client is None:
            raise KeyError(actor_id if user is None else client_id)
        partner = _document(conn, "partners", client["partner"]) if client["partner"] is not None else None
    finally:
        conn.execute("COMMIT")
    partners = {partner["id"]: partner} if partner is not None else {}
    return available({"users": {actor_id: (user, kind, holder)}, "clients": {client_id: client}, "partners": partners}, actor_id, client_id)
