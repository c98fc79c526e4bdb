"""Monthly batch scoring: stream a file through :func:`riskmodel.scoring.score_frame`.

The input is read in chunks, validated (rejects go to the rejects file with line, column
and reason), scored and appended to a hidden partial file; nothing grows with the file
but a few numeric arrays per row (priority score, release id, the three outputs) that
the global ranking, the drift check and the report need. Ranks are then written in a
second pass to a temporary file beside the output, which is renamed over the output
only when complete: an interrupted run never leaves a file that looks complete.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskmodel.contract import REJECT_COLUMNS, iter_table
from riskmodel.drift import merge_counts, population_stability
from riskmodel.scoring import OUTPUT_COLUMNS, rank_priority, score_frame, utc_now, validate_for_scoring

__all__ = ["BatchResult", "score_file", "file_fingerprint", "DEFAULT_DRIFT_THRESHOLD"]

DEFAULT_DRIFT_THRESHOLD = 0.2


@dataclass
class BatchResult:
    """What one batch run did, for the CLI line, the audit record and the report."""

    batch_id: str
    input_path: Path
    output_path: Path
    rejects_path: Path
    input_fingerprint: str
    model_versions: dict[str, str]
    rows_read: int
    rows_scored: int
    rows_rejected: int
    started_at: datetime
    finished_at: datetime
    drift: dict[str, float] = field(default_factory=dict)
    drift_flagged: list[str] = field(default_factory=list)
    drift_threshold: float = DEFAULT_DRIFT_THRESHOLD
    reoffence: np.ndarray = field(default_factory=lambda: np.array([]))
    harm: np.ndarray = field(default_factory=lambda: np.array([]))
    frequency: np.ndarray = field(default_factory=lambda: np.array([]))
    top: pd.DataFrame = field(default_factory=pd.DataFrame)
    warnings: list[str] = field(default_factory=list)
    reject_reasons: dict[str, int] = field(default_factory=dict)

    def reconciliation(self) -> str:
        """rows read = rows scored + rows rejected."""
        return f"rows read {self.rows_read} = rows scored {self.rows_scored} + rows rejected {self.rows_rejected}"


def file_fingerprint(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _arrow_schema() -> pa.Schema:
    types = {
        "priority_rank": pa.int64(),
        "reoffence_probability": pa.float64(),
        "harm_probability": pa.float64(),
        "frequency_expected": pa.float64(),
        "priority_score": pa.float64(),
        "ogrs3_1y": pa.float64(),
        "ogrs3_2y": pa.float64(),
    }
    return pa.schema([(c, types.get(c, pa.string())) for c in OUTPUT_COLUMNS])


def _to_table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def score_file(
    input_path: Path,
    output_path: Path,
    *,
    champions,
    rejects_path: Path | None = None,
    explain: bool = True,
    chunk_rows: int = 50_000,
    capacity: int | None = None,
    drift_threshold: float = DEFAULT_DRIFT_THRESHOLD,
    allow_identifiers: bool = False,
    progress: bool = False,
    scored_at: str | None = None,
) -> BatchResult:
    """Score a CSV or Parquet file of releases into ``output_path`` (CSV or Parquet).

    Parameters
    ----------
    input_path, output_path : Path
        The month's releases; the scored file (format from its suffix).
    champions : Champions
        Loaded champion models.
    rejects_path : Path, optional
        Rejects file (default: ``output`` name + ``.rejects.csv``).
    explain : bool
        Compute ``top_factors`` for every row (``False`` for national-scale rescoring).
    chunk_rows : int
        Rows per chunk.
    capacity : int, optional
        Panel capacity: rows kept for the report's ranked list (default from config).
    drift_threshold : float
        PSI above which a feature is flagged.
    allow_identifiers : bool
        Drop direct-identifier columns instead of refusing the file.
    progress : bool
        Show a progress bar on stderr.
    scored_at : str, optional
        Timestamp stamped on every row (default: the batch's start, UTC).

    Raises
    ------
    ContractError
        When the file as a whole is unusable (nothing is written then).
    """
    input_path, output_path = Path(input_path), Path(output_path)
    rejects_path = Path(rejects_path) if rejects_path else output_path.with_name(output_path.name + ".rejects.csv")
    capacity = capacity or champions.scoring.capacity
    started = datetime.now(timezone.utc)
    scored_at = scored_at or utc_now()
    fingerprint = file_fingerprint(input_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    partial = output_path.with_name(f".{output_path.name}.partial.parquet")
    schema = _arrow_schema()
    line_offset = 2 if input_path.suffix.lower() == ".csv" else 1
    reoffence_model = champions.models["reoffence"]
    profile = champions.info["reoffence"].profile
    names = [str(n) for n in reoffence_model.feature_names_]

    seen: set[str] = set()
    rows_read = 0
    ids, scores, reoffence, harm, frequency = [], [], [], [], []
    drift_counts: dict[str, np.ndarray] = {}
    warnings: list[str] = []
    reject_frames: list[pd.DataFrame] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(unit=" rows", desc=f"scoring {input_path.name}")
    writer = pq.ParquetWriter(partial, schema)
    try:
        for chunk in iter_table(input_path, chunk_rows=chunk_rows):
            rows_read += len(chunk)
            table = validate_for_scoring(chunk, champions, line_offset=line_offset, seen_ids=seen, allow_identifiers=allow_identifiers)
            for warning in table.warnings:
                if warning not in warnings:
                    warnings.append(warning)
            if len(table.rejects):
                reject_frames.append(table.rejects)
            if len(table.data):
                out = score_frame(table.data, champions, explain=explain, scored_at=scored_at, rank=False)
                writer.write_table(_to_table(out, schema))
                ids.append(out["release_id"].to_numpy(dtype=object))
                scores.append(out["priority_score"].to_numpy())
                reoffence.append(out["reoffence_probability"].to_numpy())
                harm.append(out["harm_probability"].to_numpy())
                frequency.append(out["frequency_expected"].to_numpy())
                merge_counts(profile, reoffence_model.features.transform(table.data), names, drift_counts)
            if bar is not None:
                bar.update(len(chunk))
        writer.close()
        rejects = (
            pd.concat(reject_frames, ignore_index=True)
            if reject_frames
            else pd.DataFrame({c: pd.Series(dtype=object) for c in REJECT_COLUMNS})
        )
        rejects_path.parent.mkdir(parents=True, exist_ok=True)
        rejects.to_csv(rejects_path, index=False)

        all_ids = np.concatenate(ids) if ids else np.array([], dtype=object)
        all_scores = np.concatenate(scores) if scores else np.array([])
        ranks = rank_priority(all_scores, all_ids)
        top = _write_ranked(partial, output_path, ranks, capacity=capacity)
    except BaseException:
        if writer.is_open:
            writer.close()
        partial.unlink(missing_ok=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    partial.unlink(missing_ok=True)

    drift = population_stability(profile, drift_counts) if drift_counts else {}
    flagged = sorted((n for n, v in drift.items() if v > drift_threshold), key=lambda n: -drift[n])
    rows_rejected = int(rejects["line"].nunique()) if len(rejects) else 0
    result = BatchResult(
        batch_id=hashlib.sha256(f"{fingerprint}{started.isoformat()}".encode()).hexdigest()[:16],
        input_path=input_path,
        output_path=output_path,
        rejects_path=rejects_path,
        input_fingerprint=fingerprint,
        model_versions=champions.versions(),
        rows_read=rows_read,
        rows_scored=int(len(all_ids)),
        rows_rejected=rows_rejected,
        started_at=started,
        finished_at=datetime.now(timezone.utc),
        drift=drift,
        drift_flagged=flagged,
        drift_threshold=drift_threshold,
        reoffence=np.concatenate(reoffence) if reoffence else np.array([]),
        harm=np.concatenate(harm) if harm else np.array([]),
        frequency=np.concatenate(frequency) if frequency else np.array([]),
        top=top,
        warnings=warnings,
        reject_reasons=rejects.groupby(["column", "reason"]).size().rename(lambda t: f"{t[0]}: {t[1]}").to_dict() if len(rejects) else {},
    )
    _write_drift(result)
    return result


def _write_ranked(partial: Path, output_path: Path, ranks: np.ndarray, *, capacity: int) -> pd.DataFrame:
    """Second pass: add ranks, write to a temporary file, rename over the output."""
    tmp = output_path.with_name(f".{output_path.name}.tmp")
    is_csv = output_path.suffix.lower() == ".csv"
    top_parts = []
    source = pq.ParquetFile(partial)
    start = 0
    writer = None
    try:
        with open(tmp, "wb") as handle:
            for i, batch in enumerate(source.iter_batches()):
                frame = batch.to_pandas()
                frame["priority_rank"] = ranks[start : start + len(frame)]
                start += len(frame)
                top_parts.append(frame.loc[frame["priority_rank"] <= capacity])
                if is_csv:
                    frame.to_csv(handle, index=False, header=(i == 0), lineterminator="\n")
                else:
                    table = _to_table(frame, _arrow_schema())
                    if writer is None:
                        writer = pq.ParquetWriter(handle, table.schema)
                    writer.write_table(table)
            if is_csv and start == 0:
                handle.write((",".join(OUTPUT_COLUMNS) + "\n").encode())
            if not is_csv:
                if writer is None:
                    writer = pq.ParquetWriter(handle, _arrow_schema())
                writer.close()
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, output_path)
    finally:
        tmp.unlink(missing_ok=True)
    top = pd.concat(top_parts, ignore_index=True) if top_parts else pd.DataFrame(columns=list(OUTPUT_COLUMNS))
    return top.sort_values("priority_rank").reset_index(drop=True)


def _write_drift(result: BatchResult) -> None:
    path = result.output_path.with_name(result.output_path.name + ".drift.json")
    payload: dict[str, Any] = {
        "threshold": result.drift_threshold,
        "flagged": result.drift_flagged,
        "population_stability_index": result.drift,
    }
    path.write_text(json.dumps(payload, indent=2))


def operator_name() -> str:
    """Who ran the batch (the OS user)."""
    try:
        return getpass.getuser()
    except Exception:  # no user database in some containers
        return os.environ.get("USER", "unknown")

