"""Data contract v1: reading and validating ``releases`` and ``reoffences``.

Every input row is either accepted or reported: a rejected row appears in the rejects
table once per broken rule, with its line, column, value and reason, and the
reconciliation line says ``rows read = rows accepted + rows rejected``.
A problem with the file as a whole (a required column absent, a direct identifier,
an unreadable file) raises :class:`ContractError` with one clear message.

Accepted rows are typed for the models: ids and categories as strings, dates as
``datetime64[ns]``, every number and needs flag as ``float64`` with ``NaN`` for unknown
(a needs flag is 1.0, 0.0 or NaN).

Each column's rules (blank, readable as its kind, allowed values, whole number, range)
are declared once, as a :class:`ColumnSpec` in :data:`RELEASE_SPECS` or
:data:`REOFFENCE_SPECS`, and applied by one loop whatever the size of the table (the
readers below it choose plain Python for a few rows, Arrow or pandas for many). Release
objects parsed from JSON (the service's requests) are first checked by
:func:`check_json_releases`, which screens their columns as a file's are screened.

Types are read strictly, the same way for a file's cells and a JSON request's values:

* a number (or integer) column takes numbers, or text that reads as a finite number
  (a CSV cell is text); ``true``/``false`` are not numbers, and neither are ``inf``,
  ``NaN`` or a number too large for a double (``1e400``);
* a boolean (needs flag) takes ``true/false``, ``yes/no``, ``1/0`` as text in any case,
  JSON ``true``/``false``, and the numbers 0 and 1: no other number;
* a date is ``YYYY-MM-DD``, optionally followed by a valid time (hours 00-23, minutes
  and seconds 00-59) and offset; a ``release_date`` before 1900 or more than 31 days
  after today (UTC) is refused;
* in JSON, an integer beyond +-(2**53 - 1) (what every JSON reader holds exactly) is
  refused in any field, known or not.

Direct identifiers are found by name (:func:`direct_identifier`): a column or field
whose name, normalised, equals or contains one of
:data:`~riskmodel._constants.DIRECT_IDENTIFIERS` is refused; other unknown columns are
ignored with a warning (:func:`unknown_fields` names them per JSON release).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskmodel._constants import (
    DIRECT_IDENTIFIER_KINDS,
    ETHNICITIES,
    NEEDS_COLUMNS,
    OFFENCE_GROUPS,
    REOFFENCE_COLUMNS,
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
    "naming_the_file",
    "REJECT_COLUMNS",
    "ColumnSpec",
    "RELEASE_SPECS",
    "REOFFENCE_SPECS",
    "check_json_releases",
    "DaysFromToday",
    "normalise_column_name",
    "direct_identifier",
    "unknown_fields",
    "JSON_INTEGER_LIMIT",
]

REJECT_COLUMNS = ("table", "line", "release_id", "column", "value", "reason")

_TRUE = frozenset({"true", "yes", "1", "1.0"})
_FALSE = frozenset({"false", "no", "0", "0.0"})
_PANDAS_INDEX = re.compile(r"__index_level_\d+__")
#: ``YYYY-MM-DD``, optionally with a valid time (00:00-23:59:59) and offset; the calendar
#: day is the date part.
_ISO_DATE = (
    r"^(\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?)?$"
)


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
    except pd.errors.EmptyDataError:
        raise ContractError(f"{path}: the file is empty: no rows and no header") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise ContractError(f"{path}: cannot be read as {suffix[1:]}: {exc}") from None
    except Exception as exc:  # pyarrow raises its own types for a corrupt file
        if type(exc).__module__.startswith("pyarrow"):
            raise ContractError(f"{path}: cannot be read as parquet: {exc}") from None
        raise


def _parquet_frame(data: Any, *, start: int) -> pd.DataFrame:
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


def _blank_cell(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float):
        return value != value
    if isinstance(value, str):
        return not value.strip()
    return False


def _numpy_kind(series: pd.Series) -> str:
    """The kind of a numpy-backed column's dtype (``"f"``, ``"M"``, ...); "" for pandas' own dtypes."""
    return series.dtype.kind if isinstance(series.dtype, np.dtype) else ""


def _blank(series: pd.Series) -> np.ndarray:
    # numpy-backed columns straight from numpy: pandas' isna costs ~0.1 ms a call
    kind = _numpy_kind(series)
    if kind == "O" and len(series) <= _SMALL:  # objects: no pandas dtype checks (they cost more than the cells)
        return np.array([_blank_cell(v) for v in series.to_numpy(dtype=object)], dtype=bool)
    if kind in ("b", "i", "u"):
        return np.zeros(len(series), dtype=bool)
    if kind == "f":
        return np.isnan(series.to_numpy())
    if kind == "M":
        return np.isnat(series.to_numpy())
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


def _isin(values: np.ndarray, allowed: Iterable[Any]) -> np.ndarray:
    if len(values) <= _SMALL:
        allowed = frozenset(allowed)
        return np.array([v in allowed for v in values], dtype=bool)
    return pd.Series(values, dtype=object).isin(list(allowed)).to_numpy()


def _number_cell(value: Any) -> float:
    if isinstance(value, (bool, np.bool_)):  # true/false are not numbers
        return np.nan
    if isinstance(value, (int, np.integer)):
        try:
            return float(value)
        except OverflowError:  # an integer beyond a double: infinite, refused as such
            return math.inf if value > 0 else -math.inf
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return np.nan
    return np.nan


def _numbers(series: pd.Series) -> np.ndarray:
    if _numpy_kind(series) == "O" and len(series) <= _SMALL:
        return np.array([_number_cell(v) for v in series.to_numpy(dtype=object)], dtype=float)
    if pd.api.types.is_bool_dtype(series):  # true/false are not numbers
        return np.full(len(series), np.nan)
    if _numpy_kind(series) in ("i", "u", "f"):
        return series.to_numpy(dtype=float)
    if pd.api.types.is_numeric_dtype(series):
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


#: The days a ``datetime64[ns]`` holds (years 1678-2261, as on the Arrow path): a day
#: outside would wrap silently when cast to nanoseconds (1600-01-01 becoming 2184-07-20).
_NS_DAYS = (np.datetime64("1678-01-01", "D"), np.datetime64("2261-12-31", "D"))


def _date_cell(value: Any) -> np.datetime64:
    day = np.datetime64("NaT")
    if isinstance(value, (datetime, date)):
        day = np.datetime64(value.date() if isinstance(value, datetime) else value, "D")
    elif isinstance(value, str):
        match = _ISO_DATE_RE.match(value.strip())
        if match:
            try:
                day = np.datetime64(match.group(1), "D")
            except ValueError:  # e.g. 2021-02-30
                pass
    return day if _NS_DAYS[0] <= day <= _NS_DAYS[1] else np.datetime64("NaT")


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
    kind = _numpy_kind(series)
    if kind == "b":
        return series.to_numpy(dtype=float)
    if kind in ("i", "u", "f"):
        out = series.to_numpy(dtype=float)
        return np.where((out == 0.0) | (out == 1.0), out, np.nan)
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float).to_numpy()
    if pd.api.types.is_numeric_dtype(series):
        out = series.astype(float).to_numpy()
        return np.where(np.isin(out, [0.0, 1.0]), out, np.nan)
    cells = series.to_numpy(dtype=object)
    if len(series) <= _SMALL:
        return np.array(
            [
                float(v) if isinstance(v, (bool, np.bool_)) else _BOOLEAN_CELLS.get(str(v).strip().lower(), np.nan)
                for v in cells
            ],
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


def _categories(text: np.ndarray, allowed: tuple[str, ...], *, ignore_case: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's allowed value (matched ignoring case when asked) or None, and which cells are None."""
    if not ignore_case:
        unknown = ~_isin(text, allowed)
        return np.where(unknown, None, text), unknown
    lookup = {a.lower(): a for a in allowed}
    if len(text) <= _SMALL:
        values = np.array([lookup.get(v.lower()) for v in text], dtype=object)
        return values, np.equal(values, None)
    keys = pd.Series(text, dtype=object).str.lower()
    unknown = ~keys.isin(list(lookup)).to_numpy()
    return np.where(unknown, None, keys.map(lookup).to_numpy(dtype=object)), unknown


