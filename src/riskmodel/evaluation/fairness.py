"""Fairness audit of a probability score by group (ethnicity, age band, ...).

Ethnicity is never a model feature; it is collected only for this audit. For each
grouping, :func:`fairness_audit` builds one table with :class:`fairlearn.metrics.MetricFrame`:
counts, prevalence, calibration, AUC, false positive and false negative rates at the
panel's threshold and selection rates, with groups too small to judge flagged (never
dropped). A rate is judged on what it is computed from: a false negative rate needs
enough positives in the group, a false positive rate enough negatives, a selection rate
enough selected people; the table flags each shortfall. :func:`count_audit` audits a
count model (frequency) on what it predicts: observed against expected reoffences per
group. :func:`fairness_gaps` summarises each table as the spread between the largest
and smallest value over the groups that can judge it, which the promotion gates check,
and :func:`fairness_gap_errors` gives each gap's standard error.
:func:`nij_fairness_index` is the NIJ Recidivism Forecasting Challenge's score.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, count, false_negative_rate, false_positive_rate, selection_rate
from numpy.typing import ArrayLike
from sklearn.metrics import brier_score_loss

from riskmodel.evaluation.metrics import auc_interval

__all__ = [
    "AGE_BANDS",
    "AUDIT_COLUMNS",
    "GAP_METRICS",
    "age_band",
    "count_audit",
    "fairness_audit",
    "fairness_gaps",
    "fairness_gap_errors",
    "nij_fairness_index",
]

#: Age bands at release: (lowest age of the band, label).
AGE_BANDS: tuple[tuple[float, str], ...] = (
    (-np.inf, "<18"),
    (18, "18-20"),
    (21, "21-24"),
    (25, "25-29"),
    (30, "30-39"),
    (40, "40-49"),
    (50, "50+"),
)

#: Label of a missing group value (missing ethnicity or age).
UNKNOWN = "unknown"

#: Columns of an audit table whose spread between groups :func:`fairness_gaps` reports.
GAP_METRICS: tuple[str, ...] = (
    "auc",
    "calibration_in_the_large",
    "false_positive_rate",
    "false_negative_rate",
    "selection_rate",
    "top_n_selection_rate",
    "observed_to_expected",
)

#: What each rate is computed from: the column of counts in an audit table, and the flag
#: column that marks a group with too few of them to judge the rate. Figures not listed
#: are judged on groups of the minimum size.
RATE_BASES: dict[str, tuple[str, str]] = {
    "false_negative_rate": ("positives", "few_positives"),
    "false_positive_rate": ("negatives", "few_negatives"),
    "selection_rate": ("selected", "few_selected"),
    "top_n_selection_rate": ("top_n_selected", "few_top_n_selected"),
    "observed_to_expected": ("positives", "few_positives"),
}

_NAN = float("nan")


def age_band(age: ArrayLike) -> np.ndarray:
    """Age band of each age: ``"<18"``, ``"18-20"``, ``"21-24"``, ``"25-29"``, ``"30-39"``, ``"40-49"``, ``"50+"``.

    Parameters
    ----------
    age : array-like of float
        Age in years (fractions allowed: 20.9 is in ``"18-20"``). NaN gives ``"unknown"``.

    Returns
    -------
    numpy.ndarray of str (object dtype)

    Examples
    --------
    >>> age_band([17, 18, 20.9, 21, 49, 50, float("nan")]).tolist()
    ['<18', '18-20', '18-20', '21-24', '40-49', '50+', 'unknown']
    """
    age = np.asarray(pd.to_numeric(pd.Series(np.asarray(age).ravel()), errors="coerce"), dtype=float)
    edges = np.array([lower for lower, _ in AGE_BANDS[1:]])
    labels = np.array([label for _, label in AGE_BANDS] + [UNKNOWN], dtype=object)
    index = np.searchsorted(edges, age, side="right")
    index[np.isnan(age)] = len(AGE_BANDS)
    return labels[index]


# --------------------------------------------------------------------------- per-group figures
# MetricFrame turns every metric's y_true and y_pred into arrays row by row, a cost of
# about a microsecond per row and metric; one metric that returns every figure keeps a
# 300,000-row audit near a second per grouping instead of ten.

#: Columns of an audit table before ``small_group`` (``top_n_selection_rate`` only with ``top_n``).
AUDIT_COLUMNS: tuple[str, ...] = (
    "count",
    "positives",
    "negatives",
    "selected",
    "prevalence",
    "mean_predicted",
    "auc",
    "calibration_in_the_large",
    "observed_to_expected",
    "false_positive_rate",
    "false_negative_rate",
    "selection_rate",
    "top_n_selected",
    "top_n_selection_rate",
)


def _group_figures(y_true: ArrayLike, y_pred: ArrayLike, *, selected: ArrayLike, threshold: float) -> np.ndarray:
    """Every figure of :data:`AUDIT_COLUMNS` for one group, in that order."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    predicted = (p >= threshold).astype(int)
    prevalence, mean_predicted, expected = float(y.mean()), float(p.mean()), float(p.sum())
    # the rates are undefined (not zero) for a group without negatives, resp. positives
    has_negative, has_positive = bool((y == 0).any()), bool((y == 1).any())
    return np.array(
        [
            count(y, predicted),
            float((y == 1).sum()),
            float((y == 0).sum()),
            float(predicted.sum()),
            prevalence,
            mean_predicted,
            auc_interval(y, p, n_boot=0)[0],
            mean_predicted - prevalence,
            float(y.sum()) / expected if expected > 0 else _NAN,
            false_positive_rate(y, predicted, pos_label=1) if has_negative else _NAN,
            false_negative_rate(y, predicted, pos_label=1) if has_positive else _NAN,
            selection_rate(y, predicted, pos_label=1),
            float(np.sum(selected)),
            float(np.mean(selected)),
        ],
        dtype=float,
    )


