"""The audit database and the home holding it are their owner's only (issue 10, point 11).

The API keys (their hashes) live in the audit database, so this covers the key store too.
Tests run as root, who reads any file whatever its mode: the mode bits are checked.
"""

from __future__ import annotations

import os
import stat

import pytest

from riskmodel.records.audit import AuditStore
from riskmodel.settings import Settings


@pytest.fixture
def umask_022():
    """The usual umask, under which SQLite alone would make its files 0644."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_sqlite_file_and_its_wal_and_shm_are_0600(tmp_path, umask_022):
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}").create_schema()
    store.create_key("panel")
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["audit.db", "audit.db-shm", "audit.db-wal"]  # WAL mode, connection open
    assert {name: _mode(tmp_path / name) for name in files} == dict.fromkeys(files, 0o600)
    store.engine.dispose()


def test_an_existing_file_keeps_its_mode(tmp_path, umask_022):
    path = tmp_path / "audit.db"
    path.touch(mode=0o640)  # an operator's choice (e.g. a group of auditors) is left alone
    AuditStore(f"sqlite:///{path}").create_schema().engine.dispose()
    assert _mode(path) == 0o640


def test_a_missing_folder_is_not_created_by_the_store(tmp_path):
    store = AuditStore(f"sqlite:///{tmp_path / 'missing' / 'audit.db'}")
    assert store.ping() is False
    assert not (tmp_path / "missing").exists()


def test_a_home_made_by_riskmodel_is_0700(tmp_path, umask_022):
    settings = Settings.from_env({"RISKMODEL_HOME": str(tmp_path / "home")}).ensure()
    assert _mode(settings.home) == 0o700
    store = AuditStore(settings.audit_url).create_schema()
    assert _mode(settings.home / "audit.db") == 0o600
    store.engine.dispose()
