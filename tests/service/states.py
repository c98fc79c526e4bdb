"""In-process service states for tests: a :class:`ServiceState` on the session's trained home.

Import the fixtures into a test module (``from states import panel, rows, state``); each
module gets its own state, with its own SQLite audit database, closed after the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from riskmodel.service.state import ServiceState


@pytest.fixture(scope="module")
def state(trained_home, tmp_path_factory) -> Iterator[ServiceState]:
    """A service state on the trained home, with an audit database of its own."""
    settings = replace(trained_home.settings, audit_url=f"sqlite:///{tmp_path_factory.mktemp('state') / 'audit.db'}")
    s = ServiceState(settings)
    yield s
    s.close()
    s.store.engine.dispose()


@pytest.fixture(scope="module")
def panel(state) -> str:
    """The ``Authorization`` header of a panel key of ``state``."""
    return f"Bearer {state.store.create_key('panel')[0]}"


@pytest.fixture(scope="module")
def rows(trained_home) -> list[dict]:
    """The first 40 releases of the trained home's cohort, text cells as a CSV read gives them."""
    from riskmodel.data.contract import find_table, read_table

    return read_table(find_table(trained_home.data, "releases")).iloc[:40].to_dict(orient="records")
