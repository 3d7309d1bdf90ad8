"""death_reporting: a configured form marks the report's patient deceased, another undoes it (spec 2.6)."""
from __future__ import annotations

import pytest

from ..support import CHW, NOW, drain, report

PATIENT = {"_id": "patient", "type": "person", "name": "Pat", "patient_id": "12348", "parent": CHW["parent"]}
SETTINGS = {
    "transitions": {"death_reporting": True},
    "forms": {"DEAD": {}, "UNDEAD": {}},
    "death_reporting": {"mark_deceased_forms": ["DEAD"], "undo_deceased_forms": ["UNDEAD"],
                        "date_field": "fields.death_details.date_of_death"},
}


def death_report(doc_id: str, form: str, **fields) -> dict:
    return report(doc_id, form=form, content_type="xml", reported_date=1700000000000, fields={"patient_id": "12348", **fields})


@pytest.mark.parametrize(
    "patient, form, fields, expected",
    [
        pytest.param({}, "DEAD", {"death_details": {"date_of_death": "2023-11-01"}}, "2023-11-01", id="the date field"),
        pytest.param({}, "DEAD", {}, 1700000000000, id="no date field: the report's date"),
        pytest.param({"date_of_death": "2020-01-01"}, "DEAD", {}, "2020-01-01", id="already deceased: kept"),
        pytest.param({"date_of_death": "2020-01-01"}, "UNDEAD", {}, None, id="undone"),
        pytest.param({}, "UNDEAD", {}, None, id="undo of a living patient: nothing"),
    ],
)
def test_the_patient_date_of_death(main, hierarchy, make_runner, patient, form, fields, expected):
    main.put({**PATIENT, **patient})
    before = main.get("patient")["_rev"]
    runner = make_runner(SETTINGS, clock=lambda: NOW)
    main.put(death_report("r", form, **fields))
    drain(runner)
    stored = main.get("patient")
    assert stored.get("date_of_death") == expected
    changed = (expected is not None) != bool(patient.get("date_of_death"))
    assert (stored["_rev"] != before) == changed


def test_a_configuration_without_mark_deceased_forms_is_refused(make_runner, main):
    runner = make_runner({"transitions": {"death_reporting": True}, "death_reporting": {"undo_deceased_forms": ["U"]}})
    assert runner.current is None and "death_reporting.mark_deceased_forms" in "\n".join(runner.config_error.problems)
