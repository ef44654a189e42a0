"""What every command shares: options, the subject option's name, errors, output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from ..config import is_database_url, load_config, mask_url, open_notifiers, open_storage
from ..errors import ClientflowError, DataError, Location, NoDatabase, Problem
from ..language.words import subject_names
from ..language.yamlfile import load_yaml, read_text
from .present import EXIT_CODES, error_json, report

F = TypeVar("F", bound=Callable[..., Any])
SUBJECT_META = "clientflow.subject_names"
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _peek_project(args: list[str]) -> str:
    for index, arg in enumerate(args):
        if arg == "--project" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--project="):
            return arg.split("=", 1)[1]
    return "."


def subject_word(ctx: click.Context | None = None) -> str:
    """The subject's word for the command being run (for messages and help)."""
    return subject_plural(ctx)[0]


def subject_plural(ctx: click.Context | None = None) -> tuple[str, str]:
    """The subject's words, one and many, for the command being run ("subject", "subjects" outside a command)."""
    ctx = ctx or click.get_current_context(silent=True)
    if ctx is None:
        return "subject", "subjects"
    one, many = ctx.meta.get(SUBJECT_META, ("subject", "subjects"))
    return str(one), str(many)


class Command(click.Command):
    """A command whose engine errors print as one clear message with their exit code.

    With `--format json` the error is also printed on stdout as one JSON document
    (`{"error": {"message", "exit_code", "problems"}}`), so stdout always holds
    exactly one document.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[SUBJECT_META] = subject_names(_peek_project(args))
        return super().parse_args(ctx, args)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if SUBJECT_META not in ctx.meta:
            ctx.meta[SUBJECT_META] = subject_names(_peek_project(sys.argv[1:]))
        super().format_help(ctx, formatter)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClientflowError as exc:
            if (ctx.find_root().obj or {}).get("debug"):
                raise
            if ctx.params.get("fmt") == "json":
                emit_json({"error": error_json(exc)})
            report(exc)
            raise click.exceptions.Exit(exc.exit_code) from exc


class SubjectOption(click.Option):
    """An option named after the project's subject: --ticket, --tickets, --tickets-file."""

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
        self.opts = self._names(ctx)
        record = super().get_help_record(ctx)
        if record is None:
            return None
        return record[0], record[1].replace("{subject}", subject_word(ctx))

    def get_error_hint(self, ctx: click.Context | None) -> str:
        return " / ".join(f"'{n}'" for n in self._names(ctx or click.get_current_context()))


class Moment(click.ParamType):
    """An ISO 8601 date or date-time (`2024-05-01`, `2024-05-01T09:30:00Z`, with an offset)."""

    name = "ISO-8601"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date or time; write it like 2024-05-01T09:30:00Z", param, ctx)


def command(name: str | None = None, **kwargs: Any) -> Callable[[F], click.Command]:
    """`click.command` with the shared behaviour of `Command` and the exit codes in its help."""
    kwargs.setdefault("epilog", EXIT_CODES)
    kwargs.setdefault("context_settings", CONTEXT_SETTINGS)
    return click.command(name, cls=Command, **kwargs)


def project_option(fn: F) -> F:
    return click.option(
        "--project",
        "project",
        default=".",
        show_default=True,
        metavar="DIR",
        type=click.Path(file_okay=False, path_type=Path),
        help="The project folder (holding flows/).",
    )(fn)


class DatabaseParam(click.ParamType):
    """A SQLite file (a Path) or a database URL (kept as text: a Path would fold its //)."""

    name = "database"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Path) or is_database_url(value):
            return value
        return Path(value)


def db_option(help: str = "The database: a SQLite file or a postgresql:// URL (default: CLIENTFLOW_DB, then the project's configuration).") -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        return click.option("--db", "db", metavar="PATH|URL", type=DatabaseParam(), help=help)(fn)

    return decorate


def data_options(fn: F) -> F:
    fn = db_option()(fn)
    fn = click.option(
        "--data",
        "data",
        metavar="FILE",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Read the records from a data file (YAML, or JSON ending in .json); nothing is persisted.",
    )(fn)
    return fn


def actor_option(fn: F) -> F:
    return click.option("--actor", required=True, metavar="ID|EMAIL", help="Who acts: a user's id or email.")(fn)


def subject_option(fn: F) -> F:
    return click.option("--subject", "subject", cls=SubjectOption, required=True, metavar="ID|NAME", help="The {subject} acted on: its id or exact name.")(fn)


def format_option(*choices: str) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        extra = " json prints exactly one JSON document on stdout." if "json" in choices else ""
        return click.option("--format", "fmt", type=click.Choice(choices), default=choices[0], show_default=True, help=f"Output format.{extra}")(fn)

    return decorate


