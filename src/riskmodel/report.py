"""The IOM panel's meeting report: one self-contained HTML file.

Everything is inline (CSS, and plots as base64 PNG), so the file opens with no network.
It leads with the month's figures, then the ranked list the panel works through, then
the pictures, then where the numbers come from (model versions, model card, drift).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.scoring import PRIORITY_RULES, band

__all__ = ["write_report", "render_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Arial,sans-serif;margin:2rem auto;max-width:1100px;color:#1d2733;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;border-bottom:2px solid #dde3ea;padding-bottom:.2rem;margin-top:2rem}
.sub{color:#5a6776;margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:.8rem}.card{background:#f3f6f9;border-radius:8px;padding:.7rem 1rem;min-width:150px}
.card b{display:block;font-size:1.5rem}.card span{color:#5a6776;font-size:.85rem}
table{border-collapse:collapse;width:100%;font-size:.88rem}th,td{border-bottom:1px solid #e4e8ed;padding:.35rem .4rem;text-align:left;vertical-align:top}
th{background:#f3f6f9}.band{display:inline-block;padding:.05rem .45rem;border-radius:10px;font-size:.8rem;font-weight:600}
.b-low{background:#e3f4e8;color:#1e6b34}.b-medium{background:#fff4d6;color:#7a5a00}.b-high{background:#ffe0cc;color:#8a3b00}.b-very-high{background:#fbd5d5;color:#8a1212}
.warn{background:#fff8e1;border-left:4px solid #f0b400;padding:.5rem .8rem;margin:.5rem 0}
.note{background:#eef4fb;border-left:4px solid #3b7dd8;padding:.5rem .8rem}
.plots{display:flex;flex-wrap:wrap;gap:1rem}.plots figure{margin:0;flex:1 1 320px}.plots img{width:100%;border:1px solid #e4e8ed;border-radius:6px}
figcaption{font-size:.85rem;color:#5a6776}
ul.f{margin:0;padding-left:1rem}ul.f li{margin:0}
.up{color:#8a1212}.down{color:#1e6b34}
pre{white-space:pre-wrap;font-size:.8rem;background:#f7f9fb;padding:.8rem;border-radius:6px}
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _band(name) -> str:
    if not isinstance(name, str) or not name:
        return ""
    return f'<span class="band b-{name.replace(" ", "-")}">{_e(name)}</span>'


def _png(fig) -> str:
    from riskmodel.plots import figure_to_png_bytes

    data = base64.b64encode(figure_to_png_bytes(fig)).decode()
    return f'<img alt="" src="data:image/png;base64,{data}">'


def _factors(text: str) -> str:
    try:
        factors = json.loads(text) if text else []
    except (TypeError, json.JSONDecodeError):
        return ""
    items = []
    for f in factors[:3]:
        arrow = "▲" if f["direction"] == "raises" else "▼"
        cls = "up" if f["direction"] == "raises" else "down"
        points = abs(f["contribution"]) * 100
        items.append(f'<li><span class="{cls}">{arrow}</span> {_e(f["value"])} <small>({points:.0f} pts)</small></li>')
    return f'<ul class="f">{"".join(items)}</ul>'


def _calibration_figure(bins: list[dict]):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 4), dpi=100)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", label="perfect agreement")
    if bins:
        ax.plot([b["predicted"] for b in bins], [b["observed"] for b in bins], marker="o", color="#3b7dd8", label="champion at validation")
    ax.set_xlabel("Predicted chance of reoffending")
    ax.set_ylabel("Share who actually reoffended")
    ax.set_title("Do the scores match what happened?")
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def _expected_capture_figure(frequency: np.ndarray, capacity: int):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 4), dpi=100)
    ax = fig.subplots()
    ordered = np.sort(frequency)[::-1]
    total = ordered.sum()
    people = np.arange(1, len(ordered) + 1)
    share = np.cumsum(ordered) / total if total > 0 else np.zeros_like(ordered)
    ax.plot(people, share, color="#3b7dd8")
    if len(ordered):
        k = min(capacity, len(ordered))
        ax.axvline(k, color="#c0392b", linestyle="--", label=f"panel capacity ({k} people)")
        ax.axhline(share[k - 1], color="#c0392b", linestyle=":")
    ax.set_xlabel("People, highest expected reoffending first")
    ax.set_ylabel("Share of the month's expected reoffences")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_title("How much expected reoffending the top of the list holds")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def render_report(result, champions, *, title: str | None = None) -> str:
    """The report's HTML for a :class:`~riskmodel.batch.BatchResult`."""
    from riskmodel.plots import distribution_figure

    scoring = champions.scoring
    capacity = min(scoring.capacity if not len(result.top) else max(len(result.top), 1), max(result.rows_scored, 1))
    capacity = len(result.top) or scoring.capacity
    freq = result.frequency
    total_expected = float(freq.sum())
    top_share = float(np.sort(freq)[::-1][:capacity].sum() / total_expected) if total_expected > 0 else 0.0
    bands = pd.Series(band(result.reoffence, scoring.reoffence_bands)).value_counts() if len(result.reoffence) else pd.Series(dtype=int)
    harm_bands = pd.Series(band(result.harm, scoring.harm_bands)).value_counts() if len(result.harm) else pd.Series(dtype=int)
    title = title or f"IOM panel report: {result.input_path.stem}"

    cards = [
        (f"{result.rows_scored:,}", "releases scored"),
        (f"{result.rows_rejected:,}", "rows rejected (see rejects file)"),
        (f"{total_expected:,.0f}", "expected proven reoffences in 12 months"),
        (f"{top_share:.0%}", f"of those held by the top {capacity} people"),
        (f"{float(result.reoffence.mean()) if len(result.reoffence) else 0:.0%}", "average chance of reoffending"),
    ]
    card_html = "".join(f'<div class="card"><b>{_e(v)}</b><span>{_e(t)}</span></div>' for v, t in cards)

    def band_table(counts: pd.Series, bands_def) -> str:
        rows = "".join(f"<tr><td>{_band(name)}</td><td>{int(counts.get(name, 0)):,}</td></tr>" for _, name in bands_def)
        return f"<table><tr><th>band</th><th>people</th></tr>{rows}</table>"

    warn_html = ""
    alerts = []
    if result.drift_flagged:
        shifted = ", ".join(f"{n} (PSI {result.drift[n]:.2f})" for n in result.drift_flagged)
        alerts.append(f"This month's people differ from those the model learned from on: {shifted}. Scores for them are less certain; the data team has been told.")
    if result.rows_rejected:
        reasons = "; ".join(f"{k} ({v})" for k, v in list(result.reject_reasons.items())[:6])
        alerts.append(f"{result.rows_rejected} rows could not be scored and are listed in the rejects file: {reasons}.")
    alerts.extend(result.warnings)
    if alerts:
        warn_html = "".join(f'<div class="warn">{_e(a)}</div>' for a in alerts)

    top = result.top.head(capacity)
    rows = []
    for r in top.itertuples():
        needs = "<br>".join(_e(n) for n in str(r.needs or "").split("; ") if n) or "—"
        rows.append(
            f"<tr><td>{int(r.priority_rank)}</td><td>{_e(r.release_id)}<br><small>{_e(r.person_id)}</small></td>"
            f"<td>{r.reoffence_probability:.0%} {_band(r.reoffence_band)}</td><td>{r.harm_probability:.0%} {_band(r.harm_band)}</td>"
            f"<td>{r.frequency_expected:.1f}</td><td>{_factors(r.top_factors)}</td><td>{needs}</td>"
            f"<td>{'' if pd.isna(r.ogrs3_2y) else f'{r.ogrs3_2y:.0%}'}</td><td><small>{_e(r.warnings)}</small></td></tr>"
        )
    ranked = (
        "<table><tr><th>rank</th><th>release / person</th><th>reoffending (12 months)</th><th>violent or sexual (24 months)</th>"
        "<th>expected reoffences</th><th>main factors</th><th>resettlement needs</th><th>OGRS3 (2 years)</th><th>warnings</th></tr>"
        + "".join(rows)
        + "</table>"
    )

    info = champions.info
    versions = "".join(
        f"<tr><td>{_e(t)}</td><td>{_e(i.label)}</td><td><code>{_e(i.fingerprint[:16])}</code></td>"
        f"<td>{_e(_metric_line(i))}</td></tr>"
        for t, i in info.items()
    )
    drift_rows = "".join(
        f"<tr><td>{_e(n)}</td><td>{v:.3f}</td><td>{'shifted' if v > result.drift_threshold else 'stable'}</td></tr>"
        for n, v in sorted(result.drift.items(), key=lambda kv: -kv[1])
    )
    plots = ""
    if len(result.reoffence):
        plots = (
            '<div class="plots">'
            f"<figure>{_png(distribution_figure(result.reoffence, bands=scoring.reoffence_bands, title='Chance of reoffending this month'))}"
            "<figcaption>How many people fall at each level of risk; shaded edges are the bands.</figcaption></figure>"
            f"<figure>{_png(_expected_capture_figure(freq, capacity))}"
            "<figcaption>Working with the people at the top of the list reaches most of the expected reoffending.</figcaption></figure>"
            f"<figure>{_png(_calibration_figure(info['reoffence'].validation.get('calibration_bins', [])))}"
            "<figcaption>At its last validation, people given a 60% chance reoffended about 60% of the time when the points sit on the line.</figcaption></figure>"
            "</div>"
        )
    rule = scoring.priority_rule
    card_text = info["reoffence"].model_card.split("## Performance")[0]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class="sub">Scored {result.finished_at:%d %B %Y %H:%M} UTC · input fingerprint <code>{_e(result.input_fingerprint[:16])}</code> · batch {_e(result.batch_id)}</p>
