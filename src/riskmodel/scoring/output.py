"""The scoring output: its columns, their types, and how it is written as JSON, Parquet and CSV.

Every consumer (the service, batch scoring, the report) gets the output from here, with
three columns that stay structured from scoring to the edge:

* ``needs``: a list of pathway codes, the ``needs_`` column without its prefix
  (``accommodation``, ``employment``, ``mental_health``, ``substance_misuse``, ``finance``,
  ``family``); :data:`NEED_WORDS` says each in the panel's words;
* ``warnings``: a list of ``{"code", "message", "field"}`` objects, for example
  ``{"code": "outside_training_range", "message": "age_at_release outside the training
  range 18.2-62.6", "field": "age_at_release"}`` or ``{"code": "ogrs3_unavailable",
  "message": "OGRS3 unavailable: age_at_first_sanction unknown", "field":
  "age_at_first_sanction"}`` (``arp_unavailable`` likewise for ARP);
* ``top_factors``: a list of ``{"feature", "value", "contribution", "direction",
  "pathway"}`` objects, largest effect first.

In memory they are column objects that hold no Python object per row, so a million rows
cost little: :class:`CodedColumn` (needs and warnings: per row, a code into the small
table of distinct values) and :class:`FactorColumn` (factors: flat arrays of codes and
numbers). Each gives an Arrow array (:meth:`~CodedColumn.to_arrow`) for files and Python
lists (:meth:`~CodedColumn.to_pylist`) for JSON.

Where the output goes:

* JSON (the ``/score`` answer): :func:`render_rows`; lists stay lists, objects objects.
* Parquet: :func:`output_schema`, nested Arrow types (``list<string>`` for needs,
  ``list<struct<code, message, field>>`` for warnings, ``list<struct<feature, value,
  contribution, direction, pathway>>`` for top factors).
* CSV flattens at the edge only (:func:`flatten_for_csv`): ``needs`` joined with ``"; "``
  (blank when none), ``warnings`` and ``top_factors`` as JSON lists (``[]`` when none).
  :func:`read_scores` reads either file back into the structured values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from riskmodel._constants import NEEDS_COLUMNS, NEEDS_PATHWAYS

__all__ = [
    "OUTPUT_COLUMNS",
    "STRUCTURED_COLUMNS",
    "NEED_CODES",
    "NEED_WORDS",
    "NEEDS_TYPE",
    "WARNINGS_TYPE",
    "TOP_FACTORS_TYPE",
    "PARQUET_OPTIONS",
    "CodedColumn",
    "FactorColumn",
    "warning",
    "output_schema",
    "csv_schema",
    "flatten_for_csv",
    "concat_columns",
    "json_ready",
    "to_frame",
    "render_rows",
    "render_json",
    "to_records",
    "read_scores",
]

#: The columns of the scoring output, in the data contract's order.
OUTPUT_COLUMNS: tuple[str, ...] = (
    "release_id",
    "person_id",
    "reoffence_probability",
    "reoffence_band",
    "reoffence_model",
    "harm_probability",
    "harm_band",
    "harm_model",
    "frequency_expected",
    "frequency_model",
    "priority_rank",
    "priority_score",
    "priority_rule",
    "top_factors",
    "needs",
    "ogrs3_1y",
    "ogrs3_2y",
    "ogrs3_band",
    "arp_2y",
    "arp_band",
    "warnings",
    "scored_at",
)

#: Pathway code of each needs column (the column name without ``needs_``), in column order.
NEED_CODES: tuple[str, ...] = tuple(column.removeprefix("needs_") for column in NEEDS_COLUMNS)

#: A pathway code in the panel's words (for display only).
NEED_WORDS: dict[str, str] = dict(zip(NEED_CODES, (NEEDS_PATHWAYS[c] for c in NEEDS_COLUMNS), strict=True))

NEEDS_TYPE = pa.list_(pa.string())
WARNINGS_TYPE = pa.list_(pa.struct([("code", pa.string()), ("message", pa.string()), ("field", pa.string())]))
TOP_FACTORS_TYPE = pa.list_(
    pa.struct(
        [
            ("feature", pa.string()),
            ("value", pa.string()),
            ("contribution", pa.float64()),
            ("direction", pa.string()),
            ("pathway", pa.string()),
        ]
    )
)

_TYPES: dict[str, pa.DataType] = {
    "reoffence_probability": pa.float64(),
    "harm_probability": pa.float64(),
    "frequency_expected": pa.float64(),
    "priority_rank": pa.int64(),
    "priority_score": pa.float64(),
    "ogrs3_1y": pa.float64(),
    "ogrs3_2y": pa.float64(),
    "arp_2y": pa.float64(),
    "needs": NEEDS_TYPE,
    "warnings": WARNINGS_TYPE,
    "top_factors": TOP_FACTORS_TYPE,
}

#: The columns that hold lists (flattened to text in CSV).
STRUCTURED_COLUMNS: tuple[str, ...] = ("top_factors", "needs", "warnings")

#: Parquet writing: no dictionary for the ids and numbers, which rarely repeat (a
#: dictionary of a million distinct values is built and thrown away); every text inside
#: the lists repeats (pathways, warning codes, factor names and words), so it has one.
#: No statistics inside the factors and messages: nobody filters on them.
PARQUET_OPTIONS: dict[str, Any] = {
    "use_dictionary": [
        "reoffence_band",
        "reoffence_model",
        "harm_band",
        "harm_model",
        "frequency_model",
        "priority_rule",
        "ogrs3_band",
        "arp_band",
        "scored_at",
        "needs.list.element",
        "warnings.list.element.code",
        "warnings.list.element.message",
        "warnings.list.element.field",
        "top_factors.list.element.feature",
        "top_factors.list.element.value",
        "top_factors.list.element.direction",
        "top_factors.list.element.pathway",
    ],
    "write_statistics": [c for c in OUTPUT_COLUMNS if c not in STRUCTURED_COLUMNS]
    + ["needs.list.element", "warnings.list.element.code", "warnings.list.element.field"],
}


def output_schema() -> pa.Schema:
    """Arrow schema of the scores file: :data:`OUTPUT_COLUMNS`, typed (lists nested).

    Examples
    --------
    >>> str(output_schema().field("needs").type)
    'list<item: string>'
    """
    return pa.schema([(c, _TYPES.get(c, pa.string())) for c in OUTPUT_COLUMNS])


def csv_schema() -> pa.Schema:
    """Arrow schema of the scores as CSV: :func:`output_schema` with the lists as text."""
    schema = output_schema()
    for name in STRUCTURED_COLUMNS:
        index = schema.get_field_index(name)
        schema = schema.set(index, pa.field(name, pa.string()))
    return schema


def warning(code: str, message: str, field: str | None) -> dict[str, str | None]:
    """One per-row warning: what kind (``code``), in words (``message``) and which input (``field``)."""
    return {"code": code, "message": message, "field": field}


# --------------------------------------------------------------------------- columns in memory


@dataclass(frozen=True)
class CodedColumn:
    """A column of structured values: per row, a code into a small table of distinct values.

    Rows with the same value share one Python object in :attr:`values`, so a column of a
    million rows with a few dozen distinct lists holds a few dozen lists. Treat the
    values read from it as read-only.

    Parameters
    ----------
    values : list
        The distinct values (JSON-ready: lists of strings or of dicts).
    codes : ndarray of int64
        Per row, the index of its value in ``values``.
    """

    values: list[Any]
    codes: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def from_flags(cls, flags: np.ndarray, items: Sequence[Any]) -> CodedColumn:
        """Per row, the list of ``items`` whose flag is true (each distinct list made once).

        Examples
        --------
        >>> column = CodedColumn.from_flags(np.array([[1, 0, 1], [0, 0, 0], [1, 0, 1]], dtype=bool), ["a", "b", "c"])
        >>> column.to_pylist()
        [['a', 'c'], [], ['a', 'c']]
        >>> len(column.values)
        2
        """
        n, k = flags.shape
        if k == 0:
            return cls.empty(n)
        weights = np.left_shift(1, np.arange(k, dtype=np.int64))
        distinct, inverse = np.unique(flags.astype(np.int64) @ weights, return_inverse=True)
        values = [[items[j] for j in range(k) if code >> j & 1] for code in distinct.tolist()]
        return cls(values, inverse.reshape(-1).astype(np.int64))

    @classmethod
    def empty(cls, n: int) -> CodedColumn:
        """``n`` rows with an empty list each."""
        return cls([[]], np.zeros(n, dtype=np.int64))

    @classmethod
    def concat(cls, parts: Sequence[CodedColumn]) -> CodedColumn:
        """The rows of ``parts``, one after another."""
        values, codes = [], []
        for part in parts:
            codes.append(part.codes + len(values))
            values.extend(part.values)
        return cls(values, np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64))

    def counts(self) -> list[tuple[Any, int]]:
        """Each distinct value with the number of rows holding it (values held by none left out)."""
        per_code = np.bincount(self.codes, minlength=len(self.values))
        return [(value, int(count)) for value, count in zip(self.values, per_code.tolist(), strict=True) if count]

    def to_pylist(self) -> list[Any]:
        """One value per row (shared objects: do not change them)."""
        values = self.values
        return [values[code] for code in self.codes.tolist()]

    def to_arrow(self, kind: pa.DataType) -> pa.Array:
        """The column as an Arrow array of type ``kind``, without a Python object per row."""
        return pa.array(self.values, kind).take(pa.array(self.codes))


@dataclass(frozen=True)
class FactorColumn:
    """Per row, a list of factors, as flat arrays (one entry per factor) and small tables.

    Row ``r``'s factors are entries ``offsets[r]`` to ``offsets[r + 1]``. An entry's
    feature is ``features[feature[i]]`` (its pathway ``pathways[feature[i]]``), its value
    in words ``words[value[i]]``, its effect ``contribution[i]`` and its direction
    ``"raises"`` where ``raises[i]``.
    """

    offsets: np.ndarray
    feature: np.ndarray
    value: np.ndarray
    contribution: np.ndarray
    raises: np.ndarray
    features: list[str]
    pathways: list[str | None]
    words: list[str]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def empty(cls, n: int) -> FactorColumn:
        """``n`` rows with no factor each (scoring without explanations)."""
        none = np.zeros(0, dtype=np.int64)
        return cls(np.zeros(n + 1, dtype=np.int64), none, none, np.zeros(0), np.zeros(0, dtype=bool), [], [], [])

    @classmethod
    def concat(cls, parts: Sequence[FactorColumn]) -> FactorColumn:
        """The rows of ``parts``, one after another."""
        offsets, feature, value = [np.zeros(1, dtype=np.int64)], [], []
        features: list[str] = []
        pathways: list[str | None] = []
        words: list[str] = []
        for part in parts:
            offsets.append(part.offsets[1:] + offsets[-1][-1])
            feature.append(part.feature + len(features))
            value.append(part.value + len(words))
            features.extend(part.features)
            pathways.extend(part.pathways)
            words.extend(part.words)
        contribution = np.concatenate([part.contribution for part in parts])
        raises = np.concatenate([part.raises for part in parts])
        return cls(
            np.concatenate(offsets),
            np.concatenate(feature),
            np.concatenate(value),
            contribution,
            raises,
            features,
            pathways,
            words,
        )

    def to_pylist(self) -> list[list[dict[str, Any]]]:
        """One list of factor dicts per row."""
        features, pathways, words = self.features, self.pathways, self.words
        entries = [
            {
                "feature": features[f],
                "value": words[v],
                "contribution": c,
                "direction": "raises" if up else "lowers",
                "pathway": pathways[f],
            }
            for f, v, c, up in zip(
                self.feature.tolist(),
                self.value.tolist(),
                self.contribution.tolist(),
                self.raises.tolist(),
                strict=True,
            )
        ]
        bounds = self.offsets.tolist()
        return [entries[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def to_arrow(self, kind: pa.DataType = TOP_FACTORS_TYPE) -> pa.Array:
        """The column as an Arrow ``list<struct>`` array, without a Python object per row."""
        feature = pa.array(self.feature)
        fields = [
            pa.array(self.features, pa.string()).take(feature),
            pa.array(self.words, pa.string()).take(pa.array(self.value)),
            pa.array(self.contribution, pa.float64()),
            pa.array(["lowers", "raises"]).take(pa.array(self.raises.astype(np.int8))),
            pa.array(self.pathways, pa.string()).take(feature),
        ]
        entries = pa.StructArray.from_arrays(fields, fields=list(kind.value_type))
        return pa.ListArray.from_arrays(pa.array(self.offsets, pa.int32()), entries, type=kind)


_STRUCTURED = (CodedColumn, FactorColumn)


def concat_columns(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Scoring columns of consecutive row sets as one set (a value for every row stays one)."""
    out: dict[str, Any] = {}
    for name, first in parts[0].items():
        if isinstance(first, _STRUCTURED):
            out[name] = type(first).concat([part[name] for part in parts])
        elif isinstance(first, np.ndarray):
            out[name] = np.concatenate([part[name] for part in parts])
        else:
            out[name] = first
    return out


