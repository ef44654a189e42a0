"""init and export: a data file into the database, and the database back out."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import command, project_option


@command()
@project_option
@click.option("--data", "data", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path), help="The data file to load.")
@click.option("--db", "db", type=click.Path(dir_okay=False, path_type=Path), help="The SQLite database to create (default: the project's).")
@click.option("--force", is_flag=True, help="Replace an existing database.")
def init(project: Path, data: Path, db: Path | None, force: bool) -> None:
    """Load a data file into a new database."""
    from ..api import Engine
    from ..config import load_config

    target = db or Path(load_config(project).storage_settings.get("path", project / ".clientflow" / "clientflow.db"))
    if target.exists():
        if not force:
            raise click.ClickException(f"{target} already exists; pass --force to replace it")
    engine = Engine.open(project, storage=_memory())  # validate the data before touching the database
    engine.load_data(data)
    if target.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
    real = Engine.open(project, db=target)
    try:
        count = real.load_data(data)
    finally:
        real.close()
    click.echo(f"loaded {count} records from {data} into {target}")


def _memory():  # type: ignore[no-untyped-def]
    from ..plugins import Registry

    return Registry.collect().storage("memory")


@command()
@project_option
@click.option("--db", "db", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="The SQLite database (default: the project's).")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def export(project: Path, db: Path | None, fmt: str) -> None:
    """Print the database in the data-file format."""
    from ..api import Engine

    engine = Engine.open(project, db=db)
    try:
        data = engine.export()
    finally:
        engine.close()
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    import yaml

    click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False), nl=False)
