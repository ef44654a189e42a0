"""No file inside a project folder changes what code runs (issue 13, finding 2).

A project folder is data: a pull request, a shared checkout or the service's
own data folder (`.clientflow/` holds the database and the outbox) can put any
file in it. These tests poison a small project: the code cache clientflow once
kept (`.clientflow/cache/code-<magic>.marshal`, whose entries were executed on
every command) and copies of it in every folder, filled with code objects keyed
exactly as the compiled conditions were; `.py`, sourceless `.pyc` and
`__pycache__` files named after the modules clientflow imports; and
`sitecustomize`/`usercustomize`. Each poisoned file would write a marker file
if it ran. Then `validate`, `available` and `simulate` run (the `clientflow`
command and `python -P -m clientflow`, from inside the folder, and the Python
API), and the test proves no marker was written and every answer is the answer
of a clean copy of the same project. Plain `python -m clientflow` puts the
current folder first on the import path before any of our code runs (Python
itself then imports `clientflow`, `warnings`, ... from it); `clientflow/__main__.py`
takes the folder off at once, so files named after our dependencies do not run.
"""

from __future__ import annotations

import importlib.util
import json
import marshal
import os
import py_compile
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from clientflow import Engine
from clientflow.conditions import expressions, fasttext
from clientflow.conditions.program import load_project, program_of
from clientflow.language.code import Expr, Text
from clientflow.language.model import codes

DEPENDENCIES = ("yaml", "jinja2", "click", "pluggy", "markupsafe", "jsonschema", "jsonschema_rs", "referencing", "sqlite3", "json", "email")
MODULES = (*DEPENDENCIES, "clientflow", "sitecustomize", "usercustomize", "warnings", "contextlib", "typing")
FILES = {
    "flows/project.yaml": """\
        product:
          name: Shop
          sender: no-reply@shop.example
        entities:
          team: {collection: teams, keys: [id, name], label: name}
          member: {nested: {in: [team], key: members}, keys: [id, email], label: email}
        subject: {entity: team, match: [id, name]}
        actor: {entity: member, match: [id, email], within: {team: actor_team}}
        reach:
          - name: own-team
            if: actor_team is not none and actor_team.id == team.id
            message: You can only act on your own team.
        """,
    "flows/rename-team.yaml": """\
        id: rename-team
        title: Rename team
        summary: Give the team a new name.
        subject: team
        preconditions:
          - name: admin-only
            if: actor.role == 'admin'
            message: Only an administrator may rename {{ team.name }}.
          - name: active
            if: team.status == 'active'
            message: "{{ team.name }} is not active."
        steps:
          - id: explain
            kind: info
            title: Rename {{ team.name }}
            body: The team keeps its members ({{ team.members | length }}).
        outcome:
          effects:
            - {op: update, field: status, to: "'renamed'"}
          emails:
            - template: renamed
              to: actor.email
          banner: "{{ team.name }} was renamed."
          reversible: true
          audit: "{{ actor.email }} renamed {{ team.name }}"
        """,
    "templates/emails/renamed.txt": """\
        Subject: {{ team.name }} was renamed

        Hello, {{ team.name }} was renamed{% if team.members | length > 1 %} for {{ team.members | length }} members{% endif %}.
        """,
    "data/demo.yaml": """\
        teams:
          - id: t1
            name: Alpha
            status: active
            members:
              - {id: m1, email: m1@alpha.example, role: admin}
              - {id: m2, email: m2@alpha.example, role: member}
          - id: t2
            name: Beta
            status: active
            members:
              - {id: m3, email: m3@beta.example, role: admin}
        """,
}
COMMANDS = [
    ["validate"],
    ["available", "--data", "data/demo.yaml", "--actor", "m2", "--team", "t1", "--format", "json"],
    ["available", "--data", "data/demo.yaml", "--actor", "m3", "--team", "t1", "--format", "json"],
    ["simulate", "rename-team", "--data", "data/demo.yaml", "--actor", "m1", "--team", "t1", "--format", "json"],
]


def write_project(root: Path) -> Path:
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def payload(marker: Path, what: str) -> str:
    """Python that writes `marker` (a file named after `what`), even with no builtins in its namespace."""
    target = str(marker / what)
    return textwrap.dedent(
        f"""\
        for _c in ().__class__.__base__.__subclasses__():
            if _c.__name__ == "_wrap_close":
                _c.__init__.__globals__["__builtins__"]["open"]({target!r}, "w").close()
                break
        """
    )


def generated_sources(root: Path) -> list[tuple[str, str]]:
    """Every (source, filename) of generated code compiled while loading `root`: what the old cache was keyed by."""
    seen: list[tuple[str, str]] = []
    original = expressions.generated

    def recording(source: str, filename: str) -> Any:
        seen.append((source, filename))
        return original(source, filename)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(expressions, "generated", recording)
        patch.setattr(fasttext, "generated", recording)
        project = load_project(root)
        program = program_of(project)
        for code in codes(project):  # a text's or a condition's Python is compiled when first used: every one, as the cache held them
            if isinstance(code, Text):
                program.template(code).fast  # noqa: B018
            elif isinstance(code, Expr):
                program.expression(code).function  # noqa: B018
    return seen


