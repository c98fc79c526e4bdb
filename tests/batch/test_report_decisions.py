"""The report and the panel's workspace: each person links to their page when a base URL is configured, and
the report says how many of the previous list have a decision (``riskmodel score --report``, issue 13 item 6).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from batch_helpers import as_text, write_text
from bs4 import BeautifulSoup

from riskmodel.cli import main
from riskmodel.records.audit import ApiKey, AuditStore
from riskmodel.records.decisions import record_decision
from riskmodel.reporting.report import person_url

CAPACITY = 12
PANEL = ApiKey("k1", "panel", "chair", datetime(2026, 1, 1, tzinfo=UTC), None)


def _text(doc) -> str:
    return " ".join(doc.get_text(" ").split())


@pytest.fixture
def audit_url(home_env, tmp_path, monkeypatch):
    """An audit database of this test's own: its batches are the only ones."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    monkeypatch.setenv("RISKMODEL_AUDIT_URL", url)
    monkeypatch.delenv("RISKMODEL_PANEL_BASE_URL", raising=False)
    return url


def _score(runner, source, folder, *extra) -> BeautifulSoup:
    report = folder / "report.html"
    args = ["score", "--input", str(source), "--output", str(folder / "scores.parquet"), "--report", str(report)]
    result = runner.invoke(main, [*args, "--capacity", str(CAPACITY), *extra])
    assert result.exit_code == 0, result.output
    return BeautifulSoup(report.read_text(encoding="utf-8"), "html.parser")


def test_the_report_links_people_and_counts_decisions_on_the_previous_list(
    tmp_path, month, runner, audit_url, monkeypatch
):
    source = write_text(as_text(month.releases.head(300)), tmp_path / "releases.csv")
    first = _score(runner, source, tmp_path / "october")
    assert "previous list" not in _text(first)  # no list before the first
    assert not first.select("a[href*='/panel/person/']")  # no base URL: no links

    listed = pd.read_parquet(tmp_path / "october" / "scores.parquet").sort_values("priority_rank").head(CAPACITY)
    store = AuditStore(audit_url)
    for row in listed.head(3).itertuples():
        scores = {"reoffence_band": "medium", "harm_band": "medium"}
        record_decision(
            store,
            release_id=row.release_id,
            person_id=row.person_id,
            decision="adopt",
            actor=PANEL,
            scores_seen=scores,
            model_versions={},
        )
    store.engine.dispose()

    monkeypatch.setenv("RISKMODEL_PANEL_BASE_URL", "https://iom.example/")
    second = _score(runner, source, tmp_path / "november")
    words = _text(second.find("p", class_="decided"))
    assert f"3 of the {CAPACITY} people on the previous list" in words
    links = second.select("a[href*='/panel/person/']")
    assert len(links) == CAPACITY
    first_link = links[0]
    assert first_link["href"] == person_url("https://iom.example/", first_link.get_text(strip=True))
    assert first_link["href"].startswith("https://iom.example/panel/person/")
