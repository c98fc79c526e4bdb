"""Audit database: API keys (hashes only), scoring requests and batches.

SQLAlchemy Core over a SQLite file under ``RISKMODEL_HOME`` by default, or PostgreSQL
when a URL is given (``RISKMODEL_AUDIT_URL``). Writing a record is part of answering: the
caller must treat any :class:`AuditUnavailable` as a failed request.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry

__all__ = [
    "ROLES",
    "PERMISSIONS",
    "AuditStore",
    "AuditUnavailable",
    "ApiKey",
    "hash_key",
]

ROLES: tuple[str, ...] = ("panel", "operator", "auditor")

_T = TypeVar("_T")

#: What each role may do.
PERMISSIONS: dict[str, frozenset[str]] = {
    "panel": frozenset({"score", "model"}),
    "operator": frozenset({"score", "model", "reload"}),
    "auditor": frozenset({"audit", "model"}),
}

_metadata = sa.MetaData()

api_keys = sa.Table(
    "api_keys",
    _metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("label", sa.String(200), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)

score_requests = sa.Table(
    "score_requests",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("release_ids", sa.Text, nullable=False),
    sa.Column("model_versions", sa.Text, nullable=False),
    sa.Column("outputs", sa.Text, nullable=False),
)

batches = sa.Table(
    "batches",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch_id", sa.String(64), nullable=False),
    sa.Column("operator", sa.String(200), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("input_path", sa.Text, nullable=False),
    sa.Column("input_fingerprint", sa.String(64), nullable=False),
    sa.Column("output_path", sa.Text, nullable=False),
    sa.Column("model_versions", sa.Text, nullable=False),
    sa.Column("rows_read", sa.Integer, nullable=False),
    sa.Column("rows_scored", sa.Integer, nullable=False),
    sa.Column("rows_rejected", sa.Integer, nullable=False),
)


class AuditUnavailable(RuntimeError):
    """The audit database could not be written or read."""


@dataclass(frozen=True)
class ApiKey:
    """A stored key's identity (never the key itself)."""

    key_id: str
    role: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


