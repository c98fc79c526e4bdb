"""What the panel's pages show, gathered from the audit store, the scores files and the champions.

No HTTP here: :mod:`riskmodel.service.panel.pages` maps requests onto these functions
and renders their values with the templates in ``riskmodel/templates/panel/``.

"This month" is the latest batch recorded in the audit store (``batches``) whose scores
file is still in place; its rows are read with :func:`riskmodel.scoring.output.read_scores`
and kept in memory until the file changes. A person's page shows that batch's row for
the release, or, for a release scored alone (the "score one release" form or
``POST /score``), the latest audited answer for it. No value shown here holds
``ethnicity``: the scoring output has no such column, and the score form does not ask.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from riskmodel.records.audit import AuditStore
from riskmodel.scoring.output import NEED_CODES, read_scores

__all__ = [
    "Month",
    "latest_month",
    "filter_rows",
    "person_record",
    "earlier_scores",
    "scores_seen",
    "atrs_record",
    "ATRS_FIELDS",
]

#: Bands in the order the list's filters offer them.
BANDS: tuple[str, ...] = ("very high", "high", "medium", "low")

_MONTH_DIR = re.compile(r"\d{4}-(0[1-9]|1[0-2])")

#: Earlier batches searched for a person's earlier scores.
EARLIER_BATCHES = 12


@dataclass(frozen=True)
class Month:
    """The latest batch: its record and its ranked rows (one dict per release, rank order)."""

    batch: dict[str, Any]
    rows: list[dict[str, Any]]
    month: str | None
    by_release: dict[str, dict[str, Any]] = field(repr=False)

    @property
    def batch_id(self) -> str:
        return str(self.batch["batch_id"])


def _clean(value: Any) -> Any:
    """A cell as a plain Python value (NaN and empty text as None, numpy numbers as numbers)."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _clean(value.item())
    if isinstance(value, str) and value == "":
        return None
    return value


def clean_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """One scored row with lists as lists and missing values as None (``ethnicity`` never kept)."""
    out = {name: _clean(value) for name, value in row.items() if name != "ethnicity"}
    for name in ("needs", "warnings", "top_factors"):
        value = row.get(name)
        out[name] = [] if value is None or isinstance(value, float) else list(value)
    if out.get("priority_rank") is not None:
        out["priority_rank"] = int(out["priority_rank"])
    return out


class _ScoresCache:
    """Scores files read once per (path, size, modification time)."""

    def __init__(self, keep: int = 4):
        self._lock = threading.Lock()
        self._frames: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
        self._keep = keep

    def rows(self, path: Path) -> list[dict[str, Any]]:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if key in self._frames:
                return self._frames[key]
        frame = read_scores(path)
        if "priority_rank" in frame:
            frame = frame.sort_values("priority_rank", kind="stable")
        rows = [clean_row(r) for r in frame.to_dict("records")]
        with self._lock:
            while len(self._frames) >= self._keep:
                self._frames.pop(next(iter(self._frames)))
            self._frames[key] = rows
        return rows


_CACHE = _ScoresCache()


def month_of(batch: Mapping[str, Any]) -> str | None:
    """The month a batch covers: its output's folder when named ``YYYY-MM``, else its release dates' month."""
    folder = Path(str(batch["output_path"])).parent.name
    if _MONTH_DIR.fullmatch(folder):
        return folder
    return None


def latest_month(store: AuditStore) -> Month | None:
    """The latest recorded batch whose scores file can be read, or None when there is none."""
    for batch in store.batch_records(limit=EARLIER_BATCHES):
        path = Path(str(batch["output_path"]))
        if not path.is_file():
            continue
        try:
            rows = _CACHE.rows(path)
        except (OSError, ValueError):
            continue
        return Month(batch=batch, rows=rows, month=month_of(batch), by_release={str(r["release_id"]): r for r in rows})
    return None


