"""The panel's meeting report, read back from its HTML as a panel member would read it."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from batch_helpers import BAD_CELLS, Element, as_text, bad_month, parse_html, read_scores, shifted, write_text

from riskmodel.reporting.batch import BatchResult, score_file
from riskmodel.reporting.report import RULE_WORDS, render_report, write_report
from riskmodel.scoring.scoring import band

CAPACITY = 15


@dataclass
class Run:
    result: BatchResult
    scores: pd.DataFrame
    html: str
    doc: Element


def run_and_report(folder: Path, source: Path, champions, **kwargs) -> Run:
    result = score_file(source, folder / "scores.parquet", champions=champions, capacity=CAPACITY, **kwargs)
    path = write_report(result, champions, folder / "report.html")
    html = path.read_text(encoding="utf-8")
    return Run(result, read_scores(result.output_path), html, parse_html(html))


@pytest.fixture(scope="module")
def run(tmp_path_factory, month, champions) -> Run:
    """A month of about 1,300 releases, some rows bad."""
    folder = tmp_path_factory.mktemp("report")
    frame = pd.concat([bad_month(month), as_text(month.releases.iloc[60:])], ignore_index=True)
    return run_and_report(folder, write_text(frame, folder / "releases.csv"), champions)


def cards(doc: Element) -> dict[str, str]:
    """Caption -> figure of the summary cards."""
    out = {}
    for card in doc.find_all("div", class_="card"):
        figure, caption = card.find_all("b")[0].text(), card.find_all("span")[0].text()
        out[caption] = figure
    return out


def table_after(doc: Element, heading: str) -> Element:
    """The first table after the h3 with this text."""
    found = False

    def walk(element):
        nonlocal found
        for child in element.children:
            if not isinstance(child, Element):
                continue
            if child.tag == "h3" and child.text() == heading:
                found = True
            elif found and child.tag == "table":
                return child
            hit = walk(child)
            if hit is not None:
                return hit
        return None

    table = walk(doc)
    assert table is not None, heading
    return table


# --------------------------------------------------------------------------- the month's figures


def test_the_cards_give_the_numbers_scored_and_rejected(run):
    figures = cards(run.doc)
    assert figures["releases scored"] == f"{len(run.scores):,}"
    assert figures["rows could not be scored (listed in the rejects file)"] == str(len(BAD_CELLS))
    expected = run.scores["frequency_expected"].sum()
    assert figures["proven reoffences expected from these people in the 12 months after release"] == f"{expected:,.0f}"
    listed = run.scores.nsmallest(CAPACITY, "priority_rank")["frequency_expected"].sum()
    assert figures[f"of those expected from the {CAPACITY} people on the list below"] == f"{listed / expected:.0%}"
    assert figures["average chance of reoffending within 12 months"] == f"{run.scores['reoffence_probability'].mean():.0%}"


@pytest.mark.parametrize(
    ("heading", "column", "bands"),
    [
        ("Chance of reoffending within 12 months", "reoffence_probability", "reoffence_bands"),
        ("Chance of violent or sexual reoffending within 24 months", "harm_probability", "harm_bands"),
    ],
)
def test_band_tables_count_the_people_in_each_band(run, champions, heading, column, bands):
    definition = getattr(champions.scoring, bands)
    rows = table_after(run.doc, heading).rows()
    assert [cell.text() for cell in rows[0]] == ["band", "chance", "people", "share"]
    expected = pd.Series(band(run.scores[column].to_numpy(), definition)).value_counts()
    shown = {r[0].text(): int(r[2].text().replace(",", "")) for r in rows[1:]}
    assert list(shown) == [name for _, name in definition]
    assert shown == {name: int(expected.get(name, 0)) for _, name in definition}
    assert sum(shown.values()) == len(run.scores)


def test_rejected_rows_are_explained(run):
    warnings = " ".join(w.text() for w in run.doc.find_all("div", class_="warn"))
    assert f"{len(BAD_CELLS)} rows of the input could not be scored" in warnings
    for _, _, problems in BAD_CELLS:
        for column, words in problems:
            assert f"{column}: {words}" in warnings
    assert run.result.reconciliation() in run.doc.find_all("footer")[0].text()


# --------------------------------------------------------------------------- the ranked list


def ranked_rows(run: Run) -> list[list[Element]]:
    [table] = run.doc.find_all("table", class_="list")
    rows = table.rows()
    assert rows[0][0].text() == "rank"
    return rows[1:]


def test_the_list_is_the_top_of_the_ranking_in_order(run):
    rows = ranked_rows(run)
    top = run.scores.sort_values("priority_rank").head(CAPACITY)
    assert [int(r[0].text()) for r in rows] == list(range(1, CAPACITY + 1))
    assert [r[1].text().split()[0] for r in rows] == top["release_id"].tolist()
    for row, (_, score) in zip(rows, top.iterrows()):
        assert f"person {score['person_id']}" in row[1].text()
        assert row[2].text() == f"{score['reoffence_probability']:.0%} {score['reoffence_band']}"
        assert row[3].text() == f"{score['harm_probability']:.0%} {score['harm_band']}"
        assert row[4].text() == f"{score['frequency_expected']:.1f}"


def test_the_list_gives_the_main_factors_in_words_and_the_needs(run):
    top = run.scores.sort_values("priority_rank").head(CAPACITY)
    for row, (_, score) in zip(ranked_rows(run), top.iterrows()):
        factors = json.loads(score["top_factors"])
        items = [li.text() for li in row[5].find_all("li")]
        assert len(items) == min(3, len(factors))
        for item, factor in zip(items, factors):
            arrow = "▲" if factor["direction"] == "raises" else "▼"
            assert item.startswith(f"{arrow} {factor['value']} (")
            assert re.search(r"\((less than 1 point|1 point|\d+ points)\)$", item)
            assert "_" not in factor["value"]  # words, not column names
        needs = [li.text() for li in row[6].find_all("li")]
        assert needs == [n for n in score["needs"].split("; ") if n]


def test_the_rule_is_said_in_words(run, champions):
    text = run.doc.text()
    assert RULE_WORDS[champions.scoring.priority_rule] in text
    assert champions.scoring.priority_rule not in text  # not the rule's code name


# --------------------------------------------------------------------------- where the numbers come from


def test_model_versions_and_the_model_card_are_shown(run, champions):
    text = run.doc.text()
    for target, label in champions.versions().items():
        assert label in text
        assert champions.info[target].fingerprint[:16] in text
    auc = champions.info["reoffence"].metrics["model.auc"]
    assert f"AUC {auc:.2f}" in text
    card = run.doc.find_all("div", class_="card-text")[0]
    headings = [h.text() for h in card.find_all("h4")]
    assert headings == ["Intended use", "Limits"]
    assert "never makes that decision" in card.text()
    assert "support the panel's decision; they never make it" in run.doc.find_all("p", class_="note")[0].text()


def test_charts_are_embedded_pngs(run):
    images = run.doc.find_all("img")
    assert len(images) == 4
    for image in images:
        assert image.attrs["alt"]
        prefix = "data:image/png;base64,"
        assert image.attrs["src"].startswith(prefix)
        png = base64.b64decode(image.attrs["src"][len(prefix):], validate=True)
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
    assert "look like the people the models learned from" in run.doc.find_all("div", class_="ok")[0].text()


# --------------------------------------------------------------------------- other months


def test_drift_is_flagged_in_words(tmp_path, month, champions):
    source = month.write(tmp_path / "releases.parquet", shifted(month.releases))
    run = run_and_report(tmp_path, source, champions)

    warnings = " ".join(w.text() for w in run.doc.find_all("div", class_="warn"))
    assert "different from the people the models learned from in: " in warnings
    assert "age at release" in warnings and "previous sanctions" in warnings
    assert not run.doc.find_all("div", class_="ok")
    drift_rows = run.doc.find_all("details")[1].find_all("table")[0].rows()[1:]
    flagged = {r[1].text() for r in drift_rows if r[3].text() == "changed"}
    assert flagged == set(run.result.drift_flagged)


def test_without_explanations_the_list_says_so(tmp_path, month, champions):
    run = run_and_report(tmp_path, month.write(tmp_path / "releases.parquet"), champions, explain=False)
    [table] = run.doc.find_all("table", class_="list")
    headers = [cell.text() for cell in table.rows()[0]]
    assert "main factors behind the chance of reoffending" not in headers
    assert "resettlement needs" in headers
    assert "were not worked out for this run" in run.doc.text()


def test_an_empty_month_still_renders(tmp_path, month, champions):
    source = write_text(as_text(month.releases.head(3)).assign(sex="?"), tmp_path / "releases.csv")
    result = score_file(source, tmp_path / "scores.csv", champions=champions)
    doc = parse_html(render_report(result, champions))
    assert cards(doc)["releases scored"] == "0"
    assert "No releases were scored." in doc.text()
    assert np.isclose(float(cards(doc)["proven reoffences expected from these people in the 12 months after release"]), 0)
