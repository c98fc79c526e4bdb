"""The IOM panel's meeting report: one self-contained HTML file.

Everything is inline (CSS, and charts as base64 PNG), so the file opens with no network
and can be mailed or printed. It is written for panel members who are not data
scientists: it leads with the month's figures and anything to be careful about, then
the ranked list the panel works through, then charts, then where the numbers come from
(model versions, a short model card) and, folded away for the data team, the drift
figures.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.scoring.explain import feature_label
from riskmodel.scoring.scoring import band, priority_score

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

_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Arial,sans-serif;margin:2rem auto;max-width:1160px;padding:0 1rem;color:#1d2733;line-height:1.45}
h1{font-size:1.7rem;margin:0 0 .2rem}h2{font-size:1.25rem;border-bottom:2px solid #dde3ea;padding-bottom:.2rem;margin-top:2.2rem}
h3{font-size:1.02rem;margin:.6rem 0 .4rem}
.sub{color:#5a6776;margin:0}.small{font-size:.85rem;color:#5a6776}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:.8rem}
.card{background:#f3f6f9;border-radius:8px;padding:.7rem 1rem}.card b{display:block;font-size:1.6rem}.card span{color:#4a5766;font-size:.88rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{border-bottom:1px solid #e4e8ed;padding:.4rem .45rem;text-align:left;vertical-align:top}
th{background:#f3f6f9;font-weight:600}td.num,th.num{text-align:right}
table.list{table-layout:fixed}table.list td{overflow-wrap:anywhere}
.band{display:inline-block;padding:.05rem .5rem;border-radius:10px;font-size:.8rem;font-weight:600;white-space:nowrap}
.b-low{background:#e3f4e8;color:#1e6b34}.b-medium{background:#fff4d6;color:#7a5a00}.b-high{background:#ffe0cc;color:#8a3b00}.b-very-high{background:#fbd5d5;color:#8a1212}
.warn{background:#fff8e1;border-left:4px solid #f0b400;padding:.55rem .9rem;margin:.6rem 0}
.ok{background:#eaf6ee;border-left:4px solid #2e8b57;padding:.55rem .9rem;margin:.6rem 0}
.note{background:#eef4fb;border-left:4px solid #3b7dd8;padding:.6rem .9rem}
.two{display:grid;grid-template-columns:1fr 1fr;gap:1.4rem}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:1.2rem}.charts figure{margin:0}
.charts img{width:100%;border:1px solid #e4e8ed;border-radius:6px}
figcaption{font-size:.88rem;color:#4a5766;margin-top:.3rem}
ul.f{margin:0;padding-left:0;list-style:none}ul.f li{margin:0 0 .2rem}
ul.needs{margin:0;padding-left:1rem}
.up{color:#a11b1b;font-weight:700}.down{color:#1e6b34;font-weight:700}
.list td:first-child{font-weight:700;font-size:1.05rem}
.pct{font-weight:600}
.muted{color:#8a96a3}
details{margin:.6rem 0}summary{cursor:pointer;color:#2b5fad}
.card-text{background:#f7f9fb;border-radius:6px;padding:.4rem 1rem .8rem}
.card-text h4{margin:.8rem 0 .2rem;font-size:.95rem}
.card-text table{font-size:.8rem;width:auto}
code{font-size:.85em;background:#eef1f4;padding:0 .2em;border-radius:3px;white-space:nowrap}
footer{margin-top:2.4rem;border-top:1px solid #dde3ea;padding-top:.6rem}
@media print{body{margin:0;max-width:none}tr,figure,.card{break-inside:avoid}details{display:none}}
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _band(name) -> str:
    if not isinstance(name, str) or not name:
        return ""
    return f'<span class="band b-{name.replace(" ", "-")}">{_e(name)}</span>'


def _percent(p: float) -> str:
    return "" if p is None or not np.isfinite(p) else f"{p:.0%}"


# --------------------------------------------------------------------------- charts


def _png(fig, alt: str) -> str:
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=130)
    finally:
        fig.clear()
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _figure(title: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.6, 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set_title(title, fontsize=11.5)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _percent_axis(axis) -> None:
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))


def _shares_axes(ax, xlabel: str, ylabel: str, *, top: float, legend: str) -> None:
    """Both axes 0 to 1 (the y axis to ``top``) in percent, labelled, with a legend."""
    ax.set_xlim(0, 1)
    ax.set_ylim(0, top)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _percent_axis(ax.xaxis)
    _percent_axis(ax.yaxis)
    ax.legend(loc=legend, fontsize=9)


def _distribution_figure(p: np.ndarray, bands, *, title: str, xlabel: str):
    fig, ax = _figure(title)
    from matplotlib.ticker import StrMethodFormatter

    values = p[np.isfinite(p)]
    heights, _, _ = ax.hist(values, bins=np.linspace(0.0, 1.0, 21), color="#4C72B0", edgecolor="white")
    ax.set_ylim(0, max(1.0, float(heights.max()) if len(heights) else 1.0) * 1.18)
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    colours = {"low": "#e3f4e8", "medium": "#fff4d6", "high": "#ffe0cc", "very high": "#fbd5d5"}
    edges = [edge for edge, _ in bands] + [1.0]
    for (edge, name), upper in zip(bands, edges[1:]):
        ax.axvspan(edge, upper, color=colours.get(name, "#f3f6f9"), alpha=0.6, zorder=0)
        label = name.replace(" ", "\n") if upper - edge < 0.15 else name  # a narrow band gets two lines
        ax.text((edge + upper) / 2, 0.97, label, transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=8.5, linespacing=0.9)
    if len(values) == 0:
        ax.text(0.5, 0.5, "No scores to show", transform=ax.transAxes, ha="center", va="center")
    ax.set_xlim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Number of people")
    _percent_axis(ax.xaxis)
    return fig


def _capture_figure(frequency: np.ndarray, order_score: np.ndarray, on_list: int):
    fig, ax = _figure("Expected reoffending held by the top of the list")
    n = len(frequency)
    total = float(frequency.sum())
    if n and total > 0:
        ordered = frequency[np.argsort(-order_score, kind="stable")]
        share_people = np.arange(0, n + 1) / n
        share_held = np.r_[0.0, np.cumsum(ordered)] / total
        ax.plot(share_people, share_held, color="#3b7dd8", linewidth=2, label="this month's list")
        ax.plot([0, 1], [0, 1], color="#888888", linestyle="--", linewidth=1, label="people in random order")
        x, y = on_list / n, share_held[on_list]
        ax.plot([x, x], [0, y], color="#c0392b", linestyle=":", linewidth=1.5)
        ax.plot([0, x], [y, y], color="#c0392b", linestyle=":", linewidth=1.5)
        ax.plot([x], [y], marker="o", color="#c0392b", label=f"the {on_list} people on the list hold {y:.0%}")
    else:
        ax.text(0.5, 0.5, "No expected reoffences to show", transform=ax.transAxes, ha="center", va="center")
    _shares_axes(ax, "Share of this month's people, highest priority first", "Share of expected reoffences", top=1.02, legend="lower right")
    return fig


def _calibration_figure(bins: list[dict]):
    fig, ax = _figure("When tested, did the chances match what happened?")
    ax.plot([0, 1], [0, 1], color="#888888", linestyle="--", linewidth=1, label="perfect agreement")
    if bins:
        ax.plot(
            [b["predicted"] for b in bins], [b["observed"] for b in bins], marker="o", color="#3b7dd8", linewidth=2,
            label="the reoffending model, on its test releases",
        )
    else:
        ax.text(0.5, 0.5, "No validation record", transform=ax.transAxes, ha="center", va="center")
    _shares_axes(ax, "Chance of reoffending the model gave", "Share who actually reoffended", top=1.0, legend="upper left")
    return fig


# --------------------------------------------------------------------------- pieces


def _factors(text) -> str:
    try:
        factors = json.loads(text) if isinstance(text, str) and text else []
    except json.JSONDecodeError:
        return ""
    if not factors:
        return '<span class="muted">no single factor stands out</span>'
    items = []
    for f in factors[:3]:
        raises = f["direction"] == "raises"
        arrow, cls, verb = ("▲", "up", "raises") if raises else ("▼", "down", "lowers")
        points = abs(f["contribution"]) * 100
        size = "less than 1 point" if points < 0.5 else "1 point" if points < 1.5 else f"{points:.0f} points"
        items.append(f'<li><span class="{cls}" title="{verb} the chance">{arrow}</span> {_e(f["value"])} <span class="small">({size})</span></li>')
    return f'<ul class="f">{"".join(items)}</ul>'


def _needs(text) -> str:
    needs = [n for n in str(text or "").split("; ") if n]
    if not needs:
        return '<span class="muted">none recorded</span>'
    return '<ul class="needs">' + "".join(f"<li>{_e(n)}</li>" for n in needs) + "</ul>"


def _band_ranges(bands) -> list[str]:
    edges = [edge for edge, _ in bands] + [None]
    out = []
    for (low, _), high in zip(bands, edges[1:]):
        out.append(f"{low:.0%} or more" if high is None else f"{low:.0%} to under {high:.0%}")
    return out


def _share(count: int, total: int) -> str:
    share = count / total if total else 0.0
    return "under 1%" if count and share < 0.005 else f"{share:.0%}"


def _band_table(values: np.ndarray, bands) -> str:
    names = band(values, bands) if len(values) else np.array([], dtype=object)
    counts = pd.Series(names, dtype=object).value_counts()
    n = max(len(values), 1)
    rows = "".join(
        f"<tr><td>{_band(name)}</td><td>{_e(words)}</td><td class='num'>{int(counts.get(name, 0)):,}</td>"
        f"<td class='num'>{_share(int(counts.get(name, 0)), n)}</td></tr>"
        for (_, name), words in zip(bands, _band_ranges(bands))
    )
    return f"<table><tr><th>band</th><th>chance</th><th class='num'>people</th><th class='num'>share</th></tr>{rows}</table>"


def _validation_words(info) -> str:
    m = info.metrics
    if "model.auc" in m:
        auc = m["model.auc"]
        n = int(m.get("model.n", 0))
        return (
            f"On {n:,} later releases it had not seen, it ranked the person who reoffended above the one who did not"
            f" in {auc:.0%} of pairs (AUC {auc:.2f}; 50% would be guessing)."
        )
    if "model.capture_at_10" in m:
        ratio = m.get("model.calibration_ratio", float("nan"))
        return (
            f"On later releases it had not seen, the 10% of people it ranked highest committed {m['model.capture_at_10']:.0%}"
            f" of the proven reoffences; reoffences that happened were {ratio:.2f} times those it expected."
        )
    return ""


_TARGET_WORDS = {
    "reoffence": "chance of any proven reoffence within 12 months",
    "harm": "chance of a proven violent or sexual reoffence within 24 months",
    "frequency": "expected number of proven reoffences within 12 months",
}


def _markdown(text: str) -> str:
    """The little Markdown the model cards use (headings, lists, tables, bold, code) as HTML."""

    def inline(s: str) -> str:
        s = _e(s)
        s = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", s)
        return re.sub(r"`(.+?)`", r"<code>\1</code>", s)

    out, para, in_list, table = [], [], False, []

    def flush():
        nonlocal in_list
        if para:
            out.append("<p>" + inline(" ".join(para)) + "</p>")
            para.clear()
        if in_list:
            out.append("</ul>")
            in_list = False
        if table:
            rows = [r for r in table if not re.fullmatch(r"\|[\s|:-]+\|", r)]
            cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
            head = "".join(f"<th>{inline(c)}</th>" for c in cells[0])
            body = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in cells[1:])
            out.append(f"<table><tr>{head}</tr>{body}</table>")
            table.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            flush()
        elif stripped.startswith("#"):
            flush()
            out.append(f"<h4>{inline(stripped.lstrip('#').strip())}</h4>")
        elif stripped.startswith("|"):
            if para or in_list:
                flush()
            table.append(stripped)
        elif stripped.startswith("- "):
            if para or table:
                flush()
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{inline(stripped[2:])}</li>")
        else:
            if in_list or table:
                flush()
            para.append(stripped)
    flush()
    return "\n".join(out)


def _card_sections(card: str, wanted: tuple[str, ...]) -> str:
    """The named ``##`` sections of a model card (Markdown), in the card's order."""
    parts = re.split(r"(?m)^## ", card)
    keep = [p for p in parts[1:] if p.split("\n", 1)[0].strip().lower().startswith(wanted)]
    return "\n".join("## " + p for p in keep)


