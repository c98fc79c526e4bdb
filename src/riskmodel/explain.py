"""Plain-words explanations from LightGBM's own per-feature contributions.

Each contribution (on the calibrated log-odds) is turned into the change in probability
it makes, ``sigmoid(z) - sigmoid(z - c)``, so a panel reads "raises the likelihood by
about 8 points". Values are said in words, and a factor that belongs to a resettlement
pathway names it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from riskmodel._constants import NEEDS_PATHWAYS, OFFENCE_WEIGHTS

__all__ = ["describe_values", "top_factors_json", "FACTOR_PATHWAY"]

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


def _int_text(values: np.ndarray, singular: str, plural: str) -> pd.Series:
    ints = pd.Series(values).round().astype("Int64").astype("string")
    word = np.where(values == 1, singular, plural)
    return ints + " " + pd.Series(word, dtype="string")


def describe_values(name: str, values: np.ndarray, *, prev: np.ndarray | None = None) -> pd.Series:
    """Say feature ``name``'s values in words (``"not recorded"`` where unknown)."""
    values = np.asarray(values, dtype=float)
    unknown = np.isnan(values)
    if name == "age_at_release":
        text = "aged " + pd.Series(np.floor(values)).astype("Int64").astype("string") + " at release"
    elif name == "sex_female":
        text = pd.Series(np.where(values == 1, "female", "male"), dtype="string")
    elif name == "previous_sanctions":
        text = _int_text(values, "previous sanction", "previous sanctions")
    elif name == "copas_rate":
        # ln((1 + sanctions) / (10 + career years)): above 0 means more than one a year.
        rate = np.exp(values)
        level = np.select([rate >= 1.0, rate >= 0.4], ["high", "moderate"], "low")
        text = pd.Series(level, dtype="string") + " rate of sanctions over the criminal career"
    elif name == "years_since_first_sanction":
        text = "first sanctioned " + pd.Series(np.round(values)).astype("Int64").astype("string") + " years before release"
    elif name == "index_offence_weight":
        groups = pd.Series(np.round(values, 6)).map(_OFFENCE_BY_WEIGHT).fillna("other")
        text = "index offence: " + groups.astype("string")
    elif name == "index_offence_violent_or_sexual":
        text = pd.Series(np.where(values == 1, "index offence violent or sexual", "index offence not violent or sexual"), dtype="string")
    elif name == "sentence_days":
        text = "sentence of " + pd.Series(np.round(values)).astype("Int64").astype("string") + " days"
    elif name == "previous_custodial_sentences":
        text = _int_text(values, "previous custodial sentence", "previous custodial sentences")
    elif name == "previous_violent_sanctions":
        text = _int_text(values, "previous violent sanction", "previous violent sanctions")
    elif name == "previous_breaches":
        text = _int_text(values, "previous breach or recall", "previous breaches or recalls")
    elif name in _NEED_WORDS:
        words = _NEED_WORDS[name]
        text = pd.Series(np.where(values == 1, words + " identified", "no " + words), dtype="string")
    elif name == "needs_count":
        text = _int_text(values, "resettlement need identified", "resettlement needs identified")
    else:
        text = name.replace("_", " ") + ": " + pd.Series(values).astype("string")
    text = pd.Series(text, dtype="string").reset_index(drop=True)
    label = name.replace("_", " ")
    return text.where(~unknown, f"{label} not recorded").astype(object)


def _escape(series: pd.Series) -> pd.Series:
    return series.str.replace("\\", "\\\\", regex=False).str.replace('"', '\\"', regex=False)


def top_factors_json(
    contributions: np.ndarray,
    Xt: np.ndarray,
    names: Sequence[str],
    *,
    top: int = 5,
) -> np.ndarray:
    """Up to ``top`` factors per row as JSON lists, largest effect first.

    Parameters
    ----------
    contributions : ndarray (n, k + 1)
        Per-feature contributions on the calibrated log-odds; last column is the base.
    Xt : ndarray (n, k)
        The model's feature values.
    names : sequence of str
        Feature names.
    top : int
        Factors kept per row (zero contributions are left out).

    Returns
    -------
    ndarray of str
        One JSON list per row: ``{"feature", "value", "contribution", "direction",
        "pathway"}``, contribution in probability points (e.g. ``0.081`` = 8 points).
    """
    n, k = Xt.shape
    if n == 0:
        return np.array([], dtype=object)
    feature_contrib = contributions[:, :k]
    z = contributions.sum(axis=1)
    p = 1.0 / (1.0 + np.exp(-z))
    effect = p[:, None] - 1.0 / (1.0 + np.exp(-(z[:, None] - feature_contrib)))
    top = min(top, k)
    order = np.argsort(-np.abs(effect), axis=1, kind="stable")[:, :top]
    rows = np.arange(n)[:, None]
    chosen_effect = effect[rows, order]

    value_text = np.empty((n, top), dtype=object)
    for j, name in enumerate(names):
        mask = order == j
        if mask.any():
            r, c = np.nonzero(mask)
            value_text[r, c] = describe_values(name, Xt[r, j]).to_numpy()

    parts = []
    for c in range(top):
        feature = pd.Series(np.asarray(names, dtype=object)[order[:, c]], dtype="string")
        pathway = feature.map(lambda f: FACTOR_PATHWAY.get(f)).astype("string")
        pathway_json = ('"' + pathway + '"').fillna("null")
        eff = chosen_effect[:, c]
        direction = pd.Series(np.where(eff >= 0, "raises", "lowers"), dtype="string")
        item = (
            '{"feature": "' + feature + '", "value": "' + _escape(pd.Series(value_text[:, c], dtype="string"))
            + '", "contribution": ' + pd.Series(np.round(eff, 4)).astype("string")
            + ', "direction": "' + direction + '", "pathway": ' + pathway_json + "}"
        )
        parts.append(item.where(np.abs(eff) > 0, None))
    frame = pd.concat(parts, axis=1)
    return ("[" + _join_rows(frame) + "]").to_numpy(dtype=object)


def _join_rows(frame: pd.DataFrame) -> pd.Series:
    # Columns are ordered by effect size, so a missing (zero) factor is never followed
    # by a present one.
    out = frame.iloc[:, 0].fillna("")
    for c in range(1, frame.shape[1]):
        col = frame.iloc[:, c]
        out = out.where(col.isna(), out + ", " + col.fillna(""))
    return out.astype("string")
