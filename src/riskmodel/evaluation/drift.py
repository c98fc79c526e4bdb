"""Population stability of model features between training data and a new batch.

A profile holds, per feature, quantile bin edges of the training rows and the share of
rows in each bin plus the share unknown. The population stability index (PSI) of a
batch is ``sum((b - t) * ln(b / t))`` over bins (unknown counted as a bin), with shares
floored at ``1e-4``. Usual reading: < 0.1 stable, 0.1–0.25 moderate shift, > 0.25 large.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["feature_profile", "population_stability", "FeatureProfile", "merge_counts"]

FeatureProfile = dict[str, dict[str, list[float]]]
_FLOOR = 1e-4


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
    """Profile the training feature matrix ``Xt`` (rows × features)."""
    profile: FeatureProfile = {}
    for j, name in enumerate(names):
        values = Xt[:, j].astype(float)
        edges = _edges(values, bins)
        counts = _counts(values, edges)
        profile[str(name)] = {"edges": edges.tolist(), "shares": (counts / max(counts.sum(), 1)).tolist()}
    return profile


def merge_counts(profile: FeatureProfile, Xt: np.ndarray, names: Sequence[str], counts: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Add a chunk's bin counts to running ``counts`` (for streaming batches)."""
    counts = {} if counts is None else counts
    for j, name in enumerate(names):
        if name not in profile:
            continue
        chunk = _counts(Xt[:, j].astype(float), np.asarray(profile[name]["edges"], dtype=float))
        counts[name] = counts.get(name, 0) + chunk
    return counts


def population_stability(profile: FeatureProfile, counts: dict[str, np.ndarray]) -> dict[str, float]:
    """PSI per feature from a batch's bin counts (see :func:`merge_counts`)."""
    out: dict[str, float] = {}
    for name, batch in counts.items():
        expected = np.maximum(np.asarray(profile[name]["shares"], dtype=float), _FLOOR)
        actual = np.maximum(batch / max(batch.sum(), 1), _FLOOR)
        out[name] = float(np.sum((actual - expected) * np.log(actual / expected)))
    return out
