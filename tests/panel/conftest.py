"""The panel's pages in a real browser: one server per module on the session's trained home, a month scored.

Playwright drives Debian's Chromium by its path (``/usr/bin/chromium``; ``.ci/run``
installs it): no browser is ever downloaded. The month is a batch scored with
:func:`riskmodel.reporting.batch.run_batch` into the server's own audit database, as
``riskmodel score`` records it, so "this month" has rows.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))

from panel_helpers import CHROMIUM, SHORT_IDLE_S  # noqa: E402
from servers import Server, serve, wait_ready  # noqa: E402, F401  (serve: the fixture, for this folder)


@dataclass
class Workspace:
    """The servers of a module and the month they show."""

    server: Server
    short: Server
    month: str
    rows: list[dict]

    @property
    def base(self) -> str:
        return self.server.base


def _score_month(trained_home, server: Server, folder: Path, month: str) -> list[dict]:
    """Score ~150 unseen releases into ``folder/month/scores.csv``, recorded in the server's audit db."""
    from riskmodel.data.synth import generate_cohort
    from riskmodel.modelling.registry import load_champions
    from riskmodel.records.audit import AuditStore
    from riskmodel.reporting.batch import run_batch
    from riskmodel.scoring.output import read_scores

    releases = generate_cohort(300, seed=29).releases.head(150)
    source = folder / month / "releases.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    releases.to_csv(source, index=False, date_format="%Y-%m-%d")
    output = folder / month / "scores.csv"
    store = AuditStore(server.audit_url)
    try:
        run_batch(source, output, champions=load_champions(trained_home.settings), store=store, operator="test")
    finally:
        store.engine.dispose()
    return read_scores(output).sort_values("priority_rank").to_dict("records")


@pytest.fixture(scope="module")
def workspace(serve, trained_home, tmp_path_factory) -> Workspace:  # noqa: F811
    """Two servers (the second with a 3-second idle timeout), and a scored month in the first one's audit db."""
    env = {**trained_home.env(), "RISKMODEL_SERVE_WORKERS": "1"}
    main = serve(env, wait=False)
    short = serve({**env, "RISKMODEL_PANEL_IDLE_TIMEOUT_S": str(SHORT_IDLE_S)}, wait=False)
    rows = _score_month(trained_home, main, tmp_path_factory.mktemp("reports"), "2026-01")
    return Workspace(server=wait_ready(main), short=wait_ready(short), month="2026-01", rows=rows)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium under Playwright (skipped, saying why, when it is not installed)."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing: apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies) and page; any dialog (an injected alert) fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()
    assert not dialogs, f"a script ran in the page: {dialogs}"
