"""Issue 10, points 6 and 9: identifiers refused by pattern, unknown fields named, strict types and ranges.

Every rule holds for a file's cells and a JSON request's values alike: the file tests run
through both parsers (plain Python for small frames, Arrow or pandas for many rows), the
JSON tests through :func:`check_json_releases` and then the same validation.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import riskmodel.data.contract as contract_module
from riskmodel._constants import DIRECT_IDENTIFIERS, RELEASE_COLUMNS, REOFFENCE_COLUMNS
from riskmodel.data.adapters import nij
from riskmodel.data.contract import (
    JSON_INTEGER_LIMIT,
    ContractError,
    check_json_releases,
    direct_identifier,
    read_table,
    unknown_fields,
    validate_releases,
    validate_reoffences,
)


@pytest.fixture(params=["row-by-row", "vectorised"])
def parsing_path(request, monkeypatch):
    """Run a rule through both parsers: plain Python (small frames) and Arrow/pandas."""
    monkeypatch.setattr(contract_module, "_SMALL", 10**9 if request.param == "row-by-row" else 0)
    return request.param


def json_release(**changes) -> dict:
    from _helpers_root import root_conftest  # tests/ is on the path; a folder's conftest may shadow the root's

    row = {**root_conftest().VALID_RELEASE, "age_at_release": 30, "needs_accommodation": True}
    row.update(changes)
    return row


def rejects_of(table) -> list[tuple[str, str]]:
    return [(r.column, r.reason) for r in table.rejects.itertuples()]


def validate_json(rows: list[dict]) -> list[tuple[str, str]]:
    """The API's path: the request-wide check, then the rows as a table (as ``ServiceState`` does)."""
    found = check_json_releases(rows)
    if found:
        return [(p["field"], p["rule"]) for p in found]
    return rejects_of(validate_releases(pd.DataFrame.from_records(rows), line_offset=0))


# --------------------------------------------------------------------------- 6: identifiers by pattern

ISSUE_IDENTIFIERS = ["pnc_number", "PNC", "Date of Birth", "Full Name", "nhs_no", "email", "phone"]
MORE_IDENTIFIERS = ["E-Mail", "home.address", "Mobile Number", "prison_number", "NI Number", "d.o.b", "ＰＮＣ", "alias"]


@pytest.mark.parametrize("column", ISSUE_IDENTIFIERS + MORE_IDENTIFIERS)
def test_a_column_named_like_a_direct_identifier_refuses_the_file(make_releases, parsing_path, column):
    frame = make_releases(2).assign(**{column: "secret"})

    with pytest.raises(ContractError) as info:
        validate_releases(frame)

    message = str(info.value)
    assert repr(column) in message and "direct identifier" in message
    assert direct_identifier(column)[0] in message  # why: the listed name it equals or contains
    assert "secret" not in message


@pytest.mark.parametrize("column", ISSUE_IDENTIFIERS)
def test_the_override_drops_an_identifier_column_before_use(make_releases, column):
    result = validate_releases(make_releases(2).assign(**{column: "secret"}), allow_identifiers=True)

    assert len(result.data) == 2 and column not in result.data
    assert not result.data.isin(["secret"]).any().any()


@pytest.mark.parametrize("column", ISSUE_IDENTIFIERS + MORE_IDENTIFIERS)
def test_a_json_field_named_like_a_direct_identifier_is_refused_naming_it_and_why(column):
    found = check_json_releases([json_release(**{column: "secret"})])

    assert [p["field"] for p in found] == [f"releases[*].{column}"]
    assert found[0]["rule"].startswith("direct identifier refused (")
    assert repr(direct_identifier(column)[0]) in found[0]["rule"] and "secret" not in str(found)


def test_a_reoffences_column_is_screened_by_the_same_rule(make_reoffences):
    with pytest.raises(ContractError, match="'Offender Name'"):
        validate_reoffences(make_reoffences(1).assign(**{"Offender Name": "x"}))


def test_every_listed_identifier_matches_itself_and_when_contained():
    for name in DIRECT_IDENTIFIERS:
        assert direct_identifier(name) is not None
        assert direct_identifier(f"client_{name.upper()}_2") is not None


def test_no_contract_column_nor_nij_extra_is_taken_for_an_identifier(make_releases):
    """Words that might contain a listed name by accident (sentence_days, person_id, ...) are not refused."""
    # the adapter's declared extras, as its module lists them (reading the NIJ file is not needed)
    extras_numeric, extras_categorical = tuple(nij._EXTRA_NUMERIC.values()), tuple(nij._EXTRA_CATEGORICAL.values())
    names = RELEASE_COLUMNS + REOFFENCE_COLUMNS + extras_numeric + extras_categorical
    assert [n for n in names if direct_identifier(n) is not None] == []

    frame = make_releases(2).assign(**dict.fromkeys(extras_numeric, "1"), **dict.fromkeys(extras_categorical, "a"))
    result = validate_releases(frame, extra_numeric=extras_numeric, extra_categorical=extras_categorical)
    assert len(result.data) == 2 and result.rejects.empty and result.warnings == ()
    assert check_json_releases([json_release(**dict.fromkeys(extras_numeric + extras_categorical, "1"))]) == []


