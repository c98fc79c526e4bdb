"""API keys and roles (:mod:`riskmodel.service.auth`) and the audit store's readiness ping.

No trained home and no server: a SQLite audit store in a temporary folder.
"""

from __future__ import annotations

import pytest

from riskmodel.records.audit import PERMISSIONS, ROLES, AuditStore
from riskmodel.service.auth import authorize, authorize_many, bearer_token, permit
from riskmodel.service.errors import ServiceError

#: Nothing listens on port 1: a connection is refused at once.
UNREACHABLE_POSTGRES = "postgresql+psycopg://riskmodel@127.0.0.1:1/riskmodel_audit"


@pytest.fixture
def store(tmp_path):
    s = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}").create_schema()
    yield s
    s.engine.dispose()


@pytest.fixture
def keys(store) -> dict[str, str]:
    """One live key per role, as ``Authorization`` headers."""
    return {role: f"Bearer {store.create_key(role)[0]}" for role in ROLES}


@pytest.fixture
def unreachable(tmp_path):
    """A store whose SQLite file lies in a folder that does not exist."""
    s = AuditStore(f"sqlite:///{tmp_path / 'gone' / 'audit.db'}")
    yield s
    s.engine.dispose()


def refusal(call, *args) -> ServiceError:
    with pytest.raises(ServiceError) as refused:
        call(*args)
    return refused.value


# --------------------------------------------------------------------------- the header


@pytest.mark.parametrize(
    "header, key",
    [("Bearer rk_1", "rk_1"), ("bearer rk_1", "rk_1"), ("BEARER  rk_1 ", "rk_1"), ("Bearer a b", "a b")],
)
def test_the_key_is_read_from_a_bearer_header(header, key):
    assert bearer_token(header) == key


@pytest.mark.parametrize("header", [None, "", "rk_1", "Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Bearerrk_1"])
def test_a_header_without_a_bearer_key_is_401(header):
    error = refusal(bearer_token, header)
    assert error.status == 401
    assert error.body == {"error": "missing API key: send 'Authorization: Bearer KEY'"}


# --------------------------------------------------------------------------- roles


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("permission", ["score", "model", "reload", "audit"])
def test_a_role_may_do_exactly_what_its_permissions_say(store, keys, role, permission):
    if permission in PERMISSIONS[role]:
        assert authorize(store, keys[role], permission).role == role
    else:
        error = refusal(authorize, store, keys[role], permission)
        assert (error.status, error.body["error"]) == (403, f"role '{role}' may not {permission}")


def test_an_unknown_or_revoked_key_is_401(store, keys):
    assert refusal(authorize, store, "Bearer rk_000000000000_unknown", "score").status == 401
    panel = authorize(store, keys["panel"], "score")
    store.revoke_key(panel.key_id)
    error = refusal(authorize, store, keys["panel"], "score")
    assert (error.status, error.body["error"]) == (401, "unknown or revoked API key")


def test_permit_needs_a_key():
    assert refusal(permit, None, "model").status == 401


def test_a_key_store_that_cannot_be_read_is_503_but_a_missing_key_still_401(unreachable):
    error = refusal(authorize, unreachable, "Bearer rk_any", "score")
    assert error.status == 503 and "audit database unavailable" in error.body["error"]
    assert refusal(authorize, unreachable, None, "score").status == 401


# --------------------------------------------------------------------------- many at once


def test_many_callers_are_checked_in_one_read_each_as_if_alone(store, keys, monkeypatch):
    headers = [keys["panel"], None, keys["auditor"], "Bearer rk_unknown", keys["operator"], keys["panel"]]
    alone = []
    for header in headers:
        try:
            alone.append(authorize(store, header, "score"))
        except ServiceError as exc:
            alone.append(exc)
    reads = []
    real = store.authenticate_many
    monkeypatch.setattr(store, "authenticate_many", lambda tokens: reads.append(set(tokens)) or real(tokens))

    together = authorize_many(store, headers, "score")

    assert len(reads) == 1 and len(reads[0]) == 4  # the panel's key asked once
    assert len(together) == len(headers)
    for got, want in zip(together, alone, strict=True):
        if isinstance(want, ServiceError):
            assert isinstance(got, ServiceError) and (got.status, got.body) == (want.status, want.body)
        else:
            assert got == want
    assert [getattr(o, "status", 200) for o in together] == [200, 401, 403, 401, 200, 200]


def test_many_callers_without_a_readable_store_get_503_except_those_without_a_key(unreachable):
    outcomes = authorize_many(unreachable, ["Bearer rk_a", None, "Bearer rk_b"], "score")
    assert [o.status for o in outcomes] == [503, 401, 503]


def test_no_callers_read_nothing(unreachable):
    assert authorize_many(unreachable, [], "score") == []


# --------------------------------------------------------------------------- readiness


def test_a_store_answers_its_ping(store):
    assert store.ping() is True


def test_a_store_in_a_missing_folder_does_not_answer(unreachable):
    assert unreachable.ping() is False


def test_an_unreachable_postgresql_server_does_not_answer():
    store = AuditStore(UNREACHABLE_POSTGRES)
    try:
        assert store.ping() is False
    finally:
        store.engine.dispose()


def test_a_sqlite_store_whose_file_went_away_does_not_answer(store, tmp_path):
    assert store.ping()
    store.engine.dispose()  # a pooled connection would still hold the old file open
    (tmp_path / "audit.db").unlink()
    assert store.ping() is False  # SQLite would answer SELECT 1 from a new, empty file
