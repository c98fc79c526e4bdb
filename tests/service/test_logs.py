"""Logs an operator can use (issue 12, item 8): JSON lines, request ids, no credentials.

Unit tests of :mod:`riskmodel.logs` and of the access log that
:class:`riskmodel.service.http.RouteMetrics` writes, over a small ASGI application in
this process; tests/service/test_production.py checks the same over a real server.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from riskmodel import logs
from riskmodel.service.http import RouteMetrics, note_role


@pytest.fixture
def captured():
    """riskmodel's logs in JSON, into a buffer (the handler removed afterwards)."""
    logger = logging.getLogger("riskmodel")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    buffer = io.StringIO()
    logs.configure("json")
    logger.handlers[-1].setStream(buffer)
    yield buffer
    logger.handlers[:], logger.level, logger.propagate = saved


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_lines_have_time_level_logger_message_and_extra_fields(captured):
    logging.getLogger("riskmodel.service.state").warning("loaded %s", "v3", extra={"worker": 2})
    (line,) = lines(captured)
    assert line["level"] == "WARNING" and line["logger"] == "riskmodel.service.state"
    assert line["message"] == "loaded v3" and line["worker"] == 2
    assert line["time"].endswith("+00:00") and "request_id" not in line


def test_a_line_written_while_answering_a_request_names_its_id(captured):
    token = logs.REQUEST_ID.set("abc123")
    try:
        logging.getLogger("riskmodel.x").info("inside")
    finally:
        logs.REQUEST_ID.reset(token)
    logging.getLogger("riskmodel.x").info("outside")
    inside, outside = lines(captured)
    assert inside["request_id"] == "abc123" and "request_id" not in outside


def test_an_exception_is_one_json_line_too(captured):
    try:
        raise KeyError("boom")
    except KeyError:
        logging.getLogger("riskmodel.x").exception("failed")
    (line,) = lines(captured)
    assert line["message"] == "failed" and "KeyError" in line["exception"]


def test_the_format_comes_from_riskmodel_log_format():
    assert logs.log_format({"RISKMODEL_LOG_FORMAT": "json"}) == "json"
    assert logs.log_format({"RISKMODEL_LOG_FORMAT": "text"}) == "text"
    assert logs.log_format({}) == "text"
    with pytest.raises(ValueError, match="RISKMODEL_LOG_FORMAT"):
        logs.configure("xml")


def test_text_lines_end_with_the_request_id():
    record = logging.LogRecord("riskmodel.x", logging.INFO, "", 0, "scored", None, None)
    token = logs.REQUEST_ID.set("r-1")
    try:
        text = logs.TextFormatter().format(record)
    finally:
        logs.REQUEST_ID.reset(token)
    assert text.endswith("INFO riskmodel.x: scored request_id=r-1")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://riskmodel:s3cret@db:5432/audit", "postgresql+psycopg://riskmodel:***@db:5432/audit"),
        ("sqlite:////srv/rm/audit.db", "sqlite:////srv/rm/audit.db"),
    ],
)
def test_database_urls_are_logged_without_their_password(url, shown):
    assert logs.safe_url(url) == shown


# --------------------------------------------------------------------------- the access log


def _app(status: int, *, role: str | None = None, request_id: bytes | None = None):
    async def app(scope, receive, send):
        if role:
            note_role(role)
        logging.getLogger("riskmodel.serving").warning("inside the application")
        headers = [(b"content-type", b"text/plain")] + ([(b"x-request-id", request_id)] if request_id else [])
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def _call(middleware, path: str = "/model") -> dict:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": []}
    asyncio.run(middleware(scope, receive, send))
    return dict(sent[0]["headers"])


def test_the_access_line_carries_the_request_id_the_answer_returns(captured):
    seen = []
    middleware = RouteMetrics(_app(403, role="panel"), routes=["/model"], observe=lambda *a: seen.append(a))
    headers = _call(middleware, "/model")
    inside, access = lines(captured)
    assert access["logger"] == "riskmodel.access"
    assert access["request_id"] == inside["request_id"] == headers[b"x-request-id"].decode()
    assert (access["method"], access["route"], access["status"], access["role"]) == ("GET", "/model", 403, "panel")
    assert seen[0][:2] == ("/model", 403) and seen[0][3] == "panel"


def test_an_id_the_application_sets_is_the_one_logged(captured):
    middleware = RouteMetrics(_app(200, request_id=b"from-app"), routes=["/score"], observe=lambda *a: None)
    headers = _call(middleware, "/score")
    assert headers[b"x-request-id"] == b"from-app"
    assert lines(captured)[-1]["request_id"] == "from-app"


def test_the_access_line_names_the_route_template_never_the_path(captured):
    middleware = RouteMetrics(_app(404), routes=["/model"], observe=lambda *a: None)
    _call(middleware, "/people/PERSON-SECRET-1")
    access = lines(captured)[-1]
    assert access["route"] == "other" and "PERSON-SECRET" not in json.dumps(access)


def test_probes_are_counted_but_not_logged(captured):
    seen = []
    middleware = RouteMetrics(_app(200), routes=["/readyz"], observe=lambda *a: seen.append(a))
    _call(middleware, "/readyz")
    assert [line["logger"] for line in lines(captured)] == ["riskmodel.serving"] and len(seen) == 1
