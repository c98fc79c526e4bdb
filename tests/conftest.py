"""Shared fixtures: contract rows as a CSV read gives them, and isolated state folders."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from riskmodel._constants import RELEASE_COLUMNS, REOFFENCE_COLUMNS

#: One valid ``releases`` row, every contract column, every cell text.
VALID_RELEASE: dict[str, str] = {
    "release_id": "r1",
    "person_id": "p1",
    "release_date": "2020-01-15",
    "sex": "M",
    "age_at_release": "30",
    "previous_sanctions": "4",
    "index_offence": "burglary_domestic",
    "age_at_first_sanction": "16",
    "age_at_index_conviction": "29",
    "sentence_days": "180",
    "previous_custodial_sentences": "1",
    "previous_violent_sanctions": "2",
    "previous_breaches": "0",
    "needs_accommodation": "yes",
    "needs_employment": "no",
    "needs_mental_health": "true",
    "needs_substance_misuse": "false",
    "needs_finance": "1",
    "needs_family": "0",
    "ethnicity": "White",
}

#: One valid ``reoffences`` row (of person ``p1``), every cell text.
VALID_REOFFENCE: dict[str, str] = {
    "person_id": "p1",
    "offence_date": "2020-03-01",
    "proven_date": "2020-05-01",
    "offence": "theft_non_motor",
}

assert tuple(VALID_RELEASE) == RELEASE_COLUMNS
assert tuple(VALID_REOFFENCE) == REOFFENCE_COLUMNS


def _frame(base: dict[str, str], n: int, id_columns: tuple[str, ...], changes) -> pd.DataFrame:
    rows = []
    for i in range(n):
        row = dict(base)
        for column in id_columns:
            row[column] = f"{base[column][0]}{i + 1}"
        rows.append(row)
    for i, row_changes in (changes or {}).items():
        rows[i].update(row_changes)
    return pd.DataFrame(rows, dtype=object)


@pytest.fixture
def make_releases() -> Callable[..., pd.DataFrame]:
    """Build a valid ``releases`` frame of text cells, as ``read_table`` gives for a CSV.

    ``make_releases(n=3, changes={1: {"sex": "X"}})`` gives rows ``r1..r3`` of people
    ``p1..p3``, with row 1's ``sex`` set to ``"X"``.
    """

    def make(n: int = 3, *, changes: dict[int, dict[str, str]] | None = None) -> pd.DataFrame:
        return _frame(VALID_RELEASE, n, ("release_id", "person_id"), changes)

    return make


@pytest.fixture
def make_reoffences() -> Callable[..., pd.DataFrame]:
    """Build a valid ``reoffences`` frame of text cells: row ``i`` belongs to ``p{i+1}``."""

    def make(n: int = 3, *, changes: dict[int, dict[str, str]] | None = None) -> pd.DataFrame:
        return _frame(VALID_REOFFENCE, n, ("person_id",), changes)

    return make


@pytest.fixture
def isolated_home(tmp_path_factory, monkeypatch):
    """Point ``RISKMODEL_HOME`` and ``BENTOML_HOME`` at fresh temporary folders."""
    home = tmp_path_factory.mktemp("riskmodel_home")
    bentoml_home = tmp_path_factory.mktemp("bentoml_home")
    monkeypatch.setenv("RISKMODEL_HOME", str(home))
    monkeypatch.setenv("BENTOML_HOME", str(bentoml_home))
    for name in ("RISKMODEL_TRACKING_URI", "MLFLOW_TRACKING_URI", "RISKMODEL_AUDIT_URL"):
        monkeypatch.delenv(name, raising=False)
    return home


# --------------------------------------------------------------------------- trained models

#: Small but real training settings for tests: fewer trees and bootstrap draws, and
#: gates widened for a cohort of a few thousand people (the product's gates are in
#: ``training/config.yaml``; a test that checks the gates sets its own).
TEST_CONFIG = {
    "n_boot": 20,
    "params": {"default": {"n_estimators": 120, "learning_rate": 0.08}},
    # one evaluation period a year: a quarter's would fit four times as often (see tests/training)
    "split": {"evaluation_period": "year"},
    "gates": {
        "min_auc": 0.55,
        "calibration_slope": [0.5, 2.0],
        "max_abs_calibration_intercept": 0.5,
        "max_ece": 0.1,
        "max_frequency_calibration_error": 0.3,
        "max_calibration_gap": 0.5,
        "max_false_positive_rate_gap": 0.6,
        "max_false_negative_rate_gap": 0.6,
        "max_observed_to_expected_gap": 0.6,
        # a cohort of a few thousand has few harm positives per ethnic group: judge rates on fewer
        "min_group_size": 30,
        "min_group_positives": 10,
        "min_group_negatives": 10,
        "min_group_selected": 10,
    },
}


@dataclass
class TrainedHome:
    """A riskmodel home with a synthetic cohort, one trained run and promoted champions."""

    home: Path
    data: Path
    cohort: object
    settings: object
    config: object
    versions: dict

    def env(self) -> dict[str, str]:
        """Environment for a subprocess (CLI, server) that should use this home."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("RISKMODEL_TRACKING_URI", "MLFLOW_TRACKING_URI", "RISKMODEL_AUDIT_URL")
        }
        env["RISKMODEL_HOME"] = str(self.home)
        env["BENTOML_HOME"] = str(self.home / "bentoml")
        return env


