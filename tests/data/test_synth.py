"""Synthetic cohorts: the headline figures, determinism, the contract, and a coherent truth."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from riskmodel._constants import (
    ETHNICITIES,
    NEEDS_COLUMNS,
    OFFENCE_GROUPS,
    OPTIONAL_INTEGER_COLUMNS,
    OPTIONAL_NUMBER_COLUMNS,
    RELEASE_COLUMNS,
    REOFFENCE_COLUMNS,
    TRUTH_COLUMNS,
)
from riskmodel.data.contract import load_cohort
from riskmodel.data.labels import derive_labels
from riskmodel.data.synth import format_summary, generate_cohort, summarise, write_cohort


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(20_000, seed=0)


@pytest.fixture(scope="module")
def labels(cohort):
    """The contract's labels, derived by riskmodel.data.labels (independent of synth's own counting)."""
    return derive_labels(cohort.releases, cohort.reoffences, as_of=cohort.as_of)


@pytest.fixture(scope="module")
def figures(cohort):
    return summarise(cohort)


# ------------------------------------------------------------------ the figures


def test_figures_of_a_20000_person_cohort(figures):
    assert 0.55 <= figures["reoffence_rate_12m"] <= 0.65
    assert 2.5 <= figures["reoffences_per_reoffender"] <= 3.5
    assert 0.45 <= figures["top10_share_of_reoffences"] <= 0.55
    assert 0.15 <= figures["harm_rate_24m"] <= 0.30


def test_summary_agrees_with_the_contract_labels(cohort, labels, figures):
    eligible = labels["reoffence"].notna()
    counts = labels.loc[eligible, "frequency"].to_numpy(dtype=int)
    assert figures["eligible_releases"] == eligible.sum()
    assert figures["reoffence_rate_12m"] == pytest.approx(labels["reoffence"].mean())
    assert figures["reoffences_per_reoffender"] == pytest.approx(counts[counts > 0].mean())
    top = np.sort(counts)[::-1][: math.ceil(0.1 * len(counts))]
    assert figures["top10_share_of_reoffences"] == pytest.approx(top.sum() / counts.sum())
    assert figures["harm_eligible_releases"] == labels["harm"].notna().sum()
    assert figures["harm_rate_24m"] == pytest.approx(labels["harm"].mean())


def test_eligibility_follows_the_extract_date(cohort, labels):
    days_known = (pd.Timestamp(cohort.as_of) - cohort.releases["release_date"]).dt.days
    assert (labels["reoffence"].notna() == (days_known >= 548)).all()
    assert (labels["harm"].notna() == (days_known >= 913)).all()
    assert labels["reoffence"].isna().any() and labels["harm"].isna().any()  # recent releases are censored


def test_format_summary_prints_the_figures(figures):
    text = format_summary(figures)
    for key in ("reoffence_rate_12m", "top10_share_of_reoffences", "harm_rate_24m"):
        assert f"{figures[key]:.1%}" in text
    assert f"{figures['reoffences_per_reoffender']:.2f}" in text
    assert len(text.splitlines()) >= 4


# ------------------------------------------------------------------ determinism


def test_same_seed_same_tables_and_bytes_other_seed_differs(tmp_path):
    a, b, c = (generate_cohort(800, seed=s) for s in (3, 3, 4))
    for name in ("releases", "reoffences", "truth"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    write_cohort(a, tmp_path / "a")
    write_cohort(b, tmp_path / "b")
    write_cohort(c, tmp_path / "c")
    for name in ("releases", "reoffences", "truth"):
        assert (tmp_path / "a" / f"{name}.csv").read_bytes() == (tmp_path / "b" / f"{name}.csv").read_bytes()
        assert (tmp_path / "a" / f"{name}.csv").read_bytes() != (tmp_path / "c" / f"{name}.csv").read_bytes()


# ------------------------------------------------------------------ the contract


def test_columns_and_types_are_the_contracts(cohort):
    rel, off, truth = cohort.releases, cohort.reoffences, cohort.truth
    assert tuple(rel.columns) == RELEASE_COLUMNS
    assert tuple(off.columns) == REOFFENCE_COLUMNS
    assert tuple(truth.columns) == TRUTH_COLUMNS
    for column in ("release_date",):
        assert rel[column].dtype == "datetime64[ns]"
        assert (rel[column] == rel[column].dt.normalize()).all()
    for column in ("offence_date", "proven_date"):
        assert off[column].dtype == "datetime64[ns]"
        assert (off[column] == off[column].dt.normalize()).all()
    assert rel["age_at_release"].dtype == float and rel["previous_sanctions"].dtype == np.int64
    for column in OPTIONAL_NUMBER_COLUMNS:
        assert rel[column].dtype == float
    for column in OPTIONAL_INTEGER_COLUMNS:
        assert rel[column].dtype == "Int64"
    for column in NEEDS_COLUMNS:
        assert rel[column].dtype == "boolean"
    for column in ("release_id", "person_id", "sex", "index_offence", "ethnicity"):
        assert rel[column].map(type).eq(str).all()
    assert off["person_id"].map(type).eq(str).all() and off["offence"].map(type).eq(str).all()
    assert rel["release_id"].str.fullmatch(r"R\d{7}").all() and rel["person_id"].str.fullmatch(r"P\d{6}").all()
    assert (truth["release_id"] == rel["release_id"]).all()
    for column in TRUTH_COLUMNS[1:]:
        assert truth[column].dtype == float and truth[column].notna().all()


def test_values_follow_the_contracts_rules(cohort):
    rel, off = cohort.releases, cohort.reoffences
    assert rel["release_id"].is_unique
    assert rel["sex"].isin(["M", "F"]).all()
    assert rel["index_offence"].isin(OFFENCE_GROUPS).all() and off["offence"].isin(OFFENCE_GROUPS).all()
    assert rel["ethnicity"].isin(ETHNICITIES).all()
    assert rel["age_at_release"].between(10, 100).all()
    assert (rel["previous_sanctions"] >= 0).all()
    known = rel["previous_violent_sanctions"].notna()
    assert (rel.loc[known, "previous_violent_sanctions"] <= rel.loc[known, "previous_sanctions"]).all()
    for column in ("age_at_first_sanction", "age_at_index_conviction"):
        known = rel[column].notna()
        assert (rel.loc[known, column] <= rel.loc[known, "age_at_release"]).all()
    assert (rel["age_at_first_sanction"].dropna() >= 10).all()
    assert (rel["sentence_days"].dropna() >= 1).all()
    for column in ("previous_custodial_sentences", "previous_breaches"):
        assert (rel[column].dropna() >= 0).all()
    assert off["person_id"].isin(rel["person_id"]).all()
    assert (off["proven_date"] >= off["offence_date"]).all()
    assert (off["proven_date"] <= pd.Timestamp(cohort.as_of)).all()
    assert (rel["release_date"] < pd.Timestamp(cohort.as_of)).all()


def test_some_people_are_released_several_times_far_enough_apart(cohort):
    per_person = cohort.releases["person_id"].value_counts()
    assert (per_person > 1).mean() > 0.1 and per_person.max() <= 4
    ordered = cohort.releases.sort_values(["person_id", "release_date"])
    by_person = ordered.groupby("person_id")
    assert by_person["release_date"].diff().dropna().dt.days.min() >= 800  # keeps the truth exact
    assert (by_person["previous_sanctions"].diff().dropna() >= 1).all()  # the last index conviction counts


def test_optional_columns_have_some_unknowns(cohort):
    rel = cohort.releases
    for column in OPTIONAL_NUMBER_COLUMNS + OPTIONAL_INTEGER_COLUMNS:
        assert 0.01 < rel[column].isna().mean() < 0.1, column
    for column in NEEDS_COLUMNS:
        assert 0.05 < rel[column].isna().mean() < 0.15, column
    for column in ("release_id", "person_id", "release_date", "sex", "age_at_release", "previous_sanctions"):
        assert rel[column].notna().all()


def test_written_files_read_back_through_the_contract(tmp_path):
    small = generate_cohort(500, seed=2)
    for fmt in ("csv", "parquet"):
        paths = write_cohort(small, tmp_path / fmt, fmt=fmt)
        assert set(paths) == {"releases", "reoffences", "truth"}
        assert all(path.exists() and path.suffix == f".{fmt}" for path in paths.values())
        validated = load_cohort(tmp_path / fmt)
        assert len(validated.rejects) == 0
        assert len(validated.releases.data) == len(small.releases)
        assert len(validated.reoffences.data) == len(small.reoffences)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "parquet" / "releases.parquet"), small.releases)
    text = (tmp_path / "csv" / "releases.csv").read_text()
    header, first = text.splitlines()[:2]
    assert header == ",".join(RELEASE_COLUMNS)
    assert first.split(",")[2] == small.releases["release_date"].iloc[0].strftime("%Y-%m-%d")
    needs = pd.read_csv(
        tmp_path / "csv" / "releases.csv", usecols=list(NEEDS_COLUMNS), dtype=str, keep_default_na=False
    )
    assert set(np.unique(needs.to_numpy())) == {"true", "false", ""}
    with pytest.raises(ValueError, match="fmt"):
        write_cohort(small, tmp_path / "x", fmt="xlsx")


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="n_people"):
        generate_cohort(0)
    with pytest.raises(ValueError, match="as_of"):
        generate_cohort(10, start=pd.Timestamp("2020-01-01").date(), as_of=pd.Timestamp("2019-01-01").date())


# ------------------------------------------------------------------ realism


def test_the_population_looks_like_short_sentenced_prison_leavers(cohort):
    rel = cohort.releases
    people = rel.drop_duplicates("person_id")
    assert (people["sex"] == "M").mean() == pytest.approx(0.95, abs=0.01)
    assert 29 <= rel["age_at_release"].mean() <= 35 and rel["age_at_release"].min() >= 18
    assert 6 <= rel["previous_sanctions"].median() <= 15 and rel["previous_sanctions"].max() > 100
    assert (rel["sentence_days"].dropna() < 365).mean() > 0.9
    assert rel["age_at_first_sanction"].median() < 21
    shares = rel["index_offence"].value_counts(normalize=True)
    assert {"theft_non_motor", "violence"} <= set(shares.index[:3])
    assert shares.get("sexual_against_child", 0) < 0.02
    prevalence = rel[list(NEEDS_COLUMNS)].mean()
    expected = {
        "needs_accommodation": 0.35,
        "needs_employment": 0.50,
        "needs_mental_health": 0.30,
        "needs_substance_misuse": 0.45,
        "needs_finance": 0.35,
        "needs_family": 0.20,
    }
    for column, share in expected.items():
        assert prevalence[column] == pytest.approx(share, abs=0.06), column
    needs = rel[list(NEEDS_COLUMNS)].astype(float)
    assert needs.corr().to_numpy()[np.triu_indices(len(NEEDS_COLUMNS), 1)].min() > 0


def test_risk_moves_with_history_and_age(cohort):
    rel, truth = cohort.releases, cohort.truth["reoffence_probability"]
    many = rel["previous_sanctions"] >= rel["previous_sanctions"].quantile(0.75)
    few = rel["previous_sanctions"] <= rel["previous_sanctions"].quantile(0.25)
    assert truth[many].mean() > truth[few].mean() + 0.1
    assert truth[rel["age_at_release"] < 25].mean() > truth[rel["age_at_release"] >= 45].mean()
    substance = rel["needs_substance_misuse"].fillna(False).astype(bool)
    assert truth[substance].mean() > truth[~substance].mean()


# ------------------------------------------------------------------ the truth


def test_truth_is_coherent_with_the_outcomes(cohort, labels):
    eligible = labels["reoffence"].notna().to_numpy()
    truth = cohort.truth.loc[eligible]
    observed = labels.loc[eligible]
    assert truth["reoffence_probability"].mean() == pytest.approx(observed["reoffence"].mean(), abs=0.015)
    assert truth["frequency_expected"].mean() == pytest.approx(observed["frequency"].mean(), rel=0.05)
    harm_eligible = labels["harm"].notna().to_numpy()
    assert cohort.truth.loc[harm_eligible, "harm_probability"].mean() == pytest.approx(
        labels.loc[harm_eligible, "harm"].mean(), abs=0.015
    )


def test_truth_is_calibrated_but_not_perfect(cohort, labels):
    eligible = labels["reoffence"].notna().to_numpy()
    truth = cohort.truth.loc[eligible, "reoffence_probability"].to_numpy()
    observed = labels.loc[eligible, "reoffence"].to_numpy(dtype=int)
    fifth = pd.qcut(truth, 5, labels=False)
    for q in range(5):  # calibrated across the range, not only on average
        assert observed[fifth == q].mean() == pytest.approx(truth[fifth == q].mean(), abs=0.03)
    auc = roc_auc_score(observed, truth)
    assert 0.70 <= auc <= 0.80  # informative, but frailty and Poisson noise leave room


def test_ethnicity_does_not_drive_risk(cohort):
    joined = cohort.releases[["ethnicity"]].join(cohort.truth[["reoffence_probability", "harm_probability"]])
    means = joined.groupby("ethnicity")[["reoffence_probability", "harm_probability"]].mean()
    sizes = joined["ethnicity"].value_counts()
    big = means.loc[sizes[sizes >= 1000].index]
    assert len(big) >= 3
    assert (big.max() - big.min() < 0.03).all()
    shares = cohort.releases.drop_duplicates("person_id")["ethnicity"].value_counts(normalize=True)
    assert shares["White"] == pytest.approx(0.72, abs=0.02)
    assert shares["Black"] == pytest.approx(0.12, abs=0.015)
