"""The JSON API: flows, availability, and a run driven one request per screen.

Each route authenticates the caller, checks that a run is the caller's own and
still open where that matters, calls one `Engine` method and answers with its
`to_json()`. Runs live in the engine's storage, so any process serves any run.
A subject outside the caller's reach answers exactly as a name that does not
exist (404 `unknown_subject`, the same bytes), whether named by id or otherwise,
and a run on such a subject as a run that does not exist (404 `run_not_found`).
"""

# No `from __future__ import annotations` here: FastAPI reads the annotations of the
# routes below at run time, and they name types built inside `api_router`.
import asyncio
import contextvars
import json
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import pluggy
from fastapi import APIRouter, Depends, Path, Query, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..api import Engine, RunView, own_locale
from ..conditions.translations import canonical, reader_tag
from ..errors import ClientflowError, NotTheStarter, RunNotFound, UnknownName
from ..language.catalogs import fallback
from ..runtime.approvals import APPROVERS_RULE
from ..runtime.core import CHANGED_RULE
from ..runtime.plan import Plan
from ..runtime.views import Availability
from . import models
from .auth import actor_id, authenticate
from .errors import CODES, ApiError
from .source import POOL, EngineSource

FINISHED = ("completed", "cancelled", "blocked", "rejected", "expired")
bearer_scheme = HTTPBearer(auto_error=False, description="A token signed with the API secret (`clientflow serve --token-for ACTOR`).")


@dataclass
class Caller:
    """The engine serving this request and the id of the actor it is authenticated as."""

    engine: Engine
    actor: str
    locale: str | None = None  # the language its screens are shown in (None: the flows' own)


@dataclass
class RunRecord:
    """The stored state of a run, as far as the API checks it before the engine acts."""

    id: str
    flow: str
    status: str


def responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for error codes, grouped by their HTTP status."""
    by_status: dict[int, list[str]] = {}
    for code in ("bad_request", "unauthenticated", "unknown_actor", "project_invalid", *codes):
        by_status.setdefault(CODES[code], []).append(code)
    return {status: {"model": models.ErrorBody, "description": "Error codes: " + ", ".join(sorted(set(names)))} for status, names in by_status.items()}


def reply(document: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(document, status_code=status)


JSON = "application/json"
JSON_HEADER = (b"content-type", JSON.encode())
# JSONResponse's rendering (`JSONResponse.render`), made once rather than for each document.
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode
_string = json.encoder.encode_basestring  # what that encoder writes a str with (ensure_ascii=False)


def _value(value: Any) -> str:
    if type(value) is str:
        return _string(value)
    if type(value) is bool:
        return "true" if value else "false"
    return _encode(value)


def availability_body(result: Availability) -> bytes:
    """`JSONResponse(result.to_json()).body`, byte for byte, written directly (no document made, then walked).

    The busiest answer of the API: its strings written as the encoder writes them, anything but a str or a bool
    by the encoder itself (a reason's dict whose keys are not all str too, as the encoder turns such keys into text).
    """
    parts = ['{"actor":', _value(result.actor), ',"subject":', _value(result.subject), ',"flows":[']
    comma = ""
    for flow in result.flows:
        parts += [comma, '{"flow":', _value(flow.flow), ',"title":', _value(flow.title), ',"available":', _value(flow.available), ',"reasons":[']
        between = ""
        for reason in flow.reasons:
            if type(reason) is dict and all(type(key) is str for key in reason):
                parts += [between, "{", ",".join([_string(key) + ":" + _value(item) for key, item in reason.items()]), "}"]
            else:
                parts += [between, _encode(reason)]
            between = ","
        parts.append("]}")
        comma = ","
    parts.append("]}")
    return "".join(parts).encode("utf-8")


_T = TypeVar("_T")
_R = TypeVar("_R")
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", contextvars.Context, Callable[[Any], Any], Any]


class AvailabilityThreads:
    """The threads GET /availability is answered in: as many as the engines a process leases (POOL).

    Started when first used, stopped with the app (its lifespan), and started again should the app serve again.
    A request puts its work on their queue and awaits a future of its event loop, which the thread that did the
    work settles through the loop (`call_soon_threadsafe`): asyncio's `run_in_executor` over a ThreadPoolExecutor
    does the same with a concurrent future (its lock, condition and callbacks) chained to the asyncio one, about
    twice the CPU per hop (8 at once, a trivial function; figures below, at the route).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job | None] | None = None
        self._threads: list[threading.Thread] = []

    def run(self, work: Callable[[_T], _R], given: _T) -> asyncio.Future[_R]:
        """`work(given)` in one of the threads, with the caller's context variables; the future of its result (or error)."""
        jobs = self._jobs or self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_R] = loop.create_future()
        jobs.put((loop, future, contextvars.copy_context(), work, given))
        return future

    def _start(self) -> queue.SimpleQueue[_Job | None]:
        with self._lock:
            if self._jobs is None:
                jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
                # Daemons: what they do is read-only, and an app never shut down must not keep its process from exiting.
                self._threads = [threading.Thread(target=_serve, args=(jobs,), name=f"clientflow-availability_{i}", daemon=True) for i in range(POOL)]
                for thread in self._threads:
                    thread.start()
                self._jobs = jobs
            return self._jobs

    def shutdown(self) -> None:
        """Stop the threads once the work already given them is done."""
        with self._lock:
            jobs, threads, self._jobs, self._threads = self._jobs, self._threads, None, []
        if jobs is not None:
            for _ in threads:
                jobs.put(None)
            for thread in threads:
                thread.join()


