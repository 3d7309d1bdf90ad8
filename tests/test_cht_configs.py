"""Real CHT configurations run unchanged: check-config finds only what CHT itself fails on, and each one,
saved as the settings doc of a real server, runs its transitions on a report per form it reacts to."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sentinel.daemon.cli import main as cli

from .cht_corpus import CORPUS, CORPUS_DIR, SOURCES, check_config, corpus_ids, hierarchy_for, settings_of, trigger_reports
from .support import Clock, ClockedWorld, processed

RUNNABLE = [p for p in CORPUS if not SOURCES.get(p.stem, {}).get("cht_fails_on")]


def test_the_corpus_holds_ten_or_more_configurations_each_with_its_source():
    assert len(CORPUS) >= 10
    for path in CORPUS:
        source = SOURCES.get(path.stem)
        assert source, f"{path.name} has no entry in {CORPUS_DIR.name}/sources.json"
        assert source["repo"] and source["path"] and len(source["commit"]) == 40
    assert sorted(SOURCES) == sorted(corpus_ids())


@pytest.mark.parametrize("path", CORPUS, ids=corpus_ids())
def test_check_config_fails_only_where_cht_would_fail_and_lists_the_warnings(path, capsys):
    expected = SOURCES.get(path.stem, {}).get("cht_fails_on", [])
    problems, warnings = check_config(path)
    assert problems == expected
    assert cli(["check-config", str(path)]) == (1 if expected else 0)
    out = capsys.readouterr().out
    assert all(w in out for w in warnings)
    assert all(p in out for p in problems)


# What a transition that ran leaves behind, beyond its infodoc entry.
def _left_its_mark(transition: str, report: dict, patient: dict) -> bool:
    if transition == "death_reporting":
        return "date_of_death" in patient
    if transition == "update_clinics":
        return bool(report.get("contact")) or bool(report.get("errors"))
    if transition == "muting":
        return bool(patient.get("muted")) or bool(report.get("errors"))
    return bool(report.get("tasks") or report.get("errors") or report.get("scheduled_tasks"))


@pytest.mark.parametrize("path", RUNNABLE, ids=[p.stem for p in RUNNABLE])
def test_the_configuration_runs_its_transitions_on_a_real_server(path, pouchdb):
    values = settings_of(path)
    people = hierarchy_for(values)
    triggers = trigger_reports(values, people)
    plain = {"_id": "report-plain", "type": "data_record", "form": "NOT-CONFIGURED", "reported_date": 1704164645678,
             "fields": {}, "content_type": "xml", "contact": {"_id": "chw"}}
    with processed(pouchdb, values, people.docs + [plain] + [t.report for t in triggers], name=path.stem) as world:
        assert world.info(plain) is not None, "Sentinel did not process a report with these settings"
        for doc in people.docs:
            assert world.info(doc) is not None, f"contact {doc['_id']} was not processed"
        patient = world.doc(people.patient)
        for trigger in triggers:
            info = world.info(trigger.report) or {}
            ran = info.get("transitions") or {}
            report = world.doc(trigger.report)
            assert trigger.transition in ran, (trigger.form, report.get("errors"), ran)
            assert _left_its_mark(trigger.transition, report, patient), (trigger.form, report)


def test_chts_own_test_configuration_registers_a_patient_from_an_sms_end_to_end(pouchdb):
    """CHT's tests/config.default.json unchanged (its `synthetic_date: ""` included), with the
    registration its sentinel integration tests add on top: an SMS from a CHW registers a patient."""
    values = settings_of(CORPUS_DIR / "cht-core-tests-config-default.json")
    values.update({
        "transitions": {"update_clinics": True, "registration": True},
        "forms": {"NP": {
            "meta": {"code": "NP", "label": "New patient"},
            "fields": {"patient_name": {"labels": {"short": {"en": "Name"}}, "position": 0, "type": "string",
                                        "length": [1, 30], "required": True}},
        }},
        "registrations": [{
            "form": "NP",
            "events": [{"name": "on_create", "trigger": "add_patient", "params": "", "bool_expr": ""}],
            "validations": {"list": [{"property": "patient_name", "rule": "lenMin(1) && lenMax(30)",
                                      "message": [{"locale": "en", "content": "Name is required."}]}]},
            "messages": [{"recipient": "reporting_unit",
                          "message": [{"locale": "en", "content": "{{patient_name}} registered as {{patient_id}}"}]}],
        }],
    })
    people = hierarchy_for(values)
    sms = {"_id": "np-sms", "type": "data_record", "form": "NP", "from": "+254700000001", "reported_date": 1704164645678,
           "fields": {"patient_name": "Jane Doe"},
           "sms_message": {"from": "+254700000001", "message": "NP Jane Doe", "form": "NP", "type": "sms_message"}}
    with processed(pouchdb, values, people.docs + [sms]) as world:
        report = world.doc(sms)
        assert report["contact"]["_id"] == "chw"  # update_clinics found the CHW by phone
        assert not report.get("errors"), report.get("errors")
        patients = [r["doc"] for r in world.main.all_docs_range("", "\ufff0")
                    if r["doc"].get("name") == "Jane Doe" and r["doc"].get("patient_id")]
        assert len(patients) == 1
        patient = patients[0]
        assert patient["parent"]["_id"] == people.chw["parent"]["_id"]
        assert report["patient_id"] == patient["patient_id"]
        [task] = report["tasks"]
        assert task["state"] == "pending"
        assert task["messages"][0]["to"] == "+254700000001"
        assert task["messages"][0]["message"] == f"Jane Doe registered as {patient['patient_id']}"
        assert set(world.info(sms)["transitions"]) == {"update_clinics", "registration"}


def test_chts_standard_configuration_registers_a_child_by_sms_with_its_five_year_schedule(pouchdb):
    """config/standard unchanged: `CW 0 Baby Doe` registers a newborn and assigns "Child Health"."""
    values = settings_of(CORPUS_DIR / "cht-core-config-standard.json")
    people = hierarchy_for(values)
    sms = {"_id": "cw-sms", "type": "data_record", "form": "CW", "from": "+254700000001", "reported_date": 1704164645678,
           "fields": {"weeks_since_birth": 0, "patient_name": "Baby Doe"},
           "sms_message": {"from": "+254700000001", "message": "CW 0 Baby Doe", "form": "CW", "type": "sms_message"}}
    with processed(pouchdb, values, people.docs + [sms]) as world:
        report = world.doc(sms)
        assert not report.get("errors"), report.get("errors")
        assert report["birth_date"].startswith("2024-01-02")
        [child] = [r["doc"] for r in world.main.all_docs_range("", "\ufff0") if r["doc"].get("name") == "Baby Doe"]
        assert child["patient_id"] == report["patient_id"] and child["date_of_birth"] == report["birth_date"]
        scheduled = report["scheduled_tasks"]
        assert len(scheduled) == 60 and {t["state"] for t in scheduled} == {"scheduled"}
        assert scheduled[0]["due"].startswith("2024-02-05")  # a month on, the next Monday, 09:00
        assert {t["group"] for t in scheduled} == set(range(1, 61))
        assert set(world.info(sms)["transitions"]) == {"update_clinics", "registration", "default_responses"}


def test_the_interoperability_projects_outbound_push_sends_a_patient_to_a_real_endpoint(
    main, sentinel_db, make_runner, httpserver, monkeypatch
):
    """cht-interoperability's app_settings with only its OpenHIM address pointed at a local endpoint:
    a patient saved in the app is POSTed as its FHIR_patient mapping, with the basic credential."""
    values = settings_of(CORPUS_DIR / "cht-interoperability-app-settings.json")
    for push in values["outbound"].values():
        push["destination"]["base_url"] = httpserver.url_for("/")
    monkeypatch.setenv("SENTINEL_SECRET_OPENHIM1", "openhim-password")
    httpserver.expect_request("/mediator/patient", method="POST").respond_with_json({})
    people = hierarchy_for(values)
    at = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    clock = Clock(at)
    runner = make_runner(values, clock=clock)
    world = ClockedWorld(main, sentinel_db, runner, clock)
    world.save_all(people.docs)
    patient = {"_id": "fhir-patient", "type": "person", "role": "patient", "name": "Amina Odhiambo", "sex": "female",
               "date_of_birth": "1990-05-01", "parent": people.chw["parent"], "reported_date": 1704164645678}
    world.save(patient)
    assert sentinel_db.get("task:outbound:fhir-patient")["queue"] == ["FHIR_patient"]
    world.tick(at.replace(minute=10))
    [(request, _)] = httpserver.log
    assert request.get_json() == {"sex": "female", "name": "Amina Odhiambo", "_id": "fhir-patient", "birthDate": "1990-05-01"}
    assert request.authorization.username == "interop-client" and request.authorization.password == "openhim-password"
    assert sentinel_db.get("task:outbound:fhir-patient") is None
    [done] = sentinel_db.get("fhir-patient-info")["completed_tasks"]
    assert done["type"] == "outbound" and done["name"] == "FHIR_patient"
