"""Hostile definitions and templates: every payload of tests/hostile/payloads.yaml is refused.

Each payload goes into a small project of its own — a flow's condition, a
screen's text, an email's text or HTML — and the project is loaded and the
flow dry-run in a forked child process with a generous time bound and no
memory limit at all (a limit would hide what a real process suffers): the
child's peak memory is measured instead (VmHWM, reset when it starts) and
must stay under PEAK. The payload must be refused with a clear error: a located
`path:line:col` problem when the project loads, or a clear message when it
runs (a failed rule, or an error naming the text). A payload that renders,
passes, hangs, grows memory past PEAK or ends in a traceback fails its test.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import shutil
import traceback
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import DEMO, PROJECT, figures

CORPUS = Path(__file__).parent / "hostile" / "payloads.yaml"
NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
BOUND = 20  # seconds one payload may take at most, loading and running (most take a fraction of one)
PEAK = 100 << 20  # bytes of memory the child may add to what it inherits, at its peak (no limit is set: this is measured)
LOCATED = re.compile(r"^(?P<path>.+):(?P<line>\d+):(?P<col>\d+): (?P<message>.*)$", re.S)

FLOW = """\
id: hostile
title: Hostile
summary: A flow carrying one hostile payload.
subject: client
preconditions:
  - name: hostile
    if: {condition}
    message: The hostile rule does not hold.
steps:
  - id: show
    kind: info
    title: A screen
    body: |
{text}
outcome:
{emails}  banner: Done.
  reversible: true
  audit: hostile
"""
EMAILS = "  emails:\n    - template: hostile\n      to: actor.email\n"


@dataclass(frozen=True)
class Payload:
    name: str
    where: str  # condition | text | email | html
    source: str
    refused: str  # validation | run
    says: str


def corpus() -> list[Payload]:
    items = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    out = []
    for item in items:
        source = item.get("payload")
        if source is None:
            times = item["times"]
            source = item.get("prefix", "") + item["open"] * times + item["core"] + item["close"] * times + item.get("suffix", "")
        out.append(Payload(item["name"], item["in"], str(source), item["refused"], item["says"]))
    return out


PAYLOADS = corpus()
TALLY: Counter[str] = Counter()


def _figures() -> str:
    return (
        f"hostile payloads: {TALLY['tried']} tried ({TALLY['condition']} in conditions, {TALLY['template']} in templates), "
        f"{TALLY['validation']} refused at validation with a location, {TALLY['run']} refused at run time within {BOUND}s, 0 escaped; "
        f"no memory limit, peak memory added at most {TALLY['peak'] / (1 << 20):.1f} MB (bound {PEAK >> 20} MB)"
    )


summary = figures(_figures)


def build(root: Path, payload: Payload) -> tuple[Path, tuple[int, int]]:
    """A small project holding the payload; the file it is in and its first and last line there."""
    (root / "flows").mkdir(parents=True)
    (root / "templates" / "emails").mkdir(parents=True)
    (root / "data").mkdir()
    for name in ("project.yaml", "rules.yaml"):
        shutil.copy2(PROJECT / "flows" / name, root / "flows" / name)
    shutil.copytree(PROJECT / "schema", root / "schema")
    shutil.copy2(DEMO, root / "data" / "demo.yaml")
    condition = json.dumps(payload.source) if payload.where == "condition" else "true"
    text = payload.source if payload.where == "text" else "Nothing to see."
    body = "\n".join("      " + line for line in text.splitlines())
    flow = FLOW.format(condition=condition, text=body, emails=EMAILS if payload.where in ("email", "html") else "")
    (root / "flows" / "hostile.yaml").write_text(flow, encoding="utf-8")
    lines = flow.splitlines()
    if payload.where == "condition":
        at = next(i for i, line in enumerate(lines, 1) if line.startswith("    if: "))
        return root / "flows" / "hostile.yaml", (at, at)
    if payload.where == "text":
        at = next(i for i, line in enumerate(lines, 1) if line.strip() == "body: |") + 1
        return root / "flows" / "hostile.yaml", (at, at + len(text.splitlines()) - 1)
    emails = root / "templates" / "emails"
    if payload.where == "email":
        (emails / "hostile.txt").write_text(f"Subject: Hostile\n\n{payload.source}\n", encoding="utf-8")
        return emails / "hostile.txt", (3, 2 + len(payload.source.splitlines()))
    (emails / "hostile.txt").write_text("Subject: Hostile\n\nPlain text.\n", encoding="utf-8")
    (emails / "hostile.html").write_text(payload.source + "\n", encoding="utf-8")
    return emails / "hostile.html", (1, len(payload.source.splitlines()))


def _status(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(key))


def memory_now() -> int:
    """Reset this process's peak resident memory (VmHWM) to what it holds now, and return that."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
        clear.write("5")
    return _status("VmRSS:")


