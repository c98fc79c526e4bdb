"""What a training run leaves in MLflow: enough to trace any score to its model, data and validation."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.models import Model

from riskmodel.data.contract import load_cohort
from riskmodel.modelling.config import config_to_dict
from riskmodel.modelling.features import MONOTONE_INCREASING
from riskmodel.modelling.models import BINARY_TARGETS, TARGETS
from riskmodel.modelling.registry import CANDIDATE, EXPERIMENT, connect, model_name
from riskmodel.modelling.train import data_fingerprint

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(trained_home):
    connect(trained_home.settings)
    client = MlflowClient(trained_home.settings.tracking_uri)
    version = client.get_model_version_by_alias(model_name("reoffence"), CANDIDATE)
    return client, mlflow.get_run(version.run_id)


@pytest.fixture(scope="module")
def artifacts(run, tmp_path_factory):
    client, info = run
    return Path(
        mlflow.artifacts.download_artifacts(run_id=info.info.run_id, dst_path=str(tmp_path_factory.mktemp("artifacts")))
    )


def test_one_run_in_the_riskmodel_experiment_under_the_home(trained_home, run):
    client, info = run
    experiment = client.get_experiment(info.info.experiment_id)
    assert experiment.name == EXPERIMENT
    home = trained_home.settings.artifact_root.resolve()
    assert Path(experiment.artifact_location.removeprefix("file://")).resolve() == home
    assert info.info.artifact_uri.removeprefix("file://").startswith(str(home))


def test_params_record_the_data_window_split_and_model_settings(trained_home, run):
    _, info = run
    params = info.data.params
    config = trained_home.config
    assert params["as_of"] == trained_home.cohort.as_of.isoformat()
    for key, value in config_to_dict(config)["labels"].items():
        assert params[f"labels.{key}"] == str(value)
    assert params["split.test_from"] and int(params["split.refit_rows"]) > 0 and int(params["split.test_rows"]) > 0
    assert params["split.evaluation_period"] == config.split.evaluation_period and int(params["split.periods"]) >= 2
    for target in TARGETS:
        for key, value in config.params_for(target).items():
            assert params[f"params.{target}.{key}"] == str(value)


def test_the_data_fingerprint_is_that_of_the_training_tables(trained_home, run):
    _, info = run
    cohort = load_cohort(trained_home.data)
    expected = data_fingerprint(cohort.releases.data, cohort.reoffences.data)
    assert info.data.tags["data_fingerprint"] == expected == info.data.params["data_fingerprint"]
    changed = cohort.reoffences.data.iloc[1:]
    assert data_fingerprint(cohort.releases.data, changed) != expected


def test_metrics_cover_every_scorer_and_the_fairness_gaps(run):
    _, info = run
    metrics = info.data.metrics
    for target in ("reoffence", "harm"):
        for scorer in ("model", "baseline", "ogrs3", "oracle"):
            for figure in (
                "auc",
                "auc_low",
                "auc_high",
                "brier",
                "log_loss",
                "calibration_intercept",
                "calibration_slope",
                "ece",
                "capture_at_10",
                "precision_at_capacity",
            ):
                assert f"{target}.{scorer}.{figure}" in metrics, (target, scorer, figure)
        assert (
            metrics[f"{target}.model.auc_low"] <= metrics[f"{target}.model.auc"] <= metrics[f"{target}.model.auc_high"]
        )
    assert "reoffence.fairness.age_band.calibration_in_the_large_gap" in metrics
    assert "reoffence.fairness.age_band.calibration_in_the_large_gap_se" in metrics
    for scorer in ("model", "baseline", "ogrs3", "oracle"):
        for figure in ("capture_at_10", "calibration_ratio", "poisson_deviance"):
            assert f"frequency.{scorer}.{figure}" in metrics


@pytest.mark.parametrize("target", TARGETS)
def test_each_model_has_its_features_plots_tables_and_card(trained_home, artifacts, target, run):
    folder = artifacts / target
    features = json.loads((folder / "features.json").read_text())
    model = trained_home and mlflow.sklearn.load_model(f"models:/{model_name(target)}@{CANDIDATE}")
    assert features["features"] == [str(n) for n in model.feature_names_]
    assert "ethnicity" not in features["features"]
    assert set(features["monotone_increasing"]) == set(MONOTONE_INCREASING)
    plots = ["capture.png"] + (["roc.png", "calibration.png"] if target in BINARY_TARGETS else [])
    for name in plots:
        assert (folder / name).read_bytes()[:8] == PNG, name
    _, info = run
    n_test = int(info.data.metrics[f"{target}.model.n"])
    for grouping in ("ethnicity", "age_band"):
        table = pd.read_csv(folder / f"fairness_{grouping}.csv", index_col=0)
        assert table["count"].sum() == n_test
        # frequency is audited on what it predicts: observed against expected reoffences per group
        figure = "calibration_in_the_large" if target in BINARY_TARGETS else "observed_to_expected"
        judged = ~table["small_group"] & ~(table["few_positives"] if figure == "observed_to_expected" else False)
        big = table.loc[judged, figure].dropna()
        logged = f"{target}.fairness.{grouping}.{figure}_gap" in info.data.metrics
        assert logged == (len(big) >= 2), grouping  # a gap only where two groups can judge it
        columns = (
            ("auc", "calibration_in_the_large", "false_positive_rate", "false_negative_rate", "top_n_selection_rate")
            if target in BINARY_TARGETS
            else ("positives", "expected", "observed_to_expected")
        )
        for column in (*columns, "small_group"):
            assert column in table.columns
    assert {"White", "Black"} <= set(pd.read_csv(folder / "fairness_ethnicity.csv", index_col=0).index)
    card = (folder / "model_card.md").read_text()
    assert card.startswith(f"# Model card: riskmodel-{target}")
    for section in (
        "## Intended use",
        "## Data",
        "## Performance on the test period",
        "## Fairness audit",
        "## Limits",
    ):
        assert section in card
    assert info.data.tags["data_fingerprint"][:16] in card
    assert "Ethnicity is never a feature" in card
    # person-level evaluation rows stay in the home, never in MLflow (tests/training/test_no_personal_data.py)
    assert not (folder / "test_rows.parquet").exists()


@pytest.mark.parametrize("target", TARGETS)
def test_models_are_registered_with_a_signature_an_input_example_and_the_candidate_alias(trained_home, run, target):
    client, info = run
    version = client.get_model_version_by_alias(model_name(target), CANDIDATE)
    assert version.run_id == info.info.run_id
    assert version.tags["data_fingerprint"] == info.data.tags["data_fingerprint"]
    assert str(version.version) == str(trained_home.versions[target])
    uri = f"models:/{model_name(target)}/{version.version}"
    meta = Model.load(uri)
    inputs = {spec.name for spec in meta.signature.inputs.inputs}
    assert {"sex", "age_at_release", "previous_sanctions", "index_offence", "needs_substance_misuse"} <= inputs
    assert "ethnicity" not in inputs
    example = meta.load_input_example(uri)
    assert isinstance(example, pd.DataFrame) and len(example) > 0
    model = mlflow.pyfunc.load_model(uri)
    predicted = np.asarray(model.predict(example), dtype=float)
    assert len(predicted) == len(example) and np.isfinite(predicted).all()
    if target in BINARY_TARGETS:
        assert ((predicted > 0) & (predicted < 1)).all()
    else:
        assert (predicted > 0).all()


@pytest.mark.parametrize("target", TARGETS)
def test_the_evaluation_periods_and_the_refit_are_recorded_as_aggregates(trained_home, artifacts, target, run):
    client, info = run
    periods = pd.read_csv(artifacts / target / "periods.csv")
    assert len(periods) >= 2 and (periods["fit_last_release"] < periods["start"]).all()
    assert periods["n"].sum() == info.data.metrics[f"{target}.model.n"]  # the pooled rows are the periods'
    assert not {"release_id", "person_id", "ethnicity"} & set(periods.columns)  # aggregates only
    history = client.get_metric_history(info.info.run_id, f"{target}.period.auc")
    assert [m.step for m in history] == list(range(len(periods)))
    assert [m.value for m in history] == pytest.approx(periods["auc"].tolist())
    refit = json.loads((artifacts / target / "refit.json").read_text())
    assert refit["rows"] == int(info.data.params[f"refit.{target}.rows"]) == info.data.metrics[f"{target}.refit.rows"]
    assert refit["rows"] > info.data.metrics[f"{target}.model.n"]  # the refit saw more than the evaluation scored
    assert refit["trees"] == refit["best_iterations"][-1] and len(refit["best_iterations"]) == len(periods) + 1
    assert (artifacts / target / "periods.png").read_bytes()[:8] == PNG
    card = (artifacts / target / "model_card.md").read_text()
    assert f"This model (deployed): trained on {refit['rows']} releases" in card
    assert "**Period by period**" in card
