"""appointment_reminders (issue 7), after booking: yes/no replies by SMS, CANCEL / MOVE / SEEN forms,
replies for past or unknown appointments, and `default_responses` beside it.

An incoming reply is a `data_record` with `sms_message` {from, message} and no form; it is matched to
the nearest upcoming (booked, confirmed, rescheduled) appointment of the sender's number. Everything
runs against the real PouchDB Server through a running Sentinel whose clock the test moves. The word
rules themselves are `sentinel.programs.appointments.classify_reply`; here the values are the documents'.

The settings zone is Europe/Oslo (CET, +01:00, until 29 March 2026). `T0` is Friday 20 March 2026
10:00 in Oslo (09:00Z). `APPT` is Monday 23 March 13:00 in Oslo (12:00Z): its default reminders are
due 24 hours before (22 March 12:00Z) and 2 hours before (23 March 10:00Z).
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest

from sentinel.core.couch import CouchServer

from ..appointments_support import (AMY, BOB, HOUR, MINUTE, T0, Appointments, booking, errors, form_report,
                                    iso, make_world, patient, reminders, reply, settings, tasks_of, texts)
from ..support import drain, new_runner, put_settings

APPT = "2026-03-23T13:00:00+01:00"  # Monday 23 March, 13:00 in Oslo
APPT_AT = "2026-03-23T12:00:00.000Z"
LATER = "2026-03-25T13:00:00+01:00"  # Wednesday 25 March, 13:00 in Oslo
REMINDERS_DUE = ["2026-03-22T12:00:00.000Z", "2026-03-23T10:00:00.000Z"]  # 24 h and 2 h before APPT
SOON = T0 + HOUR  # Friday 20 March 11:00 in Oslo: when most replies come in


@pytest.fixture
def world(main, sentinel_db, make_runner) -> Appointments:
    return make_world(main, sentinel_db, make_runner)


def booked(w: Appointments, doc_id: str = "b1", when: str = APPT, code: str = "20001") -> dict[str, Any]:
    doc = w.save(booking(doc_id, when, code), T0)
    assert doc["appointment_status"] == "booked" and not errors(doc), doc
    return doc


def states(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(t["state"], t["due"]) for t in reminders(doc)]


def history(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(h["status"], h["report"]) for h in doc["appointment_status_history"]]


def sent(doc: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(type, to, channel, text, state) of every message task of the doc."""
    return [(t["type"], m["to"], m["channel"], m["message"], t["state"]) for t in tasks_of(doc, "tasks")
            for m in t["messages"]]


# --- the words of a reply (one world, every case processed together) -----------------------------------
# (text, the patient's locale, the action). Each case is its own patient with an appointment at APPT.
WORD_CASES = [
    pytest.param("yes", "en", "confirm", id="yes"),
    pytest.param("Yes", "en", "confirm", id="Yes"),
    pytest.param("YES I will be there", "en", "confirm", id="YES I will be there"),
    pytest.param("y", "en", "confirm", id="y"),
    pytest.param("  yes.  ", "en", "confirm", id="yes with spaces and a full stop"),
    pytest.param("ndiyo", "sw", "confirm", id="ndiyo for a sw patient"),
    pytest.param("sí", "es", "confirm", id="sí with its accent for an es patient"),
    pytest.param("si", "es", "confirm", id="si for an es patient"),
    pytest.param("Oui, merci", "fr", "confirm", id="oui for a fr patient"),
    pytest.param("oui", "de", "confirm", id="a locale without a list uses every list"),
    pytest.param("no", "en", "cancel", id="no"),
    pytest.param("No, I need to cancel", "en", "cancel", id="No, I need to cancel"),
    pytest.param("NO!", "en", "cancel", id="NO!"),
    pytest.param("no.", "en", "cancel", id="no."),
    pytest.param("n", "en", "cancel", id="n"),
    pytest.param("hapana", "sw", "cancel", id="hapana for a sw patient"),
    pytest.param("Non", "fr", "cancel", id="non for a fr patient"),
    pytest.param("não", "pt", "cancel", id="não for a pt patient"),
    pytest.param("I know", "en", "unrecognised", id="I know is not no"),
    pytest.param("yesterday", "en", "unrecognised", id="yesterday is not yes"),
    pytest.param("nothing", "en", "unrecognised", id="nothing"),
    pytest.param("noon", "en", "unrecognised", id="noon"),
    pytest.param("yesss", "en", "unrecognised", id="yesss"),
    pytest.param("eyes", "en", "unrecognised", id="eyes"),
    pytest.param("yes no", "en", "unrecognised", id="yes no is neither"),
    pytest.param("Yes, no problem", "en", "unrecognised", id="a yes and a no word is neither"),
    pytest.param("maybe", "en", "unrecognised", id="maybe"),
    pytest.param("", "en", "unrecognised", id="an empty message"),
    pytest.param("ndiyo", "en", "unrecognised", id="ndiyo is not an en word"),
    pytest.param("yes", "sw", "unrecognised", id="yes is not a sw word"),
    pytest.param("oui", "en", "unrecognised", id="oui is not an en word"),
]


