"""Data contract v1: every rule of ``shared/docs/data-contract.md``, one test or case each."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import riskmodel.data.contract as contract_module
from riskmodel._constants import (
    DIRECT_IDENTIFIERS,
    NEEDS_COLUMNS,
    OPTIONAL_RELEASE_COLUMNS,
    RELEASE_COLUMNS,
    REOFFENCE_COLUMNS,
    REQUIRED_RELEASE_COLUMNS,
)
from riskmodel.data.contract import (
    REJECT_COLUMNS,
    ContractError,
    iter_table,
    load_cohort,
    read_table,
    validate_releases,
    validate_reoffences,
)


@pytest.fixture(autouse=True, params=["row-by-row", "vectorised"])
def parsing_path(request, monkeypatch):
    """Run every rule through both parsers: plain Python (small frames) and pandas."""
    monkeypatch.setattr(contract_module, "_SMALL", 10**9 if request.param == "row-by-row" else 0)
    return request.param


OPTIONAL_NUMERIC = (
    "age_at_first_sanction",
    "age_at_index_conviction",
    "sentence_days",
    "previous_custodial_sentences",
    "previous_violent_sanctions",
    "previous_breaches",
)


def problems(result) -> list[tuple[int, str]]:
    """(line, column) of every reject entry."""
    return list(zip(result.rejects["line"].astype(int), result.rejects["column"], strict=True))


def assert_reconciles(result) -> None:
    rejected_lines = result.rejects["line"].nunique()
    assert result.rows_read == len(result.data) + rejected_lines
    assert result.rows_rejected == rejected_lines
    assert result.reconciliation() == (
        f"{result.table}: rows read {result.rows_read} = rows accepted {len(result.data)}"
        f" + rows rejected {rejected_lines}"
    )


# --------------------------------------------------------------------------- valid rows


def test_valid_rows_are_accepted_and_typed(make_releases):
    result = validate_releases(make_releases(3))

    assert result.rejects.empty
    assert list(result.rejects.columns) == list(REJECT_COLUMNS)
    assert result.rows_read == 3 and len(result.data) == 3
    data = result.data
    assert data["release_id"].tolist() == ["r1", "r2", "r3"]
    assert data["release_date"].dtype == "datetime64[ns]"
    assert (data["release_date"] == pd.Timestamp("2020-01-15")).all()
    assert data["age_at_release"].tolist() == [30.0] * 3
    assert data["previous_sanctions"].dtype == float
    # fixture: yes, no, true, false, 1, 0
    assert data.loc[0, list(NEEDS_COLUMNS)].tolist() == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    assert data["ethnicity"].tolist() == ["White"] * 3
    assert result.warnings == ()
    assert_reconciles(result)


# --------------------------------------------------------------------------- whole file refused


@pytest.mark.parametrize("column", REQUIRED_RELEASE_COLUMNS)
def test_absent_required_release_column_refuses_the_file(make_releases, column):
    frame = make_releases(3).drop(columns=[column])

    with pytest.raises(ContractError) as info:
        validate_releases(frame)

    message = str(info.value)
    assert "\n" not in message
    assert repr(column) in message
    for other in REQUIRED_RELEASE_COLUMNS:
        if other != column:
            assert repr(other) not in message  # names only the absent column


@pytest.mark.parametrize("column", REOFFENCE_COLUMNS)
def test_absent_required_reoffence_column_refuses_the_file(make_reoffences, column):
    with pytest.raises(ContractError, match=repr(column)):
        validate_reoffences(make_reoffences(2).drop(columns=[column]))


def test_several_absent_columns_are_named_in_one_message(make_releases):
    frame = make_releases(2).drop(columns=["sex", "index_offence"])
    with pytest.raises(ContractError) as info:
        validate_releases(frame)
    assert "'sex'" in str(info.value) and "'index_offence'" in str(info.value)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- required values


@pytest.mark.parametrize("blank", ["", "   "])
@pytest.mark.parametrize("column", REQUIRED_RELEASE_COLUMNS)
def test_blank_required_release_value_rejects_that_row(make_releases, column, blank):
    result = validate_releases(make_releases(3, changes={1: {column: blank}}))

    assert problems(result) == [(3, column)]  # row 1 is on line 3 (header is line 1)
    assert "blank" in result.rejects.loc[0, "reason"]
    assert result.data["release_id"].tolist() == ["r1", "r3"]
    assert_reconciles(result)


@pytest.mark.parametrize("column", REOFFENCE_COLUMNS)
def test_blank_required_reoffence_value_rejects_that_row(make_reoffences, column):
    result = validate_reoffences(make_reoffences(3, changes={2: {column: ""}}))

    assert problems(result) == [(4, column)]
    assert "blank" in result.rejects.loc[0, "reason"]
    assert len(result.data) == 2
    assert_reconciles(result)


# --------------------------------------------------------------------------- rules, one case each

# (changes to row 1, the column blamed, a word of the reason); None: accepted
RELEASE_RULES = [
    # sex: M or F
    ({"sex": "X"}, "sex", "M or F"),
    ({"sex": "male"}, "sex", "M or F"),
    ({"sex": "F"}, None, None),
    # age_at_release: number, 10 <= x <= 100
    ({"age_at_release": "9.99", "age_at_first_sanction": "", "age_at_index_conviction": ""}, "age_at_release", "10"),
    ({"age_at_release": "100.5"}, "age_at_release", "100"),
    ({"age_at_release": "thirty"}, "age_at_release", "number"),
    ({"age_at_release": "10", "age_at_first_sanction": "10", "age_at_index_conviction": "10"}, None, None),
    ({"age_at_release": "100"}, None, None),
    # previous_sanctions: integer >= 0
    ({"previous_sanctions": "-1", "previous_violent_sanctions": ""}, "previous_sanctions", ">= 0"),
    ({"previous_sanctions": "2.5"}, "previous_sanctions", "integer"),
    ({"previous_sanctions": "many"}, "previous_sanctions", "number"),
    ({"previous_sanctions": "0", "previous_violent_sanctions": "0"}, None, None),
    # index_offence: one of the 20 groups
    ({"index_offence": "murder"}, "index_offence", "offence group"),
    ({"index_offence": "drink_driving"}, None, None),
    # release_date: ISO 8601 date
    ({"release_date": "15/01/2020"}, "release_date", "ISO 8601"),
    ({"release_date": "2020-02-30"}, "release_date", "ISO 8601"),
    ({"release_date": "2020-13-01"}, "release_date", "ISO 8601"),
    ({"release_date": "last tuesday"}, "release_date", "ISO 8601"),
    ({"release_date": "2020-02-29"}, None, None),
    # age_at_first_sanction: 10 <= x <= age_at_release (30)
    ({"age_at_first_sanction": "9"}, "age_at_first_sanction", "10"),
    ({"age_at_first_sanction": "30.5"}, "age_at_first_sanction", "age_at_release"),
    ({"age_at_first_sanction": "ten"}, "age_at_first_sanction", "number"),
    ({"age_at_first_sanction": "10"}, None, None),
    ({"age_at_first_sanction": "30"}, None, None),
    # age_at_index_conviction: <= age_at_release
    ({"age_at_index_conviction": "31"}, "age_at_index_conviction", "age_at_release"),
    ({"age_at_index_conviction": "30"}, None, None),
    # sentence_days: integer >= 1
    ({"sentence_days": "0"}, "sentence_days", ">= 1"),
    ({"sentence_days": "1.5"}, "sentence_days", "integer"),
    ({"sentence_days": "1"}, None, None),
    # previous_custodial_sentences: integer >= 0
    ({"previous_custodial_sentences": "-1"}, "previous_custodial_sentences", ">= 0"),
    ({"previous_custodial_sentences": "0"}, None, None),
    # previous_violent_sanctions: 0 <= x <= previous_sanctions (4)
    ({"previous_violent_sanctions": "5"}, "previous_violent_sanctions", "previous_sanctions"),
    ({"previous_violent_sanctions": "-1"}, "previous_violent_sanctions", "0 <="),
    ({"previous_violent_sanctions": "4"}, None, None),
    ({"previous_violent_sanctions": "0"}, None, None),
    # previous_breaches: integer >= 0
    ({"previous_breaches": "-2"}, "previous_breaches", ">= 0"),
    ({"previous_breaches": "0.5"}, "previous_breaches", "integer"),
    ({"previous_breaches": "3"}, None, None),
    # booleans
    ({"needs_accommodation": "maybe"}, "needs_accommodation", "boolean"),
    ({"needs_family": "2"}, "needs_family", "boolean"),
    ({"needs_finance": "y"}, "needs_finance", "boolean"),
    # ethnicity
    ({"ethnicity": "Martian"}, "ethnicity", "White"),
]


@pytest.mark.parametrize(("changes", "column", "reason"), RELEASE_RULES)
def test_release_rule(make_releases, changes, column, reason):
    result = validate_releases(make_releases(3, changes={1: changes}))

    if column is None:
        assert result.rejects.empty, result.rejects.to_dict("records")
        assert len(result.data) == 3
    else:
        assert problems(result) == [(3, column)]
        assert reason in result.rejects.loc[0, "reason"]
        assert result.rejects.loc[0, "value"] == changes[column]
        assert result.rejects.loc[0, "release_id"] == "r2"
        assert result.data["release_id"].tolist() == ["r1", "r3"]
    assert_reconciles(result)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", 1.0),
        ("TRUE", 1.0),
        ("True", 1.0),
        ("yes", 1.0),
        ("YES", 1.0),
        ("yEs", 1.0),
        ("1", 1.0),
        ("false", 0.0),
        ("FALSE", 0.0),
        ("no", 0.0),
        ("No", 0.0),
        ("0", 0.0),
        ("", np.nan),
    ],
)
@pytest.mark.parametrize("column", NEEDS_COLUMNS)
def test_booleans_accept_true_false_yes_no_1_0_in_any_case(make_releases, column, text, value):
    result = validate_releases(make_releases(1, changes={0: {column: text}}))

    assert result.rejects.empty
    np.testing.assert_equal(result.data.loc[0, column], value)


@pytest.mark.parametrize("ethnicity", ["White", "Black", "Asian", "Mixed", "Other", "Unknown"])
def test_every_ethnicity_of_the_contract_is_accepted(make_releases, ethnicity):
    result = validate_releases(make_releases(1, changes={0: {"ethnicity": ethnicity}}))
    assert result.rejects.empty
    assert result.data.loc[0, "ethnicity"] == ethnicity


def test_later_duplicate_release_id_is_rejected_first_kept(make_releases):
    frame = make_releases(4, changes={2: {"release_id": "r1"}, 3: {"release_id": "r1"}})

    result = validate_releases(frame)

    assert problems(result) == [(4, "release_id"), (5, "release_id")]
    assert result.rejects["reason"].str.contains("duplicate").all()
    assert result.data["release_id"].tolist() == ["r1", "r2"]
    assert result.data["person_id"].tolist() == ["p1", "p2"]  # the first r1 is the one kept
    assert_reconciles(result)


def test_one_person_may_have_several_releases(make_releases):
    result = validate_releases(make_releases(3, changes={1: {"person_id": "p1"}, 2: {"person_id": "p1"}}))
    assert result.rejects.empty and len(result.data) == 3


def test_iso_dates_with_a_time_and_offset_keep_their_calendar_day(make_releases):
    frame = make_releases(
        3,
        changes={
            0: {"release_date": "2020-01-15T23:30:00+01:00"},
            1: {"release_date": "2020-01-15T10:00:00"},
        },
    )
    result = validate_releases(frame)
    assert result.rejects.empty
    assert (result.data["release_date"] == pd.Timestamp("2020-01-15")).all()


# --------------------------------------------------------------------------- optional columns


def test_absent_optional_columns_are_unknown(make_releases):
    frame = make_releases(2).drop(columns=list(OPTIONAL_RELEASE_COLUMNS))

    result = validate_releases(frame)

    assert result.rejects.empty and len(result.data) == 2
    for column in OPTIONAL_NUMERIC + NEEDS_COLUMNS:
        assert result.data[column].isna().all(), column
    assert (result.data["ethnicity"] == "Unknown").all()
    assert result.warnings == ()


@pytest.mark.parametrize("column", OPTIONAL_RELEASE_COLUMNS)
def test_blank_optional_value_is_accepted_as_unknown(make_releases, column):
    result = validate_releases(make_releases(2, changes={1: {column: " "}}))

    assert result.rejects.empty and len(result.data) == 2
    if column == "ethnicity":
        assert result.data.loc[1, column] == "Unknown"
    else:
        assert np.isnan(result.data.loc[1, column])
        assert not np.isnan(result.data.loc[0, column])


# --------------------------------------------------------------------------- extra columns


def test_declared_extra_features_are_required(make_releases):
    with pytest.raises(ContractError, match="'risk_score'"):
        validate_releases(make_releases(2), extra_numeric=["risk_score"])
    with pytest.raises(ContractError, match="'tier'"):
        validate_releases(make_releases(2), extra_categorical=["tier"])


def test_declared_extra_features_are_typed_and_blank_is_unknown(make_releases):
    frame = make_releases(3).assign(risk_score=["0.5", "", "high"], tier=["A", "", "B"])

    result = validate_releases(frame, extra_numeric=["risk_score"], extra_categorical=["tier"])

    assert problems(result) == [(4, "risk_score")]
    assert "not a number" in result.rejects.loc[0, "reason"]
    assert result.data["risk_score"].iloc[0] == 0.5
    assert np.isnan(result.data["risk_score"].iloc[1])
    assert result.data["tier"].iloc[0] == "A"
    assert pd.isna(result.data["tier"].iloc[1])
    assert result.warnings == ()


def test_undeclared_extra_columns_are_ignored_with_one_warning(make_releases):
    frame = make_releases(2).assign(local_flag="1", officer_team="north")

    result = validate_releases(frame)

    assert result.rejects.empty and len(result.data) == 2
    assert "local_flag" not in result.data and "officer_team" not in result.data
    assert len(result.warnings) == 1
    assert "local_flag" in result.warnings[0] and "officer_team" in result.warnings[0]


def test_undeclared_extra_reoffence_column_is_ignored_with_one_warning(make_reoffences):
    result = validate_reoffences(make_reoffences(2).assign(court="x"))
    assert len(result.data) == 2 and "court" not in result.data
    assert len(result.warnings) == 1 and "court" in result.warnings[0]


# --------------------------------------------------------------------------- direct identifiers


def _case_variants(name: str) -> list[str]:
    return [name, name.upper(), name.title()]


IDENTIFIER_CASES = sorted({v for n in DIRECT_IDENTIFIERS for v in _case_variants(n)}) + [
    "Postcode",
    "DOB",
    "First_Name",
    " postcode ",
]


@pytest.mark.parametrize("column", IDENTIFIER_CASES)
def test_direct_identifier_column_refuses_the_file(make_releases, column):
    frame = make_releases(2).assign(**{column: "secret"})

    with pytest.raises(ContractError) as info:
        validate_releases(frame)

    message = str(info.value)
    assert repr(column) in message
    assert "identifier" in message
    assert "secret" not in message
    assert "\n" not in message


@pytest.mark.parametrize("column", ["Postcode", "DOB", "nhs_number"])
def test_direct_identifier_is_dropped_with_the_override(make_releases, column):
    frame = make_releases(2).assign(**{column: "secret"})

    result = validate_releases(frame, allow_identifiers=True)

    assert len(result.data) == 2 and result.rejects.empty
    assert column not in result.data.columns
    assert not result.data.isin(["secret"]).any().any()
    assert any(column in w for w in result.warnings)


def test_direct_identifier_in_reoffences_is_refused(make_reoffences):
    with pytest.raises(ContractError, match="'Name'"):
        validate_reoffences(make_reoffences(1).assign(Name="x"))
    result = validate_reoffences(make_reoffences(1).assign(Name="x"), allow_identifiers=True)
    assert "Name" not in result.data.columns and len(result.data) == 1


# --------------------------------------------------------------------------- reoffences


REOFFENCE_RULES = [
    ({"proven_date": "2020-02-29"}, "proven_date", "offence_date"),  # before 2020-03-01
    ({"proven_date": "2020-03-01"}, None, None),  # same day: allowed
    ({"offence": "murder"}, "offence", "offence group"),
    ({"offence": "sexual_against_child"}, None, None),
    ({"offence_date": "2020-31-01"}, "offence_date", "ISO 8601"),
    ({"proven_date": "soon"}, "proven_date", "ISO 8601"),
    ({"person_id": "stranger"}, "person_id", "releases.person_id"),
]


@pytest.mark.parametrize(("changes", "column", "reason"), REOFFENCE_RULES)
def test_reoffence_rule(make_reoffences, changes, column, reason):
    result = validate_reoffences(make_reoffences(3, changes={1: changes}), person_ids=pd.Series(["p1", "p2", "p3"]))

    if column is None:
        assert result.rejects.empty and len(result.data) == 3
    else:
        assert problems(result) == [(3, column)]
        assert reason in result.rejects.loc[0, "reason"]
        assert result.data["person_id"].tolist() == ["p1", "p3"]
    assert_reconciles(result)


def test_reoffences_are_typed(make_reoffences):
    data = validate_reoffences(make_reoffences(1)).data
    assert data["offence_date"].dtype == "datetime64[ns]"
    assert data.loc[0, "proven_date"] == pd.Timestamp("2020-05-01")


def test_reoffence_person_must_be_in_releases_file(tmp_path, make_releases, make_reoffences):
    make_releases(2).to_csv(tmp_path / "releases.csv", index=False)
    make_reoffences(3).to_csv(tmp_path / "reoffences.csv", index=False)  # p3 has no release

    cohort = load_cohort(tmp_path)

    assert problems(cohort.reoffences) == [(4, "person_id")]
    assert cohort.reoffences.data["person_id"].tolist() == ["p1", "p2"]


# --------------------------------------------------------------------------- reconciliation


def test_row_breaking_several_rules_is_one_rejected_row(make_releases):
    frame = make_releases(
        4,
        changes={1: {"sex": "X", "age_at_release": "5", "index_offence": "??", "needs_family": "perhaps"}},
    )

    result = validate_releases(frame)

    # age 5 also puts the first sanction (16) and the index conviction (29) after release
    assert sorted(problems(result)) == [
        (3, "age_at_first_sanction"),
        (3, "age_at_index_conviction"),
        (3, "age_at_release"),
        (3, "index_offence"),
        (3, "needs_family"),
        (3, "sex"),
    ]
    assert result.rows_rejected == 1
    assert len(result.data) == 3
    assert result.reconciliation() == "releases: rows read 4 = rows accepted 3 + rows rejected 1"


# --------------------------------------------------------------------------- files


def _bad_rows(make_releases):
    # rows 1 and 4 are bad
    return make_releases(6, changes={1: {"sex": "Z"}, 4: {"age_at_release": "200"}})


def test_csv_line_numbers_count_the_header_as_line_1(tmp_path, make_releases, make_reoffences):
    _bad_rows(make_releases).to_csv(tmp_path / "releases.csv", index=False)
    make_reoffences(3, changes={2: {"offence": "x"}}).to_csv(tmp_path / "reoffences.csv", index=False)

    cohort = load_cohort(tmp_path)

    lines = (tmp_path / "releases.csv").read_text().splitlines()
    assert problems(cohort.releases) == [(3, "sex"), (6, "age_at_release")]
    assert lines[3 - 1].split(",")[0] == "r2"  # the reported line holds the reported row
    assert lines[6 - 1].split(",")[0] == "r5"
    assert problems(cohort.reoffences) == [(4, "offence")]
    assert set(cohort.rejects["table"]) == {"releases", "reoffences"}
    assert cohort.reconciliation().splitlines() == [
        "releases: rows read 6 = rows accepted 4 + rows rejected 2",
        "reoffences: rows read 3 = rows accepted 2 + rows rejected 1",
    ]


def test_parquet_line_numbers_are_row_numbers(tmp_path, make_releases, make_reoffences):
    _bad_rows(make_releases).to_parquet(tmp_path / "releases.parquet")
    make_reoffences(3, changes={0: {"offence": "x"}}).to_parquet(tmp_path / "reoffences.parquet")

    cohort = load_cohort(tmp_path)

    assert problems(cohort.releases) == [(2, "sex"), (5, "age_at_release")]
    assert problems(cohort.reoffences) == [(1, "offence")]


def test_parquet_of_a_filtered_frame_still_gives_row_numbers(tmp_path, make_releases):
    frame = _bad_rows(make_releases)
    frame = frame[frame["release_id"] != "r1"]  # index now starts at 1, stored in the file
    frame.to_parquet(tmp_path / "releases.parquet")

    table = read_table(tmp_path / "releases.parquet")
    result = validate_releases(table, line_offset=1)

    assert "__index_level_0__" not in table.columns
    assert problems(result) == [(1, "sex"), (4, "age_at_release")]
    assert result.warnings == ()


def test_parquet_written_with_release_id_as_index_keeps_the_column(tmp_path, make_releases):
    make_releases(3).set_index("release_id").to_parquet(tmp_path / "releases.parquet")

    whole = validate_releases(read_table(tmp_path / "releases.parquet"))
    chunks = [validate_releases(c) for c in iter_table(tmp_path / "releases.parquet", chunk_rows=2)]

    assert whole.data["release_id"].tolist() == ["r1", "r2", "r3"]
    assert sum((c.data["release_id"].tolist() for c in chunks), []) == ["r1", "r2", "r3"]


def test_csv_with_a_trailing_delimiter_keeps_values_in_their_columns(tmp_path, make_releases):
    frame = make_releases(2)
    header = ",".join(frame.columns)
    rows = [",".join(row) + "," for row in frame.astype(str).to_numpy().tolist()]
    (tmp_path / "releases.csv").write_text("\n".join([header, *rows]) + "\n")

    result = validate_releases(read_table(tmp_path / "releases.csv"))

    assert result.rejects.empty
    assert result.data["release_id"].tolist() == ["r1", "r2"]
    assert result.data["person_id"].tolist() == ["p1", "p2"]


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The same rows as a typed Parquet export would carry them."""
    typed = frame.copy()
    for column in ("previous_sanctions", "sentence_days", "previous_custodial_sentences", "previous_breaches"):
        typed[column] = typed[column].astype("int64")
    typed["previous_violent_sanctions"] = pd.array([2, None, 0], dtype="Int64")
    for column in ("age_at_release", "age_at_first_sanction", "age_at_index_conviction"):
        typed[column] = typed[column].astype(float)
    typed["release_date"] = pd.to_datetime(typed["release_date"])
    for column in NEEDS_COLUMNS:
        typed[column] = typed[column].str.lower().isin(["yes", "true", "1"])
    typed["needs_family"] = pd.array([True, None, False], dtype="boolean")
    return typed