def _serve(jobs: queue.SimpleQueue[_Job | None]) -> None:
    """A thread of AvailabilityThreads: each job in turn, until told to stop (None)."""
    while (job := jobs.get()) is not None:
        _do(*job)
        del job  # nothing of a request kept while the thread waits for the next


def _do(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], context: contextvars.Context, work: Callable[[Any], Any], given: Any) -> None:
    if future.cancelled():  # its request is gone (read across threads: at worst the work is done for nothing)
        return
    try:
        result, error = context.run(work, given), None
    except BaseException as exc:  # noqa: BLE001 - handed to the request, as an executor hands it
        result, error = None, exc
    try:
        loop.call_soon_threadsafe(_settle, future, result, error)
    except RuntimeError:  # the loop closed meanwhile: nobody waits for it
        pass
    finally:
        del future, result, error  # an error's traceback holds this frame: its cycle broken here, not left to the collector


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        if type(error) is StopIteration:  # which a future refuses (TypeError, left in the loop's log: the request would hang)
            wrapped = RuntimeError("the work raised StopIteration")  # as a coroutine's StopIteration becomes (PEP 479)
            wrapped.__cause__ = error
            error = wrapped
        future.set_exception(error)
    else:
        future.set_result(result)


def api_router(source: EngineSource, pm: pluggy.PluginManager, word: str, first: list[BaseRoute], threads: AvailabilityThreads) -> APIRouter:
    """The API's routes; `word` is the project's name for its subject (e.g. the query parameter).

    `first` receives the routes the app serves ahead of the router (undocumented: each answers
    as a documented route of the router does, only sooner); `threads` is the pool /availability's
    handler runs in (the app's own, shut down with it).
    """
    router = APIRouter()
    try:
        locales = list(source.engine().project.locales)
    except ClientflowError:  # a preview whose project does not load yet
        locales = []
    # `?locale=`: declared on every route that reads it (all that take the caller, and /availability), so that the
    # OpenAPI document shows it with the project's locales; `reading_locale` reads it from the request. A project in
    # one language offers none to choose (any value is a bad_request), so there it is left out of the document.
    LocaleQuery = Annotated[  # noqa: N806 - a type alias, named like one
        str | None,
        Query(
            alias="locale",
            description=(
                "The language to answer in: one of the project's locales (a regional tag such as `fr-CA` falls back to `fr`). "
                "It wins over the actor's own locale and Accept-Language; a locale the project does not offer is a bad_request."
            ),
            json_schema_extra={"enum": locales},
            include_in_schema=bool(locales),
        ),
    ]

    def caller(request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)], _locale: LocaleQuery = None) -> Caller:
        engine = source.engine()
        name = authenticate(request, pm, source.auth_settings())
        actor = actor_id(engine, name)
        return Caller(engine, actor, reading_locale(engine, actor, request))

    @contextmanager
    def served(who: Caller) -> Iterator[Caller]:
        """The caller with an engine of its own for the request's work: a database connection no other request holds meanwhile."""
        with source.lease() as engine:
            yield Caller(engine.in_locale(who.locale) if who.locale else engine, who.actor, who.locale)

    Who = Annotated[Caller, Depends(caller)]  # noqa: N806 - a type alias, named like one
    RunId = Annotated[str, Path(min_length=1, max_length=200, description="The run's id, as starting it answered.")]  # noqa: N806

    def own_run(who: Caller, run: str, *, open_only: bool = False) -> RunRecord:
        """The caller's own run, or the error that answers every run route: the engine decides who may be told of it."""
        try:
            data = who.engine.run_for(run, who.actor)
        except RunNotFound as exc:  # none, or outside the caller's reach: the same answer, word for word
            raise ApiError("run_not_found", str(exc)) from None
        except NotTheStarter as exc:
            raise ApiError("forbidden", str(exc)) from None
        record = RunRecord(run, str(data.get("flow")), str(data.get("status")))
        if open_only and record.status in FINISHED:
            raise ApiError("run_finished", f"run {run!r} is {record.status} and cannot change any more; start the flow again")
        if open_only and record.status == "awaiting_approval":
            raise ApiError("awaiting_approval", f"run {run!r} awaits approval by someone else; it changes when it is approved, rejected or expires")
        flow = who.engine.project.flows.get(record.flow)
        if flow is None or (flow.version != data.get("version") and record.status not in FINISHED):
            now = "no longer exists" if flow is None else f"changed since run {run!r} started"
            raise ApiError("flow_changed", f"the flow {record.flow} {now}; start it again to see the current screens")
        return record

    def view_reply(view: RunView, *, ahead: bool, status: int = 200) -> JSONResponse:
        document = view.to_json()
        if view.status == "blocked":
            raise ApiError(
                "blocked", "the rules do not allow this: " + " ".join(b["message"] for b in view.blocked_by), blocked_by=view.blocked_by, run=document
            )
        if view.status == "invalid":
            raise ApiError("invalid_answers", "; ".join(e["message"] for e in view.errors) or "invalid answers", errors=view.errors, run=document)
        if view.status == "needs_input" and not ahead:
            fields = ", ".join(n["field"] for n in view.needs)
            raise ApiError("needs_input", f"this screen needs an answer for {fields}", needs=view.needs, run=document)
        return reply(document, status)

    @router.get("/flows", response_model=models.FlowList, responses=responses(), tags=["flows"], summary="List the project's flows")
    def list_flows(who: Who) -> JSONResponse:
        engine = who.engine.in_locale(who.locale) if who.locale else who.engine  # titles and summaries in the reader's words
        flows = [{"flow": f.id, "title": f.title, "summary": f.summary} for f in engine.project.flows.values()]
        return reply({"flows": flows})

    @router.get(
        "/availability", response_model=models.Availability, responses=responses("unknown_subject"), tags=["flows"],
        summary=f"Which flows are offered on a {word}, and why not",
        openapi_extra={"parameters": [{
            "name": word, "in": "query", "required": True, "schema": {"type": "string", "minLength": 1},
            "description": f"The {word}'s id or another key it may be named by (`subject` is accepted too).",
        }]},
    )  # fmt: skip
    def availability(
        request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)], _locale: LocaleQuery = None
    ) -> Response:
        return Response(answer_availability(request), media_type=JSON)  # served by `first` below; this route documents it (and answers alike)

    def answer_availability(request: Request) -> bytes:
        """The body of a 200 answer to GET /availability (as JSONResponse renders it); errors are raised."""
        # Authenticated here rather than by `caller`: nothing else is validated before it on this route, and the busiest
        # route then makes one transaction (not two) in one worker thread (not two).
        with source.lease() as engine:
            name = authenticate(request, pm, source.auth_settings())
            # Read by hand: OpenAPI cannot say "this parameter or its alias", so only the project's word is documented.
            subject = request.query_params.get(word) or request.query_params.get("subject")
            if not subject:
                actor_id(engine, name)  # an unknown actor is refused first, as on every route
                raise ApiError("bad_request", f"name the {word}: ?{word}=ID")
            # The language: `?locale=` when asked; else the actor's own or Accept-Language's, chosen by `Engine.available`
            # from the actor's record as it reads it (one transaction, where `reading_locale` would read the record in another).
            asked, chosen = request.query_params.get("locale"), None
            if asked:
                chosen = asked_locale(engine, asked)
            choose = None if asked or len(engine.project.locales) < 2 else (lambda actor: own_or_accepted(engine, own_locale(actor), request))
            try:
                asking = engine.in_locale(chosen) if chosen else engine
                result = asking.available(name, subject, locale=choose)  # the actor found first, by the keys `actor_id` uses
            except UnknownName as exc:
                if exc.what == engine.project.actor_entity:
                    actor_id(engine, name)  # the actor is unknown: its own error, worded as on every route
                raise
            if result.outside_reach:
                raise unreachable(engine, subject)
            return availability_body(result)

    start_body = models.start_model(word)
    try:
        flow_ids = list(source.engine().project.flows)[:10]
    except ClientflowError:  # a preview whose project does not load yet
        flow_ids = []
    FlowId = Annotated[str, Path(min_length=1, max_length=200, description="The flow's id (GET /flows lists them).", examples=flow_ids)]  # noqa: N806

    @router.post(
        "/flows/{flow}/runs", status_code=201, response_model=models.RunView, tags=["runs"], summary="Start a run",
        responses=responses("unknown_flow", "unknown_subject", "blocked", "invalid_answers"),
    )  # fmt: skip
    def start(who: Who, flow: FlowId, body: start_body) -> JSONResponse:  # type: ignore[valid-type]
        if not models.start_subject(body):
            raise ApiError("bad_request", f'name the {word}: {{"{word}": ID}}')
        with served(who) as me:
            view = me.engine.start(flow, me.actor, models.start_subject(body), body.answers)  # type: ignore[attr-defined]
        if view.outside_reach:  # the attempt is in the audit log; the caller learns no more than of a name that is not there
            raise unreachable(who.engine, models.start_subject(body))
        return view_reply(view, ahead=True, status=201)

    run_errors = ("run_not_found", "forbidden", "flow_changed")

    @router.get("/runs/{run}", response_model=models.RunView, responses=responses(*run_errors), tags=["runs"], summary="The run's current screen")
    def view(who: Who, run: RunId) -> JSONResponse:
        with served(who) as me:
            own_run(me, run)
            return reply(me.engine.view(run).to_json())

    @router.post(
        "/runs/{run}/answers", response_model=models.RunView, tags=["runs"], summary="Answer the current screen (or several, with ahead)",
        responses=responses(*run_errors, "run_finished", "run_ready", "invalid_answers", "needs_input"),
    )  # fmt: skip
    def submit(who: Who, run: RunId, body: models.Answers) -> JSONResponse:
        with served(who) as me:
            if own_run(me, run, open_only=True).status == "ready":
                raise ApiError("run_ready", f"run {run!r} has answered every screen; commit it, go back, or cancel it")
            return view_reply(me.engine.submit(run, body.answers, ahead=body.ahead), ahead=body.ahead)

    @router.post(
        "/runs/{run}/back", response_model=models.RunView, tags=["runs"], summary="Go back one screen",
        responses=responses(*run_errors, "run_finished"),
    )  # fmt: skip
    def back(who: Who, run: RunId) -> JSONResponse:
        with served(who) as me:
            own_run(me, run, open_only=True)
            return reply(me.engine.back(run).to_json())

    @router.post(
        "/runs/{run}/cancel", response_model=models.RunView, tags=["runs"], summary="Cancel the run",
        responses=responses(*run_errors, "run_finished"),
    )  # fmt: skip
    def cancel(who: Who, run: RunId) -> JSONResponse:
        with served(who) as me:
            own_run(me, run, open_only=True)
            return reply(me.engine.cancel(run).to_json())

    @router.get("/runs/{run}/plan", response_model=models.Plan, responses=responses(*run_errors, "unknown_subject"), tags=["runs"], summary="Dry-run the run")
    def plan(who: Who, run: RunId) -> JSONResponse:
        with served(who) as me:
            own_run(me, run)
            return reply(me.engine.plan(run).to_json())

    @router.post(
        "/runs/{run}/commit", response_model=models.Plan, tags=["runs"], summary="Commit the run: rules re-checked, changes applied, emails queued",
        responses=responses(*run_errors, "run_finished", "needs_input", "blocked", "conflict", "invalid_answers", "dry_run_only"),
    )  # fmt: skip
    def commit(who: Who, run: RunId) -> JSONResponse:
        if source.settings.preview:
            raise ApiError("dry_run_only", "this server is a preview: it only dry-runs; see the plan at GET /runs/{run}/plan")
        with served(who) as me:
            if own_run(me, run, open_only=True).status != "ready":
                raise ApiError("needs_input", f"run {run!r} is still on a screen; answer every screen before committing")
            return plan_reply(me.engine.commit(run))

    # approvals: the runs that wait for someone other than their starter
    def awaiting(who: Caller, run: str) -> None:
        """A run the caller may look at as an approver: it exists and awaits approval (no more is told here)."""
        with who.engine.storage.transaction() as tx:
            data = tx.load_run(run)
        if data is None or data.get("status") != "awaiting_approval":
            raise unawaited(run)

    def unawaited(run: str) -> ApiError:
        """One answer, word for word, for a run that is not there, not waiting, out of the caller's reach or not theirs to decide."""
        return ApiError("run_not_found", f"there is no run {run!r} awaiting your approval")

    def decided(decide: Callable[[], Plan], run: str) -> JSONResponse:
        try:
            plan = decide()
        except RunNotFound:  # outside reach of the run's subject: the engine answers as of a run that is not there
            raise unawaited(run) from None
        if plan.status == "blocked" and any(b["rule"] == APPROVERS_RULE for b in plan.blocked_by):
            raise unawaited(run)
        return plan_reply(plan)

    @router.get("/approvals", response_model=models.ApprovalList, responses=responses(), tags=["approvals"], summary="The runs awaiting the caller's approval")
    def approvals(who: Who) -> JSONResponse:
        with served(who) as me:
            return reply({"approvals": me.engine.approvals(me.actor)})

    @router.get(
        "/runs/{run}/approval", response_model=models.Plan, tags=["approvals"], summary="What approving the run would do (a dry-run, as its starter)",
        responses=responses("run_not_found", "blocked", "unknown_subject"),
    )  # fmt: skip
    def approval(who: Who, run: RunId) -> JSONResponse:
        with served(who) as me:
            awaiting(me, run)
            return decided(lambda: me.engine.approval(run, me.actor), run)

    @router.post(
        "/runs/{run}/approve", response_model=models.Plan, tags=["approvals"], summary="Approve the run: it commits, every rule checked again",
        responses=responses("run_not_found", "blocked", "conflict", "dry_run_only"),
    )  # fmt: skip
    def approve(who: Who, run: RunId, body: models.Decision | None = None) -> JSONResponse:
        if source.settings.preview:
            raise ApiError("dry_run_only", "this server is a preview: it only dry-runs; see what approving would do at GET /runs/{run}/approval")
        with served(who) as me:
            awaiting(me, run)
            return decided(lambda: me.engine.approve(run, me.actor, reason=body.reason if body else None), run)

    @router.post(
        "/runs/{run}/reject", response_model=models.Plan, tags=["approvals"], summary="Reject the run, saying why: nothing of it is applied",
        responses=responses("run_not_found", "blocked", "conflict", "dry_run_only"),
    )  # fmt: skip
    def reject(who: Who, run: RunId, body: models.Rejection) -> JSONResponse:
        if source.settings.preview:
            raise ApiError("dry_run_only", "this server is a preview: it only dry-runs")
        with served(who) as me:
            awaiting(me, run)
            return decided(lambda: me.engine.reject(run, me.actor, body.reason), run)

    # GET /availability, the busiest route, is served ahead of the router by a plain Starlette route: FastAPI's work
    # for the route above (its dependencies: the bearer scheme, `?locale=` through pydantic; the included router's
    # matching) reads nothing that `answer_availability` does not read again itself, and it cost about a tenth of the
    # request's CPU. Only GET is taken; any other method goes on to the route above, which answers it as ever.
    # Its handler goes to a worker thread of its own (`threads`), not by Starlette's threadpool (anyio's to_thread):
    # the same work in a thread, with the caller's context variables, for a fraction of the CPU per hop when requests
    # come side by side (8 at once, CPU per hop on this shared machine, two runs: anyio 104 / 54 us, asyncio's executor
    # 50 / 22 us, AvailabilityThreads 18 / 8 us: each about half the one before, whatever the machine's load).
    # It is an ASGI app, not a request -> response function: it sends the two messages a Response sends, without
    # Starlette's per-request wrapping of a function endpoint (a nested app and a sender that watches for the start)
    # or a Response object. An error goes on up to the app's ExceptionMiddleware, which answers it with the same
    # handlers that wrapping would have called.

    async def answer_availability_in_thread(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        body = await threads.run(answer_availability, request)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode()), JSON_HEADER]})
        await send({"type": "http.response.body", "body": body})

    first.append(GetOnly("/availability", answer_availability_in_thread))
    return router


