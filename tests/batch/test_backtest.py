"""Outcome backtesting: earlier scores against outcomes that have since matured."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from riskmodel.cli import main
from riskmodel.data.labels import derive_labels
from riskmodel.records.audit import AuditStore
from riskmodel.reporting.backtest import (
    EXPERIMENT,
    BacktestOutcome,
    _score_paths,
    backtest_scores,
    left_out_targets,
    read_scores,
)
from riskmodel.settings import Settings

AS_OF = date(2025, 11, 1)  # the synthetic extract date: outcomes known up to here


@pytest.fixture(scope="module")
def backtested(tmp_path_factory, batch_home):
    """Releases of 2021 to early 2023 and of 2025, scored; a backtest as of the extract date."""
    from click.testing import CliRunner

    from riskmodel.data.synth import generate_cohort, write_cohort

    folder = tmp_path_factory.mktemp("backtest")
    cohort = generate_cohort(4000, seed=202)  # people the champions never saw, same process
    write_cohort(cohort, folder / "extract")
    released = cohort.releases["release_date"]
    matured = cohort.releases.loc[(released >= "2021-01-01") & (released < "2023-04-01")]
    too_recent = cohort.releases.loc[released >= "2025-03-01"]
    source = folder / "scored_then.parquet"
    pd.concat([matured, too_recent]).to_parquet(source, index=False)

    env = {k: v for k, v in batch_home.env().items()}
    runner = CliRunner()
    scores = folder / "scores.csv"
    scored = runner.invoke(
        main, ["score", "--input", str(source), "--output", str(scores), "--explain", "none"], env=env
    )
    assert scored.exit_code == 0, scored.output
    started = datetime.now(UTC)
    result = runner.invoke(
        main,
        ["backtest", "--data", str(folder / "extract"), "--as-of", AS_OF.isoformat(), "--scores", str(scores)],
        env=env,
    )
    labels = derive_labels(cohort.releases, cohort.reoffences, as_of=AS_OF)
    return {
        "result": result,
        "cohort": cohort,
        "matured": matured,
        "too_recent": too_recent,
        "scores": pd.read_csv(scores),
        "labels": labels,
        "started": started,
    }


@pytest.fixture(scope="module")
def backtest_run(backtested, batch_home):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=batch_home.settings.tracking_uri, registry_uri=batch_home.settings.tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    [run] = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)
    assert run.info.start_time >= backtested["started"].timestamp() * 1000 - 1000
    return client, run


def test_backtest_command_succeeds_and_reports_each_model(backtested, champions):
    result = backtested["result"]
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"backtest as of {AS_OF}: {len(backtested['scores'])} scored releases read"
    for target in ("reoffence", "harm", "frequency"):
        assert any(line.startswith(f"{target} {champions.versions()[target]}: n ") for line in lines)


def test_only_matured_outcomes_count(backtest_run, backtested, champions):
    _, run = backtest_run
    labels = backtested["labels"].set_index("release_id")
    scored = backtested["scores"]["release_id"]
    for target in ("reoffence", "harm", "frequency"):
        label = champions.versions()[target].replace("/", "_v")
        mature = int(labels.loc[scored, target].notna().sum())
        assert 0 < mature < len(scored)
        assert run.data.metrics[f"{target}.{label}.n"] == mature
    # nothing released in 2025 has a matured outcome by the extract date
    assert labels.loc[backtested["too_recent"]["release_id"], "reoffence"].isna().all()


def test_backtest_figures_match_what_happened(backtest_run, backtested, champions):
    _, run = backtest_run
    label = champions.versions()["reoffence"].replace("/", "_v")
    joined = backtested["scores"].merge(backtested["labels"], on="release_id").dropna(subset=["reoffence"])
    y, p = joined["reoffence"].astype(float).to_numpy(), joined["reoffence_probability"].to_numpy()
    auc = run.data.metrics[f"reoffence.{label}.auc"]
    assert auc == pytest.approx(roc_auc_score(y, p), abs=1e-9)
    # close to what the model scored on its own test period, and no better than the truth
    assert auc == pytest.approx(champions.info["reoffence"].metrics["model.auc"], abs=0.07)
    truth = (
        backtested["cohort"].truth.set_index("release_id").loc[joined["release_id"], "reoffence_probability"].to_numpy()
    )
    assert auc <= roc_auc_score(y, truth) + 0.02
    assert run.data.metrics[f"reoffence.{label}.mean_predicted"] == pytest.approx(y.mean(), abs=0.06)
    freq = champions.versions()["frequency"].replace("/", "_v")
    assert run.data.metrics[f"frequency.{freq}.calibration_ratio"] == pytest.approx(1.0, abs=0.25)


def test_backtest_is_logged_against_the_model_versions(backtest_run, champions):
    client, run = backtest_run
    assert run.data.params["as_of"] == AS_OF.isoformat()
    for target, label in champions.versions().items():
        assert run.data.tags[f"model.{target}.{label}"] == "scored"
        name, _, version = label.partition("/")
        tags = client.get_model_version(name, version).tags
        key = "auc" if target != "frequency" else "calibration_ratio"
        value = run.data.metrics[f"{target}.{label.replace('/', '_v')}.{key}"]
        assert tags[f"backtest_{AS_OF.isoformat()}_{key}"].startswith(f"{value:.4f} (n=")


def test_backtest_without_scores_is_a_clear_error(tmp_path, home_env, runner, backtested, monkeypatch):
    from riskmodel.data.synth import generate_cohort, write_cohort

    write_cohort(generate_cohort(50, seed=3), tmp_path / "extract")  # good outcome data, but nothing scored
    monkeypatch.setenv("RISKMODEL_AUDIT_URL", f"sqlite:///{tmp_path / 'empty_audit.db'}")
    result = runner.invoke(main, ["backtest", "--data", str(tmp_path / "extract"), "--as-of", AS_OF.isoformat()])
    assert result.exit_code != 0
    assert "no earlier score files" in result.stderr


def test_latest_scores_win_and_recorded_batches_are_read_oldest_first(tmp_path):
    older, newer, gone = tmp_path / "older.csv", tmp_path / "newer.csv", tmp_path / "gone.csv"
    base = {
        "reoffence_model": "m/1",
        "harm_probability": 0.1,
        "harm_model": "h/1",
        "frequency_expected": 1.0,
        "frequency_model": "f/1",
    }
    pd.DataFrame({"release_id": ["a", "b"], "reoffence_probability": [0.2, 0.3], **base}).to_csv(older, index=False)
    pd.DataFrame({"release_id": ["b", "c"], "reoffence_probability": [0.9, 0.4], **base}).to_csv(newer, index=False)
    settings = Settings(home=tmp_path, tracking_uri="unused", audit_url=f"sqlite:///{tmp_path / 'audit.db'}")
    store = AuditStore(settings.audit_url)
    now = datetime.now(UTC)
    for path in (older, gone, newer):
        store.record_batch(
            batch_id=path.stem,
            operator="test",
            started_at=now,
            finished_at=now,
            input_path="in",
            input_fingerprint="x",
            output_path=str(path),
            model_versions={},
            rows_read=2,
            rows_scored=2,
            rows_rejected=0,
        )

    paths = _score_paths(settings)

    assert paths == [older, newer]  # the deleted file is skipped
    scores = read_scores(paths).set_index("release_id")["reoffence_probability"]
    assert scores.to_dict() == {"a": 0.2, "b": 0.9, "c": 0.4}
    assert np.issubdtype(scores.dtype, np.floating)


# --------------------------------------------------------------------------- targets left out, and why


def small_backtest(as_of: date, *, reoffended: list[bool]):
    """Six releases in the first half of 2023, scored; person i reoffends soon after release when told so."""
    ids = [f"r{i}" for i in range(6)]
    released = pd.to_datetime([f"2023-0{i + 1}-01" for i in range(6)])
    releases = pd.DataFrame({"release_id": ids, "person_id": [f"p{i}" for i in range(6)], "release_date": released})
    offended = released[np.array(reoffended)] + pd.Timedelta(days=30)
    reoffences = pd.DataFrame(
        {
            "person_id": [f"p{i}" for i in range(6) if reoffended[i]],
            "offence_date": offended,
            "proven_date": offended + pd.Timedelta(days=30),
            "offence": "robbery",  # a harm group: harm outcomes vary too
        }
    )
    scores = pd.DataFrame(
        {
            "release_id": ids,
            "reoffence_probability": np.linspace(0.2, 0.7, 6),
            "reoffence_model": "riskmodel-reoffence/1",
            "harm_probability": 0.1,
            "harm_model": "riskmodel-harm/1",
            "frequency_expected": np.linspace(0.5, 2.0, 6),
            "frequency_model": "riskmodel-frequency/1",
        }
    )
    labels = derive_labels(releases, reoffences, as_of=as_of)
    figures = backtest_scores(scores, labels, capacity=2)
    return figures, left_out_targets(scores, labels, releases, figures, as_of=as_of)


def test_a_target_not_yet_matured_is_left_out_with_the_reason():
    # by 2025-01-01 the 12-month windows of 2023's releases have closed, the 24-month ones have not
    figures, left_out = small_backtest(date(2025, 1, 1), reoffended=[True, False, True, False, True, False])

    assert {target for target, _ in figures} == {"reoffence", "frequency"}
    assert left_out == {
        "harm": "not yet matured: no scored release's 730-day window and 183-day waiting period had closed"
        " by 2025-01-01 (the earliest, released on 2023-01-01, matures on 2025-07-02)"
    }
    outcome = BacktestOutcome(as_of=date(2025, 1, 1), rows_scored=6, figures=figures, left_out=left_out)
    assert outcome.lines()[-1] == f"harm left out: {left_out['harm']}"


def test_a_target_whose_matured_releases_share_one_outcome_is_left_out_with_the_reason():
    figures, left_out = small_backtest(date(2026, 1, 1), reoffended=[False] * 6)  # no reoffence: no AUC

    assert {target for target, _ in figures} == {"frequency"}
    assert left_out == {
        target: f"all 6 matured scored releases had the same outcome ({target} = 0), so there is nothing to rank"
        for target in ("reoffence", "harm")
    }


def test_nothing_is_left_out_when_every_target_has_figures():
    figures, left_out = small_backtest(date(2026, 1, 1), reoffended=[True, False, True, False, True, False])
    assert {target for target, _ in figures} == {"reoffence", "harm", "frequency"} and left_out == {}


def test_the_backtest_command_says_which_targets_it_left_out(tmp_path, backtested, home_env, runner):
    """As of the start of 2023, the 2021 releases' 12-month outcomes are known and no 24-month one is."""
    scores = tmp_path / "scores.csv"
    backtested["scores"].to_csv(scores, index=False)
    as_of = date(2023, 1, 1)
    extract = tmp_path / "extract"  # the extract as it was taken then
    extract.mkdir()
    releases, reoffences = backtested["cohort"].releases, backtested["cohort"].reoffences
    for name, table, column in (("releases", releases, "release_date"), ("reoffences", reoffences, "proven_date")):
        then = table.loc[table[column] < pd.Timestamp(as_of)]
        then.to_csv(extract / f"{name}.csv", index=False, date_format="%Y-%m-%d")

    result = runner.invoke(
        main, ["backtest", "--data", str(extract), "--as-of", as_of.isoformat(), "--scores", str(scores)]
    )

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("reoffence riskmodel-reoffence/") for line in lines)
    [harm] = [line for line in lines if line.startswith("harm")]
    assert harm.startswith("harm left out: not yet matured: no scored release's 730-day window and 183-day")
    assert "had closed by 2023-01-01 (the earliest, released on 2021-01-" in harm
