"""Outcome backtesting: compare earlier scores with outcomes that have since matured.

Score files written by batch scoring are joined by ``release_id`` with labels derived
from today's extract (``as_of``). Only releases whose follow-up has ended count (an
immature outcome is unknown, never 0). Figures are computed per target and per model
version that produced the score, logged to MLflow in the ``riskmodel-backtest``
experiment, and tagged on the registered model version itself. A target with no figure
(none of the scored releases has matured for it yet, or all that have share one outcome)
is left out and :func:`left_out_targets` says why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.data.contract import load_cohort, read_table
from riskmodel.data.labels import LabelConfig, check_as_of, derive_labels
from riskmodel.evaluation.metrics import binary_metrics, count_metrics
from riskmodel.settings import Settings

__all__ = ["BacktestOutcome", "run_backtest", "backtest_scores", "left_out_targets", "read_scores"]

EXPERIMENT = "riskmodel-backtest"
_COLUMNS = {
    "reoffence": ("reoffence_probability", "reoffence_model"),
    "harm": ("harm_probability", "harm_model"),
    "frequency": ("frequency_expected", "frequency_model"),
}


@dataclass
class BacktestOutcome:
    """Figures per (target, model version)."""

    as_of: date
    rows_scored: int
    figures: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    run_id: str | None = None
    #: Targets with no figure, and why (see :func:`left_out_targets`).
    left_out: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Human-readable summary."""
        out = [f"backtest as of {self.as_of}: {self.rows_scored} scored releases read"]
        for (target, model), m in sorted(self.figures.items()):
            if target == "frequency":
                out.append(
                    f"{target} {model}: n {int(m['n'])}, observed/expected {m['calibration_ratio']:.3f},"
                    f" capture@10% {m['capture_at_10']:.3f}"
                )
            else:
                out.append(
                    f"{target} {model}: n {int(m['n'])}, AUC {m['auc']:.3f},"
                    f" observed {m['prevalence']:.3f} vs predicted {m['mean_predicted']:.3f},"
                    f" calibration slope {m['calibration_slope']:.3f}, ECE {m['ece']:.3f},"
                    f" capture@10% {m['capture_at_10']:.3f}"
                )
        for target, why in self.left_out.items():
            out.append(f"{target} left out: {why}")
        if self.run_id:
            out.append(f"logged to MLflow run {self.run_id}")
        return out


def backtest_scores(
    scores: pd.DataFrame, labels: pd.DataFrame, *, capacity: int = 50
) -> dict[tuple[str, str], dict[str, float]]:
    """Figures per (target, model version) of ``scores`` against matured ``labels``."""
    joined = scores.merge(labels, on="release_id", how="inner")
    figures: dict[tuple[str, str], dict[str, float]] = {}
    for target, (value_col, model_col) in _COLUMNS.items():
        outcome = joined[target].to_numpy(dtype=float, na_value=np.nan)
        mature = ~np.isnan(outcome)
        for model, rows in joined.loc[mature].groupby(model_col):
            y = rows[target].to_numpy(dtype=float)
            p = rows[value_col].to_numpy(dtype=float)
            if target == "frequency":
                figures[(target, model)] = count_metrics(y, p, capacity=capacity)
            elif len(np.unique(y)) > 1:
                counts = rows["frequency"].to_numpy(dtype=float, na_value=0.0)
                figures[(target, model)] = binary_metrics(y, p, outcome_count=counts, capacity=capacity, n_boot=200)
    return figures


def left_out_targets(
    scores: pd.DataFrame,
    labels: pd.DataFrame,
    releases: pd.DataFrame,
    figures: dict[tuple[str, str], dict[str, float]],
    *,
    as_of: date,
    config: LabelConfig | None = None,
) -> dict[str, str]:
    """The targets :func:`backtest_scores` gave no figure for, each with the reason in words.

    Parameters
    ----------
    scores : DataFrame
        The scored releases (``release_id``).
    labels : DataFrame
        Their outcomes as of ``as_of`` (:func:`~riskmodel.data.labels.derive_labels`).
    releases : DataFrame
        The extract's releases (``release_id``, ``release_date``).
    figures : dict
        What :func:`backtest_scores` returned.
    as_of : date
        The extract date.
    config : LabelConfig, optional
        The windows the labels were derived with (default the contract's).

    Returns
    -------
    dict of str to str
        Target to reason, e.g. ``"harm": "not yet matured: no scored release's 730-day
        window and 183-day waiting period had closed by 2025-11-01 (the earliest, released
        on 2025-03-01, matures on 2027-08-31)"``; empty when every target has figures.
    """
    config = config or LabelConfig()
    done = {target for target, _ in figures}
    scored = scores[["release_id"]].merge(releases[["release_id", "release_date"]], on="release_id", how="inner")
    scored = scored.merge(labels, on="release_id", how="inner")
    out: dict[str, str] = {}
    for target in (t for t in _COLUMNS if t not in done):
        known = scored[target].dropna()
        if scored.empty:
            out[target] = f"none of the {len(scores)} scored releases is in the extract"
        elif known.empty:
            window = config.harm_window_days if target == "harm" else config.window_days
            earliest = pd.Timestamp(scored["release_date"].min()).date()
            matures = earliest + timedelta(days=window + config.waiting_days)
            out[target] = (
                f"not yet matured: no scored release's {window}-day window and {config.waiting_days}-day"
                f" waiting period had closed by {as_of} (the earliest, released on {earliest}, matures on {matures})"
            )
        else:
            out[target] = (
                f"all {len(known)} matured scored releases had the same outcome ({target} = {int(known.iloc[0])}),"
                " so there is nothing to rank"
            )
    return out


