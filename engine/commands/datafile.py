"""init and export: a data file into the database, and the database back out."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import command, open_engine, project_option


@command(short_help="Load a data file into a new database.")
@project_option
@click.option(
    "--data",
    "data",
    required=True,
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The data file to load (YAML, or JSON ending in .json).",
)
@click.option(
    "--db",
    "db",
    metavar="PATH",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The SQLite database to create (default: the project's, .clientflow/clientflow.db).",
)
@click.option("--force", is_flag=True, help="Replace an existing database.")
def init(project: Path, data: Path, db: Path | None, force: bool) -> None:
    """Load a data file into a new SQLite database.

    The file is checked first (a broken one is reported as path:line:col:
    message and nothing is written). An existing database is kept unless
    --force is given.
    """
    from ..api import Engine
    from ..config import load_config
    from ..errors import ClientflowError

    target = (db or Path(load_config(project).storage_settings.get("path", project / ".clientflow" / "clientflow.db"))).absolute()
    if target.exists() and not force:
        raise ClientflowError(f"{target} already exists; pass --force to replace it")
    Engine.open(project, data=data.absolute())  # validates the project and the data before touching the database
    if target.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
    engine = Engine.open(project, db=target)
    try:
        count = engine.load_data(data.absolute())
    finally:
        engine.close()
    click.echo(f"loaded {count} records from {data} into {target}")


@command(short_help="Print the database in the data-file format.")
@project_option
@click.option(
    "--db",
    "db",
    metavar="PATH",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The SQLite database (default: the project's, .clientflow/clientflow.db).",
)
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True, help="Output format.")
def export(project: Path, db: Path | None, fmt: str) -> None:
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
