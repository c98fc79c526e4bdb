"""The three models and their baselines.

Each target's model is a scikit-learn :class:`~sklearn.pipeline.Pipeline` of
:class:`~riskmodel.modelling.features.ReleaseFeatures` and LightGBM, with monotone constraints on
criminal-history features, fitted on the training period. :class:`CalibratedModel` then
recalibrates it on a later, separate calibration fold without refitting the trees:

* ``reoffence``, ``harm``: logistic recalibration of LightGBM's margin,
  ``logit(p) = intercept + slope * margin`` (slope kept > 0, so ranking and monotonicity
  are preserved). The margin is the log-odds of a binary LightGBM, or the log-rate of a
  Poisson one when the reoffence model learns from the counts of reoffences (the
  default: see :class:`riskmodel.modelling.config.TrainConfig`);
* ``frequency``: Poisson LightGBM (log link) with a multiplicative correction so that the
  expected total equals the observed total on the calibration fold.

Per-feature contributions are LightGBM's ``pred_contrib`` (TreeSHAP) on the margin, worked
out by table lookup (:mod:`riskmodel.modelling.treeshap`, equal to LightGBM's to rounding, about ten
times faster) and scaled by the same recalibration, so they add up to the calibrated
log-odds (or log-rate).
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
from sklearn.linear_model import LogisticRegression, PoissonRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from riskmodel.evaluation.metrics import fit_logistic_intercept, fit_logistic_recalibration
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
    """A fitted features + LightGBM pipeline, recalibrated on a separate fold.

    ``fit`` fits only the recalibration; the pipeline stays as given (like
    :class:`sklearn.frozen.FrozenEstimator`).

    Parameters
    ----------
    pipeline : Pipeline
        Fitted ``[("features", ReleaseFeatures), ("model", LGBM...)]``.
    target : str
        ``reoffence``, ``harm`` or ``frequency``.

    Attributes
    ----------
    intercept_, slope_ : float
        Recalibration on the margin (log-odds or log-rate).
    classes_ : ndarray
        ``[0, 1]`` for the binary targets.
    feature_names_ : ndarray of str
        Model feature names.
    """

    def __init__(self, pipeline: Pipeline, target: str = "reoffence"):
        self.pipeline = pipeline
        self.target = target

    @property
    def is_binary(self) -> bool:
        """True for the probability targets."""
        return self.target in BINARY_TARGETS

    def fit(self, X: pd.DataFrame, y: ArrayLike) -> CalibratedModel:
        """Fit the recalibration on calibration rows."""
        margin = self.margin(X)
        y = np.asarray(y, dtype=float)
        if self.is_binary:
            self.intercept_, slope = fit_logistic_recalibration(y, margin)
            self.slope_ = max(slope, _MIN_SLOPE)
            if self.slope_ != slope:  # refit the intercept alone with the floored slope
                self.intercept_ = fit_logistic_intercept(y, self.slope_ * margin)
            self.classes_ = np.array([0, 1])
        else:
            self.slope_ = 1.0
            self.intercept_ = float(np.log(max(y.sum(), 1e-9) / np.exp(margin).sum()))
        self.feature_names_ = np.asarray(self.pipeline.named_steps["features"].feature_names_out_)
        return self

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
        """Raw LightGBM margin (log-odds or log-rate) of transformed features."""
        return self.booster.predict(Xt, raw_score=True, num_threads=_threads(len(Xt)))

    def margin(self, X: pd.DataFrame) -> np.ndarray:
        """Raw LightGBM margin of contract rows."""
        return self.margin_from_features(self.features.transform(X))

    def predict_from_features(self, Xt: np.ndarray) -> np.ndarray:
        """Calibrated probability (binary) or expected count (frequency)."""
        return self.predict_from_margin(self.margin_from_features(Xt))

    def predict_from_margin(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probability (binary) or expected count from the raw LightGBM margin."""
        check_is_fitted(self, "slope_")
        z = self.intercept_ + self.slope_ * margin
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

        Rows add up to the calibrated log-odds (binary) or log expected count.
        """
        check_is_fitted(self, "slope_")
        tables = path_tables(self.booster)  # LightGBM's own figures, worked out faster
        if tables is not None:
            raw = tables.contributions(Xt)
        else:
            raw = self.booster.predict(Xt, pred_contrib=True, num_threads=_threads(len(Xt)))
        out = raw * self.slope_
        out[:, -1] += self.intercept_
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
