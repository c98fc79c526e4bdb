"""Baseline: the audit schema of the version before migrations (keys, requests, batches, events, the chain).

Revision ID: 0001
Revises:
Create Date: 2026-12-02

A new database gets these tables. A database made by an earlier version (no
``alembic_version`` table) is adopted as it is: missing tables are created, and the
columns earlier versions lacked (the chain's ``chain_seq``/``chain_hash``, a batch's
``output_fingerprint``; all nullable) are added, so its rows are kept. The chain head
is started when absent, counting each table's records written before the chain began.

The tables are written out here, not imported from :mod:`riskmodel.records.audit`: a
revision describes the schema as it was, whatever the code says later.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_GENESIS = "0" * 64


def _chain_columns() -> list[sa.Column]:
    return [sa.Column("chain_seq", sa.Integer, nullable=True), sa.Column("chain_hash", sa.String(64), nullable=True)]


_metadata = sa.MetaData()
_TABLES = [
    sa.Table(
        "api_keys",
        _metadata,
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("label", sa.String(200), nullable=False, default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        *_chain_columns(),
    ),
    sa.Table(
        "key_revocations",
        _metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        *_chain_columns(),
    ),
    sa.Table(
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
    ),
    sa.Table(
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
        sa.Column("output_fingerprint", sa.String(64), nullable=True),
        *_chain_columns(),
    ),
    sa.Table(
        "events",
        _metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        *_chain_columns(),
    ),
]
_HEAD = sa.Table(
    "audit_chain_head",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("legacy", sa.Text, nullable=False),
)
for _table in _TABLES:
    sa.Index(f"ix_{_table.name}_chain_seq", _table.c.chain_seq, unique=True)

#: Nullable columns that databases of earlier versions may lack.
_ADDED = {
    "api_keys": ("chain_seq", "chain_hash"),
    "score_requests": ("chain_seq", "chain_hash"),
    "batches": ("output_fingerprint", "chain_seq", "chain_hash"),
}


def upgrade() -> None:
    conn = op.get_bind()
    present = set(sa.inspect(conn).get_table_names())
    for table in [*_TABLES, _HEAD]:
        if table.name not in present:
            table.create(conn)
    inspector = sa.inspect(conn)
    for name, added in _ADDED.items():
        columns = {c["name"] for c in inspector.get_columns(name)}
        table = _metadata.tables[name]
        for column in added:
            if column not in columns:
                op.add_column(name, sa.Column(column, table.c[column].type, nullable=True))
    for table in _TABLES:
        for index in table.indexes:
            index.create(conn, checkfirst=True)
    if conn.execute(sa.select(_HEAD.c.id)).first() is None:
        legacy = {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.chain_seq.is_(None))).scalar())
            for t in _TABLES
        }
        conn.execute(_HEAD.insert().values(id=1, seq=0, hash=_GENESIS, legacy=json.dumps(legacy)))


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone: restore a backup of the database instead")
