"""The HTTP JSON API: every endpoint, every error code, on the shipped flows over the demo data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import DEMO, NOW, PROJECT
from hypothesis import given as for_all
from hypothesis import strategies as st

pytest.importorskip("fastapi", reason="the web extra is part of the test extra: pip install -e '.[test]'")
from fastapi.testclient import TestClient  # noqa: E402

from clientflow.runtime.data import Records  # noqa: E402
from clientflow.runtime.views import Availability, FlowAvailability  # noqa: E402
from clientflow.storage import Document  # noqa: E402
from clientflow.tokens import mint  # noqa: E402
from clientflow.web import WebSettings, create_app, models  # noqa: E402
from clientflow.web.errors import CODES  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SECRET = "K3vQ9xLm2ZpW7rTb5NcY8hJd4FsG6aUe1oXi0kVnR-w"  # 32 random bytes, as `secrets.token_urlsafe(32)` makes them
ALICE, SAM, HANA = "u1", "u2", "u3"  # the demo data's administrator, standard user, and another practice's administrator


def bearer(actor: str, secret: str = SECRET, ttl: int = 3600) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(secret, actor, ttl=ttl)}"}


def make_app(tmp_path: Path, **settings: Any) -> Any:
    options: dict[str, Any] = {"project": PROJECT, "data": DEMO, "secret": SECRET, "now": NOW, "outbox": tmp_path / "outbox"}
    options.update(settings)
    if options.get("db") is not None:
        options["data"] = None
    return create_app(WebSettings(**options))


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(make_app(tmp_path)) as test_client:
        yield test_client


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    """The error object of a response that must be this status and code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    assert CODES[code] == status
    return dict(body["error"])


def start(api: TestClient, flow: str, subject: str, actor: str = ALICE, **body: Any) -> Any:
    return api.post(f"/flows/{flow}/runs", json={"client": subject, **body}, headers=bearer(actor))


def walk_disconnect(api: TestClient, actor: str = ALICE) -> str:
    """A disconnect-client run on Acme Ltd answered up to its last screen; returns its id."""
    response = start(api, "disconnect-client", "c1", actor)
    assert response.status_code == 201, response.text
    run = response.json()["run"]
    for answers in ({}, {"reason": "moving on"}, {"owner": "carla@acme.example"}):
        response = api.post(f"/runs/{run}/answers", json={"answers": answers}, headers=bearer(actor))
        assert response.status_code == 200, response.text
    assert response.json()["status"] == "ready"
    return str(run)


# the happy path, one endpoint after another --------------------------------------------------
def test_flows_lists_every_flow_with_its_title(api: TestClient) -> None:
    response = api.get("/flows", headers=bearer(ALICE))
    assert response.status_code == 200
    flows = {f["flow"]: f for f in response.json()["flows"]}
    assert set(flows) == {p.stem for p in (PROJECT / "flows").glob("*.yaml")} - {"project", "rules"}
    assert flows["disconnect-client"]["title"] == "Disconnect client"
    assert "hand its data" in flows["disconnect-client"]["summary"]


def test_availability_says_what_is_offered_and_why_not(api: TestClient) -> None:
    response = api.get("/availability", params={"client": "Acme Ltd"}, headers=bearer(ALICE))
    assert response.status_code == 200
    body = response.json()
    models.Availability.model_validate(body)
    assert (body["actor"], body["subject"]) == (ALICE, "c1")
    flows = {f["flow"]: f for f in body["flows"]}
    assert flows["disconnect-client"] == {"flow": "disconnect-client", "title": "Disconnect client", "available": True, "reasons": []}
    assert flows["delete-client"]["available"] is False
    assert [r["rule"] for r in flows["delete-client"]["reasons"]] == ["no-users"]
    assert "Acme Ltd has 2 user(s)" in flows["delete-client"]["reasons"][0]["message"]