def test_csv_and_parquet_give_the_same_accepted_data(tmp_path, make_releases, make_reoffences):
    releases = make_releases(
        3,
        changes={
            0: {"needs_family": "1"},
            1: {"sex": "Q", "previous_violent_sanctions": "", "needs_family": ""},
            2: {"previous_violent_sanctions": "0", "needs_family": "0"},
        },
    )
    reoffences = make_reoffences(3)
    folders = {name: tmp_path / name for name in ("csv", "parquet_text", "parquet_typed")}
    for folder in folders.values():
        folder.mkdir()
    releases.to_csv(folders["csv"] / "releases.csv", index=False)
    reoffences.to_csv(folders["csv"] / "reoffences.csv", index=False)
    releases.to_parquet(folders["parquet_text"] / "releases.parquet")
    reoffences.to_parquet(folders["parquet_text"] / "reoffences.parquet")
    _typed(releases).to_parquet(folders["parquet_typed"] / "releases.parquet")
    reoffences.assign(
        offence_date=lambda f: [dt.date.fromisoformat(d) for d in f["offence_date"]],
        proven_date=lambda f: pd.to_datetime(f["proven_date"]),
    ).to_parquet(folders["parquet_typed"] / "reoffences.parquet")

    cohorts = {name: load_cohort(folder) for name, folder in folders.items()}

    expected = cohorts["csv"]
    assert expected.releases.data["release_id"].tolist() == ["r1", "r3"]
    assert len(expected.reoffences.data) == 3
    for name in ("parquet_text", "parquet_typed"):
        pd.testing.assert_frame_equal(cohorts[name].releases.data, expected.releases.data)
        pd.testing.assert_frame_equal(cohorts[name].reoffences.data, expected.reoffences.data)
        assert cohorts[name].releases.rows_rejected == 1


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("releases.parquet", b"PAR1 this is not a parquet file PAR1"),
        ("releases.csv", b"\xff\xfe\x00r\x00e\x00l"),
        ("releases.csv", b""),
        ("releases.csv", b'release_id,person_id\nr1,"never closed\n'),
        ("releases.csv", b"release_id,person_id\nr1,p1\nr2,p2,extra,fields\n"),
        ("releases.xlsx", b"PK\x03\x04"),
    ],
)
def test_unreadable_file_is_a_contract_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ContractError) as info:
        read_table(path)
    assert str(path) in str(info.value)