@pytest.fixture(scope="module")
def replied(pouchdb) -> Iterator[Appointments]:
    """One patient per case (codes 30000, 30001, ...), each booked at APPT at T0 and replying at SOON."""
    server = CouchServer(pouchdb.url)
    main = server.db(f"medic-{uuid.uuid4().hex[:10]}")
    sentinel = server.db(f"{main.name}-sentinel")
    main.create()

    def make_runner(app_settings: dict[str, Any], **kwargs: Any):
        put_settings(main, app_settings)
        return new_runner(server, main, **kwargs)

    try:
        people = tuple(patient(f"p{i}", f"3{i:04d}", locale=case.values[1]) for i, case in enumerate(WORD_CASES))
        w = make_world(main, sentinel, make_runner, patients=people)
        books = w.save_all([booking(f"b{i}", APPT, f"3{i:04d}") for i in range(len(WORD_CASES))], T0)
        assert all(b["appointment_status"] == "booked" for b in books)
        w.save_all([reply(f"r{i}", people[i]["phone"], case.values[0], SOON) for i, case in enumerate(WORD_CASES)], SOON)
        yield w
    finally:
        main.delete()
        sentinel.delete()
        server.close()


@pytest.mark.parametrize("i, text, locale, action",
                         [pytest.param(i, *case.values, id=case.id) for i, case in enumerate(WORD_CASES)])
def test_the_words_of_a_reply_confirm_cancel_or_are_unrecognised(replied, i, text, locale, action):
    answer, appointment = replied.doc(f"r{i}"), replied.doc(f"b{i}")
    assert answer["appointment_reply"] == {"appointment_id": f"b{i}", "action": action}
    status = {"confirm": "confirmed", "cancel": "cancelled", "unrecognised": "booked"}[action]
    assert appointment["appointment_status"] == status
    event = {"confirm": "confirmed", "cancel": "cancelled", "unrecognised": "unrecognised"}[action]
    assert [t["type"] for t in tasks_of(answer, "tasks")] == [f"appointment_{event}"]
    # a cancel clears the unsent reminders; a confirmation or an unrecognised reply leaves them
    assert [s for s, _ in states(appointment)] == ["cleared" if action == "cancel" else "scheduled"] * 2


# --- confirm, cancel ------------------------------------------------------------------------------------


