"""Evaluation figures for riskmodel's scorers: discrimination, calibration and capture.

The same figures are computed for every scorer on a test period: the LightGBM model,
the logistic-regression baseline, OGRS3 and, on synthetic data, the oracle (the true
probabilities). Everything is vectorised over numpy arrays; a 300,000-row test set with
a 200-replicate bootstrap takes about a second.

Rows where the outcome or the score is NaN are left out of every figure (OGRS3 is
unavailable for some releases): the ``n`` a function reports is the number of rows
it used, so a scorer's coverage can be read beside its figures.

Binary targets (``reoffence``, ``harm``) are scored with :func:`binary_metrics`, the
count target (``frequency``) with :func:`count_metrics`; :func:`compare_table` lays the
scorers side by side.

Brier score, log loss, Poisson deviance and MAE are scikit-learn's, Spearman's correlation
scipy's; the AUC and its bootstrap are this module's own (O(n) per replicate over one
sort). :func:`fit_logistic_recalibration` is the one logistic fitter, shared with the
models' recalibration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import brentq
from scipy.special import expit, logit
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, mean_absolute_error, mean_poisson_deviance

__all__ = [
    "auc_interval",
    "binary_metrics",
    "calibration_bins",
    "calibration_intercept_slope",
    "capture_at",
    "capture_curve",
    "compare_table",
    "count_metrics",
    "expected_calibration_error",
    "fit_logistic_intercept",
    "fit_logistic_recalibration",
    "precision_at",
]

#: Probabilities are clipped to ``[PROBABILITY_CLIP, 1 - PROBABILITY_CLIP]`` before logits.
PROBABILITY_CLIP = 1e-6

#: Shares of rows ranked at which :func:`capture_curve` is read by default: 1%, 2%, ..., 100%.
CAPTURE_POINTS: tuple[float, ...] = tuple(round(k / 100, 2) for k in range(1, 101))

_NAN = float("nan")


# --------------------------------------------------------------------------- helpers


def _arrays(*values: ArrayLike) -> tuple[np.ndarray, ...]:
    """Float arrays of equal length, restricted to the rows where all are finite."""
    arrays = [np.asarray(v, dtype=float).ravel() for v in values]
    n = {len(a) for a in arrays}
    if len(n) > 1:
        raise ValueError(f"arrays of different lengths: {[len(a) for a in arrays]}")
    keep = np.ones(len(arrays[0]), dtype=bool)
    for a in arrays:
        keep &= np.isfinite(a)
    if keep.all():
        return tuple(arrays)
    return tuple(a[keep] for a in arrays)


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if len(x) else _NAN


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den != 0 else _NAN


def _two_classes(y: np.ndarray) -> bool:
    return len(y) > 0 and bool((y == 1).any()) and bool((y == 0).any())


def _descending(score: np.ndarray) -> np.ndarray:
    """Row order by score, highest first; ties keep row order."""
    return np.argsort(-score, kind="stable")


def _top_rows(share: float, n: int) -> int:
    """Rows in the top ``share`` of ``n``: rounded up, so any positive share holds a row."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must lie in [0, 1], got {share}")
    return int(min(n, np.ceil(share * n - 1e-9)))


class _AUCOrder:
    """Scores sorted once into tie groups, so weighted AUCs cost O(n) each."""

    def __init__(self, y: np.ndarray, p: np.ndarray):
        order = np.argsort(p, kind="stable")
        sorted_p = p[order]
        self.order = order
        self.positive = (y[order] == 1).astype(float)
        # first index of each run of equal scores
        self.starts = np.flatnonzero(np.r_[True, sorted_p[1:] != sorted_p[:-1]])

    def auc(self, w: np.ndarray | None = None) -> float:
        """AUC with weights ``w`` of the rows *in sorted order* (bootstrap counts)."""
        w = np.ones(len(self.order)) if w is None else w
        pos = w * self.positive
        neg = w - pos
        if len(self.starts) < len(w):  # sum within runs of tied scores
            pos, neg = np.add.reduceat(pos, self.starts), np.add.reduceat(neg, self.starts)
        n_pos, n_neg = pos.sum(), neg.sum()
        if n_pos == 0 or n_neg == 0:
            return _NAN
        neg_below = np.cumsum(neg) - neg
        return float(np.sum(pos * (neg_below + 0.5 * neg)) / (n_pos * n_neg))


