"""Drift is computed only on batches large enough for it to mean anything, and the CLI says which it did."""

from __future__ import annotations

import json

import pytest
from batch_helpers import shifted

from riskmodel.cli import main
from riskmodel.evaluation.drift import MIN_ROWS


def drift_file(output) -> dict:
    return json.loads(output.with_name(output.name + ".drift.json").read_text())


@pytest.mark.parametrize("moved", [False, True], ids=["same-process", "shifted"])
def test_a_large_month_gets_drift_and_the_line_says_what_the_file_says(tmp_path, month, home_env, runner, moved):
    releases = shifted(month.releases) if moved else month.releases
    source = month.write(tmp_path / "releases.parquet", releases)
    output = tmp_path / "scores.parquet"

    result = runner.invoke(main, ["score", "--input", str(source), "--output", str(output)])

    assert result.exit_code == 0, result.output
    drift = drift_file(output)
    assert len(releases) >= MIN_ROWS and drift["not_computed"] is None
    psi, threshold = drift["population_stability_index"], drift["threshold"]
    assert psi and bool(drift["flagged"]) == moved
    if moved:
        said = ", ".join(f"{n} PSI {psi[n]:.3f}" for n in drift["flagged"]) + f" (threshold {threshold})"
    else:
        said = f"no feature beyond PSI {threshold}"
    assert f"drift: {said}" in result.stdout.splitlines()


def test_a_month_just_below_the_minimum_gets_no_drift(tmp_path, month, home_env, runner):
    source = month.write(tmp_path / "releases.parquet", shifted(month.releases).head(MIN_ROWS - 1))
    output = tmp_path / "scores.parquet"

    result = runner.invoke(main, ["score", "--input", str(source), "--output", str(output)])

    assert result.exit_code == 0, result.output
    said = f"drift not computed: {MIN_ROWS - 1} rows, below the minimum of {MIN_ROWS}"
    assert drift_file(output) == {
        "threshold": 0.2,
        "flagged": [],
        "population_stability_index": {},
        "not_computed": said,
    }
    assert said in result.stdout.splitlines()
    assert not [line for line in result.stdout.splitlines() if line.startswith("drift:")]  # no "no feature beyond"
