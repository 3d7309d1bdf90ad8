"""A programme end to end: a contact hierarchy, two registration forms with two schedules, texts in two
languages; patients are registered by the daemon, then the clock is moved with `sentinel tick --now`
and the messages that became pending are checked: which ones, in which language, to whom.

Everything runs against the real PouchDB Server; `tick` runs as its own process, as an operator would.
"""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from .support import CHW, CLINIC, HC_PERSON, drain, report

REGISTERED = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)  # a Monday
MS = int(REGISTERED.timestamp() * 1000)

SETTINGS: dict[str, Any] = {
    "transitions": {"update_clinics": True, "registration": True},
    "timezone": "Africa/Nairobi",
    "schedule_morning_hours": 8,
    "schedule_evening_hours": 18,
    "forms": {"P": {"meta": {"code": "P"}, "fields": {}}, "B": {"meta": {"code": "B"}, "fields": {}}},
    "registrations": [
        {
            "form": "P",
            "events": [
                {"name": "on_create", "trigger": "add_patient", "params": "", "bool_expr": ""},
                {"name": "on_create", "trigger": "add_expected_date", "params": "", "bool_expr": ""},
                {"name": "on_create", "trigger": "assign_schedule", "params": "ANC Reminders", "bool_expr": ""},
            ],
            "messages": [{"event_type": "report_accepted", "recipient": "reporting_unit", "translation_key": "p.accepted"}],
        },
        {
            "form": "B",
            "events": [
                {"name": "on_create", "trigger": "add_patient", "params": "", "bool_expr": ""},
                {"name": "on_create", "trigger": "add_birth_date", "params": "", "bool_expr": ""},
                {"name": "on_create", "trigger": "assign_schedule", "params": "Child Health", "bool_expr": ""},
            ],
            "messages": [{"recipient": "reporting_unit", "translation_key": "b.accepted"}],
        },
    ],
    "schedules": [
        {
            "name": "ANC Reminders",
            "start_from": "lmp_date",
            "messages": [
                {"group": 1, "offset": "12 weeks", "send_time": "09:00", "recipient": "reporting_unit", "translation_key": "anc.visit1"},
                {"group": 2, "offset": "20 weeks", "send_time": "09:00", "recipient": "parent", "translation_key": "anc.visit2"},
            ],
        },
        {
            "name": "Child Health",
            "start_from": "birth_date",
            "messages": [
                {"group": 1, "offset": "6 weeks", "send_time": "10:00", "recipient": "reporting_unit",
                 "message": [{"locale": "en", "content": "{{patient_name}} needs her 6-week vaccines."},
                             {"locale": "fr", "content": "{{patient_name}} doit recevoir ses vaccins de 6 semaines."}]},
            ],
        },
    ],
}

TRANSLATIONS = {
    "en": {"p.accepted": "{{patient_name}} is registered as {{patient_id}}.", "b.accepted": "Birth of {{patient_name}} recorded.",
           "anc.visit1": "{{patient_name}} is due for her first ANC visit.", "anc.visit2": "Please check on {{patient_name}} ({{patient_id}})."},
    "fr": {"p.accepted": "{{patient_name}} est enregistrée sous {{patient_id}}.", "b.accepted": "Naissance de {{patient_name}} enregistrée.",
           "anc.visit1": "{{patient_name}} doit faire sa première visite prénatale.", "anc.visit2": "Veuillez voir {{patient_name}} ({{patient_id}})."},
}


def registration(doc_id: str, form: str, locale: str, name: str, **fields: Any) -> dict[str, Any]:
    return report(doc_id, form=form, locale=locale, reported_date=MS, fields={"patient_name": name, **fields}, **{"from": CHW["phone"]})


