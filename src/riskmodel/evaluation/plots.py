"""Figures of model validation and of a month's scores, for a non-technical panel.

Every function returns a :class:`matplotlib.figure.Figure` drawn on its own Agg canvas:
no pyplot state and no global backend switch, so a web service and a notebook can both
call them. The caller saves or closes the figure; :func:`figure_to_png_bytes` does both.
Titles are plain words, axes are labelled and rates are shown as percentages.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping, Sequence

import numpy as np

from riskmodel.evaluation.metrics import auc_interval, calibration_bins, capture_at, capture_curve

__all__ = ["calibration_figure", "capture_figure", "distribution_figure", "figure_to_png_bytes", "roc_figure"]

_SIZE = (6.0, 4.5)
_REFERENCE = {"color": "#888888", "linestyle": "--", "linewidth": 1.0}


def _figure(title: str):
    """A Figure on an Agg canvas with one Axes, titled."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=_SIZE, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _percent_axes(ax, *, x: bool = True, y: bool = True) -> None:
    from matplotlib.ticker import PercentFormatter

    if x:
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
    if y:
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))


def _finite(*values) -> tuple[np.ndarray, ...]:
    arrays = [np.asarray(v, dtype=float).ravel() for v in values]
    keep = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    return tuple(a[keep] for a in arrays)


def roc_figure(y, scores: Mapping[str, object], *, title: str):
    """ROC curves, one per scorer, with each scorer's AUC in the legend.

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcomes.
    scores : mapping of str to array-like
        Scores per scorer (e.g. ``model``, ``baseline``, ``ogrs3``); rows where a
        scorer's score is NaN are left out of its curve. A scorer whose rows hold one
        class only is listed in the legend without a curve.
    title : str
        Title in plain words.

    Returns
    -------
    matplotlib.figure.Figure
        One line per scorer with both classes, plus the dashed line of a random order.
    """
    from sklearn.metrics import roc_curve

    from matplotlib.lines import Line2D

    fig, ax = _figure(title)
    not_drawn = []
    for name, score in scores.items():
        yy, ss = _finite(y, score)
        auc = auc_interval(yy, ss, n_boot=0)[0]
        if np.isnan(auc):
            not_drawn.append(name)
            continue
        fpr, tpr, _ = roc_curve(yy, ss)
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.2f})", linewidth=1.8)
    ax.plot([0, 1], [0, 1], label="random order (AUC 0.50)", **_REFERENCE)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("People who did not reoffend but were flagged")
    ax.set_ylabel("People who reoffended and were flagged")
    _percent_axes(ax)
    handles, labels = ax.get_legend_handles_labels()
    for name in not_drawn:  # in the legend only, so the reader sees why a scorer is missing
        handles.append(Line2D([], [], linestyle="none"))
        labels.append(f"{name}: not enough outcomes to draw")
    ax.legend(handles, labels, loc="lower right", fontsize="small")
    return fig


def calibration_figure(y, scores: Mapping[str, object], *, bins: int = 10, title: str):
    """Reliability diagram: predicted against observed rates by score bin, per scorer.

    Rows are cut into ``bins`` equal-sized groups by score (see
    :func:`riskmodel.evaluation.metrics.calibration_bins`); a well-calibrated scorer's points lie
    on the diagonal.

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcomes.
    scores : mapping of str to array-like
        Predicted probabilities per scorer; NaN rows are left out per scorer.
    bins : int, default 10
        Number of equal-frequency bins.
    title : str
        Title in plain words.

    Returns
    -------
    matplotlib.figure.Figure
        One line with markers per scorer with scored rows, plus the dashed diagonal of
        perfect agreement.
    """
    fig, ax = _figure(title)
    top = 0.0
    for name, score in scores.items():
        table = calibration_bins(y, score, bins=bins)
        if table.empty:
            continue
        ax.plot(table["predicted"], table["observed"], marker="o", linewidth=1.5, label=name)
        top = max(top, float(table["predicted"].max()), float(table["observed"].max()))
    limit = min(1.0, max(0.1, np.ceil(top * 10 + 0.5) / 10))
    ax.plot([0, limit], [0, limit], label="perfect agreement", **_REFERENCE)
    ax.set_xlim(0, limit)
    ax.set_ylim(0, limit)
    ax.set_xlabel("Predicted chance (average in each group of people)")
    ax.set_ylabel("Share who actually reoffended")
    _percent_axes(ax)
    ax.legend(loc="upper left", fontsize="small")
    return fig


