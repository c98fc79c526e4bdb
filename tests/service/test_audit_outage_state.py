"""A service whose SQLite audit file was unwritable recovers without a restart (issue 10, point 3).

``chattr +i`` makes the file immutable to root too (tests run as root, who ignores file
modes); a worker started meanwhile opens the file read-only, as the restarted workers of
the issue did. Readiness must say so, and both must recover once the file is writable.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace

import pytest

from riskmodel.records.audit import AuditStore
from riskmodel.service.state import ServiceError, ServiceState


def _chattr(flag: str, path) -> None:
    if shutil.which("chattr") is None or subprocess.run(["chattr", flag, str(path)]).returncode != 0:
        pytest.skip("chattr +i is not available here")


def test_a_worker_started_while_the_audit_file_was_unwritable_recovers(trained_home, tmp_path):
    from riskmodel.data.contract import find_table, read_table

    path = tmp_path / "audit.db"
    first = AuditStore(f"sqlite:///{path}").create_schema()
    key, _ = first.create_key("panel")
    first.engine.dispose()
    rows = read_table(find_table(trained_home.data, "releases")).iloc[:2].to_dict(orient="records")
    _chattr("+i", path)
    try:
        state = ServiceState(replace(trained_home.settings, audit_url=f"sqlite:///{path}"))  # the restarted worker
        live = state.authorize(f"Bearer {key}", "score")  # keys can be read...
        assert state.ready() is False  # ...but nothing can be recorded: not ready
        with pytest.raises(ServiceError) as refused:
            state.score_request(live, rows)
        assert refused.value.status == 503
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    try:
        assert state.ready() is True
        assert len(state.score(live, rows)) == 2  # answered and recorded, same process
        assert state.store.count_requests() == 1
        assert state.store.verify().intact
    finally:
        state.close()
        state.store.engine.dispose()
