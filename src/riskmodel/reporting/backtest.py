"""Outcome backtesting: compare earlier scores with outcomes that have since matured.

Score files written by batch scoring are joined by ``release_id`` with labels derived
from today's extract (``as_of``). Only releases whose follow-up has ended count (an
immature outcome is unknown, never 0). Figures are computed per target and per model
version that produced the score, logged to MLflow in the ``riskmodel-backtest``
experiment, and tagged on the registered model version itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.data.contract import load_cohort, read_table
from riskmodel.data.labels import derive_labels
from riskmodel.evaluation.metrics import binary_metrics, count_metrics
from riskmodel.settings import Settings

__all__ = ["BacktestOutcome", "run_backtest", "backtest_scores", "read_scores"]

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
    settings: Settings, data: Path, *, as_of: date, score_paths: Iterable[str | Path] = (), capacity: int = 50
) -> BacktestOutcome:
    """Backtest earlier scores against ``data`` as of ``as_of`` and log to MLflow.

    ``score_paths`` default to the score files of every batch in the audit database;
    where a release was scored more than once, the latest score counts.

    Raises
    ------
    LookupError
        When there are no earlier scores, or none has a matured outcome.
    """
    import mlflow

    from riskmodel.modelling.registry import connect

    paths = [Path(p) for p in score_paths] or _score_paths(settings)
    if not paths:
        raise LookupError("no earlier score files: pass --scores FILE or run `riskmodel score` first")
    scores = read_scores(paths)
    cohort = load_cohort(data)
    labels = derive_labels(cohort.releases.data, cohort.reoffences.data, as_of=as_of)
    figures = backtest_scores(scores, labels, capacity=capacity)
    if not figures:
        raise LookupError(f"none of the {len(scores)} scored releases has a matured outcome as of {as_of}")
    outcome = BacktestOutcome(as_of=as_of, rows_scored=len(scores), figures=figures)

    client = connect(settings)
    experiment = client.get_experiment_by_name(EXPERIMENT) or client.get_experiment(
        client.create_experiment(EXPERIMENT, artifact_location=(settings.artifact_root / "backtest").as_uri())
    )
    with mlflow.start_run(experiment_id=experiment.experiment_id, run_name=f"backtest-{as_of}") as run:
        mlflow.log_param("as_of", as_of.isoformat())
        mlflow.log_param("score_files", ", ".join(str(p) for p in paths)[:500])
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