def _binary(y: ArrayLike, name: str) -> np.ndarray:
    y = np.asarray(y, dtype=float).ravel()
    if np.isnan(y).any() or not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"{name} must hold only 0 and 1 (no missing values)")
    return y


def _probability(p: ArrayLike, n: int) -> np.ndarray:
    p = np.asarray(p, dtype=float).ravel()
    if len(p) != n:
        raise ValueError(f"p has {len(p)} rows, y has {n}")
    if np.isnan(p).any():
        raise ValueError("p holds missing values; audit only rows that were scored")
    return p


def _group_labels(values: ArrayLike, name: str, n: int) -> pd.Series:
    values = pd.Series(np.asarray(values, dtype=object).ravel(), name=name)
    if len(values) != n:
        raise ValueError(f"group {name!r} has {len(values)} rows, y has {n}")
    return values.where(values.notna(), UNKNOWN).astype(str)


def _top_n_flag(p: np.ndarray, top_n: int) -> np.ndarray:
    """True for the ``top_n`` highest ``p`` (ties keep row order)."""
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}")
    flag = np.zeros(len(p), dtype=bool)
    flag[np.argsort(-p, kind="stable")[:top_n]] = True
    return flag


def fairness_audit(
    y: ArrayLike,
    p: ArrayLike,
    *,
    groups: Mapping[str, object],
    threshold: float,
    top_n: int | None = None,
    min_group_size: int = 30,
    min_positives: int = 0,
    min_negatives: int = 0,
    min_selected: int = 0,
) -> dict[str, pd.DataFrame]:
    """One table of figures by group for each grouping, built with fairlearn's MetricFrame.

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcomes (no missing values).
    p : array-like of float
        Predicted probabilities (no missing values).
    groups : mapping of str to array-like
        Group of each row per grouping, e.g. ``{"ethnicity": ..., "age_band": ...}``.
        Missing values form the group ``"unknown"``.
    threshold : float
        A row is predicted positive when ``p >= threshold``.
    top_n : int, optional
        Size of the panel's list: the ``top_n`` rows with the highest ``p`` overall
        (ties keep row order). Without it the ``top_n_selection_rate`` column is omitted.
    min_group_size : int, default 30
        Groups with fewer rows are flagged ``small_group``; their figures are too
        noisy to judge but still shown.
    min_positives, min_negatives, min_selected : int, default 0
        Groups with fewer positives (what a false negative rate and observed/expected
        are computed from), negatives (false positive rate), or selected people
        (selection rate; top-``top_n`` members for ``top_n_selection_rate``) are flagged
        ``few_positives``, ``few_negatives``, ``few_selected`` (``few_top_n_selected``):
        :func:`fairness_gaps` leaves them out of that rate's gap.

    Returns
    -------
    dict of str to pandas.DataFrame
        Per grouping, indexed by group (age bands in age order, other groups sorted),
        columns ``count``, ``positives``, ``negatives``, ``selected`` (``p >= threshold``),
        ``prevalence``, ``mean_predicted``, ``auc`` (NaN when a group
        has one class), ``calibration_in_the_large`` (mean predicted − prevalence),
        ``observed_to_expected`` (sum y / sum p), ``false_positive_rate`` and
        ``false_negative_rate`` (NaN when a group has no negatives, resp. positives),
        ``selection_rate`` (share with ``p >= threshold``), ``top_n_selected`` and
        ``top_n_selection_rate`` (members, and share of the group, within the overall top
        ``top_n``), then the flags ``small_group``, ``few_positives``, ``few_negatives``,
        ``few_selected`` (and ``few_top_n_selected``).
    """
    y = _binary(y, "y")
    n = len(y)
    if n == 0:
        raise ValueError("no rows to audit")
    p = _probability(p, n)
    selected = _top_n_flag(p, top_n) if top_n is not None else np.zeros(n, dtype=bool)
    metric = partial(_group_figures, threshold=threshold)
    columns = [c for c in AUDIT_COLUMNS if top_n is not None or not c.startswith("top_n")]

    tables: dict[str, pd.DataFrame] = {}
    for name, values in groups.items():
        labels = _group_labels(values, name, n)
        frame = MetricFrame(
            metrics={"figures": metric},
            y_true=y,
            y_pred=p,
            sensitive_features=labels,
            sample_params={"figures": {"selected": selected}},
        )
        by_group = frame.by_group["figures"]
        table = pd.DataFrame(np.vstack(by_group.to_numpy()), index=by_group.index, columns=AUDIT_COLUMNS)[columns]
        counted = [c for c in ("count", "positives", "negatives", "selected", "top_n_selected") if c in table]
        table[counted] = table[counted].astype(int)
        table = table.reindex(_group_order(table.index))
        table.index.name = name
        table["small_group"] = table["count"] < min_group_size
        table["few_positives"] = table["positives"] < min_positives
        table["few_negatives"] = table["negatives"] < min_negatives
        table["few_selected"] = table["selected"] < min_selected
        if top_n is not None:
            table["few_top_n_selected"] = table["top_n_selected"] < min_selected
        tables[name] = table
    return tables


