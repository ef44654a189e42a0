"""Installed, the package's entry points give clientflow both plugins, with their settings checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from clientflow.errors import ConfigError
from clientflow.plugins import Registry

from clientflow_example_plugins.jsonfile import JsonFileStorage
from clientflow_example_plugins.webhook import WebhookNotifier


def test_both_plugins_are_registered_by_their_entry_points() -> None:
    registry = Registry.collect()
    assert registry.storages["jsonfile"] is JsonFileStorage
    assert registry.notifiers["webhook"] is WebhookNotifier


def test_settings_are_checked_against_the_declared_schema(tmp_path: Path) -> None:
    registry = Registry.collect()
    with pytest.raises(
        ConfigError, match="unknown notifier setting 'tokn' for 'webhook'; did you mean 'token'"
    ):
        registry.notifier("webhook", project_root=tmp_path, url="https://hooks.example.com/", tokn="x")
    with pytest.raises(ConfigError, match="the notifier 'webhook' needs the setting 'url'"):
        registry.notifier("webhook", project_root=tmp_path)
    with pytest.raises(ConfigError, match="'lock_timeout' of 'jsonfile' is 'soon'"):
        registry.storage("jsonfile", project_root=tmp_path, lock_timeout="soon")


def test_the_factories_get_the_project_folder(tmp_path: Path) -> None:
    storage = Registry.collect().storage("jsonfile", project_root=tmp_path, path="store.json")
    assert isinstance(storage, JsonFileStorage) and storage.path == tmp_path / "store.json"
