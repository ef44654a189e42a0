"""clientflow's engine: declarative flows, explained rules, honest dry-runs.

The pipeline, top to bottom, one stage per subpackage (each may import only the ones above it):

    language/     yamlfile (YAML -> values with line:column), schemas (JSON Schema, located
                  fix-it messages), project (the loader) -> model (frozen dataclasses of plain
                  data: code as source), checks
    conditions/   expressions and templates compiled once, sandboxed; limits and bounds;
                  program (the model's code compiled, beside it; load_project)
    runtime/      context (the names a condition sees), data (records), runs (screens, answers),
                  outcome (effects, emails, banner, audit) -> plan; rulebook (availability);
                  core (the Runner: one transaction per run step)
    api           Engine: available, simulate, start/submit/back/cancel, commit; bulk, parallel
    scenarios/    what a flow must do (suite), patches, expectations, paths, coverage, demo runs
    commands/, web/, cli   the faces: parse, call the engine, print
    base          errors, storage (the backend Protocols), config, plugins (the manager),
                  hookspecs, outbox (delivery, retried, never twice), tokens, resources

Embedders need only the names below.
"""

import importlib
from typing import TYPE_CHECKING, Any

if __name__ != "clientflow":  # the source folder imported by its folder name: a second copy of every class
    raise ImportError(f"import clientflow, not {__name__}: this folder installs as `clientflow` (pip install .)")

if TYPE_CHECKING:
    from .api import Availability, Engine, RunView
    from .conditions.program import load_project
    from .errors import ClientflowError, DefinitionError, UnknownName
    from .hookspecs import hookimpl
    from .runtime.context import Clock
    from .runtime.outcome import EffectSpec
    from .runtime.plan import Plan

# Imported on first use, so that `clientflow validate` loads only what it needs.
_WHERE = {
    "Availability": "api", "Engine": "api", "RunView": "api", "Clock": "runtime.context",
    "ClientflowError": "errors", "DefinitionError": "errors", "UnknownName": "errors",
    "hookimpl": "hookspecs", "EffectSpec": "runtime.outcome", "Plan": "runtime.plan", "load_project": "conditions.program",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _WHERE:
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
