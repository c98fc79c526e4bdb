"""The panel's decisions: what it decided about a person, why, and what it saw.

A decision is one of :data:`DECISIONS`. A decision against the band (not adopting a
person scored high or very high on either target, or adopting one scored low) is an
*override*: it needs a reason from :data:`OVERRIDE_REASONS` and a written explanation.
Decisions are append-only: a change is a new decision that names, in ``replaces``, the
release's latest decision. Each records who made it (the key's id and label), when, and
the scores and model versions the panel saw.

Decisions live in the audit database's ``decisions`` table and take their place in its
hash chain (:mod:`riskmodel.records.audit`), so a decision changed or deleted by hand
shows in ``riskmodel audit verify``. Viewing a person's scores is audited too
(:func:`record_view`, an audit event).
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from riskmodel.records import audit
from riskmodel.records.audit import PERMISSIONS, ApiKey, AuditStore

__all__ = [
    "DECISIONS",
    "DECISION_WORDS",
    "OVERRIDE_REASONS",
    "SCORES_SEEN_FIELDS",
    "VIEW_EVENT",
    "Decision",
    "DecisionError",
    "is_override",
    "record_decision",
    "list_decisions",
    "latest_decisions",
    "decisions_csv",
    "record_view",
]

#: What the panel may decide.
DECISIONS: tuple[str, ...] = ("adopt", "not_now", "refer")

#: Each decision in words.
DECISION_WORDS: dict[str, str] = {
    "adopt": "adopt onto the IOM cohort",
    "not_now": "not now",
    "refer": "refer to another service",
}

#: Why the panel decided against the band: code -> words.
OVERRIDE_REASONS: dict[str, str] = {
    "information_not_in_model": "the panel holds information the model does not use",
    "already_supported_elsewhere": "already supported by another service or order",
    "risk_lower_than_scored": "the panel judges the risk lower than scored",
    "risk_higher_than_scored": "the panel judges the risk higher than scored",
    "capacity": "the cohort is at capacity",
    "other": "another reason (given in the text)",
}

#: The score fields a decision keeps of what the panel saw (others, e.g. factors, are left out).
SCORES_SEEN_FIELDS: tuple[str, ...] = (
    "reoffence_probability",
    "reoffence_band",
    "harm_probability",
    "harm_band",
    "frequency_expected",
    "priority_rank",
    "priority_score",
    "ogrs3_1y",
    "ogrs3_2y",
    "ogrs3_band",
    "arp_2y",
    "arp_band",
)

#: The audit event written when someone views a person's scores.
VIEW_EVENT = "person_viewed"

_HIGH_BANDS = frozenset({"high", "very high", "very_high"})
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_MAX_ID = 200
_MAX_TEXT = 2000
_CSV_COLUMNS = (
    "decision_id",
    "decided_at",
    "month",
    "release_id",
    "person_id",
    "decision",
    "decision_words",
    "override",
    "reason_code",
    "reason_words",
    "reason_text",
    "replaces",
    "decided_by",
    "decided_by_label",
    "role",
    "reoffence_band",
    "harm_band",
    "priority_rank",
    "model_versions",
    "scores_seen",
)


class DecisionError(ValueError):
    """A decision refused: ``field`` names what is wrong, ``rule`` the rule it breaks."""

    def __init__(self, field: str, rule: str):
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


@dataclass(frozen=True)
class Decision:
    """One recorded decision (see the module's description)."""

    decision_id: str
    release_id: str
    person_id: str
    decision: str
    reason_code: str | None
    reason_text: str
    replaces: str | None
    decided_by: str
    decided_by_label: str
    role: str
    decided_at: datetime
    scores_seen: dict[str, Any]
    model_versions: dict[str, str]
    month: str | None
    override: bool

    @property
    def words(self) -> str:
        """The decision in words, e.g. ``"adopt onto the IOM cohort"``."""
        return DECISION_WORDS[self.decision]

    @property
    def reason_words(self) -> str | None:
        """The reason code in words (None without one)."""
        return None if self.reason_code is None else OVERRIDE_REASONS.get(self.reason_code, self.reason_code)

    def to_json(self) -> dict[str, Any]:
        """The decision as JSON values (time as ISO 8601 text), as ``GET /decisions`` answers it."""
        return {
            "decision_id": self.decision_id,
            "release_id": self.release_id,
            "person_id": self.person_id,
            "decision": self.decision,
            "decision_words": self.words,
            "override": self.override,
            "reason_code": self.reason_code,
            "reason_words": self.reason_words,
            "reason_text": self.reason_text,
            "replaces": self.replaces,
            "decided_by": self.decided_by,
            "decided_by_label": self.decided_by_label,
            "role": self.role,
            "decided_at": self.decided_at.isoformat(),
            "month": self.month,
            "scores_seen": self.scores_seen,
            "model_versions": self.model_versions,
        }


def is_override(decision: str, reoffence_band: str | None, harm_band: str | None) -> bool:
    """True for a decision against the band, which needs a written reason.

    Not adopting a person whose reoffence or harm band is high or very high, or adopting
    one whose known bands are all low.

    Examples
    --------
    >>> is_override("not_now", "very high", "low")
    True
    >>> is_override("adopt", "low", "low")
    True
    >>> is_override("adopt", "low", "medium"), is_override("refer", "medium", None)
    (False, False)
    """
    bands = [b.strip().lower() for b in (reoffence_band, harm_band) if b]
    if decision != "adopt":
        return any(b in _HIGH_BANDS for b in bands)
    return bool(bands) and all(b == "low" for b in bands)


def _text(value: Any, field: str, *, required: bool, longest: int) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DecisionError(field, "must be text")
    value = value.strip()
    if required and not value:
        raise DecisionError(field, "must not be empty")
    if len(value) > longest:
        raise DecisionError(field, f"must be at most {longest} characters")
    return value


def _scores_seen(scores_seen: Mapping[str, Any] | None) -> dict[str, Any]:
    if scores_seen is None:
        return {}
    if not isinstance(scores_seen, Mapping):
        raise DecisionError("scores_seen", "must be an object of score fields")
    kept = {}
    for name in SCORES_SEEN_FIELDS:
        value = scores_seen.get(name)
        if hasattr(value, "item"):  # a numpy number
            value = value.item()
        if value is not None:
            kept[name] = value
    return kept


def _model_versions(model_versions: Mapping[str, Any] | None) -> dict[str, str]:
    if model_versions is None:
        return {}
    if not isinstance(model_versions, Mapping):
        raise DecisionError("model_versions", "must be an object of target -> version")
    return {str(target): str(version) for target, version in model_versions.items()}


def record_decision(
    store: AuditStore,
    *,
    release_id: str,
    person_id: str,
    decision: str,
    reason_code: str | None = None,
    reason_text: str | None = "",
    replaces: str | None = None,
    actor: ApiKey,
    scores_seen: Mapping[str, Any] | None,
    model_versions: Mapping[str, Any] | None,
    month: str | None = None,
) -> Decision:
    """Validate and record one decision (append-only, in the audit chain).

    Parameters
    ----------
    store : AuditStore
        The audit database.
    release_id, person_id : str
        Whom the decision is about.
    decision : str
        One of :data:`DECISIONS`.
    reason_code : str, optional
        One of :data:`OVERRIDE_REASONS`; required for an override (:func:`is_override`).
    reason_text : str, optional
        The panel's words; required for an override, at most 2000 characters.
    replaces : str, optional
        The decision this one changes: the release's latest. Required when the release
        already has a decision.
    actor : ApiKey
        Who decides; the role needs the ``decide`` permission (panel).
    scores_seen : mapping
        The score the panel saw (a score record will do: only
        :data:`SCORES_SEEN_FIELDS` are kept). Its ``reoffence_band`` and ``harm_band``
        say whether the decision is an override.
    model_versions : mapping
        Target -> model version of that score.
    month : str, optional
        The monthly list the person was on (``YYYY-MM``).

    Returns
    -------
    Decision
        As recorded.

    Raises
    ------
    DecisionError
        Naming the field and the rule it breaks.
    AuditUnavailable
        When the decision could not be written.
    """
    if "decide" not in PERMISSIONS.get(actor.role, ()):
        raise DecisionError("role", f"role '{actor.role}' may not decide")
    release_id = _text(release_id, "release_id", required=True, longest=_MAX_ID)
    person_id = _text(person_id, "person_id", required=True, longest=_MAX_ID)
    if not isinstance(decision, str) or decision not in DECISIONS:
        raise DecisionError("decision", f"must be one of {', '.join(DECISIONS)}")
    seen, versions = _scores_seen(scores_seen), _model_versions(model_versions)
    override = is_override(decision, seen.get("reoffence_band"), seen.get("harm_band"))
    if reason_code in ("", None):
        reason_code = None
    elif not isinstance(reason_code, str) or reason_code not in OVERRIDE_REASONS:
        raise DecisionError("reason_code", f"must be one of {', '.join(OVERRIDE_REASONS)}")
    reason_text = _text(reason_text, "reason_text", required=False, longest=_MAX_TEXT)
    if override and reason_code is None:
        raise DecisionError("reason_code", "a decision against the band needs a reason from the list")
    if override and not reason_text:
        raise DecisionError("reason_text", "a decision against the band needs the reason in words")
    if month is not None and (not isinstance(month, str) or not _MONTH.fullmatch(month)):
        raise DecisionError("month", "must be a month as YYYY-MM")
    replaces = replaces or None
    if replaces is not None and not isinstance(replaces, str):
        raise DecisionError("replaces", "must be a decision id")
    row = {
        "decision_id": uuid.uuid4().hex,
        "release_id": release_id,
        "person_id": person_id,
        "decision": decision,
        "reason_code": reason_code,
        "reason_text": reason_text,
        "replaces": replaces,
        "decided_by": actor.key_id,
        "decided_by_label": actor.label or "",
        "role": actor.role,
        "decided_at": audit._now(),
        "scores_seen": json.dumps(seen, sort_keys=True, default=str),
        "model_versions": json.dumps(versions, sort_keys=True),
        "month": month,
        "override": override,
    }

    def write(conn: sa.Connection) -> None:
        conn.execute(audit._HEAD_FOR_UPDATE).first()  # writers take turns before the check (PostgreSQL)
        table = audit.decisions
        latest = conn.execute(
            sa.select(table.c.decision_id).where(table.c.release_id == release_id).order_by(table.c.id.desc()).limit(1)
        ).scalar()
        if replaces is None and latest is not None:
            rule = f"release {release_id} already has decision {latest}: a change must name it in replaces"
            raise DecisionError("replaces", rule)
        if replaces is not None and replaces != latest:
            known = conn.execute(sa.select(table.c.release_id).where(table.c.decision_id == replaces)).scalar()
            if known is None:
                raise DecisionError("replaces", f"no decision {replaces}")
            if known != release_id:
                raise DecisionError("replaces", f"decision {replaces} is about another release")
            raise DecisionError("replaces", f"decision {replaces} was already replaced: the latest is {latest}")
        audit._append(conn, table, [row])

    store._run(write, write=True)
    return _decision(row)


def _decision(row: Mapping[str, Any]) -> Decision:
    return Decision(
        decision_id=row["decision_id"],
        release_id=row["release_id"],
        person_id=row["person_id"],
        decision=row["decision"],
        reason_code=row["reason_code"],
        reason_text=row["reason_text"],
        replaces=row["replaces"],
        decided_by=row["decided_by"],
        decided_by_label=row["decided_by_label"],
        role=row["role"],
        decided_at=audit._utc(audit._as_utc(row["decided_at"])),
        scores_seen=json.loads(row["scores_seen"]),
        model_versions=json.loads(row["model_versions"]),
        month=row["month"],
        override=bool(row["override"]),
    )


def list_decisions(
    store: AuditStore,
    *,
    month: str | None = None,
    decision: str | None = None,
    override: bool | None = None,
    release_id: str | None = None,
    person_id: str | None = None,
    limit: int | None = None,
) -> list[Decision]:
    """Recorded decisions, newest first, replaced ones included (the log).

    Each filter given keeps the decisions that match it: ``month`` (``YYYY-MM``, the list
    the person was on), ``decision`` (one of :data:`DECISIONS`), ``override`` (True: the
    decisions against the band), ``release_id``, ``person_id``; ``limit`` keeps the newest.

    Raises
    ------
    DecisionError
        For a filter outside its values.
    AuditUnavailable
        When the database cannot be read.
    """
    if month is not None and not _MONTH.fullmatch(month):
        raise DecisionError("month", "must be a month as YYYY-MM")
    if decision is not None and decision not in DECISIONS:
        raise DecisionError("decision", f"must be one of {', '.join(DECISIONS)}")
    if limit is not None and limit < 1:
        raise DecisionError("limit", "must be at least 1")
    table = audit.decisions
    query = sa.select(table).order_by(table.c.id.desc())
    for column, value in (
        (table.c.month, month),
        (table.c.decision, decision),
        (table.c.override, override),
        (table.c.release_id, release_id),
        (table.c.person_id, person_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if limit is not None:
        query = query.limit(limit)
    rows = store._run(lambda c: c.execute(query).all())
    return [_decision(r._mapping) for r in rows]


def latest_decisions(store: AuditStore, release_ids: Iterable[str]) -> dict[str, Decision]:
    """Each release's current decision (its newest): release id -> decision; undecided ones left out."""
    wanted = sorted(set(release_ids))
    if not wanted:
        return {}
    table = audit.decisions
    newest = (
        sa.select(sa.func.max(table.c.id))
        .where(table.c.release_id.in_(sa.bindparam("ids", expanding=True)))
        .group_by(table.c.release_id)
    )
    query = sa.select(table).where(table.c.id.in_(newest.scalar_subquery()))
    found: dict[str, Decision] = {}
    for start in range(0, len(wanted), 1000):  # bounded IN lists
        chunk = wanted[start : start + 1000]
        rows = store._run(lambda c, chunk=chunk: c.execute(query, {"ids": chunk}).all())
        found.update({r.release_id: _decision(r._mapping) for r in rows})
    return found


def decisions_csv(decisions: Iterable[Decision]) -> str:
    """The decisions log as CSV text (one row per decision, a header first).

    Text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``,
    ``-``, ``@``) are prefixed with ``'``.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for d in decisions:
        values = {
            **d.to_json(),
            "reoffence_band": d.scores_seen.get("reoffence_band"),
            "harm_band": d.scores_seen.get("harm_band"),
            "priority_rank": d.scores_seen.get("priority_rank"),
            "model_versions": json.dumps(d.model_versions, sort_keys=True),
            "scores_seen": json.dumps(d.scores_seen, sort_keys=True),
        }
        writer.writerow([_cell(values.get(name)) for name in _CSV_COLUMNS])
    return out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def record_view(store: AuditStore, *, actor: ApiKey, release_id: str, person_id: str | None) -> None:
    """Record that ``actor`` viewed a person's scores (an audit event, chained).

    The event (:data:`VIEW_EVENT`) has the key's id as its actor, and names the key's
    role and label, the release and the person;
    ``GET /audit`` shows it with the other events.

    Raises
    ------
    AuditUnavailable
        When it could not be written (the page must then not be shown).
    """
    details = {"release_id": release_id, "person_id": person_id, "role": actor.role, "label": actor.label}
    store.record_event(VIEW_EVENT, actor=actor.key_id, details=details)
