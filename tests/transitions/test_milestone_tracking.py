"""milestone_tracking (issue 5): reports enrol a patient into a MOTECH milestone schedule, fulfil its
milestones and unenrol it; the `milestone_defaults` job defaults enrollments past their last window;
alerts are `scheduled_tasks` of the enrollment document that `sentinel tick` makes pending.

Everything runs against the real PouchDB Server. The arithmetic itself is tested in
tests/test_milestones.py; here the values are the documents' (hand-checked in the comments).
"""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from typing import Any

import pytest

from sentinel.jobs import milestone_defaults
from sentinel.core.errors import ConfigError
from sentinel.daemon.settings_check import build

from ..support import CHW, Clock, drain, report

ENROLLED = datetime(2026, 1, 5, 5, 0, tzinfo=timezone.utc)  # Monday 08:00 in Nairobi
CLINIC_IDS = {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}
AMY = {"_id": "amy", "type": "person", "name": "Amy", "patient_id": "10001", "parent": CLINIC_IDS}
BOB = {"_id": "bob", "type": "person", "name": "Bob", "patient_id": "10002", "parent": CLINIC_IDS}

VACCINE = {
    "name": "Vaccine",
    "translation_key": "vaccine.alert",
    "recipient": "reporting_unit",
    "milestones": [
        {"name": "Dose 1", "scheduleWindows": {"earliest": "1 week", "due": "2 weeks", "late": "3 weeks", "max": ""},
         "alerts": [{"window": "due", "offset": "0 days", "interval": "2 days", "count": 2},
                    {"window": "Late", "offset": "0 days", "interval": "1 day", "count": 1}]},
        {"name": "Dose 2", "scheduleWindows": {"earliest": "2 weeks", "due": "3 weeks"},
         "alerts": [{"window": "due", "offset": "0 days", "interval": "0 days", "count": 1}]},
    ],
}
# The pre-2012 IPTI schedule of the user's description (motech simple-schedule.json), with a message.
IPTI = {
    "name": "IPTI Schedule",
    "totalDuration": "52 Weeks",
    "message": [{"locale": "en", "content": "{{patient_name}} is due for {{current_milestone}}."}],
    "recipient": "reporting_unit",
    "milestones": [
        {"name": "IPTI 1", "referenceDate": "IPTI Schedule",
         "scheduleWindows": {"earliest": "13 Weeks", "due": "14 Weeks", "late": "16 Weeks", "max": ""},
         "data": {"Foo": "Bar"},
         "alerts": [{"window": "Late", "startOffset": "0 Days", "interval": "1 Day", "count": "7"},
                    {"window": "Late", "startOffset": "1 Week", "interval": "1 Week", "count": "51"}]},
        {"name": "IPTI 2", "referenceDate": "IPTI 1",
         "scheduleWindows": {"earliest": "1 Weeks", "due": "2 Weeks", "late": "3 Weeks", "max": ""},
         "data": {"doo": "Bar"}},
    ],
}
SETTINGS: dict[str, Any] = {
    "transitions": {"milestone_tracking": True},
    "timezone": "Africa/Nairobi",
    "schedule_morning_hours": 8,
    "schedule_evening_hours": 18,
    "forms": {code: {} for code in ("ENR", "FUL", "UNE", "IPTI", "IPTIF")},
    "milestone_schedules": [VACCINE, IPTI],
    "milestone_enrollments": [
        {"form": "ENR", "schedule": "Vaccine", "action": "enroll", "preferred_alert_time": "09:00",
         "messages": [{"event_type": "already_enrolled", "recipient": "reporting_unit",
                       "message": [{"locale": "en", "content": "{{patient_name}} is already enrolled."}]}]},
        {"form": "FUL", "schedule": "Vaccine", "action": "fulfill", "date": "fields.given"},
        {"form": "UNE", "schedule": "Vaccine", "action": "unenroll"},
        {"form": "IPTI", "schedule": "IPTI Schedule", "action": "enroll", "reference_date": "fields.dob",
         "preferred_alert_time": "fields.alert_time"},
        {"form": "IPTIF", "schedule": "IPTI Schedule", "action": "fulfill"},
    ],
}
TRANSLATIONS = {"_id": "messages-en", "type": "translations", "code": "en",
                "generic": {"vaccine.alert": "{{patient_name}} ({{patient_id}}): {{current_milestone}} is due."}}


