"""The panel's pages over HTTP: sign-in, the month's list, a person, a decision, one release, the log, the models.

Mounted under ``/panel`` by ``serving/service.py`` (:func:`bind` gives the pages the
worker's :class:`~riskmodel.service.state.ServiceState`). Every page is rendered on the
server with Jinja2 (autoescaped) and works without JavaScript; the only file besides the
pages is a style sheet served from the package.

Security, page by page:

* A sign-in turns an API key into a server-side session (:mod:`riskmodel.records.sessions`):
  a new random id every time (no fixation), in a cookie that is HttpOnly, SameSite=Strict
  and Secure when ``RISKMODEL_PANEL_SECURE_COOKIE`` is ``true`` (``auto``, the default:
  when the request came over HTTPS). Idle and absolute timeouts come from
  ``RISKMODEL_PANEL_IDLE_TIMEOUT_S`` (default 30 minutes) and
  ``RISKMODEL_PANEL_ABSOLUTE_TIMEOUT_S`` (default 8 hours).
* Every form post carries a CSRF token: the session's, or before sign-in a random token
  held in a cookie of its own (double submit). A post without the right token is refused
  with a page (403) and changes nothing.
* Every answer carries a Content-Security-Policy with no script at all,
  ``X-Frame-Options: DENY`` and ``Cache-Control: no-store``.
* A role without the permission a page needs gets a page saying so (403), not a trace.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlencode

import anyio.to_thread
from fastapi import APIRouter, Request
from jinja2 import Environment, PackageLoader, StrictUndefined
from markdown_it import MarkdownIt
from markupsafe import Markup
from starlette.responses import HTMLResponse, RedirectResponse, Response

from riskmodel._constants import OFFENCE_GROUPS, SEXES
from riskmodel.data.contract import RELEASE_SPECS
from riskmodel.records import decisions as decision_store
from riskmodel.records import sessions as session_store
from riskmodel.records.audit import PERMISSIONS, ApiKey, AuditUnavailable
from riskmodel.scoring.explain import feature_label
from riskmodel.scoring.output import NEED_CODES, NEED_WORDS
from riskmodel.service.errors import ServiceError
from riskmodel.service.panel import views

if TYPE_CHECKING:
    from riskmodel.records.sessions import Session
    from riskmodel.service.state import ServiceState

__all__ = ["router", "bind", "PanelSettings", "SECURITY_HEADERS", "COOKIE"]

logger = logging.getLogger("riskmodel.panel")

router = APIRouter()

#: The session cookie and the sign-in form's CSRF cookie.
COOKIE = "riskmodel_panel"
SIGN_IN_COOKIE = "riskmodel_panel_signin"

#: Headers of every panel answer: no script may run, no frame may hold the page, nothing is cached.
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self';"
        " frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

#: Rows of the list drawn at most (the filters narrow it further).
MAX_LIST_ROWS = 1000


@dataclass(frozen=True)
class PanelSettings:
    """The pages' session settings (``RISKMODEL_PANEL_*``).

    Examples
    --------
    >>> PanelSettings.from_env({"RISKMODEL_PANEL_IDLE_TIMEOUT_S": "60"}).idle_timeout_s
    60
    """

    idle_timeout_s: int = 30 * 60
    absolute_timeout_s: int = 8 * 60 * 60
    secure_cookie: str = "auto"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PanelSettings:
        """Settings from the environment.

        Raises
        ------
        ValueError
            When a timeout is not a positive whole number of seconds, or the cookie
            setting is not ``auto``, ``true`` or ``false``.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, attr in (
            ("RISKMODEL_PANEL_IDLE_TIMEOUT_S", "idle_timeout_s"),
            ("RISKMODEL_PANEL_ABSOLUTE_TIMEOUT_S", "absolute_timeout_s"),
        ):
            text = (env.get(name) or "").strip()
            if text:
                if not text.isdigit() or int(text) < 1:
                    raise ValueError(f"{name}: must be a positive whole number of seconds, got {text!r}")
                values[attr] = int(text)
        secure = (env.get("RISKMODEL_PANEL_SECURE_COOKIE") or "auto").strip().lower()
        if secure not in ("auto", "true", "false"):
            raise ValueError(f"RISKMODEL_PANEL_SECURE_COOKIE: must be auto, true or false, got {secure!r}")
        return cls(**values, secure_cookie=secure)


