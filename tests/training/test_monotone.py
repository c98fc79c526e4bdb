"""More criminal history never lowers any score: reoffence, harm or frequency."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskmodel.data.synth import generate_cohort
from riskmodel.modelling.config import TrainConfig
from riskmodel.modelling.features import MONOTONE_INCREASING, ReleaseFeatures
from riskmodel.modelling.models import TARGETS
from riskmodel.modelling.registry import load_champions
from riskmodel.modelling.train import train_models

HISTORY = ("previous_sanctions", "previous_custodial_sentences", "previous_violent_sanctions", "previous_breaches")
SWEEP = np.arange(0, 151, dtype=float)


@pytest.fixture(scope="module")
def champion_models(trained_home):
    return load_champions(trained_home.settings).models


@pytest.fixture(scope="module")
def default_models():
    """The three models as the product's default settings train them, on a fresh cohort."""
    cohort = generate_cohort(3000, seed=33)
    config = TrainConfig(n_boot=0, split={"evaluation_period": "year"})  # yearly: fewer fits, same procedure
    result = train_models(cohort.releases, cohort.reoffences, as_of=cohort.as_of, config=config)
    return {target: tr.model for target, tr in result.targets.items()}


@pytest.fixture(scope="module")
def binary_reoffence_model():
    """The reoffence model fitted to the binary outcome (``reoffence_from_counts: false``)."""
    cohort = generate_cohort(3000, seed=34)
    config = TrainConfig(n_boot=0, reoffence_from_counts=False, split={"evaluation_period": "year"})
    result = train_models(cohort.releases, cohort.reoffences, as_of=cohort.as_of, config=config, targets=("reoffence",))
    return {"reoffence": result.targets["reoffence"].model}


@pytest.fixture(scope="module")
def base_rows(trained_home):
    """Many real release rows, some with unknown (blank) history values."""
    releases = trained_home.cohort.releases
    return releases.sample(n=400, random_state=3).reset_index(drop=True)


def _sweep(model, rows: pd.DataFrame, column: str) -> np.ndarray:
    """Scores of every row with ``column`` set to each value of the sweep (rows x values)."""
    grid = rows.loc[rows.index.repeat(len(SWEEP))].reset_index(drop=True)
    grid[column] = np.tile(SWEEP, len(rows))
    return model.predict(grid).reshape(len(rows), len(SWEEP))


def test_the_history_features_are_the_constrained_ones():
    features = ReleaseFeatures().fit(
        pd.DataFrame({"sex": ["M"], "age_at_release": [30.0], "previous_sanctions": [1.0], "index_offence": ["other"]})
    )
    constrained = {
        n for n, c in zip(features.feature_names_out_, features.monotone_constraints(), strict=True) if c == 1
    }
    assert set(HISTORY) <= constrained == set(MONOTONE_INCREASING)
    assert all(c in (0, 1) for c in features.monotone_constraints())


@pytest.mark.parametrize("which", ["champion_models", "default_models", "binary_reoffence_model"])
@pytest.mark.parametrize("column", HISTORY)
def test_more_history_never_lowers_any_score(request, which, column, base_rows):
    models = request.getfixturevalue(which)
    for target in models:
        scores = _sweep(models[target], base_rows, column)
        steps = np.diff(scores, axis=1)
        worst = np.unravel_index(np.argmin(steps), steps.shape)
        assert steps.min() >= -1e-12, (
            f"{target}: {column} {SWEEP[worst[1]]:.0f} -> {SWEEP[worst[1]] + 1:.0f}"
            f" lowers the score of base row {worst[0]} by {-steps.min():.3g}"
        )
        if column == "previous_sanctions":  # and the sweep is not trivially flat
            assert (scores[:, -1] > scores[:, 0]).mean() > 0.5, target


def test_more_sanctions_never_lower_a_score_with_the_other_history_unknown(champion_models, base_rows):
    rows = base_rows.head(100).copy()
    for column in (
        "previous_custodial_sentences",
        "previous_violent_sanctions",
        "previous_breaches",
        "age_at_first_sanction",
    ):
        rows[column] = pd.NA if rows[column].dtype.name in ("Int64", "boolean") else np.nan
    for target in TARGETS:
        assert np.diff(_sweep(champion_models[target], rows, "previous_sanctions"), axis=1).min() >= -1e-12, target