def build_trained_home(root: Path, *, people: int = 3000, seed: int = 1) -> TrainedHome:
    """Generate a cohort, train, register and promote into ``root`` (a fresh home)."""
    from riskmodel.data.synth import generate_cohort, write_cohort
    from riskmodel.modelling.config import config_from_dict
    from riskmodel.modelling.registry import promote
    from riskmodel.modelling.workflow import train_and_register
    from riskmodel.settings import Settings

    settings = Settings.from_env({"RISKMODEL_HOME": str(root)}).ensure()
    cohort = generate_cohort(people, seed=seed)
    data = settings.data_dir / "synthetic"
    write_cohort(cohort, data)
    config = config_from_dict(TEST_CONFIG)
    run = train_and_register(data, settings=settings, as_of=cohort.as_of, config=config, truth=cohort.truth)
    decision = promote(settings, gates=config.gates)
    assert decision.passed, decision.failures
    return TrainedHome(home=root, data=data, cohort=cohort, settings=settings, config=config, versions=run.versions)


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory) -> TrainedHome:
    """One trained and promoted home shared by the session (read-only for tests).

    Tests that change the registry (promote, reload) build their own with
    :func:`build_trained_home`.
    """
    return build_trained_home(tmp_path_factory.mktemp("trained_home"))


@pytest.fixture
def test_train_config() -> dict:
    """:data:`TEST_CONFIG` for tests in folders whose own conftest shadows this module's name."""
    return dict(TEST_CONFIG)


# --------------------------------------------------------------------------- kinds of tests

#: Fixtures that train models (each builds a home, or fits the models itself). A test that
#: uses one, directly or through another fixture, is marked ``slow``.
TRAINING_FIXTURES = frozenset(
    {
        "trained_home",  # this module
        "batch_home",  # tests/batch/conftest.py
        "reload_home",  # tests/service/test_service_reload.py
        "story",  # tests/training/test_gates.py
        "default_models",  # tests/training/test_monotone.py
        "binary_reoffence_model",  # tests/training/test_monotone.py
        "spied",  # tests/training/test_split.py
        "executed",  # tests/notebooks/test_notebooks.py
    }
)

#: Fixtures that start a server process (tests/service/servers.py): marked ``server`` and ``slow``.
SERVER_FIXTURES = frozenset({"serve"})

#: Files and folders whose tests train in the test itself, not in a fixture: all ``slow``.
SLOW_PATHS = ("tests/notebooks/", "tests/training/test_train_cli.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark by kind, here rather than in each file, so that ``-m "not slow"`` stays quick.

    The marks follow from what a test uses: a new test that asks for a trained home is
    ``slow`` without anyone remembering to say so.
    """
    for item in items:
        used = set(getattr(item, "fixturenames", ()))  # with the fixtures' own fixtures
        path = item.path.relative_to(config.rootpath).as_posix() if item.path.is_relative_to(config.rootpath) else ""
        if used & SERVER_FIXTURES:
            item.add_marker(pytest.mark.server)
        if used & (TRAINING_FIXTURES | SERVER_FIXTURES) or path.startswith(SLOW_PATHS):
            item.add_marker(pytest.mark.slow)
