"""Promotion gates: every rule a candidate must pass to become champion, as pure functions.

:func:`decide` judges one target's candidate from figures already in memory (its test
figures, and, when there is a champion, both versions' predictions on the candidate's
test rows) and returns one :class:`GateResult` per rule. It reads and writes nothing;
:func:`riskmodel.modelling.registry.promote` gathers the figures from MLflow, calls it,
and moves the aliases when every result passes.

The rules (bounds from :class:`~riskmodel.modelling.config.GateConfig`):

* absolute: AUC ≥ ``min_auc``; calibration slope within ``calibration_slope``;
  |calibration intercept| ≤ ``max_abs_calibration_intercept``; ECE ≤ ``max_ece``
  (frequency: |observed/expected − 1| ≤ ``max_frequency_calibration_error``). The
  calibration bounds widen by ``uncertainty_z`` standard errors of the figure on this
  many test rows, so a well calibrated model is not refused for a small test period;
* fairness: calibration-in-the-large gaps (by ethnicity and by age band), false positive
  and false negative rate gaps (by ethnicity) within bounds, plus ``uncertainty_z``
  standard errors of the gap; a gap that could not be computed is reported, not passed
  over in silence;
* relative: on the candidate's own test rows, the champion's AUC (frequency: capture at
  10%) exceeds the candidate's by at most ``auc_tolerance``, and its Brier score is lower
  by at most ``brier_tolerance``.

>>> import numpy as np
>>> from riskmodel.modelling.config import GateConfig
>>> figures = {"model.auc": 0.7, "model.calibration_slope": 1.0, "model.calibration_intercept": 0.0,
...            "model.ece": 0.01, "model.n": 5000.0, "model.prevalence": 0.3}
>>> results = decide(Evidence("reoffence", "2", figures), None, GateConfig())
>>> [r.status for r in results][:4]
['PASS', 'PASS', 'PASS', 'PASS']
>>> results[0].message
'reoffence v2: AUC 0.700 >= 0.6'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from riskmodel.evaluation.metrics import binary_metrics, count_metrics
from riskmodel.modelling.config import GateConfig
from riskmodel.modelling.models import BINARY_TARGETS

__all__ = ["Evidence", "GateResult", "decide", "no_candidate", "FAIRNESS_GATES"]

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
        The version's test figures as its training run logged them, without the target
        prefix: ``model.auc``, ``model.n``, ``fairness.ethnicity.false_positive_rate_gap``,
        ``fairness.ethnicity.false_positive_rate_gap_se``, ... Only the candidate's are read.
    outcome : numpy.ndarray, optional
        Observed outcome on the candidate's test rows (0/1; frequency: counts). Needed on
        the candidate when there is a champion.
    predictions : numpy.ndarray, optional
        This version's predictions on the candidate's test rows. Needed on both when there
        is a champion.
    """

    target: str
    version: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    outcome: np.ndarray | None = None
    predictions: np.ndarray | None = None

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
        The rule, e.g. ``auc``, ``calibration_slope``, ``ethnicity.false_positive_rate_gap``,
        ``relative_auc``.
    target : str
    passed : bool or None
        None when the gate could not judge (a fairness gap not computable); that does not
        refuse the promotion, but is reported.
    value : float or None
        The candidate's figure.
    bound : float or (float, float) or None
        The limit the figure was held to, allowance included.
    allowance : float
        The part of ``bound`` that is sampling allowance or tolerance.
    message : str
        The result in words, with its figures (what ``riskmodel promote`` prints).
    """

    gate: str
    target: str
    passed: bool | None
    value: float | None
    bound: Bound | None
    allowance: float
    message: str

    @property
    def status(self) -> str:
        """``PASS``, ``FAIL`` or ``SKIP``."""
        return {True: "PASS", False: "FAIL", None: "SKIP"}[self.passed]

    @property
    def line(self) -> str:
        """Status and message: ``FAIL reoffence v3: AUC 0.550 >= 0.6``."""
        return f"{self.status} {self.message}"


def no_candidate(target: str) -> GateResult:
    """The failed result of a target with no version aliased ``candidate`` (nothing to judge)."""
    message = f"{target}: no version with alias 'candidate' (train first)"
    return GateResult("candidate", target, False, None, None, 0.0, message)


def decide(candidate: Evidence, champion: Evidence | None, config: GateConfig) -> list[GateResult]:
    """Judge a target's candidate against every gate.

    Parameters
    ----------
    candidate : Evidence
        The candidate's test figures; with ``outcome`` and ``predictions`` when there is a
        champion.
    champion : Evidence or None
        The current champion (None: the first promotion, only the absolute and fairness
        gates apply); with ``predictions`` on the candidate's test rows unless it is the
        candidate itself.
    config : GateConfig
        The bounds.

    Returns
    -------
    list of GateResult
        In order: absolute, fairness, relative. A candidate that already is the champion
        gets one passed result and no others.

    Raises
    ------
    ValueError
        When there is a champion but predictions or outcome are missing.
    """
    if champion is not None and champion.version == candidate.version:
        message = f"{candidate.target}: candidate v{candidate.version} is already champion"
        return [GateResult("already_champion", candidate.target, True, None, None, 0.0, message)]
    if candidate.target in BINARY_TARGETS:
        results = _binary_gates(candidate, config)
    else:
        results = [_frequency_calibration_gate(candidate, config)]
    results += _fairness_gates(candidate, config)
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


def _binary_gates(candidate: Evidence, config: GateConfig) -> list[GateResult]:
    auc, slope, intercept, ece = (candidate.metrics.get(f"model.{key}", float("nan")) for key in _ABSOLUTE_FIGURES)
    # Sampling noise allowance: z standard errors of each figure on this many test rows,
    # so a perfectly calibrated model is not refused for a small test period (on large
    # ones the allowance vanishes and the bound is the gate).
    n, prevalence = candidate.metrics.get("model.n", 0.0), candidate.metrics.get("model.prevalence", 0.5)
    slack = config.uncertainty_z * (1.0 / np.sqrt(max(n * prevalence * (1 - prevalence), 1.0)))
    ece_slack = config.uncertainty_z * 0.8 * np.sqrt(prevalence * (1 - prevalence) * 10 / max(n, 1.0))
    lo, hi = config.calibration_slope[0] - slack, config.calibration_slope[1] + slack
    bound, ece_bound = config.max_abs_calibration_intercept + slack, config.max_ece + ece_slack
    rows = f"n={int(n)}"
    slope_text = (
        f"calibration slope {slope:.3f} within [{lo:.3f}, {hi:.3f}]"
        f" (bounds {config.calibration_slope} ± {slack:.3f} for {rows})"
    )
    intercept_text = (
        f"|calibration intercept| {abs(intercept):.3f} <= {bound:.3f}"
        f" ({config.max_abs_calibration_intercept} + {slack:.3f} for {rows})"
    )
    ece_text = f"ECE {ece:.4f} <= {ece_bound:.4f} ({config.max_ece} + {ece_slack:.4f} for {rows})"
    return [
        _at_least("auc", candidate, auc, config.min_auc, 0.0, f"AUC {auc:.3f} >= {config.min_auc}"),
        _judged("calibration_slope", candidate, lo <= slope <= hi, slope, (lo, hi), slack, slope_text),
        _at_most("calibration_intercept", candidate, abs(intercept), bound, slack, intercept_text),
        _at_most("ece", candidate, ece, ece_bound, ece_slack, ece_text),
    ]


def _frequency_calibration_gate(candidate: Evidence, config: GateConfig) -> GateResult:
    ratio = candidate.metrics.get("model.calibration_ratio", float("nan"))
    error = config.max_frequency_calibration_error
    text = f"observed/expected {ratio:.3f} within 1 ± {error}"
    return _judged(
        "frequency_calibration", candidate, abs(ratio - 1) <= error, ratio, (1 - error, 1 + error), 0.0, text
    )


def _fairness_gates(candidate: Evidence, config: GateConfig) -> list[GateResult]:
    results = []
    for grouping, metric, bound_name in FAIRNESS_GATES:
        gate, words = f"{grouping}.{metric}", f"{grouping} {metric.replace('_', ' ')}"
        value = candidate.metrics.get(f"fairness.{gate}")
        if value is None:  # said, not silently skipped: a reviewer should know the gate could not judge
            text = f"{candidate.label}: {words} not computable"
            text += " (fewer than two groups on the test rows big enough to judge)"
            results.append(GateResult(gate, candidate.target, None, None, None, 0.0, text))
            continue
        bound = getattr(config, bound_name)
        allowance = config.uncertainty_z * candidate.metrics.get(f"fairness.{gate}_se", 0.0)
        text = f"{words} {value:.3f} <= {bound + allowance:.3f} ({bound} + sampling allowance)"
        results.append(_at_most(gate, candidate, value, bound + allowance, allowance, text))
    return results


def _relative_gates(candidate: Evidence, champion: Evidence, config: GateConfig) -> list[GateResult]:
    if candidate.outcome is None or candidate.predictions is None or champion.predictions is None:
        raise ValueError(f"{candidate.label}: the relative gates need the test outcome and both versions' predictions")
    y, versus = candidate.outcome, f"vs champion v{champion.version}"
    auc_tolerance, brier_tolerance = config.auc_tolerance, config.brier_tolerance
    if candidate.target not in BINARY_TARGETS:
        new = count_metrics(y, candidate.predictions)["capture_at_10"]
        old = count_metrics(y, champion.predictions)["capture_at_10"]
        text = f"capture@10% {new:.4f} {versus} {old:.4f} (tolerance {auc_tolerance})"
        return [_at_least("relative_capture_at_10", candidate, new, old - auc_tolerance, auc_tolerance, text)]
    new = binary_metrics(y, candidate.predictions, n_boot=0)
    old = binary_metrics(y, champion.predictions, n_boot=0)
    auc_text = (
        f"AUC {new['auc']:.4f} {versus} {old['auc']:.4f} on the same {len(y)} test rows (tolerance {auc_tolerance})"
    )
    brier_text = f"Brier {new['brier']:.4f} {versus} {old['brier']:.4f} (tolerance {brier_tolerance})"
    return [
        _at_least("relative_auc", candidate, new["auc"], old["auc"] - auc_tolerance, auc_tolerance, auc_text),
        _at_most(
            "relative_brier", candidate, new["brier"], old["brier"] + brier_tolerance, brier_tolerance, brier_text
        ),
    ]
