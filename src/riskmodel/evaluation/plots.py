"""Figures of model validation and of a month's scores, for a non-technical panel.

Every function returns a :class:`matplotlib.figure.Figure` drawn on its own Agg canvas:
no pyplot state and no global backend switch, so a web service and a notebook can both
call them. The caller saves or closes the figure; :func:`figure_to_png_bytes` and
:func:`figure_to_data_uri` do both. Titles are plain words, axes are labelled and rates
are shown as percentages. The MLflow artifacts of a training run and the panel's report
draw with these same functions.
"""

from __future__ import annotations

import base64
import io
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from riskmodel.evaluation.metrics import auc_interval, calibration_bins, capture_at, capture_curve

__all__ = [
    "binned_calibration_figure",
    "calibration_figure",
    "capture_figure",
    "distribution_figure",
    "figure_to_data_uri",
    "figure_to_png_bytes",
    "list_capture_figure",
    "roc_figure",
]

if TYPE_CHECKING:  # for the type hints only: the plotting library is imported inside the functions
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_SIZE = (6.0, 4.5)
_REFERENCE = {"color": "#888888", "linestyle": "--", "linewidth": 1.0}
_MARK = {"color": "#c0392b", "linestyle": ":", "linewidth": 1.5}
#: Shading of each band, the same colours as the band labels of the report.
_BAND_COLOURS = {"low": "#e3f4e8", "medium": "#fff4d6", "high": "#ffe0cc", "very high": "#fbd5d5"}
#: A band narrower than this gets its name on two lines, so neighbouring names do not overlap.
_NARROW_BAND = 0.15


def _figure(title: str) -> tuple[Figure, Axes]:
    """A Figure on an Agg canvas with one Axes, titled."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=_SIZE, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _percent_axes(ax: Axes, *, x: bool = True, y: bool = True) -> None:
    from matplotlib.ticker import PercentFormatter

    if x:
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
    if y:
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))


def _shares_axes(ax: Axes, xlabel: str, ylabel: str, *, right: float = 1.0, top: float = 1.0) -> None:
    """Both axes from 0 (to ``right`` and ``top``) in percent, labelled."""
    ax.set_xlim(0, right)
    ax.set_ylim(0, top)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _percent_axes(ax)


def _legend(ax: Axes, loc: str, handles: list | None = None, labels: list[str] | None = None) -> None:
    """A small legend, when something is labelled (matplotlib warns about an empty one)."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc=loc, fontsize="small")


def _say(ax: Axes, text: str) -> None:
    """Words in the middle of an empty chart, so a blank chart is never mistaken for a broken one."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center")


def _finite(*values: ArrayLike) -> tuple[np.ndarray, ...]:
    arrays = [np.asarray(v, dtype=float).ravel() for v in values]
    keep = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    return tuple(a[keep] for a in arrays)


def roc_figure(y: ArrayLike, scores: Mapping[str, ArrayLike], *, title: str) -> Figure:
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
    from matplotlib.lines import Line2D
    from sklearn.metrics import roc_curve

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
    _shares_axes(ax, "People who did not reoffend but were flagged", "People who reoffended and were flagged", top=1.01)
    handles, labels = ax.get_legend_handles_labels()
    for name in not_drawn:  # in the legend only, so the reader sees why a scorer is missing
        handles.append(Line2D([], [], linestyle="none"))
        labels.append(f"{name}: not enough outcomes to draw")
    _legend(ax, "lower right", handles, labels)
    return fig


def calibration_figure(y: ArrayLike, scores: Mapping[str, ArrayLike], *, bins: int = 10, title: str) -> Figure:
    """Reliability diagram: predicted against observed rates by score bin, per scorer.

    Rows are cut into ``bins`` equal-sized groups by score (see
    :func:`riskmodel.evaluation.metrics.calibration_bins`); a well-calibrated scorer's points lie
    on the diagonal. :func:`binned_calibration_figure` draws bins worked out earlier.

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
    tables = {name: calibration_bins(y, score, bins=bins) for name, score in scores.items()}
    return binned_calibration_figure(tables, title=title)


