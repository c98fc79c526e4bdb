"""BentoML service for the IOM panel: thin HTTP mapping onto :mod:`riskmodel.service`.

Start with ``riskmodel serve`` or ``bentoml serve serving.service:RiskService``.
Endpoints: ``POST /score``, ``POST /reload``, ``GET /model``, ``GET /audit``, and
BentoML's own ``/healthz``, ``/livez``, ``/readyz`` and Prometheus ``/metrics``.

One worker: reload swaps the champions in this process, so a single process keeps
every request on one consistent set of versions.
"""

from __future__ import annotations

from typing import Any

import bentoml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from riskmodel.service import ServiceError, ServiceState
from riskmodel.settings import Settings

queries = FastAPI(title="riskmodel read endpoints")


def _error(ctx: bentoml.Context, exc: ServiceError) -> JSONResponse:
    ctx.response.status_code = exc.status
    return JSONResponse(exc.body, status_code=exc.status)


@bentoml.asgi_app(queries, path="/")
@bentoml.service(name="riskmodel", workers=1, traffic={"timeout": 60})
class RiskService:
    """Scores releases with the champion models; authenticated and audited."""

    def __init__(self) -> None:
        self.state = ServiceState(Settings.from_env())

    def __is_ready__(self) -> bool:
        return self.state is not None

    @bentoml.api(route="/score")
    def score(self, releases: list[dict[str, Any]], ctx: bentoml.Context) -> list[dict[str, Any]]:
        """Score one or many contract rows: ``{"releases": [...]}``."""
        try:
            key = self.state.authorize(ctx.request.headers.get("authorization"), "score")
            return self.state.score(key, releases)
        except ServiceError as exc:
            return _error(ctx, exc)

    @bentoml.api(route="/reload")
    def reload(self, ctx: bentoml.Context) -> dict[str, Any]:
        """Swap to the registry's current champions (operator only)."""
        try:
            self.state.authorize(ctx.request.headers.get("authorization"), "reload")
            return {"models": self.state.reload()}
        except ServiceError as exc:
            return _error(ctx, exc)

    @queries.get("/model")
    def model(self, request: Request):
        """Versions, training-data fingerprints, test metrics and model cards."""
        try:
            self.state.authorize(request.headers.get("authorization"), "model")
            return self.state.model_info()
        except ServiceError as exc:
            return JSONResponse(exc.body, status_code=exc.status)

    @queries.get("/audit")
    def audit(self, request: Request, limit: int = 100, release_id: str | None = None):
        """Recent scoring records (auditor only)."""
        try:
            self.state.authorize(request.headers.get("authorization"), "audit")
            return self.state.audit(limit=limit, release_id=release_id)
        except ServiceError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
