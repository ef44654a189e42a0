"""The README's Python API example runs, and prints what its comments say it prints.

It runs in the fixture project (tests/fixtures/accounts), a frozen copy of the shipped one, so that a
product manager's edit of flows/ does not break it (the shipped project has tests/test_shipped_project.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import PROJECT, REPO


def python_api_example() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found, "README.md's Python API section needs a ```python block"
    return found.group(1)


def default_places() -> list[tuple[str, int]]:
    """The project's default database and outbox, as they are now."""
    state = PROJECT / ".clientflow"
    found = [state / "clientflow.db", *sorted((state / "outbox").glob("*"))]
    return [(p.name, p.stat().st_mtime_ns) for p in found if p.exists()]


def test_the_readme_python_example_runs_and_prints_what_it_says() -> None:
    code = python_api_example()
    promised = [line.strip()[2:] for line in code.splitlines() if line.strip().startswith("# ")]
    assert promised, "the example shows its output in comment lines"
    before = default_places()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")}
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == promised
    assert default_places() == before  # it wrote only to its temporary folder
