"""The panel's meeting report, read back from its HTML as a panel member would read it."""

from __future__ import annotations

import base64
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from batch_helpers import BAD_CELLS, as_text, bad_month, read_scores, shifted, write_text
from bs4 import BeautifulSoup, Tag

from riskmodel._constants import NEEDS_PATHWAYS
from riskmodel.reporting.batch import BatchResult, score_file
from riskmodel.reporting.report import RULE_WORDS, render_report, write_report
from riskmodel.scoring.scoring import band

CAPACITY = 15


@dataclass
class Run:
    result: BatchResult
    scores: pd.DataFrame
    html: str
    doc: Tag


def run_and_report(folder: Path, source: Path, champions, **kwargs) -> Run:
    result = score_file(source, folder / "scores.parquet", champions=champions, capacity=CAPACITY, **kwargs)
    path = write_report(result, champions, folder / "report.html")
    html = path.read_text(encoding="utf-8")
    return Run(result, read_scores(result.output_path), html, parse_html(html))


def parse_html(html: str) -> Tag:
    return BeautifulSoup(html, "html.parser")


def text(element: Tag) -> str:
    """All text inside, whitespace collapsed."""
    return " ".join(element.get_text(" ").split())


def rows(table: Tag) -> list[list[Tag]]:
    """A table's rows as lists of cells (th or td)."""
    return [tr.find_all(["td", "th"], recursive=False) for tr in table.find_all("tr")]


def factors_of(value) -> list[dict]:
    """A scores file's top factors as a list."""
    return list(value)


def need_words_of(value) -> list[str]:
    """A scores file's needs (pathway codes) in the panel's words."""
    return [NEEDS_PATHWAYS[f"needs_{code}"] for code in value]


@pytest.fixture(scope="module")
def run(tmp_path_factory, month, champions) -> Run:
    """A month of about 1,300 releases, some rows bad."""
    folder = tmp_path_factory.mktemp("report")
    frame = pd.concat([bad_month(month), as_text(month.releases.iloc[60:])], ignore_index=True)
    return run_and_report(folder, write_text(frame, folder / "releases.csv"), champions)


def cards(doc: Tag) -> dict[str, str]:
    """Caption -> figure of the summary cards."""
    return {text(card.find("span")): text(card.find("b")) for card in doc.find_all("div", class_="card")}


def table_after(doc: Tag, heading: str) -> Tag:
    """The first table after the h3 with this text."""
    [h3] = [h for h in doc.find_all("h3") if text(h) == heading]
    return h3.find_next("table")


# --------------------------------------------------------------------------- the month's figures


def test_the_cards_give_the_numbers_scored_and_rejected(run):
    figures = cards(run.doc)
    assert figures["releases scored"] == f"{len(run.scores):,}"
    assert figures["rows could not be scored (listed in the rejects file)"] == str(len(BAD_CELLS))
    expected = run.scores["frequency_expected"].sum()
    assert figures["proven reoffences expected from these people in the 12 months after release"] == f"{expected:,.0f}"
    listed = run.scores.nsmallest(CAPACITY, "priority_rank")["frequency_expected"].sum()
    assert figures[f"of those expected from the {CAPACITY} people on the list below"] == f"{listed / expected:.0%}"
    assert (
        figures["average chance of reoffending within 12 months"] == f"{run.scores['reoffence_probability'].mean():.0%}"
    )


@pytest.mark.parametrize(
    ("heading", "column", "bands"),
    [
        ("Chance of reoffending within 12 months", "reoffence_probability", "reoffence_bands"),
        ("Chance of violent or sexual reoffending within 24 months", "harm_probability", "harm_bands"),
    ],
)
def test_band_tables_count_the_people_in_each_band(run, champions, heading, column, bands):
    definition = getattr(champions.scoring, bands)
    table = rows(table_after(run.doc, heading))
    assert [text(cell) for cell in table[0]] == ["band", "chance", "people", "share"]
    expected = pd.Series(band(run.scores[column].to_numpy(), definition)).value_counts()
    shown = {text(r[0]): int(text(r[2]).replace(",", "")) for r in table[1:]}
    assert list(shown) == [name for _, name in definition]
    assert shown == {name: int(expected.get(name, 0)) for _, name in definition}
    assert sum(shown.values()) == len(run.scores)


