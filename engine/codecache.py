"""A cache of the Python code generated for conditions and templates.

Compiling a few hundred generated functions is most of a project's load
time. Like `__pycache__`, the code objects are kept (marshal) in
`.clientflow/cache/` under the project, keyed by the exact generated source
and the interpreter's bytecode magic, and reused while the source is the same.
A missing, stale or unreadable cache is simply rebuilt.
"""

from __future__ import annotations

import importlib.util
import marshal
import os
from pathlib import Path
from types import CodeType

_MAGIC = importlib.util.MAGIC_NUMBER.hex()
_codes: dict[tuple[str, str], CodeType] = {}
_used: set[tuple[str, str]] = set()
_added = False
_loaded: set[Path] = set()


def compile_code(source: str, filename: str) -> CodeType:
    """`compile(source, filename, "exec")`, answered from the cache when it can be."""
    global _added
    key = (source, filename)
    _used.add(key)
    code = _codes.get(key)
    if code is None:
        code = compile(source, filename, "exec")
        _codes[key] = code
        _added = True
    return code


def _path(folder: Path) -> Path:
    return folder / f"code-{_MAGIC}.marshal"


def load(folder: Path) -> None:
    """Read the cache kept in `folder`, once per process (CLIENTFLOW_NO_CACHE=1 turns it off)."""
    if folder in _loaded or os.environ.get("CLIENTFLOW_NO_CACHE"):
        return
    _loaded.add(folder)
    try:
        data = marshal.loads(_path(folder).read_bytes())  # noqa: S302 - our own cache, as trusted as __pycache__
    except (OSError, EOFError, ValueError, TypeError):
        return
    if isinstance(data, dict):
        for key, code in data.items():
            if isinstance(key, tuple) and isinstance(code, CodeType):
                _codes.setdefault(key, code)


def save(folder: Path) -> None:
    """Write what was compiled since the last save; never fails a load."""
    global _added
    if not _added or os.environ.get("CLIENTFLOW_NO_CACHE"):
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = _path(folder)
        temporary = target.with_suffix(f".tmp{os.getpid()}")
        temporary.write_bytes(marshal.dumps({key: _codes[key] for key in _used if key in _codes}))
        os.replace(temporary, target)
        _added = False
    except OSError:
        pass  # a read-only project still works, only without the cache