def peak_since(start: int) -> int:
    """Bytes of resident memory added at the peak since `memory_now()` returned `start`."""
    return max(_status("VmHWM:") - start, 0)


def _child(root: str, conn: Any) -> None:
    """In the forked child: load the project and dry-run the flow; report what happened."""
    try:
        start = memory_now()
        from clientflow import Engine
        from clientflow.errors import ClientflowError, DefinitionError

        try:
            engine = Engine.open(root, data=Path(root) / "data" / "demo.yaml", now=NOW, notifiers={})
        except DefinitionError as exc:
            conn.send({"stage": "validation", "problems": [str(p) for p in exc.problems], "peak": peak_since(start)})
            return
        result: dict[str, Any] = {"stage": "run"}
        try:
            plan = engine.simulate("hostile", "u1", "c1")
            result.update(status=plan.status, blocked_by=plan.blocked_by, texts=[s.title for s in plan.screens])
        except ClientflowError as exc:
            result.update(status="error", error=f"{type(exc).__name__}: {exc}")
        fast = {f["flow"]: f for f in engine.checker()("u1", "c1")}
        result["hot_path"] = fast["hostile"]
        result["peak"] = peak_since(start)
        conn.send(result)
    except BaseException:  # noqa: BLE001 - a traceback is the finding: report it whole
        conn.send({"stage": "crash", "traceback": traceback.format_exc()})


def run_bounded(root: Path) -> dict[str, Any]:
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(str(root), send))
    child.start()
    send.close()
    try:
        if not receive.poll(BOUND):
            pytest.fail(f"not refused within {BOUND}s: the payload hangs the engine")
        return dict(receive.recv())
    except EOFError:
        pytest.fail(f"the child died without a word (exit code {child.exitcode}): the payload crashed the process")
    finally:
        if child.is_alive():
            child.kill()
        child.join()


def test_the_corpus_is_large_and_named_uniquely() -> None:
    names = [p.name for p in PAYLOADS]
    assert len(names) == len(set(names)) and len(names) >= 25
    assert {p.where for p in PAYLOADS} == {"condition", "text", "email", "html"}
    assert {p.refused for p in PAYLOADS} == {"validation", "run"}


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.name)
def test_a_hostile_payload_is_refused(payload: Payload, tmp_path: Path) -> None:
    path, (first, last) = build(tmp_path / "project", payload)
    result = run_bounded(tmp_path / "project")
    TALLY["tried"] += 1
    TALLY["condition" if payload.where == "condition" else "template"] += 1
    assert result["stage"] != "crash", result.get("traceback")
    if "peak" in result:
        TALLY["peak"] = max(TALLY["peak"], result["peak"])
        assert result["peak"] < PEAK, f"the payload grew memory by {result['peak'] >> 20} MB"
    assert result["stage"] == payload.refused, f"expected to be refused at {payload.refused}, got {result}"
    if payload.refused == "validation":
        located = [m for m in (LOCATED.match(p) for p in result["problems"]) if m]
        assert len(located) == len(result["problems"]), f"every problem is located path:line:col: {result['problems']}"
        ours = [m for m in located if m["path"].endswith(str(path.relative_to(tmp_path / "project"))) and first <= int(m["line"]) <= last]
        assert ours, f"no problem located at {path.name}:{first}-{last}: {result['problems']}"
        assert any(payload.says in m["message"] for m in ours), f"expected {payload.says!r} in {result['problems']}"
    elif payload.where == "condition":
        assert result["status"] == "blocked", result
        assert [b["rule"] for b in result["blocked_by"]] == ["hostile"]
        message = result["blocked_by"][0]["message"]
        assert "could not be checked" in message and payload.says in message, message
        hot = result["hot_path"]
        assert hot["available"] is False and [r["rule"] for r in hot["reasons"]] == ["hostile"], hot
    else:
        assert result["status"] == "error", f"the payload rendered: {result}"
        assert result["error"].startswith("ExpressionError") and payload.says in result["error"], result["error"]
    TALLY[payload.refused] += 1
