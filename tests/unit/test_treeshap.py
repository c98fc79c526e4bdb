"""The table-lookup TreeSHAP equals LightGBM's own ``pred_contrib``."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from riskmodel.modelling.treeshap import MAX_SPLITS, path_tables


def _data(seed: int, n: int = 3000):
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.integers(0, 12, n).astype(float),  # counts: many ties, values on thresholds
            rng.normal(size=n),
            rng.integers(0, 2, n).astype(float),  # flags, zeros
            rng.exponential(2.0, n),
            np.where(rng.random(n) < 0.5, 0.0, rng.normal(size=n)),  # half zeros
        ]
    )
    logit = 0.3 * X[:, 0] - 0.8 * X[:, 1] + 0.5 * X[:, 2] * X[:, 3] - 1.0 + 0.4 * (X[:, 4] > 0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    X[rng.random(X.shape) < 0.1] = np.nan  # missing values everywhere
    return X, y


def _booster(X, y, **params):
    settings = {
        "objective": "binary",
        "num_leaves": 7,
        "learning_rate": 0.1,
        "min_data_in_leaf": 20,
        "verbose": -1,
        "seed": 1,
    }
    settings.update(params)
    return lgb.train(settings, lgb.Dataset(X, y), num_boost_round=60)


def _awkward_rows(X: np.ndarray, booster: lgb.Booster) -> np.ndarray:
    """Rows with every value a split uses exactly, zeros, tiny values and NaNs."""
    thresholds: dict[int, list[float]] = {}

    def walk(node):
        if "leaf_value" in node:
            return
        thresholds.setdefault(node["split_feature"], []).append(node["threshold"])
        walk(node["left_child"])
        walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    rows = np.repeat(X[:200], 4, axis=0)
    rng = np.random.default_rng(5)
    for j, values in thresholds.items():
        special = np.array(values + [0.0, -0.0, 1e-36, -1e-36, np.nan, np.nextafter(values[0], np.inf)])
        pick = rng.random(len(rows)) < 0.5
        rows[pick, j] = rng.choice(special, pick.sum())
    return rows


@pytest.mark.parametrize(
    "params",
    [
        {},  # missing values go their own way (missing_type NaN)
        {"zero_as_missing": True},  # missing_type Zero
        {"use_missing": False},  # missing_type None: NaN is 0
        {"objective": "poisson"},
        {"num_leaves": 2**3, "max_depth": 3, "monotone_constraints": [1, 0, 0, 0, 0]},
    ],
    ids=["nan", "zero_as_missing", "no_missing", "poisson", "monotone"],
)
def test_contributions_equal_lightgbm_pred_contrib(params):
    X, y = _data(0)
    if params.get("objective") == "poisson":
        y = np.random.default_rng(1).poisson(1 + np.nan_to_num(X[:, 0]) / 3).astype(float)
    booster = _booster(X, y, **params)
    tables = path_tables(booster)
    assert tables is not None
    rows = np.vstack([X, _awkward_rows(X, booster)])
    expected = booster.predict(rows, pred_contrib=True)
    got = tables.contributions(rows)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    # and each row adds up to the raw margin, like LightGBM's
    np.testing.assert_allclose(got.sum(axis=1), booster.predict(rows, raw_score=True), atol=1e-9)


def test_the_missing_types_tested_are_the_ones_lightgbm_wrote():
    X, y = _data(0)
    seen = set()
    for params in ({}, {"zero_as_missing": True}, {"use_missing": False}):
        for tree in _booster(X, y, **params).dump_model()["tree_info"]:
            stack = [tree["tree_structure"]]
            while stack:
                node = stack.pop()
                if "leaf_value" not in node:
                    seen.add(node["missing_type"])
                    stack += [node["left_child"], node["right_child"]]
    assert seen == {"NaN", "Zero", "None"}


def test_one_row_and_no_rows():
    X, y = _data(2)
    booster = _booster(X, y)
    tables = path_tables(booster)
    np.testing.assert_allclose(tables.contributions(X[:1]), booster.predict(X[:1], pred_contrib=True), atol=1e-9)
    assert tables.contributions(X[:0]).shape == (0, X.shape[1] + 1)
    with pytest.raises(ValueError, match="5 feature columns"):
        tables.contributions(X[:, :3])


def test_models_it_does_not_cover_are_left_to_lightgbm():
    X, y = _data(3)
    big = _booster(X, y, num_leaves=MAX_SPLITS + 2, min_data_in_leaf=5)
    assert max(t["num_leaves"] for t in big.dump_model()["tree_info"]) > MAX_SPLITS + 1
    assert path_tables(big) is None
    cats = X.copy()
    cats[:, 0] = np.nan_to_num(cats[:, 0])
    categorical = lgb.train(
        {"objective": "binary", "num_leaves": 7, "verbose": -1, "min_data_per_group": 5, "cat_smooth": 1},
        lgb.Dataset(cats, y, categorical_feature=[0]),
        num_boost_round=20,
    )
    assert any(t["num_cat"] for t in categorical.dump_model()["tree_info"])
    assert path_tables(categorical) is None


def test_the_tables_are_built_once_per_booster():
    X, y = _data(4)
    booster = _booster(X, y)
    assert path_tables(booster) is path_tables(booster)
