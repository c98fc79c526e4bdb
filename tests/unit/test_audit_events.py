"""Operators' events in the audit store (``champion_set``): recorded, read back, chained."""

from __future__ import annotations

import sqlalchemy as sa

from riskmodel.records.audit import AuditStore


def test_an_event_is_recorded_read_back_and_chained(tmp_path):
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    store.create_key("operator")
    store.record_event("champion_set", actor="alice", details={"target": "harm", "version": "1", "forced": False})
    store.record_event("other", actor="bob", details={})
    events = store.events(kind="champion_set")
    assert [(e["actor"], e["details"]) for e in events] == [
        ("alice", {"target": "harm", "version": "1", "forced": False})
    ]
    assert [e["kind"] for e in store.events()] == ["other", "champion_set"]
    assert store.verify().intact

    with store.engine.begin() as conn:  # a change by hand breaks the chain
        conn.execute(sa.text("UPDATE events SET actor = 'mallory' WHERE actor = 'alice'"))
    assert not store.verify().intact
