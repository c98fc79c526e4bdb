"""The tamper-evident audit trail (issue 10, point 12) and the batches' output fingerprint (point 4).

Every record (key created or revoked, request, batch) is chained; ``AuditStore.verify``
and ``riskmodel audit verify`` name the first record changed, deleted or out of order.
Runs on SQLite, and on PostgreSQL when ``RISKMODEL_TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from test_audit import panel_key, raw_rows, store  # noqa: F401  (store is a fixture)

from riskmodel.records.audit import AuditStore


def _batch(store: AuditStore, batch_id: str, **extra) -> None:  # noqa: F811
    started = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    store.record_batch(
        batch_id=batch_id,
        operator="operator-1",
        started_at=started,
        finished_at=started + timedelta(minutes=3),
        input_path="/data/releases.csv",
        input_fingerprint="f" * 64,
        output_path="/reports/not-yet-written.csv",
        model_versions={"reoffence": "riskmodel-reoffence/1"},
        rows_read=10,
        rows_scored=9,
        rows_rejected=1,
        **extra,
    )


def _fill(store: AuditStore) -> None:  # noqa: F811
    """Two keys (one revoked), four requests and a batch: eight chained records."""
    key = panel_key(store)
    _, other = store.create_key("operator")
    for i in range(4):
        store.record_request(request_id=f"req-{i}", key=key, release_ids=[f"r{i}"], model_versions={}, outputs=[])
    store.revoke_key(other)
    _batch(store, "b1")


def _sql(store: AuditStore, statement: str) -> None:  # noqa: F811
    with store.engine.begin() as conn:
        conn.execute(sa.text(statement))


def _request_ids(store: AuditStore) -> list[int]:  # noqa: F811
    return sorted(r["id"] for r in raw_rows(store, "score_requests"))


def test_an_untouched_trail_is_intact(store):  # noqa: F811
    _fill(store)
    report = store.verify()
    assert report.intact, report.problem
    assert (report.checked, report.head_seq) == (8, 8)
    assert report.lines()[-1] == "intact"


def test_an_edited_request_is_named(store):  # noqa: F811
    _fill(store)
    second = _request_ids(store)[1]
    _sql(store, f"UPDATE score_requests SET outputs = '[{{\"score\": 0.1}}]' WHERE id = {second}")
    report = store.verify()
    assert not report.intact
    assert report.problem.startswith(f"score_requests id {second} (chain position 4) was changed")


def test_an_edited_batch_and_a_revoked_key_restored_are_named(store):  # noqa: F811
    _fill(store)
    _sql(store, "UPDATE api_keys SET revoked_at = NULL")
    assert "revoked_at does not match its revocation record" in store.verify().problem
    _sql(store, "UPDATE batches SET rows_scored = 10")
    assert store.verify().problem.startswith("batches id 1 (chain position 8) was changed")


def test_a_deleted_record_is_named(store):  # noqa: F811
    _fill(store)
    ids = _request_ids(store)
    _sql(store, f"DELETE FROM score_requests WHERE id = {ids[1]}")
    problem = store.verify().problem
    assert problem == f"chain position 4 missing (deleted) before score_requests id {ids[2]} (chain position 5)"


def test_deleting_the_newest_records_is_noticed(store):  # noqa: F811
    _fill(store)
    _sql(store, "DELETE FROM batches")
    assert store.verify().problem == "chain position 8..8 missing (deleted) at the end of the chain"


def test_reordered_rows_are_named(store):  # noqa: F811
    _fill(store)
    a, b = _request_ids(store)[:2]
    _sql(store, f"UPDATE score_requests SET id = -id WHERE id IN ({a}, {b})")
    _sql(store, f"UPDATE score_requests SET id = CASE id WHEN {-a} THEN {b} ELSE {a} END WHERE id < 0")
    assert (
        store.verify().problem
        == f"score_requests id {a} (chain position 4) comes after id {b} in the chain: rows re-ordered"
    )


def test_swapped_chain_positions_are_named(store):  # noqa: F811
    _fill(store)
    a, b = _request_ids(store)[:2]
    _sql(store, f"UPDATE score_requests SET chain_seq = -chain_seq WHERE id IN ({a}, {b})")
    _sql(store, "UPDATE score_requests SET chain_seq = CASE chain_seq WHEN -3 THEN 4 ELSE 3 END WHERE chain_seq < 0")
    assert store.verify().problem.startswith(f"score_requests id {b} (chain position 3) was changed")


def test_a_record_inserted_by_hand_is_named(store):  # noqa: F811
    _fill(store)
    _sql(
        store,
        "INSERT INTO score_requests (request_id, key_id, role, requested_at, release_ids, model_versions, outputs)"
        " VALUES ('forged', 'k', 'panel', '2025-01-01 00:00:00', '[]', '{}', '[]')",
    )
    assert "score_requests has 1 unchained records, 0 when the chain began: inserted" == store.verify().problem


def test_a_missing_chain_head_is_reported_and_stops_writes(store):  # noqa: F811
    _fill(store)
    _sql(store, "DELETE FROM audit_chain_head")
    assert store.verify().problem == "the chain head is missing (deleted)"


# --------------------------------------------------------------------------- batches


def test_a_batch_keeps_its_output_fingerprint_and_needs_no_output_file(store):  # noqa: F811
    _batch(store, "b1", output_fingerprint="a" * 64)
    _batch(store, "b0")
    newest, oldest = store.batch_records()
    assert (newest["output_fingerprint"], oldest["output_fingerprint"]) == (None, "a" * 64)
    assert store.verify().intact


def test_batch_times_are_stored_as_utc_instants(store):  # noqa: F811
    ten_in_paris = datetime(2025, 1, 6, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    _batch(store, "b1")
    record = {k: v for k, v in store.batch_records()[0].items() if k not in ("id", "chain_seq", "chain_hash")}
    store.record_batch(**{**record, "batch_id": "b2", "started_at": ten_in_paris})
    assert store.batch_records()[0]["started_at"] == datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    assert store.verify().intact


def test_an_unknown_batch_column_is_a_programming_error(store):  # noqa: F811
    with pytest.raises(TypeError, match=r"unknown columns \['rows_scord'\]"):
        _batch(store, "b1", rows_scord=3)


# --------------------------------------------------------------------------- older databases

_OLD_SCHEMA = """
CREATE TABLE api_keys (key_id VARCHAR(32) PRIMARY KEY, key_hash VARCHAR(64) NOT NULL UNIQUE,
  role VARCHAR(16) NOT NULL, label VARCHAR(200) NOT NULL, created_at TIMESTAMP NOT NULL, revoked_at TIMESTAMP);
