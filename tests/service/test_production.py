"""The service in production (issue 12, items 7-9) over a real server.

``riskmodel serve`` refuses a home without champions at once, with what to run. On the
trained home, with a fresh audit database and ``RISKMODEL_LOG_FORMAT=json``, its two
workers start cleanly (the stores prepared once, before them), log what they serve, log
one access line per answer with the request id the answer returns, sum their metrics,
and log an audit outage once per worker, never telling callers where the database is.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from typing import Any

import pytest
import servers
from prometheus_client.parser import text_string_to_metric_families
from servers import audit_rows, serve, sqlite_path  # noqa: F401  (serve is a fixture)

pytestmark = pytest.mark.timeout(600)

#: An audit database that refuses to write request records.
BLOCK_RECORDS = (
    "CREATE TRIGGER riskmodel_test_outage BEFORE INSERT ON score_requests"
    " BEGIN SELECT RAISE(ABORT, 'the test refuses request records'); END"
)


def test_serve_on_a_home_without_champions_exits_with_what_to_run(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("RISKMODEL_", "MLFLOW_"))}
    env.update(RISKMODEL_HOME=str(tmp_path / "home"), BENTOML_HOME=str(tmp_path / "bentoml"))
    command = [sys.executable, "-c", "from riskmodel.cli import main; main()", "serve", "--port", "1"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    said = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(said) == 1, said
    assert "no champion for reoffence, harm, frequency" in said[0]
    assert "riskmodel train" in said[0] and "riskmodel promote" in said[0]
    assert "Traceback" not in done.stdout + done.stderr


# --------------------------------------------------------------------------- one server


@pytest.fixture(scope="module")
def server(serve, trained_home):  # noqa: F811  (serve: the fixture imported from servers)
    from riskmodel.records.audit import AuditStore

    env = dict(trained_home.env(), RISKMODEL_LOG_FORMAT="json", RISKMODEL_SERVE_WORKERS="2")
    bound, servers.READY_TIMEOUT_S = servers.READY_TIMEOUT_S, max(servers.READY_TIMEOUT_S, 300.0)  # a shared machine
    try:
        started = serve(env, command="cli", roles=())  # no schema made before: `serve` prepares it
    finally:
        servers.READY_TIMEOUT_S = bound
    store = AuditStore(started.audit_url)
    for role in ("panel", "operator"):
        started.keys[role], started.key_ids[role] = store.create_key(role, label=f"test {role}")
    store.engine.dispose()
    return started


@pytest.fixture(scope="module")
def rows(trained_home) -> list[dict[str, Any]]:
    from riskmodel.data.contract import find_table, read_table

    return read_table(find_table(trained_home.data, "releases")).iloc[:3].to_dict(orient="records")


def json_lines(server) -> list[dict[str, Any]]:
    """The riskmodel lines of the server's log, each parsed (every one must parse)."""
    out = []
    for line in server.log.read_text(errors="replace").splitlines():
        if '"logger": "riskmodel' in line:
            out.append(json.loads(line))
    return out


def metric_samples(server) -> dict[tuple[str, tuple], float]:
    with server.client("operator") as client:
        response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def score_until_both_workers_answer(server, rows, *, at_most: int = 200) -> list:
    """POST /score until each of the two workers has answered (bounded); the responses."""
    responses, workers = [], set()
    while len(workers) < 2 and len(responses) < at_most:
        with server.client("panel") as client:  # a new connection each time: spread over the workers
            response = client.post("/score", json={"releases": rows})
        assert response.status_code == 200, response.text
        responses.append(response)
        workers.add(response.headers["X-Riskmodel-Worker"])
    assert workers == {"1", "2"}, workers
    return responses


def test_two_workers_start_cleanly_and_say_what_they_serve(server, trained_home):
    from riskmodel.modelling.registry import champions_state

    # the service is ready when one worker is; the other may still be loading: wait for its line
    deadline = time.monotonic() + 180
    while True:
        started = [line for line in json_lines(server) if line["message"].startswith("worker ")]
        if len(started) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log and "duplicate column" not in log
    assert not [line for line in log.splitlines() if " riskmodel." in line and not line.startswith("{")]
    champions = {state.target: state.version for state in champions_state(trained_home.settings)}
    assert sorted(line["worker"] for line in started) == [1, 2]
    for line in started:
        assert line["level"] == "INFO" and line["champions"] == champions
        assert f"audit records to sqlite:///{sqlite_path(server.audit_url)}" in line["message"]
        for target, version in champions.items():
            assert f"{target} v{version}" in line["message"]


