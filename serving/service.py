"""BentoML service for the IOM panel: thin HTTP mapping onto :mod:`riskmodel.service.state`.

Start with ``riskmodel serve`` or ``bentoml serve service:RiskService --working-dir serving``.
Endpoints: ``POST /score``, ``POST /reload``, ``GET /model``, ``GET /audit``, ``GET /metrics``
(Prometheus text, operator key), BentoML's own ``/healthz``, ``/livez`` and ``/readyz``, and
the OpenAPI document at ``/docs.json``. ``/readyz`` answers 503 while the audit store cannot
be reached (no request could be scored then).

Every request passes two guards first (:mod:`riskmodel.service.http`): a body over
``RISKMODEL_MAX_BODY_BYTES`` (default 10 MiB) is refused with 413 before it is read, and
every answer gets a request id (its ``X-Request-Id`` header, on every log line written for
it), one access-log line and its counts by route template (any other path under one
label; the series are listed in :class:`riskmodel.service.http.RequestMetrics`). ``/score``
then checks the caller's key before it parses the body (a bad body without a key gets
401), reads the body (:func:`riskmodel.service.schema.read_score_body`: 400 when it is not
JSON, 422 for a wrong shape or a key named twice), and queues it. Every refusal is
``{"error", "problems": [{"field", "rule"}]}`` and is logged as one line naming fields and
rules, never the values sent. Logs are text, or one JSON object per line with
``RISKMODEL_LOG_FORMAT=json`` (:mod:`riskmodel.logs`).

Several worker processes (``RISKMODEL_SERVE_WORKERS``, default 2: one Python process
uses one core for its pandas work). ``/reload`` loads the new champions in the worker it
reaches, on another thread, so scoring goes on while they load and switches over in one
step; the other workers then load the same versions (:mod:`riskmodel.service.workers`), and
``/reload`` answers when all of them serve them. A request is scored by one worker with
one set of champions, never a mix.

BentoML's adaptive batching is not used: a batched call takes one list and no request
context, so it could neither check each caller's key nor write each caller's audit
record. :class:`~riskmodel.service.state.ServiceState` batches instead: ``/score`` is async and
queues the request for one scoring thread, which scores the requests that arrived while
it was busy in one call and audits them in one transaction, one record each. The routes
are FastAPI's (BentoML serves them and merges their OpenAPI paths into ``/docs.json``), so
that the service, not BentoML, reads and refuses request bodies.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import anyio.to_thread
import bentoml
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

from riskmodel import logs
from riskmodel.logs import REQUEST_ID
from riskmodel.records.audit import ApiKey
from riskmodel.records.decisions import DECISIONS, OVERRIDE_REASONS, decisions_csv
from riskmodel.service.auth import permit
from riskmodel.service.http import BodyLimit, RequestMetrics, RouteMetrics
from riskmodel.service.panel import bind as bind_panel
from riskmodel.service.panel import router as panel_router
from riskmodel.service.schema import error_responses, read_score_body, score_record_schema, score_request_schema
from riskmodel.service.state import AUDIT_KINDS, ServiceError, ServiceState
from riskmodel.settings import Settings

logger = logging.getLogger("riskmodel.serving")

api = FastAPI(title="riskmodel")
#: The panel's workspace: server-rendered pages under /panel/ (not in the OpenAPI document).
api.include_router(panel_router, prefix="/panel")

#: Worker processes (each loads the champions: about 0.4 GB each).
WORKERS = int(os.environ.get("RISKMODEL_SERVE_WORKERS", "2"))

#: The routes metrics are labelled with (any other path is counted as "other").
ROUTES = ("/score", "/reload", "/model", "/audit", "/metrics", "/healthz", "/livez", "/readyz")
ROUTES += ("/docs.json", "/schema.json", "/", "/static_content/*")
ROUTES += ("/panel/*",)
ROUTES += ("/decisions",)

_JSON = "application/json"
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _describe(exc: ServiceError) -> str:
    """A refusal in words fit for a log: fields and rules, never the values sent."""
    problems = exc.body.get("problems") or []
    if problems:
        named = "; ".join(f"{p.get('field')}: {p.get('rule')}" for p in problems[:10])
        return named + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else "")
    return exc.body["error"] if exc.status < 500 else "unavailable"


def _refusal(request: Request, exc: ServiceError, headers: dict[str, str] | None = None) -> JSONResponse:
    """The refusal's response, logged as one line."""
    path = request.url.path if request.url.path in ROUTES else "(another path)"  # a path may hold anything
    logger.warning("%s %s refused %d: %s", request.method, path, exc.status, _describe(exc))
    return JSONResponse(exc.body, status_code=exc.status, headers=headers)


