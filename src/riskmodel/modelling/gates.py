"""Promotion gates: every rule a candidate must pass to become champion, as pure functions.

:func:`decide` judges one target's candidate from figures already in memory (its pooled
evaluation figures and row-level evaluation predictions, the gains of its features, and,
when there is a champion, the champion's predictions on the candidate's evaluation rows)
and returns one :class:`GateResult` per rule. It reads and writes nothing;
:func:`riskmodel.modelling.registry.promote` gathers the figures, calls it, and moves the
aliases when every result passes.

The rules (bounds from :class:`~riskmodel.modelling.config.GateConfig`):

* evidence: at least ``min_evaluation_rows`` scored releases and ``min_evaluation_events``
  releases with the outcome; fewer refuse unless accepted (``--accept-small-evaluation``);
* absolute: AUC ≥ ``min_auc`` whatever the sample size; calibration slope within
  ``calibration_slope``; |calibration intercept| ≤ ``max_abs_calibration_intercept``;
  ECE ≤ ``max_ece`` (frequency: |observed/expected − 1| ≤ ``max_frequency_calibration_error``).
  The calibration bounds widen by ``uncertainty_z`` standard errors of the figure on this
  many rows, so a well calibrated model is not refused for a small evaluation, but the
  slope's never past ``calibration_slope_limits`` (0.5 to 2 by default);
* too good to be true: an AUC above ``max_auc`` refuses and names the features with the
  largest gain as suspected leaks;
* fairness: calibration-in-the-large gaps (by ethnicity and by age band), false positive
  and false negative rate gaps (by ethnicity) within bounds plus ``uncertainty_z``
  standard errors of the gap (frequency: the gap in observed/expected reoffences, by
  ethnicity and by age band); each printed with its 95% interval. A gap that cannot be
  computed (fewer than two groups with enough rows, positives or negatives) refuses,
  unless its grouping is accepted as unaudited (``--accept-unaudited GROUPING``);
* baseline: on the same evaluation rows, a paired bootstrap interval of the candidate's
  gain over the logistic (Poisson) baseline (AUC; frequency: Poisson deviance) that lies
  wholly below ``-baseline_margin`` refuses;
* relative: on the candidate's evaluation rows that the champion's evaluation also scored
  (both out-of-time), the champion's AUC (frequency: capture at 10%) exceeds the
  candidate's by at most ``auc_tolerance``, and its Brier score is lower by at most
  ``brier_tolerance``.

An accepted rule is a result with ``accepted`` set (status ``ACCEPTED``): it does not
refuse, and the registry records it on the champion's version.

>>> import numpy as np
>>> from riskmodel.modelling.config import GateConfig
>>> figures = {"model.auc": 0.7, "model.calibration_slope": 1.0, "model.calibration_intercept": 0.0,
...            "model.ece": 0.01, "model.n": 5000.0, "model.prevalence": 0.3}
>>> results = decide(Evidence("reoffence", "2", figures), None, GateConfig())
>>> [r.status for r in results][:5]
['PASS', 'PASS', 'PASS', 'PASS', 'PASS']
>>> results[1].message
'reoffence v2: AUC 0.700 >= 0.6 (no allowance: a floor whatever the sample size)'
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np

from riskmodel.evaluation.metrics import binary_metrics, count_metrics
from riskmodel.modelling.config import GateConfig
from riskmodel.modelling.models import BINARY_TARGETS

__all__ = [
    "Evidence",
    "GateResult",
    "decide",
    "no_candidate",
    "paired_difference",
    "FAIRNESS_GATES",
    "FREQUENCY_FAIRNESS_GATES",
    "GROUPINGS",
    "SMALL_EVALUATION",
]

#: A bound: one limit, or an interval (calibration slope, frequency calibration).
Bound = float | tuple[float, float]

#: The binary targets' figures the absolute gates judge (a missing one is NaN, and fails).
_ABSOLUTE_FIGURES = ("auc", "calibration_slope", "calibration_intercept", "ece")

#: Fairness gates: (grouping, gap figure, name of its bound in GateConfig). Calibration
#: must hold in every group. Error rates at a fixed threshold are compared across ethnic
#: groups only: age drives risk, so younger people are rightly flagged more often and
#: age-band error-rate gaps are expected.
FAIRNESS_GATES: tuple[tuple[str, str, str], ...] = (
    ("ethnicity", "calibration_in_the_large_gap", "max_calibration_gap"),
    ("age_band", "calibration_in_the_large_gap", "max_calibration_gap"),
    ("ethnicity", "false_positive_rate_gap", "max_false_positive_rate_gap"),
    ("ethnicity", "false_negative_rate_gap", "max_false_negative_rate_gap"),
)

#: The frequency model's fairness gates: observed against expected reoffences in each group.
FREQUENCY_FAIRNESS_GATES: tuple[tuple[str, str, str], ...] = (
    ("ethnicity", "observed_to_expected_gap", "max_observed_to_expected_gap"),
    ("age_band", "observed_to_expected_gap", "max_observed_to_expected_gap"),
)

#: Groupings a fairness gate can judge (and ``--accept-unaudited`` can accept).
GROUPINGS: tuple[str, ...] = ("ethnicity", "age_band")

#: The rule an ``--accept-small-evaluation`` acceptance is recorded under.
SMALL_EVALUATION = "small_evaluation"

#: What each gap is computed from, for the words of a gap that cannot be computed:
#: (what a group needs, name of its minimum in GateConfig).
_GAP_BASE = {
    "calibration_in_the_large_gap": ("rows", "min_group_size"),
    "false_positive_rate_gap": ("negatives", "min_group_negatives"),
    "false_negative_rate_gap": ("positives", "min_group_positives"),
    "observed_to_expected_gap": ("observed reoffences", "min_group_positives"),
}

#: z of a two-sided 95% interval.
_Z95 = 1.959964


@dataclass(frozen=True)
class Evidence:
    """What the gates judge one registered version of a target by.

    Parameters
    ----------
    target : str
        ``reoffence``, ``harm`` or ``frequency``.
    version : str
        Registered version number.
    metrics : mapping of str to float
        The version's evaluation figures as its training run logged them, without the
        target prefix: ``model.auc``, ``model.n``, ``fairness.ethnicity.false_positive_rate_gap``,
        ``fairness.ethnicity.false_positive_rate_gap_se``, ... Only the candidate's are read.
    outcome : numpy.ndarray, optional
        Observed outcome on the candidate's evaluation rows (0/1; frequency: counts).
    predictions : numpy.ndarray, optional
        This version's predictions on the candidate's evaluation rows (the candidate's:
        its out-of-time evaluation predictions). Needed on both when there is a champion.
    scores : mapping of str to numpy.ndarray, optional
        Every scorer's evaluation predictions on those rows (``model``, ``baseline``, ...):
        the baseline gate compares ``model`` with ``baseline``.
    feature_gains : tuple of (str, float), optional
        The candidate model's features and their total gain, largest first: named as
        suspected leaks by the too-good-to-be-true gate.
    """

    target: str
    version: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    outcome: np.ndarray | None = None
    predictions: np.ndarray | None = None
    scores: Mapping[str, np.ndarray] = field(default_factory=dict)
    feature_gains: tuple[tuple[str, float], ...] = ()

    @property
    def label(self) -> str:
        """``reoffence v3``: how the results name the version."""
        return f"{self.target} v{self.version}"


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict on one target's candidate, with its figure.

    Attributes
    ----------
    gate : str
        The rule, e.g. ``evaluation_size``, ``auc``, ``calibration_slope``,
        ``ethnicity.false_positive_rate_gap``, ``baseline``, ``relative_auc``.
    target : str
    passed : bool or None
        True when passed or accepted, False when it refuses; None when it did not judge
        (nothing to judge).
    value : float or None
        The candidate's figure.
    bound : float or (float, float) or None
        The limit the figure was held to, allowance included.
    allowance : float
        The part of ``bound`` that is sampling allowance or tolerance.
    message : str
        The result in words, with its figures (what ``riskmodel promote`` prints).
    accepted : str
        The rule under which a failure was accepted by the operator (``small_evaluation``,
        ``unaudited.ethnicity``); empty when not accepted.
    figures : mapping of str to float
        The figures an acceptance is recorded with (rows, events, groups...).
    """

    gate: str
    target: str
    passed: bool | None
    value: float | None
    bound: Bound | None
    allowance: float
    message: str
    accepted: str = ""
    figures: Mapping[str, float] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``PASS``, ``FAIL``, ``ACCEPTED`` or ``SKIP``."""
        if self.accepted:
            return "ACCEPTED"
        return {True: "PASS", False: "FAIL", None: "SKIP"}[self.passed]

    @property
    def line(self) -> str:
        """Status and message: ``FAIL reoffence v3: AUC 0.550 >= 0.6 (...)``."""
        return f"{self.status} {self.message}"


def no_candidate(target: str) -> GateResult:
    """The failed result of a target with no version aliased ``candidate`` (nothing to judge)."""
    message = f"{target}: no version with alias 'candidate' (train first)"
    return GateResult("candidate", target, False, None, None, 0.0, message)


def decide(
    candidate: Evidence,
    champion: Evidence | None,
    config: GateConfig,
    *,
    accept_small_evaluation: bool = False,
    accept_unaudited: Collection[str] = (),
) -> list[GateResult]:
    """Judge a target's candidate against every gate.

    Parameters
    ----------
    candidate : Evidence
        The candidate's evaluation figures, outcome, scores (``model`` and ``baseline``)
        and feature gains.
    champion : Evidence or None
        The current champion (None: the first promotion, or a rollback: no relative
        gates); with ``predictions`` on the candidate's evaluation rows unless it is the
        candidate itself.
    config : GateConfig
        The bounds.
    accept_small_evaluation : bool, default False
        Accept an evaluation below ``min_evaluation_rows`` or ``min_evaluation_events``
        (the result is ``ACCEPTED`` and records its figures).
    accept_unaudited : collection of str
        Groupings (``ethnicity``, ``age_band``) whose fairness gaps may be not computable.

    Returns
    -------
    list of GateResult
        In order: evidence, absolute, too good to be true, fairness, baseline, relative. A
        candidate that already is the champion gets one passed result and no others.

    Raises
    ------
    ValueError
        When there is a champion but predictions or outcome are missing, or a grouping to
        accept is not one of :data:`GROUPINGS`.
    """
    unknown = sorted(set(accept_unaudited) - set(GROUPINGS))
    if unknown:
        raise ValueError(f"accept_unaudited: {', '.join(unknown)} is not a grouping ({', '.join(GROUPINGS)})")
    if champion is not None and champion.version == candidate.version:
        message = f"{candidate.target}: candidate v{candidate.version} is already champion"
        return [GateResult("already_champion", candidate.target, True, None, None, 0.0, message)]
    results = [_evidence_gate(candidate, config, accept_small_evaluation)]
    if candidate.target in BINARY_TARGETS:
        results += _binary_gates(candidate, config)
    else:
        results.append(_frequency_calibration_gate(candidate, config))
    results.append(_leak_gate(candidate, config))
    results += _fairness_gates(candidate, config, frozenset(accept_unaudited))
    results.append(_baseline_gate(candidate, config))
    if champion is not None:
        results += _relative_gates(candidate, champion, config)
    return results


def _judged(
    gate: str, evidence: Evidence, passed: bool, value: float, bound: Bound, allowance: float, text: str
) -> GateResult:
    return GateResult(
        gate, evidence.target, bool(passed), float(value), bound, float(allowance), f"{evidence.label}: {text}"
    )


def _at_least(gate: str, evidence: Evidence, value: float, floor: float, allowance: float, text: str) -> GateResult:
    return _judged(gate, evidence, value >= floor, value, floor, allowance, text)


def _at_most(gate: str, evidence: Evidence, value: float, ceiling: float, allowance: float, text: str) -> GateResult:
    return _judged(gate, evidence, value <= ceiling, value, ceiling, allowance, text)


# --------------------------------------------------------------------------- evidence


def _rows_and_events(evidence: Evidence) -> tuple[float, float]:
    """Scored releases and releases with the outcome (frequency: with at least one reoffence)."""
    if evidence.outcome is not None:
        y = np.asarray(evidence.outcome, dtype=float)
        y = y[~np.isnan(y)]
        return float(len(y)), float((y > 0).sum())
    n = float(evidence.metrics.get("model.n", 0.0))
    if evidence.target in BINARY_TARGETS and "model.prevalence" in evidence.metrics:
        return n, n * float(evidence.metrics["model.prevalence"])
    return n, float("nan")


def _evidence_gate(candidate: Evidence, config: GateConfig, accept: bool) -> GateResult:
    n, events = _rows_and_events(candidate)
    enough = n >= config.min_evaluation_rows and events >= config.min_evaluation_events  # NaN: not enough
    events_text = "unknown" if np.isnan(events) else f"{int(round(events))}"
    text = (
        f"evaluation evidence: {int(n)} scored releases (minimum {config.min_evaluation_rows}),"
        f" {events_text} with the outcome (minimum {config.min_evaluation_events}) (no allowance)"
    )
    figures = {
        "rows": n,
        "events": events,
        "min_rows": float(config.min_evaluation_rows),
        "min_events": float(config.min_evaluation_events),
    }
    bound = (float(config.min_evaluation_rows), float(config.min_evaluation_events))
    if enough:
        return GateResult("evaluation_size", candidate.target, True, n, bound, 0.0, f"{candidate.label}: {text}")
    if accept:
        text += "; too little to judge, accepted with --accept-small-evaluation (recorded)"
        return GateResult(
            "evaluation_size", candidate.target, True, n, bound, 0.0, f"{candidate.label}: {text}",
            accepted=SMALL_EVALUATION, figures=figures,
        )  # fmt: skip
    text += "; too little to judge the candidate (`riskmodel promote --accept-small-evaluation` accepts it, recorded)"
    return GateResult("evaluation_size", candidate.target, False, n, bound, 0.0, f"{candidate.label}: {text}")


# --------------------------------------------------------------------------- absolute


def _binary_gates(candidate: Evidence, config: GateConfig) -> list[GateResult]:
    auc, slope, intercept, ece = (candidate.metrics.get(f"model.{key}", float("nan")) for key in _ABSOLUTE_FIGURES)
    # Sampling noise allowance: z standard errors of each figure on this many evaluation
    # rows, so a perfectly calibrated model is not refused for a small evaluation (on large
    # ones the allowance vanishes and the bound is the gate). The slope's allowance is
    # capped: outside calibration_slope_limits a model is refused whatever the sample size.
    n, prevalence = candidate.metrics.get("model.n", 0.0), candidate.metrics.get("model.prevalence", 0.5)
    slack = config.uncertainty_z * (1.0 / np.sqrt(max(n * prevalence * (1 - prevalence), 1.0)))
    ece_slack = config.uncertainty_z * 0.8 * np.sqrt(prevalence * (1 - prevalence) * 10 / max(n, 1.0))
    floor, ceiling = config.calibration_slope_limits
    lo, hi = max(config.calibration_slope[0] - slack, floor), min(config.calibration_slope[1] + slack, ceiling)
    bound, ece_bound = config.max_abs_calibration_intercept + slack, config.max_ece + ece_slack
    rows = f"n={int(n)}"
    slope_text = (
        f"calibration slope {slope:.3f} within [{lo:.3f}, {hi:.3f}] (bounds {config.calibration_slope}"
        f" ± allowance {slack:.3f} for {rows}, never past [{floor}, {ceiling}])"
    )
    intercept_text = (
        f"|calibration intercept| {abs(intercept):.3f} <= {bound:.3f}"
        f" ({config.max_abs_calibration_intercept} + allowance {slack:.3f} for {rows})"
    )
    ece_text = f"ECE {ece:.4f} <= {ece_bound:.4f} ({config.max_ece} + allowance {ece_slack:.4f} for {rows})"
    auc_text = f"AUC {auc:.3f} >= {config.min_auc} (no allowance: a floor whatever the sample size)"
    return [
        _at_least("auc", candidate, auc, config.min_auc, 0.0, auc_text),
        _judged("calibration_slope", candidate, lo <= slope <= hi, slope, (lo, hi), hi - config.calibration_slope[1],
                slope_text),
        _at_most("calibration_intercept", candidate, abs(intercept), bound, slack, intercept_text),
        _at_most("ece", candidate, ece, ece_bound, ece_slack, ece_text),
    ]  # fmt: skip


def _frequency_calibration_gate(candidate: Evidence, config: GateConfig) -> GateResult:
    ratio = candidate.metrics.get("model.calibration_ratio", float("nan"))
    error = config.max_frequency_calibration_error
    text = f"observed/expected {ratio:.3f} within 1 ± {error} (no allowance)"
    return _judged(
        "frequency_calibration", candidate, abs(ratio - 1) <= error, ratio, (1 - error, 1 + error), 0.0, text
    )


def _candidate_auc(candidate: Evidence) -> float:
    """The candidate's evaluation AUC (frequency: of its rate for "at least one reoffence")."""
    if candidate.target in BINARY_TARGETS:
        return float(candidate.metrics.get("model.auc", float("nan")))
    p = candidate.scores.get("model", candidate.predictions)
    if candidate.outcome is None or p is None:
        return float("nan")
    y, p = np.asarray(candidate.outcome, dtype=float), np.asarray(p, dtype=float)
    ok = ~(np.isnan(y) | np.isnan(p))
    y, p = (y[ok] > 0).astype(float), p[ok]
    if y.min(initial=1) == y.max(initial=0):
        return float("nan")
    inverse, k = _ranks(p)
    return _weighted_auc(inverse, k, y, np.ones(len(y)))