# --------------------------------------------------------------------------- calibration


def fit_logistic_recalibration(y: ArrayLike, x: ArrayLike, *, tol: float = 1e-4) -> tuple[float, float]:
    """Logistic recalibration ``logit P(y=1) = intercept + slope·x``: the one logistic fitter.

    Both the model's recalibration (:class:`riskmodel.modelling.models.CalibratedModel`)
    and the calibration slope of :func:`calibration_intercept_slope` are fitted here, with
    scikit-learn's :class:`~sklearn.linear_model.LogisticRegression` (lbfgs, ``C=1e6``:
    unpenalised in effect).

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcomes (both classes present).
    x : array-like of float
        The one covariate: a model's margin, or the logit of a probability.
    tol : float, default 1e-4
        Stopping tolerance of lbfgs. scikit-learn's default, about 1e-4 from the exact
        maximum-likelihood fit, is what the models were recalibrated with (a tighter one
        would change every score); figures reported as metrics use 1e-10.

    Returns
    -------
    intercept, slope : float

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=20_000)
    >>> y = rng.binomial(1, expit(0.5 + 2.0 * x))
    >>> a, b = fit_logistic_recalibration(y, x, tol=1e-10)
    >>> bool(abs(a - 0.5) < 0.1 and abs(b - 2.0) < 0.1)
    True
    """
    x = np.asarray(x, dtype=float).reshape(-1, 1)
    fit = LogisticRegression(C=1e6, tol=tol, max_iter=1000).fit(x, np.asarray(y, dtype=float))
    return float(fit.intercept_[0]), float(fit.coef_[0, 0])


def fit_logistic_intercept(y: ArrayLike, offset: ArrayLike) -> float:
    """Intercept ``a`` of ``logit P(y=1) = a + offset`` (the offset's coefficient fixed at 1).

    The maximum-likelihood ``a`` makes the expected count equal the observed one,
    ``sum expit(a + offset) = sum y``: one monotone equation, solved with
    :func:`scipy.optimize.brentq`. NaN when ``y`` holds one class only.

    Examples
    --------
    >>> round(fit_logistic_intercept([0, 1, 1, 1], np.zeros(4)), 6) == round(float(np.log(3)), 6)
    True
    """
    y, offset = _arrays(y, offset)
    if not _two_classes(y):
        return _NAN
    observed = float(y.sum())
    low, high = -60.0 - offset.max(), 60.0 - offset.min()  # below: every expit near 0; above: near 1
    return float(brentq(lambda a: float(expit(a + offset).sum()) - observed, low, high, xtol=1e-12, rtol=1e-15))


def calibration_intercept_slope(y: ArrayLike, p: ArrayLike) -> tuple[float, float]:
    """Calibration-in-the-large intercept and calibration slope of probabilities.

    The slope is ``b`` in the logistic recalibration ``logit P(y=1) = a + b·logit(p)``;
    the intercept is ``a`` in ``logit P(y=1) = a + logit(p)`` (slope fixed at 1, i.e.
    calibration-in-the-large). Both are maximum-likelihood fits (see
    :func:`fit_logistic_intercept` and :func:`fit_logistic_recalibration`).

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcomes.
    p : array-like of float
        Predicted probabilities; clipped to ``[1e-6, 1 - 1e-6]``.

    Returns
    -------
    intercept, slope : float
        ``(0, 1)`` for perfect calibration. A slope below 1 means predictions are too
        extreme (overfitting), above 1 too timid; a negative intercept means predicted
        probabilities are too high on average. NaN when ``y`` holds one class only (and
        the slope is NaN when all ``p`` are equal).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.95, 50_000)
    >>> y = rng.binomial(1, p)
    >>> a, b = calibration_intercept_slope(y, p)
    >>> bool(abs(a) < 0.05 and abs(b - 1) < 0.05)
    True
    """
    y, p = _arrays(y, p)
    if not _two_classes(y):
        return _NAN, _NAN
    x = logit(np.clip(p, PROBABILITY_CLIP, 1 - PROBABILITY_CLIP))
    intercept = fit_logistic_intercept(y, x)
    if np.ptp(x) == 0:
        return intercept, _NAN
    _, slope = fit_logistic_recalibration(y, x, tol=1e-10)
    return intercept, slope