def test_yes_confirms_the_appointment_and_answers_the_sender(world):
    b1 = booked(world)
    answer = world.save(reply("r1", AMY["phone"], "Yes", SOON), SOON)
    assert answer["appointment_reply"] == {"appointment_id": "b1", "action": "confirm"}
    # the confirmation goes to the sender by SMS, with the appointment's date in Oslo
    assert sent(answer) == [("appointment_confirmed", AMY["phone"], "sms", "confirmed: Monday 23 March at 13:00", "pending")]
    appointment = world.doc("b1")
    assert appointment["appointment_status"] == "confirmed"
    assert appointment["appointment_status_history"] == [
        {"status": "booked", "timestamp": iso(T0), "report": "b1"},
        {"status": "confirmed", "timestamp": "2026-03-20T10:00:00.000Z", "report": "r1"}]
    assert states(appointment) == [("scheduled", due) for due in REMINDERS_DUE]  # still reminded
    assert appointment["scheduled_tasks"] == b1["scheduled_tasks"]
    # a second "yes" answers again but records nothing new
    again = world.save(reply("r2", AMY["phone"], "yes", SOON + HOUR), SOON + HOUR)
    assert again["appointment_reply"] == {"appointment_id": "b1", "action": "confirm"}
    assert texts(again) == ["confirmed: Monday 23 March at 13:00"]
    assert history(world.doc("b1")) == [("booked", "b1"), ("confirmed", "r1")]


def test_no_cancels_the_appointment_and_clears_its_reminders_then_yes_is_too_late(world):
    booked(world)
    answer = world.save(reply("r1", AMY["phone"], "No, I need to cancel", SOON), SOON)
    assert answer["appointment_reply"] == {"appointment_id": "b1", "action": "cancel"}
    assert sent(answer) == [("appointment_cancelled", AMY["phone"], "sms", "cancelled: Monday 23 March at 13:00", "pending")]
    appointment = world.doc("b1")
    assert appointment["appointment_status"] == "cancelled"
    assert appointment["appointment_status_history"][-1] == {
        "status": "cancelled", "timestamp": "2026-03-20T10:00:00.000Z", "report": "r1"}
    assert states(appointment) == [("cleared", due) for due in REMINDERS_DUE]
    # the only appointment is cancelled: a later "yes" is about a past appointment and changes nothing
    late = world.save(reply("r2", AMY["phone"], "yes", SOON + HOUR), SOON + HOUR)
    assert late["appointment_reply"] == {"appointment_id": "b1", "action": "past_appointment"}
    assert sent(late) == [("appointment_past_appointment", AMY["phone"], "sms",
                           "past_appointment: Monday 23 March at 13:00", "pending")]
    assert world.doc("b1")["_rev"] == appointment["_rev"]


def test_an_unrecognised_reply_is_answered_once_per_appointment_and_yes_still_confirms(world):
    booked(world)
    first = world.save(reply("r1", AMY["phone"], "maybe", SOON), SOON)
    assert first["appointment_reply"] == {"appointment_id": "b1", "action": "unrecognised"}
    assert sent(first) == [("appointment_unrecognised", AMY["phone"], "sms",
                            "unrecognised: Monday 23 March at 13:00", "pending")]
    appointment = world.doc("b1")
    assert appointment["appointment_status"] == "booked"
    second = world.save(reply("r2", AMY["phone"], "what?", SOON + MINUTE), SOON + MINUTE)
    assert second["appointment_reply"] == {"appointment_id": "b1", "action": "unrecognised"}  # linked
    assert "tasks" not in second  # "please reply yes or no" once only
    confirmed = world.save(reply("r3", AMY["phone"], "yes", SOON + HOUR), SOON + HOUR)
    assert confirmed["appointment_reply"] == {"appointment_id": "b1", "action": "confirm"}
    assert texts(confirmed) == ["confirmed: Monday 23 March at 13:00"]
    assert history(world.doc("b1")) == [("booked", "b1"), ("confirmed", "r3")]


def test_a_cancel_by_reply_also_clears_a_reminder_that_is_due_but_not_yet_sent(world):
    booked(world)
    due = datetime(2026, 3, 22, 12, 0, tzinfo=timezone.utc)  # the 24-hour reminder's minute
    assert world.tick(due).get("due_tasks") is None
    assert states(world.doc("b1")) == [("pending", REMINDERS_DUE[0]), ("scheduled", REMINDERS_DUE[1])]
    world.save(reply("r1", AMY["phone"], "no", due + HOUR), due + HOUR)
    assert states(world.doc("b1")) == [("cleared", d) for d in REMINDERS_DUE]  # not handed to a gateway yet


