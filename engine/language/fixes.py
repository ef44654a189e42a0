"""`clientflow fix`: what a project still says in old words, rewritten where it is written.

Each fix replaces one located value with its new word and leaves every other byte
of the file as it was (comments, quotes, layout). The result is read again before
anything is written: a file is changed only when it then holds exactly the same
values with the new words in place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import DefinitionError, Location
from ..plain import frozen
from .yamlfile import load_yaml, read_text

OLD_OPS = {"set": "update"}  # effect op: the old word -> the word plans and scenarios use


@frozen
class Fix:
    """One old word at its place, and the word that replaces it."""

    location: Location
    path: tuple[Any, ...]
    old: str
    new: str

    def __str__(self) -> str:
        return f"{self.location}: op: {self.old} -> op: {self.new}"


def find(root: Path) -> dict[Path, list[Fix]]:
    """Every fix of every flow file under `root`/flows, by file (files that do not read are left to `validate`)."""
    out: dict[Path, list[Fix]] = {}
    for path in sorted((root / "flows").glob("*.yaml")):
        display = str(path.relative_to(root))
        try:
            doc, positions = load_yaml(read_text(path, display), display)
        except DefinitionError:  # a file that does not read is validate's to report, not fix's
            continue
        effects = doc.get("outcome", {}).get("effects", []) if isinstance(doc, dict) and isinstance(doc.get("outcome"), dict) else []
        found = []
        for index, effect in enumerate(effects if isinstance(effects, list) else []):
            op = effect.get("op") if isinstance(effect, dict) else None
            if isinstance(op, str) and op in OLD_OPS:
                key = ("outcome", "effects", index, "op")
                found.append(Fix(positions.at(key), key, op, OLD_OPS[op]))
        if found:
            out[path] = found
    return out


def rewrite(path: Path, fixes: list[Fix]) -> None:
    """Apply `fixes` to the file at `path`, checked by reading it again, written whole or not at all."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    for fix in sorted(fixes, key=lambda f: (f.location.line, f.location.col), reverse=True):
        line = lines[fix.location.line - 1]
        start = fix.location.col - 1
        quote = line[start : start + 1] if line[start : start + 1] in ("'", '"') else ""
        written = f"{quote}{fix.old}{quote}"
        if line[start : start + len(written)] != written:
            raise ValueError(f"{fix.location}: expected {written!r} here; the file changed while it was being fixed")
        lines[fix.location.line - 1] = line[:start] + f"{quote}{fix.new}{quote}" + line[start + len(written) :]
    fixed = "\n".join(lines)
    before, _ = load_yaml(text, str(path))
    after, _ = load_yaml(fixed, str(path))
    for fix in fixes:
        _at(before, fix.path[:-1])[fix.path[-1]] = fix.new
    if before != after:
        raise ValueError(f"{path}: the fixed file would not read as the same flow; nothing was written")
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(fixed)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc
