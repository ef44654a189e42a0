"""The `clientflow` command: parse, call the engine, print. Nothing else lives here.

Exit codes: errors.ExitCode, printed by commands.present (the one error presenter).

The option that names the subject is the project's own word: a project whose
flows act on `ticket` records takes `--ticket` (and `--tickets` for many);
`--subject` always works too.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from .collector import collector_paused
from .commands.present import EXIT_CODES, report, unexpected
from .errors import ClientflowError, ExitCode, did_you_mean

# command name -> "module:function", imported only when the command runs
COMMANDS = {
    "new": "clientflow.commands.new:new",
    "validate": "clientflow.commands.core:validate",
    "fix": "clientflow.commands.core:fix",
    "flows": "clientflow.commands.core:flows",
    "plugins": "clientflow.commands.core:plugins",
    "config": "clientflow.commands.core:config",
    "available": "clientflow.commands.runs:available",
    "simulate": "clientflow.commands.runs:simulate",
    "run": "clientflow.commands.runs:run",
    "versions": "clientflow.commands.runs:versions",
    "init": "clientflow.commands.datafile:init",
    "export": "clientflow.commands.datafile:export",
    "outbox": "clientflow.commands.delivery:outbox",
    "worker": "clientflow.commands.delivery:worker",
    "scheduled": "clientflow.commands.scheduled:scheduled",
    "approve": "clientflow.commands.approvals:approve",
    "approvals": "clientflow.commands.approvals:approvals",
    "graph": "clientflow.commands.graph:graph",
    "demo": "clientflow.commands.demo:demo",
    "test": "clientflow.commands.scenarios:test",
    "paths": "clientflow.commands.scenarios:paths",
    "diff": "clientflow.commands.diff:diff",
    "bulk": "clientflow.commands.bulk:bulk",
    "serve": "clientflow.commands.serve:serve",
    "i18n": "clientflow.commands.i18n:i18n",
}


class LazyGroup(click.Group):
    """Imports a command's module only when that command is used or listed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        # what a command's modules build lives as long as the process: imported with the collector paused (collections
        # walking them as they were built took about 15 ms of a start), frozen after when the process ends with the command
        with collector_paused(then_freeze=isinstance(ctx.obj, dict) and bool(ctx.obj.get("one_command"))):
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
        # one command, then the process ends (commands.common.one_command): what it leaves need not be collected
        code = cli.main(args=argv, prog_name="clientflow", standalone_mode=False, obj={"one_command": True})
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(ExitCode.ERROR)
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
        sys.exit(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # the reader left (`clientflow demo | head`): stop quietly, as other commands do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(ExitCode.ERROR)
    except Exception as exc:  # noqa: BLE001 - a bug gets one message saying how to report it, and --debug shows where
        if debug:
            raise
        sys.exit(unexpected(exc))
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # python -m clientflow.cli, as the console script does
    main()
