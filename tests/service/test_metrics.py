"""Metrics that say something (issue 12, item 9), and audit outages logged once (item 8).

The series are summed over worker processes the way BentoML runs them (one
``PROMETHEUS_MULTIPROC_DIR``, one file per process): two processes count here and a
third renders. A service state on the trained home counts what it scores and audits,
by band and model version, and the audit writes that fail; an outage is logged at
ERROR once, its end once, and no caller is told where the database is.
tests/service/test_production.py reads the same series from a real two-worker server.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import replace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from riskmodel.records.audit import AuditStore
from riskmodel.service.http import RequestMetrics
from riskmodel.service.state import ServiceError, ServiceState

COUNT_IN_A_PROCESS = """
from riskmodel.service.http import RequestMetrics
m = RequestMetrics()
m.observe("/score", 200, 0.05, "panel")
m.observe("/score", 401, 0.01)
m.count_scored({("reoffence", "high", "3"): 2, ("frequency", "none", "1"): 2})
m.count_audit_write_failure()
"""

RENDER = """
import sys
from riskmodel.service.http import RequestMetrics
sys.stdout.write(RequestMetrics().render(champions={"reoffence": "3", "harm": "2"}, generation=4).decode())
"""


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value of a Prometheus exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_series_are_summed_over_worker_processes(tmp_path):
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    for _ in range(2):  # two workers
        subprocess.run([sys.executable, "-c", COUNT_IN_A_PROCESS], env=env, check=True)
    text = subprocess.run([sys.executable, "-c", RENDER], env=env, check=True, capture_output=True, text=True).stdout
    got = samples(text)
    assert got[("riskmodel_requests_total", (("role", "panel"), ("route", "/score"), ("status", "200")))] == 2
    assert got[("riskmodel_requests_total", (("role", "none"), ("route", "/score"), ("status", "401")))] == 2
    scored = ("riskmodel_scored_releases_total", (("band", "high"), ("model_version", "3"), ("target", "reoffence")))
    assert got[scored] == 4
    assert got[("riskmodel_audit_write_failures_total", ())] == 2
    assert got[("riskmodel_champion_info", (("target", "harm"), ("version", "2")))] == 1
    assert got[("riskmodel_champion_info", (("target", "reoffence"), ("version", "3")))] == 1
    assert got[("riskmodel_reload_generation", ())] == 4


def test_a_single_process_renders_the_same_series():
    metrics = RequestMetrics()
    metrics.observe("/model", 403, 0.01, "auditor")
    got = samples(metrics.render(champions={"harm": "7"}, generation=1).decode())
    assert got[("riskmodel_requests_total", (("role", "auditor"), ("route", "/model"), ("status", "403")))] == 1
    assert got[("riskmodel_champion_info", (("target", "harm"), ("version", "7")))] == 1
    assert got[("riskmodel_audit_write_failures_total", ())] == 0


# --------------------------------------------------------------------------- a state counting


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def counted(trained_home, tmp_path):
    """A state on the trained home counting into its own metrics; its log records."""
    metrics = RequestMetrics()
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    state = ServiceState(replace(trained_home.settings, audit_url=url), metrics=metrics)
    handler = Lines()
    logger = logging.getLogger("riskmodel.service.state")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    yield state, metrics, handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)
    state.close()
    state.store.engine.dispose()


@pytest.fixture
def rows(trained_home) -> list[dict]:
    from riskmodel.data.contract import find_table, read_table

    return read_table(find_table(trained_home.data, "releases")).iloc[:30].to_dict(orient="records")


def test_scored_releases_are_counted_by_band_and_model_version(counted, rows, trained_home):
    state, metrics, _ = counted
    key = state.authorize(f"Bearer {state.store.create_key('panel')[0]}", "score")
    answer = state.score(key, rows)
    got = samples(metrics.render().decode())
    versions, _ = state.served()
    for target in ("reoffence", "harm"):
        bands = [row[f"{target}_band"] for row in answer]
        for band in set(bands):
            labels = (("band", band), ("model_version", versions[target]), ("target", target))
            assert got[("riskmodel_scored_releases_total", labels)] == bands.count(band)
    frequency = (("band", "none"), ("model_version", versions["frequency"]), ("target", "frequency"))
    assert got[("riskmodel_scored_releases_total", frequency)] == len(rows)


def test_an_audit_outage_is_logged_once_and_never_shown_to_callers(counted, rows, tmp_path):
    state, metrics, records = counted
    key = state.authorize(f"Bearer {state.store.create_key('panel')[0]}", "score")
    working = state.store
    gone = tmp_path / "no-such-folder" / "audit.db"  # SQLite cannot create a file there
    state.store = AuditStore(f"sqlite:///{gone}")
    try:
        for _ in range(3):
            with pytest.raises(ServiceError) as refused:
                state.score_request(key, rows[:2])
            assert refused.value.status == 503
            assert "no-such-folder" not in str(refused.value.body) and "sqlite" not in str(refused.value.body)
        with pytest.raises(ServiceError) as refused:
            state.audit(limit=5)
        assert refused.value.body["error"] == "audit database unavailable"
    finally:
        state.store.engine.dispose()
        state.store = working
    errors = [r for r in records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "audit outage" in errors[0].getMessage()
    assert "no-such-folder" in errors[0].getMessage()  # the operator is told where
    assert samples(metrics.render().decode())[("riskmodel_audit_write_failures_total", ())] == 3
    assert len(state.score(key, rows[:2])) == 2  # the store answers again
    over = [r for r in records if "audit outage over" in r.getMessage()]
    assert len(over) == 1 and over[0].levelno == logging.WARNING
