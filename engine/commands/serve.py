"""serve: the HTTP JSON API (and with --preview, the flow preview page) on uvicorn."""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ..config import is_database_url
from ..errors import ClientflowError, ConfigError
from ..tokens import TokenError, check_settings, default_ttl, max_ttl, mint
from .common import command, data_options, now_option, open_engine, project_option

LOCAL = ("127.0.0.1", "localhost", "::1")


def _duration(seconds: int) -> str:
    return f"{seconds // 3600} h" if seconds >= 3600 else f"{seconds} s"


@command()
@project_option
@data_options
@now_option
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="The port to listen on.")
@click.option("--preview", is_flag=True, help="Serve the preview page at /preview too (dry-run only; needs --data).")
@click.option("--token-for", "token_for", metavar="ACTOR", help="Print a bearer token for ACTOR (id or another key) and exit.")
@click.option("--actor", "demo_actor", metavar="ACTOR", help="Also print a bearer token for ACTOR when the server starts (none is printed unless asked).")
@click.option(
    "--token-ttl",
    "ttl",
    type=click.IntRange(1, None),
    help="Seconds a printed token stays valid (default api.token_ttl, 1 h; at most api.max_token_ttl, 1 day).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, None),
    default=1,
    show_default=True,
    help="Processes serving requests (uvicorn's workers). They share the database, so more than one needs --db or a configured database, not --data or --preview.",
)
def serve(
    project: Path, data: Path | None, db: Path | None, now: datetime | None, host: str, port: int,
    preview: bool, token_for: str | None, demo_actor: str | None, ttl: int | None, workers: int,
) -> None:  # fmt: skip
    """Serve the JSON API (OpenAPI at /openapi.json, docs at /docs) and, with --preview, the preview page.

    Requests authenticate with `Authorization: Bearer TOKEN`; tokens are signed
    with api.secret (CLIENTFLOW_API_SECRET), which every API process serving the
    same storage must share; it must hold 32 random bytes (a weaker one is
    refused), and api.previous_secrets are still accepted while rotating. No
    token is printed unless asked (--token-for ACTOR, or --actor ACTOR at
    start). Without a secret, a random one is made for this process and a token
    printed at start works only until it stops. A preview signs with a key of
    its own, so its tokens never open a real server.
    """
    try:
        import uvicorn  # the server (~60 ms) only for serve, and without the web extra it is advice, not a failure at start

        # the web app (FastAPI, pydantic: ~300 ms) only for serve, and only with the web extra installed
        from ..web import WebSettings, create_app
        from ..web.app import SETTINGS_ENV, from_environment
        from ..web.auth import find_actor
    except ImportError as exc:
        raise click.UsageError(f"serve needs the web extra: pip install 'clientflow[web]' ({exc.name} is missing)") from exc

    if preview and data is None:
        raise click.UsageError("--preview dry-runs a data file: give --data FILE")
    if workers > 1 and (preview or data is not None):
        raise click.UsageError(
            f"--workers {workers} needs a database the processes share (--db); {'--preview' if preview else '--data'} keeps runs in each process's memory"
        )
    engine = open_engine(project, data, db, now)
    if workers > 1 and engine.storage.name == "memory":
        engine.close()
        raise click.UsageError(f"--workers {workers} needs a database the processes share (--db); the memory storage is each process's own")
    configured = str(engine.config.api.get("secret") or "")
    try:
        check_settings(engine.config.api)
        lifetime, longest = default_ttl(engine.config.api) if ttl is None else ttl, max_ttl(engine.config.api)
    except TokenError as exc:
        engine.close()
        raise ConfigError(str(exc)) from exc
    if lifetime > longest:
        engine.close()
        raise click.UsageError(f"--token-ttl {lifetime} is longer than tokens may live ({longest} s, api.max_token_ttl); ask for less")
    if token_for is not None:
        if not configured:
            raise click.UsageError(
                "no API secret is configured, so no server would accept a token: set CLIENTFLOW_API_SECRET, or `secret` under [api] in clientflow.toml ([tool.clientflow.api] in pyproject.toml)"
            )
        click.echo(mint(configured, find_actor(engine, token_for), ttl=lifetime, longest=longest))
        return
    actor = find_actor(engine, demo_actor) if demo_actor else None
    engine.close()
    data = data.expanduser().absolute() if data is not None else None
    where = db if db is None or is_database_url(db) else Path(db).expanduser().absolute()
    settings = WebSettings(project=project, data=data, db=where, preview=preview, secret=configured or secrets.token_urlsafe(32), now=now)
    target: Any  # the app, or for worker processes the import name of its factory
    if workers == 1:
        app = create_app(settings)
        key, target = app.state.source.secret(), app
    else:
        # Each worker builds its own app (uvicorn's factory) from these settings, so that all of them
        # check tokens with the same key, this process's random one included.
        os.environ[SETTINGS_ENV] = settings.to_text()
        key, target = str(settings.secret), f"{from_environment.__module__}:{from_environment.__name__}"
    base = f"http://{host}:{port}"
    click.echo(f"clientflow API on {base}  (OpenAPI: {base}/openapi.json, docs: {base}/docs)")
    if workers > 1:
        click.echo(f"{workers} worker processes share {engine.storage_description()}.")
    if preview:
        click.echo(f"Preview: {base}/preview  (dry-run only, commits refused; reloads when a flow, template or the data file changes)")
        if host not in LOCAL:
            click.echo(f"Warning: the preview lets whoever reaches {host} act as anyone in {data} (in memory, dry-run only).", err=True)
    elif not configured:
        click.echo("No API secret is configured: tokens are signed with a key of this process only.")
    if actor is not None:
        token = mint(key, actor, ttl=lifetime, longest=longest)
        click.echo(f"Token for {actor}, valid {_duration(lifetime)}:\n  Authorization: Bearer {token}")
    elif configured and not preview:
        click.echo("No token printed: mint one with `clientflow serve --token-for ACTOR`, or start with --actor ACTOR.")
    else:
        click.echo("No token printed: start with --actor ACTOR to print one that this process accepts.")
    try:
        uvicorn.run(target, host=host, port=port, log_level="info", workers=workers, factory=workers > 1)
    except SystemExit as exc:  # uvicorn's startup failure exits 3, which would read as "blocked by a rule"
        if exc.code in (None, 0):
            raise
        raise ClientflowError(
            f"the server could not start on {host}:{port} (uvicorn's message above says why: an address in use, a port this user may not take); "
            "choose another --port or --host"
        ) from None
