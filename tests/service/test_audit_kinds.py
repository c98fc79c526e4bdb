"""``GET /audit`` shows every kind of record: scoring requests, batch runs and operators' events."""

from __future__ import annotations

import pandas as pd
import pytest
from states import panel, rows, state  # noqa: F401  (fixtures)

from riskmodel.reporting.batch import run_batch
from riskmodel.service.state import AUDIT_KINDS, ServiceError


@pytest.fixture(scope="module")
def trail(state, panel, rows, tmp_path_factory):  # noqa: F811  (fixtures)
    """One scored request, one batch run and one event, in that order."""
    folder = tmp_path_factory.mktemp("audit_kinds")
    key = state.authorize(panel, "score")
    request = state.score_request(key, rows[:2])
    pd.DataFrame(rows[2:7]).to_csv(folder / "releases.csv", index=False)
    batch = run_batch(folder / "releases.csv", folder / "scores.csv", champions=state.champions, store=state.store)
    state.store.record_event("champion_set", actor="ops", details={"target": "harm", "version": "1"})
    return {"request": request, "batch": batch}


def test_all_kinds_newest_first(state, trail):  # noqa: F811
    records = state.audit()
    assert [r["kind"] for r in records[:3]] == ["event", "batch", "request"]
    assert [r["at"] for r in records] == sorted((r["at"] for r in records), reverse=True)
    request, batch, event = records[2], records[1], records[0]
    assert request["request_id"] == trail["request"].request_id
    assert batch["batch_id"] == trail["batch"].batch_id and batch["rows_scored"] == 5
    assert event["event"] == "champion_set" and event["actor"] == "ops" and event["details"]["version"] == "1"


@pytest.mark.parametrize("kind", AUDIT_KINDS)
def test_one_kind_at_a_time(state, trail, kind):  # noqa: F811
    records = state.audit(kind=kind)
    assert records and {r["kind"] for r in records} == {kind}


def test_a_release_id_keeps_the_requests_that_scored_it(state, trail, rows):  # noqa: F811
    (record,) = state.audit(release_id=rows[0]["release_id"])
    assert record["kind"] == "request" and record["request_id"] == trail["request"].request_id


def test_an_unknown_kind_is_refused_naming_the_field(state):  # noqa: F811
    with pytest.raises(ServiceError) as refused:
        state.audit(kind="everything")
    assert refused.value.status == 422
    assert refused.value.body["problems"] == [{"field": "kind", "rule": "must be one of request, batch, event"}]