def test_rejected_rows_are_explained(run):
    warnings = " ".join(text(w) for w in run.doc.find_all("div", class_="warn"))
    assert f"{len(BAD_CELLS)} rows of the input could not be scored" in warnings
    for _, _, problems in BAD_CELLS:
        for column, words in problems:
            assert f"{column}: {words}" in warnings
    assert run.result.reconciliation() in text(run.doc.find("footer"))


# --------------------------------------------------------------------------- the ranked list


def ranked_rows(doc: Tag) -> list[list[Tag]]:
    [table] = doc.find_all("table", class_="list")
    cells = rows(table)
    assert text(cells[0][0]) == "rank"
    return cells[1:]


def test_the_list_is_the_top_of_the_ranking_in_order(run):
    rows = ranked_rows(run.doc)
    top = run.scores.sort_values("priority_rank").head(CAPACITY)
    assert [int(text(r[0])) for r in rows] == list(range(1, CAPACITY + 1))
    assert [text(r[1]).split()[0] for r in rows] == top["release_id"].tolist()
    for row, (_, score) in zip(rows, top.iterrows(), strict=True):
        assert f"person {score['person_id']}" in text(row[1])
        assert text(row[2]) == f"{score['reoffence_probability']:.0%} {score['reoffence_band']}"
        assert text(row[3]) == f"{score['harm_probability']:.0%} {score['harm_band']}"
        assert text(row[4]) == f"{score['frequency_expected']:.1f}"
        for cell, name in ((row[5], "ogrs3"), (row[6], "arp")):  # the two national scales, side by side
            p2 = score[f"{name}_2y"]
            assert text(cell) == ("" if pd.isna(p2) else f"{p2:.0%} {score[f'{name}_band']}")


def test_the_list_shows_ogrs3_and_arp_headed_by_name(run):
    [table] = run.doc.find_all("table", class_="list")
    headers = [text(cell) for cell in rows(table)[0]]
    assert headers[5:7] == ["OGRS3 (2 years)", "ARP (2 years)"]
    assert run.scores["arp_2y"].notna().any()


def folded(cell: Tag) -> Tag:
    """The ``<details>`` of a list row's factors-and-needs cell."""
    [details] = cell.find_all("details")
    return details


def factor_items(cell: Tag) -> list[str]:
    found = folded(cell).find("ul", class_="f")
    return [text(li) for li in found.find_all("li")] if found else []


def need_items(cell: Tag) -> list[str]:
    found = folded(cell).find("ul", class_="needs")
    return [text(li) for li in found.find_all("li")] if found else []


def test_the_list_gives_the_main_factors_in_words_and_the_needs(run):
    top = run.scores.sort_values("priority_rank").head(CAPACITY)
    for row, (_, score) in zip(ranked_rows(run.doc), top.iterrows(), strict=True):
        factors = factors_of(score["top_factors"])
        items = factor_items(row[7])
        assert len(items) == min(3, len(factors))
        for item, factor in zip(items, factors, strict=False):
            arrow = "▲" if factor["direction"] == "raises" else "▼"
            assert item.startswith(f"{arrow} {factor['value']} (")
            assert re.search(r"\((less than 1 point|1 point|\d+ points)\)$", item)
            assert "_" not in factor["value"]  # words, not column names
        assert need_items(row[7]) == need_words_of(score["needs"])


def test_each_person_is_one_line_with_factors_and_needs_folded_away(run):
    """The 50-person list was 6,000 px tall: factors and needs are now in a <details>, which needs no script."""
    top = run.scores.sort_values("priority_rank").head(CAPACITY)
    for row, (_, score) in zip(ranked_rows(run.doc), top.iterrows(), strict=True):
        assert row[0].name == "th" and row[0].attrs.get("scope") == "row"  # a screen reader names the row
        assert not any(cell.find_all(["ul", "br"]) for cell in row[:7])  # nothing above one line before it
        details = folded(row[7])
        assert "open" not in details.attrs
        shown, needs = min(3, len(factors_of(score["top_factors"]))), len(score["needs"])
        factors_words = f"{shown} factor{'s' if shown != 1 else ''}" if shown else "no factor stands out"
        needs_words = f"{needs} need{'s' if needs != 1 else ''}" if needs else "no needs recorded"
        assert text(details.find("summary")) == f"{factors_words}, {needs_words}"  # says what is inside
    assert not run.doc.find_all("script")
    # on paper a <details> cannot be opened: a printed copy shows the same lists instead
    css = run.doc.find("style").get_text()
    assert ".print-only{display:none}" in css and "details{display:none}.print-only{display:block}" in css
    printed = ranked_rows(run.doc)[0][7].find("div", class_="print-only")
    assert printed.find_all("li") and [text(li) for li in printed.find_all("li")] == [
        text(li) for li in folded(ranked_rows(run.doc)[0][7]).find_all("li")
    ]


