"""The real service over HTTP: scores, keys and roles, validation, audit trail, 503, /model, /metrics.

One server (started through ``riskmodel serve``) on the session's trained home serves the
whole module; a second one, whose audit database cannot be reached, checks the 503 path.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from contextlib import closing
from typing import Any

import pandas as pd
import pytest
from servers import audit_rows, serve, sqlite_path, wait_ready  # noqa: F401  (serve is a fixture)

pytestmark = pytest.mark.timeout(300)

NUMERIC = (
    "reoffence_probability",
    "harm_probability",
    "frequency_expected",
    "priority_score",
    "priority_rank",
    "ogrs3_1y",
    "ogrs3_2y",
    "arp_2y",
)
MODEL_FIELDS = ("reoffence_model", "harm_model", "frequency_model")


# --------------------------------------------------------------------------- fixtures


UNREACHABLE_AUDIT_DB = "postgresql+psycopg://riskmodel@127.0.0.1:1/riskmodel_audit"


@pytest.fixture(scope="module")
def servers(serve, trained_home):  # noqa: F811  (serve: the fixture imported from servers)
    """Both servers of this module, started together.

    ``main``: ``riskmodel serve`` with a panel, an operator and an auditor key;
    ``no_audit_db``: ``bentoml serve`` with an audit database nobody can reach (alive, never ready).
    """
    launched = {
        "main": serve(trained_home.env(), command="cli", wait=False),
        "no_audit_db": serve(
            trained_home.env(), command="bentoml", audit_url=UNREACHABLE_AUDIT_DB, roles=(), wait=False
        ),
    }
    return {"main": wait_ready(launched["main"]), "no_audit_db": wait_ready(launched["no_audit_db"], path="/livez")}


@pytest.fixture(scope="module")
def server(servers):
    return servers["main"]


@pytest.fixture(scope="module")
def champions(trained_home):
    from riskmodel.modelling.registry import load_champions

    return load_champions(trained_home.settings)


@pytest.fixture(scope="module")
def text_rows(trained_home) -> pd.DataFrame:
    """The cohort's releases as a CSV read gives them (every cell text, blanks '')."""
    from riskmodel.data.contract import find_table, read_table

    return read_table(find_table(trained_home.data, "releases"))


