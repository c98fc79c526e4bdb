"""The panel's workspace in Chromium: sign-in, the list and its filters, a person, decisions, the log,
CSRF, roles, sign-out and an expired session, markup in ids, headers and accessibility (axe-core)."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from panel_helpers import SHORT_IDLE_S, sign_in

from riskmodel.records.decisions import DECISIONS, is_override

pytestmark = [pytest.mark.server, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]


def person_path(release_id) -> str:
    return "/panel/person/" + quote(str(release_id), safe="")


def body_rows(page) -> int:
    return page.locator("table.list tbody tr").count()


def csrf_of(page) -> str:
    """The session's CSRF token, from the sign-out form every signed-in page carries."""
    return page.locator("form[action='/panel/sign-out'] input[name=csrf]").get_attribute("value")


def override_case(rows):
    """A release and a decision that goes against its bands (needs a reason), plus one that does not."""
    for row in rows[:40]:
        for decision in DECISIONS:
            if is_override(decision, row["reoffence_band"], row["harm_band"]):
                plain = next(d for d in DECISIONS if not is_override(d, row["reoffence_band"], row["harm_band"]))
                return row, decision, plain
    raise AssertionError("no release in the month where some decision goes against the band")


# --------------------------------------------------------------------------- the list


def test_sign_in_then_the_month_list_with_filters(workspace, page):
    sign_in(page, workspace.base, workspace.server.keys["panel"])
    assert page.locator("h1").inner_text() == "This month"
    assert workspace.month in page.locator("main").inner_text()
    top = [r for r in workspace.rows if r["priority_rank"] <= 50]
    assert body_rows(page) == len(top)  # cut at the panel's capacity (50) by default
    first = page.locator("table.list tbody tr").first
    assert first.locator("a").inner_text() == str(top[0]["release_id"])

    band = top[0]["reoffence_band"]
    page.select_option("#reoffence_band", band)
    page.click("form.filters button")
    assert body_rows(page) == sum(r["reoffence_band"] == band for r in top)
    assert f"reoffence_band={quote(band).replace('%20', '+')}" in page.url

    need = next(n for r in workspace.rows for n in r["needs"])
    page.goto(f"{workspace.base}/panel/?need={need}&top=")
    assert body_rows(page) == sum(need in r["needs"] for r in workspace.rows)

    wanted = workspace.rows[7]
    page.goto(f"{workspace.base}/panel/?q={wanted['release_id']}&top=")
    links = page.locator("table.list tbody a").all_inner_texts()
    assert str(wanted["release_id"]) in links and len(links) == sum(
        str(wanted["release_id"]).lower() in str(r["release_id"]).lower() for r in workspace.rows
    )
    assert "ethnicity" not in page.content().lower()


def test_without_a_session_every_page_sends_to_sign_in(workspace, page):
    for path in ("/panel/", "/panel/decisions", "/panel/models", "/panel/score", person_path("r1")):
        page.goto(workspace.base + path)
        assert page.url.startswith(f"{workspace.base}/panel/sign-in"), path


def test_a_wrong_key_is_refused_next_to_the_field(workspace, page):
    page.goto(f"{workspace.base}/panel/sign-in")
    page.fill("#key", "rk_not_a_key")
    response_url = page.url
    page.click("button[type=submit]")
    assert page.url == response_url
    assert "unknown or has been revoked" in page.locator("#key-error").inner_text()
    assert page.locator("#key").get_attribute("aria-invalid") == "true"


# --------------------------------------------------------------------------- a person and decisions


def test_person_page_and_a_decision_that_needs_a_reason(workspace, page):
    row, against, _plain = override_case(workspace.rows)
    sign_in(page, workspace.base, workspace.server.keys["panel"])
    page.click(f"table.list tbody a:text-is('{row['release_id']}')")
    assert page.url == workspace.base + person_path(row["release_id"])
    text = page.locator("main").inner_text()
    assert f"Person {row['person_id']}" in text and f"rank {row['priority_rank']}" in text
    for needed in ("Chance of any proven reoffence", "OGRS3", "Resettlement needs", "Warnings", row["reoffence_model"]):
        assert needed in text
    assert "ethnicity" not in page.content().lower()

    page.check(f"#decision-{against}")
    page.click("form[method=post] button[type=submit] >> text=Record the decision")
    error = page.locator("#reason_code-error")
    assert error.is_visible() and "reason" in error.inner_text().lower()
    assert page.locator("#reason_code").get_attribute("aria-describedby") == "reason_code-error"
    assert "None yet." in page.locator("main").inner_text()  # nothing recorded

    page.check(f"#decision-{against}")
    page.select_option("#reason_code", "information_not_in_model")
    page.fill("#reason_text", "Known to the panel: moving out of the area next week.")
    page.click("text=Record the decision")
    assert "The decision was recorded." in page.locator("main").inner_text()
    history = page.locator("main table").nth(1).inner_text()
    assert "moving out of the area" in history and "against the band" in history


