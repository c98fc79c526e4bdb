"""The training workflow as one call: load, train, log, register.

:func:`train_and_register` is what ``riskmodel train`` and ``riskmodel demo``, the MLflow
project (``training/``), the notebooks, the tests' trained homes and the benchmarks run.
It validates the tables against the data contract (unless given already validated ones),
evaluates every target's procedure by a rolling-origin backtest and refits it on every
eligible release (:func:`riskmodel.modelling.train.train_models`), logs
the run and registers each model as ``candidate``
(:func:`riskmodel.modelling.registry.log_training`). Promotion is a separate, deliberate
step (:func:`riskmodel.modelling.registry.promote`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from riskmodel.data.contract import Cohort, ContractError, find_table, load_cohort, read_table
from riskmodel.data.labels import check_as_of
from riskmodel.modelling.config import TrainConfig
from riskmodel.modelling.registry import config_hash, log_training, trained_champions
from riskmodel.modelling.train import TrainingResult, data_fingerprint, train_models
from riskmodel.settings import Settings

__all__ = ["RegisteredTraining", "load_training_cohort", "read_truth", "train_and_register", "champions_trained_on"]


@dataclass
class RegisteredTraining:
    """A training run, logged and registered.

    Attributes
    ----------
    result : TrainingResult
        The fitted models and their test figures.
    versions : dict of str to str
        Target → registered version number (each now aliased ``candidate``).
    cohort : Cohort
        The validated tables the run trained on, with the contract's warnings and rejects.
    """

    result: TrainingResult
    versions: dict[str, str]
    cohort: Cohort


def load_training_cohort(folder: Path, *, config: TrainConfig, allow_identifiers: bool = False) -> Cohort:
    """Read and validate a folder's ``releases`` and ``reoffences`` for training.

    The configuration's extra feature columns are validated with the contract's columns;
    ``allow_identifiers`` drops direct-identifier columns instead of refusing the tables.

    Raises
    ------
    riskmodel.data.contract.ContractError
        When a table is unusable as a whole.
    """
    return load_cohort(
        folder,
        extra_numeric=config.extra_numeric,
        extra_categorical=config.extra_categorical,
        allow_identifiers=allow_identifiers,
    )


def champions_trained_on(
    cohort: Cohort, *, settings: Settings, as_of: date, config: TrainConfig, test_from: date | None = None
) -> dict[str, str] | None:
    """The champions' versions when they were trained on exactly these tables and this configuration.

    Training again would register identical new versions (``riskmodel demo`` reruns skip
    it). None when any target's champion differs in data fingerprint or configuration hash
    (:func:`riskmodel.modelling.registry.config_hash`), or has none.
    """
    fingerprint = data_fingerprint(cohort.releases.data, cohort.reoffences.data)
    digest = config_hash(config, as_of=as_of, test_from=test_from)
    return trained_champions(settings, fingerprint=fingerprint, config_digest=digest)


def read_truth(folder: Path) -> pd.DataFrame | None:
    """The ``truth`` table of a synthetic cohort's folder (None when the folder has none).

    Its values are read as floats; they give the oracle's figures (see
    :func:`riskmodel.modelling.train.train_models`).
    """
    try:
        truth = read_table(find_table(folder, "truth"))
    except ContractError:
        return None
    return truth.assign(**{column: truth[column].astype(float) for column in truth.columns if column != "release_id"})


def train_and_register(
    data: Path | Cohort,
    *,
    settings: Settings,
    as_of: date,
    config: TrainConfig,
    truth: pd.DataFrame | None = None,
    test_from: date | None = None,
    run_name: str | None = None,
) -> RegisteredTraining:
    """Validate, train every target, log the run to MLflow and register the candidates.

    Parameters
    ----------
    data : path or Cohort
        A folder with ``releases`` and ``reoffences`` (CSV or Parquet), or tables already
        validated (:func:`load_training_cohort`, e.g. to report the contract's findings
        before training).
    settings : Settings
        Where the MLflow store is.
    as_of : date
        Extract date: outcomes after it are unknown.
    config : TrainConfig
    truth : DataFrame, optional
        Synthetic truth (``release_id`` and the true values) for the oracle's figures. By
        default a folder's own ``truth`` table, when it has one.
    test_from : date, optional
        First release date of the test period (overrides the configuration).
    run_name : str, optional
        MLflow run name.

    Returns
    -------
    RegisteredTraining

    Raises
    ------
    riskmodel.data.contract.ContractError
        When a table is unusable as a whole.
    ValueError
        When a target has no eligible releases to evaluate or to fit a period on.
    """
    if isinstance(data, Cohort):
        cohort = data
    else:
        cohort = load_training_cohort(data, config=config)
        truth = read_truth(data) if truth is None else truth
    releases = cohort.releases.data
    check_as_of(releases, cohort.reoffences.data, as_of=as_of)
    result = train_models(
        releases, cohort.reoffences.data, as_of=as_of, config=config, truth=truth, test_from=test_from
    )
    # The deployed models' training releases (every eligible one; with a fixed test part,
    # those outside it): the drift profile and the model's input example.
    last = pd.Timestamp(max(tr.refit["last_release"] for tr in result.targets.values()))
    training_rows = releases.loc[releases["release_date"] <= last]
    digest = config_hash(config, as_of=as_of, test_from=test_from)
    versions = log_training(result, settings, training_rows=training_rows, run_name=run_name, config_digest=digest)
    return RegisteredTraining(result=result, versions=versions, cohort=cohort)