def _leak_gate(candidate: Evidence, config: GateConfig) -> GateResult:
    auc = _candidate_auc(candidate)
    if np.isnan(auc):
        text = f"{candidate.label}: too good to be true: no AUC to judge"
        passed = None if candidate.target not in BINARY_TARGETS else False
        return GateResult("too_good_to_be_true", candidate.target, passed, None, config.max_auc, 0.0, text)
    if auc <= config.max_auc:
        text = f"AUC {auc:.3f} <= {config.max_auc}, not too good to be true (no allowance)"
        return _judged("too_good_to_be_true", candidate, True, auc, config.max_auc, 0.0, text)
    top = candidate.feature_gains[: config.leak_features]
    named = ", ".join(f"{name} (gain {gain:.4g})" for name, gain in top) or "feature gains not available"
    text = (
        f"AUC {auc:.3f} > {config.max_auc}: too good to be true (no allowance); suspected leaks, the features"
        f" with the largest gain: {named}"
    )
    return _judged("too_good_to_be_true", candidate, False, auc, config.max_auc, 0.0, text)


# --------------------------------------------------------------------------- fairness


def _fairness_gates(candidate: Evidence, config: GateConfig, accepted: frozenset[str]) -> list[GateResult]:
    gates = FAIRNESS_GATES if candidate.target in BINARY_TARGETS else FREQUENCY_FAIRNESS_GATES
    results = []
    for grouping, metric, bound_name in gates:
        gate, words = f"{grouping}.{metric}", f"{grouping} {metric.replace('_', ' ')}"
        value = candidate.metrics.get(f"fairness.{gate}")
        if value is None or not np.isfinite(value):
            results.append(_unaudited(candidate, config, grouping, metric, words, grouping in accepted))
            continue
        bound = getattr(config, bound_name)
        se = float(candidate.metrics.get(f"fairness.{gate}_se", float("nan")))
        allowance = config.uncertainty_z * se if np.isfinite(se) else 0.0
        interval = (
            f" (95% interval {value - _Z95 * se:.3f} to {value + _Z95 * se:.3f})"
            if np.isfinite(se)
            else " (no interval)"
        )
        text = f"{words} {value:.3f}{interval} <= {bound + allowance:.3f} ({bound} + allowance {allowance:.3f})"
        results.append(_at_most(gate, candidate, value, bound + allowance, allowance, text))
    return results


