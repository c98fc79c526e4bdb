"""The panel's pieces without a browser: filters, the transparency record, settings, escaping."""

from __future__ import annotations

import pytest

from riskmodel.service.panel.pages import PanelSettings, _environment, person_url
from riskmodel.service.panel.views import ATRS_FIELDS, Filters, atrs_record, clean_row, filter_rows

ROWS = [
    {"release_id": "R1", "person_id": "P1", "priority_rank": 1, "reoffence_band": "high", "harm_band": "low",
     "needs": ["accommodation"]},
    {"release_id": "R2", "person_id": "P2", "priority_rank": 2, "reoffence_band": "low", "harm_band": "low",
     "needs": []},
    {"release_id": "R12", "person_id": "P1", "priority_rank": 3, "reoffence_band": "high", "harm_band": "medium",
     "needs": ["accommodation", "finance"]},
]  # fmt: skip


def ids(rows):
    return [r["release_id"] for r in rows]


def test_the_list_is_cut_at_capacity_by_default_and_filtered():
    assert ids(filter_rows(ROWS, Filters.from_query({}, capacity=2))) == ["R1", "R2"]
    assert ids(filter_rows(ROWS, Filters.from_query({"top": ""}, capacity=2))) == ["R1", "R2", "R12"]
    everything = {"top": ""}
    assert ids(filter_rows(ROWS, Filters.from_query({**everything, "reoffence_band": "high"}, 2))) == ["R1", "R12"]
    assert ids(filter_rows(ROWS, Filters.from_query({**everything, "harm_band": "medium"}, 2))) == ["R12"]
    assert ids(filter_rows(ROWS, Filters.from_query({**everything, "need": "finance"}, 2))) == ["R12"]
    assert ids(filter_rows(ROWS, Filters.from_query({**everything, "q": "r1"}, 2))) == ["R1", "R12"]
    assert ids(filter_rows(ROWS, Filters.from_query({**everything, "q": "P1"}, 2))) == ["R1", "R12"]
    decided = Filters.from_query({**everything, "decided": "yes"}, 2)
    assert ids(filter_rows(ROWS, decided, decided={"R2"})) == ["R2"]


def test_unknown_filter_values_are_ignored():
    filters = Filters.from_query({"reoffence_band": "<b>", "need": "ethnicity", "top": "-3"}, capacity=50)
    assert (filters.reoffence_band, filters.need, filters.top) == ("", "", None)


def test_a_row_never_keeps_ethnicity():
    assert "ethnicity" not in clean_row({"release_id": "R1", "ethnicity": "White", "needs": None})


def test_the_transparency_record_takes_the_operators_fields_and_generates_the_rest(tmp_path):
    models = {"reoffence": {"name": "riskmodel-reoffence", "version": "3", "training_data_fingerprint": "abc"}}
    default = atrs_record(models, {})
    assert default["fields"] == ATRS_FIELDS and default["filled"] == [] and default["source"] is None
    given = tmp_path / "atrs.yaml"
    given.write_text("owner: Anytown Police, iom@anytown.example\ncontest: Write to the IOM lead.\n")
    record = atrs_record(models, {"RISKMODEL_ATRS_FILE": str(given)})
    assert record["filled"] == ["contest", "owner"]
    assert record["fields"]["owner"].startswith("Anytown Police")
    assert record["models"]["reoffence"] == {"version": "riskmodel-reoffence/3", "data": "abc"}
    broken = tmp_path / "broken.yaml"
    broken.write_text("- a list\n")
    assert "must be a mapping" in atrs_record(models, {"RISKMODEL_ATRS_FILE": str(broken)})["problem"]


def test_settings_refuse_bad_values_naming_the_variable():
    assert PanelSettings.from_env({}) == PanelSettings(1800, 28800, "auto")
    with pytest.raises(ValueError, match="RISKMODEL_PANEL_ABSOLUTE_TIMEOUT_S: must be a positive whole number"):
        PanelSettings.from_env({"RISKMODEL_PANEL_ABSOLUTE_TIMEOUT_S": "0"})
    with pytest.raises(ValueError, match="RISKMODEL_PANEL_SECURE_COOKIE: must be auto, true or false"):
        PanelSettings.from_env({"RISKMODEL_PANEL_SECURE_COOKIE": "yes please"})


def test_markup_in_an_id_is_escaped_in_text_and_in_links():
    markup = '<script>alert("x")</script>'
    assert person_url(markup) == "/panel/person/%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E"
    html = _environment().from_string("<a href='{{ id | person_url }}'>{{ id }}</a>").render(id=markup)
    assert "<script>" not in html and "&lt;script&gt;" in html
