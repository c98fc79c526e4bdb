"""``riskmodel impact`` as one function: gather decisions and expected counts, estimate, record.

Where the inputs come from (in this order):

Decisions
    ``--decisions FILE``; else a ``decisions.csv``/``decisions.parquet`` in the data
    folder; else the workspace's decision log in the audit database
    (:func:`riskmodel.records.decisions.list_decisions`). A release's latest decision
    stands; the first decision's time is when its expected count must come from before.
Expected counts (the frequency the champion gave before the decision)
    1. the ``frequency_expected`` the panel saw, kept with the decision in the audit
       trail (``scores_seen``), for decisions from the audit database;
    2. the batch outputs: ``scores.csv``/``scores.parquet`` under
       ``RISKMODEL_HOME/reports/YYYY-MM/`` (or the ``--scores`` files), the latest
       scoring of the release at or before its first decision;
    3. otherwise the current champion scores the release, and the estimate says so; if
       that champion was trained on data extracted after the first decision, a caveat
       says its expectation may have seen outcomes the panel influenced.

The estimate is logged to the MLflow experiment ``impact`` (params: as_of and the
counts; metrics: the estimate and its interval, O/E of each group; tags: the model
versions whose expectations were used) and the summary is kept as
``RISKMODEL_HOME/reports/impact/latest.json`` for the monthly report's section.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.data.contract import ValidatedTable, load_cohort
from riskmodel.data.decisions import latest_decisions, read_decisions
from riskmodel.evaluation.impact import estimate_impact, impact_rows, impact_summary
from riskmodel.settings import Settings

__all__ = ["EXPERIMENT", "ImpactRun", "run_impact", "log_impact", "latest_summary", "read_expected_scores"]

#: The MLflow experiment impact estimates are logged to.
EXPERIMENT = "impact"


@dataclass
class ImpactRun:
    """What :func:`run_impact` did: the summary, the decisions table's validation, notes."""

    summary: dict[str, Any]
    decisions_source: str
    decisions_table: ValidatedTable | None = None
    notes: list[str] = field(default_factory=list)
    run_id: str | None = None