def count_audit(
    counts: ArrayLike,
    expected: ArrayLike,
    *,
    groups: Mapping[str, object],
    min_group_size: int = 30,
    min_events: int = 0,
) -> dict[str, pd.DataFrame]:
    """Observed against expected counts per group, for a count model (frequency).

    A count model predicts a number of reoffences, so it is audited on that: in each
    group, the reoffences observed against the sum of the predicted rates. A ratio above 1
    means the group's reoffending is under-predicted.

    Parameters
    ----------
    counts : array-like of float
        Observed number of reoffences per release (no missing values).
    expected : array-like of float
        Predicted expected number per release (no missing values).
    groups : mapping of str to array-like
        Group of each row per grouping; missing values form the group ``"unknown"``.
    min_group_size : int, default 30
        Groups with fewer rows are flagged ``small_group``.
    min_events : int, default 0
        Groups with fewer observed reoffences are flagged ``few_positives``: the ratio's
        standard error is about ratio / sqrt(observed), too wide to judge below it.

    Returns
    -------
    dict of str to pandas.DataFrame
        Per grouping, indexed by group: ``count``, ``positives`` (observed reoffences),
        ``expected`` (sum of predictions), ``observed_to_expected``, ``mean_observed``,
        ``mean_predicted``, ``small_group``, ``few_positives``.

    Examples
    --------
    >>> table = count_audit([0, 2, 1, 1], [0.5, 0.5, 1.0, 1.0], groups={"g": ["a", "a", "b", "b"]})["g"]
    >>> table["observed_to_expected"].tolist()
    [2.0, 1.0]
    """
    y = np.asarray(counts, dtype=float).ravel()
    mu = np.asarray(expected, dtype=float).ravel()
    if len(y) == 0:
        raise ValueError("no rows to audit")
    if len(mu) != len(y):
        raise ValueError(f"expected has {len(mu)} rows, counts {len(y)}")
    if np.isnan(y).any() or np.isnan(mu).any() or (y < 0).any() or (mu < 0).any():
        raise ValueError("counts and expected must be non-negative numbers (no missing values)")
    tables: dict[str, pd.DataFrame] = {}
    for name, values in groups.items():
        labels = _group_labels(values, name, len(y))
        frame = pd.DataFrame({"group": labels, "y": y, "mu": mu})
        by = frame.groupby("group", sort=False)
        table = pd.DataFrame(
            {
                "count": by.size().astype(int),
                "positives": by["y"].sum(),
                "expected": by["mu"].sum(),
                "mean_observed": by["y"].mean(),
                "mean_predicted": by["mu"].mean(),
            }
        )
        table.insert(3, "observed_to_expected", table["positives"] / table["expected"].where(table["expected"] > 0))
        table = table.reindex(_group_order(table.index))
        table.index.name = name
        table["small_group"] = table["count"] < min_group_size
        table["few_positives"] = table["positives"] < min_events
        tables[name] = table
    return tables


