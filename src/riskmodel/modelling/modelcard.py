"""Model cards: intended use, data, performance, fairness and limits, in plain words."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from riskmodel.modelling.train import TargetResult, TrainingResult

__all__ = ["model_card"]

_WHAT = {
    "reoffence": (
        "the probability of a proven reoffence (conviction, caution, reprimand or warning) for an offence"
        " committed within {w} days of release and proven within a further {p} days"
    ),
    "harm": (
        "the probability of a proven violent or sexual reoffence ({groups}) committed within {hw} days of release"
        " and proven within a further {p} days"
    ),
    "frequency": (
        "the expected number of proven reoffences committed within {w} days of release"
        " and proven within a further {p} days"
    ),
}


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _performance(tr: TargetResult) -> list[str]:
    binary = tr.target != "frequency"
    keys = (
        (
            ("auc", "AUC"),
            ("auc_low", "AUC 95% low"),
            ("auc_high", "AUC 95% high"),
            ("brier", "Brier"),
            ("calibration_intercept", "calibration intercept"),
            ("calibration_slope", "calibration slope"),
            ("ece", "ECE"),
            ("capture_at_10", "capture at 10%"),
            ("precision_at_capacity", "precision at capacity"),
        )
        if binary
        else (
            ("mean_observed", "mean observed"),
            ("mean_predicted", "mean predicted"),
            ("calibration_ratio", "observed/expected"),
            ("poisson_deviance", "Poisson deviance"),
            ("capture_at_10", "capture at 10%"),
            ("capture_at_20", "capture at 20%"),
        )
    )
    scorers = list(tr.metrics)
    lines = ["| figure | " + " | ".join(scorers) + " |", "|---|" + "---|" * len(scorers)]
    for key, label in keys:
        lines.append(f"| {label} | " + " | ".join(_fmt(tr.metrics[s].get(key)) for s in scorers) + " |")
    lines.append("| test releases | " + " | ".join(str(int(tr.metrics[s].get("n", 0))) for s in scorers) + " |")
    return lines


def _fairness(tr: TargetResult) -> list[str]:
    lines = []
    for grouping, table in tr.fairness.items():
        cols = [
            c
            for c in (
                "count",
                "prevalence",
                "mean_predicted",
                "auc",
                "false_positive_rate",
                "false_negative_rate",
                "top_n_selection_rate",
            )
            if c in table
        ]
        lines.append(f"\n**By {grouping.replace('_', ' ')}**\n")
        lines.append("| group | " + " | ".join(c.replace("_", " ") for c in cols) + " |")
        lines.append("|---|" + "---|" * len(cols))
        for group, row in table.iterrows():
            cells = [str(int(row[c])) if c == "count" else _fmt(row[c]) for c in cols]
            lines.append(f"| {group} | " + " | ".join(cells) + " |")
    gaps = ", ".join(f"{k} {_fmt(v)}" for k, v in tr.gaps.items())
    lines.append(f"\nGaps between groups of at least the minimum size: {gaps or 'none computed'}.")
    return lines


def model_card(tr: TargetResult, result: TrainingResult) -> str:
    """Markdown model card for one target of a training run."""
    labels = result.config.labels
    what = _WHAT[tr.target].format(
        w=labels.window_days, hw=labels.harm_window_days, p=labels.waiting_days, groups=", ".join(labels.harm_groups)
    )
    split = result.split
    lines = [
        f"# Model card: riskmodel-{tr.target}",
        "",
        "## Intended use",
        f"Estimates {what}, for a person released from custody. It supports an integrated offender",
        "management (IOM) panel's decision on who gets intensive, joined-up support; it never makes that",
        "decision (UK GDPR Article 22). Not for sentencing, bail, or any decision about a person without",
        "human review. Scores are traceable to this model version, its training data fingerprint and the",
        "validation below.",
        "",
        "## Data",
        f"- Extract date (as_of): {result.as_of.isoformat()}; training data fingerprint `{result.fingerprint[:16]}…`",
        f"- Training releases: {tr.n_train} (released before {split['test_from']});"
        f" calibration releases: {tr.n_calibration};"
        f" test releases: {int(tr.metrics['model']['n'])} (released from {split['test_from']},"
        " people disjoint from calibration).",
        "- Only releases whose whole follow-up and waiting period ended before the extract date are used"
        " (censored outcomes are unknown, never 0).",
        f"- Features: {', '.join(map(str, tr.model.feature_names_))}."
        " Ethnicity is never a feature; it is used only for this audit.",
        "- Criminal-history features are constrained so that more history never lowers the score.",
        "",
        "## Performance on the test period",
        "Scorers: `model` (this model), `baseline` (logistic/Poisson regression on the same features), `ogrs3`"
        " (the public OGRS3 formula, where computable), and `oracle` (true probabilities; synthetic data only).",
        "",
        *_performance(tr),
        "",
        "## Fairness audit",
        *_fairness(tr),
        "",
        "## Limits",
        "- Proven reoffending depends on detection and prosecution, which vary by place and group;"
        " the model inherits that bias.",
        "- Calibration drifts: check it on recent cohorts (batch drift and backtests) and recalibrate when it moves.",
        "- Groups smaller than the audit's minimum size are flagged, and their figures are uncertain.",
        "- A score describes a group of similar people, not what this person will do.",
    ]
    return "\n".join(lines) + "\n"
