"""The IOM panel's meeting report: one self-contained HTML file.

Everything is inline (CSS, and charts as base64 PNG), so the file opens with no network
and can be mailed or printed. It is written for panel members who are not data
scientists: it leads with the month's figures and anything to be careful about, then
the ranked list the panel works through, then charts, then where the numbers come from
(model versions, a short model card) and, folded away for the data team, the drift
figures.

The page is Jinja2 templates in ``riskmodel/templates/report/`` (autoescaped), one per
section, with the words; this module gathers the values they show, and
:mod:`riskmodel.evaluation.plots` draws the charts. The model card is Markdown, rendered
by markdown-it-py with raw HTML turned off.

With a panel base URL (``RISKMODEL_PANEL_BASE_URL``, read by the CLI), each person on the
list links to their page in the service (``<base>/panel/person/<release_id>``), and the
report says how many of the previous list have a panel decision
(:func:`previous_list_decisions`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from markdown_it import MarkdownIt
from markupsafe import Markup

from riskmodel.evaluation.drift import drift_not_computed
from riskmodel.evaluation.plots import (
    binned_calibration_figure,
    distribution_figure,
    figure_to_data_uri,
    list_capture_figure,
)
from riskmodel.scoring.explain import feature_label
from riskmodel.scoring.output import NEED_WORDS
from riskmodel.scoring.scoring import band, priority_score

if TYPE_CHECKING:
    from riskmodel.modelling.champions import Champions
    from riskmodel.records.audit import AuditStore
    from riskmodel.reporting.batch import BatchResult

__all__ = [
    "write_report",
    "render_report",
    "report_period",
    "ReportPeriod",
    "RULE_WORDS",
    "ListDecisions",
    "previous_list_decisions",
    "person_url",
]

#: Each priority rule as a panel member would say it.
RULE_WORDS: dict[str, str] = {
    "frequency": "the number of proven reoffences each person is expected to commit in the 12 months after release",
    "harm_weighted_frequency": (
        "the number of proven reoffences each person is expected to commit in the 12 months after release,"
        " moved up for people more likely to commit a violent or sexual offence"
    ),
    "reoffence": "each person's chance of any proven reoffence in the 12 months after release",
    "harm": "each person's chance of a proven violent or sexual reoffence in the 24 months after release",
}

_TARGET_WORDS = {
    "reoffence": "chance of any proven reoffence within 12 months",
    "harm": "chance of a proven violent or sexual reoffence within 24 months",
    "frequency": "expected number of proven reoffences within 12 months",
}

#: The model card's sections shown in full view; the rest is folded away.
_SHORT_CARD = ("intended use", "limits")

#: Columns of the priority list: (key the template draws by, header, relative width). One
#: line per person: the factors and needs are folded into the ``details`` column.
_LIST_COLUMNS = (
    ("rank", "rank", 5),
    ("release", "release", 18),
    ("reoffence", "chance of reoffending (12 months)", 13),
    ("harm", "chance of violent or sexual reoffending (24 months)", 13),
    ("expected", "expected reoffences (12 months)", 10),
    ("ogrs3", "OGRS3 (2 years)", 10),
    ("arp", "ARP (2 years)", 10),
    ("details", "main factors and resettlement needs", 19),
    ("notes", "notes", 14),
)

#: Charts dpi: two abreast on a page stay sharp when printed.
_CHART_DPI = 120


# --------------------------------------------------------------------------- filters


def _percent(p: float | None) -> str:
    return "" if p is None or not np.isfinite(p) else f"{p:.0%}"


def _thousands(value: float) -> str:
    return f"{value:,.0f}"


def _share(count: int, total: int) -> str:
    share = count / total if total else 0.0
    return "under 1%" if count and share < 0.005 else f"{share:.0%}"


def _points(contribution: float) -> str:
    """A factor's effect in percentage points, as the panel reads it."""
    points = abs(contribution) * 100
    return "less than 1 point" if points < 0.5 else "1 point" if points < 1.5 else f"{points:.0f} points"


def _need_words(code: str) -> str:
    return NEED_WORDS.get(code, code)


