"""What the scoring service does, independent of the web framework.

``serving/service.py`` (BentoML) only maps HTTP onto :class:`ServiceState` and turns
:class:`ServiceError` into a status code and a JSON body. Every request reads the
champions once, from one immutable :class:`~riskmodel.registry.Champions` object, so a
concurrent reload (which builds the new object fully, then swaps one reference) can
never give a request a mix of versions.
"""

from __future__ import annotations

import json
import math
import threading
import uuid
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.audit import PERMISSIONS, ApiKey, AuditStore, AuditUnavailable
from riskmodel.contract import ContractError
from riskmodel.registry import Champions, load_champions
from riskmodel.scoring import PRIORITY_RULES, score_frame, validate_for_scoring
from riskmodel.settings import Settings

__all__ = ["ServiceError", "ServiceState", "MAX_RELEASES_PER_REQUEST"]

MAX_RELEASES_PER_REQUEST = 5_000


class ServiceError(Exception):
    """An answer other than success: HTTP status and a JSON body."""

    def __init__(self, status: int, error: str, **detail: Any):
        super().__init__(error)
        self.status = status
        self.body = {"error": error, **detail}


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
        return None if isinstance(value, float) and math.isnan(value) else value
    return value


def frame_to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Scoring output rows as JSON-ready dicts (factors and needs as lists)."""
    records = []
    for row in frame.to_dict(orient="records"):
        row = {k: _clean(v) for k, v in row.items()}
        row["top_factors"] = json.loads(row["top_factors"]) if row.get("top_factors") else []
        row["needs"] = row["needs"].split("; ") if row.get("needs") else []
        row["warnings"] = row["warnings"].split("; ") if row.get("warnings") else []
        records.append(row)
    return records


class ServiceState:
    """Champions, the audit store and the rules of access.

    Parameters
    ----------
    settings : Settings
        Where the registry and the audit database are.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = AuditStore(settings.audit_url)
        self._champions: Champions = load_champions(settings)
        self._reload_lock = threading.Lock()
        try:
            self.store.create_schema()
        except AuditUnavailable:
            pass  # requests will answer 503 until the database is back

    @property
    def champions(self) -> Champions:
        """The current champions (one consistent set)."""
        return self._champions

    # ------------------------------------------------------------------ access
    def authorize(self, authorization: str | None, permission: str) -> ApiKey:
        """Check ``Authorization: Bearer KEY`` for ``permission``.

        Raises
        ------
        ServiceError
            401 without a valid key, 403 when the key's role lacks the permission,
            503 when the key store cannot be read.
        """
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ServiceError(401, "missing API key: send 'Authorization: Bearer KEY'")
        try:
            key = self.store.authenticate(authorization[7:].strip())
        except AuditUnavailable as exc:
            raise ServiceError(503, f"audit database unavailable: {exc}") from exc
        if key is None:
            raise ServiceError(401, "unknown or revoked API key")
        if permission not in PERMISSIONS[key.role]:
            raise ServiceError(403, f"role '{key.role}' may not {permission}")
        return key

    # ------------------------------------------------------------------ scoring
    def score(self, key: ApiKey, releases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Validate, score and audit one request; all or nothing.

        Raises
        ------
        ServiceError
            422 naming each offending field and rule; 503 when the audit record
            cannot be written (no unaudited score is ever returned).
        """
        if not releases:
            raise ServiceError(422, "releases: must hold at least one release")
        if len(releases) > MAX_RELEASES_PER_REQUEST:
            raise ServiceError(422, f"releases: at most {MAX_RELEASES_PER_REQUEST} per request, got {len(releases)}")
        champions = self._champions
        frame = pd.DataFrame.from_records(releases)
        try:
            table = validate_for_scoring(frame, champions, line_offset=0)
        except ContractError as exc:
            raise ServiceError(422, str(exc), problems=[{"field": None, "rule": str(exc)}]) from None
        if len(table.rejects):
            problems = [
                {
                    "index": int(r.line),
                    "release_id": r.release_id or None,
                    "field": f"releases[{int(r.line)}].{r.column}",
                    "rule": r.reason,
                    "value": r.value,
                }
                for r in table.rejects.itertuples()
            ]
            summary = "; ".join(f"{p['field']}: {p['rule']}" for p in problems[:20])
            raise ServiceError(422, f"invalid releases: {summary}", problems=problems)
        output = score_frame(table.data, champions)
        records = frame_to_records(output)
        try:
            self.store.record_request(
                request_id=uuid.uuid4().hex,
                key=key,
                release_ids=[r["release_id"] for r in records],
                model_versions=champions.versions(),
                outputs=records,
            )
        except AuditUnavailable as exc:
            raise ServiceError(503, f"not scored: the audit record could not be written ({exc})") from None
        return records

    # ------------------------------------------------------------------ other endpoints
    def model_info(self) -> dict[str, Any]:
        """Versions, training-data fingerprints, test metrics and model cards."""
        champions = self._champions
        return {
            "models": {
                target: {
                    "name": info.name,
                    "version": info.version,
                    "run_id": info.run_id,
                    "training_data_fingerprint": info.fingerprint,
                    "test_metrics": {k: _clean(v) for k, v in info.metrics.items() if k.startswith("model.")},
                    "model_card": info.model_card,
                }
                for target, info in champions.info.items()
            },
            "priority_rule": {"name": champions.scoring.priority_rule, "meaning": PRIORITY_RULES[champions.scoring.priority_rule]},
            "bands": {"reoffence": champions.scoring.reoffence_bands, "harm": champions.scoring.harm_bands},
        }

    def reload(self) -> dict[str, str]:
        """Load the current champions, then swap them in atomically."""
        with self._reload_lock:
            fresh = load_champions(self.settings)
            self._champions = fresh
        return fresh.versions()

    def audit(self, *, limit: int = 100, release_id: str | None = None) -> list[dict[str, Any]]:
        """Recent request records (auditor only)."""
        try:
            return self.store.requests(limit=limit, release_id=release_id)
        except AuditUnavailable as exc:
            raise ServiceError(503, f"audit database unavailable: {exc}") from None
