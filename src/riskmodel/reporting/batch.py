"""Monthly batch scoring: stream a file through :func:`riskmodel.scoring.scoring.score_columns`.

The input is read in chunks, validated (rejects stream to the rejects file with line,
column and reason), scored and appended to a hidden partial Parquet file. What grows
with the file is small: per row, the release id (kept twice: for the global ranking and
to catch a duplicate in a later chunk) and four numbers the ranking, the report and the
result need, about 200 bytes a row; peak memory on a million rows stays under 1 GB
(``benchmarks/batch.py``). Ranks are then written in
a second pass, in Arrow without a Python object per cell, to a temporary file beside the
output, which is renamed over the output only when complete: an interrupted run never
leaves a file that looks complete, and an earlier complete output stays as it was.

No output escapes the audit: :func:`run_batch` commits the batch's record (who, when, the
input's and the output's fingerprints, versions, counts) while the files are still
temporaries, and renames them into place only once the record is committed. A run that
cannot record its batch publishes nothing; a run killed between the two steps leaves a
record whose output is missing ("recorded but not published", which is safe), never an
output without its record.

The output does not depend on how the input was chunked: the second pass writes row
groups of a fixed size, so the same input and champions give a byte-identical file
(``scored_at`` aside, which is the run's start unless given).

The file's columns and types are :mod:`riskmodel.scoring.output`'s. Parquet keeps
``needs``, ``warnings`` and ``top_factors`` as nested lists; a CSV output flattens them
in the second pass (needs joined with ``"; "``, warnings and factors as JSON lists).
:func:`run_batch` is a whole batch (the CLI's ``score`` and ``demo`` go through it);
:func:`score_file` alone scores without a record (tests, benchmarks).
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskmodel.data.contract import REJECT_COLUMNS, ContractError, iter_table, naming_the_file, read_table
from riskmodel.evaluation.drift import drift_not_computed, merge_counts, population_stability
from riskmodel.modelling.champions import Champions
from riskmodel.records.audit import AuditStore, AuditUnavailable
from riskmodel.scoring.output import (
    PARQUET_OPTIONS,
    STRUCTURED_COLUMNS,
    CodedColumn,
    csv_schema,
    flatten_for_csv,
    output_schema,
)
from riskmodel.scoring.scoring import rank_priority, score_columns, utc_now, validate_for_scoring

__all__ = [
    "BatchResult",
    "BatchNotRecorded",
    "run_batch",
    "score_file",
    "file_fingerprint",
    "operator_name",
    "DEFAULT_DRIFT_THRESHOLD",
]

DEFAULT_DRIFT_THRESHOLD = 0.2
#: Rows per row group of the output (fixed, so chunking never changes the file).
OUTPUT_ROWS_PER_GROUP = 65_536


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
    #: The first ``capacity`` rows by rank; needs, warnings and top_factors as Python lists.
    top: pd.DataFrame = field(default_factory=pd.DataFrame)
    warnings: list[str] = field(default_factory=list)
    reject_reasons: dict[str, int] = field(default_factory=dict)
    #: Each distinct per-row warning (``{code, message, field}``, e.g. a value outside the
    #: training range) with ``count``, the number of rows scored with it; most rows first.
    row_warnings: list[dict[str, Any]] = field(default_factory=list)
    capacity: int = 0
    explained: bool = True
    scored_at: str = ""
    #: SHA-256 of the output file's bytes (taken before it is published).
    output_fingerprint: str = ""

    @property
    def drift_path(self) -> Path:
        """The JSON file with every feature's population stability index."""
        return self.output_path.with_name(self.output_path.name + ".drift.json")

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


