"""Configuration: one place chooses storage and notifiers, the environment overrides it.

Read from `[tool.clientflow]` in the project's pyproject.toml, or from
clientflow.toml (whose top level is the same table). Environment overrides:
CLIENTFLOW_DB (a SQLite path or a postgresql:// URL), CLIENTFLOW_STORAGE,
CLIENTFLOW_NOTIFIERS (comma-separated), CLIENTFLOW_OUTBOX (the outbox folder),
CLIENTFLOW_DB_SCHEMA (the PostgreSQL schema), CLIENTFLOW_SMTP_HOST/PORT/SECURITY/
USER/PASSWORD/TIMEOUT, CLIENTFLOW_API_SECRET, and the delivery settings
CLIENTFLOW_MAX_ATTEMPTS, CLIENTFLOW_BACKOFF_SECONDS, CLIENTFLOW_BATCH,
CLIENTFLOW_LEASE_SECONDS, CLIENTFLOW_POLL_SECONDS. `to_json()` masks secrets.

A database named on the command line (`--db`, `Engine.open(db=...)`) overrides
all of these; `open_storage` is the one place a backend is opened from them.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

SECRET_WORDS = ("password", "secret", "token", "key")
DEFAULT_DB = ".clientflow/clientflow.db"
DEFAULT_OUTBOX = ".clientflow/outbox"
MASK = "********"
DELIVERY_NUMBERS = {"max_attempts": int, "backoff_seconds": float, "batch": int, "lease_seconds": float, "poll_seconds": float}
_URL_PASSWORD = re.compile(r"(://[^:/@?#\s]+:)[^/?#\s]*@")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:ssl)?(?:password|secret|token)=)[^&#\s]*")


@dataclass
class Config:
    """The effective configuration of one project."""

    root: Path
    storage: str = "sqlite"
    storage_settings: dict[str, Any] = field(default_factory=dict)
    notifiers: list[str] = field(default_factory=lambda: ["outbox"])
    notifier_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    delivery: dict[str, Any] = field(default_factory=lambda: {"max_attempts": 5, "backoff_seconds": 30})
    api: dict[str, Any] = field(default_factory=dict)
    source: str = "defaults"

    def to_json(self, *, masked: bool = True) -> dict[str, Any]:
        data = {
            "source": self.source,
            "storage": {"backend": self.storage, **self.storage_settings},
            "notifiers": list(self.notifiers),
            "notifier": {k: dict(v) for k, v in self.notifier_settings.items()},
            "delivery": dict(self.delivery),
            "api": dict(self.api),
        }
        return _mask(data) if masked else data


def mask_url(value: str) -> str:
    """A URL with its password (in the user part or the query) replaced by asterisks."""
    return _QUERY_SECRET.sub(rf"\g<1>{MASK}", _URL_PASSWORD.sub(rf"\g<1>{MASK}@", value))


def _mask(value: Any, key: str = "") -> Any:
    if isinstance(value, Mapping):
        return {k: _mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    if isinstance(value, str) and any(w in key.lower() for w in SECRET_WORDS) and value:
        return MASK
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    return value


DATABASE_SCHEMES = {"postgresql": "postgresql", "postgres": "postgresql"}  # URL scheme -> storage backend


def is_database_url(value: object) -> bool:
    """Whether `value` names a database by URL (`scheme://...`) rather than a SQLite file."""
    return isinstance(value, str) and "://" in value


def use_database(config: Config, value: str | Path, base: Path) -> None:
    """Point `config` at one database: a URL (postgresql://...) or a SQLite file, relative to `base`.

    Any other URL scheme is refused: a URL never becomes a file or folder name.
    """
    if is_database_url(value):
        text = str(value)
        scheme = text.split("://", 1)[0].lower()
        backend = DATABASE_SCHEMES.get(scheme)
        if backend is None:
            known = ", ".join(f"{s}://" for s in sorted(set(DATABASE_SCHEMES)))
            raise ConfigError(f"unknown database URL scheme {scheme + '://'!r} in {mask_url(text)}; give a SQLite file path or a URL starting {known}")
        # the URL replaces the configured one; the backend's other settings (schema, timeouts) stay
        kept = config.storage_settings if config.storage == backend else {}
        config.storage, config.storage_settings = backend, {**kept, "url": "postgresql://" + text.split("://", 1)[1]}
        return
    path = Path(value).expanduser()
    config.storage, config.storage_settings = "sqlite", {"path": str(path if path.is_absolute() else base / path)}


def open_storage(config: Config, registry: Any) -> Any:
    """The storage backend `config` names, with its settings: the one way every command and the API open storage."""
    return registry.storage(config.storage, **config.storage_settings)


def _number(name: str, value: Any, kind: type) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number, not {value!r}") from exc
    if number < 0 or (number == 0 and "backoff" not in name):
        raise ConfigError(f"{name} must be more than 0, not {value!r}")
    return number


def load_config(root: str | Path, env: Mapping[str, str] | None = None, *, db: str | Path | None = None) -> Config:
    """The project's configuration with environment overrides applied.

    `db` (a SQLite path, read from the current folder, or a database URL) wins
    over CLIENTFLOW_DB and the configuration file.
    """
    root = Path(root)
    env = os.environ if env is None else env
    table: dict[str, Any] = {}
    source = "defaults"
    for path, key in ((root / "clientflow.toml", None), (root / "pyproject.toml", "tool")):
        if not path.exists():
            continue
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        found = doc if key is None else doc.get("tool", {}).get("clientflow")
        if found:
            table, source = dict(found), str(path.name)
            break
    config = Config(root=root, source=source)
    storage = table.get("storage", {})
    if isinstance(storage, str) and is_database_url(storage):
        use_database(config, storage, root)
        storage = {"backend": config.storage, **config.storage_settings}
    elif isinstance(storage, str):
        storage = {"backend": storage}
    if not isinstance(storage, Mapping):
        raise ConfigError(f'{source}: storage must be a table such as {{backend = "sqlite"}}, not {storage!r}')
    config.storage = storage.get("backend", "sqlite")
    config.storage_settings = {k: v for k, v in storage.items() if k != "backend"}
    notifiers = table.get("notifiers", config.notifiers)
    if not isinstance(notifiers, list) or not all(isinstance(n, str) for n in notifiers):
        raise ConfigError(f'{source}: notifiers must be a list of names such as ["outbox", "smtp"], not {notifiers!r}')
    config.notifiers = list(notifiers)
    config.notifier_settings = {k: dict(v) for k, v in table.get("notifier", {}).items()}
    config.delivery.update(table.get("delivery", {}))
    config.api = dict(table.get("api", {}))

    if env.get("CLIENTFLOW_STORAGE") and env["CLIENTFLOW_STORAGE"] != config.storage:
        # another backend: the file's settings were for the one it named
        config.storage, config.storage_settings = env["CLIENTFLOW_STORAGE"], {}
    if env.get("CLIENTFLOW_DB"):
        use_database(config, env["CLIENTFLOW_DB"], root)
    if db is not None:
        use_database(config, db, Path.cwd())
    if env.get("CLIENTFLOW_DB_SCHEMA"):
        config.storage_settings["schema"] = env["CLIENTFLOW_DB_SCHEMA"]
    if config.storage == "sqlite":
        path = Path(config.storage_settings.get("path", DEFAULT_DB))
        config.storage_settings["path"] = str(path if path.is_absolute() else root / path)
    if config.storage == "postgresql" and str(config.storage_settings.get("url", "")).startswith("postgres://"):
        config.storage_settings["url"] = "postgresql://" + str(config.storage_settings["url"])[len("postgres://") :]
    if env.get("CLIENTFLOW_NOTIFIERS") is not None:
        config.notifiers = [n.strip() for n in env["CLIENTFLOW_NOTIFIERS"].split(",") if n.strip()]
    outbox = config.notifier_settings.setdefault("outbox", {})
    if env.get("CLIENTFLOW_OUTBOX"):
        outbox["dir"] = env["CLIENTFLOW_OUTBOX"]
    folder = Path(outbox.get("dir", DEFAULT_OUTBOX))
    outbox["dir"] = str(folder if folder.is_absolute() else root / folder)
    smtp = config.notifier_settings.setdefault("smtp", {})
    for name in ("host", "port", "security", "user", "password", "timeout"):
        value = env.get(f"CLIENTFLOW_SMTP_{name.upper()}")
        if value:
            smtp[name] = _number(f"CLIENTFLOW_SMTP_{name.upper()}", value, int) if name == "port" else value
    if env.get("CLIENTFLOW_API_SECRET"):
        config.api["secret"] = env["CLIENTFLOW_API_SECRET"]
    for name, kind in DELIVERY_NUMBERS.items():
        value = env.get(f"CLIENTFLOW_{name.upper()}")
        if value:
            config.delivery[name] = _number(f"CLIENTFLOW_{name.upper()}", value, kind)
        elif name in config.delivery:
            config.delivery[name] = _number(f"delivery.{name}", config.delivery[name], kind)
    return config
