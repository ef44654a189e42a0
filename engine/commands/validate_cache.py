"""`validate`'s clean results remembered by content, in the user's cache folder: plain JSON, never code.

A project that validated without a problem is remembered under one digest of all that
decided the result: every byte and name of the project's folders (flows/, templates/,
scenarios/, data/, schema/, locales/), the project path as given, the engine's code
(version and each module's size and time, as Python's own bytecode cache checks it),
every installed distribution (plugins and libraries: name, version, entry points),
the Python version and the CLIENTFLOW_* settings. The next `validate` of the same bytes
prints the same result without loading the project (as ruff and mypy keep theirs).

Why it is safe (tests/test_validate_cache.py proves each point):
- The cache lives in the user's cache folder (XDG_CACHE_HOME, ~/.cache, ~/Library/Caches,
  %LOCALAPPDATA%), never in the project: nothing inside a project folder changes what runs.
- An entry is data only (counts and warning texts) read with `json.loads`; it holds no
  code, no pickle, no path to import. Whatever it says, no other code runs.
- Only clean results are stored, so a problem is never read from the cache: one changed
  byte (or file, or name) anywhere in the project gives another digest, hence a full check.
- An entry that is unreadable, too large, of another shape, or whose recorded digest is not
  its own name is a miss: the project is checked in full and the entry written again.
- A check that read a file outside the digested folders (a data schema named elsewhere,
  a scenario's data file outside data/) is not stored: the digest would not cover it.
`clientflow validate --no-cache` checks in full and neither reads nor writes the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import site
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import field
from pathlib import Path
from typing import Any

from ..plain import mutable

FOLDERS = ("flows", "templates", "scenarios", "data", "schema", "locales")  # what validate reads of a project
FORMAT = 1  # the entry's shape; bump it when Result changes
MAX_PROJECT_BYTES = 64 * 1024 * 1024  # a project bigger than this is checked in full every time (hashing it is not free)
MAX_ENTRY_BYTES = 1024 * 1024
MAX_ENTRIES = 1000  # results kept; past it, the older half goes
COUNTS = ("scenarios", "demo_runs")  # the counts validate reports beside flows, steps and emails, in its order


@mutable
class Result:
    """What a clean `validate` reports: the figures of its summary line and its warnings (path, line, col, message)."""

    flows: int
    steps: int
    emails: int
    counts: dict[str, int]
    warnings: list[tuple[str, int, int, str]] = field(default_factory=list)  # the project's old words
    translations: list[tuple[str, int, int, str]] = field(default_factory=list)  # obsolete catalog entries

    def to_json(self) -> dict[str, Any]:
        return {
            "flows": self.flows,
            "steps": self.steps,
            "emails": self.emails,
            "counts": [[name, n] for name, n in self.counts.items()],
            "warnings": [list(w) for w in self.warnings],
            "translations": [list(w) for w in self.translations],
        }

    @classmethod
    def from_json(cls, given: Any) -> Result | None:
        """The result an entry holds, or None when it is not exactly of the shape `to_json` writes."""
        if not isinstance(given, dict) or set(given) != {"flows", "steps", "emails", "counts", "warnings", "translations"}:
            return None
        figures = [given["flows"], given["steps"], given["emails"]]
        if not all(_count(n) for n in figures):
            return None
        counts = given["counts"]
        if not isinstance(counts, list) or not all(isinstance(pair, list) and len(pair) == 2 and pair[0] in COUNTS and _count(pair[1]) for pair in counts):
            return None
        names = [pair[0] for pair in counts]
        if len(set(names)) != len(names) or names != sorted(names, key=COUNTS.index):
            return None
        warnings, translations = _problems(given["warnings"]), _problems(given["translations"])
        if warnings is None or translations is None:
            return None
        return cls(given["flows"], given["steps"], given["emails"], {name: n for name, n in counts}, warnings, translations)


def _count(value: Any) -> bool:
    return type(value) is int and 0 <= value < 10**9


def _problems(given: Any) -> list[tuple[str, int, int, str]] | None:
    if not isinstance(given, list):
        return None
    found = []
    for item in given:
        if not (isinstance(item, list) and len(item) == 4):
            return None
        path, line, col, message = item
        if not (isinstance(path, str) and _count(line) and _count(col) and isinstance(message, str)):
            return None
        found.append((path, line, col, message))
    return found


# where ---------------------------------------------------------------------------------------
def cache_folder() -> Path | None:
    """The user's cache folder for clientflow's validate results (platformdirs' choice), or None when there is no home."""
    given = os.environ.get("XDG_CACHE_HOME", "")
    if given and os.path.isabs(given):
        base = Path(given)
    elif sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"])
    else:
        try:
            home = Path.home()
        except (KeyError, RuntimeError):
            return None
        base = home / "Library" / "Caches" if sys.platform == "darwin" else home / ".cache"
    return base / "clientflow" / "validate"


# the digest -----------------------------------------------------------------------------------
def digest(project: Path) -> str | None:
    """The digest of everything a clean validate of `project` depends on; None when it cannot be taken safely."""
    h = hashlib.blake2b(digest_size=32)

    def add(tag: str, data: bytes = b"") -> None:  # framed by its length: no two inputs hash alike
        h.update(f"{len(tag)}:{tag}{len(data)}:".encode("utf-8", "surrogateescape"))
        h.update(data)

    add(f"clientflow validate {FORMAT} {sys.version} {sys.implementation.cache_tag}")
    add(f"project {project}\0{os.path.abspath(project)}")
    add("env " + "\0".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("CLIENTFLOW_")))
    total = 0
    try:
        for folder in FOLDERS:
            add(f"folder {folder}")
            for relative, data in _files(project / folder):
                total += len(data)
                if total > MAX_PROJECT_BYTES:
                    return None
                add(f"file {relative}", data)
        code = _code()
    except _Unsafe:
        return None
    add("code", code.encode("utf-8", "surrogateescape"))
    return h.hexdigest()


