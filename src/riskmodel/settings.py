"""One typed settings object, built at the entry point and passed in.

All state (MLflow store, audit database, generated data, reports) lives under one home
folder, ``RISKMODEL_HOME``, resolved to an absolute path so that a notebook started in
``notebooks/`` and a server started elsewhere see the same store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "DEFAULT_HOME", "DEFAULT_MAX_BODY_BYTES"]

DEFAULT_HOME = Path("~/.riskmodel")

#: The largest request body the service reads (10 MiB: a full request of 5,000 releases
#: written as text is about 3 MB).
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Where riskmodel keeps its state.

    Parameters
    ----------
    home : Path
        Absolute home folder; everything below defaults to a place inside it.
    tracking_uri : str
        MLflow tracking (and registry) URI. Defaults to a SQLite file in ``home``.
    audit_url : str
        SQLAlchemy URL of the audit database (API keys, requests, batches).
    max_body_bytes : int
        The largest request body the service accepts; a larger one is refused (413)
        before it is parsed.

    Examples
    --------
    >>> s = Settings.from_env({"RISKMODEL_HOME": "/tmp/rm"})
    >>> s.tracking_uri
    'sqlite:////tmp/rm/mlflow.db'
    """

    home: Path
    tracking_uri: str
    audit_url: str
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from the environment.

        ``RISKMODEL_HOME`` (default ``~/.riskmodel``); ``RISKMODEL_TRACKING_URI``, else
        ``MLFLOW_TRACKING_URI``, else a SQLite store in the home; ``RISKMODEL_AUDIT_URL``,
        else a SQLite audit database in the home; ``RISKMODEL_MAX_BODY_BYTES`` (default
        :data:`DEFAULT_MAX_BODY_BYTES`), a positive whole number of bytes.

        Raises
        ------
        ValueError
            When ``RISKMODEL_MAX_BODY_BYTES`` is not a positive whole number.
        """
        env = os.environ if environ is None else environ
        home = Path(env.get("RISKMODEL_HOME") or DEFAULT_HOME).expanduser().resolve()
        tracking = (
            env.get("RISKMODEL_TRACKING_URI") or env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}"
        )
        audit = env.get("RISKMODEL_AUDIT_URL") or f"sqlite:///{home / 'audit.db'}"
        limit = env.get("RISKMODEL_MAX_BODY_BYTES") or str(DEFAULT_MAX_BODY_BYTES)
        if not limit.strip().isdigit() or int(limit) < 1:
            raise ValueError(f"RISKMODEL_MAX_BODY_BYTES: must be a positive whole number of bytes, got {limit!r}")
        return cls(home=home, tracking_uri=tracking, audit_url=audit, max_body_bytes=int(limit))

    @property
    def artifact_root(self) -> Path:
        """Folder for MLflow artifacts (models, plots, model cards)."""
        return self.home / "mlartifacts"

    @property
    def data_dir(self) -> Path:
        """Folder for generated cohorts."""
        return self.home / "data"

    @property
    def reports_dir(self) -> Path:
        """Folder for batch outputs and panel reports."""
        return self.home / "reports"

    def ensure(self) -> Settings:
        """Create the home folders (called by entry points, never at import).

        A home made here is its owner's only (0700): it holds the audit database and keys.
        """
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path in (self.artifact_root, self.data_dir, self.reports_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self
