"""The audit hash chain: how a record's hash is made, and how a chain is checked.

Pure functions, no database: :mod:`riskmodel.records.audit` reads and writes the rows.
Every audit record (API key created or revoked, scoring request, batch) takes the next
position in one global sequence and a hash of its content, its table, its position and
the previous record's hash. Changing, deleting or re-ordering a record breaks the chain
from that record on, which :func:`verify_chain` reports.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

__all__ = ["GENESIS", "ChainRecord", "ChainReport", "record_hash", "verify_chain"]

#: The "previous hash" of the first record.
GENESIS = "0" * 64


def _canonical(value: Any) -> bytes:
    """A value as tagged bytes that read back the same from SQLite and PostgreSQL."""
    if value is None:
        return b"n"
    if isinstance(value, datetime):
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return b"t" + aware.isoformat().encode()
    if isinstance(value, int):
        return b"i" + str(value).encode()
    return b"s" + str(value).encode()


def record_hash(previous: str, table: str, seq: int, fields: Sequence[tuple[str, Any]]) -> str:
    """SHA-256 (hex) of one record, chained to ``previous``.

    Parameters
    ----------
    previous : str
        The previous record's hash (:data:`GENESIS` for the first).
    table : str
        The record's table.
    seq : int
        The record's position in the chain (1, 2, ...).
    fields : sequence of (name, value)
        The record's hashed columns, in a fixed order. Times count as UTC instants.

    Examples
    --------
    >>> h = record_hash(GENESIS, "batches", 1, [("batch_id", "b1"), ("rows_read", 3)])
    >>> len(h), h == record_hash(GENESIS, "batches", 1, [("batch_id", "b1"), ("rows_read", 4)])
    (64, False)
    """
    digest = hashlib.sha256(f"{previous}\n{table}\n{seq}\n".encode())
    for name, value in fields:
        data = _canonical(value)
        digest.update(f"{name}:{len(data)}:".encode())  # length-prefixed: no two records read alike
        digest.update(data)
    return digest.hexdigest()


class ChainRecord(NamedTuple):
    """One stored record as :func:`verify_chain` reads it."""

    seq: int
    table: str
    row_id: int | str
    stored_hash: str | None
    fields: tuple[tuple[str, Any], ...]


@dataclass
class ChainReport:
    """What :func:`verify_chain` found.

    Attributes
    ----------
    checked : int
        Chained records checked.
    head_seq, head_hash
        The chain head: the last position written and its hash (keep a copy elsewhere
        to notice a rewritten chain).
    unchained : dict
        Table → records written before the chain existed (reported, not an error).
    problem : str or None
        The first record that was changed, deleted or inserted out of order.
    """

    checked: int
    head_seq: int
    head_hash: str
    unchained: dict[str, int] = field(default_factory=dict)
    problem: str | None = None

    @property
    def intact(self) -> bool:
        """True when no record was changed, deleted or inserted out of order."""
        return self.problem is None

    def lines(self) -> list[str]:
        """The report in words, one line each."""
        out = [f"audit chain: {self.checked} records checked; head at position {self.head_seq} ({self.head_hash})"]
        legacy = {t: n for t, n in self.unchained.items() if n}
        if legacy:
            counts = ", ".join(f"{t} {n}" for t, n in legacy.items())
            out.append(f"unchained records written before the chain began (not checked): {counts}")
        out.append("intact" if self.intact else f"BROKEN: {self.problem}")
        return out


def _where(record: ChainRecord) -> str:
    return f"{record.table} id {record.row_id} (chain position {record.seq})"


def _check_record(record: ChainRecord, expected_seq: int, previous: str, last_ids: dict[str, int | str]) -> str | None:
    """The problem with ``record`` as the next record after position ``expected_seq - 1``, if any."""
    if record.seq < expected_seq:
        return f"{_where(record)} repeats a chain position: inserted out of order"
    if record.seq > expected_seq:
        missing = f"{expected_seq}" if record.seq == expected_seq + 1 else f"{expected_seq}..{record.seq - 1}"
        return f"chain position {missing} missing (deleted) before {_where(record)}"
    last = last_ids.get(record.table)
    if isinstance(last, int) and isinstance(record.row_id, int) and record.row_id < last:  # (key ids are not ordered)
        return f"{_where(record)} comes after id {last} in the chain: rows re-ordered"
    if record_hash(previous, record.table, record.seq, record.fields) != record.stored_hash:
        return f"{_where(record)} was changed (its content no longer matches its hash)"
    return None


def verify_chain(
    head: tuple[int, str] | None,
    records: Iterable[ChainRecord],
    *,
    unchained: dict[str, int] | None = None,
) -> ChainReport:
    """Check chained records, in position order, against each other and the chain head.

    Parameters
    ----------
    head : (seq, hash) or None
        The stored chain head; None when it is missing.
    records : iterable of ChainRecord
        Every chained record up to the head's position, sorted by position.
    unchained : dict, optional
        Table → number of records written before the chain (reported only).

    Returns
    -------
    ChainReport
        With ``problem`` naming the first record changed, deleted or out of order.

    Examples
    --------
    >>> h1 = record_hash(GENESIS, "t", 1, [("x", 1)])
    >>> verify_chain((1, h1), [ChainRecord(1, "t", 7, h1, (("x", 1),))]).intact
    True
    >>> verify_chain((1, h1), [ChainRecord(1, "t", 7, h1, (("x", 2),))]).problem
    't id 7 (chain position 1) was changed (its content no longer matches its hash)'
    """
    head_seq, head_hash = head if head is not None else (0, GENESIS)
    report = ChainReport(0, head_seq, head_hash, dict(unchained or {}))
    if head is None:
        report.problem = "the chain head is missing (deleted)"
        return report
    previous, last_ids = GENESIS, {}
    for record in records:
        if record.seq > head_seq:
            break  # written after the head was read
        report.problem = _check_record(record, report.checked + 1, previous, last_ids)
        if report.problem:
            return report
        previous, last_ids[record.table] = record.stored_hash or "", record.row_id
        report.checked += 1
    if report.checked < head_seq:
        report.problem = f"chain position {report.checked + 1}..{head_seq} missing (deleted) at the end of the chain"
    elif previous != head_hash:
        report.problem = f"the last record (chain position {head_seq}) does not match the chain head: changed"
    return report
