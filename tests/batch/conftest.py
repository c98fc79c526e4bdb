"""Fixtures of the batch tests: their own trained home, its champions, and months to score.

Batch runs write to the audit database and a backtest logs to MLflow, so these tests
build their own home instead of writing into the session's read-only ``trained_home``.
"""

from __future__ import annotations

import pytest
from batch_helpers import Month, build_trained_home
from click.testing import CliRunner


@pytest.fixture(scope="session")
def batch_home(tmp_path_factory):
    """A trained, promoted home that the batch tests may write to."""
    return build_trained_home(tmp_path_factory.mktemp("batch_home"), people=3000, seed=11)


@pytest.fixture(scope="session")
def champions(batch_home):
    from riskmodel.modelling.registry import load_champions

    return load_champions(batch_home.settings)


@pytest.fixture
def home_env(batch_home, monkeypatch):
    """Point the CLI (run in this process) at the batch home."""
    for name, value in batch_home.env().items():
        monkeypatch.setenv(name, value)
    for name in ("RISKMODEL_TRACKING_URI", "MLFLOW_TRACKING_URI", "RISKMODEL_AUDIT_URL"):
        monkeypatch.delenv(name, raising=False)
    return batch_home


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def month() -> Month:
    """About 1,300 releases from a cohort the champions never saw (same process)."""
    from riskmodel.data.synth import generate_cohort

    return Month(generate_cohort(800, seed=101).releases)