def test_missing_files_are_a_contract_error(tmp_path):
    with pytest.raises(ContractError, match="releases"):
        load_cohort(tmp_path)
    with pytest.raises(ContractError, match="not found"):
        read_table(tmp_path / "nothing.csv")


# --------------------------------------------------------------------------- chunked reading


def _validate_in_chunks(path, chunk_rows):
    seen: set[str] = set()
    line_offset = 2 if path.suffix == ".csv" else 1
    parts = [
        validate_releases(chunk, seen_ids=seen, line_offset=line_offset)
        for chunk in iter_table(path, chunk_rows=chunk_rows)
    ]
    data = pd.concat([p.data for p in parts], ignore_index=True)
    rejects = pd.concat([p.rejects for p in parts if len(p.rejects)], ignore_index=True)
    return data, rejects


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_chunks_catch_a_duplicate_across_chunks(tmp_path, make_releases, suffix):
    frame = make_releases(5, changes={3: {"release_id": "r1"}})
    path = tmp_path / f"releases{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)

    data, rejects = _validate_in_chunks(path, chunk_rows=2)

    first_line = 2 if suffix == ".csv" else 1
    assert list(zip(rejects["line"], rejects["column"], strict=True)) == [(first_line + 3, "release_id")]
    assert "duplicate" in rejects.loc[0, "reason"]
    assert data["release_id"].tolist() == ["r1", "r2", "r3", "r5"]


