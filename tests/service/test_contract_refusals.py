"""The contract's safeguards as the service answers them (issue 10, points 6 and 9).

Identifiers by pattern, booleans that are not numbers, out-of-range values and integers
too large for a double are answered 422 naming the field and the rule; unknown fields
are ignored with an ``unknown_field`` warning in the answer of the release that carried
them, also when requests are scored together.
"""

from __future__ import annotations

import json
from concurrent.futures import Future

import pytest
import states

from riskmodel.service.state import MAX_UNKNOWN_FIELD_WARNINGS, ServiceError, ServiceState, _Job

state, panel, rows = states.state, states.panel, states.rows  # the module's fixtures


def answer_together(state: ServiceState, panel: str, requests: list[list[dict]]) -> list[Future]:
    """Answer ``requests`` in one group, as the scoring thread does with requests that waited together."""
    jobs = [_Job(releases=releases, future=Future(), authorization=panel) for releases in requests]
    state._answer(jobs)
    return [job.future for job in jobs]


def unknown_field_warnings(row: dict) -> list[dict]:
    return [w for w in row["warnings"] if w["code"] == "unknown_field"]


def test_an_unknown_field_is_warned_of_in_its_releases_answer_only(state, panel, rows):
    noted = [dict(rows[0], officer_note="see file"), rows[1]]
    plain = [rows[2]]

    futures = answer_together(state, panel, [noted, plain])

    first, second = (json.loads(f.result().body) for f in futures)
    assert unknown_field_warnings(first[0]) == [
        {
            "code": "unknown_field",
            "message": "officer_note: not a contract column nor a declared extra feature; ignored",
            "field": "officer_note",
        }
    ]
    assert unknown_field_warnings(first[1]) == [] and unknown_field_warnings(second[0]) == []
    assert "see file" not in futures[0].result().body  # the field is named, its value never echoed


def test_many_unknown_fields_give_a_bounded_number_of_warnings(state, panel, rows):
    junk = {f"junk_{i}": i for i in range(50)}
    answer = json.loads(answer_together(state, panel, [[dict(rows[0], **junk)]])[0].result().body)

    found = unknown_field_warnings(answer[0])
    assert len(found) == MAX_UNKNOWN_FIELD_WARNINGS + 1
    assert found[-1] == {"code": "unknown_field", "message": "40 more unknown fields ignored", "field": None}


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"pnc_number": "12/345678A"}, "releases[*].pnc_number", "direct identifier refused"),
        ({"Date of Birth": "1990-01-01"}, "releases[*].Date of Birth", "direct identifier refused"),
        ({"previous_sanctions": True}, "releases[1].previous_sanctions", "not a number"),
        ({"age_at_index_conviction": -5}, "releases[1].age_at_index_conviction", "must be 10 <= x <= age_at_release"),
        ({"release_date": "2099-01-01"}, "releases[1].release_date", "must be 1900-01-01 <= x <= today + 31 days"),
        ({"release_date": "2020-01-15T25:00"}, "releases[1].release_date", "not an ISO 8601 date"),
        ({"previous_sanctions": 10**400}, "releases[1].previous_sanctions", "integer too large"),
        ({"officer_note": 10**400}, "releases[1].officer_note", "integer too large"),
    ],
)
def test_a_value_the_contract_refuses_is_a_422_naming_the_field_and_rule(state, panel, rows, changes, field, rule):
    bad = [rows[3], dict(rows[4], **changes)]

    refused, innocent = answer_together(state, panel, [bad, [rows[5]]])

    with pytest.raises(ServiceError) as info:
        refused.result()
    assert info.value.status == 422
    problems = info.value.body["problems"]
    assert [p["field"] for p in problems] == [field] and problems[0]["rule"].startswith(rule)
    assert json.loads(innocent.result().body)[0]["release_id"] == rows[5]["release_id"]
