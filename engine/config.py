"""Configuration: one place chooses storage and notifiers, the environment overrides it.

Read from `[tool.clientflow]` in the project's pyproject.toml, or from
clientflow.toml (whose top level is the same table). Environment overrides:
CLIENTFLOW_DB (a SQLite path or a postgresql:// URL), CLIENTFLOW_STORAGE,
CLIENTFLOW_NOTIFIERS (comma-separated), CLIENTFLOW_OUTBOX (the outbox folder),
CLIENTFLOW_DB_SCHEMA (the PostgreSQL schema), CLIENTFLOW_SMTP_HOST/PORT/SECURITY/
USER/PASSWORD/TIMEOUT, CLIENTFLOW_API_SECRET and CLIENTFLOW_API_PREVIOUS_SECRETS
(comma-separated), and the delivery settings
CLIENTFLOW_MAX_ATTEMPTS, CLIENTFLOW_BACKOFF_SECONDS, CLIENTFLOW_BATCH,
CLIENTFLOW_LEASE_SECONDS, CLIENTFLOW_POLL_SECONDS. `to_json()` masks secrets.

A database named on the command line (`--db`, `Engine.open(db=...)`) overrides
all of these; `open_storage` is the one place a backend is opened from them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from .errors import ConfigError, NoDatabase
from .plain import mutable

SECRET_WORDS = ("password", "passwd", "secret", "token", "key", "authorization", "credential", "cookie", "signature")
DEFAULT_DB = ".clientflow/clientflow.db"
DEFAULT_OUTBOX = ".clientflow/outbox"
MASK = "********"
DELIVERY_DEFAULTS: dict[str, Any] = {"max_attempts": 5, "backoff_seconds": 30, "batch": 50, "lease_seconds": 300}  # the one place
DELIVERY_NUMBERS = {"max_attempts": int, "backoff_seconds": float, "batch": int, "lease_seconds": float, "poll_seconds": float}
_URL_PASSWORD = re.compile(r"(://[^:/@?#\s]+:)[^/?#\s]*@")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:ssl)?(?:password|secret|token)=)[^&#\s]*")
# libpq's keyword form: `password=hunter2`, `password = 'a b'`, backslash escapes in either; an unclosed quote runs to the end
_KEYWORD_SECRET = re.compile(r"(?i)(\b(?:ssl)?password\s*=\s*)(?!\*{8}(?:[\s&#]|\Z))('(?:[^'\\]|\\.)*(?:'|\Z)|(?:\\.|[^\s'\\])(?:\\.|[^\s\\])*\\?)", re.S)


@mutable
class Config:
    """The effective configuration of one project."""

    root: Path
    storage: str = "sqlite"
    storage_settings: dict[str, Any] = field(default_factory=dict)
    notifiers: list[str] = field(default_factory=lambda: ["outbox"])
    notifier_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    delivery: dict[str, Any] = field(default_factory=lambda: {k: DELIVERY_DEFAULTS[k] for k in ("max_attempts", "backoff_seconds")})
    api: dict[str, Any] = field(default_factory=dict)
    plugin: dict[str, dict[str, Any]] = field(default_factory=dict)  # [plugin.NAME]: an observer's own settings
    source: str = "defaults"
    file: Path | None = None  # the file the settings came from, to locate a mistake in it
    prefix: tuple[str, ...] = ()  # where clientflow's table starts in it: ("tool", "clientflow") in pyproject.toml

    def locate(self, *path: str) -> str:
        """`file:line:col` of a setting (`"notifier", "webhook", "url"`), as near as the file shows it; else the file's name."""
        if self.file is None:
            return "configuration"
        try:
            lines = self.file.read_text(encoding="utf-8").splitlines()
        except OSError:
            return str(self.file)
        *tables, key = (*self.prefix, *path)
        headers = {"[" + ".".join(tables[:n]) + "]" for n in range(len(self.prefix), len(tables) + 1) if n}
        inside = not tables
        found: tuple[int, int] | None = None
        for number, line in enumerate(lines, 1):
            text = line.strip()
            if text.startswith("["):
                inside = text.replace(" ", "") in headers
                if inside and text.replace(" ", "") == "[" + ".".join(tables) + "]":
                    found = found or (number, 1)
                continue
            name = text.split("=", 1)[0].strip().strip('"')
            if inside and (name == key or name == path[0]) and "=" in text:
                return f"{self.file}:{number}:{line.index(text[0]) + 1}"
        return f"{self.file}:{found[0]}:{found[1]}" if found else str(self.file)

    def to_json(self, *, masked: bool = True, secrets: Iterable[tuple[str, str, str]] = ()) -> dict[str, Any]:
        """The configuration as data; `masked` hides passwords, URL passwords and the (kind, name, key) settings in `secrets`."""
        data = {
            "source": self.source,
            "storage": {"backend": self.storage, **self.storage_settings},
            "notifiers": list(self.notifiers),
            "notifier": {k: dict(v) for k, v in self.notifier_settings.items()},
            "delivery": dict(self.delivery),
            "api": dict(self.api),
        }
        if not masked:
            return data
        data = _mask(data)
        for kind, name, key in secrets:  # settings a plugin declared secret, whatever their name
            if kind == "storage backend" and name == self.storage and data["storage"].get(key):
                data["storage"][key] = MASK
            elif kind == "notifier" and data["notifier"].get(name, {}).get(key):
                data["notifier"][name][key] = MASK
        return data


