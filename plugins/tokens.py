"""The built-in `tokens` plugin: resolves a request's actor from a bearer token (clientflow.tokens).

Another plugin implementing `clientflow_resolve_actor` can replace it (CLIENTFLOW_DISABLE_PLUGINS=tokens).
"""

from __future__ import annotations

from typing import Any

from clientflow.hookspecs import hookimpl
from clientflow.tokens import TokenError, bearer, max_ttl, previous_secrets, verify


class TokenPlugin:
    """Resolves the actor of a request from a bearer token signed with `settings["secret"]` (or a previous secret)."""

    @hookimpl
    def clientflow_resolve_actor(self, request: Any, settings: dict[str, Any]) -> str | None:
        token = bearer(getattr(request, "headers", {}) or {})
        if token is None:
            return None
        try:
            return verify(str(settings.get("secret") or ""), token, previous=previous_secrets(settings), longest=max_ttl(settings))
        except TokenError as exc:
            state = getattr(request, "state", None)
            if state is not None:  # lets the server say why it refused, without trusting the token
                state.auth_problem = str(exc)
            return None
