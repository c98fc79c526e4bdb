"""The NIJ adapter on the real file: labels, leakage, audit-only race, contract, split.

The file is read from where it lies (``RISKMODEL_NIJ_PATH`` or ``../shared/data/nij/``);
the data tests are skipped when it is absent. Expected values are worked out here from
the raw file, never copied from the adapter.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from riskmodel._constants import (
    ETHNICITIES,
    OFFENCE_GROUPS,
    RELEASE_COLUMNS,
    REOFFENCE_COLUMNS,
    REQUIRED_RELEASE_COLUMNS,
    SEXES,
)
from riskmodel.data.adapters import nij
from riskmodel.data.adapters.nij import NIJ_FILE_NAME, NIJ_TEST_FROM, default_nij_path, load_nij, split_nij

OUTCOMES = ("Recidivism_Arrest_Year1", "Recidivism_Arrest_Year2", "Recidivism_Arrest_Year3", "Recidivism_Within_3years")
#: Named in the file's README as measured during supervision (prefixes or whole names).
SUPERVISION_NAMES = (
    "Violations_",
    "Delinquency_Reports",
    "Program_",
    "Residence_Changes",
    "DrugTests_",
    "Percent_Days_Employed",
    "Jobs_Per_Year",
    "Employment_Exempt",
)
SUBSET_ROWS = 2000


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def nij_path():
    try:
        return default_nij_path()
    except FileNotFoundError as error:
        pytest.skip(f"NIJ Recidivism Challenge file absent, data tests skipped: {error}")


@pytest.fixture(scope="module")
def raw(nij_path) -> pd.DataFrame:
    return pd.read_csv(nij_path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def cohort(nij_path):
    return load_nij(nij_path)


@pytest.fixture(scope="module")
def supervision_columns(raw) -> list[str]:
    """Every column after the first 33 that is not an outcome."""
    columns = [c for c in raw.columns[33:] if c not in OUTCOMES]
    # The README's list must match the file, or this test would check the wrong thing.
    for name in SUPERVISION_NAMES:
        assert any(c.startswith(name) for c in columns), name
    assert all(any(c.startswith(name) for name in SUPERVISION_NAMES + ("Avg_Days_per_DrugTest",)) for c in columns)
    return columns


def _write(frame: pd.DataFrame, path) -> None:
    frame.to_csv(path, index=False)


def _contract_label(releases, reoffences, *, as_of, window_days, waiting_days):
    """The contract's rule, written out: (label, eligible) per release."""
    r = releases[["release_id", "person_id", "release_date"]]
    pairs = r.merge(reoffences, on="person_id", how="inner")
    end = pairs["release_date"] + pd.to_timedelta(window_days, unit="D")
    hit = (
        (pairs["offence_date"] > pairs["release_date"])
        & (pairs["offence_date"] <= end)
        & (pairs["proven_date"] <= end + pd.to_timedelta(waiting_days, unit="D"))
    )
    label = r["release_id"].isin(set(pairs.loc[hit, "release_id"])).to_numpy()
    eligible = (
        r["release_date"] + pd.to_timedelta(window_days + waiting_days, unit="D") <= pd.Timestamp(as_of)
    ).to_numpy()
    return label, eligible


def _flag(raw, column) -> np.ndarray:
    assert set(raw[column]) <= {"true", "false"}
    return (raw[column] == "true").to_numpy()


# ----------------------------------------------------------------------------- labels


def test_year1_label_equals_the_files_for_every_row(cohort, raw):
    settings = cohort.label_settings
    label, eligible = _contract_label(
        cohort.releases,
        cohort.reoffences,
        as_of=cohort.as_of,
        window_days=settings["window_days"],
        waiting_days=settings["waiting_days"],
    )
    assert len(label) == len(raw) == 18_028
    assert eligible.all()
    expected = _flag(raw, "Recidivism_Arrest_Year1")
    mismatched = cohort.releases["release_id"].to_numpy()[label != expected]
    assert len(mismatched) == 0, f"{len(mismatched)} rows differ, e.g. {mismatched[:5]}"