def mask_url(value: str) -> str:
    """A database URL or keyword DSN with its passwords (user part, query, `password=` keywords) replaced by asterisks."""
    masked = _QUERY_SECRET.sub(rf"\g<1>{MASK}", _URL_PASSWORD.sub(rf"\g<1>{MASK}@", value))
    return _KEYWORD_SECRET.sub(rf"\g<1>{MASK}", masked)


def _unescape(value: str) -> str:
    value = value[1:-1] if len(value) > 1 and value[0] == value[-1] == "'" else value.lstrip("'")
    return re.sub(r"\\(.)", r"\1", value, flags=re.S)


def secrets_in(dsn: str) -> list[str]:
    """The passwords a database URL or keyword DSN holds, as written and as the driver reads them."""
    found = [m.group(0)[len(m.group(1)) :] for m in _QUERY_SECRET.finditer(dsn)]
    found += [m.group(0)[len(m.group(1)) : -1] for m in _URL_PASSWORD.finditer(dsn)]
    found += [m.group(2) for m in _KEYWORD_SECRET.finditer(dsn)]
    found += [unquote(f) for f in found] + [_unescape(f) for f in found]
    return sorted({f for f in found if len(f) >= 4}, key=len, reverse=True)


def hide_secrets(text: str, dsn: str) -> str:
    """`text` (a driver's message about `dsn`) with every password `dsn` holds masked, wherever it appears."""
    text = mask_url(text)
    for secret in secrets_in(dsn):
        text = text.replace(secret, MASK)
    return text