@cache
def _environment() -> Environment:
    """The templates, autoescaped, with the number filters they use (built once)."""
    environment = Environment(
        loader=PackageLoader("riskmodel", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        percent=_percent,
        thousands=_thousands,
        share=_share,
        points=_points,
        g=lambda value: f"{value:g}",
        day=lambda moment: moment.strftime("%d %B %Y"),
        feature_words=feature_label,
        need_words=_need_words,
    )
    return environment


# --------------------------------------------------------------------------- structured values


def _as_list(value: Any) -> list:
    """A list cell as a list (Parquet gives arrays; a missing one is empty)."""
    return [] if value is None or (isinstance(value, float) and np.isnan(value)) else list(value)


def _list_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """One row of the priority list as the template reads it."""
    out = dict(row)
    for name in ("needs", "warnings", "top_factors"):
        out[name] = _as_list(out.get(name))
    out["priority_rank"] = int(out["priority_rank"])
    out["ogrs3_2y"] = None if pd.isna(out["ogrs3_2y"]) else float(out["ogrs3_2y"])
    # a scores file written before ARP was added has no ARP columns: shown blank
    out["arp_2y"] = None if pd.isna(out.get("arp_2y", np.nan)) else float(out["arp_2y"])
    out.setdefault("arp_band", None)
    return out


def _row_notes(row_warnings: Sequence[Mapping[str, Any]], ranges: Mapping[str, Sequence[float]]) -> list[dict]:
    """The batch's per-row warnings counted by kind (``code``) and input (``field``), most rows first.

    ``row_warnings`` holds each distinct warning (``{code, message, field}``) with
    ``count``, its number of rows; the words come from the code and field, never from the
    message.
    """
    notes: dict[tuple[str, str | None], dict[str, Any]] = {}
    for warning in row_warnings:
        code, field = warning["code"], warning.get("field")
        learned = ranges.get(field) if code == "outside_training_range" else None
        note = notes.setdefault(
            (code, field), {"code": code, "field": field, "range": learned, "count": 0, "messages": []}
        )
        note["count"] += int(warning["count"])
        note["messages"].append(warning["message"])
    return sorted(notes.values(), key=lambda note: -note["count"])


# --------------------------------------------------------------------------- the month covered

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class ReportPeriod:
    """The month a report covers and the dates of the releases it scored.

    Attributes
    ----------
    month : date or None
        First day of the month the report is named after (None when neither given nor
        known from the release dates).
    first, last : date or None
        The earliest and latest release date scored.
    outside : int
        Releases scored that are not in ``month``.
    given : bool
        ``month`` was given (``score --month``) rather than taken from the release dates.
    """

    month: date | None = None
    first: date | None = None
    last: date | None = None
    outside: int = 0
    given: bool = False

    @property
    def month_words(self) -> str | None:
        """The month as the title says it, e.g. "October 2025"."""
        return None if self.month is None else self.month.strftime("%B %Y")

    @property
    def span_words(self) -> str | None:
        """The release dates as a person says them: "3 to 28 October 2025", "on 3 October 2025"."""
        first, last = self.first, self.last
        if first is None or last is None:
            return None
        if first == last:
            return f"on {first.day} {first:%B %Y}"
        if (first.year, first.month) == (last.year, last.month):
            start = str(first.day)
        elif first.year == last.year:
            start = f"{first.day} {first:%B}"
        else:
            start = f"{first.day} {first:%B %Y}"
        return f"from {start} to {last.day} {last:%B %Y}"


def _parse_month(month: str) -> date:
    """``YYYY-MM`` as the first day of that month (ValueError naming the rule otherwise)."""
    found = _MONTH.fullmatch(month.strip())
    if not found:
        raise ValueError(f"month: {month!r} is not a month in the form YYYY-MM (e.g. 2025-10)")
    return date(int(found[1]), int(found[2]), 1)


def report_period(release_dates: Sequence[Any] | np.ndarray | pd.Series, *, month: str | None = None) -> ReportPeriod:
    """The month a report covers: ``month`` when given, else the month most releases fall in.

    Parameters
    ----------
    release_dates : array-like
        The release dates scored (dates, timestamps or ISO strings; unreadable ones are
        left out).
    month : str, optional
        ``YYYY-MM``, e.g. from ``riskmodel score --month``.

    Returns
    -------
    ReportPeriod
        On a tie between months, the later one (a report is usually of the latest month).

    Raises
    ------
    ValueError
        When ``month`` is not ``YYYY-MM``.

    Examples
    --------
    >>> period = report_period(["2025-10-03", "2025-10-28", "2025-09-30"])
    >>> period.month_words, period.span_words, period.outside
    ('October 2025', 'from 30 September to 28 October 2025', 1)
    >>> report_period(["2025-10-03"], month="2025-11").month_words
    'November 2025'
    """
    given = _parse_month(month) if month is not None else None
    stamps = pd.to_datetime(pd.Series(np.asarray(release_dates, dtype=object)), errors="coerce").dropna()
    if stamps.empty:
        return ReportPeriod(month=given, given=given is not None)
    months = stamps.dt.to_period("M").value_counts()
    chosen = given or max(months.index, key=lambda m: (months[m], m)).to_timestamp().date()
    outside = int(len(stamps) - months.get(pd.Period(chosen, "M"), 0))
    return ReportPeriod(
        month=chosen, first=stamps.min().date(), last=stamps.max().date(), outside=outside, given=given is not None
    )


def _scored_release_dates(result: BatchResult) -> pd.Series:
    """The release dates of the rows the batch scored, read back from its input (empty if unreadable).

    Only two columns are read, so a national-scale file costs little.
    """
    try:
        dates = _read_columns(Path(result.input_path), ["release_id", "release_date"])
        scored = _read_columns(Path(result.output_path), ["release_id"])["release_id"]
    except (OSError, ValueError, KeyError):  # moved or replaced since: the report just names no dates
        return pd.Series([], dtype=object)
    dates = dates.loc[dates["release_id"].astype(str).isin(scored.astype(str))]
    text = dates["release_date"].astype(str).str.strip()
    return pd.Series(pd.to_datetime(text, format="%Y-%m-%d", errors="coerce", exact=False))


def _read_columns(path: Path, columns: list[str]) -> pd.DataFrame:
    """Some columns of a CSV or Parquet file, as text where the file is CSV."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if path.suffix.lower() == ".csv":
        options = pacsv.ConvertOptions(include_columns=columns, column_types=dict.fromkeys(columns, "string"))
        return pacsv.read_csv(path, convert_options=options).to_pandas()
    return pq.read_table(path, columns=columns).to_pandas()


# --------------------------------------------------------------------------- sections


def _band_table(values: np.ndarray, bands: Sequence[tuple[float, str]], heading: str) -> dict[str, Any]:
    """People per band: each band's name, its range of chances and its count."""
    counts = pd.Series(band(values, bands) if len(values) else [], dtype=object).value_counts()
    highs = [edge for edge, _ in bands[1:]] + [None]
    rows = [
        {"name": name, "low": low, "high": high, "count": int(counts.get(name, 0))}
        for (low, name), high in zip(bands, highs, strict=True)
    ]
    return {"heading": heading, "rows": rows, "total": max(len(values), 1)}


def _summary(result: BatchResult, on_list: int) -> dict[str, float | None]:
    expected = float(np.asarray(result.frequency, dtype=float).sum())
    top = result.top
    held = float(top["frequency_expected"].astype(float).head(on_list).sum()) if len(top) else 0.0
    return {
        "expected": expected,
        "listed_share": held / expected if expected > 0 else 0.0,
        "mean_chance": float(np.mean(result.reoffence)) if len(result.reoffence) else None,
    }


def _rejected(reasons: Mapping[str, int], shown: int = 10) -> dict[str, Any]:
    listed = list(reasons.items())
    return {"shown": listed[:shown], "others": max(len(listed) - shown, 0)}


def _list_columns(*, explained: bool, with_notes: bool) -> list[dict[str, Any]]:
    """The priority list's columns, their widths in percent of the page."""
    kept = [column for column in _LIST_COLUMNS if with_notes or column[0] != "notes"]
    total = sum(width for _, _, width in kept)
    return [
        {
            "key": key,
            "header": header if explained or key != "details" else "resettlement needs",
            "width": 100 * width / total,
            "numeric": key == "expected",
        }
        for key, header, width in kept
    ]


def _charts(result: BatchResult, champions: Champions, on_list: int) -> list[dict[str, str]]:
    """The four charts of a month with scores: picture, words for a screen reader, caption."""
    scoring = champions.scoring
    frequency = np.asarray(result.frequency, dtype=float)
    order = priority_score(
        scoring.priority_rule,
        reoffence=result.reoffence,
        harm=result.harm,
        frequency=frequency,
        harm_weight=scoring.harm_weight,
    )
    tested = champions.info["reoffence"].validation.get("calibration_bins", [])  # stored when it was trained
    bins = {"the reoffending model, on its test releases": tested}
    figures = [
        (
            distribution_figure(
                result.reoffence,
                bands=scoring.reoffence_bands,
                title="Chance of reoffending within 12 months",
                xlabel="Chance of reoffending",
            ),
            "bar chart of the chance of reoffending",
            "How many of this month's people have each chance of reoffending; the shading shows the bands.",
        ),
        (
            distribution_figure(
                result.harm,
                bands=scoring.harm_bands,
                title="Chance of violent or sexual reoffending within 24 months",
                xlabel="Chance of violent or sexual reoffending",
            ),
            "bar chart of the chance of violent or sexual reoffending",
            "The same for violent or sexual reoffending, which is much rarer.",
        ),
        (
            list_capture_figure(
                frequency, order, on_list=on_list, title="Expected reoffending held by the top of the list"
            ),
            "curve of expected reoffending held by the top of the list",
            f"Going down the list from the top: the red point is where the panel's {on_list} places end."
            " The further the blue line is above the dashed one, the more the list concentrates the month's"
            " expected reoffending.",
        ),
        (
            binned_calibration_figure(
                bins,
                title="When tested, did the chances match what happened?",
                xlabel="Chance of reoffending the model gave",
            ),
            "chart comparing predicted and actual reoffending when the model was tested",
            "When the model was tested on releases it had not seen, each point is a group of people: the chance it"
            " gave them against how many of them actually reoffended. Points near the dashed line mean its chances"
            " can be read as they are.",
        ),
    ]
    return [
        {"src": figure_to_data_uri(figure, dpi=_CHART_DPI), "alt": alt, "caption": caption}
        for figure, alt, caption in figures
    ]


def _card_html(card: str, sections: tuple[str, ...] | None = None) -> Markup:
    """The model card (Markdown) as HTML, all of it or only the ``##`` sections named.

    Raw HTML, pictures and links in the card are shown as text, not passed through; every
    heading becomes an ``<h4>``, under the report's own headings.
    """
    # no raw HTML, pictures or links: the page must open with no network and run nothing
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table").disable(["image", "link", "autolink"])
    tokens = markdown.parse(card)
    if sections is not None:
        kept, keep = [], False
        for i, token in enumerate(tokens):
            if token.type == "heading_open" and token.tag in ("h1", "h2"):
                keep = token.tag == "h2" and tokens[i + 1].content.strip().lower().startswith(sections)
            if keep:
                kept.append(token)
        tokens = kept
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = "h4"
    return Markup(markdown.renderer.render(tokens, markdown.options, {}))


# --------------------------------------------------------------------------- the panel's decisions


@dataclass(frozen=True)
class ListDecisions:
    """How many people of an earlier list have a panel decision.

    Attributes
    ----------
    listed : int
        People on that list (the top of its ranking, up to the panel's capacity).
    decided : int
        How many of them have a decision recorded (in the service's pages or ``POST /decisions``).
    made_at : datetime
        When that list was scored.
    """

    listed: int
    decided: int
    made_at: datetime


def previous_list_decisions(store: AuditStore, *, capacity: int) -> ListDecisions | None:
    """The previous batch's list (its top ``capacity``) and how many of it have a decision.

    The previous batch is the one recorded before the latest (a batch is recorded before
    its report is written). None when there is none, or its scores file is gone.

    Raises
    ------
    AuditUnavailable
        When the audit database cannot be read.
    """
    from riskmodel.records.decisions import latest_decisions

    batches = store.batch_records(limit=2)
    if len(batches) < 2:
        return None
    previous = batches[1]
    try:
        frame = _read_columns(Path(previous["output_path"]), ["release_id", "priority_rank"])
    except (OSError, ValueError, KeyError):  # moved, deleted or not a scores file any more
        return None
    ranks = pd.to_numeric(frame["priority_rank"], errors="coerce")
    listed = frame.loc[ranks <= capacity, "release_id"].astype(str).tolist()
    decided = len(latest_decisions(store, listed))
    return ListDecisions(listed=len(listed), decided=decided, made_at=previous["finished_at"])


def person_url(base_url: str, release_id: str) -> str:
    """A person's page in the panel's workspace, e.g. ``https://iom.example/panel/person/R%2F1``.

    Examples
    --------
    >>> person_url("https://iom.example/", "R/1 a")
    'https://iom.example/panel/person/R%2F1%20a'
    """
    return f"{base_url.rstrip('/')}/panel/person/{quote(str(release_id), safe='')}"


# --------------------------------------------------------------------------- the report


def render_report(
    result: BatchResult,
    champions: Champions,
    *,
    title: str | None = None,
    month: str | None = None,
    panel_base_url: str | None = None,
    previous_list: ListDecisions | None = None,
    impact: Mapping[str, Any] | None = None,
) -> str:
    """The report's HTML for a :class:`~riskmodel.reporting.batch.BatchResult`.

    Parameters
    ----------
    result : BatchResult
        What :func:`riskmodel.reporting.batch.score_file` returned.
    champions : Champions
        The models that scored it (for bands, versions, the model card).
    title : str, optional
        Heading (default "IOM panel report"), followed by the month it covers, e.g.
        "IOM panel report: October 2025".
    month : str, optional
        The month covered, ``YYYY-MM``; by default the month most of the scored
        releases fall in (see :func:`report_period`).
    panel_base_url : str, optional
        The service's address (e.g. ``https://iom.example``): each person on the list
        links to their page there (:func:`person_url`).
    previous_list : ListDecisions, optional
        How many of the previous list have a decision (:func:`previous_list_decisions`).
    impact : mapping, optional
        The latest impact estimate (:func:`riskmodel.evaluation.impact.impact_summary`):
        its section is shown when each group has enough matured decisions (``enough``).

    Returns
    -------
    str
        A complete HTML document with no external references (but the links to the
        panel's pages, when ``panel_base_url`` is given).

    Raises
    ------
    ValueError
        When ``month`` is not ``YYYY-MM``.
    """
    scoring = champions.scoring
    period = report_period(_scored_release_dates(result), month=month)
    on_list = min(int(getattr(result, "capacity", 0) or scoring.capacity), result.rows_scored)
    rows = [_list_row(row) for row in result.top.head(on_list).to_dict("records")]
    for row in rows:
        row["page"] = person_url(panel_base_url, row["release_id"]) if panel_base_url else None
    explained = bool(getattr(result, "explained", True))
    card = champions.info["reoffence"].model_card
    ranges = champions.models["reoffence"].features.ranges_
    heading = title or "IOM panel report"
    context = {
        "title": f"{heading}: {period.month_words}" if period.month_words else heading,
        "period": period,
        "result": result,
        "on_list": on_list,
        "summary": _summary(result, on_list),
        "rejected": _rejected(result.reject_reasons),
        "row_notes": _row_notes(getattr(result, "row_warnings", {}), ranges),
        "band_tables": [
            _band_table(result.reoffence, scoring.reoffence_bands, "Chance of reoffending within 12 months"),
            _band_table(result.harm, scoring.harm_bands, "Chance of violent or sexual reoffending within 24 months"),
        ],
        "rule_words": RULE_WORDS.get(scoring.priority_rule, scoring.priority_rule),
        "explained": explained,
        "columns": _list_columns(explained=explained, with_notes=any(row["warnings"] for row in rows)),
        "rows": rows,
        "charts": _charts(result, champions, on_list) if len(result.reoffence) else [],
        "versions": [{"score": _TARGET_WORDS.get(t, t), "info": info} for t, info in champions.info.items()],
        "card": {"short": _card_html(card, _SHORT_CARD), "full": _card_html(card)},
        "drift": sorted(result.drift.items(), key=lambda item: -item[1]),
        "drift_not_computed": drift_not_computed(result.rows_scored),
        "previous_list": previous_list,
        "panel_base_url": panel_base_url,
        "impact_section": _impact_section(impact),
    }
    return _environment().get_template("report/base.html").render(context)


def _impact_section(impact: Mapping[str, Any] | None) -> Markup | None:
    """The impact section's HTML, when an estimate with enough matured decisions is given."""
    if not impact or not impact.get("enough"):
        return None
    from riskmodel.reporting.impact_report import render_impact_section

    return render_impact_section(impact)


def write_report(
    result: BatchResult,
    champions: Champions,
    path: Path,
    *,
    title: str | None = None,
    month: str | None = None,
    panel_base_url: str | None = None,
    previous_list: ListDecisions | None = None,
    impact: Mapping[str, Any] | None = None,
) -> Path:
    """Write the report atomically and return its path.

    Parameters
    ----------
    result : BatchResult
        What :func:`riskmodel.reporting.batch.score_file` returned.
    champions : Champions
        The models that scored it.
    path : Path
        Where the HTML goes (its folder is made if missing).
    title : str, optional
        Heading (default "IOM panel report"), followed by the month covered.
    month : str, optional
        The month covered, ``YYYY-MM`` (default: from the release dates).
    panel_base_url, previous_list, impact : optional
        As for :func:`render_report`.

    Returns
    -------
    Path
        ``path``, once the whole file is in place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    html = render_report(
        result,
        champions,
        title=title,
        month=month,
        panel_base_url=panel_base_url,
        previous_list=previous_list,
        impact=impact,
    )
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