# --------------------------------------------------------------------------- 6: other unknown fields


def test_unknown_json_fields_are_named_per_release():
    rows = [json_release(officer_note="x"), json_release(release_id="r2"), json_release(release_id="r3", Sex="M")]

    assert unknown_fields(rows) == [["officer_note"], [], ["Sex"]]
    assert unknown_fields([json_release(), json_release(release_id="r2")]) == [[], []]
    assert unknown_fields([json_release(extra_n=1)], extra_numeric=("extra_n",)) == [[]]
    assert check_json_releases(rows) == []  # ignored, not refused


def test_unknown_file_columns_are_named_in_one_warning(make_releases, parsing_path):
    result = validate_releases(make_releases(2).assign(officer_note="x"))

    assert len(result.data) == 2 and "officer_note" not in result.data
    assert len(result.warnings) == 1 and "officer_note" in result.warnings[0]


# --------------------------------------------------------------------------- 9: strict types


def test_a_json_boolean_is_not_a_number():
    assert validate_json([json_release(previous_sanctions=True)]) == [("previous_sanctions", "not a number")]
    mixed = [json_release(sentence_days=False), json_release(release_id="r2", sentence_days=30)]
    assert validate_json(mixed) == [("sentence_days", "not a number")]


@pytest.mark.parametrize("value", ["true", "False", "yes"])
def test_boolean_words_are_not_numbers_in_a_file(make_releases, parsing_path, value):
    result = validate_releases(make_releases(2, changes={1: {"previous_breaches": value}}))
    assert rejects_of(result) == [("previous_breaches", "not a number")]


def test_a_boolean_parquet_column_is_not_a_number(make_releases, tmp_path):
    frame = make_releases(2)
    frame["previous_breaches"] = [True, False]
    frame.to_parquet(tmp_path / "releases.parquet")

    result = validate_releases(read_table(tmp_path / "releases.parquet"))
    assert rejects_of(result) == [("previous_breaches", "not a number")] * 2


@pytest.mark.parametrize(("value", "flag"), [(True, 1.0), (False, 0.0), (1, 1.0), (0, 0.0), ("Yes", 1.0), ("0", 0.0)])
def test_a_needs_flag_takes_booleans_the_words_and_0_or_1(value, flag):
    """Decision: a boolean accepts JSON true/false, the contract's words, and the numbers 0 and 1 only."""
    rows = [json_release(needs_family=value)]
    assert validate_json(rows) == []
    assert validate_releases(pd.DataFrame.from_records(rows)).data.loc[0, "needs_family"] == flag


@pytest.mark.parametrize("value", [2, -1, 0.5, "2"])
def test_a_needs_flag_refuses_other_numbers(value):
    assert validate_json([json_release(needs_family=value)]) == [
        ("needs_family", "not a boolean (true/false, yes/no, 1/0)")
    ]


# --------------------------------------------------------------------------- 9: ranges


@pytest.mark.parametrize(
    ("value", "accepted"), [("-5", False), ("9.5", False), ("10", True), ("30", True), ("31", False)]
)
def test_age_at_index_conviction_is_between_10_and_age_at_release(make_releases, parsing_path, value, accepted):
    result = validate_releases(make_releases(2, changes={1: {"age_at_index_conviction": value}}))
    assert rejects_of(result) == (
        [] if accepted else [("age_at_index_conviction", "must be 10 <= x <= age_at_release")]
    )


def test_a_negative_age_at_index_conviction_is_refused_in_json():
    assert validate_json([json_release(age_at_index_conviction=-5)]) == [
        ("age_at_index_conviction", "must be 10 <= x <= age_at_release")
    ]


def _day(days_from_today: int) -> str:
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days_from_today)).isoformat()


