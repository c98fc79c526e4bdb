"""Labels: every edge of the contract's target definitions.

A release on day ``r``; ``reoffence``/``frequency`` count offences with
``r < offence_date <= r + 365`` proven by ``r + 365 + 183``, eligible when
``r + 548 <= as_of``; ``harm`` the same in harm groups with 730 days, eligible when
``r + 913 <= as_of``.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from riskmodel.data.labels import LABEL_COLUMNS, LabelConfig, derive_labels

R = pd.Timestamp("2020-01-01")
LATE = R + pd.Timedelta(days=5000)  # every window long closed


def day(n: int) -> pd.Timestamp:
    return R + pd.Timedelta(days=n)


def releases(*rows: tuple[str, str, pd.Timestamp]) -> pd.DataFrame:
    rows = rows or (("r1", "p1", R),)
    return pd.DataFrame(
        {
            "release_id": [r[0] for r in rows],
            "person_id": [r[1] for r in rows],
            "release_date": pd.to_datetime([r[2] for r in rows]),
        }
    )


def reoffences(*rows: tuple[str, pd.Timestamp, pd.Timestamp, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "person_id": pd.Series([r[0] for r in rows], dtype=object),
            "offence_date": pd.to_datetime(pd.Series([r[1] for r in rows], dtype="datetime64[ns]")),
            "proven_date": pd.to_datetime(pd.Series([r[2] for r in rows], dtype="datetime64[ns]")),
            "offence": pd.Series([r[3] for r in rows], dtype=object),
        }
    )


def one(offence_day: int, proven_day: int, offence: str = "theft_non_motor", *, as_of=LATE, config=None):
    """Labels of release r1 (p1, day 0) with one reoffence of p1."""
    table = derive_labels(
        releases(), reoffences(("p1", day(offence_day), day(proven_day), offence)), as_of=as_of, config=config
    )
    return table.iloc[0]


# --------------------------------------------------------------------------- reoffence window


@pytest.mark.parametrize(
    ("offence_day", "proven_day", "expected"),
    [
        (365, 365, 1),  # last day of the window
        (366, 366, 0),  # first day after it
        (1, 1, 1),  # the day after release
        (0, 0, 0),  # on the release day: not after release
        (-30, 10, 0),  # before release, proven after
        (100, 365 + 183, 1),  # proven on the last day of the waiting period
        (100, 365 + 184, 0),  # proven the day after
        (365, 365 + 183, 1),  # both edges at once
    ],
)
def test_reoffence_window_and_waiting_period_edges(offence_day, proven_day, expected):
    row = one(offence_day, proven_day)
    assert row["reoffence"] == expected
    assert row["frequency"] == expected


def test_frequency_counts_every_reoffence_in_the_window():
    off = reoffences(
        ("p1", day(10), day(20), "theft_non_motor"),
        ("p1", day(10), day(30), "theft_non_motor"),  # same day, separate offence
        ("p1", day(200), day(300), "burglary_other"),
        ("p1", day(400), day(420), "burglary_other"),  # outside the window
        ("p1", day(300), day(600), "burglary_other"),  # proven too late
    )
    row = derive_labels(releases(), off, as_of=LATE).iloc[0]
    assert row["frequency"] == 3
    assert row["reoffence"] == 1


# --------------------------------------------------------------------------- harm


@pytest.mark.parametrize("group", ["violence", "robbery", "sexual_against_child", "sexual_not_against_child"])
def test_each_harm_group_counts_for_harm(group):
    row = one(500, 600, group)  # inside the 730-day harm window, outside the 365-day one
    assert row["harm"] == 1
    assert row["reoffence"] == 0


@pytest.mark.parametrize("group", ["theft_non_motor", "burglary_domestic", "public_order", "criminal_damage"])
def test_a_non_harm_group_does_not_count_for_harm(group):
    row = one(10, 20, group)
    assert row["harm"] == 0
    assert row["reoffence"] == 1


@pytest.mark.parametrize(
    ("offence_day", "proven_day", "expected"),
    [
        (730, 730, 1),
        (731, 731, 0),
        (0, 5, 0),
        (400, 730 + 183, 1),  # the harm waiting period ends at r + 913
        (400, 730 + 184, 0),
    ],
)
def test_harm_window_and_its_waiting_period_edges(offence_day, proven_day, expected):
    assert one(offence_day, proven_day, "violence")["harm"] == expected


# --------------------------------------------------------------------------- people and releases


def test_each_release_counts_only_its_own_window():
    second = pd.Timestamp("2021-06-01")
    rel = releases(("r1", "p1", R), ("r2", "p1", second), ("r3", "p2", R))
    off = reoffences(
        ("p1", pd.Timestamp("2020-03-01"), pd.Timestamp("2020-04-01"), "theft_non_motor"),  # r1 only
        ("p1", pd.Timestamp("2021-01-20"), pd.Timestamp("2021-02-01"), "theft_non_motor"),  # neither window
        ("p1", pd.Timestamp("2021-07-01"), pd.Timestamp("2021-08-01"), "burglary_other"),  # r2 only
        ("p1", pd.Timestamp("2021-09-01"), pd.Timestamp("2021-10-01"), "robbery"),  # r2; harm of r1 too
    )

    table = derive_labels(rel, off, as_of="2030-01-01").set_index("release_id")

    # r1: window 2020-01-02..2020-12-31 holds one; harm window to 2021-12-31 holds the robbery
    assert table.loc["r1", ["reoffence", "frequency", "harm"]].tolist() == [1, 1, 1]
    # r2: window 2021-06-02..2022-06-01 holds two, one a robbery
    assert table.loc["r2", ["reoffence", "frequency", "harm"]].tolist() == [1, 2, 1]
    # r3: another person's reoffences never count
    assert table.loc["r3", ["reoffence", "frequency", "harm"]].tolist() == [0, 0, 0]


def test_people_without_reoffences_get_zero_not_na():
    rel = releases(("r1", "p1", R), ("r2", "p2", R))
    off = reoffences(("p1", day(5), day(6), "violence"))

    table = derive_labels(rel, off, as_of=LATE)

    assert table.loc[1, ["reoffence", "frequency", "harm"]].tolist() == [0, 0, 0]
    assert not table[["reoffence", "frequency", "harm"]].isna().any().any()


def test_an_empty_reoffences_table_gives_zeros():
    table = derive_labels(releases(("r1", "p1", R), ("r2", "p2", R)), reoffences(), as_of=LATE)
    assert table[["reoffence", "frequency", "harm"]].to_numpy().tolist() == [[0, 0, 0], [0, 0, 0]]


def test_output_keeps_release_order_and_nullable_integers():
    rel = releases(("z", "p1", R), ("a", "p2", R), ("m", "p3", R))
    table = derive_labels(rel, reoffences(), as_of=LATE)
    assert list(table.columns) == list(LABEL_COLUMNS)
    assert table["release_id"].tolist() == ["z", "a", "m"]
    for column in ("reoffence", "frequency", "harm"):
        assert str(table[column].dtype) == "Int64"


# --------------------------------------------------------------------------- eligibility


@pytest.mark.parametrize(
    ("as_of_day", "reoffence_known", "harm_known"),
    [
        (365 + 183, True, False),  # r + 548: eligible
        (365 + 182, False, False),  # a day short: censored
        (730 + 183, True, True),  # r + 913: harm eligible
        (730 + 182, True, False),
    ],
)
def test_eligibility_by_as_of(as_of_day, reoffence_known, harm_known):
    # a reoffence already seen still leaves a censored outcome unknown, never 0 or 1
    row = one(10, 20, "violence", as_of=day(as_of_day))
    if reoffence_known:
        assert row["reoffence"] == 1 and row["frequency"] == 1
    else:
        assert pd.isna(row["reoffence"]) and pd.isna(row["frequency"])
    if harm_known:
        assert row["harm"] == 1
    else:
        assert pd.isna(row["harm"])


def test_censored_release_without_reoffence_is_na_not_zero():
    rel = releases(("old", "p1", R), ("new", "p2", day(400)))
    table = derive_labels(rel, reoffences(), as_of=day(600)).set_index("release_id")
    assert table.loc["old", "reoffence"] == 0
    assert pd.isna(table.loc["new", "reoffence"]) and pd.isna(table.loc["new", "frequency"])
    assert pd.isna(table.loc["old", "harm"]) and pd.isna(table.loc["new", "harm"])


@pytest.mark.parametrize("as_of", [day(548).date(), day(548).date().isoformat(), day(548), dt.datetime(2021, 7, 2)])
def test_as_of_may_be_a_date_a_string_or_a_timestamp(as_of):
    assert day(548) == pd.Timestamp("2021-07-02")
    assert one(10, 20, as_of=as_of)["reoffence"] == 1


# --------------------------------------------------------------------------- configuration


def test_custom_window_and_waiting_period():
    config = LabelConfig(window_days=30, waiting_days=10)
    assert one(30, 40, config=config)["reoffence"] == 1
    assert one(31, 31, config=config)["reoffence"] == 0
    assert one(20, 41, config=config)["reoffence"] == 0
    assert one(20, 25, config=config, as_of=day(40))["reoffence"] == 1
    assert pd.isna(one(20, 25, config=config, as_of=day(39))["reoffence"])


def test_custom_harm_window_and_groups():
    config = LabelConfig(harm_window_days=100, waiting_days=0, harm_groups=("burglary_domestic",))
    assert one(100, 100, "burglary_domestic", config=config)["harm"] == 1
    assert one(101, 101, "burglary_domestic", config=config)["harm"] == 0
    assert one(50, 50, "violence", config=config)["harm"] == 0
    assert one(50, 50, "burglary_domestic", config=config, as_of=day(100))["harm"] == 1
    assert pd.isna(one(50, 50, "burglary_domestic", config=config, as_of=day(99))["harm"])


def test_default_config_is_the_contract():
    config = LabelConfig()
    assert (config.window_days, config.harm_window_days, config.waiting_days) == (365, 730, 183)
    assert set(config.harm_groups) == {"violence", "robbery", "sexual_against_child", "sexual_not_against_child"}
    assert (config.follow_up_days, config.harm_follow_up_days) == (548, 913)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window_days": 0},
        {"window_days": -365},
        {"harm_window_days": 0},
        {"waiting_days": -1},
        {"harm_groups": ("violent",)},  # misspelt: every harm label would be 0
        {"harm_groups": "violence"},  # a string, not a list of groups
        {"harm_groups": ()},
    ],
)
def test_invalid_label_config_raises(kwargs):
    with pytest.raises(ValueError):
        LabelConfig(**kwargs)


def test_zero_waiting_days_is_allowed():
    assert LabelConfig(waiting_days=0).follow_up_days == 365