def expected_output(rows: pd.DataFrame, champions) -> list[dict[str, Any]]:
    """What batch scoring says for these rows (the oracle for the service)."""
    from riskmodel.scoring.scoring import score_frame, validate_for_scoring

    table = validate_for_scoring(rows.reset_index(drop=True), champions)
    assert len(table.rejects) == 0
    return score_frame(table.data, champions).to_dict(orient="records")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def assert_same_scores(answer: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Every output field but ``scored_at``, numbers compared as numbers."""
    assert len(answer) == len(expected)
    for got, want in zip(answer, expected, strict=True):
        assert set(got) == set(want), set(got) ^ set(want)
        for name, value in want.items():
            if name == "scored_at":
                continue
            if name in NUMERIC:
                if _missing(value):
                    assert got[name] is None, (name, got[name])
                else:
                    assert got[name] == pytest.approx(float(value), rel=1e-12, abs=1e-12), (name, got["release_id"])
            elif name == "top_factors":
                assert len(got[name]) == len(value)
                for g, w in zip(got[name], value, strict=True):
                    assert g["contribution"] == pytest.approx(w["contribution"], abs=1e-12)
                    assert {k: v for k, v in g.items() if k != "contribution"} == {
                        k: v for k, v in w.items() if k != "contribution"
                    }
            elif name in ("needs", "warnings"):
                assert got[name] == value, name
            elif _missing(value):
                assert got[name] is None, (name, got[name])
            else:
                assert got[name] == value, (name, got[name], value)


def typed(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as a JSON client would type it: numbers, booleans and nulls."""
    out: dict[str, Any] = {}
    for name, text in row.items():
        if text == "":
            out[name] = None
        elif name.startswith("needs_"):
            out[name] = text.lower() in ("true", "yes", "1")
        elif name in ("release_id", "person_id", "release_date", "sex", "index_offence", "ethnicity"):
            out[name] = text
        else:
            number = float(text)
            out[name] = int(number) if number.is_integer() else number
    return out


def post_score(client, releases) -> Any:
    return client.post("/score", json={"releases": releases})


def count(server) -> int:
    return len(audit_rows(server.audit_url))


# --------------------------------------------------------------------------- scores


def test_scores_equal_batch_scoring_for_many_rows_in_one_request(server, champions, text_rows):
    rows = text_rows.iloc[:300]  # over the size at which a request is scored in two halves
    with server.client("panel") as client:
        response = post_score(client, rows.to_dict(orient="records"))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert_same_scores(answer, expected_output(rows, champions))
    assert sorted(r["priority_rank"] for r in answer) == list(range(1, len(rows) + 1))


def test_scores_equal_batch_scoring_one_release_per_request(server, champions, text_rows):
    rows = text_rows.iloc[300:312]
    with server.client("panel") as client:
        for i in range(len(rows)):
            response = post_score(client, [rows.iloc[i].to_dict()])
            assert response.status_code == 200, response.text
            assert_same_scores(response.json(), expected_output(rows.iloc[i : i + 1], champions))


def test_typed_json_scores_equal_the_csv_text(server, champions, text_rows):
    rows = text_rows.iloc[320:360]
    with server.client("operator") as client:
        response = post_score(client, [typed(r) for r in rows.to_dict(orient="records")])
    assert response.status_code == 200, response.text
    assert_same_scores(response.json(), expected_output(rows, champions))


def test_answer_is_versioned_explained_and_stamped(server, text_rows, trained_home):
    with server.client("panel") as client:
        (answer,) = post_score(client, [text_rows.iloc[0].to_dict()]).json()
    for target in ("reoffence", "harm", "frequency"):
        assert answer[f"{target}_model"] == f"riskmodel-{target}/{trained_home.versions[target]}"
    assert 1 <= len(answer["top_factors"]) <= 5
    assert {"feature", "value", "contribution", "direction"} <= set(answer["top_factors"][0])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", answer["scored_at"])


def test_concurrent_clients_each_get_their_own_answer_and_record(server, champions, text_rows):
    """Requests that wait together are scored together: each answer must still be its own."""
    from concurrent.futures import ThreadPoolExecutor

    plan = []  # (role, rows, expected status)
    for i in range(24):
        rows = text_rows.iloc[500 + 3 * i : 500 + 3 * i + 1 + i % 3]
        if i % 6 == 4:
            plan.append(("panel", [dict(rows.iloc[0].to_dict(), sex="X")], 422))
        elif i % 6 == 5:
            plan.append(("auditor", rows.to_dict(orient="records"), 403))
        else:
            plan.append(("panel" if i % 2 else "operator", rows.to_dict(orient="records"), 200))
    plan.append(("panel", text_rows.iloc[500:502].to_dict(orient="records"), 200))  # ids shared with other requests

    def send(item):
        role, releases, _ = item
        with server.client(role) as client:
            return post_score(client, releases)

    before = audit_rows(server.audit_url)
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(send, plan))
    after = audit_rows(server.audit_url)
    by_request = {r["request_id"]: r for r in after[len(before) :]}
    assert len(by_request) == sum(1 for *_, status in plan if status == 200)
    for (role, releases, status), response in zip(plan, responses, strict=True):
        assert response.status_code == status, response.text
        if status != 200:
            continue
        assert_same_scores(response.json(), expected_output(pd.DataFrame(releases), champions))
        record = by_request[response.headers["X-Request-Id"]]
        assert record["role"] == role and record["key_id"] == server.key_ids[role]
        assert json.loads(record["outputs"]) == response.json()


# --------------------------------------------------------------------------- keys and roles


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer rk_000000000000_not-a-key"},
        {"Authorization": "Basic cGFuZWw6cGFuZWw="},
        {"Authorization": "rk_000000000000_not-a-key"},
    ],
    ids=["no-header", "empty-bearer", "wrong-key", "basic-auth", "no-scheme"],
)
@pytest.mark.parametrize(
    "method, path", [("POST", "/score"), ("GET", "/model"), ("GET", "/audit"), ("POST", "/reload")]
)
def test_without_a_valid_key_401_and_nothing_recorded(server, text_rows, headers, method, path):
    before = count(server)
    with server.client() as client:
        body = {"releases": [text_rows.iloc[0].to_dict()]} if path != "/reload" else None
        response = client.request(method, path, json=body, headers=headers)
    assert response.status_code == 401, response.text
    assert "error" in response.json() and "reoffence_probability" not in response.text
    assert count(server) == before