def test_replies_in_one_batch_are_taken_in_order(main, sentinel_db, make_runner):
    w = make_world(main, sentinel_db, make_runner)
    booked(w, "amy-appt", APPT, "20001")
    booked(w, "bob-appt", APPT, "20002")
    w.clock.now = SOON
    replies = [reply("amy-1", AMY["phone"], "maybe", SOON), reply("amy-2", AMY["phone"], "yes", SOON),
               reply("bob-1", BOB["phone"], "no", SOON), reply("bob-2", BOB["phone"], "yes", SOON)]
    for doc in replies:  # one request each, as the SMS arrive (one _bulk_docs does not fix the feed's order)
        w.main.put(doc)
    drain(w.runner)
    amy_1, amy_2, bob_1, bob_2 = (w.doc(r["_id"]) for r in replies)
    assert [r["appointment_reply"]["action"] for r in (amy_1, amy_2, bob_1, bob_2)] == [
        "unrecognised", "confirm", "cancel", "past_appointment"]
    amy = w.doc("amy-appt")
    assert amy["appointment_status"] == "confirmed" and amy.get("unrecognised_reply") == "amy-1"
    assert history(amy) == [("booked", "amy-appt"), ("confirmed", "amy-2")]
    assert history(w.doc("bob-appt")) == [("booked", "bob-appt"), ("cancelled", "bob-1")]
    assert [texts(r) for r in (amy_1, amy_2, bob_1, bob_2)] == [
        ["unrecognised: Monday 23 March at 13:00"], ["confirmed: Monday 23 March at 13:00"],
        ["cancelled: Monday 23 March at 13:00"], ["past_appointment: Monday 23 March at 13:00"]]


# --- which appointment a reply is about ------------------------------------------------------------------


def test_replies_go_to_the_nearest_upcoming_appointment_then_to_the_next(world):
    booked(world, "later", LATER)  # booked first, but further away
    booked(world, "sooner", APPT)
    first = world.save(reply("r1", AMY["phone"], "yes", SOON), SOON)
    assert first["appointment_reply"] == {"appointment_id": "sooner", "action": "confirm"}
    assert world.doc("sooner")["appointment_status"] == "confirmed"
    later = world.doc("later")
    assert later["appointment_status"] == "booked"
    # Monday 23 March 13:30 in Oslo: the first appointment (13:00) has passed, even though still "confirmed"
    after = datetime(2026, 3, 23, 12, 30, tzinfo=timezone.utc)
    second = world.save(reply("r2", AMY["phone"], "no", after), after)
    assert second["appointment_reply"] == {"appointment_id": "later", "action": "cancel"}
    assert texts(second) == ["cancelled: Wednesday 25 March at 13:00"]
    assert world.doc("later")["appointment_status"] == "cancelled"
    assert history(world.doc("sooner")) == [("booked", "sooner"), ("confirmed", "r1")]


def test_a_reply_after_the_appointment_gets_past_appointment_and_changes_nothing(world):
    b1 = booked(world)
    after = datetime(2026, 3, 24, 9, 0, tzinfo=timezone.utc)  # the day after
    answer = world.save(reply("r1", AMY["phone"], "yes", after), after)
    assert answer["appointment_reply"] == {"appointment_id": "b1", "action": "past_appointment"}
    assert sent(answer) == [("appointment_past_appointment", AMY["phone"], "sms",
                             "past_appointment: Monday 23 March at 13:00", "pending")]
    assert world.doc("b1")["_rev"] == b1["_rev"]


def test_a_reply_comes_from_the_number_not_the_patient_preferred_channel(main, sentinel_db, make_runner):
    wanda = patient("wanda", "20003", preferred_channels=["whatsapp", "sms"], whatsapp="+4790000001")
    w = make_world(main, sentinel_db, make_runner, patients=(wanda,))
    b1 = booked(w, code="20003")
    assert [m["channel"] for m in b1["tasks"][0]["messages"]] == ["whatsapp"]  # the booking notice
    answer = w.save(reply("r1", wanda["phone"], "yes", SOON), SOON)  # her SMS reply, from her phone
    assert answer["appointment_reply"] == {"appointment_id": "b1", "action": "confirm"}
    assert sent(answer) == [("appointment_confirmed", wanda["phone"], "sms", "confirmed: Monday 23 March at 13:00", "pending")]