@api.exception_handler(RequestValidationError)
async def _invalid_parameters(request: Request, exc: RequestValidationError) -> JSONResponse:
    """Query parameters that FastAPI cannot read: 422 in the service's error shape."""
    problems = [{"field": str(e["loc"][-1]), "rule": e["msg"]} for e in exc.errors()]
    error = "; ".join(f"{p['field']}: {p['rule']}" for p in problems)
    return _refusal(request, ServiceError(422, error, problems=problems))


@api.exception_handler(HTTPException)
async def _not_served(request: Request, exc: HTTPException) -> JSONResponse:
    """Unknown paths (404) and methods (405) in the service's error shape."""
    error = ServiceError(exc.status_code, f"{request.method}: {str(exc.detail).lower()}")
    headers = exc.headers
    if exc.status_code == 405:  # Starlette's Allow names one route's methods: name every route's of this path
        methods = [
            m for m in _METHODS if any(r.matches({**request.scope, "method": m})[0] == Match.FULL for r in api.routes)
        ]
        headers = {**(headers or {}), "Allow": ", ".join(methods)} if methods else headers
    return _refusal(request, error, headers=headers)  # a 405 keeps its Allow header


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


_RELOADED = {
    "type": "object",
    "required": ["models"],
    "properties": {"models": {"type": "object", "additionalProperties": {"type": "string"}}},
}
_MODEL_INFO = {
    "type": "object",
    "required": ["models", "priority_rule", "bands"],
    "properties": {
        "models": {"type": "object", "additionalProperties": {"type": "object"}},
        "priority_rule": {"type": "object"},
        "bands": {"type": "object"},
    },
}
_AUDIT_RECORDS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["kind", "at"],
        "properties": {
            "kind": {"type": "string", "enum": list(AUDIT_KINDS)},
            "at": {"type": "string", "description": "When it happened (ISO 8601, UTC)"},
        },
    },
}
_SCORES_SEEN = {
    "type": "object",
    "description": "The score the panel saw (a /score record will do; only the score fields are kept)",
}
_DECISION_FIELDS = {
    "release_id": {"type": "string", "minLength": 1, "maxLength": 200},
    "person_id": {"type": "string", "minLength": 1, "maxLength": 200},
    "decision": {
        "type": "string",
        "enum": list(DECISIONS),
        "description": "adopt onto the IOM cohort, not now, or refer to another service",
    },
    "reason_code": {
        "type": "string",
        "nullable": True,
        "enum": [*OVERRIDE_REASONS, None],
        "description": "Required for a decision against the band (not adopting a high or very high, adopting a low)",
    },
    "reason_text": {
        "type": "string",
        "nullable": True,
        "maxLength": 2000,
        "description": "The reason in words; required for a decision against the band",
    },
    "replaces": {
        "type": "string",
        "nullable": True,
        "description": "The decision this one changes (the release's latest); required when the release has one",
    },
    "month": {
        "type": "string",
        "nullable": True,
        "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$",
        "description": "The monthly list",
    },
    "model_versions": {"type": "object", "nullable": True, "additionalProperties": {"type": "string"}},
}
_DECISION_REQUEST = {
    "type": "object",
    "required": ["release_id", "person_id", "decision"],
    "additionalProperties": False,
    "properties": {
        **_DECISION_FIELDS,
        "scores_seen": {
            **_SCORES_SEEN,
            "type": "object",
            "nullable": True,
            "description": _SCORES_SEEN["description"]
            + "; without it, the release's latest score answered by this service is taken",
        },
    },
}
_DECISION = {
    "type": "object",
    "required": ["decision_id", "release_id", "decision", "override", "decided_by", "decided_at"],
    "properties": {
        **_DECISION_FIELDS,
        "decision_id": {"type": "string"},
        "decision_words": {"type": "string"},
        "override": {"type": "boolean", "description": "A decision against the band"},
        "reason_words": {"type": "string", "nullable": True},
        "decided_by": {"type": "string", "description": "The deciding key's id"},
        "decided_by_label": {"type": "string"},
        "role": {"type": "string"},
        "decided_at": {"type": "string", "description": "When (ISO 8601, UTC)"},
        "scores_seen": _SCORES_SEEN,
    },
}

