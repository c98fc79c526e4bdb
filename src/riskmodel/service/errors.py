"""The service's one error: an answer other than success, as an HTTP status and a JSON body.

Raised by :mod:`~riskmodel.service.auth` and :mod:`~riskmodel.service.state`; the web
layer (``serving/service.py``) only turns it into a response.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServiceError"]


class ServiceError(Exception):
    """An answer other than success: HTTP status and a JSON body.

    Parameters
    ----------
    status : int
        The HTTP status (401, 403, 422, 503, ...).
    error : str
        The message, the body's ``error``.
    **detail
        More fields of the body (e.g. ``problems``).

    Examples
    --------
    >>> ServiceError(403, "role 'panel' may not reload").body
    {'error': "role 'panel' may not reload"}
    """

    def __init__(self, status: int, error: str, **detail: Any):
        super().__init__(error)
        self.status = status
        self.body = {"error": error, **detail}
