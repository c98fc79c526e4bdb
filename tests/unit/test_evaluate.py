"""Evaluation figures and validation plots, against simulation, hand work and scikit-learn.

Expected values are worked out by hand in the comments, simulated from a known truth,
or taken from an independent implementation (scikit-learn); never from the module.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, mean_poisson_deviance, roc_auc_score

from riskmodel.evaluation.metrics import (
    auc_interval,
    binary_metrics,
    calibration_bins,
    calibration_intercept_slope,
    capture_at,
    capture_curve,
    compare_table,
    count_metrics,
    expected_calibration_error,
    fit_logistic_intercept,
    fit_logistic_recalibration,
    precision_at,
)
from riskmodel.evaluation.plots import (
    calibration_figure,
    capture_figure,
    distribution_figure,
    figure_to_png_bytes,
    roc_figure,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def simulated():
    """True probabilities and outcomes drawn from them: a perfectly calibrated scorer."""
    rng = np.random.default_rng(20240601)
    p_true = expit(rng.normal(-0.2, 1.2, 200_000))
    y = rng.binomial(1, p_true).astype(float)
    return y, p_true


# --------------------------------------------------------------------------- calibration


class TestCalibrationInterceptSlope:
    def test_calibrated_probabilities_give_zero_and_one(self, simulated):
        y, p = simulated
        intercept, slope = calibration_intercept_slope(y, p)
        assert intercept == pytest.approx(0.0, abs=0.03)
        assert slope == pytest.approx(1.0, abs=0.03)

    def test_overconfident_probabilities_give_slope_one_half(self, simulated):
        y, p = simulated
        doubled = expit(2 * logit(p))  # logits twice too far from 0
        _, slope = calibration_intercept_slope(y, doubled)
        assert slope == pytest.approx(0.5, abs=0.02)

    def test_shifted_logits_give_the_shift_back_as_intercept(self, simulated):
        y, p = simulated
        too_low = expit(logit(p) - 0.6)  # predictions 0.6 logits too low: intercept +0.6
        intercept, slope = calibration_intercept_slope(y, too_low)
        assert intercept == pytest.approx(0.6, abs=0.03)
        assert slope == pytest.approx(1.0, abs=0.03)

    def test_slope_matches_an_unpenalised_sklearn_fit(self, simulated):
        y, p = simulated[0][:5000], simulated[1][:5000]
        skewed = expit(0.3 + 1.7 * logit(p))
        reference = LogisticRegression(penalty=None, tol=1e-10, max_iter=1000).fit(logit(skewed)[:, None], y)
        _, slope = calibration_intercept_slope(y, skewed)
        # the exact maximum-likelihood slope, not lbfgs's default stopping point (~1e-4 away)
        assert slope == pytest.approx(reference.coef_[0, 0], abs=1e-7)

    def test_probabilities_of_zero_and_one_are_clipped_not_infinite(self):
        y = np.array([0, 0, 1, 1, 0, 1], dtype=float)
        p = np.array([0.0, 0.2, 1.0, 0.7, 0.4, 0.6])
        intercept, slope = calibration_intercept_slope(y, p)
        assert np.isfinite(intercept) and np.isfinite(slope)

    def test_one_class_gives_nan(self):
        intercept, slope = calibration_intercept_slope([1, 1, 1], [0.2, 0.5, 0.9])
        assert math.isnan(intercept) and math.isnan(slope)


class TestTheOneLogisticFitter:
    def test_intercept_with_a_constant_offset_is_the_log_odds_less_the_offset(self):
        # 3 of 4 outcomes: logit P = log 3 = a + 0.5 for every row
        assert fit_logistic_intercept([0, 1, 1, 1], np.full(4, 0.5)) == pytest.approx(math.log(3) - 0.5, abs=1e-10)

    def test_intercept_makes_expected_equal_observed(self, simulated):
        y, p = simulated[0][:5000], simulated[1][:5000]
        offset = logit(p) - 0.4
        a = fit_logistic_intercept(y, offset)
        assert expit(a + offset).sum() == pytest.approx(y.sum(), abs=1e-6)

    def test_intercept_of_one_class_is_nan(self):
        assert math.isnan(fit_logistic_intercept([1, 1], [0.0, 1.0]))

    def test_recalibration_at_the_default_tolerance_is_what_the_models_were_fitted_with(self, simulated):
        y, margin = simulated[0][:3000], logit(simulated[1][:3000]) * 0.8 - 0.3
        fitted = LogisticRegression(C=1e6, max_iter=1000).fit(margin[:, None], y)
        assert fit_logistic_recalibration(y, margin) == (float(fitted.intercept_[0]), float(fitted.coef_[0, 0]))

    def test_a_model_slope_below_the_floor_refits_the_intercept_with_the_floored_slope(self):
        from types import SimpleNamespace

        from riskmodel.modelling.models import CalibratedModel

        rng = np.random.default_rng(7)
        margin = rng.normal(1.0, 1.0, 4000)  # off centre: the floored slope moves the intercept
        y = rng.binomial(1, expit(-0.5 - 1.0 * margin)).astype(float)  # the margin ranks backwards

        class Backwards(CalibratedModel):
            def margin(self, X):
                return margin

        features = SimpleNamespace(feature_names_out_=np.array(["x"]))
        model = Backwards(SimpleNamespace(named_steps={"features": features}), target="reoffence").fit(None, y)
        assert model.slope_ == 1e-3
        # the intercept is the maximum-likelihood one for that slope: expected = observed
        assert model.predict_from_margin(margin).sum() == pytest.approx(y.sum(), abs=1e-6)


class TestExpectedCalibrationError:
    def test_hand_worked_two_bins(self):
        # bins by rank: {0.1, 0.3} mean 0.2 vs observed 0; {0.6, 0.8} mean 0.7 vs observed 1
        # ECE = (2 * 0.2 + 2 * 0.3) / 4 = 0.25
        ece = expected_calibration_error([0, 0, 1, 1], [0.3, 0.1, 0.8, 0.6], bins=2)
        assert ece == pytest.approx(0.25)

    def test_small_when_calibrated_large_when_not(self, simulated):
        y, p = simulated
        assert expected_calibration_error(y, p) < 0.01
        assert expected_calibration_error(y, expit(logit(p) + 1.0)) > 0.1

    def test_bins_are_equal_frequency(self):
        table = calibration_bins(np.zeros(103), np.linspace(0, 1, 103), bins=10)
        assert table["n"].sum() == 103
        assert table["n"].max() - table["n"].min() <= 1
        assert table["predicted"].is_monotonic_increasing


# --------------------------------------------------------------------------- ranking


class TestAucInterval:
    def test_matches_sklearn_with_ties(self, simulated):
        y, p = simulated[0][:20_000], np.round(simulated[1][:20_000], 2)  # many tied scores
        auc, _, _ = auc_interval(y, p, n_boot=0)
        assert auc == pytest.approx(roc_auc_score(y, p), abs=1e-12)

    def test_interval_holds_the_estimate_and_narrows_with_n(self, simulated):
        y, p = simulated
        auc_small, low_small, high_small = auc_interval(y[:500], p[:500], n_boot=200, seed=1)
        auc_large, low_large, high_large = auc_interval(y[:50_000], p[:50_000], n_boot=200, seed=1)
        assert low_small < auc_small < high_small
        assert low_large < auc_large < high_large
        assert (high_large - low_large) < (high_small - low_small) / 3  # ~ 1/sqrt(100)

    def test_one_class_gives_nan_without_warnings(self):
        assert all(math.isnan(v) for v in auc_interval([0, 0, 0], [0.1, 0.2, 0.3]))

    def test_no_bootstrap_gives_nan_bounds(self):
        auc, low, high = auc_interval([0, 1, 0, 1], [0.1, 0.9, 0.3, 0.2], n_boot=0)
        assert auc == pytest.approx(0.75)  # pairs (pos, neg): 0.9>0.1, 0.9>0.3, 0.2>0.1, 0.2<0.3
        assert math.isnan(low) and math.isnan(high)


class TestCaptureCurve:
    def test_hand_worked_ranking(self):
        counts = [1, 0, 4, 0, 3, 0, 0, 2, 0, 0]  # 10 reoffences
        score = [0.4, 0.1, 0.9, 0.2, 0.8, 0.3, 0.05, 0.7, 0.15, 0.25]
        curve = capture_curve(counts, score, points=(0.1, 0.2, 0.3, 0.4, 0.5, 1.0))
        # ranked counts: 4, 3, 2, 1, 0, ... -> 40%, 70%, 90%, 100%, 100%, 100%
        assert curve["share_ranked"].tolist() == [0.1, 0.2, 0.3, 0.4, 0.5, 1.0]
        assert curve["share_captured"].tolist() == pytest.approx([0.4, 0.7, 0.9, 1.0, 1.0, 1.0])

    def test_worst_ranking_captures_nothing_until_the_end(self):
        counts = [10, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        score = np.arange(10, dtype=float)  # the only offender has the lowest score
        assert capture_at(counts, score, share=0.1) == 0.0
        assert capture_at(counts, score, share=0.9) == 0.0
        assert capture_at(counts, score, share=1.0) == 1.0

    def test_ties_keep_row_order(self):
        counts = [0, 5, 0, 0, 0, 0, 0, 0, 0, 5]
        assert capture_at(counts, np.ones(10), share=0.1) == 0.0  # row 0 comes first
        assert capture_at(counts, np.ones(10), share=0.2) == 0.5

    def test_monotone_and_whole_at_one(self, simulated):
        rng = np.random.default_rng(3)
        counts = rng.poisson(2 * simulated[1][:5000])
        curve = capture_curve(counts, simulated[1][:5000])
        assert np.all(np.diff(curve["share_captured"]) >= 0)
        assert capture_at(counts, simulated[1][:5000], share=1.0) == pytest.approx(1.0)
        assert curve["share_captured"].iloc[9] > 0.1  # a useful score beats a random order at 10%


def test_precision_at_capacity_hand_worked():
    y = [1, 0, 1, 0, 0]
    score = [0.9, 0.8, 0.7, 0.1, 0.2]
    assert precision_at(y, score, capacity=1) == 1.0
    assert precision_at(y, score, capacity=2) == 0.5
    assert precision_at(y, score, capacity=3) == pytest.approx(2 / 3)
    assert precision_at(y, score, capacity=50) == pytest.approx(2 / 5)  # fewer rows than places


# --------------------------------------------------------------------------- summaries


class TestBinaryMetrics:
    def test_figures_agree_with_sklearn_and_drop_missing_scores(self, simulated):
        y, p = simulated[0][:3000], simulated[1][:3000].copy()
        p[:100] = np.nan  # an unavailable score (as OGRS3) is evaluated where available
        m = binary_metrics(y, p, capacity=20, n_boot=50)
        ok = ~np.isnan(p)
        assert m["n"] == 2900
        assert m["prevalence"] == pytest.approx(y[ok].mean())
        assert m["auc"] == pytest.approx(roc_auc_score(y[ok], p[ok]))
        assert m["auc_low"] < m["auc"] < m["auc_high"]
        assert m["brier"] == pytest.approx(brier_score_loss(y[ok], p[ok]))
        assert m["log_loss"] == pytest.approx(log_loss(y[ok], p[ok]))
        assert m["mean_predicted"] == pytest.approx(p[ok].mean())
        top = np.argsort(-p[ok], kind="stable")[:20]
        assert m["precision_at_capacity"] == pytest.approx(y[ok][top].mean())

    def test_capture_uses_outcome_counts_when_given(self):
        y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0], dtype=float)
        p = np.array([0.9, 0.2, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
        counts = np.array([1, 9, 0, 0, 0, 0, 0, 0, 0, 0], dtype=float)
        assert binary_metrics(y, p, n_boot=0)["capture_at_10"] == pytest.approx(0.5)  # 1 of 2
        assert binary_metrics(y, p, outcome_count=counts, n_boot=0)["capture_at_10"] == pytest.approx(0.1)  # 1 of 10

    def test_one_class_gives_nan_ranking_figures_without_warnings(self):
        m = binary_metrics([0, 0, 0, 0], [0.1, 0.2, 0.3, 0.0], n_boot=10)
        assert math.isnan(m["auc"]) and math.isnan(m["calibration_slope"])
        assert m["brier"] == pytest.approx((0.01 + 0.04 + 0.09 + 0.0) / 4)
        assert np.isfinite(m["log_loss"])


def test_count_metrics_hand_worked():
    y, mu = [0, 1, 3], [0.5, 1.0, 1.5]
    m = count_metrics(y, mu, capacity=1)
    assert m["n"] == 3
    assert m["mean_observed"] == pytest.approx(4 / 3)
    assert m["mean_predicted"] == pytest.approx(1.0)
    assert m["calibration_ratio"] == pytest.approx(4 / 3)  # 4 observed / 3 expected
    assert m["mae"] == pytest.approx((0.5 + 0 + 1.5) / 3)
    # unit deviances: y=0: 2*mu = 1; y=mu: 0; y=3, mu=1.5: 2*(3 ln 2 - 1.5)
    assert m["poisson_deviance"] == pytest.approx((1 + 0 + 6 * math.log(2) - 3) / 3)
    assert m["poisson_deviance"] == pytest.approx(mean_poisson_deviance(y, mu))
    assert m["spearman"] == pytest.approx(1.0)  # same order
    # top 10% and 20% of 3 rows is the top row (3 of 4 reoffences)
    assert m["capture_at_10"] == pytest.approx(0.75)
    assert m["capture_at_20"] == pytest.approx(0.75)
    assert m["capture_at_capacity"] == pytest.approx(0.75)


def test_count_metrics_spearman_ranks_ties_by_their_mean_rank():
    # ranks of y: 1, 2.5, 2.5, 4; of mu: 1, 2, 3, 4; Pearson of the ranks = 4.5 / sqrt(4.5 * 5)
    m = count_metrics([0, 1, 1, 2], [1.0, 2.0, 3.0, 4.0])
    assert m["spearman"] == pytest.approx(4.5 / math.sqrt(4.5 * 5), abs=1e-12)


def test_count_metrics_floor_a_zero_expectation_instead_of_refusing_it():
    m = count_metrics([0, 1], [0.0, 1.0])
    # unit deviance of y=0 at mu=1e-12 is 2e-12, of y=mu is 0
    assert m["poisson_deviance"] == pytest.approx(1e-12, abs=1e-15)


def test_count_metrics_constant_prediction_has_no_rank_correlation():
    m = count_metrics([0, 2, 1], [1.0, 1.0, 1.0])
    assert math.isnan(m["spearman"])
    assert m["calibration_ratio"] == pytest.approx(1.0)


def test_compare_table_one_row_per_scorer():
    table = compare_table({"model": {"auc": 0.7, "n": 10.0}, "ogrs3": {"auc": 0.6, "n": 8.0, "coverage": 0.8}})
    assert table.index.tolist() == ["model", "ogrs3"]
    assert table.columns.tolist() == ["auc", "n", "coverage"]
    assert table.loc["ogrs3", "n"] == 8.0
    assert math.isnan(table.loc["model", "coverage"])


# --------------------------------------------------------------------------- figures


@pytest.fixture
def small(simulated):
    y, p = simulated[0][:2000], simulated[1][:2000]
    ogrs3 = np.where(np.arange(2000) % 10 == 0, np.nan, np.clip(p + 0.1, 0, 1))
    return y, {"model": p, "ogrs3": ogrs3}


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_roc_figure_one_curve_per_scorer_with_auc(small):
    from matplotlib.figure import Figure

    y, scores = small
    fig = roc_figure(y, scores, title="How well the score ranks people")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title() == "How well the score ranks people"
    assert len(ax.lines) == 3  # two scorers and the random-order diagonal
    ok = ~np.isnan(scores["ogrs3"])
    expected = f"ogrs3 (AUC {roc_auc_score(y[ok], scores['ogrs3'][ok]):.2f})"
    assert expected in _legend(ax)
    assert ax.get_xlabel() and ax.get_ylabel()
    assert figure_to_png_bytes(fig).startswith(PNG_MAGIC)


def test_roc_figure_skips_a_scorer_with_one_class():
    fig = roc_figure([0, 1, 0, 1], {"model": [0.1, 0.9, 0.2, 0.8], "empty": [np.nan, np.nan, 0.1, np.nan]}, title="t")
    assert len(fig.axes[0].lines) == 2
    assert any(text.startswith("empty") for text in _legend(fig.axes[0]))


def test_calibration_figure_points_per_bin(small):
    y, scores = small
    fig = calibration_figure(y, scores, bins=5, title="Predicted and observed rates")
    ax = fig.axes[0]
    assert ax.get_title() == "Predicted and observed rates"
    assert len(ax.lines) == 3  # two scorers and the diagonal
    assert all(len(line.get_xdata()) == 5 for line in ax.lines[:2])
    assert figure_to_png_bytes(fig).startswith(PNG_MAGIC)


def test_capture_figure_marks_ten_percent(small):
    y, scores = small
    fig = capture_figure(y, scores, title="Share of reoffences held by the top-ranked people")
    ax = fig.axes[0]
    assert len(ax.lines) == 4  # two scorers, random order, the 10% line
    assert [0.1, 0.1] in [list(line.get_xdata()) for line in ax.lines]
    assert any("top 10% hold" in text for text in _legend(ax))
    assert figure_to_png_bytes(fig).startswith(PNG_MAGIC)


def test_distribution_figure_bars_and_band_edges():
    p = np.random.default_rng(5).uniform(0, 1, 500)
    bands = ((0.0, "low"), (0.5, "medium"), (0.75, "high"), (0.9, "very high"))
    fig = distribution_figure(p, bands=bands, title="Chance of reoffending this month")
    ax = fig.axes[0]
    assert ax.get_title() == "Chance of reoffending this month"
    assert len(ax.patches) == 20
    assert sum(patch.get_height() for patch in ax.patches) == 500
    assert sorted(line.get_xdata()[0] for line in ax.lines) == [0.5, 0.75, 0.9]  # edges above 0
    assert [t.get_text() for t in ax.texts] == ["low", "medium", "high", "very\nhigh"]  # a narrow band's on two lines
    assert figure_to_png_bytes(fig).startswith(PNG_MAGIC)


def test_distribution_figure_without_scores_still_draws():
    fig = distribution_figure(np.array([np.nan]), title="No one released this month")
    assert figure_to_png_bytes(fig).startswith(PNG_MAGIC)


def test_figure_to_png_bytes_closes_a_pyplot_figure():
    import matplotlib.pyplot as plt

    fig = plt.figure()
    number = fig.number
    assert figure_to_png_bytes(fig).startswith(PNG_MAGIC)
    assert not plt.fignum_exists(number)


def test_plots_module_imports_matplotlib_only_inside_functions():
    import subprocess
    import sys

    code = "import sys, riskmodel.evaluation.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"  # its figure types are imported for type checkers only