def _mask(value: Any, key: str = "") -> Any:
    if isinstance(value, Mapping):
        return {k: _mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    if isinstance(value, str) and any(w in key.lower() for w in SECRET_WORDS) and value:
        return MASK
    if isinstance(value, str):
        return hide_secrets(value, value)  # a URL, a keyword DSN (its password wherever it recurs), or a path someone wrote one into
    return value


DATABASE_SCHEMES = {"postgresql": "postgresql", "postgres": "postgresql"}  # URL scheme -> storage backend


_KEYWORD_DSN = re.compile(r"\s*(?:host|hostaddr|port|dbname|user|password|passfile|service|sslmode|connect_timeout|options|application_name)\s*=", re.I)


def is_keyword_dsn(value: object) -> bool:
    """Whether `value` is a PostgreSQL connection string in libpq's keyword form (`host=db dbname=flows ...`)."""
    return isinstance(value, str) and _KEYWORD_DSN.match(value) is not None


def is_database_url(value: object) -> bool:
    """Whether `value` names a database by URL (`scheme://...`) or keyword DSN rather than a SQLite file."""
    return isinstance(value, str) and ("://" in value or is_keyword_dsn(value))


def use_database(config: Config, value: str | Path, base: Path) -> None:
    """Point `config` at one database: a URL (postgresql://...) or a SQLite file, relative to `base`.

    Any other URL scheme is refused: a URL never becomes a file or folder name,
    nor does a keyword DSN (`host=db user=bob password=...`), which is PostgreSQL's.
    """
    if is_keyword_dsn(value):
        kept = config.storage_settings if config.storage == "postgresql" else {}
        config.storage, config.storage_settings = "postgresql", {**kept, "url": str(value)}
        return
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


def plugin_env(name: str, env: Mapping[str, str]) -> dict[str, str]:
    """The settings of the plugin-registered `name` given in the environment as CLIENTFLOW_<NAME>_<KEY>=value."""
    prefix = f"CLIENTFLOW_{re.sub(r'[^A-Za-z0-9]', '_', name).upper()}_"
    return {key[len(prefix) :].lower(): value for key, value in env.items() if key.startswith(prefix) and len(key) > len(prefix)}


def plugin_settings(config: Config, name: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A plugin's own table (`[plugin.NAME]`) with CLIENTFLOW_<NAME>_<KEY> from the environment over it."""
    return {**config.plugin.get(name, {}), **plugin_env(name, os.environ if env is None else env)}


def open_storage(config: Config, registry: Any, *, existing: bool = False) -> Any:
    """The storage backend `config` names, with its settings: the one way every command and the API open storage.

    `existing`: a store that was never made (no SQLite file, no PostgreSQL schema: what a backend's
    `ExistingStorage.missing` says) is refused with NoDatabase, and nothing is made; every command
    but `init` opens storage so. A backend that cannot tell is taken as there.
    """
    storage = registry.storage(
        config.storage, project_root=Path(config.root).absolute(), locate=lambda key: config.locate("storage", key), **config.storage_settings
    )
    if existing:
        from .storage import ExistingStorage  # the storage interface only once a store is opened: a command's --help loads none of it

        where = storage.missing() if isinstance(storage, ExistingStorage) else None
        if where is not None:
            storage.close()
            raise NoDatabase(where)
    return storage


def check_plugins(config: Config, registry: Any) -> None:
    """The storage backend and notifiers `config` names, and their settings, checked as opening them checks them,
    none opened (`clientflow config` shows only what `run` would accept)."""
    registry.checked("storage backend", config.storage, config.storage_settings, lambda key: config.locate("storage", key))
    for name in config.notifiers:
        registry.checked("notifier", name, config.notifier_settings.get(name, {}), lambda key, n=name: config.locate("notifier", n, key))


def open_notifiers(config: Config, registry: Any, names: list[str] | None = None) -> dict[str, Any]:
    """The notifiers `config` enables (or `names`), each with its settings: the one way they are made."""
    return {
        name: registry.notifier(
            name,
            project_root=Path(config.root).absolute(),
            locate=lambda key, n=name: config.locate("notifier", n, key),
            **config.notifier_settings.get(name, {}),
        )
        for name in (config.notifiers if names is None else names)
    }


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
    file: Path | None
    prefix: tuple[str, ...]
    for path, key in ((root / "clientflow.toml", None), (root / "pyproject.toml", "tool")):
        if not path.exists():
            continue
        import tomllib  # only when there is a file to read: `validate` imports this module and reads none

        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        found = doc if key is None else doc.get("tool", {}).get("clientflow")
        if found:
            table, source, file, prefix = dict(found), str(path.name), path, (() if key is None else ("tool", "clientflow"))
            break
    else:
        file, prefix = None, ()
    config = Config(root=root, source=source, file=file, prefix=prefix)
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
    config.plugin = {k: dict(v) for k, v in table.get("plugin", {}).items() if isinstance(v, Mapping)}

    if env.get("CLIENTFLOW_STORAGE") and env["CLIENTFLOW_STORAGE"] != config.storage:
        # another backend: the file's settings were for the one it named
        config.storage, config.storage_settings = env["CLIENTFLOW_STORAGE"], {}
    if env.get("CLIENTFLOW_DB"):
        use_database(config, env["CLIENTFLOW_DB"], root)
    if db is not None:
        use_database(config, db, Path.cwd())
    config.storage_settings.update(plugin_env(config.storage, env))  # CLIENTFLOW_<BACKEND>_<KEY>, e.g. CLIENTFLOW_POSTGRESQL_LOCK_TIMEOUT
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
    for name in config.notifiers:  # any notifier setting from the environment: CLIENTFLOW_<NOTIFIER>_<KEY>
        config.notifier_settings.setdefault(name, {}).update(plugin_env(name, env))
    smtp = config.notifier_settings.setdefault("smtp", {})
    for name in ("host", "port", "security", "user", "password", "timeout"):
        value = env.get(f"CLIENTFLOW_SMTP_{name.upper()}")
        if value:
            smtp[name] = _number(f"CLIENTFLOW_SMTP_{name.upper()}", value, int) if name == "port" else value
    if env.get("CLIENTFLOW_API_SECRET"):
        config.api["secret"] = env["CLIENTFLOW_API_SECRET"]
    if env.get("CLIENTFLOW_API_PREVIOUS_SECRETS") is not None:  # still accepted while tokens signed with them run out
        config.api["previous_secrets"] = [s.strip() for s in env["CLIENTFLOW_API_PREVIOUS_SECRETS"].split(",") if s.strip()]
    for name, kind in DELIVERY_NUMBERS.items():
        value = env.get(f"CLIENTFLOW_{name.upper()}")
        if value:
            config.delivery[name] = _number(f"CLIENTFLOW_{name.upper()}", value, kind)
        elif name in config.delivery:
            config.delivery[name] = _number(f"delivery.{name}", config.delivery[name], kind)
    return config