def tick(main_url: str, now: datetime) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COUCH_URL=main_url)
    result = subprocess.run([sys.executable, "-m", "sentinel", "tick", "--now", now.isoformat()], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def states(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(t["type"], t["state"]) for t in doc["scheduled_tasks"]]


@pytest.fixture
def programme(main, hierarchy, make_runner, pouchdb):
    for locale, texts in TRANSLATIONS.items():
        main.put({"_id": f"messages-{locale}", "type": "translations", "code": locale, "generic": texts})
    runner = make_runner(SETTINGS, clock=lambda: REGISTERED)
    main.bulk_docs([
        registration("anc-en", "P", "en", "Amina", lmp=4),
        registration("anc-fr", "P", "fr", "Awa", lmp=4),
        registration("birth-fr", "B", "fr", "Bébé", days_since_birth=2),
    ])
    drain(runner)
    return main, f"{pouchdb.url}/{main.name}"


def test_registration_creates_patients_schedules_and_replies_in_the_reporters_language(programme):
    main, _ = programme
    anc_en, anc_fr, birth = (main.get(i) for i in ("anc-en", "anc-fr", "birth-fr"))
    assert anc_en["tasks"][0]["messages"][0] == {
        "uuid": anc_en["tasks"][0]["messages"][0]["uuid"], "to": CHW["phone"],
        "message": f"Amina is registered as {anc_en['patient_id']}.",
    }
    assert anc_fr["tasks"][0]["messages"][0]["message"] == f"Awa est enregistrée sous {anc_fr['patient_id']}."
    assert birth["tasks"][0]["messages"][0]["message"] == "Naissance de Bébé enregistrée."
    # LMP 4 weeks before Monday 5 January (Nairobi days): visit 1 at 12 weeks, visit 2 at 20 weeks, 09:00 local
    assert [t["due"] for t in anc_en["scheduled_tasks"]] == ["2026-03-02T06:00:00.000Z", "2026-04-27T06:00:00.000Z"]
    assert states(anc_en) == [("ANC Reminders", "scheduled"), ("ANC Reminders", "scheduled")]
    assert "messages" not in anc_en["scheduled_tasks"][0]  # translated at due time
    # born 2 days before: vaccines 6 weeks after birth at 10:00 local; inline text rendered now, in French
    assert birth["scheduled_tasks"][0]["due"] == "2026-02-14T07:00:00.000Z"
    assert birth["scheduled_tasks"][0]["messages"][0]["message"] == "Bébé doit recevoir ses vaccins de 6 semaines."
    codes = [d["patient_id"] for d in (anc_en, anc_fr, birth)]
    assert len(set(codes)) == 3 and all(len(c) == 5 for c in codes)


def test_tick_moves_the_due_messages_to_pending_inside_the_window_in_each_language(programme):
    main, url = programme
    # before anything is due: nothing moves
    tick(url, datetime(2026, 2, 10, 9, 0, tzinfo=timezone.utc))
    assert states(main.get("birth-fr")) == [("Child Health", "scheduled")]

    # 14 Feb 2026, 22:00 in Nairobi: the vaccine message is due but outside the sending window
    tick(url, datetime(2026, 2, 14, 19, 0, tzinfo=timezone.utc))
    assert states(main.get("birth-fr")) == [("Child Health", "scheduled")]

    # the next morning inside the window: it goes out, in French, to the reporter
    tick(url, datetime(2026, 2, 15, 6, 0, tzinfo=timezone.utc))
    birth = main.get("birth-fr")
    assert states(birth) == [("Child Health", "pending")]
    assert birth["scheduled_tasks"][0]["messages"][0]["to"] == CHW["phone"]

    # 2 March, 09:30 in Nairobi: ANC visit 1 is rendered now, each in its report's language
    tick(url, REGISTERED.replace(month=3, day=2, hour=6, minute=30))
    anc_en, anc_fr = main.get("anc-en"), main.get("anc-fr")
    assert states(anc_en) == [("ANC Reminders", "pending"), ("ANC Reminders", "scheduled")]
    assert anc_en["scheduled_tasks"][0]["messages"][0]["message"] == "Amina is due for her first ANC visit."
    assert anc_fr["scheduled_tasks"][0]["messages"][0]["message"] == "Awa doit faire sa première visite prénatale."
    assert anc_fr["scheduled_tasks"][0]["messages"][0]["to"] == CHW["phone"]

    # 27 April: visit 2 goes to the `parent` recipient (the health center's contact)
    tick(url, datetime(2026, 4, 27, 7, 0, tzinfo=timezone.utc))
    anc_fr = main.get("anc-fr")
    assert states(anc_fr) == [("ANC Reminders", "pending"), ("ANC Reminders", "pending")]
    visit2 = anc_fr["scheduled_tasks"][1]["messages"][0]
    assert visit2 == {"uuid": visit2["uuid"], "to": HC_PERSON["phone"], "message": f"Veuillez voir Awa ({anc_fr['patient_id']})."}
    assert CLINIC["_id"] == anc_fr["contact"]["parent"]["_id"]

    # more than 7 days later nothing is sent any more: a task overdue past max_overdue stays scheduled
    late = main.get("anc-en")
    late["scheduled_tasks"].append({**late["scheduled_tasks"][1], "due": "2026-04-01T06:00:00.000Z", "state": "scheduled",
                                    "state_history": [{"state": "scheduled", "timestamp": "2026-01-05T08:00:00.000Z"}]})
    main.put(late)
    tick(url, datetime(2026, 4, 27, 7, 0, tzinfo=timezone.utc) + timedelta(minutes=1))
    assert states(main.get("anc-en"))[-1] == ("ANC Reminders", "scheduled")


@pytest.mark.parametrize(
    "bool_expr, kind",
    [
        pytest.param("(function () { while (true) {} })()", "time limit", id="an endless loop"),
        pytest.param("std.open('/etc/passwd', 'r') !== null", "ReferenceError", id="opening a file"),
        pytest.param("require('fs').readFileSync('/etc/passwd')", "ReferenceError", id="requiring a module"),
    ],
)
def test_a_hostile_condition_is_stopped_reported_and_the_feed_goes_on(main, hierarchy, make_runner, caplog, bool_expr, kind):
    settings = {**SETTINGS, "registrations": [{**SETTINGS["registrations"][0], "events": [
        {"name": "on_create", "trigger": "add_patient", "params": "", "bool_expr": bool_expr},
    ]}, SETTINGS["registrations"][1]]}
    runner = make_runner(settings, clock=lambda: REGISTERED)
    main.bulk_docs([registration("hostile", "P", "en", "Eve", lmp=4), registration("next", "B", "en", "Ben", days_since_birth=1)])
    with caplog.at_level("WARNING"):
        drain(runner)
    assert "patient_id" not in main.get("hostile")  # the condition counted as false: no patient
    assert main.get("next")["patient_id"]  # and the next report was processed as usual
    warnings = [r.getMessage() for r in caplog.records if "bool_expr" in r.getMessage()]
    assert warnings and "events[0].bool_expr" in warnings[0] and kind in warnings[0], warnings
