"""The simulated users of benchmarks/load.py (a locustfile; load.py starts `locust -f` on it, one phase at a time).

    Availability   GET /availability?client=ID over and over (the engine, or the bare endpoint)
    FullRun        GET /availability, then a whole run of the flow on a client of its own:
                   start, one request per screen, commit

Every answer is checked (status and shape); anything else counts as a failure
with its text. What the phase needs comes from the JSON file named by
LOAD_PLAN: the token, the clients, where to write the samples. On exit the
file LOAD_PLAN names as `out` receives every request's end time, name,
latency and success, the time all users had spawned, and for FullRun the
plans its commits answered (`load.answered`) and the runs it started.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

from load import answered
from locust import FastHttpUser, constant, events, task
from locust.exception import StopUser

PLAN: dict[str, Any] = json.loads(Path(os.environ["LOAD_PLAN"]).read_text(encoding="utf-8"))
HEADERS = {"Authorization": f"Bearer {PLAN['token']}"}
ASK = random.Random(PLAN.get("seed", 7))
RUN_CLIENTS = iter(PLAN.get("run_clients", []))

samples: list[tuple[float, str, float, bool]] = []  # (end time, name, milliseconds, ok)
failures: dict[str, int] = {}
committed: list[dict[str, Any]] = []
started: list[str] = []
state: dict[str, Any] = {"spawned": None, "stopping": None, "exhausted": 0, "user_errors": 0}


@events.request.add_listener
def _record(name: str, response_time: float, exception: BaseException | None, start_time: float, **_: Any) -> None:
    samples.append((start_time + response_time / 1000, name, response_time, exception is None))
    if exception is not None:
        text = f"{name}: {exception}"[:300]
        failures[text] = failures.get(text, 0) + 1


@events.user_error.add_listener
def _user_error(user_instance: Any, exception: BaseException, tb: Any, **_: Any) -> None:
    text = f"error in the simulated user: {type(exception).__name__}: {exception}"[:300]
    failures[text] = failures.get(text, 0) + 1
    state["user_errors"] += 1


@events.spawning_complete.add_listener
def _spawned(user_count: int, **_: Any) -> None:
    state["spawned"] = time.time()


@events.test_stopping.add_listener
def _stopping(**_: Any) -> None:
    state["stopping"] = time.time()


@events.quitting.add_listener
def _write(**_: Any) -> None:
    document = {**state, "samples": samples, "failures": failures, "committed": committed, "started": started}
    Path(PLAN["out"]).write_text(json.dumps(document), encoding="utf-8")


def expect(response: Any, code: int, **fields: Any) -> dict[str, Any] | None:
    """The JSON answer when it has HTTP status `code` and these fields; otherwise the request is marked failed (None)."""
    try:
        body = response.json()
    except Exception:  # noqa: BLE001 - no body, or not JSON (a refused connection has neither): the request failed
        body = None
    if response.status_code != code or not isinstance(body, dict) or any(body.get(k) != v for k, v in fields.items()):
        response.failure(f"HTTP {response.status_code}, wanted {code} {fields or ''}: {(response.text or '')[:200]}")
        return None
    return body


class Availability(FastHttpUser):
    """GET /availability on a random client of the actor's own, as fast as the answers come."""

    wait_time = constant(0)

    @task
    def availability(self) -> None:
        client = ASK.choice(PLAN["ask_clients"])
        with self.client.get(f"/availability?client={client}", name="/availability", headers=HEADERS, catch_response=True) as response:
            expect(response, 200, **({"subject": client} if PLAN["engine"] else {}))  # the bare endpoint answers one fixed document


class FullRun(FastHttpUser):
    """One availability question, then one whole run on a client nobody else touches: start, three screens, commit."""

    wait_time = constant(0)

    @task
    def full_run(self) -> None:
        client = next(RUN_CLIENTS, None)
        if client is None:
            state["exhausted"] += 1
            raise StopUser()
        with self.client.get(f"/availability?client={client}", name="/availability", headers=HEADERS, catch_response=True) as response:
            if expect(response, 200, subject=client) is None:
                return
        with self.client.post(
            f"/flows/{PLAN['flow']}/runs", json={"client": client}, name="/flows/{flow}/runs", headers=HEADERS, catch_response=True
        ) as response:
            view = expect(response, 201, status="open")
        if view is None:
            return
        run = view["run"]
        started.append(run)
        for i, answers in enumerate(PLAN["screens"]):
            last = i == len(PLAN["screens"]) - 1
            with self.client.post(
                f"/runs/{run}/answers", json={"answers": answers}, name="/runs/{run}/answers", headers=HEADERS, catch_response=True
            ) as response:
                if expect(response, 200, run=run, status="ready" if last else "open") is None:
                    return
        with self.client.post(f"/runs/{run}/commit", name="/runs/{run}/commit", headers=HEADERS, catch_response=True) as response:
            plan = expect(response, 200, run=run, status="completed", dry_run=False)
        if plan is not None:
            committed.append(answered(plan))