RELEASE_DATE_RULE = "must be 1900-01-01 <= x <= today + 31 days"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1899-12-31", RELEASE_DATE_RULE),
        ("1900-01-01", None),
        ("2099-01-01", RELEASE_DATE_RULE),
        ("9999-12-31", "not an ISO 8601 date"),  # beyond what a datetime64[ns] holds
        ("2300-01-01", "not an ISO 8601 date"),  # (cast to nanoseconds, it would wrap to 1715)
        ("1600-01-01", "not an ISO 8601 date"),  # (and this to 2184)
        ("2020-01-15T25:00", "not an ISO 8601 date"),
        ("2020-01-15T12:60", "not an ISO 8601 date"),
        ("2020-01-15T12:00:61", "not an ISO 8601 date"),
        ("2020-01-15T12:00+24:00", "not an ISO 8601 date"),
        ("2020-01-15T99:99:99Z", "not an ISO 8601 date"),
        ("2020-01-15T23:59:59.5Z", None),
        ("2020-01-15 00:00+01:00", None),
    ],
)
def test_release_dates_need_a_valid_time_and_a_plausible_day(make_releases, parsing_path, value, reason):
    result = validate_releases(make_releases(2, changes={1: {"release_date": value}}))
    found = rejects_of(result)
    if reason is None:
        assert found == []
    else:
        assert [c for c, _ in found] == ["release_date"] and found[0][1].startswith(reason)


def test_a_release_date_may_be_up_to_31_days_ahead(make_releases, parsing_path):
    changes = {0: {"release_date": _day(31)}, 1: {"release_date": _day(32)}, 2: {"release_date": _day(0)}}
    result = validate_releases(make_releases(3, changes=changes))
    assert [(r.line, r.column, r.reason) for r in result.rejects.itertuples()] == [
        (3, "release_date", RELEASE_DATE_RULE)
    ]


def test_a_json_release_date_far_ahead_is_refused():
    assert validate_json([json_release(release_date="2099-01-01")]) == [("release_date", RELEASE_DATE_RULE)]


def test_the_release_date_bounds_are_in_the_rules_table():
    spec = next(s for s in contract_module.RELEASE_SPECS if s.name == "release_date")
    assert spec.range_reason == RELEASE_DATE_RULE
    assert str(spec.high) == "today + 31 days" and spec.low == dt.date(1900, 1, 1)


# --------------------------------------------------------------------------- 9: numbers too large

FINITE_RULE = "must be a finite number (no infinity, nor a number too large for a double)"


@pytest.mark.parametrize("field", ["previous_sanctions", "age_at_release", "release_id", "officer_note"])
def test_a_json_integer_too_large_for_a_double_is_refused_in_any_field(field):
    """The 400-digit integer of issue 10, point 1: a 422 naming the field, never an OverflowError."""
    found = check_json_releases([json_release(release_id="r0"), json_release(**{field: 10**400})])

    assert [(p["index"], p["field"]) for p in found] == [(1, f"releases[1].{field}")]
    assert found[0]["rule"].startswith("integer too large")
    assert "1000000" not in str(found)  # described, not printed in full


def test_json_integers_up_to_the_limit_are_accepted():
    assert check_json_releases([json_release(previous_sanctions=JSON_INTEGER_LIMIT)]) == []
    assert check_json_releases([json_release(previous_sanctions=-JSON_INTEGER_LIMIT - 1)])[0]["field"] == (
        "releases[0].previous_sanctions"
    )


@pytest.mark.parametrize("value", ["1e400", pytest.param("1" * 400, id="400-digits"), "-1e400", "inf", "Infinity"])
def test_a_file_number_too_large_or_infinite_rejects_its_row(make_releases, parsing_path, value):
    result = validate_releases(make_releases(3, changes={1: {"previous_sanctions": value, "age_at_release": value}}))

    assert rejects_of(result) == [("age_at_release", FINITE_RULE), ("previous_sanctions", FINITE_RULE)]
    assert len(result.data) == 2 and np.isfinite(result.data["previous_sanctions"]).all()


def test_a_python_integer_too_large_for_a_double_rejects_its_row(make_releases):
    """Callers that pass Python objects (not JSON) get a reject, not an OverflowError."""
    frame = make_releases(3)
    frame.loc[1, "previous_sanctions"] = 10**400
    result = validate_releases(frame)
    assert [r.column for r in result.rejects.itertuples()] == ["previous_sanctions"] and len(result.data) == 2


def test_a_csv_file_with_bad_values_rejects_those_rows_with_reasons(tmp_path, make_releases):
    changes = {
        0: {"previous_sanctions": "1" * 400},
        1: {"age_at_index_conviction": "-5"},
        2: {"release_date": "2099-01-01"},
        3: {"release_date": "2020-01-15T25:61"},
    }
    make_releases(5, changes=changes).to_csv(tmp_path / "releases.csv", index=False)

    result = validate_releases(read_table(tmp_path / "releases.csv"))

    assert [(r.line, r.column) for r in result.rejects.itertuples()] == [
        (2, "previous_sanctions"),
        (3, "age_at_index_conviction"),
        (4, "release_date"),
        (5, "release_date"),
    ]
    assert result.reconciliation() == "releases: rows read 5 = rows accepted 1 + rows rejected 4"
