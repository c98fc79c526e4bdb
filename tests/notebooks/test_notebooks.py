"""The data scientists' notebooks run top to bottom on a small cohort, in order."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ORDER = ("01-explore-cohort", "02-retrain-and-compare", "03-fairness-review")


def test_notebooks_are_committed_without_outputs():
    for name in ORDER:
        notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), name


def test_notebooks_run_in_order_on_a_small_cohort(tmp_path, monkeypatch, test_train_config):
    config = tmp_path / "small.yaml"
    config.write_text(yaml.safe_dump(test_train_config))
    monkeypatch.setenv("RISKMODEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "bentoml"))
    monkeypatch.setenv("RISKMODEL_NB_PEOPLE", "3000")
    monkeypatch.setenv("RISKMODEL_NB_SEED", "1")
    monkeypatch.setenv("RISKMODEL_NB_CONFIG", str(config))
    for name in ("RISKMODEL_TRACKING_URI", "MLFLOW_TRACKING_URI", "RISKMODEL_AUDIT_URL"):
        monkeypatch.delenv(name, raising=False)
    outputs = {}
    for name in ORDER:
        notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
        outputs[name] = "\n".join(
            o.get("text", "") or str(o.get("data", {}).get("text/plain", ""))
            for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
        )
    assert "12-month proven reoffending" in outputs["01-explore-cohort"]
    assert "promoted:" in outputs["02-retrain-and-compare"] and "PASS" in outputs["02-retrain-and-compare"]
    assert "riskmodel-reoffence/1" in outputs["03-fairness-review"]
    assert "false_positive_rate" in outputs["03-fairness-review"]
    assert (tmp_path / "home" / "mlflow.db").exists()
    assert not (NOTEBOOKS / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