@pytest.mark.parametrize(
    ("window_days", "waiting_days", "years"),
    [
        (365, 183, ("Recidivism_Arrest_Year1",)),  # the contract's default waiting period
        (730, 0, ("Recidivism_Arrest_Year1", "Recidivism_Arrest_Year2")),
        (1095, 183, ("Recidivism_Within_3years",)),
    ],
)
def test_longer_windows_give_the_files_later_outcomes(cohort, raw, window_days, waiting_days, years):
    label, eligible = _contract_label(
        cohort.releases, cohort.reoffences, as_of=cohort.as_of, window_days=window_days, waiting_days=waiting_days
    )
    expected = np.logical_or.reduce([_flag(raw, y) for y in years])
    assert eligible.all()
    np.testing.assert_array_equal(label, expected)


def test_outcomes_are_the_files_own(cohort, raw):
    assert list(cohort.outcomes.columns) == ["release_id", *OUTCOMES]
    np.testing.assert_array_equal(cohort.outcomes["release_id"], cohort.releases["release_id"])
    for column in OUTCOMES:
        assert cohort.outcomes[column].dtype == bool
        np.testing.assert_array_equal(cohort.outcomes[column].to_numpy(), _flag(raw, column))


def test_arrests_are_placed_in_the_recorded_year_and_before_as_of(cohort, raw):
    releases, reoffences = cohort.releases, cohort.reoffences
    arrests = sum(int(_flag(raw, f"Recidivism_Arrest_Year{y}").sum()) for y in (1, 2, 3))
    assert len(reoffences) == arrests
    placed = reoffences.merge(
        releases[["person_id", "release_date"]], on="person_id", how="left", validate="many_to_one"
    )
    day = (placed["offence_date"] - placed["release_date"]).dt.days.to_numpy()
    year = np.ceil(day / 365).astype(int)
    by_person = dict(zip(placed["person_id"], year, strict=True))
    for y in (1, 2, 3):
        people = set(releases.loc[_flag(raw, f"Recidivism_Arrest_Year{y}"), "person_id"])
        assert {p for p, yr in by_person.items() if yr == y} == people
    assert day.min() >= 1 and day.max() <= 1095
    assert (reoffences["proven_date"] >= reoffences["offence_date"]).all()
    as_of = pd.Timestamp(cohort.as_of)
    assert reoffences["proven_date"].max() < as_of
    assert releases["release_date"].max() + pd.Timedelta(days=1095 + cohort.label_settings["waiting_days"]) <= as_of
    assert releases["release_date"].min() >= pd.Timestamp("2013-01-01")
    assert releases["release_date"].max() <= pd.Timestamp("2015-12-31")


# ----------------------------------------------------------------------------- leakage and audit-only race


def test_no_supervision_period_column_is_named_in_releases(cohort, supervision_columns):
    def norm(name: str) -> str:
        return name.lower().removeprefix("nij_").replace("_", "")

    forbidden = {norm(c) for c in supervision_columns}
    leaked = [c for c in cohort.releases.columns if norm(c) in forbidden]
    assert not leaked
    declared = set(cohort.extra_numeric) | set(cohort.extra_categorical)
    assert not {norm(c) for c in declared} & forbidden


def test_releases_do_not_depend_on_supervision_period_values(raw, supervision_columns, tmp_path):
    subset = raw.head(SUBSET_ROWS)
    scrambled = subset.copy()
    for column in supervision_columns:
        scrambled[column] = np.roll(scrambled[column].to_numpy(), 1)
    assert not scrambled[supervision_columns].equals(subset[supervision_columns])
    _write(subset, tmp_path / "original.csv")
    _write(scrambled, tmp_path / "scrambled.csv")
    original, changed = load_nij(tmp_path / "original.csv"), load_nij(tmp_path / "scrambled.csv")
    pd.testing.assert_frame_equal(original.releases, changed.releases)
    pd.testing.assert_frame_equal(original.reoffences, changed.reoffences)


def test_race_reaches_only_ethnicity(cohort, raw, tmp_path):
    assert not [c for c in cohort.releases.columns if "race" in c.lower()]
    expected = raw["Race"].str.strip().str.title().to_numpy()
    np.testing.assert_array_equal(cohort.releases["ethnicity"].to_numpy(), expected)

    subset = raw.head(SUBSET_ROWS)
    flipped = subset.copy()
    flipped["Race"] = subset["Race"].map({"BLACK": "WHITE", "WHITE": "BLACK"})
    _write(subset, tmp_path / "original.csv")
    _write(flipped, tmp_path / "flipped.csv")
    original, changed = load_nij(tmp_path / "original.csv"), load_nij(tmp_path / "flipped.csv")
    differs = [c for c in original.releases.columns if not original.releases[c].equals(changed.releases[c])]
    assert differs == ["ethnicity"]
    pd.testing.assert_frame_equal(original.reoffences, changed.reoffences)


