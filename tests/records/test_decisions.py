"""The panel's decisions: validation, append-only changes, the chain, the log and its CSV; views audited."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from riskmodel.records import audit
from riskmodel.records.audit import ApiKey
from riskmodel.records.decisions import (
    DECISIONS,
    OVERRIDE_REASONS,
    VIEW_EVENT,
    DecisionError,
    decisions_csv,
    is_override,
    latest_decisions,
    list_decisions,
    record_decision,
    record_view,
)

PANEL = ApiKey("k_panel", "panel", "Panel chair", datetime(2026, 1, 1, tzinfo=UTC), None)
AUDITOR = ApiKey("k_audit", "auditor", "", datetime(2026, 1, 1, tzinfo=UTC), None)
OPERATOR = ApiKey("k_op", "operator", "", datetime(2026, 1, 1, tzinfo=UTC), None)
HIGH = {
    "reoffence_probability": 0.8,
    "reoffence_band": "high",
    "harm_probability": 0.2,
    "harm_band": "low",
    "frequency_expected": 1.7,
    "priority_rank": 3,
    "ethnicity": "should not be kept",
    "top_factors": [{"feature": "age"}],
}
LOW = {**HIGH, "reoffence_probability": 0.1, "reoffence_band": "low"}
VERSIONS = {"reoffence": "2", "harm": "1", "frequency": "1"}


def _decide(store, release_id="r1", decision="adopt", scores=HIGH, **kwargs):
    values = {
        "release_id": release_id,
        "person_id": "p1",
        "decision": decision,
        "actor": PANEL,
        "scores_seen": scores,
        "model_versions": VERSIONS,
        "month": "2026-11",
        **kwargs,
    }
    return record_decision(store, **values)


@pytest.mark.parametrize(
    ("decision", "reoffence", "harm", "expected"),
    [
        ("adopt", "high", "low", False),
        ("not_now", "high", "low", True),
        ("refer", "low", "very high", True),
        ("not_now", "medium", "low", False),
        ("adopt", "low", "low", True),
        ("adopt", "low", None, True),
        ("adopt", "low", "medium", False),
        ("adopt", None, None, False),
        ("not_now", None, None, False),
    ],
)
def test_a_decision_against_the_band_is_an_override(decision, reoffence, harm, expected):
    assert is_override(decision, reoffence, harm) is expected


def test_a_decision_is_recorded_with_who_when_and_what_was_seen(store):
    before = datetime.now(UTC)
    d = _decide(store)
    assert d.decision == "adopt" and d.words == "adopt onto the IOM cohort" and not d.override
    assert (d.decided_by, d.decided_by_label, d.role) == ("k_panel", "Panel chair", "panel")
    assert d.decided_at >= before and d.decided_at.tzinfo is not None
    assert d.scores_seen == {k: v for k, v in HIGH.items() if k not in ("ethnicity", "top_factors")}
    assert d.model_versions == VERSIONS and d.month == "2026-11"
    (stored,) = list_decisions(store)
    assert stored == d
    assert store.verify().intact


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"decision": "maybe"}, "decision"),
        ({"release_id": " "}, "release_id"),
        ({"person_id": ""}, "person_id"),
        ({"reason_code": "because"}, "reason_code"),
        ({"month": "2026-13"}, "month"),
        ({"reason_text": "x" * 2001}, "reason_text"),
        ({"decision": "not_now"}, "reason_code"),  # against a high band, no reason at all
        ({"decision": "not_now", "reason_code": "capacity"}, "reason_text"),  # a code without words
        ({"decision": "not_now", "reason_code": "capacity", "reason_text": "   "}, "reason_text"),
        ({"scores": LOW}, "reason_code"),  # adopting a low
        ({"actor": AUDITOR}, "role"),
        ({"actor": OPERATOR}, "role"),
    ],
)
def test_a_refused_decision_names_the_field_and_writes_nothing(store, values, field):
    with pytest.raises(DecisionError) as refused:
        _decide(store, **values)
    assert refused.value.field == field and str(refused.value).startswith(f"{field}: ")
    assert list_decisions(store) == []


def test_an_override_with_a_listed_reason_and_words_is_recorded(store):
    d = _decide(store, decision="not_now", reason_code="already_supported_elsewhere", reason_text="On licence, MAPPA")
    assert d.override and d.reason_words == OVERRIDE_REASONS["already_supported_elsewhere"]
    assert list_decisions(store, override=True) == [d] and list_decisions(store, override=False) == []


def test_a_change_names_the_latest_decision_and_both_stay(store):
    why = {"reason_code": "risk_lower_than_scored", "reason_text": "stable housing since"}
    first = _decide(store)
    with pytest.raises(DecisionError, match=f"already has decision {first.decision_id}") as refused:
        _decide(store, decision="refer", **why)
    assert refused.value.field == "replaces"
    second = _decide(store, decision="refer", **why, replaces=first.decision_id)
    with pytest.raises(DecisionError, match="already replaced"):
        _decide(store, decision="refer", **why, replaces=first.decision_id)
    with pytest.raises(DecisionError, match="no decision nope"):
        _decide(store, decision="refer", **why, replaces="nope")
    other = _decide(store, release_id="r2")
    with pytest.raises(DecisionError, match="another release"):
        _decide(store, decision="refer", **why, replaces=other.decision_id)
    assert [d.decision_id for d in list_decisions(store, release_id="r1")] == [second.decision_id, first.decision_id]
    assert latest_decisions(store, ["r1", "r2", "r3"]) == {"r1": second, "r2": other}
    assert store.verify().intact


def test_the_log_filters_by_month_decision_override_and_person(store):
    a = _decide(store, release_id="a", month="2026-10")
    b = _decide(store, release_id="b", decision="refer", reason_code="other", reason_text="housing")
    c = _decide(store, release_id="c", decision="not_now", scores={"reoffence_band": "medium"}, month=None)
    assert list_decisions(store) == [c, b, a]
    assert list_decisions(store, month="2026-11") == [b]
    assert list_decisions(store, decision="adopt") == [a]
    assert list_decisions(store, override=True) == [b]
    assert list_decisions(store, person_id="p1", limit=2) == [c, b]
    with pytest.raises(DecisionError) as refused:
        list_decisions(store, decision="yes")
    assert refused.value.field == "decision"


def test_a_decision_changed_by_hand_breaks_the_chain(store):
    _decide(store)
    _decide(store, release_id="r2")
    with store.engine.begin() as conn:
        conn.execute(audit.decisions.update().where(audit.decisions.c.release_id == "r1").values(decision="refer"))
    report = store.verify()
    assert not report.intact and report.problem.startswith("decisions id 1 ") and "was changed" in report.problem


def test_the_csv_log_has_one_row_per_decision_and_defuses_formulas(store):
    _decide(store, decision="refer", reason_code="other", reason_text='=HYPERLINK("x")')
    _decide(store, release_id="r2")
    rows = list(csv.DictReader(io.StringIO(decisions_csv(list_decisions(store)))))
    assert [r["release_id"] for r in rows] == ["r2", "r1"]
    assert rows[1]["reason_text"] == '\'=HYPERLINK("x")' and rows[1]["override"] == "True"
    assert rows[0]["decision_words"] == "adopt onto the IOM cohort" and rows[0]["reoffence_band"] == "high"
    assert set(DECISIONS) >= {r["decision"] for r in rows}


def test_viewing_a_person_is_an_audit_event(store):
    record_view(store, actor=PANEL, release_id="r1", person_id="p1")
    (event,) = store.events(kind=VIEW_EVENT)
    assert event["actor"] == "k_panel"
    assert event["details"] == {"release_id": "r1", "person_id": "p1", "role": "panel", "label": "Panel chair"}
    assert store.verify().intact


def test_decisions_are_never_updated_or_deleted(store):
    """Append-only: recording a change leaves the earlier row exactly as it was."""
    first = _decide(store)
    with store.engine.connect() as conn:
        before = conn.execute(sa.select(audit.decisions)).one()
    _decide(store, decision="adopt", replaces=first.decision_id)
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(audit.decisions).order_by(audit.decisions.c.id)).all()
    assert rows[0] == before and len(rows) == 2