def binned_calibration_figure(
    bins: Mapping[str, pd.DataFrame | Sequence[Mapping[str, float]]],
    *,
    title: str,
    xlabel: str = "Predicted chance (average in each group of people)",
) -> Figure:
    """Reliability diagram of bins already worked out (e.g. those a model version stored).

    Parameters
    ----------
    bins : mapping of str to table
        Per scorer (its name is its legend entry), the groups of people as a
        :class:`pandas.DataFrame` or a list of records, each with ``predicted`` and
        ``observed`` (as :func:`riskmodel.evaluation.metrics.calibration_bins` returns).
        A scorer without groups is left out.
    title : str
        Title in plain words.
    xlabel : str, optional
        Words of the x axis (the predicted chance).

    Returns
    -------
    matplotlib.figure.Figure
        One line with markers per scorer with groups, plus the dashed diagonal of perfect
        agreement; both axes reach just past the highest point.
    """
    fig, ax = _figure(title)
    top = 0.0
    for name, records in bins.items():
        table = pd.DataFrame(records, columns=["predicted", "observed"])
        if table.empty:
            continue
        ax.plot(table["predicted"], table["observed"], marker="o", linewidth=1.5, label=name)
        top = max(top, float(table["predicted"].max()), float(table["observed"].max()))
    if not ax.lines:
        _say(ax, "No validation results to show")
    limit = min(1.0, max(0.1, np.ceil(top * 10 + 0.5) / 10))
    ax.plot([0, limit], [0, limit], label="perfect agreement", **_REFERENCE)
    _shares_axes(ax, xlabel, "Share who actually reoffended", right=limit, top=limit)
    _legend(ax, "upper left")
    return fig


def capture_figure(outcome_count: ArrayLike, scores: Mapping[str, ArrayLike], *, title: str) -> Figure:
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
    _shares_axes(ax, "People ranked from highest score down", "Share of all reoffences they hold", top=1.01)
    _legend(ax, "lower right")
    return fig


def list_capture_figure(expected: ArrayLike, priority: ArrayLike, *, on_list: int, title: str) -> Figure:
    """Share of the expected reoffending held by the top of a priority list, its end marked.

    The panel's view of a capture curve: people in priority order, and a red point where
    the list's places run out.

    Parameters
    ----------
    expected : array-like of float
        Expected reoffences per person (e.g. ``frequency_expected``).
    priority : array-like of float
        The priority score the list is ranked by (highest first).
    on_list : int
        Places on the list (the people above the red point).
    title : str
        Title in plain words.

    Returns
    -------
    matplotlib.figure.Figure
        The list's curve, the dashed line of a random order and the marked point, or
        words saying there is nothing to show when no reoffences are expected.
    """
    fig, ax = _figure(title)
    expected, priority = _finite(expected, priority)
    n = len(expected)
    held = capture_at(expected, priority, share=min(on_list, n) / n) if n else float("nan")
    if np.isfinite(held):
        # at most 500 points: a smooth line at any size of month, exact for small ones
        curve = capture_curve(expected, priority, points=np.linspace(0.0, 1.0, min(n, 500) + 1))
        ax.plot(curve["share_ranked"], curve["share_captured"], color="#3b7dd8", linewidth=2, label="this month's list")
        ax.plot([0, 1], [0, 1], label="people in random order", **_REFERENCE)
        x = min(on_list, n) / n
        ax.plot([x, x, 0], [0, held, held], **_MARK)
        ax.plot(
            [x], [held], marker="o", color=_MARK["color"], label=f"the {on_list} people on the list hold {held:.0%}"
        )
    else:
        _say(ax, "No expected reoffences to show")
    _shares_axes(ax, "Share of this month's people, highest priority first", "Share of expected reoffences", top=1.02)
    _legend(ax, "lower right")
    return fig