def capture_figure(outcome_count, scores: Mapping[str, object], *, title: str):
    """Capture curves: share of all reoffences held by the top-ranked share of people.

    Parameters
    ----------
    outcome_count : array-like of float
        Reoffences (or 0/1 outcomes) per person.
    scores : mapping of str to array-like
        Ranking score per scorer; NaN rows are left out per scorer.
    title : str
        Title in plain words.

    Returns
    -------
    matplotlib.figure.Figure
        One line per scorer (the legend gives its share at 10%), the dashed line of a
        random order and a dotted vertical line at the top 10%.
    """
    fig, ax = _figure(title)
    points = np.linspace(0.0, 1.0, 201)
    for name, score in scores.items():
        curve = capture_curve(outcome_count, score, points=points)
        at_10 = capture_at(outcome_count, score, share=0.10)
        label = f"{name}: top 10% hold {at_10:.0%}" if np.isfinite(at_10) else f"{name} (no reoffences)"
        ax.plot(curve["share_ranked"], curve["share_captured"], linewidth=1.8, label=label)
    ax.plot([0, 1], [0, 1], label="random order", **_REFERENCE)
    ax.axvline(0.10, color="#444444", linestyle=":", linewidth=1.2, label="top 10% of people")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("People ranked from highest score down")
    ax.set_ylabel("Share of all reoffences they hold")
    _percent_axes(ax)
    ax.legend(loc="lower right", fontsize="small")
    return fig


def distribution_figure(p, *, bands: Sequence[tuple[float, str]] | None = None, title: str):
    """Histogram of predicted chances, with the edges of the bands marked.

    Parameters
    ----------
    p : array-like of float
        Predicted probabilities; NaN values are left out.
    bands : sequence of (float, str), optional
        Bands as ``(lower edge, name)`` pairs, e.g. ``((0.0, "low"), (0.5, "medium"))``;
        each edge above 0 is drawn as a vertical line and each band is named at the top.
    title : str
        Title in plain words.

    Returns
    -------
    matplotlib.figure.Figure
        20 bars of 5 percentage points each, one vertical line per band edge above 0.
    """
    fig, ax = _figure(title)
    (values,) = _finite(p)
    from matplotlib.ticker import StrMethodFormatter

    heights, _, _ = ax.hist(values, bins=np.linspace(0.0, 1.0, 21), color="#4C72B0", edgecolor="white")
    ax.set_ylim(0, max(1.0, float(heights.max())) * 1.15)  # headroom for the band names
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    if len(values) == 0:
        ax.text(0.5, 0.5, "No scores to show", transform=ax.transAxes, ha="center", va="center")
    bands = sorted(bands or (), key=lambda band: band[0])
    for i, (edge, name) in enumerate(bands):
        upper = bands[i + 1][0] if i + 1 < len(bands) else 1.0
        if edge > 0:
            ax.axvline(edge, color="#C44E52", linestyle="--", linewidth=1.2)
        ax.text((max(edge, 0.0) + upper) / 2, 0.98, name, transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize="small")
    ax.set_xlim(0, 1)
    ax.set_xlabel("Predicted chance")
    ax.set_ylabel("Number of people")
    _percent_axes(ax, y=False)
    return fig


def figure_to_png_bytes(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed afterwards.

    Parameters
    ----------
    fig : matplotlib.figure.Figure

    Returns
    -------
    bytes
        A PNG image (starts with ``b"\\x89PNG"``).
    """
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=100)
    finally:
        if "matplotlib.pyplot" in sys.modules:  # a pyplot-made figure is released from pyplot too
            sys.modules["matplotlib.pyplot"].close(fig)
        fig.clear()
    return buffer.getvalue()