def poison(root: Path, marker: Path, modules: tuple[str, ...] = MODULES) -> int:
    """Plant code that would write a marker in every folder of the project; return how many files were planted."""
    keys = generated_sources(root)
    for source, filename in list(keys):  # the same conditions as the cache's generation wrote them, without _fresh()
        if "    return _fresh() and (" in source and source.endswith(")\n"):
            keys.append((source.replace("return _fresh() and (", "return ", 1)[: -len(")\n")] + "\n", filename))
    magic = importlib.util.MAGIC_NUMBER.hex()
    folders = [root, root / ".clientflow", root / ".clientflow" / "cache", *(p for p in root.rglob("*") if p.is_dir())]
    planted = 0
    for folder in dict.fromkeys(folders):
        folder.mkdir(parents=True, exist_ok=True)
        cache = {(source, filename): compile(payload(marker, "cache") + source, filename or "<template>", "exec") for source, filename in keys}
        for name in (f"code-{magic}.marshal", "code.marshal", "cache.marshal"):
            (folder / name).write_bytes(marshal.dumps(cache))
            planted += 1
        for module in modules:
            source = folder / f"{module}.py"
            source.write_text(payload(marker, f"module-{module}"), encoding="utf-8")
            py_compile.compile(str(source), cfile=str(folder / "__pycache__" / f"{module}.{sys.implementation.cache_tag}.pyc"), doraise=True)
            shutil.copy2(folder / "__pycache__" / f"{module}.{sys.implementation.cache_tag}.pyc", folder / f"{module}.pyc")
            planted += 3
        (folder / "poison.pth").write_text(f"import os; {payload(marker, 'pth')!r}\n", encoding="utf-8")
        planted += 1
    return planted


def run(root: Path, args: list[str], *, module: str = "") -> tuple[int, str]:
    """Run `clientflow ARGS` from inside `root`: the console script, or `python <module> clientflow` (e.g. "-P -m")."""
    command = [sys.executable, *module.split(), "clientflow"] if module else [str(Path(sys.executable).parent / "clientflow")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_") and k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    done = subprocess.run([*command, *args, "--project", str(root)], cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, done.stdout


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, int]:
    base = tmp_path_factory.mktemp("poisoned")
    clean = write_project(base / "clean")
    poisoned = write_project(base / "poisoned")
    marker = base / "markers"
    marker.mkdir()
    planted = poison(poisoned, marker)
    return clean, poisoned, marker, planted


def test_the_poison_is_real(tmp_path: Path) -> None:
    """The planted code does write its marker when Python runs it, and the cache holds every generated source."""
    write_project(tmp_path / "p")
    marker = tmp_path / "m"
    marker.mkdir()
    planted = poison(tmp_path / "p", marker)
    assert planted > 100
    cache = marshal.loads((tmp_path / "p" / ".clientflow" / "cache" / f"code-{importlib.util.MAGIC_NUMBER.hex()}.marshal").read_bytes())
    assert any(source.startswith("def _expression") for source, _ in cache) and any(source.startswith("def _render") for source, _ in cache)
    exec(next(iter(cache.values())), {"__builtins__": {}})  # as the old cache did
    subprocess.run([sys.executable, "-c", "import yaml"], cwd=tmp_path / "p", check=True, capture_output=True)
    assert sorted(p.name for p in marker.iterdir()) == ["cache", "module-yaml"]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]) + (" " + a[a.index("--actor") + 1] if "--actor" in a else ""))
def test_commands_run_none_of_the_project_folders_files(projects: tuple[Path, Path, Path, int], args: list[str]) -> None:
    clean, poisoned, marker, planted = projects
    expected = run(clean, args)
    for module in ("", "-P -m"):
        got = run(poisoned, args, module=module)
        assert not list(marker.iterdir()), f"code from the project folder ran: {sorted(p.name for p in marker.iterdir())}"
        assert got[0] == expected[0], got
        if "json" in args:
            assert json.loads(got[1]) == json.loads(expected[1])
        else:
            assert got[1] == expected[1]


def test_the_python_api_runs_none_of_them(projects: tuple[Path, Path, Path, int]) -> None:
    clean, poisoned, marker, _ = projects
    answers = []
    for root in (clean, poisoned):
        engine = Engine.open(root, data=root / "data" / "demo.yaml", notifiers={})
        answers.append(
            (
                engine.available("m1", "t1"),
                engine.available("m3", "t1"),
                engine.simulate("rename-team", "m1", "t1").to_json(),
                engine.simulate("rename-team", "m3", "t1").to_json(),
            )
        )
        engine.close()
    assert not list(marker.iterdir()), sorted(p.name for p in marker.iterdir())
    assert answers[0] == answers[1]


def test_python_m_runs_no_file_named_after_a_dependency(tmp_path: Path) -> None:
    clean = write_project(tmp_path / "clean")
    poisoned = write_project(tmp_path / "poisoned")
    marker = tmp_path / "markers"
    marker.mkdir()
    poison(poisoned, marker, DEPENDENCIES)
    for args in COMMANDS[1:3]:
        got, expected = run(poisoned, args, module="-m"), run(clean, args)
        assert not list(marker.iterdir()), f"code from the project folder ran: {sorted(p.name for p in marker.iterdir())}"
        assert got[0] == expected[0] and got[1] == expected[1], got
