"""The example plugin package of docs/plugins.md, installed as a plugin author installs it, works.

docs/examples/clientflow-example-plugins is copied into a temporary folder and installed into a
fresh virtualenv beside the clientflow wheel (CLIENTFLOW_WHEEL, or one built here), with the
pinned versions of constraints.txt. There its own tests run on the installed kit
(clientflow.testing), mypy checks it against the installed clientflow, and a `clientflow new`
project stores its records with its `jsonfile` backend and sends its emails through its
`webhook` notifier to a web hook on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import tomllib
import venv
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO
from test_wheel import sh, user_env, wheel_file

from clientflow.testing import NotifierContract, StorageContract

EXAMPLE = REPO / "docs" / "examples" / "clientflow-example-plugins"
META = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
BUILT = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".mypy_cache", ".pytest_cache", ".hypothesis")


@dataclass
class Installed:
    bin: Path  # the virtualenv's bin/ folder
    package: Path  # the copy of the example package that was installed (its tests, its mypy configuration)

    def run(self, *args: str | Path, cwd: Path, timeout: float = 600, **extra: str) -> Any:
        return sh(self.bin / str(args[0]), *args[1:], cwd=cwd, env=user_env(self.bin, **extra), timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("example-plugins")
    wheel = wheel_file(root)
    package = root / "clientflow-example-plugins"
    shutil.copytree(EXAMPLE, package, ignore=BUILT)  # nothing is built inside the repository
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(root / "venv")
    bin_dir = root / "venv" / "bin"
    env = user_env(bin_dir, PIP_CONSTRAINT=str(REPO / "constraints.txt"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    done = sh(bin_dir / "python", "-m", "pip", "install", "--quiet", wheel, f"{package}[test]", cwd=root, env=env, timeout=900)
    assert done.returncode == 0, done.stderr
    return Installed(bin_dir, package)


def test_its_own_tests_pass_on_the_installed_kit(installed: Installed) -> None:
    where = installed.run("python", "-c", "import clientflow.testing; print(clientflow.testing.__file__)", cwd=installed.package)
    assert Path(where.stdout.strip()).is_relative_to(installed.bin.parent), where.stdout + where.stderr
    done = installed.run("python", "-m", "pytest", "-p", "no:cacheprovider", "-q", cwd=installed.package)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    found = re.fullmatch(r"=*\s*(\d+) passed in [\d.]+s(?: \(\d+:\d\d:\d\d\))?\s*=*", last)  # pytest adds (H:MM:SS) past a minute
    assert found, last  # nothing failed, errored or was skipped
    contracts = sum(name.startswith("test_") for kind in (StorageContract, NotifierContract) for name in dir(kind))
    assert int(found.group(1)) > contracts


def test_mypy_checks_it_against_the_installed_clientflow(installed: Installed, tmp_path: Path) -> None:
    done = installed.run("python", "-m", "mypy", cwd=installed.package)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Success")
    # and it would see a notifier that does not fit clientflow's Protocol
    broken = tmp_path / "broken"
    shutil.copytree(installed.package / "src", broken)
    module = broken / "clientflow_example_plugins" / "webhook.py"
    module.write_text(module.read_text(encoding="utf-8").replace('    name = "webhook"', "    name = 7"), encoding="utf-8")
    done = installed.run("python", "-m", "mypy", "--strict", module, cwd=tmp_path)
    assert done.returncode == 1
    assert 'incompatible type "type[WebhookNotifier]"; expected "Callable[..., Notifier]"' in done.stdout


@dataclass
class Hook:
    """A web hook on 127.0.0.1 that keeps every request it accepts."""

    posts: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                posts.append((dict(self.headers.items()), json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def project(installed: Installed, tmp_path: Path) -> Path:
    done = installed.run("clientflow", "new", "proj", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path / "proj"


def configure(project: Path, text: str) -> None:
    (project / "clientflow.toml").write_text(text, encoding="utf-8")


def test_a_new_project_keeps_its_records_in_jsonfile_and_sends_through_webhook(installed: Installed, project: Path, hook: Hook) -> None:
    configure(project, f'storage = {{backend = "jsonfile", path = "state/store.json"}}\nnotifiers = ["webhook"]\n\n[notifier.webhook]\nurl = "{hook.url}"\n')
    base = project.parent

    listed = installed.run("clientflow", "plugins", "--project", project, "--format", "json", cwd=base)
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}
    for name, hook_name in (("webhook", "clientflow_register_notifiers"), ("jsonfile", "clientflow_register_storage")):
        assert (plugins[name]["distribution"], plugins[name]["version"]) == (META["name"], META["version"])
        assert plugins[name]["entry_point"] == f"{name} = clientflow_example_plugins.{name}"
        assert plugins[name]["hooks"] == [hook_name]
    text = installed.run("clientflow", "plugins", "--project", project, cwd=base).stdout
    assert f"webhook  (clientflow_example_plugins.webhook; {META['name']} {META['version']})" in text
    off = installed.run("clientflow", "plugins", "--project", project, "--format", "json", cwd=base, CLIENTFLOW_DISABLE_PLUGINS="webhook")
    assert off.returncode == 0, off.stderr
    assert "webhook" not in {p["name"] for p in json.loads(off.stdout)["plugins"]} and "jsonfile" in off.stdout

    done = installed.run("clientflow", "init", "--project", project, "--data", project / "data" / "demo.yaml", cwd=base)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (project / "state" / "store.json").is_file()  # relative to the project, not to where the command ran
    assert not (base / "state").exists() and not (project / ".clientflow" / "clientflow.db").exists()

    # the first of the project's demo runs that sends email, dry-run first, then for real
    for flow, run in yaml.safe_load((project / "data" / "demo-runs.yaml").read_text(encoding="utf-8")).items():
        answers = project / f"{flow}.answers.json"
        answers.write_text(json.dumps(run.get("answers") or {}), encoding="utf-8")
        args = (flow, "--actor", run["actor"], "--subject", run["subject"], "--answers", answers, "--format", "json")
        simulated = installed.run("clientflow", "simulate", *args, "--no-input", cwd=project)
        plan = json.loads(simulated.stdout) if simulated.returncode == 0 else {}
        if plan.get("status") == "completed" and plan["emails"]:
            break
    else:
        pytest.fail("no demo run of the new project completes with an email")
    assert hook.posts == []  # a dry-run sends nothing

    ran = installed.run("clientflow", "run", *args, "--yes", cwd=project, CLIENTFLOW_WEBHOOK_TOKEN="s3cr3t-t0ken")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    committed = json.loads(ran.stdout)
    assert committed["status"] == "completed"
    outbox = installed.run("clientflow", "outbox", "--format", "json", cwd=project, CLIENTFLOW_WEBHOOK_TOKEN="s3cr3t-t0ken")
    assert outbox.returncode == 0, outbox.stderr
    messages = json.loads(outbox.stdout)["messages"]
    assert [m["status"] for m in messages] == ["sent"] * len(committed["emails"])
    assert sorted(headers["Idempotency-Key"] for headers, _ in hook.posts) == sorted(m["message_id"] for m in messages)
    assert sorted(body["subject"] for _, body in hook.posts) == sorted(e["subject"] for e in committed["emails"])
    assert all(headers["Authorization"] == "Bearer s3cr3t-t0ken" for headers, _ in hook.posts)  # the token from the environment
    shown = installed.run("clientflow", "config", "--format", "json", cwd=project, CLIENTFLOW_WEBHOOK_TOKEN="s3cr3t-t0ken")
    assert shown.returncode == 0 and json.loads(shown.stdout)["notifier"]["webhook"]["token"] == "********"
    assert "s3cr3t-t0ken" not in shown.stdout

    records = installed.run("clientflow", "export", "--format", "json", cwd=project)
    assert records.returncode == 0, records.stderr
    assert json.loads(records.stdout)  # read back from the JSON file by another process


@pytest.mark.parametrize(
    ("config", "command", "message"),
    [
        (
            'storage = {{backend = "jsonfile"}}\nnotifiers = ["webhook"]\n\n[notifier.webhook]\nurl = "{url}"\ntimout = 5\n',
            ("outbox",),
            "unknown notifier setting 'timout' for 'webhook'; did you mean 'timeout'?",
        ),
        (
            'notifiers = ["webhook"]\n\n[storage]\nbackend = "jsonfile"\npth = "store.json"\n\n[notifier.webhook]\nurl = "{url}"\n',
            ("init", "--data", "data/demo.yaml"),
            "unknown storage backend setting 'pth' for 'jsonfile'; did you mean 'path'?",
        ),
    ],
    ids=["notifier", "storage"],
)
def test_a_misspelled_setting_is_refused_at_its_line(
    installed: Installed, project: Path, hook: Hook, config: str, command: tuple[str, ...], message: str
) -> None:
    text = config.format(url=hook.url)
    configure(project, text)
    wrong = message.split("'")[1]
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith(f"{wrong} ="))
    done = installed.run("clientflow", *command, cwd=project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"clientflow.toml:{line}:1: {message}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not list(project.rglob("store.json")) and hook.posts == []
