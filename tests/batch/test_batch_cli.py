"""`riskmodel score` as the operator runs it: the reconciliation line, identifiers, the
audit record, and a run stopped by the scheduler."""

from __future__ import annotations

import hashlib
import json
import signal
import time

import pandas as pd
import pytest
from batch_helpers import (
    BAD_CELLS,
    as_text,
    bad_month,
    hidden_files,
    read_scores,
    score_process,
    wait_for,
    write_text,
)

from riskmodel.cli import main
from riskmodel.records.audit import AuditStore
from riskmodel.scoring.output import OUTPUT_COLUMNS


def records_for(home, output) -> list[dict]:
    store = AuditStore(home.settings.audit_url)
    return [r for r in store.batch_records(limit=10_000) if r["output_path"] == str(output.resolve())]


def test_score_prints_the_reconciliation_line_and_writes_the_rejects(tmp_path, month, home_env, runner):
    source = write_text(bad_month(month), tmp_path / "releases.csv")
    output = tmp_path / "out" / "scores.csv"

    result = runner.invoke(
        main, ["score", "--input", str(source), "--output", str(output), "--rejects", str(tmp_path / "bad.csv")]
    )

    assert result.exit_code == 0, result.output
    rejected = len(BAD_CELLS)
    assert f"rows read 60 = rows scored {60 - rejected} + rows rejected {rejected}" in result.stdout.splitlines()
    assert len(read_scores(output)) == 60 - rejected
    assert pd.read_csv(tmp_path / "bad.csv")["line"].nunique() == rejected
    # The drift line says what the drift file says: so few rows are too few for drift to mean anything.
    drift = json.loads(output.with_name(output.name + ".drift.json").read_text())
    assert drift["not_computed"] == f"drift not computed: {60 - rejected} rows, below the minimum of 200"
    assert drift["population_stability_index"] == {} and drift["flagged"] == []
    assert drift["not_computed"] in result.stdout.splitlines()


@pytest.mark.parametrize("header_only", [True, False])
def test_an_input_without_rows_is_refused_and_nothing_is_written(tmp_path, month, home_env, runner, header_only):
    source = tmp_path / "releases.csv"
    source.write_text(",".join(month.releases.columns) + "\n" if header_only else "")
    output = tmp_path / "out" / "scores.csv"

    result = runner.invoke(main, ["score", "--input", str(source), "--output", str(output)])

    assert result.exit_code != 0
    assert "no rows" in result.output
    assert not output.exists() and "drift" not in result.stdout


@pytest.mark.parametrize("name", ["scores.txt", "scores.json", "scores"])
def test_an_output_that_is_neither_csv_nor_parquet_is_refused_before_scoring(tmp_path, month, home_env, runner, name):
    source = write_text(as_text(month.releases.head(5)), tmp_path / "releases.csv")

    result = runner.invoke(main, ["score", "--input", str(source), "--output", str(tmp_path / name)])

    assert result.exit_code == 2
    assert "must end in .csv or .parquet" in result.output
    assert not (tmp_path / name).exists() and not list(tmp_path.glob(".*"))


