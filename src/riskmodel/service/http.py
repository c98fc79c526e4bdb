"""The service's HTTP edge as plain ASGI: a bound on request bodies, and metrics by route.

Both wrap the web application (``serving/service.py`` adds them) and know nothing of
scoring or keys:

- :class:`BodyLimit` refuses a body over the limit with 413 before the application
  reads a byte of it: at once when ``Content-Length`` says so, and by counting the bytes
  of a body sent without one (chunked), which it holds and then hands on whole.
- :class:`RouteMetrics` counts requests and their durations labelled by route template,
  every other path under one label, so that no client can add series by inventing paths.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

__all__ = ["BodyLimit", "RouteMetrics", "RequestMetrics", "OTHER_ROUTE", "refusal_body"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The label of every path that is not a route of the service.
OTHER_ROUTE = "other"

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
    """Request counts and durations (Prometheus), by route and status.

    In a multi-process server (``PROMETHEUS_MULTIPROC_DIR`` set, as BentoML sets it) the
    values are kept in that folder's files and :meth:`render` sums every process's.

    Parameters
    ----------
    namespace : str
        Prefix of the metric names.
    registry : prometheus_client.CollectorRegistry, optional
        Where a single-process server keeps them (a new one by default).
    """

    def __init__(self, namespace: str = "riskmodel", *, registry: Any = None):
        from prometheus_client import CollectorRegistry, Counter, Histogram

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

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(endpoint=route, http_response_code=str(status)).inc()
        self.duration.labels(endpoint=route).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every process's values."""
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess

        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


class RouteMetrics:
    """ASGI middleware: report each answered request's route template, status and duration.

    Parameters
    ----------
    app : ASGI application
        The application measured.
    routes : iterable of str
        The route templates; a template ending in ``/*`` covers every path below it.
        Any other path is reported as :data:`OTHER_ROUTE`.
    observe : callable
        ``observe(route, status, seconds)``, e.g. :meth:`RequestMetrics.observe`.
    """

    def __init__(self, app: ASGIApp, *, routes: Iterable[str], observe: Callable[[str, int, float], None]):
        self.app = app
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

        async def measured(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, measured)
        finally:
            self.observe(route, status, time.perf_counter() - start)