def test_chunked_reading_rejects_what_whole_reading_rejects(tmp_path, make_releases):
    # the first r1 is itself bad; its later duplicate must still be rejected
    frame = make_releases(5, changes={0: {"sex": "?"}, 3: {"release_id": "r1"}, 4: {"age_at_release": "1"}})
    path = tmp_path / "releases.csv"
    frame.to_csv(path, index=False)

    whole = validate_releases(read_table(path))
    data, rejects = _validate_in_chunks(path, chunk_rows=2)

    pd.testing.assert_frame_equal(data, whole.data)
    pd.testing.assert_frame_equal(rejects, whole.rejects)
    assert whole.data["release_id"].tolist() == ["r2", "r3"]


def test_iter_table_chunks_cover_every_row_once(tmp_path, make_releases):
    make_releases(7).to_csv(tmp_path / "releases.csv", index=False)
    chunks = list(iter_table(tmp_path / "releases.csv", chunk_rows=3))
    assert [len(c) for c in chunks] == [3, 3, 1]
    assert pd.concat(chunks).index.tolist() == list(range(7))


# --------------------------------------------------------------------------- the rules table


def test_the_specs_declare_the_contracts_columns_once():
    from riskmodel.data.contract import RELEASE_SPECS, REOFFENCE_SPECS

    assert tuple(s.name for s in RELEASE_SPECS) == RELEASE_COLUMNS
    assert tuple(s.name for s in RELEASE_SPECS if s.required) == REQUIRED_RELEASE_COLUMNS
    assert tuple(s.name for s in REOFFENCE_SPECS) == REOFFENCE_COLUMNS
    for specs in (RELEASE_SPECS, REOFFENCE_SPECS):
        names = [s.name for s in specs]
        for i, spec in enumerate(specs):
            for bound in (spec.low, spec.high):
                if isinstance(bound, str):  # a column bound is read before the column it bounds
                    assert bound in names[:i], (spec.name, bound)


