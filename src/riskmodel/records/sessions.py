"""Signed-in sessions of the panel's pages, kept server-side in the audit database.

Signing in with an API key makes a session: a random id (sent as the cookie; only its
SHA-256 is stored) and a CSRF token (put in every form). A session ends at sign-out, when
it has not been used for ``idle_timeout_s`` seconds, when it is ``absolute_timeout_s``
seconds old, or when its key is revoked. Using it (:func:`get_session`) moves its idle
deadline.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from riskmodel.records import audit
from riskmodel.records.audit import ApiKey, AuditStore, hash_key

__all__ = ["Session", "create_session", "get_session", "end_session", "check_csrf"]


@dataclass(frozen=True)
class Session:
    """A live session: its key, the CSRF token its forms carry, and its times (UTC)."""

    session_id: str
    key: ApiKey
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    idle_timeout_s: int
    absolute_timeout_s: int

    @property
    def expires_at(self) -> datetime:
        """When it ends unless used again."""
        return min(
            self.last_seen_at + timedelta(seconds=self.idle_timeout_s),
            self.created_at + timedelta(seconds=self.absolute_timeout_s),
        )


def _moment(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else audit._as_utc(now)


def create_session(
    store: AuditStore, key: ApiKey, *, idle_timeout_s: int, absolute_timeout_s: int, now: datetime | None = None
) -> tuple[str, str]:
    """Start a session for a live ``key``; returns ``(session_id, csrf_token)``.

    A new random id every time (a sign-in never reuses one: no session fixation).

    Raises
    ------
    ValueError
        For a timeout that is not a positive number of seconds.
    AuditUnavailable
        When the session could not be written.
    """
    for name, value in (("idle_timeout_s", idle_timeout_s), ("absolute_timeout_s", absolute_timeout_s)):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name}: must be a positive whole number of seconds")
    session_id, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    at = _moment(now)
    row = {
        "session_hash": hash_key(session_id),
        "key_id": key.key_id,
        "csrf_token": csrf_token,
        "created_at": at,
        "last_seen_at": at,
        "idle_timeout_s": idle_timeout_s,
        "absolute_timeout_s": absolute_timeout_s,
        "ended_at": None,
    }
    store._run(lambda c: c.execute(audit.sessions.insert().values(**row)), write=True)
    return session_id, csrf_token


def get_session(store: AuditStore, session_id: str | None, *, now: datetime | None = None) -> Session | None:
    """The live session of ``session_id`` (its idle deadline moved to ``now``), or None.

    None for an unknown or ended session, one idle longer than its idle timeout or older
    than its absolute timeout, or one whose key was revoked.

    Raises
    ------
    AuditUnavailable
        When the database cannot be read or written.
    """
    if not session_id:
        return None
    at = _moment(now)
    sessions, keys = audit.sessions, audit.api_keys
    query = (
        sa.select(
            sessions,
            keys.c.role,
            keys.c.label,
            keys.c.created_at.label("key_created_at"),
        )
        .join(keys, keys.c.key_id == sessions.c.key_id)
        .where(
            sessions.c.session_hash == hash_key(session_id),
            sessions.c.ended_at.is_(None),
            keys.c.revoked_at.is_(None),
        )
    )

    def touch(conn: sa.Connection) -> Session | None:
        row = conn.execute(query).first()
        if row is None:
            return None
        created, seen = audit._utc(audit._as_utc(row.created_at)), audit._utc(audit._as_utc(row.last_seen_at))
        if at - seen >= timedelta(seconds=row.idle_timeout_s) or at - created >= timedelta(
            seconds=row.absolute_timeout_s
        ):
            conn.execute(sessions.update().where(sessions.c.session_hash == row.session_hash).values(ended_at=at))
            return None
        conn.execute(sessions.update().where(sessions.c.session_hash == row.session_hash).values(last_seen_at=at))
        return Session(
            session_id=session_id,
            key=ApiKey(row.key_id, row.role, row.label, audit._utc(audit._as_utc(row.key_created_at)), None),
            csrf_token=row.csrf_token,
            created_at=created,
            last_seen_at=at,
            idle_timeout_s=row.idle_timeout_s,
            absolute_timeout_s=row.absolute_timeout_s,
        )

    return store._run(touch, write=True)


def end_session(store: AuditStore, session_id: str | None, *, now: datetime | None = None) -> None:
    """End a session (sign-out); nothing happens for an unknown or ended one."""
    if not session_id:
        return
    sessions = audit.sessions
    ended = (
        sessions.update()
        .where(sessions.c.session_hash == hash_key(session_id), sessions.c.ended_at.is_(None))
        .values(ended_at=_moment(now))
    )
    store._run(lambda c: c.execute(ended), write=True)


def check_csrf(session: Session, token: str | None) -> bool:
    """True when a form's ``token`` is the session's CSRF token (compared in constant time)."""
    return bool(token) and hmac.compare_digest(session.csrf_token.encode(), str(token).encode())
