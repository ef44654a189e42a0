"""Loading the built-in plugins: an optional dependency may be missing, our own modules may not."""

from __future__ import annotations

from pathlib import Path

import pluggy
import pytest

import clientflow.hookspecs
import clientflow.plugins
from clientflow.errors import ConfigError
from clientflow.plugins import Registry, load_plugins


def fresh(monkeypatch: pytest.MonkeyPatch, *extra: str) -> pluggy.PluginManager:
    monkeypatch.setattr(clientflow.plugins, "DEFAULT_PLUGINS", (*clientflow.plugins.DEFAULT_PLUGINS, *extra))
    monkeypatch.setattr(clientflow.plugins, "SKIPPED", {})
    return load_plugins(pluggy.PluginManager("clientflow"))


def test_a_built_in_whose_dependency_is_missing_is_skipped_and_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "needs_more.py").write_text("import a_dependency_nobody_installed\n\nclass Plugin:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    pm = fresh(monkeypatch, "needs_more:Plugin")
    assert pm.get_plugin("needs_more") is None
    assert clientflow.plugins.SKIPPED == {"needs_more": "a_dependency_nobody_installed"}
    with pytest.raises(ConfigError) as raised:
        Registry.collect(pm).storage("nowhere")
    assert "not loaded: needs_more (it needs the module 'a_dependency_nobody_installed'" in str(raised.value)


def test_a_module_of_our_own_that_is_missing_is_an_error_not_a_silent_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModuleNotFoundError) as raised:
        fresh(monkeypatch, "clientflow.default_plugins.not_there:Plugin")
    assert raised.value.name == "clientflow.default_plugins.not_there"


def test_the_source_folder_cannot_be_imported_by_its_folder_name() -> None:
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    env = {**__import__("os").environ, "PYTHONPATH": str(repo)}  # the checkout's folders importable by their own names
    done = subprocess.run([sys.executable, "-c", "import engine"], cwd=Path(__file__).parent, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "ImportError: import clientflow, not engine" in done.stderr


# third-party plugins through entry points ------------------------------------------------
class FakeDist:
    def __init__(self, name: str, version: str) -> None:
        self.name, self.version = name, version


class FakeEntryPoint:
    """An entry point of the `clientflow` group, as importlib.metadata gives them."""

    group = "clientflow"

    def __init__(self, name: str, value: str, target: object, dist: str = "acme-plugins") -> None:
        self.name, self.value, self.target, self.dist = name, value, target, FakeDist(dist, "2.1.0")

    def load(self) -> object:
        if isinstance(self.target, BaseException):
            raise self.target
        return self.target


class Webhook:
    name = "webhook"

    def __init__(self, **settings: object) -> None:
        self.settings = settings

    def send(self, email: object) -> None:
        pass


class WebhookPlugin:
    @clientflow.hookspecs.hookimpl
    def clientflow_register_notifiers(self, register: object) -> None:
        register("webhook", Webhook)  # type: ignore[operator]


def with_entry_points(monkeypatch: pytest.MonkeyPatch, *points: FakeEntryPoint) -> pluggy.PluginManager:
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: list(points) if group == "clientflow" else [])
    monkeypatch.setattr(clientflow.plugins, "_warned", set())
    return load_plugins(pluggy.PluginManager("clientflow"))


def test_an_entry_point_may_name_a_class_or_a_module_like_object(monkeypatch: pytest.MonkeyPatch) -> None:
    pm = with_entry_points(monkeypatch, FakeEntryPoint("webhook", "acme.webhook:WebhookPlugin", WebhookPlugin))
    registry = Registry.collect(pm)
    assert registry.notifiers["webhook"] is Webhook
    info = clientflow.plugins.loaded(pm).info["webhook"]
    assert (info.distribution, info.version, info.entry_point) == ("acme-plugins", "2.1.0", "webhook = acme.webhook:WebhookPlugin")


