"""Champions predict with compiled trees, give LightGBM's scores, and say so on ``GET /model``."""

from __future__ import annotations

import numpy as np
import pytest
from states import state  # noqa: F401 (fixture)

from riskmodel.data.contract import find_table, read_table
from riskmodel.modelling.compiled import compiled_for
from riskmodel.modelling.registry import load_champions
from riskmodel.scoring.scoring import score_frame, validate_for_scoring

pytest.importorskip("lleaves")


@pytest.fixture(scope="module")
def both(trained_home, monkeypatch_module):
    compiled = load_champions(trained_home.settings)
    monkeypatch_module.setenv("RISKMODEL_COMPILED", "0")
    plain = load_champions(trained_home.settings)
    monkeypatch_module.delenv("RISKMODEL_COMPILED")
    return compiled, plain


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_every_champion_is_compiled_and_cached_under_the_home(both, trained_home):
    compiled, plain = both
    for target, model in compiled.models.items():
        assert compiled.engines[target]["engine"] == "lleaves", compiled.engines[target]
        assert compiled.engines[target]["max_difference"] <= 1e-9
        assert compiled_for(model.booster) is not None
    for target, model in plain.models.items():
        assert plain.engines[target]["engine"] == "lightgbm"
        assert "RISKMODEL_COMPILED" in plain.engines[target]["reason"]
        assert compiled_for(model.booster) is None
    assert list((trained_home.home / "compiled").glob("*.o"))
    again = load_champions(trained_home.settings)
    assert {e["cache"] for e in again.engines.values()} == {"hit"}


def test_compiled_scores_equal_lightgbm_scores(both, trained_home):
    compiled, plain = both
    rows = validate_for_scoring(read_table(find_table(trained_home.data, "releases")).iloc[:2000], compiled).data
    for target in ("reoffence", "harm", "frequency"):
        fast, slow = compiled.models[target].predict(rows), plain.models[target].predict(rows)
        assert np.max(np.abs(fast - slow)) <= 1e-9, target
    explained = score_frame(rows.iloc[:200], compiled, scored_at="x")["top_factors"].tolist()
    assert explained == score_frame(rows.iloc[:200], plain, scored_at="x")["top_factors"].tolist()


def test_get_model_says_how_each_champion_predicts(state):  # noqa: F811
    info = state.model_info()["models"]
    assert {target: item["compiled"]["engine"] for target, item in info.items()} == {
        "reoffence": "lleaves",
        "harm": "lleaves",
        "frequency": "lleaves",
    }
