"""ARP reference scorer: the MoJ's static All Reoffending Predictor (OGRS4/G family).

The formula is HMPPS's public actuarial service's (ministryofjustice/hmpps-arns-risk-actuarial-api,
MIT licence), as written out in ``shared/docs/domain.md``. With ``a`` whole years of age at
release, ``S = previous_sanctions + 1`` (all sanctions, the index one included), ``c`` whole
years ``age_at_index_conviction - age_at_first_sanction`` and ``m`` whole months from release
to the assessment (capped at 36; 0 when scored at release)::

    y = 5.01702292499072 + age(a) + female + offence + first + second + sanctions + gap + months(m) + copas
    arp_2y = logistic(y)

``first`` applies when ``S = 1``, ``second`` and ``gap`` when ``S = 2``, ``copas`` when
``S >= 3``; ``sanctions = -0.0042757301284995 * S`` always.

Inputs follow :func:`~riskmodel.modelling.ogrs3.ogrs3`: ``age_at_index_conviction``
defaults to ``age_at_release`` when absent (the data contract's rule); a first sanction
(``S = 1``) needs no ``age_at_first_sanction`` (``c`` is not used). Where an input is
missing or out of range the score is NaN and ``arp_reason`` says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.modelling.ogrs3 import ogrs3_band

__all__ = [
    "arp",
    "arp_columns",
    "arp_components",
    "arp_band",
    "ARP_COLUMNS",
    "ARP_OFFENCE_WEIGHTS",
    "COMPONENTS",
    "UNAVAILABLE_INPUT",
]

ARP_COLUMNS = ("arp_2y", "arp_band", "arp_reason")

INTERCEPT = 5.01702292499072
FEMALE = -2.95224200717183
FIRST_SANCTION = -3.94357049933093
SECOND_SANCTION = -3.06189212045904
PER_SANCTION = -0.0042757301284995
MONTHS_CAP = 36

#: Polynomial in whole years of age at release, coefficients of a, a², a³, a⁴.
AGE_MALE = (-0.142428460338541, 0.0011000413899151, 0.0000198538471606, -0.0000002648918335)
AGE_FEMALE = (-0.0175014516689226, 0.0001625346907234, 0.0000003645241305, -0.0000000746220588)
#: Per whole year between first sanction and index conviction, second sanctions only.
GAP_MALE = -0.0432051839161834
GAP_FEMALE = -0.0427998315841607
#: Polynomial in whole months since release (capped at 36), coefficients of m, m², m³, m⁴.
MONTHS = (-0.0762086223169624, 0.0016230134182902, 0.0000224473135387, -0.0000012808638685)
#: Copas rate ``r = ln(S / (c + 26))``, coefficients of r and r², third sanction onwards.
COPAS_MALE = (1.55298303083717, 0.129334968245905)
COPAS_FEMALE = (1.01980307124196, -0.039439197041062)

#: The MoJ's offence weights mapped onto the contract's 20 groups (domain.md's table;
#: groups the MoJ has no category for take its "other offences" weight).
ARP_OFFENCE_WEIGHTS: dict[str, float] = {
    "violence": -0.110075583936778,
    "robbery": -0.119211282701221,
    "public_order": 0.0854410288820027,
    "sexual_against_child": 0.111620464721896,
    "sexual_not_against_child": 0.169969798103235,
    "soliciting_prostitution": 0.0384434393037725,
    "burglary_domestic": 0.155944202809011,
    "burglary_other": 0.2060248043228,
    "criminal_damage": 0.12167599899735,
    "drug_possession_supply": 0.0204101986121863,
    "theft_non_motor": 0.462548123919817,
    "handling_stolen_goods": 0.088414958679896,
    "fraud_forgery": -0.434791453303048,
    "absconding_bail": 0.325485504296161,
    "taking_driving_away": 0.173405416410866,
    "theft_from_vehicles": 0.173405416410866,
    "other_motoring": -0.0439980822830184,
    "drink_driving": -0.264724530382273,
    "drug_import_export_production": -0.468252524851408,
    "other": 0.0384434393037725,
}

_OFFENCE_GROUPS = pd.Index(list(ARP_OFFENCE_WEIGHTS))
_OFFENCE_WEIGHTS = np.array([*ARP_OFFENCE_WEIGHTS.values(), np.nan])

#: The terms of ``y`` in :func:`arp_components`' output, in the formula's order.
COMPONENTS = ("intercept", "age", "female", "offence", "first", "second", "sanctions", "gap", "months", "copas")

_NOT_A_GROUP = "index_offence is not an offence group"
_SEX_UNKNOWN = "sex unknown"
_AGE_UNKNOWN = "age_at_release unknown or under 10"
_SANCTIONS_UNKNOWN = "previous_sanctions unknown or negative"
_FIRST_UNKNOWN = "age_at_first_sanction unknown"
_FIRST_AFTER_INDEX = "age_at_first_sanction is after age_at_index_conviction"
_RELEASE_UNKNOWN = "release_date unknown (needed for the months since release)"

#: Each reason ``arp_reason`` can give -> the input at fault (a scoring warning's field).
UNAVAILABLE_INPUT: dict[str, str] = {
    _NOT_A_GROUP: "index_offence",
    _SEX_UNKNOWN: "sex",
    _AGE_UNKNOWN: "age_at_release",
    _SANCTIONS_UNKNOWN: "previous_sanctions",
    _FIRST_UNKNOWN: "age_at_first_sanction",
    _FIRST_AFTER_INDEX: "age_at_first_sanction",
    _RELEASE_UNKNOWN: "release_date",
}

#: Guards whole-year and whole-month floors against float noise (29.999999 years is 30).
_EPS = 1e-9


def arp_band(p2: np.ndarray | pd.Series) -> np.ndarray:
    """Band of two-year ARP probabilities, as OGRS3's: low < 50%, medium < 75%, high < 90%, very high."""
    return ogrs3_band(p2)