def test_a_revoked_key_is_refused(server, text_rows):
    from riskmodel.records.audit import AuditStore

    store = AuditStore(server.audit_url)
    key, key_id = store.create_key("panel", label="to revoke")
    row = [text_rows.iloc[0].to_dict()]
    with server.client(key=key) as client:
        assert post_score(client, row).status_code == 200
        assert store.revoke_key(key_id)
        before = count(server)
        response = post_score(client, row)
        assert response.status_code == 401, response.text
        assert "revoked" in response.json()["error"]
        assert client.get("/model").status_code == 401
    assert count(server) == before
    store.engine.dispose()


@pytest.mark.parametrize(
    "role, method, path, status",
    [
        ("panel", "POST", "/reload", 403),
        ("panel", "GET", "/audit", 403),
        ("auditor", "POST", "/score", 403),
        ("auditor", "POST", "/reload", 403),
        ("operator", "GET", "/audit", 403),
        ("panel", "GET", "/model", 200),
        ("operator", "GET", "/model", 200),
        ("auditor", "GET", "/model", 200),
        ("auditor", "GET", "/audit", 200),
        ("operator", "POST", "/reload", 200),
    ],
)
def test_roles(server, text_rows, role, method, path, status):
    before = count(server)
    with server.client(role) as client:
        body = {"releases": [text_rows.iloc[0].to_dict()]} if path == "/score" else None
        response = client.request(method, path, json=body)
    assert response.status_code == status, response.text
    if status == 403:
        assert f"role '{role}'" in response.json()["error"]
    assert count(server) == before  # none of these scores anything


def test_operator_reload_without_a_new_champion_keeps_the_versions(server, trained_home):
    with server.client("operator") as client:
        response = client.post("/reload")
    assert response.status_code == 200
    assert response.json()["models"] == {t: f"riskmodel-{t}/{v}" for t, v in trained_home.versions.items()}


def test_operator_may_score(server, text_rows):
    with server.client("operator") as client:
        assert post_score(client, [text_rows.iloc[1].to_dict()]).status_code == 200


# --------------------------------------------------------------------------- bad input


def _row(text_rows, **changes) -> dict[str, Any]:
    row = text_rows.iloc[0].to_dict()
    for name, value in changes.items():
        if value is ...:
            row.pop(name)
        else:
            row[name] = value
    return row


BAD_ROWS = {
    "bad-date": ({"release_date": "2021-02-30"}, "releases[0].release_date", "ISO 8601"),
    "not-a-date": ({"release_date": "15/01/2020"}, "releases[0].release_date", "ISO 8601"),
    "bad-sex": ({"sex": "X"}, "releases[0].sex", "M or F"),
    "age-too-low": ({"age_at_release": "9"}, "releases[0].age_at_release", "10 <= x <= 100"),
    "age-too-high": ({"age_at_release": 101}, "releases[0].age_at_release", "10 <= x <= 100"),
    "age-not-a-number": ({"age_at_release": "thirty"}, "releases[0].age_at_release", "not a number"),
    "blank-required": ({"person_id": ""}, "releases[0].person_id", "blank"),
    "null-required": ({"previous_sanctions": None}, "releases[0].previous_sanctions", "blank"),
    "negative-sanctions": ({"previous_sanctions": -1}, "releases[0].previous_sanctions", ">= 0"),
    "fractional-sanctions": ({"previous_sanctions": 2.5}, "releases[0].previous_sanctions", "integer"),
    "unknown-offence": ({"index_offence": "jaywalking"}, "releases[0].index_offence", "offence group"),
    "bad-boolean": ({"needs_accommodation": "maybe"}, "releases[0].needs_accommodation", "boolean"),
    "first-sanction-after-release": (
        {"age_at_first_sanction": "99"},
        "releases[0].age_at_first_sanction",
        "age_at_release",
    ),
    "missing-required-column": ({"previous_sanctions": ...}, "previous_sanctions", "absent"),
    "direct-identifier-name": ({"name": "John Smith"}, "name", "direct identifier"),
    "direct-identifier-any-case": ({"NHS_Number": "943 476 5919"}, "NHS_Number", "direct identifier"),
    "nested-value": ({"sex": ["M"]}, "releases[0].sex", "string, number, boolean or null"),
}


