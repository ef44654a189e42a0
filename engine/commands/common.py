"""What every command shares: options, the subject option's name, errors, output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml

from ..errors import ClientflowError

F = TypeVar("F", bound=Callable[..., Any])
SUBJECT_META = "clientflow.subject_names"


def subject_names(project: str | Path) -> tuple[str, str]:
    """The project's word for its subject and for many of them (e.g. client, clients)."""
    try:
        doc = yaml.safe_load((Path(project) / "flows" / "project.yaml").read_text(encoding="utf-8"))
        entity = doc["subject"]["entity"]
        collection = doc["entities"][entity].get("collection") or f"{entity}s"
        if isinstance(entity, str) and isinstance(collection, str) and entity.isidentifier() and collection.isidentifier():
            return entity, collection
    except Exception:  # noqa: BLE001 - any trouble here is reported properly by the command itself
        pass
    return "subject", "subjects"


def _peek_project(args: list[str]) -> str:
    for index, arg in enumerate(args):
        if arg == "--project" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--project="):
            return arg.split("=", 1)[1]
    return "."


class Command(click.Command):
    """A command whose engine errors print as one clear message with their exit code."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[SUBJECT_META] = subject_names(_peek_project(args))
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClientflowError as exc:
            if (ctx.find_root().obj or {}).get("debug"):
                raise
            from ..cli import report

            report(exc)
            raise click.exceptions.Exit(exc.exit_code) from exc


class SubjectOption(click.Option):
    """An option named after the project's subject: --client, --clients, --clients-file."""

    def __init__(self, *args: Any, form: str = "one", **kwargs: Any) -> None:
        self.form = form
        super().__init__(*args, **kwargs)

    def _names(self, ctx: click.Context) -> list[str]:
        one, many = ctx.meta.get(SUBJECT_META, ("subject", "subjects"))
        word = {"one": one, "many": many, "file": f"{many}-file"}[self.form]
        generic = {"one": "subject", "many": "subjects", "file": "subjects-file"}[self.form]
        return [f"--{word}"] + ([f"--{generic}"] if word != generic else [])

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        self.opts = self._names(ctx)
        super().add_to_parser(parser, ctx)

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.opts = self._names(ctx)[:1]
        return super().get_help_record(ctx)

    def get_error_hint(self, ctx: click.Context) -> str:
        return " / ".join(f"'{n}'" for n in self._names(ctx))


def command(name: str | None = None, **kwargs: Any) -> Callable[[F], click.Command]:
    """`click.command` with the shared behaviour of `Command`."""
    return click.command(name, cls=Command, **kwargs)


def project_option(fn: F) -> F:
    return click.option(
        "--project", "project", default=".", show_default=True, type=click.Path(file_okay=False, path_type=Path), help="The project folder (holding flows/)."
    )(fn)


def data_options(fn: F) -> F:
    fn = click.option("--db", "db", type=click.Path(dir_okay=False, path_type=Path), help="The SQLite database (default: the project's configured storage).")(fn)
    fn = click.option("--data", "data", type=click.Path(dir_okay=False, path_type=Path), help="A data file (YAML, or JSON ending in .json); read-only.")(fn)
    return fn


def actor_option(fn: F) -> F:
    return click.option("--actor", required=True, help="The acting user's id or email.")(fn)


def subject_option(fn: F) -> F:
    return click.option("--subject", "subject", cls=SubjectOption, required=True, help="The subject's id or exact name.")(fn)


def format_option(*choices: str) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        return click.option("--format", "fmt", type=click.Choice(choices), default=choices[0], show_default=True, help="Output format.")(fn)

    return decorate


def now_option(fn: F) -> F:
    return click.option("--now", "now", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S"]), help="Fix the clock (ISO 8601).")(fn)


def outbox_option(fn: F) -> F:
    return click.option("--outbox", "outbox", type=click.Path(file_okay=False, path_type=Path), help="Write emails as .eml files into this folder.")(fn)


def answer_options(fn: F) -> F:
    fn = click.option("--answers", "answers_file", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="A YAML file of answers (NAME: VALUE).")(fn)
    fn = click.option("--answer", "answer", multiple=True, metavar="NAME=VALUE", help="An answer; repeat for several. Values read as YAML scalars.")(fn)
    return fn


def parse_answers(answer: tuple[str, ...], answers_file: Path | None) -> dict[str, Any]:
    """Answers from --answers FILE, then each --answer NAME=VALUE (later wins)."""
    from ..errors import DataError, Location, Problem
    from ..yamlfile import load_yaml, read_text

    answers: dict[str, Any] = {}
    if answers_file is not None:
        doc, _ = load_yaml(read_text(answers_file, str(answers_file), DataError), str(answers_file), DataError)
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise DataError([Problem(Location(str(answers_file), 1, 1), "an answers file must be a mapping of NAME: VALUE")])
        answers.update(doc)
    for item in answer:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--answer")
        name, _, raw = item.partition("=")
        answers[name.strip()] = scalar(raw)
    return answers


def scalar(raw: str) -> Any:
    """A command-line value read as a YAML scalar: true, false, null, numbers, else text."""
    from ..yamlfile import load_yaml

    try:
        value, _ = load_yaml(raw, "--answer")
    except ClientflowError:
        return raw
    return value if value is None or isinstance(value, (str, int, float, bool)) else raw


def open_engine(project: Path, data: Path | None = None, db: Path | None = None, now: datetime | None = None, outbox: Path | None = None) -> Any:
    """The engine for a command, from --data or --db or the project's configuration."""
    from ..api import Engine

    if data is not None and db is not None:
        raise click.UsageError("give either --data or --db, not both")
    return Engine.open(project, data=data, db=db, now=now, outbox=outbox)


def emit_json(document: Any) -> None:
    """Exactly one JSON document on stdout."""
    click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))


def is_terminal(stream: Any = None) -> bool:
    stream = stream or sys.stdin
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