# --------------------------------------------------------------------------- rules


#: What a cell that is not blank yet cannot be read as its kind breaks, by kind.
_INVALID = {
    "date": "not an ISO 8601 date (YYYY-MM-DD, years 1678-2261, optionally with a valid time 00:00-23:59:59)",
    "number": "not a number",
    "integer": "not a number",
    "boolean": "not a boolean (true/false, yes/no, 1/0)",
}
_KINDS = ("text", "category", *_INVALID)
_NOT_FINITE = "must be a finite number (no infinity, nor a number too large for a double)"


@dataclass(frozen=True)
class DaysFromToday:
    """A date bound relative to the day of validation (UTC): ``DaysFromToday(31)`` is 31 days from today.

    Examples
    --------
    >>> str(DaysFromToday(31))
    'today + 31 days'
    """

    days: int

    def resolve(self) -> np.datetime64:
        """The bound for a validation run now: today (UTC) plus :attr:`days`."""
        return np.datetime64(datetime.now(UTC).date() + timedelta(days=self.days), "D")

    def __str__(self) -> str:
        return f"today {'+' if self.days >= 0 else '-'} {abs(self.days)} days"


#: A bound of :class:`ColumnSpec`: a number, a date, a day relative to today, or a column's name.
Bound = float | date | DaysFromToday | str | None


