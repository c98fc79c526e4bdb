"""LightGBM's ``pred_contrib`` (path-dependent TreeSHAP), exactly, by table lookup.

The panel's explanations are LightGBM's own per-feature contributions. LightGBM works
them out row by row with TreeSHAP, whose cost grows with trees x leaves x depth²: on the
project's models that is about 25 times the cost of a prediction, and it made
explanations the bulk of every scoring request.

For a small tree the contributions of a row depend only on which way the row goes at
each of the tree's split nodes: ``d`` split nodes give at most ``2**d`` patterns. For the
project's trees (7 leaves, 6 split nodes) that is 64 patterns per tree, so the
contributions of every pattern are worked out once, when the model is loaded, by the
definition of path-dependent TreeSHAP (Lundberg et al. 2020, algorithm 1):

* ``E[f | S]``: follow the row's way at a node whose feature is in ``S``; elsewhere
  average both branches weighted by the training rows that went each way;
* the Shapley value of feature ``j`` is the weighted sum over subsets ``S`` of the
  tree's other features of ``E[f | S + j] - E[f | S]``.

Scoring a row is then: the row's way at each split node (LightGBM's own rules for
missing values), a pattern number per tree, and a sum of looked-up rows. The result
equals ``Booster.predict(X, pred_contrib=True)`` to rounding (the tests compare them on
rows with missing values, zeros and values on the thresholds).

A model this does not cover (categorical splits, linear trees, several classes, trees
with more than :data:`MAX_SPLITS` split nodes) makes :func:`path_tables` answer ``None``;
the caller then asks LightGBM.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

if TYPE_CHECKING:
    import lightgbm as lgb

__all__ = ["MAX_SPLITS", "PathTables", "path_tables"]

#: Trees with more split nodes than this are left to LightGBM (2**MAX_SPLITS patterns).
MAX_SPLITS = 10

#: LightGBM's ``kZeroThreshold`` (``1e-35f``): LightGBM reads a value this close to 0 as 0.
_ZERO = float(np.float32(1e-35))

_MISSING = {"None": 0, "Zero": 1, "NaN": 2}

#: Rows per step: the working arrays are rows x trees x split nodes (a few MB a step).
_ROWS_PER_STEP = 1024

_cache: weakref.WeakKeyDictionary[Any, PathTables | None] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class PathTables:
    """Per-tree tables of contributions, indexed by the pattern of ways a row takes.

    Attributes
    ----------
    feature, threshold, default_left, present : ndarray, shape (trees, splits)
        Each tree's split nodes (padded; ``present`` marks the real ones, and a padding
        node's threshold is -inf, so no value goes left there).
    nan_goes_left : ndarray, shape (trees, splits)
        The way a missing value goes at each node (LightGBM: NaN is read as 0 unless the
        node has its own way for missing values).
    zero_nodes : ndarray of int
        Flat indices of the nodes whose missing values are zeros (``missing_type`` Zero):
        a 0 goes the default way there.
    table : ndarray, shape (trees, 2**splits, features)
        Contributions of each pattern (bit ``b`` set: the row goes left at split node ``b``).
    expected_value : float
        The bias column: the sum over trees of the cover-weighted mean leaf value.
    """

    feature: np.ndarray
    threshold: np.ndarray
    default_left: np.ndarray
    present: np.ndarray
    nan_goes_left: np.ndarray
    zero_nodes: np.ndarray
    table: np.ndarray
    expected_value: float

    @property
    def n_features(self) -> int:
        return self.table.shape[2]

    def patterns(self, X: np.ndarray) -> np.ndarray:
        """Pattern number of each row in each tree, shape (rows, trees)."""
        X = np.where(np.abs(X) <= _ZERO, 0.0, X)  # as LightGBM reads its input
        with np.errstate(invalid="ignore"):
            left = X[:, self.feature] <= self.threshold[None]  # rows x trees x splits; NaN: False
        flat = left.reshape(len(X), -1)
        features = self.feature.ravel()
        nan_columns = np.isnan(X).any(axis=0)
        if nan_columns.any():  # only the nodes that split on a column with a missing value
            nodes = np.flatnonzero(nan_columns[features] & self.present.ravel())
            flat[:, nodes] = np.where(
                np.isnan(X[:, features[nodes]]), self.nan_goes_left.ravel()[nodes][None], flat[:, nodes]
            )
        if len(self.zero_nodes):
            nodes = self.zero_nodes
            flat[:, nodes] = np.where(
                X[:, features[nodes]] == 0.0, self.default_left.ravel()[nodes][None], flat[:, nodes]
            )
        if left.shape[2] <= 8:
            return np.packbits(left, axis=2, bitorder="little")[:, :, 0].astype(np.int64)
        return (
            (flat.reshape(-1, left.shape[2]).astype(np.float64) @ (2.0 ** np.arange(left.shape[2])))
            .astype(np.int64)
            .reshape(left.shape[:2])
        )

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Like ``Booster.predict(X, pred_contrib=True)``: shape (rows, features + 1).

        The last column is the expected value; each row adds up to the raw margin.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected a 2-D array of {self.n_features} feature columns, got shape {X.shape}")
        out = np.empty((len(X), self.n_features + 1))
        out[:, -1] = self.expected_value
        n_trees, n_codes, n_features = self.table.shape
        flat = self.table.reshape(n_trees * n_codes, n_features)
        offsets = np.arange(n_trees) * n_codes
        for start in range(0, len(X), _ROWS_PER_STEP):
            chunk = X[start : start + _ROWS_PER_STEP]
            rows = (self.patterns(chunk) + offsets[None, :]).ravel()
            # one row of the flat table per (row, tree): a sparse 0/1 matrix sums them
            pick = sparse.csr_matrix(
                (np.ones(len(rows)), rows, np.arange(0, len(rows) + 1, n_trees)), shape=(len(chunk), len(flat))
            )
            out[start : start + len(chunk), :-1] = pick @ flat
        return out


def path_tables(booster: lgb.Booster) -> PathTables | None:
    """The :class:`PathTables` of a LightGBM booster, built once; None if not covered."""
    try:
        return _cache[booster]
    except KeyError:
        pass
    tables = _build(booster.dump_model())
    _cache[booster] = tables
    return tables


# --------------------------------------------------------------------------- building


def _build(model: dict[str, Any]) -> PathTables | None:
    if model.get("num_class", 1) != 1 or model.get("num_tree_per_iteration", 1) != 1 or model.get("average_output"):
        return None
    n_features = int(model["max_feature_idx"]) + 1
    trees = []
    for info in model["tree_info"]:
        if info.get("num_cat", 0):
            return None
        nodes: list[dict[str, Any]] = []
        if not _collect(info["tree_structure"], nodes):
            return None
        if len(nodes) > MAX_SPLITS:
            return None
        trees.append((info["tree_structure"], nodes))
    width = max((len(nodes) for _, nodes in trees), default=0)
    shape = (len(trees), width)
    feature = np.zeros(shape, dtype=np.int64)
    threshold = np.full(shape, -np.inf)  # padding: no value goes left
    default_left = np.zeros(shape, dtype=bool)
    missing_type = np.zeros(shape, dtype=np.int8)
    present = np.zeros(shape, dtype=bool)
    table = np.zeros((len(trees), 2**width, n_features))
    expected = 0.0
    for t, (root, nodes) in enumerate(trees):
        for b, node in enumerate(nodes):
            feature[t, b] = node["split_feature"]
            threshold[t, b] = node["threshold"]
            default_left[t, b] = bool(node["default_left"])
            missing_type[t, b] = _MISSING[node["missing_type"]]
            present[t, b] = True
        phi, tree_expected = _tree_shap(root, nodes, n_features)
        # patterns that differ only in absent (padding) bits take the same row
        table[t] = phi[np.arange(2**width) & ((1 << len(nodes)) - 1)]
        expected += tree_expected
    as_zero = np.where(missing_type == _MISSING["Zero"], default_left, 0.0 <= threshold)
    nan_goes_left = np.where(missing_type == _MISSING["NaN"], default_left, as_zero)
    zero_nodes = np.flatnonzero(((missing_type == _MISSING["Zero"]) & present).ravel())
    return PathTables(feature, threshold, default_left, present, nan_goes_left, zero_nodes, table, expected)


def _collect(node: dict[str, Any], nodes: list[dict[str, Any]]) -> bool:
    """Number the split nodes in pre-order (``node['_bit']``); False if one is not covered."""
    if "leaf_value" in node:
        return True
    if node.get("decision_type") != "<=" or node.get("missing_type") not in _MISSING or "leaf_coeff" in node:
        return False
    node["_bit"] = len(nodes)
    nodes.append(node)
    return _collect(node["left_child"], nodes) and _collect(node["right_child"], nodes)


def _count(node: dict[str, Any]) -> float:
    return float(node["leaf_count"] if "leaf_value" in node else node["internal_count"])


def _tree_shap(root: dict[str, Any], nodes: list[dict[str, Any]], n_features: int) -> tuple[np.ndarray, float]:
    """Contributions of every pattern of one tree, shape (2**splits, features), and E[f]."""
    n_codes = 2 ** len(nodes)
    goes_left = ((np.arange(n_codes)[:, None] >> np.arange(max(len(nodes), 1))[None, :]) & 1).astype(bool)
    features = sorted({int(node["split_feature"]) for node in nodes})
    position = {f: i for i, f in enumerate(features)}
    k = len(features)
    subsets = np.arange(2**k)
    in_subset = ((subsets[:, None] >> np.arange(max(k, 1))[None, :]) & 1).astype(bool)  # subsets x k

    def expected(node: dict[str, Any]) -> np.ndarray:
        """E[f | S] for every subset S (rows) and pattern (columns)."""
        if "leaf_value" in node:
            return np.full((2**k, n_codes), float(node["leaf_value"]))
        left, right = expected(node["left_child"]), expected(node["right_child"])
        follow = np.where(goes_left[:, node["_bit"]][None, :], left, right)
        total = _count(node)
        if total > 0:
            average = (_count(node["left_child"]) * left + _count(node["right_child"]) * right) / total
        else:  # no training row reached it: LightGBM's zero fractions are 0 as well
            average = np.zeros_like(left)
        known = in_subset[:, position[int(node["split_feature"])]][:, None]
        return np.where(known, follow, average)

    values = expected(root)  # subsets x patterns
    phi = np.zeros((n_codes, n_features))
    sizes = np.array([bin(s).count("1") for s in subsets])
    weight = np.array(
        [math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k) if s < k else 0.0 for s in range(k + 1)]
    )
    for j, f in enumerate(features):
        without = subsets[(subsets >> j) & 1 == 0]
        phi[:, f] = (weight[sizes[without]][:, None] * (values[without | (1 << j)] - values[without])).sum(axis=0)
    return phi, float(values[0, 0])
