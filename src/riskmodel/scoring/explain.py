"""Plain-words explanations from LightGBM's own per-feature contributions.

Each contribution (on the calibrated log-odds) is turned into the change in probability
it makes, ``sigmoid(z) - sigmoid(z - c)``, so a panel reads "raises the likelihood by
about 8 points". Values are said in words (:func:`describe_value`), and a factor that
belongs to a resettlement pathway names it.

Speed: words are worked out once per distinct (feature, value) and the factors are kept
as flat arrays (:class:`~riskmodel.scoring.output.FactorColumn`), so a million rows cost
about a second on top of LightGBM's ``pred_contrib``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from riskmodel._constants import NEEDS_PATHWAYS, OFFENCE_WEIGHTS
from riskmodel.scoring.output import FactorColumn

__all__ = ["describe_value", "feature_label", "top_factors", "FACTOR_PATHWAY"]

_OFFENCE_BY_WEIGHT = {round(w, 6): g.replace("_", " ") for g, w in OFFENCE_WEIGHTS.items()}

#: Resettlement pathway of a feature, where one fits.
FACTOR_PATHWAY: dict[str, str] = dict(NEEDS_PATHWAYS)

_NEED_WORDS = {
    "needs_accommodation": "accommodation need",
    "needs_employment": "education, training or employment need",
    "needs_mental_health": "mental health need",
    "needs_substance_misuse": "drug or alcohol need",
    "needs_finance": "finance, benefit or debt need",
    "needs_family": "children and families need",
}

_COUNTS = {
    "previous_sanctions": ("previous sanction", "previous sanctions"),
    "previous_custodial_sentences": ("previous custodial sentence", "previous custodial sentences"),
    "previous_violent_sanctions": ("previous violent sanction", "previous violent sanctions"),
    "previous_breaches": ("previous breach or recall", "previous breaches or recalls"),
    "needs_count": ("resettlement need identified", "resettlement needs identified"),
}


_FEATURE_WORDS = {
    "age_at_release": "age at release",
    "sex_female": "sex",
    "previous_sanctions": "previous sanctions",
    "copas_rate": "rate of sanctions over the criminal career",
    "years_since_first_sanction": "years since the first sanction",
    "index_offence_weight": "type of index offence",
    "index_offence_violent_or_sexual": "index offence violent or sexual",
    "sentence_days": "sentence length",
    "previous_custodial_sentences": "previous custodial sentences",
    "previous_violent_sanctions": "previous violent sanctions",
    "previous_breaches": "previous breaches and recalls",
    "needs_count": "number of resettlement needs",
    **{name: words for name, words in _NEED_WORDS.items()},
}


def feature_label(name: str) -> str:
    """A model feature's name in plain words (``copas_rate`` -> rate of sanctions ...).

    Examples
    --------
    >>> feature_label("previous_breaches")
    'previous breaches and recalls'
    >>> feature_label("local_flag")
    'local flag'
    """
    return _FEATURE_WORDS.get(name, name.replace("_", " "))


def describe_value(name: str, value: float) -> str:
    """Say one feature value in words a panel member understands.

    Examples
    --------
    >>> describe_value("previous_sanctions", 1.0)
    '1 previous sanction'
    >>> describe_value("needs_accommodation", float("nan"))
    'accommodation need not recorded'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        label = _NEED_WORDS.get(name, name.replace("_", " "))
        return f"{label} not recorded"
    if name == "age_at_release":
        return f"aged {math.floor(value)} at release"
    if name == "sex_female":
        return "female" if value == 1 else "male"
    if name in _COUNTS:
        one, many = _COUNTS[name]
        return f"{round(value)} {one if round(value) == 1 else many}"
    if name == "copas_rate":
        # ln((1 + sanctions) / (10 + career years)): 0 means about one sanction a year.
        rate = math.exp(value)
        level = "high" if rate >= 1.0 else "moderate" if rate >= 0.4 else "low"
        return f"{level} rate of sanctions over the criminal career"
    if name == "years_since_first_sanction":
        return f"first sanctioned {round(value)} years before release"
    if name == "index_offence_weight":
        return "index offence: " + _OFFENCE_BY_WEIGHT.get(round(value, 6), "other")
    if name == "index_offence_violent_or_sexual":
        return "index offence violent or sexual" if value == 1 else "index offence not violent or sexual"
    if name == "sentence_days":
        return f"sentence of {round(value)} days"
    if name in _NEED_WORDS:
        return f"{_NEED_WORDS[name]} identified" if value == 1 else f"no {_NEED_WORDS[name]}"
    return f"{name.replace('_', ' ')}: {value:g}"


def top_factors(
    contributions: np.ndarray,
    Xt: np.ndarray,
    names: Sequence[str],
    *,
    top: int = 5,
) -> FactorColumn:
    """Up to ``top`` factors per row, largest effect first, as a :class:`~riskmodel.scoring.output.FactorColumn`.

    Parameters
    ----------
    contributions : ndarray (n, k + 1)
        Per-feature contributions on the calibrated log-odds; last column is the base.
    Xt : ndarray (n, k)
        The model's feature values.
    names : sequence of str
        Feature names.
    top : int
        Factors kept per row (factors with no effect are left out).

    Returns
    -------
    FactorColumn
        Per row, factors ``{"feature", "value", "contribution", "direction",
        "pathway"}``: the value in words, the contribution in probability to 4
        decimals (``0.081`` = 8 points). Words are worked out once per distinct
        (feature, value), and nothing is made per row, so a million rows cost about a
        second on top of LightGBM's ``pred_contrib``.
    """
    n, k = Xt.shape
    if n == 0:
        return FactorColumn.empty(0)
    feature_contrib = contributions[:, :k]
    z = contributions.sum(axis=1)
    p = 1.0 / (1.0 + np.exp(-z))
    effect = p[:, None] - 1.0 / (1.0 + np.exp(-(z[:, None] - feature_contrib)))
    order = np.argsort(-np.abs(effect), axis=1, kind="stable")[:, : min(top, k)]
    rows = np.arange(n)[:, None]
    # np.round(x, 4) is rint(x * 1e4) / 1e4: the code is the effect in 1/10,000
    effect_code = np.rint(effect[rows, order] * 1e4).astype(np.int64)
    values = Xt[rows, order]
    shown = effect_code != 0

    names = [str(name) for name in names]
    words: list[str] = []
    word_code = np.full(order.shape, -1, dtype=np.int64)
    for j in np.unique(order[shown]):
        where = shown & (order == j)
        distinct, inverse = np.unique(values[where], return_inverse=True)
        word_code[where] = len(words) + inverse.reshape(-1)
        words.extend(describe_value(names[j], float(value)) for value in distinct)
    # a boolean mask takes the shown slots row by row, each row's in order of effect
    shown_code = effect_code[shown]
    return FactorColumn(
        offsets=np.concatenate([[0], np.cumsum(shown.sum(axis=1))]).astype(np.int64),
        feature=order[shown].astype(np.int64),
        value=word_code[shown],
        contribution=shown_code / 1e4,
        raises=shown_code > 0,
        features=names,
        pathways=[FACTOR_PATHWAY.get(name) for name in names],
        words=words,
    )
