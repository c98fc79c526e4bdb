"""Gates that cannot be fooled (issue 11, Deliver 4).

Fast tests judge :func:`riskmodel.modelling.gates.decide` on hand-made evidence and the
fairness audit's count rules on hand-made rows. The slow ones train a tiny cohort in a
home of their own: its candidates are refused for too little evidence without
``--accept-small-evaluation`` and promoted with it, the acceptance then visible on
``GET /model`` (``ServiceState.model_info``), in the model card, on the versions and in
the audit trail; and a planted leaking feature is refused by name.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from training_helpers import TEST_CONFIG, alias_version, home_env, registry_snapshot

from riskmodel.evaluation.fairness import count_audit, fairness_audit, fairness_gap_errors, fairness_gaps
from riskmodel.modelling.config import GateConfig, config_from_dict
from riskmodel.modelling.gates import Evidence, GateResult, decide, paired_difference

STRICT = GateConfig(uncertainty_z=0.0, baseline_bootstrap=200)
FAIRNESS = {
    "fairness.ethnicity.calibration_in_the_large_gap": 0.02,
    "fairness.age_band.calibration_in_the_large_gap": 0.02,
    "fairness.ethnicity.false_positive_rate_gap": 0.02,
    "fairness.ethnicity.false_negative_rate_gap": 0.02,
}
GOOD = {
    "model.auc": 0.72,
    "model.calibration_slope": 1.0,
    "model.calibration_intercept": 0.0,
    "model.ece": 0.01,
    "model.prevalence": 0.3,
    **FAIRNESS,
}


def _by_gate(results: list[GateResult]) -> dict[str, GateResult]:
    return {result.gate: result for result in results}


def _binary(n: int, seed: int = 0, prevalence_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.8, n) * prevalence_scale
    return (rng.uniform(size=n) < p).astype(float), p


def _evidence(n: int = 2000, *, figures: dict | None = None, baseline=None, seed: int = 0, gains=()) -> Evidence:
    y, p = _binary(n, seed)
    scores = {"model": p, "baseline": p.copy() if baseline is None else baseline(y, p)}
    metrics = {**GOOD, "model.n": float(n), **(figures or {})}
    return Evidence("reoffence", "7", metrics, outcome=y, predictions=p, scores=scores, feature_gains=tuple(gains))


# --------------------------------------------------------------------------- minimum evidence


def test_a_small_evaluation_is_refused_with_its_figures_and_promoted_when_accepted():
    small = _evidence(250)
    events = int(small.outcome.sum())
    refused = _by_gate(decide(small, None, STRICT))["evaluation_size"]
    assert refused.passed is False and refused.status == "FAIL"
    assert f"250 scored releases (minimum 300), {events} with the outcome (minimum 50)" in refused.message
    assert "--accept-small-evaluation" in refused.message
    results = decide(small, None, STRICT, accept_small_evaluation=True)
    accepted = _by_gate(results)["evaluation_size"]
    assert accepted.status == "ACCEPTED" and accepted.accepted == "small_evaluation"
    assert accepted.figures["rows"] == 250 and accepted.figures["events"] == events
    assert all(result.passed is not False for result in results)
    # enough rows but too few events is refused as well
    rare = replace(small, outcome=np.r_[np.ones(40), np.zeros(960)], predictions=None, scores={})
    assert _by_gate(decide(rare, None, STRICT))["evaluation_size"].passed is False


# --------------------------------------------------------------------------- unaudited groupings


@pytest.mark.parametrize("target", ["harm", "frequency"])
def test_an_unauditable_grouping_refuses_unless_accepted(target):
    y, p = _binary(2000)
    if target == "frequency":
        metrics = {"model.calibration_ratio": 1.0, "fairness.age_band.observed_to_expected_gap": 0.05}
    else:
        metrics = {**GOOD, "model.n": 2000.0}
        del metrics["fairness.ethnicity.false_negative_rate_gap"]
    evidence = Evidence(target, "3", metrics, outcome=y, predictions=p, scores={"model": p, "baseline": p})
    refused = [r for r in decide(evidence, None, STRICT) if r.gate.startswith("ethnicity.") and r.passed is False]
    assert refused, "an ethnicity gap that is not computable must refuse"
    assert all("not computable" in r.message and "--accept-unaudited ethnicity" in r.message for r in refused)
    accepted = decide(evidence, None, STRICT, accept_unaudited=("ethnicity",))
    assert all(r.passed is not False for r in accepted)
    assert {r.accepted for r in accepted if r.accepted} == {"unaudited.ethnicity"}
    # accepting another grouping does not accept this one
    assert any(r.passed is False for r in decide(evidence, None, STRICT, accept_unaudited=("age_band",)))
    with pytest.raises(ValueError, match="postcode"):
        decide(evidence, None, STRICT, accept_unaudited=("postcode",))


# --------------------------------------------------------------------------- too good to be true


def test_an_auc_above_the_ceiling_is_refused_naming_the_largest_gain_features():
    gains = [("leak", 9000.0), ("age_at_release", 300.0), ("prior_convictions", 200.0)]
    leaky = _evidence(figures={"model.auc": 0.97}, gains=gains)
    result = _by_gate(decide(leaky, None, STRICT))["too_good_to_be_true"]
    assert result.passed is False
    assert "AUC 0.970 > 0.9: too good to be true" in result.message
    assert "suspected leaks, the features with the largest gain: leak (gain 9000)" in result.message
    higher = STRICT.model_copy(update={"max_auc": 0.98})
    assert _by_gate(decide(leaky, None, higher))["too_good_to_be_true"].passed is True
    assert _by_gate(decide(_evidence(gains=gains), None, STRICT))["too_good_to_be_true"].passed is True


# --------------------------------------------------------------------------- baseline


def test_a_candidate_worse_than_its_baseline_is_refused():
    def truth_as_baseline(y, p):
        return p

    rng = np.random.default_rng(5)
    worse = _evidence(4000, baseline=truth_as_baseline)
    noisy = np.clip(worse.scores["model"] + rng.normal(0, 0.25, 4000), 0.01, 0.99)
    worse = replace(worse, predictions=noisy, scores={"model": noisy, "baseline": worse.scores["model"]})
    result = _by_gate(decide(worse, None, STRICT))["baseline"]
    assert result.passed is False and result.value < 0
    assert "AUC gain over the baseline -0." in result.message and "paired bootstrap interval" in result.message
    # as good as its baseline, or better: passes
    assert _by_gate(decide(_evidence(4000), None, STRICT))["baseline"].passed is True
    better = replace(worse, scores={"model": worse.scores["baseline"], "baseline": noisy})
    assert _by_gate(decide(better, None, STRICT))["baseline"].passed is True
    # without baseline predictions the gate cannot pass
    assert _by_gate(decide(replace(worse, scores={}), None, STRICT))["baseline"].passed is False


def test_the_paired_bootstrap_brackets_the_difference_and_knows_its_sign():
    y, p = _binary(3000, seed=2)
    gain, low, high, n = paired_difference(y, p, p, kind="auc", n_boot=100)
    assert (gain, low, high, n) == (0.0, 0.0, 0.0, 3000)  # the same score: no difference in any draw
    noisy = p + np.random.default_rng(3).normal(0, 0.3, 3000)
    gain, low, high, _ = paired_difference(y, p, noisy, kind="auc", n_boot=200)
    assert 0 < low < gain < high
    reverse = paired_difference(y, noisy, p, kind="auc", n_boot=200)
    assert reverse[0] == pytest.approx(-gain) and reverse[2] < 0
    rng = np.random.default_rng(4)
    mu = rng.gamma(1.0, 0.6, 3000)
    counts = rng.poisson(mu).astype(float)
    gain, low, high, _ = paired_difference(counts, mu, mu * 1.6, kind="poisson_deviance", n_boot=200)
    assert 0 < low <= gain <= high  # the true rate fits better than a rate 60% too high
    with pytest.raises(ValueError, match="kind"):
        paired_difference(y, p, p, kind="brier")


# --------------------------------------------------------------------------- capped allowance


def test_the_calibration_slope_allowance_is_capped_whatever_the_sample_size():
    tiny = {"model.n": 40.0, "model.prevalence": 0.3}  # allowance 2 / sqrt(8.4) = 0.69
    config = GateConfig(baseline_bootstrap=50)
    for slope in (0.45, 2.1):
        result = _by_gate(decide(_evidence(figures={**tiny, "model.calibration_slope": slope}), None, config))
        gate = result["calibration_slope"]
        assert gate.passed is False, gate.message
        assert gate.bound == (0.5, pytest.approx(1.2 + 2 / np.sqrt(40 * 0.21)))
        assert "never past [0.5, 2.0]" in gate.message
    passes = _by_gate(decide(_evidence(figures={**tiny, "model.calibration_slope": 0.55}), None, config))
    assert passes["calibration_slope"].passed is True
    floor = _by_gate(decide(_evidence(figures={**tiny, "model.auc": 0.59}), None, config))["auc"]
    assert floor.passed is False and "no allowance" in floor.message


def test_every_gate_line_says_its_allowance():
    champion = Evidence("reoffence", "6", predictions=_evidence().predictions)
    results = decide(_evidence(), champion, GateConfig(baseline_bootstrap=50))
    assert len(results) >= 10
    for result in results:
        assert "allowance" in result.message or "tolerance" in result.message, result.message


# --------------------------------------------------------------------------- fairness count rules


def _groups_with_few_positives() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two groups of 400: A with 200 positives, B with 20 (enough negatives in both)."""
    y = np.r_[np.ones(200), np.zeros(200), np.ones(20), np.zeros(380)]
    p = np.r_[np.full(200, 0.8), np.full(200, 0.3), np.full(20, 0.2), np.full(380, 0.1)]
    return y, p, np.array(["A"] * 400 + ["B"] * 400, dtype=object)


