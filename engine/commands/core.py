"""validate, flows, plugins, config: looking at the project itself."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from ..collector import collector_paused
from ..config import check_plugins, load_config
from ..errors import ClientflowError, DefinitionError, ExitCode, Location
from .common import command, emit_json, format_option, one_command, project_option


@command(short_help="Check the project's files; every problem at once, located.")
@project_option
@format_option("text", "json")
@click.option(
    "--no-cache",
    "no_cache",
    is_flag=True,
    help="Check everything again, neither reading nor writing the remembered clean results (kept in the user's cache folder, never in the project).",
)
def validate(project: Path, fmt: str, no_cache: bool) -> None:
    """Check every flow, rule, template and the project file, and every file that names them; report every problem at once.

    The files that name flows, steps and answers are checked against the project
    too: the scenarios (scenarios/) and the demo runs (data/demo-runs.yaml, each
    dry-run on data/demo.yaml). Each problem is printed as path:line:col: message;
    the exit code is 1 when there is any. A clean result is remembered in the user's
    cache folder under a digest of every byte it depends on (docs/performance.md);
    --no-cache checks in full without it.
    """
    from . import validate_cache as cache  # only validate remembers results: not this module's other commands, nor `clientflow --help`

    key = cache.digest(project) if not no_cache and cache.usable() else None
    result = cache.read(key) if key is not None else None
    if result is None:
        recorder: AbstractContextManager[list[str]] = cache.recording() if key is not None else nullcontext([])  # no key: nothing to store
        with collector_paused(then_freeze=one_command()), recorder as opened:
            result, plugins_clean = _validate(project, fmt)
        # stored only when the digest covers all the check read and the project did not change while it was read
        if key is not None and plugins_clean and cache.covered(project, opened) and cache.digest(project) == key:
            cache.write(key, result)
    _report(result, fmt)


def _validate(project: Path, fmt: str) -> tuple[Any, bool]:
    """The full check: the clean result, and whether every plugin loaded (else its warning was printed: not remembered)."""
    # the language, its compilers and the plugins (~45 ms): only when no remembered result answers
    from ..conditions.program import load_project
    from ..language.project import Extensions
    from ..plugins import Registry
    from .validate_cache import Result

    registry = Registry.collect()
    translations: list[Any] = []
    try:
        try:
            loaded = load_project(project, Extensions(registry.functions, registry.filters, registry.effects))
        except DefinitionError as exc:
            if exc.project is None:
                raise
            # the flows have problems, but every file was built: what names their parts is checked in this pass too
            # (a renamed field's scenarios are reported with it), though nothing is dry-run on them
            raise DefinitionError([*exc.problems, *_references(project, exc.project, registry, dry_runs=False)[1]]) from None
        counts, problems = _references(project, loaded, registry)
        if len(loaded.locales) > 1:  # the catalogs of the declared locales (docs/flow-language.md, Translations)
            # the catalog checks only for a project with translations
            from ..conditions.translations import translator
            from ..language import catalogs

            report = catalogs.check(loaded, translator(loaded))
            problems = [*problems, *report.errors]
            translations = sorted(report.warnings)
        if problems:
            raise DefinitionError(problems)
    except DefinitionError as exc:
        if fmt == "json":
            emit_json({"valid": False, "problems": [
                {"path": p.location.path, "line": p.location.line, "col": p.location.col, "message": p.message} for p in exc.problems
            ]})  # fmt: skip
            raise click.exceptions.Exit(ExitCode.ERROR) from exc
        raise
    steps = sum(len(f.steps) for f in loaded.flows.values())

    def located(found: Iterable[Any]) -> list[tuple[str, int, int, str]]:
        return [(w.location.path, w.location.line, w.location.col, w.message) for w in found]

    result = Result(len(loaded.flows), steps, len(loaded.emails), counts, located(loaded.warnings), located(translations))
    return result, not registry.broken


def _report(result: Any, fmt: str) -> None:
    """Print a clean result, whether just checked or remembered: the same words either way."""
    every = [*result.warnings, *result.translations]
    if fmt == "json":
        warnings = [{"path": path, "line": line, "col": col, "message": message} for path, line, col, message in every]
        counts = result.counts
        emit_json({"valid": True, "flows": result.flows, "steps": result.steps, "emails": result.emails, **counts, "problems": [], "warnings": warnings})
        return
    for path, line, col, message in every:
        click.echo(f"{Location(path, line, col)}: warning: {message}", err=True)
    also = "".join(f", {n} {what.replace('_', ' ')}" for what, n in result.counts.items())
    how = _how(result.warnings, result.translations)
    said = f" ({len(every)} warning{'s' if len(every) != 1 else ''}: {how})" if every else ""
    click.echo(f"ok: {result.flows} flows, {result.steps} steps, {result.emails} email templates{also}, no problems{said}.")


def _how(warnings: list[tuple[str, int, int, str]], translations: list[Any]) -> str:
    """What the summary line says of its warnings, for the kinds there are."""
    from ..language.project import UNTRANSLATED_BUTTONS  # loaded by then (by the check, or the cache); not by `config` or `--help`

    buttons = sum(1 for *_, message in warnings if UNTRANSLATED_BUTTONS in message)
    old_words = len(warnings) - buttons
    if old_words and not buttons and not translations:
        return "`clientflow fix` clears them"  # as it always said
    if translations and not warnings:
        return "obsolete catalog entries"
    kinds = ["`clientflow fix` clears the old words"] if old_words else []
    if buttons:
        kinds.append("name the default buttons under `buttons:` in project.yaml, to translate them")
    if translations:
        kinds.append("the rest are obsolete catalog entries" if kinds else "obsolete catalog entries")
    return "; ".join(kinds)


@command(short_help="Rewrite what the flows still say in old words (op: set -> op: update).")
@project_option
@click.option("--check", is_flag=True, help="Only list what would change; exit 1 when something would.")
def fix(project: Path, check: bool) -> None:
    """Rewrite the old words the flows still use, where they are written, leaving every other byte as it is.

    Today that is `op: set`, now `op: update` (the word plans and scenarios use).
    Each file is read again before it is written, and written whole or not at all.
    With --check nothing is written: the fixes are listed, and the exit code is 1 when there is any.
    """
    from ..language import fixes  # the rewriter only for `fix`, not for this module's other commands

    found = fixes.find(project)
    total = sum(len(f) for f in found.values())
    for items in found.values():
        for item in items:
            click.echo(str(item))
    if check:
        click.echo(f"{total} fix{'es' if total != 1 else ''} to make" if total else "nothing to fix")
        raise click.exceptions.Exit(ExitCode.ERROR if total else ExitCode.OK)
    for path, items in found.items():
        try:
            fixes.rewrite(path, items)
        except ValueError as exc:
            raise ClientflowError(str(exc)) from exc
    click.echo(f"fixed {total} in {len(found)} file{'s' if len(found) != 1 else ''}" if total else "nothing to fix")


def _references(project: Path, loaded: Any, registry: Any, *, dry_runs: bool = True) -> tuple[dict[str, int], list[Any]]:
    """The files that name the project's flows, steps and answers, checked against it: how many of each, and every problem.

    The scenarios of scenarios/ (as `clientflow test` loads them, and every name their
    flows lack) and the demo runs of data/demo-runs.yaml (every name, then, with `dry_runs`,
    each run dry-run on data/demo.yaml as `clientflow demo` does). A project without them has none to check.
    """
    # the scenario and demo-run readers (~20 ms) only for the full check, as _validate's own imports
    from ..scenarios.demoruns import DEMO_DATA, read_runs, runs_file, try_runs
    from ..scenarios.suite import check_suite, scenario_files

    counts: dict[str, int] = {}
    problems: list[Any] = []
    folder = project / "scenarios"
    if folder.is_dir():
        counts["scenarios"], found = check_suite(loaded, scenario_files([folder]))
        problems += found
    data = project / DEMO_DATA
    runs = runs_file(data)
    if runs.is_file():
        examples, found = read_runs(loaded, runs)
        counts["demo_runs"] = len(examples)
        problems += found
        if dry_runs and data.is_file():  # the runs whose names all exist: does the flow accept them?
            problems += try_runs(loaded, registry, data, examples, runs)
    return counts, [_within(project, problem) for problem in problems]


def _within(project: Path, problem: Any) -> Any:
    """`problem` located as the project's own files are: by their path within the project folder."""
    inside = problem.location.path.removeprefix(f"{project}{os.sep}")
    return replace(problem, location=replace(problem.location, path=inside))


