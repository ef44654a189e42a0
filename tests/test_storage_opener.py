"""One way to open storage: --db, then CLIENTFLOW_DB, then the configuration, for every command and the Python API.

The project is a fresh `clientflow new` one: these tests need a project that loads and
data that fits it, not any particular flow.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pluggy
import pytest
from click.testing import CliRunner

import clientflow.plugins
from clientflow import Engine, hookimpl
from clientflow.cli import cli
from clientflow.config import load_config
from clientflow.default_plugins.memory import MemoryStorage
from clientflow.errors import ClientflowError, ConfigError
from clientflow.outbox import Outbox


def invoke(*args: Any, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_environment: None) -> Path:
    """A new project, and the current folder set to it (as a user works)."""
    monkeypatch.chdir(tmp_path)  # not the checkout: the command line reads the current folder's project for its words
    done = invoke("new", tmp_path / "proj")
    assert done.exit_code == 0, done.output
    monkeypatch.chdir(tmp_path / "proj")
    return tmp_path / "proj"


def export(*args: Any, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = invoke("export", "--format", "json", *args, env=env)
    assert done.exit_code == 0, done.output
    return dict(json.loads(done.stdout))


def files_named_like_urls(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if "postgres" in p.name or ":" in p.name]


def test_init_and_export_default_to_the_configured_sqlite_file(project: Path) -> None:
    done = invoke("init", "--data", "data/demo.yaml")
    assert done.exit_code == 0, done.output
    assert (project / ".clientflow" / "clientflow.db").is_file()
    assert any(export().values())


def test_init_refuses_a_database_holding_records_and_force_replaces_them(project: Path, tmp_path: Path) -> None:
    assert invoke("init", "--data", "data/demo.yaml").exit_code == 0
    before = export()
    again = invoke("init", "--data", "data/demo.yaml")
    assert again.exit_code == 1
    assert "already holds records; pass --force to replace them" in again.stderr
    assert export() == before
    # a smaller file replaces everything, it does not add to it
    collection = next(k for k, v in before.items() if v)
    smaller = tmp_path / "smaller.json"
    smaller.write_text(json.dumps({**{k: [] for k in before}, collection: before[collection][:1]}))
    forced = invoke("init", "--data", smaller, "--force")
    assert forced.exit_code == 0, forced.output
    assert export() == {**{k: [] for k in before}, collection: before[collection][:1]}


def test_a_broken_data_file_changes_nothing_even_with_force(project: Path, tmp_path: Path) -> None:
    assert invoke("init", "--data", "data/demo.yaml").exit_code == 0
    before = export()
    broken = tmp_path / "broken.yaml"
    broken.write_text("nonsense: [1, 2\n")
    done = invoke("init", "--data", broken, "--force")
    assert done.exit_code == 1
    assert done.stderr.startswith(f"{broken}:")
    assert export() == before


@pytest.mark.postgres
def test_init_db_url_and_clientflow_db_load_into_postgresql(project: Path, postgres_url: str, postgres_schema: str) -> None:
    env = {"CLIENTFLOW_DB_SCHEMA": postgres_schema}
    done = invoke("init", "--data", "data/demo.yaml", "--db", postgres_url, env=env)
    assert done.exit_code == 0, done.output
    assert "postgresql" in done.stdout
    assert not (project / ".clientflow" / "clientflow.db").exists()
    assert files_named_like_urls(project) == []
    loaded = export("--db", postgres_url, env=env)
    assert any(loaded.values())
    assert export(env={**env, "CLIENTFLOW_DB": postgres_url}) == loaded  # the environment names the same database
    forced = invoke("init", "--data", "data/demo.yaml", "--force", env={**env, "CLIENTFLOW_DB": postgres_url})
    assert forced.exit_code == 0, forced.output
    assert export(env={**env, "CLIENTFLOW_DB": postgres_url}) == loaded
    assert not (project / ".clientflow" / "clientflow.db").exists()
    outbox = Outbox.open(project, env={**env, "CLIENTFLOW_DB": postgres_url})  # the worker's side opens it alike
    try:
        assert outbox.storage.name == "postgresql"
    finally:
        outbox.close()


@pytest.mark.postgres
def test_a_socket_url_never_becomes_a_file_or_folder(project: Path, postgres_url: str, postgres_schema: str) -> None:
    socket_url = "postgresql://postgres@/postgres?host=/var/run/postgresql"
    done = invoke("init", "--data", "data/demo.yaml", "--db", socket_url, env={"CLIENTFLOW_DB_SCHEMA": postgres_schema})
    # whether or not this machine's server listens on that socket, nothing is created in the project
    assert files_named_like_urls(project) == []
    assert not (project / ".clientflow" / "clientflow.db").exists()
    assert "Traceback" not in done.output


@pytest.mark.parametrize("url", ["mysql://root@localhost/test", "sqlite:///x.db", "redis://127.0.0.1"])
def test_an_unknown_url_scheme_is_refused_and_creates_nothing(project: Path, url: str) -> None:
    done = invoke("init", "--data", "data/demo.yaml", "--db", url)
    assert done.exit_code == 1
    assert "unknown database URL scheme" in done.stderr and "postgresql://" in done.stderr
    assert files_named_like_urls(project) == [] and not (project / ".clientflow").exists()
    env_done = invoke("export", env={"CLIENTFLOW_DB": url})
    assert env_done.exit_code == 1 and "unknown database URL scheme" in env_done.stderr


def test_a_command_reads_the_configuration_once(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command checks the database it names exists, then opens the engine with that same configuration."""
    import clientflow.api
    import clientflow.commands.common

    assert invoke("init", "--data", "data/demo.yaml").exit_code == 0
    read: list[Path] = []

    def counted(root: Any, *args: Any, **kwargs: Any) -> Any:
        read.append(Path(root))
        return load_config(root, *args, **kwargs)

    monkeypatch.setattr(clientflow.commands.common, "load_config", counted)
    monkeypatch.setattr(clientflow.api, "load_config", counted)
    assert any(export().values())
    assert len(read) == 1


