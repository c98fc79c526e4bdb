"""The audit store: API keys (hashes only), request and batch records.

Runs on SQLite, and on PostgreSQL too when ``RISKMODEL_TEST_DATABASE_URL`` is set (each
test in its own schema, dropped afterwards, so runs never collide).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from riskmodel.records.audit import PERMISSIONS, ROLES, ApiKey, AuditStore, AuditUnavailable, hash_key

PG_URL = os.environ.get("RISKMODEL_TEST_DATABASE_URL")


def pg_schema_url(base: str, schema: str) -> str:
    """``base`` with every connection's ``search_path`` set to ``schema``."""
    url = sa.engine.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="RISKMODEL_TEST_DATABASE_URL not set")),
    ]
)
def store(request, tmp_path):
    """A fresh, empty audit store on each backend."""
    if request.param == "sqlite":
        s = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}").create_schema()
        yield s
        s.engine.dispose()
        return
    schema = f"riskmodel_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    s = AuditStore(pg_schema_url(PG_URL, schema)).create_schema()
    try:
        yield s
    finally:
        s.engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def raw_rows(store: AuditStore, table: str) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(f"SELECT * FROM {table}"))]


def panel_key(store):
    key, _ = store.create_key("panel", label="panel member")
    return store.authenticate(key)


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize("role", ROLES)
def test_a_created_key_authenticates_with_its_role(store, role):
    key, key_id = store.create_key(role, label=f"{role} key")
    found = store.authenticate(key)
    assert found is not None
    assert (found.key_id, found.role, found.label, found.revoked_at) == (key_id, role, f"{role} key", None)
    assert found.created_at.tzinfo is not None
    assert abs(found.created_at - datetime.now(UTC)) < timedelta(minutes=5)


def test_keys_are_random_and_distinct(store):
    made = [store.create_key("panel") for _ in range(5)]
    assert len({k for k, _ in made}) == 5 and len({i for _, i in made}) == 5
    assert all(len(k) > 40 and i in k for k, i in made)


def test_unknown_and_near_miss_keys_do_not_authenticate(store):
    key, _ = store.create_key("operator")
    assert store.authenticate(key + "x") is None
    assert store.authenticate(key[:-1]) is None
    assert store.authenticate("") is None
    assert store.authenticate(hash_key(key)) is None  # the stored hash is not a key


def test_authenticate_many_finds_live_keys_in_one_call(store):
    a, a_id = store.create_key("panel")
    b, b_id = store.create_key("auditor")
    c, c_id = store.create_key("operator")
    store.revoke_key(c_id)
    found = store.authenticate_many([a, b, c, "rk_000000000000_unknown", a])
    assert {k: v.key_id for k, v in found.items()} == {a: a_id, b: b_id}
    assert found[b].role == "auditor"
    assert store.authenticate_many([]) == {}


def test_only_the_hash_is_stored(store):
    key, key_id = store.create_key("auditor", label="audit team")
    (row,) = raw_rows(store, "api_keys")
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    secret = key.split("_", 2)[2]
    for value in row.values():
        assert key not in str(value) and secret not in str(value)


def test_sqlite_file_holds_no_plaintext_key(tmp_path):
    path = tmp_path / "audit.db"
    store = AuditStore(f"sqlite:///{path}").create_schema()
    key, _ = store.create_key("panel")
    store.engine.dispose()  # checkpoints the WAL into the file
    files = [p for p in tmp_path.iterdir() if p.name.startswith("audit.db")]
    assert files
    for p in files:
        data = p.read_bytes()
        assert key.encode() not in data and key.split("_", 2)[2].encode() not in data
    assert hash_key(key).encode() in path.read_bytes()


def test_revoke(store):
    key, key_id = store.create_key("panel")
    other, _ = store.create_key("panel")
    assert store.revoke_key(key_id) is True
    assert store.authenticate(key) is None
    assert store.authenticate(other) is not None
    assert store.revoke_key(key_id) is False  # already revoked
    assert store.revoke_key("no-such-id") is False


def test_list_keys_shows_live_and_revoked(store):
    a, a_id = store.create_key("panel", label="a")
    b, b_id = store.create_key("operator", label="b")
    store.revoke_key(a_id)
    keys = {k.key_id: k for k in store.list_keys()}
    assert set(keys) == {a_id, b_id}
    assert keys[a_id].revoked_at is not None and keys[a_id].revoked_at.tzinfo is not None
    assert keys[b_id].revoked_at is None and keys[b_id].role == "operator" and keys[b_id].label == "b"