<p class="note">These scores support the panel's decision; they never make it. Each describes people with similar records, not what this person will do. Check the factors and needs against what partners know.</p>
<h2>This month</h2>
<div class="cards">{card_html}</div>
{warn_html}
<div class="plots"><div style="flex:1"><h3>Reoffending (12 months)</h3>{band_table(bands, scoring.reoffence_bands)}</div>
<div style="flex:1"><h3>Violent or sexual reoffending (24 months)</h3>{band_table(harm_bands, scoring.harm_bands)}</div></div>
<h2>Priority list: top {capacity}</h2>
<p>Ranked by <b>{_e(rule)}</b>: {_e(PRIORITY_RULES.get(rule, rule))}. ▲ raises, ▼ lowers the chance of reoffending, in percentage points.</p>
{ranked}
<h2>Pictures</h2>
{plots}
<h2>Where these numbers come from</h2>
<table><tr><th>target</th><th>model version</th><th>training data</th><th>last validation</th></tr>{versions}</table>
<h3>Data drift (population stability index by feature; above {result.drift_threshold} is flagged)</h3>
<table><tr><th>feature</th><th>PSI</th><th></th></tr>{drift_rows}</table>
<h3>Model card (reoffence model)</h3>
<pre>{_e(card_text)}</pre>
<p class="sub">{_e(result.reconciliation())}</p>
</body></html>
"""


def _metric_line(info) -> str:
    m = info.metrics
    if "model.auc" in m:
        return f"AUC {m['model.auc']:.2f}, calibration slope {m.get('model.calibration_slope', float('nan')):.2f}, n {int(m.get('model.n', 0))}"
    if "model.capture_at_10" in m:
        return f"top 10% hold {m['model.capture_at_10']:.0%} of reoffences, observed/expected {m.get('model.calibration_ratio', float('nan')):.2f}"
    return ""


def write_report(result, champions, path: Path, *, title: str | None = None) -> Path:
    """Write the report atomically and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_report(result, champions, title=title), encoding="utf-8")
    tmp.replace(path)
    return path
