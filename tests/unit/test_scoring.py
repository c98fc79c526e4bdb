"""Scoring: priority rules, ranking, bands, needs, warnings, explanations, and the model
behaviour a panel relies on (more history never lowers a score; age; stability)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import riskmodel.scoring.explain as explain_module
from riskmodel.scoring.explain import describe_value, top_factors_json
from riskmodel.modelling.features import BASE_FEATURES
from riskmodel.scoring.scoring import (
    OUTPUT_COLUMNS,
    PRIORITY_RULES,
    band,
    join_flags,
    priority_score,
    rank_priority,
    score_frame,
    validate_for_scoring,
)

SCORED_AT = "2025-11-01T00:00:00Z"


@pytest.fixture(scope="module")
def champions(trained_home):
    from riskmodel.modelling.registry import load_champions

    return load_champions(trained_home.settings)


@pytest.fixture(scope="module")
def rows(champions) -> pd.DataFrame:
    """400 validated releases of people the models never saw."""
    from riskmodel.data.synth import generate_cohort

    releases = generate_cohort(300, seed=77).releases.head(400)
    table = validate_for_scoring(releases, champions, line_offset=1)
    assert len(table.rejects) == 0
    return table.data


# --------------------------------------------------------------------------- priority and ranking


def test_priority_rules():
    reoffence, harm, frequency = np.array([0.5, 0.9]), np.array([0.2, 0.0]), np.array([2.0, 1.5])
    args = dict(reoffence=reoffence, harm=harm, frequency=frequency, harm_weight=0.5)
    assert priority_score("frequency", **args).tolist() == [2.0, 1.5]
    assert priority_score("harm_weighted_frequency", **args).tolist() == pytest.approx([2.0 * 1.1, 1.5])
    assert priority_score("reoffence", **args).tolist() == [0.5, 0.9]
    assert priority_score("harm", **args).tolist() == [0.2, 0.0]
    assert set(PRIORITY_RULES) == {"frequency", "harm_weighted_frequency", "reoffence", "harm"}
    with pytest.raises(ValueError, match="priority_rule must be one of"):
        priority_score("postcode", **args)


def test_rank_one_is_the_highest_score_and_ties_go_by_release_id():
    scores = np.array([0.3, 0.9, 0.3, 0.5, 0.3])
    ids = np.array(["r3", "r9", "r1", "r5", "r2"], dtype=object)
    assert rank_priority(scores, ids).tolist() == [5, 1, 3, 2, 4]


def test_ranks_follow_the_rows_whatever_their_order():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 200).astype(float)  # many ties
    ids = np.array([f"r{i:03d}" for i in rng.permutation(200)], dtype=object)
    ranks = rank_priority(scores, ids)
    order = rng.permutation(200)
    assert (rank_priority(scores[order], ids[order]) == ranks[order]).all()
    assert sorted(ranks) == list(range(1, 201))
    by_rank = np.argsort(ranks)
    assert (np.diff(scores[by_rank]) <= 0).all()


def test_rank_of_nothing_is_empty():
    assert rank_priority(np.array([]), np.array([], dtype=object)).tolist() == []


def test_bands_take_their_lower_edge():
    bands = ((0.0, "low"), (0.5, "medium"), (0.75, "high"), (0.9, "very high"))
    p = np.array([0.0, 0.4999, 0.5, 0.7499, 0.75, 0.9, 1.0])
    assert band(p, bands).tolist() == ["low", "low", "medium", "medium", "high", "very high", "very high"]


def test_score_frame_ranks_within_the_request(rows, champions):
    out = score_frame(rows, champions, explain=False, scored_at=SCORED_AT)
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert out["priority_rank"].tolist() == rank_priority(out["priority_score"].to_numpy(), out["release_id"].to_numpy()).tolist()
    config = champions.scoring
    expected = priority_score(
        config.priority_rule,
        reoffence=out["reoffence_probability"].to_numpy(),
        harm=out["harm_probability"].to_numpy(),
        frequency=out["frequency_expected"].to_numpy(),
        harm_weight=config.harm_weight,
    )
    assert np.allclose(out["priority_score"], expected, atol=1e-5)  # inputs are rounded to 6 places
    assert (out["priority_rule"] == config.priority_rule).all()
    assert (out["reoffence_band"] == band(out["reoffence_probability"], config.reoffence_bands)).all()
    assert (out["harm_band"] == band(out["harm_probability"], config.harm_bands)).all()
    assert set(out["scored_at"]) == {SCORED_AT}
    for target, label in champions.versions().items():
        assert set(out[f"{target}_model"]) == {label}


def test_unranked_scoring_leaves_the_rank_for_the_batch(rows, champions):
    out = score_frame(rows.head(5), champions, explain=False, rank=False)
    assert out["priority_rank"].tolist() == [-1] * 5


# --------------------------------------------------------------------------- needs and warnings


def test_needs_are_the_flagged_pathways_in_order(rows, champions):
    frame = rows.head(3).copy()
    frame.loc[:, ["needs_accommodation", "needs_employment", "needs_mental_health", "needs_substance_misuse", "needs_finance", "needs_family"]] = [
        [1.0, 0.0, 1.0, np.nan, 0.0, 1.0],
        [np.nan] * 6,
        [0.0, 1.0, 0.0, 1.0, 1.0, 0.0],
    ]
    needs = score_frame(frame, champions, explain=False)["needs"].tolist()
    assert needs == [
        "accommodation; health, including mental health; children and families",
        "",
        "education, training and employment; drugs and alcohol; finance, benefit and debt",
    ]


def test_join_flags():
    flags = np.array([[True, False, True], [False, False, False], [True, True, True]])
    assert join_flags(flags, ["a", "b", "c"]).tolist() == ["a; c", "", "a; b; c"]
    assert join_flags(np.zeros((0, 3), dtype=bool), ["a", "b", "c"]).tolist() == []


def test_a_value_outside_the_training_range_is_warned(rows, champions):
    low, high = champions.models["reoffence"].features.ranges_["previous_sanctions"]
    frame = rows.head(3).copy()
    frame["previous_sanctions"] = [high + 50, high, low]
    frame["previous_violent_sanctions"] = 0.0
    warnings = score_frame(frame, champions, explain=False)["warnings"].tolist()
    assert f"previous_sanctions outside the training range {low:g}-{high:g}" in warnings[0]
    assert "previous_sanctions" not in warnings[1] and "previous_sanctions" not in warnings[2]


def test_ogrs3_unavailable_is_warned_and_blank(rows, champions):
    frame = rows.head(2).copy()
    frame["age_at_first_sanction"] = [np.nan, 16.0]
    frame["previous_sanctions"] = [3.0, 3.0]
    frame["previous_violent_sanctions"] = 0.0
    out = score_frame(frame, champions, explain=False)
    assert "OGRS3 unavailable: age_at_first_sanction unknown" in out.loc[0, "warnings"]
    assert np.isnan(out.loc[0, "ogrs3_1y"]) and out.loc[0, "ogrs3_band"] is None
    assert 0 < out.loc[1, "ogrs3_1y"] < out.loc[1, "ogrs3_2y"] < 1


# --------------------------------------------------------------------------- explanations


def test_top_factors_are_the_largest_effects_in_words(rows, champions):
    model = champions.models["reoffence"]
    out = score_frame(rows, champions, scored_at=SCORED_AT)
    Xt = model.features.transform(rows)
    contributions = model.contributions_from_features(Xt)
    names = list(model.feature_names_)
    for i in range(len(rows)):
        factors = json.loads(out.loc[i, "top_factors"])
        assert 1 <= len(factors) <= champions.scoring.explain_top
        effects = [f["contribution"] for f in factors]
        assert effects == sorted(effects, key=abs, reverse=True)
        for factor in factors:
            raw = contributions[i, names.index(factor["feature"])]
            # the effect in probability has the sign of the feature's contribution
            assert factor["direction"] == ("raises" if raw > 0 else "lowers")
            assert math.copysign(1, factor["contribution"]) == math.copysign(1, raw)
            assert factor["value"] == describe_value(factor["feature"], Xt[i, names.index(factor["feature"])])
            assert "_" not in factor["value"]


def test_contributions_add_up_to_the_score(rows, champions):
    model = champions.models["reoffence"]
    Xt = model.features.transform(rows)
    total = model.contributions_from_features(Xt).sum(axis=1)
    p = score_frame(rows, champions, explain=False)["reoffence_probability"].to_numpy()
    assert np.allclose(1 / (1 + np.exp(-total)), p, atol=1e-6)


def test_unknown_values_are_said_as_not_recorded(rows, champions):
    model = champions.models["reoffence"]
    frame = rows.head(40).copy()
    for column in ("age_at_first_sanction", "age_at_index_conviction", "sentence_days", "previous_custodial_sentences",
                   "previous_violent_sanctions", "previous_breaches", "needs_accommodation", "needs_employment",
                   "needs_mental_health", "needs_substance_misuse", "needs_finance", "needs_family"):
        frame[column] = np.nan
    Xt = model.features.transform(frame)
    k = Xt.shape[1]
    everything = top_factors_json(model.contributions_from_features(Xt), Xt, model.feature_names_, top=k)
    unknown_said = 0
    for i, text in enumerate(everything):
        for factor in json.loads(text):
            value = Xt[i, list(model.feature_names_).index(factor["feature"])]
            if np.isnan(value):
                assert factor["value"].endswith("not recorded")
                unknown_said += 1
    assert unknown_said > 0
    for name in BASE_FEATURES:
        assert describe_value(name, float("nan")).endswith("not recorded")


def test_describe_value_words():
    assert describe_value("age_at_release", 30.9) == "aged 30 at release"
    assert describe_value("previous_sanctions", 1.0) == "1 previous sanction"
    assert describe_value("previous_sanctions", 12.0) == "12 previous sanctions"
    assert describe_value("sex_female", 1.0) == "female"
    assert describe_value("needs_accommodation", 1.0) == "accommodation need identified"
    assert describe_value("needs_accommodation", 0.0) == "no accommodation need"
    assert describe_value("index_offence_weight", 0.6612) == "index offence: theft non motor"


@pytest.mark.parametrize("top", [1, 3, 5, 30])
def test_explanations_of_one_row_and_of_many_are_the_same_text(rows, champions, monkeypatch, top):
    # Small requests are put together in Python, batches in Arrow: the text must not differ.
    model = champions.models["reoffence"]
    Xt = model.features.transform(rows)
    contributions = model.contributions_from_features(Xt)
    monkeypatch.setattr(explain_module, "_SMALL", 0)
    arrow = top_factors_json(contributions, Xt, model.feature_names_, top=top)
    monkeypatch.setattr(explain_module, "_SMALL", 10**9)
    python = top_factors_json(contributions, Xt, model.feature_names_, top=top)
    assert arrow.tolist() == python.tolist()
    assert explain_module.top_factors_arrow(contributions, Xt, model.feature_names_, top=top).to_pylist() == python.tolist()


# --------------------------------------------------------------------------- model behaviour


def sweep(rows: pd.DataFrame, column: str, values) -> pd.DataFrame:
    """Every row once per value of ``column``, everything else held fixed."""
    grid = rows.loc[rows.index.repeat(len(values))].reset_index(drop=True)
    grid[column] = np.tile(np.asarray(values, dtype=float), len(rows))
    grid["release_id"] = [f"{r}-{v}" for r, v in zip(grid["release_id"], grid[column])]
    return grid


def test_more_previous_sanctions_never_lowers_any_score(rows, champions):
    base = rows.head(150).assign(previous_violent_sanctions=0.0)  # valid for any number of sanctions
    values = np.arange(0, 151)
    out = score_frame(sweep(base, "previous_sanctions", values), champions, explain=False)
    for column in ("reoffence_probability", "harm_probability", "frequency_expected"):
        curves = out[column].to_numpy().reshape(len(base), len(values))
        assert (np.diff(curves, axis=1) >= 0).all(), column
        assert (curves[:, -1] > curves[:, 0]).mean() > 0.9  # and it does raise them


def test_a_far_older_person_scores_lower(rows, champions):
    base = rows.head(200).assign(age_at_first_sanction=16.0, age_at_index_conviction=np.nan)
    out = score_frame(sweep(base, "age_at_release", [20.0, 70.0]), champions, explain=False)
    for column in ("reoffence_probability", "harm_probability", "frequency_expected"):
        young, old = out[column].to_numpy().reshape(len(base), 2).T
        assert (old < young).all(), column


def test_unchanged_input_gives_the_same_scores(rows, champions):
    first = score_frame(rows, champions, scored_at=SCORED_AT)
    again = score_frame(rows.copy(), champions, scored_at=SCORED_AT)
    pd.testing.assert_frame_equal(first, again)
    alone = pd.concat([score_frame(rows.iloc[[i]], champions, scored_at=SCORED_AT) for i in (0, 7, 123)], ignore_index=True)
    together = first.iloc[[0, 7, 123]].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone.drop(columns="priority_rank"), together.drop(columns="priority_rank"))


def test_each_output_is_its_own_models_prediction(rows, champions):
    # Scoring works a margin out once for models with the same trees (by default the
    # reoffence model shares the frequency model's); each output must still be its own.
    out = score_frame(rows, champions, explain=False)
    for column, target in [("reoffence_probability", "reoffence"), ("harm_probability", "harm"), ("frequency_expected", "frequency")]:
        expected = np.round(champions.models[target].predict(rows), 6)
        np.testing.assert_array_equal(out[column].to_numpy(), expected, err_msg=column)
    keys = {t: m.trees_key for t, m in champions.models.items()}
    assert keys["harm"] != keys["reoffence"]
    assert (keys["reoffence"] == keys["frequency"]) == champions.config.reoffence_from_counts
