"""The one error presenter: every command's errors, as a person reads them and as JSON.

`report` prints an engine error (located problems one per line); `error_json` is the
same error in a `--format json` document; `unexpected` turns a bug into one message
that says how to report it, with the exit code of ExitCode.BUG (`--debug` shows the
traceback instead). The exit codes themselves are `errors.ExitCode`.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Iterable
from typing import Any

import click

from ..errors import EXIT_MEANINGS, ClientflowError, DefinitionError, ExitCode, UnknownName

EXIT_CODES = "\b\nExit codes:\n" + "".join(f"  {int(code):<2} {meaning}\n" for code, meaning in EXIT_MEANINGS.items())


def nearest(given: str, choices: Iterable[str]) -> str | None:
    """The choice a person most likely meant: same letters in another case, a prefix, a part, or a close spelling."""
    folded: dict[str, str] = {}
    for choice in sorted(set(choices), key=lambda c: (len(c), c)):
        folded.setdefault(choice.casefold(), choice)
    wanted = given.strip().casefold()
    if not wanted or not folded:
        return None
    if wanted in folded:
        return folded[wanted]
    for test in (str.startswith, str.__contains__):
        found = [original for key, original in folded.items() if len(wanted) >= 3 and test(key, wanted)]
        if found:
            return found[0]
    import difflib  # only when no choice holds what was given

    close = difflib.get_close_matches(wanted, list(folded), n=1, cutoff=0.5)
    return folded[close[0]] if close else None


def _same_language(given: str, choices: Iterable[str]) -> str | None:
    """The declared locale of the same language (`fr` for `fr_FR`), or None: `en` is no near miss for `de`."""
    language = given.replace("_", "-").split("-")[0].casefold()
    return next((choice for choice in choices if choice.split("-")[0].casefold() == language), None)


def error_message(exc: ClientflowError) -> str:
    """One sentence for an engine error; an unknown name suggests the nearest known one."""
    if isinstance(exc, UnknownName):
        guess = _same_language(exc.given, exc.choices) if exc.what == "locale" else nearest(exc.given, exc.choices)
        if guess is not None and guess != exc.given:
            return f"unknown {exc.what} {exc.given!r}; did you mean {guess!r}?"
    return str(exc)


def error_json(exc: ClientflowError) -> dict[str, Any]:
    """An engine error as JSON: its message, exit code and located problems."""
    problems = []
    if isinstance(exc, DefinitionError):
        problems = [{"path": p.location.path, "line": p.location.line, "col": p.location.col, "message": p.message} for p in exc.problems]
    return {"message": error_message(exc), "exit_code": int(exc.exit_code), "problems": problems}


def report(exc: ClientflowError) -> None:
    """Print an engine error for a person: located problems one per line."""
    if isinstance(exc, DefinitionError):
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        if len(exc.problems) > 1:
            click.echo(f"{len(exc.problems)} problems found.", err=True)
        return
    click.echo(f"error: {error_message(exc)}", err=True)


def unexpected(exc: BaseException) -> int:
    """A bug (ours or a plugin's): one message saying what and how to report it; returns ExitCode.BUG."""
    from importlib.metadata import PackageNotFoundError, version  # ~25 ms on every start: only a bug report says the versions

    try:
        ours = version("clientflow")
    except PackageNotFoundError:  # pragma: no cover - a source tree that is not installed
        ours = "unknown"
    where = f"clientflow {ours}, Python {platform.python_version()}, {sys.platform}"
    click.echo(f"error: unexpected {type(exc).__name__}: {exc}", err=True)
    click.echo(f"This is a bug, not a mistake in your files ({where}). Run the command again with --debug for the traceback,", err=True)
    click.echo("and report it to clientflow's maintainers with that traceback and these versions.", err=True)
    return int(ExitCode.BUG)
