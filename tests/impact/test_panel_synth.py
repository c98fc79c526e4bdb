"""The synthetic panel: who it adopts, what adoption does, what it writes."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from riskmodel.data.synth import PANEL_TRUTH_COLUMNS, PanelSimulation, generate_cohort, write_cohort
from riskmodel.modelling.ogrs3 import ogrs3

START = date(2019, 1, 1)


@pytest.fixture(scope="module")
def cohorts():
    plain = generate_cohort(2000, seed=5)
    none = generate_cohort(2000, seed=5, panel=PanelSimulation(START, 6, 0.0))
    half = generate_cohort(2000, seed=5, panel=PanelSimulation(START, 6, 0.5))
    return plain, none, half


def test_the_panel_adopts_the_top_ogrs3_releases_of_each_month(cohorts):
    _, _, cohort = cohorts
    decisions = cohort.decisions.merge(cohort.releases, on="release_id")
    assert (decisions["release_date"] >= pd.Timestamp(START)).all()
    assert len(decisions) == int((cohort.releases["release_date"] >= pd.Timestamp(START)).sum())
    decisions["p2"] = ogrs3(decisions)["ogrs3_2y"].fillna(-1.0).to_numpy()
    for _, month in decisions.groupby(decisions["release_date"].dt.to_period("M")):
        adopted = month["decision"] == "adopt"
        assert adopted.sum() == min(6, len(month))
        if (~adopted).any():
            assert month.loc[adopted, "p2"].min() >= month.loc[~adopted, "p2"].max()
    assert set(cohort.decisions["decision"]) <= {"adopt", "not_now", "refer"}


def test_no_effect_leaves_the_cohort_as_it_was(cohorts):
    plain, none, _ = cohorts
    pd.testing.assert_frame_equal(plain.releases, none.releases)
    pd.testing.assert_frame_equal(plain.reoffences, none.reoffences)
    assert np.allclose(none.truth["frequency_expected"], plain.truth["frequency_expected"])


def test_adoption_thins_the_adopted_releases_offences_and_truth_keeps_the_counterfactual(cohorts):
    _, none, half = cohorts
    truth = half.truth
    assert tuple(truth.columns[-3:]) == PANEL_TRUTH_COLUMNS
    adopted = truth["iom_adopted"].to_numpy()
    assert np.allclose(truth["frequency_expected"][adopted], 0.5 * truth["frequency_expected_untreated"][adopted])
    assert np.allclose(truth["frequency_expected"][~adopted], truth["frequency_expected_untreated"][~adopted])
    assert (truth["iom_effect"][adopted] == 0.5).all() and (truth["iom_effect"][~adopted] == 0).all()
    # the adopted people's recorded offences fall by about half; nobody else's change
    assert 0.35 < len(half.reoffences) / len(none.reoffences) < 1.0
    assert set(map(tuple, half.reoffences.values)) <= set(map(tuple, none.reoffences.values))


def test_the_decisions_table_is_written_beside_the_others(cohorts, tmp_path):
    _, _, cohort = cohorts
    paths = write_cohort(cohort, tmp_path)
    written = pd.read_csv(paths["decisions"])
    assert list(written.columns) == ["release_id", "decided_at", "decision"]
    assert written["decided_at"].str.match(r"^\d{4}-\d{2}-01T10:00:00Z$").all()


def test_a_panel_refuses_impossible_settings():
    with pytest.raises(ValueError, match="capacity"):
        PanelSimulation(START, 0, 0.1)
    with pytest.raises(ValueError, match="effect"):
        PanelSimulation(START, 5, 1.0)
