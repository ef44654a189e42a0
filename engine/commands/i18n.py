"""i18n: the translators' catalogs (gettext .pot/.po through Babel): extract, update, check.

The texts, their contexts and the checks are engine/language/catalogs.py; the compile
check of a translation is engine/conditions/translations.py. These commands only load
the project, call them and print.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import DefinitionError, Location, Problem
from ..language.model import Project
from .common import CONTEXT_SETTINGS, command, project_option


@click.group(context_settings=CONTEXT_SETTINGS, short_help="Translation catalogs: extract, update, check.")
def i18n() -> None:
    """Translation catalogs for translators (gettext .po files, as Poedit, Weblate or Crowdin read them).

    `extract` writes locales/clientflow.pot from every text of the flows, rules, project
    file and email templates; `update` merges it into each declared locale's
    locales/<locale>/LC_MESSAGES/clientflow.po; `check` reports what is not ready.
    """


def _load(project: Path) -> Project:
    # the language's compilers and the plugins (~45 ms) not for `i18n --help`, nor `clientflow --help`
    from ..conditions.program import load_project
    from ..language.project import Extensions
    from ..plugins import Registry

    registry = Registry.collect()
    return load_project(project, Extensions(registry.functions, registry.filters, registry.effects))


@command("extract", short_help="Write locales/clientflow.pot from every text of the project.")
@project_option
def extract(project: Path) -> None:
    """Write the template locales/clientflow.pot: one entry per text, with its place (msgctxt) and file:line.

    An unchanged template is left as it is, so running it twice changes nothing.
    """
    from ..language import catalogs  # the catalogs (~3 ms) not for `i18n --help`

    loaded = _load(project)
    _, count, changed = catalogs.extract(loaded)
    click.echo(f"{catalogs.TEMPLATE}: {count} texts" + ("" if changed else " (unchanged)"))


@command("update", short_help="Merge the template into each locale's catalog (new, fuzzy, obsolete).")
@project_option
def update(project: Path) -> None:
    """Merge locales/clientflow.pot into locales/<locale>/LC_MESSAGES/clientflow.po for each declared locale but the first.

    A new text is added untranslated; a text that changed keeps its translation, marked
    fuzzy (with the previous source); a text that is gone is kept as obsolete.
    """
    from ..language import catalogs  # the catalogs (~3 ms) not for `i18n --help`

    loaded = _load(project)
    if len(loaded.locales) < 2:
        needed = "locales: declare the languages first, e.g. locales: [en, fr] (the first is the one the flows are written in)"
        raise DefinitionError([Problem(Location("flows/project.yaml"), needed)])
    for merged in catalogs.update(loaded):
        what = "created" if merged.created else "updated"
        click.echo(f"{merged.path}: {what}; {merged.new} new, {merged.fuzzy} fuzzy, {merged.obsolete} obsolete")


@command("check", short_help="Report missing, fuzzy or broken translations; exit 1 on any.")
@project_option
def check(project: Path) -> None:
    """Check each declared locale's catalog: every text translated, not fuzzy, with the source's placeholders, compiling.

    Problems are printed as PATH:LINE:COL: message in the .po file, and the exit code is
    1 when there is any; obsolete entries are warnings.
    """
    from ..conditions.translations import translator  # loaded with the project by now; at the top it would weigh on `i18n --help`
    from ..language import catalogs  # the catalogs (~3 ms) not for `i18n --help`

    loaded = _load(project)
    report = catalogs.check(loaded, translator(loaded))
    for warning in sorted(report.warnings):
        click.echo(f"{warning.location}: warning: {warning.message}", err=True)
    if report.errors:
        raise DefinitionError(report.errors)
    if len(loaded.locales) < 2:
        click.echo(
            f"ok: {len(catalogs.entries(loaded))} texts, and no language to translate them into: flows/project.yaml declares no locales: besides the flows' own (e.g. locales: [en, fr])."
        )
        return
    click.echo(f"ok: {len(catalogs.entries(loaded))} texts, translated into {', '.join(loaded.locales[1:])}.")


i18n.add_command(extract)
i18n.add_command(update)
i18n.add_command(check)