# --- default_responses ------------------------------------------------------------------------------------

DEFAULT_RESPONSES = {"transitions": {"appointment_reminders": True, "default_responses": True},
                     "default_responses": {"start_date": "2020-01-01"}}
THANKS = {"_id": "messages-en", "type": "translations", "code": "en", "generic": {"sms_received": "Thank you."}}


def test_default_responses_answers_other_numbers_but_not_a_handled_reply(main, sentinel_db, make_runner):
    w = make_world(main, sentinel_db, make_runner, settings(**DEFAULT_RESPONSES), extra_docs=(THANKS,))
    booked(w)
    stranger, handled, bob = w.save_all([reply("r-stranger", "+254722000111", "hello", SOON),
                                         reply("r-amy", AMY["phone"], "yes", SOON),
                                         reply("r-bob", BOB["phone"], "yes", SOON)], SOON)  # Bob: no appointment
    for other in (stranger, bob):  # not replies to an appointment: left alone, answered as usual
        assert "appointment_reply" not in other
        assert [(t.get("type"), m["message"]) for t in tasks_of(other, "tasks") for m in t["messages"]] == [
            (None, "Thank you.")]
    assert handled["appointment_reply"] == {"appointment_id": "b1", "action": "confirm"}
    assert [t["type"] for t in handled["tasks"]] == ["appointment_confirmed"]  # one message, no "Thank you."


# --- cancel, move and attended forms ---------------------------------------------------------------------


def test_a_cancel_form_cancels_the_named_appointment(world):
    b1 = booked(world)
    booked(world, "b2", LATER)
    cancel = world.save(form_report("c1", "CANCEL", at=SOON, appointment_id="b2"), SOON)
    assert cancel["appointment_id"] == "b2" and not errors(cancel)
    # the notice goes to the patient (not the CHW who sent the form)
    assert sent(cancel) == [("appointment_cancelled", AMY["phone"], "sms", "cancelled: Wednesday 25 March at 13:00", "pending")]
    b2 = world.doc("b2")
    assert b2["appointment_status"] == "cancelled" and history(b2) == [("booked", "b2"), ("cancelled", "c1")]
    assert [s for s, _ in states(b2)] == ["cleared", "cleared"]
    assert world.doc("b1")["_rev"] == b1["_rev"]
    # it is not upcoming any more: cancelling it again finds nothing
    again = world.save(form_report("c2", "CANCEL", at=SOON, appointment_id="b2"), SOON)
    assert errors(again) == ["appointment_not_found"] and "appointment_id" not in again


def test_a_cancel_form_without_an_id_cancels_the_next_upcoming_appointment(world):
    later = booked(world, "later", LATER)  # booked first, but further away
    booked(world, "sooner", APPT)
    cancel = world.save(form_report("c1", "CANCEL", at=SOON), SOON)
    assert cancel["appointment_id"] == "sooner"
    assert texts(cancel) == ["cancelled: Monday 23 March at 13:00"]
    assert world.doc("sooner")["appointment_status"] == "cancelled"
    assert world.doc("later")["_rev"] == later["_rev"]


def test_a_cancel_form_for_a_patient_without_an_upcoming_appointment_is_an_error(world):
    booked(world)  # Amy's; the form is about Bob
    cancel = world.save(form_report("c1", "CANCEL", code="20002", at=SOON), SOON)
    assert errors(cancel) == ["appointment_not_found"]
    assert "appointment_id" not in cancel and "tasks" not in cancel
    assert world.doc("b1")["appointment_status"] == "booked"


