"""The API's errors: one JSON shape, stable codes, and the engine's errors mapped onto them.

Every error answers `{"error": {"code": CODE, "message": TEXT, ...}}`; some add
what a front end needs to show it (`blocked_by`, `errors`, `needs`, `problems`,
the run's view or the plan). Bad input is always a 4xx, never a 500.
"""

from __future__ import annotations

from typing import Any

from ..errors import ClientflowError, DefinitionError, ExpressionError, UnknownName
from .source import ProjectBroken

# code -> HTTP status; the codes are a contract, the messages are for people
CODES: dict[str, int] = {
    "bad_request": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "unknown_actor": 403,
    "blocked": 403,
    "dry_run_only": 403,
    "not_found": 404,
    "unknown_flow": 404,
    "unknown_subject": 404,
    "run_not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "run_finished": 409,
    "run_ready": 409,
    "awaiting_approval": 409,
    "flow_changed": 409,
    "needs_input": 409,
    "invalid_answers": 422,
    "expression_error": 422,
    "data_error": 422,
    "project_invalid": 503,
    "internal": 500,
}


class ApiError(Exception):
    """An error answered as JSON with a stable code; `extra` adds keys to the error object."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        assert code in CODES, code
        self.code, self.message, self.extra = code, message, extra
        super().__init__(message)

    @property
    def status(self) -> int:
        return CODES[self.code]

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


def from_engine(exc: ClientflowError, *, subject_entity: str, actor_entity: str) -> ApiError:
    """The API error for an engine error that no route handled more precisely."""
    if isinstance(exc, ProjectBroken):
        return ApiError("project_invalid", "the project does not load; fix the problems listed", problems=problem_list(exc.problems))
    if isinstance(exc, UnknownName):
        code = {"flow": "unknown_flow", subject_entity: "unknown_subject", actor_entity: "unknown_actor"}.get(exc.what, "not_found")
        if exc.what == "flow":
            return ApiError(code, str(exc))
        # No did-you-mean for records: the nearest names may belong to another tenant.
        return ApiError(code, f"unknown {exc.what} {exc.given!r}")
    if isinstance(exc, DefinitionError):  # a data error met at run time
        return ApiError("data_error", str(exc), problems=problem_list(exc.problems))
    if isinstance(exc, ExpressionError):
        return ApiError("expression_error", str(exc))
    return ApiError("conflict", str(exc))


def problem_list(problems: Any) -> list[dict[str, Any]]:
    """Located problems as JSON: path, line, col and message."""
    return [{"path": p.location.path, "line": p.location.line, "col": p.location.col, "message": p.message} for p in problems]
