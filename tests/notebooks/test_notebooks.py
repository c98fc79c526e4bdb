"""The data scientists' notebooks: committed without outputs, and they run top to bottom,
in order, on a small cohort in a temporary home."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ORDER = ("01-explore-cohort", "02-retrain-and-compare", "03-fairness-review")


def _root_conftest():
    """tests/conftest.py under a name of its own ("conftest" may be another folder's)."""
    name = "_riskmodel_tests_root_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _read(name: str):
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


@pytest.mark.parametrize("name", ORDER)
def test_notebooks_are_committed_without_outputs_and_hold_only_calls(name):
    notebook = _read(name)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    source = "\n".join(c.source for c in code)
    assert "from riskmodel" in source
    # no logic of their own: no functions, classes or model fitting written in a notebook
    for construct in ("def ", "class ", "lambda", ".fit(", "lightgbm", "sklearn", "set_tracking_uri", "mlflow.db"):
        assert construct not in source, construct


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Run the three notebooks in order against one fresh home; return them with outputs."""
    root = tmp_path_factory.mktemp("notebooks")
    config = root / "small.yaml"
    config.write_text(yaml.safe_dump(_root_conftest().TEST_CONFIG))
    work = root / "work"
    work.mkdir()
    mp = pytest.MonkeyPatch()
    mp.setenv("RISKMODEL_HOME", str(root / "home"))
    mp.setenv("BENTOML_HOME", str(root / "bentoml"))
    mp.setenv("RISKMODEL_NB_PEOPLE", "2500")
    mp.setenv("RISKMODEL_NB_SEED", "4")
    mp.setenv("RISKMODEL_NB_CONFIG", str(config))
    mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("RISKMODEL_TRACKING_URI", "MLFLOW_TRACKING_URI", "RISKMODEL_AUDIT_URL", "MLFLOW_RUN_ID"):
        mp.delenv(name, raising=False)
    notebooks = {}
    try:
        for name in ORDER:
            notebook = _read(name)
            NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
            notebooks[name] = notebook
    finally:
        mp.undo()
    return root, work, notebooks


def _text(notebook) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts.append(str(data.get("text/plain", "")) + str(data.get("text/markdown", "")) + str(data.get("text/html", "")))
    return "\n".join(parts)


def test_notebooks_run_without_errors(executed):
    _, _, notebooks = executed
    for name, notebook in notebooks.items():
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                assert output.get("output_type") != "error", (name, output.get("ename"), output.get("evalue"))


def test_01_shows_the_cohort_the_contract_and_the_outcomes(executed):
    root, _, notebooks = executed
    text = _text(notebooks["01-explore-cohort"])
    assert "12-month proven reoffending" in text
    assert "rows read" in text and "rows rejected" in text
    assert "ogrs3_2y" in text
    assert (root / "home" / "data" / "synthetic" / "releases.csv").exists()


def test_02_trains_compares_and_promotes_in_the_home(executed):
    root, _, notebooks = executed
    text = _text(notebooks["02-retrain-and-compare"])
    for target in ("reoffence", "harm", "frequency"):
        assert f"### {target} (registered version 1)" in text
    assert "oracle" in text and "ogrs3" in text and "baseline" in text
    assert "reoffence.auc" in text and "candidate" in text
    assert "promoted: {'reoffence': " in text and "FAIL" not in text


def test_03_reviews_the_champions_fairness(executed):
    _, _, notebooks = executed
    text = _text(notebooks["03-fairness-review"])
    assert "riskmodel-reoffence/1" in text and "riskmodel-frequency/1" in text
    for column in ("false_positive_rate", "false_negative_rate", "calibration_in_the_large", "top_n_selection_rate", "small_group"):
        assert column in text
    assert "by ethnicity" in text and "by age band" in text
    assert "# Model card: riskmodel-harm" in text


def test_notebooks_keep_all_state_in_the_home(executed):
    root, work, _ = executed
    assert (root / "home" / "mlflow.db").exists()
    assert not list(work.iterdir()), "a notebook wrote into its working folder"
    assert not (NOTEBOOKS / "mlflow.db").exists() and not (NOTEBOOKS / "mlruns").exists()
    assert json.loads((NOTEBOOKS / "02-retrain-and-compare.ipynb").read_text())["cells"][1].get("outputs") == []