def test_unknown_role_is_refused(store):
    with pytest.raises(ValueError, match="role must be one of"):
        store.create_key("admin")
    assert store.list_keys() == []


def test_permissions():
    assert PERMISSIONS["panel"] == {"score", "model", "decide", "decisions"}
    assert PERMISSIONS["operator"] == {"score", "model", "reload", "metrics", "decisions", "export"}
    assert PERMISSIONS["auditor"] == {"audit", "model", "decisions", "export"}
    assert set(PERMISSIONS) == set(ROLES)


# --------------------------------------------------------------------------- requests


def test_record_and_read_requests(store):
    key = panel_key(store)
    outputs = [{"release_id": "r1", "reoffence_probability": 0.5, "top_factors": []}]
    store.record_request(
        request_id="req-1",
        key=key,
        release_ids=["r1"],
        model_versions={"reoffence": "riskmodel-reoffence/1"},
        outputs=outputs,
    )
    store.record_request(
        request_id="req-2",
        key=key,
        release_ids=["r2", "r3"],
        model_versions={"reoffence": "riskmodel-reoffence/2"},
        outputs=json.dumps([{"release_id": "r2"}, {"release_id": "r3"}]),
    )
    assert store.count_requests() == 2
    newest, oldest = store.requests()
    assert newest["request_id"] == "req-2" and newest["release_ids"] == ["r2", "r3"]
    assert newest["outputs"] == [{"release_id": "r2"}, {"release_id": "r3"}]
    assert oldest["outputs"] == outputs
    assert oldest["key_id"] == key.key_id and oldest["role"] == "panel"
    assert oldest["model_versions"] == {"reoffence": "riskmodel-reoffence/1"}
    assert datetime.fromisoformat(oldest["requested_at"]).tzinfo is not None
    assert [r["request_id"] for r in store.requests(limit=1)] == ["req-2"]


def test_requests_by_release_id_match_whole_ids_only(store):
    key = panel_key(store)
    for request_id, ids in (("a", ["r_1"]), ("b", ["rX1"]), ("c", ["r_10", "r%1"]), ("d", ["r_1", "r2"])):
        store.record_request(request_id=request_id, key=key, release_ids=ids, model_versions={}, outputs=[])
    assert [r["request_id"] for r in store.requests(release_id="r_1")] == ["d", "a"]
    assert [r["request_id"] for r in store.requests(release_id="r%1")] == ["c"]
    assert store.requests(release_id="r") == []


def test_an_unwritable_database_raises_audit_unavailable(tmp_path):
    store = AuditStore(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'audit.db'}")
    with pytest.raises(AuditUnavailable, match="unavailable"):
        store.create_schema()
    with pytest.raises(AuditUnavailable):
        store.authenticate("rk_x")


def test_an_unreachable_server_raises_audit_unavailable_without_the_password():
    store = AuditStore("postgresql+psycopg://riskmodel:s3cret@127.0.0.1:1/audit")
    with pytest.raises(AuditUnavailable) as raised:
        store.record_request(
            request_id="x",
            key=ApiKey("k", "panel", "", datetime.now(UTC), None),
            release_ids=[],
            model_versions={},
            outputs=[],
        )
    assert "s3cret" not in str(raised.value)
    store.engine.dispose()


def test_schema_creation_is_idempotent_and_shared(store):
    key, _ = store.create_key("panel")
    again = AuditStore(store.url).create_schema()
    assert again.authenticate(key).role == "panel"
    again.engine.dispose()


# --------------------------------------------------------------------------- batches


def test_record_and_read_batches(store):
    started = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    for i in range(2):
        store.record_batch(
            batch_id=f"b{i}",
            operator="operator-1",
            started_at=started + timedelta(hours=i),
            finished_at=started + timedelta(hours=i, minutes=3),
            input_path=f"/data/releases-{i}.csv",
            input_fingerprint="f" * 64,
            output_path=f"/reports/scores-{i}.csv",
            model_versions={"reoffence": "riskmodel-reoffence/1"},
            rows_read=10,
            rows_scored=9,
            rows_rejected=1,
        )
    newest, oldest = store.batch_records()
    assert (newest["batch_id"], oldest["batch_id"]) == ("b1", "b0")
    assert json.loads(oldest["model_versions"]) == {"reoffence": "riskmodel-reoffence/1"}
    assert oldest["started_at"] == started and oldest["finished_at"] == started + timedelta(minutes=3)
    assert (oldest["rows_read"], oldest["rows_scored"], oldest["rows_rejected"]) == (10, 9, 1)
    assert len(store.batch_records(limit=1)) == 1
