"""Translations a change left stale: the changed or new texts a declared locale's catalog has no current translation of.

A text is current in a catalog when rendering would use it (`catalogs.translations`): translated,
not fuzzy, of the text as it now reads, under its context. Only a project with two or more
locales is looked at; the first locale is the language the flows are written in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..language.catalogs import PARTS, Entry, catalog_path, entries, part_of, plural_translations, translations
from ..language.model import Project

COMMANDS = ("clientflow i18n extract", "clientflow i18n update")  # the template written again, then merged into each catalog


@dataclass
class Untranslated:
    """One locale's changed or new texts that have no current translation in its catalog."""

    locale: str
    catalog: str  # the catalog's path in the project folder
    texts: list[Entry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "locale": self.locale,
            "catalog": self.catalog,
            "count": len(self.texts),
            "texts": [
                {"context": e.context, "source": e.text.source, "where": str(e.text.location) if e.text.location is not None else None} for e in self.texts
            ],
            "commands": list(COMMANDS),
        }


def _key(entry: Entry) -> tuple[str, str | None]:
    return entry.text.source, entry.plural


def changed_texts(base: Project, head: Project) -> list[Entry]:
    """The texts a reader sees (screens and emails) that HEAD has and BASE has not, or has with other words, by context."""
    before = {e.context: _key(e) for e in entries(base)}
    return [e for e in entries(head) if part_of(e.context) in PARTS and before.get(e.context) != _key(e)]


def compare(base: Project, head: Project) -> list[Untranslated]:
    """Per locale of HEAD after the first, the changed or new texts its catalog does not translate as they now read.

    Raises ImportError when Babel, which reads catalogs, is not installed.
    """
    if len(head.locales) < 2:
        return []
    texts = changed_texts(base, head)
    if not texts:
        return []
    out: list[Untranslated] = []
    for locale in head.locales[1:]:
        ready: set[str] = set()
        for part in PARTS:
            ready.update(e.context for e, _ in translations(head, locale, part))
            ready.update(e.context for e, _ in plural_translations(head, locale, part))
        missing = [e for e in texts if e.context not in ready]
        if missing:
            out.append(Untranslated(locale, catalog_path(locale), missing))
    return out