def _bound_text(bound: Bound) -> str | None:
    if bound is None or isinstance(bound, str):
        return bound
    if isinstance(bound, (date, DaysFromToday)):
        return str(bound)
    return f"{bound:g}"


@dataclass(frozen=True)
class ColumnSpec:
    """The rules of one contract column, applied by one loop to every table and path.

    A column's rules run in a fixed order, each giving its own reason in the rejects:
    blank (when ``required``), unreadable as ``kind`` (or not ``allowed``), not whole
    (``integer``), then out of ``low``-``high``.

    Attributes
    ----------
    name : str
        The column.
    kind : {"text", "category", "date", "number", "integer", "boolean"}
        How a cell is read: trimmed text; one of ``allowed``; an ISO 8601 date (its
        calendar day); a number; a whole number; a needs flag (true/false, yes/no, 1/0).
    required : bool
        The column must be present and no cell blank.
    low, high : float, date, DaysFromToday or str, optional
        Inclusive bounds of a number or date. A string names an earlier column of the
        same table, compared row by row ("must be 10 <= x <= age_at_release"); a
        :class:`DaysFromToday` is a day relative to the day of validation.
    allowed : tuple of str
        A category's values.
    ignore_case : bool
        A category cell matches its value ignoring case and is written as the value.
    invalid : str, optional
        The reason given for a cell that cannot be read as ``kind`` (by default the
        kind's own, e.g. "not a number"); required for a category.
    default : object
        An optional text or category column's value where the cell is blank or the
        column absent (numbers and flags are NaN there).
    """

    name: str
    kind: str
    required: bool = False
    low: Bound = None
    high: Bound = None
    allowed: tuple[str, ...] = ()
    ignore_case: bool = False
    invalid: str | None = None
    default: Any = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"{self.name}: kind must be one of {', '.join(_KINDS)}, got {self.kind!r}")
        if self.kind == "category" and not (self.allowed and self.invalid):
            raise ValueError(f"{self.name}: a category needs its allowed values and an invalid reason")
        if self.invalid is None and self.kind in _INVALID:
            object.__setattr__(self, "invalid", _INVALID[self.kind])

    @property
    def range_reason(self) -> str | None:
        """The reason given for a value outside ``low``-``high``; None without bounds."""
        low, high = _bound_text(self.low), _bound_text(self.high)
        if low is not None and high is not None:
            return f"must be {low} <= x <= {high}"
        if low is not None:
            return f"must be >= {low}"
        return None if high is None else f"must be <= {high}"


_OFFENCE_RULE = "not one of the 20 OGRS3 offence groups"