def _polynomial(x: np.ndarray, coefficients: tuple[float, ...]) -> np.ndarray:
    """``sum(k_i * x^(i+1))``: the formula's polynomials have no constant term."""
    out = np.zeros_like(x)
    for k in reversed(coefficients):
        out = (out + k) * x
    return out


def _months_since_release(releases: Mapping[str, Any], assessed_on: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Whole months from ``release_date`` to ``assessed_on``, within 0-36; and where unknown."""
    if assessed_on is None:
        return np.zeros(n), np.zeros(n, dtype=bool)
    released = pd.DatetimeIndex(pd.to_datetime(releases["release_date"], errors="coerce"))
    if isinstance(assessed_on, str | date | datetime | pd.Timestamp | np.datetime64):
        assessed = pd.DatetimeIndex(np.full(n, pd.Timestamp(assessed_on)))
    else:
        assessed = pd.DatetimeIndex(pd.to_datetime(np.asarray(assessed_on)))
    months = (
        (assessed.year.to_numpy(float) - released.year.to_numpy(float)) * 12
        + (assessed.month.to_numpy(float) - released.month.to_numpy(float))
        - (assessed.day.to_numpy(float) < released.day.to_numpy(float))
    )
    unknown = np.isnan(months)
    return np.clip(np.nan_to_num(months), 0, MONTHS_CAP), unknown


def _column(releases: Mapping[str, Any], name: str, n: int) -> np.ndarray:
    """An optional number column as floats (all NaN when absent)."""
    if name in releases:
        return np.asarray(releases[name], dtype=float)
    return np.full(n, np.nan)


def _terms(releases: Mapping[str, Any], assessed_on: Any) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """ARP's terms (:data:`COMPONENTS`, NaN where not computable), the reasons and where computable.

    ``releases`` is a DataFrame or a mapping of column name to array (no DataFrame built).
    """
    age = np.asarray(releases["age_at_release"], dtype=float)
    n = len(age)
    sex = np.asarray(releases["sex"], dtype=object)
    female = sex == "F"
    prev = np.asarray(releases["previous_sanctions"], dtype=float)
    sanctions = prev + 1.0
    index_age = _column(releases, "age_at_index_conviction", n)
    index_age = np.where(np.isnan(index_age), age, index_age)
    first = _column(releases, "age_at_first_sanction", n)
    first = np.where(np.isnan(first) & (prev == 0), index_age, first)
    # a hashed lookup, no Python per row: an unknown group takes the appended NaN (code -1)
    offence = _OFFENCE_WEIGHTS[_OFFENCE_GROUPS.get_indexer(np.asarray(releases["index_offence"], dtype=object))]
    months, months_unknown = _months_since_release(releases, assessed_on, n)

    a = np.floor(age + _EPS)
    c = np.floor(index_age - first + _EPS)
    is_first, is_second, is_later = sanctions == 1, sanctions == 2, sanctions >= 3

    reason = np.full(n, None, dtype=object)
    reason[months_unknown] = _RELEASE_UNKNOWN
    reason[np.isnan(offence)] = _NOT_A_GROUP
    reason[~np.isin(sex, ("M", "F"))] = _SEX_UNKNOWN
    reason[~(c >= 0) & ~is_first] = _FIRST_AFTER_INDEX
    reason[np.isnan(first) & ~is_first] = _FIRST_UNKNOWN
    reason[~(prev >= 0)] = _SANCTIONS_UNKNOWN
    reason[~(age >= 10)] = _AGE_UNKNOWN
    available = pd.isna(reason)

    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.log(sanctions / (c + 26.0))
        terms = {
            "intercept": np.full(n, INTERCEPT),
            "age": np.where(female, _polynomial(a, AGE_FEMALE), _polynomial(a, AGE_MALE)),
            "female": np.where(female, FEMALE, 0.0),
            "offence": offence,
            "first": np.where(is_first, FIRST_SANCTION, 0.0),
            "second": np.where(is_second, SECOND_SANCTION, 0.0),
            "sanctions": PER_SANCTION * sanctions,
            "gap": np.where(is_second, c * np.where(female, GAP_FEMALE, GAP_MALE), 0.0),
            "months": _polynomial(months, MONTHS),
            "copas": np.where(
                is_later,
                np.where(female, _polynomial(rate, COPAS_FEMALE), _polynomial(rate, COPAS_MALE)),
                0.0,
            ),
        }
    return {name: np.where(available, terms[name], np.nan) for name in COMPONENTS}, reason, available


def arp_components(releases: pd.DataFrame, *, assessed_on: Any = None) -> pd.DataFrame:
    """Each term of ARP's linear score, its total ``y`` and the reason where it is not computable.

    Parameters
    ----------
    releases : DataFrame
        Validated contract rows (``sex``, ``age_at_release``, ``previous_sanctions``,
        ``index_offence``, ``age_at_first_sanction``, ``age_at_index_conviction``, and
        ``release_date`` when ``assessed_on`` is given).
    assessed_on : date-like or array-like of dates, optional
        When the score is taken; ``None`` (the default) means at release (``m = 0``).
        Later dates shorten the horizon left: ARP is the chance of reoffending within
        two years *from the assessment* given none so far.

    Returns
    -------
    DataFrame
        :data:`COMPONENTS`, ``y`` (NaN where not computable) and ``arp_reason`` (the
        reason, or None), indexed like ``releases``.
    """
    terms, reason, _ = _terms(releases, assessed_on)
    out = pd.DataFrame(terms, index=releases.index)
    out["y"] = np.sum([terms[name] for name in COMPONENTS], axis=0)
    out["arp_reason"] = reason
    return out


def arp(releases: pd.DataFrame, *, assessed_on: Any = None) -> pd.DataFrame:
    """Score releases with ARP, the MoJ's static two-year All Reoffending Predictor.

    Parameters
    ----------
    releases : DataFrame
        Validated contract rows (see :func:`arp_components`).
    assessed_on : date-like or array-like of dates, optional
        When the score is taken; ``None`` (the default) scores at release (``m = 0``),
        as riskmodel's own models do.

    Returns
    -------
    DataFrame
        ``arp_2y`` (probability 0-1, NaN where not computable), ``arp_band`` (low,
        medium, high, very high; None where not computable) and ``arp_reason`` (why not
        computable, else None), indexed like ``releases``.

    Examples
    --------
    The MoJ service's worked example: a man of 30, 2 sanctions, first at 21, "other" offence.

    >>> row = pd.DataFrame({"sex": ["M"], "age_at_release": [30.0], "previous_sanctions": [1.0],
    ...                     "index_offence": ["other"], "age_at_first_sanction": [21.0],
    ...                     "age_at_index_conviction": [30.0]})
    >>> round(float(arp(row)["arp_2y"].iloc[0]), 4)
    0.2034
    """
    return pd.DataFrame(arp_columns(releases, assessed_on=assessed_on), index=releases.index)


def arp_columns(columns: Mapping[str, Any], *, assessed_on: Any = None) -> dict[str, np.ndarray]:
    """:func:`arp` on columns (arrays by contract name), without building a DataFrame.

    The one implementation: :func:`arp` calls it with a DataFrame; the service's small
    requests (:mod:`riskmodel.scoring.single`) with numpy arrays.

    Returns
    -------
    dict of str to ndarray
        :data:`ARP_COLUMNS`, one value per row.
    """
    terms, reason, _ = _terms(columns, assessed_on)
    y = np.sum([terms[name] for name in COMPONENTS], axis=0)
    with np.errstate(over="ignore"):
        p2 = 1.0 / (1.0 + np.exp(-y))
    return {"arp_2y": p2, "arp_band": arp_band(p2), "arp_reason": reason}
