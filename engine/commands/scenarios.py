"""test and paths: scenario files run as dry-runs, and the paths a flow's scenarios should walk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import ClientflowError, ExitCode
from .common import command, emit_json, format_option, project_option


def _load(project: Path) -> tuple[Any, Any]:
    # the language's compilers and the plugins (~45 ms) not for `test --help`, `paths --help`, nor `clientflow --help`
    from ..conditions.program import load_project
    from ..language.project import Extensions
    from ..plugins import Registry

    registry = Registry.collect()
    return load_project(project, Extensions(registry.functions, registry.filters, registry.effects)), registry


@command("test")
@click.argument("targets", nargs=-1, metavar="[PATH]...", type=click.Path(exists=True, path_type=Path))
@project_option
@format_option("text", "json")
@click.option("--coverage", "with_coverage", is_flag=True, help="Also report, per flow, the rules, steps, fields, emails and paths no scenario reached.")
@click.option(
    "--fail-under", "fail_under", type=click.FloatRange(0, 100), metavar="PCT", help="Exit 1 when coverage is below PCT percent (implies --coverage)."
)
def test(targets: tuple[Path, ...], project: Path, fmt: str, with_coverage: bool, fail_under: float | None) -> None:
    """Run scenario files: each scenario is a dry-run on its own in-memory copy of its data.

    PATH is a scenario file or a folder of them (default: the project's scenarios/
    folder). One line per scenario, the differences under each failure, and last
    `N passed, M failed`. Exit 1 when a scenario fails, a scenario file is broken,
    or coverage is under --fail-under.
    """
    # the scenario runner (~70 ms: the engine, the expectations) not for `test --help`, nor `clientflow --help`
    from ..scenarios.coverage import measure
    from ..scenarios.suite import load_suite, run_suite, scenario_files

    loaded, registry = _load(project)
    files = scenario_files(targets or [project / "scenarios"])
    if not files:
        where = ", ".join(str(t) for t in targets) if targets else str(project / "scenarios")
        raise ClientflowError(f"no scenario files (*.yaml) in {where}; `clientflow paths FLOW --scaffold` writes a first one")
    results = run_suite(loaded, load_suite(loaded, files), registry)
    coverage = measure(loaded, results) if with_coverage or fail_under is not None else None
    failed = sum(1 for r in results if not r.passed)
    under = coverage is not None and fail_under is not None and coverage.percent < fail_under
    if fmt == "json":
        emit_json({
            "scenarios": [r.to_json() for r in results],
            "passed": len(results) - failed,
            "failed": failed,
            "coverage": coverage.to_json() if coverage else None,
            "fail_under": fail_under,
        })  # fmt: skip
    else:
        for result in results:
            click.echo(_result(result))
        if coverage is not None:
            click.echo("")
            click.echo(_coverage(coverage))
            if under:
                from ..scenarios.coverage import shown  # loaded at the start of `test`; at the top it would weigh on `test --help`

                click.echo(click.style(f"coverage {shown(coverage.percent)} is under the required {fail_under:g}%", fg="red"))
        click.echo(f"{len(results) - failed} passed, {failed} failed")
    raise click.exceptions.Exit(ExitCode.ERROR if failed or under else ExitCode.OK)


def _result(result: Any) -> str:
    name = result.scenario.name
    said = [click.style(f"    ⚠ warning: {w['message']}", fg="yellow") for w in result.warnings]
    if result.passed:
        return "\n".join([f"{click.style('✓', fg='green')} {name}", *said])
    lines = [f"{click.style('✗', fg='red')} {name}  ({result.scenario.location})"]
    for mismatch in result.mismatches:
        lines += ["    " + line for line in mismatch_lines(mismatch)]
    return "\n".join([*lines, *said])


def mismatch_lines(mismatch: Any) -> list[str]:
    """One difference between a plan and a scenario, expected above actual."""
    from ..scenarios.expectations import show  # loaded with the suite by now; at the top it would weigh on `test --help`

    what = mismatch.what
    if mismatch.expected is None and mismatch.actual is None:
        return [click.style(f"{what}: {mismatch.note}", fg="red")]
    if mismatch.expected is None and mismatch.actual is not None and mismatch.note.startswith("unexpected"):
        return [click.style(f"{what}: {mismatch.note}: {_describe(what, mismatch.actual)}", fg="red")]
    if mismatch.actual is None and mismatch.expected is not None and mismatch.note.startswith("missing"):
        return [click.style(f"{what}: {mismatch.note}", fg="red"), f"    expected  {_partial(mismatch.expected)}", "    actual    (missing)"]
    if mismatch.fields:
        lines = [click.style(f"{what}: the closest is {_describe(what, mismatch.actual)}", fg="red")]
        for key, expected, actual in mismatch.fields:
            lines += [f"    expected  {key}: {show(expected)}", f"    actual    {key}: {show(actual)}"]
        return lines
    lines = [click.style(what + (f": {mismatch.note}" if mismatch.note and mismatch.what != "status" else ""), fg="red")]
    lines += [f"    expected  {show(mismatch.expected)}", f"    actual    {show(mismatch.actual)}"]
    if mismatch.what == "status" and mismatch.note:
        lines.append(f"    because   {mismatch.note}")
    return lines


def _partial(item: dict[str, Any]) -> str:
    from ..scenarios.expectations import show  # loaded with the suite by now; at the top it would weigh on `test --help`

    return "{" + ", ".join(f"{k}: {show(v)}" for k, v in item.items()) + "}"


def _describe(what: str, item: dict[str, Any]) -> str:
    from ..scenarios.expectations import show  # loaded with the suite by now; at the top it would weigh on `test --help`

    if what.startswith("changes"):
        if item.get("op") == "update":
            return f"update {item['entity']} {item['id']} {item['field']}: {show(item['before'])} -> {show(item['after'])}"
        return f"{item.get('op')} {item.get('entity')} {item.get('id')}"
    if what.startswith("emails"):
        return f"{item.get('template')} to {', '.join(item.get('to') or [])}: {show(item.get('subject'))}"
    return show(item)


def _coverage(coverage: Any) -> str:
    from ..scenarios.coverage import shown  # loaded by `test` by now; at the top it would weigh on `test --help`

    labels = {
        "rule holds": "rules holding",
        "rule fails": "rules failing",
        "step shown": "steps",
        "field answered": "fields",
        "email sent": "emails",
        "path walked": "paths",
    }
    width = max((len(f.flow) for f in coverage.flows), default=0)
    lines = [click.style("Coverage", bold=True)]
    for flow in coverage.flows:
        colour = "green" if flow.covered == flow.total else "yellow"
        lines.append(click.style(f"  {flow.flow.ljust(width)}  {shown(flow.percent):>6}  ({flow.covered}/{flow.total})", fg=colour))
        lines.append("      " + " · ".join(f"{labels[k]} {c}/{t}" for k, (c, t) in flow.counts().items()))
        for item in flow.missing():
            lines.append(click.style(f"      never: {item.category}: {item.name}", fg="yellow"))
    lines.append(click.style(f"  {'total'.ljust(width)}  {shown(coverage.percent):>6}  ({coverage.covered}/{coverage.total})", bold=True))
    return "\n".join(lines)


@command("paths")
@click.argument("flow")
@project_option
@format_option("text", "json")
@click.option("--scaffold", is_flag=True, help="Print scenario YAML with one skeleton per path, to fill in.")
@click.option(
    "--data",
    "data",
    metavar="FILE",
    help="The data file the skeletons name, relative to where they will be saved (default: ../data/demo.yaml, as `clientflow demo` uses).",
)
def paths(flow: str, project: Path, fmt: str, scaffold: bool, data: str | None) -> None:
    """Every distinct path through FLOW: each rule failing, each combination of answers that changes what is shown, changed or sent, and each refused answer."""
    from ..scenarios import paths as flow_paths_module  # the path explorer only for `paths`: not for `test`, nor any `--help`

    loaded, _ = _load(project)
    model = loaded.flow(flow)
    if scaffold:
        if data is None:
            data = "../data/demo.yaml" if (project / "data" / "demo.yaml").exists() else "../data/TODO.yaml"
        click.echo(flow_paths_module.scaffold(loaded, model, data), nl=False)
        return
    found_paths = flow_paths_module.flow_paths(loaded, model)
    if fmt == "json":
        emit_json({"flow": model.id, "paths": [p.to_json() for p in found_paths]})
        return
    click.echo(click.style(f"{model.id}: {len(found_paths)} paths", bold=True))
    for number, item in enumerate(found_paths, 1):
        click.echo(f"  {number:>2}. {item.kind:<9}  {item.title}")
        pad = " " * 17
        if item.condition:
            click.echo(f"{pad}rule: {item.condition}")
        if item.kind not in ("blocked", "waited"):  # a waiting branch happens after the screens, when its part is due
            click.echo(f"{pad}screens: {' -> '.join(item.screens) or '(none)'}")
        if item.kind == "completed":
            changes = [f"{c['op']} {c['entity']}" + (f".{c['field']}" if c.get("field") else "") for c in item.changes]
            click.echo(f"{pad}changes: {', '.join(changes) or '(none)'}")
            click.echo(f"{pad}emails: {', '.join(item.emails) or '(none)'}")
