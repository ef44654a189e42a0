"""init and export: a data file into the database, and the database back out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from .common import command, db_option, open_engine, project_option


@command(short_help="Load a data file into the database.")
@project_option
@click.option(
    "--data",
    "data",
    required=True,
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The data file to load: JSON (.json) or JSON Lines (.jsonl), read as a stream at any size; or YAML (at most 4 MiB).",
)
@db_option("The database to load into: a SQLite file or a postgresql:// URL (default: CLIENTFLOW_DB, then the project's configuration).")
@click.option("--force", is_flag=True, help="Replace what the database holds.")
def init(project: Path, data: Path, db: Path | str | None, force: bool) -> None:
    """Load a data file into the project's database (SQLite, PostgreSQL or any configured backend).

    JSON and JSON Lines files are read as a stream and checked record by
    record as they are loaded, all in one transaction: a problem anywhere
    (reported as path:line:col: message) leaves the database as it was. A
    database that already holds records is kept unless --force is given; then
    it is emptied and loaded in the same go.
    """
    # the engine and its loader (~60 ms) not for `init --help`, nor `clientflow --help`'s other commands
    from ..api import Engine
    from ..runtime.loading import replace_data

    engine = Engine.open(project, db=db)
    place = engine.config.storage_settings.get("path") if engine.storage.name == engine.config.storage else None
    fresh = Path(place) if isinstance(place, str) and not Path(place).exists() else None
    try:
        where = engine.storage_description()
        count = replace_data(engine.project, engine.storage, data.absolute(), force=force, where=where)
    except BaseException:
        engine.close()
        if fresh is not None:  # a database file this command created holds nothing: leave none behind
            for suffix in ("", "-wal", "-shm", "-journal"):
                try:
                    Path(f"{fresh}{suffix}").unlink(missing_ok=True)
                except OSError:  # none was made there (its folder could not be): nothing to remove
                    pass
        raise
    engine.close()
    click.echo(f"loaded {count} records from {data} into {where}")


@command(short_help="Print the database in the data-file format.")
@project_option
@db_option()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json", "jsonl"]),
    default="yaml",
    show_default=True,
    help="Output format (jsonl: one record per line, written as it is read).",
)
def export(project: Path, db: Path | str | None, fmt: str) -> None:
    """Print every record of the database in the data-file format (deleted records are absent).

    The output can be loaded again with `clientflow init --data FILE` (FILE
    ending in .yaml, .json or .jsonl as the format).
    """
    engine = open_engine(project, db=db)
    try:
        if fmt == "jsonl":
            _export_lines(engine)
            return
        data = engine.export()
    finally:
        engine.close()
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return

    click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False), nl=False)


def _export_lines(engine: Any) -> None:
    """JSON Lines, `{"collection": NAME, "record": {...}}` a line, streamed from storage a page at a time."""
    collections = [e.collection for e in engine.project.entities.values() if e.collection]
    with engine.storage.transaction() as tx:
        for collection in dict.fromkeys(collections):
            lines = []
            for document in tx.scan(collection):
                lines.append(json.dumps({"collection": collection, "record": document.body}, ensure_ascii=False))
                if len(lines) == 1000:
                    click.echo("\n".join(lines))
                    lines.clear()
            if lines:
                click.echo("\n".join(lines))