# ----------------------------------------------------------------------------- contract


def test_contract_columns_are_present_with_valid_values(cohort, raw):
    releases, reoffences = cohort.releases, cohort.reoffences
    assert list(releases.columns[: len(RELEASE_COLUMNS)]) == list(RELEASE_COLUMNS)
    assert list(releases.columns[len(RELEASE_COLUMNS) :]) == [*cohort.extra_numeric, *cohort.extra_categorical]
    assert all(c.startswith("nij_") and c == c.lower() for c in cohort.extra_numeric + cohort.extra_categorical)
    assert releases[list(REQUIRED_RELEASE_COLUMNS)].notna().all().all()
    assert releases["index_offence"].isin(OFFENCE_GROUPS).all()
    assert releases["sex"].isin(SEXES).all()
    assert releases["ethnicity"].isin(ETHNICITIES).all()
    age = releases["age_at_release"]
    assert ((age >= 10) & (age <= 100)).all()
    prev = releases["previous_sanctions"]
    assert (prev >= 0).all()
    violent = releases["previous_violent_sanctions"]
    assert ((violent >= 0) & (violent <= prev)).all()
    assert (releases["previous_breaches"].dropna() >= 0).all()
    assert (releases["sentence_days"].dropna() >= 1).all()
    for column in cohort.extra_numeric:
        assert pd.api.types.is_float_dtype(releases[column]), column

    assert list(reoffences.columns) == list(REOFFENCE_COLUMNS)
    assert reoffences.notna().all().all()
    assert reoffences["offence"].isin(OFFENCE_GROUPS).all()
    assert reoffences["person_id"].isin(set(releases["person_id"])).all()


def test_release_ids_are_unique_one_per_person_and_row(cohort, raw):
    releases = cohort.releases
    assert len(releases) == len(raw)
    assert releases["release_id"].is_unique
    assert releases["person_id"].is_unique
    np.testing.assert_array_equal(releases["release_id"], ("NIJ" + raw["ID"]).to_numpy())


def test_the_contract_validator_accepts_every_row(cohort):
    from riskmodel.data.contract import validate_releases, validate_reoffences

    releases = validate_releases(
        cohort.releases, extra_numeric=cohort.extra_numeric, extra_categorical=cohort.extra_categorical
    )
    assert releases.rejects.empty, releases.rejects.head()
    assert len(releases.data) == len(cohort.releases)
    assert not releases.warnings  # every extra column is declared
    reoffences = validate_reoffences(cohort.reoffences, person_ids=cohort.releases["person_id"])
    assert reoffences.rejects.empty, reoffences.rejects.head()


def test_mapping_follows_the_files_values(cohort, raw):
    releases = cohort.releases
    np.testing.assert_array_equal(releases["sex"], raw["Gender"])

    bands = raw["Age_at_Release"].str.extract(r"^(\d+)(?:-(\d+))?").astype(float)
    age = releases["age_at_release"].to_numpy()
    assert (age >= bands[0]).all() and (age <= bands[1].fillna(100)).all()

    def count(column: str) -> np.ndarray:
        return raw[column].str.extract(r"^(\d+)", expand=False).astype(float).to_numpy()

    convictions = count("Prior_Conviction_Episodes_Felony") + count("Prior_Conviction_Episodes_Misd")
    np.testing.assert_array_equal(releases["previous_sanctions"].to_numpy(dtype=float), convictions)
    violent = np.minimum(_flag(raw, "Prior_Conviction_Episodes_Viol"), convictions)
    np.testing.assert_array_equal(releases["previous_violent_sanctions"].to_numpy(dtype=float), violent)

    # Needs come only from release-time conditions and education; unknown elsewhere.
    np.testing.assert_array_equal(
        releases["needs_substance_misuse"].to_numpy(dtype=bool), _flag(raw, "Condition_MH_SA")
    )
    no_diploma = (raw["Education_Level"] == "Less than HS diploma").to_numpy()
    assert releases["needs_employment"].fillna(False).to_numpy(dtype=bool).tolist() == no_diploma.tolist()
    for column in ("needs_accommodation", "needs_mental_health", "needs_finance", "needs_family"):
        assert releases[column].isna().all(), column
    # Not in the file: blank, never invented.
    for column in ("age_at_first_sanction", "age_at_index_conviction", "previous_custodial_sentences"):
        assert releases[column].isna().all(), column

    for column in cohort.extra_categorical:
        source = raw[[c for c in raw.columns if f"nij_{c.lower()}" == column][0]]
        np.testing.assert_array_equal(releases[column].fillna("").to_numpy(dtype=object), source.to_numpy(dtype=object))


