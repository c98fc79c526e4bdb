"""Population stability of model features between training data and a new batch.

A profile holds, per feature, quantile bin edges of the training rows and the share of
rows in each bin plus the share unknown. The population stability index (PSI) of a
batch is ``sum((b - t) * ln(b / t))`` over bins (unknown counted as a bin), with shares
floored at ``1e-4``. Usual reading: < 0.1 stable, 0.1–0.25 moderate shift, > 0.25 large.

On a small batch PSI is mostly noise: with ten bins its expected value on a batch drawn
from the training population itself is about ``9 / n`` for ``n`` rows, so 50 rows average
about 0.2, the batch scoring's flag. Drawn from the demo's synthetic cohort (the champions'
18 features), batches of 50, 100, 150 and 200 releases had at least one feature flagged in
100%, 28%, 4% and none of 200 draws. Drift is therefore not computed on fewer than
:data:`MIN_ROWS` scored rows; :func:`drift_not_computed` says so in words.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "feature_profile",
    "population_stability",
    "FeatureProfile",
    "merge_counts",
    "MIN_ROWS",
    "drift_not_computed",
]

FeatureProfile = dict[str, dict[str, list[float]]]
_FLOOR = 1e-4
#: Fewest scored rows on which drift is computed (see the module's docstring).
MIN_ROWS = 200


def drift_not_computed(rows: int, *, minimum: int = MIN_ROWS) -> str | None:
    """Why drift is not computed on a batch of ``rows`` scored rows, or None when it is.

    Parameters
    ----------
    rows : int
        Rows scored in the batch.
    minimum : int, default MIN_ROWS
        Fewest rows on which drift means anything.

    Returns
    -------
    str or None
        The sentence the CLI, the drift file and the report give, or None when ``rows``
        reaches ``minimum``.

    Examples
    --------
    >>> drift_not_computed(54)
    'drift not computed: 54 rows, below the minimum of 200'
    >>> drift_not_computed(200) is None
    True
    """
    if rows >= minimum:
        return None
    return f"drift not computed: {rows:,} {'row' if rows == 1 else 'rows'}, below the minimum of {minimum:,}"


def _edges(values: np.ndarray, bins: int) -> np.ndarray:
    known = values[~np.isnan(values)]
    if known.size == 0:
        return np.array([])
    edges = np.unique(np.quantile(known, np.linspace(0, 1, bins + 1)[1:-1]))
    return edges


def _counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    unknown = np.isnan(values)
    idx = np.searchsorted(edges, values[~unknown], side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    return np.append(counts, float(unknown.sum()))


def feature_profile(Xt: np.ndarray, names: Sequence[str], *, bins: int = 10) -> FeatureProfile:
    """Profile the training feature matrix ``Xt`` (rows × features).

    Parameters
    ----------
    Xt : ndarray of shape (n_rows, n_features)
        Training features (NaN = unknown).
    names : sequence of str
        Name of each column of ``Xt``.
    bins : int, default=10
        Quantile bins per feature (fewer where quantiles coincide).

    Returns
    -------
    FeatureProfile
        Per feature, the inner bin ``edges`` and the ``shares`` of rows in each bin, the
        last share being the unknowns.

    Examples
    --------
    The median of 1, 2, 3, 4 splits them in two halves; nothing is unknown:

    >>> feature_profile(np.array([[1.0], [2.0], [3.0], [4.0]]), ["x"], bins=2)
    {'x': {'edges': [2.5], 'shares': [0.5, 0.5, 0.0]}}
    """
    profile: FeatureProfile = {}
    for j, name in enumerate(names):
        values = Xt[:, j].astype(float)
        edges = _edges(values, bins)
        counts = _counts(values, edges)
        profile[str(name)] = {"edges": edges.tolist(), "shares": (counts / max(counts.sum(), 1)).tolist()}
    return profile


def merge_counts(
    profile: FeatureProfile, Xt: np.ndarray, names: Sequence[str], counts: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """Add a chunk's bin counts to running ``counts`` (for streaming batches).

    Parameters
    ----------
    profile : FeatureProfile
        The training profile (see :func:`feature_profile`).
    Xt : ndarray of shape (n_rows, n_features)
        One chunk of the batch's features.
    names : sequence of str
        Name of each column of ``Xt``; features the profile lacks are left out.
    counts : dict of str to ndarray, optional
        Running counts of the earlier chunks, updated in place.

    Returns
    -------
    dict of str to ndarray
        Rows per bin (the last is unknown) for each profiled feature.

    Examples
    --------
    >>> profile = feature_profile(np.array([[1.0], [2.0], [3.0], [4.0]]), ["x"], bins=2)
    >>> counts = merge_counts(profile, np.array([[1.0], [1.0]]), ["x"])
    >>> merge_counts(profile, np.array([[1.0], [3.0], [np.nan]]), ["x"], counts)["x"].tolist()
    [3.0, 1.0, 1.0]
    """
    counts = {} if counts is None else counts
    for j, name in enumerate(names):
        if name not in profile:
            continue
        chunk = _counts(Xt[:, j].astype(float), np.asarray(profile[name]["edges"], dtype=float))
        counts[name] = counts.get(name, 0) + chunk
    return counts


def population_stability(profile: FeatureProfile, counts: dict[str, np.ndarray]) -> dict[str, float]:
    """PSI per feature from a batch's bin counts (see :func:`merge_counts`).

    Parameters
    ----------
    profile : FeatureProfile
        The training profile (see :func:`feature_profile`).
    counts : dict of str to ndarray
        The batch's rows per bin.

    Returns
    -------
    dict of str to float
        The population stability index of each feature in ``counts``.

    Examples
    --------
    Training shares 0.5, 0.5; a batch 1, 1, 1, 3 has shares 0.75, 0.25, so PSI =
    0.25 ln 1.5 + 0.25 ln 2 = ln(3) / 4:

    >>> profile = feature_profile(np.array([[1.0], [2.0], [3.0], [4.0]]), ["x"], bins=2)
    >>> counts = merge_counts(profile, np.array([[1.0], [1.0], [1.0], [3.0]]), ["x"])
    >>> round(population_stability(profile, counts)["x"], 4)
    0.2747
    """
    out: dict[str, float] = {}
    for name, batch in counts.items():
        expected = np.maximum(np.asarray(profile[name]["shares"], dtype=float), _FLOOR)
        actual = np.maximum(batch / max(batch.sum(), 1), _FLOOR)
        out[name] = float(np.sum((actual - expected) * np.log(actual / expected)))
    return out
