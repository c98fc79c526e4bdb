"""API keys: who is calling, and whether their role may do what they ask.

A request names its key in an ``Authorization: Bearer KEY`` header. The key is looked
up (by its hash) in the audit store, and the key's role must hold the permission the
endpoint needs (:data:`~riskmodel.records.audit.PERMISSIONS`). Every refusal is a
:class:`~riskmodel.service.errors.ServiceError`: 401 without a live key, 403 when the
role lacks the permission, 503 when the key store cannot be read. Nothing here knows
about HTTP frameworks, queues or scoring.
"""

from __future__ import annotations

from collections.abc import Sequence

from riskmodel.records.audit import PERMISSIONS, ApiKey, AuditStore, AuditUnavailable
from riskmodel.service.errors import ServiceError

__all__ = ["bearer_token", "permit", "authorize", "authorize_many"]


def bearer_token(authorization: str | None) -> str:
    """The key of an ``Authorization: Bearer KEY`` header.

    Raises
    ------
    ServiceError
        401 when the header is absent, of another scheme, or names no key.

    Examples
    --------
    >>> bearer_token("Bearer rk_123")
    'rk_123'
    >>> bearer_token("Basic dXNlcg==")
    Traceback (most recent call last):
    ...
    riskmodel.service.errors.ServiceError: missing API key: send 'Authorization: Bearer KEY'
    """
    if not authorization or authorization[:7].lower() != "bearer " or not authorization[7:].strip():
        raise ServiceError(401, "missing API key: send 'Authorization: Bearer KEY'")
    return authorization[7:].strip()


def permit(key: ApiKey | None, permission: str) -> ApiKey:
    """``key`` when it is live and its role has ``permission``.

    Parameters
    ----------
    key : ApiKey or None
        The stored key found for the caller's key (None: unknown or revoked).
    permission : str
        What the caller asks to do: ``"score"``, ``"model"``, ``"reload"``, ``"audit"``,
        ``"decide"`` (record a panel decision), ``"decisions"`` (read them) or ``"export"``
        (download the decisions log); see :data:`~riskmodel.records.audit.PERMISSIONS`.

    Raises
    ------
    ServiceError
        401 without a key, 403 when the key's role lacks ``permission``.
    """
    if key is None:
        raise ServiceError(401, "unknown or revoked API key")
    if permission not in PERMISSIONS[key.role]:
        raise ServiceError(403, f"role '{key.role}' may not {permission}")
    return key


def _unavailable(exc: AuditUnavailable) -> ServiceError:
    return ServiceError(503, "audit database unavailable")  # where it is stays in the service's log


def authorize(store: AuditStore, authorization: str | None, permission: str) -> ApiKey:
    """The caller's key, checked for ``permission`` (one read of ``store``).

    Parameters
    ----------
    store : AuditStore
        Where the keys' hashes are.
    authorization : str or None
        The request's ``Authorization`` header.
    permission : str
        What the caller asks to do.

    Raises
    ------
    ServiceError
        401, 403, or 503 when the key store cannot be read.
    """
    token = bearer_token(authorization)
    try:
        key = store.authenticate(token)
    except AuditUnavailable as exc:
        raise _unavailable(exc) from exc
    return permit(key, permission)


def authorize_many(
    store: AuditStore, authorizations: Sequence[str | None], permission: str
) -> list[ApiKey | ServiceError]:
    """Each caller's key checked for ``permission``, with one read of ``store`` for all.

    Parameters
    ----------
    store : AuditStore
        Where the keys' hashes are.
    authorizations : sequence of str or None
        The requests' ``Authorization`` headers.
    permission : str
        What every caller asks to do.

    Returns
    -------
    list of ApiKey or ServiceError
        In the order of ``authorizations``: the key, or the refusal
        :func:`authorize` would raise for that request alone.
    """
    outcomes: list[ApiKey | ServiceError | None] = [None] * len(authorizations)
    tokens: dict[int, str] = {}
    for i, authorization in enumerate(authorizations):
        try:
            tokens[i] = bearer_token(authorization)
        except ServiceError as exc:
            outcomes[i] = exc
    if tokens:
        try:
            found = store.authenticate_many(set(tokens.values()))
        except AuditUnavailable as exc:
            found, error = None, _unavailable(exc)
        for i, token in tokens.items():
            if found is None:
                outcomes[i] = error
                continue
            try:
                outcomes[i] = permit(found.get(token), permission)
            except ServiceError as exc:
                outcomes[i] = exc
    return outcomes
