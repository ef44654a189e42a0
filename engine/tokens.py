"""Signed bearer tokens, the HTTP API's own scheme: who a request acts as, checked with the configured API secrets.

The built-in plugin `tokens` (clientflow.default_plugins.tokens) answers the
`clientflow_resolve_actor` hook with `verify`; `clientflow serve` mints with `mint`.

A token is `cf1.<payload>.<signature>`: the payload is base64url JSON
`{"sub": actor id, "iat": issued, "exp": expires (unix seconds), "kid": key id}`,
the signature base64url HMAC-SHA256 of `cf1.<payload>` under the secret the
key id names. Anyone holding a secret can mint tokens, so it is kept like a
password, and it must hold at least 256 bits (32 bytes) of entropy: a short or
patterned secret is refused, since one token is enough to guess it offline.

Rotation: `api.secret` (CLIENTFLOW_API_SECRET) signs; `api.previous_secrets`
(CLIENTFLOW_API_PREVIOUS_SECRETS, comma-separated) are still accepted, each
token naming its key by id. Removing a secret revokes every token it signed.
Lifetimes: `api.token_ttl` (default one hour); no token is accepted whose
lifetime, or whose time left, passes `api.max_token_ttl` (default one day,
at most 30 days).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import string
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

PREFIX = "cf1"
MAX_TOKEN = 4096  # characters; a longer header is refused before any decoding
DEFAULT_TTL = 3600  # seconds a token lives unless asked otherwise
MAX_TTL = 24 * 3600  # the longest lifetime accepted unless api.max_token_ttl says otherwise
TTL_CEILING = 30 * 24 * 3600  # api.max_token_ttl may not pass this
MIN_BITS = 256
MAX_SECRET = 1024  # characters
MIN_DISTINCT = 12  # fewer different characters than this: refused (32 random bytes, written in hex or base64, have more)
HOW = 'make one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
_HEX = frozenset(string.hexdigits)
_BASE64 = frozenset(string.ascii_letters + string.digits + "-_+/=")


class TokenError(Exception):
    """A token or a secret that cannot be used: malformed, badly signed, expired, or too weak; the message says which."""


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _alphabet(secret: str) -> int:
    """How many characters each one of `secret` is taken to be drawn from."""
    chars = set(secret)
    if chars <= _HEX and chars - set(string.digits) and not (chars & set("abcdef") and chars & set("ABCDEF")):
        return 16
    if chars <= _BASE64 and chars & set(string.ascii_lowercase) and chars & set(string.ascii_uppercase):
        return 64
    size = 0
    for group, count in ((string.ascii_lowercase, 26), (string.ascii_uppercase, 26), (string.digits, 10), (string.punctuation + " ", 33)):
        if chars & set(group):
            size += count
    if chars <= _BASE64:
        return min(size, 64)
    if any(ch not in string.printable or ch in "\t\n\r\x0b\x0c" for ch in chars):
        size += 128
    return size


def _explained(secret: str, shortest: int) -> int:
    """How many characters of `secret` follow from earlier ones: repeats, runs and steps (abcd, 4321) of `shortest` or more."""
    explained, i, n = 0, 1, len(secret)
    while i < n:
        k = 0
        while i + k < n and secret[i : i + k + 1] in secret[: i + k]:  # a copy of earlier text (it may overlap itself)
            k += 1
        step = ord(secret[i]) - ord(secret[i - 1])
        run = 0
        if step in (-1, 0, 1):
            while i + run < n and ord(secret[i + run]) - ord(secret[i + run - 1]) == step:
                run += 1
        found = max(k if k >= shortest else 0, run if run >= shortest - 1 else 0)
        if found:
            explained += found
            i += found
        else:
            i += 1
    return explained


@lru_cache(maxsize=64)
def entropy_bits(secret: str) -> float:
    """An estimate of the entropy of `secret`, in bits; it errs low for patterned text.

    Each character counts log2 of the alphabet it seems drawn from (hex 16,
    base64 with both cases 64, otherwise the classes it uses: lower-case 26,
    upper-case 26, digits 10, ASCII punctuation and space 33, anything else
    128), except characters that repeat earlier text or continue a run or a
    step — stretches long enough that a random secret holds one with
    probability under about 2^-40. A secret with fewer than MIN_DISTINCT
    different characters counts nothing. Never more than 8 bits per UTF-8 byte.
    """
    if len(set(secret)) < MIN_DISTINCT:
        return 0.0
    per_char = math.log2(_alphabet(secret))
    shortest = max(4, math.ceil(40 / per_char))
    bits = (len(secret) - _explained(secret[:MAX_SECRET], shortest)) * per_char
    return min(bits, 8.0 * len(secret.encode("utf-8", "surrogatepass")))


def check_secret(secret: str, what: str = "the API secret") -> None:
    """Refuse a secret a token could be used to guess: TokenError saying how to make a good one."""
    if not secret:
        raise TokenError(f"{what} is empty; {HOW}")
    if len(secret) > MAX_SECRET:
        raise TokenError(f"{what} is longer than {MAX_SECRET} characters; {HOW}")
    bits = entropy_bits(secret)
    if bits < MIN_BITS:
        raise TokenError(f"{what} is too weak (about {int(bits)} bits of entropy; at least {MIN_BITS}, 32 random bytes, are needed); {HOW}")


def key_id(secret: str) -> str:
    """A short name for a secret that says nothing about it: which key signed a token."""
    return _encode(hashlib.sha256(b"clientflow api key id\x00" + secret.encode("utf-8", "surrogatepass")).digest()[:9])


def _signature(secret: str, signed: str) -> str:
    return _encode(hmac.new(secret.encode("utf-8", "surrogatepass"), signed.encode("ascii"), hashlib.sha256).digest())


def max_ttl(settings: Mapping[str, Any]) -> int:
    """The longest token lifetime `settings` (the `api` table) allows; TokenError for a value that is not 1 second to 30 days."""
    value = settings.get("max_token_ttl", MAX_TTL)
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit() or not 0 < int(value) <= TTL_CEILING:
        raise TokenError(f"api.max_token_ttl must be a number of seconds from 1 to {TTL_CEILING} (30 days), not {value!r}")
    return int(value)


def default_ttl(settings: Mapping[str, Any]) -> int:
    """The lifetime of a token minted without one: `api.token_ttl`, one hour by default, never past `max_ttl`."""
    value = settings.get("token_ttl", DEFAULT_TTL)
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit() or int(value) < 1:
        raise TokenError(f"api.token_ttl must be a whole number of seconds, not {value!r}")
    if int(value) > max_ttl(settings):
        raise TokenError(f"api.token_ttl ({value} s) is longer than api.max_token_ttl ({max_ttl(settings)} s)")
    return int(value)


def previous_secrets(settings: Mapping[str, Any]) -> list[str]:
    """The secrets still accepted (`api.previous_secrets`: a list, or one comma-separated text)."""
    value = settings.get("previous_secrets") or []
    items = value.split(",") if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
    if items is None or not all(isinstance(item, str) for item in items):
        raise TokenError("api.previous_secrets must be a list of secrets, or one comma-separated text")
    return [item.strip() for item in items if item.strip()]


def check_settings(settings: Mapping[str, Any]) -> None:
    """Refuse an `api` table a server should not start with: a weak secret, a bad lifetime; TokenError says which."""
    if settings.get("secret"):
        check_secret(str(settings["secret"]))
    for index, previous in enumerate(previous_secrets(settings), start=1):
        check_secret(previous, f"previous API secret #{index}")
    default_ttl(settings)


def mint(secret: str, actor: str, ttl: int = DEFAULT_TTL, now: float | None = None, *, longest: int = MAX_TTL) -> str:
    """A token saying `actor` for `ttl` seconds from `now` (the system clock by default), signed with `secret`."""
    if not secret:
        raise TokenError("no API secret is configured; set api.secret or CLIENTFLOW_API_SECRET")
    check_secret(secret)
    if not actor:
        raise TokenError("a token needs an actor")
    if ttl > longest:
        raise TokenError(f"a token may live at most {longest} seconds (api.max_token_ttl), not {ttl}")
    issued = int(time.time() if now is None else now)
    claims = {"sub": actor, "iat": issued, "exp": issued + int(ttl), "kid": key_id(secret)}
    payload = _encode(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
    signed = f"{PREFIX}.{payload}"
    return f"{signed}.{_signature(secret, signed)}"


def verify(secret: str, token: str, now: float | None = None, *, previous: Iterable[str] = (), longest: int = MAX_TTL) -> str:
    """The actor a token names; TokenError when it is malformed, forged, expired, too long-lived, or signed with an unknown key."""
    if not secret:
        raise TokenError("the server has no API secret, so it accepts no token")
    keys = (secret, *previous)
    known = _VERIFIED.get((token, keys))
    if known is None:
        known = _signed(token, keys)
        if len(_VERIFIED) >= VERIFIED_KEPT:
            _VERIFIED.clear()
        _VERIFIED[(token, keys)] = known
    actor, expires, issued = known
    moment = time.time() if now is None else now
    if expires <= moment:
        raise TokenError("the bearer token has expired; mint a new one")
    if expires - moment > longest or (type(issued) is int and expires - issued > longest):
        raise TokenError(f"the bearer token lives longer than this server allows ({longest} s, api.max_token_ttl); mint a new one")
    return actor


# What `_signed` found of a token under these keys: its actor, expiry and issue time. Each depends on the token's
# text and the keys alone, so a server checks a token's signature once, not at every request (a tenth of a
# `GET /availability`); the times are checked every time. A refused token is never kept.
_VERIFIED: dict[tuple[str, tuple[str, ...]], tuple[str, int, Any]] = {}
VERIFIED_KEPT = 4096  # tokens remembered at most; then forgotten all at once


def _signed(token: str, keys: tuple[str, ...]) -> tuple[str, int, Any]:
    """The actor, expiry and issue time of a token signed with one of `keys` (the first signs now); TokenError otherwise."""
    secret = keys[0]
    for key in keys:
        check_secret(key, "the API secret" if key is secret else "a previous API secret")
    if len(token) > MAX_TOKEN or not token.isascii():
        raise TokenError("the bearer token is not one this server issued")
    prefix, _, rest = token.partition(".")
    payload, _, signature = rest.partition(".")
    if prefix != PREFIX or not payload or not signature:
        raise TokenError("the bearer token is not one this server issued")
    try:
        claims = json.loads(_decode(payload))
    except (binascii.Error, ValueError):
        claims = None
    kid = claims.get("kid") if isinstance(claims, dict) else None
    by_id = {key_id(key): key for key in reversed(keys)}
    signer = by_id.get(kid) if isinstance(kid, str) else secret  # a token without a key id: the current secret only
    if signer is None:
        raise TokenError(
            "the bearer token's signature does not match this server's secret: it names a key this server does not hold (another server's, or one rotated out); mint a new one"
        )
    if not hmac.compare_digest(signature, _signature(signer, f"{prefix}.{payload}")):
        raise TokenError("the bearer token's signature does not match this server's secret")
    if not isinstance(claims, dict):
        raise TokenError("the bearer token's payload cannot be read")
    if not isinstance(claims.get("sub"), str) or not claims["sub"] or type(claims.get("exp")) is not int:
        raise TokenError("the bearer token's payload lacks an actor or an expiry")
    return str(claims["sub"]), claims["exp"], claims.get("iat")


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    value = headers.get("authorization") or ""
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
