"""Translation catalogs: every user-visible text of a project as gettext entries, and their checks.

A project that declares `locales:` is written in the first; each other locale has a
catalog, `locales/<locale>/LC_MESSAGES/clientflow.po`, merged from the template
`locales/clientflow.pot` that `extract` writes from the model. Each entry's msgid is
the source text, its msgctxt a stable path (`FLOW/steps/STEP/title`,
`email/NAME/subject`) and its reference the file and line it is written at.
`check` reports what a translator must still do, located in the `.po` file.
Babel (catalogs, CLDR plural rules) is imported only here, and only when used.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import re
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CompileError, DefinitionError, Location, Problem, UnknownName
from ..plain import frozen, mutable
from . import plurals
from .code import Text, Uses
from .model import DynamicOptions, Flow, Project, Rule
from .yamlfile import MAX_BYTES

if TYPE_CHECKING:  # Babel is imported when a catalog is read or written, never at load
    from babel.messages.catalog import Catalog

DOMAIN = "clientflow"
FLOW_WORDS = ("title", "summary")  # a flow's own words, shown where flows are listed
FOLDER = "locales"
TEMPLATE = f"{FOLDER}/{DOMAIN}.pot"
_PLACEHOLDER = re.compile(r"\{\{-?(.*?)-?\}\}", re.DOTALL)
_PLURAL_CONTEXT = re.compile(r"/plural/\d+$")

# Compile a translation as its source was compiled (same names); raises CompileError. None: no compile check.
Translate = Callable[[Text, Text], Uses]


@frozen
class Entry:
    """One text of the model to translate: where it sits in the project (`context`) and its source.

    A plural block of a text (engine/language/plurals.py) is an entry of its own, under the
    text's context and `/plural/N`: `text` is its form for one, `plural` its other form.
    """

    context: str
    text: Text
    plural: str | None = None


def catalog_path(locale: str) -> str:
    """Where a locale's catalog lives, from the project folder."""
    return f"{FOLDER}/{locale}/LC_MESSAGES/{DOMAIN}.po"


def placeholders(source: str) -> frozenset[str]:
    """The `{{ ... }}` expressions of a text, by their source (spaces inside normalised)."""
    return frozenset(" ".join(found.split()) for found in _PLACEHOLDER.findall(source))


def entries(project: Project) -> list[Entry]:
    """Every user-visible text of the model, each once, with its stable context, in the order written."""
    found: dict[str, Entry] = {}

    def add(context: str, text: Text | None) -> None:
        if text is not None and text.source.strip() and context not in found:
            found[context] = Entry(context, text)
            for index, block in enumerate(plurals.blocks(text.source)):
                where = text.location
                at = Location(where.path, where.line + block.line - 1, 1) if where is not None and where.line else where
                found[f"{context}/plural/{index}"] = Entry(f"{context}/plural/{index}", Text(block.singular, at, text.html), block.plural)

    for rule in project.reach:
        add(f"reach/{rule.name}/message", rule.message)
    for name, label in project.buttons.items():
        add(f"buttons/{name}", label)
    for flow in project.flows.values():
        for key in FLOW_WORDS:  # plain words, not templates: where a flow is listed
            add(f"{flow.id}/{key}", Text(getattr(flow, key), _key_location(project, flow, key)))
        for context, text in _flow_texts(flow):
            add(context, text)
    for name, email in sorted(project.emails.items()):
        add(f"email/{name}/subject", email.subject)
        add(f"email/{name}/text", email.text)
        add(f"email/{name}/html", email.html)
    return sorted(found.values(), key=lambda e: (_where(e.text), e.context))


def _key_location(project: Project, flow: Flow, key: str) -> Location:
    """Where a flow's top-level `key` is written (its file's first line when it cannot be told)."""
    path = flow.location.path
    for number, line in enumerate(project.sources.get(path, "").splitlines(), 1):
        if line.startswith(f"{key}:"):
            rest = line[len(key) + 1 :]
            return Location(path, number, len(key) + 2 + len(rest) - len(rest.lstrip()))
    return Location(path, 1, 1)


def _where(text: Text) -> tuple[str, int, int]:
    location = text.location or Location("")
    return location.path, location.line, location.col


def _rule_texts(flow: Flow, key: str, rules: tuple[Rule, ...]) -> Iterator[tuple[str, Text]]:
    for rule in rules:
        yield (f"rules/{rule.name}/message" if rule.shared else f"{flow.id}/{key}/{rule.name}/message"), rule.message


def _flow_texts(flow: Flow) -> Iterator[tuple[str, Text | None]]:
    yield from _rule_texts(flow, "started_by", flow.started_by)
    yield from _rule_texts(flow, "preconditions", flow.preconditions)
    for step in flow.steps:
        at = f"{flow.id}/steps/{step.id}"
        yield f"{at}/title", step.title
        yield f"{at}/body", step.body
        for name, button in step.buttons.items():
            yield f"{at}/buttons/{name}", button
        for field in step.fields:
            where = f"{at}/fields/{field.name}"
            yield f"{where}/label", field.label
            yield f"{where}/help", field.help
            if isinstance(field.options, DynamicOptions):
                yield f"{where}/options/label", field.options.label
            else:
                for option in field.options or ():
                    yield f"{where}/options/{option.value}/label", option.label
            for index, check in enumerate(field.checks):
                yield f"{where}/validate/{index}/message", check.message
    yield f"{flow.id}/outcome/banner", flow.outcome.banner
    yield f"{flow.id}/outcome/undo", flow.outcome.undo
    yield f"{flow.id}/outcome/audit", flow.outcome.audit