def test_changing_a_decision_names_the_one_it_replaces_and_the_log_shows_both(workspace, page, browser):
    row, against, plain = override_case(workspace.rows[20:])
    sign_in(page, workspace.base, workspace.server.keys["panel"])
    page.goto(workspace.base + person_path(row["release_id"]))
    page.check(f"#decision-{plain}")
    page.click("text=Record the decision")
    assert "The decision was recorded." in page.locator("main").inner_text()
    page.check(f"#decision-{against}")
    page.select_option("#reason_code", "capacity")
    page.fill("#reason_text", "The cohort is full this month.")
    page.click("text=Record the decision")
    assert "The decision was recorded." in page.locator("main").inner_text()

    page.goto(f"{workspace.base}/panel/decisions")
    lines = page.locator("main table tbody tr", has_text=str(row["release_id"]))
    assert lines.count() == 2
    newer, older = lines.nth(0).inner_text(), lines.nth(1).inner_text()
    older_id = re.search(r"[0-9a-f]{16,}", older.split("\t")[-1]).group(0)
    assert f"({older_id})" in newer  # the change names the decision it replaces
    assert page.locator("text=Export these decisions as CSV").count() == 0  # panel: no export

    page.goto(f"{workspace.base}/panel/?q={row['release_id']}&top=")
    assert "against the band" in page.locator("table.list tbody tr").first.inner_text()

    operator = browser.new_context()
    other = operator.new_page()
    sign_in(other, workspace.base, workspace.server.keys["operator"])
    other.goto(f"{workspace.base}/panel/decisions?override=yes")
    href = other.locator("text=Export these decisions as CSV").get_attribute("href")
    answer = other.request.get(workspace.base + href)
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/csv")
    assert str(row["release_id"]) in answer.text() and "The cohort is full this month." in answer.text()
    operator.close()


def test_a_post_without_the_right_csrf_token_is_refused(workspace, page):
    row = workspace.rows[3]
    sign_in(page, workspace.base, workspace.server.keys["panel"])
    page.goto(workspace.base + person_path(row["release_id"]))
    answer = page.request.post(
        workspace.base + person_path(row["release_id"]), form={"decision": "adopt", "csrf": "forged"}
    )
    assert answer.status == 403 and "out of date or not sent from this site" in answer.text()
    assert answer.headers["content-type"].startswith("text/html")
    page.goto(f"{workspace.base}/panel/decisions")
    assert page.locator("main table tbody tr", has_text=str(row["release_id"])).count() == 0
    answer = page.request.post(f"{workspace.base}/panel/sign-in", form={"key": workspace.server.keys["panel"]})
    assert answer.status == 403  # sign-in too: no token, no session


def test_an_auditor_cannot_decide(workspace, page):
    row = workspace.rows[4]
    sign_in(page, workspace.base, workspace.server.keys["auditor"])
    page.goto(workspace.base + person_path(row["release_id"]))
    assert page.locator("#reason_code").count() == 0
    assert "may read decisions but not record them" in page.locator("main").inner_text()
    answer = page.request.post(
        workspace.base + person_path(row["release_id"]), form={"decision": "adopt", "csrf": csrf_of(page)}
    )
    assert answer.status == 403 and "role &#39;auditor&#39;" in answer.text() and "Traceback" not in answer.text()
    page.goto(f"{workspace.base}/panel/score")
    assert "You may not" in page.locator("main").inner_text()


# --------------------------------------------------------------------------- sessions


def test_sign_out_ends_the_session_and_a_new_sign_in_gets_a_new_id(workspace, browser, page):
    page.context.add_cookies([{"name": "riskmodel_panel", "value": "planted", "url": workspace.base + "/panel/"}])
    sign_in(page, workspace.base, workspace.server.keys["panel"])
    first = {c["name"]: c for c in page.context.cookies()}["riskmodel_panel"]
    assert first["value"] != "planted" and first["httpOnly"] and first["sameSite"] == "Strict"
    sign_in(page, workspace.base, workspace.server.keys["panel"])
    second = {c["name"]: c["value"] for c in page.context.cookies()}["riskmodel_panel"]
    assert second != first["value"]

    page.click("text=Sign out")
    assert "You have signed out." in page.locator("main").inner_text()
    replay = browser.new_context()
    replay.add_cookies([{"name": "riskmodel_panel", "value": second, "url": workspace.base + "/panel/"}])
    again = replay.new_page()
    again.goto(f"{workspace.base}/panel/")
    assert again.url.startswith(f"{workspace.base}/panel/sign-in")
    replay.close()