class _Unsafe(Exception):
    """Something the digest would not cover faithfully (a link, a file that cannot be read)."""


def _files(folder: Path) -> Iterator[tuple[str, bytes]]:
    """Every file under `folder` (names relative to it, sorted) with its bytes; a folder that is not there has none."""
    if os.path.islink(folder):
        raise _Unsafe
    if not os.path.exists(folder):
        return
    if not os.path.isdir(folder):
        raise _Unsafe
    stack = [("", os.fspath(folder))]
    while stack:
        relative, path = stack.pop()
        try:
            with os.scandir(path) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            raise _Unsafe from exc
        folders = []
        for entry in entries:
            name = f"{relative}/{entry.name}" if relative else entry.name
            if entry.is_symlink():
                raise _Unsafe  # the loaders may follow it; the digest would have to as well
            if entry.is_dir(follow_symlinks=False):
                folders.append((name, entry.path))
            elif entry.is_file(follow_symlinks=False):
                try:
                    with open(entry.path, "rb") as handle:
                        yield name, handle.read()
                except OSError as exc:
                    raise _Unsafe from exc
            else:
                raise _Unsafe
        yield f"{relative}/", b""  # every folder counts, an empty one too
        stack.extend(reversed(folders))


def _code() -> str:
    """The engine's modules and every distribution on sys.path (name and version, entry points, .pth files), as
    Python's bytecode cache checks a source: by size and modification time."""
    lines = []
    package = _package()
    for dirpath, dirnames, filenames in os.walk(package, followlinks=True):  # an editable install links its files
        dirnames.sort()
        for name in sorted(filenames):
            if not name.endswith((".pyc", ".pyo")):
                lines.append(_stamp(os.path.join(dirpath, name)))
    for entry in sys.path:
        if not isinstance(entry, str):
            raise _Unsafe
        folder = entry or "."
        try:
            children = sorted(os.listdir(folder))
        except NotADirectoryError:  # a zip on sys.path: the archive itself
            lines.append(_stamp(folder))
            continue
        except OSError:
            lines.append(f"absent {folder}")
            continue
        lines.append(f"path {folder}")
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                here = os.path.join(folder, child)
                lines += [f"installed {child}", *(_stamp(os.path.join(here, name), missing=True) for name in ("entry_points.txt", "METADATA", "PKG-INFO"))]
            elif low.endswith((".pth", ".egg-link")):
                lines.append(_stamp(os.path.join(folder, child)))
    return "\n".join(lines)


def _stamp(path: str, *, missing: bool = False) -> str:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        if missing:
            return f"{path} absent"
        raise _Unsafe from None
    except OSError as exc:
        raise _Unsafe from exc
    return f"{path} {stat.st_size} {stat.st_mtime_ns}"