@pytest.mark.parametrize(
    "low, high, reason",
    [
        (10, 100, "must be 10 <= x <= 100"),
        (0, None, "must be >= 0"),
        (None, "age_at_release", "must be <= age_at_release"),
        (0.5, "previous_sanctions", "must be 0.5 <= x <= previous_sanctions"),
        (None, None, None),
    ],
)
def test_a_range_reason_is_written_from_its_bounds(low, high, reason):
    from riskmodel.data.contract import ColumnSpec

    assert ColumnSpec("x", "number", low=low, high=high).range_reason == reason


def test_a_spec_refuses_an_unknown_kind_and_a_category_without_values():
    from riskmodel.data.contract import ColumnSpec

    with pytest.raises(ValueError, match="kind"):
        ColumnSpec("x", "percentage")
    with pytest.raises(ValueError, match="allowed"):
        ColumnSpec("x", "category", invalid="must be one of a, b")
    assert ColumnSpec("x", "boolean").invalid == "not a boolean (true/false, yes/no, 1/0)"


def test_the_table_drives_the_rules(make_releases, monkeypatch):
    """Changing a spec changes what both parsing paths check (no second copy of a rule)."""
    from dataclasses import replace

    from riskmodel.data.contract import RELEASE_SPECS

    stricter = tuple(replace(s, high=25) if s.name == "age_at_release" else s for s in RELEASE_SPECS)
    monkeypatch.setattr(contract_module, "RELEASE_SPECS", stricter)
    younger = {"age_at_release": "20", "age_at_index_conviction": "19"}
    result = validate_releases(make_releases(2, changes={0: younger, 1: {**younger, "age_at_release": "26"}}))
    assert problems(result) == [(3, "age_at_release")]
    assert result.rejects.loc[0, "reason"] == "must be 10 <= x <= 25"


