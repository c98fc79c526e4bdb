"""Streaming batch scoring (:func:`riskmodel.reporting.batch.score_file`): rows in, every row accounted for."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from batch_helpers import BAD_CELLS, as_text, bad_month, hidden_files, read_scores, shifted, write_text

import riskmodel.reporting.batch as batch_module
from riskmodel.data.contract import REJECT_COLUMNS
from riskmodel.reporting.batch import score_file
from riskmodel.scoring.output import OUTPUT_COLUMNS

SCORED_AT = "2025-11-01T00:00:00Z"

# --------------------------------------------------------------------------- bad rows


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("chunk_rows", [4, 50_000])
def test_bad_rows_are_reported_with_line_column_reason_and_the_rest_scored(
    tmp_path, month, champions, suffix, chunk_rows
):
    frame = bad_month(month)
    source = write_text(frame, tmp_path / f"releases{suffix}")
    output = tmp_path / "out" / "scores.parquet"

    result = score_file(source, output, champions=champions, chunk_rows=chunk_rows, scored_at=SCORED_AT)

    first_line = 2 if suffix == ".csv" else 1  # a CSV's header is line 1
    rejects = pd.read_csv(result.rejects_path, dtype=str, keep_default_na=False)
    assert list(rejects.columns) == list(REJECT_COLUMNS)
    expected = sorted(
        (position + first_line, column, words) for position, _, problems in BAD_CELLS for column, words in problems
    )
    found = sorted(zip(rejects["line"].astype(int), rejects["column"], rejects["reason"], strict=True))
    assert [(line, column) for line, column, _ in found] == [(line, column) for line, column, _ in expected]
    for (_, _, reason), (_, _, words) in zip(found, expected, strict=True):
        assert words in reason
    assert set(rejects["table"]) == {"releases"}

    bad_positions = {position for position, _, _ in BAD_CELLS}
    scores = read_scores(output)
    kept = [rid for i, rid in enumerate(frame["release_id"]) if i not in bad_positions]
    assert scores["release_id"].tolist() == kept  # input order, each once, the first of a duplicate kept
    assert result.rows_read == len(frame) == 60
    assert result.rows_rejected == len(bad_positions)
    assert result.rows_scored == len(scores) == result.rows_read - result.rows_rejected
    assert (
        result.reconciliation()
        == f"rows read 60 = rows scored {60 - len(bad_positions)} + rows rejected {len(bad_positions)}"
    )
    assert sum(result.reject_reasons.values()) == len(rejects)


def test_a_file_of_only_bad_rows_writes_an_empty_scores_file(tmp_path, month, champions):
    frame = as_text(month.releases.head(5)).assign(sex="?")
    source = write_text(frame, tmp_path / "releases.csv")

    result = score_file(source, tmp_path / "scores.csv", champions=champions)

    assert (result.rows_read, result.rows_scored, result.rows_rejected) == (5, 0, 5)
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert list(scores.columns) == list(OUTPUT_COLUMNS) and len(scores) == 0
    assert len(pd.read_csv(result.rejects_path)) == 5


# --------------------------------------------------------------------------- interruption


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_interrupted_run_leaves_no_output_and_no_partial(tmp_path, month, champions, monkeypatch, suffix):
    source = month.write(tmp_path / "releases.parquet")
    output = tmp_path / "out" / f"scores{suffix}"
    real = batch_module.score_columns
    calls = []

    def fail_on_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(batch_module, "score_columns", fail_on_second_chunk)
    with pytest.raises(RuntimeError, match="disk full"):
        score_file(source, output, champions=champions, chunk_rows=200)

    assert len(calls) == 2
    assert sorted(p.name for p in output.parent.iterdir()) == []  # no output, rejects, drift or partial


def test_an_interrupted_rerun_leaves_the_earlier_output_untouched(tmp_path, month, champions, monkeypatch):
    source = month.write(tmp_path / "releases.parquet")
    output = tmp_path / "scores.parquet"
    score_file(source, output, champions=champions, chunk_rows=200, scored_at=SCORED_AT)
    written = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("scores")}
    assert set(written) == {"scores.parquet", "scores.parquet.rejects.csv", "scores.parquet.drift.json"}

    shifted = month.releases.assign(age_at_release=month.releases["age_at_release"].clip(upper=80) + 5)
    month.write(source, shifted)  # next month's file, and the run dies half way through
    real = batch_module._write_ranked

    def crash_while_ranking(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(batch_module, "_write_ranked", crash_while_ranking)
    with pytest.raises(KeyboardInterrupt):
        score_file(source, output, champions=champions, chunk_rows=200)

    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("scores")} == written
    assert hidden_files(tmp_path) == []


# --------------------------------------------------------------------------- reruns, formats, chunks


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_rerun_gives_a_byte_identical_file(tmp_path, month, champions, suffix):
    source = month.write(tmp_path / "releases.parquet")
    first = score_file(source, tmp_path / "a" / f"scores{suffix}", champions=champions, scored_at=SCORED_AT)
    second = score_file(source, tmp_path / "b" / f"scores{suffix}", champions=champions, scored_at=SCORED_AT)

    assert first.output_path.read_bytes() == second.output_path.read_bytes()
    assert first.rejects_path.read_bytes() == second.rejects_path.read_bytes()
    assert first.drift_path.read_bytes() == second.drift_path.read_bytes()
    assert first.input_fingerprint == second.input_fingerprint


def test_a_rerun_without_a_fixed_time_differs_only_in_scored_at(tmp_path, month, champions):
    source = month.write(tmp_path / "releases.csv")
    first = read_scores(score_file(source, tmp_path / "a.parquet", champions=champions).output_path)
    second = read_scores(
        score_file(source, tmp_path / "b.parquet", champions=champions, scored_at="2099-01-01T00:00:00Z").output_path
    )

    assert set(second["scored_at"]) == {"2099-01-01T00:00:00Z"} != set(first["scored_at"])
    pd.testing.assert_frame_equal(first.drop(columns="scored_at"), second.drop(columns="scored_at"))


def test_csv_and_parquet_inputs_and_outputs_give_the_same_scores(tmp_path, month, champions):
    text = as_text(month.releases)
    sources = {
        "csv": write_text(text, tmp_path / "text.csv"),
        "parquet_text": write_text(text, tmp_path / "text.parquet"),
        "parquet_typed": month.write(tmp_path / "typed.parquet"),
    }
    outputs = {}
    for name, source in sources.items():
        for suffix in (".csv", ".parquet"):
            path = tmp_path / "out" / f"{name}{suffix}"
            score_file(source, path, champions=champions, scored_at=SCORED_AT)
            outputs[(name, suffix)] = read_scores(path)

    reference = outputs[("csv", ".parquet")]
    assert len(reference) == len(month.releases)
    assert list(reference.columns) == list(OUTPUT_COLUMNS)
    for key, frame in outputs.items():
        pd.testing.assert_frame_equal(frame, reference, check_dtype=False, obj=str(key))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_chunking_does_not_change_the_output(tmp_path, month, champions, suffix):
    # Three releases with identical records tie on every score; they sit in different
    # chunks and their ids sort in another order than they appear in the file.
    frame = month.releases.head(300).reset_index(drop=True)
    twin = frame.iloc[[10]]
    original = twin["release_id"].iloc[0]
    frame = pd.concat(
        [
            frame.iloc[:3],
            twin.assign(release_id="TIE-c"),
            frame.iloc[3:150],
            twin.assign(release_id="TIE-a"),
            frame.iloc[150:],
            twin.assign(release_id="TIE-b"),
        ],
        ignore_index=True,
    )
    source = month.write(tmp_path / "releases.parquet", frame)

    small = score_file(
        source, tmp_path / "small" / f"scores{suffix}", champions=champions, chunk_rows=7, scored_at=SCORED_AT
    )
    large = score_file(
        source, tmp_path / "large" / f"scores{suffix}", champions=champions, chunk_rows=100_000, scored_at=SCORED_AT
    )

    assert small.output_path.read_bytes() == large.output_path.read_bytes()
    scores = read_scores(large.output_path)
    assert sorted(scores["priority_rank"]) == list(range(1, len(frame) + 1))
    ties = scores.loc[scores["release_id"].isin(["TIE-a", "TIE-b", "TIE-c", original])]
    assert ties["priority_score"].nunique() == 1
    ranks = ties.set_index("release_id")["priority_rank"].sort_index()
    assert list(np.diff(ranks.to_numpy())) == [1, 1, 1]  # consecutive, in release_id order
    by_rank = scores.sort_values("priority_rank")
    assert (np.diff(by_rank["priority_score"].to_numpy()) <= 0).all()
    pd.testing.assert_frame_equal(small.top, large.top)


def test_the_top_rows_are_those_ranked_within_capacity(tmp_path, month, champions):
    source = month.write(tmp_path / "releases.parquet")
    result = score_file(source, tmp_path / "scores.parquet", champions=champions, capacity=25, chunk_rows=100)

    scores = read_scores(result.output_path).sort_values("priority_rank").head(25).reset_index(drop=True)
    assert result.top["priority_rank"].tolist() == list(range(1, 26))
    assert result.top["release_id"].tolist() == scores["release_id"].tolist()
    assert np.allclose(np.sort(result.frequency), np.sort(read_scores(result.output_path)["frequency_expected"]))


def test_without_explanations_everything_but_the_factors_is_the_same(tmp_path, month, champions):
    source = month.write(tmp_path / "releases.parquet")
    explained = read_scores(
        score_file(source, tmp_path / "a.parquet", champions=champions, scored_at=SCORED_AT).output_path
    )
    plain = read_scores(
        score_file(source, tmp_path / "b.parquet", champions=champions, scored_at=SCORED_AT, explain=False).output_path
    )

    assert all(f == [] for f in plain["top_factors"])
    assert all(len(f) > 0 for f in explained["top_factors"])
    pd.testing.assert_frame_equal(explained.drop(columns="top_factors"), plain.drop(columns="top_factors"))


# --------------------------------------------------------------------------- drift


def test_drift_is_flagged_on_a_shifted_month(tmp_path, month, champions):
    source = month.write(tmp_path / "releases.parquet", shifted(month.releases))

    result = score_file(source, tmp_path / "scores.parquet", champions=champions)

    assert {"age_at_release", "previous_sanctions"} <= set(result.drift_flagged)
    assert all(result.drift[name] > result.drift_threshold for name in result.drift_flagged)
    assert result.drift_flagged == sorted(result.drift_flagged, key=lambda n: -result.drift[n])
    written = json.loads(result.drift_path.read_text())
    assert written["flagged"] == result.drift_flagged
    assert written["population_stability_index"] == pytest.approx(result.drift)
    assert not {"sex_female", "needs_family"} & set(result.drift_flagged)  # what did not move is not flagged


def test_drift_is_not_flagged_on_a_month_from_the_same_process(tmp_path, month, champions):
    source = month.write(tmp_path / "releases.parquet")

    result = score_file(source, tmp_path / "scores.parquet", champions=champions)

    assert result.drift_flagged == []
    assert set(result.drift) == set(champions.models["reoffence"].feature_names_)
    assert max(result.drift.values()) < 0.1  # stable by the usual reading, not just under the flag


def test_a_lower_threshold_flags_more(tmp_path, month, champions):
    source = month.write(tmp_path / "releases.parquet", shifted(month.releases))
    strict = score_file(source, tmp_path / "a.parquet", champions=champions, drift_threshold=0.0)
    assert set(strict.drift_flagged) == {n for n, v in strict.drift.items() if v > 0}
