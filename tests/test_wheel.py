"""What users get: the wheel, installed into a fresh virtualenv, used from a folder that is not the checkout.

The test command builds the wheel once and names it in CLIENTFLOW_WHEEL; run alone,
this module builds its own. The virtualenv has no system site-packages, and the
pinned versions of constraints.txt, as every other test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.postgres  # init/run/export against PostgreSQL is part of what is checked


def sh(*args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def wheel_file(root: Path) -> str:
    """The wheel named in CLIENTFLOW_WHEEL, or one built from the checkout into `root`/dist (tests/test_example_plugins.py uses it too)."""
    wheel = os.environ.get("CLIENTFLOW_WHEEL")
    if not wheel:
        built = sh(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", root / "dist", REPO, cwd=root)
        assert built.returncode == 0, built.stderr
        wheel = str(next((root / "dist").glob("clientflow-*.whl")))
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin/ folder of a fresh virtualenv holding the wheel (and its postgres extra), nothing else."""
    root = tmp_path_factory.mktemp("wheel")
    wheel = wheel_file(root)
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(root / "venv")
    bin_dir = root / "venv" / "bin"
    env = {**os.environ, "PIP_CONSTRAINT": str(REPO / "constraints.txt"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    done = sh(bin_dir / "python", "-m", "pip", "install", "--quiet", f"{wheel}[postgres]", cwd=root, env=env)
    assert done.returncode == 0, done.stderr
    yield bin_dir


def user_env(bin_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a user who activated the virtualenv: no PYTHONPATH, no CLIENTFLOW_ settings of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIENTFLOW_", "PYTHON"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(bin_dir.parent)
    return {**env, **extra}


def test_one_import_name_and_nothing_else_at_the_top_of_site_packages(installed: Path, tmp_path: Path) -> None:
    code = "import clientflow, sysconfig; from clientflow import Engine, hookimpl; print(sysconfig.get_paths()['purelib'])"
    done = sh(installed / "python", "-c", code, cwd=tmp_path, env=user_env(installed))
    assert done.returncode == 0, done.stderr
    site = Path(done.stdout.strip())
    top = {p.name for p in site.iterdir()}
    assert "clientflow" in top
    assert not top & {"engine", "plugins", "schema", "flows", "templates"}, sorted(top)
    assert sh(installed / "python", "-m", "clientflow", "--version", cwd=tmp_path, env=user_env(installed)).returncode == 0


def test_folders_in_the_working_directory_cannot_shadow_the_package(installed: Path, tmp_path: Path) -> None:
    # a user's folders named like ours (or like the built-ins) are not imported instead of them
    for name in ("engine", "plugins", "clientflow", "default_plugins"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise SystemExit('the wrong package was imported')\n")
    env = user_env(installed)
    assert sh(installed / "clientflow", "new", "proj", cwd=tmp_path, env=env).returncode == 0
    done = sh(installed / "clientflow", "plugins", "--project", "proj", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "sqlite" in done.stdout and "postgresql" in done.stdout
    done = sh(installed / "clientflow", "validate", "--project", "proj", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def test_new_project_validates_tests_and_demos_with_only_the_wheel(installed: Path, tmp_path: Path) -> None:
    env = user_env(installed)
    done = sh(installed / "clientflow", "new", "team-flows", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    project = tmp_path / "team-flows"
    for folder in ("flows", "templates/emails", "schema", "scenarios", "data"):
        assert any((project / folder).iterdir()), folder
    assert (project / "clientflow.toml").is_file()

    done = sh(installed / "clientflow", "validate", cwd=project, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok: ")
    done = sh(installed / "clientflow", "test", "--coverage", "--fail-under", "100", cwd=project, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    last = [line for line in done.stdout.splitlines() if " passed, " in line][-1]
    passed, failed = (int(part.split()[0]) for part in last.split(", ")[:2])
    assert passed > 0 and failed == 0 and last == f"{passed} passed, 0 failed"
    done = sh(installed / "clientflow", "demo", cwd=project, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def test_new_refuses_a_folder_that_is_not_empty_and_touches_nothing(installed: Path, tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me\n")
    (target / "flows").mkdir()
    (target / "flows" / "project.yaml").write_text("# mine\n")
    before = sorted((p.relative_to(target), p.read_bytes() if p.is_file() else b"") for p in target.rglob("*"))
    done = sh(installed / "clientflow", "new", "mine", cwd=tmp_path, env=user_env(installed))
    assert done.returncode in (1, 2)
    assert "not empty" in done.stderr and "--force" in done.stderr
    assert sorted((p.relative_to(target), p.read_bytes() if p.is_file() else b"") for p in target.rglob("*")) == before


def test_validate_outside_a_project_says_how_to_make_one(installed: Path, tmp_path: Path) -> None:
    done = sh(installed / "clientflow", "validate", cwd=tmp_path, env=user_env(installed))
    assert done.returncode == 1
    assert "clientflow new DIR" in done.stderr and "Traceback" not in done.stderr


def test_init_simulate_run_export_on_postgresql_through_clientflow_db(installed: Path, tmp_path: Path, postgres_url: str, postgres_schema: str) -> None:
    base = user_env(installed)
    assert sh(installed / "clientflow", "new", "proj", cwd=tmp_path, env=base).returncode == 0
    project = tmp_path / "proj"
    env = {**base, "CLIENTFLOW_DB": postgres_url, "CLIENTFLOW_DB_SCHEMA": postgres_schema}
    data = project / "data" / "demo.yaml"

    done = sh(installed / "clientflow", "init", "--data", data, "--force", cwd=project, env=env)
    assert done.returncode == 0, done.stderr
    assert "postgresql" in done.stdout
    assert not (project / ".clientflow" / "clientflow.db").exists()  # nothing went to the default SQLite file
    assert not [p for p in project.rglob("*") if "postgres" in p.name]  # no file or folder named after the URL

    exported = sh(installed / "clientflow", "export", "--format", "json", cwd=project, env=env)
    assert exported.returncode == 0, exported.stderr
    records = json.loads(exported.stdout)
    assert records and all(isinstance(v, list) for v in records.values())

    def offered() -> Iterator[tuple[str, str, str]]:
        """(flow, actor, subject) that `available` offers in the starter's demo data, pair by pair."""
        for actor in (u["id"] for p in records.get("partners", []) for u in p.get("users", [])):
            for subject in (c["id"] for c in records.get("clients", [])):
                done = sh(installed / "clientflow", "available", "--actor", actor, "--subject", subject, "--format", "json", cwd=project, env=env)
                assert done.returncode == 0, done.stderr
                yield from ((f["flow"], actor, subject) for f in json.loads(done.stdout)["flows"] if f["available"])

    for flow, actor, subject in offered():  # the first that completes without answers: simulate, then run it for real
        args = (flow, "--actor", actor, "--subject", subject, "--format", "json")
        simulated = sh(installed / "clientflow", "simulate", *args, "--no-input", cwd=project, env=env)
        assert simulated.returncode in (0, 5), simulated.stderr  # 5: it needs answers the command line did not give
        if simulated.returncode == 0:
            break
    else:
        pytest.fail("no offered flow completes without answers in the starter's demo data")
    unchanged = sh(installed / "clientflow", "export", "--format", "json", cwd=project, env=env)
    assert json.loads(unchanged.stdout) == records  # the dry-runs wrote nothing
    plan = json.loads(simulated.stdout)
    ran = sh(installed / "clientflow", "run", *args, "--yes", cwd=project, env=env)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["status"] == "completed"
    after = json.loads(sh(installed / "clientflow", "export", "--format", "json", cwd=project, env=env).stdout)
    assert (after != records) == bool(plan["changes"])  # what the dry-run said would change, changed

    again = sh(installed / "clientflow", "init", "--data", data, cwd=project, env=env)
    assert again.returncode == 1 and "--force" in again.stderr  # a database holding records is kept
    assert json.loads(sh(installed / "clientflow", "export", "--format", "json", cwd=project, env=env).stdout) == after
