"""One exit-code table (errors.ExitCode) and one presenter: user mistakes exit 1, bugs exit 70 and say how to report them."""

from __future__ import annotations

import pytest

import clientflow.commands.core
from clientflow.cli import main
from clientflow.errors import EXIT_MEANINGS, STATUS_EXIT, ExitCode


def exit_of(args: list[str]) -> int:
    with pytest.raises(SystemExit) as raised:
        main(args)
    return int(raised.value.code or 0)


def test_a_bug_exits_with_its_own_code_and_says_how_to_report_it(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(clientflow.commands.core, "load_project", broken, raising=False)
    monkeypatch.setattr("clientflow.conditions.program.load_project", broken)
    code = exit_of(["validate", "--project", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == ExitCode.BUG == 70
    assert "error: unexpected ZeroDivisionError: division by zero" in err
    assert "This is a bug" in err and "--debug" in err and "clientflow " in err


def test_debug_shows_the_traceback_of_a_bug(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("clientflow.conditions.program.load_project", broken)
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "validate", "--project", str(tmp_path)])


def test_a_mistake_in_the_project_exits_1(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_of(["validate", "--project", str(tmp_path)]) == ExitCode.ERROR
    assert "clientflow new DIR" in capsys.readouterr().err


def test_the_table_covers_every_code_and_every_run_status() -> None:
    assert set(EXIT_MEANINGS) == set(ExitCode)
    assert set(STATUS_EXIT) == {"completed", "cancelled", "blocked", "invalid", "needs_input", "awaiting_approval", "rejected"}
    assert len({int(c) for c in ExitCode}) == len(ExitCode)
