"""With a central ``mlflow server``, the models' artifacts go to the server's store and a
second home (another machine, another ``RISKMODEL_HOME``) loads them."""

from __future__ import annotations

import sys

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow_homes import Process, csv_rows, free_port, subprocess_env, train_candidates

from riskmodel.data.contract import validate_releases
from riskmodel.modelling.registry import EXPERIMENT, load_champions
from riskmodel.settings import Settings


@pytest.fixture
def tracking_server(tmp_path):
    port = free_port()
    artifacts = tmp_path / "server_artifacts"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'server.db'}",
        "--artifacts-destination",
        str(artifacts),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    server = Process(command, env=subprocess_env(), log=tmp_path / "server.log", url=f"http://127.0.0.1:{port}")
    try:
        yield server.wait_ready("/health"), artifacts
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.timeout(1200)
def test_a_second_home_loads_the_models_from_the_servers_artifact_store(tracking_server, tmp_path):
    server, artifacts = tracking_server
    first = train_candidates(tmp_path / "home1", tracking_uri=server.url)

    experiment = MlflowClient(server.url).get_experiment_by_name(EXPERIMENT)
    assert experiment.artifact_location.startswith("mlflow-artifacts:"), experiment.artifact_location
    assert list(artifacts.rglob("MLmodel")), "the server's artifact store holds no model"
    assert not [p for p in (first.home / "mlartifacts").rglob("*") if p.is_file()], "artifacts left in the home"

    second = Settings.from_env({"RISKMODEL_HOME": str(tmp_path / "home2"), "RISKMODEL_TRACKING_URI": server.url})
    second.ensure()
    champions = load_champions(second, alias="candidate")
    assert {t: info.version for t, info in champions.info.items()} == first.versions
    raw = csv_rows(first, n=50)
    rows = validate_releases(raw.astype(object).where(raw.notna(), "")).data
    predicted = champions.models["reoffence"].predict(rows)
    assert len(predicted) == 50 and np.all((predicted > 0) & (predicted < 1))
    plain = mlflow.pyfunc.load_model("models:/riskmodel-reoffence@candidate").predict(csv_rows(first, n=50))
    np.testing.assert_allclose(plain, predicted, rtol=1e-9)
