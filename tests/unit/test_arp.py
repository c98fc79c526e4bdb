"""ARP (the MoJ's static All Reoffending Predictor) against the formula in ``shared/docs/domain.md``.

The worked example is the MoJ service's own test fixture, as domain.md gives it: a man aged
30 at release, 2 sanctions, first at 21, convicted at 30, "other" offence. Every expected
value below is typed in from domain.md (or computed with ``math`` from coefficients typed
in from it), never taken from the module's constants.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from riskmodel.modelling.arp import arp, arp_band, arp_components

NAN = float("nan")
INTERCEPT = 5.01702292499072


def row(sex="M", age=30.0, prev=1, offence="other", first=21.0, index=30.0, released="2020-01-15") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "release_date": [released],
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


def parts(frame: pd.DataFrame, **kwargs) -> pd.Series:
    return arp_components(frame, **kwargs).iloc[0]


# --------------------------------------------------------------------------- worked example

WORKED = {  # domain.md, each component to 8 decimals
    "age": -2.96132507,
    "offence": 0.03844344,
    "second": -3.06189212,
    "sanctions": -0.00855146,
    "gap": -0.38884666,
}


def test_worked_example_more_than_36_months_after_release():
    # assessed four years after release: m is capped at 36
    got = parts(row(), assessed_on="2024-02-01")
    for name, value in WORKED.items():
        assert got[name] == pytest.approx(value, abs=5e-9), name
    assert got["months"] == pytest.approx(-1.74414260, abs=5e-9)
    assert got["female"] == 0.0 and got["first"] == 0.0 and got["copas"] == 0.0
    assert got["intercept"] == pytest.approx(INTERCEPT, abs=1e-12)
    assert got["y"] == pytest.approx(-3.10929154, abs=5e-8)
    out = arp(row(), assessed_on="2024-02-01").iloc[0]
    assert round(out["arp_2y"] * 100, 2) == 4.27
    assert out["arp_band"] == "low" and out["arp_reason"] is None


def test_worked_example_at_release():
    got = parts(row())
    for name, value in WORKED.items():
        assert got[name] == pytest.approx(value, abs=5e-9), name
    assert got["months"] == 0.0
    assert got["y"] == pytest.approx(-1.36514894, abs=5e-8)
    out = arp(row()).iloc[0]
    assert out["arp_2y"] == pytest.approx(logistic(-1.36514894), abs=1e-8)
    assert round(out["arp_2y"] * 100, 2) == 20.34
    assert out["arp_band"] == "low"


def test_at_release_is_the_default_and_an_assessment_on_the_release_day():
    assert arp(row())["arp_2y"].iloc[0] == arp(row(), assessed_on="2020-01-15")["arp_2y"].iloc[0]
    # an assessment before release is scored as at release, not with negative months
    assert arp(row(), assessed_on="2019-06-01")["arp_2y"].iloc[0] == arp(row())["arp_2y"].iloc[0]


@pytest.mark.parametrize(
    ("assessed_on", "months"),
    [
        ("2020-02-14", 0),
        ("2020-02-15", 1),
        ("2021-01-15", 12),
        ("2022-12-31", 35),
        ("2023-01-15", 36),
        ("2030-01-01", 36),
    ],
)
def test_months_are_whole_months_since_release_capped_at_36(assessed_on, months):
    m = float(months)
    expected = (
        -0.0762086223169624 * m + 0.0016230134182902 * m**2 + 0.0000224473135387 * m**3 - 0.0000012808638685 * m**4
    )
    assert parts(row(), assessed_on=assessed_on)["months"] == pytest.approx(expected, abs=1e-12)


def test_assessment_dates_can_differ_by_row():
    frame = pd.concat([row(), row()], ignore_index=True)
    out = arp(frame, assessed_on=["2024-02-01", "2020-01-15"])
    assert out["arp_2y"].round(4).tolist() == [0.0427, 0.2034]


# --------------------------------------------------------------------------- the terms


def test_female_terms():
    # a woman otherwise as the worked example, at release
    a = 30.0
    age = -0.0175014516689226 * a + 0.0001625346907234 * a**2 + 0.0000003645241305 * a**3 - 0.0000000746220588 * a**4
    got = parts(row(sex="F"))
    assert got["age"] == pytest.approx(age, abs=1e-12)
    assert got["female"] == pytest.approx(-2.95224200717183, abs=1e-14)
    assert got["gap"] == pytest.approx(9 * -0.0427998315841607, abs=1e-12)


def test_first_sanction_needs_no_first_sanction_age():
    got = parts(row(prev=0, first=NAN))
    assert got["first"] == pytest.approx(-3.94357049933093, abs=1e-14)
    assert got["second"] == 0.0 and got["gap"] == 0.0 and got["copas"] == 0.0
    assert got["sanctions"] == pytest.approx(-0.0042757301284995, abs=1e-16)
    assert got["arp_reason"] is None


def test_copas_from_the_third_sanction():
    # S = 5 sanctions, c = 30 - 21 = 9 years: r = ln(5 / 35)
    r = math.log(5 / (9 + 26))
    male = parts(row(prev=4))
    assert male["copas"] == pytest.approx(1.55298303083717 * r + 0.129334968245905 * r**2, abs=1e-12)
    assert male["first"] == male["second"] == male["gap"] == 0.0
    assert male["sanctions"] == pytest.approx(5 * -0.0042757301284995, abs=1e-15)
    female = parts(row(sex="F", prev=4))
    assert female["copas"] == pytest.approx(1.01980307124196 * r - 0.039439197041062 * r**2, abs=1e-12)


def test_whole_years_are_floors_of_the_ages():
    # age 30.9 is 30 whole years; the gap 30.5 - 21.7 = 8.8 is 8 whole years
    got = parts(row(age=30.9, first=21.7, index=30.5))
    assert got["age"] == pytest.approx(WORKED["age"], abs=5e-9)
    assert got["gap"] == pytest.approx(8 * -0.0432051839161834, abs=1e-12)


def test_missing_index_conviction_age_uses_age_at_release():
    assert arp(row(index=NAN))["arp_2y"].iloc[0] == arp(row(index=30.0))["arp_2y"].iloc[0]


@pytest.mark.parametrize(
    ("offence", "weight"),
    [
        ("violence", -0.110075583936778),
        ("theft_non_motor", 0.462548123919817),
        ("fraud_forgery", -0.434791453303048),
        ("theft_from_vehicles", 0.173405416410866),
        ("drug_import_export_production", -0.468252524851408),
        ("soliciting_prostitution", 0.0384434393037725),
    ],
)
def test_offence_weights(offence, weight):
    assert parts(row(offence=offence))["offence"] == pytest.approx(weight, abs=1e-15)


def test_more_previous_sanctions_never_lowers_the_score_from_the_third_on():
    scores = [arp(row(prev=prev))["arp_2y"].iloc[0] for prev in range(2, 30)]
    assert all(np.diff(scores) >= 0)


# --------------------------------------------------------------------------- not computable


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        (row(first=NAN), "age_at_first_sanction unknown"),
        (row(first=31.0), "age_at_first_sanction is after age_at_index_conviction"),
        (row(sex="X"), "sex unknown"),
        (row(offence="arson"), "index_offence"),
        (row(age=NAN), "age_at_release"),
        (row(prev=NAN), "previous_sanctions"),
    ],
)
def test_missing_or_inconsistent_inputs_are_not_computable_with_a_reason(frame, field):
    out = arp(frame).iloc[0]
    assert np.isnan(out["arp_2y"]) and out["arp_band"] is None
    assert field in out["arp_reason"]


def test_unknown_release_date_matters_only_when_assessed_later():
    assert arp(row(released=None))["arp_reason"].iloc[0] is None
    out = arp(row(released=None), assessed_on="2024-01-01").iloc[0]
    assert np.isnan(out["arp_2y"]) and "release_date" in out["arp_reason"]


def test_rows_are_scored_independently_and_keep_their_index():
    frame = pd.concat([row(first=NAN), row(), row(sex="X")], ignore_index=True)
    frame.index = [10, 20, 30]
    out = arp(frame)
    assert out.index.tolist() == [10, 20, 30]
    assert out["arp_reason"].isna().tolist() == [False, True, False]
    assert out.loc[20, "arp_2y"] == arp(row())["arp_2y"].iloc[0]


@pytest.mark.parametrize(
    ("p2", "band"), [(0.0, "low"), (0.4999, "low"), (0.5, "medium"), (0.75, "high"), (0.9, "very high")]
)
def test_bands_as_ogrs3(p2, band):
    assert arp_band(np.array([p2])).tolist() == [band]