_SCORE_DOC = {
    "requestBody": {"required": True, "content": {_JSON: {"schema": score_request_schema()}}},
}
_SCORE_ANSWERS = {
    200: _answer(
        "One scored record per release, in order (the JSON text written to the audit trail)",
        {"type": "array", "items": score_record_schema()},
    ),
    **error_responses(400, 401, 403, 413, 422, 503),
}


@bentoml.asgi_app(api, path="/")
@bentoml.service(
    name="riskmodel",
    workers=WORKERS,
    traffic={"timeout": 180},
    metrics={"enabled": False},  # the service's own series (riskmodel.service.http.RequestMetrics)
    logging={"access": {"enabled": False}},  # its own access log, with the request id (RouteMetrics)
)
class RiskService:
    """Scores releases with the champion models; authenticated and audited."""

    def __init__(self) -> None:
        logs.configure(server=True)  # RISKMODEL_LOG_FORMAT: text, or one JSON object per line
        settings = Settings.from_env()
        self.state = ServiceState(settings, metrics=METRICS)
        bind_panel(api, self.state)
        self.worker = bentoml.server_context.worker_index or 1
        self.state.join_workers(settings.home / "serving", worker=self.worker, workers=WORKERS)
        versions, generation = self.state.served()
        logger.info(
            "worker %d of %d serving %s",
            self.worker,
            WORKERS,
            self.state.describe(),
            extra={"worker": self.worker, "champions": versions, "generation": generation},
        )

    def __is_ready__(self) -> bool:
        """``/readyz``: the champions are loaded and the audit store answers (see :meth:`ServiceState.ready`)."""
        return self.state.ready()

    async def _authorize(self, request: Request, permission: str) -> ApiKey:
        return await anyio.to_thread.run_sync(self.state.authorize, request.headers.get("authorization"), permission)

    @api.post("/score", response_model=None, responses=_SCORE_ANSWERS, openapi_extra=_SCORE_DOC)
    async def score(self, request: Request) -> Response:
        """Score one or many contract rows: ``{"releases": [...]}`` (panel or operator key).

        The key is checked before the body is read. The request is then queued for the
        scoring thread (which scores requests that wait together in one call); the body
        answered is the JSON text already written to the audit trail.
        """
        authorization = request.headers.get("authorization")
        try:
            key = await self._authorize(request, "score")
            releases = read_score_body(await request.body())
            scored = await asyncio.wrap_future(
                self.state.submit(authorization, releases, key=key, request_id=REQUEST_ID.get())
            )
        except ServiceError as exc:
            return _refusal(request, exc)
        return Response(
            scored.body,
            media_type=_JSON,
            headers={"X-Request-Id": scored.request_id, "X-Riskmodel-Worker": str(self.worker)},
        )

    @api.post(
        "/reload",
        response_model=None,
        responses={
            200: _answer("The versions every worker now serves", _RELOADED),
            **error_responses(401, 403, 413, 503),
        },
    )
    async def reload(self, request: Request) -> Response:
        """Swap to the registry's current champions (operator only)."""
        try:
            await self._authorize(request, "reload")
            versions = await anyio.to_thread.run_sync(self.state.reload)
        except ServiceError as exc:
            return _refusal(request, exc)
        return JSONResponse({"models": versions})

    # response_model=None: the return annotations below must not become a FastAPI response model.
    @api.get(
        "/model",
        response_model=None,
        responses={200: _answer("The champions", _MODEL_INFO), **error_responses(401, 403, 413, 503)},
    )
    def model(self, request: Request) -> dict[str, Any] | JSONResponse:
        """Versions, training-data fingerprints, test metrics and model cards."""
        try:
            self.state.authorize(request.headers.get("authorization"), "model")
            return self.state.model_info()
        except ServiceError as exc:
            return _refusal(request, exc)

    @api.get(
        "/audit",
        response_model=None,
        responses={
            200: _answer("Audit records (requests, batches, events), newest first", _AUDIT_RECORDS),
            **error_responses(401, 403, 413, 422, 503),
        },
    )
    def audit(
        self, request: Request, limit: int = 100, release_id: str | None = None, kind: str | None = None
    ) -> list[dict[str, Any]] | JSONResponse:
        """Recent audit records, newest first: scoring requests, batch runs and events (auditor only).

        ``kind`` (request, batch, event) keeps one kind; ``release_id`` keeps the requests that scored it.
        """
        try:
            self.state.authorize(request.headers.get("authorization"), "audit")
            return self.state.audit(limit=limit, release_id=release_id, kind=kind)
        except ServiceError as exc:
            return _refusal(request, exc)

    @api.post(
        "/decisions",
        response_model=None,
        status_code=201,
        responses={
            201: _answer("The decision as recorded (in the audit chain)", _DECISION),
            **error_responses(400, 401, 403, 413, 422, 503),
        },
        openapi_extra={"requestBody": {"required": True, "content": {_JSON: {"schema": _DECISION_REQUEST}}}},
    )
    async def record_decision(self, request: Request) -> Response:
        """Record the panel's decision about one person (panel only); append-only.

        A decision against the band needs ``reason_code`` and ``reason_text``; a change
        names the decision it ``replaces``. The decision keeps who made it, when, and the
        score and model versions the panel saw.
        """
        try:
            key = await self._authorize(request, "decide")
            body = self.state.read_json(await request.body())
            recorded = await anyio.to_thread.run_sync(self.state.record_decision, key, body)
        except ServiceError as exc:
            return _refusal(request, exc)
        return JSONResponse(recorded, status_code=201)

    @api.get(
        "/decisions",
        response_model=None,
        responses={
            200: {
                "description": "The decisions log, newest first (replaced decisions included)",
                "content": {
                    _JSON: {"schema": {"type": "array", "items": _DECISION}},
                    "text/csv": {"schema": {"type": "string"}},
                },
            },
            **error_responses(401, 403, 413, 422, 503),
        },
    )
    def decisions(
        self,
        request: Request,
        month: str | None = None,
        decision: str | None = None,
        override: bool | None = None,
        release_id: str | None = None,
        person_id: str | None = None,
        limit: int = 100,
        format: str = "json",  # noqa: A002  (the query parameter's name)
    ) -> list[dict[str, Any]] | Response:
        """The panel's decisions, newest first (panel, operator, auditor); ``format=csv`` (operator, auditor).

        Filters: ``month`` (YYYY-MM, the monthly list), ``decision``, ``override`` (true:
        decisions against the band), ``release_id``, ``person_id``; ``limit`` (1 to 10000).
        """
        try:
            if format not in ("json", "csv"):
                rule = "must be json or csv"
                raise ServiceError(422, f"format: {rule}", problems=[{"field": "format", "rule": rule}])
            key = self.state.authorize(request.headers.get("authorization"), "decisions")
            if format == "csv":
                permit(key, "export")
            found = self.state.decisions(
                month=month,
                decision=decision,
                override=override,
                release_id=release_id,
                person_id=person_id,
                limit=limit,
            )
        except ServiceError as exc:
            return _refusal(request, exc)
        if format == "csv":
            headers = {"Content-Disposition": 'attachment; filename="decisions.csv"'}
            return Response(decisions_csv(found), media_type="text/csv; charset=utf-8", headers=headers)
        return [d.to_json() for d in found]

    @api.get(
        "/metrics",
        response_model=None,
        responses={
            200: {"description": "Prometheus text", "content": {"text/plain": {"schema": {"type": "string"}}}},
            **error_responses(401, 403, 413, 503),
        },
    )
    async def metrics(self, request: Request) -> Response:
        """Prometheus series (operator only): requests, scored releases, audit failures, champions.

        See :class:`riskmodel.service.http.RequestMetrics` for the series.
        """
        try:
            await self._authorize(request, "metrics")
        except ServiceError as exc:
            return _refusal(request, exc)
        versions, generation = self.state.served()
        text = await anyio.to_thread.run_sync(lambda: METRICS.render(champions=versions, generation=generation))
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")


METRICS = RequestMetrics()
RiskService.add_asgi_middleware(RouteMetrics, routes=ROUTES, observe=METRICS.observe)
RiskService.add_asgi_middleware(BodyLimit, max_bytes=Settings.from_env().max_body_bytes)
