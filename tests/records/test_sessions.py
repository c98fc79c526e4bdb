"""Page sessions: random ids stored hashed, idle and absolute timeouts, sign-out, revoked keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from riskmodel.records import audit
from riskmodel.records.sessions import check_csrf, create_session, end_session, get_session

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def key(store):
    _, key_id = store.create_key("panel", label="chair")
    return next(k for k in store.list_keys() if k.key_id == key_id)


def _start(store, key, **kwargs):
    return create_session(store, key, idle_timeout_s=600, absolute_timeout_s=3600, now=T0, **kwargs)


def test_a_session_gives_back_its_key_and_csrf_token_and_stores_only_a_hash(store, key):
    session_id, csrf = _start(store, key)
    session = get_session(store, session_id, now=T0 + timedelta(seconds=5))
    assert session.key.key_id == key.key_id and session.key.role == "panel" and session.key.label == "chair"
    assert session.key.created_at == key.created_at
    assert session.csrf_token == csrf and check_csrf(session, csrf)
    assert not check_csrf(session, None) and not check_csrf(session, csrf + "x")
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(audit.sessions.c.session_hash)).scalar()
    assert stored == audit.hash_key(session_id) and session_id not in stored


def test_every_sign_in_gets_a_new_random_id(store, key):
    first, second = _start(store, key), _start(store, key)
    assert first[0] != second[0] and first[1] != second[1] and len(first[0]) >= 43


def test_use_extends_the_idle_deadline_until_the_absolute_one(store, key):
    session_id, _ = _start(store, key)
    at = T0
    for _ in range(6):  # used every 9 minutes (to 54): never idle for 10
        at += timedelta(minutes=9)
        assert get_session(store, session_id, now=at) is not None
    assert get_session(store, session_id, now=T0 + timedelta(minutes=59)) is not None
    assert get_session(store, session_id, now=T0 + timedelta(minutes=60)) is None  # absolute timeout
    assert get_session(store, session_id, now=T0 + timedelta(minutes=60, seconds=1)) is None


def test_an_idle_session_expires_and_stays_expired(store, key):
    session_id, _ = _start(store, key)
    assert get_session(store, session_id, now=T0 + timedelta(seconds=600)) is None
    assert get_session(store, session_id, now=T0 + timedelta(seconds=1)) is None  # ended, even at an earlier clock


def test_sign_out_and_a_revoked_key_end_it(store, key):
    session_id, _ = _start(store, key)
    other, _ = _start(store, key)
    end_session(store, session_id)
    assert get_session(store, session_id, now=T0) is None
    assert get_session(store, other, now=T0) is not None
    store.revoke_key(key.key_id)
    assert get_session(store, other, now=T0) is None
    assert get_session(store, "not-a-session") is None and get_session(store, "") is None


def test_timeouts_must_be_positive(store, key):
    with pytest.raises(ValueError, match="idle_timeout_s"):
        create_session(store, key, idle_timeout_s=0, absolute_timeout_s=10)