def _unaudited(
    candidate: Evidence, config: GateConfig, grouping: str, metric: str, words: str, accept: bool
) -> GateResult:
    base, minimum = _GAP_BASE.get(metric, ("rows", "min_group_size"))
    gate = f"{grouping}.{metric}"
    text = (
        f"{candidate.label}: {words} not computable (fewer than two {grouping.replace('_', ' ')} groups with at"
        f" least {getattr(config, minimum)} {base} in the evaluation)"
    )
    figures = {f"min_group_{base.replace(' ', '_')}": float(getattr(config, minimum))}
    if accept:
        text += f"; accepted unaudited with --accept-unaudited {grouping} (recorded)"
        return GateResult(
            gate, candidate.target, True, None, None, 0.0, text, accepted=f"unaudited.{grouping}", figures=figures
        )
    text += f"; refused (`riskmodel promote --accept-unaudited {grouping}` accepts it, recorded)"
    return GateResult(gate, candidate.target, False, None, None, 0.0, text)


# --------------------------------------------------------------------------- baseline


def _ranks(score: np.ndarray) -> tuple[np.ndarray, int]:
    unique, inverse = np.unique(score, return_inverse=True)
    return inverse, len(unique)


def _weighted_auc(inverse: np.ndarray, k: int, y: np.ndarray, w: np.ndarray) -> float:
    """AUC with row weights (ties count one half), from each row's rank among the distinct scores."""
    positives = np.bincount(inverse, weights=w * y, minlength=k)
    negatives = np.bincount(inverse, weights=w * (1 - y), minlength=k)
    below = np.cumsum(negatives) - negatives
    pairs = positives.sum() * negatives.sum()
    return float(positives @ (below + 0.5 * negatives) / pairs) if pairs > 0 else float("nan")


