"""The figures of the panel's report, drawn by riskmodel.evaluation.plots (no trained home needed)."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from riskmodel.evaluation.plots import (
    binned_calibration_figure,
    distribution_figure,
    figure_to_data_uri,
    list_capture_figure,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_list_capture_marks_where_the_list_ends():
    # ranked by priority: 3, 1, 0, 0 expected reoffences of 4 in all
    fig = list_capture_figure([0, 3, 1, 0], [0.1, 0.9, 0.5, 0.2], on_list=1, title="Held by the top of the list")
    ax = fig.axes[0]
    curve = ax.lines[0]
    assert list(curve.get_xdata()) == [0, 0.25, 0.5, 0.75, 1]
    assert list(curve.get_ydata()) == [0, 0.75, 1, 1, 1]
    assert [list(line.get_xdata()) for line in ax.lines[-2:]] == [[0.25, 0.25, 0], [0.25]]  # dotted guides, point
    assert list(ax.lines[-1].get_ydata()) == [0.75]
    assert "the 1 people on the list hold 75%" in _legend(ax)


def test_list_capture_without_expected_reoffences_says_so():
    fig = list_capture_figure(np.zeros(5), np.arange(5.0), on_list=2, title="t")
    ax = fig.axes[0]
    assert not ax.lines and ax.get_legend() is None
    assert [t.get_text() for t in ax.texts] == ["No expected reoffences to show"]


def test_binned_calibration_draws_stored_bins():
    bins = [{"predicted": 0.2, "observed": 0.25, "n": 40}, {"predicted": 0.6, "observed": 0.5, "n": 40}]
    fig = binned_calibration_figure({"the model": bins}, title="t", xlabel="Chance the model gave")
    ax = fig.axes[0]
    assert list(ax.lines[0].get_xdata()) == [0.2, 0.6] and list(ax.lines[0].get_ydata()) == [0.25, 0.5]
    assert _legend(ax) == ["the model", "perfect agreement"]
    assert ax.get_xlabel() == "Chance the model gave"
    assert ax.get_xlim() == pytest.approx((0, 0.7))  # just past the highest point


def test_binned_calibration_without_bins_says_so():
    ax = binned_calibration_figure({"the model": []}, title="t").axes[0]
    assert [t.get_text() for t in ax.texts] == ["No validation results to show"]
    assert len(ax.lines) == 1  # the diagonal only


def test_distribution_shades_each_band():
    bands = ((0.0, "low"), (0.5, "medium"), (0.9, "very high"))
    ax = distribution_figure([0.1, 0.6], bands=bands, title="t", xlabel="Chance of reoffending").axes[0]
    spans = [collection.get_paths()[0].vertices[:, 0] for collection in ax.collections]
    assert [(min(x), max(x)) for x in spans] == [(0.0, 0.5), (0.5, 0.9), (0.9, 1.0)]
    assert ax.get_xlabel() == "Chance of reoffending"


@pytest.mark.parametrize("tallest", [1, 3, 16, 40, 700])
def test_the_count_axis_has_whole_number_ticks(tallest):
    # 16 people in the tallest bar gave ticks 2.5 apart, labelled 0, 2, 5, 8, 10, 12, 15, 18
    chances = np.concatenate([np.full(tallest, 0.52), np.linspace(0.01, 0.99, 18)])
    fig = distribution_figure(chances, title="t")
    fig.canvas.draw()
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    ticks = [tick for tick in ax.get_yticks() if low <= tick <= high]
    assert len(ticks) >= 2
    assert all(float(tick).is_integer() for tick in ticks)
    labels = [label.get_text() for label in ax.get_yticklabels() if label.get_text()]
    assert len(labels) == len(set(labels))  # no two ticks under one rounded label


def test_figure_to_data_uri_is_a_png_in_the_page():
    uri = figure_to_data_uri(distribution_figure([0.5], title="t"), dpi=50)
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    assert base64.b64decode(uri[len(prefix) :], validate=True).startswith(PNG_MAGIC)
