"""Training: label, split in time, fit the three targets, evaluate against references.

The split (:func:`time_split`):

* releases before ``test_from`` train the models (``validation_share`` of the training
  *people* are held out for early stopping);
* releases on or after ``test_from`` are split **by person** into a calibration fold and
  a test fold, so no person's releases sit on both sides of that split;
* each target uses only its eligible releases (an unknown outcome is never 0).

The reoffence model's trees learn from the number of reoffences (Poisson) by default and
are recalibrated to a probability; the frequency model then shares the same fit.

On the test fold every target is scored by the calibrated LightGBM model, the logistic
(Poisson) baseline, OGRS3 (for ``reoffence``: its one-year probability; for ``harm``: its
two-year probability, as a general-reoffending reference) and, on synthetic data, the
oracle from ``truth``.
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
from riskmodel.evaluation.metrics import binary_metrics, count_metrics
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
    "train_models",
    "data_fingerprint",
]

_TRUTH_COLUMN = {"reoffence": "reoffence_probability", "harm": "harm_probability", "frequency": "frequency_expected"}


@dataclass(frozen=True)
class Split:
    """Boolean masks over the releases, before eligibility is applied."""

    test_from: date
    train: np.ndarray
    validation: np.ndarray
    calibration: np.ndarray
    test: np.ndarray

    def describe(self, releases: pd.DataFrame) -> dict[str, object]:
        """Counts and date ranges of each part."""
        out: dict[str, object] = {"test_from": self.test_from.isoformat()}
        for name in ("train", "validation", "calibration", "test"):
            mask = getattr(self, name)
            dates = releases.loc[mask, "release_date"]
            out[f"{name}_rows"] = int(mask.sum())
            if len(dates):
                out[f"{name}_first"] = dates.min().date().isoformat()
                out[f"{name}_last"] = dates.max().date().isoformat()
        return out


@dataclass
class TargetResult:
    """One target's fitted model, baseline and test-fold evaluation."""

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

    So the harm model has two years of releases to calibrate and test on, and the
    reoffence and frequency models about three.
    """
    return as_of - timedelta(days=config.labels.harm_follow_up_days + 730)


def time_split(releases: pd.DataFrame, *, as_of: date, config: TrainConfig, test_from: date | None = None) -> Split:
    """Split releases in time, then the later ones by person (see module docstring)."""
    test_from = test_from or config.split.test_from or default_test_from(as_of, config)
    later = (releases["release_date"] >= pd.Timestamp(test_from)).to_numpy()
    people = releases["person_id"].to_numpy()
    rng_cal = _person_draw(people, seed=config.split.seed, salt="calibration")
    rng_val = _person_draw(people, seed=config.split.seed, salt="validation")
    calibration = later & (rng_cal < config.split.calibration_share)
    test = later & ~calibration
    validation = ~later & (rng_val < config.split.validation_share)
    train = ~later & ~validation
    return Split(test_from=test_from, train=train, validation=validation, calibration=calibration, test=test)


def fixed_test_split(releases: pd.DataFrame, *, test: ArrayLike, test_from: date, config: TrainConfig) -> Split:
    """A split around a given test part (e.g. the NIJ adapter's fixed split).

    The releases outside ``test`` are split by person: ``calibration_share`` of the people
    calibrate, ``validation_share`` of the rest stop the boosting early, the others train.
    Use it where the data have no meaningful time order to calibrate on later releases.

    Parameters
    ----------
    releases : DataFrame
        Contract rows (``person_id`` is used).
    test : array-like of bool
        The test part, over ``releases``.
    test_from : date
        Recorded as the split's first test release date (for reports).
    config : TrainConfig
        Shares and seed of the person draws.
    """
    test = np.asarray(test, dtype=bool)
    if len(test) != len(releases):
        raise ValueError(f"test has {len(test)} rows, releases {len(releases)}")
    people = releases["person_id"].to_numpy()
    held = set(people[test])
    if held & set(people[~test]):
        raise ValueError("a person has releases both in the test part and outside it")
    cal = _person_draw(people, seed=config.split.seed, salt="calibration") < config.split.calibration_share
    val = _person_draw(people, seed=config.split.seed, salt="validation") < config.split.validation_share
    calibration = ~test & cal
    validation = ~test & ~cal & val
    return Split(
        test_from=test_from, train=~test & ~cal & ~val, validation=validation, calibration=calibration, test=test
    )


def _person_draw(people: np.ndarray, *, seed: int, salt: str) -> np.ndarray:
    """A uniform number per person, stable across runs and row order."""
    keys = pd.Series(people, dtype=object).astype(str) + f"|{salt}|{seed}"
    hashed = pd.util.hash_pandas_object(keys, index=False).to_numpy()
    return (hashed >> np.uint64(11)).astype(np.float64) / float(2**53)


def _scorers_for(target: str, rows: pd.DataFrame, reference: pd.DataFrame) -> dict[str, np.ndarray]:
    if target == "reoffence":
        return {"ogrs3": reference["ogrs3_1y"].to_numpy()}
    if target == "harm":
        return {"ogrs3": reference["ogrs3_2y"].to_numpy()}
    # OGRS3 gives no count; its one-year probability still ranks people for capture.
    return {"ogrs3": reference["ogrs3_1y"].to_numpy()}


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
    """Fit and evaluate every target.

    Parameters
    ----------
    releases, reoffences : validated contract tables.
    as_of : extract date (censoring).
    config : training configuration.
    truth : optional synthetic truth (``release_id`` + true values) for oracle figures.
    test_from : first release date of the test period (overrides the config).
    targets : which targets to fit.
    split : a ready split (e.g. the NIJ benchmark's fixed split) instead of :func:`time_split`.
    """
    releases = releases.reset_index(drop=True)
    labels = derive_labels(releases, reoffences, as_of=as_of, config=config.labels)
    split = split or time_split(releases, as_of=as_of, config=config, test_from=test_from)
    reference = ogrs3(releases)
    truth_aligned = releases[["release_id"]].merge(truth, on="release_id", how="left") if truth is not None else None
    counts_all = labels["frequency"].to_numpy(dtype=float, na_value=np.nan)
    result = TrainingResult(
        as_of=as_of,
        config=config,
        split=split.describe(releases),
        fingerprint=data_fingerprint(releases, reoffences),
    )
    shared: dict[tuple, object] = {}
    for target in targets:
        y_all = labels[target].to_numpy(dtype=float, na_value=np.nan)
        parts = _eligible_parts(target, split, y_all, as_of=as_of)
        model, baseline = _fit_target(target, releases, y_all, counts_all, parts, config=config, shared=shared)

        test = parts["test"]
        test_rows = releases.loc[test].reset_index(drop=True)
        y_test = y_all[test]
        counts_test = np.nan_to_num(counts_all[test]) if target != "harm" else y_test
        scores = {"model": model.predict(test_rows), "baseline": baseline_predict(baseline, test_rows)}
        scores.update({k: v[test] for k, v in _scorers_for(target, releases, reference).items()})
        if truth_aligned is not None:
            scores["oracle"] = truth_aligned[_TRUTH_COLUMN[target]].to_numpy(dtype=float)[test]
        metrics = _test_metrics(target, scores, y_test, counts_test, config=config)
        tables = _fairness_tables(target, scores["model"], y_test, test_rows, config=config)
        result.targets[target] = TargetResult(
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
            n_train=int(parts["train"].sum()),
            n_calibration=int(parts["calibration"].sum()),
        )
    return result


def _eligible_parts(target: str, split: Split, y_all: np.ndarray, *, as_of: date) -> dict[str, np.ndarray]:
    """The split's parts restricted to the target's eligible releases (an unknown outcome is never 0)."""
    eligible = ~np.isnan(y_all)
    parts = {name: getattr(split, name) & eligible for name in ("train", "validation", "calibration", "test")}
    for name, mask in parts.items():
        if name != "validation" and mask.sum() == 0:
            raise ValueError(
                f"{target}: no eligible releases in the {name} part; check as_of ({as_of}),"
                f" test_from ({split.test_from}) and the windows"
            )
    return parts


def _fit_target(
    target: str,
    X: pd.DataFrame,
    y_all: np.ndarray,
    counts_all: np.ndarray,
    parts: dict[str, np.ndarray],
    *,
    config: TrainConfig,
    shared: dict[tuple, object],
) -> tuple[CalibratedModel, object]:
    """The target's calibrated LightGBM model and its baseline."""
    # The reoffence model may learn from the counts (see TrainConfig); reoffence and
    # frequency then fit the same trees to the same rows, so they share one fit.
    fit_as, y_fit = target, y_all
    if target == "reoffence" and config.reoffence_from_counts:
        fit_as, y_fit = "frequency", counts_all
    params = config.params_for(target)
    key = (fit_as, repr(sorted(params.items())), parts["train"].tobytes(), parts["validation"].tobytes())
    if fit_as == "frequency" and key in shared:
        pipeline = shared[key]
    else:
        pipeline = fit_lightgbm_pipeline(
            fit_as,
            X.loc[parts["train"]],
            y_fit[parts["train"]],
            X_valid=X.loc[parts["validation"]] if parts["validation"].any() else None,
            y_valid=y_fit[parts["validation"]],
            extra_numeric=config.extra_numeric,
            extra_categorical=config.extra_categorical,
            params=params,
            seed=config.seed,
        )
        shared[key] = pipeline
    model = CalibratedModel(pipeline, target=target).fit(X.loc[parts["calibration"]], y_all[parts["calibration"]])
    baseline = fit_baseline(target, X.loc[parts["train"]], y_all[parts["train"]])
    return model, baseline


def _test_metrics(
    target: str, scores: dict[str, np.ndarray], y_test: np.ndarray, counts_test: np.ndarray, *, config: TrainConfig
) -> dict[str, dict[str, float]]:
    """Every scorer's figures on the test fold (rows a scorer cannot score are left out)."""
    metrics: dict[str, dict[str, float]] = {}
    for name, score in scores.items():
        ok = ~np.isnan(score)
        if target in BINARY_TARGETS:
            metrics[name] = binary_metrics(
                y_test[ok],
                score[ok],
                outcome_count=counts_test[ok],
                capacity=config.scoring.capacity,
                n_boot=config.n_boot,
                seed=config.seed,
            )
        elif name == "ogrs3":
            metrics[name] = count_metrics(
                y_test[ok],
                score[ok] * np.nan_to_num(y_test[ok]).mean() / max(np.mean(score[ok]), 1e-9),
                capacity=config.scoring.capacity,
            )
        else:
            metrics[name] = count_metrics(y_test[ok], score[ok], capacity=config.scoring.capacity)
        metrics[name]["coverage"] = float(ok.mean())
    return metrics


def _fairness_tables(
    target: str, p_model: np.ndarray, y_test: np.ndarray, test_rows: pd.DataFrame, *, config: TrainConfig
) -> dict[str, pd.DataFrame]:
    """The model's fairness audit on the test fold, by ethnicity and by age band."""
    if target in BINARY_TARGETS:
        y_fair, p_fair, threshold = y_test, p_model, config.fairness_thresholds[target]
    else:  # audit the frequency model as P(at least one) under its Poisson rate
        y_fair, p_fair = (y_test > 0).astype(float), 1.0 - np.exp(-p_model)
        threshold = config.fairness_thresholds["reoffence"]
    groups = {"ethnicity": test_rows["ethnicity"].to_numpy(), "age_band": age_band(test_rows["age_at_release"])}
    return fairness_audit(
        y_fair,
        p_fair,
        groups=groups,
        threshold=threshold,
        top_n=config.scoring.capacity,
        min_group_size=config.gates.min_group_size,
    )
