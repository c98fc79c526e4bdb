"""Helpers of the panel's browser tests (a module of its own: every test folder's conftest is "conftest")."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")

#: The second server's idle timeout in seconds: a session left this long is over.
SHORT_IDLE_S = 3


def sign_in(page, base: str, key: str) -> None:
    """Sign in through the form and land on this month's list."""
    page.goto(f"{base}/panel/sign-in")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/panel/")
