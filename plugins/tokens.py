"""Signed bearer tokens: who an HTTP request acts as, checked with the configured API secret.

A token is `cf1.<payload>.<signature>`: the payload is base64url JSON
`{"sub": actor id, "exp": unix seconds}`, the signature base64url
HMAC-SHA256 of `cf1.<payload>` under `api.secret` (CLIENTFLOW_API_SECRET).
Anyone holding the secret can mint tokens, so it is kept like a password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from clientflow.hookspecs import hookimpl

PREFIX = "cf1"
MAX_TOKEN = 4096  # characters; a longer header is refused before any decoding
DEFAULT_TTL = 12 * 3600


class TokenError(Exception):
    """A token that is malformed, badly signed or expired; the message says which."""


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, signed: str) -> str:
    return _encode(hmac.new(secret.encode("utf-8"), signed.encode("ascii"), hashlib.sha256).digest())


def mint(secret: str, actor: str, ttl: int = DEFAULT_TTL, now: float | None = None) -> str:
    """A token saying `actor` for `ttl` seconds from `now` (the system clock by default)."""
    if not secret:
        raise TokenError("no API secret is configured; set api.secret or CLIENTFLOW_API_SECRET")
    if not actor:
        raise TokenError("a token needs an actor")
    issued = time.time() if now is None else now
    payload = _encode(json.dumps({"sub": actor, "exp": int(issued + ttl)}, separators=(",", ":")).encode("utf-8"))
    signed = f"{PREFIX}.{payload}"
    return f"{signed}.{_signature(secret, signed)}"


def verify(secret: str, token: str, now: float | None = None) -> str:
    """The actor a token names; TokenError when it is malformed, forged or expired."""
    if not secret:
        raise TokenError("the server has no API secret, so it accepts no token")
    if len(token) > MAX_TOKEN or not token.isascii():
        raise TokenError("the bearer token is not one this server issued")
    prefix, _, rest = token.partition(".")
    payload, _, signature = rest.partition(".")
    if prefix != PREFIX or not payload or not signature:
        raise TokenError("the bearer token is not one this server issued")
    if not hmac.compare_digest(signature, _signature(secret, f"{prefix}.{payload}")):
        raise TokenError("the bearer token's signature does not match this server's secret")
    try:
        claims = json.loads(_decode(payload))
    except (binascii.Error, ValueError) as exc:
        raise TokenError("the bearer token's payload cannot be read") from exc
    if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str) or not claims["sub"] or type(claims.get("exp")) is not int:
        raise TokenError("the bearer token's payload lacks an actor or an expiry")
    if claims["exp"] <= (time.time() if now is None else now):
        raise TokenError("the bearer token has expired; mint a new one")
    return str(claims["sub"])


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    value = headers.get("authorization") or ""
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class TokenPlugin:
    """Resolves the actor of a request from a bearer token signed with `settings["secret"]`."""

    @hookimpl
    def clientflow_resolve_actor(self, request: Any, settings: dict[str, Any]) -> str | None:
        token = bearer(getattr(request, "headers", {}) or {})
        if token is None:
            return None
        try:
            return verify(str(settings.get("secret") or ""), token)
        except TokenError as exc:
            state = getattr(request, "state", None)
            if state is not None:  # lets the server say why it refused, without trusting the token
                state.auth_problem = str(exc)
            return None
