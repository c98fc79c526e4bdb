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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from markdown_it import MarkdownIt
from markupsafe import Markup

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
    from riskmodel.reporting.batch import BatchResult

__all__ = ["write_report", "render_report", "RULE_WORDS"]

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

#: Columns of the priority list: (key the template draws by, header, relative width).
_LIST_COLUMNS = (
    ("rank", "rank", 5),
    ("release", "release", 10),
    ("reoffence", "chance of reoffending (12 months)", 11),
    ("harm", "chance of violent or sexual reoffending (24 months)", 11),
    ("expected", "expected reoffences (12 months)", 9),
    ("factors", "main factors behind the chance of reoffending", 26),
    ("needs", "resettlement needs", 18),
    ("ogrs3", "OGRS3 (2 years)", 10),
    ("notes", "notes", 8),
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
    left_out = {"factors"} if not explained else set()
    left_out |= {"notes"} if not with_notes else set()
    kept = [column for column in _LIST_COLUMNS if column[0] not in left_out]
    total = sum(width for _, _, width in kept)
    return [
        {"key": key, "header": header, "width": 100 * width / total, "numeric": key == "expected"}
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


# --------------------------------------------------------------------------- the report


def render_report(result: BatchResult, champions: Champions, *, title: str | None = None) -> str:
    """The report's HTML for a :class:`~riskmodel.reporting.batch.BatchResult`.

    Parameters
    ----------
    result : BatchResult
        What :func:`riskmodel.reporting.batch.score_file` returned.
    champions : Champions
        The models that scored it (for bands, versions, the model card).
    title : str, optional
        Heading (default "IOM panel report").

    Returns
    -------
    str
        A complete HTML document with no external references.
    """
    scoring = champions.scoring
    on_list = min(int(getattr(result, "capacity", 0) or scoring.capacity), result.rows_scored)
    rows = [_list_row(row) for row in result.top.head(on_list).to_dict("records")]
    explained = bool(getattr(result, "explained", True))
    card = champions.info["reoffence"].model_card
    ranges = champions.models["reoffence"].features.ranges_
    context = {
        "title": title or "IOM panel report",
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
    }
    return _environment().get_template("report/base.html").render(context)


def write_report(result: BatchResult, champions: Champions, path: Path, *, title: str | None = None) -> Path:
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
        Heading (default "IOM panel report").

    Returns
    -------
    Path
        ``path``, once the whole file is in place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_report(result, champions, title=title), encoding="utf-8")
    tmp.replace(path)
    return path
