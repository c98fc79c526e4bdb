"""The HTTP edge over a real server: body limit, key before body, JSON parsing, logs, /metrics, OpenAPI.

Issue 10, points 5, 7, 8, 10 and the duplicate keys of 9. One server (``bentoml serve``,
so that the serving folder is the one :func:`riskmodel.cli.serving_dir` names) with a
body limit of 1 MB serves the module.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import jsonschema
import pytest
from servers import audit_rows, serve  # noqa: F401  (serve is a fixture)

pytestmark = pytest.mark.timeout(300)

LIMIT = 1_000_000

#: Values no log line may hold (sent in refused requests, with and without a key).
SECRETS = ("ETHNICITY-SECRET-7f3a", "PERSON-SECRET-91bc", "SEX-SECRET-55de")


@pytest.fixture(scope="module")
def server(serve, trained_home):  # noqa: F811  (serve: the fixture imported from servers)
    env = dict(trained_home.env(), RISKMODEL_MAX_BODY_BYTES=str(LIMIT))
    return serve(env, command="bentoml")


@pytest.fixture(scope="module")
def row(trained_home) -> dict[str, Any]:
    from riskmodel.data.contract import find_table, read_table

    return read_table(find_table(trained_home.data, "releases")).iloc[0].to_dict()


def count(server) -> int:
    return len(audit_rows(server.audit_url))


def post_raw(client, raw: bytes | Any, **headers: str):
    return client.post("/score", content=raw, headers={"Content-Type": "application/json", **headers})


# --------------------------------------------------------------------------- 8: body limit, key before body


def test_a_body_over_the_limit_is_refused_413_before_it_is_parsed(server):
    before = count(server)
    with server.client("panel") as client:
        response = post_raw(client, b"x" * (LIMIT + 1))
    assert response.status_code == 413, response.text
    assert response.json()["problems"] == [
        {"field": "body", "rule": f"at most {LIMIT} bytes (RISKMODEL_MAX_BODY_BYTES)"}
    ]
    assert count(server) == before


def test_a_chunked_body_over_the_limit_is_refused_413(server):
    def chunks():  # no Content-Length: the server must count
        for _ in range(LIMIT // 100_000 + 2):
            yield b"x" * 100_000

    with server.client("panel") as client:
        response = post_raw(client, chunks())
    assert response.status_code == 413, response.text
    assert "RISKMODEL_MAX_BODY_BYTES" in response.json()["error"]


def test_a_chunked_body_under_the_limit_is_read_whole(server, row):
    text = json.dumps({"releases": [row]}).encode()

    def chunks():
        for i in range(0, len(text), 50):
            yield text[i : i + 50]

    with server.client("panel") as client:
        response = post_raw(client, chunks())
    assert response.status_code == 200, response.text
    assert response.json()[0]["release_id"] == row["release_id"]


@pytest.mark.parametrize(
    "role, key, status",
    [(None, None, 401), (None, "rk_000000000000_unknown", 401), ("auditor", None, 403)],
    ids=["no-key", "unknown-key", "auditor"],
)
def test_the_key_is_checked_before_the_body_is_parsed(server, role, key, status):
    with server.client(role, key=key) as client:
        response = post_raw(client, b'{"releases": [not json')
    assert response.status_code == status, response.text
    assert "JSON" not in response.text


# --------------------------------------------------------------------------- 9: body parsing


@pytest.mark.parametrize(
    "raw, field",
    [
        (b'{"releases": [{"sex": "M", "sex": "F"}]}', "releases[0].sex"),
        (b'{"releases": [], "releases": [{"sex": "M"}]}', "releases"),
    ],
    ids=["in-a-release", "top-level"],
)
def test_duplicate_keys_are_refused_422_naming_the_key(server, raw, field):
    with server.client("panel") as client:
        response = post_raw(client, raw)
    assert response.status_code == 422, response.text
    assert response.json()["problems"] == [
        {"field": field, "rule": "duplicate key: named more than once in one JSON object"}
    ]


def test_a_duplicate_key_in_a_valid_release_is_not_scored(server, row):
    text = json.dumps({"releases": [row]})
    assert text.endswith("}]}")
    raw = text[: -len("}]}")] + ', "sex": "' + ("F" if row["sex"] == "M" else "M") + '"}]}'  # the last one wins today
    before = count(server)
    with server.client("panel") as client:
        response = post_raw(client, raw.encode())
    assert response.status_code == 422, response.text
    assert count(server) == before


@pytest.mark.parametrize(
    "raw, status, field",
    [
        (b"releases=r1", 400, "body"),
        (b"", 400, "body"),
        (b"[" * 100_000, 400, "body"),
        (b'[{"release_id": "r1"}]', 422, "body"),
        (b'{"rows": [{"release_id": "r1"}]}', 422, "rows"),
        (b"{}", 422, "releases"),
        (b'{"releases": {"release_id": "r1"}}', 422, "releases"),
    ],
    ids=["not-json", "empty", "deeply-nested", "bare-list", "unknown-key", "no-releases", "object-not-list"],
)
def test_a_body_of_the_wrong_shape_is_refused_in_the_error_shape(server, raw, status, field):
    with server.client("panel") as client:
        response = post_raw(client, raw)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "problems"} and body["problems"][0]["field"] == field


# --------------------------------------------------------------------------- 5: logs


def test_refusals_are_logged_as_one_line_naming_fields_never_values(server, row):
    ethnicity, person, sex = SECRETS
    bad = dict(row, ethnicity=ethnicity, person_id=person, sex=sex)
    requests = [
        ("panel", json.dumps({"releases": [bad]}).encode()),  # contract refusals
        (None, json.dumps({"releases": [bad]}).encode()),  # no key
        ("panel", json.dumps({"releases": ethnicity}).encode()),  # wrong shape
        ("panel", json.dumps({"rows": [bad]}).encode()),  # unknown top-level key
        ("panel", f'{{"releases": [{{"sex": "{sex}", "sex": "{sex}"}}]}}'.encode()),  # duplicate key
        ("panel", f'{{"releases": ["{ethnicity}"'.encode()),  # not JSON
    ]
    for role, raw in requests:
        with server.client(role) as client:
            assert 400 <= post_raw(client, raw).status_code < 500
    log = server.log.read_text(errors="replace")
    for secret in SECRETS:
        assert secret not in log
    assert "Traceback" not in log and "input_value" not in log
    lines = [line for line in log.splitlines() if "POST /score refused" in line]
    assert any("refused 422" in line and "releases[0].ethnicity: must be one of" in line for line in lines), lines
    assert any("refused 422: releases[0].sex: duplicate key" in line for line in lines), lines
    assert any("refused 400: body: must be JSON" in line for line in lines), lines
    assert any("refused 401" in line for line in lines), lines


# --------------------------------------------------------------------------- 7: /metrics


@pytest.mark.parametrize("role, status", [(None, 401), ("panel", 403), ("auditor", 403), ("operator", 200)])
def test_metrics_need_the_operator_role(server, role, status):
    with server.client(role) as client:
        response = client.get("/metrics")
    assert response.status_code == status, response.text
    if status != 200:
        assert "error" in response.json()


def test_metrics_do_not_grow_with_unknown_paths(server):
    with server.client("operator") as client:
        for i in range(5):  # every series these requests make exists from here on
            client.get(f"/warm-{i}")
            client.get("/metrics")
        before = client.get("/metrics").text
        for _ in range(200):
            assert client.get(f"/junk/{uuid.uuid4().hex}").status_code == 404
        after = client.get("/metrics").text
    assert len(after) - len(before) < 400, len(after) - len(before)  # only counts change
    assert "junk" not in after and "warm" not in after
    assert 'endpoint="other",http_response_code="404"' in after


def test_metrics_are_labelled_by_route(server, row):
    with server.client("operator") as client:
        assert client.post("/score", json={"releases": [row]}).status_code == 200
        text = client.get("/metrics").text
    assert 'riskmodel_http_requests_total{endpoint="/score",http_response_code="200"}' in text


# --------------------------------------------------------------------------- 10: the published schema


def as_json_schema(schema: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema (``nullable: true`` becomes a null type)."""
    if isinstance(schema, list):
        return [as_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: as_json_schema(v) for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


@pytest.fixture(scope="module")
def document(server) -> dict[str, Any]:
    with server.client() as client:
        response = client.get("/docs.json")
    assert response.status_code == 200
    return response.json()


def answer_schema(document, path: str, method: str, status: int) -> dict[str, Any]:
    responses = document["paths"][path][method]["responses"]
    assert str(status) in responses, (path, method, sorted(responses))
    return as_json_schema(copy.deepcopy(responses[str(status)]["content"]["application/json"]["schema"]))


@pytest.mark.parametrize(
    "path, method, statuses",
    [
        ("/score", "post", (200, 400, 401, 403, 413, 422, 503)),
        ("/reload", "post", (200, 401, 403, 413, 503)),
        ("/model", "get", (200, 401, 403, 413, 503)),
        ("/audit", "get", (200, 401, 403, 413, 422, 503)),
        ("/metrics", "get", (200, 401, 403, 413, 503)),
    ],
)
def test_every_answer_is_documented(document, path, method, statuses):
    assert sorted(document["paths"][path][method]["responses"]) == sorted(str(s) for s in statuses)


def test_the_request_schema_is_the_contract(document):
    from riskmodel.data.contract import RELEASE_SPECS
    from riskmodel.service.state import MAX_RELEASES_PER_REQUEST

    body = document["paths"]["/score"]["post"]["requestBody"]
    assert body["required"] is True
    schema = body["content"]["application/json"]["schema"]
    assert schema["required"] == ["releases"]
    releases = schema["properties"]["releases"]
    assert releases["minItems"] == 1 and releases["maxItems"] == MAX_RELEASES_PER_REQUEST
    release = releases["items"]
    assert release["required"] == [spec.name for spec in RELEASE_SPECS if spec.required]
    # Never stricter than the service: what it reads (text as in a CSV, any case for sex) the schema allows.
    sex, age = release["properties"]["sex"], release["properties"]["age_at_release"]
    assert [jsonschema.Draft4Validator(sex).is_valid(v) for v in ("M", " f ", "X", "male")] == [
        True,
        True,
        False,
        False,
    ]
    assert [jsonschema.Draft4Validator(age).is_valid(v) for v in (30, "30", 9, "thirty")] == [True, True, False, False]
    assert age["anyOf"][0]["minimum"] == 10 and age["anyOf"][0]["maximum"] == 100


def test_a_valid_request_by_the_schema_is_scored_and_the_answer_matches_it(server, document, row):
    request = as_json_schema(
        document["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    )
    typed = {
        "release_id": "schema-r1",
        "person_id": "schema-p1",
        "release_date": "2020-01-15",
        "sex": "M",
        "age_at_release": 30,
        "previous_sanctions": 4,
        "index_offence": "burglary_domestic",
    }
    jsonschema.validate({"releases": [typed]}, request)
    with server.client("panel") as client:
        response = client.post("/score", json={"releases": [typed]})
    assert response.status_code == 200, response.text
    jsonschema.validate(response.json(), answer_schema(document, "/score", "post", 200))


@pytest.mark.parametrize(
    "role, raw, status",
    [
        (None, b"{}", 401),
        ("auditor", b"{}", 403),
        ("panel", b"{", 400),
        ("panel", b"x" * (LIMIT + 1), 413),
        ("panel", b'{"releases": []}', 422),
        ("panel", b'{"releases": [{"release_id": "r1", "sex": "X"}]}', 422),
    ],
    ids=["401", "403", "400", "413", "422-empty", "422-contract"],
)
def test_every_refusal_matches_its_documented_schema(server, document, role, raw, status):
    with server.client(role) as client:
        response = post_raw(client, raw)
    assert response.status_code == status, response.text
    jsonschema.validate(response.json(), answer_schema(document, "/score", "post", status))


def test_query_refusals_match_the_documented_schema(server, document):
    with server.client("auditor") as client:
        for params in ({"limit": "many"}, {"limit": 0}):
            response = client.get("/audit", params=params)
            assert response.status_code == 422, response.text
            assert response.json()["problems"][0]["field"] == "limit"
            jsonschema.validate(response.json(), answer_schema(document, "/audit", "get", 422))
