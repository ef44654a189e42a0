"""Shared test fixtures: the tests' own project, its demo data, and an engine over each embedded backend.

The Python tests run on tests/fixtures/accounts (PROJECT), a frozen copy of the shipped
project, never on the shipped flows/, templates/, scenarios/ and data/ at the root of the
repository (REPO): those belong to product managers and are proven only by
tests/test_shipped_project.py (tests/test_meta_shipped.py holds every other module to it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from shipped_guard import SHIPPED_READERS, ShippedReads

from clientflow import Engine
from clientflow.storage import Email

REPO = Path(__file__).resolve().parent.parent  # the repository: README, docs, sources; not a project to run
PROJECT = Path(__file__).resolve().parent / "fixtures" / "accounts"  # the tests' project
DEMO = PROJECT / "data" / "demo.yaml"
NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)


class Recorder:
    """A notifier that keeps what it is sent."""

    name = "record"

    def __init__(self) -> None:
        self.sent: list[Email] = []

    def send(self, email: Email) -> None:
        self.sent.append(email)


def open_engine(backend: str, tmp_path: Path, *, root: Path = PROJECT, data: Path = DEMO, **options: object) -> Engine:
    """An engine on `backend` (memory or sqlite) holding `data`, with a fixed clock and no notifiers unless given."""
    options.setdefault("now", NOW)
    options.setdefault("notifiers", {})
    if backend == "memory":
        return Engine.open(root, data=data, **options)  # type: ignore[arg-type]
    engine = Engine.open(root, db=tmp_path / "clientflow.db", **options)  # type: ignore[arg-type]
    engine.load_data(data)
    return engine


@pytest.fixture(params=["memory", "sqlite"])
def embedded(request: pytest.FixtureRequest) -> str:
    """The name of each embedded storage backend the engine tests run on."""
    return str(request.param)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def demo_engine(embedded: str, tmp_path: Path, recorder: Recorder) -> Iterator[Engine]:
    """The fixture project's flows over the demo data, on memory and on SQLite, mail going to `recorder`."""
    engine = open_engine(embedded, tmp_path, notifiers={"record": recorder})
    yield engine
    engine.close()


# PostgreSQL ------------------------------------------------------------------
PG_ENV = "CLIENTFLOW_TEST_PG"
PG_CANDIDATES = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The URL of the PostgreSQL server for the `postgres` tests.

    CLIENTFLOW_TEST_PG names it; otherwise 127.0.0.1:5432, database `test`, as
    user postgres or root. Unreachable, the tests FAIL under CI=true (the
    server is part of CI) and skip elsewhere, saying how to run them.
    """
    import os

    given = os.environ.get(PG_ENV)
    candidates = (given,) if given else PG_CANDIDATES
    problems = []
    try:
        import psycopg
    except ImportError:
        problems.append("psycopg is not installed (pip install -e '.[test]')")
    else:
        for url in candidates:
            try:
                with psycopg.connect(url, connect_timeout=3) as conn:
                    conn.execute("SELECT 1")
                return url
            except psycopg.Error as exc:
                problems.append(f"{url}: {str(exc).strip()}")
    message = (
        "PostgreSQL is not reachable (" + "; ".join(problems) + f"). Start a server and set {PG_ENV}=postgresql://USER@HOST:PORT/DATABASE to run these tests."
    )
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema name for one test, dropped (with everything in it) afterwards."""
    import uuid

    import psycopg

    schema = f"cf_test_{uuid.uuid4().hex[:12]}"
    yield schema
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '20s'")
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# Projects to break: the flow-language tests -------------------------------------
def copy_project(dest: Path) -> Path:
    """A copy of the fixture project (flows/, templates/, schema/) under `dest`, to change one file of."""
    import shutil

    for folder in ("flows", "templates", "schema"):
        shutil.copytree(PROJECT / folder, dest / folder)
    return dest


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A fresh copy of the fixture project in tmp_path: break one file, then load it."""
    return copy_project(tmp_path / "project")


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CLIENTFLOW_ setting of the shell running the tests (the PostgreSQL address excepted) reaches the test."""
    for name in list(os.environ):
        if name.startswith("CLIENTFLOW_") and name != PG_ENV:
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def own_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test its own user cache folder (validate remembers clean results there): no test sees another's, nor the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


def figures(line: Callable[[], str]) -> Any:
    """A module's figures: an autouse fixture printing `line()` once the module's tests ran (the docs quote them).

    In a test module: `summary = figures(lambda: f"...: {TALLY['x']} ...")`.
    """

    @pytest.fixture(scope="module", autouse=True)
    def summary(request: pytest.FixtureRequest) -> Iterator[None]:
        yield
        print_summary(request, line())

    return summary


def print_summary(request: pytest.FixtureRequest, line: str) -> None:
    """Print a test file's one-line figures on the terminal, even when output is captured (docs quote them)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line(line)


# The shipped project: read only by the modules allowed to ---------------------------------------
SHIPPED_READS = ShippedReads(REPO)
sys.addaudithook(SHIPPED_READS)  # sees every file this process opens or lists; cheap (a few events a millisecond)


def _refuse_shipped_reads(module: str, report: Any) -> None:
    """Turn `report` into a failure naming the shipped files read, unless `module` may read them."""
    found = SHIPPED_READS.take()
    if found and module not in SHIPPED_READERS and report.outcome != "failed":
        shown = ", ".join(sorted({str(Path(p).relative_to(REPO)) for p in found})[:5])
        report.outcome = "failed"
        report.longrepr = (
            f"{module} read the shipped project ({shown}): it belongs to product managers. "
            "Use the fixture project (conftest.PROJECT, DEMO) or one written into tmp_path, and pass --project."
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    SHIPPED_READS.take()
    outcome = yield
    if isinstance(collector, pytest.Module):  # importing a test module
        _refuse_shipped_reads(collector.path.name, outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    _refuse_shipped_reads(item.path.name, outcome.get_result())