def _judged(table: pd.DataFrame, metric: str, min_group_size: int) -> pd.DataFrame:
    """The groups that can judge ``metric``: big enough, and with enough of its base."""
    keep = table["count"] >= min_group_size
    flag = RATE_BASES.get(metric, ("", ""))[1]
    if flag in table.columns:
        keep &= ~table[flag].astype(bool)
    return table[keep]


def _group_order(index: pd.Index) -> list:
    order = [label for _, label in AGE_BANDS] + [UNKNOWN]
    if set(index) <= set(order):
        return [label for label in order if label in set(index)]
    return sorted(index)


def fairness_gaps(tables: Mapping[str, pd.DataFrame], *, min_group_size: int = 30) -> dict[str, float]:
    """Largest minus smallest value of each audited figure over groups big enough to judge.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        The output of :func:`fairness_audit`.
    min_group_size : int, default 30
        Only groups with at least this many rows are compared.

    Returns
    -------
    dict of str to float
        Keys ``"<grouping>.<figure>_gap"`` for each figure of :data:`GAP_METRICS` in the
        table (``auc``, ``calibration_in_the_large``, ``false_positive_rate``,
        ``false_negative_rate``, ``selection_rate``, ``top_n_selection_rate``,
        ``observed_to_expected``), e.g. ``"ethnicity.false_positive_rate_gap"``. NaN when
        fewer than two groups can judge the figure: at least ``min_group_size`` rows, and
        not flagged as having too few of what the rate is computed from (:data:`RATE_BASES`).
    """
    gaps: dict[str, float] = {}
    for name, table in tables.items():
        for metric in GAP_METRICS:
            if metric not in table.columns:
                continue
            values = _judged(table, metric, min_group_size)[metric].dropna()
            gaps[f"{name}.{metric}_gap"] = float(values.max() - values.min()) if len(values) >= 2 else _NAN
    return gaps


