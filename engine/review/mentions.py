"""What still names a field that was renamed: lines of the head version that hold its old name.

A cheap look, by words, not by meaning: the flow's own file, the templates of the emails
it sends, and the scenarios and data files that name the flow. A line is listed when the
old name stands in it as a whole word (`answers.notify` names `notify`, `notify_all` does not).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..language.model import Flow, Project

FOLDERS = ("scenarios", "data")  # where runs of a flow are written, by its id
SUFFIXES = (".yaml", ".yml")
MAX_BYTES = 1_000_000  # a bigger file is not read for this
MAX_FOUND = 50  # places listed for one name


def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")


def _read(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def files(project: Project, flow: Flow) -> list[str]:
    """The files of the head version that may name one of the flow's fields, from the project folder."""
    root = Path(project.root)
    out = [flow.location.path]
    for email in flow.outcome.emails:
        template = project.emails.get(email.template)
        if template is None:
            continue
        out += [t.location.path for t in (template.subject, template.text, template.html) if t is not None and t.location is not None]
    flow_word = _word(flow.id)
    for folder in FOLDERS:
        if not (root / folder).is_dir():
            continue
        for path in sorted((root / folder).rglob("*")):
            if path.suffix in SUFFIXES and path.is_file():
                text = _read(path)
                if text is not None and flow_word.search(text):
                    out.append(path.relative_to(root).as_posix())
    return list(dict.fromkeys(p for p in out if p))


def still_naming(project: Project, paths: list[str], name: str) -> list[str]:
    """`path:line:col` of each line of `paths` that holds `name` as a word, the first MAX_FOUND."""
    root = Path(project.root)
    word = _word(name)
    found: list[str] = []
    for relative in paths:
        text = _read(root / relative)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            match = word.search(line)
            if match:
                found.append(f"{relative}:{number}:{match.start() + 1}")
                if len(found) >= MAX_FOUND:
                    return found
    return found
