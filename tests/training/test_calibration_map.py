"""The isotonic calibration map: increasing, within what training saw, and explanations that add up."""

from __future__ import annotations

import numpy as np
import pytest

from riskmodel.data.synth import generate_cohort
from riskmodel.modelling.models import CalibratedModel, fit_lightgbm_pipeline


@pytest.fixture(scope="module")
def fitted():
    cohort = generate_cohort(800, seed=2)
    releases = cohort.releases
    y = np.random.default_rng(0).binomial(3, 0.3, len(releases)).astype(float)
    pipeline = fit_lightgbm_pipeline("frequency", releases, y, params={"n_estimators": 30})
    return releases, y, pipeline


@pytest.mark.parametrize("target", ["reoffence", "frequency"])
def test_the_isotonic_map_is_increasing_and_stays_within_the_rates_training_saw(fitted, target):
    releases, counts, pipeline = fitted
    y = (counts > 0).astype(float) if target == "reoffence" else counts
    model = CalibratedModel(pipeline, target=target, recalibration="isotonic")
    margin = model.margin(releases)
    model.fit_from_margin(margin, y)
    grid = np.linspace(margin.min() - 5, margin.max() + 5, 2001)
    predicted = model.predict_from_margin(grid)
    assert (np.diff(predicted) > 0).all()  # strictly increasing: ranking and monotonicity kept
    observed_top = y[np.argsort(margin)[-40:]].mean()  # the highest bin's mean outcome
    assert predicted.max() <= observed_top * 1.01  # far past the data, no extrapolation
    assert predicted.min() >= 0
    # the expected total of the training rows is close to the observed one
    assert model.predict_from_margin(margin).sum() == pytest.approx(y.sum(), rel=0.05)


@pytest.mark.parametrize("recalibration", ["isotonic", "logistic"])
def test_contributions_add_up_to_the_calibrated_margin_and_keep_each_features_sign(fitted, recalibration):
    releases, counts, pipeline = fitted
    model = CalibratedModel(pipeline, target="reoffence", recalibration=recalibration)
    model.fit_from_margin(model.margin(releases), (counts > 0).astype(float))
    Xt = model.features.transform(releases.head(200))
    contributions = model.contributions_from_features(Xt)
    z = model.calibrated_margin(model.margin_from_features(Xt))
    np.testing.assert_allclose(contributions.sum(axis=1), z, atol=1e-6)
    raw = model.booster.predict(Xt, pred_contrib=True)
    features = contributions[:, :-1]
    assert (np.sign(features) == np.sign(raw[:, :-1])).all()  # a positive slope per row: each sign kept
    np.testing.assert_allclose(contributions[:, -1], model.calibrated_margin(raw[:, -1]), atol=1e-9)
    p = model.predict_from_margin(model.margin_from_features(Xt))
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-contributions.sum(axis=1))), atol=1e-9)


def test_an_unknown_recalibration_is_refused_naming_it(fitted):
    releases, counts, pipeline = fitted
    with pytest.raises(ValueError, match="recalibration must be one of"):
        CalibratedModel(pipeline, target="harm", recalibration="spline").fit(releases, (counts > 0).astype(float))