# -- writing ------------------------------------------------------------------------------


def template_catalog(project: Project) -> Catalog:
    """The `.pot` of the project: one entry per text, with its context and reference."""
    from babel.messages.catalog import Catalog  # Babel's catalog machinery (~10 ms) only when Babel itself writes or reads a catalog

    catalog = Catalog(domain=DOMAIN, project=str(project.product.get("name", DOMAIN)), charset="utf-8", fuzzy=False)
    for entry in entries(project):
        location = entry.text.location
        references = [(location.path, location.line)] if location is not None and location.line else []
        msgid = entry.text.source if entry.plural is None else (entry.text.source, entry.plural)
        catalog.add(msgid, locations=references, context=entry.context, flags=("html",) if entry.text.html else ())
    return catalog


def _same(a: Catalog, b: Catalog) -> bool:
    def rows(catalog: Catalog) -> list[tuple[Any, ...]]:
        return [(m.id, m.context, tuple(m.locations), tuple(sorted(m.flags))) for m in catalog if m.id]

    return rows(a) == rows(b)


def _write(catalog: Catalog, path: Path, *, include_previous: bool = False, **options: Any) -> None:
    """Write `catalog` whole or not at all; with `include_previous`, each fuzzy entry's previous source as gettext writes it.

    Babel wraps a `#| msgid` comment as prose, joining a multi-line source's quoted lines and breaking them
    anywhere: msgfmt (and the tools built on gettext) then refuse the file. Each previous source is written
    here instead, one `#|` line per quoted line, as msgmerge writes it.
    """
    from babel.messages.pofile import write_po  # Babel's catalog machinery (~10 ms) only when Babel itself writes or reads a catalog

    previous: dict[str, list[str]] = {}
    kept = {id(m): m.previous_id for m in catalog if m.id}
    if include_previous:
        for message in catalog:
            if message.id and message.previous_id:
                marker = f"clientflow-previous-{len(previous)}"
                previous[marker] = list(message.previous_id)
                message.previous_id = [marker]
    try:
        buffer = io.BytesIO()
        write_po(buffer, catalog, width=0, include_previous=include_previous, **options)
    finally:
        for message in catalog:
            if message.id and id(message) in kept:
                message.previous_id = kept[id(message)]
    written = buffer.getvalue()
    if previous:
        charset = catalog.charset or "utf-8"
        lines = written.decode(charset).split("\n")
        for number, line in enumerate(lines):
            if line.startswith('#| msgid "clientflow-previous-'):
                lines[number] = "\n".join(_previous_lines(previous[line[len('#| msgid "') : -1]]))
        written = "\n".join(lines).encode(charset)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(written)
    temporary.replace(path)  # whole or not at all


def _previous_lines(previous: list[str]) -> list[str]:
    """`#| msgid ...` (and `#| msgid_plural ...`) lines for a previous source, a line per quoted line."""
    from babel.messages.pofile import normalize  # Babel's catalog machinery (~10 ms) only when Babel itself writes or reads a catalog

    lines: list[str] = []
    for keyword, source in zip(("msgid", "msgid_plural"), previous, strict=False):
        first, *rest = normalize(source, width=0).split("\n")
        lines += [f"#| {keyword} {first}", *(f"#| {part}" for part in rest)]
    return lines


_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_PREVIOUS = re.compile(r'(msgid_plural|msgid)\s+((?:"(?:[^"\\]|\\.)*"\s*)+)')


def _previous_read(catalog: Catalog) -> dict[tuple[str, str | None], list[str]]:
    """Take the `#|` lines Babel reads as translator comments off every entry; returns the previous source of each fuzzy one.

    Babel reads no `#| msgid` line: it keeps it as a translator comment (`| msgid ...`) that it writes back
    as `# | msgid ...`, which would then stay for good. Entries still fuzzy keep their previous source
    (written again as `#|`); the others, reviewed, drop it as msgmerge does.
    """
    from babel.messages.pofile import unescape  # Babel's catalog machinery (~10 ms) only when Babel itself writes or reads a catalog

    found: dict[tuple[str, str | None], list[str]] = {}
    for message in [*catalog, *catalog.obsolete.values()]:
        if not message.id or not any(c.startswith("|") for c in message.user_comments):
            continue
        marked = [c[1:].strip() for c in message.user_comments if c.startswith("|")]
        message.user_comments = [c for c in message.user_comments if not c.startswith("|")]
        if not message.fuzzy:
            continue
        joined = " ".join(marked)  # lines Babel wrapped joined again where it broke them (at a space)
        sources = ["".join(unescape(f'"{part}"') for part in _QUOTED.findall(quoted)) for _, quoted in _PREVIOUS.findall(joined)]
        if sources:
            found[_key(message)] = sources
    return found


def extract(project: Project) -> tuple[Path, int, bool]:
    """Write `locales/clientflow.pot`; returns its path, how many entries, and whether it changed.

    An unchanged template is left as it is (its creation date too), so extracting twice changes nothing.
    """
    from babel.messages.pofile import read_po  # Babel's catalog machinery (~10 ms) only when Babel itself writes or reads a catalog

    path = Path(project.root) / TEMPLATE
    catalog = template_catalog(project)
    if path.is_file():
        with path.open("rb") as given:
            old = read_po(given)
        if _same(old, catalog):
            return path, len(catalog), False
    _write(catalog, path, omit_header=False)
    return path, len(catalog), True


