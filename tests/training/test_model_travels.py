"""A registered model travels: its signature is the data contract's, contract rows predict
through plain ``mlflow.pyfunc`` and ``mlflow models serve``, and a fresh virtual environment
built from the model's own requirements (without riskmodel) loads it and predicts.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.types.schema import AnyType, DataType
from mlflow_homes import (
    Process,
    candidate_home,
    csv_rows,
    free_port,
    readme_releases,
    subprocess_env,
)

from riskmodel.data.contract import RELEASE_SPECS, validate_releases
from riskmodel.modelling.registry import connect, model_name
from riskmodel.modelling.signature import contract_signature

TARGET = "reoffence"


def test_the_signature_is_the_contract():
    signature = contract_signature(extra_numeric=("score_x",), extra_categorical=("area",))
    specs = {spec.name: spec for spec in RELEASE_SPECS}
    inputs = {col.name: col for col in signature.inputs.inputs}
    assert "ethnicity" not in inputs  # never a feature
    assert set(inputs) == set(specs) - {"ethnicity"} | {"score_x", "area"}
    for name, col in inputs.items():
        assert col.required == (specs[name].required if name in specs else False), name
    assert inputs["previous_sanctions"].type == DataType.long
    assert inputs["release_date"].type == DataType.datetime
    assert inputs["sex"].type == inputs["index_offence"].type == inputs["area"].type == DataType.string
    # a JSON 24 and a CSV 27.8, a blank count, an unknown need: see riskmodel.modelling.signature
    for name in ("age_at_release", "sentence_days", "needs_family", "score_x"):
        assert isinstance(inputs[name].type, AnyType), name


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return candidate_home(tmp_path_factory)


@pytest.fixture(scope="module")
def model_dir(home, tmp_path_factory) -> Path:
    """The reoffence candidate, downloaded as a plain folder (what a data scientist copies)."""
    connect(home.settings)
    folder = tmp_path_factory.mktemp("model")
    return Path(mlflow.artifacts.download_artifacts(f"models:/{model_name(TARGET)}@candidate", dst_path=str(folder)))


@pytest.fixture(scope="module")
def sources(home, tmp_path_factory) -> dict[str, pd.DataFrame]:
    """Contract rows as a CSV, a Parquet file and the README's example give them to pandas."""
    csv = csv_rows(home)
    assert csv.isna().any().any(), "the CSV rows should have blank cells"
    parquet_path = tmp_path_factory.mktemp("parquet") / "releases.parquet"
    csv.to_parquet(parquet_path, index=False)
    return {"csv": csv, "parquet": pd.read_parquet(parquet_path), "readme": pd.DataFrame(readme_releases())}


@pytest.fixture(scope="module")
def expected(home, sources, model_dir) -> dict[str, np.ndarray]:
    """What riskmodel's own model predicts for each source's rows once the contract has read them."""
    model = mlflow.sklearn.load_model(str(model_dir))
    out = {}
    for name, rows in sources.items():
        validated = validate_releases(rows.astype(object).where(rows.notna(), ""))
        assert len(validated.data) == len(rows), validated.rejects
        out[name] = model.predict(validated.data)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("source", ["csv", "parquet", "readme"])
def test_contract_rows_predict_through_plain_pyfunc(model_dir, sources, expected, source):
    model = mlflow.pyfunc.load_model(str(model_dir))
    predicted = np.asarray(model.predict(sources[source]), dtype=float)
    np.testing.assert_allclose(predicted, expected[source], rtol=1e-9)


@pytest.mark.slow
def test_the_model_carries_its_code_a_made_up_example_and_pinned_requirements(home, model_dir):
    assert (model_dir / "code" / "riskmodel" / "modelling" / "models.py").is_file()
    assert not list((model_dir / "code").rglob("__pycache__"))
    requirements = (model_dir / "requirements.txt").read_text().split()
    names = {line.split("==")[0].lower() for line in requirements}
    assert {"mlflow", "scikit-learn", "lightgbm", "pandas", "numpy", "scipy", "cloudpickle", "pyyaml"} <= names
    assert all("==" in line for line in requirements), requirements
    example = json.loads((model_dir / "input_example.json").read_text())
    people = set(csv_rows(home, n=None)["person_id"]) | set(csv_rows(home, n=None)["release_id"])
    assert not set(np.ravel(example["data"]).astype(str)) & people  # no person's row in the example


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.timeout(900)
def test_contract_rows_predict_through_mlflow_models_serve(model_dir, sources, expected, tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_dir), "--env-manager", "local"]
    server = Process(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        env=subprocess_env(),
        log=tmp_path / "serve.log",
        url=f"http://127.0.0.1:{port}",
    )
    try:
        server.wait_ready("/ping")
        import httpx

        def predict(body: dict) -> np.ndarray:
            answer = httpx.post(server.url + "/invocations", json=body, timeout=120)
            assert answer.status_code == 200, answer.text
            return np.asarray(answer.json()["predictions"], dtype=float)

        readme = {"dataframe_records": readme_releases()}
        np.testing.assert_allclose(predict(readme), expected["readme"], rtol=1e-9)
        for source in ("csv", "parquet"):
            split = json.loads(sources[source].to_json(orient="split", index=False, date_format="iso"))
            np.testing.assert_allclose(predict({"dataframe_split": split}), expected[source], rtol=1e-9)
    finally:
        server.stop()


# --------------------------------------------------------------------------- a fresh environment

#: Fresh environments built from a model's requirements, kept between sessions (keyed by
#: the requirements' hash): building one downloads and installs MLflow and its stack.
VENV_CACHE = Path(os.environ.get("RISKMODEL_TEST_VENV_CACHE", Path.home() / ".cache" / "riskmodel-tests"))

_PREDICT = """
import sys
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
rows = pd.read_csv(sys.argv[2], nrows=int(sys.argv[3]))
print(",".join(repr(float(p)) for p in model.predict(rows)))
"""


def fresh_venv(requirements: Path) -> Path:
    """A virtual environment with only ``requirements`` installed; its python."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    folder = VENV_CACHE / f"model-venv-{digest}"
    python = folder / "bin" / "python"
    if not (folder / "complete").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], check=True, timeout=1500)
        (folder / "complete").write_text(requirements.read_text())
    return python


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_fresh_venv_built_from_the_model_requirements_loads_it_and_predicts(home, model_dir, expected):
    python = fresh_venv(model_dir / "requirements.txt")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "MLFLOW_"))}
    refused = subprocess.run([str(python), "-c", "import riskmodel"], env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "No module named 'riskmodel'" in refused.stderr
    done = subprocess.run(
        [str(python), "-c", _PREDICT, str(model_dir), str(home.data / "releases.csv"), str(len(expected["csv"]))],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=str(model_dir.parent),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    predicted = np.array([float(p) for p in done.stdout.strip().splitlines()[-1].split(",")])
    np.testing.assert_allclose(predicted, expected["csv"], rtol=1e-9)
