"""Reload to a new champion while requests keep coming: none fails, none mixes versions.

Its own home (the session's is read-only): version 1 is champion when the server starts;
version 2 is trained and promoted while it runs; ``/reload`` is called by the operator
while a client thread keeps scoring.
"""

from __future__ import annotations

import threading
import time

import pytest
from _helpers_root import root_conftest
from servers import serve  # noqa: F401  (a fixture)

from riskmodel.data.contract import find_table, read_table

build_trained_home = root_conftest().build_trained_home

pytestmark = pytest.mark.timeout(300)

MAX_REQUESTS = 3_000  # bounds on the load loop (not speed checks)
MAX_SECONDS = 120.0
WORKERS = 2  # the service's default (RISKMODEL_SERVE_WORKERS)


@pytest.fixture(scope="module")
def reload_home(tmp_path_factory):
    return build_trained_home(tmp_path_factory.mktemp("reload_home"))


def versions_of(answer: list[dict]) -> set[tuple[str, str, str]]:
    return {(r["reoffence_model"], r["harm_model"], r["frequency_model"]) for r in answer}


def test_reload_to_a_new_champion_fails_no_request_and_mixes_no_versions(serve, reload_home):  # noqa: F811
    server = serve(reload_home.env())
    old = tuple(f"riskmodel-{t}/{reload_home.versions[t]}" for t in ("reoffence", "harm", "frequency"))
    rows = read_table(find_table(reload_home.data, "releases")).head(20).to_dict(orient="records")

    # A second version of every model, promoted to champion while the server runs.
    second = build_trained_home(reload_home.home)
    new = tuple(f"riskmodel-{t}/{second.versions[t]}" for t in ("reoffence", "harm", "frequency"))
    assert new != old

    results: list[tuple[float, float, int, set]] = []  # (sent, answered, status, versions)
    stop = threading.Event()

    def keep_scoring() -> None:
        with server.client("panel") as client:
            i = 0
            while not stop.is_set() and i < MAX_REQUESTS:
                batch = [rows[i % len(rows)], rows[(i + 7) % len(rows)]] if i % 3 == 0 else [rows[i % len(rows)]]
                sent = time.monotonic()
                response = client.post("/score", json={"releases": batch})
                answered = time.monotonic()
                results.append(
                    (
                        sent,
                        answered,
                        response.status_code,
                        versions_of(response.json()) if response.status_code == 200 else set(),
                    )
                )
                i += 1

    worker = threading.Thread(target=keep_scoring, daemon=True)
    worker.start()
    deadline = time.monotonic() + MAX_SECONDS
    try:
        while len(results) < 20 and time.monotonic() < deadline and worker.is_alive():
            time.sleep(0.01)
        with server.client("operator") as client:
            reload_sent = time.monotonic()
            response = client.post("/reload")
            reload_done = time.monotonic()
        assert response.status_code == 200, response.text
        assert tuple(response.json()["models"][t] for t in ("reoffence", "harm", "frequency")) == new
        after = len(results)
        while len(results) < after + 20 and time.monotonic() < deadline and worker.is_alive():
            time.sleep(0.01)
    finally:
        stop.set()
        worker.join(timeout=60)

    assert results, "no request was answered"
    statuses = [status for _, _, status, _ in results]
    assert statuses == [200] * len(results), sorted(set(statuses))
    for _, _, _, versions in results:
        assert versions in ({old}, {new}), versions  # one set per answer, never a mix
    before_reload = [v for sent, answered, _, v in results if answered < reload_sent]
    after_reload = [v for sent, answered, _, v in results if sent > reload_done]
    assert before_reload and all(v == {old} for v in before_reload)
    assert after_reload and all(v == {new} for v in after_reload)

    with server.client("panel") as client:
        model = client.get("/model").json()
    assert (
        tuple(f"{m['name']}/{m['version']}" for m in (model["models"][t] for t in ("reoffence", "harm", "frequency")))
        == new
    )

    # The reload reached one worker process; every worker serves the new set now.
    seen: dict[str, set] = {}
    for _ in range(200):  # a new connection each time: the server spreads them over its workers
        with server.client("panel") as client:
            response = client.post("/score", json={"releases": rows[:1]})
        assert response.status_code == 200, response.text
        seen.setdefault(response.headers["X-Riskmodel-Worker"], set()).update(versions_of(response.json()))
        if len(seen) == WORKERS:
            break
    assert sorted(seen) == [str(w) for w in range(1, WORKERS + 1)], seen
    assert all(versions == {new} for versions in seen.values()), seen
