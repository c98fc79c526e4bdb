"""Audit database: API keys (hashes only), scoring requests, batches, the panel's decisions and sessions.

SQLAlchemy Core over a SQLite file under ``RISKMODEL_HOME`` by default, or PostgreSQL
when a URL is given (``RISKMODEL_AUDIT_URL``). Writing a record is part of answering: the
caller must treat any :class:`AuditUnavailable` as a failed request.

Every record (key created, key revoked, scoring request, batch) is chained: it takes the
next position of one global sequence and a hash over its content and the previous
record's hash (:mod:`riskmodel.records._chain`), written in the same transaction as the
chain head, which serialises writers across processes (``BEGIN IMMEDIATE`` on SQLite,
``SELECT ... FOR UPDATE`` on PostgreSQL). :meth:`AuditStore.verify` checks the chain.

A SQLite file is created readable by its owner only (0600); SQLite gives its ``-wal`` and
``-shm`` files the same mode.

The schema is managed by Alembic (:mod:`riskmodel.records.migrations`). A new database
is created at the newest revision; any other database must be at that revision, or
:meth:`AuditStore.create_schema` refuses it with :class:`SchemaOutdated`, naming
``riskmodel db upgrade`` (:meth:`AuditStore.upgrade`), which upgrades it in place and
keeps its rows.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from riskmodel.records._chain import ChainRecord, ChainReport, record_hash, verify_chain

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry

__all__ = [
    "ROLES",
    "PERMISSIONS",
    "AuditStore",
    "AuditUnavailable",
    "SchemaOutdated",
    "ApiKey",
    "ChainReport",
    "hash_key",
]

ROLES: tuple[str, ...] = ("panel", "operator", "auditor")

_T = TypeVar("_T")

#: What each role may do: ``decide`` records a panel decision, ``decisions`` reads them,
#: ``export`` downloads the decisions log (CSV).
PERMISSIONS: dict[str, frozenset[str]] = {
    "panel": frozenset({"score", "model", "decide", "decisions"}),
    "operator": frozenset({"score", "model", "reload", "metrics", "decisions", "export"}),
    "auditor": frozenset({"audit", "model", "decisions", "export"}),
}

#: The tables at the newest migration (:mod:`riskmodel.records.migrations`).
metadata = sa.MetaData()
_metadata = metadata


def _chain_columns() -> list[sa.Column]:
    """A chained record's position in the one global sequence, and its hash (NULL: written before the chain)."""
    return [sa.Column("chain_seq", sa.Integer, nullable=True), sa.Column("chain_hash", sa.String(64), nullable=True)]


