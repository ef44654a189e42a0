"""new: a working project for a team that installed the tool, copied from the shipped one."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from .. import resources
from ..errors import ClientflowError
from .common import command

CONFIG = """\
# clientflow's configuration for this project (`clientflow config` shows the effective one).
# The environment overrides it: CLIENTFLOW_DB=postgresql://USER@HOST/DATABASE moves the
# records to PostgreSQL; CLIENTFLOW_NOTIFIERS=smtp sends email (see docs/deployment.md).
storage = {backend = "sqlite", path = ".clientflow/clientflow.db"}
notifiers = ["outbox"]

[notifier.outbox]
dir = ".clientflow/outbox"
"""
GITIGNORE = ".clientflow/\n"


@command(short_help="Create a new project: flows, rules, templates, scenarios, data, configuration.")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Write into DIR even if it is not empty (files of the same name are replaced).")
def new(directory: Path, force: bool) -> None:
    """Create a working project in DIR, copied from the project shipped with clientflow.

    DIR gets flows/ (with project.yaml and rules.yaml), templates/emails/,
    schema/, scenarios/, data/ (demo data and demo runs), locales/ (the
    translation catalogs) and clientflow.toml.
    In it, `clientflow validate`, `clientflow test` and `clientflow demo` pass
    at once; then make the flows your own. A DIR that exists and is not empty
    is refused, and nothing is written, unless --force is given.
    """
    if directory.exists() and not directory.is_dir():
        raise ClientflowError(f"{directory} is a file; give the name of a new folder")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise ClientflowError(f"{directory} is not empty; give a new or empty folder, or pass --force to write into it (files of the same name are replaced)")
    sources = {name: resources.folder(package) for name, package in resources.STARTER.items()}
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a folder that cannot be made there (no such parent, read-only, no permission): the user's to fix
        raise ClientflowError(f"cannot create the folder {directory}: {exc.strerror or exc}; give a folder you may write in") from exc
    try:
        for name, source in sources.items():
            shutil.copytree(source, directory / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.pyc"))
        (directory / "clientflow.toml").write_text(CONFIG, encoding="utf-8")
        ignore = directory / ".gitignore"
        if not ignore.exists():
            ignore.write_text(GITIGNORE, encoding="utf-8")
    except (OSError, shutil.Error) as exc:
        raise ClientflowError(f"cannot write the project into {directory}: {exc}; give a folder you may write in") from exc
    flows = sorted(p.stem for p in (directory / "flows").glob("*.yaml") if p.stem not in ("project", "rules"))
    click.echo(f"created {directory} with {len(flows)} flows: {', '.join(flows)}")
    click.echo(f"next: cd {directory} && clientflow validate && clientflow test && clientflow demo")
