"""The threads GET /availability is answered in (web.routes.AvailabilityThreads): what an executor gives, and no more.

A request's work runs in one of POOL threads, with the caller's context variables, and its
result or its very exception comes back to the caller's event loop; work whose request was
cancelled before it started is not done; shutting down waits for the work given, stops the
threads, and the next request starts them again.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

from clientflow.web.routes import POOL, AvailabilityThreads

ASKED: contextvars.ContextVar[str] = contextvars.ContextVar("ASKED", default="nobody")


@pytest.fixture
def threads() -> Iterator[AvailabilityThreads]:
    made = AvailabilityThreads()
    yield made
    made.shutdown()


def ours() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("clientflow-availability")]


def test_the_work_runs_in_a_thread_of_its_own_and_its_result_comes_back(threads: AvailabilityThreads) -> None:
    def work(given: int) -> tuple[int, str]:
        return given * 2, threading.current_thread().name

    async def ask() -> list[tuple[int, str]]:
        return list(await asyncio.gather(*(threads.run(work, n) for n in range(50))))

    answers = asyncio.run(ask())
    assert [doubled for doubled, _ in answers] == [n * 2 for n in range(50)]
    names = {name for _, name in answers}
    assert names and all(name.startswith("clientflow-availability_") for name in names)
    assert threading.current_thread().name not in names
    assert len(ours()) == POOL


def test_the_very_exception_of_the_work_is_raised_to_the_caller(threads: AvailabilityThreads) -> None:
    refused = LookupError("no such record")

    def work(given: object) -> None:
        raise refused

    async def ask() -> BaseException:
        with pytest.raises(LookupError) as caught:
            await threads.run(work, None)
        return caught.value

    assert asyncio.run(ask()) is refused


def test_a_stop_iteration_of_the_work_reaches_the_caller_as_a_runtime_error(threads: AvailabilityThreads) -> None:
    # a future refuses StopIteration itself: handed on as it is, the request would wait for ever
    stopped = StopIteration("a plugin's next() on an empty iterator")

    def work(given: object) -> None:
        raise stopped

    async def ask() -> BaseException:
        with pytest.raises(RuntimeError) as caught:
            await asyncio.wait_for(threads.run(work, None), timeout=10)
        return caught.value

    assert asyncio.run(ask()).__cause__ is stopped


def test_the_work_sees_the_callers_context_variables_and_changes_none_of_them(threads: AvailabilityThreads) -> None:
    def work(given: str) -> str:
        seen = ASKED.get()
        ASKED.set(given)  # in the copy the work runs in
        return seen

    async def ask() -> tuple[str, str, str]:
        ASKED.set("fr")
        seen = await threads.run(work, "changed")
        return seen, ASKED.get(), await threads.run(work, "again")

    assert asyncio.run(ask()) == ("fr", "fr", "fr")


def test_work_whose_request_was_cancelled_before_it_started_is_not_done(threads: AvailabilityThreads) -> None:
    release = threading.Event()
    done: list[str] = []

    def hold(given: str) -> str:
        release.wait(10)
        done.append(given)
        return given

    async def ask() -> list[str]:
        busy = [threads.run(hold, f"busy-{k}") for k in range(POOL)]  # every thread waits
        late = threads.run(hold, "late")
        await asyncio.sleep(0.05)
        late.cancel()
        release.set()
        return list(await asyncio.gather(*busy))

    answers = asyncio.run(ask())
    threads.shutdown()  # waits for whatever was given: the late job, had it been kept, would be done by now
    assert answers == [f"busy-{k}" for k in range(POOL)]
    assert "late" not in done and len(done) == POOL


def test_shutting_down_waits_for_the_work_given_and_the_next_request_starts_the_threads_again() -> None:
    threads = AvailabilityThreads()
    started = threading.Event()
    finished: list[int] = []

    def slow(given: int) -> int:
        started.set()
        threading.Event().wait(0.2)
        finished.append(given)
        return given

    async def give() -> None:
        threads.run(slow, 1)  # not awaited: the loop ends while the work goes on
        started.wait(10)

    before = len(ours())
    asyncio.run(give())
    threads.shutdown()
    assert finished == [1]
    assert len(ours()) == before

    async def again() -> int:
        return await threads.run(lambda n: n + 1, 41)

    assert asyncio.run(again()) == 42
    assert len(ours()) == before + POOL
    threads.shutdown()
    assert len(ours()) == before


def test_an_error_is_not_kept_alive_by_the_thread_that_met_it(threads: AvailabilityThreads) -> None:
    made: list[weakref.ref[Exception]] = []

    class Refused(Exception):
        def __init__(self) -> None:
            super().__init__("refused")
            made.append(weakref.ref(self))

    def work(given: object) -> None:
        raise Refused()  # held by no name of its own frame

    async def ask() -> None:
        try:
            await threads.run(work, None)
        except Refused:
            pass

    gc.collect()
    gc.disable()  # what a cycle keeps would live until the next collection
    try:
        asyncio.run(ask())
        threads.shutdown()  # the threads' last frames gone
        assert made and made[0]() is None
    finally:
        gc.enable()