def test_availability_is_served_ahead_of_its_documented_route_and_answers_alike(tmp_path: Path) -> None:
    from clientflow.web.routes import GetOnly

    served, documented = make_app(tmp_path / "a"), make_app(tmp_path / "b")
    first = served.router.routes[0]
    assert isinstance(first, GetOnly) and first.path == "/availability" and not first.include_in_schema
    documented.router.routes.remove(next(r for r in documented.router.routes if isinstance(r, GetOnly)))
    operation = served.openapi()["paths"]["/availability"]["get"]
    assert operation == documented.openapi()["paths"]["/availability"]["get"]
    assert operation["security"] == [{"HTTPBearer": []}] and {p["name"] for p in operation["parameters"]} == {"client"}  # one locale only
    asked: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        ("GET", {"client": "c1"}, bearer(ALICE)),
        ("GET", {"client": "Acme Ltd"}, bearer(ALICE)),
        ("GET", {"subject": "c1"}, bearer(SAM)),
        ("GET", {"client": "c1"}, bearer(HANA)),  # outside reach
        ("GET", {"client": "nobody"}, bearer(ALICE)),
        ("GET", {"client": ""}, bearer(ALICE)),
        ("GET", {}, bearer(ALICE)),
        ("GET", {}, bearer("nobody")),
        ("GET", {"client": "c1"}, bearer("nobody")),
        ("GET", {"client": "c1"}, {}),
        ("GET", {"client": "c1"}, {"Authorization": "Bearer cf1.forged.token"}),
        ("GET", {"client": "c1"}, bearer(ALICE, secret="another-" + SECRET)),
        ("GET", {"client": "c1", "locale": "fr"}, bearer(ALICE)),
        ("GET", {"client": "c1", "locale": ""}, bearer(ALICE)),
        ("HEAD", {"client": "c1"}, bearer(ALICE)),
        ("POST", {"client": "c1"}, bearer(ALICE)),
        ("DELETE", {"client": "c1"}, bearer(ALICE)),
    ]
    with TestClient(served) as one, TestClient(documented) as other:
        for method, params, headers in asked:
            mine = one.request(method, "/availability", params=params, headers=headers)
            theirs = other.request(method, "/availability", params=params, headers=headers)
            assert (mine.status_code, mine.content, dict(mine.headers)) == (theirs.status_code, theirs.content, dict(theirs.headers)), (method, params)
        assert one.get("/availability", params={"client": "c1"}, headers=bearer(ALICE)).status_code == 200


# Anything a reason may hold: text of every kind (quotes, controls, other scripts), else what only the encoder itself writes.
reason_values = st.one_of(st.text(), st.integers(), st.floats(allow_nan=False), st.none(), st.booleans(), st.lists(st.text(), max_size=2))
reasons = st.lists(st.one_of(st.dictionaries(st.text(), reason_values, max_size=3), st.dictionaries(st.integers(), st.text(), max_size=2)), max_size=3)
flows = st.builds(FlowAvailability, st.text(), st.text(), st.booleans(), reasons)


def rendered(render: Any, answer: Availability) -> tuple[bytes | None, str | None]:
    """What `render(answer)` gives: its bytes, or its error's type and text."""
    try:
        return render(answer), None
    except Exception as exc:  # noqa: BLE001 - any refusal, compared by type and text
        return None, f"{type(exc).__name__}: {exc}"


@for_all(st.text(), st.text(), st.lists(flows, max_size=4))
def test_the_availability_body_is_the_json_response_of_its_document(actor: str, subject: str, entries: list[FlowAvailability]) -> None:
    from fastapi.responses import JSONResponse

    from clientflow.web.routes import availability_body

    answer = Availability(actor, subject, entries)
    assert rendered(availability_body, answer) == rendered(lambda a: JSONResponse(a.to_json()).body, answer)


def test_the_availability_body_refuses_what_the_json_response_refuses() -> None:
    from fastapi.responses import JSONResponse

    from clientflow.web.routes import availability_body

    for reason in ({"rule": "r", "message": float("nan")}, {"rule": "r", "message": object()}, {"rule": "\ud800"}, {1.5: float("inf")}):
        answer = Availability("u1", "c1", [FlowAvailability("f", "F", False, [reason])])
        mine, theirs = rendered(availability_body, answer), rendered(lambda a: JSONResponse(a.to_json()).body, answer)
        assert mine == theirs and mine[0] is None, reason


