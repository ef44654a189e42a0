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
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CompileError, DefinitionError, Location, Problem, UnknownName
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


@dataclass(frozen=True)
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
    from babel.messages.catalog import Catalog

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
    import io

    from babel.messages.pofile import write_po

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
    from babel.messages.pofile import normalize

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
    from babel.messages.pofile import unescape

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
    from babel.messages.pofile import read_po

    path = Path(project.root) / TEMPLATE
    catalog = template_catalog(project)
    if path.is_file():
        with path.open("rb") as given:
            old = read_po(given)
        if _same(old, catalog):
            return path, len(catalog), False
    _write(catalog, path, omit_header=False)
    return path, len(catalog), True


@dataclass(frozen=True)
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
    from babel.messages.pofile import read_po

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
        moved = _changed_in_place(catalog, template)
        catalog.update(template, update_header_comment=False)
        for message in catalog:
            if message.id and _key(message) in moved:
                message.previous_id = [moved[_key(message)]]
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
    from babel import Locale

    return Locale.parse(tag, sep="-")


def _new_catalog(project: Project, locale: str) -> Catalog:
    from babel.messages.catalog import Catalog

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
    from babel.messages.plurals import get_plural

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
    from babel.messages.pofile import PoFileError, read_po

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
_PO_WHOLE_STRING = re.compile(r'"(?:[^"\\]|\\.)*"\s*$')


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


# -- checking -----------------------------------------------------------------------------


@dataclass
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
    from babel import UnknownLocaleError
    from babel.messages.pofile import PoFileError, read_po

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
            broken = syntax_problems(source.decode("utf-8"), display)
            if broken:
                report.errors.extend(broken)
                continue
            with path.open("rb") as given:
                catalog = read_po(given, locale=language, abort_invalid=True)
        except PoFileError as exc:
            line = int(getattr(exc, "lineno", -1)) + 1  # Babel counts lines from 0
            report.errors.append(Problem(Location(display, line, 1 if line else 0), f"not a readable catalog: {exc}; fix the line as a gettext tool writes it"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            report.errors.append(Problem(Location(display), f"not a readable catalog: {exc}"))
            continue
        _check_catalog(catalog, source.decode("utf-8", "replace").splitlines(), texts, locale, display, translate, report)
    return report


def _check_catalog(catalog: Catalog, lines: list[str], texts: list[Entry], locale: str, display: str, translate: Translate | None, report: Report) -> None:
    from babel.messages.plurals import get_plural

    def error(line: int | None, message: str) -> None:
        report.errors.append(Problem(Location(display, line or 1, 1), message))

    def warn(line: int | None, message: str) -> None:
        report.warnings.append(Problem(Location(display, line or 1, 1), message))

    expected = get_plural(str(catalog.locale or locale)).num_plurals
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
            error(message.lineno, f"{entry.context}: the translation is marked fuzzy (its source changed); review it, then remove the fuzzy flag")
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
