"""Fairness audit of a probability score by group (ethnicity, age band, ...).

Ethnicity is never a model feature; it is collected only for this audit. For each
grouping, :func:`fairness_audit` builds one table with :class:`fairlearn.metrics.MetricFrame`:
counts, prevalence, calibration, AUC, false positive and false negative rates at the
panel's threshold and selection rates, with groups too small to judge flagged (never
dropped). :func:`fairness_gaps` summarises each table as the spread between the largest
and smallest value over the groups big enough to judge, which the promotion gates check.
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
    "top_n_selection_rate",
)

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
    "prevalence",
    "mean_predicted",
    "auc",
    "calibration_in_the_large",
    "observed_to_expected",
    "false_positive_rate",
    "false_negative_rate",
    "selection_rate",
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
            prevalence,
            mean_predicted,
            auc_interval(y, p, n_boot=0)[0],
            mean_predicted - prevalence,
            float(y.sum()) / expected if expected > 0 else _NAN,
            false_positive_rate(y, predicted, pos_label=1) if has_negative else _NAN,
            false_negative_rate(y, predicted, pos_label=1) if has_positive else _NAN,
            selection_rate(y, predicted, pos_label=1),
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

    Returns
    -------
    dict of str to pandas.DataFrame
        Per grouping, indexed by group (age bands in age order, other groups sorted),
        columns ``count``, ``prevalence``, ``mean_predicted``, ``auc`` (NaN when a group
        has one class), ``calibration_in_the_large`` (mean predicted − prevalence),
        ``observed_to_expected`` (sum y / sum p), ``false_positive_rate`` and
        ``false_negative_rate`` (NaN when a group has no negatives, resp. positives),
        ``selection_rate`` (share with ``p >= threshold``), ``top_n_selection_rate``
        (share of the group within the overall top ``top_n``) and ``small_group``.
    """
    y = _binary(y, "y")
    n = len(y)
    if n == 0:
        raise ValueError("no rows to audit")
    p = _probability(p, n)
    selected = _top_n_flag(p, top_n) if top_n is not None else np.zeros(n, dtype=bool)
    metric = partial(_group_figures, threshold=threshold)
    columns = list(AUDIT_COLUMNS if top_n is not None else AUDIT_COLUMNS[:-1])

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
        table["count"] = table["count"].astype(int)
        table = table.reindex(_group_order(table.index))
        table.index.name = name
        table["small_group"] = table["count"] < min_group_size
        tables[name] = table
    return tables


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
        ``false_negative_rate``, ``top_n_selection_rate``), e.g.
        ``"ethnicity.false_positive_rate_gap"``. NaN when fewer than two big groups have
        the figure defined.
    """
    gaps: dict[str, float] = {}
    for name, table in tables.items():
        big = table[table["count"] >= min_group_size]
        for metric in GAP_METRICS:
            if metric not in table.columns:
                continue
            values = big[metric].dropna()
            gaps[f"{name}.{metric}_gap"] = float(values.max() - values.min()) if len(values) >= 2 else _NAN
    return gaps


def _standard_error(table: pd.DataFrame, metric: str) -> pd.Series:
    count, prevalence = table["count"].astype(float), table["prevalence"].astype(float)
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

    Keys ``"<grouping>.<figure>_gap_se"`` for false positive and negative rates and
    calibration-in-the-large; a gate can allow a few of them for sampling noise.
    """
    errors: dict[str, float] = {}
    for name, table in tables.items():
        big = table[table["count"] >= min_group_size]
        for metric in ("calibration_in_the_large", "false_positive_rate", "false_negative_rate"):
            if metric not in big.columns:
                continue
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