def _row_warning_words(label: str, count: int) -> str:
    people = f"{count:,} {'person' if count == 1 else 'people'}"
    if label.startswith("OGRS3 unavailable: "):
        reason = label.split(": ", 1)[1].replace("_", " ")
        return f"OGRS3 could not be worked out for {people} ({reason}); their other scores are unaffected."
    match = re.match(r"(\w+) outside the training range (\S+)-(\S+)$", label)
    if match:
        return (
            f"{people} had {feature_label(match.group(1))} outside the range the models learned from"
            f" ({match.group(2)} to {match.group(3)}); treat their scores with extra care."
        )
    return f"{people}: {label}."


# --------------------------------------------------------------------------- the report


def render_report(result, champions, *, title: str | None = None) -> str:
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
    info = champions.info
    rule = scoring.priority_rule
    freq = np.asarray(result.frequency, dtype=float)
    top = result.top
    capacity = int(getattr(result, "capacity", 0) or scoring.capacity)
    on_list = min(capacity, result.rows_scored)
    explained = bool(getattr(result, "explained", True))
    total_expected = float(freq.sum())
    held = float(top["frequency_expected"].astype(float).head(on_list).sum()) if len(top) else 0.0
    top_share = held / total_expected if total_expected > 0 else 0.0
    title = title or "IOM panel report"
    month_label = result.finished_at.strftime("%d %B %Y")

    cards = [
        (f"{result.rows_scored:,}", "releases scored"),
        (f"{result.rows_rejected:,}", "rows could not be scored (listed in the rejects file)"),
        (f"{total_expected:,.0f}", "proven reoffences expected from these people in the 12 months after release"),
        (f"{top_share:.0%}", f"of those expected from the {on_list} people on the list below"),
        (_percent(float(np.mean(result.reoffence))) if len(result.reoffence) else "–", "average chance of reoffending within 12 months"),
    ]
    card_html = "".join(f'<div class="card"><b>{_e(v)}</b><span>{_e(t)}</span></div>' for v, t in cards)

    alerts = []
    if result.drift_flagged:
        shifted = ", ".join(feature_label(n) for n in result.drift_flagged)
        alerts.append(
            f"This month's people are different from the people the models learned from in: {shifted}."
            " Their scores are less certain than usual; the data team should check the input and the models."
        )
    if result.rows_rejected:
        listed = list(result.reject_reasons.items())
        reasons = "; ".join(f"{k} ({v:,})" for k, v in listed[:10])
        if len(listed) > 10:
            reasons += f"; and {len(listed) - 10} other reasons"
        alerts.append(
            f"{result.rows_rejected:,} {'row' if result.rows_rejected == 1 else 'rows'} of the input could not be scored"
            f" and {'is' if result.rows_rejected == 1 else 'are'} not in the list: {reasons}. Each is in the rejects file"
            " with its line number, so it can be corrected and scored again."
        )
    alerts.extend(result.warnings)
    warn_html = "".join(f'<div class="warn">{_e(a)}</div>' for a in alerts)
    notes = [_row_warning_words(label, count) for label, count in getattr(result, "row_warnings", {}).items()]
    if notes:
        warn_html += (
            '<div class="warn">Some people\'s records are incomplete or unusual:<ul>'
            + "".join(f"<li>{_e(n)}</li>" for n in notes)
            + "</ul></div>"
        )
    if not result.drift_flagged:
        warn_html = (
            '<div class="ok">This month\'s people look like the people the models learned from (no drift found).</div>'
            + warn_html
        )

    listed = top.head(on_list)
    with_notes = bool(len(listed)) and bool(listed["warnings"].fillna("").astype(str).str.len().gt(0).any())
    # (header, relative width, cell) of each column of the list
    columns = [
        ("rank", 5, lambda r: str(int(r.priority_rank))),
        ("release", 10, lambda r: f"{_e(r.release_id)}<br><span class='small'>person {_e(r.person_id)}</span>"),
        ("chance of reoffending (12 months)", 11, lambda r: f"<span class='pct'>{r.reoffence_probability:.0%}</span> {_band(r.reoffence_band)}"),
        ("chance of violent or sexual reoffending (24 months)", 11, lambda r: f"<span class='pct'>{r.harm_probability:.0%}</span> {_band(r.harm_band)}"),
        ("expected reoffences (12 months)", 9, lambda r: f"{r.frequency_expected:.1f}"),
    ]
    if explained:
        columns.append(("main factors behind the chance of reoffending", 26, lambda r: _factors(r.top_factors)))
    columns += [
        ("resettlement needs", 18, lambda r: _needs(r.needs)),
        ("OGRS3 (2 years)", 10, lambda r: "" if pd.isna(r.ogrs3_2y) else f"{r.ogrs3_2y:.0%} {_band(r.ogrs3_band)}"),
    ]
    if with_notes:
        columns.append(("notes", 8, lambda r: f"<span class='small'>{_e(r.warnings) if isinstance(r.warnings, str) else ''}</span>"))
    total_width = sum(w for _, w, _ in columns)
    numeric = {"expected reoffences (12 months)"}
    attrs = {h: " class='num'" if h in numeric else "" for h, _, _ in columns}
    head = "".join(f"<th{attrs[h]}>{_e(h)}</th>" for h, _, _ in columns)
    body = "".join(
        "<tr>" + "".join(f"<td{attrs[h]}>{cell(r)}</td>" for h, _, cell in columns) + "</tr>" for r in listed.itertuples()
    )
    widths = "".join(f'<col style="width:{w / total_width:.1%}">' for _, w, _ in columns)
    ranked = (
        f"<table class='list'><colgroup>{widths}</colgroup><tr>{head}</tr>{body}</table>" if len(listed) else "<p>No releases were scored.</p>"
    )
    factors_note = (
        "The main factors say what raised (<span class=\"up\">▲</span>) or lowered (<span class=\"down\">▼</span>)"
        " the chance of reoffending most, in percentage points."
        if explained
        else "The main factors behind each chance were not worked out for this run (it was scored without explanations)."
    )

    charts = ""
    if len(result.reoffence):
        order_score = priority_score(rule, reoffence=result.reoffence, harm=result.harm, frequency=freq, harm_weight=scoring.harm_weight)
        charts = (
            '<div class="charts">'
            f"<figure>{_png(_distribution_figure(result.reoffence, scoring.reoffence_bands, title='Chance of reoffending within 12 months', xlabel='Chance of reoffending'), 'bar chart of the chance of reoffending')}"
            "<figcaption>How many of this month's people have each chance of reoffending; the shading shows the bands.</figcaption></figure>"
            f"<figure>{_png(_distribution_figure(result.harm, scoring.harm_bands, title='Chance of violent or sexual reoffending within 24 months', xlabel='Chance of violent or sexual reoffending'), 'bar chart of the chance of violent or sexual reoffending')}"
            "<figcaption>The same for violent or sexual reoffending, which is much rarer.</figcaption></figure>"
            f"<figure>{_png(_capture_figure(freq, order_score, on_list), 'curve of expected reoffending held by the top of the list')}"
            f"<figcaption>Going down the list from the top: the red point is where the panel's {on_list} places end."
            " The further the blue line is above the dashed one, the more the list concentrates the month's expected reoffending.</figcaption></figure>"
            f"<figure>{_png(_calibration_figure(info['reoffence'].validation.get('calibration_bins', [])), 'chart comparing predicted and actual reoffending when the model was tested')}"
            "<figcaption>When the model was tested on releases it had not seen, each point is a group of people: the chance it gave them"
            " against how many of them actually reoffended. Points near the dashed line mean its chances can be read as they are.</figcaption></figure>"
            "</div>"
        )

    versions = "".join(
        f"<tr><td>{_e(_TARGET_WORDS.get(t, t))}</td><td><code>{_e(i.label)}</code></td>"
        f"<td><code>{_e(i.fingerprint[:16])}</code></td><td>{_e(_validation_words(i))}</td></tr>"
        for t, i in info.items()
    )
    card = info["reoffence"].model_card
    short_card = _markdown(_card_sections(card, ("intended use", "limits")))
    full_card = _markdown(card)

    drift_rows = "".join(
        f"<tr><td>{_e(feature_label(n))}</td><td><code>{_e(n)}</code></td><td class='num'>{v:.3f}</td>"
        f"<td>{'<b>changed</b>' if v > result.drift_threshold else 'similar'}</td></tr>"
        for n, v in sorted(result.drift.items(), key=lambda kv: -kv[1])
    )
    rule_words = RULE_WORDS.get(rule, rule)

    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)} · {_e(month_label)}</title><style>{_CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class="sub">Releases in <b>{_e(result.input_path.name)}</b>, scored on {_e(month_label)} at {result.finished_at:%H:%M} UTC</p>
<p class="note">These scores support the panel's decision; they never make it. Each describes what happened to people with
similar records, not what this person will do. Check the factors and needs against what partners know about the person.</p>

<h2>This month</h2>
<div class="cards">{card_html}</div>
{warn_html}
<div class="two">
<div><h3>Chance of reoffending within 12 months</h3>{_band_table(result.reoffence, scoring.reoffence_bands)}</div>
<div><h3>Chance of violent or sexual reoffending within 24 months</h3>{_band_table(result.harm, scoring.harm_bands)}</div>
</div>

<h2>Priority list: the top {on_list}</h2>
<p>People are listed by {_e(rule_words)}. {factors_note} OGRS3 is the national reconviction scale, shown for
comparison.</p>
{ranked}

<h2>Charts</h2>
{charts}

<h2>Where these numbers come from</h2>
<table><tr><th>score</th><th>model version</th><th>training data (fingerprint)</th><th>how well it did when tested</th></tr>{versions}</table>
<h3>About the reoffending model</h3>
<div class="card-text">{short_card}</div>
<details><summary>Full model card, with performance and fairness figures</summary><div class="card-text">{full_card}</div></details>
<details><summary>For the data team: how this month's people compare with the training data (population stability index per feature; above {result.drift_threshold:g} is flagged)</summary>
<table><tr><th>feature</th><th>name in the data</th><th class="num">PSI</th><th></th></tr>{drift_rows}</table></details>

<footer class="small">
<p>{_e(result.reconciliation())}. Batch {_e(result.batch_id)}; input fingerprint (SHA-256) <code>{_e(result.input_fingerprint[:16])}</code>;
scores in <code>{_e(result.output_path.name)}</code>, rejected rows in <code>{_e(result.rejects_path.name)}</code>.</p>
</footer>
</body></html>
"""


def write_report(result, champions, path: Path, *, title: str | None = None) -> Path:
    """Write the report atomically and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_report(result, champions, title=title), encoding="utf-8")
    tmp.replace(path)
    return path