@dataclass(frozen=True)
class Filters:
    """The list's filters as the form sent them (blank: not filtered)."""

    reoffence_band: str = ""
    harm_band: str = ""
    need: str = ""
    search: str = ""
    top: int | None = None
    decided: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str], capacity: int) -> Filters:
        """Filters from the query string; unknown values are ignored, ``top`` defaults to ``capacity``."""
        top_text = (query.get("top") or "").strip()
        if "top" not in query:
            top: int | None = capacity
        elif top_text.isdigit() and int(top_text) > 0:
            top = int(top_text)
        else:
            top = None
        return cls(
            reoffence_band=query.get("reoffence_band", "") if query.get("reoffence_band") in BANDS else "",
            harm_band=query.get("harm_band", "") if query.get("harm_band") in BANDS else "",
            need=query.get("need", "") if query.get("need") in NEED_CODES else "",
            search=(query.get("q") or "").strip()[:200],
            top=top,
            decided=query.get("decided", "") if query.get("decided") in ("yes", "no") else "",
        )


def _lower(row: Mapping[str, Any], name: str) -> str:
    return str(row.get(name, "")).lower()


def filter_rows(rows: list[dict[str, Any]], filters: Filters, decided: set[str] | None = None) -> list[dict[str, Any]]:
    """The rows kept by ``filters``: the top ``top`` by rank first, then bands, need, search and decided."""
    kept = [r for r in rows if filters.top is None or (r.get("priority_rank") or 0) <= filters.top]
    if filters.reoffence_band:
        kept = [r for r in kept if r.get("reoffence_band") == filters.reoffence_band]
    if filters.harm_band:
        kept = [r for r in kept if r.get("harm_band") == filters.harm_band]
    if filters.need:
        kept = [r for r in kept if filters.need in r["needs"]]
    if filters.search:
        wanted = filters.search.lower()
        kept = [
            r
            for r in kept
            if wanted in str(r.get("release_id", "")).lower() or wanted == str(r.get("person_id", "")).lower()
        ]
    if filters.decided and decided is not None:
        kept = [r for r in kept if (str(r["release_id"]) in decided) == (filters.decided == "yes")]
    return kept