#: Data contract v1's ``releases`` columns, in the order of the accepted table.
RELEASE_SPECS: tuple[ColumnSpec, ...] = (
    ColumnSpec("release_id", "text", required=True),
    ColumnSpec("person_id", "text", required=True),
    ColumnSpec("release_date", "date", required=True, low=date(1900, 1, 1), high=DaysFromToday(31)),
    ColumnSpec("sex", "category", required=True, allowed=SEXES, ignore_case=True, invalid="must be M or F"),
    ColumnSpec("age_at_release", "number", required=True, low=10, high=100),
    ColumnSpec("previous_sanctions", "integer", required=True, low=0),
    ColumnSpec("index_offence", "category", required=True, allowed=OFFENCE_GROUPS, invalid=_OFFENCE_RULE),
    ColumnSpec("age_at_first_sanction", "number", low=10, high="age_at_release"),
    ColumnSpec("age_at_index_conviction", "number", low=10, high="age_at_release"),
    ColumnSpec("sentence_days", "integer", low=1),
    ColumnSpec("previous_custodial_sentences", "integer", low=0),
    ColumnSpec("previous_violent_sanctions", "integer", low=0, high="previous_sanctions"),
    ColumnSpec("previous_breaches", "integer", low=0),
    *(ColumnSpec(column, "boolean") for column in NEEDS_COLUMNS),
    ColumnSpec(
        "ethnicity",
        "category",
        allowed=ETHNICITIES,
        ignore_case=True,
        invalid=f"must be one of {', '.join(ETHNICITIES)}",
        default="Unknown",
    ),
)

#: Data contract v1's ``reoffences`` columns (``person_id`` must also match a release).
REOFFENCE_SPECS: tuple[ColumnSpec, ...] = (
    ColumnSpec("person_id", "text", required=True),
    ColumnSpec("offence_date", "date", required=True),
    ColumnSpec("proven_date", "date", required=True, low="offence_date"),
    ColumnSpec("offence", "category", required=True, allowed=OFFENCE_GROUPS, invalid=_OFFENCE_RULE),
)

_EXTRA_NUMBER_RULE = "declared numeric extra feature: not a number"


def _extra_specs(extra_numeric: tuple[str, ...], extra_categorical: tuple[str, ...]) -> tuple[ColumnSpec, ...]:
    """Declared extra features: a number or free text, blank meaning unknown."""
    return tuple(ColumnSpec(c, "number", invalid=_EXTRA_NUMBER_RULE) for c in extra_numeric) + tuple(
        ColumnSpec(c, "text") for c in extra_categorical
    )


#: An empty rejects table (copied: building one costs more than validating a row).
_NO_REJECTS = pd.DataFrame({c: pd.Series(dtype=object) for c in REJECT_COLUMNS})


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
            return _NO_REJECTS.copy()
        out = pd.concat(rows, ignore_index=True)
        return out.sort_values(["line", "column"], kind="stable").reset_index(drop=True)


def _read(series: pd.Series, spec: ColumnSpec) -> tuple[np.ndarray, np.ndarray | None]:
    """The column's values as ``spec.kind``, and which cells could not be read (None: all can)."""
    if spec.kind == "text":
        return _text(series), None
    if spec.kind == "category":
        return _categories(_text(series), spec.allowed, ignore_case=spec.ignore_case)
    if spec.kind == "date":
        values = _dates(series)
        return values, np.isnat(values)
    values = _booleans(series) if spec.kind == "boolean" else _numbers(series)
    return values, np.isnan(values)


def _bound_value(bound: Bound, out: dict[str, np.ndarray]) -> Any:
    """A bound as compared: a named column's values, a day as ``datetime64``, a number as is."""
    if isinstance(bound, str):
        return out[bound]
    if isinstance(bound, DaysFromToday):
        return bound.resolve()
    if isinstance(bound, date):
        return np.datetime64(bound, "D")
    return bound


def _outside(values: np.ndarray, spec: ColumnSpec, out: dict[str, np.ndarray]) -> np.ndarray:
    """Values below ``spec.low`` or above ``spec.high`` (a bound naming a column: that row's value)."""
    low, high = _bound_value(spec.low, out), _bound_value(spec.high, out)
    outside = np.zeros(len(values), dtype=bool)
    if low is not None:
        outside |= values < low
    if high is not None:
        outside |= values > high
    return outside


