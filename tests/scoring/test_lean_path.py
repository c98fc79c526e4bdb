"""The lean path of small requests (:mod:`riskmodel.scoring.single`) answers exactly as the table path.

For hand-made edge cases and a few hundred synthetic releases, the JSON of a request
scored without a DataFrame must be the same text as the table path's (same keys, values,
warnings, factors), and a request the lean validation cannot accept must get the table
path's refusal word for word.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from riskmodel.data.contract import validate_json_releases, validate_releases
from riskmodel.modelling.features import ReleaseFeatures
from riskmodel.scoring import scoring as scoring_module
from riskmodel.scoring import single
from riskmodel.scoring.output import render_rows
from riskmodel.scoring.scoring import score_columns, validate_for_scoring
from riskmodel.scoring.single import LeanRows, score_lean, validate_lean
from riskmodel.service.errors import ServiceError
from riskmodel.service.state import ServiceState

SCORED_AT = "2026-12-02T12:00:00Z"

BASE = {
    "release_id": "r1",
    "person_id": "p1",
    "release_date": "2024-03-01",
    "sex": "M",
    "age_at_release": 30,
    "previous_sanctions": 4,
    "index_offence": "burglary_domestic",
    "age_at_first_sanction": 16,
    "age_at_index_conviction": 29,
    "sentence_days": 180,
    "previous_custodial_sentences": 1,
    "previous_violent_sanctions": 2,
    "previous_breaches": 0,
    "needs_accommodation": True,
    "needs_employment": False,
    "needs_mental_health": "yes",
    "needs_substance_misuse": "no",
    "needs_finance": 1,
    "needs_family": 0,
    "ethnicity": "White",
}

REQUIRED = ("release_id", "person_id", "release_date", "sex", "age_at_release", "previous_sanctions", "index_offence")


def _release(**changes) -> dict:
    row = dict(BASE)
    for name, value in changes.items():
        if value is _DROP:
            row.pop(name, None)
        else:
            row[name] = value
    return row


_DROP = object()

#: Valid single releases that exercise the readers, OGRS3/ARP and the warnings.
VALID_CASES: dict[str, list[dict]] = {
    "typed": [_release()],
    "all text": [{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in BASE.items()}],
    "required only": [{k: BASE[k] for k in REQUIRED}],
    "optional nulls": [_release(**{k: None for k in BASE if k not in REQUIRED})],
    "optional blanks": [_release(**{k: "  " for k in BASE if k not in REQUIRED})],
    "case and spaces": [_release(sex="f", ethnicity="white", age_at_release=" 41.5 ", previous_sanctions=" 7 ")],
    "out of training range": [_release(age_at_release=99, sentence_days=9000, previous_sanctions=180)],
    "first sanction, no first age": [
        _release(previous_sanctions=0, previous_violent_sanctions=0, age_at_first_sanction=None)
    ],
    "first sanction later than index": [_release(age_at_first_sanction=29.5, age_at_index_conviction=15)],
    "no first age, repeat": [_release(age_at_first_sanction=_DROP)],
    "second sanction": [_release(previous_sanctions=1, previous_violent_sanctions=0)],
    "needs variants": [
        _release(
            needs_accommodation="TRUE",
            needs_employment="1.0",
            needs_mental_health=1.0,
            needs_substance_misuse=None,
            needs_finance="false",
            needs_family=_DROP,
        )
    ],
    "unknown fields": [_release(officer_note="x", another_field=3, z=None)],
    "integer ids": [_release(release_id=12345, person_id=678)],
    "float numbers": [_release(age_at_release=30.25, sentence_days=180.0)],
    "date with a time": [_release(release_date="2024-03-01T10:30:00")],
    "harm offence": [_release(index_offence="sexual_against_child")],
    "young": [_release(age_at_release=15, age_at_first_sanction=12, age_at_index_conviction=14, previous_sanctions=2)],
    "old woman": [_release(sex="F", age_at_release=72, age_at_first_sanction=70, age_at_index_conviction=71)],
    "several": [
        _release(release_id="a"),
        _release(release_id="b", sex="F", needs_family=True),
        _release(
            release_id="c",
            previous_sanctions=0,
            previous_violent_sanctions=None,
            age_at_first_sanction=None,
            index_offence="other",
        ),
    ],
    "several, optional missing in one": [
        _release(release_id="a"),
        {**{k: BASE[k] for k in REQUIRED}, "release_id": "b"},
    ],
    "eight": [
        _release(release_id=f"r{i}", age_at_release=30 + 5 * i, previous_sanctions=i, previous_violent_sanctions=0)
        for i in range(8)
    ],
}

#: Requests the lean validation leaves to the table path (refused, or typed differently by pandas).
TABLE_CASES: dict[str, list[dict]] = {
    "unknown offence": [_release(index_offence="arson")],
    "bad sex": [_release(sex="X")],
    "too young": [_release(age_at_release=5)],
    "negative sanctions": [_release(previous_sanctions=-1)],
    "fractional sanctions": [_release(previous_sanctions=2.5)],
    "blank required": [_release(person_id="  ")],
    "bad date": [_release(release_date="2021-02-30")],
    "future date": [_release(release_date="2999-01-01")],
    "bad flag": [_release(needs_family="maybe")],
    "first after release": [_release(age_at_first_sanction=31)],
    "violent above all": [_release(previous_violent_sanctions=9)],
    "duplicate ids": [_release(), _release()],
    "mixed id types": [_release(release_id=5), _release(release_id="b")],
    "id int and float": [_release(release_id=5), _release(release_id=6.5)],
}


@pytest.fixture(scope="module")
def champions(trained_home):
    from riskmodel.modelling.registry import load_champions

    return load_champions(trained_home.settings)


@pytest.fixture
def fixed_time(monkeypatch):
    monkeypatch.setattr(scoring_module, "utc_now", lambda: SCORED_AT)
    monkeypatch.setattr(single, "utc_now", lambda: SCORED_AT)


def _table_texts(releases: list[dict], champions) -> list[str]:
    table = validate_for_scoring(pd.DataFrame.from_records(releases), champions, line_offset=0)
    assert len(table.rejects) == 0
    return render_rows(score_columns(table.data, champions, scored_at=SCORED_AT)[0])


def _lean_texts(releases: list[dict], champions) -> list[str]:
    rows = validate_lean(releases, champions)
    assert rows is not None, "the lean validation refused a valid request"
    return render_rows(score_lean(rows, champions, scored_at=SCORED_AT))


@pytest.mark.parametrize("case", list(VALID_CASES))
def test_lean_scores_equal_the_table_path(case, champions):
    releases = VALID_CASES[case]
    lean, table = _lean_texts(releases, champions), _table_texts(releases, champions)
    assert lean == table
    assert json.loads(lean[0])["top_factors"], "an explained score has factors"


@pytest.mark.parametrize("case", list(TABLE_CASES))
def test_what_the_lean_validation_cannot_accept_goes_the_table_path(case, champions):
    assert validate_lean(TABLE_CASES[case], champions) is None


def test_synthetic_releases_one_by_one_and_in_eights(champions):
    from riskmodel.data.synth import generate_cohort

    frame = generate_cohort(300, seed=77).releases.head(300)
    records = json.loads(frame.to_json(orient="records", date_format="iso"))  # as a JSON client sends them
    for record in records:
        record["release_date"] = record["release_date"][:10]
    for record in records:
        assert _lean_texts([record], champions) == _table_texts([record], champions)
    for first in range(0, len(records), 8):
        group = records[first : first + 8]
        assert _lean_texts(group, champions) == _table_texts(group, champions)


def test_validated_columns_equal_the_accepted_table_with_extra_features():
    numeric, categorical = ("risk_score_x",), ("region",)
    releases = [
        _release(release_id="a", risk_score_x=3.5, region="north"),
        _release(release_id="b", risk_score_x=None, region="  south "),
        _release(release_id="c", risk_score_x="7", region=None),
        _release(release_id="d", risk_score_x=" ", region="west"),
    ]
    columns = validate_json_releases(releases, extra_numeric=numeric, extra_categorical=categorical)
    table = validate_releases(
        pd.DataFrame.from_records(releases), extra_numeric=numeric, extra_categorical=categorical, line_offset=0
    )
    assert columns is not None and len(table.rejects) == 0
    assert list(columns) == list(table.data.columns)
    for name in columns:
        expected = table.data[name].to_numpy()
        if expected.dtype.kind in "fM":
            np.testing.assert_array_equal(columns[name], expected)
        else:
            assert columns[name].tolist() == expected.tolist(), name
    features = ReleaseFeatures(extra_numeric=numeric, extra_categorical=categorical).fit(table.data.iloc[:2])
    np.testing.assert_array_equal(features.transform_columns(columns, len(releases)), features.transform(table.data))
    refused = [*releases[:3], _release(release_id="e", risk_score_x="lots")]
    assert validate_json_releases(refused, extra_numeric=numeric, extra_categorical=categorical) is None


def test_transform_columns_of_absent_columns_equals_transform():
    rows = pd.DataFrame({"sex": ["M", "F"], "age_at_release": [30.0, 40.0], "previous_sanctions": [4.0, 0.0],
                         "index_offence": ["robbery", "other"]})  # fmt: skip
    features = ReleaseFeatures().fit(rows)
    columns = {name: rows[name].to_numpy() for name in rows}
    np.testing.assert_array_equal(features.transform_columns(columns, 2), features.transform(rows))


def test_lean_rows_concatenate_in_order(champions):
    one = validate_lean([_release(release_id="a")], champions)
    two = validate_lean([_release(release_id="b", sex="F")], champions)
    both = LeanRows.concat([one, two])
    assert len(both) == 2 and both.columns["release_id"].tolist() == ["a", "b"]


# --------------------------------------------------------------------------- through the service


@pytest.fixture(scope="module")
def state(trained_home, tmp_path_factory):
    settings = replace(trained_home.settings, audit_url=f"sqlite:///{tmp_path_factory.mktemp('lean') / 'audit.db'}")
    s = ServiceState(settings)
    yield s
    s.close()
    s.store.engine.dispose()


def _answer(state, key, releases, monkeypatch, *, lean: bool):
    monkeypatch.setenv("RISKMODEL_LEAN", "1" if lean else "0")
    calls = []
    original = single.score_lean

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr("riskmodel.service.state.score_lean", spy)
    try:
        return ("ok", state.score_request(key, releases).body), bool(calls)
    except ServiceError as exc:
        return ("refused", exc.status, json.dumps(exc.body, sort_keys=True)), bool(calls)


@pytest.mark.parametrize("case", [*VALID_CASES, *TABLE_CASES])
def test_the_service_answers_the_same_either_way(case, state, monkeypatch, fixed_time):
    key = state.authorize(f"Bearer {state.store.create_key('panel')[0]}", "score")
    releases = {**VALID_CASES, **TABLE_CASES}[case]
    lean, used_lean = _answer(state, key, releases, monkeypatch, lean=True)
    table, used_table = _answer(state, key, releases, monkeypatch, lean=False)
    assert lean == table
    assert used_lean == (case in VALID_CASES) and not used_table


def test_a_large_request_keeps_the_table_path(state, monkeypatch, fixed_time):
    key = state.authorize(f"Bearer {state.store.create_key('panel')[0]}", "score")
    releases = [_release(release_id=f"r{i}") for i in range(single.LEAN_MAX_ROWS + 1)]
    answer, used_lean = _answer(state, key, releases, monkeypatch, lean=True)
    assert answer[0] == "ok" and not used_lean


def test_a_small_request_that_breaks_lean_scoring_fails_alone(state, monkeypatch):
    from riskmodel.service import state as service
    from riskmodel.service.state import _Job

    real = service.score_lean

    def fragile(rows, *args, **kwargs):
        if "bad" in rows.columns["release_id"].tolist():
            raise FloatingPointError("cannot score this row")
        return real(rows, *args, **kwargs)

    monkeypatch.setattr(service, "score_lean", fragile)
    key = state.authorize(f"Bearer {state.store.create_key('panel')[0]}", "score")
    requests = [[_release(release_id="a")], [_release(release_id="bad")], [_release(release_id="c")]]
    jobs = [_Job(releases=r, future=Future(), key=key) for r in requests]
    state._answer(jobs)
    assert [r["release_id"] for r in json.loads(jobs[0].future.result().body)] == ["a"]
    assert [r["release_id"] for r in json.loads(jobs[2].future.result().body)] == ["c"]
    with pytest.raises(ServiceError) as refused:  # its values are out of the models' reach: 422, not 500
        jobs[1].future.result()
    assert refused.value.status == 422
