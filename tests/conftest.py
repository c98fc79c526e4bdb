"""Shared fixtures: contract rows as a CSV read gives them, and isolated state folders."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from riskmodel._constants import RELEASE_COLUMNS, REOFFENCE_COLUMNS

#: One valid ``releases`` row, every contract column, every cell text.
VALID_RELEASE: dict[str, str] = {
    "release_id": "r1",
    "person_id": "p1",
    "release_date": "2020-01-15",
    "sex": "M",
    "age_at_release": "30",
    "previous_sanctions": "4",
    "index_offence": "burglary_domestic",
    "age_at_first_sanction": "16",
    "age_at_index_conviction": "29",
    "sentence_days": "180",
    "previous_custodial_sentences": "1",
    "previous_violent_sanctions": "2",
    "previous_breaches": "0",
    "needs_accommodation": "yes",
    "needs_employment": "no",
    "needs_mental_health": "true",
    "needs_substance_misuse": "false",
    "needs_finance": "1",
    "needs_family": "0",
    "ethnicity": "White",
}

#: One valid ``reoffences`` row (of person ``p1``), every cell text.
VALID_REOFFENCE: dict[str, str] = {
    "person_id": "p1",
    "offence_date": "2020-03-01",
    "proven_date": "2020-05-01",
    "offence": "theft_non_motor",
}

assert tuple(VALID_RELEASE) == RELEASE_COLUMNS
assert tuple(VALID_REOFFENCE) == REOFFENCE_COLUMNS


def _frame(base: dict[str, str], n: int, id_columns: tuple[str, ...], changes) -> pd.DataFrame:
    rows = []
    for i in range(n):
        row = dict(base)
        for column in id_columns:
            row[column] = f"{base[column][0]}{i + 1}"
        rows.append(row)
    for i, row_changes in (changes or {}).items():
        rows[i].update(row_changes)
    return pd.DataFrame(rows, dtype=object)


@pytest.fixture
def make_releases() -> Callable[..., pd.DataFrame]:
    """Build a valid ``releases`` frame of text cells, as ``read_table`` gives for a CSV.

    ``make_releases(n=3, changes={1: {"sex": "X"}})`` gives rows ``r1..r3`` of people
    ``p1..p3``, with row 1's ``sex`` set to ``"X"``.
    """

    def make(n: int = 3, *, changes: dict[int, dict[str, str]] | None = None) -> pd.DataFrame:
        return _frame(VALID_RELEASE, n, ("release_id", "person_id"), changes)

    return make


@pytest.fixture
def make_reoffences() -> Callable[..., pd.DataFrame]:
    """Build a valid ``reoffences`` frame of text cells: row ``i`` belongs to ``p{i+1}``."""

    def make(n: int = 3, *, changes: dict[int, dict[str, str]] | None = None) -> pd.DataFrame:
        return _frame(VALID_REOFFENCE, n, ("person_id",), changes)

    return make


@pytest.fixture
def isolated_home(tmp_path_factory, monkeypatch):
    """Point ``RISKMODEL_HOME`` and ``BENTOML_HOME`` at fresh temporary folders."""
    home = tmp_path_factory.mktemp("riskmodel_home")
    bentoml_home = tmp_path_factory.mktemp("bentoml_home")
    monkeypatch.setenv("RISKMODEL_HOME", str(home))
    monkeypatch.setenv("BENTOML_HOME", str(bentoml_home))
    for name in ("RISKMODEL_TRACKING_URI", "MLFLOW_TRACKING_URI", "RISKMODEL_AUDIT_URL"):
        monkeypatch.delenv(name, raising=False)
    return home