def _apply_specs(
    frame: pd.DataFrame, specs: Iterable[ColumnSpec], problems: _Problems
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Apply every spec to its column: the typed values, and each present column's blank cells.

    The one loop of the contract's per-column rules, whatever the size of the frame:
    the readers (:func:`_blank`, :func:`_numbers`, ...) choose plain Python or Arrow.
    """
    n = len(frame)
    out: dict[str, np.ndarray] = {}
    blanks: dict[str, np.ndarray] = {}
    for spec in specs:
        if spec.name not in frame:  # an optional column (the screen refused absent required ones)
            numeric = spec.kind in ("number", "integer", "boolean")
            out[spec.name] = np.full(n, np.nan) if numeric else np.full(n, spec.default, dtype=object)
            continue
        series = frame[spec.name]
        blank = blanks[spec.name] = _blank(series)
        if spec.required:
            problems.add(blank, spec.name, "required value is blank")
        values, unreadable = _read(series, spec)
        if unreadable is not None:
            problems.add(~blank & unreadable, spec.name, spec.invalid)
        if spec.kind in ("number", "integer"):
            infinite = np.isinf(values)
            problems.add(infinite, spec.name, _NOT_FINITE)
            values = np.where(infinite, np.nan, values) if infinite.any() else values
        if spec.kind == "integer":
            problems.add(~np.isnan(values) & (values != np.floor(values)), spec.name, "must be an integer")
        if spec.low is not None or spec.high is not None:
            problems.add(_outside(values, spec, out), spec.name, spec.range_reason)
        if spec.kind == "category":
            values = np.where(unreadable, spec.default, values)
        elif spec.kind == "text" and not spec.required:
            values = np.where(blank, spec.default, values)
        out[spec.name] = values
    return out, blanks


#: Each direct identifier's name and kind, longest name first (``fullname`` before ``name``).
_IDENTIFIERS: tuple[tuple[str, str], ...] = tuple(
    sorted(
        ((name, kind) for kind, names in DIRECT_IDENTIFIER_KINDS.items() for name in names),
        key=lambda item: (-len(item[0]), item[0]),
    )
)


def normalise_column_name(column: Any) -> str:
    """A column's name as the identifier rule reads it: lower case, letters and digits only.

    Spaces, dots, hyphens, underscores (the contract's list) and any other punctuation
    or invisible character are dropped, after Unicode compatibility folding, so that
    ``Date of Birth``, ``date.of-birth`` and ``ＤＯＢ`` read as ``dateofbirth`` and ``dob``.

    Examples
    --------
    >>> normalise_column_name(" Date of Birth")
    'dateofbirth'
    >>> normalise_column_name("pnc_number")
    'pncnumber'
    """
    text = unicodedata.normalize("NFKC", str(column)).casefold()
    return "".join(ch for ch in text if ch.isalnum())


def direct_identifier(column: Any) -> tuple[str, str] | None:
    """The direct identifier a column's normalised name equals or contains, and its kind; None if none.

    The one rule for a file's columns and a JSON request's fields
    (:data:`~riskmodel._constants.DIRECT_IDENTIFIERS`).

    Parameters
    ----------
    column : object
        The column or field name as given.

    Returns
    -------
    tuple of (str, str) or None
        The listed name found (the longest, when several are) and what it is, e.g.
        ``("pnc", "an official number")``.

    Examples
    --------
    >>> direct_identifier("Full Name")
    ('fullname', 'a name')
    >>> direct_identifier("nhs_no")
    ('nhs', 'an official number')
    >>> direct_identifier("person_id") is None and direct_identifier("sentence_days") is None
    True
    """
    key = normalise_column_name(column)
    return next(((name, kind) for name, kind in _IDENTIFIERS if name in key), None)


def _identifier_columns(columns: Iterable[Any]) -> dict[Any, str]:
    """The columns named like a direct identifier, each with why (``contains 'pnc': an official number``)."""
    found = {}
    for column in columns:
        match = direct_identifier(column)
        if match is not None:
            name, kind = match
            how = "is" if normalise_column_name(column) == name else "contains"
            found[column] = f"its name {how} {name!r}: {kind}"
    return found


def _release_columns(
    extra_numeric: tuple[str, ...], extra_categorical: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The ``releases`` columns that must be present, and every column the contract reads."""
    declared = extra_numeric + extra_categorical
    required = tuple(s.name for s in RELEASE_SPECS if s.required) + declared
    return required, tuple(s.name for s in RELEASE_SPECS) + declared


def _separator_hint(columns: pd.Index) -> str:
    """A hint when a one-column header looks like a CSV written with another separator."""
    if len(columns) != 1:
        return ""
    header = str(columns[0])
    for separator, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
        if header.count(separator) >= 2:
            return f". The file looks {name}-separated: riskmodel reads comma-separated CSV (or Parquet)"
    return ""


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
    identifiers = _identifier_columns(frame.columns)
    if identifiers and not allow_identifiers:
        names = "; ".join(f"{c!r} ({why})" for c, why in identifiers.items())
        raise ContractError(
            f"{table}: column {names} is a direct identifier; riskmodel refuses names, dates of"
            " birth, contact details and official numbers (data minimisation: use pseudonymised"
            " person_id). Remove the column, or pass --drop-identifiers to drop it before anything is stored"
        )
    if identifiers:
        frame = frame.drop(columns=list(identifiers))
        warnings.append(f"{table}: dropped direct-identifier columns {list(identifiers)} before use")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ContractError(
            f"{table}: required column {', '.join(repr(c) for c in missing)} is absent;"
            f" the file is rejected (required columns: {', '.join(required)};"
            f" columns found: {', '.join(map(str, frame.columns)) or 'none'}){_separator_hint(frame.columns)}"
        )
    known = set(known)
    extra = [c for c in frame.columns if c not in known]
    if extra:
        warnings.append(f"{table}: ignored columns not in the contract nor declared as extra features: {extra}")
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
    """Validate a ``releases`` table against data contract v1 (the rules: :data:`RELEASE_SPECS`).

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
    rows_read = len(frame)
    required, known = _release_columns(extra_numeric, extra_categorical)
    frame, warnings = _screen_columns(
        frame, table="releases", required=required, known=known, allow_identifiers=allow_identifiers
    )
    problems = _Problems(frame)
    out, blanks = _apply_specs(frame, RELEASE_SPECS + _extra_specs(extra_numeric, extra_categorical), problems)

    ids = out["release_id"]
    valid_id = ~blanks["release_id"]
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
    """Validate a ``reoffences`` table against data contract v1 (the rules: :data:`REOFFENCE_SPECS`).

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
    out, blanks = _apply_specs(frame, REOFFENCE_SPECS, problems)
    if person_ids is not None:
        known = pd.unique(pd.Series(list(person_ids), dtype=object))
        matched = _isin(out["person_id"], known)
        problems.add(~blanks["person_id"] & ~matched, "person_id", "does not match any releases.person_id")
    rejects = problems.table("reoffences", line_offset=line_offset)
    keep = ~problems.bad_rows()
    accepted = pd.DataFrame({name: values[keep] for name, values in out.items()})
    return ValidatedTable("reoffences", accepted, rejects, rows_read, tuple(warnings))


# --------------------------------------------------------------------------- JSON requests


_JSON_SCALARS = (str, int, float, bool, type(None))

#: The largest integer a JSON number carries exactly in every reader (I-JSON, RFC 7493).
JSON_INTEGER_LIMIT = 2**53 - 1
_JSON_INTEGER_RULE = (
    f"integer too large: JSON integers must be within +-{JSON_INTEGER_LIMIT} (send longer identifiers as strings)"
)

_JSON_NUMBER_RULE = f"number too large: JSON numbers must be within +-{JSON_INTEGER_LIMIT}"


def _json_value(value: Any) -> Any:
    """A value as JSON can carry it: numpy scalars as Python ones, NaN and infinities as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _cell_problems(releases: list[Any]) -> list[dict[str, Any]]:
    """What a table cannot show of parsed JSON: non-objects, nested values, NaN, ±inf."""
    problems = []
    for i, row in enumerate(releases):
        if not isinstance(row, dict):
            problems.append({"index": i, "field": f"releases[{i}]", "rule": "must be an object of contract columns"})
            continue
        for column, value in row.items():
            rule = _json_cell_rule(value)
            if rule is None:
                continue
            problems.append(
                {
                    "index": i,
                    "release_id": _json_value(_shown(row.get("release_id"))),
                    "field": f"releases[{i}].{column}",
                    "rule": rule,
                    "value": str(_shown(value))[:100],
                }
            )
    return problems


def _json_cell_rule(value: Any) -> str | None:
    """The rule a parsed JSON value breaks whatever its field, or None."""
    if type(value) is float:
        if not math.isfinite(value):
            return "must be a finite number (JSON has no NaN or Infinity)"
        return None if abs(value) <= JSON_INTEGER_LIMIT else _JSON_NUMBER_RULE
    if isinstance(value, int) and not isinstance(value, bool):
        return None if -JSON_INTEGER_LIMIT <= value <= JSON_INTEGER_LIMIT else _JSON_INTEGER_RULE
    return None if isinstance(value, _JSON_SCALARS) else "must be a string, number, boolean or null"


def _shown(value: Any) -> Any:
    """A value as a problem may show it: an integer too large to print in full is described instead."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > JSON_INTEGER_LIMIT:
        return f"an integer of {value.bit_length()} bits"
    return value


def check_json_releases(
    releases: list[Any], *, extra_numeric: Iterable[str] = (), extra_categorical: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """The problems of release objects parsed from JSON, before they become a table.

    First each object's own problems (a release that is not an object, a value that is
    not a string, number, boolean or null, NaN or an infinity), each naming its
    ``index``; when there are none, the request's column problems, as
    :func:`validate_releases` screens a file's columns: a direct identifier in any
    release, or a required (or declared extra) column absent from every release.
    The rows' values are then checked by :func:`validate_releases`.

    Parameters
    ----------
    releases : list
        The parsed JSON array.
    extra_numeric, extra_categorical : iterable of str
        Declared extra features (required columns).

    Returns
    -------
    list of dict
        One ``{"field", "rule"}`` per problem (row problems also ``index``,
        ``release_id`` and ``value``); empty when the releases may be validated.

    Examples
    --------
    >>> check_json_releases([{"release_id": "r1", "name": "A. Smith", "age_at_release": float("nan")}])[0]["rule"]
    'must be a finite number (JSON has no NaN or Infinity)'
    >>> [p["field"] for p in check_json_releases([{"release_id": "r1", "name": "A. Smith"}])][:2]
    ['releases[*].name', 'releases[*].person_id']
    """
    problems = _cell_problems(releases)
    if problems:
        return problems
    present: dict[Any, None] = {}
    for row in releases:
        present.update(dict.fromkeys(row))
    required, _ = _release_columns(tuple(extra_numeric), tuple(extra_categorical))
    problems = [
        {
            "field": f"releases[*].{column}",
            "rule": f"direct identifier refused ({why}; data minimisation: send the pseudonymised person_id only)",
        }
        for column, why in _identifier_columns(present).items()
    ]
    return problems + [
        {"field": f"releases[*].{column}", "rule": "required column is absent from every release"}
        for column in required
        if column not in present
    ]


def unknown_fields(
    releases: list[Any], *, extra_numeric: Iterable[str] = (), extra_categorical: Iterable[str] = ()
) -> list[list[str]]:
    """Per release object, the fields the contract ignores, in the order given.

    A field that is neither a contract column nor a declared extra feature is not read;
    the service warns of each in that release's answer (a file's unknown columns are
    named in :attr:`ValidatedTable.warnings`). Direct identifiers are not listed: they
    are refused (:func:`check_json_releases`).

    Parameters
    ----------
    releases : list
        The parsed JSON array (objects that are not dicts have no fields).
    extra_numeric, extra_categorical : iterable of str
        Declared extra features (known fields).

    Returns
    -------
    list of list of str
        One list per release, empty when every field is known (a name longer than 100
        characters is cut to its first 100).

    Examples
    --------
    >>> unknown_fields([{"release_id": "r1", "officer_note": "x"}, {"release_id": "r2"}])
    [['officer_note'], []]
    """
    _, known = _release_columns(tuple(extra_numeric), tuple(extra_categorical))
    present: dict[Any, None] = {}
    for row in releases:
        if isinstance(row, dict):
            present.update(dict.fromkeys(row))
    ignored = {c for c in present if c not in known and direct_identifier(c) is None}
    if not ignored:
        return [[] for _ in releases]
    return [[str(c)[:100] for c in row if c in ignored] if isinstance(row, dict) else [] for row in releases]


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
    with naming_the_file(rel_path):
        releases = validate_releases(
            raw_releases,
            extra_numeric=extra_numeric,
            extra_categorical=extra_categorical,
            allow_identifiers=allow_identifiers,
            line_offset=_line_offset(rel_path),
        )
    with naming_the_file(off_path):
        reoffences = validate_reoffences(
            read_table(off_path),
            person_ids=_text(raw_releases["person_id"]),
            allow_identifiers=allow_identifiers,
            line_offset=_line_offset(off_path),
        )
    return Cohort(releases, reoffences, releases.warnings + reoffences.warnings)


@contextmanager
def naming_the_file(path: Path) -> Iterator[None]:
    """Let a :class:`ContractError` raised inside name the file it is about (once)."""
    try:
        yield
    except ContractError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ContractError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------- small JSON requests


class _Cells(np.ndarray):
    """A column of JSON values as an object array that reads like a pandas Series of objects.

    The contract's readers (:func:`_blank`, :func:`_numbers`, ...) take plain Python for
    a column of up to :data:`_SMALL` cells; they need only its ``dtype``, length and
    ``to_numpy``. An absent key is NaN, as :meth:`pandas.DataFrame.from_records` gives.
    """

    def to_numpy(self, dtype: Any = None) -> np.ndarray:
        return np.asarray(self, dtype=dtype)


class _Records:
    """Release objects as the columns :func:`_apply_specs` reads (only those a spec names)."""

    def __init__(self, releases: list[dict[str, Any]]):
        self.releases = releases
        self.present: set[str] = set().union(*releases)

    def __len__(self) -> int:
        return len(self.releases)

    def __contains__(self, name: object) -> bool:
        return name in self.present

    def __getitem__(self, name: str) -> _Cells:
        cells = np.empty(len(self.releases), dtype=object)
        cells[:] = [row.get(name, np.nan) for row in self.releases]
        return cells.view(_Cells)


def validate_json_releases(
    releases: list[dict[str, Any]], *, extra_numeric: Iterable[str] = (), extra_categorical: Iterable[str] = ()
) -> dict[str, np.ndarray] | None:
    """The typed columns of a few prechecked release objects, when every one is valid; else None.

    The service's small requests (:mod:`riskmodel.scoring.single`) are validated without
    a DataFrame, by the very rules of :func:`validate_releases` (:data:`RELEASE_SPECS`,
    the declared extras and unique ``release_id``, applied by :func:`_apply_specs`) on
    the objects' values. Only the all-valid answer is produced here: when any release
    breaks a rule (or a column's values could read differently once pandas has typed
    it), None is answered and the caller validates with :func:`validate_releases`, so
    a refusal is always that function's, word for word.

    Parameters
    ----------
    releases : list of dict
        Release objects that passed :func:`check_json_releases`, at most 64.
    extra_numeric, extra_categorical : iterable of str
        Declared extra features.

    Returns
    -------
    dict of str to ndarray or None
        Every contract column and declared extra, one typed value per release (as the
        accepted table of :func:`validate_releases` holds them); None when the releases
        must be validated as a table.
    """
    if not releases or len(releases) > _SMALL or not all(isinstance(row, dict) for row in releases):
        return None
    extra_numeric, extra_categorical = tuple(extra_numeric), tuple(extra_categorical)
    specs = RELEASE_SPECS + _extra_specs(extra_numeric, extra_categorical)
    records = _Records(releases)
    if len(releases) > 1:
        # pandas types a column of ints and blanks (or floats) as float64: a number read as
        # text would then be written "3.0", not "3"; a text column mixing integers with
        # anything else takes the table path
        for spec in specs:
            if spec.kind in ("text", "category") and spec.name in records:
                cells = [row.get(spec.name) for row in releases]
                whole = [isinstance(v, int) and not isinstance(v, bool) for v in cells]
                if any(whole) and not all(whole):
                    return None
    problems = _Problems(records)  # type: ignore[arg-type]
    out, _ = _apply_specs(records, specs, problems)  # type: ignore[arg-type]
    if problems.parts:
        return None
    ids = out["release_id"].tolist()
    if len(set(ids)) != len(ids):
        return None
    return out