# --------------------------------------------------------------------------- JSON release objects


def json_release(**changes) -> dict:
    from _helpers_root import root_conftest  # tests/ is on the path; a folder's conftest may shadow the root's

    row = {**root_conftest().VALID_RELEASE, "age_at_release": 30, "needs_accommodation": True, "needs_family": None}
    row.update(changes)
    return {k: v for k, v in row.items() if v is not ...}


def test_valid_json_releases_have_no_problems():
    from riskmodel.data.contract import check_json_releases

    assert check_json_releases([json_release(), json_release(release_id="r2")]) == []


def test_a_json_release_that_is_not_an_object_or_holds_a_non_scalar_is_named_by_index():
    from riskmodel.data.contract import check_json_releases

    infinite = json_release(release_id="r3", age_at_release=float("inf"))
    found = check_json_releases([json_release(sex=["M"]), 7, infinite])
    assert [(p["index"], p["field"]) for p in found] == [
        (0, "releases[0].sex"),
        (1, "releases[1]"),
        (2, "releases[2].age_at_release"),
    ]
    assert found[0]["rule"] == "must be a string, number, boolean or null" and found[0]["release_id"] == "r1"
    assert found[1]["rule"] == "must be an object of contract columns"
    assert found[2]["rule"] == "must be a finite number (JSON has no NaN or Infinity)" and found[2]["value"] == "inf"