@frozen
class Merged:
    """What `update` did to one locale's catalog."""

    locale: str
    path: str
    new: int
    fuzzy: int
    obsolete: int
    created: bool


def update(project: Project) -> list[Merged]:
    """Merge the template into each declared locale's catalog (not the first: the flows are written in it).

    New texts are added untranslated, a changed text keeps its translation marked fuzzy
    (with the previous source), and entries no text has any more are kept as obsolete.
    """
    from babel.messages.pofile import read_po  # Babel's catalog machinery (~10 ms) only when Babel itself writes or reads a catalog

    root = Path(project.root)
    template_file = root / TEMPLATE
    if template_file.is_file():
        with template_file.open("rb") as given:
            template = read_po(given)
    else:
        template = template_catalog(project)
    broken = damaged(project)
    if broken:  # merged, such a catalog would be written back damaged: nothing is written until it is fixed
        raise DefinitionError(broken)
    done = []
    for locale in project.locales[1:]:
        path = root / catalog_path(locale)
        created = not path.is_file()
        if created:
            catalog = _new_catalog(project, locale)
        else:
            with path.open("rb") as given:
                catalog = read_po(given, locale=_babel_locale(locale))
        earlier = _previous_read(catalog)
        before = {_key(m) for m in catalog if m.id}
        # each source text translated (and reviewed) somewhere, by its text: a new place showing the same text starts from it
        same = {m.id: m.string for m in reversed(list(catalog)) if isinstance(m.id, str) and m.id and m.string and not m.fuzzy}
        moved = _changed_in_place(catalog, template)
        catalog.update(template, update_header_comment=False)
        for message in catalog:
            if message.id and _key(message) in moved:
                message.previous_id = [moved[_key(message)]]
            elif message.id in same and _key(message) not in before and message.string != same[message.id]:
                # new here, untranslated or guessed by Babel from a text merely like it ("Reactivate" for "Deactivate"):
                # the translation of the very same text instead, fuzzy still (another place may want other words)
                message.string, message.previous_id = same[message.id], [message.id]
                message.flags = set(message.flags) | {"fuzzy"}
            elif message.id and message.fuzzy and not message.previous_id and _key(message) in earlier:
                message.previous_id = earlier[_key(message)]  # still to review: what it was translated from stays shown
        counted = [m for m in catalog if m.id]
        new = sum(1 for m in counted if _key(m) not in before and not m.string)
        _write(catalog, path, ignore_obsolete=False, include_previous=True)
        done.append(Merged(locale, catalog_path(locale), new, sum(1 for m in counted if m.fuzzy), len(catalog.obsolete), created))
    return done


def _changed_in_place(catalog: Catalog, template: Catalog) -> dict[Any, str]:
    """A text changed at the same place (same context, other msgid): its translation follows it, marked fuzzy.

    Returns the new keys with the source each was translated from.
    """
    by_context = {m.context: m for m in catalog if m.id and m.context and m.string}
    moved: dict[Any, str] = {}
    for message in template:
        if not message.id or message.context is None or catalog.get(message.id, message.context) is not None:
            continue
        old = by_context.get(message.context)
        if old is None or template.get(old.id, old.context) is not None:
            continue
        clone = old.clone()
        clone.id = message.id
        clone.flags = set(old.flags) | {"fuzzy"}
        catalog.delete(old.id, old.context)
        catalog[message.id] = clone
        moved[_key(clone)] = _key(old)[0]
    return moved


def _key(message: Any) -> tuple[str, str | None]:
    msgid = message.id if isinstance(message.id, str) else message.id[0]
    return msgid, message.context


def _babel_locale(tag: str) -> Any:
    from babel import Locale  # Babel (~5 ms) only for a project with translations

    return Locale.parse(tag, sep="-")


def _new_catalog(project: Project, locale: str) -> Catalog:
    from babel.messages.catalog import Catalog  # Babel's catalog machinery (~10 ms) only when Babel itself writes or reads a catalog

    return Catalog(locale=_babel_locale(locale), domain=DOMAIN, project=str(project.product.get("name", DOMAIN)), charset="utf-8", fuzzy=False)


# -- reading, for rendering ---------------------------------------------------------------

PARTS = ("screens", "emails")  # what a reader sees: the screens (an actor's) or the emails (each recipient's); audit lines stay in the first locale


def part_of(context: str) -> str | None:
    """Which part of a project a text belongs to, by its context: emails, screens, or None (the audit line)."""
    context = _PLURAL_CONTEXT.sub("", context)  # a plural block is of its text's part
    if context.startswith("email/"):
        return "emails"
    return None if context.endswith("/outcome/audit") else "screens"


def fallback(tag: str, locales: tuple[str, ...]) -> list[str]:
    """The declared locales that serve `tag`, most precise first, the first locale (the source) left out.

    `fr-CA` gives `fr-CA` then `fr` (those declared); the first locale gives none. A tag
    no declared locale serves is an UnknownName listing them.
    """
    chain = _chain(tag, locales) if len(tag) <= 35 else None  # worked out once per tag: each email of a plan asks
    if chain is None:
        raise UnknownName("locale", tag, locales or ("(none declared: add locales: to flows/project.yaml)",))
    return list(chain)


@functools.lru_cache(maxsize=256)
def _chain(tag: str, locales: tuple[str, ...]) -> tuple[str, ...] | None:
    declared = {locale.lower(): locale for locale in locales}
    parts = tag.split("-")
    chain = [declared[c] for c in ("-".join(parts[:n]).lower() for n in range(len(parts), 0, -1)) if c in declared]
    if not chain:
        return None
    return tuple(locale for locale in chain if locale != locales[0])