def test_availability_for_a_standard_user_names_the_missing_access(api: TestClient) -> None:
    body = api.get("/availability", params={"subject": "c1"}, headers=bearer(SAM)).json()
    reasons = {f["flow"]: [r["rule"] for r in f["reasons"]] for f in body["flows"]}
    assert reasons["disconnect-client"] == ["practice-administrator"]


def test_another_practices_subject_answers_as_one_that_does_not_exist(api: TestClient) -> None:
    for given in ("c1", "Acme Ltd"):
        refused = api.get("/availability", params={"client": given}, headers=bearer(HANA))
        error_of(refused, 404, "unknown_subject")
        assert error_of(start(api, "deactivate-client", given, HANA), 404, "unknown_subject")["message"] == f"unknown client {given!r}"
        assert "Acme" not in refused.text.replace(repr(given), "")


def test_a_run_step_by_step_then_committed(api: TestClient, tmp_path: Path) -> None:
    response = start(api, "disconnect-client", "c1")
    assert response.status_code == 201
    view = response.json()
    models.RunView.model_validate(view)
    assert view["status"] == "open" and view["flow"] == "disconnect-client"
    assert view["screen"]["step"] == "explain"
    assert view["screen"]["title"] == "Disconnect Acme Ltd from your practice?"
    assert view["screen"]["buttons"]["next"] == "Disconnect client"
    run = view["run"]

    again = api.get(f"/runs/{run}", headers=bearer(ALICE))
    assert again.status_code == 200 and again.json()["screen"]["step"] == "explain"

    survey = api.post(f"/runs/{run}/answers", json={"answers": {}}, headers=bearer(ALICE)).json()
    assert survey["screen"]["step"] == "survey"
    owner = api.post(f"/runs/{run}/answers", json={"answers": {"reason": "moving on"}}, headers=bearer(ALICE)).json()
    assert owner["screen"]["step"] == "choose-owner"
    options = owner["screen"]["fields"][0]["options"]
    assert options == [{"value": "cu1", "label": "Carla Diaz <carla@acme.example>"}, {"value": "cu2", "label": "Dev Patel <dev@acme.example> (invited)"}]

    back = api.post(f"/runs/{run}/back", headers=bearer(ALICE)).json()
    assert back["screen"]["step"] == "survey"
    assert back["screen"]["fields"][0]["value"] == "moving on"
    api.post(f"/runs/{run}/answers", json={"answers": {"reason": "moving on"}}, headers=bearer(ALICE))
    ready = api.post(f"/runs/{run}/answers", json={"answers": {"owner": "carla@acme.example"}}, headers=bearer(ALICE)).json()
    assert ready["status"] == "ready" and ready["screen"] is None
    assert ready["answers"]["owner"] == "cu1"

    plan = api.get(f"/runs/{run}/plan", headers=bearer(ALICE)).json()
    assert plan["status"] == "completed" and plan["dry_run"] is True
    models.Plan.model_validate(plan)  # the shape /openapi.json documents
    assert {(c["entity"], c["id"], c["field"], c["after"]) for c in plan["changes"]} == {("client", "c1", "owner", "cu1"), ("client", "c1", "partner", None)}

    committed = api.post(f"/runs/{run}/commit", headers=bearer(ALICE))
    assert committed.status_code == 200, committed.text
    done = committed.json()
    models.Plan.model_validate(done)
    assert done["status"] == "completed" and done["dry_run"] is False and done["run"] == run
    assert done["banners"] == ["Acme Ltd has been disconnected from your practice and now belongs to Carla Diaz."]
    assert sorted(e["to"][0] for e in done["emails"]) == ["alice@northwind.example", "carla@acme.example"]
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2
    assert api.get(f"/runs/{run}", headers=bearer(ALICE)).json()["status"] == "completed"
    after = api.get("/availability", params={"client": "c1"}, headers=bearer(ALICE))  # no longer her practice's: out of reach
    assert error_of(after, 404, "unknown_subject")["message"] == "unknown client 'c1'"


