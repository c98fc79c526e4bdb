"""What the scoring service does, independent of the web framework.

``serving/service.py`` (BentoML) only maps HTTP onto :class:`ServiceState` and turns
:class:`ServiceError` into a status code and a JSON body. Every request reads the
champions once, from one immutable :class:`~riskmodel.modelling.champions.Champions` object, so a
concurrent reload (which builds the new object fully, then swaps one reference) can
never give a request a mix of versions.

A scored request is answered with the very JSON text that was written to the audit
trail: the outputs are serialised once, recorded, and only then returned, so a score
that could not be recorded is never sent (503 instead). The JSON is
:func:`riskmodel.scoring.output.render_rows`'s: needs, warnings and factors as lists.

An audit outage is logged at ERROR once when it starts (with the database's URL, its
password masked) and once, at WARNING, when the store answers again; the callers' 503
says only that the audit database is unavailable, never where it is.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import traceback
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.data.contract import ContractError, check_json_releases, unknown_fields
from riskmodel.logs import safe_url
from riskmodel.modelling.champions import Champions
from riskmodel.modelling.registry import load_champions
from riskmodel.records import decisions as panel_decisions
from riskmodel.records.audit import ApiKey, AuditStore, AuditUnavailable, SchemaOutdated
from riskmodel.scoring.output import CodedColumn, concat_columns, json_ready, render_rows, warning
from riskmodel.scoring.scoring import PRIORITY_RULES, rank_priority, score_columns, utc_now, validate_for_scoring
from riskmodel.scoring.single import LEAN_MAX_ROWS, LeanRows, lean_enabled, score_lean, validate_lean
from riskmodel.service import auth
from riskmodel.service.errors import ServiceError
from riskmodel.service.http import NO_ROLE, note_role
from riskmodel.service.workers import ChampionSync
from riskmodel.settings import Settings

__all__ = ["AUDIT_KINDS", "ServiceError", "ServiceState", "ScoredRequest", "MAX_RELEASES_PER_REQUEST"]

MAX_RELEASES_PER_REQUEST = 5_000

#: The kinds of record ``GET /audit`` shows: scoring requests, batch runs, operators' events.
AUDIT_KINDS: tuple[str, ...] = ("request", "batch", "event")

#: From this many rows a request is scored in two halves on two threads: LightGBM's
#: predictions and much of numpy release the GIL, so the halves overlap.
PARALLEL_FROM_ROWS = 256

#: How long ``/reload`` waits for the other worker processes to switch.
RELOAD_WAIT_SECONDS = 120.0

#: Requests waiting for the scoring thread are taken together up to about this many rows.
COALESCE_MAX_ROWS = 512

#: What scoring one request alone may raise because of its values (an integer too large
#: for a float, a value of an unexpected type): that request is refused with 422, as any
#: other invalid input. Anything else is the service's fault (500, the request only).
INPUT_ERRORS: tuple[type[Exception], ...] = (ArithmeticError, ValueError, TypeError)

#: What a caller is told when the audit store cannot be used (where it is stays in the log).
AUDIT_UNAVAILABLE = "audit database unavailable"

#: The fields of a ``POST /decisions`` body.
DECISION_FIELDS: tuple[str, ...] = (
    "release_id",
    "person_id",
    "decision",
    "reason_code",
    "reason_text",
    "replaces",
    "month",
    "scores_seen",
    "model_versions",
)

#: The band label of a target scored without bands (``riskmodel_scored_releases_total``).
NO_BAND = "none"

logger = logging.getLogger(__name__)


def _where(exc: BaseException) -> str:
    """Where an exception was raised (``file:line in function``), without its message.

    Messages may quote the request's values (personal data); logs name places only.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown place"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno} in {last.name}"


def _stack(exc: BaseException) -> str:
    """The traceback's frames (code lines only), without the exception's message."""
    return "".join(traceback.format_tb(exc.__traceback__)).rstrip()


def _unreadable(exc: Exception) -> ServiceError:
    """The 422 of a request whose values broke the contract's checks (not a problem they name)."""
    rule = f"values could not be read as contract values ({type(exc).__name__})"
    logger.warning("request refused: %s while validating, at %s", type(exc).__name__, _where(exc))
    return ServiceError(422, f"invalid releases: releases: {rule}", problems=[{"field": "releases", "rule": rule}])