def bind(app: Any, state: ServiceState) -> None:
    """Give the pages mounted in ``app`` the worker's state and the panel settings."""
    app.state.riskmodel_state = state
    app.state.panel_settings = PanelSettings.from_env()


# --------------------------------------------------------------------------- rendering


def _percent(p: Any) -> str:
    return "" if p is None else f"{float(p):.0%}"


def _points(contribution: Any) -> str:
    points = abs(float(contribution)) * 100
    return "less than 1 point" if points < 0.5 else "1 point" if points < 1.5 else f"{points:.0f} points"


def _when(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%d %b %Y %H:%M UTC")
    return "" if value is None else str(value)


def person_url(release_id: Any) -> str:
    """The person page's path of a release (the id quoted whole: it may hold any character)."""
    return "/panel/person/" + quote(str(release_id), safe="")


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("riskmodel", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        percent=_percent,
        points=_points,
        thousands=lambda value: f"{value:,.0f}",  # the report's macros use it
        when=_when,
        need_words=lambda code: NEED_WORDS.get(code, code),
        feature_words=feature_label,
        person_url=person_url,
    )
    environment.globals.update(
        decision_words=decision_store.DECISION_WORDS,
        reason_words=decision_store.OVERRIDE_REASONS,
        need_codes=NEED_CODES,
        bands=views.BANDS,
    )
    return environment


def _card_html(card: str) -> Markup:
    """A model card (Markdown) as HTML: raw HTML, pictures and links shown as text; headings as ``<h3>``."""
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table").disable(["image", "link", "autolink"])
    tokens = markdown.parse(card)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = "h3" if token.tag in ("h1", "h2") else "h4"
    return Markup(markdown.renderer.render(tokens, markdown.options, {}))


def _html(template: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    text = _environment().get_template(f"panel/{template}").render(context)
    return HTMLResponse(text, status_code=status, headers=SECURITY_HEADERS)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


# --------------------------------------------------------------------------- sessions and access


@dataclass
class _Visit:
    """One request to a page: the state, the settings, and the signed-in session (None: not signed in)."""

    request: Request
    state: ServiceState
    settings: PanelSettings
    session: Session | None

    @property
    def key(self) -> ApiKey:
        assert self.session is not None
        return self.session.key

    def may(self, permission: str) -> bool:
        return self.session is not None and permission in PERMISSIONS.get(self.session.key.role, frozenset())

    def context(self, **values: Any) -> dict[str, Any]:
        session = self.session
        return {
            "signed_in": session is not None,
            "who": session.key.label or session.key.key_id if session else "",
            "role": session.key.role if session else "",
            "csrf": session.csrf_token if session else "",
            "may": self.may,
            "path": self.request.url.path,
            **values,
        }


def _visit(request: Request) -> _Visit:
    """The request's state and session (read in a worker thread: the store is synchronous)."""
    state = request.app.state.riskmodel_state
    settings = request.app.state.panel_settings
    session_id = request.cookies.get(COOKIE)
    session = session_store.get_session(state.store, session_id) if session_id else None
    return _Visit(request=request, state=state, settings=settings, session=session)


def _refused(visit: _Visit, what: str, *, status: int = 403) -> HTMLResponse:
    return _html("refused.html", visit.context(title="Not allowed", what=what), status=status)


def _unavailable(request: Request) -> HTMLResponse:
    context = {"signed_in": False, "who": "", "role": "", "csrf": "", "may": lambda _p: False, "path": ""}
    context.update(title="Unavailable", what="the audit database cannot be reached just now; try again shortly")
    return _html("refused.html", context, status=503)


async def _serve(
    request: Request, work: Callable[[_Visit], Response], *, permission: str | None, form: dict[str, str] | None = None
) -> Response:
    """Run a page: sign-in check, permission check, CSRF check for posts, then ``work`` (in a worker thread)."""

    def run() -> Response:
        visit = _visit(request)
        if visit.session is None:
            return _redirect("/panel/sign-in?ended=1" if request.cookies.get(COOKIE) else "/panel/sign-in")
        if form is not None and not session_store.check_csrf(visit.session, form.get("csrf")):
            return _refused(visit, "send this form: it was out of date or not sent from this site. Reload the page")
        if permission is not None and not visit.may(permission):
            return _refused(visit, f"open this page with the role '{visit.key.role}'")
        return work(visit)

    try:
        return await anyio.to_thread.run_sync(run)
    except AuditUnavailable:
        logger.error("panel page %s: audit database unavailable", request.url.path)
        return _unavailable(request)


async def _form(request: Request) -> dict[str, str]:
    """A posted form (``application/x-www-form-urlencoded``): each field's first value."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {name: values[0] for name, values in parse_qs(body, keep_blank_values=True).items()}


def _cookie_secure(visit_settings: PanelSettings, request: Request) -> bool:
    if visit_settings.secure_cookie == "auto":
        return request.url.scheme == "https"
    return visit_settings.secure_cookie == "true"


# --------------------------------------------------------------------------- sign-in and sign-out


@router.get("/sign-in", include_in_schema=False)
def sign_in_page(request: Request) -> Response:
    """The sign-in form, with a fresh double-submit CSRF token."""
    token = secrets.token_urlsafe(32)
    note = "ended" if request.query_params.get("ended") else "out" if request.query_params.get("out") else ""
    return _sign_in_form(request, token, note=note)


def _sign_in_form(request: Request, token: str, *, note: str = "", error: str = "", status: int = 200) -> Response:
    context = {"signed_in": False, "who": "", "role": "", "csrf": token, "may": lambda _p: False, "path": ""}
    context.update(title="Sign in", note=note, error=error)
    response = _html("sign_in.html", context, status=status)
    secure = _cookie_secure(request.app.state.panel_settings, request)
    response.set_cookie(
        SIGN_IN_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/panel", max_age=3600
    )
    return response


@router.post("/sign-in", include_in_schema=False)
async def sign_in(request: Request) -> Response:
    """Check the key, end any earlier session, start a new one (a new id) and go to the list."""
    form = await _form(request)
    expected = request.cookies.get(SIGN_IN_COOKIE) or ""
    sent = form.get("csrf") or ""
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        return _sign_in_form(
            request,
            secrets.token_urlsafe(32),
            error="This form was out of date or not sent from this site; sign in again.",
            status=403,
        )
    state: ServiceState = request.app.state.riskmodel_state
    settings: PanelSettings = request.app.state.panel_settings

    def start() -> str | None:
        old = request.cookies.get(COOKIE)
        if old:
            session_store.end_session(state.store, old)
        key = state.store.authenticate((form.get("key") or "").strip()) if (form.get("key") or "").strip() else None
        if key is None:
            return None
        session_id, _csrf = session_store.create_session(
            state.store, key, idle_timeout_s=settings.idle_timeout_s, absolute_timeout_s=settings.absolute_timeout_s
        )
        return session_id

    try:
        session_id = await anyio.to_thread.run_sync(start)
    except AuditUnavailable:
        return _unavailable(request)
    if session_id is None:
        return _sign_in_form(
            request, secrets.token_urlsafe(32), error="This key is unknown or has been revoked.", status=401
        )
    response = _redirect("/panel/")
    response.set_cookie(
        COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        secure=_cookie_secure(settings, request),
        path="/panel",
        max_age=settings.absolute_timeout_s,
    )
    response.delete_cookie(SIGN_IN_COOKIE, path="/panel")
    return response


@router.post("/sign-out", include_in_schema=False)
async def sign_out(request: Request) -> Response:
    """End the session and forget its cookie."""
    form = await _form(request)

    def work(visit: _Visit) -> Response:
        session_store.end_session(visit.state.store, visit.session.session_id)
        response = _redirect("/panel/sign-in?out=1")
        response.delete_cookie(COOKIE, path="/panel")
        return response

    return await _serve(request, work, permission=None, form=form)


# --------------------------------------------------------------------------- this month


def _capacity(state: ServiceState) -> int:
    return int(state.champions.scoring.capacity)


@router.get("/", include_in_schema=False)
async def this_month(request: Request) -> Response:
    """The latest batch's ranked list with its filters."""

    def work(visit: _Visit) -> Response:
        store = visit.state.store
        capacity = _capacity(visit.state)
        filters = views.Filters.from_query(request.query_params, capacity)
        month = views.latest_month(store)
        rows: list[dict[str, Any]] = []
        latest: dict[str, Any] = {}
        decided_total = 0
        if month is not None:
            on_list = [str(r["release_id"]) for r in month.rows[:capacity]]
            wanted = on_list + [str(r["release_id"]) for r in views.filter_rows(month.rows, filters)][:MAX_LIST_ROWS]
            latest = decision_store.latest_decisions(store, set(wanted))
            decided_total = sum(1 for release in on_list if release in latest)
            rows = views.filter_rows(month.rows, filters, decided=set(latest) if filters.decided else None)
        has_arp = bool(rows) and any("arp_2y" in r for r in rows[:1])
        return _html(
            "list.html",
            visit.context(
                title="This month",
                month=month,
                filters=filters,
                capacity=capacity,
                rows=rows[:MAX_LIST_ROWS],
                shown_all=len(rows) <= MAX_LIST_ROWS,
                total=len(rows),
                latest=latest,
                decided_total=decided_total,
                has_arp=has_arp,
            ),
        )

    return await _serve(request, work, permission="decisions")


# --------------------------------------------------------------------------- a person


def _person_page(
    visit: _Visit, release_id: str, *, errors: dict[str, str] | None = None, values: dict[str, str] | None = None
) -> Response:
    store = visit.state.store
    month = views.latest_month(store)
    row, source = views.person_record(store, month, release_id)
    if row is None:
        return _html(
            "refused.html",
            visit.context(title="Not found", what=None, missing=release_id),
            status=404,
        )
    if errors is None:  # a view, not a refused post: audited as a score is
        decision_store.record_view(store, actor=visit.key, release_id=release_id, person_id=row.get("person_id"))
    history = decision_store.list_decisions(store, release_id=release_id)
    earlier = views.earlier_scores(store, month, row, source)
    override_now = {
        code: decision_store.is_override(code, row.get("reoffence_band"), row.get("harm_band"))
        for code in decision_store.DECISIONS
    }
    return _html(
        "person.html",
        visit.context(
            title=f"Release {release_id}",
            row=row,
            source=source,
            month=month if source == "batch" else None,
            history=history,
            latest=history[0] if history else None,
            earlier=earlier,
            errors=errors or {},
            values=values or {},
            override_now=override_now,
            saved=visit.request.query_params.get("saved") == "1",
        ),
        status=422 if errors else 200,
    )


@router.get("/person/{release_id:path}", include_in_schema=False)
async def person(request: Request, release_id: str) -> Response:
    """One release: every score, its factors, needs, warnings, versions, history and the decision form."""
    return await _serve(request, lambda visit: _person_page(visit, release_id), permission="decisions")


@router.post("/person/{release_id:path}", include_in_schema=False)
async def decide(request: Request, release_id: str) -> Response:
    """Record the panel's decision on one release (a new decision; a change names the one it replaces)."""
    form = await _form(request)

    def work(visit: _Visit) -> Response:
        store = visit.state.store
        month = views.latest_month(store)
        row, source = views.person_record(store, month, release_id)
        if row is None:
            return _html("refused.html", visit.context(title="Not found", what=None, missing=release_id), status=404)
        values = {name: form.get(name, "") for name in ("decision", "reason_code", "reason_text", "replaces")}
        try:
            decision_store.record_decision(
                store,
                release_id=release_id,
                person_id=str(row.get("person_id") or ""),
                decision=values["decision"],
                reason_code=values["reason_code"] or None,
                reason_text=values["reason_text"].strip(),
                replaces=values["replaces"] or None,
                actor=visit.key,
                scores_seen=views.scores_seen(row, batch_id=month.batch_id if source == "batch" and month else None),
                model_versions=views.model_versions(row),
                month=month.month if source == "batch" and month else None,
            )
        except decision_store.DecisionError as exc:
            return _person_page(visit, release_id, errors={exc.field: exc.rule}, values=values)
        return _redirect(person_url(release_id) + "?saved=1#decision")

    return await _serve(request, work, permission="decide", form=form)


# --------------------------------------------------------------------------- score one release

#: The score form's fields: the contract's release columns without ``ethnicity`` (never asked, never shown).
FORM_SPECS = tuple(spec for spec in RELEASE_SPECS if spec.name != "ethnicity")

_FIELD = re.compile(r"^releases\[[^\]]*\]\.?")


def _form_fields() -> list[dict[str, Any]]:
    fields = []
    for spec in FORM_SPECS:
        kind = spec.kind
        if spec.name == "sex":
            choices = list(SEXES)
        elif spec.name == "index_offence":
            choices = list(OFFENCE_GROUPS)
        elif kind == "boolean":
            choices = ["yes", "no"]
        else:
            choices = None
        fields.append(
            {
                "name": spec.name,
                "label": spec.name.replace("_", " "),
                "required": spec.required,
                "choices": choices,
                "hint": "YYYY-MM-DD" if kind == "date" else "",
                "numeric": kind in ("number", "integer"),
            }
        )
    return fields


def _score_page(visit: _Visit, *, values: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    return _html(
        "score.html",
        visit.context(title="Score one release", fields=_form_fields(), values=values, errors=errors),
        status=status,
    )


@router.get("/score", include_in_schema=False)
async def score_form(request: Request) -> Response:
    """The form for one release that is not in the month's batch."""
    return await _serve(request, lambda visit: _score_page(visit, values={}, errors={}), permission="score")


@router.post("/score", include_in_schema=False)
async def score_one(request: Request) -> Response:
    """Score one release with the API's own validation and audit; then show its person page."""
    form = await _form(request)

    def work(visit: _Visit) -> Response:
        values = {spec.name: (form.get(spec.name) or "").strip() for spec in FORM_SPECS}
        release = {name: value for name, value in values.items() if value}
        try:
            scored = visit.state.score_request(visit.key, [release])
        except ServiceError as exc:
            errors: dict[str, str] = {}
            for problem in exc.body.get("problems") or [{"field": "releases", "rule": exc.body["error"]}]:
                name = _FIELD.sub("", str(problem.get("field") or "")) or "releases"
                rule = str(problem.get("rule"))
                rule = "required: fill it in" if rule.startswith("required column is absent") else rule
                errors.setdefault(name if name in values else "releases", rule)
            return _score_page(visit, values=values, errors=errors, status=exc.status)
        return _redirect(person_url(scored.release_ids[0]))

    return await _serve(request, work, permission="score", form=form)


# --------------------------------------------------------------------------- the decisions log


def _log_filters(query: Mapping[str, str]) -> dict[str, Any]:
    month = (query.get("month") or "").strip()
    decision = query.get("decision") or ""
    override = query.get("override") or ""
    return {
        "month": month if re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month) else None,
        "decision": decision if decision in decision_store.DECISIONS else None,
        "override": {"yes": True, "no": False}.get(override),
    }


@router.get("/decisions", include_in_schema=False)
async def decisions_log(request: Request) -> Response:
    """Every decision, newest first, filtered by month, decision and override."""

    def work(visit: _Visit) -> Response:
        filters = _log_filters(request.query_params)
        found = decision_store.list_decisions(visit.state.store, **filters, limit=MAX_LIST_ROWS)
        query = urlencode({k: v for k, v in request.query_params.items() if k in ("month", "decision", "override")})
        return _html(
            "decisions.html",
            visit.context(
                title="Decisions log",
                decisions=found,
                query=request.query_params,
                csv_url="/panel/decisions.csv" + (f"?{query}" if query else ""),
                may_export=visit.may("export"),
            ),
        )

    return await _serve(request, work, permission="decisions")


@router.get("/decisions.csv", include_in_schema=False)
async def decisions_export(request: Request) -> Response:
    """The log's decisions as CSV (operator and auditor: the ``export`` permission)."""

    def work(visit: _Visit) -> Response:
        found = decision_store.list_decisions(visit.state.store, **_log_filters(request.query_params))
        headers = {**SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="decisions.csv"'}
        return Response(decision_store.decisions_csv(found), media_type="text/csv; charset=utf-8", headers=headers)

    return await _serve(request, work, permission="export")


# --------------------------------------------------------------------------- the models


@router.get("/models", include_in_schema=False)
async def models(request: Request) -> Response:
    """Each champion's card, fairness tables, gates and acceptances, and the transparency record."""

    def work(visit: _Visit) -> Response:
        info = visit.state.model_info()
        try:
            from riskmodel.modelling.registry import champions_state

            gates = {state.target: state for state in champions_state(visit.state.settings)}
        except Exception as exc:  # noqa: BLE001  (the registry may be away: the page says so)
            logger.warning("models page: champions' gate records unavailable (%s)", type(exc).__name__)
            gates = {}
        cards = {target: _card_html(model["model_card"]) for target, model in info["models"].items()}
        extra = {
            target: {k: v for k, v in model.items() if k in ("acceptances", "accepted", "gates")}
            for target, model in info["models"].items()
        }
        return _html(
            "models.html",
            visit.context(
                title="Models",
                info=info,
                cards=cards,
                gates=gates,
                extra=extra,
                atrs=views.atrs_record(info["models"]),
                atrs_words=ATRS_WORDS,
            ),
        )

    return await _serve(request, work, permission="model")


# --------------------------------------------------------------------------- impact


@router.get("/impact", include_in_schema=False)
async def impact(request: Request) -> Response:
    """The last ``riskmodel impact`` run: observed against expected for adopted and other people."""

    def work(visit: _Visit) -> Response:
        from riskmodel.reporting.impact_report import render_impact_section
        from riskmodel.reporting.impact_run import latest_summary

        summary = latest_summary(visit.state.settings)
        section = render_impact_section(summary) if summary is not None else None
        return _html("impact.html", visit.context(title="Impact", section=section))

    return await _serve(request, work, permission="model")


#: The transparency record's fields as headings.
ATRS_WORDS: dict[str, str] = {
    "owner": "Owner and contact",
    "purpose": "Purpose",
    "decision_process": "How the tool is used in decisions, with human review",
    "contest": "How to contest a decision",
    "risks": "Risks and how they are handled",
}


# --------------------------------------------------------------------------- the style sheet


@router.get("/static/panel.css", include_in_schema=False)
def style_sheet() -> Response:
    """The pages' one style sheet, shipped with the package."""
    text = resources.files("riskmodel").joinpath("templates/panel/static/panel.css").read_text(encoding="utf-8")
    return Response(text, media_type="text/css", headers={**SECURITY_HEADERS, "Cache-Control": "max-age=3600"})