def test_batch_is_recorded_in_the_audit_database(tmp_path, month, home_env, runner, champions):
    source = write_text(bad_month(month), tmp_path / "releases.csv")
    output = tmp_path / "scores.parquet"

    result = runner.invoke(main, ["score", "--input", str(source), "--output", str(output)])

    assert result.exit_code == 0, result.output
    [record] = records_for(home_env, output)
    assert record["input_fingerprint"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert record["input_path"] == str(source.resolve())
    assert json.loads(record["model_versions"]) == champions.versions()
    rejected = len(BAD_CELLS)
    assert (record["rows_read"], record["rows_scored"], record["rows_rejected"]) == (60, 60 - rejected, rejected)
    assert record["operator"]
    assert record["started_at"] <= record["finished_at"]
    assert set(read_scores(output)["reoffence_model"]) == {champions.versions()["reoffence"]}


def test_run_batch_records_the_batch_it_scored(tmp_path, month, batch_home, champions):
    # Any caller of run_batch (not only the CLI) gets the audit record.
    from riskmodel.reporting.batch import run_batch

    source = month.write(tmp_path / "releases.parquet", month.releases.head(50))
    output = tmp_path / "scores.parquet"
    store = AuditStore(batch_home.settings.audit_url)

    result = run_batch(source, output, champions=champions, store=store, operator="analyst-7")

    [record] = records_for(batch_home, output)
    assert record["batch_id"] == result.batch_id and record["operator"] == "analyst-7"
    assert record["input_fingerprint"] == result.input_fingerprint == hashlib.sha256(source.read_bytes()).hexdigest()
    assert (record["rows_read"], record["rows_scored"], record["rows_rejected"]) == (50, 50, 0)


IDENTIFIERS = {"Surname": "Featherstonehaugh", "postcode": "PE1 9ZZ"}


def with_identifiers(month) -> pd.DataFrame:
    frame = as_text(month.releases.head(40))
    for column, value in IDENTIFIERS.items():
        frame[column] = [f"{value}-{i}" for i in range(len(frame))]
    frame.loc[3, "sex"] = "?"  # a rejected row must not carry the identifiers into the rejects file
    return frame


def test_a_direct_identifier_column_is_refused_and_nothing_is_written(tmp_path, month, home_env, runner):
    (tmp_path / "in").mkdir()
    source = write_text(with_identifiers(month), tmp_path / "in" / "releases.csv")
    output = tmp_path / "out" / "scores.csv"
    report = tmp_path / "out" / "report.html"

    result = runner.invoke(main, ["score", "--input", str(source), "--output", str(output), "--report", str(report)])

    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "'Surname'" in line and "'postcode'" in line and "direct identifier" in line
    assert "--drop-identifiers" in line
    assert not output.parent.exists() or list(output.parent.iterdir()) == []
    assert records_for(home_env, output) == []


def test_with_drop_identifiers_the_columns_are_dropped_before_anything_is_written(tmp_path, month, home_env, runner):
    (tmp_path / "in").mkdir()
    source = write_text(with_identifiers(month), tmp_path / "in" / "releases.csv")
    out = tmp_path / "out"

    result = runner.invoke(
        main,
        [
            "score",
            "--input",
            str(source),
            "--output",
            str(out / "scores.csv"),
            "--report",
            str(out / "report.html"),
            "--drop-identifiers",
        ],
    )

    assert result.exit_code == 0, result.output
    assert "rows read 40 = rows scored 39 + rows rejected 1" in result.stdout
    assert "dropped direct-identifier columns" in result.stderr
    assert list(read_scores(out / "scores.csv").columns) == list(OUTPUT_COLUMNS)
    written = sorted(p.name for p in out.iterdir())
    assert written == ["report.html", "scores.csv", "scores.csv.drift.json", "scores.csv.rejects.csv"]
    for path in out.iterdir():
        text = path.read_text(encoding="utf-8")
        for value in IDENTIFIERS.values():
            assert value not in text, f"{value} found in {path.name}"


def test_a_run_stopped_by_sigterm_leaves_the_earlier_output_untouched(tmp_path, home_env, runner):
    from riskmodel.data.synth import generate_cohort

    # An earlier, complete run of a small file...
    small = tmp_path / "small.parquet"
    generate_cohort(300, seed=5).releases.to_parquet(small, index=False)
    output = tmp_path / "out" / "scores.parquet"
    assert runner.invoke(main, ["score", "--input", str(small), "--output", str(output)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in output.parent.iterdir()}
    recorded = len(AuditStore(home_env.settings.audit_url).batch_records(limit=10_000))

    # ...then a large one, stopped by the scheduler while it is scoring.
    large = tmp_path / "large.parquet"
    generate_cohort(30_000, seed=6).releases.to_parquet(large, index=False)
    partial = output.with_name(f".{output.name}.partial.parquet")
    with score_process(home_env.env(), large, output) as process:
        assert wait_for(partial, process, seconds=120, poll=0.02), "the run never started writing"
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)

    assert process.returncode != 0, stderr
    assert {p.name: p.read_bytes() for p in output.parent.iterdir()} == before
    assert hidden_files(output.parent) == []
    assert len(AuditStore(home_env.settings.audit_url).batch_records(limit=10_000)) == recorded


def test_the_report_is_written_beside_the_scores(tmp_path, month, home_env, runner):
    source = month.write(tmp_path / "releases.parquet")
    report = tmp_path / "report.html"

    result = runner.invoke(
        main,
        [
            "score",
            "--input",
            str(source),
            "--output",
            str(tmp_path / "s.parquet"),
            "--report",
            str(report),
            "--capacity",
            "12",
        ],
    )

    assert result.exit_code == 0, result.output
    assert f"report: {report}" in result.stdout
    assert "Priority list: the top 12" in report.read_text(encoding="utf-8")


@pytest.mark.parametrize("explain", ["all", "none"])
def test_explain_option(tmp_path, month, home_env, runner, explain):
    source = month.write(tmp_path / "releases.parquet")
    output = tmp_path / "s.parquet"
    result = runner.invoke(main, ["score", "--input", str(source), "--output", str(output), "--explain", explain])
    assert result.exit_code == 0, result.output
    factors = read_scores(output)["top_factors"]
    assert all(f == [] for f in factors) == (explain == "none")