def _unscorable(exc: Exception) -> ServiceError:
    """The error of a request that scoring alone failed on: 422 for its values, else 500."""
    if isinstance(exc, INPUT_ERRORS):
        rule = f"could not be scored: a value is out of the models' reach ({type(exc).__name__})"
        logger.warning("request refused: %s while scoring it alone, at %s", type(exc).__name__, _where(exc))
        return ServiceError(422, f"invalid releases: releases: {rule}", problems=[{"field": "releases", "rule": rule}])
    logger.error("scoring one request failed: %s\n%s", type(exc).__name__, _stack(exc))
    return ServiceError(500, f"internal error: the request was not scored ({type(exc).__name__})")


def _numbers(champions: Champions) -> dict[str, str]:
    """Target -> version number of a set of champions."""
    return {target: info.version for target, info in champions.info.items()}


def _count_bands(bands: dict[str, Any], versions: dict[str, str], start: int, end: int) -> Counter:
    """(target, band, model version) -> releases among rows ``start:end`` (band ``none`` without bands)."""
    counts: Counter = Counter()
    for target, column in bands.items():
        if column is None:
            counts[(target, NO_BAND, versions[target])] += end - start
            continue
        for name, n in Counter(str(b) for b in column[start:end]).items():
            counts[(target, name, versions[target])] += n
    return counts


@dataclass(frozen=True)
class ScoredRequest:
    """One answered scoring request: the JSON body sent (and audited) and its ids."""

    request_id: str
    body: str
    release_ids: list[str]
    model_versions: dict[str, str]

    def records(self) -> list[dict[str, Any]]:
        """The answer as Python objects (one dict per release)."""
        return json.loads(self.body)


#: At most this many ``unknown_field`` warnings per release, then one counting the rest.
MAX_UNKNOWN_FIELD_WARNINGS = 10


def _warn_unknown_fields(column: CodedColumn, ignored: list[list[str]]) -> CodedColumn:
    """Each row's warnings, then an ``unknown_field`` warning per field of its release the contract ignored."""
    if not any(ignored):
        return column
    rows = []
    for items, names in zip(column.to_pylist(), ignored, strict=True):
        rule = "not a contract column nor a declared extra feature; ignored"
        more = len(names) - MAX_UNKNOWN_FIELD_WARNINGS
        rows.append(
            items
            + [warning("unknown_field", f"{n}: {rule}", n) for n in names[:MAX_UNKNOWN_FIELD_WARNINGS]]
            + ([warning("unknown_field", f"{more} more unknown fields ignored", None)] if more > 0 else [])
        )
    return CodedColumn(rows, np.arange(len(rows), dtype=np.int64))


def _refuse(problems: list[dict[str, Any]], what: str = "invalid releases") -> ServiceError:
    summary = "; ".join(f"{p['field']}: {p['rule']}" for p in problems[:20])
    more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
    return ServiceError(422, f"{what}: {summary}{more}", problems=problems)


@dataclass
class _Job:
    """One scoring request waiting for the scoring thread."""

    releases: list[Any]
    future: Future
    authorization: str | None = None
    key: ApiKey | None = None
    rows: pd.DataFrame | LeanRows | None = None
    request_id: str | None = None
    counts: Counter | None = None  # (target, band, model version) -> releases


