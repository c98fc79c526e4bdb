"""`riskmodel synth --panel-start ...` then `riskmodel impact`: the command end to end (no training)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from riskmodel.cli import main

pytestmark = pytest.mark.slow  # MLflow creates its database: a minute or two on a shared machine


@pytest.fixture
def panel_data(isolated_home, tmp_path):
    data = tmp_path / "data"
    result = CliRunner().invoke(
        main,
        [
            "synth", "--people", "3000", "--seed", "0", "--out", str(data),
            "--panel-start", "2019-01-01", "--panel-capacity", "9", "--iom-effect", "0.3",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "panel from 2019-01-01" in result.output and (data / "decisions.csv").exists()
    truth = pd.read_csv(data / "truth.csv")
    scores = tmp_path / "scores.csv"  # a batch output with a perfect champion's expectations
    pd.DataFrame(
        {
            "release_id": truth["release_id"],
            "frequency_expected": truth["frequency_expected_untreated"],
            "reoffence_band": np.where(truth["reoffence_probability"] > 0.6, "high", "low"),
            "frequency_model": "riskmodel-frequency/1",
        }
    ).to_csv(scores, index=False)
    return data, scores


def test_impact_finds_the_planted_effect_logs_it_and_writes_the_page(panel_data, isolated_home, tmp_path):
    data, scores = panel_data
    report = tmp_path / "impact.html"
    result = CliRunner().invoke(
        main,
        ["impact", "--data", str(data), "--as-of", "2025-11-01", "--scores", str(scores), "--report", str(report),
         "--n-boot", "200"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.output
    assert "decisions: rows read" in out and "rows rejected 0" in out
    assert "left out: unmatured" in out
    assert "Adopted people had" in out and "fewer reconviction events" in out
    assert "logged to MLflow experiment 'impact'" in out
    assert "Did the panel" in report.read_text()
    kept = isolated_home / "reports" / "impact" / "latest.json"
    assert kept.exists()

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{isolated_home / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["impact"])
    assert len(runs) == 1
    assert runs["params.as_of"].iloc[0] == "2025-11-01"
    assert runs["metrics.relative_change"].iloc[0] < 0
    assert runs["tags.model.frequency"].iloc[0] == "riskmodel-frequency/1"


def test_a_decisions_file_with_unknown_release_ids_is_rejected_row_by_row(panel_data, tmp_path):
    data, scores = panel_data
    decisions = pd.read_csv(data / "decisions.csv")
    bad = pd.concat(
        [decisions.head(5), pd.DataFrame({"release_id": ["R9999998", "X1"], "decided_at": "2020-01-01",
                                          "decision": "adopt"})],
        ignore_index=True,
    )  # fmt: skip
    path = tmp_path / "panel_decisions.csv"
    bad.to_csv(path, index=False)
    rejects = tmp_path / "rejects.csv"
    result = CliRunner().invoke(
        main,
        ["impact", "--data", str(data), "--as-of", "2025-11-01", "--decisions", str(path), "--scores", str(scores),
         "--rejects", str(rejects), "--n-boot", "100"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "decisions: rows read 7 = rows accepted 5 + rows rejected 2" in result.output
    found = pd.read_csv(rejects)
    assert found[["line", "release_id", "column"]].values.tolist() == [
        [7, "R9999998", "release_id"],
        [8, "X1", "release_id"],
    ]
    assert (found["reason"] == "release_id is not in the releases table").all()