CREATE TABLE score_requests (id INTEGER PRIMARY KEY, request_id VARCHAR(64) NOT NULL, key_id VARCHAR(32) NOT NULL,
  role VARCHAR(16) NOT NULL, requested_at TIMESTAMP NOT NULL, release_ids TEXT NOT NULL,
  model_versions TEXT NOT NULL, outputs TEXT NOT NULL);
CREATE TABLE batches (id INTEGER PRIMARY KEY, batch_id VARCHAR(64) NOT NULL, operator VARCHAR(200) NOT NULL,
  started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP NOT NULL, input_path TEXT NOT NULL,
  input_fingerprint VARCHAR(64) NOT NULL, output_path TEXT NOT NULL, model_versions TEXT NOT NULL,
  rows_read INTEGER NOT NULL, rows_scored INTEGER NOT NULL, rows_rejected INTEGER NOT NULL);
INSERT INTO api_keys VALUES ('old', 'h', 'panel', '', '2025-01-01 00:00:00', NULL);
INSERT INTO score_requests (request_id, key_id, role, requested_at, release_ids, model_versions, outputs)
  VALUES ('old-1', 'old', 'panel', '2025-01-01 00:00:00', '[]', '{}', '[]');
INSERT INTO batches (batch_id, operator, started_at, finished_at, input_path, input_fingerprint, output_path,
  model_versions, rows_read, rows_scored, rows_rejected)
  VALUES ('old-b', 'op', '2025-01-01 00:00:00', '2025-01-01 00:00:00', 'i', 'f', 'o', '{}', 1, 1, 0)
"""


def test_an_older_database_gains_the_new_columns_and_its_records_count_as_unchained(store):  # noqa: F811
    with store.engine.begin() as conn:
        for table in sa.inspect(conn).get_table_names():
            conn.execute(sa.text(f"DROP TABLE {table}"))
        serial = "SERIAL PRIMARY KEY" if conn.dialect.name == "postgresql" else "INTEGER PRIMARY KEY"
        for statement in _OLD_SCHEMA.replace("INTEGER PRIMARY KEY", serial).split(";"):
            conn.execute(sa.text(statement))
    store.engine.dispose()
    upgraded = AuditStore(store.url)
    upgraded.upgrade()  # `riskmodel db upgrade`: the Alembic baseline adopts the older tables
    AuditStore(store.url).create_schema().engine.dispose()  # then a worker starting finds it current
    _fill(upgraded)
    report = upgraded.verify()
    assert report.intact, report.problem
    assert {table: n for table, n in report.unchained.items() if n} == {
        "api_keys": 1,
        "score_requests": 1,
        "batches": 1,
    }
    assert report.lines()[1] == (
        "unchained records written before the chain began (not checked): api_keys 1, score_requests 1, batches 1"
    )
    assert upgraded.count_requests() == 5 and upgraded.batch_records()[-1]["output_fingerprint"] is None
    upgraded.engine.dispose()


# --------------------------------------------------------------------------- concurrent writers

_WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from riskmodel.records.audit import ApiKey, AuditStore
    store = AuditStore(sys.argv[1])
    key = ApiKey("k", "panel", "", datetime.now(UTC), None)
    for i in range(40):
        store.record_request(request_id=f"{sys.argv[2]}-{i}", key=key, release_ids=[], model_versions={}, outputs=[])
    """
)


@pytest.mark.slow  # two interpreters
def test_two_processes_writing_at_once_keep_one_chain(store):  # noqa: F811
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, store.url, name]) for name in ("a", "b")]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    report = store.verify()
    assert report.intact, report.problem
    assert report.checked == store.count_requests() == 80