def now_option(fn: F) -> F:
    return click.option("--now", "now", type=Moment(), help="Fix the clock, e.g. 2024-05-01T09:30:00Z (default: the system clock).")(fn)


def outbox_option(fn: F) -> F:
    return click.option(
        "--outbox",
        "outbox",
        metavar="DIR",
        type=click.Path(file_okay=False, path_type=Path),
        help="Write emails as .eml files into DIR (default: the configured notifiers).",
    )(fn)


def answer_options(fn: F) -> F:
    fn = click.option(
        "--answers", "answers_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path), help="A YAML file of answers (NAME: VALUE)."
    )(fn)
    fn = click.option(
        "--answer", "answer", multiple=True, metavar="NAME=VALUE", help="An answer; repeat for several. Values read as YAML scalars (true, 3, text)."
    )(fn)
    return fn


def parse_answers(answer: tuple[str, ...], answers_file: Path | None) -> dict[str, Any]:
    """Answers from --answers FILE, then each --answer NAME=VALUE (later wins)."""
    answers: dict[str, Any] = {}
    if answers_file is not None:
        doc, _ = load_yaml(read_text(answers_file, str(answers_file), DataError), str(answers_file), DataError)
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise DataError([Problem(Location(str(answers_file), 1, 1), "an answers file must be a mapping of NAME: VALUE")])
        answers.update(doc)
    for item in answer:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--answer")
        answers[name.strip()] = scalar(raw)
    return answers


def scalar(raw: str) -> Any:
    """A command-line value read as a YAML scalar: true, false, null, numbers, else text."""
    try:
        value, _ = load_yaml(raw, "--answer")
    except ClientflowError:
        return raw
    return value if value is None or isinstance(value, (str, int, float, bool)) else raw


def _absolute(path: Path | None) -> Path | None:
    return None if path is None else path.expanduser().absolute()


def one_command() -> bool:
    """Whether this process ends after the command running: it was started by the console script (cli.main)."""
    context = click.get_current_context(silent=True)
    return bool(context is not None and isinstance(context.find_root().obj, dict) and context.find_root().obj.get("one_command"))


def open_engine(project: Path, data: Path | None = None, db: Path | str | None = None, now: datetime | None = None, outbox: Path | None = None) -> Any:
    """The engine for a command, from --data or --db or the project's configuration.

    Paths given on the command line are read from the current directory. A
    database that does not exist is an error, not a new empty file (`existing_store`).
    """
    from ..api import Engine  # the engine (~60 ms) not for a command that opens none: a remembered `validate`, any `--help`
    from ..plugins import Registry  # loaded with the engine above; here to open the store before the project

    if data is not None and db is not None:
        raise click.UsageError("give either --data or --db, not both")
    config = storage = None
    if data is None:
        config = load_config(project, db=db)  # given to Engine.open, which would read the same files again
        with existing_store(db):
            storage = open_storage(config, Registry.collect(), existing=True)  # before the project: a missing store is told first
    try:
        engine = Engine.open(project, data=_absolute(data), storage=storage, now=now, outbox=_absolute(outbox), config=config)  # it pauses the collector
    except BaseException:
        if storage is not None:
            storage.close()
        raise
    if outbox is not None and "outbox" not in engine.notifiers:
        # --outbox asks for .eml files even when the configuration chose other notifiers
        engine.notifiers.update(open_notifiers(engine.config, engine.registry, ["outbox"]))
    return engine


@contextmanager
def existing_store(db: Path | str | None) -> Iterator[None]:
    """Around opening storage with `existing=True`, for every command that reads or works a store but does not make one.

    A store never made (NoDatabase: a mistyped --db, CLIENTFLOW_DB or configuration, an empty
    PostgreSQL database) is told with the `init` that makes it, and the command's --data when it has one.
    """
    try:
        yield
    except NoDatabase as exc:
        named = "" if db is None else f" --db {exc.where if isinstance(db, Path) else mask_url(db)}"
        context = click.get_current_context(silent=True)
        data = ", or read a data file with --data FILE" if context is not None and "data" in context.params else ""
        raise NoDatabase(exc.where, f"create it with `clientflow init --data FILE{named}`{data}") from exc


def emit_json(document: Any) -> None:
    """Exactly one JSON document on stdout."""
    click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))


def is_terminal(stream: Any = None) -> bool:
    stream = stream or sys.stdin
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def locale_option(fn: Any) -> Any:
    return click.option(
        "--locale",
        "locale",
        metavar="TAG",
        help="Show the screens in this language (a locale of project.yaml; fr-CA falls back to fr, then to the first locale); default: the actor's own locale.",
    )(fn)
