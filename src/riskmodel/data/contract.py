"""Data contract v1: reading and validating ``releases`` and ``reoffences``.

Every input row is either accepted or reported: a rejected row appears in the rejects
table once per broken rule, with its line, column, value and reason, and the
reconciliation line says ``rows read = rows accepted + rows rejected``.
A problem with the file as a whole (a required column absent, a direct identifier,
an unreadable file) raises :class:`ContractError` with one clear message.

Accepted rows are typed for the models: ids and categories as strings, dates as
``datetime64[ns]``, every number and needs flag as ``float64`` with ``NaN`` for unknown
(a needs flag is 1.0, 0.0 or NaN).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel._constants import (
    DIRECT_IDENTIFIERS,
    ETHNICITIES,
    NEEDS_COLUMNS,
    OFFENCE_GROUPS,
    OPTIONAL_INTEGER_COLUMNS,
    OPTIONAL_NUMBER_COLUMNS,
    RELEASE_COLUMNS,
    REOFFENCE_COLUMNS,
    REQUIRED_RELEASE_COLUMNS,
    SEXES,
)

__all__ = [
    "ContractError",
    "ValidatedTable",
    "Cohort",
    "read_table",
    "iter_table",
    "find_table",
    "validate_releases",
    "validate_reoffences",
    "load_cohort",
    "REJECT_COLUMNS",
]

REJECT_COLUMNS = ("table", "line", "release_id", "column", "value", "reason")

_TRUE = frozenset({"true", "yes", "1", "1.0"})
_FALSE = frozenset({"false", "no", "0", "0.0"})
_PANDAS_INDEX = re.compile(r"__index_level_\d+__")
#: ``YYYY-MM-DD``, optionally with a time and offset; the calendar day is the date part.
_ISO_DATE = r"^(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$"


class ContractError(ValueError):
    """The file as a whole cannot be used; the message names the column and the rule."""


@dataclass(frozen=True)
class ValidatedTable:
    """Accepted rows, typed, and every rejected row with its reasons."""

    table: str
    data: pd.DataFrame
    rejects: pd.DataFrame
    rows_read: int
    warnings: tuple[str, ...] = ()

    @property
    def rows_rejected(self) -> int:
        """Number of distinct rejected rows (a row may break several rules)."""
        return int(self.rejects["line"].nunique()) if len(self.rejects) else 0

    def reconciliation(self) -> str:
        """The contract's reconciliation line."""
        return (
            f"{self.table}: rows read {self.rows_read} = rows accepted {len(self.data)}"
            f" + rows rejected {self.rows_rejected}"
        )


@dataclass(frozen=True)
class Cohort:
    """Validated ``releases`` and ``reoffences`` of one folder."""

    releases: ValidatedTable
    reoffences: ValidatedTable
    warnings: tuple[str, ...] = field(default=())

    @property
    def rejects(self) -> pd.DataFrame:
        """Rejects of both tables together."""
        return pd.concat([self.releases.rejects, self.reoffences.rejects], ignore_index=True)

    def reconciliation(self) -> str:
        """Both tables' reconciliation lines."""
        return f"{self.releases.reconciliation()}\n{self.reoffences.reconciliation()}"


# --------------------------------------------------------------------------- reading


def find_table(folder: Path, name: str) -> Path:
    """Return ``folder/name.parquet`` or ``folder/name.csv``, whichever exists."""
    for suffix in (".parquet", ".csv"):
        path = Path(folder) / f"{name}{suffix}"
        if path.exists():
            return path
    raise ContractError(f"{folder}: no {name}.csv or {name}.parquet found")


