"""API secrets and tokens: strong secrets only, short lifetimes, rotation by key id, no token printed unless asked.

* Every secret made the documented ways (`secrets.token_urlsafe(32)`,
  `token_hex(32)`, base64 of 32 random bytes) is accepted; every generated
  secret that is short, drawn from a small alphabet, made of few different
  characters, a repeated chunk or a run is refused, saying how to make one —
  by the token functions, by `clientflow serve` and by the web app.
* A token lives one hour unless asked; no token whose lifetime or time left
  passes `api.max_token_ttl` is accepted, whatever the secret holder minted.
* Tokens name their key; `api.previous_secrets` keeps older keys' tokens
  working during a rotation, and removing a key revokes its tokens at once.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import string
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import DEMO, NOW, PROJECT, figures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi", reason="the web extra is part of the test extra: pip install -e '.[test]'")
from fastapi.testclient import TestClient  # noqa: E402

from clientflow.cli import cli  # noqa: E402
from clientflow.errors import ConfigError  # noqa: E402
from clientflow.tokens import (  # noqa: E402
    DEFAULT_TTL,
    MAX_TTL,
    MIN_BITS,
    TokenError,
    check_secret,
    entropy_bits,
    key_id,
    mint,
    verify,
)
from clientflow.web import WebSettings, create_app  # noqa: E402

HOW = "secrets.token_urlsafe(32)"
OLD = "K3vQ9xLm2ZpW7rTb5NcY8hJd4FsG6aUe1oXi0kVnR-w"
NEW = "Hq5Ws8Ez2Rk7Yt4Lp1Mn9Bv6Cx3Jd0Ga-Uf_Ti8Oy5Q"
OTHER = "pD4nS7vB1xK9mQ3wE6rT0yU2iO5aZ8cF-gH_jL4kM7b"
PRINTABLE = string.ascii_letters + string.digits + string.punctuation + " "
TALLY: Counter[str] = Counter()


summary = figures(
    lambda: (
        f"api secrets: {TALLY['strong']} secrets made the documented ways all accepted (lowest estimate {TALLY['lowest']} bits); "
        f"{TALLY['weak']} generated weak secrets refused ({TALLY['cli']} by `clientflow serve`), {TALLY['lifetimes']} lifetimes checked, "
        f"{TALLY['rotations']} rotation steps"
    )
)


@pytest.fixture(autouse=True)
def no_settings_from_the_shell(clean_environment: None) -> None:
    """Every test here sets the environment it means."""


# what a secret must hold -------------------------------------------------------------------------
def test_every_secret_made_the_documented_ways_is_accepted() -> None:
    makers = [lambda: secrets.token_urlsafe(32), lambda: secrets.token_hex(32), lambda: base64.b64encode(os.urandom(32)).decode()]
    lowest = MIN_BITS * 10.0
    for make in makers:
        for _ in range(4000):
            secret = make()
            check_secret(secret)
            lowest = min(lowest, entropy_bits(secret))
            TALLY["strong"] += 1
    TALLY["lowest"] = int(lowest)


def _bits(text: str) -> float:
    return entropy_bits.__wrapped__(text)  # type: ignore[attr-defined, no-any-return]


SHORT = st.text(max_size=40).filter(lambda s: len(s.encode("utf-8", "surrogatepass")) < 32)
FEW_DISTINCT = st.text(min_size=1, max_size=11).flatmap(lambda alphabet: st.text(alphabet=alphabet, min_size=1, max_size=400))
# one class of characters, too few of them: length * log2(class size) < 256
ONE_CLASS = st.sampled_from(
    [
        (string.digits, 77),
        (string.ascii_lowercase, 54),
        (string.ascii_uppercase, 54),
        ("0123456789abcdef", 63),
        (string.ascii_letters + string.digits + "-_", 42),
        (PRINTABLE, 38),
    ]
).flatmap(lambda pair: st.text(alphabet=pair[0], max_size=pair[1]))
REPEATED = st.builds(
    lambda chunk, times, tail: chunk * times + tail,
    st.text(alphabet=PRINTABLE, min_size=1, max_size=36),
    st.integers(2, 40),
    st.text(alphabet=PRINTABLE, max_size=2),
)
STEPPED = st.builds(
    lambda head, start, step, length: head + "".join(chr(start + step * i) for i in range(length)),
    st.text(alphabet=PRINTABLE, max_size=28),
    st.integers(0x21 + 39, 0x7E - 39),  # the run stays within printable ASCII
    st.sampled_from([-1, 0, 1]),
    st.integers(7, 40),
)
WEAK = st.one_of(SHORT, FEW_DISTINCT, ONE_CLASS, REPEATED, STEPPED)


@settings(max_examples=1500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(WEAK)
def test_a_secret_under_32_bytes_of_entropy_is_refused_saying_how_to_make_one(secret: str) -> None:
    assert _bits(secret) < MIN_BITS
    with pytest.raises(TokenError, match=r"secrets\.token_urlsafe\(32\)"):
        check_secret(secret)
    with pytest.raises(TokenError, match="API secret"):  # "too weak", or for an empty one "no API secret is configured"
        mint(secret, "u1")
    TALLY["weak"] += 1


def serve(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, ["serve", "--project", str(PROJECT), "--data", str(DEMO), *args], env=env or {})


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(SHORT, FEW_DISTINCT, REPEATED, ONE_CLASS).filter(lambda s: s.strip() != "" and "," not in s and "\x00" not in s and s.isprintable()))
def test_serve_refuses_a_weak_secret_or_previous_secret(secret: str) -> None:
    for env in ({"CLIENTFLOW_API_SECRET": secret}, {"CLIENTFLOW_API_SECRET": NEW, "CLIENTFLOW_API_PREVIOUS_SECRETS": secret.strip()}):
        result = serve("--token-for", "u1", env=env)
        assert result.exit_code == 1, result.output
        assert HOW in result.output and "cf1." not in result.output
    TALLY["cli"] += 1
    TALLY["weak"] += 1


def test_the_reported_one_letter_secret_is_refused_everywhere(tmp_path: Path) -> None:
    result = serve("--token-for", "u1", env={"CLIENTFLOW_API_SECRET": "a"})
    assert result.exit_code == 1 and "too weak" in result.output and HOW in result.output
    with pytest.raises(ConfigError, match="too weak"):
        create_app(WebSettings(project=PROJECT, data=DEMO, secret="a", now=NOW, outbox=tmp_path))
    with pytest.raises(TokenError, match="too weak"):
        verify("a", mint(NEW, "u1"))
    TALLY["weak"] += 1


# lifetimes ---------------------------------------------------------------------------------------
def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


def test_a_token_lives_one_hour_unless_asked() -> None:
    made = claims(mint(NEW, "u1", now=1_000_000))
    assert made["exp"] - made["iat"] == DEFAULT_TTL == 3600 and made["kid"] == key_id(NEW)
    printed = serve("--token-for", "u1", env={"CLIENTFLOW_API_SECRET": NEW})
    assert printed.exit_code == 0, printed.output
    made = claims(printed.output.strip())
    assert made["exp"] - made["iat"] == 3600


@settings(max_examples=200, derandomize=True)
@given(ttl=st.integers(1, 10**8), at=st.floats(0, 1))
def test_no_token_living_past_the_maximum_is_accepted(ttl: int, at: float) -> None:
    """Even a token the secret's holder signed for longer: its lifetime is checked, not trusted."""
    token = mint(NEW, "u1", ttl=ttl, now=1_000_000, longest=10**9)
    moment = 1_000_000 + at * (ttl - 1)
    if ttl <= MAX_TTL:
        assert verify(NEW, token, now=moment) == "u1"
    else:
        with pytest.raises(TokenError, match="lives longer"):
            verify(NEW, token, now=moment)
    with pytest.raises(TokenError, match="at most"):
        mint(NEW, "u1", ttl=MAX_TTL + ttl)
    TALLY["lifetimes"] += 1


