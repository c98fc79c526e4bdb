"""The HTTP edge without a server: reading /score bodies, the body limit, route labels, the schemas, the setting."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from riskmodel.service.errors import ServiceError
from riskmodel.service.http import OTHER_ROUTE, BodyLimit, RequestMetrics, RouteMetrics
from riskmodel.service.schema import read_score_body, release_schema, score_record_schema, score_request_schema
from riskmodel.settings import DEFAULT_MAX_BODY_BYTES, Settings

# --------------------------------------------------------------------------- reading a body


def refusal(raw: bytes) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        read_score_body(raw)
    return caught.value


def test_a_body_is_its_releases():
    assert read_score_body(b'{"releases": [{"release_id": "r1", "age_at_release": 30}]}') == [
        {"release_id": "r1", "age_at_release": 30}
    ]


@pytest.mark.parametrize(
    "raw, field",
    [
        (b'{"releases": [{"sex": "M", "sex": "F"}]}', "releases[0].sex"),
        (b'{"releases": [{"a": 1}, {"b": {"c": 1, "c": 2}}]}', "releases[1].b.c"),
        (b'{"releases": [], "releases": [{"sex": "M"}]}', "releases"),
    ],
)
def test_a_key_named_twice_is_refused_naming_its_path(raw, field):
    error = refusal(raw)
    assert error.status == 422
    assert error.body["problems"] == [
        {"field": field, "rule": "duplicate key: named more than once in one JSON object"}
    ]


@pytest.mark.parametrize(
    "raw",
    [b"", b"releases=r1", b'{"releases": [', b"\xff\xfe\x00", b"[" * 100_000, b'{"releases": "ETHNIC-VALUE'],
    ids=["empty", "form", "cut", "not-utf8", "deep", "unclosed-string"],
)
def test_what_is_not_json_is_400_naming_the_body_and_no_value(raw):
    error = refusal(raw)
    assert error.status == 400
    assert [p["field"] for p in error.body["problems"]] == ["body"]
    assert "ETHNIC" not in json.dumps(error.body)


@pytest.mark.parametrize(
    "raw, field",
    [
        (b'[{"release_id": "r1"}]', "body"),
        (b'"releases"', "body"),
        (b"{}", "releases"),
        (b'{"rows": []}', "rows"),
        (b'{"releases": {"release_id": "r1"}}', "releases"),
        (b'{"releases": "r1"}', "releases"),
    ],
)
def test_a_body_of_the_wrong_shape_is_422(raw, field):
    error = refusal(raw)
    assert error.status == 422
    assert error.body["problems"][0]["field"] == field and field in error.body["error"]


def test_an_integer_too_long_for_python_reaches_the_contract_as_infinite():
    (release,) = read_score_body(b'{"releases": [{"previous_sanctions": ' + b"9" * 5000 + b"}]}")
    assert release["previous_sanctions"] == float("inf")


# --------------------------------------------------------------------------- the ASGI guards


def run(app, *, headers: list[tuple[bytes, bytes]], chunks: list[bytes], path: str = "/score") -> dict[str, Any]:
    """Call an ASGI app once; what it sent and what the inner app received."""
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return {"status": status, "body": body}


async def echo(scope, receive, send):
    """An app answering 200 with the body it read."""
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def test_a_declared_length_over_the_limit_is_413_and_the_app_never_runs():
    called = []

    async def app(scope, receive, send):
        called.append(scope)

    out = run(BodyLimit(app, max_bytes=10), headers=[(b"content-length", b"11")], chunks=[b"x" * 11])
    assert out["status"] == 413 and not called
    assert json.loads(out["body"])["problems"] == [
        {"field": "body", "rule": "at most 10 bytes (RISKMODEL_MAX_BODY_BYTES)"}
    ]


def test_a_chunked_body_is_counted_and_refused_over_the_limit():
    out = run(BodyLimit(echo, max_bytes=10), headers=[], chunks=[b"x" * 6, b"x" * 6])
    assert out["status"] == 413


def test_a_body_within_the_limit_reaches_the_app_whole():
    chunked = run(BodyLimit(echo, max_bytes=10), headers=[], chunks=[b"abc", b"def", b""])
    declared = run(BodyLimit(echo, max_bytes=10), headers=[(b"content-length", b"10")], chunks=[b"0123456789"])
    assert (chunked["status"], chunked["body"]) == (200, b"abcdef")
    assert (declared["status"], declared["body"]) == (200, b"0123456789")


def test_unknown_paths_are_one_label():
    seen = []
    app = RouteMetrics(echo, routes=["/score", "/static/*"], observe=lambda *a: seen.append(a[:2]))
    for path in ("/score", "/static/x.js", "/junk/1", "/junk/2", "/score/"):
        run(app, headers=[], chunks=[b""], path=path)
    assert seen == [("/score", 200), ("/static/*", 200), (OTHER_ROUTE, 200), (OTHER_ROUTE, 200), (OTHER_ROUTE, 200)]


def test_request_metrics_render_prometheus_text(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    metrics = RequestMetrics()
    metrics.observe("/score", 200, 0.01)
    text = metrics.render().decode()
    assert 'riskmodel_http_requests_total{endpoint="/score",http_response_code="200"} 1.0' in text


# --------------------------------------------------------------------------- schemas and the setting


def test_the_request_schema_holds_the_contract():
    from riskmodel.data.contract import RELEASE_SPECS
    from riskmodel.service.state import MAX_RELEASES_PER_REQUEST

    releases = score_request_schema()["properties"]["releases"]
    assert (releases["minItems"], releases["maxItems"]) == (1, MAX_RELEASES_PER_REQUEST)
    assert release_schema()["required"] == [s.name for s in RELEASE_SPECS if s.required]
    assert release_schema()["properties"]["ethnicity"]["nullable"] is True


def test_the_answer_schema_holds_every_output_column():
    from riskmodel.scoring.output import OUTPUT_COLUMNS

    assert list(score_record_schema()["properties"]) == list(OUTPUT_COLUMNS)


def test_the_body_limit_setting():
    assert Settings.from_env({"RISKMODEL_HOME": "/tmp/rm"}).max_body_bytes == DEFAULT_MAX_BODY_BYTES
    assert Settings.from_env({"RISKMODEL_HOME": "/tmp/rm", "RISKMODEL_MAX_BODY_BYTES": "1000"}).max_body_bytes == 1000
    for bad in ("0", "-5", "ten", "1e6"):
        with pytest.raises(ValueError, match="RISKMODEL_MAX_BODY_BYTES"):
            Settings.from_env({"RISKMODEL_HOME": "/tmp/rm", "RISKMODEL_MAX_BODY_BYTES": bad})
