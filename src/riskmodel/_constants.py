"""Fixed vocabulary of data contract v1 (see ``shared/docs/data-contract.md``).

Kept apart from :mod:`riskmodel.data.contract` so that light modules (OGRS3, labels, the
synthetic generator) can import the vocabulary without the validation machinery.
"""

from __future__ import annotations

#: The 20 OGRS3 offence groups, in the order of ``domain.md``'s table, with their weight.
OFFENCE_WEIGHTS: dict[str, float] = {
    "violence": 0.0,
    "robbery": -0.6348,
    "public_order": 0.1819,
    "sexual_against_child": -0.6534,
    "sexual_not_against_child": 0.0328,
    "soliciting_prostitution": 0.7606,
    "burglary_domestic": -0.1239,
    "burglary_other": 0.2406,
    "criminal_damage": 0.205,
    "drug_possession_supply": 0.0772,
    "theft_non_motor": 0.6612,
    "handling_stolen_goods": 0.3519,
    "fraud_forgery": 0.1599,
    "absconding_bail": 0.7334,
    "taking_driving_away": 0.3801,
    "theft_from_vehicles": 0.4272,
    "other_motoring": 0.2622,
    "drink_driving": -0.1214,
    "drug_import_export_production": -0.7956,
    "other": -0.0607,
}

OFFENCE_GROUPS: tuple[str, ...] = tuple(OFFENCE_WEIGHTS)

#: Default harm groups (violent or sexual), configurable in :class:`riskmodel.data.labels.LabelConfig`.
HARM_GROUPS: tuple[str, ...] = (
    "violence",
    "robbery",
    "sexual_against_child",
    "sexual_not_against_child",
)

SEXES: tuple[str, ...] = ("M", "F")

ETHNICITIES: tuple[str, ...] = ("White", "Black", "Asian", "Mixed", "Other", "Unknown")

#: Resettlement pathway of each needs flag, in the panel's words.
NEEDS_PATHWAYS: dict[str, str] = {
    "needs_accommodation": "accommodation",
    "needs_employment": "education, training and employment",
    "needs_mental_health": "health, including mental health",
    "needs_substance_misuse": "drugs and alcohol",
    "needs_finance": "finance, benefit and debt",
    "needs_family": "children and families",
}

NEEDS_COLUMNS: tuple[str, ...] = tuple(NEEDS_PATHWAYS)

REQUIRED_RELEASE_COLUMNS: tuple[str, ...] = (
    "release_id",
    "person_id",
    "release_date",
    "sex",
    "age_at_release",
    "previous_sanctions",
    "index_offence",
)

OPTIONAL_NUMBER_COLUMNS: tuple[str, ...] = ("age_at_first_sanction", "age_at_index_conviction")

OPTIONAL_INTEGER_COLUMNS: tuple[str, ...] = (
    "sentence_days",
    "previous_custodial_sentences",
    "previous_violent_sanctions",
    "previous_breaches",
)

OPTIONAL_RELEASE_COLUMNS: tuple[str, ...] = (
    OPTIONAL_NUMBER_COLUMNS + OPTIONAL_INTEGER_COLUMNS + NEEDS_COLUMNS + ("ethnicity",)
)

RELEASE_COLUMNS: tuple[str, ...] = REQUIRED_RELEASE_COLUMNS + OPTIONAL_RELEASE_COLUMNS

REOFFENCE_COLUMNS: tuple[str, ...] = ("person_id", "offence_date", "proven_date", "offence")

#: What each kind of direct identifier is, in words (the refusal says why).
DIRECT_IDENTIFIER_KINDS: dict[str, tuple[str, ...]] = {
    "a name": ("name", "forename", "firstname", "lastname", "surname", "fullname", "alias"),
    "a date of birth": ("dateofbirth", "dob", "birthdate"),
    "contact details": ("address", "postcode", "email", "phone", "mobile", "telephone"),
    "an official number": (
        "pnc",
        "cro",
        "nomis",
        "prisonnumber",
        "bookingnumber",
        "crn",
        "nhs",
        "ninumber",
        "nino",
        "nationalinsurance",
        "passport",
        "drivinglicence",
    ),
}

#: Direct identifiers' names, normalised (lower case, no spaces, dots, hyphens or
#: underscores): a column or JSON field whose normalised name equals or contains one is
#: refused (data contract v1, "Direct identifiers are refused").
DIRECT_IDENTIFIERS: frozenset[str] = frozenset(name for names in DIRECT_IDENTIFIER_KINDS.values() for name in names)

TRUTH_COLUMNS: tuple[str, ...] = (
    "release_id",
    "reoffence_probability",
    "harm_probability",
    "frequency_expected",
)
