"""The evaluation's periods and splits: time first, whole people on each side of a fixed split."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from riskmodel.data.synth import generate_cohort
from riskmodel.modelling.config import TrainConfig, config_from_dict
from riskmodel.modelling.train import default_test_from, evaluation_periods, fixed_test_split, time_split


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(1500, seed=5)


@pytest.mark.parametrize("test_from", [None, date(2019, 6, 1)])
def test_the_rolling_split_evaluates_exactly_the_releases_from_test_from(cohort, test_from):
    releases = cohort.releases
    split = time_split(releases, as_of=cohort.as_of, config=TrainConfig(), test_from=test_from)
    assert split.test_from == (test_from or default_test_from(cohort.as_of, TrainConfig()))
    assert not split.fixed
    dates = releases["release_date"]
    np.testing.assert_array_equal(split.test, (dates >= pd.Timestamp(split.test_from)).to_numpy())
    assert split.test.any() and (~split.test).any()


def test_a_config_test_from_and_an_explicit_one(cohort):
    config = config_from_dict({"split": {"test_from": "2020-01-01"}})
    assert time_split(cohort.releases, as_of=cohort.as_of, config=config).test_from == date(2020, 1, 1)
    override = time_split(cohort.releases, as_of=cohort.as_of, config=config, test_from=date(2021, 1, 1))
    assert override.test_from == date(2021, 1, 1)


@pytest.mark.parametrize(("period", "months"), [("month", 1), ("quarter", 3), ("half", 6), ("year", 12)])
def test_periods_are_consecutive_from_test_from_until_one_holds_the_last_release(period, months):
    periods = evaluation_periods(date(2021, 1, 31), date(2023, 2, 10), period=period)
    assert periods[0][0] == date(2021, 1, 31)
    for (_, end), (start, _) in zip(periods, periods[1:], strict=False):
        assert end == start  # no gap, no overlap
    assert periods[-2][1] <= date(2023, 2, 10) < periods[-1][1]
    assert all(pd.Timestamp(e) == pd.Timestamp(date(2021, 1, 31)) + pd.DateOffset(months=months * (i + 1))
               for i, (_, e) in enumerate(periods))  # fmt: skip


def test_an_unknown_period_is_refused_by_the_configuration_naming_the_setting():
    with pytest.raises(ValueError, match="split.evaluation_period"):
        config_from_dict({"split": {"evaluation_period": "week"}})
    with pytest.raises(ValueError, match="split.evaluation_period must be one of"):
        evaluation_periods(date(2021, 1, 1), date(2022, 1, 1), period="week")


def test_a_fixed_test_part_keeps_its_rows(cohort):
    releases = cohort.releases
    people = releases["person_id"]
    held_out = set(people.drop_duplicates().sample(frac=0.3, random_state=2))
    test = people.isin(held_out).to_numpy()
    split = fixed_test_split(releases, test=test, test_from=date(2020, 1, 1), config=TrainConfig())
    assert split.fixed and (split.test == test).all() and split.test_from == date(2020, 1, 1)
    described = split.describe(releases)
    assert described["test_rows"] == int(test.sum()) and described["refit_rows"] == int((~test).sum())


def test_a_fixed_test_part_that_splits_a_person_is_refused(cohort):
    releases = cohort.releases
    people = releases["person_id"]
    twice = people[people.duplicated()].iloc[0]
    test = ((people == twice) & people.duplicated()).to_numpy()  # only that person's later rows
    with pytest.raises(ValueError, match="both in the test part and outside it"):
        fixed_test_split(releases, test=test, test_from=date(2020, 1, 1), config=TrainConfig())
    with pytest.raises(ValueError, match="rows"):
        fixed_test_split(releases, test=test[:-1], test_from=date(2020, 1, 1), config=TrainConfig())
