"""Loading the built-in plugins: an optional dependency may be missing, our own modules may not."""

from __future__ import annotations

from pathlib import Path

import pluggy
import pytest

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
    done = subprocess.run([sys.executable, "-c", "import engine"], cwd=repo, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "ImportError: import clientflow, not engine" in done.stderr
