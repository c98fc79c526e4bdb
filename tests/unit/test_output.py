"""The scoring output: schema, structured columns, JSON rendering and the CSV edge."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from riskmodel.scoring.output import (
    NEED_CODES,
    NEED_WORDS,
    NEEDS_TYPE,
    OUTPUT_COLUMNS,
    PARQUET_OPTIONS,
    TOP_FACTORS_TYPE,
    WARNINGS_TYPE,
    CodedColumn,
    FactorColumn,
    concat_columns,
    csv_schema,
    flatten_for_csv,
    output_schema,
    read_scores,
    render_json,
    render_rows,
    to_frame,
    to_records,
    warning,
)

RANGE = warning("outside_training_range", "age_at_release outside the training range 18.2-62.6", "age_at_release")
OGRS3 = warning("ogrs3_unavailable", "OGRS3 unavailable: age_at_first_sanction unknown", "age_at_first_sanction")

#: Three rows' factors: two, none, one (the third's pathway words have a comma).
FACTORS = [
    [
        {
            "feature": "copas_rate",
            "value": "high rate of sanctions",
            "contribution": 0.1448,
            "direction": "raises",
            "pathway": None,
        },
        {
            "feature": "needs_accommodation",
            "value": 'said "no"',
            "contribution": -0.0176,
            "direction": "lowers",
            "pathway": "accommodation",
        },
    ],
    [],
    [
        {
            "feature": "needs_employment",
            "value": "need identified",
            "contribution": 0.0001,
            "direction": "raises",
            "pathway": "education, training and employment",
        }
    ],
]


def _factors() -> FactorColumn:
    """:data:`FACTORS` as the flat arrays scoring makes."""
    return FactorColumn(
        offsets=np.array([0, 2, 2, 3]),
        feature=np.array([0, 1, 2]),
        value=np.array([0, 1, 2]),
        contribution=np.array([0.1448, -0.0176, 0.0001]),
        raises=np.array([True, False, True]),
        features=["copas_rate", "needs_accommodation", "needs_employment"],
        pathways=[None, "accommodation", "education, training and employment"],
        words=["high rate of sanctions", 'said "no"', "need identified"],
    )


def _columns() -> dict[str, object]:
    """Three rows of scoring columns as :func:`~riskmodel.scoring.scoring.score_columns` gives them."""
    flags = np.array([[1, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 1]], dtype=bool)
    out: dict[str, object] = {name: "x" for name in OUTPUT_COLUMNS}
    out.update(
        release_id=np.array(["r1", "r2", "r3"], dtype=object),
        person_id=np.array(["p1", "p2", "p3"], dtype=object),
        reoffence_probability=np.array([0.5, 0.25, 0.125]),
        harm_probability=np.array([0.1, 0.2, 0.3]),
        frequency_expected=np.array([1.0, 2.0, 3.0]),
        priority_rank=np.array([3, 2, 1]),
        priority_score=np.array([1.0, 2.0, 3.0]),
        ogrs3_1y=np.array([0.5, np.nan, 0.25]),
        ogrs3_2y=np.array([0.6, np.nan, 0.35]),
        ogrs3_band=np.array(["low", None, "low"], dtype=object),
        arp_2y=np.array([0.2, np.nan, 0.8]),
        arp_band=np.array(["low", None, "high"], dtype=object),
        needs=CodedColumn.from_flags(flags, NEED_CODES),
        warnings=CodedColumn.from_flags(np.array([[1, 1], [0, 0], [0, 1]], dtype=bool), [RANGE, OGRS3]),
        top_factors=_factors(),
        scored_at="2025-01-01T00:00:00Z",
    )
    return out


def _table(columns: dict[str, object]) -> pa.Table:
    schema = output_schema()
    arrays = []
    for name, kind in zip(schema.names, schema.types, strict=True):
        value = columns[name]
        if isinstance(value, (CodedColumn, FactorColumn)):
            arrays.append(value.to_arrow(kind))
        elif isinstance(value, str):
            arrays.append(pa.array([value] * 3, kind))
        else:
            arrays.append(pa.array(value, kind, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


# --------------------------------------------------------------------------- schema


def test_the_schema_has_the_contract_columns_with_nested_lists():
    schema = output_schema()
    assert schema.names == list(OUTPUT_COLUMNS)
    assert schema.field("needs").type == NEEDS_TYPE == pa.list_(pa.string())
    assert [f.name for f in WARNINGS_TYPE.value_type] == ["code", "message", "field"]
    assert [f.name for f in TOP_FACTORS_TYPE.value_type] == ["feature", "value", "contribution", "direction", "pathway"]
    assert schema.field("priority_rank").type == pa.int64()
    assert schema.field("reoffence_probability").type == pa.float64()
    flat = csv_schema()
    assert flat.names == list(OUTPUT_COLUMNS)
    assert all(flat.field(c).type == pa.string() for c in ("needs", "warnings", "top_factors"))


def test_need_codes_are_the_columns_without_their_prefix():
    assert NEED_CODES == ("accommodation", "employment", "mental_health", "substance_misuse", "finance", "family")
    assert NEED_WORDS["substance_misuse"] == "drugs and alcohol"


# --------------------------------------------------------------------------- structured columns


def test_a_coded_column_makes_each_distinct_list_once():
    column = _columns()["needs"]
    assert column.to_pylist() == [["accommodation", "family"], [], ["accommodation", "family"]]
    assert len(column.values) == 2
    assert column.to_pylist()[0] is column.to_pylist()[2]
    assert column.counts() == [([], 1), (["accommodation", "family"], 2)]
    assert column.to_arrow(NEEDS_TYPE).to_pylist() == column.to_pylist()
    assert CodedColumn.empty(2).to_pylist() == [[], []]
    assert CodedColumn.from_flags(np.zeros((2, 0), dtype=bool), []).to_pylist() == [[], []]


def test_structured_columns_concatenate_row_sets():
    one, two = _columns(), _columns()
    both = concat_columns([one, two])
    assert both["needs"].to_pylist() == one["needs"].to_pylist() * 2
    assert both["warnings"].to_pylist() == one["warnings"].to_pylist() * 2
    assert both["top_factors"].to_pylist() == FACTORS * 2
    assert both["reoffence_probability"].tolist() == [0.5, 0.25, 0.125] * 2
    assert both["scored_at"] == "2025-01-01T00:00:00Z"


def test_factor_columns_in_python_and_in_arrow():
    factors = _factors()
    assert factors.to_pylist() == FACTORS
    assert factors.to_arrow().to_pylist() == FACTORS
    assert FactorColumn.empty(2).to_pylist() == [[], []]
    assert FactorColumn.empty(2).to_arrow().to_pylist() == [[], []]


# --------------------------------------------------------------------------- JSON


def test_json_keeps_lists_and_objects_and_writes_nan_as_null():
    records = [json.loads(text) for text in render_rows(_columns())]
    assert list(records[0]) == list(OUTPUT_COLUMNS)
    assert records[0]["needs"] == ["accommodation", "family"] and records[1]["needs"] == []
    assert records[0]["warnings"] == [RANGE, OGRS3] and records[2]["warnings"] == [OGRS3]
    assert records[0]["top_factors"] == FACTORS[0] and records[1]["top_factors"] == []
    assert records[1]["ogrs3_1y"] is None and records[1]["ogrs3_band"] is None
    assert records[2]["scored_at"] == "2025-01-01T00:00:00Z" and records[2]["priority_rank"] == 1


def test_a_frame_renders_like_its_columns():
    columns = _columns()
    assert render_json(to_frame(columns)) == render_json(columns)
    assert to_records(to_frame(columns)) == json.loads(render_json(columns))


# --------------------------------------------------------------------------- files


def test_csv_flattens_needs_with_semicolons_and_lists_as_json():
    flat = flatten_for_csv(_table(_columns()))
    assert flat.schema == csv_schema()
    assert flat.column("needs").to_pylist() == ["accommodation; family", "", "accommodation; family"]
    assert flat.column("warnings").to_pylist() == [json.dumps([RANGE, OGRS3]), "[]", json.dumps([OGRS3])]
    # the text json.dumps writes, byte for byte (what the CSV held before the lists were structured)
    assert flat.column("top_factors").to_pylist() == [json.dumps(f) for f in FACTORS]


def test_csv_of_rows_without_any_factor_or_warning():
    columns = _columns() | {"warnings": CodedColumn.empty(3), "top_factors": FactorColumn.empty(3)}
    flat = flatten_for_csv(_table(columns))
    assert flat.column("warnings").to_pylist() == flat.column("top_factors").to_pylist() == ["[]"] * 3


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_scores_files_read_back_to_the_structured_values(tmp_path, suffix):
    table = _table(_columns())
    path = tmp_path / f"scores{suffix}"
    if suffix == ".csv":
        with pacsv.CSVWriter(path, csv_schema()) as writer:
            writer.write_table(flatten_for_csv(table))
    else:
        pq.write_table(table, path, **PARQUET_OPTIONS)
    scores = read_scores(path)
    assert list(scores.columns) == list(OUTPUT_COLUMNS)
    assert scores["needs"].tolist() == _columns()["needs"].to_pylist()
    assert scores["warnings"].tolist() == _columns()["warnings"].to_pylist()
    assert scores["top_factors"].tolist() == FACTORS
    assert scores["ogrs3_band"].tolist() == ["low", "", "low"]
    assert np.isnan(scores.loc[1, "ogrs3_1y"]) and scores["priority_rank"].tolist() == [3, 2, 1]
