"""Translations compiled like their source: the compile check of a catalog's texts, and a project in a reader's locale.

A translation is compiled by the project's own program, against the names its source
text reads (a translation may show nothing its source does not), and type-checked by
the data schema as the source was. engine/language/catalogs.py asks it through
`translator(project)`, which is its `Translate`. `localized(project, locale)` is the
project whose texts render in `locale` (screens: `--locale` on simulate and run).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import weakref

from jinja2 import TemplateSyntaxError, meta

from ..errors import CompileError, Location, UnknownName
from ..language import catalogs
from ..language.catalogs import Translate
from ..language.code import Text, Uses
from ..language.model import Project
from ..language.plurals import to_python_format
from .program import Program, program_of
from .reader import Reader, plural_rule
from .templates import Template


def translator(project: Project) -> Translate:
    """Compile a translation of `source` with the names `source` reads; raises CompileError."""
    program = program_of(project)
    read: dict[tuple[str, bool], set[str]] = {}  # (source, html) -> the names it reads: a source translated into several texts is parsed once

    def translate(source: Text, translation: Text) -> Uses:
        key = (source.source, source.html)
        names = read.get(key)
        if names is None:
            names = read[key] = _reads(program, source)
        return program.compile_template(translation, names)

    return translate


def _reads(program: Program, source: Text) -> set[str]:
    """The names a source text reads, as Jinja2's code generator finds them (meta.find_undeclared_variables); known
    from its compilation when it sets no name (templates.names_read), else parsed and asked of Jinja2."""
    if "{" not in source.source:  # plain text: nothing to parse (Jinja2 would find no name in it either)
        return set()
    try:
        known = program.template(source).reads
    except LookupError:  # not a text of this program's project
        known = None
    if known is not None:
        return set(known)
    env = program.texts.html_env if source.html else program.texts.text_env
    try:
        tree = env.parse(source.source)
    except TemplateSyntaxError as exc:  # the source compiled at load, so this is not expected
        raise CompileError(f"the source text does not parse: {exc.message}", exc.lineno or 1) from exc
    return set(meta.find_undeclared_variables(tree))


# program -> (locale, part) -> what was built for it: each catalog is read and compiled once per process and program,
# and forgotten with the program
_COMPILED: weakref.WeakKeyDictionary[Program, dict[tuple[str, str], dict[int, Template]]] = weakref.WeakKeyDictionary()
_LOCALIZED: weakref.WeakKeyDictionary[Program, dict[tuple[str, str], Project]] = weakref.WeakKeyDictionary()
_FORMS: weakref.WeakKeyDictionary[Program, dict[tuple[str, str], dict[tuple[str, str], tuple[str, ...]]]] = weakref.WeakKeyDictionary()


def localized(project: Project, locale: str, part: str = "screens") -> Project:
    """The project as a reader of `locale` sees one part of it (catalogs.PARTS): each ready translation in place of its text.

    `fr-CA` uses the fr-CA catalog, then fr, then the text as written (the first locale).
    The model is the same objects, so every flow, step and rule is unchanged; only the
    program differs: a copy whose compiled texts are the translations, compiled like their
    source, and whose reader is `locale` itself (dates and numbers as fr-CA writes them,
    even where the texts come from the fr catalog; plural forms as the catalog's language
    counts them). A translation `check` would report is not used (the text shows as written).
    """
    chain = catalogs.fallback(locale, project.locales)
    locale = canonical(locale)
    if not chain and locale == canonical(project.locales[0]):
        return project
    program = program_of(project)
    known = _LOCALIZED.setdefault(program, {})
    if (locale, part) in known:
        return known[(locale, part)]
    overlay: dict[int, Template] = {}
    forms: dict[tuple[str, str], tuple[str, ...]] = {}
    for tag in reversed(chain):  # the most precise locale wins
        overlay.update(_compiled(project, program, tag, part))
        forms.update(_plural_forms(project, program, tag, part))
    words: dict[str, dict[str, str]] = {}
    for tag in reversed(chain):  # where flows are listed, and `flow.title` in any text
        for flow_id, given in catalogs.flow_words(project, tag).items():
            words.setdefault(flow_id, {}).update(given)
    seen = copy.copy(program)
    seen._templates = {**program._templates, **overlay}  # the same program, its texts in another language
    flows = dict(project.flows)
    for flow_id, said in words.items():  # where flows are listed, in the reader's words
        flow = flows[flow_id]
        flows[flow_id] = dataclasses.replace(flow, title=said.get("title", flow.title), summary=said.get("summary", flow.summary))
    titles = {flow_id: flow.title for flow_id, flow in flows.items()}
    seen.reader = Reader(locale, forms, plural_rule(chain[0]), titles) if chain else Reader(locale, titles=titles)
    shown = known[(locale, part)] = dataclasses.replace(project, program=seen, flows=flows)
    return shown


def _plural_forms(project: Project, program: Program, locale: str, part: str) -> dict[tuple[str, str], tuple[str, ...]]:
    """The ready plural forms of a locale's catalog, by the (singular, plural) a block passes (read once per process)."""
    known = _FORMS.setdefault(program, {})
    if (locale, part) not in known:
        known[(locale, part)] = {
            (to_python_format(entry.text.source), to_python_format(entry.plural or "")): tuple(to_python_format(form) for form in given)
            for entry, given in catalogs.plural_translations(project, locale, part)
        }
    return known[(locale, part)]


def _compiled(project: Project, program: Program, locale: str, part: str) -> dict[int, Template]:
    known = _COMPILED.setdefault(program, {})
    if (locale, part) not in known:
        translate = translator(project)
        found: dict[int, Template] = {}
        for entry, string in catalogs.translations(project, locale, part):
            translation = Text(string, Location(catalogs.catalog_path(locale)), entry.text.html)
            try:
                uses = translate(entry.text, translation)
            except CompileError:
                continue
            if not uses.unknown:
                found[id(entry.text)] = program.template(translation)
        known[(locale, part)] = found
    return known[(locale, part)]


def canonical(tag: str) -> str:
    """A language tag as CLDR spells it: `fr-ca` -> `fr-CA`, `zh-hant-tw` -> `zh-Hant-TW`."""
    first, *rest = tag.split("-")
    return "-".join([first.lower(), *(part.upper() if len(part) == 2 else part.title() if len(part) == 4 else part.lower() for part in rest)])


def reader_tag(project: Project, given: object) -> str:
    """The locale a reader's `locale` (a record's field) is read in: their own tag (fr-CA) when the project serves it
    (its texts from the fr catalog, its dates and numbers as fr-CA writes them); else the project's first locale."""
    if isinstance(given, str) and given:
        try:
            catalogs.fallback(given, project.locales)
        except UnknownName:  # a language the project does not offer: the first one
            return project.locales[0]
        return canonical(given)
    return project.locales[0]


def reader_locale(project: Project, given: object) -> str:
    """The declared locale that serves a reader's `locale` (a record's field): fr-CA -> fr -> the first locale."""
    if isinstance(given, str) and given:
        return _served_by(given, tuple(project.locales))  # every email of a plan asks: worked out once per tag
    return project.locales[0]


@functools.lru_cache(maxsize=256)
def _served_by(given: str, locales: tuple[str, ...]) -> str:
    try:
        chain = catalogs.fallback(given, locales)
    except UnknownName:  # a language the project does not offer: the first one
        return locales[0]
    return chain[0] if chain else locales[0]
