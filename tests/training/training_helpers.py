"""Helpers of the training tests (a module of its own: every test folder's conftest is "conftest")."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from _helpers_root import root_conftest  # tests/ is on the path (its conftest.py)

REPO = Path(__file__).resolve().parents[2]

TEST_CONFIG = root_conftest().TEST_CONFIG
build_trained_home = root_conftest().build_trained_home

#: Training settings for tests that only need *a* model, not a good one.
FAST_CONFIG = {
    "n_boot": 5,
    "params": {"default": {"n_estimators": 40, "learning_rate": 0.1}},
    "split": {"evaluation_period": "year"},
}


def home_env(home: Path) -> dict[str, str | None]:
    """Environment (for ``CliRunner.invoke(env=...)`` or a subprocess) that uses ``home``."""
    return {
        "RISKMODEL_HOME": str(home),
        "BENTOML_HOME": str(Path(home) / "bentoml"),
        "RISKMODEL_TRACKING_URI": None,
        "MLFLOW_TRACKING_URI": None,
        "RISKMODEL_AUDIT_URL": None,
        "MLFLOW_RUN_ID": None,
        "MLFLOW_EXPERIMENT_ID": None,
        "MLFLOW_EXPERIMENT_NAME": None,
    }


def subprocess_env(home: Path) -> dict[str, str]:
    """``os.environ`` with :func:`home_env` applied and this interpreter's folder first on PATH."""
    env = dict(os.environ)
    for key, value in home_env(home).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def registry_snapshot(settings) -> dict[str, list[tuple[str, tuple[str, ...], dict[str, str]]]]:
    """Every registered version of every riskmodel model: (version, aliases, tags)."""
    from riskmodel.modelling.models import TARGETS
    from riskmodel.modelling.registry import connect, model_name

    client = connect(settings)
    out = {}
    for target in TARGETS:
        found = client.search_model_versions(f"name='{model_name(target)}'")
        # search results carry no aliases: read each version itself
        versions = [client.get_model_version(model_name(target), v.version) for v in found]
        out[target] = sorted((str(v.version), tuple(sorted(v.aliases)), dict(v.tags)) for v in versions)
    return out


def alias_version(settings, target: str, alias: str) -> str | None:
    """The version holding ``alias`` (None when no version holds it)."""
    from mlflow.exceptions import MlflowException

    from riskmodel.modelling.registry import connect, model_name

    try:
        return str(connect(settings).get_model_version_by_alias(model_name(target), alias).version)
    except MlflowException:
        return None


def shuffled_history(releases: pd.DataFrame, *, before, seed: int = 0) -> pd.DataFrame:
    """``releases`` with the feature columns of releases before ``before`` shuffled between rows.

    Every release keeps its identity, date and true outcome, but in the training period
    what is known about the person belongs to someone else: a model trained on it learns
    nothing, and is scored on the real (unshuffled) later releases.
    """
    rng = np.random.default_rng(seed)
    keep = {"release_id", "person_id", "release_date", "ethnicity"}
    early = np.flatnonzero((releases["release_date"] < pd.Timestamp(before)).to_numpy())
    out = releases.copy()
    order = rng.permutation(early)
    for column in releases.columns.difference(list(keep)):
        out[column] = releases[column].to_numpy().copy()
        values = out[column].to_numpy()
        values[early] = releases[column].to_numpy()[order]
        out[column] = pd.Series(values, index=releases.index).astype(releases[column].dtype)
    return out