def read_table(path: Path) -> pd.DataFrame:
    """Read a whole CSV (every cell as text) or Parquet file.

    CSV cells are read as text so that validation sees exactly what was written.
    """
    frames = list(iter_table(path, chunk_rows=None))
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def iter_table(path: Path, *, chunk_rows: int | None = 100_000) -> Iterator[pd.DataFrame]:
    """Yield the file in chunks of ``chunk_rows`` rows (one chunk when ``None``).

    Each chunk keeps a ``RangeIndex`` that continues across chunks, so the row's
    position in the file is known to the validator.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise ContractError(f"{path}: file not found")
    try:
        if suffix == ".csv":
            reader = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                na_values=[],
                chunksize=chunk_rows,
                skipinitialspace=False,
                # Never infer an index column: a trailing delimiter on every data row
                # would otherwise shift every value one column to the left.
                index_col=False,
            )
            if chunk_rows is None:
                yield reader
                return
            yield from reader
        elif suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(path)
            if chunk_rows is None:
                yield _parquet_frame(parquet.read(), start=0)
                return
            start = 0
            for batch in parquet.iter_batches(batch_size=chunk_rows):
                frame = _parquet_frame(batch, start=start)
                start += len(frame)
                yield frame
        else:
            raise ContractError(f"{path}: unsupported file type {suffix!r}: use .csv or .parquet")
    except ContractError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise ContractError(f"{path}: cannot be read as {suffix[1:]}: {exc}") from None
    except Exception as exc:  # pyarrow raises its own types for a corrupt file
        if type(exc).__module__.startswith("pyarrow"):
            raise ContractError(f"{path}: cannot be read as parquet: {exc}") from None
        raise


def _parquet_frame(data, *, start: int) -> pd.DataFrame:
    """Arrow table or batch to pandas, indexed by row number in the file.

    pandas' stored index is ignored: a named index (``df.set_index("release_id")``)
    comes back as the column it was, and an unnamed one (``__index_level_0__``, left by
    a filtered frame) is dropped, so that line numbers are row numbers.
    """
    frame = data.to_pandas(ignore_metadata=True)
    artefacts = [c for c in frame.columns if _PANDAS_INDEX.fullmatch(str(c))]
    frame = frame.drop(columns=artefacts)
    frame.index = pd.RangeIndex(start, start + len(frame))
    return frame


# --------------------------------------------------------------------------- parsing


_SMALL = 64  # below this many rows, plain Python beats pandas' per-call overhead
_ISO_DATE_RE = re.compile(_ISO_DATE)
#: The same pattern for Arrow's regex engine, the calendar day as its one named group.
_ISO_DAY_GROUP = _ISO_DATE.replace("^(", "^(?P<day>", 1)


def _arrow_text(series: pd.Series):
    """A text column as an Arrow string array (nulls kept), or None when it is not all text.

    Arrow's string kernels do in C what pandas' ``.str`` methods do one Python call per
    cell: on a million rows, seconds become tens of milliseconds. Anything but text and
    nulls (numbers, booleans, mixed cells) answers None and takes the pandas path.
    """
    if not (series.dtype == object or isinstance(series.dtype, pd.StringDtype)):
        return None
    import pyarrow as pa

    try:
        text = pa.array(series.to_numpy(dtype=object), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if pa.types.is_large_string(text.type):
        text = text.cast(pa.string())
    return text if pa.types.is_string(text.type) else None


def _all_booleans(series: pd.Series) -> bool:
    """True for an object column of only True, False and nulls."""
    return series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) == "boolean"


def _blank_cell(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float):
        return value != value
    if isinstance(value, str):
        return not value.strip()
    return False


def _blank(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series):
        return series.isna().to_numpy()
    if len(series) <= _SMALL:
        return np.array([_blank_cell(v) for v in series.to_numpy(dtype=object)], dtype=bool)
    text = _arrow_text(series)
    if text is not None:
        import pyarrow.compute as pc

        empty = pc.equal(pc.utf8_trim_whitespace(text), "")
        return pc.fill_null(empty, True).to_numpy(zero_copy_only=False)
    if _all_booleans(series):  # a Parquet boolean column with nulls arrives as objects
        return series.isna().to_numpy()
    # text, and also categorical (a Parquet dictionary column): "" is blank there too
    return (series.isna() | (series.astype(str).str.strip() == "")).to_numpy()


def _text(series: pd.Series) -> np.ndarray:
    if len(series) <= _SMALL:
        return np.array([str(v).strip() for v in series.to_numpy(dtype=object)], dtype=object)
    text = _arrow_text(series)
    if text is not None:
        import pyarrow.compute as pc

        # str(None) is "None": a null stays a (blank-flagged) string, as on the other paths
        trimmed = pc.fill_null(pc.utf8_trim_whitespace(text), "None")
        return trimmed.to_numpy(zero_copy_only=False).astype(object, copy=False)
    return series.astype(str).str.strip().to_numpy(dtype=object)


def _isin(values: np.ndarray, allowed) -> np.ndarray:
    if len(values) <= _SMALL:
        allowed = frozenset(allowed)
        return np.array([v in allowed for v in values], dtype=bool)
    return pd.Series(values, dtype=object).isin(list(allowed)).to_numpy()


def _number_cell(value) -> float:
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return np.nan
    return np.nan


def _numbers(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.astype(float).to_numpy()
    if len(series) <= _SMALL:
        return np.array([_number_cell(v) for v in series.to_numpy(dtype=object)], dtype=float)
    text = _arrow_text(series)
    if text is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        trimmed = pc.utf8_trim_whitespace(text)
        trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
        try:  # all-or-nothing: any cell Arrow cannot read sends the column to pandas
            return pc.cast(trimmed, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return pd.to_numeric(series.astype(str).str.strip(), errors="coerce").to_numpy(dtype=float)


def _date_cell(value) -> np.datetime64:
    if isinstance(value, (datetime, date)):
        return np.datetime64(value.date() if isinstance(value, datetime) else value, "D")
    if isinstance(value, str):
        match = _ISO_DATE_RE.match(value.strip())
        if match:
            try:
                return np.datetime64(match.group(1), "D")
            except ValueError:  # e.g. 2021-02-30
                pass
    return np.datetime64("NaT")


def _dates(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(series):
        out = series
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_localize(None)
        return out.dt.normalize().to_numpy(dtype="datetime64[ns]")
    if len(series) <= _SMALL:
        return np.array([_date_cell(v) for v in series.to_numpy(dtype=object)], dtype="datetime64[D]").astype(
            "datetime64[ns]"
        )
    # Only the date part is parsed: a time zone offset would otherwise make pandas
    # raise (all values with offsets) or warn (mixed), and a date is a calendar day.
    text = _arrow_text(series)
    if text is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        day = pc.struct_field(pc.extract_regex(pc.utf8_trim_whitespace(text), _ISO_DAY_GROUP), [0])
        parsed = pc.strptime(day, format="%Y-%m-%d", unit="s", error_is_null=True)
        # strptime rolls an impossible day over (2021-02-30 -> 2021-03-02): refuse it
        real = pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), day)
        # and, like pandas, a day outside what nanosecond timestamps can hold
        year = pc.year(parsed)
        real = pc.and_(real, pc.and_(pc.greater(year, 1677), pc.less(year, 2262)))
        parsed = pc.if_else(pc.fill_null(real, False), parsed, pa.scalar(None, parsed.type))
        return parsed.to_numpy(zero_copy_only=False).astype("datetime64[ns]")
    day = series.astype(str).str.strip().str.extract(_ISO_DATE, expand=False)
    return pd.to_datetime(day, format="%Y-%m-%d", errors="coerce").to_numpy(dtype="datetime64[ns]")


_BOOLEAN_CELLS = {**{t: 1.0 for t in _TRUE}, **{f: 0.0 for f in _FALSE}}


def _booleans(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float).to_numpy()
    if pd.api.types.is_numeric_dtype(series):
        out = series.astype(float).to_numpy()
        return np.where(np.isin(out, [0.0, 1.0]), out, np.nan)
    cells = series.to_numpy(dtype=object)
    if len(series) <= _SMALL:
        return np.array(
            [float(v) if isinstance(v, (bool, np.bool_)) else _BOOLEAN_CELLS.get(str(v).strip().lower(), np.nan) for v in cells],
            dtype=float,
        )
    if _all_booleans(series):  # a Parquet boolean column with nulls arrives as objects
        import pyarrow as pa
        import pyarrow.compute as pc

        flags = pa.array(series.to_numpy(dtype=object), type=pa.bool_(), from_pandas=True)
        return pc.cast(flags, pa.float64()).to_numpy(zero_copy_only=False)  # null -> NaN
    text = _arrow_text(series)
    if text is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        keys = list(_BOOLEAN_CELLS)
        found = pc.index_in(pc.utf8_lower(pc.utf8_trim_whitespace(text)), value_set=pa.array(keys))
        codes = pc.fill_null(found, -1).to_numpy(zero_copy_only=False)
        return np.append(np.array([_BOOLEAN_CELLS[k] for k in keys]), np.nan)[codes]
    text = series.astype(str).str.strip().str.lower()
    return text.map(_BOOLEAN_CELLS).to_numpy(dtype=float)


class _Problems:
    """Collects (row position, column, reason) for one table."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.parts: list[tuple[np.ndarray, str, str]] = []

    def add(self, mask: np.ndarray, column: str, reason: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.parts.append((mask, column, reason))

    def bad_rows(self) -> np.ndarray:
        bad = np.zeros(len(self.frame), dtype=bool)
        for mask, _, _ in self.parts:
            bad |= mask
        return bad

    def table(self, table: str, *, line_offset: int) -> pd.DataFrame:
        rows = []
        for mask, column, reason in self.parts:
            positions = np.flatnonzero(mask)
            raw = (
                self.frame[column].iloc[positions].astype(str).to_numpy()
                if column in self.frame
                else np.full(len(positions), "")
            )
            ids = (
                self.frame["release_id"].iloc[positions].astype(str).to_numpy()
                if "release_id" in self.frame
                else np.full(len(positions), "")
            )
            rows.append(
                pd.DataFrame(
                    {
                        "table": table,
                        "line": self.frame.index.to_numpy()[positions] + line_offset,
                        "release_id": ids,
                        "column": column,
                        "value": raw,
                        "reason": reason,
                    }
                )
            )
        if not rows:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in REJECT_COLUMNS})
        out = pd.concat(rows, ignore_index=True)
        return out.sort_values(["line", "column"], kind="stable").reset_index(drop=True)