def test_access_lines_carry_the_request_id_the_answer_returns(server, rows):
    with server.client("panel") as client:
        scored = client.post("/score", json={"releases": rows})
    with server.client() as client:
        refused = client.get("/model")
    assert scored.status_code == 200 and refused.status_code == 401
    audited = {row["request_id"] for row in audit_rows(server.audit_url)}
    assert scored.headers["X-Request-Id"] in audited
    wanted = {scored.headers["X-Request-Id"], refused.headers["X-Request-Id"]}
    access: dict[str, dict] = {}
    for _ in range(300):  # the line is written just after the answer is sent: wait for it (bounded)
        access = {line["request_id"]: line for line in json_lines(server) if line["logger"] == "riskmodel.access"}
        if wanted <= set(access):
            break
        time.sleep(0.1)
    line = access[scored.headers["X-Request-Id"]]
    assert (line["method"], line["route"], line["status"], line["role"]) == ("POST", "/score", 200, "panel")
    line = access[refused.headers["X-Request-Id"]]
    assert (line["route"], line["status"], line["role"]) == ("/model", 401, "none")


def test_metrics_are_summed_over_both_workers(server, rows, trained_home):
    before = metric_samples(server)
    responses = score_until_both_workers_answer(server, rows)
    after = metric_samples(server)

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert delta("riskmodel_requests_total", route="/score", role="panel", status="200") == len(responses)
    with server.client("panel") as client:
        versions = {target: info["version"] for target, info in client.get("/model").json()["models"].items()}
    frequency = delta(
        "riskmodel_scored_releases_total", target="frequency", band="none", model_version=versions["frequency"]
    )
    assert frequency == len(responses) * len(rows)
    bands = [record["reoffence_band"] for response in responses for record in response.json()]
    for band in set(bands):
        counted = delta(
            "riskmodel_scored_releases_total", target="reoffence", band=band, model_version=versions["reoffence"]
        )
        assert counted == bands.count(band)
    for target, version in versions.items():
        assert after[("riskmodel_champion_info", (("target", target), ("version", version)))] == 1
    assert after[("riskmodel_reload_generation", ())] >= 1


def test_an_audit_outage_is_logged_once_per_worker_and_not_shown_to_callers(server, rows):
    path = sqlite_path(server.audit_url)
    # the database refuses every new request record (the workers' connections stay open, as
    # they would to a server that fails), until the trigger is dropped
    with closing(sqlite3.connect(path)) as db:
        db.execute(BLOCK_RECORDS)
        db.commit()
    try:
        refused = []
        for _ in range(6):
            with server.client("panel") as client:  # a new connection each time: spread over the workers
                refused.append(client.post("/score", json={"releases": rows}))
    finally:
        with closing(sqlite3.connect(path)) as db:
            db.execute("DROP TRIGGER riskmodel_test_outage")
            db.commit()
    assert {response.status_code for response in refused} == {503}
    for response in refused:
        assert str(path) not in response.text and "sqlite" not in response.text
        said = response.json()["error"]
        assert said == "not scored: the audit record could not be written (audit database unavailable)"
    errors = [line for line in json_lines(server) if line["level"] == "ERROR"]
    assert 1 <= len(errors) <= 2, errors  # six refusals, two workers: once per worker at most
    assert all(line["message"].startswith("audit outage:") for line in errors), errors
    recovered = []
    for _ in range(200):  # until the workers that saw it have answered again (bounded)
        with server.client("panel") as client:  # a new connection each time: spread over the workers
            again = client.post("/score", json={"releases": rows})
        assert again.status_code == 200, again.text
        recovered = [line for line in json_lines(server) if line["message"].startswith("audit outage over")]
        if len(recovered) == len(errors):
            break
    assert len(recovered) == len(errors) and all(line["level"] == "WARNING" for line in recovered)
    assert metric_samples(server)[("riskmodel_audit_write_failures_total", ())] >= 6