api_keys = sa.Table(
    "api_keys",
    _metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("label", sa.String(200), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    *_chain_columns(),
)

key_revocations = sa.Table(
    "key_revocations",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
    *_chain_columns(),
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
    *_chain_columns(),
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
    # SHA-256 of the published output; NULL for batches recorded before it was kept
    sa.Column("output_fingerprint", sa.String(64), nullable=True),
    *_chain_columns(),
)

#: Operators' decisions other than scoring (e.g. ``champion_set``: a champion set by hand), chained.
events = sa.Table(
    "events",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    *_chain_columns(),
)

#: The panel's decisions: append-only (a change is a new row naming the one it
#: ``replaces``), chained. ``scores_seen`` and ``model_versions`` are JSON text.
decisions = sa.Table(
    "decisions",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("decision_id", sa.String(32), nullable=False, unique=True),
    sa.Column("release_id", sa.String(200), nullable=False, index=True),
    sa.Column("person_id", sa.String(200), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("reason_code", sa.String(64), nullable=True),
    sa.Column("reason_text", sa.Text, nullable=False),
    sa.Column("replaces", sa.String(32), nullable=True),
    sa.Column("decided_by", sa.String(32), nullable=False),
    sa.Column("decided_by_label", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("scores_seen", sa.Text, nullable=False),
    sa.Column("model_versions", sa.Text, nullable=False),
    sa.Column("month", sa.String(7), nullable=True, index=True),
    sa.Column("override", sa.Boolean, nullable=False),
    *_chain_columns(),
)

#: Signed-in page sessions (not chained: ``last_seen_at`` moves). Only the session id's
#: hash is kept; the CSRF token is useless without the session id.
sessions = sa.Table(
    "sessions",
    _metadata,
    sa.Column("session_hash", sa.String(64), primary_key=True),
    sa.Column("key_id", sa.String(32), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("idle_timeout_s", sa.Integer, nullable=False),
    sa.Column("absolute_timeout_s", sa.Integer, nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
)

#: The last chain position written and its hash; ``legacy`` counts each table's records
#: written before the chain began (JSON), the only ones allowed to have no position.
chain_head = sa.Table(
    "audit_chain_head",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("legacy", sa.Text, nullable=False),
)

#: The chained tables and the columns each record's hash covers (``api_keys.revoked_at``
#: changes on revocation, which is its own chained record in ``key_revocations``).
_CHAINED: dict[str, tuple[str, ...]] = {
    "api_keys": ("key_id", "key_hash", "role", "label", "created_at"),
    "key_revocations": ("key_id", "revoked_at"),
    "score_requests": ("request_id", "key_id", "role", "requested_at", "release_ids", "model_versions", "outputs"),
    "batches": tuple(c.name for c in batches.columns if c.name not in ("id", "chain_seq", "chain_hash")),
    "events": ("kind", "actor", "at", "details"),
    "decisions": tuple(c.name for c in decisions.columns if c.name not in ("id", "chain_seq", "chain_hash")),
}
_TABLES = {t.name: t for t in (api_keys, key_revocations, score_requests, batches, events, decisions)}
for _table in _TABLES.values():
    sa.Index(f"ix_{_table.name}_chain_seq", _table.c.chain_seq, unique=True)

_BATCH_FIELDS = frozenset(_CHAINED["batches"])
_BATCH_REQUIRED = frozenset(c.name for c in batches.columns if c.name in _BATCH_FIELDS and not c.nullable)


class AuditUnavailable(RuntimeError):
    """The audit database could not be written or read."""


class SchemaOutdated(AuditUnavailable):
    """The audit database is not at this version's schema: ``riskmodel db upgrade`` upgrades it."""


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


def _as_utc(value: Any) -> Any:
    """An aware time converted to UTC (SQLite keeps the wall time and drops the zone); naive ones taken as UTC."""
    if not isinstance(value, datetime):
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _read_only(exc: DBAPIError) -> bool:
    """True for a write refused because the connection is read-only (nothing was written)."""
    if getattr(exc.orig, "sqlite_errorname", "").startswith("SQLITE_READONLY"):
        return True
    return getattr(exc.orig, "sqlstate", None) == "25006"  # PostgreSQL: read_only_sql_transaction


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
    >>> store.verify().intact
    True
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
        if sqlite:  # (on PostgreSQL the chain head's row lock, FOR UPDATE, serialises writers)
            _sqlite_events(self.engine, sa.engine.make_url(url).database)
        self._ready = False

    def create_schema(self) -> AuditStore:
        """Create the schema in an empty database (Alembic, newest revision); check it in any other.

        Raises
        ------
        SchemaOutdated
            When the database holds tables of an earlier version (no Alembic revision,
            or an older one) or of a newer one: the message names ``riskmodel db upgrade``.
        AuditUnavailable
            When the database cannot be reached.
        """
        try:
            self._transaction(lambda c: _create_schema(c, self._safe_url()), write=True, commit=True)
        except SchemaOutdated:
            self.engine.dispose()
            raise
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise self._unavailable(exc) from exc
        self._ready = True
        return self

    def upgrade(self) -> tuple[str | None, str]:
        """Upgrade the database in place to this version's schema (``riskmodel db upgrade``), keeping its rows.

        A database made before migrations (no ``alembic_version`` table) is adopted by
        the baseline revision. Returns the revisions before and after (``None``: none
        recorded). Several processes may call it at once: they take turns.

        Raises
        ------
        AuditUnavailable
            When the database cannot be reached or the upgrade fails (nothing is changed:
            it runs in one transaction).
        """
        try:
            before = self._transaction(_upgrade, write=True, commit=True)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise self._unavailable(exc) from exc
        self._ready = True
        return before, head_revision()

    def revision(self) -> tuple[str | None, str]:
        """The database's Alembic revision (``None``: none recorded) and this version's (``riskmodel db current``)."""
        try:
            current = self._transaction(_current_revision, write=False, commit=False)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise self._unavailable(exc) from exc
        return current, head_revision()

    def _safe_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def _unavailable(self, exc: Exception) -> AuditUnavailable:
        return AuditUnavailable(f"audit database {self._safe_url()} unavailable: {exc.__class__.__name__}")

    def _transaction(self, statement_fn: Callable[[sa.Connection], _T], *, write: bool, commit: bool) -> _T:
        with self.engine.connect() as conn:
            # SQLite: a writer takes the write lock first (BEGIN IMMEDIATE), so writers of
            # the chain take turns, across processes too
            conn.execution_options(riskmodel_write=write)
            with conn.begin() as transaction:
                result = statement_fn(conn)
                if not commit:
                    transaction.rollback()
            return result

    def _run(self, statement_fn: Callable[[sa.Connection], _T], *, write: bool = False, commit: bool = True) -> _T:
        if not self._ready:
            self.create_schema()
        for attempt in (1, 2):
            try:
                return self._transaction(statement_fn, write=write, commit=commit)
            except DBAPIError as exc:
                # A SQLite connection opened while the file was unwritable stays read-only
                # after the file is writable again, and a PostgreSQL session keeps the
                # read-only default it started with: drop every pooled connection, so the
                # next attempt reconnects. A read-only refusal wrote nothing: retry once.
                self.engine.dispose()
                if attempt == 1 and _read_only(exc):
                    continue
                raise self._unavailable(exc) from exc
            except SQLAlchemyError as exc:
                raise self._unavailable(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def ping(self, *, timeout_s: float = 2.0) -> bool:
        """True when the store can be written (for the service's readiness).

        A read is not enough: a SQLite connection opened while the file was unwritable
        reads but never writes, and SQLite answers ``SELECT 1`` without its file. So the
        probe writes (the chain head, to itself) in a transaction it rolls back; a
        failure drops the pooled connections, so the next probe or request reconnects.
        A PostgreSQL server gets ``timeout_s`` to answer (and, like every connection,
        3 s to connect); on SQLite the probe waits for a writer's lock as a write does
        (writes take milliseconds; at most the 5 s busy timeout).
        """

        def probe(conn: sa.Connection) -> None:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}"))
            conn.execute(chain_head.update().where(chain_head.c.id == 1).values(seq=chain_head.c.seq))

        try:
            self._run(probe, write=True, commit=False)
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
        row = {"key_id": key_id, "key_hash": hash_key(key), "role": role, "label": label, "created_at": _now()}
        self._run(lambda c: _append(c, api_keys, [row]), write=True)
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
        """Revoke a key (and record the revocation); False when no live key has that id."""

        def revoke(conn: sa.Connection) -> bool:
            now = _now()
            live = api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None)
            if conn.execute(api_keys.update().where(*live).values(revoked_at=now)).rowcount == 0:
                return False
            _append(conn, key_revocations, [{"key_id": key_id, "revoked_at": now}])
            return True

        return self._run(revoke, write=True)

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
            self._run(lambda c: _append(c, score_requests, rows), write=True)

    def record_batch(self, **values: Any) -> None:
        """Record one batch run (columns of the ``batches`` table).

        The output need not exist yet: batch scoring records the run, with the output's
        path and fingerprint, before it publishes the file. ``output_fingerprint`` may be
        left out (NULL). Times are stored as UTC.

        Raises
        ------
        TypeError
            For an unknown column or a missing required one.
        AuditUnavailable
            When the record could not be written.
        """
        unknown, missing = set(values) - _BATCH_FIELDS, _BATCH_REQUIRED - set(values)
        if unknown or missing:
            raise TypeError(f"record_batch: unknown columns {sorted(unknown)}, missing columns {sorted(missing)}")
        row = {name: _as_utc(value) for name, value in values.items()}
        if isinstance(row.get("model_versions"), dict):
            row["model_versions"] = json.dumps(row["model_versions"])
        self._run(lambda c: _append(c, batches, [row]), write=True)

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

    def record_event(self, kind: str, *, actor: str, details: dict[str, Any]) -> None:
        """Record an operator's decision, chained (raises :class:`AuditUnavailable`); ``details`` as JSON."""
        row = {"kind": kind, "actor": actor, "at": _now(), "details": json.dumps(details, default=str)}
        self._run(lambda c: _append(c, events, [row]), write=True)

    def events(self, *, kind: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Most recent events (of ``kind``, when given), newest first."""
        query = sa.select(events).order_by(events.c.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(events.c.kind == kind)
        rows = self._run(lambda c: c.execute(query).all())
        return [
            {"kind": r.kind, "actor": r.actor, "at": _utc(r.at).isoformat(), "details": json.loads(r.details)}
            for r in rows
        ]

    def count_requests(self) -> int:
        """Number of recorded scoring requests."""
        return int(self._run(lambda c: c.execute(sa.select(sa.func.count()).select_from(score_requests)).scalar()))

    # ------------------------------------------------------------------ chain
    def verify(self) -> ChainReport:
        """Check the hash chain of every record: the first one changed, deleted or out of order.

        Records written before the chain began (an older database) are counted as
        unchained, not checked; more of them than when the chain began is an error. A
        revoked key must match its chained revocation record.

        Raises
        ------
        AuditUnavailable
            When the database cannot be read.
        """
        return self._run(_verify)


_MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config(conn: sa.Connection | None = None) -> Any:
    """Alembic's configuration, made in code: the package's migrations, run on ``conn``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = conn
    return config


@functools.cache
def head_revision() -> str:
    """The newest Alembic revision: the schema this version writes."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def _current_revision(conn: sa.Connection) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _lock_schema(conn: sa.Connection) -> None:
    """One process at a time changes or checks the schema (SQLite: the writer's ``BEGIN IMMEDIATE``)."""
    if conn.dialect.name == "postgresql":  # several workers start at once
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(7310240110)"))


def _upgrade(conn: sa.Connection) -> str | None:
    """Run the migrations up to the newest, in the caller's transaction; the revision before."""
    from alembic import command

    _lock_schema(conn)
    before = _current_revision(conn)
    command.upgrade(_alembic_config(conn), "head")
    return before


def _create_schema(conn: sa.Connection, where: str) -> None:
    _lock_schema(conn)
    current, head = _current_revision(conn), head_revision()
    if current == head:
        return
    if current is None and not set(sa.inspect(conn).get_table_names()) & set(_metadata.tables):
        _upgrade(conn)  # an empty database: created at the newest revision
        return
    made_by = "a newer version of riskmodel" if _unknown_revision(current) else "an earlier version of riskmodel"
    raise SchemaOutdated(
        f"audit database {where} was made by {made_by} (schema revision {current or 'before migrations'},"
        f" this version needs {head}): run `riskmodel db upgrade` to upgrade it in place (its records are kept)"
    )


def _unknown_revision(revision: str | None) -> bool:
    """True for a revision this version does not know (written by a newer version)."""
    if revision is None:
        return False
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(_alembic_config()).get_revision(revision) is None
    except CommandError:
        return True


def _count(conn: sa.Connection, table: sa.Table, *where: Any) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar())


# built once: they run with every record written
_HEAD_FOR_UPDATE = sa.select(chain_head.c.seq, chain_head.c.hash).where(chain_head.c.id == 1).with_for_update()
_HEAD_MOVE = (
    chain_head.update().where(chain_head.c.id == 1).values(seq=sa.bindparam("new_seq"), hash=sa.bindparam("new_hash"))
)


def _append(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` at the next positions of the chain and move its head (the head's lock serialises writers)."""
    head = conn.execute(_HEAD_FOR_UPDATE).first()
    if head is None:
        raise AuditUnavailable("the audit chain head is missing: run `riskmodel audit verify`")
    seq, previous = head
    columns = _CHAINED[table.name]
    chained = []
    for row in rows:
        seq += 1
        row = {name: _as_utc(value) for name, value in row.items()}
        previous = record_hash(previous, table.name, seq, [(c, row.get(c)) for c in columns])
        chained.append({**row, "chain_seq": seq, "chain_hash": previous})
    conn.execute(table.insert(), chained)
    conn.execute(_HEAD_MOVE, {"new_seq": seq, "new_hash": previous})


def _chained_query(table: sa.Table, upto: int) -> sa.Select:
    columns = _CHAINED[table.name]
    row_id = table.c.id if "id" in table.c else table.c.key_id
    return (
        sa.select(table.c.chain_seq, row_id.label("row_id"), table.c.chain_hash, *(table.c[c] for c in columns))
        .where(table.c.chain_seq.is_not(None), table.c.chain_seq <= upto)
        .order_by(table.c.chain_seq)
        .execution_options(yield_per=500)
    )


def _chain_records(table: sa.Table, result: sa.Result) -> Iterator[ChainRecord]:
    columns = _CHAINED[table.name]
    for r in result:
        yield ChainRecord(r.chain_seq, table.name, r.row_id, r.chain_hash, tuple((c, r._mapping[c]) for c in columns))


def _unchained_problem(conn: sa.Connection, legacy: dict[str, int], unchained: dict[str, int]) -> str | None:
    """An unchained record that is not one of those written before the chain began."""
    for name, table in _TABLES.items():
        if unchained[name] > legacy.get(name, 0):
            return (
                f"{name} has {unchained[name]} unchained records, {legacy.get(name, 0)} when the chain began: inserted"
            )
        if "id" not in table.c:
            continue
        first_chained = sa.select(sa.func.min(table.c.id)).where(table.c.chain_seq.is_not(None)).scalar_subquery()
        late = conn.execute(
            sa.select(sa.func.min(table.c.id)).where(table.c.chain_seq.is_(None), table.c.id > first_chained)
        ).scalar()
        if late is not None:
            return f"{name} id {late} has no chain position but follows chained records: inserted out of order"
    return None


def _revocation_problem(conn: sa.Connection) -> str | None:
    """A chained key whose ``revoked_at`` differs from its revocation record (revoked or restored by hand)."""
    revoked = dict(conn.execute(sa.select(key_revocations.c.key_id, key_revocations.c.revoked_at)).all())
    keys = conn.execute(sa.select(api_keys.c.key_id, api_keys.c.revoked_at).where(api_keys.c.chain_seq.is_not(None)))
    for key_id, revoked_at in keys:
        recorded = revoked.get(key_id)
        if _as_utc(revoked_at) != _as_utc(recorded):
            return f"api_keys key {key_id}: revoked_at does not match its revocation record: changed"
    return None


def _verify(conn: sa.Connection) -> ChainReport:
    head_row = conn.execute(sa.select(chain_head).where(chain_head.c.id == 1)).first()
    unchained = {name: _count(conn, t, t.c.chain_seq.is_(None)) for name, t in _TABLES.items()}
    head = None if head_row is None else (head_row.seq, head_row.hash)
    upto = head_row.seq if head_row is not None else 0
    results = {t: conn.execute(_chained_query(t, upto)) for t in _TABLES.values()}  # streamed, merged by position
    try:
        records = heapq.merge(*(_chain_records(t, r) for t, r in results.items()), key=lambda r: r.seq)
        report = verify_chain(head, records, unchained=unchained)
    finally:
        for result in results.values():
            result.close()
    if report.intact and head_row is not None:
        report.problem = _unchained_problem(conn, json.loads(head_row.legacy), unchained) or _revocation_problem(conn)
    return report


def _utc(value: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite gives them back without a zone)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _api_key(row: sa.Row) -> ApiKey:
    return ApiKey(row.key_id, row.role, row.label, _utc(row.created_at), _utc(row.revoked_at))


def _sqlite_events(engine: sa.Engine, database: str | None) -> None:
    """Owner-only file, WAL, and transactions begun by SQLAlchemy (``BEGIN IMMEDIATE`` for writers)."""
    path = None if not database or database == ":memory:" or database.startswith("file:") else database

    def create_private(_dialect: Any, _record: ConnectionPoolEntry, _cargs: Any, _cparams: Any) -> None:
        if path is not None and not os.path.exists(path):
            try:  # before SQLite makes it 0644; its -wal and -shm files copy this mode
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            except OSError:
                pass  # a missing folder: SQLite's own error says so

    sa.event.listen(engine, "do_connect", create_private)
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    sa.event.listen(engine, "begin", _sqlite_begin)


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    dbapi_connection.isolation_level = None  # the driver begins nothing itself: _sqlite_begin does
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("riskmodel_write") else "BEGIN")