def translations(project: Project, locale: str, part: str = "screens") -> list[tuple[Entry, str]]:
    """The ready translations of one part (`PARTS`) of a locale's catalog: translated, not fuzzy, of the current text.

    Anything `check` would report is left out (the text is then shown as written).
    """
    catalog = _read_for_rendering(project, locale)
    if catalog is None:
        return []
    ready = []
    for entry in entries(project):
        if part_of(entry.context) != part or entry.plural is not None:
            continue
        message = catalog.get(entry.text.source, entry.context)
        if message is None or message.fuzzy or not isinstance(message.string, str) or not message.string:
            continue
        if placeholder_problem(entry.text.source, message.string) is None:
            ready.append((entry, message.string))
    return ready


def plural_translations(project: Project, locale: str, part: str = "screens") -> list[tuple[Entry, tuple[str, ...]]]:
    """The ready plural forms of one part of a locale's catalog: every form written, as many as CLDR says, placeholders kept."""
    catalog = _read_for_rendering(project, locale)
    if catalog is None:
        return []
    from babel.messages.plurals import get_plural  # Babel's catalog machinery (~10 ms) only when Babel itself writes or reads a catalog

    expected = get_plural(str(catalog.locale or locale)).num_plurals
    ready = []
    for entry in entries(project):
        if part_of(entry.context) != part or entry.plural is None:
            continue
        message = catalog.get(entry.text.source, entry.context)
        if message is None or message.fuzzy or not isinstance(message.id, (list, tuple)) or tuple(message.id[:2]) != (entry.text.source, entry.plural):
            continue
        forms = tuple(message.string) if isinstance(message.string, (list, tuple)) else ()
        if len(forms) == expected and all(forms) and not any(form_problem(entry, form) for form in forms):
            ready.append((entry, forms))
    return ready


def _read_for_rendering(project: Project, locale: str) -> Catalog | None:
    """A locale's catalog as rendering reads it: None when it is missing, too big or unreadable (`check` says so)."""
    from babel.messages.pofile import PoFileError, read_po  # Babel's catalog machinery (~10 ms) only when Babel itself writes or reads a catalog

    path = Path(project.root) / catalog_path(locale)
    if not path.is_file() or path.stat().st_size > MAX_BYTES:
        return None
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        if key not in _READ:
            catalog: Catalog | None = None  # a damaged catalog serves nothing, and is not read again until it changes
            if not syntax_problems(path.read_text(encoding="utf-8"), catalog_path(locale)):
                with path.open("rb") as given:
                    catalog = read_po(given, locale=_babel_locale(locale), abort_invalid=True)
            while len(_READ) >= _KEEP:
                del _READ[next(iter(_READ))]
            _READ[key] = catalog
    except (PoFileError, OSError, UnicodeDecodeError, ValueError):
        return None
    return _READ[key]


# catalogs read for rendering, by file, time and size: each is read once per process, again only when it changes
_READ: dict[tuple[str, int, int], Catalog | None] = {}
_KEEP = 32


_PO_KEYWORD = re.compile(r"(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)(\s+)(.*)$")
# a whole quoted text: the loop unrolled ("(?:[^"\\]|\\.)*" reads the same texts, one alternation per character: about
# half of a cold `validate`'s catalog syntax check); tests/test_catalog_reader.py compares the two
_PO_WHOLE_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"\s*$')


def damaged(project: Project) -> list[Problem]:
    """The syntax problems of the project's catalogs (`syntax_problems`), located: what must be mended before any is read."""
    root = Path(project.root)
    return [
        problem
        for locale in project.locales[1:]
        if (root / catalog_path(locale)).is_file()
        for problem in syntax_problems((root / catalog_path(locale)).read_bytes().decode("utf-8", "replace"), catalog_path(locale))
    ]


def syntax_problems(text: str, display: str) -> list[Problem]:
    """What a gettext tool refuses in a catalog but Babel's reader lets by, located.

    Babel reads a text whose closing quote is missing as if it were there, one
    character short, and a msgstr whose msgid line was deleted as the next entry's
    translation: `check` would then report the wrong entries, and `update` would
    write the damage back (a translation moved to another text, another marked
    fuzzy). These are found first, so nothing is read or written from such a file.
    """
    found: list[Problem] = []
    state: str | None = None  # the last keyword of the entry being read: ctxt, id, plural, str
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            state = None if state == "str" else state
            continue
        if line.startswith("#"):
            continue
        keyword = _PO_KEYWORD.match(line)
        if keyword is None and not line.startswith('"'):
            continue  # an unknown keyword: Babel's own reader refuses it, at its line
        indent = len(raw) - len(raw.lstrip())
        rest, offset = (keyword.group(3), indent + keyword.start(3)) if keyword else (line, indent)
        if keyword is not None:
            word = keyword.group(1)
            if word.startswith("msgstr") and state not in ("id", "plural", "str"):
                fix = "put back the msgid line of the text it translates (as `clientflow i18n update` wrote it)"
                found.append(Problem(Location(display, number, indent + 1), f"a msgstr with no msgid before it; {fix}"))
            state = {"msgctxt": "ctxt", "msgid": "id", "msgid_plural": "plural"}.get(word, "str")
        if not _PO_WHOLE_STRING.match(rest):
            message = (
                'this text has no closing "; end it with " on the same line (a long text goes on in a new line that starts with ")'
                if rest.startswith('"')
                else 'a text in a catalog is written in double quotes: msgstr "..."'
            )
            found.append(Problem(Location(display, number, offset + 1), message))
    return found