def test_json_columns_are_screened_like_a_files(make_releases):
    """An identifier or an absent required column: the rows' problems, and the file's ContractError."""
    from riskmodel.data.contract import check_json_releases

    for column in sorted(DIRECT_IDENTIFIERS)[:3] + ["Date_Of_Birth "]:
        found = check_json_releases([json_release(**{column: "x"})])
        assert [p["field"] for p in found] == [f"releases[*].{column}"] and "direct identifier" in found[0]["rule"]
        with pytest.raises(ContractError, match="direct identifier"):
            validate_releases(make_releases(1).assign(**{column: "x"}))
    for column in REQUIRED_RELEASE_COLUMNS + ("extra_n",):
        rows = [json_release(extra_n=1), json_release(release_id="r2", extra_n=None)]
        for row in rows:
            row.pop(column, None)
        found = check_json_releases(rows, extra_numeric=("extra_n",))
        assert found == [{"field": f"releases[*].{column}", "rule": "required column is absent from every release"}]
    # present in one release is present: its blank cells are the rows' problem
    assert check_json_releases([json_release(sex=...), json_release(release_id="r2")]) == []


def test_json_row_problems_come_before_column_problems():
    from riskmodel.data.contract import check_json_releases

    found = check_json_releases([json_release(name="x", sex={"a": 1})])
    assert [p["field"] for p in found] == ["releases[0].sex"]
