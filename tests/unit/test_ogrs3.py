"""OGRS3 against values worked out by hand from the formula in ``shared/docs/domain.md``.

    copas = ln((1 + previous_sanctions) / (10 + age_at_index_conviction - age_at_first_sanction))
    S     = age_sex_weight + history_weight + 1.25112 * copas + offence_weight
    p1    = 1 / (1 + exp(-(1.40256 + S)))      p2 = 1 / (1 + exp(-(2.1217 + S)))

Every expected value below is computed with ``math`` from weights typed in from the
tables of domain.md, never from the module's constants.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from riskmodel.modelling.ogrs3 import ogrs3, ogrs3_band

NAN = float("nan")


def row(sex="M", age=25.0, prev=0, offence="violence", first=NAN, index=NAN) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sex": [sex],
            "age_at_release": [float(age)],
            "previous_sanctions": [float(prev)],
            "index_offence": [offence],
            "age_at_first_sanction": [float(first)],
            "age_at_index_conviction": [float(index)],
        }
    )


def logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def scores(frame: pd.DataFrame) -> tuple[float, float]:
    out = ogrs3(frame).iloc[0]
    return float(out["ogrs3_1y"]), float(out["ogrs3_2y"])


# --------------------------------------------------------------------------- worked example


def test_worked_example_male_25_first_sanction_violence():
    # copas = ln((1 + 0) / (10 + 25 - 25)) = ln(0.1) = -2.302585
    # S = -1.1667 (male 25-29) + 0.12614 (first) + 1.25112 * -2.302585 + 0.0 (violence)
    #   = -1.04056 - 2.880810 = -3.921370
    # p1 = 1 / (1 + exp(-(1.40256 - 3.921370))) = 1 / (1 + exp(2.518810)) ~= 0.07455
    # p2 = 1 / (1 + exp(-(2.1217 - 3.921370)))  = 1 / (1 + exp(1.799670)) ~= 0.14189
    s = -1.1667 + 0.12614 + 1.25112 * math.log(1 / 10) + 0.0
    p1, p2 = scores(row("M", 25, 0, "violence", first=25, index=25))
    assert p1 == pytest.approx(logistic(1.40256 + s), rel=1e-9)
    assert p2 == pytest.approx(logistic(2.1217 + s), rel=1e-9)
    assert p1 == pytest.approx(0.07455, abs=5e-5)
    assert p2 == pytest.approx(0.14189, abs=5e-5)


def test_female_weights():
    # female 25-29: -1.0528; otherwise as the worked example
    s = -1.0528 + 0.12614 + 1.25112 * math.log(1 / 10) + 0.0
    p1, p2 = scores(row("F", 25, 0, "violence", first=25, index=25))
    assert p1 == pytest.approx(logistic(1.40256 + s), rel=1e-9)
    assert p2 == pytest.approx(logistic(2.1217 + s), rel=1e-9)
    # the female weight is higher here (-1.0528 > -1.1667), so is her score
    assert p1 > scores(row("M", 25, 0, "violence", first=25, index=25))[0]


# (age, sex, weight typed from domain.md's table)
AGE_BANDS = [
    (10, "M", 0.0),
    (11, "M", 0.0),
    (11.9, "M", 0.0),
    (12, "M", 0.08392),
    (10, "F", 0.785),
    (11, "F", 0.785),
    (12, "F", 0.61385),
    (15, "F", 0.66952),
    (17, "M", -0.0616),
    (17.99, "M", -0.0616),
    (18, "M", -0.6251),
    (17, "F", -0.9592),
    (18, "F", -0.8975),
    (24, "M", -1.0515),
    (34, "F", -1.1291),
    (39, "M", -1.368),
    (49, "M", -1.4997),
    (49.5, "M", -1.4997),
    (50, "M", -2.0253),
    (49, "F", -1.5247),
    (50, "F", -2.4498),
    (80, "F", -2.4498),
]


@pytest.mark.parametrize(("age", "sex", "weight"), AGE_BANDS)
def test_age_band_edges(age, sex, weight):
    # first sanction at the index conviction: copas = ln(1/10)
    s = weight + 0.12614 + 1.25112 * math.log(1 / 10) + 0.0
    p1, p2 = scores(row(sex, age, 0, "violence", first=age, index=age))
    assert p1 == pytest.approx(logistic(1.40256 + s), rel=1e-9)
    assert p2 == pytest.approx(logistic(2.1217 + s), rel=1e-9)


def test_repeat_sanction_weight_and_copas():
    # male 30 (-1.326), 5 previous (repeat: 0.46306), first at 15, index conviction at 29,
    # theft_non_motor (0.6612): copas = ln(6 / (10 + 29 - 15)) = ln(0.25) = -1.386294
    # S = -1.326 + 0.46306 + 1.25112 * -1.386294 + 0.6612 = -1.936161
    # p1 = logistic(1.40256 - 1.936161) = logistic(-0.533601) ~= 0.36968
    s = -1.326 + 0.46306 + 1.25112 * math.log(6 / 24) + 0.6612
    p1, p2 = scores(row("M", 30, 5, "theft_non_motor", first=15, index=29))
    assert p1 == pytest.approx(logistic(1.40256 + s), rel=1e-9)
    assert p1 == pytest.approx(0.36968, abs=5e-5)
    assert p2 == pytest.approx(logistic(2.1217 + s), rel=1e-9)


def test_first_versus_repeat_history_weight():
    # one previous sanction at 20, index at 20: copas = ln(2 / 10); repeat weight 0.46306
    repeat = -1.0515 + 0.46306 + 1.25112 * math.log(2 / 10) + 0.0
    assert scores(row("M", 22, 1, "violence", first=20, index=20))[0] == pytest.approx(
        logistic(1.40256 + repeat), rel=1e-9
    )
    # no previous sanction: copas = ln(1 / 10); first-sanction weight 0.12614
    first = -1.0515 + 0.12614 + 1.25112 * math.log(1 / 10) + 0.0
    assert scores(row("M", 22, 0, "violence", first=20, index=20))[0] == pytest.approx(
        logistic(1.40256 + first), rel=1e-9
    )


# (group, weight typed from domain.md's table)
OFFENCES = [
    ("robbery", -0.6348),
    ("public_order", 0.1819),
    ("sexual_against_child", -0.6534),
    ("soliciting_prostitution", 0.7606),
    ("burglary_domestic", -0.1239),
    ("absconding_bail", 0.7334),
    ("drink_driving", -0.1214),
    ("drug_import_export_production", -0.7956),
    ("other", -0.0607),
]


@pytest.mark.parametrize(("offence", "weight"), OFFENCES)
def test_offence_weights(offence, weight):
    # female 35-39 (-1.4219), 3 previous, first at 18, index at 36:
    # copas = ln(4 / (10 + 36 - 18)) = ln(4 / 28)
    s = -1.4219 + 0.46306 + 1.25112 * math.log(4 / 28) + weight
    p1, p2 = scores(row("F", 37, 3, offence, first=18, index=36))
    assert p1 == pytest.approx(logistic(1.40256 + s), rel=1e-9)
    assert p2 == pytest.approx(logistic(2.1217 + s), rel=1e-9)


# --------------------------------------------------------------------------- missing inputs


def test_missing_index_conviction_age_uses_age_at_release():
    # male 40 (-1.4997), 3 previous, first at 20, index age absent -> 40:
    # copas = ln(4 / (10 + 40 - 20)) = ln(4 / 30); burglary_other 0.2406
    s = -1.4997 + 0.46306 + 1.25112 * math.log(4 / 30) + 0.2406
    p1, p2 = scores(row("M", 40, 3, "burglary_other", first=20, index=NAN))
    assert p1 == pytest.approx(logistic(1.40256 + s), rel=1e-9)
    assert p2 == pytest.approx(logistic(2.1217 + s), rel=1e-9)


def test_missing_first_sanction_age_is_unavailable_with_a_reason():
    out = ogrs3(row("M", 30, 4, "violence", first=NAN, index=29)).iloc[0]
    assert np.isnan(out["ogrs3_1y"]) and np.isnan(out["ogrs3_2y"])
    assert out["ogrs3_band"] is None
    assert "age_at_first_sanction" in out["ogrs3_unavailable"]


def test_missing_first_sanction_age_is_the_index_conviction_for_a_first_sanction():
    # previous_sanctions == 0: the index conviction is the first sanction, copas = ln(1/10)
    # male 33 (-1.326), index age 32, fraud_forgery 0.1599
    s = -1.326 + 0.12614 + 1.25112 * math.log(1 / 10) + 0.1599
    out = ogrs3(row("M", 33, 0, "fraud_forgery", first=NAN, index=32)).iloc[0]
    assert out["ogrs3_1y"] == pytest.approx(logistic(1.40256 + s), rel=1e-9)
    assert out["ogrs3_unavailable"] is None
    # and with both ages absent
    out = ogrs3(row("M", 33, 0, "fraud_forgery", first=NAN, index=NAN)).iloc[0]
    assert out["ogrs3_1y"] == pytest.approx(logistic(1.40256 + s), rel=1e-9)


@pytest.mark.parametrize(
    ("frame", "word"),
    [
        (row("M", 30, 2, "violence", first=45, index=30), "age_at_first_sanction"),  # 10 + 30 - 45 < 0
        (row("X", 30, 2, "violence", first=18, index=30), "sex"),
        (row("M", 30, 2, "shoplifting", first=18, index=30), "index_offence"),
    ],
)
def test_inconsistent_inputs_are_unavailable_with_a_reason(frame, word):
    out = ogrs3(frame).iloc[0]
    assert np.isnan(out["ogrs3_1y"])
    assert word in out["ogrs3_unavailable"]


def test_rows_are_scored_independently_and_keep_their_index():
    frame = pd.concat(
        [
            row("M", 25, 0, "violence", first=25, index=25),
            row("M", 30, 4, "violence", first=NAN, index=29),
            row("M", 30, 5, "theft_non_motor", first=15, index=29),
        ]
    )
    frame.index = [10, 20, 30]
    out = ogrs3(frame)
    assert out.index.tolist() == [10, 20, 30]
    assert out["ogrs3_unavailable"].isna().tolist() == [True, False, True]
    assert out.loc[30, "ogrs3_1y"] == pytest.approx(scores(frame.loc[[30]])[0], rel=1e-12)


# --------------------------------------------------------------------------- bands


@pytest.mark.parametrize(
    ("p2", "band"),
    [
        (0.0, "low"),
        (0.49, "low"),
        (0.4999, "low"),
        (0.50, "medium"),
        (0.7499, "medium"),
        (0.75, "high"),
        (0.8999, "high"),
        (0.90, "very high"),
        (1.0, "very high"),
    ],
)
def test_band_edges_on_the_two_year_probability(p2, band):
    assert ogrs3_band(np.array([p2])).tolist() == [band]


def test_band_of_unknown_is_none():
    assert ogrs3_band(np.array([np.nan, 0.6])).tolist() == [None, "medium"]


def test_scored_band_uses_the_two_year_probability():
    # worked example: p1 ~= 0.075 and p2 ~= 0.142, both low
    assert ogrs3(row("M", 25, 0, "violence", first=25, index=25)).iloc[0]["ogrs3_band"] == "low"
    # male 18 (-0.6251), 20 previous, first at 12, index 18, theft_non_motor (0.6612):
    # copas = ln(21 / 16); S = -0.6251 + 0.46306 + 1.25112 * 0.271934 + 0.6612 = 0.839382
    # p1 = logistic(2.241942) ~= 0.904; p2 = logistic(2.961082) ~= 0.951: very high
    s = -0.6251 + 0.46306 + 1.25112 * math.log(21 / 16) + 0.6612
    assert logistic(2.1217 + s) >= 0.90
    assert ogrs3(row("M", 18, 20, "theft_non_motor", first=12, index=18)).iloc[0]["ogrs3_band"] == "very high"
