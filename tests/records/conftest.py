"""Fixtures of the records tests: an audit store on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("RISKMODEL_TEST_DATABASE_URL")

BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="RISKMODEL_TEST_DATABASE_URL not set")),
]


def pg_schema_url(base: str, schema: str) -> str:
    """``base`` with every connection's ``search_path`` set to ``schema``."""
    url = sa.engine.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def empty_url(request, tmp_path):
    """The URL of an empty database (a fresh SQLite file, or a fresh PostgreSQL schema dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'audit.db'}"
        return
    schema = f"riskmodel_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield pg_schema_url(PG_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(empty_url):
    """A new audit store at the newest schema."""
    from riskmodel.records.audit import AuditStore

    s = AuditStore(empty_url).create_schema()
    yield s
    s.engine.dispose()
