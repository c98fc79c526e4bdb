"""Compiled trees: equal to LightGBM on edge rows, cached, rebuilt when corrupt, and a fallback."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from riskmodel.modelling import compiled as C

pytest.importorskip("lleaves")


@pytest.fixture(scope="module")
def booster() -> lgb.Booster:
    """A small Poisson booster with missing values, zeros and a categorical column."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 6))
    X[:, 2] = rng.integers(0, 5, size=3000)  # categorical
    X[:, 3] = np.where(rng.random(3000) < 0.3, 0.0, X[:, 3])  # many zeros
    X[rng.random(X.shape) < 0.1] = np.nan
    rate = np.exp(0.4 * np.nan_to_num(X[:, 0]) + 0.3 * (np.nan_to_num(X[:, 2]) == 3) - 0.2 * np.isnan(X[:, 1]))
    y = rng.poisson(rate)
    data = lgb.Dataset(X, y, categorical_feature=[2], free_raw_data=False)
    return lgb.train({"objective": "poisson", "num_leaves": 7, "verbose": -1, "min_data_in_leaf": 20}, data, 40)


def test_check_rows_hold_every_threshold_edge_zero_and_missing(booster):
    rows = C.check_rows(booster)
    trees = booster.trees_to_dataframe()
    numeric = trees[trees["decision_type"] == "<="]
    for _, split in numeric.head(30).iterrows():
        column = rows[:, booster.feature_name().index(split["split_feature"])]
        t = float(split["threshold"])
        assert t in column or np.float64(t) in column
        assert np.nextafter(t, np.inf) in column and np.nextafter(t, -np.inf) in column
    assert np.isnan(rows).any(axis=0).all()
    assert (rows == 0).any(axis=0).all()


def test_compiled_margin_equals_lightgbm_on_edge_rows_and_random_rows(booster, tmp_path):
    result = C.compile_booster(booster, tmp_path)
    assert isinstance(result, C.Compiled), result
    assert result.status.engine == "lleaves"
    assert result.status.cache == "built"
    edge = C.check_rows(booster, rows=2000, seed=7)
    rng = np.random.default_rng(1)
    random = rng.normal(size=(5000, 6))
    random[rng.random(random.shape) < 0.2] = np.nan
    for rows in (edge, random, edge[:1]):
        expected = booster.predict(rows, raw_score=True)
        assert np.max(np.abs(result.margin(rows) - expected)) <= C.TOLERANCE


def test_second_load_is_a_cache_hit_and_a_corrupt_entry_is_rebuilt(booster, tmp_path):
    first = C.compile_booster(booster, tmp_path)
    assert isinstance(first, C.Compiled) and first.status.cache == "built"
    second = C.compile_booster(booster, tmp_path)
    assert isinstance(second, C.Compiled) and second.status.cache == "hit"
    (obj,) = tmp_path.glob("*.o")
    obj.write_bytes(obj.read_bytes()[:64])  # truncated: its digest no longer matches
    third = C.compile_booster(booster, tmp_path)
    assert isinstance(third, C.Compiled) and third.status.cache == "rebuilt"
    rows = C.check_rows(booster)
    assert np.max(np.abs(third.margin(rows) - booster.predict(rows, raw_score=True))) <= C.TOLERANCE


def test_a_missing_cache_entry_is_built_again(booster, tmp_path):
    C.compile_booster(booster, tmp_path)
    for path in tmp_path.glob("*.o"):
        path.unlink()
    again = C.compile_booster(booster, tmp_path)
    assert isinstance(again, C.Compiled) and again.status.cache == "built"


def test_a_compile_failure_falls_back_to_lightgbm_and_says_why(booster, tmp_path, caplog):
    def failing(model_file: str) -> object:
        raise RuntimeError("no LLVM here")

    with caplog.at_level("WARNING", logger="riskmodel.compiled"):
        result = C.compile_booster(booster, tmp_path, compiler=failing)
    assert isinstance(result, C.CompileStatus)
    assert result.engine == "lightgbm"
    assert "no LLVM here" in result.reason
    assert "no LLVM here" in caplog.text


def test_a_compiled_model_that_disagrees_is_not_used(booster, tmp_path):
    import lleaves

    class Wrong:
        """A compiled model one hundredth off LightGBM."""

        def __init__(self, model_file: str):
            self.inner = lleaves.Model(model_file=model_file)

        def compile(self, **kwargs: object) -> None:
            self.inner.compile(**kwargs)

        def predict(self, data: np.ndarray, n_jobs: int = 1) -> np.ndarray:
            return self.inner.predict(data, n_jobs=n_jobs) + 0.01

    result = C.compile_booster(booster, tmp_path, compiler=Wrong)
    assert isinstance(result, C.CompileStatus)
    assert result.engine == "lightgbm"
    assert "differs" in result.reason
    assert not list(tmp_path.glob("*.o"))  # the wrong object file is not kept for the next start