def test_answers_given_ahead_go_as_far_as_they_allow(api: TestClient) -> None:
    view = start(api, "disconnect-client", "c1", answers={}).json()
    assert (view["status"], view["screen"]["step"]) == ("needs_input", "choose-owner")
    assert view["needs"] == [{"step": "choose-owner", "field": "owner"}]
    ahead = api.post(f"/runs/{view['run']}/answers", json={"answers": {"owner": "cu2"}, "ahead": True}, headers=bearer(ALICE)).json()
    assert ahead["status"] == "ready" and ahead["answers"]["owner"] == "cu2"


def test_all_answers_at_start_make_a_ready_run(api: TestClient) -> None:
    response = start(api, "deactivate-client", "c1", answers={"reason": "", "notify_client": True})
    assert response.status_code == 201
    assert response.json()["status"] == "ready"


def test_typed_confirmation_must_match_exactly(api: TestClient) -> None:
    view = start(api, "delete-client", "Empty Shell Co").json()
    run = view["run"]
    confirm = api.post(f"/runs/{run}/answers", json={"answers": {}}, headers=bearer(ALICE)).json()
    assert confirm["screen"]["kind"] == "confirm" and confirm["screen"]["fields"][0]["confirm"] is True
    wrong = error_of(api.post(f"/runs/{run}/answers", json={"answers": {"confirm_name": "empty shell co"}}, headers=bearer(ALICE)), 422, "invalid_answers")
    assert "Empty Shell Co" in wrong["errors"][0]["message"]
    right = api.post(f"/runs/{run}/answers", json={"answers": {"confirm_name": "Empty Shell Co"}}, headers=bearer(ALICE))
    assert right.json()["status"] == "ready"


def test_cancel_ends_the_run_and_is_audited(api: TestClient) -> None:
    run = start(api, "deactivate-client", "c1").json()["run"]
    cancelled = api.post(f"/runs/{run}/cancel", headers=bearer(ALICE))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    engine = api.app.state.source.engine()  # type: ignore[attr-defined]
    assert [e["status"] for e in engine.audit_log() if e["run"] == run] == ["cancelled"]


def test_the_subject_may_be_named_by_the_generic_word(api: TestClient) -> None:
    response = api.post("/flows/deactivate-client/runs", json={"subject": "Acme Ltd"}, headers=bearer(ALICE))
    assert response.status_code == 201 and response.json()["screen"]["step"] == "survey"


def test_the_actor_comes_from_the_token_never_from_the_body(api: TestClient) -> None:
    error_of(api.post("/flows/deactivate-client/runs", json={"client": "c1", "actor": SAM}, headers=bearer(ALICE)), 400, "bad_request")
    run = start(api, "deactivate-client", "c1", SAM)
    error_of(run, 403, "blocked")
    engine = api.app.state.source.engine()  # type: ignore[attr-defined]
    assert [e["actor"] for e in engine.audit_log()] == [SAM]


# every error code ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dTE6cHc="}, {"Authorization": "Bearer "}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Bearer cf1.e30.x"}],
    ids=["none", "basic", "empty", "garbage", "forged"],
)
def test_unauthenticated_without_a_valid_token(api: TestClient, headers: dict[str, str]) -> None:
    body = error_of(api.get("/flows", headers=headers), 401, "unauthenticated")
    assert "Authorization: Bearer" in body["message"]


def test_unauthenticated_with_another_secret_or_an_expired_token(api: TestClient) -> None:
    assert (
        "signature"
        in error_of(api.get("/flows", headers=bearer(ALICE, secret="Hq5Ws8Ez2Rk7Yt4Lp1Mn9Bv6Cx3Jd0Ga-Uf_Ti8Oy5Q")), 401, "unauthenticated")["message"]
    )
    expired = {"Authorization": f"Bearer {mint(SECRET, ALICE, ttl=-5)}"}
    assert "expired" in error_of(api.get("/flows", headers=expired), 401, "unauthenticated")["message"]


def test_unknown_actor_when_the_token_names_nobody(api: TestClient) -> None:
    error_of(api.get("/flows", headers=bearer("u999")), 403, "unknown_actor")