def _to_table(columns: dict[str, object], n: int, schema: pa.Schema) -> pa.Table:
    """Scoring columns (numpy, structured or one string for the whole chunk) as an Arrow table."""
    arrays = []
    for name, kind in zip(schema.names, schema.types, strict=True):
        value = columns[name]
        if isinstance(value, str):
            arrays.append(pa.repeat(pa.scalar(value, kind), n))
        elif name in STRUCTURED_COLUMNS:
            arrays.append(value.to_arrow(kind))
        else:  # NaN and None are unknowns: nulls in the file, blank in a CSV
            arrays.append(pa.array(value, kind, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


class _Stopper:
    """SIGTERM (a scheduler stopping the job) and Ctrl-C as :class:`KeyboardInterrupt`, so clean-up runs.

    Inside :meth:`held` a stop waits and takes effect when the held step is done: the
    batch's record and the renames that publish its files are not cut in the middle.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.holding = False
        self.pending: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.holding:
            self.pending = signum
            return
        raise KeyboardInterrupt(f"stopped by signal {signum}")

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold any stop back until the block is done (then raise it)."""
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        if self.pending is not None:
            raise KeyboardInterrupt(f"stopped by signal {self.pending}")


@contextlib.contextmanager
def _stoppable() -> Iterator[_Stopper]:
    """A :class:`_Stopper` handling SIGTERM and SIGINT for the block (main thread only)."""
    stopper = _Stopper()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        try:
            for signum in _Stopper.SIGNALS:
                previous[signum] = signal.signal(signum, stopper)
        except ValueError:  # not allowed here (embedded interpreter)
            pass
    try:
        yield stopper
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


class _RejectsFile:
    """Rejected rows streamed to a temporary CSV, with the counts the report needs."""

    def __init__(self, path: Path):
        self.path = path
        self.handle = open(path, "w", newline="", encoding="utf-8")
        self.handle.write(",".join(REJECT_COLUMNS) + "\n")
        self.rows = 0
        self.reasons: Counter[str] = Counter()

    def add(self, rejects: pd.DataFrame) -> None:
        if not len(rejects):
            return
        rejects.to_csv(self.handle, index=False, header=False, lineterminator="\n")
        # line numbers never span chunks, so distinct lines per chunk add up
        self.rows += int(rejects["line"].nunique())
        for (column, reason), count in rejects.groupby(["column", "reason"]).size().items():
            self.reasons[f"{column}: {reason}"] += int(count)

    def close(self) -> None:
        if not self.handle.closed:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()


def _count_row_warnings(counts: Counter[tuple[str, str, str | None]], warnings: CodedColumn) -> None:
    """Add each warning's rows to ``counts``, keyed by (code, message, field)."""
    for items, rows in warnings.counts():
        for item in items:
            counts[item["code"], item["message"], item["field"]] += rows


@dataclass(frozen=True)
class _BatchFiles:
    """A batch's files and the hidden temporaries they are written to first."""

    output: Path
    rejects: Path
    drift: Path
    partial: Path
    output_tmp: Path
    rejects_tmp: Path
    drift_tmp: Path

    @classmethod
    def beside(cls, output: Path, rejects: Path) -> _BatchFiles:
        """The files of a batch writing ``output`` and ``rejects`` (folders created)."""
        output.parent.mkdir(parents=True, exist_ok=True)
        rejects.parent.mkdir(parents=True, exist_ok=True)
        drift = output.with_name(output.name + ".drift.json")
        return cls(
            output=output,
            rejects=rejects,
            drift=drift,
            partial=output.with_name(f".{output.name}.partial.parquet"),
            output_tmp=output.with_name(f".{output.name}.tmp"),
            rejects_tmp=rejects.with_name(f".{rejects.name}.tmp"),
            drift_tmp=drift.with_name(f".{drift.name}.tmp"),
        )

    def publish(self) -> None:
        """Rename the temporaries into place, the output last: once it is there, the others are too."""
        os.replace(self.rejects_tmp, self.rejects)
        os.replace(self.drift_tmp, self.drift)
        os.replace(self.output_tmp, self.output)
        for folder in {self.output.parent, self.rejects.parent}:
            _fsync_folder(folder)

    def discard(self) -> None:
        """Remove the temporaries, leaving any earlier output untouched."""
        for path in (self.partial, self.output_tmp, self.rejects_tmp, self.drift_tmp):
            path.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable (where the system allows opening a folder)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def score_file(
    input_path: Path,
    output_path: Path,
    *,
    champions: Champions,
    rejects_path: Path | None = None,
    explain: bool = True,
    chunk_rows: int = 50_000,
    capacity: int | None = None,
    drift_threshold: float = DEFAULT_DRIFT_THRESHOLD,
    allow_identifiers: bool = False,
    progress: bool = False,
    scored_at: str | None = None,
    before_publish: Callable[[BatchResult], None] | None = None,
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
        Rows per chunk (memory, not results, depends on it).
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
    before_publish : callable, optional
        Called with the result once every file is complete but still a temporary
        (``output_fingerprint`` set); if it raises, nothing is published.
        :func:`run_batch` commits the batch's audit record here.

    Returns
    -------
    BatchResult

    Raises
    ------
    ContractError
        When the file as a whole is unusable (nothing is written then).

    Notes
    -----
    The output, its rejects file and its drift file (``output`` name + ``.drift.json``)
    are written to temporary files and renamed into place together at the end, the
    output last; an error or interruption (including SIGTERM) removes the temporary
    files and leaves any earlier output, rejects and drift files untouched. A SIGTERM
    or Ctrl-C during ``before_publish`` and the renames waits until they are done.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    rejects_path = Path(rejects_path) if rejects_path else output_path.with_name(output_path.name + ".rejects.csv")
    capacity = int(capacity or champions.scoring.capacity)
    run = _Run(
        input_path=input_path,
        started=datetime.now(UTC),
        scored_at=scored_at or utc_now(),
        fingerprint=file_fingerprint(input_path),
        capacity=capacity,
        explain=explain,
        drift_threshold=drift_threshold,
    )
    files = _BatchFiles.beside(output_path, rejects_path)

    bar = _progress_bar(input_path) if progress else None
    try:
        with _stoppable() as stopper:
            stream = _first_pass(
                run, files, champions, chunk_rows=chunk_rows, allow_identifiers=allow_identifiers, bar=bar
            )
            result = _finish(run, stream, files, champions)
            with stopper.held():
                if before_publish is not None:
                    before_publish(result)
                files.publish()
    except BaseException:
        files.discard()
        raise
    finally:
        if bar is not None:
            bar.close()
    return result


@dataclass(frozen=True)
class _Run:
    """What a batch run knows before it reads a row."""

    input_path: Path
    started: datetime
    scored_at: str
    fingerprint: str
    capacity: int
    explain: bool
    drift_threshold: float


def _first_pass(
    run: _Run, files: _BatchFiles, champions: Champions, *, chunk_rows: int, allow_identifiers: bool, bar: Any
) -> _Stream:
    """Validate, score and write every chunk of the input to the partial and rejects files (closed after)."""
    stream = _Stream(
        champions,
        partial=files.partial,
        rejects_path=files.rejects_tmp,
        schema=output_schema(),
        explain=run.explain,
        scored_at=run.scored_at,
        line_offset=2 if run.input_path.suffix.lower() == ".csv" else 1,
        allow_identifiers=allow_identifiers,
    )
    try:
        with naming_the_file(run.input_path):
            for chunk in iter_table(run.input_path, chunk_rows=chunk_rows):
                stream.add(chunk)
                if bar is not None:
                    bar.update(len(chunk))
            if stream.rows_read == 0:  # an empty file may yield no chunk: its columns are still checked
                validate_for_scoring(read_table(run.input_path), champions, **stream.validation)
                raise ContractError("no rows to score (the file is empty or has a header only)")
    finally:
        stream.close()
    return stream


def _finish(run: _Run, stream: _Stream, files: _BatchFiles, champions: Champions) -> BatchResult:
    """Rank into the output temporary, write the drift temporary; the result, with the output's fingerprint."""
    ranks = rank_priority(stream.kept("priority_score"), stream.kept("release_id"))
    csv = files.output.suffix.lower() == ".csv"
    top = _write_ranked(files.partial, files.output_tmp, ranks, capacity=run.capacity, csv=csv)
    files.partial.unlink()
    drift, flagged = _write_drift(champions, stream.drift_counts, run.drift_threshold, files.drift_tmp)
    return BatchResult(
        batch_id=hashlib.sha256(f"{run.fingerprint}{run.started.isoformat()}".encode()).hexdigest()[:16],
        input_path=run.input_path,
        output_path=files.output,
        rejects_path=files.rejects,
        input_fingerprint=run.fingerprint,
        model_versions=champions.versions(),
        rows_read=stream.rows_read,
        rows_scored=int(len(ranks)),
        rows_rejected=stream.rejects.rows,
        started_at=run.started,
        finished_at=datetime.now(UTC),
        drift=drift,
        drift_flagged=flagged,
        drift_threshold=run.drift_threshold,
        reoffence=stream.kept("reoffence_probability"),
        harm=stream.kept("harm_probability"),
        frequency=stream.kept("frequency_expected"),
        top=top,
        warnings=stream.warnings,
        reject_reasons=dict(stream.rejects.reasons.most_common()),
        row_warnings=stream.warning_counts(),
        capacity=run.capacity,
        explained=run.explain,
        scored_at=run.scored_at,
        output_fingerprint=file_fingerprint(files.output_tmp),
    )


def _progress_bar(input_path: Path) -> Any:
    """A tqdm bar on stderr (its total known for Parquet, which says its row count)."""
    from tqdm import tqdm

    total = pq.ParquetFile(input_path).metadata.num_rows if input_path.suffix.lower() != ".csv" else None
    return tqdm(total=total, unit=" rows", desc=f"scoring {input_path.name}")


def _write_drift(
    champions: Champions, counts: dict[str, np.ndarray], threshold: float, path: Path
) -> tuple[dict[str, float], list[str]]:
    """Each feature's PSI against the training profile, written to ``path``; and those above ``threshold``.

    Too small a batch gets none (PSI would be noise): the file says why in ``not_computed``.
    """
    rows = int(max((c.sum() for c in counts.values()), default=0))  # every feature counts every row
    not_computed = drift_not_computed(rows)
    drift = population_stability(champions.info["reoffence"].profile, counts) if not not_computed else {}
    flagged = sorted((n for n, v in drift.items() if v > threshold), key=lambda n: -drift[n])
    payload = {
        "threshold": threshold,
        "flagged": flagged,
        "population_stability_index": drift,
        "not_computed": not_computed,
    }
    path.write_text(json.dumps(payload, indent=2))
    return drift, flagged


class _Stream:
    """The first pass: validate, score and write each chunk; keep a few numbers per row."""

    #: Output columns kept in memory for the ranking, the report and the result.
    KEPT = ("release_id", "priority_score", "reoffence_probability", "harm_probability", "frequency_expected")

    def __init__(
        self,
        champions: Champions,
        *,
        partial: Path,
        rejects_path: Path,
        schema: pa.Schema,
        explain: bool,
        scored_at: str,
        line_offset: int,
        allow_identifiers: bool,
    ):
        self.champions = champions
        self.schema = schema
        self.options = dict(explain=explain, scored_at=scored_at)
        self.validation = dict(line_offset=line_offset, allow_identifiers=allow_identifiers)
        self.seen: set[str] = set()
        self.rows_read = 0
        self.warnings: list[str] = []
        self.row_warnings: Counter[tuple[str, str, str | None]] = Counter()
        self.drift_counts: dict[str, np.ndarray] = {}
        self.names = [str(n) for n in champions.models["reoffence"].feature_names_]
        self.parts: dict[str, list[np.ndarray]] = {name: [] for name in self.KEPT}
        self.rejects = _RejectsFile(rejects_path)
        self.writer = pq.ParquetWriter(partial, schema, **PARQUET_OPTIONS)

    def add(self, chunk: pd.DataFrame) -> None:
        """Validate, score and write one chunk."""
        table = validate_for_scoring(chunk, self.champions, seen_ids=self.seen, **self.validation)
        self.rows_read += len(chunk)
        self.warnings.extend(w for w in table.warnings if w not in self.warnings)
        self.rejects.add(table.rejects)
        n = len(table.data)
        if not n:
            return
        columns, features = score_columns(table.data, self.champions, rank=False, **self.options)
        self.writer.write_table(_to_table(columns, n, self.schema))
        # Copies: a column of the scored frame is a view that would keep the whole chunk alive.
        self.parts["release_id"].append(np.asarray(columns["release_id"], dtype=str))
        for name in self.KEPT[1:]:
            self.parts[name].append(np.array(columns[name], dtype=float))
        _count_row_warnings(self.row_warnings, columns["warnings"])
        merge_counts(self.champions.info["reoffence"].profile, features, self.names, self.drift_counts)

    def warning_counts(self) -> list[dict[str, Any]]:
        """Each distinct per-row warning with the rows scored with it (``count``), most first."""
        return [
            {"code": code, "message": message, "field": name, "count": count}
            for (code, message, name), count in self.row_warnings.most_common()
        ]

    def kept(self, name: str) -> np.ndarray:
        """A kept column over every chunk."""
        parts = self.parts[name]
        return np.concatenate(parts) if parts else np.array([], dtype=str if name == "release_id" else float)

    def close(self) -> None:
        """Finish the partial and rejects files (safe to call twice)."""
        if self.writer.is_open:
            self.writer.close()
        self.rejects.close()


def _write_ranked(partial: Path, tmp: Path, ranks: np.ndarray, *, capacity: int, csv: bool) -> pd.DataFrame:
    """Second pass: add ranks, write ``tmp`` (fsynced); return the top ``capacity`` rows.

    A CSV gets the structured columns flattened here, at the edge
    (:func:`~riskmodel.scoring.output.flatten_for_csv`).
    """
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    schema = output_schema()
    rank_index = schema.get_field_index("priority_rank")
    top_parts = []
    start = 0
    with open(tmp, "wb") as handle:
        if csv:
            writer = pacsv.CSVWriter(handle, csv_schema(), write_options=pacsv.WriteOptions(quoting_style="needed"))
        else:
            writer = pq.ParquetWriter(handle, schema, **PARQUET_OPTIONS)
        source = pq.ParquetFile(partial)
        for batch in source.iter_batches(batch_size=OUTPUT_ROWS_PER_GROUP):
            rank = pa.array(ranks[start : start + batch.num_rows], pa.int64())
            start += batch.num_rows
            table = pa.Table.from_batches([batch]).set_column(rank_index, schema.field(rank_index), rank)
            writer.write_table(flatten_for_csv(table) if csv else table)
            best = table.filter(pc.less_equal(rank, capacity))
            if best.num_rows:
                top_parts.append(best)
        writer.close()
        handle.flush()
        os.fsync(handle.fileno())
    top = pa.concat_tables(top_parts) if top_parts else schema.empty_table()
    frame = top.drop_columns(list(STRUCTURED_COLUMNS)).to_pandas()
    for name in STRUCTURED_COLUMNS:  # a few hundred rows: Python lists for the report
        frame[name] = top.column(name).to_pylist()
    return frame[schema.names].sort_values("priority_rank").reset_index(drop=True)


def operator_name() -> str:
    """Who ran the batch (the OS user)."""
    try:
        return getpass.getuser()
    except Exception:  # no user database in some containers
        return os.environ.get("USER", "unknown")


class BatchNotRecorded(RuntimeError):
    """The batch's audit record could not be committed, so nothing was published.

    ``result`` says what the run would have published (its files were removed), so the
    caller can still say what was scored.
    """

    def __init__(self, result: BatchResult, cause: Exception):
        super().__init__(
            f"the batch could not be recorded in the audit database, so no scores, rejects or drift file "
            f"were published: {cause}"
        )
        self.result = result


def run_batch(
    input_path: Path,
    output_path: Path,
    *,
    champions: Champions,
    store: AuditStore,
    operator: str | None = None,
    **options: Any,
) -> BatchResult:
    """One batch from input to audit record: score into temporaries, record the batch, then publish.

    The CLI's ``score`` and ``demo`` (and the batch benchmark) call this, so every batch
    that publishes scores has its record in the ``batches`` table, committed first.

    Parameters
    ----------
    input_path, output_path : Path
        The month's releases; the scored file (CSV or Parquet, from its suffix).
    champions : Champions
        Loaded champion models.
    store : AuditStore
        The audit database the batch is recorded in.
    operator : str, optional
        Who ran the batch (default :func:`operator_name`).
    **options
        :func:`score_file`'s options (``rejects_path``, ``explain``, ``capacity``,
        ``allow_identifiers``, ``progress``, ...).

    Returns
    -------
    BatchResult
        What :func:`score_file` did; its ``batch_id`` is the record's.

    Raises
    ------
    ContractError
        When the file as a whole is unusable (nothing is written or recorded).
    BatchNotRecorded
        When the record could not be committed (nothing is published then; an earlier
        output, rejects and drift file stay as they were).

    Notes
    -----
    The record (who, when, the input's path and fingerprint, the output's path and
    fingerprint, the model versions, the counts) is committed while the output is still
    a temporary file; only then are the files renamed into place. A run killed between
    the two (even by SIGKILL) leaves a record whose output is missing: "recorded but not
    published" is safe, as the record names an output nobody received. The reverse, an
    output without its record, cannot happen: if the output exists, its record does.
    """
    operator = operator or operator_name()

    def record(result: BatchResult) -> None:
        try:
            store.record_batch(
                batch_id=result.batch_id,
                operator=operator,
                started_at=result.started_at,
                finished_at=result.finished_at,
                input_path=str(result.input_path.resolve()),
                input_fingerprint=result.input_fingerprint,
                output_path=str(result.output_path.resolve()),
                output_fingerprint=result.output_fingerprint,
                model_versions=result.model_versions,
                rows_read=result.rows_read,
                rows_scored=result.rows_scored,
                rows_rejected=result.rows_rejected,
            )
        except (AuditUnavailable, OSError) as exc:  # OSError: the database's file or folder
            raise BatchNotRecorded(result, exc) from exc

    return score_file(input_path, output_path, champions=champions, before_publish=record, **options)