# -- reading, for checking ----------------------------------------------------------------
# `check` reads a catalog as Babel's `read_po(..., abort_invalid=True)` does. A catalog as `clientflow i18n update`
# (or any gettext tool) writes it is read here, in a fraction of the time (Babel also parses its header as an email and
# its dates with strptime); whatever this reader is not sure of (obsolete or repeated entries, a header that is not
# the first entry, another charset, anything Babel would refuse) it leaves to Babel: `_plain_catalog` gives None.
# tests/test_catalog_reader.py compares the two on the shipped catalogs and on generated ones.

_PO_SPACE = " \t\n\r\x0b\x0c"  # what bytes.strip() strips: Babel strips each line as bytes, before decoding it
_PO_ESCAPE = re.compile(r'\\([\\nrt"])')  # what every Babel this package allows unescapes (2.14 reads no other)
_PO_OTHER_ESCAPE = re.compile(r'\\[^\\nrt"]')  # any other: Babel reads the file, as the version installed does
_PO_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}
_PO_INDEX = re.compile(r"msgstr\[([0-9]+)\]")
_PO_HEADER_LINE = re.compile(r"([!-9;-~]+):[ \t]*(.*)")  # a header as the email parser reads it: a name, a colon, the value
_PO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2})(?:([+-])([0-9]{2})([0-9]{2}))?")


class _PlainMessage:
    """One entry as Babel's Message gives what `check` reads of it."""

    __slots__ = ("id", "string", "context", "lineno", "fuzzy")

    def __init__(self, id: Any, string: Any, context: str | None, lineno: int, fuzzy: bool) -> None:  # noqa: A002 - Babel's name
        self.id, self.string, self.context, self.lineno, self.fuzzy = id, string, context, lineno, fuzzy


class _PlainCatalog:
    """A catalog as Babel's Catalog gives what `check` reads of it: its locale, plural count, entries and (no) obsolete ones."""

    def __init__(self, locale: Any, num_plurals: int, messages: dict[Any, _PlainMessage]) -> None:
        self.locale, self.num_plurals, self._messages = locale, num_plurals, messages
        self.obsolete: dict[Any, _PlainMessage] = {}

    def __iter__(self) -> Iterator[_PlainMessage]:  # Babel yields the header first: its id is empty, which `check` skips
        return iter(self._messages.values())

    def get(self, id: str, context: str | None = None) -> _PlainMessage | None:  # noqa: A002 - Babel's name
        return self._messages.get(id if context is None else (id, context))


def _po_string(parts: list[str]) -> str:
    """The text of a string's quoted parts (Babel's denormalize and unescape; each part is in quotes: `syntax_problems`)."""
    return "".join(part[1:-1] if "\\" not in part else _PO_ESCAPE.sub(lambda m: _PO_ESCAPES.get(m.group(1), m.group(1)), part[1:-1]) for part in parts)


def _plain_catalog(text: str, locale: Any) -> _PlainCatalog | None:
    """The catalog `text` holds, as `read_po(..., locale=locale, abort_invalid=True)` reads it; None when unsure (Babel reads it)."""
    if _PO_OTHER_ESCAPE.search(text):
        return None
    entries: list[tuple[int, str | None, list[list[str]], list[tuple[int | None, list[str]]], bool]] = []
    context: list[str] | None = None
    ids: list[list[str]] = []
    strings: list[tuple[int | None, list[str]]] = []
    flags: set[str] = set()
    offset = 0
    current: list[str] | None = None  # the string that a line starting with " goes on
    for number, raw in enumerate(text.split("\n")):
        line = raw.strip(_PO_SPACE)
        if not line:
            continue
        if line[0] == "#":
            if line[1:2] in ("-", "~") or "\u2068" in line or "\u2069" in line:
                return None  # a conflict, an obsolete entry, a location Babel may refuse
            if ids:
                if not strings:
                    return None  # Babel: a msgid without its msgstr
                entries.append((offset, None if context is None else _po_string(context), ids, strings, "fuzzy" in flags))
                context, ids, strings, flags, current = None, [], [], set(), None
            if line[:2] == "#,":
                flags.update(flag.strip() for flag in line[2:].lstrip().split(","))
            continue
        if line[0] == '"':
            if current is None:
                return None
            current.append(line.strip())
            continue
        keyword, _, arg = line.partition(" ")
        part = [arg.strip()]
        if keyword in ("msgctxt", "msgid"):
            if ids:  # the entry before ends here
                if not strings:
                    return None
                entries.append((offset, None if context is None else _po_string(context), ids, strings, "fuzzy" in flags))
                context, ids, strings, flags = None, [], [], set()
            if keyword == "msgctxt":
                if context is not None:
                    return None
                context = current = part
            else:
                offset = number
                ids, current = [part], part
        elif keyword == "msgid_plural":
            if len(ids) != 1 or strings:
                return None
            ids.append(part)
            current = part
        elif keyword == "msgstr" or keyword.startswith("msgstr["):
            index = None
            if keyword != "msgstr":
                found = _PO_INDEX.fullmatch(keyword)
                if found is None:
                    return None
                index = int(found.group(1))
            if not ids or any(i == index for i, _ in strings):
                return None
            strings.append((index, part))
            current = part
        else:
            return None  # Babel: an unknown keyword
    if ids:
        if not strings:
            return None
        entries.append((offset, None if context is None else _po_string(context), ids, strings, "fuzzy" in flags))
    elif context is not None or not entries:
        return None
    header = entries[0]
    if _po_string(header[2][0]) != "" or header[1] is not None or len(header[2]) != 1 or header[3][0][0] is not None:
        return None  # Babel takes the header from wherever it is; here it must come first, as every tool writes it
    settings = _po_header(_po_string(header[3][0][1]), locale)
    if settings is None:
        return None
    locale, num_plurals = settings
    messages: dict[Any, _PlainMessage] = {}
    for offset, msgctxt, msgids, msgstrs, fuzzy in entries[1:]:
        if len(msgids) == 1:
            if len(msgstrs) != 1 or msgstrs[0][0] is not None:
                return None
            msgid: Any = _po_string(msgids[0])
            string: Any = _po_string(msgstrs[0][1])
        else:
            msgid = (_po_string(msgids[0]), _po_string(msgids[1]))
            if any(index is None or index >= num_plurals for index, _ in msgstrs):
                return None
            forms = [""] * num_plurals
            for index, given in msgstrs:
                forms[index or 0] = _po_string(given)
            string = tuple(forms)
        first = msgid[0] if isinstance(msgid, tuple) else msgid
        if first == "":
            return None  # a second header
        key = first if msgctxt is None else (first, msgctxt)
        if key in messages:
            return None  # Babel merges repeated entries
        messages[key] = _PlainMessage(msgid, string, msgctxt, offset + 1, fuzzy)
    return _PlainCatalog(locale, num_plurals, messages)