def calibration_bins(y: ArrayLike, p: ArrayLike, *, bins: int = 10) -> pd.DataFrame:
    """Mean predicted and observed rates in equal-frequency bins of the score.

    Rows are sorted by ``p`` and cut into ``bins`` groups of (as nearly as possible)
    equal size; the points of a reliability diagram.

    Parameters
    ----------
    y : array-like
        Observed outcomes (0/1, or counts).
    p : array-like
        Predictions on the same scale as ``y``.
    bins : int, default 10
        Number of bins (fewer when there are fewer rows).

    Returns
    -------
    pandas.DataFrame
        Columns ``predicted`` (mean of ``p``), ``observed`` (mean of ``y``) and ``n``,
        one row per bin from the lowest scores to the highest.
    """
    y, p = _arrays(y, p)
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    n = len(y)
    k = min(bins, n)
    if k == 0:
        return pd.DataFrame({"predicted": [], "observed": [], "n": pd.Series([], dtype=int)})
    order = np.argsort(p, kind="stable")
    # the same cut as np.array_split: the first n % k bins hold one extra row
    sizes = np.full(k, n // k) + (np.arange(k) < n % k)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    return pd.DataFrame(
        {
            "predicted": np.add.reduceat(p[order], starts) / sizes,
            "observed": np.add.reduceat(y[order], starts) / sizes,
            "n": sizes.astype(int),
        }
    )


def expected_calibration_error(y: ArrayLike, p: ArrayLike, *, bins: int = 10) -> float:
    """Expected calibration error over equal-frequency bins.

    The mean over bins of ``|mean(p) − mean(y)|``, weighted by the rows in each bin
    (see :func:`calibration_bins`).

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcomes.
    p : array-like of float
        Predicted probabilities.
    bins : int, default 10
        Number of quantile bins.

    Returns
    -------
    float
        0 for perfect calibration within bins; NaN with no rows.
    """
    table = calibration_bins(y, p, bins=bins)
    if table.empty:
        return _NAN
    gap = np.abs(table["predicted"].to_numpy() - table["observed"].to_numpy())
    return float(np.sum(gap * table["n"].to_numpy()) / table["n"].sum())


# --------------------------------------------------------------------------- ranking