def _score_paths(settings: Settings) -> list[Path]:
    """Score files of recorded batches that still exist, oldest first."""
    from riskmodel.records.audit import AuditStore

    records = AuditStore(settings.audit_url).batch_records(limit=1000)  # newest first
    paths = [Path(r["output_path"]) for r in reversed(records)]
    return [p for p in dict.fromkeys(paths) if p.exists()]


def read_scores(paths: Iterable[Path]) -> pd.DataFrame:
    """Release ids, scores and model versions of score files; a later file wins a release."""
    wanted = ["release_id"] + [c for pair in _COLUMNS.values() for c in pair]
    scores = pd.concat([read_table(p)[wanted] for p in paths], ignore_index=True)
    scores = scores.drop_duplicates("release_id", keep="last").reset_index(drop=True)
    for value_col, _ in _COLUMNS.values():
        scores[value_col] = pd.to_numeric(scores[value_col])
    return scores


def run_backtest(
    settings: Settings,
    data: Path,
    *,
    as_of: date,
    score_paths: Iterable[str | Path] = (),
    capacity: int = 50,
    allow_identifiers: bool = False,
) -> BacktestOutcome:
    """Backtest earlier scores against ``data`` as of ``as_of`` and log to MLflow.

    ``score_paths`` default to the score files of every batch in the audit database;
    where a release was scored more than once, the latest score counts.

    Raises
    ------
    LookupError
        When there are no earlier scores, or none has a matured outcome.
    ValueError
        When ``as_of`` is more than 31 days after the latest date in ``data``
        (:func:`~riskmodel.data.labels.check_as_of`).
    """
    import mlflow

    from riskmodel.modelling.registry import connect

    cohort = load_cohort(data, allow_identifiers=allow_identifiers)  # the outcome data first: refused whole, or read
    check_as_of(cohort.releases.data, cohort.reoffences.data, as_of=as_of)  # an as_of past the extract: refused
    paths = [Path(p) for p in score_paths] or _score_paths(settings)
    if not paths:
        raise LookupError("no earlier score files: pass --scores FILE or run `riskmodel score` first")
    scores = read_scores(paths)
    labels = derive_labels(cohort.releases.data, cohort.reoffences.data, as_of=as_of)
    figures = backtest_scores(scores, labels, capacity=capacity)
    left_out = left_out_targets(scores, labels, cohort.releases.data, figures, as_of=as_of)
    if not figures:
        reasons = "; ".join(f"{target}: {why}" for target, why in left_out.items())
        raise LookupError(f"none of the {len(scores)} scored releases has a matured outcome as of {as_of} ({reasons})")
    outcome = BacktestOutcome(as_of=as_of, rows_scored=len(scores), figures=figures, left_out=left_out)

    client = connect(settings)
    experiment = client.get_experiment_by_name(EXPERIMENT) or client.get_experiment(
        client.create_experiment(EXPERIMENT, artifact_location=(settings.artifact_root / "backtest").as_uri())
    )
    with mlflow.start_run(experiment_id=experiment.experiment_id, run_name=f"backtest-{as_of}") as run:
        mlflow.log_param("as_of", as_of.isoformat())
        mlflow.log_param("score_files", ", ".join(str(p) for p in paths)[:500])
        for target, why in left_out.items():
            mlflow.set_tag(f"left_out.{target}", why[:500])
        for (target, model), m in figures.items():
            mlflow.set_tag(f"model.{target}.{model}", "scored")
            safe = model.replace("/", "_v")
            mlflow.log_metrics(
                {f"{target}.{safe}.{k}": float(v) for k, v in m.items() if v is not None and np.isfinite(v)}
            )
            name, _, version = model.partition("/")
            key = "auc" if target != "frequency" else "calibration_ratio"
            try:
                client.set_model_version_tag(
                    name, version, f"backtest_{as_of.isoformat()}_{key}", f"{m[key]:.4f} (n={int(m['n'])})"
                )
            except Exception:  # the version may have been deleted from the registry since
                pass
        outcome.run_id = run.info.run_id
    return outcome
