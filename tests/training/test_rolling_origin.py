"""The rolling-origin evaluation never learns from the future; the refit sees every eligible release;
calibration is cross-fitted; every scorer is judged on the same rows."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from training_helpers import FAST_CONFIG

import riskmodel.modelling.train as train_module
from riskmodel.data.labels import derive_labels
from riskmodel.data.synth import generate_cohort
from riskmodel.evaluation.metrics import period_figures
from riskmodel.modelling.config import config_from_dict
from riskmodel.modelling.models import CalibratedModel
from riskmodel.modelling.train import time_split, train_models

#: Yearly periods and three folds: few fits, still several periods per target.
ROLLING = {**FAST_CONFIG, "split": {"evaluation_period": "year", "calibration_folds": 3}}


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(2000, seed=11)


@pytest.fixture(scope="module")
def spied(cohort):
    """Train once, recording every procedure, every LightGBM fit in it and every calibration."""
    procedures: list[dict] = []
    calibrations: list[tuple[str, int, bool]] = []
    real_procedure, real_pipeline = train_module._fit_procedure, train_module.fit_lightgbm_pipeline
    real_calibrate = CalibratedModel.fit_from_margin

    def procedure(target, fitter, rows, y_target, counts_all, *, n_trees):
        procedures.append({"target": target, "rows": rows.copy(), "n_trees": n_trees, "fits": []})
        return real_procedure(target, fitter, rows, y_target, counts_all, n_trees=n_trees)

    def pipeline(target, X, y, *, X_valid=None, y_valid=None, **kwargs):
        procedures[-1]["fits"].append(
            (X["release_id"].tolist(), None if X_valid is None else X_valid["release_id"].tolist())
        )
        return real_pipeline(target, X, y, X_valid=X_valid, y_valid=y_valid, **kwargs)

    def calibrate(self, margin, y):
        margin = np.asarray(margin, float)
        calibrations.append((self.target, len(margin), bool(np.isnan(margin).any())))
        return real_calibrate(self, margin, y)

    # An as_of well inside the data: many late releases are censored (ineligible).
    as_of = date(2024, 6, 1)
    releases = cohort.releases.loc[cohort.releases["release_date"] < pd.Timestamp(as_of)].reset_index(drop=True)
    reoffences = cohort.reoffences.loc[cohort.reoffences["proven_date"] <= pd.Timestamp(as_of)]
    config = config_from_dict({**ROLLING, "split": {**ROLLING["split"], "test_from": "2020-01-01"}})
    mp = pytest.MonkeyPatch()
    mp.setattr(train_module, "_fit_procedure", procedure)
    mp.setattr(train_module, "fit_lightgbm_pipeline", pipeline)
    mp.setattr(CalibratedModel, "fit_from_margin", calibrate)
    try:
        result = train_models(releases, reoffences, as_of=as_of, config=config, truth=cohort.truth)
    finally:
        mp.undo()
    labels = derive_labels(releases, reoffences, as_of=as_of).set_index("release_id")
    return procedures, calibrations, result, labels, releases, config


def _follow_up(target, config):
    labels = config.labels
    return timedelta(days=(labels.harm_window_days if target == "harm" else labels.window_days) + labels.waiting_days)


def test_each_period_is_fitted_only_on_releases_matured_by_its_first_day(spied):
    procedures, _, result, labels, releases, config = spied
    dates = releases["release_date"]
    for target, tr in result.targets.items():
        evaluated = [p for p in procedures if p["target"] == target and p["n_trees"] is None]
        assert len(evaluated) == len(tr.periods) >= 2
        for proc, period in zip(evaluated, tr.periods.to_dict(orient="records"), strict=True):
            start = pd.Timestamp(period["start"])
            fitted = dates[proc["rows"]]
            assert (fitted + _follow_up(target, config) <= start).all(), (target, period["period"])
            assert labels.loc[releases.loc[proc["rows"], "release_id"], target].notna().all()
            assert int(proc["rows"].sum()) == period["fit_rows"]
            # every LightGBM fit of the procedure (folds and the full fit) stays within its rows
            allowed = set(releases.loc[proc["rows"], "release_id"])
            for fit_ids, valid_ids in proc["fits"]:
                assert set(fit_ids) <= allowed and set(valid_ids or ()) <= allowed
        # and the period's scored rows are in the period
        scored = tr.test_rows["release_date"]
        assert scored.min() >= pd.Timestamp(tr.periods["start"].iloc[0])
        assert scored.max() < pd.Timestamp(tr.periods["end"].iloc[-1])


def test_the_refit_saw_every_eligible_release_with_the_periods_median_tree_count(spied):
    procedures, _, result, labels, releases, _ = spied
    for target, tr in result.targets.items():
        refits = [p for p in procedures if p["target"] == target and p["n_trees"] is not None]
        assert len(refits) == 1
        eligible = labels[target].notna().reindex(releases["release_id"]).to_numpy()
        np.testing.assert_array_equal(refits[0]["rows"], eligible)
        assert tr.refit["rows"] == int(eligible.sum()) == tr.n_train
        assert tr.refit["last_release"] == releases.loc[eligible, "release_date"].max().date().isoformat()
        assert refits[0]["n_trees"] == int(np.median(tr.best_iterations[:-1])) == tr.best_iterations[-1]
        if refits[0]["fits"]:  # not shared with another target's fit
            assert set(refits[0]["fits"][-1][0]) == set(releases.loc[eligible, "release_id"])
    # reoffence learns from the counts: it shares the frequency model's trees
    assert result.targets["reoffence"].model.pipeline is result.targets["frequency"].model.pipeline


def test_calibration_is_cross_fitted_so_no_release_serves_calibration_only(spied):
    procedures, calibrations, _, _, releases, config = spied
    folds = config.split.calibration_folds
    people = releases.set_index("release_id")["person_id"]
    for proc in (p for p in procedures if p["fits"]):
        rows = set(releases.loc[proc["rows"], "release_id"])
        *fold_fits, full = proc["fits"]
        assert len(fold_fits) == folds
        assert set(full[0]) == rows and full[1] is None  # the trees learn from every row
        held = [rows - set(fit_ids) for fit_ids, _ in fold_fits]
        assert set().union(*held) == rows and sum(map(len, held)) == len(rows)  # folds partition the rows
        for (fit_ids, valid_ids), out in zip(fold_fits, held, strict=True):
            assert not set(people.loc[fit_ids]) & set(people.loc[list(out)])  # whole people held out
            # a period's folds stop early on the held-out fold; the refit's use the periods' tree count
            assert valid_ids is None if proc["n_trees"] else set(valid_ids) == out
    by_target = {}
    for target, n, any_nan in calibrations:
        assert not any_nan  # every calibrated release has an out-of-fold margin
        by_target.setdefault(target, []).append(n)
    for proc in procedures:  # one calibration per procedure, on all its rows
        assert int(proc["rows"].sum()) in by_target[proc["target"]]


def test_every_scorer_is_judged_on_the_same_rows(spied):
    _, _, result, _, _, _ = spied
    for target, tr in result.targets.items():
        n = len(tr.test_rows)
        assert {"model", "baseline", "ogrs3", "oracle"} <= set(tr.test_scores)
        assert all(len(s) == n for s in tr.test_scores.values())
        for name, score in tr.test_scores.items():
            covered = ~np.isnan(score)
            assert tr.metrics[name]["n"] == covered.sum()
            assert tr.metrics[name]["coverage"] == pytest.approx(covered.mean())
            if not covered.all():
                same = tr.metrics[f"model_on_{name}_rows"]
                assert same["n"] == tr.metrics[name]["n"]
        for name in ("model", "baseline", "oracle"):
            assert tr.metrics[name]["n"] == n
        expected = period_figures(tr.test_outcome, tr.test_scores["model"], binary=target != "frequency")
        assert sum(tr.periods["n"]) == expected["n"] == n


def test_no_reference_is_rescaled_with_the_outcomes_it_is_judged_on(spied):
    _, _, result, _, _, _ = spied
    ratio = result.targets["frequency"].metrics["ogrs3"]["calibration_ratio"]
    assert np.isfinite(ratio) and abs(ratio - 1.0) > 1e-6  # rescaling with the test outcomes gives exactly 1


@pytest.mark.slow
def test_a_planted_future_only_signal_is_not_learned_by_earlier_periods(cohort):
    """A feature equal to the outcome only for releases from ``planted_from`` on.

    Periods that start before those outcomes matured must not benefit from it (their AUC
    stays where the real features put it), while the refit, which sees them, does: so the
    feature really carries the outcome.
    """
    as_of = cohort.as_of
    releases = cohort.releases.copy()
    labels = derive_labels(releases, cohort.reoffences, as_of=as_of)
    config = config_from_dict({**ROLLING, "extra_numeric": ["planted"]})
    planted_from = pd.Timestamp(time_split(releases, as_of=as_of, config=config).test_from)
    future = (releases["release_date"] >= planted_from).to_numpy()
    noise = np.random.default_rng(3).binomial(1, 0.4, len(releases)).astype(float)
    outcome = labels["reoffence"].to_numpy(dtype=float, na_value=0.0)
    releases["planted"] = np.where(future, outcome, noise)
    result = train_models(releases, cohort.reoffences, as_of=as_of, config=config, targets=("reoffence",))
    tr = result.targets["reoffence"]
    matured = planted_from + pd.Timedelta(days=config.labels.follow_up_days)
    before = tr.periods[pd.to_datetime(tr.periods["start"]) < matured]
    assert len(before) >= 2
    assert (pd.to_datetime(before["fit_last_release"]) < planted_from).all()
    assert (before["auc"] < 0.9).all(), before[["period", "auc"]]
    eligible = labels["reoffence"].notna().to_numpy() & future
    refit_auc = period_figures(outcome[eligible], tr.model.predict(releases.loc[eligible]), binary=True)["auc"]
    # the refit, which saw planted outcomes, ranks the planted releases far better: the feature carries it
    assert refit_auc > before["auc"].max() + 0.05, (refit_auc, before[["period", "auc"]])
