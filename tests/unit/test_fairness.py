"""Fairness audit tables, gaps and the NIJ index on hand-built data worked out by hand.

Three groups, threshold 0.5 (predicted positive when p >= 0.5)::

    group A (4 rows)  y = 0    0    1    1           p = 0.2  0.6  0.7  0.4
                      predicted 0  1    1    0       -> FPR 1/2, FNR 1/2, selected 2/4
    group B (5 rows)  y = 0    0    0    1    1      p = 0.9  0.8  0.1  0.95 0.3
                      predicted 1  1    0    1    0  -> FPR 2/3, FNR 1/2, selected 3/5
    group C (2 rows)  y = 0    0                     p = 0.1  0.2
                      predicted 0  0                 -> FPR 0, FNR undefined, AUC undefined

AUC A: positive/negative pairs (0.7>0.2, 0.7>0.6, 0.4>0.2, 0.4<0.6) = 3/4.
AUC B: 0.95 beats 0.9, 0.8, 0.1; 0.3 beats 0.1 only -> 4/6.
Top 3 overall by p: 0.95, 0.9, 0.8, all in B -> top-3 selection rates A 0, B 3/5, C 0.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from riskmodel.evaluation.fairness import age_band, fairness_audit, fairness_gaps, nij_fairness_index

Y = np.array([0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0], dtype=float)
P = np.array([0.2, 0.6, 0.7, 0.4, 0.9, 0.8, 0.1, 0.95, 0.3, 0.1, 0.2])
GROUP = np.array(["A"] * 4 + ["B"] * 5 + ["C"] * 2, dtype=object)


@pytest.fixture
def table() -> pd.DataFrame:
    return fairness_audit(Y, P, groups={"group": GROUP}, threshold=0.5, top_n=3, min_group_size=4)["group"]


def test_age_bands_at_their_edges():
    ages = [16, 17.9, 18, 20.99, 21, 24, 25, 29, 30, 39, 40, 49, 50, 83, np.nan]
    assert age_band(ages).tolist() == [
        "<18", "<18", "18-20", "18-20", "21-24", "21-24", "25-29", "25-29",
        "30-39", "30-39", "40-49", "40-49", "50+", "50+", "unknown",
    ]  # fmt: skip


class TestFairnessAudit:
    def test_columns_and_groups(self, table):
        assert table.index.name == "group"
        assert table.index.tolist() == ["A", "B", "C"]
        assert table.columns.tolist() == [
            "count", "positives", "negatives", "selected", "prevalence", "mean_predicted", "auc",
            "calibration_in_the_large", "observed_to_expected", "false_positive_rate", "false_negative_rate",
            "selection_rate", "top_n_selected", "top_n_selection_rate", "small_group",
            "few_positives", "few_negatives", "few_selected", "few_top_n_selected",
        ]  # fmt: skip
        assert table["count"].tolist() == [4, 5, 2]

    def test_error_rates_match_hand_computation(self, table):
        assert table["false_positive_rate"].tolist()[:2] == pytest.approx([1 / 2, 2 / 3])
        assert table.loc["C", "false_positive_rate"] == 0.0
        assert table["false_negative_rate"].tolist()[:2] == pytest.approx([1 / 2, 1 / 2])
        assert math.isnan(table.loc["C", "false_negative_rate"])  # no one in C reoffended
        assert table["selection_rate"].tolist() == pytest.approx([2 / 4, 3 / 5, 0.0])

    def test_calibration_and_ranking_match_hand_computation(self, table):
        assert table["prevalence"].tolist() == pytest.approx([2 / 4, 2 / 5, 0.0])
        assert table["mean_predicted"].tolist() == pytest.approx([1.9 / 4, 3.05 / 5, 0.15])
        assert table["calibration_in_the_large"].tolist() == pytest.approx([1.9 / 4 - 0.5, 3.05 / 5 - 0.4, 0.15])
        assert table["observed_to_expected"].tolist() == pytest.approx([2 / 1.9, 2 / 3.05, 0.0])
        assert table["auc"].tolist()[:2] == pytest.approx([3 / 4, 4 / 6])
        assert math.isnan(table.loc["C", "auc"])

    def test_top_n_selection_rate(self, table):
        assert table["top_n_selection_rate"].tolist() == pytest.approx([0.0, 3 / 5, 0.0])

    def test_top_n_ties_keep_row_order(self):
        groups = {"g": ["x", "y", "x", "y"]}
        tables = fairness_audit([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], groups=groups, threshold=0.5, top_n=1)
        assert tables["g"]["top_n_selection_rate"].tolist() == [0.5, 0.0]  # row 0, in group x
        assert tables["g"]["selection_rate"].tolist() == [1.0, 1.0]  # p == threshold is flagged

    def test_small_groups_flagged_not_dropped(self, table):
        assert table["small_group"].tolist() == [False, False, True]

    def test_without_top_n_the_column_is_omitted(self):
        table = fairness_audit(Y, P, groups={"group": GROUP}, threshold=0.5)["group"]
        assert "top_n_selection_rate" not in table.columns
        assert table["small_group"].all()  # default minimum of 30

    def test_one_table_per_grouping_and_missing_values_grouped(self):
        ages = [19, 19, 45, 45, 19, 45, 45, 19, 19, np.nan, 45]
        tables = fairness_audit(Y, P, groups={"group": GROUP, "age_band": age_band(ages)}, threshold=0.5)
        assert set(tables) == {"group", "age_band"}
        assert tables["age_band"].index.tolist() == ["18-20", "40-49", "unknown"]  # in age order
        assert tables["age_band"]["count"].tolist() == [5, 5, 1]
        eth = pd.Series(["White", None, "Black", "White", "Black", "Black", None, "White", "White", "Black", "White"])
        audit = fairness_audit(Y, P, groups={"ethnicity": eth}, threshold=0.5)["ethnicity"]
        assert audit.loc["unknown", "count"] == 2

    def test_threshold_moves_the_error_rates(self):
        table = fairness_audit(Y, P, groups={"group": GROUP}, threshold=0.85)["group"]
        # only 0.9 and 0.95 are flagged: B's FPR 1/3 (0.9), FNR 1/2 (0.3 missed); A has none
        assert table.loc["B", "false_positive_rate"] == pytest.approx(1 / 3)
        assert table.loc["A", "false_negative_rate"] == pytest.approx(1.0)

    def test_missing_scores_are_refused(self):
        with pytest.raises(ValueError, match="missing"):
            fairness_audit([0, 1], [0.2, np.nan], groups={"g": ["a", "b"]}, threshold=0.5)


class TestFairnessGaps:
    def test_gaps_over_big_groups_only(self, table):
        gaps = fairness_gaps({"group": table}, min_group_size=4)
        # C (2 rows) is left out: with it the FPR gap would be 2/3 - 0
        assert gaps["group.false_positive_rate_gap"] == pytest.approx(2 / 3 - 1 / 2)
        assert gaps["group.false_negative_rate_gap"] == pytest.approx(0.0)
        assert gaps["group.auc_gap"] == pytest.approx(3 / 4 - 4 / 6)
        assert gaps["group.calibration_in_the_large_gap"] == pytest.approx((3.05 / 5 - 0.4) - (1.9 / 4 - 0.5))
        assert gaps["group.top_n_selection_rate_gap"] == pytest.approx(3 / 5)
        assert set(gaps) == {
            "group.auc_gap", "group.calibration_in_the_large_gap", "group.false_positive_rate_gap",
            "group.false_negative_rate_gap", "group.selection_rate_gap", "group.top_n_selection_rate_gap",
            "group.observed_to_expected_gap",
        }  # fmt: skip

    def test_smaller_minimum_lets_small_groups_in(self, table):
        gaps = fairness_gaps({"group": table}, min_group_size=2)
        assert gaps["group.false_positive_rate_gap"] == pytest.approx(2 / 3)

    def test_fewer_than_two_big_groups_give_nan(self, table):
        gaps = fairness_gaps({"group": table}, min_group_size=5)  # only B is big enough
        assert all(math.isnan(v) for v in gaps.values())


def test_nij_fairness_index_hand_worked():
    y = [0, 0, 1, 0, 0, 1]
    p = [0.6, 0.2, 0.7, 0.4, 0.1, 0.3]
    race = ["Black", "black", "Black", "WHITE", "White", "White"]
    # FPR Black: negatives at 0.6 (flagged) and 0.2 -> 1/2; White: 0.4 and 0.1 -> 0
    brier = (0.36 + 0.04 + 0.09 + 0.16 + 0.01 + 0.49) / 6
    assert nij_fairness_index(y, p, race=race) == pytest.approx((1 - brier) * (1 - 0.5))


def test_nij_fairness_index_without_a_gap_is_one_minus_brier():
    y, p = [0, 1, 0, 1], [0.2, 0.8, 0.3, 0.6]
    race = ["Black", "Black", "White", "Other"]
    assert nij_fairness_index(y, p, race=race) == pytest.approx(1 - (0.04 + 0.04 + 0.09 + 0.16) / 4)


def test_gap_standard_error_is_binomial_over_the_two_extreme_groups():
    from riskmodel.evaluation.fairness import fairness_gap_errors

    table = pd.DataFrame(
        {
            "count": [400, 100, 20],
            "prevalence": [0.5, 0.2, 0.5],
            "calibration_in_the_large": [0.0, 0.1, 0.3],
            "false_positive_rate": [0.1, 0.3, 0.9],
            "false_negative_rate": [0.2, 0.2, 0.2],
        },
        index=["A", "B", "small"],
    )
    errors = fairness_gap_errors({"g": table}, min_group_size=50)
    # FPR: A (0.1 over 200 negatives) vs B (0.3 over 80 negatives); "small" is ignored
    expected = np.hypot(np.sqrt(0.1 * 0.9 / 200), np.sqrt(0.3 * 0.7 / 80))
    assert errors["g.false_positive_rate_gap_se"] == pytest.approx(expected)
    expected_cal = np.hypot(np.sqrt(0.25 / 400), np.sqrt(0.16 / 100))
    assert errors["g.calibration_in_the_large_gap_se"] == pytest.approx(expected_cal)
