"""Who a request acts as: signed tokens, the pluggable resolve hook, and `clientflow serve` itself."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pluggy
import pytest
from click.testing import CliRunner
from conftest import DEMO, NOW, PROJECT

pytest.importorskip("fastapi", reason="the web extra is part of the test extra: pip install -e '.[test]'")
from fastapi.testclient import TestClient  # noqa: E402
from test_api import SECRET, bearer, error_of  # noqa: E402

from clientflow import tokens  # noqa: E402
from clientflow.cli import cli  # noqa: E402
from clientflow.default_plugins.tokens import TokenPlugin  # noqa: E402
from clientflow.hookspecs import hookimpl  # noqa: E402
from clientflow.plugins import load_plugins  # noqa: E402
from clientflow.tokens import PREFIX, TokenError, mint, verify  # noqa: E402
from clientflow.web import WebSettings, create_app  # noqa: E402


# tokens ----------------------------------------------------------------------------------------
def test_a_minted_token_names_its_actor_until_it_expires() -> None:
    token = mint(SECRET, "u1", ttl=60, now=1_000_000)
    assert token.startswith(f"{PREFIX}.") and token.count(".") == 2
    assert verify(SECRET, token, now=1_000_059) == "u1"
    with pytest.raises(TokenError, match="expired"):
        verify(SECRET, token, now=1_000_060)


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "signature"),
        (lambda t: "cf2" + t[3:], "not one this server issued"),
        (lambda t: t.replace(".", "", 1), "not one this server issued"),
        (lambda t: t + "x" * 5000, "not one this server issued"),
        (lambda t: t + "é", "not one this server issued"),
        (lambda t: t.split(".")[0] + ".e30." + t.split(".")[2], "signature"),
    ],
    ids=["signature", "prefix", "shape", "length", "non-ascii", "payload-swap"],
)
def test_a_tampered_token_is_refused(mangle: Any, reason: str) -> None:
    with pytest.raises(TokenError, match=reason):
        verify(SECRET, mangle(mint(SECRET, "u1")))


def test_a_token_signed_over_a_payload_without_actor_is_refused() -> None:
    import base64
    import hashlib
    import hmac

    payload = base64.urlsafe_b64encode(b'{"exp": 99999999999}').rstrip(b"=").decode()
    signed = f"{PREFIX}.{payload}"
    signature = base64.urlsafe_b64encode(hmac.new(SECRET.encode(), signed.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    with pytest.raises(TokenError, match="lacks an actor"):
        verify(SECRET, f"{signed}.{signature}")


def test_no_secret_no_token() -> None:
    with pytest.raises(TokenError, match="no API secret"):
        mint("", "u1")
    with pytest.raises(TokenError, match="no API secret"):
        verify("", mint(SECRET, "u1"))


def test_bearer_reads_only_the_bearer_scheme() -> None:
    assert tokens.bearer({"authorization": "Bearer abc"}) == "abc"
    assert tokens.bearer({"authorization": "bearer  abc "}) == "abc"
    assert tokens.bearer({"authorization": "Basic abc"}) is None
    assert tokens.bearer({}) is None


def test_the_token_plugin_resolves_or_declines() -> None:
    class Request:
        def __init__(self, headers: dict[str, str]) -> None:
            self.headers = headers
            self.state = type("State", (), {})()

    plugin = TokenPlugin()
    assert plugin.clientflow_resolve_actor(Request({"authorization": f"Bearer {mint(SECRET, 'u2')}"}), {"secret": SECRET}) == "u2"
    expired = Request({"authorization": f"Bearer {mint(SECRET, 'u2', ttl=-1)}"})
    assert plugin.clientflow_resolve_actor(expired, {"secret": SECRET}) is None
    assert "expired" in expired.state.auth_problem
    assert plugin.clientflow_resolve_actor(Request({}), {"secret": SECRET}) is None


# the hook is pluggable -------------------------------------------------------------------------
class HeaderActor:
    """A stand-in for a single-sign-on plugin: trusts a header set by a gateway."""

    @hookimpl(tryfirst=True)
    def clientflow_resolve_actor(self, request: Any, settings: dict[str, Any]) -> str | None:
        return request.headers.get("x-gateway-user")


def test_another_plugin_can_say_who_the_actor_is(tmp_path: Path) -> None:
    pm = load_plugins(pluggy.PluginManager("clientflow"))
    pm.register(HeaderActor(), name="gateway")
    app = create_app(WebSettings(project=PROJECT, data=DEMO, secret=SECRET, now=NOW, outbox=tmp_path), plugins=pm)
    with TestClient(app) as api:
        body = api.get("/availability", params={"client": "c1"}, headers={"X-Gateway-User": "sam@northwind.example"}).json()
        assert body["actor"] == "u2"
        assert api.get("/flows", headers=bearer("u1")).status_code == 200  # tokens still work: the gateway declined
        error_of(api.get("/flows"), 401, "unauthenticated")


# clientflow serve ------------------------------------------------------------------------------
def run_cli(*args: str, secret: str | None = SECRET) -> Any:
    env = {"CLIENTFLOW_API_SECRET": secret or ""}
    return CliRunner().invoke(cli, ["serve", "--project", str(PROJECT), "--data", str(DEMO), *args], env=env)


def test_token_for_prints_a_token_the_server_accepts() -> None:
    result = run_cli("--token-for", "alice@northwind.example", "--token-ttl", "120")
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert verify(SECRET, token) == "u1"


def test_token_for_needs_a_secret_and_a_known_actor() -> None:
    result = run_cli("--token-for", "u1", secret=None)
    assert result.exit_code == 2 and "CLIENTFLOW_API_SECRET" in result.output
    assert "under [api] in clientflow.toml" in result.output  # the table `clientflow new` writes
    result = run_cli("--token-for", "alice@northwind.exampel")
    assert result.exit_code == 1 and "alice@northwind.example" in result.output


def test_preview_needs_a_data_file() -> None:
    result = CliRunner().invoke(cli, ["serve", "--project", str(PROJECT), "--preview"])
    assert result.exit_code == 2 and "--data" in result.output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, seconds: float = 30.0) -> None:
    """Poll `url` until it answers (at most `seconds`, at most 300 tries)."""
    deadline = time.monotonic() + seconds
    for _ in range(300):
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - a local URL
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def test_clientflow_serve_answers_with_its_demo_token(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "CLIENTFLOW_API_SECRET": SECRET, "CLIENTFLOW_OUTBOX": str(tmp_path / "outbox"), "PYTHONUNBUFFERED": "1"}
    serve = ["serve", "--project", str(PROJECT), "--data", str(DEMO), "--port", str(port), "--actor", "u1"]  # a token is printed only when asked
    command = [sys.executable, "-c", "from clientflow.cli import main; main()", *serve]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/openapi.json")
        assert process.stdout is not None
        printed = [process.stdout.readline() for _ in range(4)]
        token = next(line for line in printed if "Authorization: Bearer" in line).split("Bearer", 1)[1].strip()
        assert verify(SECRET, token) == "u1"
        request = urllib.request.Request(f"{base}/flows", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - a local URL
            assert "disconnect-client" in {f["flow"] for f in json.load(response)["flows"]}
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/flows", timeout=5)  # noqa: S310 - a local URL
        assert refused.value.code == 401 and json.load(refused.value)["error"]["code"] == "unauthenticated"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_token_for_reads_the_actor_from_a_database(tmp_path: Path) -> None:
    from clientflow import Engine

    db = tmp_path / "clientflow.db"
    with Engine.open(PROJECT, db=db, notifiers={}) as engine:
        engine.load_data(DEMO)
    result = CliRunner().invoke(
        cli, ["serve", "--project", str(PROJECT), "--db", str(db), "--token-for", "hana@harbor.example"], env={"CLIENTFLOW_API_SECRET": SECRET}
    )
    assert result.exit_code == 0, result.output
    assert verify(SECRET, result.output.strip()) == "u3"
    missing = CliRunner().invoke(
        cli, ["serve", "--project", str(PROJECT), "--db", str(tmp_path / "none.db"), "--token-for", "u3"], env={"CLIENTFLOW_API_SECRET": SECRET}
    )
    assert missing.exit_code != 0 and not (tmp_path / "none.db").exists()