def test_an_idle_session_expires(workspace, page):
    base = workspace.short.base
    sign_in(page, base, workspace.short.keys["operator"])
    time.sleep(SHORT_IDLE_S + 1.5)  # longer than the server's idle timeout
    page.goto(f"{base}/panel/decisions")
    assert page.url.startswith(f"{base}/panel/sign-in")
    assert "Your session has ended" in page.locator("main").inner_text()


# --------------------------------------------------------------------------- scoring one release


def test_score_one_release_validates_per_field_and_renders_markup_as_text(workspace, page):
    sign_in(page, workspace.base, workspace.server.keys["panel"])
    page.goto(f"{workspace.base}/panel/score")
    assert page.locator("#f-ethnicity").count() == 0
    page.fill("#f-release_id", "x1")
    page.fill("#f-person_id", "p-x1")
    page.fill("#f-release_date", "2025-12-03")
    page.fill("#f-previous_sanctions", "4")
    page.select_option("#f-index_offence", "burglary_domestic")
    page.click("button:text-is('Score')")
    assert "required" in page.locator("#sex-error").inner_text()  # the API's first check: required fields
    assert "required" in page.locator("#age_at_release-error").inner_text()
    assert page.locator("#f-release_id").input_value() == "x1"  # what was typed stays

    page.select_option("#f-sex", "M")
    page.fill("#f-age_at_release", "abc")
    page.click("button:text-is('Score')")
    assert "not a number" in page.locator("#age_at_release-error").inner_text()
    assert page.locator("#sex-error").count() == 0

    markup_id = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    page.fill("#f-release_id", markup_id)
    page.fill("#f-person_id", '"><script>alert(3)</script>')
    page.fill("#f-age_at_release", "31")
    page.click("button:text-is('Score')")
    assert page.url == workspace.base + person_path(markup_id)
    assert page.locator("h1").inner_text() == f"Release {markup_id}"
    assert page.locator("main script, main img").count() == 0
    assert "<script>alert(3)</script>" in page.locator("main").inner_text()
    assert "Scored alone" in page.locator("main").inner_text()


# --------------------------------------------------------------------------- headers and accessibility


PAGES = ("/panel/", "/panel/decisions", "/panel/models", "/panel/score")


def test_every_page_has_the_security_headers(workspace, page):
    answer = page.goto(f"{workspace.base}/panel/sign-in")
    assert answer.headers["x-frame-options"] == "DENY"
    sign_in(page, workspace.base, workspace.server.keys["panel"])
    for path in (*PAGES, person_path(workspace.rows[0]["release_id"])):
        headers = page.goto(workspace.base + path).headers
        assert headers["cache-control"] == "no-store", path
        assert headers["x-frame-options"] == "DENY", path
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp, path


def test_no_page_has_serious_or_critical_accessibility_violations(workspace, page):
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    found = {}
    page.goto(f"{workspace.base}/panel/sign-in")
    found["sign-in"] = axe.run(page).response["violations"]
    sign_in(page, workspace.base, workspace.server.keys["operator"])
    for path in (*PAGES, person_path(workspace.rows[0]["release_id"])):
        page.goto(workspace.base + path)
        found[path] = axe.run(page).response["violations"]
    bad = {
        path: [(v["id"], v["impact"], len(v["nodes"])) for v in violations if v["impact"] in ("serious", "critical")]
        for path, violations in found.items()
    }
    assert len(found) == 6
    assert not any(bad.values()), bad


def test_screenshots_of_the_list_and_a_person(workspace, page, tmp_path):
    """Screenshots for the README: copied to docs/ when RISKMODEL_PANEL_SCREENSHOTS=1."""
    sign_in(page, workspace.base, workspace.server.keys["panel"])
    page.goto(f"{workspace.base}/panel/?top=12")
    shots = {"panel-list.png": tmp_path / "list.png"}
    page.screenshot(path=str(shots["panel-list.png"]), full_page=True)
    page.goto(workspace.base + person_path(workspace.rows[0]["release_id"]))
    shots["panel-person.png"] = tmp_path / "person.png"
    page.screenshot(path=str(shots["panel-person.png"]), full_page=True)
    for name, path in shots.items():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        if os.environ.get("RISKMODEL_PANEL_SCREENSHOTS") == "1":
            shutil.copyfile(path, ROOT / "docs" / name)
