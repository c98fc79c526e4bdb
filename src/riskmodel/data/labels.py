"""Outcome labels exactly as data contract v1 defines them.

For a release on day ``r``:

* ``reoffence`` = 1 when any reoffence of the person has ``r < offence_date <= r + W``
  and ``proven_date <= r + W + P`` (``W`` = ``window_days``, ``P`` = ``waiting_days``);
* ``frequency`` = the number of such reoffences;
* ``harm`` = 1 when any reoffence in a harm group has ``r < offence_date <= r + H`` and
  ``proven_date <= r + H + P`` (``H`` = ``harm_window_days``).

A release is eligible for ``reoffence``/``frequency`` when ``r + W + P <= as_of`` and for
``harm`` when ``r + H + P <= as_of``. An ineligible release has an unknown outcome
(``<NA>``), never 0.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from riskmodel._constants import HARM_GROUPS, OFFENCE_GROUPS

__all__ = ["LabelConfig", "derive_labels", "check_as_of", "LABEL_COLUMNS", "AS_OF_SLACK_DAYS"]

LABEL_COLUMNS = ("release_id", "reoffence", "frequency", "harm")

#: How far ``as_of`` may lie after the latest date in the tables (the data contract).
AS_OF_SLACK_DAYS = 31


def check_as_of(releases: pd.DataFrame, reoffences: pd.DataFrame, *, as_of: date | str | pd.Timestamp) -> None:
    """Refuse an ``as_of`` later than the extract could be (the data contract's rule).

    ``as_of`` is the day the tables were extracted. More than :data:`AS_OF_SLACK_DAYS`
    after the latest release, offence or proven date in either table, every window past
    the extract would count reoffending that was never recorded as none.

    Raises
    ------
    ValueError
        Naming the latest date found and the latest ``as_of`` it allows.

    Examples
    --------
    >>> releases = pd.DataFrame({"release_date": pd.to_datetime(["2024-01-10"])})
    >>> reoffences = pd.DataFrame(
    ...     {"offence_date": pd.to_datetime(["2024-03-01"]), "proven_date": pd.to_datetime(["2024-05-01"])}
    ... )
    >>> check_as_of(releases, reoffences, as_of="2024-05-20")
    >>> check_as_of(releases, reoffences, as_of="2030-01-01")
    Traceback (most recent call last):
    ...
    ValueError: as_of 2030-01-01 is more than 31 days after the latest date in the tables (2024-05-01, a ...
    """
    found = [
        (pd.Timestamp(table[column].max()), column)
        for table, column in ((releases, "release_date"), (reoffences, "offence_date"), (reoffences, "proven_date"))
        if column in table and len(table) and pd.notna(table[column].max())
    ]
    if not found:
        return
    latest, column = max(found)
    allowed = latest + pd.Timedelta(days=AS_OF_SLACK_DAYS)
    if pd.Timestamp(as_of) > allowed:
        raise ValueError(
            f"as_of {pd.Timestamp(as_of).date()} is more than {AS_OF_SLACK_DAYS} days after the latest date in"
            f" the tables ({latest.date()}, a {column}): as_of is the extract date, at most {allowed.date()}"
            " for these tables"
        )


class LabelConfig(BaseModel):
    """Windows, waiting period and harm groups of the targets (contract defaults).

    A pydantic model (the ``labels`` section of
    :class:`riskmodel.modelling.config.TrainConfig`): an unknown setting, a window below one
    day or a harm group that is not an offence group is refused with its name.

    Examples
    --------
    >>> LabelConfig().follow_up_days
    548
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_days: int = Field(default=365, ge=1)
    harm_window_days: int = Field(default=730, ge=1)
    waiting_days: int = Field(default=183, ge=0)
    harm_groups: tuple[str, ...] = HARM_GROUPS

    @field_validator("window_days", "harm_window_days", "waiting_days", mode="before")
    @classmethod
    def _whole_days(cls, value: object) -> object:
        # pydantic reads true as 1 day; in a configuration it is a mistake
        if isinstance(value, bool):
            raise ValueError(f"expected a number of days, got {value!r}")
        return value

    @field_validator("harm_groups")
    @classmethod
    def _known_groups(cls, groups: tuple[str, ...]) -> tuple[str, ...]:
        # A misspelt group would silently make every harm label 0.
        if not groups:
            raise ValueError("must be a non-empty list of offence groups")
        unknown = sorted(set(groups) - set(OFFENCE_GROUPS))
        if unknown:
            raise ValueError(f"{unknown} are not OGRS3 offence groups")
        return groups

    @property
    def follow_up_days(self) -> int:
        """Days after release until the reoffence outcome is known."""
        return self.window_days + self.waiting_days

    @property
    def harm_follow_up_days(self) -> int:
        """Days after release until the harm outcome is known."""
        return self.harm_window_days + self.waiting_days


def _days(values: pd.Series) -> np.ndarray:
    """Whole calendar days since the epoch."""
    return pd.to_datetime(values).to_numpy(dtype="datetime64[D]").astype(np.int64)


def derive_labels(
    releases: pd.DataFrame,
    reoffences: pd.DataFrame,
    *,
    as_of: date | str | pd.Timestamp,
    config: LabelConfig | None = None,
) -> pd.DataFrame:
    """Derive ``reoffence``, ``frequency`` and ``harm`` for every release.

    Parameters
    ----------
    releases : DataFrame
        At least ``release_id``, ``person_id``, ``release_date``.
    reoffences : DataFrame
        ``person_id``, ``offence_date``, ``proven_date``, ``offence``.
    as_of : date
        The extract date: outcomes whose follow-up ends after it are unknown.
    config : LabelConfig, optional
        Windows and harm groups; the contract's defaults when omitted.

    Returns
    -------
    DataFrame
        ``release_id, reoffence, frequency, harm`` in the order of ``releases``, as
        nullable ``Int64`` (``<NA>`` where ineligible).

    Examples
    --------
    >>> rel = pd.DataFrame({"release_id": ["a"], "person_id": ["p"],
    ...                     "release_date": pd.to_datetime(["2020-01-01"])})
    >>> off = pd.DataFrame({"person_id": ["p"], "offence_date": pd.to_datetime(["2020-03-01"]),
    ...                     "proven_date": pd.to_datetime(["2020-05-01"]), "offence": ["robbery"]})
    >>> row = derive_labels(rel, off, as_of="2023-01-01").iloc[0]
    >>> row["release_id"], int(row["reoffence"]), int(row["frequency"]), int(row["harm"])
    ('a', 1, 1, 1)
    """
    config = config or LabelConfig()
    as_of_day = int(np.datetime64(pd.Timestamp(as_of).date(), "D").astype(np.int64))
    r = _days(releases["release_date"])
    n = len(releases)

    pairs = pd.DataFrame({"row": np.arange(n), "person_id": releases["person_id"].to_numpy(), "r": r})
    offences = pd.DataFrame(
        {
            "person_id": reoffences["person_id"].to_numpy(),
            "offence": _days(reoffences["offence_date"]),
            "proven": _days(reoffences["proven_date"]),
            "harmful": reoffences["offence"].isin(config.harm_groups).to_numpy(),
        }
    )
    joined = pairs.merge(offences, on="person_id", how="inner")
    after = joined["offence"] - joined["r"]
    proven_after = joined["proven"] - joined["r"]
    counts = (after > 0) & (after <= config.window_days) & (proven_after <= config.follow_up_days)
    harmful = (
        joined["harmful"]
        & (after > 0)
        & (after <= config.harm_window_days)
        & (proven_after <= config.harm_follow_up_days)
    )
    frequency = np.bincount(joined["row"].to_numpy(), weights=counts.to_numpy(), minlength=n)
    harm_count = np.bincount(joined["row"].to_numpy(), weights=harmful.to_numpy(), minlength=n)

    eligible = r + config.follow_up_days <= as_of_day
    harm_eligible = r + config.harm_follow_up_days <= as_of_day
    out = pd.DataFrame({"release_id": releases["release_id"].to_numpy()})
    out["reoffence"] = pd.array(np.where(eligible, frequency > 0, 0).astype(int), dtype="Int64")
    out["frequency"] = pd.array(frequency.astype(int), dtype="Int64")
    out["harm"] = pd.array((harm_count > 0).astype(int), dtype="Int64")
    out.loc[~eligible, ["reoffence", "frequency"]] = pd.NA
    out.loc[~harm_eligible, "harm"] = pd.NA
    return out
