"""The model card says, in plain words, what one trained target estimates, on what data, how
well, how fairly and within which limits; built from an in-memory training result (no MLflow)."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pandas as pd
import pytest

from riskmodel.modelling.modelcard import model_card

FINGERPRINT = "0123456789abcdef" + "f" * 48


def training_result(*, window_days: int = 300, harm_window_days: int = 600, waiting_days: int = 90) -> SimpleNamespace:
    labels = SimpleNamespace(
        window_days=window_days,
        harm_window_days=harm_window_days,
        waiting_days=waiting_days,
        harm_groups=("violence", "sexual"),
    )
    return SimpleNamespace(
        config=SimpleNamespace(labels=labels),
        as_of=date(2024, 6, 30),
        fingerprint=FINGERPRINT,
        split={"test_from": "2023-01-01"},
    )


def target_result(target: str = "reoffence", *, gaps: dict[str, float] | None = None) -> SimpleNamespace:
    if target == "frequency":
        metrics = {
            "model": {
                "n": 812.0,
                "mean_observed": 0.9,
                "mean_predicted": 0.85,
                "calibration_ratio": 1.0588,
                "poisson_deviance": 1.234,
            },
            "baseline": {"n": 812.0, "mean_observed": 0.9, "mean_predicted": 0.8},
        }
    else:
        metrics = {
            "model": {"n": 812.0, "auc": 0.7123, "brier": 0.18, "calibration_slope": 1.02, "ece": float("nan")},
            "ogrs3": {"n": 700.0, "auc": 0.6549},
        }
    fairness = pd.DataFrame(
        {"count": [500.0, 312.0], "prevalence": [0.41, 0.38], "auc": [0.71, 0.69], "false_positive_rate": [0.2, 0.25]},
        index=["White", "Black"],
    )
    return SimpleNamespace(
        target=target,
        model=SimpleNamespace(feature_names_=["age_at_release", "previous_sanctions"]),
        metrics=metrics,
        fairness={"ethnicity": fairness},
        gaps={"auc_gap": 0.02} if gaps is None else gaps,
        n_train=4000,
        n_calibration=1000,
    )


def row(card: str, label: str) -> list[str]:
    """The cells after ``label`` in the card's table row for it."""
    for line in card.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == label:
            return cells[1:]
    raise AssertionError(f"no row {label!r} in the card")


def test_the_card_names_the_model_and_has_every_section():
    card = model_card(target_result("harm"), training_result())

    assert card.startswith("# Model card: riskmodel-harm")
    positions = [
        card.index(s) for s in ("Intended use", "Data", "Performance on the test period", "Fairness audit", "Limits")
    ]
    assert positions == sorted(positions)


#: How every target's outcome ends, with the windows of :func:`training_result`.
PROVEN_WITHIN = "days of release and proven within a further 90 days"


@pytest.mark.parametrize(
    ("target", "said"),
    [
        (
            "reoffence",
            "probability of a proven reoffence (conviction, caution, reprimand or warning)"
            f" for an offence committed within 300 {PROVEN_WITHIN}",
        ),
        (
            "harm",
            "probability of a proven violent or sexual reoffence (violence, sexual)"
            f" committed within 600 {PROVEN_WITHIN}",
        ),
        ("frequency", f"expected number of proven reoffences committed within 300 {PROVEN_WITHIN}"),
    ],
)
def test_the_intended_use_states_the_outcome_with_the_configured_windows(target, said):
    card = model_card(target_result(target), training_result())

    assert said in " ".join(card.split())
    assert "never makes that decision" in " ".join(card.split())


def test_the_data_section_gives_the_extract_date_a_short_fingerprint_and_the_row_counts():
    card = model_card(target_result(), training_result())

    assert "2024-06-30" in card
    assert FINGERPRINT[:16] in card and FINGERPRINT not in card
    assert "This model (deployed): trained on 4000 releases" in card
    assert "Evaluation: 812 releases from 2023-01-01" in card
    assert "Features: age_at_release, previous_sanctions." in card
    assert "Ethnicity is never a feature" in card


def test_performance_has_a_column_per_scorer_with_three_decimals_and_na_for_missing_figures():
    card = model_card(target_result(), training_result())

    assert row(card, "figure") == ["model", "ogrs3"]
    assert row(card, "AUC") == ["0.712", "0.655"]
    assert row(card, "ECE") == ["n/a", "n/a"]  # NaN for the model, absent for OGRS3
    assert row(card, "test releases") == ["812", "700"]
    with pytest.raises(AssertionError, match="no row"):
        row(card, "Poisson deviance")


def test_the_frequency_card_reports_count_figures_not_classification_ones():
    card = model_card(target_result("frequency"), training_result())

    assert row(card, "observed/expected") == ["1.059", "n/a"]
    assert row(card, "Poisson deviance") == ["1.234", "n/a"]
    with pytest.raises(AssertionError, match="no row"):
        row(card, "AUC")


def test_the_fairness_audit_has_a_row_per_group_and_lists_the_gaps():
    card = model_card(target_result(), training_result())

    assert "By ethnicity" in card
    assert row(card, "group") == ["count", "prevalence", "auc", "false positive rate"]
    assert row(card, "White") == ["500", "0.410", "0.710", "0.200"]
    assert row(card, "Black") == ["312", "0.380", "0.690", "0.250"]
    assert "auc_gap 0.020" in card


def test_without_any_gap_the_card_says_none_were_computed():
    card = model_card(target_result(gaps={}), training_result())

    assert "none computed" in card
