"""The service's HTTP edge as plain ASGI: a bound on request bodies, and metrics by route.

Both wrap the web application (``serving/service.py`` adds them) and know nothing of
scoring or keys:

- :class:`BodyLimit` refuses a body over the limit with 413 before the application
  reads a byte of it: at once when ``Content-Length`` says so, and by counting the bytes
  of a body sent without one (chunked), which it holds and then hands on whole.
- :class:`RouteMetrics` gives every request an id (the ``X-Request-Id`` header of its
  answer, and ``request_id`` on every log line written while answering it), writes one
  access-log line per answer, and counts requests and their durations labelled by route
  template, every other path under one label, so that no client can add series by
  inventing paths. The caller's role (a label of ``riskmodel_requests_total``) is told
  by whoever checks the key (:func:`note_role`).

:class:`RequestMetrics` holds the Prometheus series (see its docstring for the list).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from riskmodel.logs import REQUEST_ID

__all__ = [
    "BodyLimit",
    "RouteMetrics",
    "RequestMetrics",
    "OTHER_ROUTE",
    "NO_ROLE",
    "QUIET_ROUTES",
    "note_role",
    "refusal_body",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The label of every path that is not a route of the service.
OTHER_ROUTE = "other"

#: The role label of a request answered without a known key (none sent, unknown, or none needed).
NO_ROLE = "none"

#: Routes answered without an access-log line (probes polled every few seconds); still counted.
QUIET_ROUTES = frozenset({"/healthz", "/livez", "/readyz"})

access_logger = logging.getLogger("riskmodel.access")


@dataclass
class _Exchange:
    """What the edge knows of the request being answered."""

    request_id: str
    role: str = NO_ROLE


_EXCHANGE: ContextVar[_Exchange | None] = ContextVar("riskmodel_exchange", default=None)


def note_role(role: str) -> None:
    """Tell the edge the role of the key that the request being answered was checked with.

    Called where keys are checked (:meth:`riskmodel.service.state.ServiceState.authorize`),
    in the request's context (threads started with ``anyio.to_thread`` share it); outside
    a request it does nothing.
    """
    exchange = _EXCHANGE.get()
    if exchange is not None:
        exchange.role = role


#: How much of an oversized body is read (and dropped) before the 413 is sent, so that a
#: client still writing it reads the answer instead of a reset connection.
DRAIN_BYTES = 64 * 1024 * 1024


def refusal_body(error: str, field: str, rule: str) -> dict[str, Any]:
    """The service's error body: ``{"error", "problems": [{"field", "rule"}]}``.

    Examples
    --------
    >>> refusal_body("body too large", "body", "at most 10 bytes")["problems"]
    [{'field': 'body', 'rule': 'at most 10 bytes'}]
    """
    return {"error": error, "problems": [{"field": field, "rule": rule}]}


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413, unparsed.

    Parameters
    ----------
    app : ASGI application
        The application it guards.
    max_bytes : int
        The largest body accepted.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next((value for name, value in scope.get("headers", ()) if name == b"content-length"), None)
        if length is not None:
            if length.strip().isdigit() and int(length) <= self.max_bytes:
                await self.app(scope, receive, send)  # the server reads no more than it says
                return
            expects = any(name == b"expect" and b"100-continue" in value.lower() for name, value in scope["headers"])
            await self._refuse(receive, send, declared=True, more=not expects)  # never asked for the body
            return
        held, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(receive, send, declared=False, more=message.get("more_body", False))
                return
            held.append(message)
            more = message.get("more_body", False)
        await self.app(scope, _replay(held, receive), send)

    async def _refuse(self, receive: Receive, send: Send, *, declared: bool, more: bool = True) -> None:
        drained = 0
        while more and drained < DRAIN_BYTES:
            message = await receive()
            if message["type"] != "http.request":
                return
            drained += len(message.get("body", b""))
            more = message.get("more_body", False)
        rule = f"at most {self.max_bytes} bytes (RISKMODEL_MAX_BODY_BYTES)"
        said = "Content-Length over the limit" if declared else "body over the limit"
        await _send_json(send, 413, refusal_body(f"request body too large: {said}, {rule}", "body", rule))


def _replay(held: list[Message], receive: Receive) -> Receive:
    """``receive`` that first gives the ``held`` messages, then the server's own."""
    queue = list(held)

    async def replay() -> Message:
        return queue.pop(0) if queue else await receive()

    return replay


