"""clientflow's engine: declarative flows, explained rules, honest dry-runs.

The pipeline, top to bottom:

    yamlfile   YAML text -> plain values with line:column for every node
    schemas    JSON Schema (schema/*.schema.json) -> located, fix-it messages
    project    -> typed model (model.py, frozen dataclasses)
    checks     semantic checks: ids, references, order of answers, reachability
    expressions / templates   conditions and texts compiled once, sandboxed
    context    the names a condition sees, built once per actor and subject
    runs       screens from steps, answers validated, the walk between them
    outcome    effects, emails, banner, audit summary -> plan.Plan
    api        Engine: available, simulate, start/submit/back/cancel, commit
    storage    the backend Protocols; clientflow.default_plugins implements them
    outbox     delivery to notifiers, retried, never twice

Embedders need only the names below.
"""

from typing import TYPE_CHECKING, Any

if __name__ != "clientflow":  # the source folder imported by its folder name: a second copy of every class
    raise ImportError(f"import clientflow, not {__name__}: this folder installs as `clientflow` (pip install -e .)")

if TYPE_CHECKING:
    from .api import Availability, Engine, RunView
    from .context import Clock
    from .errors import ClientflowError, DefinitionError, UnknownName
    from .hookspecs import hookimpl
    from .outcome import EffectSpec
    from .plan import Plan
    from .project import load_project

# Imported on first use, so that `clientflow validate` loads only what it needs.
_WHERE = {
    "Availability": "api", "Engine": "api", "RunView": "api", "Clock": "context",
    "ClientflowError": "errors", "DefinitionError": "errors", "UnknownName": "errors",
    "hookimpl": "hookspecs", "EffectSpec": "outcome", "Plan": "plan", "load_project": "project",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Availability",
    "ClientflowError",
    "Clock",
    "DefinitionError",
    "EffectSpec",
    "Engine",
    "Plan",
    "RunView",
    "UnknownName",
    "hookimpl",
    "load_project",
]