def test_a_token_may_name_the_actor_by_email(api: TestClient) -> None:
    body = api.get("/availability", params={"client": "c1"}, headers=bearer("alice@northwind.example")).json()
    assert body["actor"] == ALICE


def test_forbidden_to_see_or_drive_another_actors_run(api: TestClient) -> None:
    run = start(api, "deactivate-client", "c1").json()["run"]
    for method, path in (("GET", ""), ("POST", "/answers"), ("POST", "/back"), ("POST", "/cancel"), ("GET", "/plan"), ("POST", "/commit")):
        response = api.request(method, f"/runs/{run}{path}", json={"answers": {}} if path == "/answers" else None, headers=bearer(SAM))
        error_of(response, 403, "forbidden")
    assert api.get(f"/runs/{run}", headers=bearer(ALICE)).json()["status"] == "open"


RUN_ROUTES = (("GET", ""), ("POST", "/answers"), ("POST", "/back"), ("POST", "/cancel"), ("GET", "/plan"), ("POST", "/commit"))


def test_an_outsider_is_answered_every_run_route_as_for_a_run_that_does_not_exist(api: TestClient) -> None:
    # Hana (another practice) cannot reach Acme Ltd: whatever its status, a run on it is a run that is not there to her;
    # Sam (within reach, not the starter) is told it is another actor's, until Acme Ltd leaves his practice
    runs = {"open": start(api, "deactivate-client", "c1").json()["run"], "cancelled": start(api, "deactivate-client", "c1").json()["run"]}
    api.post(f"/runs/{runs['cancelled']}/cancel", headers=bearer(ALICE))
    runs["ready"] = walk_disconnect(api)
    missing = "0" * len(runs["open"])

    def answer(actor: str, run: str, method: str, path: str) -> tuple[int, bytes]:
        response = api.request(method, f"/runs/{run}{path}", json={"answers": {}} if path == "/answers" else None, headers=bearer(actor))
        return response.status_code, response.content.replace(run.encode(), b"RUN")

    def check(within: int) -> None:
        for status, run in runs.items():
            for method, path in RUN_ROUTES:
                nowhere = answer(HANA, missing, method, path)
                assert nowhere[0] == 404 and b'"run_not_found"' in nowhere[1]
                assert answer(HANA, run, method, path) == nowhere, (status, method, path)
                said = answer(SAM, run, method, path)
                assert said == nowhere if within == 404 else said[0] == within, (status, method, path, said)

    check(within=403)
    assert api.get(f"/runs/{runs['open']}", headers=bearer(ALICE)).json()["status"] == "open"  # nothing the others sent changed it
    assert api.post(f"/runs/{runs['ready']}/commit", headers=bearer(ALICE)).json()["status"] == "completed"  # Acme Ltd leaves Northwind
    runs["completed"] = runs.pop("ready")
    check(within=404)


def test_the_plan_of_a_cancelled_run_says_it_is_cancelled(api: TestClient) -> None:
    run = walk_disconnect(api)
    assert api.get(f"/runs/{run}/plan", headers=bearer(ALICE)).json()["status"] == "completed"  # ready: what committing would do
    assert api.post(f"/runs/{run}/cancel", headers=bearer(ALICE)).json()["status"] == "cancelled"
    plan = api.get(f"/runs/{run}/plan", headers=bearer(ALICE)).json()
    models.Plan.model_validate(plan)
    assert (plan["status"], plan["run"], plan["changes"], plan["emails"], plan["banners"], plan["scheduled"]) == ("cancelled", run, [], [], [], [])
    error_of(api.post(f"/runs/{run}/commit", headers=bearer(ALICE)), 409, "run_finished")


def test_blocked_at_start_with_every_failed_rule(api: TestClient) -> None:
    body = error_of(start(api, "delete-client", "c1"), 403, "blocked")
    assert [b["rule"] for b in body["blocked_by"]] == ["no-users"]
    assert body["run"]["status"] == "blocked" and body["run"]["run"]