class RequestMetrics:
    """The service's Prometheus series.

    Counted as they happen (summed over worker processes):

    - ``riskmodel_http_requests_total{endpoint, http_response_code}`` and
      ``riskmodel_http_request_duration_seconds{endpoint}``: answers by route template;
    - ``riskmodel_requests_total{route, role, status}``: answers by route template, the
      caller's role (``panel``, ``operator``, ``auditor``, or ``none`` without a live key)
      and status;
    - ``riskmodel_scored_releases_total{target, band, model_version}``: releases scored
      *and* audited, by the band given (``none`` for a target without bands) and the
      version of the model that scored them;
    - ``riskmodel_audit_write_failures_total``: audit writes that failed (each refused
      the requests they carried with 503).

    Read when rendered, from the answering worker (every worker serves the same set
    after a ``/reload``):

    - ``riskmodel_champion_info{target, version}``: 1 for each champion served;
    - ``riskmodel_reload_generation``: the generation of published champions served
      (:mod:`riskmodel.service.workers`; it grows by one with each reload).

    In a multi-process server (``PROMETHEUS_MULTIPROC_DIR`` set, as BentoML sets it) the
    counts are kept in that folder's files, one per process, and :meth:`render` sums
    every process's, those of workers since restarted included (counters never go back).

    Parameters
    ----------
    namespace : str
        Prefix of the metric names.
    registry : prometheus_client.CollectorRegistry, optional
        Where a single-process server keeps them (a new one by default).
    """

    def __init__(self, namespace: str = "riskmodel", *, registry: Any = None):
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.namespace = namespace
        self.registry = CollectorRegistry() if registry is None else registry
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template and status",
            ["endpoint", "http_response_code"],
            namespace=namespace,
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration in seconds, by route template",
            ["endpoint"],
            namespace=namespace,
            registry=self.registry,
        )
        self.by_role = Counter(
            "requests",
            "Requests answered, by route template, the caller's role and status",
            ["route", "role", "status"],
            namespace=namespace,
            registry=self.registry,
        )
        self.scored = Counter(
            "scored_releases",
            "Releases scored and audited, by target, band and model version",
            ["target", "band", "model_version"],
            namespace=namespace,
            registry=self.registry,
        )
        self.audit_failures = Counter(
            "audit_write_failures",
            "Audit writes that failed (their requests were refused with 503)",
            namespace=namespace,
            registry=self.registry,
        )

    def observe(self, route: str, status: int, seconds: float, role: str = NO_ROLE) -> None:
        """Count one answered request."""
        self.requests.labels(endpoint=route, http_response_code=str(status)).inc()
        self.duration.labels(endpoint=route).observe(seconds)
        self.by_role.labels(route=route, role=role, status=str(status)).inc()

    def count_scored(self, counts: Mapping[tuple[str, str, str], int]) -> None:
        """Count scored and audited releases: ``{(target, band, model_version): n}``."""
        for (target, band, version), n in counts.items():
            if n:
                self.scored.labels(target=target, band=band, model_version=version).inc(n)

    def count_audit_write_failure(self) -> None:
        """Count one failed audit write."""
        self.audit_failures.inc()

    def render(self, *, champions: Mapping[str, str] | None = None, generation: int | None = None) -> bytes:
        """The Prometheus text exposition of every process's values.

        Parameters
        ----------
        champions : mapping, optional
            Target -> version number served (``riskmodel_champion_info``).
        generation : int, optional
            The published generation served (``riskmodel_reload_generation``).
        """
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess

        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = CollectorRegistry()
            registry.register(_Collected(self.registry))
        registry.register(_Served(self.namespace, champions or {}, generation))
        return generate_latest(registry)


