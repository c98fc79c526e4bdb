"""The split never leaks: time first, then by person, and only eligible outcomes are used."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from training_helpers import FAST_CONFIG

import riskmodel.modelling.train as train_module
from riskmodel.data.labels import derive_labels
from riskmodel.data.synth import generate_cohort
from riskmodel.modelling.config import TrainConfig, config_from_dict
from riskmodel.modelling.models import TARGETS, CalibratedModel
from riskmodel.modelling.train import default_test_from, time_split, train_models


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(2500, seed=5)


def _parts(split):
    return {name: getattr(split, name) for name in ("train", "validation", "calibration", "test")}


@pytest.mark.parametrize("test_from", [None, date(2019, 6, 1)])
def test_time_split_puts_every_release_in_one_part_with_training_strictly_earlier(cohort, test_from):
    releases = cohort.releases
    split = time_split(releases, as_of=cohort.as_of, config=TrainConfig(), test_from=test_from)
    expected_from = test_from or default_test_from(cohort.as_of, TrainConfig())
    assert split.test_from == expected_from
    parts = _parts(split)
    assert (np.vstack(list(parts.values())).sum(axis=0) == 1).all()  # a partition of the releases
    assert all(mask.any() for mask in parts.values())
    dates = releases["release_date"]
    first_test = pd.Timestamp(split.test_from)
    assert dates[split.train | split.validation].max() < first_test
    assert dates[split.calibration | split.test].min() >= first_test


def test_folds_that_are_not_split_by_time_keep_each_person_on_one_side(cohort):
    releases = cohort.releases
    split = time_split(releases, as_of=cohort.as_of, config=TrainConfig())
    people = releases["person_id"]
    later_people = people[split.calibration | split.test]
    assert later_people.duplicated().any()  # some people have several later releases...
    assert not set(people[split.calibration]) & set(people[split.test])  # ...all on one side
    assert not set(people[split.train]) & set(people[split.validation])
    share = split.calibration.sum() / (split.calibration | split.test).sum()
    assert abs(share - TrainConfig().split.calibration_share) < 0.1


def test_the_split_does_not_depend_on_row_order(cohort):
    releases = cohort.releases
    config = TrainConfig()
    split = time_split(releases, as_of=cohort.as_of, config=config)
    shuffled = releases.sample(frac=1.0, random_state=1).reset_index(drop=True)
    again = time_split(shuffled, as_of=cohort.as_of, config=config)
    for name, mask in _parts(split).items():
        before = set(releases.loc[mask, "release_id"])
        after = set(shuffled.loc[getattr(again, name), "release_id"])
        assert before == after, name


def test_a_config_test_from_and_an_explicit_one(cohort):
    config = config_from_dict({"split": {"test_from": "2020-01-01"}})
    assert time_split(cohort.releases, as_of=cohort.as_of, config=config).test_from == date(2020, 1, 1)
    override = time_split(cohort.releases, as_of=cohort.as_of, config=config, test_from=date(2021, 1, 1))
    assert override.test_from == date(2021, 1, 1)


@pytest.fixture(scope="module")
def spied(cohort):
    """Train once while recording exactly which rows and labels every fit received."""
    seen = {"pipeline": [], "baseline": [], "calibration": []}
    real_pipeline, real_baseline, real_calibrate = (
        train_module.fit_lightgbm_pipeline,
        train_module.fit_baseline,
        CalibratedModel.fit,
    )

    def pipeline(target, X, y, *, X_valid=None, y_valid=None, **kwargs):
        seen["pipeline"].append(
            (
                target,
                X["release_id"].tolist(),
                np.asarray(y, float),
                None if X_valid is None else X_valid["release_id"].tolist(),
                np.asarray(y_valid, float),
            )
        )
        return real_pipeline(target, X, y, X_valid=X_valid, y_valid=y_valid, **kwargs)

    def baseline(target, X, y):
        seen["baseline"].append((target, X["release_id"].tolist(), np.asarray(y, float)))
        return real_baseline(target, X, y)

    def calibrate(self, X, y):
        seen["calibration"].append((self.target, X["release_id"].tolist(), np.asarray(y, float)))
        return real_calibrate(self, X, y)

    # An as_of well inside the data: many late releases are censored (ineligible).
    as_of = date(2024, 6, 1)
    releases = cohort.releases.loc[cohort.releases["release_date"] < pd.Timestamp(as_of)].reset_index(drop=True)
    reoffences = cohort.reoffences.loc[cohort.reoffences["proven_date"] <= pd.Timestamp(as_of)]
    config = config_from_dict(FAST_CONFIG)
    mp = pytest.MonkeyPatch()
    mp.setattr(train_module, "fit_lightgbm_pipeline", pipeline)
    mp.setattr(train_module, "fit_baseline", baseline)
    mp.setattr(CalibratedModel, "fit", calibrate)
    try:
        result = train_models(releases, reoffences, as_of=as_of, config=config)
    finally:
        mp.undo()
    labels = derive_labels(releases, reoffences, as_of=as_of).set_index("release_id")
    split = time_split(releases, as_of=as_of, config=config)
    return seen, result, labels, split, releases


def test_models_see_only_training_releases_and_their_true_eligible_labels(spied):
    seen, result, labels, split, releases = spied
    dates = releases.set_index("release_id")["release_date"]
    first_test = pd.Timestamp(split.test_from)
    # reoffence learns from the counts and frequency shares that fit: two fits for three models
    assert [s[0] for s in seen["pipeline"]] == ["frequency", "harm"]
    assert result.targets["reoffence"].model.pipeline is result.targets["frequency"].model.pipeline
    for target, ids, y, valid_ids, y_valid in seen["pipeline"]:
        truth = labels.loc[ids, target].to_numpy(dtype=float)
        assert not np.isnan(truth).any(), f"{target}: an ineligible (unknown) outcome was used"
        np.testing.assert_array_equal(y, truth)
        assert (dates.loc[ids] < first_test).all()
        assert (dates.loc[valid_ids] < first_test).all()
        np.testing.assert_array_equal(y_valid, labels.loc[valid_ids, target].to_numpy(dtype=float))
        assert not set(ids) & set(valid_ids)
        eligible = labels[target].notna().reindex(releases["release_id"]).to_numpy()
        assert len(ids) == int((split.train & eligible).sum()) == result.targets[target].n_train
        assert len(valid_ids) == int((split.validation & eligible).sum())
        # an eligible training release is never left out
        assert set(ids) | set(valid_ids) == set(releases.loc[(split.train | split.validation) & eligible, "release_id"])
    for target, ids, y in seen["baseline"]:
        assert set(ids) <= set(releases.loc[split.train, "release_id"])
        np.testing.assert_array_equal(y, labels.loc[ids, target].to_numpy(dtype=float))


def test_calibration_and_test_rows_are_later_eligible_and_disjoint(spied):
    seen, result, labels, split, releases = spied
    assert sorted(s[0] for s in seen["calibration"]) == sorted(TARGETS)
    for target, ids, y in seen["calibration"]:
        eligible = labels[target].notna().reindex(releases["release_id"]).to_numpy()
        expected = set(releases.loc[split.calibration & eligible, "release_id"])
        assert set(ids) == expected and len(ids) == result.targets[target].n_calibration
        np.testing.assert_array_equal(y, labels.loc[ids, target].to_numpy(dtype=float))
        tr = result.targets[target]
        test_ids = tr.test_rows["release_id"]
        assert set(test_ids) == set(releases.loc[split.test & eligible, "release_id"])
        assert not set(test_ids) & set(ids)
        assert not set(tr.test_rows["person_id"]) & set(releases.set_index("release_id").loc[ids, "person_id"])
        np.testing.assert_array_equal(tr.test_outcome, labels.loc[test_ids, target].to_numpy(dtype=float))
        assert int(tr.metrics["model"]["n"]) == len(test_ids)


def test_censored_releases_exist_and_are_never_counted_as_zero(spied):
    seen, result, labels, split, releases = spied
    for target in TARGETS:
        censored = set(labels.index[labels[target].isna()])
        assert censored, f"{target}: the fixture should censor some releases"
        used = {i for t, ids, *_ in seen["pipeline"] if t == target for i in ids}
        used |= {i for t, ids, _ in seen["calibration"] if t == target for i in ids}
        used |= set(result.targets[target].test_rows["release_id"])
        assert not used & censored


def test_a_fixed_test_part_keeps_its_rows_and_the_rest_is_split_by_person(cohort):
    from riskmodel.modelling.train import fixed_test_split

    releases = cohort.releases
    people = releases["person_id"]
    held_out = set(people.drop_duplicates().sample(frac=0.3, random_state=2))
    test = people.isin(held_out).to_numpy()
    config = TrainConfig()
    split = fixed_test_split(releases, test=test, test_from=date(2020, 1, 1), config=config)
    parts = _parts(split)
    assert (np.vstack(list(parts.values())).sum(axis=0) == 1).all()  # a partition of the releases
    assert (split.test == test).all() and split.test_from == date(2020, 1, 1)
    for a, b in [("train", "validation"), ("train", "calibration"), ("validation", "calibration")]:
        assert not set(people[parts[a]]) & set(people[parts[b]]), (a, b)
    rest = (~test).sum()
    assert abs(split.calibration.sum() / rest - config.split.calibration_share) < 0.1
    assert split.validation.any() and split.train.any()


def test_a_fixed_test_part_that_splits_a_person_is_refused(cohort):
    from riskmodel.modelling.train import fixed_test_split

    releases = cohort.releases
    people = releases["person_id"]
    twice = people[people.duplicated()].iloc[0]
    test = ((people == twice) & people.duplicated()).to_numpy()  # only that person's later rows
    with pytest.raises(ValueError, match="both in the test part and outside it"):
        fixed_test_split(releases, test=test, test_from=date(2020, 1, 1), config=TrainConfig())
    with pytest.raises(ValueError, match="rows"):
        fixed_test_split(releases, test=test[:-1], test_from=date(2020, 1, 1), config=TrainConfig())
