"""The three models and their baselines.

Each target's model is a scikit-learn :class:`~sklearn.pipeline.Pipeline` of
:class:`~riskmodel.modelling.features.ReleaseFeatures` and LightGBM, with monotone constraints on
criminal-history features. :class:`CalibratedModel` maps LightGBM's margin (the log-odds of
a binary LightGBM, or the log-rate of a Poisson one) to a probability or an expected count
with an increasing map fitted on *out-of-fold* margins (see
:func:`riskmodel.modelling.train.train_models`: the training people are dealt into folds and
each fold's margin comes from trees that never saw it), without refitting the trees:

* ``isotonic`` (training's choice for ``frequency``): isotonic regression of the outcome on the margin, over
  equal-count bins of the margin, then a piecewise-linear map through the centre of each
  isotonic block, on the log-odds (binary) or log-rate (frequency) scale. Beyond the first
  and last block the map is almost flat (slope :data:`_EDGE_SLOPE`, so ranking is kept): a
  prediction never leaves the range of rates the training rows showed, and the tails are
  not bent by a two-parameter fit;
* ``logistic`` (training's choice for ``reoffence`` and ``harm``):
  ``logit(p) = intercept + slope * margin`` (slope kept > 0) for the binary targets; for
  ``frequency`` a multiplicative correction (expected total = observed total).

Both maps are increasing, so ranking and the monotone constraints carry over.

Per-feature contributions are LightGBM's ``pred_contrib`` (TreeSHAP) on the margin, worked
out by table lookup (:mod:`riskmodel.modelling.treeshap`, equal to LightGBM's to rounding,
about ten times faster), multiplied by the calibration map's average slope between the
base value and the row's margin; the base column is the map at the base value. So a row's
contributions add up to its calibrated log-odds (or log expected count), and each feature
keeps its share of the margin.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Mapping

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression, PoissonRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from riskmodel.evaluation.metrics import fit_logistic_intercept, fit_logistic_recalibration
from riskmodel.modelling.compiled import compiled_for
from riskmodel.modelling.config import DEFAULT_PARAMS
from riskmodel.modelling.features import ReleaseFeatures
from riskmodel.modelling.treeshap import path_tables

__all__ = [
    "TARGETS",
    "BINARY_TARGETS",
    "CalibratedModel",
    "fit_lightgbm_pipeline",
    "fit_baseline",
    "baseline_predict",
]

TARGETS: tuple[str, ...] = ("reoffence", "harm", "frequency")
BINARY_TARGETS: frozenset[str] = frozenset({"reoffence", "harm"})

_SMALL_BATCH = 2_000

#: Floor of the recalibration slope: a positive slope keeps the trees' ranking and monotonicity.
_MIN_SLOPE = 1e-3

#: Slope of the isotonic map beyond its first and last knot (log-odds or log-rate per unit
#: of margin): small enough that predictions stay within what training saw, positive so that
#: ranking is kept.
_EDGE_SLOPE = 1e-3

#: Smallest probability or rate an isotonic knot takes (an all-zero block would be -inf).
_FLOOR = 1e-4

RECALIBRATIONS: tuple[str, ...] = ("isotonic", "logistic")


def _isotonic_knots(margin: np.ndarray, y: np.ndarray, *, binary: bool) -> tuple[np.ndarray, np.ndarray]:
    """Knots (margin, log-odds or log-rate) of the isotonic map through block centres.

    The margins are first grouped into equal-count bins (at least 40 rows each, at most
    1,000 bins), so a handful of extreme rows cannot make a block of their own.
    """
    order = np.argsort(margin, kind="stable")
    m, v = margin[order], y[order]
    n_bins = int(np.clip(len(m) // 40, 1, 1000))
    chunks = np.array_split(np.arange(len(m)), n_bins)
    x = np.array([m[c].mean() for c in chunks])
    w = np.array([len(c) for c in chunks], dtype=float)
    t = np.array([v[c].mean() for c in chunks])
    fitted = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(x, t, sample_weight=w).predict(x)
    # one knot per isotonic block: its weighted centre and its value
    starts = np.flatnonzero(np.r_[True, np.diff(fitted) > 0])
    ends = np.r_[starts[1:], len(fitted)]
    kx = np.array([np.average(x[a:b], weights=w[a:b]) for a, b in zip(starts, ends, strict=True)])
    kv = fitted[starts]
    if binary:
        kv = np.clip(kv, _FLOOR, 1.0 - _FLOOR)
        ky = np.log(kv / (1.0 - kv))
    else:
        ky = np.log(np.maximum(kv, _FLOOR))
    # strictly increasing (clipping may tie two knots)
    ky = np.maximum.accumulate(ky + np.arange(len(ky)) * 1e-9)
    return kx, ky


def _apply_map(knots_x: np.ndarray, knots_y: np.ndarray, edge_slope: float, margin: np.ndarray) -> np.ndarray:
    """The piecewise-linear map at ``margin`` (linear with ``edge_slope`` beyond the knots)."""
    margin = np.asarray(margin, dtype=float)
    z = np.interp(margin, knots_x, knots_y)
    z = np.where(margin < knots_x[0], knots_y[0] + edge_slope * (margin - knots_x[0]), z)
    return np.where(margin > knots_x[-1], knots_y[-1] + edge_slope * (margin - knots_x[-1]), z)


_TREES_KEYS: weakref.WeakKeyDictionary[lgb.Booster, str] = weakref.WeakKeyDictionary()


def _threads(n_rows: int) -> int:
    # OpenMP start-up dominates for a handful of rows.
    return 1 if n_rows < _SMALL_BATCH else 0


def fit_lightgbm_pipeline(
    target: str,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    X_valid: pd.DataFrame | None = None,
    y_valid: np.ndarray | None = None,
    extra_numeric: tuple[str, ...] = (),
    extra_categorical: tuple[str, ...] = (),
    params: Mapping[str, object] | None = None,
    seed: int = 0,
) -> Pipeline:
    """Fit features + LightGBM for one target.

    Parameters
    ----------
    target : {"reoffence", "harm", "frequency"}
        Binary targets get a classifier, ``frequency`` a Poisson regressor.
    X, y : training rows and labels.
    X_valid, y_valid : optional early-stopping rows (never the test rows).
    extra_numeric, extra_categorical : declared extra features.
    params : LightGBM parameters overriding :data:`riskmodel.modelling.config.DEFAULT_PARAMS`.
    seed : random seed.

    Returns
    -------
    Pipeline
        ``[("features", ReleaseFeatures), ("model", LGBMClassifier | LGBMRegressor)]``.
    """
    params = {**DEFAULT_PARAMS, **(params or {})}
    stopping = int(params.pop("early_stopping_rounds", 0) or 0)
    features = ReleaseFeatures(extra_numeric=extra_numeric, extra_categorical=extra_categorical).fit(X)
    Xt = features.transform(X)
    common = {
        "random_state": seed,
        "verbose": -1,
        # "advanced" (and "intermediate") can break monotonicity (LightGBM #5358, #6155).
        "monotone_constraints_method": "basic",
        **params,
        "monotone_constraints": features.monotone_constraints(),
    }
    if target in BINARY_TARGETS:
        model = lgb.LGBMClassifier(objective="binary", **common)
    elif target == "frequency":
        model = lgb.LGBMRegressor(objective="poisson", **common)
    else:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    fit_kwargs: dict[str, object] = {
        "feature_name": [str(n) for n in features.feature_names_out_],
        "categorical_feature": features.categorical_indices_ or "auto",
    }
    if X_valid is not None and stopping:
        fit_kwargs["eval_X"] = (features.transform(X_valid),)
        fit_kwargs["eval_y"] = (np.asarray(y_valid),)
        fit_kwargs["callbacks"] = [lgb.early_stopping(stopping, verbose=False)]
    model.fit(Xt, np.asarray(y), **fit_kwargs)
    return Pipeline([("features", features), ("model", model)])


class CalibratedModel(BaseEstimator):
    """A fitted features + LightGBM pipeline with an increasing calibration map of its margin.

    ``fit`` (or :meth:`fit_from_margin`) fits only the calibration map; the pipeline stays
    as given (like :class:`sklearn.frozen.FrozenEstimator`). Training fits the map on
    out-of-fold margins (:meth:`fit_from_margin`), so no release serves calibration only.

    Parameters
    ----------
    pipeline : Pipeline
        Fitted ``[("features", ReleaseFeatures), ("model", LGBM...)]``.
    target : str
        ``reoffence``, ``harm`` or ``frequency``.
    recalibration : {"logistic", "isotonic"}
        The map (see the module docstring).

    Attributes
    ----------
    knots_x_, knots_y_ : ndarray
        The map's knots: margin to calibrated log-odds (binary) or log expected count.
    edge_slope_ : float
        The map's slope beyond its first and last knot.
    intercept_, slope_ : float
        ``logistic`` only: the linear map on the margin.
    classes_ : ndarray
        ``[0, 1]`` for the binary targets.
    feature_names_ : ndarray of str
        Model feature names.
    """

    def __init__(self, pipeline: Pipeline, target: str = "reoffence", recalibration: str = "logistic"):
        self.pipeline = pipeline
        self.target = target
        self.recalibration = recalibration

    @property
    def is_binary(self) -> bool:
        """True for the probability targets."""
        return self.target in BINARY_TARGETS

    def fit(self, X: pd.DataFrame, y: ArrayLike) -> CalibratedModel:
        """Fit the calibration map on the pipeline's own margin of calibration rows."""
        return self.fit_from_margin(self.margin(X), y)

    def fit_from_margin(self, margin: ArrayLike, y: ArrayLike) -> CalibratedModel:
        """Fit the calibration map on given margins (out-of-fold ones in training) and outcomes."""
        if self.recalibration not in RECALIBRATIONS:
            raise ValueError(f"recalibration must be one of {RECALIBRATIONS}, got {self.recalibration!r}")
        margin = np.asarray(margin, dtype=float)
        y = np.asarray(y, dtype=float)
        if self.recalibration == "isotonic":
            self.knots_x_, self.knots_y_ = _isotonic_knots(margin, y, binary=self.is_binary)
            self.edge_slope_ = _EDGE_SLOPE
        else:
            if self.is_binary:
                self.intercept_, slope = fit_logistic_recalibration(y, margin)
                self.slope_ = max(slope, _MIN_SLOPE)
                if self.slope_ != slope:  # refit the intercept alone with the floored slope
                    self.intercept_ = fit_logistic_intercept(y, self.slope_ * margin)
            else:
                self.slope_ = 1.0
                self.intercept_ = float(np.log(max(y.sum(), 1e-9) / np.exp(margin).sum()))
            self.knots_x_ = np.array([0.0, 1.0])
            self.knots_y_ = np.array([self.intercept_, self.intercept_ + self.slope_])
            self.edge_slope_ = self.slope_
        if self.is_binary:
            self.classes_ = np.array([0, 1])
        self.feature_names_ = np.asarray(self.pipeline.named_steps["features"].feature_names_out_)
        return self

    def calibrated_margin(self, margin: ArrayLike) -> np.ndarray:
        """The map: calibrated log-odds (binary) or log expected count of a raw margin."""
        check_is_fitted(self, "knots_x_")
        return _apply_map(self.knots_x_, self.knots_y_, self.edge_slope_, margin)

    # ------------------------------------------------------------------ internals
    @property
    def features(self) -> ReleaseFeatures:
        """The fitted feature step."""
        return self.pipeline.named_steps["features"]

    @property
    def booster(self) -> lgb.Booster:
        """The fitted LightGBM booster."""
        return self.pipeline.named_steps["model"].booster_

    def margin_from_features(self, Xt: np.ndarray) -> np.ndarray:
        """Raw LightGBM margin (log-odds or log-rate) of transformed features.

        By the compiled trees when they are attached (:mod:`riskmodel.modelling.compiled`,
        checked equal to LightGBM's), else by LightGBM.
        """
        compiled = compiled_for(self.booster)
        if compiled is not None:
            return compiled.margin(Xt)
        return self.booster.predict(Xt, raw_score=True, num_threads=_threads(len(Xt)))

    def margin(self, X: pd.DataFrame) -> np.ndarray:
        """Raw LightGBM margin of contract rows."""
        return self.margin_from_features(self.features.transform(X))

    def predict_from_features(self, Xt: np.ndarray) -> np.ndarray:
        """Calibrated probability (binary) or expected count (frequency)."""
        return self.predict_from_margin(self.margin_from_features(Xt))

    def predict_from_margin(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probability (binary) or expected count from the raw LightGBM margin."""
        z = self.calibrated_margin(margin)
        return 1.0 / (1.0 + np.exp(-z)) if self.is_binary else np.exp(z)

    @property
    def trees_key(self) -> str:
        """A digest of the fitted trees: two models with the same key give the same margin.

        The reoffence model learns from counts by default and then has the frequency
        model's trees (see :class:`riskmodel.modelling.config.TrainConfig`): scoring works their
        margin out once.
        """
        key = _TREES_KEYS.get(self.booster)
        if key is None:
            key = hashlib.sha256(self.booster.model_to_string().encode()).hexdigest()
            _TREES_KEYS[self.booster] = key
        return key

    def contributions_from_features(self, Xt: np.ndarray) -> np.ndarray:
        """Per-feature contributions on the calibrated margin; last column is the base value.

        Each feature's TreeSHAP share of the raw margin, times the calibration map's average
        slope between the base value ``b`` and the row's margin ``m``,
        ``(g(m) - g(b)) / (m - b)`` (its local slope where ``m`` is ``b``); the last column is
        ``g(b)``. Rows add up to the calibrated log-odds (binary) or log expected count,
        ``g(m)``. With the ``logistic`` map the slope is the same for every row.
        """
        check_is_fitted(self, "knots_x_")
        tables = path_tables(self.booster)  # LightGBM's own figures, worked out faster
        if tables is not None:
            raw = tables.contributions(Xt)
        else:
            raw = self.booster.predict(Xt, pred_contrib=True, num_threads=_threads(len(Xt)))
        base = raw[:, -1]
        margin = raw.sum(axis=1)
        g_base = self.calibrated_margin(base)
        step = margin - base
        near = np.abs(step) < 1e-9
        safe = np.where(near, 1.0, step)
        eps = 1e-6
        local = (self.calibrated_margin(base + eps) - self.calibrated_margin(base - eps)) / (2 * eps)
        slope = np.where(near, local, (self.calibrated_margin(margin) - g_base) / safe)
        out = raw * slope[:, None]
        out[:, -1] = g_base
        return out

    # ------------------------------------------------------------------ sklearn surface
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``[[1 - p, p], ...]`` for the binary targets."""
        if not self.is_binary:
            raise AttributeError("predict_proba is only for the binary targets")
        p = self.predict_from_features(self.features.transform(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Expected count (frequency) or the calibrated probability (binary targets)."""
        return self.predict_from_features(self.features.transform(X))


def fit_baseline(target: str, X: pd.DataFrame, y: np.ndarray) -> Pipeline:
    """Logistic (or Poisson) regression on the same features: the simple baseline.

    Missing values are imputed with the median plus a missing-indicator.
    """
    features = ReleaseFeatures()
    steps = [
        ("features", features),
        ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
        ("scale", StandardScaler()),
    ]
    if target in BINARY_TARGETS:
        steps.append(("model", LogisticRegression(max_iter=2000)))
    else:
        steps.append(("model", PoissonRegressor(alpha=1e-4, max_iter=1000)))
    return Pipeline(steps).fit(X, np.asarray(y))


def baseline_predict(baseline: Pipeline, X: pd.DataFrame) -> np.ndarray:
    """Probability (binary) or expected count of the baseline."""
    if hasattr(baseline.named_steps["model"], "predict_proba"):
        return baseline.predict_proba(X)[:, 1]
    return baseline.predict(X)
