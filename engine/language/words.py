"""The project's words for its subject (e.g. ticket, tickets), read before the project loads;
and the words every condition knows besides the project's own: `now`, and what a refusal may show.

The command line names its options after the subject's words (`--ticket`) and the HTTP
API its query parameter; both need them before, or without, loading every flow. The file
is read with the located YAML reader like every project file; any trouble gives
the generic words, and loading the project then reports the trouble properly.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from ..errors import ClientflowError
from .yamlfile import load_yaml, read_text

GENERIC = ("subject", "subjects")
DATA_FUNCTIONS = ("lookup", "all")  # what every condition may call: lookup(entity, id), all(entity)
MAX_ALL = 1000  # records all(entity) gives at most: a pick-list, not a report


def subject_names(project: str | Path) -> tuple[str, str]:
    """The project's word for its subject and for many of them, or ("subject", "subjects")."""
    path = Path(project) / "flows" / "project.yaml"
    try:
        doc, _ = load_yaml(read_text(path, str(path)), str(path))
    except (ClientflowError, OSError):
        return GENERIC
    try:
        entity = doc["subject"]["entity"]
        collection = doc["entities"][entity].get("collection") or f"{entity}s"
    except (KeyError, TypeError, AttributeError):
        return GENERIC
    if isinstance(entity, str) and isinstance(collection, str) and entity.isidentifier() and collection.isidentifier():
        return entity, collection
    return GENERIC


class Moment(dict):  # type: ignore[type-arg]
    """`now` as data: `now.date`, `now.year`, ...; prints as ISO 8601."""

    def __init__(self, moment: datetime) -> None:
        iso = moment.isoformat()  # YYYY-MM-DDTHH:MM:SS[.ffffff][+HH:MM]: the date and the time (whole seconds) are its slices
        super().__init__(
            iso=iso,
            date=iso[:10],
            time=iso[11:19],
            year=moment.year,
            month=moment.month,
            day=moment.day,
            hour=moment.hour,
            minute=moment.minute,
        )

    def __str__(self) -> str:
        return str(self["iso"])


OUTSIDER_NAMES = ("actor", "product", "now", "flow", "answers")  # with the actor's holders: what a refusal may show


def subject_words(match: Iterable[str], label: str) -> tuple[str, ...]:
    """The subject's keys a refusal may show: those it may be named by, and its label."""
    return tuple(dict.fromkeys((*match, label)))