def _screen_columns(
    frame: pd.DataFrame,
    *,
    table: str,
    required: Iterable[str],
    known: Iterable[str],
    allow_identifiers: bool,
) -> tuple[pd.DataFrame, list[str]]:
    """Refuse direct identifiers and absent required columns; drop undeclared extras."""
    warnings: list[str] = []
    identifiers = [c for c in frame.columns if str(c).strip().lower() in DIRECT_IDENTIFIERS]
    if identifiers and not allow_identifiers:
        names = ", ".join(repr(c) for c in identifiers)
        raise ContractError(
            f"{table}: column {names} is a direct identifier; riskmodel refuses names, dates of"
            " birth, addresses and national ids (data minimisation: use pseudonymised person_id)."
            " Remove the column, or pass --drop-identifiers to drop it before anything is stored"
        )
    if identifiers:
        frame = frame.drop(columns=identifiers)
        warnings.append(f"{table}: dropped direct-identifier columns {identifiers} before use")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ContractError(
            f"{table}: required column {', '.join(repr(c) for c in missing)} is absent;"
            f" the file is rejected (required columns: {', '.join(required)})"
        )
    known = set(known)
    extra = [c for c in frame.columns if c not in known]
    if extra:
        warnings.append(
            f"{table}: ignored columns not in the contract nor declared as extra features: {extra}"
        )
        frame = frame.drop(columns=extra)
    return frame, warnings


