"""No request can hurt another: a request's own values fail that request only (issue 10, point 1).

Requests that wait together are scored together; whatever one of them does to the
contract's checks, to scoring or to its audit record, the others are answered and
audited as if it had not been there, and it gets 422 (an input problem), never a 5xx
for its input. In process (through :meth:`ServiceState.submit`, from several threads,
coalesced for certain) and over HTTP against the real service.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing

import httpx
import pytest
import states
from servers import audit_rows, serve  # noqa: F401  (serve is a fixture)

from riskmodel.service.state import ServiceError, ServiceState

pytestmark = pytest.mark.timeout(300)

state, panel, rows = states.state, states.panel, states.rows  # this module's fixtures

#: An integer too large for a float (a JSON number Python reads exactly).
HUGE = 10**400
WAIT_S = 60.0  # a bound on waiting, not a speed check


def submit_together(state: ServiceState, monkeypatch, requests: list[tuple[str | None, list]]) -> list[Future]:
    """Submit ``requests`` from one thread each while the scorer is held: they wait, then are answered together.

    The first request holds the scoring thread until every other one is queued, so the
    others are taken in one group (asserted), as under load.
    """
    groups: list[int] = []
    hold = threading.Event()
    real = state._answer

    def answer(jobs):
        groups.append(len(jobs))
        hold.wait(WAIT_S)
        real(jobs)

    monkeypatch.setattr(state, "_answer", answer)
    first = state.submit(requests[0][0], requests[0][1])
    deadline = time.monotonic() + WAIT_S
    while not groups and time.monotonic() < deadline:  # the scorer holds the first request
        time.sleep(0.01)
    with ThreadPoolExecutor(max_workers=8) as pool:
        rest = list(pool.map(lambda r: state.submit(*r), requests[1:]))
    while state._jobs.qsize() < len(rest) and time.monotonic() < deadline:
        time.sleep(0.01)
    hold.set()
    futures = [first, *rest]
    for future in futures:
        future.exception(timeout=WAIT_S)
    assert groups[:2] == [1, len(rest)], groups  # the others were answered together
    return futures


def status(future: Future) -> int:
    error = future.exception()
    if error is None:
        return 200
    assert isinstance(error, ServiceError), repr(error)  # a future fails with ServiceError only
    return error.status


def ids(future: Future) -> list[str]:
    return [r["release_id"] for r in future.result().records()]


def recorded(state: ServiceState, futures: list[Future]) -> set[str]:
    """The request ids of ``futures`` that have an audit record."""
    wanted = {f.result().request_id for f in futures if f.exception() is None}
    return {r["request_id"] for r in state.store.requests(limit=1000)} & wanted


@pytest.mark.parametrize("field", ["previous_sanctions", "age_at_release", "not_a_contract_field"])
def test_a_number_too_large_for_a_float_fails_its_own_request_only(state, panel, rows, monkeypatch, field):
    bad = dict(rows[5], **{field: HUGE})
    requests = [
        (panel, rows[0:2]),
        (panel, rows[2:3]),
        (panel, [rows[3], bad]),
        (panel, rows[6:9]),
        (panel, rows[9:10]),
    ]
    futures = submit_together(state, monkeypatch, requests)
    assert [status(f) for f in futures] == [200, 200, 422, 200, 200]
    for future, (_, releases) in zip(futures, requests, strict=True):
        if future.exception() is None:
            assert ids(future) == [r["release_id"] for r in releases]
    assert len(recorded(state, futures)) == 4  # every answer audited
    problems = futures[2].exception().body["problems"]
    assert problems and all("field" in p and "rule" in p for p in problems)


@pytest.mark.parametrize(
    ("error", "expected"), [(OverflowError, 422), (ValueError, 422), (RuntimeError, 500)], ids=lambda v: str(v)
)
def test_a_request_that_breaks_scoring_fails_alone_and_the_others_are_audited(
    state, panel, rows, monkeypatch, caplog, error, expected
):
    from riskmodel.service import state as service

    real = service.score_columns
    culprit = rows[4]["release_id"]

    def fragile(frame, *args, **kwargs):
        if (frame["release_id"] == culprit).any():
            raise error(f"cannot score this row: {culprit}")  # a message that quotes a value
        return real(frame, *args, **kwargs)

    monkeypatch.setattr(service, "score_columns", fragile)
    monkeypatch.setenv("RISKMODEL_LEAN", "0")  # the table path (the lean one: tests/scoring/test_lean_path.py)
    requests = [(panel, rows[0:2]), (panel, rows[2:4]), (panel, rows[4:6]), (panel, rows[6:7]), (None, rows[7:8])]
    futures = submit_together(state, monkeypatch, requests)
    assert [status(f) for f in futures] == [200, 200, expected, 200, 401]
    assert [ids(f) for f in futures[1:2] + futures[3:4]] == [
        [r["release_id"] for r in rows[2:4]],
        [rows[6]["release_id"]],
    ]
    assert len(recorded(state, futures)) == 3
    assert "cannot score this row" not in json.dumps(futures[2].exception().body)  # no exception text leaks
    assert "scoring" in caplog.text and culprit not in caplog.text  # logged by place, never with values


def test_a_record_the_store_refuses_fails_its_own_request_only(state, panel, rows, monkeypatch):
    path = state.settings.audit_url[len("sqlite:///") :]
    culprit = rows[12]["release_id"]
    with closing(sqlite3.connect(path)) as db:
        db.execute(
            "CREATE TRIGGER refuse_one BEFORE INSERT ON score_requests"
            f" WHEN instr(NEW.release_ids, '\"{culprit}\"') > 0 BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        db.commit()
    try:
        requests = [(panel, rows[10:12]), (panel, rows[12:13]), (panel, rows[13:15])]
        futures = submit_together(state, monkeypatch, requests)
    finally:
        with closing(sqlite3.connect(path)) as db:
            db.execute("DROP TRIGGER refuse_one")
            db.commit()
    assert [status(f) for f in futures] == [200, 503, 200]
    assert len(recorded(state, futures)) == 2


# --------------------------------------------------------------------------- over HTTP


def test_over_http_a_huge_number_fails_its_request_only_and_never_a_5xx(serve, trained_home, rows):  # noqa: F811
    server = serve(trained_home.env())
    valid = [rows[i : i + 1 + i % 3] for i in range(20)]
    bad = [[dict(rows[1], previous_sanctions=HUGE)], [dict(rows[2], unknown_field=HUGE), rows[3]]]
    bodies = [("valid", r) for r in valid]
    for i, releases in enumerate(bad):
        bodies.insert(5 + 7 * i, ("bad", releases))
    barrier = threading.Barrier(len(bodies), timeout=WAIT_S)

    def post(body):
        kind, releases = body
        text = json.dumps({"releases": releases})  # the 400-digit integer as JSON writes it
        with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {server.keys['panel']}"}) as client:
            barrier.wait()
            response = client.post("/score", content=text, headers={"Content-Type": "application/json"}, timeout=60)
        return kind, releases, response

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        answers = list(pool.map(post, bodies))
    codes = [(kind, response.status_code) for kind, _, response in answers]
    assert all(code < 500 for _, code in codes), codes
    assert all(code == 200 for kind, code in codes if kind == "valid"), codes
    assert all(code in (400, 422) for kind, code in codes if kind == "bad"), codes
    for kind, releases, response in answers:
        if kind == "valid":
            assert [r["release_id"] for r in response.json()] == [r["release_id"] for r in releases]
    assert len(audit_rows(server.audit_url)) == len(valid)  # every answer audited, nothing else
