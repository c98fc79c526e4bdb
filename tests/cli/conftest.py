"""Fixtures of the CLI tests: every test in its own home, and click's runner."""

from __future__ import annotations

import pytest
from click.testing import CliRunner


@pytest.fixture(autouse=True)
def _home(isolated_home):
    return isolated_home


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
