"""Plugin settings: declared as JSON Schema, checked at start with the configuration file's place,
given by the environment as CLIENTFLOW_<NAME>_<KEY>, and masked when declared secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pluggy
import pytest
from click.testing import CliRunner

import clientflow.plugins
from clientflow import hookimpl
from clientflow.cli import cli
from clientflow.config import load_config, open_notifiers
from clientflow.errors import ConfigError
from clientflow.plugins import Registry, load_plugins

SCHEMA = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "description": "where to POST"},
        "retries": {"type": "integer", "minimum": 0},
        "verify": {"type": "boolean"},
        "token": {"type": "string", "secret": True},
    },
    "required": ["url"],
    "additionalProperties": False,
}


class Webhook:
    name = "webhook"
    made: list[dict[str, Any]] = []

    def __init__(self, **settings: Any) -> None:
        if settings.get("url") == "refuse":
            raise ValueError("the url must be https")
        Webhook.made.append(settings)

    def send(self, email: Any) -> None:
        pass


class WebhookPlugin:
    @hookimpl
    def clientflow_register_notifiers(self, register: Any) -> None:
        register("webhook", Webhook, settings=SCHEMA)
        register("loose", Webhook)  # declares no settings: any it is given is passed on


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    pm = load_plugins(pluggy.PluginManager("clientflow"))
    pm.register(WebhookPlugin(), name="webhook")
    monkeypatch.setattr(clientflow.plugins, "_pm", pm)
    Webhook.made.clear()
    return Registry.collect(pm)


def project(tmp_path: Path, toml: str) -> Path:
    (tmp_path / "clientflow.toml").write_text(toml)
    return tmp_path


def test_a_misspelled_setting_is_refused_at_its_line_with_a_did_you_mean(registry: Registry, tmp_path: Path) -> None:
    root = project(tmp_path, 'notifiers = ["webhook"]\n\n[notifier.webhook]\nurl = "https://x.example"\nurll = "typo"\n')
    with pytest.raises(ConfigError) as raised:
        open_notifiers(load_config(root, {}), registry)
    assert str(raised.value).startswith(f"{root / 'clientflow.toml'}:5:1: unknown notifier setting 'urll' for 'webhook'; did you mean 'url'?")
    assert Webhook.made == []


def test_a_mistyped_setting_is_refused_in_pyproject_too(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.clientflow]\nnotifiers = ["webhook"]\n\n[tool.clientflow.notifier.webhook]\nurl = "https://x"\nretries = "many"\n'
    )
    with pytest.raises(ConfigError) as raised:
        open_notifiers(load_config(tmp_path, {}), registry)
    assert str(raised.value).startswith(f"{tmp_path / 'pyproject.toml'}:9:1: the notifier setting 'retries' of 'webhook' is 'many'")


def test_a_misspelt_required_setting_gets_its_did_you_mean(registry: Registry, tmp_path: Path) -> None:
    root = project(tmp_path, 'notifiers = ["webhook"]\n[notifier.webhook]\nurll = "https://x"\n')
    with pytest.raises(ConfigError, match="unknown notifier setting 'urll' for 'webhook'; did you mean 'url'"):
        open_notifiers(load_config(root, {}), registry)


def test_a_missing_required_setting_is_named(registry: Registry, tmp_path: Path) -> None:
    root = project(tmp_path, 'notifiers = ["webhook"]\n')
    with pytest.raises(ConfigError, match="the notifier 'webhook' needs the setting 'url'"):
        open_notifiers(load_config(root, {}), registry)


def test_any_setting_comes_from_the_environment_typed_as_declared(registry: Registry, tmp_path: Path) -> None:
    root = project(tmp_path, 'notifiers = ["webhook"]\n\n[notifier.webhook]\nurl = "https://file.example"\n')
    env = {"CLIENTFLOW_WEBHOOK_URL": "https://env.example", "CLIENTFLOW_WEBHOOK_RETRIES": "3", "CLIENTFLOW_WEBHOOK_VERIFY": "false"}
    open_notifiers(load_config(root, env), registry)
    assert Webhook.made[-1] == {"url": "https://env.example", "retries": 3, "verify": False, "project_root": root.absolute()}


def test_every_factory_gets_the_project_folder(registry: Registry, tmp_path: Path) -> None:
    root = project(tmp_path, 'notifiers = ["webhook"]\n[notifier.webhook]\nurl = "https://x"\n')
    open_notifiers(load_config(root, {}), registry)
    assert Webhook.made[-1]["project_root"] == root.absolute()


def test_a_factory_that_refuses_its_settings_is_named(registry: Registry, tmp_path: Path) -> None:
    root = project(tmp_path, 'notifiers = ["webhook"]\n[notifier.webhook]\nurl = "refuse"\n')
    with pytest.raises(ConfigError) as raised:
        open_notifiers(load_config(root, {}), registry)
    assert "the notifier 'webhook' (the plugin 'webhook') could not start: ValueError: the url must be https" in str(raised.value)


def test_declared_secrets_and_secret_looking_keys_are_masked_by_config(registry: Registry, tmp_path: Path) -> None:
    root = project(
        tmp_path,
        'notifiers = ["webhook", "loose"]\n[notifier.webhook]\nurl = "https://x"\ntoken = "s3cr3t-token"\n'
        '[notifier.loose]\nheaders = {Authorization = "Bearer s3cr3t"}\n',
    )
    result = CliRunner().invoke(cli, ["config", "--project", str(root), "--format", "json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)["notifier"]
    assert "s3cr3t" not in result.stdout
    assert shown["webhook"]["token"] == "********" and shown["loose"]["headers"]["Authorization"] == "********"
    assert shown["webhook"]["url"] == "https://x"
