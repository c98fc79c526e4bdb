"""The promotion rules of :func:`riskmodel.modelling.gates.decide` on crafted figures (no MLflow):
each rule passes on figures inside its bound and fails just outside it, with its figure.
(The rules added by issue 11, evidence, leaks, baseline, caps and acceptances, are in
tests/training/test_gates_issue11.py.)"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from riskmodel.modelling.config import GateConfig
from riskmodel.modelling.gates import Evidence, GateResult, decide, no_candidate

#: The fairness gates, written out: calibration by ethnicity and age band, error rates by ethnicity.
FAIRNESS = [
    "ethnicity.calibration_in_the_large_gap",
    "age_band.calibration_in_the_large_gap",
    "ethnicity.false_positive_rate_gap",
    "ethnicity.false_negative_rate_gap",
]

#: Gates without sampling allowances, so a figure's bound is the configured one.
STRICT = GateConfig(uncertainty_z=0.0)

#: A binary candidate inside every bound.
GOOD_BINARY = {
    "model.auc": 0.72,
    "model.calibration_slope": 1.0,
    "model.calibration_intercept": 0.0,
    "model.ece": 0.01,
    "model.n": 4000.0,
    "model.prevalence": 0.3,
    **{f"fairness.{gate}": 0.05 for gate in FAIRNESS},
}
#: The frequency model's fairness gates: observed/expected reoffences by ethnicity and age band.
FREQUENCY_FAIRNESS = ["ethnicity.observed_to_expected_gap", "age_band.observed_to_expected_gap"]
GOOD_FREQUENCY = {
    "model.calibration_ratio": 1.02,
    **{f"fairness.{gate}": 0.05 for gate in FREQUENCY_FAIRNESS},
}


def _by_gate(results: list[GateResult]) -> dict[str, GateResult]:
    return {result.gate: result for result in results}


def _rows(target: str, n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Evaluation rows: an outcome and a prediction that fits it (frequency: counts and rates)."""
    rng = np.random.default_rng(seed)
    if target == "frequency":
        mu = rng.gamma(1.0, 0.5, n)
        return rng.poisson(mu).astype(float), mu
    p = rng.uniform(0.05, 0.8, n)
    return (rng.uniform(size=n) < p).astype(float), p


def _with_rows(evidence: Evidence, y: np.ndarray, p: np.ndarray, baseline: np.ndarray | None = None) -> Evidence:
    """The evidence with its evaluation rows: outcome, the model's predictions, a baseline as good."""
    scores = {"model": p, "baseline": p.copy() if baseline is None else baseline}
    return replace(evidence, outcome=y, predictions=p, scores=scores)


def _candidate(changes: dict[str, float] | None = None, *, target: str = "reoffence") -> Evidence:
    base = GOOD_FREQUENCY if target == "frequency" else GOOD_BINARY
    return _with_rows(Evidence(target, "2", {**base, **(changes or {})}), *_rows(target))


@pytest.mark.parametrize("target", ["reoffence", "harm", "frequency"])
def test_a_good_first_candidate_passes_every_absolute_and_fairness_gate(target):
    results = decide(_candidate(target=target), None, STRICT)
    assert results and all(result.passed for result in results)
    assert all(result.target == target and result.message.startswith(f"{target} v2: ") for result in results)
    gates = [result.gate for result in results]
    expected_absolute = (
        ["frequency_calibration"]
        if target == "frequency"
        else ["auc", "calibration_slope", "calibration_intercept", "ece"]
    )
    fairness = FREQUENCY_FAIRNESS if target == "frequency" else FAIRNESS
    assert gates == ["evaluation_size", *expected_absolute, "too_good_to_be_true", *fairness, "baseline"]
    assert not any(gate.startswith("relative") for gate in gates)  # no champion: no relative gates


