"""What the command-line tests share: the tests' project (tests/fixtures/accounts), a clean environment, a runner."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from click.testing import CliRunner, Result
from conftest import DEMO, PROJECT, REPO

from clientflow.cli import cli

__all__ = ["DEMO", "NOW", "PROJECT", "REPO", "clean_env", "copy_project", "invoke", "plain"]
NOW = "2025-01-06T09:00:00Z"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# what the project's flows need to be loaded and run: copied whole into a test's folder
PROJECT_PARTS = ("flows", "templates", "schema", "data", "pyproject.toml")


def clean_env() -> dict[str, str | None]:
    """The environment for a command: none of the CLIENTFLOW_* overrides of the machine running the tests."""
    return {name: None for name in os.environ if name.startswith("CLIENTFLOW_")}


def invoke(*args: object, input: str | None = None) -> Result:
    """Run `clientflow ARGS` in-process; stdout and stderr are kept apart in the result."""
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, env=clean_env(), catch_exceptions=False)


def copy_project(target: Path) -> Path:
    """A copy of the fixture project (flows, templates, schema, data, configuration) in `target`."""
    target.mkdir(parents=True, exist_ok=True)
    for part in PROJECT_PARTS:
        source = PROJECT / part
        if source.is_dir():
            shutil.copytree(source, target / part)
        else:
            shutil.copy2(source, target / part)
    return target


def plain(text: str) -> str:
    """Terminal text without its colours."""
    return ANSI.sub("", text)
