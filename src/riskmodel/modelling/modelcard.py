"""Model cards: intended use, data, performance, fairness and limits, in plain words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from riskmodel.modelling.train import TargetResult, TrainingResult

__all__ = ["model_card", "acceptances_section", "with_acceptances"]

#: Heading of the section listing the rules accepted when the version was made champion.
ACCEPTANCES_HEADING = "## Accepted at promotion"

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


def _deployed(tr: TargetResult, split: Mapping[str, Any]) -> list[str]:
    """The Data section's lines on what the deployed model and its evaluation saw."""
    refit = getattr(tr, "refit", None) or {}
    n_test = int(tr.metrics["model"]["n"])
    periods = getattr(tr, "periods", None)
    n_periods = 1 if periods is None else len(periods)
    return [
        f"- This model (deployed): trained on {refit.get('rows', tr.n_train)} releases"
        f" ({refit.get('first_release', '?')} to {refit.get('last_release', '?')},"
        f" {_figure(refit.get('events'))} events): every release whose outcome is known"
        f"{' outside the fixed test part' if split.get('fixed_test') else ''}. {refit.get('trees', '?')} trees"
        " (the median of the evaluation periods' early-stopped counts); calibration"
        f" ({refit.get('recalibration', '?')}) fitted on out-of-fold margins over"
        f" {refit.get('calibration_folds', '?')} folds of people, so no release was set aside for calibration only.",
        f"- Evaluation: {n_test} releases from {split['test_from']} in {n_periods} period(s)"
        f" ({split.get('evaluation_period', '?')}), each scored by the procedure fitted before it (see below).",
    ]


def _periods(tr: TargetResult) -> list[str]:
    """The per-period table of the evaluation (stability over time)."""
    periods = getattr(tr, "periods", None)
    if periods is None or not len(periods):
        return []
    columns = [
        c for c in ("fit_rows", "n", "events", "auc", "baseline_auc", "brier", "calibration_ratio",
                    "calibration_in_the_large") if c in periods
    ]  # fmt: skip
    lines = ["**Period by period** (the model fitted before each period, scored on it)", ""]
    lines.append("| period | " + " | ".join(c.replace("_", " ") for c in columns) + " |")
    lines.append("|---|" + "---|" * len(columns))
    for row in periods.to_dict(orient="records"):
        cells = [str(int(row[c])) if c in ("fit_rows", "n") else _fmt(row[c]) for c in columns]
        lines.append(f"| {row['period']} | " + " | ".join(cells) + " |")
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
        *_deployed(tr, split),
        "- Only releases whose whole follow-up and waiting period ended before the extract date are used"
        " (censored outcomes are unknown, never 0).",
        f"- Features: {', '.join(map(str, tr.model.feature_names_))}."
        " Ethnicity is never a feature; it is used only for this audit.",
        "- Criminal-history features are constrained so that more history never lowers the score.",
        "",
        "## Performance on the test periods: the procedure, evaluated out of time",
        "These figures describe the *procedure* that built this model, not this fit itself (every eligible"
        " release is in its training data, so none is left to judge it on). Each evaluation period was"
        " scored by the same procedure fitted only on releases whose outcome had matured before the period"
        " began; the periods' predictions are pooled below. They estimate how this model, fitted the same"
        " way on more data, will do on the next releases.",
        "",
        "Scorers, all judged on the same releases: `model` (the procedure), `baseline` (logistic/Poisson"
        " regression on the same features, fitted the same way), `ogrs3` and `arp` (the public formulas;"
        " where one cannot score a release, `model_on_<scorer>_rows` shows the model on the same releases),"
        " and `oracle` (true probabilities; synthetic data only).",
        "",
        *_performance(tr),
        "",
        *_periods(tr),
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


def acceptances_section(acceptances: Sequence[Mapping[str, Any]]) -> str:
    """The model card's section on the rules an operator accepted when this version was made champion.

    Parameters
    ----------
    acceptances : sequence of mapping
        As :func:`riskmodel.modelling.registry.acceptances_of` reads them from the
        version's tags: ``rule``, ``by``, ``at``, ``figures``, ``messages``.

    Returns
    -------
    str
        Markdown: the heading and one item per acceptance, or that none was needed.

    Examples
    --------
    >>> print(acceptances_section([{"rule": "small_evaluation", "by": "ana", "at": "2025-01-02T10:00:00+00:00",
    ...                             "figures": {"rows": 120.0, "events": 30.0}, "messages": []}]))
    ## Accepted at promotion
    <BLANKLINE>
    - **small_evaluation**, accepted by ana at 2025-01-02T10:00:00+00:00 (events 30, rows 120)
    """
    lines = [ACCEPTANCES_HEADING, ""]
    if not acceptances:
        return "\n".join([*lines, "None: every gate passed on its own when this version was made champion."])
    for item in acceptances:
        figures = ", ".join(f"{k} {_figure(v)}" for k, v in sorted(dict(item.get("figures") or {}).items()))
        line = f"- **{item.get('rule', '?')}**, accepted by {item.get('by', 'unknown')} at {item.get('at', '?')}"
        lines.append(line + (f" ({figures})" if figures else ""))
        lines += [f"  - {message}" for message in item.get("messages") or []]
    return "\n".join(lines)


def _figure(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:g}" if np.isfinite(number) else "n/a"


def with_acceptances(card: str, acceptances: Sequence[Mapping[str, Any]]) -> str:
    """The model card with its acceptances section (added at load time: acceptances happen after training)."""
    if not acceptances:
        return card
    return card.rstrip("\n") + "\n\n" + acceptances_section(acceptances) + "\n"