def test_a_false_negative_rate_needs_positives_and_a_false_positive_rate_negatives():
    y, p, group = _groups_with_few_positives()
    tables = fairness_audit(
        y, p, groups={"g": group}, threshold=0.5, top_n=100, min_group_size=30,
        min_positives=50, min_negatives=50, min_selected=50,
    )  # fmt: skip
    table = tables["g"]
    assert table["positives"].tolist() == [200, 20] and table["negatives"].tolist() == [200, 380]
    assert table["few_positives"].tolist() == [False, True] and not table["few_negatives"].any()
    gaps = fairness_gaps(tables, min_group_size=30)
    assert np.isnan(gaps["g.false_negative_rate_gap"])  # B has 20 positives: not computable
    assert gaps["g.false_positive_rate_gap"] == pytest.approx(0.0)  # both have enough negatives
    assert np.isnan(gaps["g.selection_rate_gap"])  # B has no one selected
    errors = fairness_gap_errors(tables, min_group_size=30)
    assert np.isnan(errors["g.false_negative_rate_gap_se"]) and errors["g.false_positive_rate_gap_se"] == 0.0
    # with a lower minimum the same rows are judged
    lenient = fairness_audit(y, p, groups={"g": group}, threshold=0.5, min_group_size=30, min_positives=10)
    assert fairness_gaps(lenient, min_group_size=30)["g.false_negative_rate_gap"] == pytest.approx(1.0)


