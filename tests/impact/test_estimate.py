"""The estimate: a planted effect is recovered, no effect gives "no detectable change", unmatured are counted."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from riskmodel.data.decisions import latest_decisions
from riskmodel.data.synth import PanelSimulation, generate_cohort
from riskmodel.evaluation.impact import (
    MIN_MATURED_PER_GROUP,
    NO_DETECTABLE_CHANGE,
    estimate_impact,
    impact_rows,
    impact_summary,
)
from riskmodel.reporting.impact_report import headline, impact_paragraph, render_impact_page

START = date(2019, 1, 1)


def _decisions(cohort) -> pd.DataFrame:
    raw = cohort.decisions.assign(decided_at=pd.to_datetime(cohort.decisions["decided_at"].str.rstrip("Z")))
    return latest_decisions(raw)


def _oracle(cohort) -> pd.DataFrame:
    """The expected count had nobody been adopted: what a perfect champion would have said."""
    return cohort.truth[["release_id", "frequency_expected_untreated"]].rename(
        columns={"frequency_expected_untreated": "expected"}
    )


def _estimate(effect: float, *, seed: int = 0, as_of=None):
    cohort = generate_cohort(3000, seed=seed, panel=PanelSimulation(START, 9, effect))
    rows, counts = impact_rows(
        cohort.releases, cohort.reoffences, _decisions(cohort), _oracle(cohort), as_of=as_of or cohort.as_of
    )
    return cohort, estimate_impact(rows, as_of=cohort.as_of, counts=counts, n_boot=300, seed=seed)


@pytest.fixture(scope="module")
def planted():
    return _estimate(0.3)[1]


@pytest.fixture(scope="module")
def without():
    return _estimate(0.0)[1]


def test_a_planted_reduction_is_recovered(planted):
    overall = planted.overall
    assert overall.verdict == "fewer"
    assert overall.low <= -0.3 <= overall.high
    assert planted.groups["adopted"].ratio < planted.groups["not_adopted"].ratio


def test_without_an_effect_there_is_no_detectable_change(without):
    assert without.overall.verdict == NO_DETECTABLE_CHANGE
    assert without.overall.low < 0 < without.overall.high
    assert "No detectable change" in headline(impact_summary(without))


def test_unmatured_decisions_are_left_out_and_counted():
    as_of = date(2022, 6, 1)
    cohort = generate_cohort(3000, seed=0, panel=PanelSimulation(START, 9, 0.0))
    cohort_releases = cohort.releases.loc[cohort.releases["release_date"] < pd.Timestamp(as_of)]
    decisions = _decisions(cohort)
    decisions = decisions.loc[decisions["release_id"].isin(cohort_releases["release_id"])]
    rows, counts = impact_rows(cohort_releases, cohort.reoffences, decisions, _oracle(cohort), as_of=as_of)
    decided = cohort_releases.loc[cohort_releases["release_id"].isin(decisions["release_id"])]
    unmatured = decided["release_date"] + pd.Timedelta(days=365 + 183) > pd.Timestamp(as_of)
    assert counts["unmatured"] == int(unmatured.sum()) > 0
    assert counts["used"] == len(rows) == int((~unmatured).sum())
    assert not rows["release_id"].isin(decided.loc[unmatured, "release_id"]).any()
    assert counts["decided"] == counts["used"] + counts["unmatured"] + counts["no_expected"]


def test_decisions_for_unknown_releases_and_missing_expectations_are_counted():
    releases = pd.DataFrame(
        {
            "release_id": ["a", "b", "c"],
            "person_id": ["p", "q", "r"],
            "release_date": pd.to_datetime(["2020-01-01", "2020-01-01", "2020-01-01"]),
        }
    )
    reoffences = pd.DataFrame(
        {
            "person_id": ["p"],
            "offence_date": pd.to_datetime(["2020-03-01"]),
            "proven_date": pd.to_datetime(["2020-04-01"]),
            "offence": ["robbery"],
        }
    )
    decisions = pd.DataFrame({"release_id": ["a", "b", "c", "zz"], "decision": ["adopt", "not_now", "refer", "adopt"]})
    expected = pd.DataFrame({"release_id": ["a", "b"], "expected": [1.5, 0.5]})
    rows, counts = impact_rows(releases, reoffences, decisions, expected, as_of="2022-01-01")
    assert counts == {
        "decided": 3,
        "unknown_release": 1,
        "unmatured": 0,
        "no_expected": 1,
        "used": 2,
        "adopted": 1,
        "not_adopted": 1,
    }
    assert rows.set_index("release_id")["observed"].to_dict() == {"a": 1.0, "b": 0.0}


def test_the_summary_is_plain_data_and_the_page_says_it_in_words(planted):
    summary = impact_summary(planted)
    assert summary["enough"] is (
        min(summary["counts"]["adopted"], summary["counts"]["not_adopted"]) >= MIN_MATURED_PER_GROUP
    )
    assert summary["overall"]["verdict"] == "fewer"
    assert {row["label"] for row in summary["by_quarter"]} >= {"2019Q1", "2023Q4"}
    paragraph = impact_paragraph(summary)
    assert "evidence, not proof" in paragraph and "left out" in paragraph
    page = render_impact_page(summary)
    assert "Did the panel&#39;s attention change reoffending?" in page or "Did the panel's attention" in page
    assert headline(summary).replace("'", "&#39;") in page


def test_an_estimate_with_one_group_only_is_no_detectable_change():
    rows = pd.DataFrame(
        {
            "person_id": list("abcdefghij"),
            "release_date": pd.Timestamp("2021-01-01"),
            "adopted": False,
            "observed": np.arange(10.0),
            "expected": np.full(10, 4.5),
        }
    )
    estimate = estimate_impact(rows, as_of="2023-01-01", n_boot=100)
    assert estimate.overall.verdict == NO_DETECTABLE_CHANGE
    assert impact_summary(estimate)["overall"]["change"] is None


def test_the_monthly_report_shows_the_section_only_with_enough_matured_decisions(planted):
    from riskmodel.reporting.report import _impact_section

    summary = impact_summary(planted)
    assert summary["enough"]
    section = _impact_section(summary)
    assert section is not None and 'id="impact"' in section and "By quarter of release" in section
    assert _impact_section({**summary, "enough": False}) is None
    assert _impact_section(None) is None


def test_the_workspace_impact_page_shows_the_last_run_or_says_how_to_get_one(planted, tmp_path):
    import json
    from dataclasses import replace

    from riskmodel.reporting.impact_report import render_impact_section
    from riskmodel.reporting.impact_run import latest_summary
    from riskmodel.service.panel.pages import _environment
    from riskmodel.settings import Settings

    page = _environment().get_template("panel/impact.html")
    context = {"title": "Impact", "signed_in": True, "who": "panel member", "role": "panel", "csrf": "t"}
    context.update(may=lambda _: True, path="/panel/impact")
    settings = replace(Settings.from_env({"RISKMODEL_HOME": str(tmp_path)}))
    assert latest_summary(settings) is None
    assert "riskmodel impact --data DIR --as-of DATE" in page.render(context, section=None)
    summary = impact_summary(planted)
    (settings.reports_dir / "impact").mkdir(parents=True)
    (settings.reports_dir / "impact" / "latest.json").write_text(json.dumps(summary))
    shown = page.render(context, section=render_impact_section(latest_summary(settings)))
    assert headline(summary).replace("'", "&#39;") in shown
    assert "evidence, not proof" in shown
