"""Audit store outages and recovery, on SQLite and on PostgreSQL (issue 10).

While the store cannot be written, every scoring request is answered 503 (never a 200
without its record, never a 500) and ``/readyz`` says not ready; a worker killed during
the outage restarts while the store is out. Once the store is back, every worker scores
again (200) within a bound, without the server being restarted, and every 200 has its
audit record (:func:`probes.outage_findings`).

SQLite: the database, its log and its folder become unwritable (immutable for root:
``chattr +i``). PostgreSQL (``RISKMODEL_TEST_DATABASE_URL``): the server reaches it
through a TCP proxy of the test, which cuts every connection for the outage.
"""

from __future__ import annotations

import json
import os
from functools import partial

import pytest
from probes import (
    audit_outage,
    can_make_unwritable,
    outage_findings,
    pg_behind_proxy,
    pg_request_ids,
    proxy_cut,
    sqlite_unwritable,
)
from servers import audit_rows, sqlite_path

from riskmodel.data.contract import find_table, read_table

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.timeout(300)]

WORKERS = 2  # riskmodel serve's default
RECOVERY_BOUND_S = 60.0  # a bound on waiting for recovery, not a speed check
PG_URL = os.environ.get("RISKMODEL_TEST_DATABASE_URL")


@pytest.fixture(scope="module")
def body(trained_home) -> bytes:
    rows = read_table(find_table(trained_home.data, "releases")).head(2).to_dict(orient="records")
    return json.dumps({"releases": rows}).encode()


def test_sqlite_outage_answers_503_and_recovers_without_restart(serve, trained_home, body, tmp_path_factory):
    folder = tmp_path_factory.mktemp("audit")  # the database alone: the folder becomes unwritable too
    if not can_make_unwritable(folder):
        pytest.skip("cannot make a file unwritable here (root without chattr +i)")
    server = serve(trained_home.env(), audit_url=f"sqlite:///{folder / 'audit.db'}")

    outage = partial(sqlite_unwritable, sqlite_path(server.audit_url))
    run = audit_outage(server, body, outage, workers=WORKERS, timeout=RECOVERY_BOUND_S)

    assert server.process.poll() is None, "the server stopped"
    findings = outage_findings(run, [row["request_id"] for row in audit_rows(server.audit_url)])
    assert not findings, "\n".join(findings) + f"\n\nserver log:\n{server.log_tail(20)}"


@pytest.fixture
def pg_proxy_url():
    """A schema of its own in the test database, reached through a :class:`probes.TcpProxy`."""
    if not PG_URL:
        pytest.skip("RISKMODEL_TEST_DATABASE_URL not set")
    with pg_behind_proxy(PG_URL) as (url, schema, proxy):
        yield url, schema, proxy


def test_postgresql_outage_answers_503_and_recovers_without_restart(serve, trained_home, body, pg_proxy_url):
    url, schema, proxy = pg_proxy_url
    server = serve(trained_home.env(), audit_url=url)

    run = audit_outage(server, body, lambda: proxy_cut(proxy), workers=WORKERS, requests=6, timeout=RECOVERY_BOUND_S)

    assert server.process.poll() is None, "the server stopped"
    findings = outage_findings(run, pg_request_ids(PG_URL, schema))
    assert not findings, "\n".join(findings) + f"\n\nserver log:\n{server.log_tail(20)}"