class GetOnly(Route):
    """A route that takes GET requests only (Starlette's would take HEAD too); others go on to the routes after it.

    `app` is an ASGI app, called as it is (Starlette would wrap a function as a request -> response endpoint).
    """

    def __init__(self, path: str, app: ASGIApp) -> None:
        super().__init__(path, app, include_in_schema=False)
        self.app = app

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("method") != "GET":
            return Match.NONE, {}
        return super().matches(scope)


def reading_locale(engine: Engine, actor: str, request: Request) -> str | None:
    """The language to show: `?locale=` when asked (as `--locale` on the command line; the preview's picker asks it),
    else the actor's own `locale`, else the first of Accept-Language the project offers; None: the flows' own.
    """
    locales = engine.project.locales
    asked = request.query_params.get("locale")
    if asked:
        return asked_locale(engine, asked)
    if len(locales) < 2:
        return None
    return own_or_accepted(engine, engine.actor_locale(actor), request)


def own_or_accepted(engine: Engine, own: str | None, request: Request) -> str | None:
    """The locale serving the actor's own `own` (None: they have none), else the first of Accept-Language the project offers; None: the flows' own."""
    locales = engine.project.locales
    if own is not None:
        return reader_tag(engine.project, own)
    for tag in accepted(request.headers.get("accept-language", "")):
        declared = {locale.lower() for locale in locales}
        if tag.lower() in declared or tag.split("-")[0].lower() in declared:
            return reader_tag(engine.project, tag)
    return None


