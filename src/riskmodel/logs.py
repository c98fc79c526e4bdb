"""Log lines an operator can read and a log system can parse: plain text or one JSON object per line.

``RISKMODEL_LOG_FORMAT=json`` makes every line of riskmodel's loggers (and, in a service
worker, BentoML's and uvicorn's) one JSON object: ``time`` (ISO 8601, UTC), ``level``,
``logger``, ``message``, ``request_id`` while a request is being answered, every field
passed with ``extra=``, and ``exception`` when one is logged. Anything else, or unset,
gives one text line per record, with ``request_id=...`` appended when there is one.

The request id is the one the service returns in its ``X-Request-Id`` header (set by
:class:`riskmodel.service.http.RouteMetrics` for each request, see :data:`REQUEST_ID`).

Configuring is done by entry points (:func:`configure`), never at import.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

__all__ = ["REQUEST_ID", "JsonFormatter", "TextFormatter", "configure", "log_format", "safe_url"]

#: The id of the request being answered in this context (None outside a request).
REQUEST_ID: ContextVar[str | None] = ContextVar("riskmodel_request_id", default=None)

#: The formats ``RISKMODEL_LOG_FORMAT`` may name.
FORMATS = ("text", "json")

#: The loggers other than riskmodel's that a service worker writes through.
SERVER_LOGGERS = ("bentoml", "bentoml.access", "uvicorn", "uvicorn.error", "circus")

# The attributes every LogRecord has: anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def log_format(environ: dict[str, str] | None = None) -> str:
    """``"json"`` when ``RISKMODEL_LOG_FORMAT`` says so (any case), else ``"text"``.

    Examples
    --------
    >>> log_format({"RISKMODEL_LOG_FORMAT": "JSON"}), log_format({})
    ('json', 'text')
    """
    env = os.environ if environ is None else environ
    return "json" if env.get("RISKMODEL_LOG_FORMAT", "").strip().lower() == "json" else "text"


def safe_url(url: str) -> str:
    """A database URL fit for a log: the password masked (``***``).

    Examples
    --------
    >>> safe_url("postgresql+psycopg://riskmodel:s3cret@db:5432/audit")
    'postgresql+psycopg://riskmodel:***@db:5432/audit'
    >>> safe_url("sqlite:////srv/riskmodel/audit.db")
    'sqlite:////srv/riskmodel/audit.db'
    """
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001  (not a URL SQLAlchemy reads: say so, never echo it)
        return "(a URL that could not be read)"


#: Fields BentoML's log filter adds that only repeat the level or are empty.
_NOISE = frozenset({"levelname_bracketed", "trace_msg"})


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: v
        for k, v in vars(record).items()
        if k not in _STANDARD and k not in _NOISE and not k.startswith("_") and v not in (None, "")
    }


def _request_id(record: logging.LogRecord) -> str | None:
    return getattr(record, "request_id", None) or REQUEST_ID.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request_id, extra fields.

    Examples
    --------
    >>> record = logging.LogRecord("riskmodel.x", logging.INFO, "", 0, "loaded %s", ("v3",), None)
    >>> record.model_version = "3"
    >>> line = json.loads(JsonFormatter().format(record))
    >>> line["level"], line["logger"], line["message"], line["model_version"]
    ('INFO', 'riskmodel.x', 'loaded v3', '3')
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _request_id(record)
        if request_id:
            line["request_id"] = request_id
        for key, value in _extras(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message``, then ``request_id=...`` when a request is being answered."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = _request_id(record)
        return f"{text} request_id={request_id}" if request_id and "\n" not in text else text


def configure(fmt: str | None = None, *, level: int = logging.INFO, server: bool = False) -> logging.Formatter:
    """Send riskmodel's logs to standard error in ``fmt`` (default :func:`log_format`).

    Parameters
    ----------
    fmt : {"text", "json"}, optional
        The line format; by default the one ``RISKMODEL_LOG_FORMAT`` names.
    level : int
        The least level riskmodel's loggers write.
    server : bool
        In a service worker, after BentoML set up its logging: in the JSON format its
        handlers (root, ``bentoml``, uvicorn) write JSON too, so that every line of the
        worker parses.

    Returns
    -------
    logging.Formatter
        The formatter installed.
    """
    fmt = fmt or log_format()
    if fmt not in FORMATS:
        raise ValueError(f"RISKMODEL_LOG_FORMAT: must be one of {', '.join(FORMATS)}, got {fmt!r}")
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    logger = logging.getLogger("riskmodel")
    for old in [h for h in logger.handlers if getattr(h, "_riskmodel", False)]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler._riskmodel = True  # type: ignore[attr-defined]  (ours: replaced, not doubled, on a second call)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    if server and fmt == "json":
        for name in ("", *SERVER_LOGGERS):
            for other in logging.getLogger(name).handlers:
                other.setFormatter(formatter)
    return formatter
