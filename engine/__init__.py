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
    storage    the backend Protocols; plugins/ implements them
    outbox     delivery to notifiers, retried, never twice

Embedders need only the names below.
"""

from .api import Availability, Engine, RunView
from .context import Clock
from .errors import ClientflowError, DefinitionError, UnknownName
from .hookspecs import hookimpl
from .outcome import EffectSpec
from .plan import Plan
from .project import load_project

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