@pytest.mark.parametrize(
    ("gate", "figure", "inside", "outside"),
    [
        ("auc", "model.auc", 0.60, 0.599),
        ("calibration_slope", "model.calibration_slope", 0.8, 0.79),
        ("calibration_slope", "model.calibration_slope", 1.2, 1.21),
        ("calibration_intercept", "model.calibration_intercept", -0.2, -0.21),
        ("ece", "model.ece", 0.05, 0.051),
        ("ethnicity.calibration_in_the_large_gap", "fairness.ethnicity.calibration_in_the_large_gap", 0.15, 0.151),
        ("age_band.calibration_in_the_large_gap", "fairness.age_band.calibration_in_the_large_gap", 0.15, 0.151),
        ("ethnicity.false_positive_rate_gap", "fairness.ethnicity.false_positive_rate_gap", 0.2, 0.201),
        ("ethnicity.false_negative_rate_gap", "fairness.ethnicity.false_negative_rate_gap", 0.2, 0.201),
    ],
)
def test_each_binary_rule_passes_at_its_bound_and_fails_beyond_it(gate, figure, inside, outside):
    passed = _by_gate(decide(_candidate({figure: inside}), None, STRICT))[gate]
    failed_results = decide(_candidate({figure: outside}), None, STRICT)
    failed = _by_gate(failed_results)[gate]
    assert passed.passed is True and passed.status == "PASS"
    assert failed.passed is False and failed.line.startswith("FAIL reoffence v2: ")
    assert [result.gate for result in failed_results if not result.passed] == [gate]  # only this rule fails
    assert failed.value == pytest.approx(abs(outside))


def test_age_band_error_rate_gaps_are_not_gated():
    results = decide(_candidate({"fairness.age_band.false_positive_rate_gap": 0.9}), None, STRICT)
    assert all(result.passed for result in results)


@pytest.mark.parametrize(("ratio", "passed"), [(1.09, True), (0.91, True), (1.11, False), (0.89, False)])
def test_frequency_calibration_ratio_within_its_error(ratio, passed):
    result = _by_gate(decide(_candidate({"model.calibration_ratio": ratio}, target="frequency"), None, STRICT))
    gate = result["frequency_calibration"]
    assert gate.passed is passed
    assert gate.message == f"frequency v2: observed/expected {ratio:.3f} within 1 ± 0.1 (no allowance)"


def test_the_sampling_allowance_widens_calibration_bounds_on_few_test_rows():
    figures = {"model.calibration_slope": 1.3, "model.n": 400.0, "model.prevalence": 0.3}
    strict, widened = (_by_gate(decide(_candidate(figures), None, config)) for config in (STRICT, GateConfig()))
    assert strict["calibration_slope"].passed is False
    assert widened["calibration_slope"].passed is True
    slack = 2.0 / np.sqrt(400 * 0.3 * 0.7)
    assert widened["calibration_slope"].allowance == pytest.approx(slack)
    assert widened["calibration_slope"].bound == pytest.approx((0.8 - slack, 1.2 + slack))
    # on many rows the allowance all but vanishes and the configured bound is the gate
    many = _by_gate(decide(_candidate({**figures, "model.n": 1e7}), None, GateConfig()))
    assert many["calibration_slope"].passed is False


def test_a_fairness_gap_widens_by_its_standard_error():
    figures = {
        "fairness.ethnicity.false_positive_rate_gap": 0.25,
        "fairness.ethnicity.false_positive_rate_gap_se": 0.03,
    }
    result = _by_gate(decide(_candidate(figures), None, GateConfig()))["ethnicity.false_positive_rate_gap"]
    assert result.passed is True and result.bound == pytest.approx(0.26) and result.allowance == pytest.approx(0.06)
    assert result.message == (
        "reoffence v2: ethnicity false positive rate gap 0.250 (95% interval 0.191 to 0.309)"
        " <= 0.260 (0.2 + allowance 0.060)"
    )


def test_a_gap_that_could_not_be_computed_refuses_unless_its_grouping_is_accepted():
    figures = {
        key: value for key, value in GOOD_BINARY.items() if key != "fairness.age_band.calibration_in_the_large_gap"
    }
    evidence = _with_rows(Evidence("harm", "4", figures), *_rows("harm"))
    refused = _by_gate(decide(evidence, None, STRICT))["age_band.calibration_in_the_large_gap"]
    assert refused.passed is False and refused.status == "FAIL" and refused.value is None
    assert refused.line.startswith(
        "FAIL harm v4: age_band calibration in the large gap not computable (fewer than two age band groups with at"
        " least 100 rows in the evaluation); refused"
    )
    results = _by_gate(decide(evidence, None, STRICT, accept_unaudited=["age_band"]))
    accepted = results["age_band.calibration_in_the_large_gap"]
    assert accepted.status == "ACCEPTED" and accepted.accepted == "unaudited.age_band" and accepted.passed is True
    assert all(result.passed is not False for result in results.values())