def outcome(secret: str, token: str, now: float, previous: tuple[str, ...], longest: int) -> str:
    try:
        return verify(secret, token, now=now, previous=previous, longest=longest)
    except TokenError as exc:
        return f"refused: {exc}"


@settings(max_examples=200, derandomize=True)
@given(
    ttl=st.integers(1, 3 * MAX_TTL),
    signer=st.sampled_from([NEW, OLD, OTHER]),
    asked=st.lists(
        st.tuples(
            st.sampled_from([NEW, OLD]), st.sampled_from([(), (OLD,), (NEW,), (OTHER, OLD)]), st.floats(-10, 4 * MAX_TTL), st.sampled_from([60, MAX_TTL])
        ),
        min_size=1,
        max_size=6,
    ),
    tamper=st.booleans(),
)
def test_a_token_verified_once_answers_every_later_check_as_a_first_check_would(
    ttl: int, signer: str, asked: list[tuple[str, tuple[str, ...], float, int]], tamper: bool
) -> None:
    """A server remembers what a token's signature said (tokens._VERIFIED); its expiry, lifetime and keys still decide each time."""
    from clientflow import tokens

    token = mint(signer, "u1", ttl=ttl, now=1_000_000, longest=10**9)
    if tamper:
        token = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    for secret, previous, after, longest in asked:
        outcome(secret, token, 1_000_001, previous, 10**9)  # remembered, when its signature holds under these keys
        remembered = outcome(secret, token, 1_000_000 + after, previous, longest)
        tokens._VERIFIED.clear()
        assert remembered == outcome(secret, token, 1_000_000 + after, previous, longest)
        outcome(NEW, token, 1_000_001, (OLD, OTHER), 10**9)  # and under other keys
    assert not any(t == token for t, _ in tokens._VERIFIED) or not tamper  # a refused token is never kept
    TALLY["lifetimes"] += len(asked)