def test_the_rule_is_said_in_words(run, champions):
    words = text(run.doc)
    assert RULE_WORDS[champions.scoring.priority_rule] in words
    assert champions.scoring.priority_rule not in words  # not the rule's code name


def notes_of(doc: Tag) -> list[str]:
    """The items of the warning about incomplete or unusual records."""
    [box] = [w for w in doc.find_all("div", class_="warn") if "incomplete or unusual" in text(w)]
    return [text(li) for li in box.find_all("li")]


def test_unusual_records_are_counted_by_kind_and_input_not_by_wording(run, champions):
    low, high = champions.models["reoffence"].features.ranges_["age_at_release"]
    structured = [  # messages in words the report must not read: it goes by code and field
        {"code": "outside_training_range", "message": "Alter außerhalb", "field": "age_at_release", "count": 3},
        {"code": "ogrs3_unavailable", "message": "erste Sanktion fehlt", "field": "age_at_first_sanction", "count": 2},
        {"code": "ogrs3_unavailable", "message": "zu spät", "field": "age_at_first_sanction", "count": 4},
        {"code": "arp_unavailable", "message": "ARP fehlt", "field": "age_at_first_sanction", "count": 5},
    ]
    doc = parse_html(render_report(dataclasses.replace(run.result, row_warnings=structured), champions))
    assert notes_of(doc) == [
        "OGRS3 could not be worked out for 6 people (age at first sanction missing or unusable);"
        " their other scores are unaffected.",
        "ARP could not be worked out for 5 people (age at first sanction missing or unusable);"
        " their other scores are unaffected.",
        f"3 people had age at release outside the range the models learned from ({low:g} to {high:g});"
        " treat their scores with extra care.",
    ]


def test_the_list_shows_structured_values_as_parquet_gives_them(run, champions):
    top = run.result.top.head(2).copy()
    factor = {
        "feature": "previous_sanctions",
        "value": "12 previous sanctions",
        "contribution": -0.031,
        "direction": "lowers",
        "pathway": None,
    }
    warning = {
        "code": "outside_training_range",
        "message": "sentence_days outside the training range 9-794",
        "field": "sentence_days",
    }
    top["top_factors"] = [np.array([factor], dtype=object), np.array([], dtype=object)]
    top["needs"] = [np.array(["accommodation", "finance"], dtype=object), np.array([], dtype=object)]
    top["warnings"] = [np.array([warning], dtype=object), np.array([], dtype=object)]
    result = dataclasses.replace(run.result, top=top, capacity=2)
    listed = ranked_rows(parse_html(render_report(result, champions)))

    assert factor_items(listed[0][7]) == ["▼ 12 previous sanctions (3 points)"]
    empty = folded(listed[1][7])
    assert text(empty.find("summary")) == "no factor stands out, no needs recorded"
    assert "no single factor stands out" in text(empty) and "none recorded" in text(empty)
    assert need_items(listed[0][7]) == ["accommodation", "finance, benefit and debt"]
    assert text(folded(listed[0][7]).find("summary")) == "1 factor, 2 needs"
    assert text(listed[0][8]) == warning["message"] and text(listed[1][8]) == ""


def test_values_from_the_data_and_the_model_card_are_shown_as_text(run, champions):
    top = run.result.top.head(1).assign(release_id="<script>alert(1)</script>")
    info = champions.info["reoffence"]
    card = info.model_card + "\n<iframe src=x></iframe>\n\n![chart](https://example.org/a.png)\n"
    hostile = dataclasses.replace(
        champions, info={**champions.info, "reoffence": dataclasses.replace(info, model_card=card)}
    )
    html = render_report(dataclasses.replace(run.result, top=top, capacity=1), hostile)
    doc = parse_html(html)

    assert not doc.find_all("script") and not doc.find_all("iframe")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<iframe src=x></iframe>" in text(doc.find_all("div", class_="card-text")[1])
    assert len(doc.find_all("img")) == 4 and not doc.find_all("a")  # no picture or link to fetch