def asked_locale(engine: Engine, asked: str) -> str | None:
    """The locale `?locale=` asks for, when the project serves it (fr-CA: the fr texts, fr-CA dates); else a bad request."""
    locales = engine.project.locales
    if len(asked) <= 35 and locales and asked.lower() == locales[0].lower():
        return None  # the flows' own language
    try:
        fallback(asked[:35], locales)  # served: fr-CA by fr, en-GB by the flows' own
    except UnknownName:
        offered = ", ".join(locales) if locales else "none besides the flows' own (the project declares no locales:)"
        raise ApiError("bad_request", f"the project offers no locale {asked[:35]!r}; its locales are {offered}") from None
    return canonical(asked[:35])


def accepted(header: str) -> list[str]:
    """The language tags of an Accept-Language header, most wanted first (`fr-CA,fr;q=0.9,en;q=0.8`)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, index, tag.strip()))
    return [tag for _, _, tag in sorted(ranked)]


def unreachable(engine: Engine, given: str) -> UnknownName:
    """What a subject outside the caller's reach answers: the very error of a name that does not exist."""
    return UnknownName(engine.project.subject_entity, given, ())


def plan_reply(plan: Plan) -> JSONResponse:
    document = plan.to_json()
    if plan.status == "blocked":
        messages = " ".join(b["message"] for b in plan.blocked_by)
        code = "conflict" if any(b["rule"] == CHANGED_RULE for b in plan.blocked_by) else "blocked"
        raise ApiError(code, f"nothing was applied: {messages}", blocked_by=plan.blocked_by, plan=document)
    if plan.status == "invalid":
        raise ApiError("invalid_answers", "; ".join(e["message"] for e in plan.errors), errors=plan.errors, plan=document)
    if plan.status == "needs_input":
        raise ApiError("needs_input", "the run still needs answers", needs=plan.needs, plan=document)
    return reply(document)
