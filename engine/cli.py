"""The `clientflow` command: parse, call the engine, print. Nothing else lives here.

Exit codes: 0 done; 1 a project, definition or data error; 2 usage;
3 blocked by a rule; 4 invalid answer; 5 needs input.

The option that names the subject is the project's own word: a project whose
flows act on `ticket` records takes `--ticket` (and `--tickets` for many);
`--subject` always works too.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from .errors import ClientflowError, DefinitionError

EXIT_CODES = """\b
Exit codes:
  0  done (a completed plan, or a report)
  1  a project, definition or data error
  2  usage error
  3  blocked by a rule
  4  invalid answer
  5  needs input
"""

# command name -> "module:function", imported only when the command runs
COMMANDS = {
    "new": "clientflow.commands.new:new",
    "validate": "clientflow.commands.core:validate",
    "flows": "clientflow.commands.core:flows",
    "plugins": "clientflow.commands.core:plugins",
    "config": "clientflow.commands.core:config",
    "available": "clientflow.commands.runs:available",
    "simulate": "clientflow.commands.runs:simulate",
    "run": "clientflow.commands.runs:run",
    "init": "clientflow.commands.datafile:init",
    "export": "clientflow.commands.datafile:export",
    "outbox": "clientflow.commands.delivery:outbox",
    "worker": "clientflow.commands.delivery:worker",
    "graph": "clientflow.commands.graph:graph",
    "demo": "clientflow.commands.demo:demo",
    "test": "clientflow.commands.scenarios:test",
    "paths": "clientflow.commands.scenarios:paths",
    "bulk": "clientflow.commands.bulk:bulk",
    "serve": "clientflow.commands.serve:serve",
}


class LazyGroup(click.Group):
    """Imports a command's module only when that command is used or listed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._load(name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None  # not built yet
            raise
        command = getattr(module, attribute)
        assert isinstance(command, click.Command)
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else None
        if name is not None and name not in COMMANDS and not name.startswith("-"):
            from .errors import did_you_mean

            raise click.UsageError(f"no command {name!r}{did_you_mean(name, self.list_commands(ctx))}", ctx)
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, epilog=EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="clientflow")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Declarative account-lifecycle flows: validate, dry-run and apply them."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    """The console script: maps engine errors to one clear message and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = cli.main(args=argv, prog_name="clientflow", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ClientflowError as exc:
        if debug:
            raise
        report(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except BrokenPipeError:
        # the reader left (`clientflow demo | head`): stop quietly, as other commands do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - a bug still gets one line, and --debug shows where
        if debug:
            raise
        click.echo(f"error: unexpected {type(exc).__name__}: {exc} (run again with --debug to see the traceback)", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def report(exc: ClientflowError) -> None:
    """Print an engine error for a person: located problems one per line."""
    if isinstance(exc, DefinitionError):
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        if len(exc.problems) > 1:
            click.echo(f"{len(exc.problems)} problems found.", err=True)
        return
    from .commands.common import error_message

    click.echo(f"error: {error_message(exc)}", err=True)


if __name__ == "__main__":  # python -m clientflow.cli, as the console script does
    main()
