"""Spreading a bulk run over worker processes that share one database.

The parent streams subject names to the workers in small chunks through a
bounded queue (memory stays flat), and yields each worker's result as it
arrives. Workers are started with `spawn`: each opens its own engine and
connections; nothing is inherited from the parent.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .bulk import Item, run_one

CHUNK = 25
_DONE = "__done__"


def _worker(opener: Mapping[str, Any], flow: str, actor: str, answers: Mapping[str, Any], dry_run: bool, key: str, tasks: Any, results: Any, stop: Any) -> None:
    from .api import Engine

    engine = Engine.open(**opener)
    try:
        while True:
            chunk = tasks.get()
            if chunk == _DONE:
                break
            for subject in chunk:
                if stop.is_set():
                    results.put(("skip", subject))
                    continue
                results.put(("item", run_one(engine, flow, actor, subject, answers, dry_run=dry_run, key=key).to_json()))
            results.put(("chunk", len(chunk)))
    except BaseException as exc:  # noqa: BLE001 - the parent reports it; nothing is half-applied (one transaction per subject)
        results.put(("crash", f"{type(exc).__name__}: {exc}"))
    finally:
        engine.close()
        results.put(("exit", None))


def spreader(opener: Mapping[str, Any], workers: int) -> Callable[..., Iterator[Item]]:
    """A `bulk.Spread` over `workers` processes, each opening the engine with `opener` (`Engine.open`'s keywords)."""

    def run(
        flow: str, actor: str, subjects: Iterable[str], answers: Mapping[str, Any], *, dry_run: bool, key: str, should_stop: Callable[[], bool] | None
    ) -> Iterator[Item]:
        return spread(opener, flow, actor, subjects, answers, dry_run=dry_run, key=key, workers=workers, should_stop=should_stop)

    return run


def spread(
    opener: Mapping[str, Any],
    flow: str,
    actor: str,
    subjects: Iterable[str],
    answers: Mapping[str, Any],
    *,
    dry_run: bool,
    key: str,
    workers: int,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[Item]:
    """Yield one Item per subject, computed by `workers` processes."""
    context = multiprocessing.get_context("spawn")
    tasks = context.Queue(maxsize=workers * 4)
    results = context.Queue()
    stop = context.Event()
    processes = [
        context.Process(target=_worker, args=(dict(opener), flow, actor, dict(answers), dry_run, key, tasks, results, stop), daemon=True)
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    names = iter(subjects)
    in_flight = exited = 0
    feeding = True
    crash: str | None = None

    def finish_feeding() -> None:
        nonlocal feeding
        if feeding:
            feeding = False
            for _ in processes:
                tasks.put(_DONE)

    try:
        while exited < workers:
            if feeding and should_stop is not None and should_stop():
                stop.set()
                finish_feeding()
            while feeding and in_flight < workers * 4:
                chunk = [name for _, name in zip(range(CHUNK), names, strict=False)]
                if not chunk:
                    finish_feeding()
                    break
                tasks.put(chunk)
                in_flight += 1
            try:
                kind, value = results.get(timeout=0.5)
            except queue.Empty:
                if not any(p.is_alive() for p in processes):
                    break
                continue
            if kind == "item":
                yield Item(**value)
            elif kind == "chunk":
                in_flight -= 1
            elif kind == "crash":
                crash = value
                stop.set()
                finish_feeding()
            elif kind == "exit":
                exited += 1
    finally:
        stop.set()
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
    if crash is not None:
        from .errors import ClientflowError

        raise ClientflowError(f"a bulk worker stopped: {crash}")