def validate_releases(
    frame: pd.DataFrame,
    *,
    extra_numeric: Iterable[str] = (),
    extra_categorical: Iterable[str] = (),
    allow_identifiers: bool = False,
    line_offset: int = 2,
    seen_ids: set[str] | None = None,
) -> ValidatedTable:
    """Validate a ``releases`` table against data contract v1.

    Parameters
    ----------
    frame : DataFrame
        The table as read (CSV cells as text, or typed Parquet columns). Its index is
        the row's position in the file.
    extra_numeric, extra_categorical : iterable of str
        Declared extra features; they must be present (blank values are unknown).
    allow_identifiers : bool
        Drop direct-identifier columns instead of refusing the file.
    line_offset : int
        Added to the row position to give the reported line (2 for CSV: the header is
        line 1; 1 for Parquet rows).
    seen_ids : set of str, optional
        ``release_id`` values read in earlier chunks of the same file; updated.

    Returns
    -------
    ValidatedTable

    Raises
    ------
    ContractError
        When a required or declared column is absent, or a direct identifier is present.
    """
    extra_numeric, extra_categorical = tuple(extra_numeric), tuple(extra_categorical)
    declared = extra_numeric + extra_categorical
    rows_read = len(frame)
    frame, warnings = _screen_columns(
        frame,
        table="releases",
        required=REQUIRED_RELEASE_COLUMNS + declared,
        known=RELEASE_COLUMNS + declared,
        allow_identifiers=allow_identifiers,
    )
    problems = _Problems(frame)
    n = len(frame)
    out: dict[str, np.ndarray] = {}

    for column in ("release_id", "person_id"):
        problems.add(_blank(frame[column]), column, "required value is blank")
        out[column] = _text(frame[column])

    dates = _dates(frame["release_date"])
    blank = _blank(frame["release_date"])
    problems.add(blank, "release_date", "required value is blank")
    problems.add(~blank & np.isnat(dates), "release_date", "not an ISO 8601 date (YYYY-MM-DD)")
    out["release_date"] = dates

    sex = np.array([v.upper() for v in _text(frame["sex"])], dtype=object) if n <= _SMALL else (
        pd.Series(_text(frame["sex"]), dtype=object).str.upper().to_numpy(dtype=object)
    )
    blank = _blank(frame["sex"])
    problems.add(blank, "sex", "required value is blank")
    problems.add(~blank & ~_isin(sex, SEXES), "sex", "must be M or F")
    out["sex"] = sex

    age = _numbers(frame["age_at_release"])
    blank = _blank(frame["age_at_release"])
    problems.add(blank, "age_at_release", "required value is blank")
    problems.add(~blank & np.isnan(age), "age_at_release", "not a number")
    problems.add((age < 10) | (age > 100), "age_at_release", "must be 10 <= x <= 100")
    out["age_at_release"] = age

    prev = _numbers(frame["previous_sanctions"])
    blank = _blank(frame["previous_sanctions"])
    problems.add(blank, "previous_sanctions", "required value is blank")
    problems.add(~blank & np.isnan(prev), "previous_sanctions", "not a number")
    problems.add(~np.isnan(prev) & (prev != np.floor(prev)), "previous_sanctions", "must be an integer")
    problems.add(prev < 0, "previous_sanctions", "must be >= 0")
    out["previous_sanctions"] = prev

    offence = _text(frame["index_offence"])
    blank = _blank(frame["index_offence"])
    problems.add(blank, "index_offence", "required value is blank")
    problems.add(~blank & ~_isin(offence, OFFENCE_GROUPS), "index_offence", "not one of the 20 OGRS3 offence groups")
    out["index_offence"] = offence

    for column in OPTIONAL_NUMBER_COLUMNS + OPTIONAL_INTEGER_COLUMNS:
        if column not in frame:
            out[column] = np.full(n, np.nan)
            continue
        values = _numbers(frame[column])
        problems.add(~_blank(frame[column]) & np.isnan(values), column, "not a number")
        if column in OPTIONAL_INTEGER_COLUMNS:
            problems.add(~np.isnan(values) & (values != np.floor(values)), column, "must be an integer")
        out[column] = values

    first, index_age = out["age_at_first_sanction"], out["age_at_index_conviction"]
    problems.add((first < 10) | (first > age), "age_at_first_sanction", "must be 10 <= x <= age_at_release")
    problems.add(index_age > age, "age_at_index_conviction", "must be <= age_at_release")
    problems.add(out["sentence_days"] < 1, "sentence_days", "must be >= 1")
    problems.add(out["previous_custodial_sentences"] < 0, "previous_custodial_sentences", "must be >= 0")
    violent = out["previous_violent_sanctions"]
    problems.add(
        (violent < 0) | (violent > prev), "previous_violent_sanctions", "must be 0 <= x <= previous_sanctions"
    )
    problems.add(out["previous_breaches"] < 0, "previous_breaches", "must be >= 0")

    for column in NEEDS_COLUMNS:
        if column not in frame:
            out[column] = np.full(n, np.nan)
            continue
        values = _booleans(frame[column])
        problems.add(~_blank(frame[column]) & np.isnan(values), column, "not a boolean (true/false, yes/no, 1/0)")
        out[column] = values

    if "ethnicity" in frame:
        lookup = {e.lower(): e for e in ETHNICITIES}
        mapped = np.array([lookup.get(v.lower()) for v in _text(frame["ethnicity"])], dtype=object)
        unknown = np.array([v is None for v in mapped], dtype=bool)
        problems.add(~_blank(frame["ethnicity"]) & unknown, "ethnicity", f"must be one of {', '.join(ETHNICITIES)}")
        out["ethnicity"] = np.where(unknown, "Unknown", mapped)
    else:
        out["ethnicity"] = np.full(n, "Unknown", dtype=object)

    for column in extra_numeric:
        values = _numbers(frame[column])
        problems.add(~_blank(frame[column]) & np.isnan(values), column, "declared numeric extra feature: not a number")
        out[column] = values
    for column in extra_categorical:
        out[column] = np.where(_blank(frame[column]), None, _text(frame[column]))

    ids = out["release_id"]
    valid_id = ~_blank(frame["release_id"])
    duplicate = pd.Series(ids, dtype=object).duplicated(keep="first").to_numpy() & valid_id
    problems.add(duplicate, "release_id", "duplicate release_id: must be unique in the file")
    if seen_ids is not None:
        earlier = np.array([v in seen_ids for v in ids], dtype=bool)
        problems.add(earlier & valid_id & ~duplicate, "release_id", "duplicate release_id: must be unique in the file")

    rejects = problems.table("releases", line_offset=line_offset)
    keep = ~problems.bad_rows()
    accepted = pd.DataFrame({name: values[keep] for name, values in out.items()})
    if seen_ids is not None:
        # Every id read counts, accepted or not, so that chunked reading rejects the same
        # later duplicates as reading the whole file at once.
        seen_ids.update(ids[valid_id])
    return ValidatedTable("releases", accepted, rejects, rows_read, tuple(warnings))


