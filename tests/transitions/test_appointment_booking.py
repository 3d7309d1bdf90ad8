"""appointment_reminders (issue 7), booking side: an APPT report books an appointment, its reminders are
planned as `scheduled_tasks` (rendered at booking, in the patient's locale and the appointment's zone,
each message with its `channel`), `sentinel tick` makes them pending at their minute (the send window
never delaying one past its appointment, and one whose appointment has come is cleared), and the
`appointment_outcomes` job calls an unattended appointment missed.

Everything runs against the real PouchDB Server. The rules are in `sentinel/programs/appointments.py`; here the
values are the documents' (hand-checked in the comments). Settings zone: Europe/Oslo (CET +01:00,
CEST +02:00 from 2026-03-29 02:00 until 2026-10-25 03:00). Booking time T0: Friday 20 March 2026
10:00 in Oslo (09:00Z). Replies are tested in test_appointment_replies.py.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from sentinel.core.errors import ConfigError
from sentinel.daemon.settings_check import build

from ..appointments_support import (AMY, BOB, CHW, ELLA, FLEUR, HOUR, MINUTE, REMINDER_TEXT, T0, WANDA, booking,
                                    config, errors, form_report, make_world, patient, reminders, settings, tasks_of,
                                    texts)

MONDAY_13 = "2026-03-23T13:00:00+01:00"  # Monday 23 March 2026 13:00 in Oslo = 12:00Z


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def messages_of(task: dict[str, Any]) -> list[dict[str, Any]]:
    return task.get("messages") or []


# --- booking -----------------------------------------------------------------------------------------
def test_booking_records_the_appointment_and_plans_the_default_24_and_2_hour_reminders(main, sentinel_db, make_runner):
    world = make_world(main, sentinel_db, make_runner)
    doc = world.save(booking("b1", MONDAY_13))

    assert doc["appointment"] == {"at": "2026-03-23T12:00:00.000Z", "local": "2026-03-23T13:00:00+01:00",
                                  "timezone": "Europe/Oslo", "phone": "+254711020001", "patient_uuid": "amy",
                                  "patient_id": "20001", "locale": "en"}
    assert doc["appointment_status"] == "booked"
    assert doc["appointment_status_history"] == [{"status": "booked", "timestamp": "2026-03-20T09:00:00.000Z", "report": "b1"}]
    assert not doc.get("errors")

    planned = reminders(doc)
    # 24 hours before 12:00Z on the 23rd is 12:00Z on the 22nd; 2 hours before is 10:00Z on the 23rd
    assert [(t["before"], t["due"], t["state"]) for t in planned] == [
        ("24 hours", "2026-03-22T12:00:00.000Z", "scheduled"), ("2 hours", "2026-03-23T10:00:00.000Z", "scheduled")]
    for task in planned:
        assert task["appointment_at"] == "2026-03-23T12:00:00.000Z"
        assert task["appointment_time"] == "2026-03-23T13:00:00+01:00"
        [message] = messages_of(task)
        assert message["to"] == "+254711020001" and message["channel"] == "sms"
        # the transition's default reminder text, with the date and time in Oslo
        assert message["message"] == ("Reminder: you have an appointment on Monday 23 March at 13:00. "
                                      "Reply YES to confirm or NO to cancel.")
    assert len({messages_of(t)[0]["uuid"] for t in planned}) == 2

    # the booked message goes at once, as a task
    [booked] = tasks_of(doc, "tasks")
    assert booked["type"] == "appointment_booked" and booked["state"] == "pending"
    assert [(m["to"], m["channel"], m["message"]) for m in messages_of(booked)] == [
        ("+254711020001", "sms", "booked: Monday 23 March at 13:00")]


def test_a_configured_reminder_text_is_rendered_at_booking(main, sentinel_db, make_runner):
    conf = config(reminders=[{"before": "1 day", "message": REMINDER_TEXT}])
    world = make_world(main, sentinel_db, make_runner, settings(conf))
    doc = world.save(booking("b1", MONDAY_13))
    [task] = reminders(doc)
    assert task["due"] == "2026-03-22T12:00:00.000Z"  # 1 day before, same wall clock (no DST change here)
    assert [m["message"] for m in messages_of(task)] == ["Reminder Monday 23 March at 13:00"]


@pytest.mark.parametrize("when, conf, planned", [
    # 13:00 Oslo = 12:00Z, booked at 09:00Z: the 24-hour reminder (12:00Z the day before) has passed
    pytest.param("2026-03-20T13:00:00+01:00", {}, [("2 hours", "2026-03-20T10:00:00.000Z")], id="3-hours-ahead-only-2h"),
    # 11:00 Oslo = 10:00Z: the 2-hour reminder (08:00Z) has passed too
    pytest.param("2026-03-20T11:00:00+01:00", {}, [], id="1-hour-ahead-none"),
    # Saturday 12:00 Oslo = 11:00Z (26 h ahead): 24 h before is 11:00Z today, 2 h after booking, inside
    # a 3-hour min_notice; the 2-hour one (09:00Z Saturday) stays
    pytest.param("2026-03-21T12:00:00+01:00", {"min_notice": "3 hours"}, [("2 hours", "2026-03-21T09:00:00.000Z")],
                 id="min-notice-skips-the-closer-one"),
    # the same with a 1-hour min_notice: 2 h ahead is enough notice, both stay
    pytest.param("2026-03-21T12:00:00+01:00", {"min_notice": "1 hour"},
                 [("24 hours", "2026-03-20T11:00:00.000Z"), ("2 hours", "2026-03-21T09:00:00.000Z")], id="min-notice-met"),
])
def test_reminders_already_past_or_too_close_at_booking_are_not_planned(main, sentinel_db, make_runner, when, conf, planned):
    world = make_world(main, sentinel_db, make_runner, settings(config(**conf)))
    doc = world.save(booking("b1", when))
    assert doc["appointment_status"] == "booked" and not doc.get("errors")
    assert [(t["before"], t["due"]) for t in reminders(doc)] == planned
    # the booked message goes whatever the reminders
    assert [t["type"] for t in tasks_of(doc, "tasks")] == ["appointment_booked"]


# --- reminders becoming pending ----------------------------------------------------------------------
def test_sentinel_tick_makes_a_reminder_pending_at_its_minute_not_before(main, sentinel_db, make_runner, pouchdb):
    world = make_world(main, sentinel_db, make_runner, pouchdb_url=pouchdb.url)
    world.save(booking("b1", MONDAY_13))
    day_before, two_hours = utc(2026, 3, 22, 12), utc(2026, 3, 23, 10)

    world.tick_cli(day_before - MINUTE)  # 11:59Z on the 22nd: nothing yet
    assert [s for s, _ in world.states("b1")] == ["scheduled", "scheduled"]
    world.tick_cli(day_before)  # 12:00Z: the 24-hour reminder
    assert [s for s, _ in world.states("b1")] == ["pending", "scheduled"]

    world.tick(two_hours - MINUTE)
    assert [s for s, _ in world.states("b1")] == ["pending", "scheduled"]
    world.tick(two_hours)
    doc = world.doc("b1")
    assert [t["state"] for t in reminders(doc)] == ["pending", "pending"]
    assert reminders(doc)[1]["state_history"][-1] == {"state": "pending", "timestamp": "2026-03-23T10:00:00.000Z"}


# --- time zones --------------------------------------------------------------------------------------
DST = config(form="OSLO", timezone="Europe/Oslo", cancel_forms=None, reschedule_forms=None, attended_forms=None,
             reminders=[{"before": "24 hours"}, {"before": "1 day"}])


@pytest.mark.parametrize("booked_at, when, local, due_24h, due_1_day, text", [
    # Oslo goes to CEST on 2026-03-29 at 02:00. 09:00+02:00 = 07:00Z; 24 h earlier is 07:00Z on the
    # 28th (08:00 CET on the clock); 1 day earlier is 09:00 CET on the 28th = 08:00Z
    pytest.param(utc(2026, 3, 27, 9), "2026-03-29T09:00:00+02:00", "2026-03-29T09:00:00+02:00",
                 "2026-03-28T07:00:00.000Z", "2026-03-28T08:00:00.000Z", "Sunday 29 March at 09:00", id="spring-forward"),
    # back to CET on 2026-10-25 at 03:00. 09:00+01:00 = 08:00Z; 24 h earlier is 08:00Z on the 24th
    # (10:00 CEST); 1 day earlier is 09:00 CEST on the 24th = 07:00Z
    pytest.param(utc(2026, 10, 23, 9), "2026-10-25T09:00:00+01:00", "2026-10-25T09:00:00+01:00",
                 "2026-10-24T08:00:00.000Z", "2026-10-24T07:00:00.000Z", "Sunday 25 October at 09:00", id="fall-back"),
    # written with another offset: +03:00 fixes the instant (10:00Z), Oslo writes it (11:00 CET)
    pytest.param(T0, "2026-03-23T13:00:00+03:00", "2026-03-23T11:00:00+01:00",
                 "2026-03-22T10:00:00.000Z", "2026-03-22T10:00:00.000Z", "Monday 23 March at 11:00", id="offset-not-the-zones"),
])
def test_reminders_count_hours_as_elapsed_time_and_days_on_the_appointments_wall_clock(
        main, sentinel_db, make_runner, booked_at, when, local, due_24h, due_1_day, text):
    # the settings zone is Nairobi: the config's zone (Oslo) is the one that counts
    world = make_world(main, sentinel_db, make_runner, settings(config(), DST, timezone="Africa/Nairobi"), at=booked_at)
    doc = world.save(booking("b1", when, form="OSLO", at=booked_at))
    assert not doc.get("errors")
    assert doc["appointment"]["timezone"] == "Europe/Oslo"
    assert doc["appointment"]["local"] == local
    assert [(t["before"], t["due"]) for t in reminders(doc)] == [("24 hours", due_24h), ("1 day", due_1_day)]
    assert texts(doc) == [f"booked: {text}"]
    assert all(text in messages_of(t)[0]["message"] for t in reminders(doc))


@pytest.mark.parametrize("zone_field, when, zone, local, text", [
    # America/New_York is on EDT (-04:00) from 8 March 2026
    pytest.param("America/New_York", "2026-03-23T13:00:00-04:00", "America/New_York", "2026-03-23T13:00:00-04:00",
                 "Monday 23 March at 13:00", id="zone-from-the-report"),
    # no zone in the report: the settings zone (Oslo)
    pytest.param(None, "2026-03-23T13:00:00-04:00", "Europe/Oslo", "2026-03-23T18:00:00+01:00",
                 "Monday 23 March at 18:00", id="missing-falls-back-to-settings"),
])
def test_the_zone_can_come_from_a_path_into_the_report(main, sentinel_db, make_runner, zone_field, when, zone, local, text):
    by_path = config(form="TZ", timezone="fields.tz", cancel_forms=None, reschedule_forms=None, attended_forms=None)
    world = make_world(main, sentinel_db, make_runner, settings(config(), by_path))
    extra = {"tz": zone_field} if zone_field else {}
    doc = world.save(booking("b1", when, form="TZ", **extra))
    assert not doc.get("errors")
    assert doc["appointment"]["at"] == "2026-03-23T17:00:00.000Z"
    assert (doc["appointment"]["timezone"], doc["appointment"]["local"]) == (zone, local)
    assert texts(doc) == [f"booked: {text}"]


# --- locale ------------------------------------------------------------------------------------------
def test_a_french_patient_gets_the_date_in_french(main, sentinel_db, make_runner):
    conf = config(reminders=[{"before": "2 hours", "message": REMINDER_TEXT}])
    world = make_world(main, sentinel_db, make_runner, settings(conf))
    doc = world.save(booking("b1", MONDAY_13, code=FLEUR["patient_id"]))
    assert doc["appointment"]["locale"] == "fr"
    assert texts(doc) == ["booked (fr): lundi 23 mars à 13:00"]
    assert [m["message"] for t in reminders(doc) for m in messages_of(t)] == ["Rappel lundi 23 mars à 13:00"]


def test_a_translation_key_uses_the_patients_translations_doc(main, sentinel_db, make_runner):
    translations = (
        {"_id": "messages-en", "type": "translations", "code": "en",
         "generic": {"appt.reminder": "See you {{appointment_date}} at {{appointment_time}}"}},
        {"_id": "messages-fr", "type": "translations", "code": "fr",
         "generic": {"appt.reminder": "À {{appointment_date}}, {{appointment_time}}"}},
    )
    conf = config(reminders=[{"before": "2 hours", "translation_key": "appt.reminder"}])
    world = make_world(main, sentinel_db, make_runner, settings(conf), extra_docs=translations)
    french = world.save(booking("b1", MONDAY_13, code=FLEUR["patient_id"]))
    english = world.save(booking("b2", MONDAY_13, code=AMY["patient_id"]))
    assert [m["message"] for t in reminders(french) for m in messages_of(t)] == ["À lundi 23 mars, 13:00"]
    assert [m["message"] for t in reminders(english) for m in messages_of(t)] == ["See you Monday 23 March at 13:00"]


# --- channels ----------------------------------------------------------------------------------------
VIC = patient("vic", "20006", whatsapp="+4790000002")  # a phone and WhatsApp, no preference


@pytest.mark.parametrize("person, conf, channel, to", [
    pytest.param(WANDA, {}, "whatsapp", "+4790000001", id="preferred-whatsapp"),
    pytest.param(ELLA, {}, "email", "ella@example.org", id="email-only"),
    pytest.param(VIC, {}, "whatsapp", "+4790000002", id="default-order-whatsapp-first"),
    pytest.param(VIC, {"channels": ["sms", "whatsapp"]}, "sms", "+254711020006", id="configured-order"),
    pytest.param(AMY, {}, "sms", "+254711020001", id="phone-only"),
])
def test_each_message_goes_on_the_patients_channel(main, sentinel_db, make_runner, person, conf, channel, to):
    world = make_world(main, sentinel_db, make_runner, settings(config(**conf)), patients=(AMY, WANDA, ELLA, VIC))
    doc = world.save(booking("b1", MONDAY_13, code=person["patient_id"]))
    assert not doc.get("errors")
    sent = [m for t in tasks_of(doc, "tasks") + reminders(doc) for m in messages_of(t)]
    assert len(sent) == 3  # booked + two reminders
    assert {(m["channel"], m["to"]) for m in sent} == {(channel, to)}


def test_a_reminder_to_the_reporting_unit_goes_by_sms_to_the_chw(main, sentinel_db, make_runner):
    conf = config(reminders=[{"before": "24 hours"},
                             {"before": "2 hours", "recipient": "reporting_unit",
                              "message": [{"locale": "en", "content": "{{patient_name}}: {{appointment_time}}"}]}])
    world = make_world(main, sentinel_db, make_runner, settings(conf))
    doc = world.save(booking("b1", MONDAY_13, code=WANDA["patient_id"]))
    patient_reminder, chw_reminder = reminders(doc)
    assert [(m["channel"], m["to"]) for m in messages_of(patient_reminder)] == [("whatsapp", "+4790000001")]
    assert [(m["channel"], m["to"], m["message"]) for m in messages_of(chw_reminder)] == [
        ("sms", CHW["phone"], "Wanda: 13:00")]


# --- rejections --------------------------------------------------------------------------------------
TZ_PATH = config(form="TZ", timezone="fields.tz", cancel_forms=None, reschedule_forms=None, attended_forms=None)


@pytest.mark.parametrize("report, code", [
    pytest.param(booking("r", MONDAY_13, code="99999"), "appointment_patient_not_found", id="unknown-patient"),
    pytest.param(booking("r", MONDAY_13, code=None), "appointment_patient_not_found", id="no-patient"),
    pytest.param(booking("r", None), "appointment_invalid_time", id="no-time"),
    pytest.param(booking("r", "next monday"), "appointment_invalid_time", id="not-a-time"),
    pytest.param(booking("r", "2026-02-30T13:00:00+01:00"), "appointment_invalid_time", id="no-such-day"),
    pytest.param(booking("r", "2026-03-23T13:00:00"), "appointment_time_without_offset", id="no-offset"),
    pytest.param(booking("r", "2026-03-20T09:00:00+01:00"), "appointment_in_the_past", id="past"),
    # T0 itself (10:00 Oslo): not ahead
    pytest.param(booking("r", "2026-03-20T10:00:00+01:00"), "appointment_in_the_past", id="now"),
    pytest.param(booking("r", MONDAY_13, form="TZ", tz="Mars/Olympus"), "appointment_invalid_timezone", id="unknown-zone"),
])
def test_a_booking_that_cannot_be_planned_is_rejected_with_an_error(main, sentinel_db, make_runner, report, code):
    world = make_world(main, sentinel_db, make_runner, settings(config(), TZ_PATH), patients=(AMY,))
    doc = world.save(report)
    assert errors(doc) == [code]
    assert doc["errors"][0]["message"]  # says what was wrong
    assert "appointment" not in doc and "appointment_status" not in doc
    assert not reminders(doc) and not tasks_of(doc, "tasks")


def test_the_same_patient_cannot_be_booked_twice_at_the_same_instant(main, sentinel_db, make_runner):
    world = make_world(main, sentinel_db, make_runner, patients=(AMY, BOB))
    first = world.save(booking("b1", MONDAY_13))
    same = world.save(booking("b2", MONDAY_13))
    same_instant = world.save(booking("b3", "2026-03-23T14:00:00+02:00"))  # 12:00Z too
    later = world.save(booking("b4", "2026-03-23T14:00:00+01:00"))
    other_patient = world.save(booking("b5", MONDAY_13, code=BOB["patient_id"]))

    assert first["appointment_status"] == "booked"
    for rejected in (same, same_instant):
        assert errors(rejected) == ["appointment_double_booking"]
        assert "b1" in rejected["errors"][0]["message"]
        assert "appointment" not in rejected and not reminders(rejected) and not tasks_of(rejected, "tasks")
    for fine in (later, other_patient):
        assert not fine.get("errors") and fine["appointment_status"] == "booked" and len(reminders(fine)) == 2


# --- the send window -----------------------------------------------------------------------------------
WINDOW = {"schedule_morning_hours": 8, "schedule_evening_hours": 18}


def test_the_send_window_never_delays_a_reminder_past_its_appointment(main, sentinel_db, make_runner):
    conf = config(reminders=[{"before": "2 hours"}])
    world = make_world(main, sentinel_db, make_runner, settings(conf, **WINDOW))
    # 07:30 Oslo = 06:30Z; the reminder is due 05:30 Oslo = 04:30Z, the window opens at 08:00 = 07:00Z
    doc = world.save(booking("early", "2026-03-23T07:30:00+01:00"))
    assert world.states("early") == [("scheduled", "2026-03-23T04:30:00.000Z")]
    world.tick(utc(2026, 3, 23, 4, 29))
    assert world.states("early") == [("scheduled", "2026-03-23T04:30:00.000Z")]
    world.tick(utc(2026, 3, 23, 4, 30))  # 05:30 Oslo, outside the window: sent anyway
    assert world.states("early") == [("pending", "2026-03-23T04:30:00.000Z")]
    assert doc["appointment_status"] == "booked"


def test_a_reminder_that_can_wait_for_the_window_waits(main, sentinel_db, make_runner):
    conf = config(reminders=[{"before": "15 hours"}])
    world = make_world(main, sentinel_db, make_runner, settings(conf, **WINDOW))
    # Tuesday 10:00 Oslo = 09:00Z; 15 h before is Monday 19:00 Oslo = 18:00Z, after the window closes
    world.save(booking("late", "2026-03-24T10:00:00+01:00"))
    assert world.states("late") == [("scheduled", "2026-03-23T18:00:00.000Z")]
    world.tick(utc(2026, 3, 23, 18))
    world.tick(utc(2026, 3, 24, 6, 59))  # 07:59 Oslo
    assert world.states("late") == [("scheduled", "2026-03-23T18:00:00.000Z")]
    world.tick(utc(2026, 3, 24, 7))  # 08:00 Oslo: the window opens, the appointment is still ahead
    assert world.states("late") == [("pending", "2026-03-23T18:00:00.000Z")]


@pytest.mark.parametrize("tick_at, window", [
    pytest.param(utc(2026, 3, 23, 12, 30), {}, id="after-the-appointment"),
    pytest.param(utc(2026, 3, 23, 12), {}, id="at-the-appointment"),
    # 20:00 Oslo, window closed
    pytest.param(utc(2026, 3, 23, 19), WINDOW, id="after-it-outside-the-window"),
])
def test_a_reminder_whose_appointment_has_come_is_cleared_not_sent(main, sentinel_db, make_runner, tick_at, window):
    world = make_world(main, sentinel_db, make_runner, settings(config(), **window))
    world.save(booking("b1", MONDAY_13))  # 12:00Z; reminders due 12:00Z on the 22nd and 10:00Z on the 23rd
    world.tick(tick_at)
    doc = world.doc("b1")
    assert [t["state"] for t in reminders(doc)] == ["cleared", "cleared"]
    assert reminders(doc)[0]["state_history"][-1]["timestamp"] == tick_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --- the settings check --------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides, path", [
    pytest.param({"reminders": [{"before": "soon"}]}, "appointment_reminders[0].reminders[0].before", id="bad-before"),
    pytest.param({"reminders": [{"before": "24 hours"}, {"before": "-2 hours"}]}, "appointment_reminders[0].reminders[1].before",
                 id="negative-before"),
    pytest.param({"reminders": [{"before": "1.5 days"}]}, "appointment_reminders[0].reminders[0].before", id="fraction-before"),
    pytest.param({"timezone": "Mars/Olympus"}, "appointment_reminders[0].timezone", id="unknown-zone"),
    pytest.param({"timezone": 3}, "appointment_reminders[0].timezone", id="zone-not-a-string"),
    pytest.param({"messages": [{"event_type": "booked", "message": "x"}, {"event_type": "reminded"}]},
                 "appointment_reminders[0].messages[1].event_type", id="bad-event-type"),
    pytest.param({"channels": ["pigeon"]}, "appointment_reminders[0].channels", id="unknown-channel"),
    pytest.param({"channels": []}, "appointment_reminders[0].channels", id="no-channels"),
    pytest.param({"channels": "sms"}, "appointment_reminders[0].channels", id="channels-not-a-list"),
    pytest.param({"appointment_time": None}, "appointment_reminders[0].appointment_time", id="no-time-path"),
    pytest.param({"min_notice": "a while"}, "appointment_reminders[0].min_notice", id="bad-min-notice"),
    pytest.param({"missed_after": "later"}, "appointment_reminders[0].missed_after", id="bad-missed-after"),
    pytest.param({"cancel_forms": "CANCEL"}, "appointment_reminders[0].cancel_forms", id="forms-not-a-list"),
])
def test_bad_appointment_settings_are_refused_naming_the_path(overrides, path):
    with pytest.raises(ConfigError) as refused:
        build(settings(config(**overrides)))
    # each problem is "<transition>: <path>: <what is wrong>"
    assert any(f"{path}:" in p or f"{path}." in p for p in refused.value.problems), refused.value.problems


def test_the_example_settings_are_accepted():
    build(settings(config(reminders=[{"before": "1 day"}, {"before": "90 minutes", "recipient": "reporting_unit"}],
                          timezone="Europe/Oslo", min_notice="1 hour", missed_after="2 days",
                          channels=["sms", "whatsapp"])))
    build(settings(config(timezone="fields.tz")))


# --- missed and attended -------------------------------------------------------------------------------
def test_an_appointment_without_attendance_is_missed_a_day_later_and_a_seen_one_is_attended(main, sentinel_db, make_runner):
    world = make_world(main, sentinel_db, make_runner, patients=(AMY, BOB))
    world.save(booking("amy-appt", MONDAY_13))  # 12:00Z on the 23rd
    world.save(booking("bob-appt", MONDAY_13, code=BOB["patient_id"]))
    # Bob is seen half an hour after his appointment time; the report names the appointment
    seen = world.save(form_report("bob-seen", "SEEN", code=BOB["patient_id"], at=utc(2026, 3, 23, 12, 30),
                                  appointment_id="bob-appt"), at=utc(2026, 3, 23, 12, 30))
    assert not seen.get("errors") and seen["appointment_id"] == "bob-appt"
    assert world.doc("bob-appt")["appointment_status"] == "attended"

    world.tick(utc(2026, 3, 24, 11, 59))  # 1 day after is 12:00Z on the 24th
    assert world.doc("amy-appt")["appointment_status"] == "booked"
    world.tick(utc(2026, 3, 24, 12))
    amy = world.doc("amy-appt")
    assert amy["appointment_status"] == "missed"
    assert amy["appointment_status_history"][-1] == {"status": "missed", "timestamp": "2026-03-24T12:00:00.000Z"}
    assert [t["state"] for t in reminders(amy)] == ["cleared", "cleared"]  # never sent: ticks came after
    assert world.doc("bob-appt")["appointment_status"] == "attended"


def test_a_seen_report_after_the_appointment_time_finds_the_patients_appointment(main, sentinel_db, make_runner):
    # attendance is reported when the patient has come, so after the appointment time (the missed job
    # waits `missed_after`, default 1 day, for it): the report need not name the appointment
    world = make_world(main, sentinel_db, make_runner, patients=(AMY,))
    world.save(booking("amy-appt", MONDAY_13))  # 12:00Z on the 23rd
    seen = world.save(form_report("amy-seen", "SEEN", at=utc(2026, 3, 23, 12, 30)), at=utc(2026, 3, 23, 12, 30))
    assert not seen.get("errors"), seen.get("errors")
    assert seen.get("appointment_id") == "amy-appt"
    assert world.doc("amy-appt")["appointment_status"] == "attended"


def test_a_seen_report_naming_the_appointment_records_attendance(main, sentinel_db, make_runner):
    world = make_world(main, sentinel_db, make_runner, patients=(AMY,))
    world.save(booking("amy-appt", MONDAY_13))
    seen = world.save(form_report("amy-seen", "SEEN", appointment_id="amy-appt", at=utc(2026, 3, 23, 11, 50)),
                      at=utc(2026, 3, 23, 11, 50))
    assert seen.get("appointment_id") == "amy-appt" and not seen.get("errors")
    appt = world.doc("amy-appt")
    assert appt["appointment_status"] == "attended"
    # the 2-hour reminder (due 10:00Z) was never ticked: cleared with the 24-hour one
    assert [t["state"] for t in reminders(appt)] == ["cleared", "cleared"]
    world.tick(utc(2026, 3, 25))
    assert world.doc("amy-appt")["appointment_status"] == "attended"


def test_without_attended_forms_nothing_is_called_missed(main, sentinel_db, make_runner):
    world = make_world(main, sentinel_db, make_runner, settings(config(attended_forms=None)), patients=(AMY,))
    world.save(booking("amy-appt", MONDAY_13))
    world.tick(utc(2026, 3, 30))
    assert world.doc("amy-appt")["appointment_status"] == "booked"


def test_missed_after_gives_more_time(main, sentinel_db, make_runner):
    world = make_world(main, sentinel_db, make_runner, settings(config(missed_after="3 days")), patients=(AMY,))
    world.save(booking("amy-appt", MONDAY_13))
    world.tick(utc(2026, 3, 26, 11, 59))
    assert world.doc("amy-appt")["appointment_status"] == "booked"
    world.tick(utc(2026, 3, 26, 12))
    assert world.doc("amy-appt")["appointment_status"] == "missed"


# --- more booking cases ----------------------------------------------------------------------------
def test_two_bookings_for_the_same_instant_in_one_batch_book_only_one(main, sentinel_db, make_runner):
    world = make_world(main, sentinel_db, make_runner, patients=(AMY,))
    first, second = world.save_all([booking("b1", MONDAY_13), booking("b2", "2026-03-23T14:00:00+02:00")])
    assert sorted([errors(first), errors(second)]) == [[], ["appointment_double_booking"]]
    assert sorted(d.get("appointment_status", "") for d in (first, second)) == ["", "booked"]


def test_a_cancelled_appointments_time_can_be_booked_again(main, sentinel_db, make_runner):
    world = make_world(main, sentinel_db, make_runner, patients=(AMY,))
    world.save(booking("b1", MONDAY_13))
    cancel = world.save(form_report("c1", "CANCEL", at=T0 + HOUR), at=T0 + HOUR)
    assert cancel.get("appointment_id") == "b1"
    assert world.doc("b1")["appointment_status"] == "cancelled"
    again = world.save(booking("b2", MONDAY_13, at=T0 + 2 * HOUR), at=T0 + 2 * HOUR)
    assert not again.get("errors") and again["appointment_status"] == "booked" and len(reminders(again)) == 2


def test_a_booking_by_contact_number_reaches_that_number(main, sentinel_db, make_runner):
    world = make_world(main, sentinel_db, make_runner, patients=(AMY,))
    doc = world.save(booking("b1", MONDAY_13, code=None, contact_number="+254711099999"))
    assert not doc.get("errors")
    assert (doc["appointment"]["phone"], doc["appointment"]["patient_uuid"]) == ("+254711099999", None)
    sent = [m for t in tasks_of(doc, "tasks") + reminders(doc) for m in messages_of(t)]
    assert {(m["channel"], m["to"]) for m in sent} == {("sms", "+254711099999")} and len(sent) == 3


def test_a_local_phone_number_is_stored_in_international_form(main, sentinel_db, make_runner):
    # replies come from +254..., so the appointment keeps the normalised number
    local = patient("lola", "20008", phone="0711020008")
    world = make_world(main, sentinel_db, make_runner, settings(config(), default_country_code=254), patients=(local,))
    doc = world.save(booking("b1", MONDAY_13, code="20008"))
    assert doc["appointment"]["phone"] == "+254711020008"
    # and the messages go to that number too (a gateway needs it international)
    assert {m["to"] for t in reminders(doc) for m in messages_of(t)} == {"+254711020008"}


def test_a_patient_nobody_can_reach_is_booked_with_a_no_contact_error(main, sentinel_db, make_runner):
    silent = patient("sam", "20009", phone=None)
    world = make_world(main, sentinel_db, make_runner, patients=(silent,))
    doc = world.save(booking("b1", MONDAY_13, code="20009"))
    assert doc["appointment_status"] == "booked"
    assert errors(doc) == ["appointment_no_contact"]  # once per code, as CHT's addError
    assert not reminders(doc) and not tasks_of(doc, "tasks")


def test_saving_the_booked_report_again_plans_nothing_more(main, sentinel_db, make_runner):
    world = make_world(main, sentinel_db, make_runner, patients=(AMY,))
    world.save(booking("b1", MONDAY_13))
    doc = world.edit("b1", at=T0 + HOUR, note="edited")
    assert len(reminders(doc)) == 2 and len(tasks_of(doc, "tasks")) == 1
    assert len(doc["appointment_status_history"]) == 1


def test_a_reminder_due_just_at_booking_is_planned_and_sent_at_the_next_tick(main, sentinel_db, make_runner):
    # booked at 09:00Z for Saturday 10:00 Oslo (09:00Z): the 24-hour reminder is due right now
    world = make_world(main, sentinel_db, make_runner, patients=(AMY,))
    doc = world.save(booking("b1", "2026-03-21T10:00:00+01:00"))
    assert [t["due"] for t in reminders(doc)] == ["2026-03-20T09:00:00.000Z", "2026-03-21T07:00:00.000Z"]
    world.tick(T0)
    assert [s for s, _ in world.states("b1")] == ["pending", "scheduled"]


def test_date_and_time_formats_can_be_configured(main, sentinel_db, make_runner):
    conf = config(date_format="d MMM y", time_format="h:mm a", reminders=[{"before": "2 hours", "message": REMINDER_TEXT}])
    world = make_world(main, sentinel_db, make_runner, settings(conf), patients=(AMY,))
    doc = world.save(booking("b1", MONDAY_13, form="appt"))  # form codes match case-insensitively
    assert texts(doc) == ["booked: 23 Mar 2026 at 1:00 PM"]
    assert [m["message"] for t in reminders(doc) for m in messages_of(t)] == ["Reminder 23 Mar 2026 at 1:00 PM"]


def test_a_form_used_by_two_configs_is_refused():
    with pytest.raises(ConfigError) as refused:
        build(settings(config(), config(cancel_forms=None, reschedule_forms=None, attended_forms=["APPT"])))
    assert any("appointment_reminders[1]" in p and "'APPT'" in p for p in refused.value.problems), refused.value.problems


def test_an_attended_form_that_is_another_configs_cancel_form_is_refused():
    # a report of the form would be read as a cancellation (cancel forms are matched first), so the
    # attended form of the second config could never be used
    second = config(form="CHECKUP", cancel_forms=None, reschedule_forms=None, attended_forms=["CANCEL"])
    with pytest.raises(ConfigError) as refused:
        build(settings(config(), second))
    assert any("appointment_reminders[1]" in p and "'CANCEL'" in p for p in refused.value.problems), refused.value.problems


# --- muting --------------------------------------------------------------------------------------------
MUTING = {"mute_forms": ["MUTE"], "unmute_forms": ["UNMUTE"]}


def muting_settings() -> dict[str, Any]:
    base = settings(muting=MUTING)
    base["transitions"]["muting"] = True
    base["forms"].update({"MUTE": {}, "UNMUTE": {}})
    return base


def test_muting_a_patient_mutes_their_appointment_reminders_and_unmuting_restores_them(main, sentinel_db, make_runner):
    world = make_world(main, sentinel_db, make_runner, muting_settings())
    world.save(booking("b1", MONDAY_13))
    world.save(form_report("mute", "MUTE"))
    assert [t["state"] for t in reminders(world.doc("b1"))] == ["muted", "muted"]
    world.save(form_report("unmute", "UNMUTE"))
    assert [t["state"] for t in reminders(world.doc("b1"))] == ["scheduled", "scheduled"]


def test_a_muted_patients_booking_plans_muted_reminders(main, sentinel_db, make_runner):
    world = make_world(main, sentinel_db, make_runner, muting_settings())
    world.save(form_report("mute", "MUTE"))
    doc = world.save(booking("b1", MONDAY_13))
    assert doc["appointment_status"] == "booked"
    assert [t["state"] for t in reminders(doc)] == ["muted", "muted"]
