"""`labels` and `backtest` refuse an as_of past the extract, naming the latest date (as `train` does)."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner
from training_helpers import home_env

from riskmodel.cli import main
from riskmodel.data.synth import generate_cohort, write_cohort


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    cohort = generate_cohort(200, seed=4)
    folder = tmp_path_factory.mktemp("extract") / "data"
    write_cohort(cohort, folder)
    latest = max(
        cohort.releases["release_date"].max(), cohort.reoffences["offence_date"].max(),
        cohort.reoffences["proven_date"].max(),
    )  # fmt: skip
    return cohort, folder, pd.Timestamp(latest).date()


def _labels(folder, as_of, out):
    return CliRunner().invoke(main, ["labels", str(folder), "--as-of", as_of, "--out", str(out)])


def test_labels_refuses_an_as_of_past_the_extract_and_writes_nothing(tmp_path, extract):
    _, folder, latest = extract
    out = tmp_path / "labels.csv"
    result = _labels(folder, "2030-01-01", out)
    assert result.exit_code == 1
    assert f"as_of 2030-01-01 is more than 31 days after the latest date in the tables ({latest}" in result.output
    assert not out.exists()


def test_labels_accepts_the_extract_date(tmp_path, extract):
    cohort, folder, _ = extract
    out = tmp_path / "labels.csv"
    result = _labels(folder, cohort.as_of.isoformat(), out)
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == len(cohort.releases)


def test_backtest_refuses_an_as_of_past_the_extract(tmp_path, extract):
    _, folder, latest = extract
    args = ["backtest", "--data", str(folder), "--as-of", "2030-01-01"]
    result = CliRunner().invoke(main, args, env=home_env(tmp_path / "home"))
    assert result.exit_code == 1
    assert f"more than 31 days after the latest date in the tables ({latest}" in result.output
    assert "no earlier score files" not in result.output  # refused before looking for scores