def to_frame(columns: Mapping[str, Any]) -> pd.DataFrame:
    """Scoring columns as a DataFrame of :data:`OUTPUT_COLUMNS` (lists as Python lists)."""
    data = {name: value.to_pylist() if isinstance(value, _STRUCTURED) else value for name, value in columns.items()}
    return pd.DataFrame(data, columns=list(OUTPUT_COLUMNS), index=pd.RangeIndex(len(columns["release_id"])))


# --------------------------------------------------------------------------- JSON


def json_ready(value: Any) -> Any:
    """A JSON-ready Python value: numpy scalars and arrays unwrapped, NaN and infinities ``None``.

    Examples
    --------
    >>> json_ready(np.float64("nan")), json_ready(np.array([1, 2]))
    (None, [1, 2])
    """
    if isinstance(value, np.ndarray):
        return [json_ready(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _column_values(values: np.ndarray) -> list[Any]:
    """A column as JSON-ready Python values: NaN and infinities become ``None``."""
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        out = values.tolist()
        if not finite.all():
            for i in np.flatnonzero(~finite):
                out[i] = None
        return out
    if values.dtype.kind in "iub":
        return values.tolist()
    return [json_ready(v) for v in values.tolist()]


def _json_values(value: Any, n: int) -> list[Any]:
    if isinstance(value, _STRUCTURED):
        return value.to_pylist()
    if isinstance(value, np.ndarray):
        return _column_values(value)
    return [json_ready(value)] * n


def render_rows(columns: pd.DataFrame | Mapping[str, Any]) -> list[str]:
    """Each scoring output row as JSON object text, in :data:`OUTPUT_COLUMNS` order.

    Parameters
    ----------
    columns : DataFrame or mapping
        A scoring output DataFrame, or the columns of
        :func:`~riskmodel.scoring.scoring.score_columns` (a column may be one value for
        every row).

    Returns
    -------
    list of str
        ``needs`` a list of pathway codes, ``warnings`` a list of ``{code, message,
        field}`` objects, ``top_factors`` a list of factor objects; NaN and infinities
        are ``null``.
    """
    data = {c: columns[c].to_numpy() for c in columns.columns} if isinstance(columns, pd.DataFrame) else columns
    n = len(data["release_id"])
    names = [c for c in OUTPUT_COLUMNS if c in data]
    values = [_json_values(data[c], n) for c in names]
    return [orjson.dumps(dict(zip(names, row, strict=True))).decode() for row in zip(*values, strict=True)]


def render_json(columns: pd.DataFrame | Mapping[str, Any]) -> str:
    """Scoring output rows as one JSON array (see :func:`render_rows`)."""
    return "[" + ", ".join(render_rows(columns)) + "]"


def to_records(columns: pd.DataFrame | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Scoring output rows as JSON-ready dicts (what :func:`render_json` writes)."""
    return json.loads(render_json(columns))


# --------------------------------------------------------------------------- CSV


def _json_lists(lists: pa.Array) -> pa.Array:
    """Each row's ``list<struct>`` as JSON text (as :func:`json.dumps` writes it), without a Python string per row.

    Each field's distinct values are written once, with the field's key (and the
    entry's ``{`` or ``}``, and the ``[`` or ``]`` of an entry that opens or closes its
    row's list); Arrow's kernels take and join them.
    """
    entries = lists.flatten()
    lengths = pc.list_value_length(lists).fill_null(0)
    counts = lengths.to_numpy(zero_copy_only=False)
    ends = np.cumsum(counts)
    starts, full = ends - counts, counts > 0
    opens, closes = np.zeros(len(entries), dtype=np.int64), np.zeros(len(entries), dtype=np.int64)
    opens[starts[full]] = 1
    closes[ends[full] - 1] = 1
    last = entries.type.num_fields - 1
    pieces = []
    for i, (kind, values) in enumerate(zip(entries.type, entries.flatten(), strict=True)):
        encoded = pc.dictionary_encode(values)
        words = [json.dumps(v) for v in encoded.dictionary.to_pylist()] + ["null"]
        index = encoded.indices.fill_null(len(words) - 1).to_numpy(zero_copy_only=False).astype(np.int64)
        key = ("{" if i == 0 else ", ") + json.dumps(kind.name) + ": "
        texts = [key + word + ("}" if i == last else "") for word in words]
        if i == 0:  # the first field also comes opening its row's list
            texts, index = texts + ["[" + text for text in texts], index + opens * len(texts)
        if i == last:  # and the last closing it
            texts, index = texts + [text + "]" for text in texts], index + closes * len(texts)
        pieces.append(pa.array(texts, pa.string()).take(pa.array(index)))
    elements = pc.binary_join_element_wise(*pieces, "")
    offsets = pa.array(np.concatenate([[0], ends]), pa.int32())
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, elements), ", ")
    return pc.if_else(pc.equal(lengths, 0), pa.scalar("[]"), joined)


def flatten_for_csv(table: pa.Table) -> pa.Table:
    """The scores as :func:`csv_schema`: needs joined with ``"; "``, warnings and factors as JSON lists."""
    for name in STRUCTURED_COLUMNS:
        index = table.schema.get_field_index(name)
        column = table.column(index).combine_chunks()
        text = pc.binary_join(column, "; ") if name == "needs" else _json_lists(column)
        table = table.set_column(index, pa.field(name, pa.string()), text)
    return table


def _parse_list(text: Any, name: str) -> list[Any]:
    if not isinstance(text, str) or not text:
        return []
    return text.split("; ") if name == "needs" else json.loads(text)


def read_scores(path: Path) -> pd.DataFrame:
    """A scores file (Parquet or CSV) with needs, warnings and factors as Python lists.

    CSV blanks and Parquet nulls read alike: NaN in number columns, ``""`` in text
    columns. Meant for checks and small files: it makes a Python object per list.
    """
    path = Path(path)
    if path.suffix.lower() == ".csv":
        as_text = {c: str for c in OUTPUT_COLUMNS if c not in _TYPES or c in STRUCTURED_COLUMNS}
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=as_text)
        for name in STRUCTURED_COLUMNS:
            if name in frame:
                frame[name] = [_parse_list(text, name) for text in frame[name].tolist()]
    else:
        table = pq.read_table(path)
        frame = table.drop_columns([c for c in STRUCTURED_COLUMNS if c in table.column_names]).to_pandas()
        for name in STRUCTURED_COLUMNS:
            if name in table.column_names:
                frame[name] = table.column(name).to_pylist()
        frame = frame[table.column_names]
    for name in frame.columns:
        if frame[name].dtype == object and name not in STRUCTURED_COLUMNS:
            frame[name] = frame[name].fillna("")
    return frame
