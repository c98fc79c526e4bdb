"""Alembic migrations: a database made by the previous version is refused until ``riskmodel db upgrade``,
which upgrades it in place and keeps its rows and its chain; a new database starts at the newest revision.

The previous version's database is made by its own code (``previous_audit.py``, a frozen
copy), on SQLite and, when ``RISKMODEL_TEST_DATABASE_URL`` is set, PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

import previous_audit
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from riskmodel.cli import main
from riskmodel.records import audit
from riskmodel.records.audit import AuditStore, SchemaOutdated, head_revision
from riskmodel.records.decisions import list_decisions, record_decision

NEW_TABLES = {"decisions", "sessions", "alembic_version"}


def _previous_database(url: str) -> dict[str, object]:
    """A database as the previous version leaves it after some use; what it holds."""
    old = previous_audit.AuditStore(url).create_schema()
    panel_key, panel_id = old.create_key("panel", label="panel chair")
    _, gone_id = old.create_key("operator")
    old.revoke_key(gone_id)
    key = old.authenticate(panel_key)
    for i in range(3):
        old.record_request(
            request_id=f"req-{i}", key=key, release_ids=[f"r{i}"], model_versions={"reoffence": "1"}, outputs=[{}]
        )
    now = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    old.record_batch(
        batch_id="b1",
        operator="ops",
        started_at=now,
        finished_at=now,
        input_path="in.csv",
        input_fingerprint="f" * 64,
        output_path="out.parquet",
        model_versions={"reoffence": "1"},
        rows_read=10,
        rows_scored=9,
        rows_rejected=1,
        output_fingerprint="a" * 64,
    )
    old.record_event("champion_set", actor="ops", details={"target": "harm", "version": "1"})
    assert old.verify().intact
    old.engine.dispose()
    return {"panel_key": panel_key, "panel_id": panel_id, "gone_id": gone_id, "records": 8}


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _cli(url: str, tmp_path, *args: str):
    env = {"RISKMODEL_HOME": str(tmp_path / "home"), "RISKMODEL_AUDIT_URL": url}
    return CliRunner().invoke(main, list(args), env=env)


def test_a_new_database_starts_at_the_newest_revision(empty_url):
    store = AuditStore(empty_url).create_schema()
    assert store.revision() == (head_revision(), head_revision())
    assert {"api_keys", "events", "audit_chain_head"} | NEW_TABLES <= _tables(empty_url)
    AuditStore(empty_url).create_schema().engine.dispose()  # a second worker starting: nothing to do
    store.engine.dispose()


def test_the_previous_version_database_is_refused_until_upgraded_and_keeps_its_rows(empty_url, tmp_path):
    held = _previous_database(empty_url)
    assert not NEW_TABLES & _tables(empty_url)

    store = AuditStore(empty_url)
    with pytest.raises(SchemaOutdated, match=r"run `riskmodel db upgrade`"):
        store.create_schema()
    with pytest.raises(SchemaOutdated):  # every use refuses it, writes included
        store.create_key("panel")
    assert not NEW_TABLES & _tables(empty_url)  # nothing was changed

    current = _cli(empty_url, tmp_path, "db", "current")
    assert current.exit_code == 1 and "revision (none)" in current.output and "db upgrade" in current.output
    upgraded = _cli(empty_url, tmp_path, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert f"from revision (before migrations) to {head_revision()}" in upgraded.output
    again = _cli(empty_url, tmp_path, "db", "upgrade")
    assert again.exit_code == 0 and "nothing to upgrade" in again.output
    assert _cli(empty_url, tmp_path, "db", "current").exit_code == 0

    store = AuditStore(empty_url).create_schema()
    assert NEW_TABLES <= _tables(empty_url)
    assert store.authenticate(held["panel_key"]).key_id == held["panel_id"]
    assert {k.key_id: k.revoked_at is not None for k in store.list_keys()} == {
        held["panel_id"]: False,
        held["gone_id"]: True,
    }
    assert [r["request_id"] for r in store.requests()] == ["req-2", "req-1", "req-0"]
    (batch,) = store.batch_records()
    assert batch["rows_scored"] == 9 and batch["output_fingerprint"] == "a" * 64
    assert store.events()[0]["details"] == {"target": "harm", "version": "1"}
    report = store.verify()
    assert report.intact and report.checked == held["records"], report.problem

    # the upgraded database takes the new records, on the same chain
    key = store.authenticate(held["panel_key"])
    record_decision(
        store,
        release_id="r1",
        person_id="p1",
        decision="adopt",
        actor=key,
        scores_seen={"reoffence_band": "high", "harm_band": "low"},
        model_versions={"reoffence": "1"},
        month="2026-11",
    )
    assert len(list_decisions(store)) == 1
    report = store.verify()
    assert report.intact and report.checked == held["records"] + 1
    store.engine.dispose()


def test_a_database_of_a_newer_version_is_refused(empty_url):
    store = AuditStore(empty_url).create_schema()
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    store.engine.dispose()
    with pytest.raises(SchemaOutdated, match=r"made by a newer version of riskmodel \(schema revision 9999"):
        AuditStore(empty_url).create_schema()
    AuditStore(empty_url).engine.dispose()


def test_a_failed_upgrade_changes_nothing(tmp_path):
    """The upgrade is one transaction: a failure midway leaves the previous schema (SQLite's DDL is transactional)."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    _previous_database(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # a table in the way of revision 0002
        conn.execute(sa.text("CREATE TABLE sessions (x INTEGER)"))
    engine.dispose()
    with pytest.raises(audit.AuditUnavailable, match="unavailable"):
        AuditStore(url).upgrade()
    assert "alembic_version" not in _tables(url) and "decisions" not in _tables(url)


def test_the_migrations_build_exactly_the_tables_the_code_declares(empty_url):
    """No difference between the newest revision's schema and :data:`riskmodel.records.audit.metadata`."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = AuditStore(empty_url).create_schema()
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), audit.metadata)
    store.engine.dispose()
    assert differences == []


def test_an_upgraded_previous_database_has_the_declared_tables_too(empty_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    _previous_database(empty_url)
    store = AuditStore(empty_url)
    store.upgrade()
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), audit.metadata)
    store.engine.dispose()
    assert differences == []