def _po_header(header: str, locale: Any) -> tuple[Any, int] | None:
    """The locale and plural count a catalog's header gives (Babel's Catalog reads it as email headers); None when unsure."""
    from babel.core import Locale, UnknownLocaleError  # Babel (~5 ms) only for a catalog's header, in a project with translations

    if any(c in header for c in '"\\\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029'):
        return None  # a quoted or escaped value, or a line break other than \n (the email parser splits lines at each)
    lines = header.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    num_plurals: int | None = None
    for line in lines:
        found = _PO_HEADER_LINE.fullmatch(line)
        if found is None or line.startswith("From "):
            return None
        name, value = found.group(1).lower(), found.group(2)
        if name == "language":
            value = value.replace("-", "_")
            if not value:
                locale = None
            else:
                try:
                    locale = Locale.parse(value)
                except UnknownLocaleError:
                    locale = None
                except Exception:  # noqa: BLE001 - Babel would raise it: let Babel
                    return None
        elif name == "content-type":
            charset = _po_parameters(value)
            if charset is None or charset.get("charset", "").lower() not in ("", "charset", "utf-8"):
                return None
        elif name == "plural-forms":
            parameters = _po_parameters(f" ;{value}")
            given = None if parameters is None else parameters.get("nplurals", "2")
            if given is None or not given.isascii() or not given.isdigit() or not 0 < int(given) <= 100:
                return None
            num_plurals = int(given)
        elif name == "pot-creation-date" or (name == "po-revision-date" and "YEAR" not in value):
            if value.strip() and not _po_date(value):
                return None
    if num_plurals is None:
        num_plurals = _get_plural(locale)[0] if locale else 2
    return locale, num_plurals


def _po_parameters(value: str) -> dict[str, str] | None:
    """`name=value` parameters after `;`, as the email parser reads a Content-Type's; None when quoted or encoded (unsure)."""
    if any(c in value for c in "\"'<>*\\"):
        return None
    found: dict[str, str] = {}
    for part in value.split(";")[1:]:
        name, equals, given = part.partition("=")
        found[name.strip().lower() if equals else part.strip()] = given.strip()  # a bare name: an empty value
    return found


def _po_date(value: str) -> bool:
    """Whether Babel reads `value` as a date (`%Y-%m-%d %H:%M` and an offset) without an error."""
    found = _PO_DATE.fullmatch(value)
    if found is None:
        return False
    year, month, day, hour, minute, _, hours, minutes = found.groups()
    try:
        datetime(int(year), int(month), int(day), int(hour), int(minute))
    except ValueError:
        return False
    return hours is None or int(hours) * 60 + int(minutes) < 24 * 60


# -- checking -----------------------------------------------------------------------------


@mutable
class Report:
    """What `check` found: errors (a locale is not ready) and warnings (obsolete entries)."""

    errors: list[Problem]
    warnings: list[Problem]


