"""The preview: a page that walks a flow through the API as a user would, on a data file.

Served only by `clientflow serve --preview --data FILE`. The page asks
/preview/context for the flows, actors and subjects, mints a token for the
actor it plays (signed with a key of this process only), drives the ordinary
API, and polls /preview/version to reload when a watched file changes.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from ..api import Engine
from ..errors import ClientflowError
from ..language.model import Entity
from ..tokens import mint
from .auth import actor_id
from .errors import ApiError, problem_list
from .source import EngineSource

STATIC = Path(__file__).parent / "static"
ASSETS = {"preview.js": "text/javascript", "preview.css": "text/css"}
MAX_LISTED = 500  # records offered in each picker


class TokenRequest(BaseModel):
    actor: str = Field(min_length=1, max_length=500)


def _label(entity: Entity, record: dict[str, Any]) -> str:
    shown = str(record.get(entity.label) or record.get("id"))
    name = record.get("name")
    if entity.label != "name" and isinstance(name, str) and name and name != shown:
        return f"{name} <{shown}>"
    return shown


def records(engine: Engine, entity_name: str, limit: int = MAX_LISTED) -> list[dict[str, str]]:
    """Up to `limit` records of an entity as {id, label}; a nested record names its holder too."""
    project = engine.project
    entity = project.entities[entity_name]
    out: list[dict[str, str]] = []
    with engine.storage.transaction() as tx:
        if entity.collection:
            for doc in tx.scan(entity.collection):
                if len(out) >= limit:
                    break
                out.append({"id": str(doc.body.get("id", doc.id)), "label": _label(entity, doc.body)})
            return out
        for holder in (project.entities[name] for name in entity.nested_in):
            for doc in tx.scan(holder.collection or ""):
                for item in doc.body.get(entity.nested_key or "", []) or []:
                    if len(out) >= limit:
                        return out
                    if isinstance(item, dict) and item.get("id") is not None:
                        out.append({"id": str(item["id"]), "label": f"{_label(entity, item)} · {_label(holder, doc.body)}"})
    return out


def compared(source: EngineSource, base: str) -> dict[str, Any]:
    """The review of the working files against `base` (a git revision), grouped as `clientflow diff` prints it."""
    # the review (~25 ms: the differ, the scenario runner) only when the preview compares with a base
    from ..review import review
    from ..review.report import groups

    if not base.strip() or len(base) > 200 or base.startswith("-"):
        raise ApiError("bad_request", "name a git revision to compare with, such as HEAD or main")
    settings = source.settings
    with tempfile.TemporaryDirectory(prefix="clientflow-compare-") as scratch:
        try:
            found = review(settings.project, base, None, scratch=Path(scratch), now=settings.now or datetime.now(UTC), data=settings.data, scenarios=False)
        except ClientflowError as exc:
            raise ApiError("bad_request", str(exc)) from exc
        document = found.to_json()
        document["summary"] = [{"flow": g.flow, "sentence": g.sentence, "pairs": len(g.pairs)} for g in groups(found)]
        return document


def preview_router(source: EngineSource, word: str) -> APIRouter:
    """The page, its assets, the reload signal and the preview's own token endpoint."""
    router = APIRouter(prefix="/preview", include_in_schema=False)

    @router.get("")
    def page() -> HTMLResponse:
        return HTMLResponse((STATIC / "preview.html").read_text(encoding="utf-8"), headers={"Cache-Control": "no-store"})

    @router.get("/assets/{name}")
    def asset(name: str) -> FileResponse:
        if name not in ASSETS:
            raise ApiError("not_found", f"no preview asset {name!r}")
        return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-store"})

    @router.get("/version")
    def version() -> JSONResponse:
        current = source.refresh()
        return JSONResponse({"version": current, "problems": problem_list(source.problems)}, headers={"Cache-Control": "no-store"})

    @router.get("/context")
    def context() -> JSONResponse:
        current = source.refresh()
        problems = source.problems
        document: dict[str, Any] = {"version": current, "problems": problem_list(problems), "subject": {"entity": word}}
        if problems:
            return JSONResponse(document)
        engine = source.engine()
        project = engine.project
        document.update(
            product=project.product,
            subject={"entity": project.subject_entity},
            actor={"entity": project.actor_entity},
            flows=[{"flow": f.id, "title": f.title, "summary": f.summary} for f in project.flows.values()],
            locales=list(project.locales),  # the language picker's choices (the first: the flows' own); none: no picker
            actors=records(engine, project.actor_entity),
            subjects=records(engine, project.subject_entity),
        )
        return JSONResponse(document)

    @router.get("/compare")
    def compare(base: str = "HEAD") -> JSONResponse:
        """What the working files change against a git revision: the review of `clientflow diff BASE`, on the preview's data."""
        return JSONResponse(compared(source, base), headers={"Cache-Control": "no-store"})

    @router.post("/token")
    def token(body: TokenRequest) -> JSONResponse:

        engine = source.engine()
        return JSONResponse({"token": mint(source.secret(), actor_id(engine, body.actor), ttl=3600)})

    return router
