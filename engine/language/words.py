"""The project's words for its subject (e.g. ticket, tickets), read before the project loads.

The command line names its options after them (`--ticket`) and the HTTP API its
query parameter; both need them before, or without, loading every flow. The file
is read with the located YAML reader like every project file; any trouble gives
the generic words, and loading the project then reports the trouble properly.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ClientflowError
from .yamlfile import load_yaml, read_text

GENERIC = ("subject", "subjects")


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
