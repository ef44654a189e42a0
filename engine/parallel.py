"""Spreading a bulk run over worker processes that share one database.

The parent streams subject names to the workers in small chunks (a few in
hand per worker: memory stays flat), and yields each worker's result as it
arrives. Workers are started with `spawn`: each opens its own engine and
connections; nothing is inherited from the parent.

Each worker has a pipe of its own, and nothing else is shared: a worker
killed from outside (the OOM killer, a SIGKILL) cannot take a lock of a shared
queue or event with it and stall the others, and the parent sees at once
which subjects it held. A worker ignores Ctrl-C (the parent decides, and tells
it to stop), ends after the subject in hand on SIGTERM, and when its parent is
killed (its pipe closes).
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from typing import Any

from .api import Engine
from .bulk import Item, run_one
from .errors import ClientflowError

CHUNK = 25
IN_HAND = 4  # chunks sent to one worker and not yet done
_DONE = "__done__"  # no more chunks: end once these are done
_STOP = "__stop__"  # stop now: the subjects not begun are skipped
_LOOK = 0.5  # seconds between the parent's looks at whether it was asked to stop


def _worker(opener: Mapping[str, Any], flow: str, actor: str, answers: Mapping[str, Any], dry_run: bool, key: str, conn: Connection) -> None:

    told: list[int] = []
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C at a terminal reaches the whole group: the parent tells us
    signal.signal(signal.SIGTERM, lambda signum, frame: told.append(signum))
    chunks: list[Any] = []
    stopped = done = False

    def read(block: bool) -> None:
        """Take what the parent sent; EOF (the parent is gone) stops as a stop message does."""
        nonlocal stopped, done
        try:
            while block or conn.poll():
                message = conn.recv()
                block = False
                if message == _STOP:
                    stopped = True
                elif message == _DONE:
                    done = True
                else:
                    chunks.append(message)
        except (EOFError, OSError):
            stopped = True

    engine = None
    try:
        engine = Engine.open(**opener)  # within: a database that cannot be opened is told to the parent, not a traceback
        while not (stopped or told) and not (done and not chunks):
            if not chunks:
                read(block=True)
                continue
            chunk = chunks.pop(0)
            for subject in chunk:
                read(block=False)
                if told and not stopped:
                    break  # ended from outside: the subjects left in hand stay unanswered, and the parent counts them lost
                if stopped:
                    conn.send(("skip", subject))  # the parent asked: it knows the run was interrupted
                    continue
                conn.send(("item", run_one(engine, flow, actor, subject, answers, dry_run=dry_run, key=key).to_json()))
            else:
                conn.send(("chunk", len(chunk)))
    except (BrokenPipeError, EOFError, ConnectionResetError):
        pass  # the parent is gone: nobody to tell
    except BaseException as exc:  # noqa: BLE001 - the parent reports it; nothing is half-applied (one transaction per subject)
        try:
            conn.send(("crash", f"{type(exc).__name__}: {exc}"))
        except OSError:
            pass  # the parent is gone: nobody to tell
    finally:
        if engine is not None:
            engine.close()
    if told and not stopped:
        sys.exit(128 + told[0])  # as a process ended by the signal reads (143 for SIGTERM), for the parent's message


@contextmanager
def _deaf_to_ctrl_c() -> Iterator[None]:
    """Start workers with Ctrl-C ignored from their first instant (an ignored signal stays ignored across exec):
    one pressed while a worker imports printed its KeyboardInterrupt traceback. The parent holds the signal back
    meanwhile (on Linux a blocked signal is kept pending, even while ignored) and gets it once the workers are started."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    resource_tracker.ensure_running()  # started now, not within: starting it unblocks SIGINT, which would then be lost
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


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
    pipes: list[Connection] = []
    processes = []
    with _deaf_to_ctrl_c():
        for _ in range(workers):
            mine, theirs = context.Pipe()
            process = context.Process(target=_worker, args=(dict(opener), flow, actor, dict(answers), dry_run, key, theirs), daemon=True)
            process.start()
            theirs.close()  # the worker's end lives in the worker alone: its death closes the pipe
            pipes.append(mine)
            processes.append(process)
    number = {id(conn): i for i, conn in enumerate(pipes)}
    names = iter(subjects)
    in_hand = {i: 0 for i in range(workers)}  # chunks sent and not done, per live worker
    unanswered = {i: 0 for i in range(workers)}  # subjects sent and not answered, per worker
    feeding = True
    crash: str | None = None
    lost = 0
    died: list[int | None] = []

    def tell(i: int, message: Any) -> None:
        try:
            pipes[i].send(message)
        except OSError:
            pass  # it died: found when its pipe is read

    def end_feeding(message: str) -> None:
        nonlocal feeding
        feeding = False
        for i in in_hand:
            tell(i, message)

    try:
        while in_hand:
            if feeding and should_stop is not None and should_stop():
                end_feeding(_STOP)
            while feeding:
                i = min(in_hand, key=in_hand.__getitem__)
                if in_hand[i] >= IN_HAND:
                    break
                chunk = [name for _, name in zip(range(CHUNK), names, strict=False)]
                if not chunk:
                    end_feeding(_DONE)
                    break
                tell(i, chunk)
                in_hand[i] += 1
                unanswered[i] += len(chunk)
            ready = wait([pipes[i] for i in in_hand], timeout=_LOOK)
            for conn in ready:
                i = number[id(conn)]
                try:
                    kind, value = pipes[i].recv()
                except (EOFError, OSError):  # ended: its work is over, or it was killed
                    processes[i].join(timeout=5)
                    if unanswered[i]:
                        lost += unanswered[i]
                        died.append(processes[i].exitcode)
                    del in_hand[i]
                    continue
                if kind == "item":
                    unanswered[i] -= 1
                    yield Item(**value)
                elif kind == "skip":
                    unanswered[i] -= 1
                elif kind == "chunk":
                    in_hand[i] -= 1
                elif kind == "crash":
                    crash = value
                    if feeding:
                        end_feeding(_STOP)
    finally:
        for i in range(workers):
            tell(i, _STOP)
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()  # stuck beyond the subject in hand
                process.join(timeout=5)
        for conn in pipes:
            conn.close()
    asked_to_stop = should_stop is not None and should_stop()
    if crash is None and lost and not asked_to_stop:  # killed or told to end from outside (OOM killer, SIGKILL, SIGTERM)
        how = ", ".join("no exit yet (still running)" if code is None else f"signal {-code}" if code < 0 else f"exit code {code}" for code in died)
        crash = f"ended by {how} with {lost} subject(s) in hand, which have no result here (each committed whole or not at all)"
    if crash is not None:
        raise ClientflowError(f"a bulk worker stopped: {crash}; run the same command again to go on (what committed is skipped)")