@command(short_help="One line per flow: its id and title.")
@project_option
@format_option("text", "json")
def flows(project: Path, fmt: str) -> None:
    """One line per flow: its id and title."""
    # the language and the plugins (~45 ms) only for the commands here that load a project, not for `clientflow --help`
    from ..conditions.program import load_project
    from ..language.project import Extensions
    from ..plugins import Registry

    registry = Registry.collect()
    loaded = load_project(project, Extensions(registry.functions, registry.filters, registry.effects))
    if fmt == "json":
        emit_json([{"flow": f.id, "title": f.title, "summary": f.summary} for f in loaded.flows.values()])
        return
    width = max((len(f) for f in loaded.flows), default=0)
    for flow in loaded.flows.values():
        click.echo(f"{flow.id.ljust(width)}  {flow.title}")


@command(short_help="The plugins loaded: where each comes from, its hooks, and what it registered.")
@project_option
@format_option("text", "json")
def plugins(project: Path, fmt: str) -> None:
    """The plugins loaded, each with its distribution and version and the hooks it
    implements; what they registered; and the plugins that could not be loaded, and why.

    The names printed are the ones CLIENTFLOW_LOAD_PLUGINS=a,b (only these) and
    CLIENTFLOW_DISABLE_PLUGINS=a,b (all but these) take.
    """
    from ..plugins import Registry, loaded, plugin_manager  # the plugin manager (~5 ms) not for `fix` or `clientflow --help`

    pm = plugin_manager()
    registry = Registry.collect(pm)
    origin = loaded(pm).info
    items: list[dict[str, Any]] = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        info = origin.get(name)
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        items.append({
            "name": name,
            "module": info.module if info else getattr(plugin, "__module__", type(plugin).__module__),
            "distribution": info.distribution if info else None,
            "version": info.version if info else None,
            "entry_point": info.entry_point if info else None,
            "hooks": hooks,
        })  # fmt: skip
    summary = {
        "storage": sorted(registry.storages),
        "notifiers": sorted(registry.notifiers),
        "effects": sorted(registry.effects),
        "functions": sorted(registry.functions),
        "filters": sorted(registry.filters),
    }
    broken = [{"name": name, "error": why} for name, why in sorted(registry.broken.items())]
    if fmt == "json":
        emit_json({"plugins": items, "registered": summary, "broken": broken})
        return
    for item in items:
        origin_text = f"{item['distribution']} {item['version']}" if item["distribution"] else "registered in code"
        click.echo(f"{item['name']}  ({item['module']}; {origin_text})")
        for hook in item["hooks"]:
            click.echo(f"    {hook}")
    for kind, names in summary.items():
        click.echo(f"{kind}: {', '.join(names) if names else '(none)'}")
    for entry in broken:
        click.echo(f"not loaded: {entry['name']}: {entry['error']}")


@command(short_help="The effective configuration, secrets masked.")
@project_option
@format_option("text", "json")
def config(project: Path, fmt: str) -> None:
    """The effective configuration (file and environment), secrets masked."""
    from ..plugins import Registry  # the plugin manager (~5 ms) not for `fix` or `clientflow --help`

    loaded, registry = load_config(project), Registry.collect()
    check_plugins(loaded, registry)  # what `run` would refuse is refused here too, where the file says it
    data = loaded.to_json(masked=True, secrets=registry.secret_settings())
    if fmt == "json":
        emit_json(data)
        return

    click.echo(f"# from {data['source']} and the environment")
    for key, value in data.items():
        if key != "source":
            click.echo(f"{key}: {json.dumps(value, ensure_ascii=False)}")
