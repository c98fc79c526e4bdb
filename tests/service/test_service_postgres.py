"""The service with its audit trail in PostgreSQL (when ``RISKMODEL_TEST_DATABASE_URL`` is set).

The server's connections use a schema of their own (``search_path``), dropped at the end,
so that runs sharing the database never see each other's keys or records.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest
import sqlalchemy as sa
from servers import serve  # noqa: F401  (a fixture)

PG_URL = os.environ.get("RISKMODEL_TEST_DATABASE_URL")

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(not PG_URL, reason="RISKMODEL_TEST_DATABASE_URL not set"),
]


@pytest.fixture(scope="module")
def pg_audit_url():
    schema = f"riskmodel_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.engine.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False), schema
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_scoring_is_audited_in_postgresql(serve, trained_home, pg_audit_url):  # noqa: F811
    url, schema = pg_audit_url
    server = serve(trained_home.env(), command="bentoml", audit_url=url)
    from riskmodel.data.contract import find_table, read_table

    rows = read_table(find_table(trained_home.data, "releases")).iloc[:3]
    engine = sa.create_engine(PG_URL)

    def records():
        with engine.connect() as conn:
            return conn.execute(sa.text(f'SELECT * FROM "{schema}".score_requests ORDER BY id')).mappings().all()

    try:
        with server.client("panel") as client:
            response = client.post("/score", json={"releases": rows.to_dict(orient="records")})
            assert response.status_code == 200, response.text
            refused = client.post("/score", json={"releases": [{**rows.iloc[0].to_dict(), "sex": "X"}]})
            assert refused.status_code == 422
        with server.client(key="rk_000000000000_wrong") as client:
            assert client.post("/score", json={"releases": rows.to_dict(orient="records")}).status_code == 401
        (record,) = records()
        assert record["key_id"] == server.key_ids["panel"] and record["role"] == "panel"
        assert json.loads(record["release_ids"]) == list(rows["release_id"])
        assert json.loads(record["model_versions"]) == {
            t: f"riskmodel-{t}/{v}" for t, v in trained_home.versions.items()
        }
        assert json.loads(record["outputs"]) == response.json()
        with server.client("auditor") as client:
            (audited,) = client.get("/audit").json()
        assert audited["request_id"] == record["request_id"] == response.headers["X-Request-Id"]
    finally:
        engine.dispose()