@pytest.mark.parametrize("changes, field, rule", BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_bad_rows_are_refused_naming_field_and_rule(server, text_rows, changes, field, rule):
    before = count(server)
    with server.client("panel") as client:
        response = post_score(client, [_row(text_rows, **changes)])
    assert response.status_code == 422, response.text
    body = response.json()
    assert field in body["error"] and rule in body["error"]
    assert any(field in p["field"] and rule in p["rule"] for p in body["problems"]), body["problems"]
    assert "Traceback" not in response.text and "reoffence_probability" not in response.text
    assert count(server) == before


def test_one_bad_row_refuses_the_whole_request_and_names_its_index(server, text_rows):
    rows = text_rows.iloc[:4].to_dict(orient="records")
    rows[2]["sex"] = "unknown"
    rows[3]["release_id"] = rows[0]["release_id"]
    before = count(server)
    with server.client("panel") as client:
        response = post_score(client, rows)
    assert response.status_code == 422
    fields = {p["field"] for p in response.json()["problems"]}
    assert fields == {"releases[2].sex", "releases[3].release_id"}
    assert count(server) == before


@pytest.mark.parametrize(
    "raw, status, words",
    [
        (b'{"releases": []}', 422, ("releases", "at least one")),
        (b'{"rows": [{"release_id": "r1"}]}', 422, ("rows", "unknown field", "releases")),
        (b'[{"release_id": "r1"}]', 422, ("object",)),
        (b'{"releases": {"release_id": "r1"}}', 422, ("releases", "array")),
        (b'{"releases": [1, 2]}', 422, ("releases[0]", "object")),
        (b'{"releases": "r1"}', 422, ("releases",)),
        (b"releases=r1", 400, ("JSON",)),
        (b"", 400, ("body", "JSON")),
    ],
    ids=["empty-list", "wrong-key", "bare-list", "object-not-list", "list-of-numbers", "string", "not-json", "no-body"],
)
def test_wrong_body_shape_is_a_4xx_naming_the_field(server, raw, status, words):
    before = count(server)
    with server.client("panel") as client:
        response = client.post("/score", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    for word in words:
        assert word in response.text
    assert count(server) == before


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "Infinity", "NaN"])
def test_non_finite_numbers_are_refused_not_a_500(server, text_rows, literal):
    row = _row(text_rows, previous_sanctions="PLACEHOLDER")
    raw = json.dumps({"releases": [row]}).replace('"PLACEHOLDER"', literal).encode()
    with server.client("panel") as client:
        response = client.post("/score", content=raw, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert "previous_sanctions" in response.text


def test_too_many_releases_are_refused(server, text_rows):
    from riskmodel.service.state import MAX_RELEASES_PER_REQUEST

    rows = pd.concat([text_rows] * (MAX_RELEASES_PER_REQUEST // len(text_rows) + 1)).iloc[
        : MAX_RELEASES_PER_REQUEST + 1
    ]
    with server.client("panel") as client:
        response = post_score(client, rows.to_dict(orient="records"))
    assert response.status_code == 422
    assert str(MAX_RELEASES_PER_REQUEST) in response.json()["error"]


def test_audit_limit_out_of_range_is_422(server):
    with server.client("auditor") as client:
        assert client.get("/audit", params={"limit": 0}).status_code == 422
        assert client.get("/audit", params={"limit": "many"}).status_code == 422


# --------------------------------------------------------------------------- audit trail


def test_every_answered_request_is_audited_with_its_outputs(server, text_rows, trained_home):
    before = audit_rows(server.audit_url)
    answers = []
    for role, rows in (
        ("panel", text_rows.iloc[400:403]),
        ("operator", text_rows.iloc[403:404]),
        ("panel", text_rows.iloc[404:409]),
    ):
        with server.client(role) as client:
            response = post_score(client, rows.to_dict(orient="records"))
        assert response.status_code == 200
        answers.append((role, rows, response))
    after = audit_rows(server.audit_url)
    assert len(after) == len(before) + len(answers)
    versions = {t: f"riskmodel-{t}/{v}" for t, v in trained_home.versions.items()}
    for record, (role, rows, response) in zip(after[len(before) :], answers, strict=True):
        assert record["key_id"] == server.key_ids[role]
        assert record["role"] == role
        assert json.loads(record["release_ids"]) == list(rows["release_id"])
        assert json.loads(record["model_versions"]) == versions
        assert json.loads(record["outputs"]) == response.json()
        assert record["request_id"] == response.headers["X-Request-Id"]


def test_the_auditor_reads_the_trail_by_release(server, text_rows):
    release_id = text_rows.iloc[410]["release_id"]
    with server.client("panel") as client:
        scored = post_score(client, [text_rows.iloc[410].to_dict()]).json()
    with server.client("auditor") as client:
        response = client.get("/audit", params={"release_id": release_id})
        recent = client.get("/audit", params={"limit": 2}).json()
    assert response.status_code == 200
    (record,) = response.json()
    assert record["release_ids"] == [release_id]
    assert record["outputs"] == scored
    assert record["role"] == "panel" and record["key_id"] == server.key_ids["panel"]
    assert len(recent) == 2 and recent[0]["request_id"] == record["request_id"]


@pytest.fixture
def failing_audit_writes(server):
    """Make every insert into the audit table fail (as a full or read-only disk would)."""
    path = sqlite_path(server.audit_url)
    with closing(sqlite3.connect(path)) as db:
        db.execute(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON score_requests"
            " BEGIN SELECT RAISE(ABORT, 'audit write refused by test'); END"
        )
        db.commit()
    yield
    with closing(sqlite3.connect(path)) as db:
        db.execute("DROP TRIGGER IF EXISTS refuse_audit")
        db.commit()


def test_503_and_no_score_when_the_audit_record_cannot_be_written(server, text_rows, failing_audit_writes):
    before = count(server)
    with server.client("panel") as client:
        response = post_score(client, text_rows.iloc[:3].to_dict(orient="records"))
    assert response.status_code == 503, response.text
    assert "audit" in response.json()["error"]
    assert "reoffence_probability" not in response.text and "top_factors" not in response.text
    assert count(server) == before


def test_scoring_resumes_once_the_audit_database_is_writable_again(server, text_rows):
    before = count(server)
    with server.client("panel") as client:
        assert post_score(client, [text_rows.iloc[5].to_dict()]).status_code == 200
    assert count(server) == before + 1


@pytest.fixture(scope="module")
def server_without_audit_db(servers):
    return servers["no_audit_db"]


def test_503_when_the_audit_database_is_unreachable(server_without_audit_db, text_rows):
    with server_without_audit_db.client(key="rk_000000000000_any") as client:
        response = post_score(client, [text_rows.iloc[0].to_dict()])
        assert response.status_code == 503, response.text
        assert "audit database" in response.json()["error"]
        assert "reoffence_probability" not in response.text
        assert client.get("/model").status_code == 503
    with server_without_audit_db.client() as client:
        assert client.post("/score", json={"releases": [text_rows.iloc[0].to_dict()]}).status_code == 401


def test_not_ready_while_the_audit_database_is_unreachable(server, server_without_audit_db):
    with server_without_audit_db.client() as client:
        assert client.get("/livez").status_code == 200
        response = client.get("/readyz")
    assert response.status_code == 503, response.text
    assert "__is_ready__" in response.text
    with server.client() as client:
        assert client.get("/readyz").status_code == 200


# --------------------------------------------------------------------------- model, health, metrics


def test_model_endpoint_gives_versions_fingerprints_metrics_and_cards(server, champions):
    with server.client("panel") as client:
        response = client.get("/model")
    assert response.status_code == 200
    body = response.json()
    assert set(body["models"]) == {"reoffence", "harm", "frequency"}
    for target, model in body["models"].items():
        info = champions.info[target]
        assert model["version"] == info.version and model["name"] == f"riskmodel-{target}"
        assert model["run_id"] == info.run_id
        assert re.fullmatch(r"[0-9a-f]{64}", model["training_data_fingerprint"])
        assert model["training_data_fingerprint"] == info.fingerprint
        assert model["model_card"] == info.model_card and len(model["model_card"]) > 100
        key = "model.auc" if target != "frequency" else "model.capture_at_10"
        assert model["test_metrics"][key] == pytest.approx(info.metrics[key])
    assert body["priority_rule"]["name"] == champions.scoring.priority_rule


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz"])
def test_health_endpoints(server, path):
    with server.client() as client:
        assert client.get(path).status_code == 200


def test_metrics_are_prometheus_text(server, text_rows):
    with server.client("operator") as client:
        post_score(client, [text_rows.iloc[0].to_dict()])
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    sample = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEinfaNI]+( \d+)?$")
    lines = [line for line in response.text.splitlines() if line]
    assert any(line.startswith("# TYPE ") for line in lines)
    for line in lines:
        assert line.startswith("#") or sample.match(line), line
    assert any('endpoint="/score"' in line and "request" in line for line in lines)