def _standard_error(table: pd.DataFrame, metric: str) -> pd.Series:
    count = table["count"].astype(float)
    if metric == "observed_to_expected":  # Poisson: sd of the observed count is about its square root
        if "expected" in table.columns:
            observed, expected = table["positives"].astype(float), table["expected"].astype(float)
        else:
            observed, expected = count * table["prevalence"], count * table["mean_predicted"]
        return np.sqrt(observed.clip(lower=1)) / expected.where(expected > 0)
    prevalence = table["prevalence"].astype(float)
    if metric == "false_positive_rate":
        rate, base = table[metric], count * (1 - prevalence)
    elif metric == "false_negative_rate":
        rate, base = table[metric], count * prevalence
    elif metric == "calibration_in_the_large":
        rate, base = prevalence, count
    else:
        return pd.Series(np.nan, index=table.index)
    return np.sqrt(rate * (1 - rate) / base.clip(lower=1))


def fairness_gap_errors(tables: Mapping[str, pd.DataFrame], *, min_group_size: int = 30) -> dict[str, float]:
    """Standard error of each gap of :func:`fairness_gaps` (binomial, the two extreme groups).

    Keys ``"<grouping>.<figure>_gap_se"`` for false positive and negative rates,
    calibration-in-the-large and observed/expected, over the same groups as the gap; a
    gate allows a few of them for sampling noise, and ± 1.96 of them is the gap's 95%
    interval.
    """
    errors: dict[str, float] = {}
    for name, table in tables.items():
        for metric in (
            "calibration_in_the_large",
            "false_positive_rate",
            "false_negative_rate",
            "observed_to_expected",
        ):
            if metric not in table.columns:
                continue
            big = _judged(table, metric, min_group_size)
            values = big[metric].dropna()
            if len(values) < 2:
                errors[f"{name}.{metric}_gap_se"] = _NAN
                continue
            se = _standard_error(big.loc[values.index], metric)
            errors[f"{name}.{metric}_gap_se"] = float(np.hypot(se[values.idxmax()], se[values.idxmin()]))
    return errors


def nij_fairness_index(y: ArrayLike, p: ArrayLike, *, race: ArrayLike) -> float:
    """The NIJ Recidivism Forecasting Challenge's fairness-penalised accuracy.

    ``(1 − Brier) × (1 − |FPR_Black − FPR_White|)``, the Brier score over all rows and
    the false positive rates at ``p >= 0.5`` (the challenge's cutoff).

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcomes.
    p : array-like of float
        Predicted probabilities.
    race : array-like of str
        Race of each row; ``"Black"`` and ``"White"`` (any case) are compared, other
        values count towards the Brier score only.

    Returns
    -------
    float
        Between 0 and 1, higher is better. NaN when either group has no negatives.

    Examples
    --------
    >>> nij_fairness_index([0, 0, 0, 0], [0.6, 0.2, 0.2, 0.2], race=["Black", "Black", "White", "White"])
    0.44
    """
    y = _binary(y, "y")
    p = _probability(p, len(y))
    race = pd.Series(np.asarray(race, dtype=object).ravel()).astype("string").str.strip().str.lower()
    if len(race) != len(y):
        raise ValueError(f"race has {len(race)} rows, y has {len(y)}")
    if len(y) == 0:
        return _NAN
    brier = float(brier_score_loss(y, p))
    rates = []
    for group in ("black", "white"):
        mask = (race == group).fillna(False).to_numpy(dtype=bool)
        negatives = y[mask] == 0
        # undefined (NaN) without negatives; fairlearn's rate would read 0
        flagged = (p[mask] >= 0.5).astype(int)
        rates.append(false_positive_rate(y[mask], flagged, pos_label=1) if negatives.any() else _NAN)
    return float((1 - brier) * (1 - abs(rates[0] - rates[1])))
