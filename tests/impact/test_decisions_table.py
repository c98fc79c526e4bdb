"""The decisions table's contract: row-by-row rejects, the reconciliation line, the latest decision."""

from __future__ import annotations

import pandas as pd
import pytest

from riskmodel.data.contract import ContractError
from riskmodel.data.decisions import DECISION_COLUMNS, latest_decisions, read_decisions, validate_decisions


def _write(path, rows):
    pd.DataFrame(rows, columns=list(DECISION_COLUMNS)).to_csv(path, index=False)
    return path


def test_unknown_release_ids_are_rejected_row_by_row(tmp_path):
    path = _write(
        tmp_path / "decisions.csv",
        [
            ("R1", "2024-03-01", "adopt"),
            ("R404", "2024-03-01", "adopt"),
            ("R2", "2024-03-01T10:00:00Z", "not_now"),
            ("R405", "2024-03-02", "refer"),
        ],
    )
    table = read_decisions(path, release_ids=["R1", "R2", "R3"])
    assert table.data["release_id"].tolist() == ["R1", "R2"]
    unknown = table.rejects.loc[table.rejects["column"] == "release_id"]
    # CSV line numbers: the header is line 1, so the second data row is line 3
    assert unknown[["line", "release_id", "reason"]].values.tolist() == [
        [3, "R404", "release_id is not in the releases table"],
        [5, "R405", "release_id is not in the releases table"],
    ]
    assert table.reconciliation() == "decisions: rows read 4 = rows accepted 2 + rows rejected 2"


def test_each_broken_rule_names_line_column_and_reason():
    raw = pd.DataFrame(
        {
            "release_id": ["R1", "", "R1", "R2"],
            "decided_at": ["2024-03-01", "2024-03-01", "01/03/2024", "2024-02-30"],
            "decision": ["maybe", "adopt", "adopt", "ADOPT "],
        }
    )
    table = validate_decisions(raw, release_ids=["R1", "R2"])
    found = table.rejects[["line", "column", "reason"]].values.tolist()
    assert [2, "decision", "not one of adopt, not_now, refer"] in found
    assert [3, "release_id", "missing: a required value"] in found
    assert any(line == 4 and column == "decided_at" for line, column, _ in found)
    assert any(line == 5 and column == "decided_at" for line, column, _ in found)  # no 30 February
    assert table.rows_rejected == 4 and len(table.data) == 0


def test_times_are_read_as_utc_and_decisions_case_insensitively():
    raw = pd.DataFrame({"release_id": ["R1"], "decided_at": ["2024-03-01T11:00:00+01:00"], "decision": [" Not_Now "]})
    table = validate_decisions(raw)
    assert table.data["decided_at"].iloc[0] == pd.Timestamp("2024-03-01 10:00:00")
    assert table.data["decision"].iloc[0] == "not_now"


def test_a_missing_column_refuses_the_file(tmp_path):
    path = tmp_path / "decisions.csv"
    pd.DataFrame({"release_id": ["R1"], "decision": ["adopt"]}).to_csv(path, index=False)
    with pytest.raises(ContractError, match="decided_at"):
        read_decisions(path)


def test_a_later_decision_replaces_an_earlier_one():
    decisions = pd.DataFrame(
        {
            "release_id": ["R1", "R1", "R2"],
            "decided_at": pd.to_datetime(["2024-04-01", "2024-03-01", "2024-03-01"]),
            "decision": ["adopt", "not_now", "refer"],
        }
    )
    latest = latest_decisions(decisions).set_index("release_id")
    assert latest.loc["R1", "decision"] == "adopt"
    assert latest.loc["R1", "first_decided_at"] == pd.Timestamp("2024-03-01")
    assert latest.loc["R2", "decision"] == "refer"
