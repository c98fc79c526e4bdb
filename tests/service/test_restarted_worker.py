"""A worker that (re)starts serves the published champions, not the moved alias (issue 10, point 2).

Its own home (the session's is read-only): version 1 is champion and published by the
service's first worker; version 2 is then trained and promoted (the ``champion`` alias
moves) without a reload. A worker starting now, as one restarted after a crash would,
must serve version 1 like its peer; after ``reload``, both serve version 2.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import replace

import pytest
from _helpers_root import root_conftest
from servers import serve  # noqa: F401  (a fixture)

from riskmodel.service.state import ServiceState

build_trained_home = root_conftest().build_trained_home

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

TARGETS = ("reoffence", "harm", "frequency")
WORKERS = 2  # the service's default (RISKMODEL_SERVE_WORKERS)
WAIT_S = 120.0  # a bound on waiting, not a speed check


def labels(versions: dict[str, str]) -> dict[str, str]:
    return {t: f"riskmodel-{t}/{versions[t]}" for t in TARGETS}


def test_a_restarted_worker_serves_the_published_generation_until_reload(tmp_path):
    first = build_trained_home(tmp_path / "home")
    settings = replace(first.settings, audit_url=f"sqlite:///{tmp_path / 'audit.db'}")
    folder = tmp_path / "serving"
    states: list[ServiceState] = []
    try:
        one = ServiceState(settings)
        states.append(one)
        one.join_workers(folder, worker=1, workers=2)  # the service's first worker
        one.sync.publish(first.versions)  # as a reload does: version 1 is the published generation
        published = json.loads((folder / "champions.json").read_text())
        assert published["versions"] == first.versions

        second = build_trained_home(first.home)  # the alias moves to version 2, no reload
        assert second.versions != first.versions

        two = ServiceState(settings)  # worker 2 (re)starts: it reads the aliases first ...
        states.append(two)
        two.join_workers(folder, worker=2, workers=2)
        assert two.champions.versions() == labels(first.versions)  # ... and serves the published ones
        assert one.champions.versions() == labels(first.versions)
        ack = json.loads((folder / "worker-2.json").read_text())
        assert ack == {"generation": published["generation"], "versions": first.versions, "pid": ack["pid"]}

        key = two.authorize(f"Bearer {two.store.create_key('panel')[0]}", "score")
        rows = _releases(first)
        answer = two.score(key, rows)
        assert {r["reoffence_model"] for r in answer} == {labels(first.versions)["reoffence"]}

        assert two.reload() == labels(second.versions)  # returns once worker 1 switched too
        assert one.champions.versions() == labels(second.versions)
        assert two.champions.versions() == labels(second.versions)
        answer = one.score(key, rows)
        assert {r["reoffence_model"] for r in answer} == {labels(second.versions)["reoffence"]}
    finally:
        for state in states:
            state.close()
            state.store.engine.dispose()


def _releases(home) -> list[dict]:
    from riskmodel.data.contract import find_table, read_table

    return read_table(find_table(home.data, "releases")).head(3).to_dict(orient="records")


def _served(server, rows) -> dict[str, set[str]]:
    """Worker number -> the reoffence model versions it answered with (new connections until both seen)."""
    seen: dict[str, set[str]] = {}
    for _ in range(200):  # a new connection each time: the server spreads them over its workers
        with server.client("panel") as client:
            response = client.post("/score", json={"releases": rows[:1]})
        assert response.status_code == 200, response.text
        seen.setdefault(response.headers["X-Riskmodel-Worker"], set()).update(
            r["reoffence_model"] for r in response.json()
        )
        if len(seen) == WORKERS:
            break
    assert sorted(seen) == [str(w) for w in range(1, WORKERS + 1)], seen
    return seen


def test_over_http_a_killed_worker_comes_back_on_the_published_champions(serve, tmp_path_factory):  # noqa: F811
    first = build_trained_home(tmp_path_factory.mktemp("killed_worker_home"))
    server = serve(first.env())
    rows = _releases(first)
    v1, folder = labels(first.versions)["reoffence"], first.home / "serving"
    assert all(versions == {v1} for versions in _served(server, rows).values())

    second = build_trained_home(first.home)  # the alias moves to version 2, no reload
    v2 = labels(second.versions)["reoffence"]
    killed = json.loads((folder / "worker-2.json").read_text())["pid"]
    os.kill(killed, signal.SIGKILL)  # a worker of the server this test started
    deadline = time.monotonic() + WAIT_S
    while json.loads((folder / "worker-2.json").read_text())["pid"] == killed and time.monotonic() < deadline:
        time.sleep(0.2)
    assert json.loads((folder / "worker-2.json").read_text())["pid"] != killed, "worker 2 did not come back"
    assert all(versions == {v1} for versions in _served(server, rows).values())

    with server.client("operator") as client:
        response = client.post("/reload")
    assert response.status_code == 200, response.text
    assert all(versions == {v2} for versions in _served(server, rows).values())