# --------------------------------------------------------------------------- where the numbers come from


def test_model_versions_and_the_model_card_are_shown(run, champions):
    words = text(run.doc)
    for target, label in champions.versions().items():
        assert label in words
        assert champions.info[target].fingerprint[:16] in words
    auc = champions.info["reoffence"].metrics["model.auc"]
    assert f"AUC {auc:.2f}" in words
    card, full = run.doc.find_all("div", class_="card-text")
    assert [text(h) for h in card.find_all("h4")] == ["Intended use", "Limits"]
    assert "never makes that decision" in text(card)
    assert "Fairness audit" in [text(h) for h in full.find_all("h4")]
    assert rows(full.find("table"))[0][0].name == "th"  # the card's Markdown tables are tables
    assert "support the panel's decision; they never make it" in text(run.doc.find("p", class_="note"))


def test_charts_are_embedded_pngs(run):
    images = run.doc.find_all("img")
    assert len(images) == 4
    for image in images:
        assert image.attrs["alt"]
        prefix = "data:image/png;base64,"
        assert image.attrs["src"].startswith(prefix)
        png = base64.b64decode(image.attrs["src"][len(prefix) :], validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_the_report_is_self_contained(run):
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/|@import|url\(", run.html, re.IGNORECASE)
    assert not run.doc.find_all("script") and not run.doc.find_all("link") and not run.doc.find_all("iframe")
    for tag in ("img", "a", "source", "object", "embed"):
        for element in run.doc.find_all(tag):
            for name in ("src", "href", "data"):
                value = element.attrs.get(name)
                assert value is None or value.startswith(("data:", "#")), (tag, value)


def test_no_drift_is_said_plainly(run):
    assert run.result.drift_flagged == []
    assert "look like the people the models learned from" in text(run.doc.find("div", class_="ok"))


# --------------------------------------------------------------------------- other months


def test_drift_is_flagged_in_words(tmp_path, month, champions):
    source = month.write(tmp_path / "releases.parquet", shifted(month.releases))
    run = run_and_report(tmp_path, source, champions)

    warnings = " ".join(text(w) for w in run.doc.find_all("div", class_="warn"))
    assert "different from the people the models learned from in: " in warnings
    assert "age at release" in warnings and "previous sanctions" in warnings
    assert not run.doc.find_all("div", class_="ok")
    drift_rows = rows(run.doc.find("details", class_="data-team").find("table"))[1:]
    flagged = {text(r[1]) for r in drift_rows if text(r[3]) == "changed"}
    assert flagged == set(run.result.drift_flagged)


def test_without_explanations_the_list_says_so(tmp_path, month, champions):
    run = run_and_report(tmp_path, month.write(tmp_path / "releases.parquet"), champions, explain=False)
    [table] = run.doc.find_all("table", class_="list")
    headers = [text(cell) for cell in rows(table)[0]]
    assert "main factors behind the chance of reoffending" not in headers
    assert "resettlement needs" in headers
    assert "were not worked out for this run" in text(run.doc)
    for row in ranked_rows(run.doc):
        assert factor_items(row[7]) == []
        assert re.fullmatch(r"(\d+ needs?|no needs recorded)", text(folded(row[7]).find("summary")))


def test_an_empty_month_still_renders(tmp_path, month, champions):
    source = write_text(as_text(month.releases.head(3)).assign(sex="?"), tmp_path / "releases.csv")
    result = score_file(source, tmp_path / "scores.csv", champions=champions)
    doc = parse_html(render_report(result, champions))
    assert cards(doc)["releases scored"] == "0"
    assert "No releases were scored." in text(doc)
    expected = cards(doc)["proven reoffences expected from these people in the 12 months after release"]
    assert np.isclose(float(expected), 0)


# --------------------------------------------------------------------------- the month it covers


def dated(month, days: list[str], **changes) -> pd.DataFrame:
    """As many of the month's releases as ``days``, released on those days, as CSV text."""
    frame = as_text(month.releases.head(len(days)))
    frame["release_date"] = days
    return frame.assign(**changes) if changes else frame


def heading(doc: Tag) -> tuple[str, str]:
    """The report's h1 and the line under it (as read: no space added around the bold file name)."""
    return text(doc.find("h1")), " ".join(doc.find("p", class_="sub").get_text().split())


OCTOBER = ["2025-10-03", "2025-10-11", "2025-10-17", "2025-10-28", "2025-10-20"]


def test_the_report_names_the_month_its_releases_fall_in(tmp_path, month, champions):
    run = run_and_report(tmp_path, write_text(dated(month, OCTOBER), tmp_path / "releases.csv"), champions)

    title, sub = heading(run.doc)
    assert title == "IOM panel report: October 2025"
    assert sub.startswith("Releases from 3 to 28 October 2025 in releases.csv, scored on ")
    assert text(run.doc.find("title")).startswith("IOM panel report: October 2025 · ")


def test_releases_over_several_months_are_named_by_the_month_most_fall_in(tmp_path, month, champions):
    days = ["2025-09-30", "2025-09-29", *OCTOBER, "2025-11-01"]
    frame = pd.concat([dated(month, days), dated(month, ["2025-08-01"], release_id="R-bad", sex="X")])
    run = run_and_report(tmp_path, write_text(frame, tmp_path / "releases.csv"), champions)

    title, sub = heading(run.doc)
    assert run.result.rows_rejected == 1  # its date is not among the scored releases'
    assert title == "IOM panel report: October 2025"
    assert sub.startswith("Releases from 29 September to 1 November 2025 in releases.csv")
    assert "not from" not in text(run.doc)  # no --month given: nothing to warn about


def test_a_month_given_names_the_report_and_releases_outside_it_are_warned(tmp_path, month, champions):
    source = write_text(dated(month, ["2025-09-30", *OCTOBER]), tmp_path / "releases.csv")
    result = score_file(source, tmp_path / "scores.csv", champions=champions)

    doc = parse_html(render_report(result, champions, month="2025-09", title="Leeds IOM panel"))

    assert heading(doc)[0] == "Leeds IOM panel: September 2025"
    warnings = [text(w) for w in doc.find_all("div", class_="warn")]
    assert (
        "5 of the releases scored are not from September 2025, the month this report covers"
        " (releases from 30 September to 28 October 2025)." in warnings
    )


@pytest.mark.parametrize("bad", ["2025-13", "2025-1", "October 2025", "2025-10-01", ""])
def test_a_month_that_is_not_yyyy_mm_is_refused(run, champions, bad):
    with pytest.raises(ValueError, match=r"month: .* is not a month in the form YYYY-MM"):
        render_report(run.result, champions, month=bad)


def test_without_release_dates_the_report_names_no_month(tmp_path, run, champions):
    gone = dataclasses.replace(run.result, input_path=tmp_path / "moved_away.csv")
    title, sub = heading(parse_html(render_report(gone, champions)))
    assert title == "IOM panel report"
    assert sub.startswith("Releases in moved_away.csv, scored on ")


def test_score_month_option_names_the_report(tmp_path, month, home_env, runner):
    from riskmodel.cli import main

    source = write_text(dated(month, OCTOBER), tmp_path / "releases.csv")
    report = tmp_path / "report.html"
    args = ["score", "--input", str(source), "--output", str(tmp_path / "scores.csv"), "--report", str(report)]

    refused = runner.invoke(main, [*args, "--month", "2025-13"])
    assert refused.exit_code == 2 and not report.exists() and not (tmp_path / "scores.csv").exists()
    assert "Invalid value for '--month': '2025-13' is not a month in the form YYYY-MM" in refused.stderr

    result = runner.invoke(main, [*args, "--month", "2025-10"])
    assert result.exit_code == 0, result.output
    assert heading(parse_html(report.read_text(encoding="utf-8")))[0] == "IOM panel report: October 2025"


# --------------------------------------------------------------------------- a small month


def test_drift_is_not_computed_on_a_small_month_and_the_report_says_so(tmp_path, month, champions):
    run = run_and_report(tmp_path, write_text(dated(month, OCTOBER), tmp_path / "releases.csv"), champions)

    assert run.result.drift == {} and run.result.drift_flagged == []
    said = "drift not computed: 5 rows, below the minimum of 200"
    assert said in text(run.doc.find("div", class_="note"))
    assert not run.doc.find_all("div", class_="ok")  # not "no drift found": it was not looked for
    assert not run.doc.find_all("details", class_="data-team")
    assert f"For the data team: {said}" in text(run.doc)