def test_a_move_form_reschedules_the_appointment_and_its_reminders(world):
    booked(world)
    # Monday 30 March 09:00 in Oslo, after the change to summer time (CEST, +02:00): 07:00Z
    move = world.save(form_report("m1", "MOVE", at=SOON, appointment_time="2026-03-30T09:00:00+02:00"), SOON)
    assert move["appointment_id"] == "b1" and not errors(move)
    assert sent(move) == [("appointment_rescheduled", AMY["phone"], "sms", "rescheduled: Monday 30 March at 09:00", "pending")]
    appointment = world.doc("b1")
    assert appointment["appointment"]["at"] == "2026-03-30T07:00:00.000Z"
    assert appointment["appointment"]["local"] == "2026-03-30T09:00:00+02:00"
    assert appointment["appointment_status"] == "rescheduled"
    assert appointment["appointment_status_history"][-1] == {
        "status": "rescheduled", "timestamp": "2026-03-20T10:00:00.000Z", "report": "m1", "previous": APPT_AT}
    # the old reminders cleared; new ones 24 hours (29 March 09:00 CEST) and 2 hours before the new time
    assert states(appointment) == [("cleared", REMINDERS_DUE[0]), ("cleared", REMINDERS_DUE[1]),
                                   ("scheduled", "2026-03-29T07:00:00.000Z"), ("scheduled", "2026-03-30T05:00:00.000Z")]
    assert {t["appointment_at"] for t in reminders(appointment)[2:]} == {"2026-03-30T07:00:00.000Z"}
    assert {m["message"] for t in reminders(appointment)[2:] for m in t["messages"]} == {
        "Reminder: you have an appointment on Monday 30 March at 09:00. Reply YES to confirm or NO to cancel."}
    # a rescheduled appointment is still upcoming: a reply confirms it
    answer = world.save(reply("r1", AMY["phone"], "yes", SOON + HOUR), SOON + HOUR)
    assert texts(answer) == ["confirmed: Monday 30 March at 09:00"]
    assert world.doc("b1")["appointment_status"] == "confirmed"


@pytest.mark.parametrize(
    "when, code",
    [
        pytest.param("2026-03-19T13:00:00+01:00", "appointment_in_the_past", id="to a past time"),
        pytest.param("2026-03-20T11:00:00+01:00", "appointment_in_the_past", id="to this very minute"),
        pytest.param("2026-03-30T09:00:00", "appointment_time_without_offset", id="without an offset"),
        pytest.param("next Monday", "appointment_invalid_time", id="not a time"),
    ],
)
def test_a_move_that_cannot_be_done_is_rejected_and_changes_nothing(world, when, code):
    b1 = booked(world)
    move = world.save(form_report("m1", "MOVE", at=SOON, appointment_time=when), SOON)  # SOON: 11:00 in Oslo
    assert errors(move) == [code]
    assert "appointment_id" not in move and "tasks" not in move
    assert world.doc("b1")["_rev"] == b1["_rev"]


def test_a_seen_form_marks_the_appointment_attended_and_clears_its_reminders(world):
    booked(world)
    early = datetime(2026, 3, 23, 11, 50, tzinfo=timezone.utc)  # 12:50 in Oslo: she came early
    seen = world.save(form_report("s1", "SEEN", at=early), early)
    assert seen["appointment_id"] == "b1" and not errors(seen)
    appointment = world.doc("b1")
    assert appointment["appointment_status"] == "attended"
    assert appointment["appointment_status_history"][-1] == {
        "status": "attended", "timestamp": "2026-03-23T11:50:00.000Z", "report": "s1"}
    # the 24-hour reminder was never handed out (no tick ran): both are cleared
    assert states(appointment) == [("cleared", due) for due in REMINDERS_DUE]
    # attended is not upcoming: a reply now is about a past appointment
    answer = world.save(reply("r1", AMY["phone"], "yes", early + MINUTE), early + MINUTE)
    assert answer["appointment_reply"]["action"] == "past_appointment"


def test_a_seen_form_after_the_appointment_time_marks_that_appointment_not_the_next(world):
    """Attendance is recorded when the patient is seen, usually at or after the booked time (the
    `missed_after` rule lets an appointment stay open a day). A SEEN report at 13:10 must not mark
    next week's appointment attended."""
    booked(world)
    nxt = booked(world, "next", "2026-03-30T13:00:00+02:00")
    seen_at = datetime(2026, 3, 23, 12, 10, tzinfo=timezone.utc)  # 13:10 in Oslo
    seen = world.save(form_report("s1", "SEEN", at=seen_at), seen_at)
    assert world.doc("next")["_rev"] == nxt["_rev"], "next week's appointment was changed"
    assert seen.get("appointment_id") == "b1"
    assert world.doc("b1")["appointment_status"] == "attended"