def _request_rows(store: AuditStore, release_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The audited answers that scored ``release_id`` (newest first), each row with its request's time."""
    found = []
    for request in store.requests(limit=limit, release_id=release_id):
        for row in request["outputs"]:
            if str(row.get("release_id")) == release_id:
                found.append({**clean_row(row), "source": "scored alone", "at": request["requested_at"]})
    return found


def person_record(store: AuditStore, month: Month | None, release_id: str) -> tuple[dict[str, Any] | None, str]:
    """The row a person's page shows and where it comes from: this month's batch, else the latest audited answer."""
    if month is not None and release_id in month.by_release:
        return month.by_release[release_id], "batch"
    scored = _request_rows(store, release_id, limit=1)
    return (scored[0], "request") if scored else (None, "")


def earlier_scores(store: AuditStore, month: Month | None, row: Mapping[str, Any], source: str) -> list[dict[str, Any]]:
    """This person's other scores: earlier batches (by person id) and audited answers (by release id)."""
    person_id, release_id = str(row.get("person_id") or ""), str(row.get("release_id"))
    out = []
    requests = _request_rows(store, release_id)
    out += requests[1:] if source == "request" else requests
    for batch in store.batch_records(limit=EARLIER_BATCHES):
        if month is not None and batch["batch_id"] == month.batch_id:
            continue
        path = Path(str(batch["output_path"]))
        try:
            rows = _CACHE.rows(path) if path.is_file() else []
        except (OSError, ValueError):
            rows = []
        for other in rows:
            if str(other.get("person_id")) == person_id:
                at = batch["finished_at"].isoformat() if hasattr(batch["finished_at"], "isoformat") else ""
                out.append({**other, "source": f"batch {month_of(batch) or batch['batch_id']}", "at": at})
    return sorted(out, key=lambda r: str(r.get("at") or r.get("scored_at") or ""), reverse=True)


#: The values a decision records as what the panel saw (a subset of the output's columns).
SEEN_COLUMNS: tuple[str, ...] = (
    "reoffence_probability",
    "reoffence_band",
    "harm_probability",
    "harm_band",
    "frequency_expected",
    "priority_rank",
    "ogrs3_2y",
    "ogrs3_band",
    "arp_2y",
    "arp_band",
    "scored_at",
)


def scores_seen(row: Mapping[str, Any], *, batch_id: str | None) -> dict[str, Any]:
    """The scores shown on the person's page, as a decision records them."""
    seen = {name: _clean(row.get(name)) for name in SEEN_COLUMNS if name in row}
    if batch_id:
        seen["batch_id"] = batch_id
    return seen


def model_versions(row: Mapping[str, Any]) -> dict[str, str]:
    """Target -> ``name/version`` of the models that gave the row's scores."""
    return {
        target: str(row[f"{target}_model"])
        for target in ("reoffence", "harm", "frequency")
        if row.get(f"{target}_model")
    }


# --------------------------------------------------------------------------- transparency record

#: The Algorithmic Transparency Recording Standard's tier-2 fields the operator fills in
#: (``RISKMODEL_ATRS_FILE``, YAML), with what is shown when a field is left empty.
ATRS_FIELDS: dict[str, str] = {
    "owner": "Not yet filled in by the operator: the organisation responsible and a contact.",
    "purpose": (
        "Not yet filled in by the operator. riskmodel ranks people released from custody for the integrated"
        " offender management (IOM) panel's monthly meeting."
    ),
    "decision_process": (
        "The panel reviews the ranked list and each person's page and records, for every person it considers,"
        " whether to adopt them onto the IOM cohort, not now, or refer them to another service. The scores"
        " inform, never decide: every decision is a person's, and one that goes against the band needs a"
        " written reason."
    ),
    "contest": "Not yet filled in by the operator: how a person can ask for a decision to be reviewed.",
    "risks": (
        "Scores can be wrong for a person; they may be less accurate for some groups (see the fairness tables);"
        " the data may hold errors. The panel's own knowledge and a written reason for every override are the"
        " safeguards."
    ),
}


def atrs_record(champions_info: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The tier-2 transparency record: the operator's fields from ``RISKMODEL_ATRS_FILE``, the rest generated.

    Parameters
    ----------
    champions_info : mapping
        :meth:`riskmodel.service.state.ServiceState.model_info`'s ``models``.
    environ : mapping, optional
        The environment (default ``os.environ``).

    Returns
    -------
    dict
        ``fields`` (name -> text), ``filled`` (names the operator filled in), ``models``
        (target -> version and training data fingerprint), ``source`` (the file, or None),
        ``problem`` (why the file could not be read, or None).
    """
    env = os.environ if environ is None else environ
    path = env.get("RISKMODEL_ATRS_FILE") or ""
    given: dict[str, Any] = {}
    problem = None
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            given = loaded if isinstance(loaded, dict) else {}
            if not isinstance(loaded, dict):
                problem = f"{path}: must be a mapping of field names to text"
        except (OSError, yaml.YAMLError) as exc:
            problem = f"{path}: could not be read ({type(exc).__name__})"
    fields = {name: str(given.get(name) or default) for name, default in ATRS_FIELDS.items()}
    models = {
        target: {"version": f"{info.get('name')}/{info.get('version')}", "data": info.get("training_data_fingerprint")}
        for target, info in champions_info.items()
    }
    return {
        "fields": fields,
        "filled": sorted(name for name in ATRS_FIELDS if given.get(name)),
        "models": models,
        "source": path or None,
        "problem": problem,
    }


def json_text(value: Any) -> str:
    """A value as compact JSON text (for the pages' small tables)."""
    return json.dumps(value, default=str, sort_keys=True)