def test_db_wins_over_clientflow_db_which_wins_over_the_configuration(project: Path, tmp_path: Path) -> None:
    configured = load_config(project, {})
    assert configured.storage == "sqlite" and configured.storage_settings["path"].endswith("clientflow.db")
    from_env = load_config(project, {"CLIENTFLOW_DB": "other.db"})
    assert from_env.storage_settings["path"] == str(project / "other.db")  # relative to the project
    given = load_config(project, {"CLIENTFLOW_DB": "other.db"}, db=tmp_path / "given.db")
    assert given.storage_settings["path"] == str(tmp_path / "given.db")
    url = load_config(project, {"CLIENTFLOW_DB": "other.db"}, db="postgres://u@h/d")
    assert (url.storage, url.storage_settings["url"]) == ("postgresql", "postgresql://u@h/d")


class KeepingStorage(MemoryStorage):
    """A third-party backend: kept (as far as the test goes), and not SQLite."""

    name = "keeping"
    persistent = True
    opened: list[KeepingStorage] = []

    def __init__(self, **settings: Any) -> None:
        super().__init__()
        self.settings = settings
        KeepingStorage.opened.append(self)


class NotEmptiable(KeepingStorage):
    """A backend without `clear()`: one store for the whole test, as a server would be."""

    name = "stubborn"
    clear = None  # type: ignore[assignment]


class ThirdParty:
    def __init__(self) -> None:
        self.stubborn = NotEmptiable()

    @hookimpl
    def clientflow_register_storage(self, register: Any) -> None:
        register("keeping", KeepingStorage)
        register("stubborn", lambda **settings: self.stubborn)


@pytest.fixture
def third_party(monkeypatch: pytest.MonkeyPatch) -> None:
    pm = clientflow.plugins.load_plugins(pluggy.PluginManager("clientflow"))
    pm.register(ThirdParty(), name="third-party")
    monkeypatch.setattr(clientflow.plugins, "_pm", pm)
    KeepingStorage.opened.clear()


def test_init_uses_a_third_party_backend_that_is_configured(project: Path, third_party: None) -> None:
    (project / "clientflow.toml").write_text('storage = {backend = "keeping", where = "somewhere"}\nnotifiers = []\n')
    done = invoke("init", "--data", "data/demo.yaml")
    assert done.exit_code == 0, done.output
    assert "keeping" in done.stdout
    store = KeepingStorage.opened[-1]
    assert store.settings == {"where": "somewhere", "project_root": project} and store.docs
    assert not (project / ".clientflow" / "clientflow.db").exists()


def test_init_force_on_a_backend_that_cannot_be_emptied_says_so(project: Path, third_party: None) -> None:
    (project / "clientflow.toml").write_text('storage = {backend = "stubborn"}\nnotifiers = []\n')
    assert invoke("init", "--data", "data/demo.yaml").exit_code == 0
    before = export()
    done = invoke("init", "--data", "data/demo.yaml", "--force")
    assert done.exit_code == 1
    assert "cannot be emptied" in done.stderr and "stubborn" in done.stderr
    assert export() == before


def test_init_refuses_the_memory_backend_which_keeps_nothing(project: Path) -> None:
    done = invoke("init", "--data", "data/demo.yaml", env={"CLIENTFLOW_STORAGE": "memory"})
    assert done.exit_code == 1
    assert "keeps nothing" in done.stderr


def test_the_python_api_opens_the_same_way(project: Path, tmp_path: Path) -> None:
    with Engine.open(project, db=tmp_path / "api.db") as engine:
        assert engine.storage.name == "sqlite" and engine.config.storage_settings["path"] == str(tmp_path / "api.db")
        engine.replace_data(project / "data" / "demo.yaml")
        assert not engine.is_empty()
        with pytest.raises(ClientflowError, match="already holds records"):
            engine.replace_data(project / "data" / "demo.yaml")
    with pytest.raises(ConfigError, match="unknown database URL scheme"):
        Engine.open(project, db="mysql://x@y/z")