def check(project: Project, translate: Translate | None = None) -> Report:
    """Every problem of every declared locale's catalog, located in the `.po` file.

    A missing or fuzzy translation, placeholders other than the source's, a plural
    count other than the locale's CLDR rule, and (with `translate`) a translation that
    does not compile as its source does are errors; obsolete entries are warnings.
    """
    report = Report([], [])
    if len(project.locales) < 2:
        return report
    from babel import UnknownLocaleError  # Babel (~5 ms) only for a project with more than one locale

    texts = entries(project)
    root = Path(project.root)
    for locale in project.locales[1:]:
        display = catalog_path(locale)
        path = root / display
        try:
            language = _babel_locale(locale)
        except (UnknownLocaleError, ValueError):
            unknown = f"locales: {locale!r} is no locale CLDR knows; write a language tag such as fr or fr-CA"
            report.errors.append(Problem(Location("flows/project.yaml"), unknown))
            continue
        if not path.is_file():
            missing = f"no catalog for the locale {locale!r}; run `clientflow i18n extract`, then `clientflow i18n update`"
            report.errors.append(Problem(Location(display), missing))
            continue
        if path.stat().st_size > MAX_BYTES:
            report.errors.append(
                Problem(
                    Location(display), f"the catalog is over {MAX_BYTES // (1024 * 1024)} MiB, more than any project's texts; remove what is not a translation"
                )
            )
            continue
        try:
            source = path.read_bytes()
            text = source.decode("utf-8")
            broken = syntax_problems(text, display)
            if broken:
                report.errors.extend(broken)
                continue
            catalog = _read_catalog(source, text, language)
        except _Unreadable as unreadable:
            exc = unreadable.error
            line = int(getattr(exc, "lineno", -1)) + 1  # Babel counts lines from 0
            report.errors.append(Problem(Location(display, line, 1 if line else 0), f"not a readable catalog: {exc}; fix the line as a gettext tool writes it"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            report.errors.append(Problem(Location(display), f"not a readable catalog: {exc}"))
            continue
        _check_catalog(catalog, text.splitlines(), texts, locale, display, translate, report)
    return report


@functools.cache
def _plurals_module() -> Any:
    """Babel's babel.messages.plurals (CLDR's plural counts), without running babel/messages/__init__.py.

    That package imports Babel's whole catalog machinery first (babel.messages.catalog: babel.dates,
    time zones, difflib), some 10 ms that `check` does not use when it reads the catalog itself; the
    module needs only babel.core. Imported as usual whenever the package is there already, or this fails.
    """
    module = sys.modules.get("babel.messages.plurals")
    if module is not None:
        return module
    try:
        babel = importlib.util.find_spec("babel")
        origin = babel.origin if babel is not None else None
        spec = importlib.util.spec_from_file_location("clientflow._babel_plurals", Path(origin).parent / "messages" / "plurals.py") if origin else None
        if spec is None or spec.loader is None:
            raise ImportError("babel.messages.plurals")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.get_plural  # noqa: B018 - the function asked for, or the usual import
    except Exception:  # noqa: BLE001 - any trouble: the usual import
        from babel.messages import plurals as module  # the usual import (~10 ms with the catalog machinery) only if that fails
    return module


def _get_plural(locale: Any) -> Any:
    """Babel's `get_plural(locale)`: the number of plural forms (and gettext's expression) of a locale."""
    return _plurals_module().get_plural(locale)


class _Unreadable(Exception):
    """Babel's reader refused a catalog: `error` says why, and at which line."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _read_catalog(source: bytes, text: str, language: Any) -> Any:
    """A catalog as Babel's `read_po(..., abort_invalid=True)` reads it (`_plain_catalog` when the file is as `update`
    writes it, else Babel itself); _Unreadable when Babel refuses it."""
    catalog = _plain_catalog(text, language)
    if catalog is not None:
        return catalog
    from babel.messages.pofile import PoFileError, read_po  # Babel's reader (~10 ms) only for a file not as `update` writes it

    try:
        return read_po(io.BytesIO(source), locale=language, abort_invalid=True)
    except PoFileError as exc:
        raise _Unreadable(exc) from exc


def _check_catalog(catalog: Any, lines: list[str], texts: list[Entry], locale: str, display: str, translate: Translate | None, report: Report) -> None:
    def error(line: int | None, message: str) -> None:
        report.errors.append(Problem(Location(display, line or 1, 1), message))

    def warn(line: int | None, message: str) -> None:
        report.warnings.append(Problem(Location(display, line or 1, 1), message))

    expected = _get_plural(str(catalog.locale or locale)).num_plurals
    if any(isinstance(m.id, (list, tuple)) for m in catalog if m.id) and catalog.num_plurals != expected:
        line = next((n for n, text in enumerate(lines, 1) if "Plural-Forms:" in text), 1)
        error(line, f"Plural-Forms says nplurals={catalog.num_plurals}, but {locale} has {expected} plural forms (CLDR); write nplurals={expected}")
    by_context = {m.context: m for m in catalog if m.id}
    update = "run `clientflow i18n extract`, then `clientflow i18n update`"
    for entry in texts:
        message = catalog.get(entry.text.source, entry.context)
        if message is not None and entry.plural is not None:
            if not isinstance(message.id, (list, tuple)) or message.id[1] != entry.plural:
                message = None  # the other form changed (or the text became a plural): the source changed
        if message is None:
            stale = by_context.get(entry.context)
            if stale is not None:
                error(stale.lineno, f"{entry.context}: the source text changed since this was translated; {update}, then review it")
            else:
                error(1, f"{entry.context}: no entry for {_short(entry.text.source)} ({_reference(entry)}); {update}")
            continue
        given = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        strings = [string or "" for string in given]
        line = _msgstr_line(lines, message.lineno)
        written = _forms_written(lines, message.lineno) if entry.plural is not None else len(strings)
        if isinstance(message.id, (list, tuple)) and written != expected:  # Babel fills the forms left out with ""
            error(message.lineno, f"{entry.context}: {written} plural forms, but {locale} has {expected} (CLDR); write msgstr[0] to msgstr[{expected - 1}]")
            continue
        if not all(strings):
            if entry.plural is not None:
                empty = strings.index("")
                error(_msgstr_line(lines, message.lineno, empty), f"{entry.context}: msgstr[{empty}]: not translated into {locale} yet; write each form")
            else:
                error(line, f"{entry.context}: not translated into {locale} yet; write its msgstr")
            continue
        if message.fuzzy:
            error(
                message.lineno,
                f"{entry.context}: the translation is marked fuzzy (a guess made when its source text changed or was new); review it, then remove the fuzzy flag",
            )
            continue
        if entry.plural is not None:
            for index, string in enumerate(strings):
                problem = form_problem(entry, string)
                if problem is not None:
                    error(_msgstr_line(lines, message.lineno, index), f"{entry.context}: msgstr[{index}]: {problem}")
            continue
        for string in strings:
            problem = placeholder_problem(entry.text.source, string)
            if problem is not None:
                error(line, f"{entry.context}: {problem}")
            elif translate is not None:
                _compile(entry, string, display, line, translate, report)
    contexts = {e.context for e in texts}
    for message in catalog:
        if message.id and message.context not in contexts:
            warn(
                message.lineno,
                f"{message.context or message.id}: no text of the project has this place any more; `clientflow i18n update` keeps it as obsolete",
            )
    for message in catalog.obsolete.values():
        warn(message.lineno, f"{message.context or message.id}: obsolete (no text of the project uses it); delete it when it is no help to translators")


def _compile(entry: Entry, string: str, display: str, line: int, translate: Translate, report: Report) -> None:
    source = entry.text
    translation = Text(string, Location(display, line, 1), source.html)
    try:
        uses = translate(source, translation)
    except CompileError as exc:
        report.errors.append(Problem(Location(display, line + max(exc.line, 1) - 1, 1), f"{entry.context}: {exc}"))
        return
    for at_line, col, message in uses.unknown:
        report.errors.append(Problem(Location(display, line + max(at_line, 1) - 1, max(col, 1)), f"{entry.context}: {message}"))


def placeholder_problem(source: str, translation: str) -> str | None:
    """Why a translation's `{{ }}` placeholders (or its plural blocks) differ from its source's, or None."""
    wanted, given = placeholders(source), placeholders(translation)
    if wanted == given:
        if plurals.has_blocks(source) or plurals.has_blocks(translation):
            if plurals.written(source) != plurals.written(translation):
                return (
                    "the translation's {% trans %} blocks differ from the source's: keep each block exactly as the source writes it,"
                    " like a placeholder (its words are translated in the entries under this one's place, ending in /plural/N)"
                )
        return None
    parts = []
    if wanted - given:
        parts.append("it leaves out " + ", ".join(f"{{{{ {p} }}}}" for p in sorted(wanted - given)))
    if given - wanted:
        parts.append("the source has no " + ", ".join(f"{{{{ {p} }}}}" for p in sorted(given - wanted)))
    return "the translation's placeholders differ from the source's: " + "; ".join(parts) + "; keep each {{ ... }} of the source exactly as written"


def form_problem(entry: Entry, form: str) -> str | None:
    """Why one translated form of a plural block cannot be used, or None.

    A form holds words and the block's `{{ name }}`s: every one its source's plural form
    has (the count, most of all: in many languages the form for "one" also serves 0, 21 or 101),
    and none the block does not have.
    """
    wanted = placeholders(entry.plural or "")
    allowed = wanted | placeholders(entry.text.source)
    given = placeholders(form)
    odd = sorted(p for p in given if not p.isidentifier())
    if odd or "{%" in form:
        return "a plural form holds words and the block's {{ name }}s only; write " + ", ".join(f"{{{{ {p} }}}}" for p in sorted(allowed) or ["count"])
    parts = []
    if wanted - given:
        parts.append("it leaves out " + ", ".join(f"{{{{ {p} }}}}" for p in sorted(wanted - given)))
    if given - allowed:
        parts.append("the source has no " + ", ".join(f"{{{{ {p} }}}}" for p in sorted(given - allowed)))
    if parts:
        return "the translation's placeholders differ from the source's: " + "; ".join(parts) + "; keep each {{ ... }} of the source's plural form"
    return None


def _forms_written(lines: list[str], msgid_line: int | None) -> int:
    """How many `msgstr[N]` lines the entry whose msgid is at `msgid_line` has."""
    count = 0
    for number in range(msgid_line or 1, len(lines) + 1):
        text = lines[number - 1]
        if text.startswith("msgstr["):
            count += 1
        elif count and not text.startswith('"'):
            break
    return count


def _msgstr_line(lines: list[str], msgid_line: int | None, index: int | None = None) -> int:
    """The line of the first msgstr after the msgid at `msgid_line` (of `msgstr[index]` for a plural's form)."""
    start = msgid_line or 1
    wanted = "msgstr" if index is None else f"msgstr[{index}]"
    for number in range(start, len(lines) + 1):
        if lines[number - 1].startswith(wanted):
            return number
    return start


def _short(source: str) -> str:
    first = source.strip().splitlines()[0] if source.strip() else ""
    return repr(first[:60] + ("..." if len(first) > 60 or "\n" in source.strip() else ""))


def _reference(entry: Entry) -> str:
    return str(entry.text.location) if entry.text.location is not None else entry.context


def flow_words(project: Project, locale: str) -> dict[str, dict[str, str]]:
    """Each flow's translated title and summary for `locale` (only those ready): flow id -> key -> words."""
    words: dict[str, dict[str, str]] = {}
    for entry, string in translations(project, locale, "screens"):
        flow_id, _, key = entry.context.rpartition("/")
        if key in FLOW_WORDS and flow_id in project.flows:
            words.setdefault(flow_id, {})[key] = " ".join(string.split())
    return words
