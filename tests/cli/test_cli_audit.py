"""``riskmodel audit verify``: 0 when the trail is intact, 1 at the first tampered record, 2 when unreadable."""

from __future__ import annotations

import sqlalchemy as sa

from riskmodel.cli import main
from riskmodel.records.audit import AuditStore
from riskmodel.settings import Settings


def test_an_intact_trail_exits_0(runner):
    for role in ("panel", "auditor"):
        assert runner.invoke(main, ["keys", "create", "--role", role]).exit_code == 0
    result = runner.invoke(main, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [result.stdout.splitlines()[0], "intact"]
    assert result.stdout.startswith("audit chain: 2 records checked; head at position 2 (")


def test_a_changed_key_exits_1_naming_it(runner):
    runner.invoke(main, ["keys", "create", "--role", "panel"])
    store = AuditStore(Settings.from_env().audit_url)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE api_keys SET role = 'operator'"))
    (key,) = store.list_keys()
    store.engine.dispose()
    result = runner.invoke(main, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"BROKEN: api_keys id {key.key_id} (chain position 1) was changed" in result.stderr


def test_an_unreadable_database_exits_2(runner, monkeypatch, tmp_path):
    monkeypatch.setenv("RISKMODEL_AUDIT_URL", f"sqlite:///{tmp_path / 'missing' / 'audit.db'}")
    result = runner.invoke(main, ["audit", "verify"])
    assert result.exit_code == 2
    assert "unavailable" in result.stderr
