"""The service logic without HTTP: requests scored together answer as if scored alone."""

from __future__ import annotations

import json
from concurrent.futures import Future
from dataclasses import replace

import pandas as pd
import pytest
import states

from riskmodel.service.state import ServiceError, ServiceState, _Job

state, rows = states.state, states.rows  # this module's fixtures (tests/service/states.py)


@pytest.fixture(scope="module")
def keys(state):
    made = {role: state.store.create_key(role)[0] for role in ("panel", "operator", "auditor")}
    return {role: f"Bearer {key}" for role, key in made.items()}


def alone(state, keys, releases):
    """The answer to one request scored on its own (the oracle)."""
    key = state.authorize(keys["panel"], "score")
    return json.loads(state.score_request(key, releases).body)


def without_time(answer):
    return [{k: v for k, v in row.items() if k != "scored_at"} for row in answer]


def test_requests_scored_together_answer_as_if_alone(state, keys, rows):
    requests = [
        ("panel", rows[0:1]),
        ("operator", rows[1:6]),
        ("panel", [dict(rows[6], sex="X")]),  # 422
        ("auditor", rows[7:8]),  # 403
        (None, rows[8:9]),  # 401
        ("panel", rows[9:12] + [rows[0]]),  # shares release r0 with the first request
        ("panel", [{k: v for k, v in rows[12].items() if k != "index_offence"}]),  # 422, column absent
        ("operator", rows[13:40]),
    ]
    before = state.store.count_requests()
    jobs = [
        _Job(releases=list(releases), future=Future(), authorization=keys.get(role) if role else None)
        for role, releases in requests
    ]
    state._answer(jobs)
    assert all(job.future.done() for job in jobs)
    expected_status = [200, 200, 422, 403, 401, 200, 422, 200]
    for job, (_, releases), status in zip(jobs, requests, expected_status, strict=True):
        if status == 200:
            scored = job.future.result()
            answer = json.loads(scored.body)
            assert without_time(answer) == without_time(alone(state, keys, releases))
            assert sorted(r["priority_rank"] for r in answer) == list(range(1, len(releases) + 1))
        else:
            with pytest.raises(ServiceError) as refused:
                job.future.result()
            assert refused.value.status == status
    records = state.store.requests(limit=4 + 4)
    # 4 answered together, then the 4 oracle requests answered alone
    together = records[4:][::-1]
    answered = [
        (role, job) for job, (role, _), status in zip(jobs, requests, expected_status, strict=True) if status == 200
    ]
    assert state.store.count_requests() == before + 4 + 4
    for record, (role, job) in zip(together, answered, strict=True):
        scored = job.future.result()
        assert record["request_id"] == scored.request_id
        assert record["role"] == role
        assert record["outputs"] == json.loads(scored.body)
        assert record["release_ids"] == [r["release_id"] for r in job.releases]


def test_a_request_alone_in_the_queue_is_answered(state, keys, rows):
    future = state.submit(keys["panel"], rows[:2])
    answer = json.loads(future.result(timeout=60).body)
    assert [r["release_id"] for r in answer] == [rows[0]["release_id"], rows[1]["release_id"]]
    with pytest.raises(ServiceError) as refused:
        state.submit("Bearer nope", rows[:1]).result(timeout=60)
    assert refused.value.status == 401


def test_large_requests_split_over_two_threads_score_like_one_call(state, trained_home):
    from riskmodel.data.contract import find_table, read_table
    from riskmodel.scoring.output import render_rows, to_frame
    from riskmodel.scoring.scoring import score_frame, validate_for_scoring
    from riskmodel.service import state as service

    many = read_table(find_table(trained_home.data, "releases")).iloc[:600]
    table = validate_for_scoring(many, state.champions)
    assert len(table.data) >= 2 * service.PARALLEL_FROM_ROWS
    columns = state._score_columns(table.data, state.champions)
    split = to_frame(columns)
    whole = score_frame(table.data, state.champions)
    pd.testing.assert_frame_equal(split.drop(columns="scored_at"), whole.drop(columns="scored_at"))
    assert render_rows(columns) == render_rows(whole.assign(scored_at=columns["scored_at"]))


