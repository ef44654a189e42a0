"""The bulk dry-run of `deactivate-client` written by hand: the floor `clientflow bulk` is compared with.

    python3 benchmarks/floor_bulk.py DATA.json [--actor u1] [--no-notify]

prints the same JSON summary as `clientflow bulk deactivate-client --data
DATA.json --actor u1 --where true --answer notify_client=true --format json`.
It does the same work with no engine: json.load; for each client the same
checks with the same messages (reach, practice administrator, paid by the
practice, active subscription); for each client that passes, the same change
list, the recipients (addresses checked), the two email templates rendered
with Jinja2 in a sandbox (one render per template file per client: the
.txt, whose first line is the subject, and the .html), the banner and the audit
summary; and the same counts. The engine also walks the flow's screens, which
this floor does not.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from handwritten import ADMIN_ONLY
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = Path(__file__).resolve().parent.parent
FLOW = "deactivate-client"
PRODUCT = {"name": "Bookkeeping Platform", "sender": "no-reply@platform.example"}
ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


class Emails:
    """The two emails of deactivate-client, compiled once in Jinja2 sandboxes (text plain, HTML autoescaped)."""

    def __init__(self, folder: Path = ROOT / "templates" / "emails") -> None:
        text_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
        html_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=True)
        self.templates = {
            name: (
                text_env.from_string((folder / f"{name}.txt").read_text(encoding="utf-8")),
                html_env.from_string((folder / f"{name}.html").read_text(encoding="utf-8")),
            )
            for name in ("deactivate-practice", "deactivate-client")
        }

    def render(self, name: str, to: list[str], context: dict[str, Any]) -> dict[str, Any]:
        text_template, html_template = self.templates[name]
        first, _, body = text_template.render(context).partition("\n")
        if body.startswith("\n"):
            body = body[1:]
        subject = " ".join("".join(ch if ch.isprintable() else " " for ch in first[len("Subject:") :]).split())
        return {"template": name, "to": to, "subject": subject, "text": body, "html": html_template.render(context), "locale": "en"}


def admins(client: dict[str, Any]) -> list[str]:
    """The client's administrators' addresses: the flows' `client_admin_emails`."""
    return [u["email"] for u in client.get("users") or [] if u["role"] == "administrator"]


def addresses(values: list[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        if not (len(value) <= 254 and ADDRESS.match(value)):
            raise ValueError(f"{value!r} is not a valid email address")
        if value not in out:
            out.append(value)
    return out


def deactivate(client: dict[str, Any], actor: dict[str, Any], practice: dict[str, Any] | None, business: dict[str, Any] | None,
               partners: dict[str, dict[str, Any]], answers: dict[str, Any], emails: Emails) -> dict[str, Any]:  # fmt: skip
    """One client's dry-run: its report line, with the plan's changes, emails, banner and summary."""
    name = client["name"]
    failed = []
    if not (practice is None or client["partner"] == practice["id"]):  # outside reach: the refusal alone, the client named by its id as asked
        failed.append(
            (
                "own-practice-clients",
                f"{client['id']} is not one of your practice's clients, so you cannot act on it. Ask the practice that holds it, or the business itself.",
            )
        )
    elif not (business is None or business["id"] == client["id"]):
        failed.append(("own-business", "You can only act on the business you belong to."))
    else:
        if not (practice is not None and actor["role"] == "administrator"):
            failed.append(("practice-administrator", ADMIN_ONLY.format(role=actor["role"])))
        if client["billing"] != "partner":
            failed.append(
                (
                    "paid-by-practice",
                    f'{name} pays for its own subscription, so your practice cannot change it. You can only remove it from your account, with "Disconnect self-paying client".',
                )
            )
        if client["subscription"] != "active":
            failed.append(
                ("active-subscription", f"{name}'s subscription is already deactivated. You can reactivate it from Business settings > Subscription.")
            )
    if failed:
        return {
            "subject": client["id"],
            "status": "blocked",
            "rules": [r for r, _ in failed],
            "message": "; ".join(m for _, m in failed),
            "changes": [],
            "emails": [],
        }
    changes = [{"op": "update", "entity": "client", "id": client["id"], "field": "subscription", "before": client["subscription"], "after": "deactivated"}]
    partner = partners.get(client["partner"]) if client["partner"] is not None else None
    context = {"actor": actor, "client": client, "partner": partner, "product": PRODUCT, "answers": answers, "client_admin_emails": admins(client)}
    sent = [emails.render("deactivate-practice", addresses([actor["email"]]), context)]
    if answers.get("notify_client"):
        to = addresses(admins(client))
        if to:
            sent.append(emails.render("deactivate-client", to, context))
    return {
        "subject": client["id"], "status": "completed", "rules": [], "message": "", "changes": changes, "emails": sent,
        "banner": f"{name}'s subscription has been deactivated. You can reactivate it at any time.",
        "summary": f"{actor['email']} deactivated {name} ({client['id']}); client notified: {'yes' if answers.get('notify_client') and admins(client) else 'no'}",
    }  # fmt: skip


def run(path: Path, actor_id: str = "u1", answers: dict[str, Any] | None = None, *, keep: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The summary (as `clientflow bulk --format json` prints it) and, with `keep`, every client's line."""
    answers = {"reason": None, "notify_client": False, **(answers or {})}
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    emails = Emails()
    partners = {p["id"]: p for p in data["partners"]}
    actor, practice, business = None, None, None
    for kind, collection in (("partner", "partners"), ("client", "clients")):
        for record in data[collection]:
            for user in record["users"]:
                if actor is None and actor_id in (user["id"], user["email"]):
                    actor, practice, business = user, (record if kind == "partner" else None), (record if kind == "client" else None)
    if actor is None:
        raise SystemExit(f"unknown user {actor_id!r}")
    counts: Counter[str] = Counter()
    blocked_by: Counter[str] = Counter()
    lines = []
    for client in data["clients"]:
        line = deactivate(client, actor, practice, business, partners, answers, emails)
        counts[line["status"]] += 1
        blocked_by.update(line["rules"])
        if keep:
            lines.append(line)
    summary = {
        "flow": FLOW, "dry_run": True, "total": sum(counts.values()), "completed": counts["completed"], "blocked": counts["blocked"],
        "invalid": 0, "needs_input": 0, "skipped": 0, "errors": 0, "blocked_by": dict(sorted(blocked_by.items())), "interrupted": False,
    }  # fmt: skip
    return summary, lines


def main(argv: list[str]) -> None:
    path = Path(argv[0])
    actor = argv[argv.index("--actor") + 1] if "--actor" in argv else "u1"
    summary, _ = run(path, actor, {"notify_client": "--no-notify" not in argv})
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