def test_the_frequency_audit_is_observed_against_expected_counts_per_group():
    counts = np.r_[np.full(100, 2.0), np.full(100, 1.0)]
    expected = np.r_[np.full(100, 1.0), np.full(100, 1.0)]
    group = np.array(["A"] * 100 + ["B"] * 100, dtype=object)
    tables = count_audit(counts, expected, groups={"g": group}, min_group_size=30, min_events=50)
    table = tables["g"]
    assert table["observed_to_expected"].tolist() == [2.0, 1.0]
    assert table["positives"].tolist() == [200.0, 100.0] and table["expected"].tolist() == [100.0, 100.0]
    assert fairness_gaps(tables, min_group_size=30)["g.observed_to_expected_gap"] == pytest.approx(1.0)
    se = fairness_gap_errors(tables, min_group_size=30)["g.observed_to_expected_gap_se"]
    assert se == pytest.approx(np.hypot(np.sqrt(200) / 100, np.sqrt(100) / 100))
    few = count_audit(counts, expected, groups={"g": group}, min_group_size=30, min_events=150)
    assert np.isnan(fairness_gaps(few, min_group_size=30)["g.observed_to_expected_gap"])


# --------------------------------------------------------------------------- end to end (tiny cohort)

#: Gates for the tiny cohort: the test settings, with the product's evidence minimums. On
#: 270 rows and 40 trees the count model can trail its Poisson baseline; that gate has
#: its own test above, so here it is given room.
TINY_GATES = {**TEST_CONFIG["gates"], "baseline_bootstrap": 100, "baseline_margin": 1.0}
TINY_CONFIG = {
    **TEST_CONFIG,
    "n_boot": 5,
    "params": {"default": {"n_estimators": 40, "learning_rate": 0.1}},
    "split": {"evaluation_period": "year"},
    "gates": TINY_GATES,
}
ACCEPT_ALL = ["--accept-small-evaluation", "--accept-unaudited", "ethnicity", "--accept-unaudited", "age_band"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny cohort trained and offered for promotion: without the flags, then with them."""
    from riskmodel.cli import main
    from riskmodel.data.synth import generate_cohort, write_cohort
    from riskmodel.modelling.workflow import train_and_register
    from riskmodel.settings import Settings

    root = tmp_path_factory.mktemp("tiny_home")
    settings = Settings.from_env({"RISKMODEL_HOME": str(root)}).ensure()
    gates_file = root / "gates.yaml"
    gates_file.write_text(yaml.safe_dump({"gates": TINY_GATES}))
    cohort = generate_cohort(800, seed=11)
    data = settings.data_dir / "tiny"
    write_cohort(cohort, data)
    config = config_from_dict(TINY_CONFIG)
    env = {**home_env(root), "RISKMODEL_USER": "test-operator"}

    def promote(*flags):
        before = registry_snapshot(settings)
        result = CliRunner().invoke(main, ["promote", "--config", str(gates_file), *flags], env=env)
        return result, before, registry_snapshot(settings)

    train_and_register(data, settings=settings, as_of=cohort.as_of, config=config, run_name="tiny")
    steps = {"refused": promote(), "accepted": promote(*ACCEPT_ALL)}
    return settings, steps, (cohort, data, config, promote)


@pytest.fixture(scope="module")
def leaky(tiny):
    """The same home, a candidate trained with a leak: a declared feature that is the outcome plus noise."""
    from riskmodel.data.labels import derive_labels
    from riskmodel.data.synth import write_cohort
    from riskmodel.modelling.workflow import train_and_register

    settings, _, (cohort, data, config, promote) = tiny
    labels = derive_labels(cohort.releases, cohort.reoffences, as_of=cohort.as_of, config=config.labels)
    rng = np.random.default_rng(0)
    outcome = labels["reoffence"].to_numpy(dtype=float, na_value=np.nan)
    leak = np.where(np.isnan(outcome), rng.uniform(size=len(outcome)), outcome + rng.normal(0, 0.05, len(outcome)))
    leaky = data.parent / "leaky"
    write_cohort(replace(cohort, releases=cohort.releases.assign(leak=leak)), leaky)
    leaky_config = config_from_dict({**TINY_CONFIG, "extra_numeric": ["leak"]})
    train_and_register(leaky, settings=settings, as_of=cohort.as_of, config=leaky_config, run_name="leaky")
    return promote(*ACCEPT_ALL)


def _fail_lines(result) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_tiny_cohorts_candidate_is_refused_without_the_acceptance_flag(tiny):
    settings, steps, _ = tiny
    result, before, after = steps["refused"]
    assert result.exit_code == 1, result.output
    assert after == before  # nothing moved, nothing tagged
    small = [line for line in _fail_lines(result) if "evaluation evidence" in line]
    assert small, result.stdout
    assert all("--accept-small-evaluation" in line for line in small)
    assert any("(minimum 300)" in line or "(minimum 50)" in line for line in small)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_with_the_flag_it_is_promoted_and_the_acceptance_is_on_the_record(tiny):
    from riskmodel.modelling.models import TARGETS
    from riskmodel.modelling.registry import champions_state, connect, model_name
    from riskmodel.records.audit import AuditStore
    from riskmodel.service.state import ServiceState

    settings, steps, _ = tiny
    result, _, _ = steps["accepted"]
    assert result.exit_code == 0, result.output
    assert "ACCEPTED" in result.stdout and "recorded acceptance" in result.stdout
    assert {t: alias_version(settings, t, "champion") for t in TARGETS} == {t: "1" for t in TARGETS}
    # on the versions in MLflow: who, when, which rule, the figures
    client = connect(settings)
    tags = client.get_model_version(model_name("harm"), "1").tags
    record = json.loads(tags["acceptance.small_evaluation"])
    assert record["by"] == "test-operator" and record["rule"] == "small_evaluation" and record["at"]
    assert record["figures"]["rows"] < 300 or record["figures"]["events"] < 50
    assert any(state.acceptances for state in champions_state(settings))
    # in the audit trail
    events = AuditStore(settings.audit_url).events(kind="champion_promoted")
    assert events and events[0]["actor"] == "test-operator"
    details = events[0]["details"]
    assert "small_evaluation" in {item["rule"] for item in details["acceptances"]["harm"]}
    # on GET /model and in the model card
    info = ServiceState(settings).model_info()["models"]["harm"]
    rules = {item["rule"] for item in info["acceptances"]}
    assert "small_evaluation" in rules
    assert all(item["by"] == "test-operator" for item in info["acceptances"])
    assert "## Accepted at promotion" in info["model_card"] and "small_evaluation" in info["model_card"]


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_planted_leaking_feature_is_refused_by_name(leaky):
    result, before, after = leaky
    assert result.exit_code == 1, result.output
    assert after == before
    leaks = [line for line in _fail_lines(result) if "too good to be true" in line]
    assert any(line.startswith("FAIL reoffence v2:") for line in leaks), result.stdout
    assert all("suspected leaks, the features with the largest gain: leak (gain" in line for line in leaks)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_monthly_report_shows_the_acceptances(tiny):
    from riskmodel.modelling.registry import load_champions
    from riskmodel.reporting.report import _environment

    settings, _, _ = tiny
    champions = load_champions(settings)
    versions = [{"score": target, "info": info} for target, info in champions.info.items()]
    template = _environment().get_template("report/provenance.html")
    html = template.render(versions=versions, card={"short": "", "full": ""})
    assert "Checks accepted by hand when these models were made champion" in html
    assert "accepted by test-operator" in html and "tested on fewer releases or reoffences" in html
    assert isinstance(pd.Timestamp(champions.info["harm"].acceptances[0]["at"]), pd.Timestamp)