def test_a_seen_form_naming_the_appointment_works_after_its_time(world):
    booked(world)
    seen_at = datetime(2026, 3, 23, 12, 10, tzinfo=timezone.utc)  # 13:10 in Oslo
    seen = world.save(form_report("s1", "SEEN", at=seen_at, appointment_id="b1"), seen_at)
    assert seen["appointment_id"] == "b1" and not errors(seen)
    assert world.doc("b1")["appointment_status"] == "attended"


# --- idempotence and concurrent edits ---------------------------------------------------------------------


def test_an_unrelated_edit_of_a_handled_reply_changes_nothing(world):
    booked(world)
    world.save(reply("r1", AMY["phone"], "no", SOON), SOON)
    appointment = world.doc("b1")
    edited = world.edit("r1", SOON + HOUR, note="read by the nurse")
    assert edited["appointment_reply"] == {"appointment_id": "b1", "action": "cancel"}
    assert [t["type"] for t in edited["tasks"]] == ["appointment_cancelled"]  # no second message
    assert world.doc("b1")["_rev"] == appointment["_rev"]  # no second history entry


def test_a_reply_processed_again_after_its_write_was_lost_is_not_handled_twice(world):
    """The appointment and the reply are saved by one `_bulk_docs`, which is not atomic: the
    appointment's write can land while the reply's is lost (a crash, a 409 on the reply). Processing
    the reply again must find the change it already made (`appointment_status_history[].report`)."""
    booked(world)
    world.save(reply("r1", AMY["phone"], "no", SOON), SOON)
    lost = world.doc("r1")
    lost.pop("appointment_reply")  # the message task kept: only the marker is lost
    world.main.put(lost)
    info = world.runner.sentinel.get("r1-info")
    info["transitions"] = {}  # and Sentinel forgets it ran
    world.runner.sentinel.put(info)
    again = world.edit("r1", SOON + HOUR, note="edited")
    assert world.runner.sentinel.get("r1-info")["transitions"]["appointment_reminders"]["ok"] is True  # it ran
    assert history(world.doc("b1")) == [("booked", "b1"), ("cancelled", "r1")]  # no second entry
    assert [t["type"] for t in again["tasks"]] == ["appointment_cancelled"]  # no second message
    assert again["appointment_reply"] == {"appointment_id": "b1", "action": "cancel"}  # put back


def test_a_field_app_edit_of_the_appointment_during_a_reply_is_kept(world, monkeypatch):
    """The field app saves the appointment report between Sentinel reading it and writing the reply's
    change: Sentinel's write meets a 409 and it runs the reply again on the new revision."""
    booked(world)
    db = world.runner.pipeline.main
    real = db.bulk_docs
    edited = []

    def field_app_edits_first(docs):
        if not edited and any(d.get("_id") == "b1" for d in docs):  # Sentinel is about to save the appointment
            current = world.main.get("b1")
            current["fields"] = {**current["fields"], "room": "12"}
            world.main.put(current)
            edited.append(current["_rev"])
        return real(docs)

    monkeypatch.setattr(db, "bulk_docs", field_app_edits_first)
    answer = world.save(reply("r1", AMY["phone"], "yes", SOON), SOON)
    assert edited, "Sentinel never saved the appointment"
    appointment = world.doc("b1")
    assert appointment["fields"]["room"] == "12"  # the field app's edit
    assert appointment["appointment_status"] == "confirmed"  # and the reply's
    assert history(appointment) == [("booked", "b1"), ("confirmed", "r1")]
    assert answer["appointment_reply"] == {"appointment_id": "b1", "action": "confirm"}
    assert [t["type"] for t in answer["tasks"]] == ["appointment_confirmed"]
