"""Training: label, evaluate the procedure in time, refit it on every matured release.

One **procedure** turns a set of training releases into a calibrated model
(:func:`_fit_procedure`):

* the training *people* are dealt into ``split.calibration_folds`` folds; for each fold,
  LightGBM is fitted on the other folds and stops early on that fold, giving the fold's
  out-of-fold margin and a best tree count;
* the trees are fitted on all the training releases with the median of those tree counts
  (or a given count, see below);
* the calibration map (:class:`~riskmodel.modelling.models.CalibratedModel`) is fitted on
  the out-of-fold margins, so no release serves calibration only. By default
  (``split.recalibration: auto``) it is logistic for the two probabilities and isotonic
  for the expected count: on the synthetic benchmark's calibration by decile against the
  truth, isotonic bent the probabilities' sparse low tail (harm's bottom decile 0.85 of
  the truth, against 1.06 for logistic) while logistic overpredicted the count's tails
  (bottom decile 1.22, top 1% 1.13, largest prediction 57 against a true 29; isotonic:
  0.96, 1.01 and 29).

**Evaluation** is a rolling-origin (expanding-window) backtest (:func:`evaluation_periods`):
from ``test_from`` to the last eligible release, each ``split.evaluation_period`` (a
quarter by default) is scored by the procedure fitted on the releases whose outcome had
matured by the period's first day (``release_date + window + waiting <= start``). No
fit ever learns from a release later than the ones it scores, nor from an outcome not
yet known on the period's first day. The periods' predictions are pooled for the
headline figures (with bootstrap intervals); each period's own figures are kept.

The **deployed model** is the same procedure refitted on every eligible release up to
``as_of``; its tree count is the median of the evaluation periods' tree counts (not
scaled for the larger refit), so no release is held out to stop it early.

With a fixed test part (:func:`fixed_test_split`, e.g. NIJ's), there is one period: the
procedure is fitted on every eligible release outside it, scores it, and is the deployed
model.

Each target uses only its eligible releases (an unknown outcome is never 0). The
reoffence model's trees learn from the number of reoffences (Poisson) by default and
share the frequency model's fits; each is calibrated on its own outcome.

Every scorer — the model, the logistic (Poisson) baseline fitted by the same rolling
procedure, OGRS3, ARP (when :mod:`riskmodel.modelling.arp` is there) and, on synthetic
data, the oracle from ``truth`` — is judged on the same pooled rows. Where a reference
cannot score a row, its figures are on the rows it scores (``coverage`` says how many)
and ``model_on_<reference>_rows`` gives the model's on those same rows. No reference is
rescaled with the outcomes it is judged on: the frequency target's references (which
give no count) are scaled by the mean count of each period's training rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from riskmodel.data.labels import derive_labels
from riskmodel.evaluation.fairness import age_band, fairness_audit, fairness_gap_errors, fairness_gaps
from riskmodel.evaluation.metrics import binary_metrics, count_metrics, period_figures
from riskmodel.modelling.config import TrainConfig
from riskmodel.modelling.models import (
    BINARY_TARGETS,
    TARGETS,
    CalibratedModel,
    baseline_predict,
    fit_baseline,
    fit_lightgbm_pipeline,
)
from riskmodel.modelling.ogrs3 import ogrs3

__all__ = [
    "Split",
    "TargetResult",
    "TrainingResult",
    "time_split",
    "fixed_test_split",
    "evaluation_periods",
    "train_models",
    "data_fingerprint",
]

_TRUTH_COLUMN = {"reoffence": "reoffence_probability", "harm": "harm_probability", "frequency": "frequency_expected"}

_PERIOD_MONTHS = {"month": 1, "quarter": 3, "half": 6, "year": 12}

#: Reference scorers: the model is also judged on the rows each can score.
REFERENCES: tuple[str, ...] = ("ogrs3", "arp")


@dataclass(frozen=True)
class Split:
    """Where the evaluation starts, and a fixed test part when there is one.

    Attributes
    ----------
    test_from : date
        First release date evaluated (the first period's first day).
    test : ndarray of bool
        Releases on or after ``test_from`` (a rolling split), or the fixed test part.
    fixed : bool
        True for a fixed test part (:func:`fixed_test_split`): one period, fitted on
        every release outside it.
    """

    test_from: date
    test: np.ndarray
    fixed: bool = False

    def describe(self, releases: pd.DataFrame) -> dict[str, object]:
        """Counts and date ranges of the evaluated releases and of all releases (the refit's pool)."""
        out: dict[str, object] = {"test_from": self.test_from.isoformat(), "fixed_test": self.fixed}
        for name, mask in (("test", self.test), ("refit", ~self.test if self.fixed else np.ones(len(self.test), bool))):
            dates = releases.loc[mask, "release_date"]
            out[f"{name}_rows"] = int(mask.sum())
            if len(dates):
                out[f"{name}_first"] = dates.min().date().isoformat()
                out[f"{name}_last"] = dates.max().date().isoformat()
        return out


@dataclass
class TargetResult:
    """One target's deployed model and baseline, and the pooled out-of-time evaluation.

    ``model`` and ``baseline`` are the refits on every eligible release (the deployed
    ones). ``test_rows``, ``test_scores``, ``test_outcome``, ``test_counts``, ``metrics``,
    ``fairness`` and ``gaps`` describe the *evaluation*: each row scored by the procedure
    fitted before its period (see the module docstring). ``periods`` has one row per
    evaluation period; ``refit`` what the deployed model was trained on;
    ``best_iterations`` the tree count of each period's fit and, last, the refit's.
    """

    target: str
    model: CalibratedModel
    baseline: object
    metrics: dict[str, dict[str, float]]
    fairness: dict[str, pd.DataFrame]
    gaps: dict[str, float]
    test_rows: pd.DataFrame
    test_scores: dict[str, np.ndarray]
    test_outcome: np.ndarray
    test_counts: np.ndarray
    n_train: int
    n_calibration: int
    periods: pd.DataFrame = field(default_factory=pd.DataFrame)
    refit: dict[str, object] = field(default_factory=dict)
    best_iterations: list[int] = field(default_factory=list)


@dataclass
class TrainingResult:
    """Everything one training run produced."""

    as_of: date
    config: TrainConfig
    split: dict[str, object]
    fingerprint: str
    targets: dict[str, TargetResult] = field(default_factory=dict)


def data_fingerprint(releases: pd.DataFrame, reoffences: pd.DataFrame) -> str:
    """SHA-256 of the validated training tables (order-independent within each table)."""
    digest = hashlib.sha256()
    for frame in (releases, reoffences):
        hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        digest.update(np.sort(hashed).tobytes())
        digest.update(",".join(frame.columns).encode())
    return digest.hexdigest()


def default_test_from(as_of: date, config: TrainConfig) -> date:
    """Two years before the last release whose harm outcome is known.

    So the harm evaluation covers two years of releases, and the reoffence and frequency
    evaluations about three.
    """
    return as_of - timedelta(days=config.labels.harm_follow_up_days + 730)


def time_split(releases: pd.DataFrame, *, as_of: date, config: TrainConfig, test_from: date | None = None) -> Split:
    """The rolling split: releases on or after ``test_from`` are evaluated, period by period."""
    test_from = test_from or config.split.test_from or default_test_from(as_of, config)
    later = (releases["release_date"] >= pd.Timestamp(test_from)).to_numpy()
    return Split(test_from=test_from, test=later)


def fixed_test_split(releases: pd.DataFrame, *, test: ArrayLike, test_from: date, config: TrainConfig) -> Split:
    """A split around a given test part (e.g. the NIJ adapter's fixed split).

    The procedure is fitted on every release outside ``test`` (calibration cross-fitted
    by person) and scores ``test``; that fit is also the deployed model. Use it where the
    data have no meaningful time order.

    Parameters
    ----------
    releases : DataFrame
        Contract rows (``person_id`` is used).
    test : array-like of bool
        The test part, over ``releases``.
    test_from : date
        Recorded as the split's first test release date (for reports).
    config : TrainConfig
        Unused (kept so callers need not change).

    Raises
    ------
    ValueError
        When ``test`` has the wrong length, or a person has releases on both sides.
    """
    test = np.asarray(test, dtype=bool)
    if len(test) != len(releases):
        raise ValueError(f"test has {len(test)} rows, releases {len(releases)}")
    people = releases["person_id"].to_numpy()
    if set(people[test]) & set(people[~test]):
        raise ValueError("a person has releases both in the test part and outside it")
    return Split(test_from=test_from, test=test, fixed=True)


def evaluation_periods(test_from: date, last: date, *, period: str) -> list[tuple[date, date]]:
    """Consecutive periods ``[start, end)`` from ``test_from`` until one holds ``last``.

    Examples
    --------
    >>> evaluation_periods(date(2021, 1, 15), date(2021, 7, 1), period="quarter")
    [(datetime.date(2021, 1, 15), datetime.date(2021, 4, 15)), (datetime.date(2021, 4, 15), datetime.date(2021, 7, 15))]
    """
    if period not in _PERIOD_MONTHS:
        raise ValueError(f"split.evaluation_period must be one of {sorted(_PERIOD_MONTHS)}, got {period!r}")
    step = pd.DateOffset(months=_PERIOD_MONTHS[period])
    start = pd.Timestamp(test_from)
    out = []
    k = 0
    while start <= pd.Timestamp(last):
        k += 1
        end = pd.Timestamp(test_from) + step * k
        out.append((start.date(), end.date()))
        start = end
    return out


def _person_draw(people: np.ndarray, *, seed: int, salt: str) -> np.ndarray:
    """A uniform number per person, stable across runs and row order."""
    keys = pd.Series(people, dtype=object).astype(str) + f"|{salt}|{seed}"
    hashed = pd.util.hash_pandas_object(keys, index=False).to_numpy()
    return (hashed >> np.uint64(11)).astype(np.float64) / float(2**53)


def _follow_up_days(target: str, config: TrainConfig) -> int:
    return config.labels.harm_follow_up_days if target == "harm" else config.labels.follow_up_days


def _references(releases: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """OGRS3, and ARP when its module is there (columns ``ogrs3_1y``, ``ogrs3_2y``, ``arp_2y``)."""
    refs = {"ogrs3": ogrs3(releases)}
    try:
        from riskmodel.modelling.arp import arp
    except ImportError:  # ARP lands separately
        return refs
    refs["arp"] = arp(releases)
    return refs


def _reference_scores(target: str, refs: dict[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    """Each reference's score for a target (the frequency ones still to be scaled)."""
    out = {}
    if "ogrs3" in refs:
        # harm is two-year: OGRS3's two-year probability; reoffence and frequency its one-year one
        column = "ogrs3_2y" if target == "harm" else "ogrs3_1y"
        out["ogrs3"] = refs["ogrs3"][column].to_numpy(dtype=float)
    if "arp" in refs:
        out["arp"] = refs["arp"]["arp_2y"].to_numpy(dtype=float)
    return out


# --------------------------------------------------------------------------- the procedure


@dataclass
class _Trees:
    """One fit of the trees and its cross-fitted margins."""

    pipeline: object
    oof_margin: np.ndarray
    fold_iterations: list[int]
    n_trees: int


class _Fitter:
    """Fits the trees (shared between targets that fit the same thing to the same rows)."""

    def __init__(self, X: pd.DataFrame, config: TrainConfig):
        self.X = X
        self.config = config
        self.cache: dict[tuple, _Trees] = {}
        folds = config.split.calibration_folds
        draw = _person_draw(X["person_id"].to_numpy(), seed=config.split.seed, salt="calibration-folds")
        self.fold = np.minimum((draw * folds).astype(int), folds - 1)

    def _fit(
        self, fit_as: str, rows: np.ndarray, y: np.ndarray, params: dict, *, valid: np.ndarray | None = None
    ) -> object:
        return fit_lightgbm_pipeline(
            fit_as,
            self.X.loc[rows],
            y[rows],
            X_valid=None if valid is None else self.X.loc[valid],
            y_valid=None if valid is None else y[valid],
            extra_numeric=self.config.extra_numeric,
            extra_categorical=self.config.extra_categorical,
            params=params,
            seed=self.config.seed,
        )

    def trees(self, fit_as: str, rows: np.ndarray, y: np.ndarray, params: dict, n_trees: int | None) -> _Trees:
        """Cross-fitted margins over person folds, then the trees on all ``rows``.

        Without ``n_trees`` each fold's fit stops early on its held-out fold, and the full
        fit uses the median of their best tree counts; with it, every fit uses ``n_trees``.
        """
        key = (fit_as, repr(sorted(params.items())), rows.tobytes(), n_trees)
        if key in self.cache:
            return self.cache[key]
        oof = np.full(len(self.X), np.nan)
        counts = []
        fixed = {**params, "early_stopping_rounds": 0} if n_trees else params
        if n_trees:
            fixed["n_estimators"] = n_trees
        for k in np.unique(self.fold[rows]):
            held = rows & (self.fold == k)
            fit_rows = rows & ~held
            if not fit_rows.any():
                continue
            pipeline = self._fit(fit_as, fit_rows, y, fixed, valid=None if n_trees else held)
            booster = pipeline.named_steps["model"].booster_
            counts.append(int(booster.best_iteration or booster.num_trees()) or 1)
            calibrated = CalibratedModel(pipeline, target=fit_as)
            oof[held] = calibrated.margin(self.X.loc[held])
        if n_trees:
            chosen = n_trees
        else:
            chosen = int(np.median(counts)) if counts else int(params.get("n_estimators", 100))
        full = self._fit(fit_as, rows, y, {**params, "early_stopping_rounds": 0, "n_estimators": max(chosen, 1)})
        result = _Trees(pipeline=full, oof_margin=oof[rows], fold_iterations=counts, n_trees=max(chosen, 1))
        self.cache[key] = result
        return result


def _recalibration(target: str, config: TrainConfig) -> str:
    """The calibration map of a target: ``auto`` is logistic for the probabilities, isotonic for the count."""
    chosen = config.split.recalibration
    if chosen != "auto":
        return chosen
    return "logistic" if target in BINARY_TARGETS else "isotonic"


def _fit_procedure(
    target: str,
    fitter: _Fitter,
    rows: np.ndarray,
    y_target: np.ndarray,
    counts_all: np.ndarray,
    *,
    n_trees: int | None,
) -> tuple[CalibratedModel, int]:
    """The calibrated model fitted on ``rows`` (see the module docstring), and its tree count."""
    config = fitter.config
    fit_as, y_fit = target, y_target
    if target == "reoffence" and config.reoffence_from_counts:
        fit_as, y_fit = "frequency", counts_all
    trees = fitter.trees(fit_as, rows, y_fit, config.params_for(target), n_trees)
    model = CalibratedModel(trees.pipeline, target=target, recalibration=_recalibration(target, config))
    model.fit_from_margin(trees.oof_margin, y_target[rows])
    return model, trees.n_trees


# --------------------------------------------------------------------------- training


def train_models(
    releases: pd.DataFrame,
    reoffences: pd.DataFrame,
    *,
    as_of: date,
    config: TrainConfig,
    truth: pd.DataFrame | None = None,
    test_from: date | None = None,
    targets: tuple[str, ...] = TARGETS,
    split: Split | None = None,
) -> TrainingResult:
    """Evaluate the procedure in time and refit it on every eligible release, per target.

    Parameters
    ----------
    releases, reoffences : validated contract tables.
    as_of : extract date (censoring).
    config : training configuration.
    truth : optional synthetic truth (``release_id`` + true values) for oracle figures.
    test_from : first release date evaluated (overrides the config).
    targets : which targets to fit.
    split : a fixed test part (:func:`fixed_test_split`, e.g. the NIJ benchmark's)
        instead of the rolling evaluation.

    Raises
    ------
    ValueError
        When a target has no eligible release to evaluate, or none to fit a period on.
    """
    releases = releases.reset_index(drop=True)
    labels = derive_labels(releases, reoffences, as_of=as_of, config=config.labels)
    split = split or time_split(releases, as_of=as_of, config=config, test_from=test_from)
    refs = _references(releases)
    truth_aligned = releases[["release_id"]].merge(truth, on="release_id", how="left") if truth is not None else None
    counts_all = labels["frequency"].to_numpy(dtype=float, na_value=np.nan)
    result = TrainingResult(
        as_of=as_of,
        config=config,
        split=split.describe(releases),
        fingerprint=data_fingerprint(releases, reoffences),
    )
    fitter = _Fitter(releases, config)
    for target in targets:
        y_all = labels[target].to_numpy(dtype=float, na_value=np.nan)
        result.targets[target] = _train_target(
            target,
            releases,
            y_all,
            counts_all,
            split,
            as_of=as_of,
            config=config,
            fitter=fitter,
            refs=refs,
            truth_aligned=truth_aligned,
        )
    result.split["periods"] = max((len(t.periods) for t in result.targets.values()), default=0)
    result.split["evaluation_period"] = "fixed" if split.fixed else config.split.evaluation_period
    return result


def _train_target(
    target: str,
    releases: pd.DataFrame,
    y_all: np.ndarray,
    counts_all: np.ndarray,
    split: Split,
    *,
    as_of: date,
    config: TrainConfig,
    fitter: _Fitter,
    refs: dict[str, pd.DataFrame],
    truth_aligned: pd.DataFrame | None,
) -> TargetResult:
    eligible = ~np.isnan(y_all)
    dates = releases["release_date"]
    scored = split.test & eligible
    if not scored.any():
        raise ValueError(
            f"{target}: no eligible releases to evaluate; check as_of ({as_of}), test_from"
            f" ({split.test_from}) and the windows"
        )
    binary = target in BINARY_TARGETS
    if split.fixed:
        plan = [(split.test_from, None, ~split.test & eligible, scored)]
    else:
        last = dates[scored].max().date()
        follow_up = pd.Timedelta(days=_follow_up_days(target, config))
        matured_by = (dates + follow_up).to_numpy()
        plan = []
        for start, end in evaluation_periods(split.test_from, last, period=config.split.evaluation_period):
            in_period = scored & (dates >= pd.Timestamp(start)).to_numpy() & (dates < pd.Timestamp(end)).to_numpy()
            if in_period.any():
                plan.append((start, end, eligible & (matured_by <= np.datetime64(pd.Timestamp(start))), in_period))

    reference_all = _reference_scores(target, refs)
    model_score = np.full(len(releases), np.nan)
    baseline_score = np.full(len(releases), np.nan)
    reference_score = {name: np.full(len(releases), np.nan) for name in reference_all}
    period_rows = []
    iterations: list[int] = []
    model = baseline = None
    for start, end, fit_rows, in_period in plan:
        if not fit_rows.any() or (binary and np.unique(y_all[fit_rows]).size < 2):
            raise ValueError(
                f"{target}: no eligible releases (or only one outcome) matured by {start} to fit the period"
                f" starting then; check as_of ({as_of}), test_from ({split.test_from}) and the windows"
            )
        model, n_trees = _fit_procedure(target, fitter, fit_rows, y_all, counts_all, n_trees=None)
        baseline = fit_baseline(target, releases.loc[fit_rows], y_all[fit_rows])
        period_X = releases.loc[in_period]
        model_score[in_period] = model.predict(period_X)
        baseline_score[in_period] = baseline_predict(baseline, period_X)
        for name, values in reference_all.items():
            values = values[in_period]
            if not binary:  # no count: scale by the period's training rows, never by the outcomes judged
                fit_ref = reference_all[name][fit_rows]
                ok = ~np.isnan(fit_ref)
                values = values * np.nanmean(y_all[fit_rows][ok]) / max(np.nanmean(fit_ref[ok]), 1e-9)
            reference_score[name][in_period] = values
        iterations.append(n_trees)
        figures = period_figures(y_all[in_period], model_score[in_period], binary=binary)
        period_rows.append(
            {
                "period": start.isoformat() if end is None else f"{start.isoformat()}/{end.isoformat()}",
                "start": start.isoformat(),
                "end": "" if end is None else end.isoformat(),
                "fit_rows": int(fit_rows.sum()),
                "fit_last_release": dates[fit_rows].max().date().isoformat(),
                "trees": n_trees,
                **figures,
                "baseline_auc": period_figures(y_all[in_period], baseline_score[in_period], binary=binary)["auc"],
            }
        )

    # the deployed model: the same procedure on every eligible release (a fixed split: the same fit)
    refit_rows = ~split.test & eligible if split.fixed else eligible
    if not split.fixed:
        refit_trees = int(np.median(iterations))
        model, refit_trees = _fit_procedure(target, fitter, refit_rows, y_all, counts_all, n_trees=refit_trees)
        baseline = fit_baseline(target, releases.loc[refit_rows], y_all[refit_rows])
    else:
        refit_trees = iterations[-1]
    iterations.append(refit_trees)

    test_rows = releases.loc[scored].reset_index(drop=True)
    y_test = y_all[scored]
    counts_test = np.nan_to_num(counts_all[scored]) if target != "harm" else y_test
    scores = {"model": model_score[scored], "baseline": baseline_score[scored]}
    scores.update({name: values[scored] for name, values in reference_score.items()})
    if truth_aligned is not None:
        scores["oracle"] = truth_aligned[_TRUTH_COLUMN[target]].to_numpy(dtype=float)[scored]
    metrics = _test_metrics(target, scores, y_test, counts_test, config=config)
    tables = _fairness_tables(target, scores["model"], y_test, test_rows, config=config)
    n_refit = int(refit_rows.sum())
    refit = {
        "rows": n_refit,
        "events": float(np.nansum(y_all[refit_rows])),
        "first_release": dates[refit_rows].min().date().isoformat(),
        "last_release": dates[refit_rows].max().date().isoformat(),
        "trees": refit_trees,
        "calibration_folds": config.split.calibration_folds,
        "recalibration": _recalibration(target, config),
    }
    return TargetResult(
        target=target,
        model=model,
        baseline=baseline,
        metrics=metrics,
        fairness=tables,
        gaps={
            **fairness_gaps(tables, min_group_size=config.gates.min_group_size),
            **fairness_gap_errors(tables, min_group_size=config.gates.min_group_size),
        },
        test_rows=test_rows,
        test_scores=scores,
        test_outcome=y_test,
        test_counts=counts_test,
        n_train=n_refit,
        n_calibration=n_refit,
        periods=pd.DataFrame(period_rows),
        refit=refit,
        best_iterations=iterations,
    )


def _test_metrics(
    target: str, scores: dict[str, np.ndarray], y_test: np.ndarray, counts_test: np.ndarray, *, config: TrainConfig
) -> dict[str, dict[str, float]]:
    """Every scorer's figures on the pooled evaluation rows.

    A scorer that cannot score some rows is judged on those it scores, and the model on
    the same rows as ``model_on_<scorer>_rows``.
    """

    def figures(score: np.ndarray, rows: np.ndarray) -> dict[str, float]:
        if target in BINARY_TARGETS:
            return binary_metrics(
                y_test[rows],
                score[rows],
                outcome_count=counts_test[rows],
                capacity=config.scoring.capacity,
                n_boot=config.n_boot,
                seed=config.seed,
            )
        return count_metrics(y_test[rows], score[rows], capacity=config.scoring.capacity)

    metrics: dict[str, dict[str, float]] = {}
    for name, score in scores.items():
        ok = ~np.isnan(score)
        metrics[name] = {**figures(score, ok), "coverage": float(ok.mean()) if len(ok) else float("nan")}
        if name != "model" and not ok.all():
            metrics[f"model_on_{name}_rows"] = {**figures(scores["model"], ok), "coverage": float(ok.mean())}
    return metrics


def _fairness_tables(
    target: str, p_model: np.ndarray, y_test: np.ndarray, test_rows: pd.DataFrame, *, config: TrainConfig
) -> dict[str, pd.DataFrame]:
    """The model's fairness audit on the pooled evaluation rows, by ethnicity and by age band.

    Binary targets: error and selection rates, each judged only in groups with enough of
    what it is computed from (the gates' ``min_group_positives``, ``min_group_negatives``,
    ``min_group_selected``). Frequency: observed against expected reoffences per group
    (what a count model predicts), judged in groups with ``min_group_positives`` observed.
    """
    from riskmodel.evaluation.fairness import count_audit

    gates = config.gates
    groups = {"ethnicity": test_rows["ethnicity"].to_numpy(), "age_band": age_band(test_rows["age_at_release"])}
    if target not in BINARY_TARGETS:
        return count_audit(
            np.nan_to_num(y_test), p_model, groups=groups, min_group_size=gates.min_group_size,
            min_events=gates.min_group_positives,
        )  # fmt: skip
    return fairness_audit(
        y_test,
        p_model,
        groups=groups,
        threshold=config.fairness_thresholds[target],
        top_n=config.scoring.capacity,
        min_group_size=gates.min_group_size,
        min_positives=gates.min_group_positives,
        min_negatives=gates.min_group_negatives,
        min_selected=gates.min_group_selected,
    )