@pytest.fixture
def world(main, hierarchy, make_runner):
    main.bulk_docs([dict(AMY), dict(BOB), dict(TRANSLATIONS)])
    clock = Clock(ENROLLED)
    runner = make_runner(SETTINGS, clock=clock)
    drain(runner)
    return main, runner, clock


def send(main, runner, clock, doc: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
    """Save a report, let Sentinel process it at `at` (default: its reported_date), return it as stored."""
    if at is not None:
        clock.now = at
    main.put(doc)
    drain(runner)
    return main.get(doc["_id"])


def sms(doc_id: str, form: str, patient: str = "10001", at: datetime = ENROLLED, **fields: Any) -> dict[str, Any]:
    return report(doc_id, form=form, reported_date=int(at.timestamp() * 1000), fields={"patient_id": patient, **fields},
                  **{"from": CHW["phone"], "contact": {"_id": "chw", "parent": CLINIC_IDS}})


def iso(*parts: int) -> str:
    return datetime(*parts, tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def tasks(enrollment: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(t["milestone"], t["window"], t["due"], t["state"]) for t in enrollment["scheduled_tasks"]]


def tick(main, pouchdb, now: datetime) -> None:
    """`sentinel tick --now` as its own process, as an operator would run it."""
    env = dict(os.environ, COUCH_URL=f"{pouchdb.url}/{main.name}")
    result = subprocess.run([sys.executable, "-m", "sentinel", "tick", "--now", now.isoformat()], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


ENROLLMENT_1 = "enrollment:Vaccine:amy:1"
# Dose 1 counts from the report (08:00 Nairobi, 5 Jan): earliest 1 week, due until 2 weeks, late until 3.
DOSE_1_WINDOWS = {
    "earliest": {"start": iso(2026, 1, 5, 5), "end": iso(2026, 1, 12, 5)},
    "due": {"start": iso(2026, 1, 12, 5), "end": iso(2026, 1, 19, 5)},
    "late": {"start": iso(2026, 1, 19, 5), "end": iso(2026, 1, 26, 5)},
    "max": {"start": iso(2026, 1, 26, 5), "end": iso(2026, 1, 26, 5)},
}
# due: the window start at 09:00 Nairobi and 2 days later; late: its start at 09:00
DOSE_1_ALERTS = [("Dose 1", "due", iso(2026, 1, 12, 6), "scheduled"), ("Dose 1", "due", iso(2026, 1, 14, 6), "scheduled"),
                 ("Dose 1", "late", iso(2026, 1, 19, 6), "scheduled")]


# --- enrolment -----------------------------------------------------------------------------------------


def test_a_report_enrols_its_patient_in_an_enrollment_document(world):
    main, runner, clock = world
    enr = send(main, runner, clock, sms("enr", "ENR"))
    assert enr["enrollment_id"] == ENROLLMENT_1 and "errors" not in enr
    enrollment = main.get(ENROLLMENT_1)
    assert {k: v for k, v in enrollment.items() if k not in ("_rev", "scheduled_tasks")} == {
        "_id": ENROLLMENT_1,
        "type": "enrollment",
        "schedule": "Vaccine",
        "patient_id": "10001",
        "patient_uuid": "amy",
        "status": "active",
        "status_history": [{"status": "active", "date": iso(2026, 1, 5, 5), "report": "enr"}],
        "reference_date": iso(2026, 1, 5, 5),
        "enrolled_on": iso(2026, 1, 5, 5),
        "preferred_alert_time": "09:00",
        "current_milestone": "Dose 1",
        "windows": DOSE_1_WINDOWS,
        "fulfillments": [],
        "enrolled_by": "enr",
        "fields": {"patient_id": "10001", "patient_uuid": "amy", "patient_name": "Amy"},
        "contact": {"_id": "chw", "parent": CLINIC_IDS},
        "from": CHW["phone"],
    }
    assert tasks(enrollment) == DOSE_1_ALERTS
    first = enrollment["scheduled_tasks"][0]
    assert first == {"type": "Vaccine", "milestone": "Dose 1", "window": "due", "alert": 0, "number": 0,
                     "due": iso(2026, 1, 12, 6), "message_key": "vaccine.alert", "recipient": "reporting_unit",
                     "state": "scheduled", "state_history": [{"state": "scheduled", "timestamp": iso(2026, 1, 5, 5)}]}


def test_alerts_become_pending_at_their_time_with_sentinel_tick(world, pouchdb):
    main, runner, clock = world
    send(main, runner, clock, sms("enr", "ENR"))
    tick(main, pouchdb, datetime(2026, 1, 12, 5, 59, tzinfo=timezone.utc))  # 08:59 Nairobi: not yet
    assert [t[3] for t in tasks(main.get(ENROLLMENT_1))] == ["scheduled"] * 3
    tick(main, pouchdb, datetime(2026, 1, 12, 6, 0, tzinfo=timezone.utc))  # 09:00: the first due alert
    enrollment = main.get(ENROLLMENT_1)
    assert [t[3] for t in tasks(enrollment)] == ["pending", "scheduled", "scheduled"]
    message = enrollment["scheduled_tasks"][0]["messages"][0]
    assert message == {"uuid": message["uuid"], "to": CHW["phone"], "message": "Amy (10001): Dose 1 is due."}
    tick(main, pouchdb, datetime(2026, 1, 19, 6, 5, tzinfo=timezone.utc))  # the 14th's is overdue but within 7 days
    assert [t[3] for t in tasks(main.get(ENROLLMENT_1))] == ["pending", "pending", "pending"]


def test_enrolling_twice_while_active_changes_nothing_and_says_so(world):
    main, runner, clock = world
    send(main, runner, clock, sms("enr", "ENR"))
    before = main.get(ENROLLMENT_1)
    again = send(main, runner, clock, sms("enr-again", "ENR", at=datetime(2026, 1, 6, 5, tzinfo=timezone.utc)),
                 at=datetime(2026, 1, 6, 5, tzinfo=timezone.utc))
    assert main.get(ENROLLMENT_1) == before
    assert main.get("enrollment:Vaccine:amy:2") is None
    assert again["errors"] == [{"code": "milestone_already_enrolled", "message": "Amy is already enrolled in Vaccine."}]
    assert [(t["messages"][0]["to"], t["messages"][0]["message"], t["state"]) for t in again["tasks"]] == [
        (CHW["phone"], "Amy is already enrolled.", "pending")]


def test_a_report_processed_again_does_not_enrol_twice_nor_complain(world):
    main, runner, clock = world
    enr = send(main, runner, clock, sms("enr", "ENR"))
    # the report's write is lost (a crash): its infodoc and the enrollment survive, the report is edited
    enr.pop("enrollment_id")
    main.put(enr)
    sentinel = runner.sentinel
    info = sentinel.get("enr-info")
    info["transitions"] = {}
    sentinel.put(info)
    main.put({**main.get("enr"), "note": "edited"})
    drain(runner)
    assert sentinel.get("enr-info")["transitions"]["milestone_tracking"]["ok"] is True  # it did run again
    again = main.get("enr")
    assert "errors" not in again and again["enrollment_id"] == ENROLLMENT_1  # its lost write put back
    assert main.get("enrollment:Vaccine:amy:2") is None


def test_enrolment_after_the_last_window_is_defaulted_at_once(world):
    main, runner, clock = world
    old = datetime(2025, 11, 1, 5, tzinfo=timezone.utc)
    send(main, runner, clock, sms("enr-old", "ENR", at=old))  # processed on 5 Jan: Dose 1 ended on 22 Nov
    enrollment = main.get(ENROLLMENT_1)
    assert enrollment["status"] == "defaulted" and enrollment["scheduled_tasks"] == []
    assert enrollment["status_history"] == [{"status": "defaulted", "date": iso(2026, 1, 5, 5), "report": "enr-old"}]


def test_a_report_without_a_known_patient_gets_an_error(world):
    main, runner, clock = world
    enr = send(main, runner, clock, sms("nobody", "ENR", patient="99999"))
    assert [e["code"] for e in enr["errors"]] == ["milestone_subject_not_found"]
    assert main.get("enrollment:Vaccine:99999:1") is None


# --- fulfilment, completion --------------------------------------------------------------------------


def test_fulfilling_clears_unsent_alerts_and_plans_the_next_milestone_from_the_fulfilment(world, pouchdb):
    main, runner, clock = world
    send(main, runner, clock, sms("enr", "ENR"))
    tick(main, pouchdb, datetime(2026, 1, 12, 6, 0, tzinfo=timezone.utc))  # the first alert is sent
    given = datetime(2026, 1, 13, 7, tzinfo=timezone.utc)  # 10:00 Nairobi
    ful = send(main, runner, clock, sms("ful", "FUL", at=given, given="2026-01-13T10:00:00+03:00"), at=given)
    assert ful["enrollment_id"] == ENROLLMENT_1 and "errors" not in ful
    enrollment = main.get(ENROLLMENT_1)
    assert enrollment["status"] == "active" and enrollment["current_milestone"] == "Dose 2"
    assert enrollment["fulfillments"] == [{"milestone": "Dose 1", "date": iso(2026, 1, 13, 7), "report": "ful"}]
    # Dose 2 counts from the fulfilment: earliest 2 weeks (to 27 Jan 10:00 Nairobi), due until 3 weeks;
    # its alert at the due window's start, on that day at 09:00 (the preferred time replaces the time of day)
    assert enrollment["windows"]["due"] == {"start": iso(2026, 1, 27, 7), "end": iso(2026, 2, 3, 7)}
    # every unsent alert of Dose 1 is cleared, the pending one too (as clear_schedule does)
    assert tasks(enrollment) == [
        ("Dose 1", "due", iso(2026, 1, 12, 6), "cleared"),
        ("Dose 1", "due", iso(2026, 1, 14, 6), "cleared"),
        ("Dose 1", "late", iso(2026, 1, 19, 6), "cleared"),
        ("Dose 2", "due", iso(2026, 1, 27, 6), "scheduled"),
    ]
    assert enrollment["scheduled_tasks"][1]["cleared_by"] == "ful"


def test_fulfilling_at_the_same_datetime_again_is_a_no_op_and_the_last_milestone_completes(world):
    main, runner, clock = world
    send(main, runner, clock, sms("enr", "ENR"))
    given = datetime(2026, 1, 13, 7, tzinfo=timezone.utc)
    send(main, runner, clock, sms("ful", "FUL", at=given, given="2026-01-13T10:00:00+03:00"), at=given)
    after_first = main.get(ENROLLMENT_1)
    same = send(main, runner, clock, sms("ful-same", "FUL", at=given, given="2026-01-13T07:00:00Z"), at=given)
    assert main.get(ENROLLMENT_1)["_rev"] == after_first["_rev"] and "errors" not in same
    done = datetime(2026, 1, 28, 7, tzinfo=timezone.utc)
    send(main, runner, clock, sms("ful-2", "FUL", at=done, given="2026-01-28"), at=done)
    enrollment = main.get(ENROLLMENT_1)
    assert enrollment["status"] == "completed"
    assert [s["status"] for s in enrollment["status_history"]] == ["active", "completed"]
    assert [f["milestone"] for f in enrollment["fulfillments"]] == ["Dose 1", "Dose 2"]
    assert all(t["state"] == "cleared" for t in enrollment["scheduled_tasks"])
    # after a terminal status a new enrollment may start
    again = send(main, runner, clock, sms("enr-2", "ENR", at=done), at=done)
    assert again["enrollment_id"] == "enrollment:Vaccine:amy:2"
    assert main.get("enrollment:Vaccine:amy:2")["status"] == "active"


def test_fulfilling_without_an_enrollment_is_an_error(world):
    main, runner, clock = world
    ful = send(main, runner, clock, sms("ful", "FUL", patient="10002"))
    assert [e["code"] for e in ful["errors"]] == ["milestone_not_enrolled"]


# --- unenrolment, defaulting -------------------------------------------------------------------------


def test_unenrolling_clears_unsent_alerts(world):
    main, runner, clock = world
    send(main, runner, clock, sms("enr", "ENR"))
    later = datetime(2026, 1, 7, 5, tzinfo=timezone.utc)
    une = send(main, runner, clock, sms("une", "UNE", at=later), at=later)
    assert une["enrollment_id"] == ENROLLMENT_1
    enrollment = main.get(ENROLLMENT_1)
    assert enrollment["status"] == "unenrolled"
    assert enrollment["status_history"][-1] == {"status": "unenrolled", "date": iso(2026, 1, 7, 5), "report": "une"}
    assert [t[3] for t in tasks(enrollment)] == ["cleared"] * 3
    # nothing active any more: unenrolling again is an error
    again = send(main, runner, clock, sms("une-2", "UNE", at=later))
    assert [e["code"] for e in again["errors"]] == ["milestone_not_enrolled"]


def test_the_defaults_job_defaults_at_the_end_of_the_last_window(world):
    main, runner, clock = world
    send(main, runner, clock, sms("enr", "ENR"))
    send(main, runner, clock, sms("enr-bob", "ENR", patient="10002"))
    env = runner.job_env()
    just_before = datetime(2026, 1, 26, 4, 59, 59, tzinfo=timezone.utc)
    assert milestone_defaults.run(env, just_before).defaulted == 0
    assert main.get(ENROLLMENT_1)["status"] == "active"
    une = datetime(2026, 1, 20, 5, tzinfo=timezone.utc)
    send(main, runner, clock, sms("une-bob", "UNE", patient="10002", at=une), at=une)
    outcome = milestone_defaults.run(env, datetime(2026, 1, 26, 5, 0, tzinfo=timezone.utc))  # 08:00 Nairobi: max ends
    assert (outcome.examined, outcome.defaulted) == (1, 1)
    enrollment = main.get(ENROLLMENT_1)
    assert enrollment["status"] == "defaulted"
    assert enrollment["status_history"][-1] == {"status": "defaulted", "date": iso(2026, 1, 26, 5)}
    assert [t[3] for t in tasks(enrollment)] == ["cleared"] * 3
    assert main.get("enrollment:Vaccine:bob:1")["status"] == "unenrolled"  # not active: untouched
    assert milestone_defaults.run(env, datetime(2026, 1, 27, tzinfo=timezone.utc)).defaulted == 0


# --- configuration -----------------------------------------------------------------------------------


def test_check_config_reports_missing_schedules_bad_actions_and_bad_paths():
    settings = {**SETTINGS, "milestone_enrollments": [
        {"form": "ENR", "schedule": "Nope", "action": "enroll"},
        {"form": "FUL", "schedule": "Vaccine", "action": "complete"},
        {"form": "FUL", "schedule": "Vaccine", "action": "fulfill", "date": "fields..given", "preferred_alert_time": "25:00"},
    ], "milestone_schedules": [VACCINE, {"name": "Bad", "absolute": True, "milestones": [
        {"name": "m", "scheduleWindows": {"earliest": "1 week", "soon": "2 weeks"},
         "alerts": [{"window": "earliest", "offset": "0 days", "interval": "1 month", "count": 2, "floating": True}]}]}]}
    with pytest.raises(ConfigError) as raised:
        build(settings)
    text = "\n".join(raised.value.problems)
    assert "milestone_enrollments[0].schedule: no schedule named 'Nope'" in text
    assert "milestone_enrollments[1].action: must be one of enroll, fulfill, unenroll" in text
    assert "milestone_enrollments[2].date: must be a dotted path" in text
    assert "milestone_enrollments[2].preferred_alert_time" in text
    # the schedules' own problems, by milestones.schedule_problems
    assert "settings.milestone_schedules[1].milestones[0].scheduleWindows.soon: unknown window name" in text
    assert "settings.milestone_schedules[1].milestones[0].alerts[0].interval: months and years are not allowed" in text
    assert "settings.milestone_schedules[1].milestones[0].alerts[0].floating: floating alerts are not allowed" in text
    build(SETTINGS)  # the valid configuration passes


# --- the IPTI example --------------------------------------------------------------------------------


def test_the_ipti_example_from_the_users_description(world, pouchdb):
    """A child born 1 Jan 2024 is enrolled at birth in the IPTI schedule, alerts at 09:00 Nairobi time.
    IPTI 1: earliest (the description's "waiting") until 13 weeks (1 Apr), due until 14 weeks (8 Apr),
    late until 16 weeks (22 Apr), no max: past (defaulted) from 22 Apr. Alerts in the late window: daily
    ×7 from its start (8–14 Apr) and weekly from a week in, cut by the window end to 15 Apr."""
    main, runner, clock = world
    born = datetime(2024, 1, 1, 5, tzinfo=timezone.utc)
    send(main, runner, clock, sms("ipti", "IPTI", at=born, dob="2024-01-01", alert_time="09:00"), at=born)
    enrollment = main.get("enrollment:IPTI Schedule:amy:1")
    assert enrollment["reference_date"] == "2023-12-31T21:00:00.000Z"  # midnight in Nairobi
    assert enrollment["windows"] == {
        "earliest": {"start": "2023-12-31T21:00:00.000Z", "end": "2024-03-31T21:00:00.000Z"},
        "due": {"start": "2024-03-31T21:00:00.000Z", "end": "2024-04-07T21:00:00.000Z"},
        "late": {"start": "2024-04-07T21:00:00.000Z", "end": "2024-04-21T21:00:00.000Z"},
        "max": {"start": "2024-04-21T21:00:00.000Z", "end": "2024-04-21T21:00:00.000Z"},
    }
    assert [t["due"] for t in enrollment["scheduled_tasks"]] == [iso(2024, 4, d, 6) for d in range(8, 16)]
    assert {t["window"] for t in enrollment["scheduled_tasks"]} == {"late"}
    tick(main, pouchdb, datetime(2024, 4, 8, 6, 0, tzinfo=timezone.utc))
    first = main.get("enrollment:IPTI Schedule:amy:1")["scheduled_tasks"][0]
    assert first["state"] == "pending" and first["messages"][0]["message"] == "Amy is due for IPTI 1."
    # dose 1 given on 10 Apr 14:00: IPTI 2 counts from then (1/2/3 weeks), it has no alerts
    given = datetime(2024, 4, 10, 11, tzinfo=timezone.utc)
    send(main, runner, clock, sms("ipti-1", "IPTIF", at=given), at=given)
    enrollment = main.get("enrollment:IPTI Schedule:amy:1")
    assert enrollment["current_milestone"] == "IPTI 2"
    assert enrollment["windows"]["late"] == {"start": iso(2024, 4, 24, 11), "end": iso(2024, 5, 1, 11)}
    assert [t["state"] for t in enrollment["scheduled_tasks"]] == ["cleared"] * 8  # the pending one too
    # never fulfilled: it defaults when IPTI 2's late window ends (1 May 14:00 Nairobi)
    assert milestone_defaults.run(runner.job_env(), datetime(2024, 5, 1, 11, tzinfo=timezone.utc)).defaulted == 1
    assert main.get("enrollment:IPTI Schedule:amy:1")["status"] == "defaulted"


@pytest.mark.parametrize(
    "entry, fields, enrolled, milestone",
    [
        pytest.param({"bool_expr": "doc.fields.consent === 'yes'"}, {"consent": "no"}, False, None, id="a JS bool_expr that fails"),
        pytest.param({"bool_expr": "doc.fields.consent === 'yes'"}, {"consent": "yes"}, True, "Dose 1", id="a JS bool_expr that passes"),
        pytest.param({"bool_expr": {"==": [{"var": "doc.fields.consent"}, "yes"]}}, {"consent": "no"}, False, None, id="a JsonLogic bool_expr"),
        pytest.param({"milestone": "fields.start_at"}, {"start_at": "Dose 2"}, True, "Dose 2", id="a starting milestone from the report"),
    ],
)
def test_the_enrollment_rule_conditions_and_starting_milestone(main, hierarchy, make_runner, entry, fields, enrolled, milestone):
    main.bulk_docs([dict(AMY), dict(TRANSLATIONS)])
    rule = {"form": "ENR", "schedule": "Vaccine", "action": "enroll", "preferred_alert_time": "09:00", **entry}
    clock = Clock(ENROLLED)
    runner = make_runner({**SETTINGS, "milestone_enrollments": [rule]}, clock=clock)
    send(main, runner, clock, sms("enr", "ENR", **fields))
    enrollment = main.get(ENROLLMENT_1)
    assert (enrollment is not None) == enrolled
    if enrolled:
        assert enrollment["current_milestone"] == milestone
        assert {t["milestone"] for t in enrollment["scheduled_tasks"]} == {milestone}


def test_a_place_can_be_enrolled_when_the_report_names_no_patient(main, hierarchy, make_runner):
    clinic = main.get("clinic")
    main.put({**clinic, "place_id": "55555"})
    main.put(dict(TRANSLATIONS))
    clock = Clock(ENROLLED)
    runner = make_runner(SETTINGS, clock=clock)
    doc = report("enr", form="ENR", reported_date=int(ENROLLED.timestamp() * 1000), fields={"place_id": "55555"},
                 **{"from": CHW["phone"], "contact": {"_id": "chw", "parent": CLINIC_IDS}})
    stored = send(main, runner, clock, doc)
    enrollment = main.get(stored["enrollment_id"])
    assert enrollment["place_id"] == "55555" and "patient_id" not in enrollment
    assert enrollment["status"] == "active" and enrollment["scheduled_tasks"]


def test_muting_the_patient_mutes_the_enrollments_alerts_and_unmuting_brings_them_back(main, hierarchy, make_runner):
    main.bulk_docs([dict(AMY), dict(TRANSLATIONS)])
    settings = {**SETTINGS, "transitions": {"milestone_tracking": True, "muting": True},
                "forms": {**SETTINGS["forms"], "MUTE": {}, "UNMUTE": {}},
                "muting": {"mute_forms": ["MUTE"], "unmute_forms": ["UNMUTE"]}}
    clock = Clock(ENROLLED)
    runner = make_runner(settings, clock=clock)
    send(main, runner, clock, sms("enr", "ENR"))
    send(main, runner, clock, sms("mute", "MUTE"))
    assert {t["state"] for t in main.get(ENROLLMENT_1)["scheduled_tasks"]} == {"muted"}
    send(main, runner, clock, sms("unmute", "UNMUTE"))
    assert {t["state"] for t in main.get(ENROLLMENT_1)["scheduled_tasks"]} == {"scheduled"}  # all still in the future
