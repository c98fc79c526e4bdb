"""OGRS3 reference scorer: the public Offender Group Reconviction Scale v3 formula.

From the Ministry of Justice's public implementation (Howard et al. 2009)::

    copas = ln((1 + previous_sanctions) / (10 + age_at_index_conviction - age_at_first_sanction))
    S = age_sex_weight + history_weight + 1.25112 * copas + offence_weight
    p1 = logistic(1.40256 + S);  p2 = logistic(2.1217 + S)

``age_at_index_conviction`` defaults to ``age_at_release`` when absent (the contract's
rule). ``age_at_first_sanction`` has no such default, except for a first sanction
(``previous_sanctions == 0``), where the index conviction *is* the first sanction.
Where an input is missing or inconsistent the score is unavailable and the reason says
why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from riskmodel._constants import OFFENCE_WEIGHTS

__all__ = [
    "ogrs3",
    "ogrs3_columns",
    "ogrs3_band",
    "AGE_SEX_WEIGHTS",
    "COPAS_WEIGHT",
    "OGRS3_COLUMNS",
    "UNAVAILABLE_INPUT",
]

OGRS3_COLUMNS = ("ogrs3_1y", "ogrs3_2y", "ogrs3_band", "ogrs3_unavailable")

_NOT_A_GROUP = "index_offence is not an OGRS3 offence group"
_SEX_UNKNOWN = "sex unknown"
_FIRST_UNKNOWN = "age_at_first_sanction unknown"
_FIRST_TOO_LATE = "age_at_first_sanction is 10 or more years after age_at_index_conviction"

#: Each reason ``ogrs3_unavailable`` can give -> the input at fault (a scoring warning's field).
UNAVAILABLE_INPUT: dict[str, str] = {
    _NOT_A_GROUP: "index_offence",
    _SEX_UNKNOWN: "sex",
    _FIRST_UNKNOWN: "age_at_first_sanction",
    _FIRST_TOO_LATE: "age_at_first_sanction",
}

COPAS_WEIGHT = 1.25112
FIRST_SANCTION_WEIGHT = 0.12614
REPEAT_SANCTION_WEIGHT = 0.46306
INTERCEPT_1Y = 1.40256
INTERCEPT_2Y = 2.1217

#: (lowest age of the band, male weight, female weight), age at release.
AGE_SEX_WEIGHTS: tuple[tuple[int, float, float], ...] = (
    (10, 0.0, 0.785),
    (12, 0.08392, 0.61385),
    (14, 0.07578, 0.66952),
    (16, -0.0616, -0.9592),
    (18, -0.6251, -0.8975),
    (21, -1.0515, -1.0285),
    (25, -1.1667, -1.0528),
    (30, -1.326, -1.1291),
    (35, -1.368, -1.4219),
    (40, -1.4997, -1.5247),
    (50, -2.0253, -2.4498),
)

#: OGRS3 bands on the two-year probability: (lower bound, name).
OGRS3_BANDS: tuple[tuple[float, str], ...] = (
    (0.0, "low"),
    (0.50, "medium"),
    (0.75, "high"),
    (0.90, "very high"),
)


_OFFENCE_GROUPS = pd.Index(list(OFFENCE_WEIGHTS))
_OFFENCE_WEIGHT_VALUES = np.array([*OFFENCE_WEIGHTS.values(), np.nan], dtype=float)


def ogrs3_band(p2: np.ndarray | pd.Series) -> np.ndarray:
    """Band of two-year OGRS3 probabilities: low < 50%, medium < 75%, high < 90%, very high."""
    p2 = np.asarray(p2, dtype=float)
    edges = np.array([b for b, _ in OGRS3_BANDS[1:]])
    names = np.array([n for _, n in OGRS3_BANDS], dtype=object)
    out = names[np.searchsorted(edges, p2, side="right")]
    out[np.isnan(p2)] = None
    return out


def _age_sex_weight(age: np.ndarray, sex: np.ndarray) -> np.ndarray:
    lows = np.array([low for low, _, _ in AGE_SEX_WEIGHTS])
    male = np.array([m for _, m, _ in AGE_SEX_WEIGHTS])
    female = np.array([f for _, _, f in AGE_SEX_WEIGHTS])
    band = np.clip(np.searchsorted(lows, np.floor(age), side="right") - 1, 0, len(lows) - 1)
    return np.where(sex == "F", female[band], male[band])


def ogrs3(releases: pd.DataFrame) -> pd.DataFrame:
    """Score releases with OGRS3.

    Parameters
    ----------
    releases : DataFrame
        Validated contract rows (``sex``, ``age_at_release``, ``previous_sanctions``,
        ``index_offence``, ``age_at_first_sanction``, ``age_at_index_conviction``).

    Returns
    -------
    DataFrame
        ``ogrs3_1y``, ``ogrs3_2y`` (NaN where unavailable), ``ogrs3_band`` and
        ``ogrs3_unavailable`` (the reason, or None), indexed like ``releases``.

    Examples
    --------
    >>> row = pd.DataFrame({"sex": ["M"], "age_at_release": [25.0], "previous_sanctions": [0.0],
    ...                     "index_offence": ["violence"], "age_at_first_sanction": [25.0],
    ...                     "age_at_index_conviction": [25.0]})
    >>> round(float(ogrs3(row)["ogrs3_1y"].iloc[0]), 4)
    0.0745
    """
    return pd.DataFrame(ogrs3_columns(releases), index=releases.index)


def ogrs3_columns(columns: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """:func:`ogrs3` on columns (arrays by contract name), without building a DataFrame.

    The one implementation: :func:`ogrs3` calls it with a DataFrame's columns; the
    service's small requests (:mod:`riskmodel.scoring.single`) with numpy arrays.

    Returns
    -------
    dict of str to ndarray
        :data:`OGRS3_COLUMNS`, one value per row.
    """
    age = np.asarray(columns["age_at_release"], dtype=float)
    sex = np.asarray(columns["sex"], dtype=object)
    prev = np.asarray(columns["previous_sanctions"], dtype=float)
    index_age = np.asarray(columns["age_at_index_conviction"], dtype=float)
    index_age = np.where(np.isnan(index_age), age, index_age)
    first = np.asarray(columns["age_at_first_sanction"], dtype=float)
    first = np.where(np.isnan(first) & (prev == 0), index_age, first)
    # a hashed lookup (as Series.map of the dict): an unknown group takes the appended NaN
    offences = np.asarray(columns["index_offence"], dtype=object)
    offence_weight = _OFFENCE_WEIGHT_VALUES[_OFFENCE_GROUPS.get_indexer(offences)]

    denominator = 10.0 + index_age - first
    reason = np.full(len(age), None, dtype=object)
    reason[np.isnan(offence_weight)] = _NOT_A_GROUP
    reason[~np.isin(sex, ("M", "F"))] = _SEX_UNKNOWN
    reason[np.isnan(first)] = _FIRST_UNKNOWN
    reason[~np.isnan(first) & (denominator <= 0)] = _FIRST_TOO_LATE
    available = pd.isna(reason)

    with np.errstate(divide="ignore", invalid="ignore"):
        copas = np.log((1.0 + prev) / denominator)
    history = np.where(prev == 0, FIRST_SANCTION_WEIGHT, REPEAT_SANCTION_WEIGHT)
    score = _age_sex_weight(age, sex) + history + COPAS_WEIGHT * copas + offence_weight
    p1 = np.where(available, 1.0 / (1.0 + np.exp(-(INTERCEPT_1Y + score))), np.nan)
    p2 = np.where(available, 1.0 / (1.0 + np.exp(-(INTERCEPT_2Y + score))), np.nan)
    return {"ogrs3_1y": p1, "ogrs3_2y": p2, "ogrs3_band": ogrs3_band(p2), "ogrs3_unavailable": reason}
