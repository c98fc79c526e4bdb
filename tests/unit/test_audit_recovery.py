"""The audit store recovers, without a restart, once it can be written again (issue 10, point 3).

Readiness (``AuditStore.ping``) says whether the store can be *written*, and flips both
ways. How the outage is made, as root (tests run as root, who ignores file modes):

- SQLite: ``chattr +i`` makes the file immutable, which binds root too. A connection
  opened then is read-only (SQLite falls back to read-only when it cannot open the file
  for writing) and stays read-only after ``chattr -i``: the outage that left restarted
  workers answering 503 for good while they still passed a read-only readiness check.
- PostgreSQL: a role of the test's own gets ``default_transaction_read_only = on`` (only
  new sessions take it) and its sessions are terminated, so the pool reconnects into
  read-only sessions; ``RESET`` ends the outage for new sessions only, as a failover to
  a read-only standby and back does.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from test_audit import PG_URL

from riskmodel.records.audit import ApiKey, AuditStore, AuditUnavailable


def _record(store: AuditStore, request_id: str) -> None:
    key = ApiKey("k1", "panel", "", datetime.now(UTC), None)
    store.record_request(request_id=request_id, key=key, release_ids=["r1"], model_versions={}, outputs=[])


def _chattr(flag: str, path) -> bool:
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


@pytest.fixture
def immutable(tmp_path):
    """Make a file immutable (root included) and writable again; always undone."""
    made = []

    def set_immutable(path, on: bool) -> None:
        if not _chattr("+i" if on else "-i", path):
            pytest.skip("chattr +i is not available here (needs CAP_LINUX_IMMUTABLE and ext4/xfs)")
        if on:
            made.append(path)

    yield set_immutable
    for path in made:
        _chattr("-i", path)


def test_sqlite_store_recovers_when_the_file_is_writable_again(tmp_path, immutable):
    path = tmp_path / "audit.db"
    store = AuditStore(f"sqlite:///{path}").create_schema()
    key, _ = store.create_key("panel")
    _record(store, "before")
    immutable(path, True)
    store.engine.dispose()  # like a worker restarted during the outage: it connects now
    assert store.authenticate(key) is not None  # reads still work...
    assert store.ping() is False  # ...but readiness says it cannot write
    with pytest.raises(AuditUnavailable):
        _record(store, "during")
    assert store.ping() is False
    immutable(path, False)
    assert store.ping() is True  # ready again, same store, no restart
    _record(store, "after")
    assert [r["request_id"] for r in store.requests()] == ["after", "before"]
    store.engine.dispose()


def test_a_write_after_the_outage_succeeds_even_without_a_readiness_probe(tmp_path, immutable):
    path = tmp_path / "audit.db"
    store = AuditStore(f"sqlite:///{path}").create_schema()
    key, _ = store.create_key("panel")
    immutable(path, True)
    store.engine.dispose()
    assert store.authenticate(key) is not None  # the pool now holds a read-only connection
    immutable(path, False)
    _record(store, "first after")  # that connection is dropped and the write retried
    assert store.count_requests() == 1
    store.engine.dispose()


def test_a_store_started_during_the_outage_recovers(tmp_path, immutable):
    path = tmp_path / "audit.db"
    AuditStore(f"sqlite:///{path}").create_schema().engine.dispose()
    immutable(path, True)
    restarted = AuditStore(f"sqlite:///{path}")
    assert restarted.ping() is False
    with pytest.raises(AuditUnavailable):
        _record(restarted, "during")
    immutable(path, False)
    assert restarted.ping() is True
    _record(restarted, "after")
    assert restarted.count_requests() == 1
    restarted.engine.dispose()


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_role_store():
    """A store connecting as a role of its own, in a schema of its own; and an admin engine."""
    if not PG_URL:
        pytest.skip("RISKMODEL_TEST_DATABASE_URL not set")
    name = f"riskmodel_h4_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{name}" LOGIN'))
        conn.execute(sa.text(f'CREATE SCHEMA "{name}" AUTHORIZATION "{name}"'))
    url = sa.engine.make_url(PG_URL).set(username=name).update_query_dict({"options": f"-csearch_path={name}"})
    store = AuditStore(url.render_as_string(hide_password=False)).create_schema()
    try:
        yield store, admin, name
    finally:
        store.engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
            conn.execute(sa.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}'"))
            conn.execute(sa.text(f'DROP ROLE "{name}"'))
        admin.dispose()


def _read_only_sessions(admin: sa.Engine, role: str, on: bool) -> None:
    with admin.connect() as conn:
        setting = "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
        conn.execute(sa.text(f'ALTER ROLE "{role}" {setting}'))
        if on:  # the pool reconnects into read-only sessions
            conn.execute(sa.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"))


def test_postgresql_store_recovers_when_writable_again(pg_role_store):
    store, admin, role = pg_role_store
    key, _ = store.create_key("panel")
    _record(store, "before")
    _read_only_sessions(admin, role, True)
    assert store.authenticate(key) is not None  # reads still work...
    assert store.ping() is False  # ...but readiness says it cannot write
    with pytest.raises(AuditUnavailable):
        _record(store, "during")
    assert store.authenticate(key) is not None  # the pool holds read-only sessions again
    _read_only_sessions(admin, role, False)
    _record(store, "after")  # the read-only session is dropped, the write retried
    assert store.ping() is True
    assert [r["request_id"] for r in store.requests()] == ["after", "before"]


def test_postgresql_readiness_flips_back_by_itself(pg_role_store):
    store, admin, role = pg_role_store
    _read_only_sessions(admin, role, True)
    assert store.ping() is False
    assert store.ping() is False
    _read_only_sessions(admin, role, False)
    assert store.ping() is True
