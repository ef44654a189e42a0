"""The web app: the JSON API, and in preview mode the preview page, on one FastAPI instance.

`create_app(settings)` opens the engine (or, in preview, watches the project
and reopens it), installs the error handlers that give every failure the API's
JSON shape, and documents the API at /openapi.json.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pluggy
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute

from ..errors import ClientflowError, ConfigError
from ..language.words import subject_names
from ..plugins import plugin_manager
from ..storage import ConflictError
from .errors import ApiError, from_engine
from .routes import AvailabilityThreads, api_router
from .source import EngineSource, WebSettings

RESERVED = {"flow", "run", "answers", "ahead", "subject"}
SETTINGS_ENV = "CLIENTFLOW_SERVE_SETTINGS"  # set by `clientflow serve --workers N` for its worker processes


def create_app(settings: WebSettings, *, plugins: pluggy.PluginManager | None = None) -> FastAPI:
    """The ASGI app serving `settings.project`; `plugins` replaces the process's plugin manager.

    What it opens is its own, closed when the server shuts the app down (its lifespan):
    the engines (their storage connections and notifiers) and /availability's threads.
    """
    source = EngineSource(settings)
    pm = plugins or plugin_manager()
    word, _ = subject_names(settings.project)
    if word in RESERVED:
        word = "subject"
    threads = AvailabilityThreads()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            threads.shutdown()
            source.close()

    app = FastAPI(
        lifespan=lifespan,
        title="clientflow",
        version="1",
        summary="Drive the project's flows one screen per request: availability, runs, plans and commits.",
        description='Authenticate with `Authorization: Bearer <token>`. Errors answer `{"error": {"code", "message"}}` with a stable code.',
    )
    app.state.source = source
    first: list[BaseRoute] = []
    app.include_router(api_router(source, pm, word, first, threads))
    app.router.routes[:0] = first  # served ahead of the router: see api_router
    if settings.preview:
        from .preview import preview_router  # the preview's routes (~2 ms) only for `serve --preview`

        app.include_router(preview_router(source, word))
    install_errors(app, source)
    document_errors(app)
    return app


def from_environment() -> FastAPI:
    """The app of one worker process of `clientflow serve --workers N` (uvicorn's factory), from the settings its parent left in SETTINGS_ENV."""
    text = os.environ.get(SETTINGS_ENV)
    if not text:
        raise ConfigError(f"{SETTINGS_ENV} is not set: worker processes are started by `clientflow serve --workers N`")
    return create_app(WebSettings.from_text(text))


def install_errors(app: FastAPI, source: EngineSource) -> None:
    """Every failure answers the error shape; nothing a caller sends yields a 500."""

    def entities() -> tuple[str, str]:
        try:
            project = source.engine().project
        except ClientflowError:
            return "subject", "actor"
        return project.subject_entity, project.actor_entity

    def answer(error: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(error.to_json(), status_code=error.status, headers=headers)

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return answer(exc)

    async def engine_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ClientflowError)
        subject, actor = entities()
        return answer(from_engine(exc, subject_entity=subject, actor_entity=actor))

    async def conflict(request: Request, exc: Exception) -> JSONResponse:
        return answer(ApiError("conflict", f"{exc}; nothing was applied. Start again to see what is true now"))

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        parts = []
        for item in exc.errors()[:5]:
            where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            if item.get("type") == "json_invalid":  # its loc: ("body", offset), its msg only "JSON decode error"
                at = item.get("loc", ("body", None))[-1]
                why = (item.get("ctx") or {}).get("error")
                parts.append(f"the body is not valid JSON{f' ({why})' if why else ''}{f' at character {at}' if isinstance(at, int) else ''}")
                continue
            if not where and item.get("type") == "missing":  # no body at all: pydantic says "request: Field required"
                parts.append(f"{request.method} {request.url.path} needs a JSON body (Content-Type: application/json); /openapi.json gives its shape")
                continue
            parts.append(f"{where or 'request'}: {item.get('msg', 'invalid')}")
        return answer(ApiError("bad_request", "; ".join(parts) or "the request is not valid"))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        message = {404: f"no such endpoint: {request.url.path}; see /openapi.json", 405: f"{request.method} is not allowed on {request.url.path}"}
        return answer(ApiError(code, message.get(exc.status_code, str(exc.detail))), headers=dict(exc.headers or {}))

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        return answer(ApiError("internal", f"the server failed: {type(exc).__name__}; the log has the details"))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(ClientflowError, engine_error)
    app.add_exception_handler(ConflictError, conflict)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, internal)


def document_errors(app: FastAPI) -> None:
    """Drop FastAPI's default 422 validation responses: bad requests answer 400 with the error shape."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    for status, response in list(operation.get("responses", {}).items()):
                        if "HTTPValidationError" in str(response):
                            del operation["responses"][status]
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
