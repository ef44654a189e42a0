"""The locale row of benchmarks/run.py (issue 18, item 6): a plan rendered in a second locale against the first.

One dry-run plan of deactivate-client (every screen, the banner, both emails, the audit line)
for an actor and recipients who read the first locale (en), and for the same people reading
the second (fr): `Engine.simulate` in process, the two sides interleaved, a median of
batches each. Before anything is timed, both plans are checked to make the same changes,
and the second to be in French (its screens and every email), so that the row measures
translated rendering and not a fallback. Catalogs are read when the French engine is made
(untimed, as a server does once per process); tests/test_i18n_formats.py proves they are
not read again per render. Target ≤ 1.2×.
"""

from __future__ import annotations

import json
from typing import Any

from run import ACTOR, DEMO, FLOW, ROOT, Bench, interleaved, median, per_call, us

CLIENT = "c1"
ANSWERS = {"notify_client": True, "reason": "Moving to another bookkeeper"}


def readers_of(data: dict[str, Any], locale: str) -> dict[str, Any]:
    """The data file with every person reading `locale`."""
    copied = json.loads(json.dumps(data))
    for collection in ("partners", "clients"):
        for record in copied.get(collection, []):
            for user in record.get("users", []) or []:
                user["locale"] = locale
    return copied


def section(bench: Bench) -> None:
    import yaml

    from clientflow.api import Engine

    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    french_data = bench.work / "demo-fr.json"
    french_data.write_text(json.dumps(readers_of(data, "fr")), encoding="utf-8")
    english = Engine.open(ROOT, data=DEMO, notifiers={})
    french = Engine.open(ROOT, data=french_data, notifiers={}).for_actor(ACTOR)  # the actor's own locale: fr
    first, second = (e.simulate(FLOW, ACTOR, CLIENT, ANSWERS).to_json() for e in (english, french))
    problems = []
    if first["status"] != "completed" or second["status"] != "completed":
        problems.append(f"plans not completed: {first['status']}, {second['status']}")
    if first["changes"] != second["changes"]:
        problems.append("the two plans make different changes")
    titles = [s["title"] for s in first["screens"]], [s["title"] for s in second["screens"]]
    if len(titles[0]) != len(titles[1]) or any(a == b for a, b in zip(*titles, strict=True)):
        problems.append(f"the second plan's screens are not all translated: {titles[1]}")
    if not second["emails"] or any(e.get("locale") != "fr" for e in second["emails"]) or len(first["emails"]) != len(second["emails"]):
        problems.append(f"the second plan's emails are not all French: {[e.get('locale') for e in second['emails']]}")
    if {e["subject"] for e in first["emails"]} & {e["subject"] for e in second["emails"]}:
        problems.append("an email subject is the same in both plans")
    if problems:
        bench.error("locales", "plan in a second locale", "≤ 1.2×", "; ".join(problems))
        return
    sides = {
        "first (en)": per_call(english.simulate, (FLOW, ACTOR, CLIENT, ANSWERS), bench.sizes.batch_seconds * 4),
        "second (fr)": per_call(french.simulate, (FLOW, ACTOR, CLIENT, ANSWERS), bench.sizes.batch_seconds * 4),
    }
    walls, _ = interleaved(sides, bench.sizes.repeats + 2, "plan in a second locale")
    times = {name: median(values) for name, values in walls.items()}
    bench.numbers["locales"] = times
    ratio = times["second (fr)"] / times["first (en)"]
    screens, emails = len(second["screens"]), len(second["emails"])
    bench.row(
        "locales",
        f"a dry-run plan of {FLOW} ({screens} screens, {emails} emails, banner, audit) in the second locale (fr: actor and recipients) vs the first (en): `Engine.simulate`",
        us(times["second (fr)"]),
        us(times["first (en)"]),
        ratio,
        "≤ 1.2×",
        ratio <= 1.2,
    )
    bench.details.append(
        f"- **locales**: medians of {bench.sizes.repeats + 2} interleaved batches of about {bench.sizes.batch_seconds * 4 * 1000:.0f} ms of "
        f"`Engine.simulate` calls, gc off; memory backend, `data/demo.yaml` and the same file with every user's `locale: fr`; "
        f"the French engine made (its catalog read and compiled) before the clock starts."
    )
    english.close()
    french.close()
