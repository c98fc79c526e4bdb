"""``POST /decisions`` and ``GET /decisions`` over real HTTP: roles, validation, the score seen, the log and
its CSV, the OpenAPI document; and the service refusing to start on the previous version's audit database.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from servers import ROOT, cli_serve_command, free_port, serve, server_env  # noqa: F401  (serve is a fixture)

pytestmark = [pytest.mark.timeout(300), pytest.mark.server]

HIGH = {"reoffence_probability": 0.8, "reoffence_band": "high", "harm_probability": 0.1, "harm_band": "low"}


def _previous_version_database(url: str) -> None:
    """An audit database made by the version before migrations (tests/records/previous_audit.py)."""
    path = Path(__file__).resolve().parents[1] / "records" / "previous_audit.py"
    spec = importlib.util.spec_from_file_location("_previous_audit", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look their module up
    spec.loader.exec_module(sys.modules[spec.name])
    module = sys.modules[spec.name]
    store = module.AuditStore(url).create_schema()
    store.create_key("panel")
    store.engine.dispose()


@pytest.fixture(scope="module")
def server(serve, trained_home):  # noqa: F811
    return serve(trained_home.env(), command="cli")


@pytest.fixture(scope="module")
def release(trained_home) -> dict:
    from riskmodel.data.contract import find_table, read_table

    row = read_table(find_table(trained_home.data, "releases")).iloc[:1].to_dict(orient="records")[0]
    return {k: (None if v != v else v) for k, v in row.items()}  # NaN -> null


def _decision(release_id: str, **values) -> dict:
    person = "p-" + release_id
    return {"release_id": release_id, "person_id": person, "decision": "adopt", "scores_seen": HIGH, **values}


def test_a_panel_key_records_a_decision_and_others_may_not(server):
    with server.client("panel") as client:
        answer = client.post("/decisions", json=_decision("api-1", month="2026-11"))
    assert answer.status_code == 201, answer.text
    recorded = answer.json()
    assert recorded["decision"] == "adopt" and recorded["override"] is False
    assert recorded["decided_by"] == server.key_ids["panel"] and recorded["decided_by_label"] == "test panel"
    assert recorded["scores_seen"] == HIGH and recorded["month"] == "2026-11"
    for role, status in (("auditor", 403), ("operator", 403), (None, 401)):
        with server.client(role) as client:
            refused = client.post("/decisions", json=_decision("api-2"))
        assert refused.status_code == status and "error" in refused.json()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (_decision("api-3", decision="not_now"), 422, "reason_code"),
        (_decision("api-3", decision="not_now", reason_code="capacity"), 422, "reason_text"),
        (_decision("api-3", decision="yes"), 422, "decision"),
        (_decision("api-3", colour="red"), 422, "colour"),
        (_decision("api-3", month="November"), 422, "month"),
        (["not", "an", "object"], 422, "body"),
    ],
)
def test_a_refused_decision_names_the_field(server, body, status, field):
    with server.client("panel") as client:
        answer = client.post("/decisions", json=body)
    assert answer.status_code == status, answer.text
    assert [p["field"] for p in answer.json()["problems"]] == [field]


def test_a_body_that_is_not_json_is_400(server):
    with server.client("panel") as client:
        answer = client.post("/decisions", content=b"{nope", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["problems"][0]["field"] == "body"


def test_without_scores_seen_the_release_latest_score_is_taken(server, release):
    with server.client("panel") as client:
        scored = client.post("/score", json={"releases": [release]})
        assert scored.status_code == 200, scored.text
        (record,) = scored.json()
        body = {"release_id": record["release_id"], "person_id": record["person_id"], "decision": "refer"}
        body |= {"reason_code": "other", "reason_text": "housing first"}  # refer may be against a high band
        answer = client.post("/decisions", json=body)
    assert answer.status_code == 201, answer.text
    seen = answer.json()["scores_seen"]
    assert seen["reoffence_band"] == record["reoffence_band"] and seen["harm_band"] == record["harm_band"]
    assert seen["priority_rank"] == record["priority_rank"]
    with server.client("panel") as client:
        models = client.get("/model").json()["models"]
    assert answer.json()["model_versions"] == {t: f"{m['name']}/{m['version']}" for t, m in models.items()}
    with server.client("panel") as client:
        unknown = client.post("/decisions", json={"release_id": "never-scored", "person_id": "x", "decision": "adopt"})
    assert unknown.status_code == 422 and unknown.json()["problems"][0]["field"] == "scores_seen"


def test_a_change_names_the_one_it_replaces_and_the_log_shows_both(server):
    with server.client("panel") as client:
        first = client.post("/decisions", json=_decision("api-4")).json()
        twice = client.post("/decisions", json=_decision("api-4"))
        assert twice.status_code == 422 and twice.json()["problems"][0]["field"] == "replaces"
        change = _decision("api-4", decision="not_now", reason_code="capacity", reason_text="cohort full")
        second = client.post("/decisions", json={**change, "replaces": first["decision_id"]})
        assert second.status_code == 201, second.text
        log = client.get("/decisions", params={"release_id": "api-4"}).json()
        overrides = client.get("/decisions", params={"override": "true", "release_id": "api-4"}).json()
    assert [d["decision_id"] for d in log] == [second.json()["decision_id"], first["decision_id"]]
    assert [d["decision"] for d in overrides] == ["not_now"] and overrides[0]["replaces"] == first["decision_id"]


def test_the_log_is_read_by_every_role_and_exported_as_csv_by_operator_and_auditor(server):
    with server.client("panel") as client:
        client.post("/decisions", json=_decision("api-5", month="2026-10"))
        assert client.get("/decisions", params={"format": "csv"}).status_code == 403
    for role in ("operator", "auditor"):
        with server.client(role) as client:
            listed = client.get("/decisions", params={"month": "2026-10"})
            exported = client.get("/decisions", params={"format": "csv", "month": "2026-10"})
        assert [d["release_id"] for d in listed.json()] == ["api-5"]
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
        assert [r["release_id"] for r in csv.DictReader(io.StringIO(exported.text))] == ["api-5"]
    with server.client("auditor") as client:
        refusals = (({"decision": "maybe"}, "decision"), ({"limit": 0}, "limit"), ({"format": "x"}, "format"))
        for params, field in refusals:
            refused = client.get("/decisions", params=params)
            assert refused.status_code == 422 and refused.json()["problems"][0]["field"] == field


def test_the_openapi_document_describes_both_routes(server):
    with server.client() as client:
        paths = client.get("/docs.json").json()["paths"]
    post, get = paths["/decisions"]["post"], paths["/decisions"]["get"]
    request = post["requestBody"]["content"]["application/json"]["schema"]
    assert request["required"] == ["release_id", "person_id", "decision"]
    assert request["properties"]["decision"]["enum"] == ["adopt", "not_now", "refer"]
    assert {"201", "401", "403", "422", "503"} <= set(post["responses"])
    assert {p["name"] for p in get["parameters"]} >= {"month", "decision", "override", "format", "limit"}
    assert "text/csv" in get["responses"]["200"]["content"]


def test_the_service_refuses_to_start_on_the_previous_version_database(trained_home, tmp_path):
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    _previous_version_database(url)
    env = server_env(trained_home.env(), tmp_path, audit_url=url)
    started = subprocess.run(
        cli_serve_command(free_port()), env=env, cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert started.returncode == 2, started.stdout + started.stderr
    assert "run `riskmodel db upgrade`" in started.stderr

    from riskmodel.records.audit import SchemaOutdated
    from riskmodel.service.state import ServiceState

    with pytest.raises(SchemaOutdated, match="riskmodel db upgrade"):  # a worker started another way refuses too
        ServiceState(replace(trained_home.settings, audit_url=url))