def test_blocked_at_commit_when_a_rule_no_longer_holds(api: TestClient) -> None:
    run = walk_disconnect(api)
    engine = api.app.state.source.engine()  # type: ignore[attr-defined]
    with engine.storage.transaction(write=True) as tx:  # another administrator demotes Alice meanwhile
        doc = tx.get("partners", "p1")
        body = {**doc.body, "users": [{**u, "role": "standard"} if u["id"] == ALICE else u for u in doc.body["users"]]}
        tx.put(Document("partners", "p1", body, 0), Records(engine.project, tx).keys("partners", body), expect_version=doc.version)
    error = error_of(api.post(f"/runs/{run}/commit", headers=bearer(ALICE)), 403, "blocked")
    assert [b["rule"] for b in error["blocked_by"]] == ["practice-administrator"]
    assert error["plan"]["status"] == "blocked" and error["plan"]["changes"] == []
    with engine.storage.transaction() as tx:
        assert tx.get("clients", "c1").body["partner"] == "p1"  # nothing applied


def test_invalid_answers_keep_the_run_on_its_screen(api: TestClient) -> None:
    view = start(api, "disconnect-client", "c1", answers={}).json()
    error = error_of(api.post(f"/runs/{view['run']}/answers", json={"answers": {"owner": "nobody"}}, headers=bearer(ALICE)), 422, "invalid_answers")
    assert error["errors"][0]["field"] == "owner" and "not one of the options" in error["errors"][0]["message"]
    assert error["run"]["screen"]["step"] == "choose-owner"
    unknown = error_of(api.post(f"/runs/{view['run']}/answers", json={"answers": {"ownr": "cu1"}}, headers=bearer(ALICE)), 422, "invalid_answers")
    assert "did you mean 'owner'" in unknown["errors"][0]["message"]
    assert api.get(f"/runs/{view['run']}", headers=bearer(ALICE)).json()["screen"]["step"] == "choose-owner"


def test_invalid_answers_given_at_start(api: TestClient) -> None:
    error = error_of(start(api, "disconnect-client", "c1", answers={"owner": "zed@nowhere.example"}), 422, "invalid_answers")
    assert error["run"]["run"]


def test_needs_input_before_every_screen_is_answered(api: TestClient) -> None:
    run = start(api, "disconnect-client", "c1").json()["run"]
    error = error_of(api.post(f"/runs/{run}/commit", headers=bearer(ALICE)), 409, "needs_input")
    assert run in error["message"]


def test_needs_input_when_a_screen_is_submitted_without_its_required_answer(api: TestClient) -> None:
    view = start(api, "disconnect-client", "c1", answers={}).json()
    response = api.post(f"/runs/{view['run']}/answers", json={"answers": {}}, headers=bearer(ALICE))
    outcome = (response.status_code, response.json()["error"]["code"])
    assert outcome in {(409, "needs_input"), (422, "invalid_answers")}  # the engine may report a missing answer either way
    assert response.json()["error"]["run"]["screen"]["step"] == "choose-owner"


def test_run_ready_refuses_more_answers(api: TestClient) -> None:
    run = walk_disconnect(api)
    error_of(api.post(f"/runs/{run}/answers", json={"answers": {"reason": "x"}}, headers=bearer(ALICE)), 409, "run_ready")


def test_run_finished_refuses_every_change(api: TestClient) -> None:
    run = start(api, "deactivate-client", "c1").json()["run"]
    api.post(f"/runs/{run}/cancel", headers=bearer(ALICE))
    for path in ("/answers", "/back", "/cancel", "/commit"):
        error_of(api.post(f"/runs/{run}{path}", json={"answers": {}} if path == "/answers" else None, headers=bearer(ALICE)), 409, "run_finished")
    assert api.get(f"/runs/{run}/plan", headers=bearer(ALICE)).status_code == 200


def test_run_not_found(api: TestClient) -> None:
    for method, path in (("GET", ""), ("POST", "/answers"), ("POST", "/back"), ("POST", "/cancel"), ("GET", "/plan"), ("POST", "/commit")):
        error_of(api.request(method, f"/runs/no-such-run{path}", json={} if path == "/answers" else None, headers=bearer(ALICE)), 404, "run_not_found")