def validate_reoffences(
    frame: pd.DataFrame,
    *,
    person_ids: Iterable[str] | None = None,
    allow_identifiers: bool = False,
    line_offset: int = 2,
) -> ValidatedTable:
    """Validate a ``reoffences`` table against data contract v1.

    Parameters
    ----------
    frame : DataFrame
        The table as read.
    person_ids : iterable of str, optional
        ``person_id`` values of the releases table; a reoffence of anyone else is rejected.
    allow_identifiers : bool
        Drop direct-identifier columns instead of refusing the file.
    line_offset : int
        Added to the row position to give the reported line.
    """
    rows_read = len(frame)
    frame, warnings = _screen_columns(
        frame,
        table="reoffences",
        required=REOFFENCE_COLUMNS,
        known=REOFFENCE_COLUMNS,
        allow_identifiers=allow_identifiers,
    )
    problems = _Problems(frame)
    out: dict[str, np.ndarray] = {}
    person = _text(frame["person_id"])
    blank = _blank(frame["person_id"])
    problems.add(blank, "person_id", "required value is blank")
    if person_ids is not None:
        known = pd.unique(pd.Series(list(person_ids), dtype=object))
        problems.add(~blank & ~_isin(person, known), "person_id", "does not match any releases.person_id")
    out["person_id"] = person
    for column in ("offence_date", "proven_date"):
        dates = _dates(frame[column])
        blank = _blank(frame[column])
        problems.add(blank, column, "required value is blank")
        problems.add(~blank & np.isnat(dates), column, "not an ISO 8601 date (YYYY-MM-DD)")
        out[column] = dates
    problems.add(out["proven_date"] < out["offence_date"], "proven_date", "must be >= offence_date")
    offence = _text(frame["offence"])
    blank = _blank(frame["offence"])
    problems.add(blank, "offence", "required value is blank")
    problems.add(~blank & ~_isin(offence, OFFENCE_GROUPS), "offence", "not one of the 20 OGRS3 offence groups")
    out["offence"] = offence
    rejects = problems.table("reoffences", line_offset=line_offset)
    keep = ~problems.bad_rows()
    accepted = pd.DataFrame({name: values[keep] for name, values in out.items()})
    return ValidatedTable("reoffences", accepted, rejects, rows_read, tuple(warnings))


def _line_offset(path: Path) -> int:
    return 2 if path.suffix.lower() == ".csv" else 1


def load_cohort(
    folder: Path,
    *,
    extra_numeric: Iterable[str] = (),
    extra_categorical: Iterable[str] = (),
    allow_identifiers: bool = False,
) -> Cohort:
    """Read and validate ``releases`` and ``reoffences`` from one folder.

    Raises
    ------
    ContractError
        When either file is unusable as a whole.
    """
    rel_path = find_table(folder, "releases")
    off_path = find_table(folder, "reoffences")
    raw_releases = read_table(rel_path)
    releases = validate_releases(
        raw_releases,
        extra_numeric=extra_numeric,
        extra_categorical=extra_categorical,
        allow_identifiers=allow_identifiers,
        line_offset=_line_offset(rel_path),
    )
    reoffences = validate_reoffences(
        read_table(off_path),
        person_ids=_text(raw_releases["person_id"]),
        allow_identifiers=allow_identifiers,
        line_offset=_line_offset(off_path),
    )
    return Cohort(releases, reoffences, releases.warnings + reoffences.warnings)
