"""Scoring with trained champions: ranks within a request, needs, warnings, explanations, and
the model behaviour a panel relies on (more history never lowers a score; age; stability)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from riskmodel.modelling.arp import arp
from riskmodel.modelling.features import BASE_FEATURES
from riskmodel.scoring.explain import describe_value, top_factors
from riskmodel.scoring.output import OUTPUT_COLUMNS, TOP_FACTORS_TYPE, FactorColumn
from riskmodel.scoring.scoring import (
    band,
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


def test_score_frame_ranks_within_the_request(rows, champions):
    out = score_frame(rows, champions, explain=False, scored_at=SCORED_AT)
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert (
        out["priority_rank"].tolist()
        == rank_priority(out["priority_score"].to_numpy(), out["release_id"].to_numpy()).tolist()
    )
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


def test_needs_are_the_codes_of_the_flagged_pathways_in_order(rows, champions):
    frame = rows.head(3).copy()
    frame.loc[
        :,
        [
            "needs_accommodation",
            "needs_employment",
            "needs_mental_health",
            "needs_substance_misuse",
            "needs_finance",
            "needs_family",
        ],
    ] = [
        [1.0, 0.0, 1.0, np.nan, 0.0, 1.0],
        [np.nan] * 6,
        [0.0, 1.0, 0.0, 1.0, 1.0, 0.0],
    ]
    needs = score_frame(frame, champions, explain=False)["needs"].tolist()
    assert needs == [
        ["accommodation", "mental_health", "family"],
        [],
        ["employment", "substance_misuse", "finance"],
    ]


def test_a_value_outside_the_training_range_is_warned(rows, champions):
    low, high = champions.models["reoffence"].features.ranges_["previous_sanctions"]
    frame = rows.head(3).copy()
    frame["previous_sanctions"] = [high + 50, high, low]
    frame["previous_violent_sanctions"] = 0.0
    warnings = score_frame(frame, champions, explain=False)["warnings"].tolist()
    assert {
        "code": "outside_training_range",
        "message": f"previous_sanctions outside the training range {low:g}-{high:g}",
        "field": "previous_sanctions",
    } in warnings[0]
    assert not any(w["field"] == "previous_sanctions" for w in warnings[1] + warnings[2])


def test_ogrs3_unavailable_is_warned_and_blank(rows, champions):
    frame = rows.head(2).copy()
    frame["age_at_first_sanction"] = [np.nan, 16.0]
    frame["previous_sanctions"] = [3.0, 3.0]
    frame["previous_violent_sanctions"] = 0.0
    out = score_frame(frame, champions, explain=False)
    assert {
        "code": "ogrs3_unavailable",
        "message": "OGRS3 unavailable: age_at_first_sanction unknown",
        "field": "age_at_first_sanction",
    } in out.loc[0, "warnings"]
    assert not any(w["code"] == "ogrs3_unavailable" for w in out.loc[1, "warnings"])
    assert np.isnan(out.loc[0, "ogrs3_1y"]) and out.loc[0, "ogrs3_band"] is None
    assert 0 < out.loc[1, "ogrs3_1y"] < out.loc[1, "ogrs3_2y"] < 1
    # ARP needs the first sanction's age too (from the second sanction on), and says so apart
    assert {
        "code": "arp_unavailable",
        "message": "ARP unavailable: age_at_first_sanction unknown",
        "field": "age_at_first_sanction",
    } in out.loc[0, "warnings"]
    assert not any(w["code"] == "arp_unavailable" for w in out.loc[1, "warnings"])
    assert np.isnan(out.loc[0, "arp_2y"]) and out.loc[0, "arp_band"] is None
    assert 0 < out.loc[1, "arp_2y"] < 1 and out.loc[1, "arp_band"] in ("low", "medium", "high", "very high")


def test_arp_sits_beside_ogrs3_and_matches_the_reference_function(rows, champions):
    out = score_frame(rows, champions, explain=False)
    columns = list(out.columns)
    assert columns[columns.index("ogrs3_band") + 1 : columns.index("ogrs3_band") + 3] == ["arp_2y", "arp_band"]
    expected = arp(rows.reset_index(drop=True))
    np.testing.assert_allclose(out["arp_2y"].to_numpy(float), expected["arp_2y"].to_numpy(float), atol=1e-6)
    assert out["arp_band"].tolist() == expected["arp_band"].tolist()
    assert out["arp_2y"].notna().mean() > 0.5


# --------------------------------------------------------------------------- explanations


def test_top_factors_are_the_largest_effects_in_words(rows, champions):
    model = champions.models["reoffence"]
    out = score_frame(rows, champions, scored_at=SCORED_AT)
    Xt = model.features.transform(rows)
    contributions = model.contributions_from_features(Xt)
    names = list(model.feature_names_)
    for i in range(len(rows)):
        factors = out.loc[i, "top_factors"]
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
    for column in (
        "age_at_first_sanction",
        "age_at_index_conviction",
        "sentence_days",
        "previous_custodial_sentences",
        "previous_violent_sanctions",
        "previous_breaches",
        "needs_accommodation",
        "needs_employment",
        "needs_mental_health",
        "needs_substance_misuse",
        "needs_finance",
        "needs_family",
    ):
        frame[column] = np.nan
    Xt = model.features.transform(frame)
    k = Xt.shape[1]
    everything = top_factors(model.contributions_from_features(Xt), Xt, model.feature_names_, top=k)
    unknown_said = 0
    for i, factors in enumerate(everything.to_pylist()):
        for factor in factors:
            value = Xt[i, list(model.feature_names_).index(factor["feature"])]
            if np.isnan(value):
                assert factor["value"].endswith("not recorded")
                unknown_said += 1
    assert unknown_said > 0
    for name in BASE_FEATURES:
        assert describe_value(name, float("nan")).endswith("not recorded")


@pytest.mark.parametrize("top", [1, 3, 5, 30])
def test_factors_in_python_and_in_arrow_are_the_same(rows, champions, top):
    # The service reads the factors as Python lists, batch scoring as Arrow: they must not differ.
    model = champions.models["reoffence"]
    Xt = model.features.transform(rows)
    factors = top_factors(model.contributions_from_features(Xt), Xt, model.feature_names_, top=top)
    python = factors.to_pylist()
    assert len(python) == len(rows) and all(len(f) <= min(top, Xt.shape[1]) for f in python)
    assert factors.to_arrow(TOP_FACTORS_TYPE).to_pylist() == python
    parts = [
        top_factors(model.contributions_from_features(Xt[a:b]), Xt[a:b], model.feature_names_, top=top)
        for a, b in ((0, 150), (150, len(rows)))
    ]
    halves = FactorColumn.concat(parts)
    assert halves.to_pylist() == python


# --------------------------------------------------------------------------- model behaviour


def sweep(rows: pd.DataFrame, column: str, values) -> pd.DataFrame:
    """Every row once per value of ``column``, everything else held fixed."""
    grid = rows.loc[rows.index.repeat(len(values))].reset_index(drop=True)
    grid[column] = np.tile(np.asarray(values, dtype=float), len(rows))
    grid["release_id"] = [f"{r}-{v}" for r, v in zip(grid["release_id"], grid[column], strict=True)]
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
    alone = pd.concat(
        [score_frame(rows.iloc[[i]], champions, scored_at=SCORED_AT) for i in (0, 7, 123)], ignore_index=True
    )
    together = first.iloc[[0, 7, 123]].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone.drop(columns="priority_rank"), together.drop(columns="priority_rank"))


def test_each_output_is_its_own_models_prediction(rows, champions):
    # Scoring works a margin out once for models with the same trees (by default the
    # reoffence model shares the frequency model's); each output must still be its own.
    out = score_frame(rows, champions, explain=False)
    for column, target in [
        ("reoffence_probability", "reoffence"),
        ("harm_probability", "harm"),
        ("frequency_expected", "frequency"),
    ]:
        expected = np.round(champions.models[target].predict(rows), 6)
        np.testing.assert_array_equal(out[column].to_numpy(), expected, err_msg=column)
    keys = {t: m.trees_key for t, m in champions.models.items()}
    assert keys["harm"] != keys["reoffence"]
    assert (keys["reoffence"] == keys["frequency"]) == champions.config.reoffence_from_counts