class ServiceState:
    """Champions, the audit store, request coalescing and reload.

    Keys are checked by :mod:`riskmodel.service.auth`, release objects by the contract
    (:func:`~riskmodel.data.contract.check_json_releases`, then
    :func:`~riskmodel.data.contract.validate_releases`).

    Scoring requests are answered by one scoring thread. Requests that arrive while it is
    busy wait in a queue and are then scored together, in one call of the scoring
    function (its fixed cost, mostly pandas, is paid once for all of them), and audited
    together, in one transaction with one record per request. Each request keeps its own
    key check, validation, ranks and answer, equal to scoring it alone.

    Parameters
    ----------
    settings : Settings
        Where the registry and the audit database are.
    metrics : RequestMetrics, optional
        Where scored releases and failed audit writes are counted
        (:class:`riskmodel.service.http.RequestMetrics`).
    """

    def __init__(self, settings: Settings, *, metrics: Any = None):
        self.settings = settings
        self.metrics = metrics
        self._outage_lock = threading.Lock()
        self._outage_since: float | None = None  # monotonic time the current audit outage began
        self._outage_refusals = 0
        self.store = AuditStore(settings.audit_url)
        self._champions: Champions = load_champions(settings)
        self._reload_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="riskmodel-score")
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._scorer: threading.Thread | None = None
        self._scorer_lock = threading.Lock()
        self.sync: ChampionSync | None = None
        try:
            self.store.create_schema()
        except SchemaOutdated:
            raise  # an earlier version's database: the service does not start until `riskmodel db upgrade`
        except AuditUnavailable as exc:
            self._audit_down(exc)  # requests will answer 503 until the database is back

    @property
    def champions(self) -> Champions:
        """The current champions (one consistent set)."""
        return self._champions

    def ready(self) -> bool:
        """True when champions are loaded and the audit store answers (a request could be scored).

        A scored request must be recorded before it is answered, so a service whose audit
        store is down cannot answer one: it is not ready, though alive. The store's
        check is one cheap query, bounded by the store's connect and statement timeouts.
        """
        if self._champions is None:
            return False
        if self.store.ping():
            self._audit_up()
            return True
        self._audit_down(None)
        return False

    def served(self) -> tuple[dict[str, str], int | None]:
        """Target -> version number served by this worker, and the published generation it serves."""
        return _numbers(self._champions), (self.sync.generation if self.sync is not None else None)

    def describe(self) -> str:
        """What this state serves and where it records, for the start-up log (no credentials).

        Examples
        --------
        ``champions reoffence v3, harm v2, frequency v2 from sqlite:////srv/rm/mlflow.db;
        audit records to postgresql+psycopg://riskmodel:***@db:5432/audit``
        """
        versions = ", ".join(f"{t} v{v}" for t, v in _numbers(self._champions).items())
        return (
            f"champions {versions} from {safe_url(self.settings.tracking_uri)};"
            f" audit records to {safe_url(self.settings.audit_url)}"
        )

    # ------------------------------------------------------------------ audit outages
    def _audit_down(self, exc: BaseException | None) -> None:
        """Note a failure to use the audit store: ERROR once when an outage begins."""
        with self._outage_lock:
            first = self._outage_since is None
            if first:
                self._outage_since, self._outage_refusals = time.monotonic(), 0
            if exc is not None:
                self._outage_refusals += 1
        if first:
            reason = str(exc) if exc is not None else f"audit database {safe_url(self.settings.audit_url)} unavailable"
            logger.error(
                "audit outage: %s; scoring requests are refused with 503 until it answers"
                " (logged once per outage; its end is logged)",
                reason,
                extra={"audit": safe_url(self.settings.audit_url), "event": "audit_outage"},
            )

    def _audit_up(self) -> None:
        """Note that the audit store was written: WARNING once when an outage ends (reads prove nothing)."""
        if self._outage_since is None:
            return
        with self._outage_lock:
            if self._outage_since is None:
                return
            seconds, refused = time.monotonic() - self._outage_since, self._outage_refusals
            self._outage_since = None
        logger.warning(
            "audit outage over: the audit database answers again after %.0f s (%d failed use(s) meanwhile)",
            seconds,
            refused,
            extra={"audit": safe_url(self.settings.audit_url), "event": "audit_recovered"},
        )

    # ------------------------------------------------------------------ access
    def authorize(self, authorization: str | None, permission: str) -> ApiKey:
        """Check ``Authorization: Bearer KEY`` for ``permission``.

        Raises
        ------
        ServiceError
            401 without a valid key, 403 when the key's role lacks the permission,
            503 when the key store cannot be read.
        """
        token = auth.bearer_token(authorization)  # 401 without a bearer key
        try:
            key = self.store.authenticate(token)
        except AuditUnavailable as exc:
            self._audit_down(exc)
            raise ServiceError(503, AUDIT_UNAVAILABLE) from None
        note_role(key.role if key is not None else NO_ROLE)  # the metrics' role label, 403s included
        return auth.permit(key, permission)

    def _authorize_jobs(self, jobs: list[_Job]) -> list[_Job]:
        """Set each job's key (one database read for all), or fail its future; the rest."""
        unchecked = [job for job in jobs if job.key is None]
        outcomes = auth.authorize_many(self.store, [job.authorization for job in unchecked], "score")
        for job, outcome in zip(unchecked, outcomes, strict=True):
            if isinstance(outcome, ServiceError):
                job.future.set_exception(outcome)
            else:
                job.key = outcome
        return [job for job in jobs if not job.future.done()]

    # ------------------------------------------------------------------ validation
    def precheck(self, releases: Any, champions: Champions) -> None:
        """The request-wide checks: a non-empty list, plain values, every required column.

        Raises
        ------
        ServiceError
            422 naming each offending field and rule.
        """
        if not isinstance(releases, list) or not releases:
            problem = {"field": "releases", "rule": "must be a non-empty list of releases"}
            raise ServiceError(422, "releases: must hold at least one release", problems=[problem])
        if len(releases) > MAX_RELEASES_PER_REQUEST:
            raise ServiceError(
                422,
                f"releases: at most {MAX_RELEASES_PER_REQUEST} per request, got {len(releases)}",
                problems=[{"field": "releases", "rule": f"at most {MAX_RELEASES_PER_REQUEST} releases per request"}],
            )
        config = champions.config
        problems = check_json_releases(
            releases, extra_numeric=config.extra_numeric, extra_categorical=config.extra_categorical
        )
        if problems:
            # a release's own problems name its index; otherwise the request's columns are refused
            raise _refuse(problems, "invalid releases" if "index" in problems[0] else "releases refused")

    def validate(self, releases: list[Any], champions: Champions, *, prechecked: bool = False) -> pd.DataFrame:
        """Contract-valid, typed rows of one request, or a 422 naming every problem."""
        if not prechecked:
            self.precheck(releases, champions)
        frame = pd.DataFrame.from_records(releases)
        try:
            table = validate_for_scoring(frame, champions, line_offset=0)
        except ContractError as exc:  # the column checks above should have caught it
            raise ServiceError(422, str(exc), problems=[{"field": "releases", "rule": str(exc)}]) from None
        if len(table.rejects):
            raise _refuse(
                [
                    {
                        "index": int(r.line),
                        "release_id": r.release_id or None,
                        "field": f"releases[{int(r.line)}].{r.column}",
                        "rule": r.reason,
                        "value": r.value,
                    }
                    for r in table.rejects.itertuples()
                ]
            )
        return table.data

    def _validate_together(self, jobs: list[_Job], champions: Champions) -> None:
        """Set each job's ``rows``, or fail its future with the 422 it would get alone.

        Prechecked requests are validated in one call; only when that call rejects a
        row (or raises, whatever the exception) is each request validated on its own, so
        that every request gets exactly the answer it would get alone (ids need only be
        unique within a request, for one thing) and no request fails for another's values.
        """
        if len(jobs) > 1:
            try:
                frame = pd.DataFrame.from_records([row for job in jobs for row in job.releases])
                table = validate_for_scoring(frame, champions, line_offset=0)
            except Exception:  # noqa: BLE001  (one request's values may break it: each alone below)
                table = None
            if table is not None and not len(table.rejects) and len(table.data) == len(frame):
                start = 0
                for job in jobs:
                    job.rows = table.data.iloc[start : start + len(job.releases)].reset_index(drop=True)
                    start += len(job.releases)
                return
        for job in jobs:
            try:
                job.rows = self.validate(job.releases, champions, prechecked=True)
            except ServiceError as exc:
                job.future.set_exception(exc)
            except Exception as exc:  # noqa: BLE001  (its values broke a check: this request only)
                job.future.set_exception(_unreadable(exc))

    @staticmethod
    def _validate_lean(jobs: list[_Job], champions: Champions) -> bool:
        """Set each job's ``rows`` by the lean path (:mod:`riskmodel.scoring.single`); False if it cannot.

        Only for at most :data:`~riskmodel.scoring.single.LEAN_MAX_ROWS` releases in all,
        each request valid whole: any refusal, or any doubt, leaves every job to the table
        path (:meth:`_validate_together`), whose refusals are the contract's own.
        """
        if not jobs or not lean_enabled() or sum(len(job.releases) for job in jobs) > LEAN_MAX_ROWS:
            return False
        lean = []
        for job in jobs:
            try:
                rows = validate_lean(job.releases, champions)
            except Exception:  # noqa: BLE001  (the table path answers for its values)
                rows = None
            if rows is None:
                return False
            lean.append(rows)
        for job, rows in zip(jobs, lean, strict=True):
            job.rows = rows
        return True

    def _precheck_each(self, jobs: list[_Job], champions: Champions) -> list[_Job]:
        """:meth:`precheck` each request on its own; the ones that pass (the others' futures fail)."""
        passed = []
        for job in jobs:
            try:
                self.precheck(job.releases, champions)
            except ServiceError as exc:
                job.future.set_exception(exc)
            except Exception as exc:  # noqa: BLE001  (its values broke a check: this request only)
                job.future.set_exception(_unreadable(exc))
            else:
                passed.append(job)
        return passed

    # ------------------------------------------------------------------ scoring
    def _score_columns(self, rows: pd.DataFrame, champions: Champions, *, rank: bool = True) -> dict[str, Any]:
        """:func:`score_columns` (no DataFrame built), in two halves on two threads for many rows.

        LightGBM's predictions release the GIL, so the halves overlap. Both carry one
        timestamp; ranks are given afterwards over all rows with the same rule, so the
        result equals one call on every row.
        """
        n = len(rows)
        if n < PARALLEL_FROM_ROWS:
            return score_columns(rows, champions, rank=rank)[0]
        stamp = utc_now()
        half = n // 2
        parts = [rows.iloc[:half], rows.iloc[half:]]
        futures = [self._pool.submit(score_columns, part, champions, scored_at=stamp, rank=False) for part in parts]
        out = concat_columns([f.result()[0] for f in futures])
        if rank:
            out["priority_rank"] = rank_priority(out["priority_score"], out["release_id"])
        return out

    def _answer(self, jobs: list[_Job]) -> None:
        """Authorize, validate, score and audit some requests; resolve every job's future.

        Each request is checked on its own (key, then its release objects); the valid
        ones are scored with one set of champions (read once). A failure is kept to the
        request that caused it: when scoring them together fails, each is scored alone;
        when their records cannot be written together but the store answers, each is
        recorded alone. A request's audit record is committed before its answer is
        released (503 when it cannot be: no unaudited score). A future only ever fails
        with :class:`ServiceError`.
        """
        try:
            champions = self._champions  # one read: one set of versions for every row here
            waiting = self._precheck_each(self._authorize_jobs(jobs), champions)
            if not self._validate_lean(waiting, champions):  # small requests: no DataFrame
                self._validate_together(waiting, champions)
            valid = [job for job in waiting if job.rows is not None]
            if valid:
                self._score_and_record(valid, champions)
        except Exception as exc:  # noqa: BLE001  (a bug here: answer 500, never leave a caller waiting)
            logger.error("answering %d request(s) failed: %s\n%s", len(jobs), type(exc).__name__, _stack(exc))
        finally:
            error = ServiceError(500, "internal error: the request was not scored")
            for job in jobs:  # never leave a caller waiting, whatever went wrong
                if not job.future.done():
                    job.future.set_exception(error)

    def _score_texts(
        self, valid: list[_Job], champions: Champions
    ) -> tuple[list[str], list[str], dict[str, np.ndarray | None]]:
        """Score valid requests together: each row's JSON text and release id, in order, and the bands.

        Each request is ranked within itself, as if scored alone. The bands are target
        -> each row's band (None for a target without bands), for the metrics.
        """
        bounds = np.cumsum([0] + [len(job.rows) for job in valid])
        if all(isinstance(job.rows, LeanRows) for job in valid):  # a few releases: no DataFrame
            output = score_lean(LeanRows.concat([job.rows for job in valid]), champions, rank=len(valid) == 1)
        else:
            rows = valid[0].rows if len(valid) == 1 else pd.concat([job.rows for job in valid], ignore_index=True)
            output = self._score_columns(rows, champions, rank=len(valid) == 1)
        if len(valid) > 1:
            scores, ids = output["priority_score"], output["release_id"]
            output["priority_rank"] = np.concatenate(
                [rank_priority(scores[a:b], ids[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
            )
        config = champions.config
        extra = {"extra_numeric": config.extra_numeric, "extra_categorical": config.extra_categorical}
        ignored = [names for job in valid for names in unknown_fields(job.releases, **extra)]
        output["warnings"] = _warn_unknown_fields(output["warnings"], ignored)
        bands = {target: output.get(f"{target}_band") for target in champions.info}
        return render_rows(output), [str(r) for r in output["release_id"].tolist()], bands

    def _score_and_record(self, valid: list[_Job], champions: Champions) -> None:
        """Score valid requests together (each alone if that fails), then record and answer them."""
        try:
            texts, release_ids, bands = self._score_texts(valid, champions)
        except Exception as exc:  # noqa: BLE001  (one request's rows may be what breaks)
            if len(valid) == 1:
                valid[0].future.set_exception(_unscorable(exc))
                return
            logger.warning(
                "scoring %d requests together failed (%s at %s); scoring each alone",
                len(valid),
                type(exc).__name__,
                _where(exc),
            )
            for job in valid:
                self._score_and_record([job], champions)
            return
        versions, versions_by_target = champions.versions(), _numbers(champions)
        answers, start = [], 0
        for job in valid:
            end = start + len(job.rows)
            job.counts = _count_bands(bands, versions_by_target, start, end)
            scored = ScoredRequest(
                request_id=job.request_id or uuid.uuid4().hex,
                body="[" + ", ".join(texts[start:end]) + "]",
                release_ids=release_ids[start:end],
                model_versions=versions,
            )
            answers.append((job, scored))
            start = end
        self._record(answers)

    def _record(self, answers: list[tuple[_Job, ScoredRequest]]) -> None:
        """Write the answers' audit records in one transaction, then release them.

        When that fails but the store still answers, one request's record may be what it
        refuses: each is then recorded (and answered, or refused with 503) on its own.
        """
        try:
            self.store.record_requests(
                [
                    {
                        "request_id": scored.request_id,
                        "key": job.key,
                        "release_ids": scored.release_ids,
                        "model_versions": scored.model_versions,
                        "outputs": scored.body,
                    }
                    for job, scored in answers
                ]
            )
        except AuditUnavailable as exc:
            if self.metrics is not None:
                self.metrics.count_audit_write_failure()
            if len(answers) > 1 and self.store.ping():
                logger.warning("recording %d requests together failed; recording each alone", len(answers))
                for answer in answers:
                    self._record([answer])
                return
            self._audit_down(exc)
            error = ServiceError(503, f"not scored: the audit record could not be written ({AUDIT_UNAVAILABLE})")
            for job, _ in answers:
                job.future.set_exception(error)
            return
        self._audit_up()
        if self.metrics is not None:
            self.metrics.count_scored(sum((job.counts or Counter() for job, _ in answers), Counter()))
        for job, scored in answers:
            job.future.set_result(scored)

    def _run_scorer(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            jobs, rows = [job], len(job.releases) if isinstance(job.releases, list) else 0
            while rows < COALESCE_MAX_ROWS:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)
                    break
                jobs.append(more)
                rows += len(more.releases) if isinstance(more.releases, list) else 0
            try:
                self._answer(jobs)
            except Exception as exc:  # noqa: BLE001  (the futures carry it; the thread must live on)
                logger.error("scoring thread: unexpected %s\n%s", type(exc).__name__, _stack(exc))

    def submit(
        self, authorization: str | None, releases: Any, *, key: ApiKey | None = None, request_id: str | None = None
    ) -> Future:
        """Queue one scoring request; the future gives its :class:`ScoredRequest`.

        The future fails with :class:`ServiceError` only: 401/403/422/503 when the request
        is refused, 500 (this request only) for a failure that is not its input's. Used
        by the HTTP endpoint, which awaits it; it has already checked the key (before
        reading the body) and passes it as ``key``, so the scoring thread does not read
        it again, and the request's id (``request_id``: its ``X-Request-Id`` and audit
        record's id; a new one by default).
        """
        if self._scorer is None:
            with self._scorer_lock:
                if self._scorer is None:
                    self._scorer = threading.Thread(target=self._run_scorer, name="riskmodel-scorer", daemon=True)
                    self._scorer.start()
        job = _Job(releases=releases, future=Future(), authorization=authorization, key=key, request_id=request_id)
        self._jobs.put(job)
        return job.future

    def close(self) -> None:
        """Stop the scoring thread (after the requests already queued) and the champion watch."""
        if self._scorer is not None:
            self._jobs.put(None)
            self._scorer.join(timeout=30)
        if self.sync is not None:
            self.sync.stop()
        self._pool.shutdown(wait=False)

    def score_request(self, key: ApiKey, releases: list[Any]) -> ScoredRequest:
        """Validate, score and audit one request in this thread; all or nothing.

        Returns
        -------
        ScoredRequest
            The JSON body to send, exactly as recorded in the audit trail.

        Raises
        ------
        ServiceError
            422 naming each offending field and rule; 503 when the audit record
            cannot be written (no unaudited score is ever returned); 500 for a
            failure that is not the input's.
        """
        job = _Job(releases=releases, future=Future(), key=key)
        self._answer([job])
        return job.future.result()

    def score(self, key: ApiKey, releases: list[Any]) -> list[dict[str, Any]]:
        """Like :meth:`score_request`, answering the records as Python objects."""
        return self.score_request(key, releases).records()

    # ------------------------------------------------------------------ other endpoints
    def model_info(self) -> dict[str, Any]:
        """Versions, training-data fingerprints, test metrics, model cards and accepted gate rules."""
        champions = self._champions
        return {
            "models": {
                target: {
                    "name": info.name,
                    "version": info.version,
                    "run_id": info.run_id,
                    "training_data_fingerprint": info.fingerprint,
                    "test_metrics": {k: json_ready(v) for k, v in info.metrics.items() if k.startswith("model.")},
                    "model_card": info.model_card,
                    # rules an operator accepted when it was made champion: who, when, rule, figures
                    "acceptances": [json_ready(dict(item)) for item in info.acceptances],
                    # how its margin is predicted: compiled trees (lleaves) or LightGBM, and why
                    "compiled": json_ready(dict(champions.engines.get(target, {}))),
                }
                for target, info in champions.info.items()
            },
            "priority_rule": {
                "name": champions.scoring.priority_rule,
                "meaning": PRIORITY_RULES[champions.scoring.priority_rule],
            },
            "bands": {"reoffence": champions.scoring.reoffence_bands, "harm": champions.scoring.harm_bands},
        }

    def reload(self) -> dict[str, str]:
        """Load the current champions, then swap them in atomically.

        Requests keep being answered by the old set while the new one loads; each
        request reads the reference once, so it sees one set or the other, never both.
        With several worker processes (:meth:`join_workers`) the new versions are then
        published to the others, and this returns only when every worker serves them.

        Raises
        ------
        ServiceError
            503 when the registry has no complete champion set (the old one stays), or
            when another worker did not switch in time.
        """
        with self._reload_lock:
            try:
                fresh = load_champions(self.settings)
            except LookupError as exc:
                raise ServiceError(503, f"not reloaded, still serving {self._champions.versions()}: {exc}") from None
            self._champions = fresh
            generation = self.sync.publish(_numbers(fresh)) if self.sync is not None else None
        if generation is not None:
            behind = self.sync.wait(generation, timeout=RELOAD_WAIT_SECONDS)
            if behind:
                raise ServiceError(
                    503,
                    f"reloaded to {fresh.versions()} in this worker, but worker(s) {behind} did not switch"
                    f" within {RELOAD_WAIT_SECONDS:.0f} s; they keep serving their earlier versions until they do",
                )
        return fresh.versions()

    def join_workers(self, folder: Path, *, worker: int, workers: int, service: str | None = None) -> None:
        """Keep this worker process on the champions the others publish (:mod:`riskmodel.service.workers`).

        A worker (re)starting in a running service serves the versions of the published
        generation, not the ``champion`` aliases (which may have moved without a reload);
        the first worker of a new service publishes the versions it loaded.

        Parameters
        ----------
        folder : Path
            The workers' shared folder (``RISKMODEL_HOME/serving``).
        worker, workers : int
            This worker's number (1..``workers``) and how many serve.
        service : str, optional
            The running service (default: :func:`riskmodel.service.workers.service_id`).

        Raises
        ------
        LookupError
            When the published versions are no longer in the registry (the worker must
            not serve others than its peers; a ``/reload`` publishes loadable ones).
        """
        self.sync = ChampionSync(folder, worker=worker, workers=workers, load=self._load_versions, service=service)
        versions = self.sync.join(_numbers(self._champions))
        if versions != _numbers(self._champions):
            self._load_versions(versions)
        self.sync.acknowledge(versions)
        self.sync.start()

    def _load_versions(self, versions: dict[str, str]) -> None:
        with self._reload_lock:
            self._champions = load_champions(self.settings, versions=versions)

    def audit(
        self, *, limit: int = 100, release_id: str | None = None, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """Recent audit records, newest first (auditor only): scoring requests, batch runs and events.

        Each record says its ``kind`` (:data:`AUDIT_KINDS`) and when it happened (``at``);
        ``kind`` keeps one kind, ``release_id`` keeps the requests that scored it.
        """
        for name, ok, rule in (
            ("limit", 1 <= limit <= 1000, "must be 1 <= limit <= 1000"),
            ("kind", kind in (None, *AUDIT_KINDS), f"must be one of {', '.join(AUDIT_KINDS)}"),
        ):
            if not ok:
                raise ServiceError(422, f"{name}: {rule}", problems=[{"field": name, "rule": rule}])
        wanted = ("request",) if release_id is not None else (kind,) if kind else AUDIT_KINDS
        try:
            records = [
                record for wanted_kind in wanted for record in self._audit_records(wanted_kind, limit, release_id)
            ]
        except AuditUnavailable as exc:
            self._audit_down(exc)
            raise ServiceError(503, AUDIT_UNAVAILABLE) from None
        return sorted(records, key=lambda record: record["at"], reverse=True)[:limit]

    def _audit_records(self, kind: str, limit: int, release_id: str | None) -> list[dict[str, Any]]:
        """One kind's records as ``/audit`` answers them (times as ISO 8601 text)."""
        if kind == "request":
            return [
                {"kind": kind, "at": r["requested_at"], **r}
                for r in self.store.requests(limit=limit, release_id=release_id)
            ]
        if kind == "batch":
            return [
                {
                    "kind": kind,
                    "at": b["finished_at"].isoformat(),
                    **{k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in b.items()},
                }
                for b in self.store.batch_records(limit=limit)
            ]
        return [
            {"kind": kind, "at": e["at"], "event": e["kind"], "actor": e["actor"], "details": e["details"]}
            for e in self.store.events(limit=limit)
        ]

    # ------------------------------------------------------------------ decisions
    @staticmethod
    def read_json(raw: bytes) -> Any:
        """A request body parsed as JSON.

        Raises
        ------
        ServiceError
            400 when it is not JSON text in UTF-8.
        """
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):  # (JSONDecodeError and UnicodeDecodeError are ValueErrors)
            rule = "must be JSON text in UTF-8"
            raise ServiceError(
                400, f"body: not valid JSON ({rule})", problems=[{"field": "body", "rule": rule}]
            ) from None

    def record_decision(self, key: ApiKey, body: Any) -> dict[str, Any]:
        """Record one panel decision (``POST /decisions``); the decision as recorded, as JSON values.

        ``body`` is the parsed JSON object: ``release_id``, ``person_id``, ``decision``
        (:data:`~riskmodel.records.decisions.DECISIONS`), ``reason_code``, ``reason_text``,
        ``replaces``, ``month``, and the ``scores_seen`` and ``model_versions`` the panel
        saw. Without ``scores_seen``, the release's latest score answered by this service
        (its audit record) is taken, with that answer's model versions.

        Raises
        ------
        ServiceError
            422 naming the field and the rule (:class:`~riskmodel.records.decisions.DecisionError`);
            503 when the audit database cannot be used.
        """
        if not isinstance(body, dict):
            raise _refuse([{"field": "body", "rule": "must be a JSON object"}], "invalid decision")
        unknown = sorted(set(body) - set(DECISION_FIELDS))
        if unknown:
            rule = f"not a decision field (fields: {', '.join(DECISION_FIELDS)})"
            raise _refuse([{"field": name, "rule": rule} for name in unknown], "invalid decision")
        values = {name: body.get(name) for name in DECISION_FIELDS}
        try:
            if values["scores_seen"] is None and isinstance(values["release_id"], str):
                values["scores_seen"], seen_versions = self._latest_score(values["release_id"])
                values["model_versions"] = values["model_versions"] or seen_versions
            if not values["scores_seen"]:
                rule = "required: the score the panel saw (this release has no score answered by the service)"
                raise panel_decisions.DecisionError("scores_seen", rule)
            decision = panel_decisions.record_decision(self.store, actor=key, **values)
        except panel_decisions.DecisionError as exc:
            raise _refuse([{"field": exc.field, "rule": exc.rule}], "invalid decision") from None
        except AuditUnavailable as exc:
            self._audit_down(exc)
            raise ServiceError(503, f"not recorded: {AUDIT_UNAVAILABLE}") from None
        return decision.to_json()

    def _latest_score(self, release_id: str) -> tuple[dict[str, Any] | None, dict[str, str]]:
        """The release's latest score answered by this service, and its model versions (from the audit trail)."""
        for record in self.store.requests(limit=1, release_id=release_id):
            for output in record["outputs"]:
                if isinstance(output, dict) and output.get("release_id") == release_id:
                    return output, record["model_versions"]
        return None, {}

    def decisions(
        self,
        *,
        month: str | None = None,
        decision: str | None = None,
        override: bool | None = None,
        release_id: str | None = None,
        person_id: str | None = None,
        limit: int = 100,
    ) -> list[panel_decisions.Decision]:
        """The decisions log, newest first (``GET /decisions``), filtered as
        :func:`~riskmodel.records.decisions.list_decisions`; at most ``limit`` (1 to 10000).

        Raises
        ------
        ServiceError
            422 for a filter outside its values; 503 when the audit database cannot be read.
        """
        if not 1 <= limit <= 10_000:
            rule = "must be 1 <= limit <= 10000"
            raise ServiceError(422, f"limit: {rule}", problems=[{"field": "limit", "rule": rule}])
        try:
            return panel_decisions.list_decisions(
                self.store,
                month=month,
                decision=decision,
                override=override,
                release_id=release_id,
                person_id=person_id,
                limit=limit,
            )
        except panel_decisions.DecisionError as exc:
            raise _refuse([{"field": exc.field, "rule": exc.rule}], "invalid filter") from None
        except AuditUnavailable as exc:
            self._audit_down(exc)
            raise ServiceError(503, AUDIT_UNAVAILABLE) from None