def _draw_bands(ax: Axes, bands: Sequence[tuple[float, str]]) -> None:
    """Each band shaded in its colour and named at the top; edges above 0 dashed."""
    bands = sorted(bands, key=lambda band: band[0])
    for i, (edge, name) in enumerate(bands):
        low, high = max(edge, 0.0), bands[i + 1][0] if i + 1 < len(bands) else 1.0
        # fill_between, not axvspan: a collection, so ax.patches stays the histogram's bars
        colour = _BAND_COLOURS.get(name, "#f3f6f9")
        ax.fill_between(
            [low, high], 0, 1, transform=ax.get_xaxis_transform(), color=colour, alpha=0.6, linewidth=0, zorder=0
        )
        if edge > 0:
            ax.axvline(edge, color="#C44E52", linestyle="--", linewidth=1.2)
        label = name.replace(" ", "\n") if high - low < _NARROW_BAND else name
        middle = (low + high) / 2
        ax.text(
            middle,
            0.97,
            label,
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="top",
            fontsize="small",
            linespacing=0.9,
        )


def distribution_figure(
    p: ArrayLike, *, bands: Sequence[tuple[float, str]] | None = None, title: str, xlabel: str = "Predicted chance"
) -> Figure:
    """Histogram of predicted chances, with the bands shaded and named.

    Parameters
    ----------
    p : array-like of float
        Predicted probabilities; NaN values are left out.
    bands : sequence of (float, str), optional
        Bands as ``(lower edge, name)`` pairs, e.g. ``((0.0, "low"), (0.5, "medium"))``;
        each band is shaded and named at the top (a narrow band's name on two lines),
        and each edge above 0 is drawn as a dashed vertical line.
    title : str
        Title in plain words.
    xlabel : str, optional
        Words of the x axis.

    Returns
    -------
    matplotlib.figure.Figure
        20 bars of 5 percentage points each, one vertical line per band edge above 0;
        the count axis has whole-number ticks only.
    """
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter

    fig, ax = _figure(title)
    (values,) = _finite(p)
    heights, _, _ = ax.hist(values, bins=np.linspace(0.0, 1.0, 21), color="#4C72B0", edgecolor="white")
    ax.set_ylim(0, max(1.0, float(heights.max())) * 1.18)  # headroom for the band names
    # people are counted in whole numbers: ticks 2.5 apart would be labelled 2, 5, 8 (no 2.5 step)
    ax.yaxis.set_major_locator(MaxNLocator(nbins="auto", steps=[1, 2, 5, 10], integer=True))
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    if len(values) == 0:
        _say(ax, "No scores to show")
    _draw_bands(ax, bands or ())
    ax.set_xlim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Number of people")
    _percent_axes(ax, y=False)
    return fig


def figure_to_png_bytes(fig: Figure, *, dpi: int = 100) -> bytes:
    """The figure as PNG bytes; the figure is closed afterwards.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : int, default 100
        Pixels per inch of the image.

    Returns
    -------
    bytes
        A PNG image (starts with ``b"\\x89PNG"``).
    """
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi)
    finally:
        if "matplotlib.pyplot" in sys.modules:  # a pyplot-made figure is released from pyplot too
            sys.modules["matplotlib.pyplot"].close(fig)
        fig.clear()
    return buffer.getvalue()


def figure_to_data_uri(fig: Figure, *, dpi: int = 100) -> str:
    """The figure as a ``data:image/png;base64,…`` URI, for a page that loads nothing else.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Closed afterwards, as by :func:`figure_to_png_bytes`.
    dpi : int, default 100
        Pixels per inch of the image.

    Returns
    -------
    str
        The URI, to use as an ``<img>``'s ``src``.
    """
    return "data:image/png;base64," + base64.b64encode(figure_to_png_bytes(fig, dpi=dpi)).decode("ascii")