def test_when_the_records_cannot_be_written_no_request_of_the_group_is_answered(state, keys, rows):
    import sqlite3
    from contextlib import closing

    path = state.settings.audit_url[len("sqlite:///") :]
    before = state.store.count_requests()
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TRIGGER refuse BEFORE INSERT ON score_requests BEGIN SELECT RAISE(ABORT, 'refused'); END")
        db.commit()
    try:
        jobs = [_Job(releases=rows[i : i + 2], future=Future(), authorization=keys["panel"]) for i in (0, 2, 4)]
        state._answer(jobs)
    finally:
        with closing(sqlite3.connect(path)) as db:
            db.execute("DROP TRIGGER refuse")
            db.commit()
    for job in jobs:
        with pytest.raises(ServiceError) as refused:
            job.future.result()
        assert refused.value.status == 503
    assert state.store.count_requests() == before


def test_valid_requests_are_validated_in_one_call(state, keys, rows, monkeypatch):
    requests = [rows[0:1], rows[1:4], rows[4:5], rows[5:30]]
    expected = [without_time(alone(state, keys, r)) for r in requests]

    def not_alone(*args, **kwargs):
        raise AssertionError("validated one by one")

    monkeypatch.setattr(state, "validate", not_alone)
    jobs = [_Job(releases=r, future=Future(), authorization=keys["panel"]) for r in requests]
    state._answer(jobs)
    assert [without_time(json.loads(job.future.result().body)) for job in jobs] == expected


def test_a_request_that_breaks_scoring_fails_alone(state, keys, rows, monkeypatch):
    from riskmodel.service import state as service

    real = service.score_columns

    def fragile(frame, *args, **kwargs):
        if (frame["release_id"] == rows[3]["release_id"]).any():
            raise FloatingPointError("cannot score this row")
        return real(frame, *args, **kwargs)

    monkeypatch.setattr(service, "score_columns", fragile)
    monkeypatch.setenv("RISKMODEL_LEAN", "0")  # the table path (the lean one: tests/scoring/test_lean_path.py)
    jobs = [_Job(releases=rows[i : i + 2], future=Future(), authorization=keys["panel"]) for i in (0, 2, 4)]
    state._answer(jobs)
    assert [r["release_id"] for r in json.loads(jobs[0].future.result().body)] == [
        rows[0]["release_id"],
        rows[1]["release_id"],
    ]
    assert [r["release_id"] for r in json.loads(jobs[2].future.result().body)] == [
        rows[4]["release_id"],
        rows[5]["release_id"],
    ]
    with pytest.raises(ServiceError) as refused:  # its values are out of the models' reach: 422, not 500
        jobs[1].future.result()
    assert refused.value.status == 422


def test_release_objects_are_checked_by_the_contract_and_refused_whole(state, rows):
    with pytest.raises(ServiceError) as refused:
        state.precheck([rows[0], dict(rows[1], sex=["M"])], state.champions)
    assert refused.value.status == 422
    assert refused.value.body["error"] == "invalid releases: releases[1].sex: must be a string, number, boolean or null"
    without = [{k: v for k, v in row.items() if k != "index_offence"} for row in rows[:2]]
    with pytest.raises(ServiceError) as refused:
        state.precheck([dict(without[0], surname="Smith"), without[1]], state.champions)
    assert refused.value.body["error"].startswith("releases refused: releases[*].surname: direct identifier refused")
    assert [p["field"] for p in refused.value.body["problems"]] == ["releases[*].surname", "releases[*].index_offence"]


# --------------------------------------------------------------------------- readiness

#: Nothing listens on port 1: a connection is refused at once.
UNREACHABLE_POSTGRES = "postgresql+psycopg://riskmodel@127.0.0.1:1/riskmodel_audit"


def test_ready_when_the_champions_are_loaded_and_the_audit_store_answers(state):
    assert state.ready() is True


@pytest.mark.parametrize("where", ["postgresql", "sqlite-missing-folder"])
def test_not_ready_while_the_audit_store_cannot_be_reached(trained_home, tmp_path, where):
    url = UNREACHABLE_POSTGRES if where == "postgresql" else f"sqlite:///{tmp_path / 'missing' / 'audit.db'}"
    state = ServiceState(replace(trained_home.settings, audit_url=url))
    try:
        assert state.champions.info  # loaded: only the store is missing
        assert state.ready() is False
    finally:
        state.close()
        state.store.engine.dispose()


def test_readiness_follows_the_audit_store(trained_home, tmp_path):
    folder = tmp_path / "audit"
    folder.mkdir()
    state = ServiceState(replace(trained_home.settings, audit_url=f"sqlite:///{folder / 'audit.db'}"))
    try:
        assert state.ready() is True
        state.store.engine.dispose()  # a pooled connection would keep the moved file open
        folder.rename(tmp_path / "moved")
        assert state.ready() is False
        (tmp_path / "moved").rename(folder)
        assert state.ready() is True
    finally:
        state.close()
        state.store.engine.dispose()
