"""init and export: a data file into the database, and the database back out."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import command, db_option, open_engine, project_option


@command(short_help="Load a data file into the database.")
@project_option
@click.option(
    "--data",
    "data",
    required=True,
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The data file to load (YAML, or JSON ending in .json).",
)
@db_option("The database to load into: a SQLite file or a postgresql:// URL (default: CLIENTFLOW_DB, then the project's configuration).")
@click.option("--force", is_flag=True, help="Replace what the database holds.")
def init(project: Path, data: Path, db: Path | str | None, force: bool) -> None:
    """Load a data file into the project's database (SQLite, PostgreSQL or any configured backend).

    The file is checked first (a broken one is reported as path:line:col:
    message and nothing is written). A database that already holds records is
    kept unless --force is given; then it is emptied and loaded in one go.
    """
    from ..api import Engine

    engine = Engine.open(project, db=db)
    try:
        count = engine.replace_data(data.absolute(), force=force)
        where = engine.storage_description()
    finally:
        engine.close()
    click.echo(f"loaded {count} records from {data} into {where}")


@command(short_help="Print the database in the data-file format.")
@project_option
@db_option()
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True, help="Output format.")
def export(project: Path, db: Path | str | None, fmt: str) -> None:
    """Print every record of the database in the data-file format (deleted records are absent).

    The output can be loaded again with `clientflow init --data FILE`.
    """
    engine = open_engine(project, db=db)
    try:
        data = engine.export()
    finally:
        engine.close()
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    import yaml

    click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False), nl=False)
