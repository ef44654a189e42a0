"""Where the web app gets its engine: opened once, or in preview reopened when a file changes.

The preview watches the project's definition files and the data file by their
modification times; a change reopens the engine (fresh in-memory data, so old
preview runs end), and a project that no longer loads is kept as its located
problems so the page can show them instead of going blank.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..api import Engine
from ..config import open_storage
from ..errors import ClientflowError, ConfigError, DefinitionError, Location, Problem
from ..tokens import TokenError, check_settings

WATCHED = ("flows", "templates", "schema")
CONFIG_FILES = ("clientflow.toml", "pyproject.toml")
MAX_WATCHED = 5_000  # files looked at per check; a project this large is watched only in part
POOL = 8  # engines, each with its own database connection, serving one process's requests side by side


@dataclass
class WebSettings:
    """How `clientflow serve` was asked to run."""

    project: Path
    data: Path | None = None
    db: Path | str | None = None  # a SQLite file, or a postgresql:// URL
    preview: bool = False
    secret: str | None = None
    now: datetime | None = None
    outbox: Path | None = None

    def to_text(self) -> str:
        """These settings as JSON text, for the worker processes of `clientflow serve --workers N` (`from_text` reads it)."""
        db = None if self.db is None else str(self.db)
        return json.dumps({
            "project": str(self.project), "data": None if self.data is None else str(self.data), "db": db, "db_is_url": isinstance(self.db, str),
            "preview": self.preview, "secret": self.secret, "now": None if self.now is None else self.now.isoformat(),
            "outbox": None if self.outbox is None else str(self.outbox),
        })  # fmt: skip

    @classmethod
    def from_text(cls, text: str) -> WebSettings:
        """The settings `to_text` wrote."""
        given = json.loads(text)
        db = given["db"] if given["db"] is None or given["db_is_url"] else Path(given["db"])
        now = None if given["now"] is None else datetime.fromisoformat(given["now"])
        return cls(
            project=Path(given["project"]), data=None if given["data"] is None else Path(given["data"]), db=db, preview=bool(given["preview"]),
            secret=given["secret"], now=now, outbox=None if given["outbox"] is None else Path(given["outbox"]),
        )  # fmt: skip


class ProjectBroken(ClientflowError):
    """The project (or its data file) does not load; `problems` say where."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"the project does not load: {len(problems)} problem(s)")


def watched_files(settings: WebSettings) -> Iterator[Path]:
    """The files whose change reloads the preview, at most MAX_WATCHED of them."""
    count = 0
    for name in WATCHED:
        folder = settings.project / name
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if count >= MAX_WATCHED:
                return
            if path.is_file():
                count += 1
                yield path
    for name in CONFIG_FILES:
        yield settings.project / name
    if settings.data is not None:
        yield settings.data


def fingerprint(settings: WebSettings) -> str:
    """A short digest of the watched files' names, sizes and modification times."""
    digest = hashlib.sha256()
    for path in watched_files(settings):
        try:
            stat = path.stat()
        except OSError:
            digest.update(f"{path}:missing\n".encode())
            continue
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def as_problems(exc: ClientflowError, settings: WebSettings) -> list[Problem]:
    if isinstance(exc, DefinitionError):
        return list(exc.problems)
    return [Problem(Location(str(settings.data or settings.project)), str(exc))]


class EngineSource:
    """The engine requests use; in preview, reopened whenever `fingerprint` changes."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        # Preview tokens are signed with a key of this process only, so a preview can
        # never mint a token that a real server (sharing the configured secret) accepts.
        self.preview_secret = secrets.token_urlsafe(32) if settings.preview else None
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._pool = threading.Condition()
        self._spare: list[Engine] = []  # engines of the pool that no request holds
        self._made = 0
        self._problems: list[Problem] = []
        self._version = ""
        self._closed = False  # by `close`: opened again when next asked
        self._load()
        if not settings.preview:
            try:
                check_settings(self.auth_settings())
            except TokenError as exc:  # a weak secret or a bad lifetime: refuse to serve rather than accept guessable tokens
                raise ConfigError(str(exc)) from exc

    def _open(self) -> Engine:
        s = self.settings
        return Engine.open(s.project, data=s.data, db=s.db, now=s.now, outbox=s.outbox)

    def _load(self) -> None:
        version = fingerprint(self.settings) if self.settings.preview else "static"
        try:
            engine = self._open()
        except ClientflowError as exc:
            if not self.settings.preview:
                raise
            engine, self._problems = None, as_problems(exc, self.settings)
        else:
            self._problems = []
        old, self._engine, self._version = self._engine, engine, version
        if old is not None:
            old.close()

    def refresh(self) -> str:
        """Reopen the engine if a watched file changed; return the current version."""
        if not self.settings.preview:
            return self._version
        with self._lock:
            if fingerprint(self.settings) != self._version:
                self._load()
            return self._version

    @property
    def problems(self) -> list[Problem]:
        self.refresh()
        return list(self._problems)

    def engine(self) -> Engine:
        """The engine to serve this request; ProjectBroken while the project does not load."""
        if self._closed:  # the app serves again after it was shut down (a test harness may start it again)
            with self._lock:
                if self._closed:
                    self._load()
                    self._closed = False
        self.refresh()
        engine = self._engine
        if engine is None:
            raise ProjectBroken(self._problems)
        return engine

    @contextmanager
    def lease(self) -> Iterator[Engine]:
        """The engine one request uses, held until the request is done.

        A storage backend holds one connection, one transaction at a time, so
        requests sharing one engine would wait on the database in turn. Here each
        request takes an engine of a small pool (at most POOL, made on demand):
        they share the project, the configuration, the notifiers and the clock,
        each with a storage of its own. A preview, or a store kept in this
        process's memory, has the one engine.
        """
        engine = self.engine()
        if self.settings.preview or engine.storage.name == "memory":
            yield engine
            return
        with self._pool:
            while not self._spare and self._made >= POOL:
                self._pool.wait()
            leased = self._spare.pop() if self._spare else None
            if leased is None:
                self._made += 1
        if leased is None:
            try:
                leased = Engine(
                    engine.project, open_storage(engine.config, engine.registry), clock=engine.clock,
                    notifiers=engine.notifiers, registry=engine.registry, config=engine.config,
                )  # fmt: skip
            except BaseException:
                with self._pool:
                    self._made -= 1
                    self._pool.notify()
                raise
        try:
            yield leased
        finally:
            with self._pool:
                self._spare.append(leased)
                self._pool.notify()

    def secret(self) -> str:
        """The key tokens are checked with: the preview's own, else the configured one."""
        if self.preview_secret is not None:
            return self.preview_secret
        if self.settings.secret:
            return self.settings.secret
        engine = self._engine
        return str(engine.config.api.get("secret") or "") if engine is not None else ""

    def auth_settings(self) -> dict[str, Any]:
        """What the `clientflow_resolve_actor` hook is given: the `api` table, with the key tokens are checked with.

        A preview checks with its own key only, never with the configured previous ones.
        """
        engine = self._engine
        api = dict(engine.config.api) if engine is not None else {}
        if self.preview_secret is not None:
            api.pop("previous_secrets", None)
        api["secret"] = self.secret()
        return api

    def close(self) -> None:
        with self._lock, self._pool:
            for spare in self._spare:
                spare.storage.close()  # the notifiers are the main engine's, closed with it
            self._spare, self._made = [], 0
            if self._engine is not None:
                self._engine.close()
                self._engine = None
            self._closed = True