class _Collected:
    """A collector giving another registry's metrics (so that one exposition holds both)."""

    def __init__(self, registry: Any):
        self.registry = registry

    def collect(self) -> Iterable[Any]:
        return self.registry.collect()


class _Served:
    """``champion_info`` and ``reload_generation``, read when rendered."""

    def __init__(self, namespace: str, champions: Mapping[str, str], generation: int | None):
        self.namespace, self.champions, self.generation = namespace, dict(champions), generation

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        info = GaugeMetricFamily(
            f"{self.namespace}_champion_info",
            "The champion versions served (1 for each target's version)",
            labels=["target", "version"],
        )
        for target, version in sorted(self.champions.items()):
            info.add_metric([target, str(version)], 1)
        yield info
        if self.generation is not None:
            yield GaugeMetricFamily(
                f"{self.namespace}_reload_generation",
                "The generation of published champions served (grows by one with each reload)",
                value=self.generation,
            )


class RouteMetrics:
    """ASGI middleware: a request id, an access-log line and metrics for each answered request.

    The id is set in :data:`riskmodel.logs.REQUEST_ID` while the request is answered
    and sent as the answer's ``X-Request-Id`` header (an id the application already set
    there is kept and logged). The access line names the route template, never the path
    sent (a path may hold anything).

    Parameters
    ----------
    app : ASGI application
        The application measured.
    routes : iterable of str
        The route templates; a template ending in ``/*`` covers every path below it.
        Any other path is reported as :data:`OTHER_ROUTE`.
    observe : callable
        ``observe(route, status, seconds, role)``, e.g. :meth:`RequestMetrics.observe`.
    log : bool
        Write one access-log line per answer (logger ``riskmodel.access``), except for
        the probes (:data:`QUIET_ROUTES`).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Iterable[str],
        observe: Callable[[str, int, float, str], None],
        log: bool = True,
    ):
        self.app = app
        self.log = log
        routes = tuple(routes)
        self.exact = frozenset(r for r in routes if not r.endswith("/*"))
        self.prefixes = tuple(r[:-1] for r in routes if r.endswith("/*"))
        self.observe = observe

    def route(self, path: str) -> str:
        """The label of ``path``: its route template, or :data:`OTHER_ROUTE`.

        Examples
        --------
        >>> RouteMetrics(None, routes=["/score", "/static/*"], observe=print).route("/static/app.js")
        '/static/*'
        >>> RouteMetrics(None, routes=["/score"], observe=print).route("/score/../etc/passwd")
        'other'
        """
        if path in self.exact:
            return path
        for prefix in self.prefixes:
            if path.startswith(prefix):
                return prefix + "*"
        return OTHER_ROUTE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route, start, status = self.route(scope.get("path", "")), time.perf_counter(), 500
        exchange = _Exchange(uuid.uuid4().hex)
        tokens = (_EXCHANGE.set(exchange), REQUEST_ID.set(exchange.request_id))

        async def measured(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", ()))
                given = next((v for k, v in headers if k.lower() == b"x-request-id"), None)
                if given is None:  # every answer names its request
                    message = {**message, "headers": [*headers, (b"x-request-id", exchange.request_id.encode())]}
                else:  # the application named it (the same id, as /score answers)
                    exchange.request_id = given.decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, measured)
        finally:
            seconds = time.perf_counter() - start
            try:
                self.observe(route, status, seconds, exchange.role)
                if self.log and route not in QUIET_ROUTES:
                    self._log(scope, route, status, seconds, exchange)
            finally:
                REQUEST_ID.reset(tokens[1])
                _EXCHANGE.reset(tokens[0])

    @staticmethod
    def _log(scope: Scope, route: str, status: int, seconds: float, exchange: _Exchange) -> None:
        """One access-log line: method, route template (never the path sent), status, time, role, request id."""
        method = str(scope.get("method", ""))
        access_logger.info(
            "%s %s %d %.1f ms role=%s",
            method,
            route,
            status,
            seconds * 1000,
            exchange.role,
            extra={
                "request_id": exchange.request_id,
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
                "role": exchange.role,
            },
        )
