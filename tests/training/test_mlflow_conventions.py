"""Runs a team can read: names, the commit, every configuration value, best iterations, the
training data as a dataset (never its rows), described registered models, no duplicate
versions, and ``training/MLproject`` run from the repository root (a failure marked FAILED)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import mlflow
import pytest
import yaml
from _helpers_root import root_conftest
from mlflow import MlflowClient
from mlflow_homes import REPO, candidate_home, csv_rows, subprocess_env

from riskmodel.modelling.config import config_to_dict
from riskmodel.modelling.models import TARGETS
from riskmodel.modelling.registry import _flatten, connect, default_run_name, model_name
from riskmodel.settings import Settings


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return candidate_home(tmp_path_factory)


@pytest.fixture(scope="module")
def run(home):
    connect(home.settings)
    return MlflowClient(home.settings.tracking_uri).get_run(home.run_id)


def _git_head() -> str | None:
    done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


@pytest.mark.slow
def test_the_run_is_named_by_its_as_of_and_data_and_tagged_with_the_commit(run):
    fingerprint = run.data.tags["data_fingerprint"]
    assert run.info.run_name == default_run_name(date.fromisoformat(run.data.params["as_of"]), fingerprint)
    assert run.info.run_name.startswith("train as_of ") and run.info.run_name.endswith(fingerprint[:8])
    head = _git_head()
    if head is None:
        pytest.skip("not a git checkout")
    assert run.data.tags["mlflow.source.git.commit"] == head


@pytest.mark.slow
def test_every_configuration_value_is_a_param(home, run):
    flat = _flatten(config_to_dict(home.config))
    assert {"gates.min_auc", "split.seed", "labels.window_days", "seed", "n_boot"} <= set(flat)
    missing = sorted(set(flat) - set(run.data.params))
    assert not missing, missing
    assert run.data.params["gates.min_auc"] == str(flat["gates.min_auc"])
    assert run.data.params["labels.window_days"] == str(flat["labels.window_days"])
    assert run.data.tags["config_hash"]


@pytest.mark.slow
def test_best_iterations_are_metrics(run):
    for target in TARGETS:
        assert run.data.metrics[f"{target}.best_iteration"] >= 1, target
        history = MlflowClient().get_metric_history(run.info.run_id, f"{target}.best_iterations")
        assert history and history[-1].value == run.data.metrics[f"{target}.best_iteration"]


@pytest.mark.slow
def test_the_training_data_is_a_dataset_with_counts_and_schema_but_no_rows(home, run):
    (entry,) = [d for d in run.inputs.dataset_inputs if d.dataset.name == "releases"]
    dataset = entry.dataset
    fingerprint = run.data.tags["data_fingerprint"]
    assert dataset.digest == fingerprint[:36]
    profile = json.loads(dataset.profile)
    assert profile["fingerprint"] == fingerprint
    assert profile["releases_before_test_period"] > 0
    columns = {c["name"] for c in json.loads(dataset.schema)["mlflow_colspec"]}
    assert {"release_id", "person_id", "age_at_release", "ethnicity"} <= columns
    rows = csv_rows(home, n=None)
    text = dataset.source + dataset.profile + dataset.schema
    assert not [i for i in set(rows["person_id"]) | set(rows["release_id"]) if i in text]


@pytest.mark.slow
def test_registered_models_have_a_description_and_tags(home):
    client = connect(home.settings)
    for target in TARGETS:
        registered = client.get_registered_model(model_name(target))
        assert registered.description and "reoffence" in registered.description
        assert registered.tags["target"] == target and registered.tags["project"] == "riskmodel"


def _train_cli(home, *extra: str, tmp_path) -> subprocess.CompletedProcess:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(root_conftest().TEST_CONFIG))
    as_of = MlflowClient(home.settings.tracking_uri).get_run(home.run_id).data.params["as_of"]
    command = [sys.executable, "-m", "riskmodel.cli", "train", "--data", str(home.data), "--as-of", as_of]
    env = subprocess_env(RISKMODEL_HOME=str(home.home))
    return subprocess.run(
        [*command, "--config", str(config), *extra], env=env, capture_output=True, text=True, timeout=1200
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_retrain_on_identical_data_and_configuration_registers_nothing(home, tmp_path):
    before = {t: len(connect(home.settings).search_model_versions(f"name='{model_name(t)}'")) for t in TARGETS}
    done = _train_cli(home, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"identical to version {home.versions['reoffence']} of riskmodel-reoffence" in done.stdout, done.stdout
    assert "--register-duplicate" in done.stdout
    after = {t: len(connect(home.settings).search_model_versions(f"name='{model_name(t)}'")) for t in TARGETS}
    assert after == before


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_mlproject_runs_from_the_repository_root_and_a_failure_is_marked_failed(tmp_path):
    home = tmp_path / "home"
    settings = Settings.from_env({"RISKMODEL_HOME": str(home)}).ensure()
    env = subprocess_env(RISKMODEL_HOME=str(home), MLFLOW_TRACKING_URI=settings.tracking_uri)
    command = [sys.executable, "-m", "mlflow", "run", "training", "--env-manager", "local"]
    command += ["--experiment-name", "riskmodel", "-P", f"data={tmp_path}", "-P", "as_of=not-a-date"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=800)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    # the default configuration was found (the project's own config.yaml): the run got as far as the date
    assert "configuration:" not in output and "no such file" not in output, output[-2000:]
    assert "--as-of: 'not-a-date'" in output, output[-2000:]
    mlflow.set_tracking_uri(settings.tracking_uri)
    (failed,) = mlflow.search_runs(experiment_names=["riskmodel"], output_format="list")
    assert failed.info.status == "FAILED"


@pytest.mark.slow
def test_a_rollback_is_recorded_on_the_version(home):
    """Who, when and the gates' summary go on the version (the gates' own tests cover the audit trail)."""
    from riskmodel.modelling.registry import set_champion

    version = home.versions["reoffence"]
    set_champion(home.settings, "reoffence", version, reason="convention test", operator="tester", force=True)
    tags = connect(home.settings).get_model_version(model_name("reoffence"), version).tags
    assert tags["champion.set_by"] == "tester" and tags["champion.set_at"] and tags["champion.gates"]
    assert tags["champion.reason"] == "convention test"
