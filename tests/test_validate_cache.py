"""`validate`'s remembered clean results (engine/commands/validate_cache.py): the same words, never stale, never code.

Each test has its own user cache folder (conftest's `own_cache_folder`); the projects
are copies of tests/fixtures/accounts in the test's own folder.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_support import PROJECT, invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientflow.commands import core, validate_cache
from clientflow.commands.validate_cache import FOLDERS, Result, cache_folder, digest

# the parts validate reads, and a file it does not (which must change nothing)
PARTS = ("flows", "templates", "schema", "data", "scenarios", "pyproject.toml", "README.md")


def project_in(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for part in PARTS:
        source = PROJECT / part
        if source.is_dir():
            shutil.copytree(source, folder / part)
        elif source.is_file():
            shutil.copy2(source, folder / part)
    return folder


def entries() -> list[Path]:
    folder = cache_folder()
    assert folder is not None
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def said(result: Any) -> tuple[int, str, str]:
    return result.exit_code, result.stdout, result.stderr


def no_check(*args: object, **kwargs: object) -> Any:
    raise AssertionError("the project was checked again although its result was remembered")


@pytest.fixture(autouse=True)
def settings_as_commands_see_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """The digest reads CLIENTFLOW_* settings; `invoke` runs commands without the machine's (the test
    command itself exports CLIENTFLOW_WHEEL), so the digests these tests take must not see them either."""
    for name in list(os.environ):
        if name.startswith("CLIENTFLOW_"):
            monkeypatch.delenv(name)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return project_in(tmp_path / "project")


def with_old_words(project: Path) -> Path:
    """The project with `op: set` (an old word): validate warns, so the warnings must come back the same."""
    flow = project / "flows" / "disconnect-client.yaml"
    flow.write_text(flow.read_text(encoding="utf-8").replace("op: update", "op: set"), encoding="utf-8")
    return project


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("words", ["plain", "old words"])
def test_a_remembered_result_reads_exactly_as_a_full_check(project: Path, fmt: str, words: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if words == "old words":
        with_old_words(project)
    full = invoke("validate", "--project", project, "--format", fmt, "--no-cache")
    assert full.exit_code == 0, full.output
    assert entries() == []  # --no-cache writes nothing
    first = invoke("validate", "--project", project, "--format", fmt)
    assert said(first) == said(full)
    [entry] = entries()
    assert entry.name == f"{digest(project)}.json"
    monkeypatch.setattr(core, "_validate", no_check)
    again = invoke("validate", "--project", project, "--format", fmt)
    assert said(again) == said(full)
    other = invoke("validate", "--project", project, "--format", "json" if fmt == "text" else "text")
    assert other.exit_code == 0  # one entry serves both formats
    if words == "old words":
        assert "warning" in full.stderr + full.stdout


def test_no_cache_neither_reads_nor_writes(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert invoke("validate", "--project", project).exit_code == 0
    [entry] = entries()
    entry.write_text("not json", encoding="utf-8")
    calls: list[Path] = []
    checked = core._validate

    def counted(where: Path, fmt: str) -> Any:
        calls.append(where)
        return checked(where, fmt)

    monkeypatch.setattr(core, "_validate", counted)
    assert invoke("validate", "--project", project, "--no-cache").exit_code == 0
    assert calls == [project]
    assert entry.read_text(encoding="utf-8") == "not json"


def test_a_change_anywhere_is_checked_again_and_its_problem_shown(project: Path) -> None:
    assert invoke("validate", "--project", project).exit_code == 0
    flow = project / "flows" / "deactivate-client.yaml"
    flow.write_text(flow.read_text(encoding="utf-8").replace("title:", "titel:", 1), encoding="utf-8")
    broken = invoke("validate", "--project", project)
    assert broken.exit_code == 1, broken.output
    assert said(broken) == said(invoke("validate", "--project", project, "--no-cache"))
    assert len(entries()) == 1  # a problem is never remembered


def files_of(project: Path) -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (project / folder).rglob("*") if p.is_file())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_changed_byte_gives_another_digest(project: Path, data: st.DataObject) -> None:
    before = digest(project)
    assert before is not None
    path = data.draw(st.sampled_from(files_of(project)))
    content = path.read_bytes()
    at = data.draw(st.integers(0, len(content)))
    change = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    if change == "replace" and at < len(content):
        byte = data.draw(st.integers(0, 255).filter(lambda b: b != content[at]))
        changed = content[:at] + bytes([byte]) + content[at + 1 :]
    elif change == "delete" and at < len(content):
        changed = content[:at] + content[at + 1 :]
    else:
        changed = content[:at] + bytes([data.draw(st.integers(0, 255))]) + content[at:]
    path.write_bytes(changed)
    try:
        assert digest(project) != before
    finally:
        path.write_bytes(content)
    assert digest(project) == before


def test_names_and_presence_are_in_the_digest(project: Path) -> None:
    seen = {digest(project)}

    def differs() -> None:
        now = digest(project)
        assert now not in seen
        seen.add(now)

    (project / "scenarios" / "new.yaml").write_text("", encoding="utf-8")  # a new, empty file
    differs()
    (project / "scenarios" / "new.yaml").rename(project / "scenarios" / "renamed.yaml")
    differs()
    (project / "scenarios" / "empty").mkdir()  # an empty folder
    differs()
    (project / "locales").mkdir()  # a folder that was not there
    differs()
    (project / "data" / "demo-runs.yaml").unlink()
    differs()
    (project / "README.md").write_text("not read by validate", encoding="utf-8")
    assert digest(project) in seen


def test_the_code_and_settings_are_in_the_digest(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = digest(project)
    monkeypatch.setenv("CLIENTFLOW_DISABLE_PLUGINS", "smtp")
    assert digest(project) != before
    monkeypatch.delenv("CLIENTFLOW_DISABLE_PLUGINS")
    assert digest(project) == before
    site = tmp_path / "site"
    (site / "cf_extra-1.0.dist-info").mkdir(parents=True)
    (site / "cf_extra-1.0.dist-info" / "entry_points.txt").write_text("[clientflow]\nextra = cf_extra\n", encoding="utf-8")
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    installed = digest(project)
    assert installed != before  # a plugin installed
    (site / "cf_extra-1.0.dist-info" / "entry_points.txt").write_text("[clientflow]\nextra = cf_other\n", encoding="utf-8")
    assert digest(project) not in (before, installed)  # its entry point changed
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(site)])
    engine = tmp_path / "engine"
    shutil.copytree(validate_cache._package(), engine, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(validate_cache, "_package", lambda: engine)
    copied = digest(project)
    module = engine / "language" / "project.py"
    module.write_text(module.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert digest(project) != copied  # the engine's code changed


# an entry of any other shape: arbitrary JSON, or a well-formed entry changed in one place
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entry=st.one_of(st.binary(max_size=64), JSON.map(lambda v: json.dumps(v).encode())))
def test_an_odd_entry_is_a_miss_and_never_hides_a_problem(project: Path, entry: bytes) -> None:
    flow = project / "flows" / "deactivate-client.yaml"
    original = flow.read_text(encoding="utf-8")
    flow.write_text(original.replace("title:", "titel:", 1), encoding="utf-8")
    try:
        key = digest(project)
        assert key is not None
        folder = cache_folder()
        assert folder is not None
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{key}.json").write_bytes(entry)
        assert validate_cache.read(key) is None
        assert invoke("validate", "--project", project).exit_code == 1
    finally:
        flow.write_text(original, encoding="utf-8")


def good_entry(key: str) -> dict[str, Any]:
    result = Result(6, 12, 9, {"scenarios": 3, "demo_runs": 2}, [("flows/a.yaml", 1, 2, "old")], [])
    return {"format": validate_cache.FORMAT, "key": key, "result": result.to_json()}


MUTATIONS = [
    lambda e: e.update(key="0" * 64),  # another project's entry, copied under this name
    lambda e: e.update(format=0),
    lambda e: e.update(extra=1),
    lambda e: e["result"].update(flows=-1),
    lambda e: e["result"].update(flows=True),
    lambda e: e["result"].update(flows="6"),
    lambda e: e["result"].update(code="import os"),
    lambda e: e["result"].update(counts=[["scenarios", 1], ["scenarios", 2]]),
    lambda e: e["result"].update(counts=[["demo_runs", 1], ["scenarios", 2]]),
    lambda e: e["result"].update(counts=[["__import__", 1]]),
    lambda e: e["result"].update(warnings=[["flows/a.yaml", 1, 2]]),
    lambda e: e["result"].update(warnings=[["flows/a.yaml", 1, 2, 3]]),
    lambda e: e["result"].update(translations={"a": 1}),
    lambda e: e["result"].pop("steps"),
]


@pytest.mark.parametrize("mutate", MUTATIONS, ids=range(len(MUTATIONS)))
def test_a_changed_entry_is_a_miss(mutate: Any) -> None:
    key = "ab" * 32
    folder = cache_folder()
    assert folder is not None
    folder.mkdir(parents=True)
    entry = good_entry(key)
    (folder / f"{key}.json").write_text(json.dumps(entry), encoding="utf-8")
    assert validate_cache.read(key) == Result.from_json(entry["result"])  # the unchanged entry is read
    mutate(entry)
    (folder / f"{key}.json").write_text(json.dumps(entry), encoding="utf-8")
    assert validate_cache.read(key) is None
    (folder / f"{key}.json").write_bytes(b" " * (validate_cache.MAX_ENTRY_BYTES + 1))
    assert validate_cache.read(key) is None


def test_an_odd_entry_of_a_clean_project_is_checked_and_written_again(project: Path) -> None:
    expected = said(invoke("validate", "--project", project, "--no-cache"))
    key = digest(project)
    folder = cache_folder()
    assert folder is not None and key is not None
    folder.mkdir(parents=True)
    (folder / f"{key}.json").write_text('{"format": 1, "key": "' + key + '", "result": {"flows": 99}}', encoding="utf-8")
    assert said(invoke("validate", "--project", project)) == expected
    assert validate_cache.read(key) is not None
    assert said(invoke("validate", "--project", project)) == expected


def test_the_entry_is_plain_data_in_the_user_cache_folder_never_the_project(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert invoke("validate", "--project", project).exit_code == 0
    [entry] = entries()
    assert not entry.resolve().is_relative_to(project.resolve())
    assert entry.resolve().is_relative_to(Path(os.environ["XDG_CACHE_HOME"]).resolve())
    loaded = json.loads(entry.read_text(encoding="utf-8"))
    assert Result.from_json(loaded["result"]) is not None
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # not absolute: ignored, as the XDG specification says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_folder() == tmp_path / "home" / ".cache" / "clientflow" / "validate" or sys.platform in ("darwin", "win32")


def test_every_file_a_full_check_opens_is_in_the_digest(project: Path) -> None:
    with validate_cache.recording() as opened:
        core._validate(project, "text")
    read = {Path(p).resolve() for p in opened}
    assert (project / "flows" / "project.yaml").resolve() in read  # the recording sees the project's files
    assert (project / "scenarios").resolve() in {p.parent for p in read}
    assert validate_cache.covered(project, opened)


def test_a_check_that_reads_outside_the_digest_is_not_remembered(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outside = project / "notes.txt"
    outside.write_text("read by a check, not in the digest", encoding="utf-8")
    assert not validate_cache.covered(project, [str(outside)])
    assert not validate_cache.covered(project, [str(project / "flows" / ".." / "notes.txt")])
    assert validate_cache.covered(project, [str(project / "flows" / "project.yaml"), json.__file__])
    checked = core._validate

    def reading_outside(where: Path, fmt: str) -> Any:
        outside.read_text(encoding="utf-8")
        return checked(where, fmt)

    monkeypatch.setattr(core, "_validate", reading_outside)
    assert invoke("validate", "--project", project).exit_code == 0
    assert entries() == []


def test_a_project_with_a_link_is_always_checked_in_full(project: Path) -> None:
    (project / "data" / "linked.yaml").symlink_to(project / "data" / "demo.yaml")
    assert digest(project) is None
    assert invoke("validate", "--project", project).exit_code == 0
    assert entries() == []


def test_traced_plugins_are_never_answered_from_the_cache(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert invoke("validate", "--project", project).exit_code == 0
    monkeypatch.setenv("CLIENTFLOW_TRACE_PLUGINS", "1")
    assert not validate_cache.usable()


def test_the_cache_folder_stays_small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate_cache, "MAX_ENTRIES", 10)
    result = Result(1, 1, 0, {}, [], [])
    for n in range(11):
        key = f"{n:064x}"
        validate_cache.write(key, result)
        folder = cache_folder()
        assert folder is not None
        os.utime(folder / f"{key}.json", ns=(n * 10**9, n * 10**9))  # written in this order
    kept = sorted(p.stem for p in entries())
    assert kept == [f"{n:064x}" for n in range(6, 11)]  # the newest half, the one just written among them
    assert validate_cache.read(f"{10:064x}") == result
