"""BentoML service for the IOM panel: thin HTTP mapping onto :mod:`riskmodel.service.state`.

Start with ``riskmodel serve`` or ``bentoml serve service:RiskService --working-dir serving``.
Endpoints: ``POST /score``, ``POST /reload``, ``GET /model``, ``GET /audit``, and
BentoML's own ``/healthz``, ``/livez``, ``/readyz`` and Prometheus ``/metrics``. ``/readyz``
answers 503 while the audit store cannot be reached (no request could be scored then).

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
it was busy in one call and audits them in one transaction, one record each.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import anyio.to_thread
import bentoml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from riskmodel.service.state import ServiceError, ServiceState
from riskmodel.settings import Settings

queries = FastAPI(title="riskmodel read endpoints")

#: Worker processes (each loads the champions: about 0.4 GB each).
WORKERS = int(os.environ.get("RISKMODEL_SERVE_WORKERS", "2"))


def _error(ctx: bentoml.Context, exc: ServiceError) -> JSONResponse:
    ctx.response.status_code = exc.status
    return JSONResponse(exc.body, status_code=exc.status)


@bentoml.asgi_app(queries, path="/")
@bentoml.service(name="riskmodel", workers=WORKERS, traffic={"timeout": 180})
class RiskService:
    """Scores releases with the champion models; authenticated and audited."""

    def __init__(self) -> None:
        settings = Settings.from_env()
        self.state = ServiceState(settings)
        self.worker = bentoml.server_context.worker_index or 1
        self.state.join_workers(settings.home / "serving", worker=self.worker, workers=WORKERS)

    def __is_ready__(self) -> bool:
        """``/readyz``: the champions are loaded and the audit store answers (see :meth:`ServiceState.ready`)."""
        return self.state.ready()

    @bentoml.api(route="/score")
    async def score(self, releases: list[dict[str, Any]], ctx: bentoml.Context) -> list[dict[str, Any]]:
        """Score one or many contract rows: ``{"releases": [...]}``.

        The request is queued for the scoring thread (which scores requests that wait
        together in one call); the body answered is the JSON text already written to
        the audit trail.
        """
        try:
            scored = await asyncio.wrap_future(self.state.submit(ctx.request.headers.get("authorization"), releases))
        except ServiceError as exc:
            return _error(ctx, exc)
        ctx.response.status_code = 200
        return Response(
            scored.body,
            media_type="application/json",
            headers={"X-Request-Id": scored.request_id, "X-Riskmodel-Worker": str(self.worker)},
        )

    @bentoml.api(route="/reload")
    async def reload(self, ctx: bentoml.Context) -> dict[str, Any]:
        """Swap to the registry's current champions (operator only)."""
        authorization = ctx.request.headers.get("authorization")
        try:
            await anyio.to_thread.run_sync(self.state.authorize, authorization, "reload")
            versions = await anyio.to_thread.run_sync(self.state.reload)
        except ServiceError as exc:
            return _error(ctx, exc)
        ctx.response.status_code = 200
        return {"models": versions}

    # response_model=None: the return annotations below must not become a FastAPI response model.
    @queries.get("/model", response_model=None)
    def model(self, request: Request) -> dict[str, Any] | JSONResponse:
        """Versions, training-data fingerprints, test metrics and model cards."""
        try:
            self.state.authorize(request.headers.get("authorization"), "model")
            return self.state.model_info()
        except ServiceError as exc:
            return JSONResponse(exc.body, status_code=exc.status)

    @queries.get("/audit", response_model=None)
    def audit(
        self, request: Request, limit: int = 100, release_id: str | None = None
    ) -> list[dict[str, Any]] | JSONResponse:
        """Recent scoring records, newest first (auditor only)."""
        try:
            self.state.authorize(request.headers.get("authorization"), "audit")
            return self.state.audit(limit=limit, release_id=release_id)
        except ServiceError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
