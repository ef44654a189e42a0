"""Configuration: the file chooses, the environment overrides, secrets never print,
and a name that is not installed fails listing the names that are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from clientflow.cli import cli
from clientflow.config import load_config, mask_url
from clientflow.errors import ConfigError
from clientflow.plugins import Registry

SECRETS = ("pg-s3cret", "smtp-s3cret", "api-s3cret", "query-s3cret")


@pytest.fixture(autouse=True)
def no_settings_from_the_shell(clean_environment: None) -> None:
    """Every test here sets the environment it means."""


def project(tmp_path: Path, text: str, name: str = "clientflow.toml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def show(root: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, ["config", "--project", str(root), *args], env=env, catch_exceptions=False)


def test_config_masks_every_secret_from_the_file_and_the_environment(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        """
storage = {backend = "postgresql", url = "postgresql://app:pg-s3cret@db.internal:5432/flows", schema = "tenant_a"}
notifiers = ["smtp"]
[notifier.smtp]
host = "mail.internal"
security = "tls"
[api]
token_hours = 8
""",
    )
    env = {"CLIENTFLOW_SMTP_USER": "mailer", "CLIENTFLOW_SMTP_PASSWORD": "smtp-s3cret", "CLIENTFLOW_API_SECRET": "api-s3cret"}
    result = show(root, "--format", "json", env=env)
    assert result.exit_code == 0, result.output
    assert not any(secret in result.output for secret in SECRETS)
    shown = json.loads(result.output)
    assert shown["storage"] == {"backend": "postgresql", "url": "postgresql://app:********@db.internal:5432/flows", "schema": "tenant_a"}
    assert shown["notifier"]["smtp"] == {"host": "mail.internal", "security": "tls", "user": "mailer", "password": "********"}
    assert shown["api"] == {"token_hours": 8, "secret": "********"}
    text = show(root, env=env)
    assert text.exit_code == 0 and "db.internal" in text.output
    assert not any(secret in text.output for secret in SECRETS)


def test_unmasked_configuration_keeps_the_secrets_for_the_engine(tmp_path: Path) -> None:
    config = load_config(tmp_path, {"CLIENTFLOW_DB": "postgresql://app:pg-s3cret@db/flows", "CLIENTFLOW_SMTP_PASSWORD": "smtp-s3cret"})
    assert config.to_json(masked=False)["storage"]["url"] == "postgresql://app:pg-s3cret@db/flows"
    assert config.notifier_settings["smtp"]["password"] == "smtp-s3cret"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:query-s3cret@db/x", "postgresql://app:********@db/x"),
        ("postgresql://app:p@ss:query-s3cret@db:5432/x?sslmode=require", "postgresql://app:********@db:5432/x?sslmode=require"),
        ("postgresql://db/x?user=app&password=query-s3cret&sslmode=require", "postgresql://db/x?user=app&password=********&sslmode=require"),
        ("postgresql://app@db/x", "postgresql://app@db/x"),
    ],
    ids=["user-part", "at-sign-in-password", "query", "no-password"],
)
def test_urls_lose_their_passwords(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        """
[tool.clientflow]
storage = {backend = "postgresql", url = "postgresql://file@db/flows", schema = "from_file"}
notifiers = ["outbox"]
[tool.clientflow.delivery]
max_attempts = 3
""",
        "pyproject.toml",
    )
    config = load_config(
        root,
        {
            "CLIENTFLOW_DB": "postgres://env@other/flows",
            "CLIENTFLOW_NOTIFIERS": "smtp, console",
            "CLIENTFLOW_SMTP_HOST": "relay.example",
            "CLIENTFLOW_SMTP_PORT": "2525",
            "CLIENTFLOW_MAX_ATTEMPTS": "7",
            "CLIENTFLOW_POLL_SECONDS": "0.5",
        },
    )
    assert config.source == "pyproject.toml"
    assert (config.storage, config.storage_settings) == ("postgresql", {"url": "postgresql://env@other/flows", "schema": "from_file"})
    assert config.notifiers == ["smtp", "console"]
    assert (config.notifier_settings["smtp"]["host"], config.notifier_settings["smtp"]["port"]) == ("relay.example", 2525)
    assert (config.delivery["max_attempts"], config.delivery["poll_seconds"]) == (7, 0.5)


def test_a_sqlite_path_in_the_environment_replaces_a_postgresql_url(tmp_path: Path) -> None:
    root = project(tmp_path, 'storage = {backend = "postgresql", url = "postgresql://db/x", schema = "s"}\n')
    config = load_config(root, {"CLIENTFLOW_DB": "data/flows.db"})
    assert (config.storage, config.storage_settings) == ("sqlite", {"path": str(root / "data" / "flows.db")})


def test_a_url_alone_chooses_postgresql_and_the_schema_comes_from_the_environment(tmp_path: Path) -> None:
    root = project(tmp_path, 'storage = "postgresql://app@db/flows"\n')
    config = load_config(root, {"CLIENTFLOW_DB_SCHEMA": "tenant_b"})
    assert (config.storage, config.storage_settings) == ("postgresql", {"url": "postgresql://app@db/flows", "schema": "tenant_b"})


@pytest.mark.parametrize(
    ("env", "text", "message"),
    [
        ({"CLIENTFLOW_SMTP_PORT": "twenty-five"}, "", "CLIENTFLOW_SMTP_PORT must be a number, not 'twenty-five'"),
        ({"CLIENTFLOW_MAX_ATTEMPTS": "0"}, "", "CLIENTFLOW_MAX_ATTEMPTS must be more than 0"),
        ({}, "[delivery]\nbatch = -1\n", "delivery.batch must be more than 0"),
        ({}, 'notifiers = "smtp"\n', "notifiers must be a list of names"),
        ({}, "storage = 3\n", "storage must be a table"),
    ],
    ids=["port", "attempts", "batch", "notifiers", "storage"],
)
def test_bad_values_are_refused_naming_the_setting(tmp_path: Path, env: dict[str, str], text: str, message: str) -> None:
    root = project(tmp_path, text)
    with pytest.raises(ConfigError, match=message):
        load_config(root, env)


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_an_unknown_storage_backend_fails_listing_the_installed_ones(tmp_path: Path) -> None:
    root = project(tmp_path, 'storage = {backend = "postgress"}\n')
    result = run("outbox", "--project", str(root))
    assert result.exit_code == 1
    installed = ", ".join(sorted(Registry.collect().storages))
    assert {"memory", "postgresql", "sqlite"} <= set(installed.split(", "))
    assert f"unknown storage backend 'postgress'; did you mean 'postgresql'?; installed: {installed}" in result.output


def test_an_unknown_notifier_fails_listing_the_installed_ones(tmp_path: Path) -> None:
    root = project(tmp_path, 'notifiers = ["outbox", "smpt"]\n')
    result = run("worker", "--once", "--project", str(root))
    assert result.exit_code == 1
    installed = ", ".join(sorted(Registry.collect().notifiers))
    assert {"console", "outbox", "smtp"} <= set(installed.split(", "))
    assert f"unknown notifier 'smpt'; did you mean 'smtp'?; installed: {installed}" in result.output


def test_a_postgresql_server_that_cannot_be_reached_is_one_clear_error_without_the_password(tmp_path: Path) -> None:
    from delivery_support import free_port

    url = f"postgresql://app:pg-s3cret@127.0.0.1:{free_port()}/flows"
    result = run("outbox", "--project", str(tmp_path), "--db", url)
    assert result.exit_code == 1
    assert f"error: cannot connect to PostgreSQL at {mask_url(url)}" in result.output
    assert "pg-s3cret" not in result.output


def test_choosing_another_backend_in_the_environment_drops_the_files_settings_for_the_old_one(tmp_path: Path) -> None:
    root = project(tmp_path, 'storage = {backend = "sqlite", path = "x.db"}\n')
    config = load_config(root, {"CLIENTFLOW_STORAGE": "postgresql", "CLIENTFLOW_DB_SCHEMA": "s"})
    assert (config.storage, config.storage_settings) == ("postgresql", {"schema": "s"})
    same = load_config(root, {"CLIENTFLOW_STORAGE": "sqlite"})
    assert same.storage_settings == {"path": str(root / "x.db")}


@pytest.mark.parametrize(
    ("text", "env", "said"),
    [
        ("", {"CLIENTFLOW_NOTIFIERS": "smpt"}, "unknown notifier 'smpt'; did you mean 'smtp'?"),
        ('storage = {backend = "postgress"}\n', {}, "unknown storage backend 'postgress'; did you mean 'postgresql'?"),
        ('notifiers = ["outbox"]\n\n[notifier.outbox]\ndir = "out"\npth = "x"\n', {}, "clientflow.toml:5:1: unknown notifier setting 'pth' for 'outbox'"),
    ],
)
def test_config_refuses_what_run_would_refuse_where_the_file_says_it(tmp_path: Path, text: str, env: dict[str, str], said: str) -> None:
    # `config` shows the effective configuration: a backend, notifier or setting that opening it would refuse is refused
    # here too, with the same words, and nothing is opened or made (no database, no outbox folder)
    root = project(tmp_path, text)
    shown = CliRunner().invoke(cli, ["config", "--project", str(root)], env=env)
    ran = CliRunner().invoke(cli, ["outbox", "--project", str(root)], env=env)
    assert shown.exit_code == ran.exit_code == 1
    assert said in shown.output and said in ran.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clientflow.toml"]