# reading and writing ---------------------------------------------------------------------------
def usable() -> bool:
    """Whether the cache may be used at all: not while plugin calls are traced (a remembered result would not show them)."""
    return not os.environ.get("CLIENTFLOW_TRACE_PLUGINS")


def read(key: str) -> Result | None:
    """The clean result remembered under `key`, or None (none, unreadable, or not exactly what `write` writes)."""
    folder = cache_folder()
    if folder is None:
        return None
    try:
        with open(folder / f"{key}.json", "rb") as handle:
            text = handle.read(MAX_ENTRY_BYTES + 1)
        if len(text) > MAX_ENTRY_BYTES:
            return None
        entry = json.loads(text)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(entry, dict) or set(entry) != {"format", "key", "result"} or entry["format"] != FORMAT or entry["key"] != key:
        return None
    return Result.from_json(entry["result"])


def write(key: str, result: Result) -> None:
    """Remember a clean result under `key`, whole or not at all; a cache that cannot be written is no error."""
    folder = cache_folder()
    if folder is None:
        return
    text = json.dumps({"format": FORMAT, "key": key, "result": result.to_json()}, ensure_ascii=False)
    temporary = folder / f".{key}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary, folder / f"{key}.json")
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        _prune(folder)
    except OSError:
        return


def _prune(folder: Path) -> None:
    """Keep the folder small: past MAX_ENTRIES results, the least recently written go (each is a few hundred bytes)."""
    with os.scandir(folder) as listing:
        found = [(entry.stat().st_mtime_ns, entry.path) for entry in listing if entry.name.endswith(".json")]
    if len(found) <= MAX_ENTRIES:
        return
    for _, path in sorted(found)[: len(found) - MAX_ENTRIES // 2]:
        try:
            os.unlink(path)
        except FileNotFoundError:  # another validate pruned it first
            pass


# what a full check read ------------------------------------------------------------------------
_reading: list[list[str]] = []  # the files opened while a full check records them (innermost last)
_hooked = False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if _reading and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        _reading[-1].append(os.fsdecode(args[0]))


@contextmanager
def recording() -> Iterator[list[str]]:
    """The paths of every file opened inside the block (an audit hook, added once per process, idle outside it)."""
    global _hooked
    if not _hooked:
        sys.addaudithook(_hook)
        _hooked = True
    opened: list[str] = []
    _reading.append(opened)
    try:
        yield opened
    finally:
        _reading.pop()


def covered(project: Path, opened: list[str]) -> bool:
    """Whether every file a full check opened is in the digest: under the project's folders, or code and data of the
    installation itself (the engine, the standard library, installed distributions, time zone data)."""
    roots = [os.path.realpath(project / folder) for folder in FOLDERS]
    zoneinfo = sys.modules.get("zoneinfo")
    zones = zoneinfo.TZPATH if zoneinfo is not None else ("/usr/share/zoneinfo", "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo", "/etc/zoneinfo")
    everywhere = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, os.path.dirname(os.__file__), *zones]
    everywhere += [*site.getsitepackages(), site.getusersitepackages()] if hasattr(site, "getsitepackages") else []
    installed = {os.path.realpath(p) for p in everywhere}
    if any(_under(os.path.realpath(project), root) for root in installed):
        installed = set()  # a project inside the installation: only its folders count
    package = os.path.abspath(_package())
    paths = {os.path.realpath(entry or ".") for entry in sys.path if isinstance(entry, str)}
    bytecode = os.path.realpath(sys.pycache_prefix) if sys.pycache_prefix else None
    for path in opened:
        real = os.path.realpath(path)
        if real.endswith(".pyc") and (os.path.basename(os.path.dirname(real)) == "__pycache__" or (bytecode and _under(real, bytecode))):
            continue  # Python's bytecode of an imported module, checked by Python against its source
        if any(_under(real, root) for root in roots):
            continue
        if _under(os.path.abspath(path), package):  # the engine as imported (its files may be links): in the digest
            continue
        if any(_under(real, root) for root in installed):
            continue
        parent = os.path.dirname(real)
        if parent.lower().endswith((".dist-info", ".egg-info")) and os.path.dirname(parent) in paths:  # a distribution's metadata
            continue
        return False
    return True


def _package() -> Path:
    """The engine's folder as Python imported it (not resolved: an editable install's files are links into the source)."""
    return Path(os.path.abspath(__file__)).parent.parent


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
