"""Synthetic cohorts: the issue's figures, determinism, the contract, and a coherent truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from riskmodel._constants import OFFENCE_GROUPS, RELEASE_COLUMNS, REOFFENCE_COLUMNS, TRUTH_COLUMNS
from riskmodel.contract import load_cohort
from riskmodel.labels import derive_labels
from riskmodel.synth import format_summary, generate_cohort, summarise, write_cohort


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(20_000, seed=0)


@pytest.fixture(scope="module")
def labels(cohort):
    return derive_labels(cohort.releases, cohort.reoffences, as_of=cohort.as_of)


def test_figures_of_a_20000_person_cohort(cohort):
    figures = summarise(cohort)
    assert 0.55 <= figures["reoffence_rate_12m"] <= 0.65
    assert 2.5 <= figures["reoffences_per_reoffender"] <= 3.5
    assert 0.45 <= figures["top10_share_of_reoffences"] <= 0.55
    assert 0.15 <= figures["harm_rate_24m"] <= 0.30
    text = format_summary(figures)
    assert f"{figures['reoffence_rate_12m']:.1%}" in text


def test_summary_agrees_with_the_contract_labels(cohort, labels):
    figures = summarise(cohort)
    eligible = labels["reoffence"].notna()
    assert figures["eligible_releases"] == eligible.sum()
    assert figures["reoffence_rate_12m"] == pytest.approx(labels["reoffence"].mean())
    assert figures["harm_rate_24m"] == pytest.approx(labels["harm"].mean())


def test_same_seed_same_files_and_other_seed_differs(tmp_path):
    a, b, c = (generate_cohort(800, seed=s) for s in (3, 3, 4))
    pd.testing.assert_frame_equal(a.releases, b.releases)
    pd.testing.assert_frame_equal(a.reoffences, b.reoffences)
    write_cohort(a, tmp_path / "a")
    write_cohort(b, tmp_path / "b")
    for name in ("releases", "reoffences", "truth"):
        assert (tmp_path / "a" / f"{name}.csv").read_bytes() == (tmp_path / "b" / f"{name}.csv").read_bytes()
    assert not a.releases["previous_sanctions"].equals(c.releases["previous_sanctions"])


def test_tables_follow_the_contract(cohort, tmp_path):
    rel, off = cohort.releases, cohort.reoffences
    assert tuple(rel.columns) == RELEASE_COLUMNS
    assert tuple(off.columns) == REOFFENCE_COLUMNS
    assert tuple(cohort.truth.columns) == TRUTH_COLUMNS
    assert rel["release_id"].is_unique
    assert rel["index_offence"].isin(OFFENCE_GROUPS).all() and off["offence"].isin(OFFENCE_GROUPS).all()
    assert ((rel["age_at_release"] >= 10) & (rel["age_at_release"] <= 100)).all()
    known = rel["previous_violent_sanctions"].notna()
    assert (rel.loc[known, "previous_violent_sanctions"] <= rel.loc[known, "previous_sanctions"]).all()
    first = rel["age_at_first_sanction"].notna()
    assert (rel.loc[first, "age_at_first_sanction"] <= rel.loc[first, "age_at_release"]).all()
    assert (off["proven_date"] >= off["offence_date"]).all()
    assert (off["proven_date"] <= pd.Timestamp(cohort.as_of)).all()
    assert rel["person_id"].value_counts().max() > 1  # some people are released several times
    for column in ("sentence_days", "needs_accommodation", "age_at_first_sanction"):
        assert 0 < rel[column].isna().mean() < 0.2
    # written and read back, every row is accepted
    small = generate_cohort(500, seed=2)
    for fmt in ("csv", "parquet"):
        write_cohort(small, tmp_path / fmt, fmt=fmt)
        validated = load_cohort(tmp_path / fmt)
        assert len(validated.rejects) == 0
        assert len(validated.releases.data) == len(small.releases)


def test_a_persons_releases_are_far_enough_apart_for_exact_truth(cohort):
    dates = cohort.releases.sort_values(["person_id", "release_date"])
    gaps = dates.groupby("person_id")["release_date"].diff().dropna().dt.days
    assert gaps.min() >= 800


def test_truth_is_the_oracle_and_coherent_with_outcomes(cohort, labels):
    eligible = labels["reoffence"].notna().to_numpy()
    truth = cohort.truth.loc[eligible]
    observed = labels.loc[eligible]
    assert truth["reoffence_probability"].mean() == pytest.approx(observed["reoffence"].mean(), abs=0.015)
    assert truth["frequency_expected"].mean() == pytest.approx(observed["frequency"].mean(), rel=0.05)
    auc = roc_auc_score(observed["reoffence"].astype(int), truth["reoffence_probability"])
    assert 0.70 <= auc <= 0.85  # informative, but unobserved heterogeneity leaves room
    harm_eligible = labels["harm"].notna().to_numpy()
    assert cohort.truth.loc[harm_eligible, "harm_probability"].mean() == pytest.approx(
        labels.loc[harm_eligible, "harm"].mean(), abs=0.02
    )


def test_ethnicity_does_not_drive_risk(cohort):
    joined = cohort.releases[["ethnicity"]].join(cohort.truth["reoffence_probability"])
    means = joined.groupby("ethnicity")["reoffence_probability"].agg(["mean", "size"])
    big = means.loc[means["size"] >= 1000, "mean"]
    assert len(big) >= 3
    assert big.max() - big.min() < 0.03
    shares = cohort.releases.drop_duplicates("person_id")["ethnicity"].value_counts(normalize=True)
    assert shares["White"] == pytest.approx(0.72, abs=0.02)
    assert np.isclose(shares.sum(), 1.0)
