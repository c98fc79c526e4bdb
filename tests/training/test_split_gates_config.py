"""Training: the split never leaks, the gates refuse a worse candidate, config stays in step."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from riskmodel.cli import main
from riskmodel.config import TrainConfig, config_from_dict, config_to_dict, load_config
from riskmodel.contract import load_cohort
from riskmodel.labels import derive_labels
from riskmodel.registry import CANDIDATE, CHAMPION, connect, log_training, model_name, promote
from riskmodel.settings import Settings
from riskmodel.synth import generate_cohort, write_cohort
from riskmodel.train import time_split, train_models

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(2500, seed=5)


def test_split_has_no_leakage(cohort):
    config = TrainConfig()
    releases = cohort.releases
    split = time_split(releases, as_of=cohort.as_of, config=config)
    test_from = pd.Timestamp(split.test_from)
    dates = releases["release_date"]
    assert (dates[split.train | split.validation] < test_from).all()
    assert (dates[split.calibration | split.test] >= test_from).all()
    parts = np.vstack([split.train, split.validation, split.calibration, split.test]).astype(int)
    assert (parts.sum(axis=0) == 1).all()  # every release in exactly one part
    people = releases["person_id"]
    assert not set(people[split.calibration]) & set(people[split.test])
    assert not set(people[split.train]) & set(people[split.validation])
    # the same split whatever the row order
    shuffled = releases.sample(frac=1.0, random_state=1)
    again = time_split(shuffled.reset_index(drop=True), as_of=cohort.as_of, config=config)
    by_id = dict(zip(shuffled["release_id"], again.test))
    assert all(by_id[r] == t for r, t in zip(releases["release_id"], split.test))


def test_training_uses_only_eligible_outcomes(cohort):
    config = config_from_dict({"n_boot": 5, "params": {"default": {"n_estimators": 30}}})
    result = train_models(cohort.releases, cohort.reoffences, as_of=cohort.as_of, config=config)
    labels = derive_labels(cohort.releases, cohort.reoffences, as_of=cohort.as_of)
    split = time_split(cohort.releases, as_of=cohort.as_of, config=config)
    for target, tr in result.targets.items():
        eligible = labels[target].notna().to_numpy()
        assert tr.n_train == int((split.train & eligible).sum())
        assert tr.n_calibration == int((split.calibration & eligible).sum())
        assert len(tr.test_outcome) == int((split.test & eligible).sum())
        assert not np.isnan(tr.test_outcome).any()


def _home(tmp_path, name):
    return Settings.from_env({"RISKMODEL_HOME": str(tmp_path / name)}).ensure()


def _train(settings, cohort, config):
    releases, reoffences = cohort.releases, cohort.reoffences
    result = train_models(releases, reoffences, as_of=cohort.as_of, config=config)
    train_rows = releases.loc[releases["release_date"] < pd.Timestamp(result.split["test_from"])]
    return log_training(result, settings, training_rows=train_rows)


def test_first_good_candidate_becomes_champion_and_a_worse_one_is_refused(tmp_path, cohort, test_train_config):
    TEST_CONFIG = test_train_config
    settings = _home(tmp_path, "gates")
    config = config_from_dict(TEST_CONFIG)
    _train(settings, cohort, config)
    first = promote(settings, gates=config.gates)
    assert first.passed, first.failures
    client = connect(settings)
    champions = {t: client.get_model_version_by_alias(model_name(t), CHAMPION).version for t in first.promoted}
    assert champions == first.promoted

    crippled = config_from_dict({**TEST_CONFIG, "params": {"default": {"n_estimators": 3, "num_leaves": 2, "learning_rate": 0.02, "early_stopping_rounds": 0}}})
    _train(settings, cohort, crippled)
    candidate = client.get_model_version_by_alias(model_name("reoffence"), CANDIDATE).version
    assert candidate != champions["reoffence"]
    refused = promote(settings, gates=config.gates)
    assert not refused.passed
    assert any("AUC" in f and "champion" in f for f in refused.failures)
    assert all(any(ch.isdigit() for ch in f) for f in refused.failures)  # every failure gives its figure
    after = {t: client.get_model_version_by_alias(model_name(t), CHAMPION).version for t in champions}
    assert after == champions  # nothing changed


def test_promote_cli_prints_every_failed_gate_and_exits_non_zero(tmp_path, cohort, monkeypatch):
    settings = _home(tmp_path, "cli")
    config = config_from_dict({"n_boot": 5, "params": {"default": {"n_estimators": 30}}})
    _train(settings, cohort, config)
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump({"gates": {"min_auc": 0.99, "max_ece": 0.0, "uncertainty_z": 0.0}}))
    monkeypatch.setenv("RISKMODEL_HOME", str(settings.home))
    result = CliRunner().invoke(main, ["promote", "--config", str(strict)])
    assert result.exit_code == 1
    assert "promotion refused; nothing changed" in result.output
    assert result.output.count("FAIL") >= 3
    client = connect(settings)
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias(model_name("reoffence"), CHAMPION)


def test_training_config_yaml_equals_the_code_defaults():
    written = yaml.safe_load((REPO / "training" / "config.yaml").read_text())
    assert written == config_to_dict(TrainConfig())
    assert load_config(REPO / "training" / "config.yaml") == TrainConfig()


def test_unknown_config_keys_are_refused_by_name(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"gates": {"min_acu": 0.7}}))
    with pytest.raises(ValueError, match="min_acu"):
        load_config(bad)


def test_train_cli_end_to_end_with_window_flags(tmp_path, monkeypatch):
    small = generate_cohort(1500, seed=9)
    data = tmp_path / "data"
    write_cohort(small, data)
    monkeypatch.setenv("RISKMODEL_HOME", str(tmp_path / "home"))
    for name in ("RISKMODEL_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump({"n_boot": 5, "params": {"default": {"n_estimators": 30}}}))
    result = CliRunner().invoke(
        main,
        ["train", "--data", str(data), "--as-of", small.as_of.isoformat(), "--config", str(config), "--window-days", "300", "--waiting-days", "90"],
    )
    assert result.exit_code == 0, result.output
    assert "registered version 1 as candidate" in result.output
    settings = Settings.from_env({"RISKMODEL_HOME": str(tmp_path / "home")})
    connect(settings)
    run = mlflow.search_runs(experiment_names=["riskmodel"]).iloc[0]
    assert run["params.labels.window_days"] == "300" and run["params.labels.waiting_days"] == "90"
    assert len(run["tags.data_fingerprint"]) == 64
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run["run_id"], "reoffence")}
    for name in ("reoffence/model_card.md", "reoffence/roc.png", "reoffence/calibration.png", "reoffence/fairness_ethnicity.csv"):
        assert name in artifacts


def test_bad_data_folder_gives_a_message_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("RISKMODEL_HOME", str(tmp_path / "home"))
    folder = tmp_path / "empty"
    folder.mkdir()
    result = CliRunner().invoke(main, ["train", "--data", str(folder), "--as-of", "2025-01-01"])
    assert result.exit_code != 0
    assert "no releases.csv or releases.parquet" in result.output
    assert "Traceback" not in result.output
