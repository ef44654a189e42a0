"""The one error hierarchy: every failure a user can cause is a ClientflowError.

Definition errors carry a location (file, line, column, key path) so that
`clientflow validate` can print `path:line:col: message`; run errors carry the
step and field at fault. The command line maps each class to an exit code.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import field
from enum import IntEnum
from typing import Any

from .plain import ordered


class ExitCode(IntEnum):
    """The one table of exit codes: every command, `--format json` and the docs use it."""

    OK = 0  # done: a completed plan, or a report
    ERROR = 1  # a project, definition, data or configuration error
    USAGE = 2  # a missing or malformed option
    BLOCKED = 3  # blocked by a rule
    INVALID = 4  # an invalid answer
    NEEDS_INPUT = 5  # an answer is missing
    CHANGED = 6  # `clientflow diff --fail-on`: the change it was asked to fail on exists
    BUG = 70  # a bug in clientflow or a plugin, not in what the user gave (sysexits' EX_SOFTWARE)
    INTERRUPTED = 130  # Ctrl-C

    @property
    def meaning(self) -> str:
        return EXIT_MEANINGS[self]


EXIT_MEANINGS = {
    ExitCode.OK: "done (a completed plan, or a report)",
    ExitCode.ERROR: "a project, definition or data error",
    ExitCode.USAGE: "usage error",
    ExitCode.BLOCKED: "blocked by a rule",
    ExitCode.INVALID: "invalid answer",
    ExitCode.NEEDS_INPUT: "needs input",
    ExitCode.CHANGED: "a change diff --fail-on asked to fail on",
    ExitCode.BUG: "a bug in clientflow or a plugin (the message says how to report it)",
    ExitCode.INTERRUPTED: "interrupted",
}
STATUS_EXIT = {  # a run's status -> the exit code of the command that showed it
    "completed": ExitCode.OK,
    "cancelled": ExitCode.OK,
    "blocked": ExitCode.BLOCKED,
    "invalid": ExitCode.INVALID,
    "needs_input": ExitCode.NEEDS_INPUT,
    "awaiting_approval": ExitCode.OK,  # stored, waiting for someone else to approve it
    "rejected": ExitCode.OK,  # the approver's decision, done as asked
}


class ClientflowError(Exception):
    """Base of every error the engine raises on purpose."""

    exit_code: int = ExitCode.ERROR


@ordered
class Location:
    """Where in which file something was written (1-based line and column)."""

    path: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.col}"
        return self.path


@ordered
class Problem:
    """One located message of a definition or data file."""

    location: Location
    message: str = field(compare=True)

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class DefinitionError(ClientflowError):
    """One or more problems in the project's files, all reported at once.

    `project`: what the files described, when every file could still be read and built
    despite the problems (a condition naming a field that is not there, say); it is
    for checking the files that name the project's parts (`clientflow validate` reports
    their problems in the same pass), never for running.
    """

    def __init__(self, problems: Iterable[Problem], *, project: Any = None) -> None:
        self.problems = sorted(set(problems))
        self.project = project
        super().__init__("\n".join(str(p) for p in self.problems))


class DataError(DefinitionError):
    """A data file that cannot be read or does not fit the data schema."""


class UnknownName(ClientflowError):
    """A flow, actor, record, plugin or backend that does not exist."""

    def __init__(self, what: str, given: str, choices: Iterable[str]) -> None:
        self.what, self.given = what, given
        self.choices = sorted(set(choices))
        super().__init__(f"unknown {what} {given!r}{did_you_mean(given, self.choices)}")


class ExpressionError(ClientflowError):
    """A condition or template that failed while it was evaluated."""


class CompileError(ValueError):
    """A condition or template that cannot be compiled; the message says why.

    `line` is the line of the text at fault (1 for a one-line text), or 0 when unknown; `col` the column in that
    line (1-based), or 0 when unknown. The loader (engine/language/project.py) reports it where the text is written.
    """

    def __init__(self, message: str, line: int = 0, col: int = 0) -> None:
        super().__init__(message)
        self.line = line
        self.col = col


class RunError(ClientflowError):
    """A run that cannot go on: unknown run, changed flow, already finished."""


class RunNotFound(RunError):
    """No run by that id, or none the actor may be told of: both answer the same words."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"there is no run {run_id!r}; start the flow again")


class NotTheStarter(RunError):
    """A run within the actor's reach that another actor started: only its starter may see or drive it."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"run {run_id!r} was started by another actor; only the actor who started a run may see or drive it")


class ConfigError(ClientflowError):
    """Configuration that names something that is not there."""


class NoDatabase(ConfigError):
    """A store that was never made, opened by something that only reads or works an existing one."""

    def __init__(self, where: str, advice: str = "create it with `clientflow init --data FILE`") -> None:
        self.where = where
        super().__init__(f"there is no database at {where}; {advice}")


def did_you_mean(given: str, choices: Iterable[str]) -> str:
    """Return `; did you mean 'x'?` for the closest choice, or the choices when few (each once: a flow with two steps of one id lists it once)."""
    import difflib  # only when something is misspelled: a clean run never asks

    choices = list(dict.fromkeys(choices))
    close = difflib.get_close_matches(given, choices, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    if choices and len(choices) <= 8:
        return "; expected one of " + ", ".join(repr(c) for c in sorted(choices))
    return ""


def keypath(path: Iterable[Hashable]) -> str:
    """`steps[2].fields[0].name` for the path ("steps", 2, "fields", 0, "name")."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