def test_unknown_flow_suggests_the_nearest(api: TestClient) -> None:
    error = error_of(start(api, "disconect-client", "c1"), 404, "unknown_flow")
    assert "did you mean 'disconnect-client'" in error["message"]


def test_unknown_subject(api: TestClient) -> None:
    error_of(api.get("/availability", params={"client": "Nobody Ltd"}, headers=bearer(ALICE)), 404, "unknown_subject")
    error_of(start(api, "disconnect-client", "c99"), 404, "unknown_subject")


def test_an_unknown_subject_never_suggests_another_tenants_names(api: TestClient) -> None:
    # "Harbor Marin" is one letter from another practice's client: the CLI would suggest it, the API must not.
    error = error_of(api.get("/availability", params={"client": "Harbor Marin"}, headers=bearer(ALICE)), 404, "unknown_subject")
    assert "Harbor Marine" not in error["message"]
    assert error["message"] == "unknown client 'Harbor Marin'"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/availability", None),
        ("GET", "/availability?client=", None),
        ("POST", "/flows/disconnect-client/runs", {}),
        ("POST", "/flows/disconnect-client/runs", {"client": ""}),
        ("POST", "/flows/disconnect-client/runs", {"client": "c1", "answers": ["owner"]}),
        ("POST", "/flows/disconnect-client/runs", "not json"),
        ("POST", "/runs/abc/answers", {"answers": "owner=cu1"}),
        ("POST", "/runs/abc/answers", {"answers": {}, "ahead": "sometimes"}),
        ("POST", "/runs/abc/answers", {"answers": {}, "extra": 1}),
    ],
    ids=["no-subject", "empty-subject", "empty-body", "empty-name", "answers-list", "not-json", "answers-text", "ahead-text", "extra-key"],
)
def test_bad_request(api: TestClient, method: str, path: str, body: Any) -> None:
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, str) else {"json": body}
    error_of(api.request(method, path, headers={**bearer(ALICE), "Content-Type": "application/json"}, **kwargs), 400, "bad_request")


def test_not_found_and_method_not_allowed(api: TestClient) -> None:
    error_of(api.get("/nothing-here", headers=bearer(ALICE)), 404, "not_found")
    response = api.delete("/flows", headers=bearer(ALICE))
    error_of(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


def test_commit_conflict_when_the_subject_changed_since_start(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path)) as api:
        slow = walk_disconnect(api)
        quick = start(api, "deactivate-client", "c1", answers={"notify_client": False}).json()["run"]
        assert api.post(f"/runs/{quick}/commit", headers=bearer(ALICE)).status_code == 200
        error = error_of(api.post(f"/runs/{slow}/commit", headers=bearer(ALICE)), 409, "conflict")
        assert error["blocked_by"][0]["rule"] == "unchanged-since-start"
        assert error["plan"]["changes"] == []


def test_internal_errors_still_answer_the_error_shape(tmp_path: Path) -> None:
    import pluggy

    from clientflow.hookspecs import hookimpl
    from clientflow.plugins import load_plugins

    class Broken:
        @hookimpl(tryfirst=True)
        def clientflow_resolve_actor(self, request: Any, settings: dict[str, Any]) -> str | None:
            raise RuntimeError("a plugin failed")

    pm = load_plugins(pluggy.PluginManager("clientflow"))
    pm.register(Broken(), name="broken")
    with TestClient(create_app(_settings(tmp_path), plugins=pm), raise_server_exceptions=False) as api:
        response = api.get("/flows", headers=bearer(ALICE))
    error = error_of(response, 500, "internal")
    assert "RuntimeError" in error["message"] and "a plugin failed" not in error["message"]


def _settings(tmp_path: Path) -> WebSettings:
    return WebSettings(project=PROJECT, data=DEMO, secret=SECRET, now=NOW, outbox=tmp_path / "outbox")


