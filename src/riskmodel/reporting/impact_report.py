"""The impact estimate in words and HTML: a paragraph, a report section, a page.

:func:`riskmodel.evaluation.impact.impact_summary` gives the figures as plain data; this
module words them (:func:`impact_paragraph`), renders the section the monthly report
and the ``riskmodel impact --report`` page show (template
``templates/report/impact.html``, autoescaped) and writes the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from markupsafe import Markup

from riskmodel.evaluation.impact import NO_DETECTABLE_CHANGE

__all__ = ["impact_paragraph", "headline", "render_impact_section", "render_impact_page", "write_impact_page"]

#: The scale of the interval chart: relative change from -SCALE to +SCALE.
_SCALE = 0.5


def _pct(value: float | None) -> str:
    return "?" if value is None else f"{abs(value):.0%}"


def _signed(value: float | None) -> str:
    if value is None:
        return "?"
    if round(value * 100) == 0:
        return "no change"
    return f"{abs(value):.0%} {'fewer' if value < 0 else 'more'}"


def headline(summary: Mapping[str, Any]) -> str:
    """One sentence: the drift-adjusted comparison and its interval.

    Examples
    --------
    >>> summary = {"overall": {"change": -0.12, "low": -0.2, "high": -0.04, "verdict": "fewer"}}
    >>> headline(summary)[:60]
    'Adopted people had 12% fewer reconviction events than compar'
    >>> headline(summary)[-38:]
    '(95% interval: 20% fewer to 4% fewer).'
    """
    o = summary["overall"]
    level = f"{summary.get('level', 0.95):.0%}"
    if o["change"] is None:
        return "No estimate: too few adopted and not-adopted people with similar expected counts."
    interval = f"{_signed(o['low'])} to {_signed(o['high'])}"
    if o["verdict"] == NO_DETECTABLE_CHANGE:
        return (
            f"No detectable change: adopted people had {_signed(o['change'])} reconviction events than comparable"
            f" people not adopted, but the {level} interval ({interval}) includes no change."
        )
    return (
        f"Adopted people had {_signed(o['change'])} reconviction events than comparable people not adopted"
        f" ({level} interval: {interval})."
    )


def impact_paragraph(summary: Mapping[str, Any]) -> str:
    """What the estimate shows and what it cannot, in plain words.

    Parameters
    ----------
    summary : mapping
        :func:`riskmodel.evaluation.impact.impact_summary`'s result.

    Returns
    -------
    str
        A paragraph for panel members and commissioners.
    """
    counts = summary["counts"]
    adopted, other = summary["groups"]["adopted"], summary["groups"]["not_adopted"]
    parts = [
        f"Of the panel's decisions, {counts.get('used', adopted['releases'] + other['releases'])} have a 12-month"
        f" outcome known by {summary['as_of']} and an expected count from before the decision;"
        f" {counts.get('unmatured', 0)} more are too recent (their 12 months and the waiting period for"
        " convictions are not over) and are left out.",
        f"The {adopted['releases']} releases adopted onto the IOM cohort had {adopted['observed']:.0f} proven"
        f" reoffences against {adopted['expected']:.0f} expected (observed/expected {_ratio(adopted)});"
        f" the {other['releases']} not adopted had {other['observed']:.0f} against {other['expected']:.0f}"
        f" ({_ratio(other)}).",
        "Adopted people were chosen because they were expected to reoffend more, so the fair comparison is with"
        " people the model expected to reoffend as much: " + headline(summary),
        "What this cannot show: the panel chose whom to adopt, on what it knew as well as on the scores. The"
        " comparison holds the model's expectation equal, not what the panel knew and the model did not: if the"
        " panel took on people who were doing worse than their scores said, the figure understates any"
        " reduction; if it took on the more hopeful, it overstates it. This is evidence, not proof.",
    ]
    if summary.get("expected_source"):
        parts.append(f"Expected counts: {summary['expected_source']}.")
    return " ".join(parts)


def _ratio(group: Mapping[str, Any]) -> str:
    if group["ratio"] is None:
        return "not known"
    if group["low"] is None:
        return f"{group['ratio']:.2f}"
    return f"{group['ratio']:.2f}, interval {group['low']:.2f} to {group['high']:.2f}"


def _bar(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of the interval chart: positions on a -50% .. +50% scale, as percentages of its width."""

    def at(value: float | None) -> float:
        value = 0.0 if value is None else max(-_SCALE, min(_SCALE, value))
        return round((value + _SCALE) / (2 * _SCALE) * 100, 1)

    low, high = at(row["low"]), at(row["high"])
    return {
        **row,
        "words": _signed(row["change"]),
        "interval": f"{_signed(row['low'])} to {_signed(row['high'])}" if row["low"] is not None else "not known",
        "left": low,
        "width": max(high - low, 0.5),
        "point": at(row["change"]),
        "known": row["change"] is not None,
    }


def _context(summary: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "impact": summary,
        "impact_headline": headline(summary),
        "impact_paragraph": impact_paragraph(summary),
        "impact_overall": _bar(summary["overall"]),
        "impact_quarters": [_bar(row) for row in summary["by_quarter"]],
        "impact_bands": [_bar(row) for row in summary["by_band"]],
        "impact_groups": [
            {"name": "adopted onto the IOM cohort", **summary["groups"]["adopted"]},
            {"name": "not adopted (not now, or referred elsewhere)", **summary["groups"]["not_adopted"]},
        ],
    }


def _environment():
    from riskmodel.reporting.report import _environment as report_environment  # the report's filters

    return report_environment()


def render_impact_section(summary: Mapping[str, Any]) -> Markup:
    """The impact section (``templates/report/impact.html``) as HTML, for any page to include."""
    return Markup(_environment().get_template("report/impact.html").render(_context(summary)))


def render_impact_page(summary: Mapping[str, Any], *, title: str = "IOM impact: observed against expected") -> str:
    """A self-contained page with the impact section (what ``riskmodel impact --report`` writes)."""
    return _environment().get_template("report/impact_page.html").render(title=title, **_context(summary))


def write_impact_page(summary: Mapping[str, Any], path: Path) -> Path:
    """Write :func:`render_impact_page` atomically and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_impact_page(summary), encoding="utf-8")
    tmp.replace(path)
    return path