def auc_interval(
    y: ArrayLike, p: ArrayLike, *, n_boot: int = 200, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """AUC with a percentile bootstrap interval.

    Ties in ``p`` count one half, as in :func:`sklearn.metrics.roc_auc_score`. Each
    bootstrap replicate resamples rows with replacement; its AUC is computed from
    per-row counts over one pre-sorted order, so a replicate costs O(n).

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcomes.
    p : array-like of float
        Scores (higher means more likely ``y == 1``).
    n_boot : int, default 200
        Bootstrap replicates; 0 skips the interval (its bounds are NaN).
    seed : int, default 0
        Seed of the resampling.
    level : float, default 0.95
        Coverage of the interval.

    Returns
    -------
    auc, low, high : float
        All NaN when ``y`` holds one class only. Replicates that draw one class only
        are left out of the interval.
    """
    y, p = _arrays(y, p)
    if not _two_classes(y):
        return _NAN, _NAN, _NAN
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    ranked = _AUCOrder(y, p)
    auc = ranked.auc()
    if n_boot <= 0:
        return auc, _NAN, _NAN
    rng = np.random.default_rng(seed)
    n = len(y)
    # How often each row is drawn does not depend on where the row sits, so the counts
    # are drawn straight in sorted order.
    draws = (np.bincount(rng.integers(0, n, n), minlength=n).astype(float) for _ in range(n_boot))
    replicates = np.array([ranked.auc(counts) for counts in draws])
    replicates = replicates[np.isfinite(replicates)]
    if len(replicates) == 0:
        return auc, _NAN, _NAN
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return auc, float(low), float(high)


def capture_curve(
    outcome_count: ArrayLike, score: ArrayLike, *, points: Sequence[float] = CAPTURE_POINTS
) -> pd.DataFrame:
    """Share of all outcomes held by the top-ranked share of rows.

    Rows are ranked by ``score``, highest first (ties keep row order); the top ``k``
    share is ``ceil(k·n)`` rows. This is the "10% of offenders commit 50% of crime"
    figure: ``share_captured`` at ``share_ranked == 0.1``.

    Parameters
    ----------
    outcome_count : array-like of float
        Outcome per row (a count of reoffences, or 0/1).
    score : array-like of float
        Ranking score.
    points : sequence of float, default 0.01, 0.02, ..., 1.0
        Shares of rows ranked at which to read the curve, each in ``[0, 1]``.

    Returns
    -------
    pandas.DataFrame
        Columns ``share_ranked`` and ``share_captured``; ``share_captured`` is NaN when
        the outcomes sum to zero.

    Examples
    --------
    >>> capture_curve([0, 3, 1, 0], [0.1, 0.9, 0.5, 0.2], points=(0.25, 0.5, 1.0))
       share_ranked  share_captured
    0          0.25            0.75
    1          0.50            1.00
    2          1.00            1.00
    """
    count, score = _arrays(outcome_count, score)
    shares = np.asarray(points, dtype=float)
    n = len(count)
    rows = np.array([_top_rows(s, n) for s in shares], dtype=int)
    total = count.sum()
    if n == 0 or total == 0:
        captured = np.full(len(shares), np.nan)
    else:
        cumulative = np.r_[0.0, np.cumsum(count[_descending(score)])]
        captured = cumulative[rows] / total
    return pd.DataFrame({"share_ranked": shares, "share_captured": captured})


def capture_at(outcome_count: ArrayLike, score: ArrayLike, *, share: float) -> float:
    """Share of all outcomes held by the top ``share`` of rows ranked by ``score``.

    One point of :func:`capture_curve`; ``capture_at(c, s, share=1.0) == 1`` whenever
    the outcomes sum to more than zero.

    Parameters
    ----------
    outcome_count : array-like of float
        Outcome per row.
    score : array-like of float
        Ranking score.
    share : float
        Share of rows ranked, in ``[0, 1]``.

    Returns
    -------
    float
    """
    return float(capture_curve(outcome_count, score, points=(share,))["share_captured"].iloc[0])


def precision_at(y: ArrayLike, score: ArrayLike, *, capacity: int) -> float:
    """Share of ``y == 1`` among the ``capacity`` highest-scored rows.

    What the panel gets from working with as many people as it has places for. Ties
    keep row order; with fewer rows than ``capacity`` all rows are used.

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcomes.
    score : array-like of float
        Ranking score.
    capacity : int
        Places available (at least 1).

    Returns
    -------
    float
        NaN with no rows.
    """
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1, got {capacity}")
    y, score = _arrays(y, score)
    top = _descending(score)[:capacity]
    return _mean(y[top] == 1)


# --------------------------------------------------------------------------- summaries


def binary_metrics(
    y: ArrayLike,
    p: ArrayLike,
    *,
    outcome_count: ArrayLike | None = None,
    capacity: int = 100,
    n_boot: int = 200,
    seed: int = 0,
) -> dict[str, float]:
    """All figures of a probability for a binary outcome.

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcomes.
    p : array-like of float
        Predicted probabilities. Rows where ``y`` or ``p`` is NaN are left out.
    outcome_count : array-like of float, optional
        Count per row for ``capture_at_10`` (e.g. number of reoffences); ``y`` if omitted.
    capacity : int, default 100
        Places for ``precision_at_capacity``.
    n_boot, seed : int
        Bootstrap of the AUC interval (see :func:`auc_interval`).

    Returns
    -------
    dict[str, float]
        ``n``, ``prevalence``, ``auc``, ``auc_low``, ``auc_high``, ``brier``,
        ``log_loss``, ``calibration_intercept``, ``calibration_slope``, ``ece``,
        ``mean_predicted``, ``precision_at_capacity``, ``capture_at_10``.
    """
    count = np.asarray(y, dtype=float) if outcome_count is None else outcome_count
    y, p, count = _arrays(y, p, count)
    auc, low, high = auc_interval(y, p, n_boot=n_boot, seed=seed, level=0.95)
    intercept, slope = calibration_intercept_slope(y, p)
    return {
        "n": float(len(y)),
        "prevalence": _mean(y),
        "auc": auc,
        "auc_low": low,
        "auc_high": high,
        "brier": float(brier_score_loss(y, p)) if len(y) else _NAN,
        # scikit-learn clips p to [eps, 1 - eps] of float64, as before
        "log_loss": float(log_loss(y, p, labels=[0, 1])) if len(y) else _NAN,
        "calibration_intercept": intercept,
        "calibration_slope": slope,
        "ece": expected_calibration_error(y, p, bins=10),
        "mean_predicted": _mean(p),
        "precision_at_capacity": precision_at(y, p, capacity=capacity),
        "capture_at_10": capture_at(count, p, share=0.10),
    }


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    # scipy warns and answers NaN for a constant input: say NaN without the warning
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return _NAN
    return float(spearmanr(a, b).statistic)


def count_metrics(y_count: ArrayLike, mu: ArrayLike, *, capacity: int = 100) -> dict[str, float]:
    """All figures of an expected count (the ``frequency`` target).

    Parameters
    ----------
    y_count : array-like of float
        Observed counts (proven reoffences per release).
    mu : array-like of float
        Expected counts (positive). Rows where either is NaN are left out.
    capacity : int, default 100
        Places for ``capture_at_capacity``.

    Returns
    -------
    dict[str, float]
        ``n``, ``mean_observed``, ``mean_predicted``, ``poisson_deviance`` (mean unit
        deviance ``2·(y·log(y/mu) − (y − mu))``), ``mae``, ``capture_at_10``,
        ``capture_at_20``, ``capture_at_capacity`` (share of all reoffences held by the
        ``capacity`` highest-ranked rows), ``spearman`` (rank correlation) and
        ``calibration_ratio`` (sum observed / sum predicted).
    """
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1, got {capacity}")
    y, mu = _arrays(y_count, mu)
    n = len(y)
    return {
        "n": float(n),
        "mean_observed": _mean(y),
        "mean_predicted": _mean(mu),
        # scikit-learn refuses a zero expectation: floor it as before
        "poisson_deviance": float(mean_poisson_deviance(y, np.maximum(mu, 1e-12))) if n else _NAN,
        "mae": float(mean_absolute_error(y, mu)) if n else _NAN,
        "capture_at_10": capture_at(y, mu, share=0.10),
        "capture_at_20": capture_at(y, mu, share=0.20),
        "capture_at_capacity": capture_at(y, mu, share=min(capacity, n) / n) if n else _NAN,
        "spearman": _spearman(y, mu),
        "calibration_ratio": _ratio(y.sum(), mu.sum()),
    }


def compare_table(rows: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Scorers side by side: one row per scorer, one column per figure.

    Parameters
    ----------
    rows : mapping of str to mapping of str to float
        Figures per scorer, e.g. ``{"model": binary_metrics(...), "ogrs3": ...}``.

    Returns
    -------
    pandas.DataFrame
        Index ``scorer`` in the order given; columns in the order they first appear;
        a figure a scorer lacks is NaN. ``.to_markdown()`` or ``.to_html()`` renders it.
    """
    columns: list[str] = []
    for figures in rows.values():
        columns.extend(k for k in figures if k not in columns)
    records = [{k: figures.get(k, _NAN) for k in columns} for figures in rows.values()]
    table = pd.DataFrame(records, index=list(rows), columns=columns)
    table.index.name = "scorer"
    return table


def period_figures(y: ArrayLike, score: ArrayLike, *, binary: bool) -> dict[str, float]:
    """A period's short figures (a row of a rolling-origin evaluation's per-period table).

    Parameters
    ----------
    y : array-like
        Observed outcomes (0/1, or counts when ``binary`` is False).
    score : array-like
        Predicted probabilities (or expected counts).
    binary : bool
        Probability of a binary outcome (True) or expected count (False).

    Returns
    -------
    dict[str, float]
        ``n``, ``events`` (positives, or the total count), ``observed_mean``,
        ``predicted_mean``, ``calibration_in_the_large`` (observed minus predicted mean),
        ``auc`` (of any outcome, for a count), and ``brier`` (binary) or
        ``calibration_ratio`` (count: observed over predicted total).
    """
    y, score = _arrays(y, score)
    any_event = (y > 0).astype(float)
    out = {
        "n": float(len(y)),
        "events": float(y.sum()),
        "observed_mean": _mean(y),
        "predicted_mean": _mean(score),
        "calibration_in_the_large": _mean(y) - _mean(score),
        "auc": _AUCOrder(any_event, score).auc() if _two_classes(any_event) else _NAN,
    }
    if binary:
        out["brier"] = float(brier_score_loss(y, score)) if len(y) else _NAN
    else:
        out["calibration_ratio"] = _ratio(y.sum(), score.sum())
    return out