def test_engine_errors_map_to_stable_codes() -> None:
    from clientflow.errors import DataError, ExpressionError, Location, Problem, RunError, UnknownName
    from clientflow.web.errors import from_engine

    def code(exc: Exception) -> tuple[str, int]:
        error = from_engine(exc, subject_entity="client", actor_entity="user")  # type: ignore[arg-type]
        return error.code, error.status

    assert code(UnknownName("flow", "x", [])) == ("unknown_flow", 404)
    assert code(UnknownName("client", "x", [])) == ("unknown_subject", 404)
    assert code(UnknownName("user", "x", [])) == ("unknown_actor", 403)
    assert code(UnknownName("partner", "x", [])) == ("not_found", 404)
    assert code(ExpressionError("boom")) == ("expression_error", 422)
    assert code(DataError([Problem(Location("d.yaml", 3, 1), "bad")])) == ("data_error", 422)
    assert code(RunError("raced")) == ("conflict", 409)
    every_status = set(CODES.values())
    assert every_status <= {400, 401, 403, 404, 405, 409, 422, 500, 503}


def test_every_documented_error_code_is_one_of_the_stable_codes(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    described = response["description"].removeprefix("Error codes: ").split(", ")
                    assert described and all(CODES[c] == int(status) for c in described), (method, path, status)
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
            assert "401" in operation["responses"], (method, path)
    assert "HTTPValidationError" not in str(schema)
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def locale_parameters(api: TestClient) -> tuple[set[tuple[str, str]], set[tuple[str, str]], dict[tuple[str, str], Any]]:
    """(the operations that read `?locale=`, seen by asking for one the project does not offer; those documenting it; their parameter)."""
    schema = api.get("/openapi.json").json()
    honouring, documented, declared = set(), set(), {}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            names = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
            if "locale" in names:
                documented.add((method, path))
                declared[(method, path)] = names["locale"]
            url = path.replace("{run}", "no-such-run").replace("{flow}", "deactivate-client")
            query = {"locale": "zz-QQ", "client": "c1"}
            response = api.request(method.upper(), url, params=query, json={} if method == "post" else None, headers=bearer(ALICE))
            if response.status_code == 400 and "offers no locale 'zz-QQ'" in response.json()["error"]["message"]:
                honouring.add((method, path))
    return honouring, documented, declared


def test_every_endpoint_that_honours_the_locale_parameter_documents_it(tmp_path: Path) -> None:
    from cli_support import copy_project
    from test_i18n import translated

    root = copy_project(tmp_path / "project")
    translated(root)  # the project declares en and fr
    with TestClient(make_app(tmp_path, project=root, data=root / "data" / "demo.yaml")) as api:
        honouring, documented, declared = locale_parameters(api)
        assert api.get("/flows", params={"locale": "fr"}, headers=bearer(ALICE)).json()["flows"][0]["title"].startswith("FR ")
    assert honouring == documented, honouring ^ documented
    assert {("get", "/flows"), ("get", "/availability"), ("post", "/flows/{flow}/runs"), ("get", "/runs/{run}"), ("post", "/runs/{run}/approve")} <= honouring
    for where, parameter in declared.items():
        assert parameter["required"] is False and "Accept-Language" in parameter["description"], where
        assert parameter["schema"]["enum"] == ["en", "fr"], where


def test_a_project_in_one_language_offers_no_locale_to_choose(api: TestClient) -> None:
    honouring, documented, _ = locale_parameters(api)
    assert documented == set() and ("get", "/flows") in honouring  # any locale asked is a bad_request, and none is offered


def test_a_request_without_its_body_says_it_needs_one(api: TestClient) -> None:
    # it said "request: Field required"
    said = error_of(api.post("/flows/disconnect-client/runs", headers=bearer(ALICE)), 400, "bad_request")
    assert said["message"] == "POST /flows/disconnect-client/runs needs a JSON body (Content-Type: application/json); /openapi.json gives its shape"


def test_a_body_that_is_not_json_says_so_and_where(api: TestClient) -> None:
    # it said "15: JSON decode error": the offset as if it were a field's name
    broken = '{"subject": "c1",, "actor": "u1"}'
    response = api.post("/flows/disconnect-client/runs", content=broken, headers={**bearer(ALICE), "Content-Type": "application/json"})
    said = error_of(response, 400, "bad_request")
    assert said["message"].startswith("the body is not valid JSON")
    assert said["message"].endswith(f" at character {broken.index(',,') + 1}")