def test_loading_is_deterministic(cohort, nij_path):
    again = load_nij(nij_path)
    pd.testing.assert_frame_equal(cohort.releases, again.releases)
    pd.testing.assert_frame_equal(cohort.reoffences, again.reoffences)
    assert cohort.as_of == again.as_of


def test_an_unknown_band_is_refused(raw, tmp_path):
    broken = raw.head(50).copy()
    broken.loc[3, "Age_at_Release"] = "17 or younger"
    _write(broken, tmp_path / "broken.csv")
    with pytest.raises(ValueError, match="Age_at_Release"):
        load_nij(tmp_path / "broken.csv")


def test_a_file_without_the_needed_columns_is_refused(raw, tmp_path):
    _write(raw.head(50).drop(columns=["Prison_Years"]), tmp_path / "short.csv")
    with pytest.raises(ValueError, match="Prison_Years"):
        load_nij(tmp_path / "short.csv")


# ----------------------------------------------------------------------------- split


def test_split_is_fixed_disjoint_complete_and_about_70_30(cohort, nij_path):
    train, test = split_nij(cohort)
    train_again, test_again = split_nij(load_nij(nij_path))
    pd.testing.assert_series_equal(train, train_again)
    pd.testing.assert_series_equal(test, test_again)
    assert train.dtype == bool and test.dtype == bool
    assert train.index.equals(cohort.releases.index) and test.index.equals(cohort.releases.index)
    assert not (train & test).any()
    assert (train | test).all()
    assert 0.67 <= train.mean() <= 0.73
    dates = cohort.releases["release_date"]
    assert dates[train].max() < pd.Timestamp(NIJ_TEST_FROM) <= dates[test].min()


def test_split_keeps_the_base_rate(cohort):
    train, test = split_nij(cohort)
    year1 = cohort.outcomes["Recidivism_Arrest_Year1"]
    # A hash-placed split is a random one: the two parts' rates differ by sampling noise only.
    assert abs(year1[train].mean() - year1[test].mean()) < 0.03


# ----------------------------------------------------------------------------- where the file is


def test_default_path_honours_the_environment(tmp_path, monkeypatch):
    target = tmp_path / "elsewhere.csv"
    target.write_text("ID\n")
    monkeypatch.setenv("RISKMODEL_NIJ_PATH", str(target))
    assert default_nij_path() == target


def test_default_path_refuses_a_missing_environment_file(tmp_path, monkeypatch):
    monkeypatch.setenv("RISKMODEL_NIJ_PATH", str(tmp_path / "absent.csv"))
    with pytest.raises(FileNotFoundError, match="RISKMODEL_NIJ_PATH"):
        default_nij_path()


def test_default_path_looks_beside_the_working_directory(tmp_path, monkeypatch):
    shared = tmp_path / "shared" / "data" / "nij"
    shared.mkdir(parents=True)
    (shared / NIJ_FILE_NAME).write_text("ID\n")
    (tmp_path / "project").mkdir()
    monkeypatch.delenv("RISKMODEL_NIJ_PATH", raising=False)
    monkeypatch.chdir(tmp_path / "project")
    assert default_nij_path() == (shared / NIJ_FILE_NAME).resolve()


def test_default_path_says_how_to_fix_a_missing_file(tmp_path, monkeypatch):
    monkeypatch.delenv("RISKMODEL_NIJ_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(nij, "_REPO_ROOT", tmp_path / "repo")
    with pytest.raises(FileNotFoundError, match=re.escape(NIJ_FILE_NAME) + ".*RISKMODEL_NIJ_PATH"):
        default_nij_path()