def test_a_plugin_that_fails_to_load_is_named_and_skipped(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    broken = FakeEntryPoint("webhook", "acme.webhook", ModuleNotFoundError("No module named 'requests'"))
    pm = with_entry_points(monkeypatch, broken)
    warning = capsys.readouterr().err
    assert "the plugin 'webhook' (entry point 'webhook = acme.webhook' of acme-plugins 2.1.0) could not be loaded" in warning
    assert "CLIENTFLOW_DISABLE_PLUGINS=webhook" in warning
    registry = Registry.collect(pm)
    assert "sqlite" in registry.storages  # everything else still works
    with pytest.raises(ConfigError) as raised:
        registry.notifier("webhook")
    assert "acme-plugins 2.1.0" in str(raised.value) and "No module named 'requests'" in str(raised.value)


def test_an_entry_point_named_like_a_built_in_is_refused_with_a_message(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    pm = with_entry_points(monkeypatch, FakeEntryPoint("sqlite", "acme.sqlite", WebhookPlugin))
    assert "has the name of a built-in plugin; rename the entry point" in capsys.readouterr().err
    assert "webhook" not in Registry.collect(pm).notifiers
    assert "sqlite" in clientflow.plugins.loaded(pm).broken


def test_two_plugins_registering_one_name_are_both_named(monkeypatch: pytest.MonkeyPatch) -> None:
    pm = with_entry_points(
        monkeypatch,
        FakeEntryPoint("webhook", "acme.webhook", WebhookPlugin),
        FakeEntryPoint("hooks2", "other.hooks", WebhookPlugin, dist="other-hooks"),
    )
    with pytest.raises(ConfigError) as raised:
        Registry.collect(pm)
    message = str(raised.value)
    assert "two plugins register the notifier 'webhook'" in message
    assert "acme-plugins 2.1.0" in message and "other-hooks 2.1.0" in message and "CLIENTFLOW_DISABLE_PLUGINS=" in message


def test_plugins_are_turned_off_by_the_names_plugins_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIENTFLOW_DISABLE_PLUGINS", "webhook,outbox_files")
    pm = with_entry_points(monkeypatch, FakeEntryPoint("webhook", "acme.webhook", WebhookPlugin))
    registry = Registry.collect(pm)
    assert "webhook" not in registry.notifiers and "outbox" not in registry.notifiers and "console" in registry.notifiers


@pytest.mark.parametrize("variable", ["CLIENTFLOW_DISABLE_PLUGINS", "CLIENTFLOW_LOAD_PLUGINS"])
def test_an_unknown_plugin_name_is_an_error_with_a_did_you_mean(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "outbox_file")
    with pytest.raises(ConfigError) as raised:
        with_entry_points(monkeypatch)
    assert f"{variable} names no plugin 'outbox_file'; did you mean 'outbox_files'?" in str(raised.value)


def test_validate_keeps_working_when_an_unused_plugin_is_broken(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from clientflow.cli import cli

    pm = with_entry_points(monkeypatch, FakeEntryPoint("webhook", "acme.webhook", ImportError("cannot import name 'x'")))
    monkeypatch.setattr(clientflow.plugins, "_pm", pm)
    monkeypatch.chdir(tmp_path)  # not the checkout: a command without --project reads the current folder's project
    assert CliRunner().invoke(cli, ["new", str(tmp_path / "p")]).exit_code == 0
    result = CliRunner().invoke(cli, ["validate", "--project", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    listed = CliRunner().invoke(cli, ["plugins", "--format", "json"])
    assert [b["name"] for b in __import__("json").loads(listed.stdout)["broken"]] == ["webhook"]


# finding entry points without importing importlib.metadata (it is slow to import) ----------------------
def test_the_quick_look_at_the_installed_distributions_finds_what_importlib_metadata_finds() -> None:
    from importlib.metadata import distributions, version

    installed = clientflow.plugins._installed()
    assert installed is not None
    groups, own = installed
    declared = {point.group for dist in distributions() for point in dist.entry_points}
    assert declared <= groups
    assert own == version("clientflow")


def test_a_distribution_declaring_the_group_is_seen_and_loaded_through_importlib_metadata(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    info = tmp_path / "acme_hooks-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-hooks\nVersion: 1.0\n", encoding="utf-8")
    (tmp_path / "acme_hooks.py").write_text("class Plugin:\n    pass\n", encoding="utf-8")
    probe = (
        "import json, sys; import clientflow.plugins as p; pm = p.plugin_manager(); "
        "print(json.dumps([sorted(p.loaded(pm).info), 'importlib.metadata' in sys.modules]))"
    )

    def run() -> list[object]:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        loaded: list[object] = json.loads(done.stdout)
        return loaded

    names, imported = run()
    assert "acme" not in names and imported is False  # no distribution declares the group: importlib.metadata is never imported
    (info / "entry_points.txt").write_text("[clientflow]\nacme = acme_hooks:Plugin\n", encoding="utf-8")
    names, imported = run()
    assert "acme" in names and imported is True
