"""Who a request acts as: the `clientflow_resolve_actor` hook, then the actor's record.

The actor never comes from a body field. The first plugin that recognises the
request names an actor; that name must be a known actor of the project, and
the run endpoints accept it only for runs it started.
"""

from __future__ import annotations

from typing import Any

import pluggy

from ..api import Engine
from ..errors import UnknownName
from ..runtime.data import Records
from .errors import ApiError

HOW = "send `Authorization: Bearer <token>`; `clientflow serve --token-for ACTOR` mints one"


def authenticate(request: Any, pm: pluggy.PluginManager, settings: dict[str, Any]) -> str:
    """The name the request is authenticated as; ApiError `unauthenticated` otherwise."""
    name = pm.hook.clientflow_resolve_actor(request=request, settings=settings)
    if not name:
        reason = getattr(getattr(request, "state", None), "auth_problem", None)
        raise ApiError("unauthenticated", f"{reason}; {HOW}" if reason else f"this request carries no valid credentials: {HOW}")
    return str(name)


def find_actor(engine: Engine, name: str) -> str:
    """The id of the actor record `name` designates (by any key it may be named by); UnknownName otherwise."""
    project = engine.project
    with engine.storage.transaction() as tx:
        record = Records(project, tx).find(project.actor_entity, name, project.actor_match)
    return str(record.get("id"))


def actor_id(engine: Engine, name: str) -> str:
    """`find_actor` for a request: an unknown actor is the API error `unknown_actor`."""
    try:
        return find_actor(engine, name)
    except UnknownName as exc:
        raise ApiError("unknown_actor", f"the credentials name {exc.what} {name!r}, who is not in this project's data") from exc