def _audit_decisions(settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decisions from the workspace's log, and the frequency each one saw."""
    from riskmodel.records.audit import AuditStore
    from riskmodel.records.decisions import list_decisions

    found = list_decisions(AuditStore(settings.audit_url))
    frame = pd.DataFrame(
        {
            "release_id": [d.release_id for d in found],
            "decided_at": pd.to_datetime([d.decided_at for d in found], utc=True).tz_localize(None),
            "decision": [d.decision for d in found],
        }
    )
    seen = pd.DataFrame(
        {
            "release_id": [d.release_id for d in found],
            "decided_at": frame["decided_at"],
            "expected": [d.scores_seen.get("frequency_expected") for d in found],
            "band": [d.scores_seen.get("reoffence_band") for d in found],
            "model": [d.model_versions.get("frequency") for d in found],
        }
    )
    return frame, seen


def read_expected_scores(paths: list[Path]) -> pd.DataFrame:
    """The scores files' ``release_id``, ``expected``, ``band``, ``model``, ``scored_at``."""
    frames = []
    for path in paths:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if not {"release_id", "frequency_expected"} <= set(frame.columns):
            continue
        frames.append(
            pd.DataFrame(
                {
                    "release_id": frame["release_id"].astype(str),
                    "expected": pd.to_numeric(frame["frequency_expected"], errors="coerce"),
                    "band": frame["reoffence_band"].astype(object) if "reoffence_band" in frame else None,
                    "model": frame["frequency_model"].astype(object) if "frequency_model" in frame else None,
                    "scored_at": pd.to_datetime(frame["scored_at"], utc=True, errors="coerce").dt.tz_localize(None)
                    if "scored_at" in frame
                    else pd.NaT,
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=["release_id", "expected", "band", "model", "scored_at"])
    return pd.concat(frames, ignore_index=True)


def _before_decision(scores: pd.DataFrame, decided: pd.DataFrame) -> pd.DataFrame:
    """Each release's latest scoring at or before its first decision (any scoring when undated)."""
    joined = scores.merge(decided[["release_id", "first_decided_at"]], on="release_id", how="inner")
    ok = joined["scored_at"].isna() | (joined["scored_at"] <= joined["first_decided_at"])
    joined = joined.loc[ok & joined["expected"].notna()].sort_values("scored_at", na_position="first")
    return joined.drop_duplicates("release_id", keep="last")[["release_id", "expected", "band", "model"]]


def _champion_expected(
    settings: Settings, releases: pd.DataFrame, decided: pd.DataFrame
) -> tuple[pd.DataFrame, list[str]]:
    """The current champion's expected counts and bands for the releases, and any caveat."""
    from riskmodel.modelling.registry import connect, load_champions
    from riskmodel.scoring.scoring import band

    champions = load_champions(settings)
    rows = releases.loc[releases["release_id"].isin(decided["release_id"])].reset_index(drop=True)
    notes = []
    if len(rows):
        frequency = champions.models["frequency"].predict(rows)
        reoffence = champions.models["reoffence"].predict(rows)
        info = champions.info["frequency"]
        trained_as_of = connect(settings).get_run(info.run_id).data.params.get("as_of")
        first = decided["first_decided_at"].min()
        if trained_as_of and pd.Timestamp(trained_as_of) > first:
            notes.append(
                f"the champion {info.label} was trained on data extracted on {trained_as_of}, after the first"
                f" decision ({first.date()}): its expectation may have learnt from outcomes the panel influenced"
            )
        out = pd.DataFrame(
            {
                "release_id": rows["release_id"].to_numpy(),
                "expected": frequency,
                "band": band(reoffence, champions.scoring.reoffence_bands),
                "model": info.label,
            }
        )
    else:
        out = pd.DataFrame(columns=["release_id", "expected", "band", "model"])
    return out, notes


def run_impact(
    settings: Settings,
    data: Path,
    *,
    as_of: date,
    decisions_path: Path | None = None,
    score_paths: list[Path] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    report: Path | None = None,
    log: bool = True,
) -> ImpactRun:
    """Estimate the panel's impact from a data folder, as ``riskmodel impact`` does.

    Parameters
    ----------
    settings : Settings
        The home (scores files, audit database, champions, MLflow).
    data : Path
        Folder with ``releases`` and ``reoffences`` as of ``as_of`` (and maybe ``decisions``).
    as_of : date
        Extract date of the outcome data.
    decisions_path : Path, optional
        The ``decisions`` table (default: in ``data``, else the audit database's log).
    score_paths : list of Path, optional
        Scores files with the expected counts (default: the batch outputs under the home).
    n_boot, seed : int
        Bootstrap resamples of people, and their seed.
    report : Path, optional
        Write the impact page (HTML) here.
    log : bool, default True
        Log to MLflow and keep the summary for the monthly report.

    Returns
    -------
    ImpactRun

    Raises
    ------
    ContractError
        When a table is unusable as a whole.
    LookupError
        When some expected counts are missing and there is no champion to give them.
    """
    cohort = load_cohort(data)
    releases, reoffences = cohort.releases.data, cohort.reoffences.data
    notes: list[str] = []
    seen = None
    table = None
    if decisions_path is None:
        for suffix in (".parquet", ".csv"):
            if (Path(data) / f"decisions{suffix}").exists():
                decisions_path = Path(data) / f"decisions{suffix}"
                break
    if decisions_path is not None:
        table = read_decisions(decisions_path, release_ids=releases["release_id"])
        raw, source = table.data, str(decisions_path)
    else:
        raw, seen = _audit_decisions(settings)
        source = f"the workspace's decision log ({settings.audit_url})"
    decided = latest_decisions(raw) if len(raw) else raw.assign(first_decided_at=raw["decided_at"])

    parts, sources = [], []
    if seen is not None and len(seen):
        first = seen.merge(decided[["release_id", "first_decided_at"]], on="release_id")
        at_first = first.loc[first["decided_at"] == first["first_decided_at"]].dropna(subset=["expected"])
        parts.append(at_first.drop_duplicates("release_id")[["release_id", "expected", "band", "model"]])
        sources.append(("the audit trail (the frequency the panel saw with its decision)", len(parts[-1])))
    default_files = sorted(settings.reports_dir.glob("*/scores.csv")) + sorted(
        settings.reports_dir.glob("*/scores.parquet")
    )
    files = list(score_paths) if score_paths else default_files
    if files:
        have = set(pd.concat(parts)["release_id"]) if parts else set()
        scored = _before_decision(read_expected_scores(files), decided)
        parts.append(scored.loc[~scored["release_id"].isin(have)])
        where = "the --scores files" if score_paths else f"the batch outputs under {settings.reports_dir}"
        sources.append((f"{where} (scored before the decision)", len(parts[-1])))
    have = set(pd.concat(parts)["release_id"]) if parts else set()
    missing = decided.loc[~decided["release_id"].isin(have) & decided["release_id"].isin(releases["release_id"])]
    if len(missing):
        champion, caveats = _champion_expected(settings, releases, missing)
        parts.append(champion)
        notes += caveats
        sources.append(("the current champion, scoring the releases now", len(champion)))
    expected = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["release_id", "expected"])
    expected["expected"] = pd.to_numeric(expected["expected"], errors="coerce")

    rows, counts = impact_rows(releases, reoffences, decided, expected, as_of=as_of)
    models = sorted({str(m) for m in expected.loc[expected["release_id"].isin(rows["release_id"]), "model"] if m})
    estimate = estimate_impact(
        rows,
        as_of=as_of,
        counts=counts,
        n_boot=n_boot,
        seed=seed,
        expected_source="; ".join(f"{n} from {what}" for what, n in sources if n),
        model_versions={"frequency" if len(models) == 1 else f"frequency_{i}": m for i, m in enumerate(models)},
    )
    summary = impact_summary(estimate)
    summary["notes"] = list(notes)
    summary["decisions_source"] = source
    run = ImpactRun(summary=summary, decisions_source=source, decisions_table=table, notes=notes)
    if report is not None:
        from riskmodel.reporting.impact_report import write_impact_page

        write_impact_page(summary, report)
    if log:
        run.run_id = log_impact(settings, summary, report=report)
        keep = settings.reports_dir / "impact" / "latest.json"
        keep.parent.mkdir(parents=True, exist_ok=True)
        keep.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return run


def latest_summary(settings: Settings) -> dict[str, Any] | None:
    """The last ``riskmodel impact`` summary kept in the home (for the monthly report), or None."""
    path = settings.reports_dir / "impact" / "latest.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def log_impact(settings: Settings, summary: dict[str, Any], *, report: Path | None = None) -> str:
    """Log an impact summary to the MLflow experiment :data:`EXPERIMENT`; return the run id."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.tracking_uri)
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    if client.get_experiment_by_name(EXPERIMENT) is None:
        remote = settings.tracking_uri.lower().startswith(("http://", "https://"))
        client.create_experiment(EXPERIMENT, artifact_location=None if remote else settings.artifact_root.as_uri())
    experiment = client.get_experiment_by_name(EXPERIMENT)
    overall = summary["overall"]
    metrics = {
        "relative_change": overall["change"],
        "relative_change_low": overall["low"],
        "relative_change_high": overall["high"],
        "oe_adopted": summary["groups"]["adopted"]["ratio"],
        "oe_not_adopted": summary["groups"]["not_adopted"]["ratio"],
    }
    with mlflow.start_run(experiment_id=experiment.experiment_id, run_name=f"impact-{summary['as_of']}") as run:
        mlflow.log_params({"as_of": summary["as_of"], "n_boot": summary["n_boot"], "strata": summary["strata"]})
        mlflow.log_params({f"count.{k}": v for k, v in summary["counts"].items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)})
        mlflow.set_tags(
            {
                "verdict": overall["verdict"],
                "expected_source": summary.get("expected_source", "")[:5000],
                **{f"model.{k}": v for k, v in summary.get("model_versions", {}).items()},
            }
        )
        mlflow.log_dict(summary, "impact.json")
        if report is not None and Path(report).exists():
            mlflow.log_artifact(str(report))
    return run.info.run_id