def _poisson_deviance_rows(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    mu = np.clip(mu, 1e-9, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_term = np.where(y > 0, y * np.log(y / mu), 0.0)
    return 2.0 * (log_term - (y - mu))


def paired_difference(
    y: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    *,
    kind: str,
    n_boot: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float, int]:
    """How much better ``first`` scores than ``second`` on the same rows, with a paired bootstrap interval.

    Each bootstrap draw resamples the rows once and judges both scores on that sample, so
    the interval is of the difference itself (the two scores' errors are correlated).

    Parameters
    ----------
    y : numpy.ndarray
        Outcome (0/1 for ``kind="auc"``; counts for ``kind="poisson_deviance"``).
    first, second : numpy.ndarray
        The two scores on the same rows; rows where either is missing are left out.
    kind : {"auc", "poisson_deviance"}
        ``auc``: AUC(first) − AUC(second). ``poisson_deviance``: mean Poisson deviance of
        ``second`` minus that of ``first`` (positive: ``first`` fits better).
    n_boot : int, default 200
    confidence : float, default 0.95
    seed : int, default 0

    Returns
    -------
    (float, float, float, int)
        The difference on all rows, the interval's lower and upper ends, and the rows used.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.1, 0.9, 2000)
    >>> y = (rng.uniform(size=2000) < p).astype(float)
    >>> noisy = p + rng.normal(0, 0.3, 2000)
    >>> gain, low, high, n = paired_difference(y, p, noisy, kind="auc", n_boot=200)
    >>> bool(0 < low < gain < high), n
    (True, 2000)
    """
    y, a, b = (np.asarray(v, dtype=float).ravel() for v in (y, first, second))
    if not len(y) == len(a) == len(b):
        raise ValueError(f"y, first and second must have the same length, got {len(y)}, {len(a)}, {len(b)}")
    ok = ~(np.isnan(y) | np.isnan(a) | np.isnan(b))
    y, a, b = y[ok], a[ok], b[ok]
    n = len(y)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    if kind == "auc":
        (ia, ka), (ib, kb) = _ranks(a), _ranks(b)

        def statistic(w: np.ndarray) -> float:
            return _weighted_auc(ia, ka, y, w) - _weighted_auc(ib, kb, y, w)

    elif kind == "poisson_deviance":
        gain = _poisson_deviance_rows(y, b) - _poisson_deviance_rows(y, a)

        def statistic(w: np.ndarray) -> float:
            return float(w @ gain / w.sum())

    else:
        raise ValueError(f"kind must be 'auc' or 'poisson_deviance', got {kind!r}")
    estimate = statistic(np.ones(n))
    rng = np.random.default_rng(seed)
    draws = np.array([statistic(np.bincount(rng.integers(0, n, n), minlength=n).astype(float)) for _ in range(n_boot)])
    draws = draws[np.isfinite(draws)]
    if len(draws) == 0:
        return estimate, float("nan"), float("nan"), n
    tail = (1 - confidence) / 2
    return estimate, float(np.quantile(draws, tail)), float(np.quantile(draws, 1 - tail)), n


def _baseline_gate(candidate: Evidence, config: GateConfig) -> GateResult:
    model, baseline = candidate.scores.get("model"), candidate.scores.get("baseline")
    if candidate.outcome is None or model is None or baseline is None:
        text = f"{candidate.label}: baseline gate: no baseline predictions on the evaluation rows to compare with"
        return GateResult("baseline", candidate.target, False, None, None, config.baseline_margin, text)
    binary = candidate.target in BINARY_TARGETS
    kind = "auc" if binary else "poisson_deviance"
    gain, low, high, n = paired_difference(
        candidate.outcome, model, baseline, kind=kind, n_boot=config.baseline_bootstrap,
        confidence=config.baseline_confidence,
    )  # fmt: skip
    figure = "AUC gain" if binary else "Poisson deviance gain"
    floor = 0.0 - config.baseline_margin  # 0.0 - 0.0 is 0.0, never -0.0
    level = f"{config.baseline_confidence:.0%}"
    text = (
        f"{figure} over the baseline {gain:+.4f} ({level} paired bootstrap interval {low:+.4f} to {high:+.4f})"
        f" on the same {n} evaluation rows; refused when the whole interval is below {floor:+.4f}"
        f" (allowance {config.baseline_margin})"
    )
    passed = bool(np.isfinite(high) and high >= floor)
    return _judged("baseline", candidate, passed, gain, floor, config.baseline_margin, text)


# --------------------------------------------------------------------------- relative


def _relative_gates(candidate: Evidence, champion: Evidence, config: GateConfig) -> list[GateResult]:
    if candidate.outcome is None or candidate.predictions is None or champion.predictions is None:
        raise ValueError(
            f"{candidate.label}: the relative gates need the evaluation outcome and both versions' predictions"
        )
    # rows the champion did not score (NaN: outside its evaluation) are left out of the comparison
    y, p_new, p_old = (
        np.asarray(v, dtype=float) for v in (candidate.outcome, candidate.predictions, champion.predictions)
    )
    same = ~(np.isnan(y) | np.isnan(p_new) | np.isnan(p_old))
    y, p_new, p_old = y[same], p_new[same], p_old[same]
    versus = f"vs champion v{champion.version}"
    auc_tolerance, brier_tolerance = config.auc_tolerance, config.brier_tolerance
    if candidate.target not in BINARY_TARGETS:
        new = count_metrics(y, p_new)["capture_at_10"]
        old = count_metrics(y, p_old)["capture_at_10"]
        text = (
            f"capture@10% {new:.4f} {versus} {old:.4f} on the same {len(y)} evaluation rows (tolerance {auc_tolerance})"
        )
        return [_at_least("relative_capture_at_10", candidate, new, old - auc_tolerance, auc_tolerance, text)]
    new = binary_metrics(y, p_new, n_boot=0)
    old = binary_metrics(y, p_old, n_boot=0)
    auc_text = (
        f"AUC {new['auc']:.4f} {versus} {old['auc']:.4f} on the same {len(y)} evaluation rows"
        f" (tolerance {auc_tolerance})"
    )
    brier_text = f"Brier {new['brier']:.4f} {versus} {old['brier']:.4f} (tolerance {brier_tolerance})"
    return [
        _at_least("relative_auc", candidate, new["auc"], old["auc"] - auc_tolerance, auc_tolerance, auc_text),
        _at_most(
            "relative_brier", candidate, new["brier"], old["brier"] + brier_tolerance, brier_tolerance, brier_text
        ),
    ]