def test_a_missing_absolute_figure_fails_rather_than_passes():
    figures = {key: value for key, value in GOOD_BINARY.items() if key != "model.auc"}
    evidence = _with_rows(Evidence("reoffence", "2", figures), *_rows("reoffence"))
    assert _by_gate(decide(evidence, None, STRICT))["auc"].passed is False


# --------------------------------------------------------------------------- relative gates


def _binary_test_rows(seed: int = 0, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    return _rows("reoffence", n, seed)


def test_a_candidate_as_good_as_the_champion_passes_the_relative_gates():
    y, p = _binary_test_rows()
    candidate = _with_rows(_candidate(), y, p)
    results = _by_gate(decide(candidate, Evidence("reoffence", "1", predictions=p.copy()), STRICT))
    assert results["relative_auc"].passed and results["relative_brier"].passed
    assert results["relative_auc"].message.startswith("reoffence v2: AUC ")
    assert (
        f"vs champion v1 {results['relative_auc'].value:.4f} on the same 2000 evaluation rows"
        in results["relative_auc"].message
    )


def test_a_candidate_that_ranks_worse_than_the_champion_fails_the_relative_auc_gate():
    y, p = _binary_test_rows()
    noisy = np.clip(p + np.random.default_rng(1).normal(0, 0.3, len(p)), 0.01, 0.99)
    candidate = _with_rows(_candidate(), y, noisy, baseline=noisy.copy())
    results = _by_gate(decide(candidate, Evidence("reoffence", "1", predictions=p), STRICT))
    assert results["relative_auc"].passed is False and results["relative_brier"].passed is False
    assert results["relative_auc"].value < results["relative_auc"].bound
    # the absolute gates judge the candidate's logged figures, which still pass
    assert all(results[gate].passed for gate in ("auc", "calibration_slope", "ece"))


def test_a_worse_brier_within_its_tolerance_passes():
    y, p = _binary_test_rows()
    shrunk = 0.98 * p + 0.02 * p.mean()  # same ranking, a hair less sharp
    candidate = _with_rows(_candidate(), y, shrunk)
    results = _by_gate(decide(candidate, Evidence("reoffence", "1", predictions=p), STRICT))
    assert results["relative_auc"].passed and results["relative_brier"].passed
    assert results["relative_brier"].value > results["relative_brier"].bound - STRICT.brier_tolerance
    tight = _by_gate(
        decide(candidate, Evidence("reoffence", "1", predictions=p), GateConfig(uncertainty_z=0.0, brier_tolerance=0.0))
    )
    assert tight["relative_brier"].passed is False


def test_the_frequency_relative_gate_compares_capture_at_ten_percent():
    rng = np.random.default_rng(3)
    mu = rng.gamma(1.0, 0.5, 3000)
    counts = rng.poisson(mu).astype(float)
    champion = Evidence("frequency", "1", predictions=mu)
    same = _with_rows(_candidate(target="frequency"), counts, mu.copy())
    shuffled = _with_rows(same, counts, rng.permutation(mu))
    assert _by_gate(decide(same, champion, STRICT))["relative_capture_at_10"].passed is True
    refused = _by_gate(decide(shuffled, champion, STRICT))["relative_capture_at_10"]
    assert refused.passed is False and refused.message.startswith("frequency v2: capture@10% ")


def test_relative_gates_need_both_predictions():
    with pytest.raises(ValueError, match="predictions"):
        decide(replace(_candidate(), predictions=None), Evidence("reoffence", "1"), STRICT)


def test_a_candidate_that_is_already_champion_is_passed_without_judging():
    results = decide(Evidence("harm", "3"), Evidence("harm", "3"), STRICT)
    assert [(r.status, r.gate, r.message) for r in results] == [
        ("PASS", "already_champion", "harm: candidate v3 is already champion")
    ]


def test_no_candidate_is_a_failure():
    result = no_candidate("frequency")
    assert result.passed is False and result.line == "FAIL frequency: no version with alias 'candidate' (train first)"