def test_the_maximum_is_configurable_and_bounded(tmp_path: Path) -> None:
    assert serve("--token-for", "u1", "--token-ttl", str(MAX_TTL + 1), env={"CLIENTFLOW_API_SECRET": NEW}).exit_code == 2
    (tmp_path / "clientflow.toml").write_text("[api]\nmax_token_ttl = 172800\ntoken_ttl = 600\n", encoding="utf-8")
    for name in ("flows", "templates", "schema"):
        (tmp_path / name).symlink_to(PROJECT / name)
    result = CliRunner().invoke(cli, ["serve", "--project", str(tmp_path), "--data", str(DEMO), "--token-for", "u1"], env={"CLIENTFLOW_API_SECRET": NEW})
    assert result.exit_code == 0, result.output
    assert claims(result.output.strip())["exp"] - claims(result.output.strip())["iat"] == 600
    longer = CliRunner().invoke(
        cli, ["serve", "--project", str(tmp_path), "--data", str(DEMO), "--token-for", "u1", "--token-ttl", "172800"], env={"CLIENTFLOW_API_SECRET": NEW}
    )
    assert longer.exit_code == 0, longer.output
    (tmp_path / "clientflow.toml").write_text("[api]\nmax_token_ttl = 31536000\n", encoding="utf-8")
    refused = CliRunner().invoke(cli, ["serve", "--project", str(tmp_path), "--data", str(DEMO), "--token-for", "u1"], env={"CLIENTFLOW_API_SECRET": NEW})
    assert refused.exit_code == 1 and "max_token_ttl" in refused.output
    TALLY["lifetimes"] += 3


# rotation ----------------------------------------------------------------------------------------
def app(tmp_path: Path, secret: str, *, preview: bool = False) -> TestClient:
    return TestClient(create_app(WebSettings(project=PROJECT, data=DEMO, secret=secret, now=NOW, outbox=tmp_path / "outbox", preview=preview)))


def status(client: TestClient, token: str) -> int:
    return client.get("/flows", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_secret_is_rotated_with_an_overlap_and_removing_it_revokes_its_tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old_token, other_token = mint(OLD, "u1"), mint(OTHER, "u1")
    with app(tmp_path, OLD) as before:  # 1. the old secret signs
        assert status(before, old_token) == 200
    monkeypatch.setenv("CLIENTFLOW_API_PREVIOUS_SECRETS", OLD)
    with app(tmp_path, NEW) as during:  # 2. the new one signs, the old one is still accepted
        new_token = mint(NEW, "u1")
        assert (status(during, old_token), status(during, new_token), status(during, other_token)) == (200, 200, 401)
        assert "rotated out" in during.get("/flows", headers={"Authorization": f"Bearer {other_token}"}).json()["error"]["message"]
    monkeypatch.delenv("CLIENTFLOW_API_PREVIOUS_SECRETS")
    with app(tmp_path, NEW) as after:  # 3. the old one is removed: its tokens stop at once
        assert (status(after, old_token), status(after, new_token)) == (401, 200)
    TALLY["rotations"] += 3


def test_a_preview_accepts_no_previous_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIENTFLOW_API_PREVIOUS_SECRETS", OLD)
    with app(tmp_path, NEW, preview=True) as preview:
        assert status(preview, mint(OLD, "u1")) == 401 and status(preview, mint(NEW, "u1")) == 401


def test_the_previous_secrets_are_masked_in_the_configuration(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["config", "--project", str(tmp_path), "--format", "json"],
        env={"CLIENTFLOW_API_SECRET": NEW, "CLIENTFLOW_API_PREVIOUS_SECRETS": f"{OLD}, {OTHER}"},
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["api"] == {"secret": "********", "previous_secrets": ["********", "********"]}


# serve prints a token only when asked ---------------------------------------------------------------
def test_serve_prints_no_token_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    started: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.append(app))
    for env in ({"CLIENTFLOW_API_SECRET": NEW}, {}):
        quiet = serve(env=env)
        assert quiet.exit_code == 0, quiet.output
        assert "Bearer" not in quiet.output and "cf1." not in quiet.output and "--actor" in quiet.output
    asked = serve("--actor", "alice@northwind.example", env={"CLIENTFLOW_API_SECRET": NEW})
    assert asked.exit_code == 0, asked.output
    [token] = [line.split("Bearer", 1)[1].strip() for line in asked.output.splitlines() if "Bearer" in line]
    assert verify(NEW, token) == "u1"
    assert len(started) == 3