def hash_key(key: str) -> str:
    """SHA-256 of a key (keys are 256-bit random, so a plain hash is enough)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class AuditStore:
    """Keys, request records and batch records in one SQL database.

    Parameters
    ----------
    url : str
        SQLAlchemy URL, e.g. ``sqlite:////abs/path/audit.db`` or
        ``postgresql+psycopg://user@127.0.0.1:5432/test``.

    Examples
    --------
    >>> store = AuditStore("sqlite://")
    >>> key, key_id = store.create_key("panel")
    >>> store.authenticate(key).role
    'panel'
    """

    def __init__(self, url: str):
        self.url = url
        connect_args: dict[str, Any] = {}
        if url.startswith("postgresql"):
            connect_args = {"connect_timeout": 3}
        elif url.startswith("sqlite"):
            connect_args = {"timeout": 5}
        # A server's connection can drop (restart, failover): ping before use. A SQLite
        # file has no server, and the ping would cost a statement on every request.
        sqlite = url.startswith("sqlite")
        self.engine = sa.create_engine(url, pool_pre_ping=not sqlite, connect_args=connect_args)
        if sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._ready = False

    def create_schema(self) -> AuditStore:
        """Create the tables if absent."""
        try:
            _metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise AuditUnavailable(f"audit database {self._safe_url()} unavailable: {exc.__class__.__name__}") from exc
        self._ready = True
        return self

    def _safe_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def _run(self, statement_fn: Callable[[sa.Connection], _T]) -> _T:
        if not self._ready:
            self.create_schema()
        try:
            with self.engine.begin() as conn:
                return statement_fn(conn)
        except SQLAlchemyError as exc:
            raise AuditUnavailable(f"audit database {self._safe_url()} unavailable: {exc.__class__.__name__}") from exc

    def ping(self, *, timeout_s: float = 2.0) -> bool:
        """True when the store answers a cheap query (for the service's readiness).

        The query reads the keys table, not just ``SELECT 1``: SQLite answers that
        without its file, and would create an empty one where the file went missing.
        A PostgreSQL server gets ``timeout_s`` to answer (and, like every connection,
        3 s to connect); a SQLite read in WAL mode does not wait for writers.
        """

        def probe(conn: sa.Connection) -> None:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}"))
            conn.execute(sa.select(api_keys.c.key_id).limit(1)).all()

        try:
            self._run(probe)
        except AuditUnavailable:
            return False
        return True

    # ------------------------------------------------------------------ keys
    def create_key(self, role: str, *, label: str = "") -> tuple[str, str]:
        """Create a key for ``role``; returns ``(key, key_id)``. Only the hash is stored."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        key_id = secrets.token_hex(6)
        key = f"rk_{key_id}_{secrets.token_urlsafe(32)}"
        self._run(
            lambda c: c.execute(
                api_keys.insert().values(
                    key_id=key_id, key_hash=hash_key(key), role=role, label=label, created_at=_now()
                )
            )
        )
        return key, key_id

    def authenticate(self, key: str) -> ApiKey | None:
        """The live key matching ``key``, or None (unknown or revoked)."""
        row = self._run(
            lambda c: c.execute(
                sa.select(api_keys).where(api_keys.c.key_hash == hash_key(key), api_keys.c.revoked_at.is_(None))
            ).first()
        )
        return None if row is None else _api_key(row)

    def authenticate_many(self, keys: Iterable[str]) -> dict[str, ApiKey]:
        """The live keys among ``keys``, in one query: key → its identity (unknown ones left out)."""
        by_hash = {hash_key(k): k for k in keys}
        if not by_hash:
            return {}
        rows = self._run(
            lambda c: c.execute(
                sa.select(api_keys).where(api_keys.c.key_hash.in_(list(by_hash)), api_keys.c.revoked_at.is_(None))
            ).all()
        )
        return {by_hash[row.key_hash]: _api_key(row) for row in rows}

    def revoke_key(self, key_id: str) -> bool:
        """Revoke a key; False when no live key has that id."""
        result = self._run(
            lambda c: c.execute(
                api_keys.update()
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            )
        )
        return result.rowcount > 0

    def list_keys(self) -> list[ApiKey]:
        """Every key, live or revoked."""
        rows = self._run(lambda c: c.execute(sa.select(api_keys).order_by(api_keys.c.created_at)).all())
        return [_api_key(r) for r in rows]

    # ------------------------------------------------------------------ records
    def record_request(
        self,
        *,
        request_id: str,
        key: ApiKey,
        release_ids: list[str],
        model_versions: dict[str, str],
        outputs: list[dict[str, Any]] | str,
    ) -> None:
        """Record one answered scoring request (raises :class:`AuditUnavailable`)."""
        self.record_requests(
            [
                {
                    "request_id": request_id,
                    "key": key,
                    "release_ids": release_ids,
                    "model_versions": model_versions,
                    "outputs": outputs,
                }
            ]
        )

    def record_requests(self, records: list[dict[str, Any]]) -> None:
        """Record several answered requests in one transaction: all of them or none.

        Each record has the keyword arguments of :meth:`record_request`.
        """
        now = _now()
        rows = [
            {
                "request_id": r["request_id"],
                "key_id": r["key"].key_id,
                "role": r["key"].role,
                "requested_at": now,
                "release_ids": json.dumps(r["release_ids"]),
                "model_versions": json.dumps(r["model_versions"]),
                "outputs": r["outputs"] if isinstance(r["outputs"], str) else json.dumps(r["outputs"], default=str),
            }
            for r in records
        ]
        if rows:
            self._run(lambda c: c.execute(score_requests.insert(), rows))

    def record_batch(self, **values: Any) -> None:
        """Record one batch run (columns of the ``batches`` table)."""
        values = dict(values)
        if isinstance(values.get("model_versions"), dict):
            values["model_versions"] = json.dumps(values["model_versions"])
        self._run(lambda c: c.execute(batches.insert().values(**values)))

    def requests(self, *, limit: int = 100, release_id: str | None = None) -> list[dict[str, Any]]:
        """Most recent request records, newest first."""
        query = sa.select(score_requests).order_by(score_requests.c.id.desc()).limit(limit)
        if release_id is not None:
            # release ids are stored as a JSON list: match the quoted id, with LIKE's
            # wildcards (% and _, common in ids) taken literally
            query = query.where(score_requests.c.release_ids.contains(json.dumps(release_id), autoescape=True))
        rows = self._run(lambda c: c.execute(query).all())
        return [
            {
                "request_id": r.request_id,
                "key_id": r.key_id,
                "role": r.role,
                "requested_at": _utc(r.requested_at).isoformat(),
                "release_ids": json.loads(r.release_ids),
                "model_versions": json.loads(r.model_versions),
                "outputs": json.loads(r.outputs),
            }
            for r in rows
        ]

    def batch_records(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """Most recent batch records, newest first."""
        rows = self._run(lambda c: c.execute(sa.select(batches).order_by(batches.c.id.desc()).limit(limit)).all())
        out = []
        for r in rows:
            record = dict(r._mapping)
            record["started_at"], record["finished_at"] = _utc(record["started_at"]), _utc(record["finished_at"])
            out.append(record)
        return out

    def count_requests(self) -> int:
        """Number of recorded scoring requests."""
        return int(self._run(lambda c: c.execute(sa.select(sa.func.count()).select_from(score_requests)).scalar()))


def _utc(value: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite gives them back without a zone)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _api_key(row: sa.Row) -> ApiKey:
    return ApiKey(row.key_id, row.role, row.label, _utc(row.created_at), _utc(row.revoked_at))


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
