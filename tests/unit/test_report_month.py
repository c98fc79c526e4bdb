"""The month a panel report names, and how it says the dates of its releases (no trained home needed)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from riskmodel.reporting.report import ReportPeriod, report_period


def test_the_month_most_releases_fall_in_is_named():
    period = report_period(["2025-09-29", "2025-10-03", "2025-10-28", "2025-11-01"])
    assert period == ReportPeriod(month=date(2025, 10, 1), first=date(2025, 9, 29), last=date(2025, 11, 1), outside=2)
    assert period.month_words == "October 2025"


def test_a_tie_names_the_later_month():
    assert report_period(["2025-09-30", "2025-10-01"]).month_words == "October 2025"


def test_a_given_month_wins_and_the_releases_outside_it_are_counted():
    period = report_period(pd.to_datetime(["2025-10-03", "2025-10-04", "2025-11-02"]), month="2025-11")
    assert (period.month_words, period.outside, period.given) == ("November 2025", 2, True)


def test_a_given_month_is_named_even_without_dates():
    assert report_period([], month="2025-02") == ReportPeriod(month=date(2025, 2, 1), given=True)


def test_no_readable_date_names_no_month():
    period = report_period(np.array(["", "2021-02-30", None], dtype=object))
    assert period == ReportPeriod()
    assert period.month_words is None and period.span_words is None


@pytest.mark.parametrize(
    ("first", "last", "words"),
    [
        ("2025-10-03", "2025-10-28", "from 3 to 28 October 2025"),
        ("2025-10-03", "2025-10-03", "on 3 October 2025"),
        ("2025-09-28", "2025-10-31", "from 28 September to 31 October 2025"),
        ("2024-12-30", "2025-01-02", "from 30 December 2024 to 2 January 2025"),
    ],
)
def test_the_dates_are_said_as_a_person_says_them(first, last, words):
    assert report_period([first, last]).span_words == words


@pytest.mark.parametrize("bad", ["2025-13", "2025-00", "2025-1", "25-10", "October 2025", "2025-10-01", ""])
def test_a_month_must_be_yyyy_mm(bad):
    with pytest.raises(ValueError, match="is not a month in the form YYYY-MM"):
        report_period(["2025-10-03"], month=bad)
