"""The ``decisions`` table: what an IOM panel decided for each release.

For partnerships that record the panel's decisions outside riskmodel's workspace, a
CSV or Parquet table with one row per decision (``docs/decisions-table.md``):

``release_id``
    The release decided, as in the ``releases`` table.
``decided_at``
    When the panel decided: an ISO 8601 date or date-time (``2024-03-01`` or
    ``2024-03-01T10:00:00Z``); a time without an offset is read as UTC.
``decision``
    ``adopt`` (onto the IOM cohort), ``not_now`` or ``refer`` (to another service).

Rows that break a rule are rejected one by one, each with its line, column and reason,
like the other tables; the reconciliation line says ``rows read = rows accepted + rows
rejected``. A release with several accepted decisions is taken at its latest
(:func:`latest_decisions`): a decision can be replaced, never edited.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.data.contract import REJECT_COLUMNS, ContractError, ValidatedTable, read_table

__all__ = [
    "DECISION_COLUMNS",
    "DECISION_VALUES",
    "read_decisions",
    "validate_decisions",
    "latest_decisions",
]

#: The table's columns, in order.
DECISION_COLUMNS = ("release_id", "decided_at", "decision")

#: What the panel can decide (the workspace's decision log uses the same words).
DECISION_VALUES = ("adopt", "not_now", "refer")

_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?)?$"
)
_BLANK = "missing: a required value"
_UNKNOWN_RELEASE = "release_id is not in the releases table"
_NOT_A_DATE = "not an ISO 8601 date or date-time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)"
_NOT_A_DECISION = f"not one of {', '.join(DECISION_VALUES)}"


def _text(series: pd.Series) -> np.ndarray:
    """Cells as stripped text ('' for a blank)."""
    return np.array(["" if pd.isna(v) else str(v).strip() for v in series], dtype=object)


def _timestamps(text: np.ndarray) -> np.ndarray:
    """UTC timestamps (naive, ``datetime64[ns]``) of ISO cells; NaT where a cell is not one."""
    out = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[ns]")
    for i, cell in enumerate(text):
        if not _ISO.match(cell):
            continue
        try:
            stamp = pd.Timestamp(cell)
        except ValueError:  # e.g. 2024-02-30
            continue
        stamp = stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
        out[i] = stamp.to_datetime64()
    return out


def validate_decisions(
    frame: pd.DataFrame, *, release_ids: Iterable[str] | None = None, line_offset: int = 2
) -> ValidatedTable:
    """Check a raw ``decisions`` table row by row.

    Parameters
    ----------
    frame : DataFrame
        The table as read (CSV cells as text).
    release_ids : iterable of str, optional
        The releases known (the ``releases`` table's ids): a decision for any other
        release is rejected. Not checked when omitted.
    line_offset : int, default 2
        Line of the first data row in the file (2 for CSV with a header, 1 for Parquet).

    Returns
    -------
    ValidatedTable
        ``data``: ``release_id`` (text), ``decided_at`` (UTC, ``datetime64[ns]``),
        ``decision``; ``rejects``: one row per broken rule (``line``, ``column``,
        ``value``, ``reason``).

    Raises
    ------
    ContractError
        When a required column is missing (the table as a whole is unusable).

    Examples
    --------
    >>> raw = pd.DataFrame({"release_id": ["R1", "R9"], "decided_at": ["2024-03-01", "2024-03-01"],
    ...                     "decision": ["adopt", "maybe"]})
    >>> table = validate_decisions(raw, release_ids=["R1", "R2"])
    >>> table.reconciliation()
    'decisions: rows read 2 = rows accepted 1 + rows rejected 1'
    >>> table.rejects[["line", "column", "reason"]].values.tolist()
    [[3, 'decision', 'not one of adopt, not_now, refer'], [3, 'release_id', 'release_id is not in the releases table']]
    """
    missing = [c for c in DECISION_COLUMNS if c not in frame.columns]
    if missing:
        raise ContractError(
            f"decisions: required column(s) {', '.join(missing)} missing (the table needs"
            f" {', '.join(DECISION_COLUMNS)})"
        )
    frame = frame.reset_index(drop=True)
    ids = _text(frame["release_id"])
    when_text = _text(frame["decided_at"])
    decision = np.array([v.lower() for v in _text(frame["decision"])], dtype=object)
    when = _timestamps(when_text)

    problems: list[tuple[np.ndarray, str, np.ndarray, str]] = []

    def add(mask: np.ndarray, column: str, values: np.ndarray, reason: str) -> None:
        if mask.any():
            problems.append((mask, column, values, reason))

    add(ids == "", "release_id", ids, _BLANK)
    if release_ids is not None:
        known = set(map(str, release_ids))
        add((ids != "") & ~np.array([i in known for i in ids], dtype=bool), "release_id", ids, _UNKNOWN_RELEASE)
    add(when_text == "", "decided_at", when_text, _BLANK)
    add((when_text != "") & np.isnat(when), "decided_at", when_text, _NOT_A_DATE)
    raw_decision = _text(frame["decision"])
    add(raw_decision == "", "decision", raw_decision, _BLANK)
    add((raw_decision != "") & ~np.isin(decision, DECISION_VALUES), "decision", raw_decision, _NOT_A_DECISION)

    bad = np.zeros(len(frame), dtype=bool)
    parts = []
    for mask, column, values, reason in problems:
        bad |= mask
        rows = np.flatnonzero(mask)
        parts.append(
            pd.DataFrame(
                {
                    "table": "decisions",
                    "line": rows + line_offset,
                    "release_id": ids[rows],
                    "column": column,
                    "value": values[rows],
                    "reason": reason,
                }
            )
        )
    rejects = (
        pd.concat(parts, ignore_index=True).sort_values(["line", "column"], kind="stable").reset_index(drop=True)
        if parts
        else pd.DataFrame({c: pd.Series(dtype=object) for c in REJECT_COLUMNS})
    )
    data = pd.DataFrame({"release_id": ids[~bad], "decided_at": when[~bad], "decision": decision[~bad]})
    return ValidatedTable(table="decisions", data=data, rejects=rejects[list(REJECT_COLUMNS)], rows_read=len(frame))


def read_decisions(path: Path, *, release_ids: Iterable[str] | None = None) -> ValidatedTable:
    """Read and validate a ``decisions`` CSV or Parquet file (see :func:`validate_decisions`).

    Raises
    ------
    ContractError
        When the file cannot be read or lacks a required column; the message names the file.
    """
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise ContractError(f"{path}: the decisions table must be a .csv or .parquet file")
    if not path.exists():
        raise ContractError(f"{path}: no such file")
    try:
        return validate_decisions(
            read_table(path), release_ids=release_ids, line_offset=2 if path.suffix.lower() == ".csv" else 1
        )
    except ContractError as exc:
        raise ContractError(f"{path}: {exc}") from None


def latest_decisions(decisions: pd.DataFrame) -> pd.DataFrame:
    """Each release's latest decision (a later decision replaces an earlier one).

    Parameters
    ----------
    decisions : DataFrame
        Accepted rows: ``release_id``, ``decided_at``, ``decision``.

    Returns
    -------
    DataFrame
        One row per release, plus ``first_decided_at``: when the release was first
        decided (the moment its expected count must come from before).

    Examples
    --------
    >>> d = pd.DataFrame({"release_id": ["R1", "R1"], "decision": ["not_now", "adopt"],
    ...                   "decided_at": pd.to_datetime(["2024-03-01", "2024-04-01"])})
    >>> latest_decisions(d)[["release_id", "decision"]].values.tolist()
    [['R1', 'adopt']]
    """
    ordered = decisions.sort_values(["release_id", "decided_at"], kind="stable")
    first = ordered.groupby("release_id", sort=False)["decided_at"].transform("min")
    out = ordered.assign(first_decided_at=first).groupby("release_id", sort=False).tail(1)
    return out.reset_index(drop=True)
