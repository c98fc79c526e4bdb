"""The NIJ Recidivism Forecasting Challenge file mapped onto data contract v1.

The file (``NIJ_s_Recidivism_Challenge_Training_Dataset.csv``: 18,028 people released
from Georgia prisons onto parole in 2013-2015, public domain) is the project's
real-data benchmark. It is read where it lies (``../shared/data/nij/``) and never
copied into the repository. :func:`load_nij` returns an :class:`NIJCohort`: the
``releases`` and ``reoffences`` tables, the file's own outcomes, the declared extra
features, an extract date ``as_of`` and the label settings that reproduce the file's
year-1 outcome.

Release-time columns only
-------------------------
Only the first 33 columns (``ID`` .. ``Condition_Other``) and the four outcome columns
are read at all (``usecols``). ``Violations_*``, ``Delinquency_Reports``,
``Program_*``, ``Residence_Changes``, ``DrugTests_*`` / ``Avg_Days_per_DrugTest``,
``Percent_Days_Employed``, ``Jobs_Per_Year`` and ``Employment_Exempt`` are measured over
the whole supervision period, so they leak the outcome (someone re-arrested in month 2
has two months of records) and are not known when the panel meets. They never reach
``releases``.

Mapping onto the contract
-------------------------
``release_id``, ``person_id``
    ``"NIJ" + ID`` and ``"NIJP" + ID``: one release per person.
``sex``
    ``Gender`` (``M``/``F``).
``age_at_release``
    Midpoint of the ``Age_at_Release`` band (``18-22`` -> 20, ..., ``43-47`` -> 45).
    The open band ``48 or older`` -> 52, the midpoint of an assumed 48-56 band (the
    bands are five years wide; most parolees over 48 are in their fifties). It falls in
    OGRS3's 50+ band.
``previous_sanctions``
    ``Prior_Conviction_Episodes_Felony + Prior_Conviction_Episodes_Misd``. Both are
    capped in the file (``3 or more``, ``4 or more``: the cap is used), they count
    conviction *episodes* (several convictions on one occasion count once) and there
    is no record of cautions, so the value is a **lower bound** (at most 7).
``previous_violent_sanctions``
    ``Prior_Conviction_Episodes_Viol`` (a flag: true -> 1, false -> 0), capped at
    ``previous_sanctions``: again a lower bound.
``previous_breaches``
    ``Prior_Revocations_Parole + Prior_Revocations_Probation +
    Prior_Conviction_Episodes_PPViolationCharges`` (three flags, so 0-3): licence
    recalls and breaches of community orders; a lower bound.
``previous_custodial_sentences``
    Blank (unknown). A parole revocation implies an earlier prison term, but its
    absence does not imply none, so any number would be false for most people.
``sentence_days``
    ``Prison_Years`` band midpoint x 365: ``Less than 1 year`` -> 183, ``1-2 years`` ->
    548, ``Greater than 2 to 3 years`` -> 913, ``More than 3 years`` -> 1460 (4 years).
    The file records time served in prison, not the sentence imposed, so this
    understates the contract's "sentence imposed".
``age_at_first_sanction``, ``age_at_index_conviction``
    Not in the file: blank. OGRS3 then uses ``age_at_release`` for the index
    conviction, and a missing age at first sanction makes OGRS3 unavailable for
    everyone with previous sanctions (it stays computable only for a first sanction,
    where the index conviction is the first). That is the correct behaviour, not a
    defect of the adapter: OGRS3 cannot be computed honestly from this file.
``index_offence``
    ``Prison_Offense`` mapped to an OGRS3 group: ``Violent/Non-Sex`` -> ``violence``;
    ``Violent/Sex`` -> ``sexual_not_against_child`` (the victim's age is not recorded;
    sexual offences against adults are the larger group); ``Property`` ->
    ``theft_non_motor`` (the file does not separate burglary, theft, fraud or damage;
    theft is the general acquisitive group); ``Drug`` -> ``drug_possession_supply``;
    ``Other`` and blank -> ``other``. The raw category is kept in
    ``nij_prison_offense``, so no information is lost to the mapping.
``needs_substance_misuse``
    ``Condition_MH_SA``: a parole condition, set at release, to attend mental-health
    **or** substance-abuse treatment. It is mapped to the drugs-and-alcohol pathway
    only (the file does not say which; substance-abuse conditions are by far the more
    common, and flagging two thirds of the cohort with a mental-health need would be
    implausible). It therefore over-flags substance misuse for people whose condition
    was for mental health. ``false`` -> False (no condition set).
``needs_employment``
    ``Education_Level == "Less than HS diploma"`` -> True (an education need);
    otherwise blank (unknown): a diploma does not show there is no employment need,
    and employment at release is not in the file.
``needs_accommodation``, ``needs_mental_health``, ``needs_finance``, ``needs_family``
    Blank (unknown).
``ethnicity``
    ``Race`` (``BLACK`` -> ``Black``, ``WHITE`` -> ``White``; blank -> ``Unknown``;
    anything else -> ``Other``). Audit only: ``Race`` appears nowhere else.

Extra features (declared, known at release)
-------------------------------------------
Numeric (:attr:`NIJCohort.extra_numeric`): ``nij_supervision_risk_score_first`` (1-10,
blank -> unknown), ``nij_dependents`` (``3 or more`` -> 3), ``nij_prison_years``
(ordinal 0-3 of the ``Prison_Years`` bands), the eight ``Prior_Arrest_Episodes_*``
columns as ``nij_prior_arrest_episodes_*`` (capped strings -> the cap; the DV and gun
flags -> 0/1) and ``nij_prior_revocations_parole`` / ``_probation`` (0/1).
Categorical (:attr:`NIJCohort.extra_categorical`): ``nij_residence_puma``,
``nij_gang_affiliated``, ``nij_supervision_level_first``, ``nij_education_level``,
``nij_prison_offense``, ``nij_condition_cog_ed``, ``nij_condition_other`` (raw text of
the file; blank -> unknown). ``nij_residence_puma`` is a place of residence (a Public
Use Microdata Area of ~100,000 people): a geographic feature of the kind HART was
criticised for, which a configuration may choose not to declare.

Dates (the file has none)
-------------------------
Every placement is a deterministic function of ``ID`` (a SplitMix64 hash with a fixed
salt), so the same file always gives the same tables:

* ``release_date`` = 2013-01-01 + ``hash(ID) mod 1095`` days: uniform over
  2013-01-01 .. 2015-12-31 (the README: released 2013-2015);
* one reoffence row per recorded arrest year: year ``y`` (``Recidivism_Arrest_Year{y}``
  true) -> ``offence_date`` = release + ``365 (y - 1) + 1 + hash'(ID) mod 365`` days,
  so year 1 -> day 1..365, year 2 -> 366..730, year 3 -> 731..1095. The file records
  only the *first* arrest year, so each person has at most one row;
* ``proven_date`` = ``offence_date`` and ``offence`` = ``other`` (the file gives neither
  a conviction date nor the type of the new offence).

**The outcome is re-arrest, not proven reoffending.** The adapter treats the arrest
date as the "proven" date. Arrest depends on policing intensity, which differs by
place and by group, so this outcome carries the bias ``domain.md`` warns of: read
fairness results on NIJ as results about re-arrest. Because every ``offence`` is
``other``, the ``harm`` target is 0 for everyone on this file (not meaningful), and
``frequency`` within a year equals ``reoffence`` (at most one arrest is placed).

Labels and ``as_of``
--------------------
With :attr:`NIJCohort.label_settings` (``window_days=365``, ``waiting_days=0``) the
contract's rule (``r < offence_date <= r + window_days`` and ``proven_date <= r +
window_days + waiting_days``) gives exactly ``Recidivism_Arrest_Year1`` for every row;
since ``proven_date == offence_date``, any ``waiting_days >= 0`` does (the contract's
default 183 included). ``window_days=730`` gives ``Year1 or Year2`` and ``1095`` gives
``Recidivism_Within_3years``. ``as_of`` = the last release + 1095 + 183 days: after every
placed arrest, and every release is eligible for windows up to 1095 days with waiting
periods up to 183 days.

The fixed split
---------------
The challenge had a fixed test set we do not have (its outcomes were never published
with the training file), so :func:`split_nij` uses a deterministic rule: **train =
release_date < NIJ_TEST_FROM (2015-02-07), test = the rest**. Release dates are placed
by a hash of ``ID``, so this is a seeded shuffle: 767 of the 1095 placement days are
before the cut (70.0% / 30.0% in expectation), and it also has the form of the
project's time split (train on earlier releases, test on later ones).

Examples
--------
>>> cohort = load_nij()                                   # doctest: +SKIP
>>> train, test = split_nij(cohort)                       # doctest: +SKIP
>>> cohort.releases.loc[train, "release_date"].max() < pd.Timestamp(NIJ_TEST_FROM)  # doctest: +SKIP
True
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel._constants import ETHNICITIES, NEEDS_COLUMNS, REOFFENCE_COLUMNS

__all__ = ["NIJ_FILE_NAME", "NIJ_TEST_FROM", "NIJCohort", "default_nij_path", "load_nij", "split_nij"]

NIJ_FILE_NAME = "NIJ_s_Recidivism_Challenge_Training_Dataset.csv"

_ENV_VAR = "RISKMODEL_NIJ_PATH"
_SHARED_DIR = Path("..") / "shared" / "data" / "nij"
#: nij.py -> adapters -> data -> riskmodel -> src -> repository root (src layout).
_REPO_ROOT = Path(__file__).resolve().parents[4]

_FIRST_RELEASE = date(2013, 1, 1)
_RELEASE_SPREAD_DAYS = 1095  # 2013-01-01 .. 2015-12-31
_TRAIN_DAYS = 767  # 767 / 1095 = 70.0% of the placement days

#: First release date of the fixed test part, 2015-02-07 (see :func:`split_nij`).
NIJ_TEST_FROM = _FIRST_RELEASE + timedelta(days=_TRAIN_DAYS)
_YEAR_DAYS = 365
_FOLLOW_UP_DAYS = 3 * _YEAR_DAYS
_AS_OF_MARGIN_DAYS = 183  # the contract's default waiting period
_RELEASE_SALT = 1
_ARREST_SALT = 2

#: The first 33 columns of the file: everything known at release.
_RELEASE_TIME_COLUMNS: tuple[str, ...] = (
    "ID",
    "Gender",
    "Race",
    "Age_at_Release",
    "Residence_PUMA",
    "Gang_Affiliated",
    "Supervision_Risk_Score_First",
    "Supervision_Level_First",
    "Education_Level",
    "Dependents",
    "Prison_Offense",
    "Prison_Years",
    "Prior_Arrest_Episodes_Felony",
    "Prior_Arrest_Episodes_Misd",
    "Prior_Arrest_Episodes_Violent",
    "Prior_Arrest_Episodes_Property",
    "Prior_Arrest_Episodes_Drug",
    "Prior_Arrest_Episodes_PPViolationCharges",
    "Prior_Arrest_Episodes_DVCharges",
    "Prior_Arrest_Episodes_GunCharges",
    "Prior_Conviction_Episodes_Felony",
    "Prior_Conviction_Episodes_Misd",
    "Prior_Conviction_Episodes_Viol",
    "Prior_Conviction_Episodes_Prop",
    "Prior_Conviction_Episodes_Drug",
    "Prior_Conviction_Episodes_PPViolationCharges",
    "Prior_Conviction_Episodes_DomesticViolenceCharges",
    "Prior_Conviction_Episodes_GunCharges",
    "Prior_Revocations_Parole",
    "Prior_Revocations_Probation",
    "Condition_MH_SA",
    "Condition_Cog_Ed",
    "Condition_Other",
)

_OUTCOME_COLUMNS: tuple[str, ...] = (
    "Recidivism_Arrest_Year1",
    "Recidivism_Arrest_Year2",
    "Recidivism_Arrest_Year3",
    "Recidivism_Within_3years",
)

_AGE_MIDPOINTS = {
    "18-22": 20.0,
    "23-27": 25.0,
    "28-32": 30.0,
    "33-37": 35.0,
    "38-42": 40.0,
    "43-47": 45.0,
    "48 or older": 52.0,
}

#: Prison_Years band -> (ordinal, midpoint in days).
_PRISON_YEARS = {
    "Less than 1 year": (0, 183),
    "1-2 years": (1, 548),
    "Greater than 2 to 3 years": (2, 913),
    "More than 3 years": (3, 1460),
}

_INDEX_OFFENCE = {
    "Violent/Non-Sex": "violence",
    "Violent/Sex": "sexual_not_against_child",
    "Property": "theft_non_motor",
    "Drug": "drug_possession_supply",
    "Other": "other",
    "": "other",
}

_EDUCATION_NEED = {
    "Less than HS diploma": True,
    "High School Diploma": pd.NA,
    "At least some college": pd.NA,
}

#: Extra numeric features: file column -> contract-side name.
_EXTRA_NUMERIC: dict[str, str] = {
    "Supervision_Risk_Score_First": "nij_supervision_risk_score_first",
    "Dependents": "nij_dependents",
    "Prison_Years": "nij_prison_years",
    "Prior_Arrest_Episodes_Felony": "nij_prior_arrest_episodes_felony",
    "Prior_Arrest_Episodes_Misd": "nij_prior_arrest_episodes_misd",
    "Prior_Arrest_Episodes_Violent": "nij_prior_arrest_episodes_violent",
    "Prior_Arrest_Episodes_Property": "nij_prior_arrest_episodes_property",
    "Prior_Arrest_Episodes_Drug": "nij_prior_arrest_episodes_drug",
    "Prior_Arrest_Episodes_PPViolationCharges": "nij_prior_arrest_episodes_pp_violation_charges",
    "Prior_Arrest_Episodes_DVCharges": "nij_prior_arrest_episodes_dv_charges",
    "Prior_Arrest_Episodes_GunCharges": "nij_prior_arrest_episodes_gun_charges",
    "Prior_Revocations_Parole": "nij_prior_revocations_parole",
    "Prior_Revocations_Probation": "nij_prior_revocations_probation",
}

#: Extra categorical features: file column -> contract-side name.
_EXTRA_CATEGORICAL: dict[str, str] = {
    "Residence_PUMA": "nij_residence_puma",
    "Gang_Affiliated": "nij_gang_affiliated",
    "Supervision_Level_First": "nij_supervision_level_first",
    "Education_Level": "nij_education_level",
    "Prison_Offense": "nij_prison_offense",
    "Condition_Cog_Ed": "nij_condition_cog_ed",
    "Condition_Other": "nij_condition_other",
}

_FLAGS = {"true": 1.0, "false": 0.0}
_COUNT_PATTERN = r"^(\d+)(?: or more)?$"

# SplitMix64 constants (Steele, Lea & Flood 2014).
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


@dataclass(frozen=True)
class NIJCohort:
    """The NIJ file as contract tables, with its own outcomes and settings.

    Attributes
    ----------
    releases : DataFrame
        Contract ``releases`` columns (integers as ``Int64``, needs as ``boolean``,
        blank = unknown), then the extra features in :attr:`extra_numeric` and
        :attr:`extra_categorical`.
    reoffences : DataFrame
        Contract ``reoffences`` columns: one placed re-arrest per recorded arrest year.
    outcomes : DataFrame
        ``release_id`` and the file's ``Recidivism_Arrest_Year1``, ``_Year2``,
        ``_Year3`` and ``Recidivism_Within_3years`` as ``bool``, in the order of
        ``releases``.
    extra_numeric, extra_categorical : tuple of str
        Names of the declared extra feature columns added to ``releases``.
    as_of : date
        Extract date: after every placed arrest; every release is eligible.
    label_settings : dict
        ``window_days``, ``harm_window_days`` and ``waiting_days`` with which the
        contract's label rule reproduces ``Recidivism_Arrest_Year1`` exactly.
    """

    releases: pd.DataFrame
    reoffences: pd.DataFrame
    outcomes: pd.DataFrame
    extra_numeric: tuple[str, ...]
    extra_categorical: tuple[str, ...]
    as_of: date
    label_settings: dict = field(default_factory=dict)


def default_nij_path() -> Path:
    """Where the NIJ file is: ``$RISKMODEL_NIJ_PATH``, else ``../shared/data/nij/``.

    The relative location is tried against the working directory first, then against
    the repository root (found from this module's location).

    Returns
    -------
    Path
        An existing file.

    Raises
    ------
    FileNotFoundError
        When ``RISKMODEL_NIJ_PATH`` names a missing file, or no candidate exists.
    """
    configured = os.environ.get(_ENV_VAR, "").strip()
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{_ENV_VAR} is set to {path}, but there is no such file")
        return path
    candidates = [Path.cwd() / _SHARED_DIR / NIJ_FILE_NAME, _REPO_ROOT / _SHARED_DIR / NIJ_FILE_NAME]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    tried = ", ".join(str(c.resolve()) for c in candidates)
    raise FileNotFoundError(
        f"NIJ Recidivism Challenge file {NIJ_FILE_NAME} not found (tried {tried}); set {_ENV_VAR} to its location"
    )


def _releases(
    raw: pd.DataFrame, *, release_id: pd.Series, person_id: pd.Series, release_date: pd.Series
) -> pd.DataFrame:
    """The contract's ``releases`` (and the declared extra features) from NIJ's release-time columns."""
    felony = _counts(raw, "Prior_Conviction_Episodes_Felony")
    misd = _counts(raw, "Prior_Conviction_Episodes_Misd")
    previous = felony + misd
    violent = np.minimum(_counts(raw, "Prior_Conviction_Episodes_Viol"), previous)
    breaches = (
        _counts(raw, "Prior_Revocations_Parole")
        + _counts(raw, "Prior_Revocations_Probation")
        + _counts(raw, "Prior_Conviction_Episodes_PPViolationCharges")
    )
    prison = _lookup(raw, "Prison_Years", _PRISON_YEARS)

    releases = pd.DataFrame(
        {
            "release_id": release_id.astype(object),
            "person_id": person_id.astype(object),
            "release_date": release_date,
            "sex": _lookup(raw, "Gender", {"M": "M", "F": "F"}).astype(object),
            "age_at_release": _lookup(raw, "Age_at_Release", _AGE_MIDPOINTS).astype(float),
            "previous_sanctions": _integers(previous),
            "index_offence": _lookup(raw, "Prison_Offense", _INDEX_OFFENCE).astype(object),
            "age_at_first_sanction": np.nan,
            "age_at_index_conviction": np.nan,
            "sentence_days": _integers(prison.map(lambda v: v[1])),
            "previous_custodial_sentences": pd.array([pd.NA] * len(raw), dtype="Int64"),
            "previous_violent_sanctions": _integers(violent),
            "previous_breaches": _integers(breaches),
        },
        index=raw.index,
    )
    for column in NEEDS_COLUMNS:
        releases[column] = pd.array([pd.NA] * len(raw), dtype="boolean")
    releases["needs_substance_misuse"] = pd.array(_counts(raw, "Condition_MH_SA") == 1.0, dtype="boolean")
    releases["needs_employment"] = pd.array(_lookup(raw, "Education_Level", _EDUCATION_NEED), dtype="boolean")
    releases["ethnicity"] = _ethnicity(raw["Race"])

    for source, name in _EXTRA_NUMERIC.items():
        if source == "Prison_Years":
            releases[name] = prison.map(lambda v: v[0]).astype(float)
        else:
            releases[name] = _counts(raw, source, blank_ok=True)
    for source, name in _EXTRA_CATEGORICAL.items():
        releases[name] = raw[source].where(raw[source] != "", np.nan).astype(object)
    releases = releases.reset_index(drop=True)
    return releases


def load_nij(path: Path | str | None = None) -> NIJCohort:
    """Read the NIJ file and map it onto data contract v1 (see the module docstring).

    Parameters
    ----------
    path : path, optional
        The CSV; :func:`default_nij_path` when omitted.

    Returns
    -------
    NIJCohort

    Raises
    ------
    ValueError
        When a needed column is absent, ``ID`` is not a unique positive integer, or a
        column holds a value outside the file's known vocabulary.
    """
    path = Path(path) if path is not None else default_nij_path()
    needed = _RELEASE_TIME_COLUMNS + _OUTCOME_COLUMNS
    header = pd.read_csv(path, nrows=0).columns
    missing = [c for c in needed if c not in header]
    if missing:
        raise ValueError(f"{path}: not the NIJ Recidivism Challenge file; columns missing: {missing}")
    # Only release-time and outcome columns are read: supervision-period columns never
    # enter memory, so they cannot leak into a feature.
    raw = pd.read_csv(path, usecols=list(needed), dtype=str, keep_default_na=False)
    raw = raw.apply(lambda s: s.str.strip())

    ids = _ids(raw["ID"])
    id_text = pd.Series(ids.astype(str), index=raw.index)
    release_id = "NIJ" + id_text
    person_id = "NIJP" + id_text
    release_date = pd.Timestamp(_FIRST_RELEASE) + pd.to_timedelta(
        (_mix(ids, _RELEASE_SALT) % np.uint64(_RELEASE_SPREAD_DAYS)).astype(np.int64), unit="D"
    )
    release_date = pd.Series(release_date, index=raw.index)

    releases = _releases(raw, release_id=release_id, person_id=person_id, release_date=release_date)

    outcomes = pd.DataFrame({"release_id": release_id.astype(object)})
    for column in _OUTCOME_COLUMNS:
        outcomes[column] = _counts(raw, column) == 1.0
    outcomes = outcomes.reset_index(drop=True)

    reoffences = _place_arrests(ids, person_id.to_numpy(dtype=object), releases["release_date"], outcomes)
    as_of = (releases["release_date"].max() + pd.Timedelta(days=_FOLLOW_UP_DAYS + _AS_OF_MARGIN_DAYS)).date()
    return NIJCohort(
        releases=releases,
        reoffences=reoffences,
        outcomes=outcomes,
        extra_numeric=tuple(_EXTRA_NUMERIC.values()),
        extra_categorical=tuple(_EXTRA_CATEGORICAL.values()),
        as_of=as_of,
        label_settings={"window_days": _YEAR_DAYS, "harm_window_days": 2 * _YEAR_DAYS, "waiting_days": 0},
    )


def split_nij(cohort: NIJCohort) -> tuple[pd.Series, pd.Series]:
    """The fixed train/test split of the NIJ benchmark.

    ``train`` = ``release_date < NIJ_TEST_FROM`` (2015-02-07), ``test`` = the rest.
    Release dates are placed by a hash of ``ID``, so this is a seeded 70/30 shuffle
    that also reads as a time split (see the module docstring).

    Parameters
    ----------
    cohort : NIJCohort

    Returns
    -------
    train, test : Series of bool
        Disjoint masks over ``cohort.releases`` (same index) that cover every row.
    """
    dates = cohort.releases["release_date"]
    train = (dates < pd.Timestamp(NIJ_TEST_FROM)).rename("train")
    return train, (~train).rename("test")


# ----------------------------------------------------------------------------- helpers


def _mix(ids: np.ndarray, salt: int) -> np.ndarray:
    """SplitMix64 of ``ID`` and a salt: a well-spread, platform-independent uint64."""
    x = ids.astype(np.uint64) + np.full(len(ids), salt, dtype=np.uint64) * _GOLDEN
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX_1
    x = (x ^ (x >> np.uint64(27))) * _MIX_2
    return x ^ (x >> np.uint64(31))


def _ids(column: pd.Series) -> np.ndarray:
    numbers = pd.to_numeric(column, errors="coerce")
    bad = numbers.isna() | (numbers != np.floor(numbers)) | (numbers < 1)
    if bad.any():
        raise ValueError(f"ID must be a positive integer; bad values: {sorted(column[bad].unique())[:5]}")
    if numbers.duplicated().any():
        raise ValueError(f"ID must be unique; repeated: {sorted(numbers[numbers.duplicated()].unique())[:5]}")
    return numbers.to_numpy(dtype=np.int64)


def _unexpected(raw: pd.DataFrame, column: str, bad: pd.Series) -> ValueError:
    values = sorted(raw.loc[bad, column].unique())[:5]
    return ValueError(f"{column}: unexpected values {values} (rows {raw.index[bad][:5].tolist()})")


def _lookup(raw: pd.DataFrame, column: str, mapping: dict) -> pd.Series:
    """Map every value of ``column`` through ``mapping``; any other value is an error."""
    bad = ~raw[column].isin(list(mapping))
    if bad.any():
        raise _unexpected(raw, column, bad)
    return raw[column].map(mapping)


def _counts(raw: pd.DataFrame, column: str, *, blank_ok: bool = False) -> np.ndarray:
    """``"3"`` -> 3, ``"3 or more"`` -> 3 (the cap), ``true``/``false`` -> 1/0, blank -> NaN."""
    text = raw[column]
    flags = text.str.lower().map(_FLAGS)
    numbers = pd.to_numeric(text.str.extract(_COUNT_PATTERN, expand=False), errors="coerce")
    out = flags.fillna(numbers)
    bad = out.isna() & ((text != "") | (not blank_ok))
    if bad.any():
        raise _unexpected(raw, column, bad)
    return out.to_numpy(dtype=float)


def _integers(values: np.ndarray | pd.Series) -> pd.arrays.IntegerArray:
    return pd.array(np.asarray(values, dtype=float), dtype="Int64")


def _ethnicity(race: pd.Series) -> np.ndarray:
    lookup = {e.upper(): e for e in ETHNICITIES}
    mapped = race.str.upper().map(lookup)
    mapped = mapped.where(race != "", "Unknown").fillna("Other")
    return mapped.to_numpy(dtype=object)


def _place_arrests(
    ids: np.ndarray, person_id: np.ndarray, release_date: pd.Series, outcomes: pd.DataFrame
) -> pd.DataFrame:
    """One reoffence per recorded arrest year, on a day of that year fixed by ``ID``."""
    day_in_year = (_mix(ids, _ARREST_SALT) % np.uint64(_YEAR_DAYS)).astype(np.int64) + 1
    parts = []
    for year in (1, 2, 3):
        arrested = outcomes[f"Recidivism_Arrest_Year{year}"].to_numpy(dtype=bool)
        offset = pd.to_timedelta(_YEAR_DAYS * (year - 1) + day_in_year[arrested], unit="D")
        offence_date = release_date.to_numpy()[arrested] + offset.to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    "row": np.flatnonzero(arrested),
                    "person_id": person_id[arrested],
                    "offence_date": offence_date,
                    "proven_date": offence_date,
                    "offence": "other",
                }
            )
        )
    placed = pd.concat(parts, ignore_index=True).sort_values("row", kind="stable")
    return placed.loc[:, list(REOFFENCE_COLUMNS)].reset_index(drop=True)
