"""`riskmodel train` end to end on a small cohort, and the MLflow project that runs the same."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import mlflow
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from training_helpers import FAST_CONFIG, REPO, alias_version, home_env, subprocess_env

from riskmodel.cli import main
from riskmodel.data.labels import LabelConfig, derive_labels
from riskmodel.data.synth import generate_cohort, write_cohort
from riskmodel.modelling.config import TrainConfig
from riskmodel.modelling.models import TARGETS
from riskmodel.modelling.registry import CANDIDATE, CHAMPION, connect
from riskmodel.modelling.train import time_split
from riskmodel.settings import Settings


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    cohort = generate_cohort(1500, seed=9)
    data = tmp_path_factory.mktemp("small_data")
    write_cohort(cohort, data)
    config = data.parent / f"{data.name}_fast.yaml"
    config.write_text(yaml.safe_dump({**FAST_CONFIG, "labels": {"window_days": 200, "waiting_days": 100}}))
    return cohort, data, config


def _train_args(cohort, data, config, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--as-of", cohort.as_of.isoformat(), "--config", str(config), *extra]


def test_train_cli_trains_logs_and_registers_with_window_flags_over_the_config(tmp_path, small):
    cohort, data, config = small
    home = tmp_path / "home"
    args = _train_args(cohort, data, config, "--window-days", "300", "--harm-window-days", "600")
    result = CliRunner().invoke(main, args, env=home_env(home))
    assert result.exit_code == 0, result.output
    assert "releases: rows read" in result.output  # the contract's reconciliation line
    for target in TARGETS:
        assert f"{target}: test" in result.output and "registered version 1 as candidate" in result.output
    settings = Settings.from_env({"RISKMODEL_HOME": str(home)})
    connect(settings)
    run = mlflow.search_runs(experiment_names=["riskmodel"]).iloc[0]
    # flags win over the file; what neither sets keeps the file's (or the default) value
    assert run["params.labels.window_days"] == "300"
    assert run["params.labels.harm_window_days"] == "600"
    assert run["params.labels.waiting_days"] == "100"
    assert run["params.params.reoffence.n_estimators"] == str(FAST_CONFIG["params"]["default"]["n_estimators"])
    # ...and the labels really used are the overridden ones: the test rows are exactly those eligible
    used = LabelConfig(window_days=300, harm_window_days=600, waiting_days=100)
    split = time_split(
        cohort.releases,
        as_of=cohort.as_of,
        config=TrainConfig(),
        test_from=date.fromisoformat(run["params.split.test_from"]),
    )
    for labels_config in (used, LabelConfig()):
        labels = derive_labels(cohort.releases, cohort.reoffences, as_of=cohort.as_of, config=labels_config)
        eligible = int((split.test & labels["reoffence"].notna().to_numpy()).sum())
        assert (int(run["metrics.reoffence.model.n"]) == eligible) == (labels_config == used)
    assert {alias_version(settings, t, CANDIDATE) for t in TARGETS} == {"1"}
    assert all(alias_version(settings, t, CHAMPION) is None for t in TARGETS)  # train never promotes


def test_test_from_flag_sets_the_test_period(tmp_path, small):
    cohort, data, config = small
    home = tmp_path / "home"
    result = CliRunner().invoke(
        main, _train_args(cohort, data, config, "--test-from", "2020-01-01"), env=home_env(home)
    )
    assert result.exit_code == 0, result.output
    connect(Settings.from_env({"RISKMODEL_HOME": str(home)}))
    run = mlflow.search_runs(experiment_names=["riskmodel"]).iloc[0]
    assert run["params.split.test_from"] == "2020-01-01"
    assert "2020-01-01" <= run["params.split.test_first"]
    # the first period was fitted only on releases whose outcome had matured by 2020-01-01
    periods = pd.read_csv(
        mlflow.artifacts.download_artifacts(run_id=run["run_id"], artifact_path="reoffence/periods.csv")
    )
    assert periods["start"].iloc[0] == "2020-01-01"
    assert periods["fit_last_release"].iloc[0] <= "2019-03-07"  # 2020-01-01 less the 300-day follow-up


@pytest.mark.parametrize(
    ("empty_folder", "as_of", "message"),
    [
        (True, "2025-01-01", "no releases.csv or releases.parquet"),
        (False, "01/01/2025", "not an ISO 8601 date"),
        (False, "2016-01-01", "no eligible releases"),
        (False, "2030-01-01", "as_of 2030-01-01 is more than 31 days after the latest date in the tables (2025-"),
    ],
)
def test_bad_input_gives_one_message_not_a_traceback(tmp_path, small, empty_folder, as_of, message):
    cohort, data, config = small
    folder = tmp_path / "empty" if empty_folder else data
    folder.mkdir(exist_ok=True)
    args = ["train", "--data", str(folder), "--as-of", as_of, "--config", str(config)]
    result = CliRunner().invoke(main, args, env=home_env(tmp_path / "home"))
    assert result.exit_code == 1  # click.ClickException
    assert message in result.output
    assert "Traceback" not in result.output


def test_the_mlflow_project_runs_the_same_training(tmp_path, small):
    cohort, data, config = small
    home = tmp_path / "home"
    settings = Settings.from_env({"RISKMODEL_HOME": str(home)}).ensure()
    connect(settings)  # the experiment, with its artifacts under the home (see training/MLproject)
    env = subprocess_env(home)
    env["MLFLOW_TRACKING_URI"] = settings.tracking_uri
    work = tmp_path / "elsewhere"
    work.mkdir()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "run",
        str(REPO / "training"),
        "--env-manager",
        "local",
        "--experiment-name",
        "riskmodel",
        "-P",
        f"data={data}",
        "-P",
        f"as_of={cohort.as_of.isoformat()}",
        "-P",
        f"config={config}",
    ]
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = mlflow.search_runs(experiment_names=["riskmodel"])
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["status"] == "FINISHED"
    assert run["tags.mlflow.project.entryPoint"] == "main"
    assert run["params.config"] == str(config)  # the project's own parameter...
    assert run["params.labels.window_days"] == "200"  # ...and the training's, in the same run
    assert {alias_version(settings, t, CANDIDATE) for t in TARGETS} == {"1"}
    assert not list(work.iterdir()), "the project wrote into the working folder"
    assert (home / "mlartifacts").is_dir() and any((home / "mlartifacts").iterdir())
