"""Shared pieces of the appointment-reminder tests (issue 7): patients reachable on different channels,
the `appointment_reminders` config and settings, booking reports and incoming SMS replies, and a
world with a running Sentinel whose clock the test moves (`save`, `tick` in-process, `tick_cli` as a
subprocess, as an operator's cron would run it).

The settings zone is Europe/Oslo: CET (+01:00) until 2026-03-29 02:00, CEST (+02:00) until
2026-10-25 03:00. `T0` is Friday 20 March 2026 10:00 in Oslo.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sentinel.core.couch import CouchDB

from .orders_support import iso, ms, sentinel_cli
from .support import CHW, HIERARCHY, Clock, ClockedWorld, drain

__all__ = [
    "ZONE", "T0", "DAY", "HOUR", "MINUTE", "CLINIC_IDS", "CHW", "CHW_CONTACT", "Clock", "iso", "ms", "sentinel_cli",
    "patient", "AMY", "BOB", "WANDA", "FLEUR", "ELLA", "PATIENTS", "MESSAGES", "REMINDER_TEXT", "config", "settings",
    "booking", "reply", "form_report", "Appointments", "make_world", "reminders", "tasks_of", "texts", "errors",
]

ZONE = "Europe/Oslo"
T0 = datetime(2026, 3, 20, 9, 0, tzinfo=timezone.utc)  # Friday 20 March 2026, 10:00 in Oslo (CET)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
CLINIC_IDS = {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}
CHW_CONTACT = {"_id": CHW["_id"], "parent": CLINIC_IDS}  # the reporting CHW, as a report's `contact`


def patient(doc_id: str, code: str, **extra: Any) -> dict[str, Any]:
    """A person under the clinic with a patient_id and (unless `phone=None`) a valid Kenyan mobile."""
    doc = {"_id": doc_id, "type": "person", "name": doc_id.capitalize(), "patient_id": code,
           "phone": f"+2547110{code}", "parent": CLINIC_IDS, **extra}
    return {k: v for k, v in doc.items() if v is not None}


AMY = patient("amy", "20001")  # phone only: sms
BOB = patient("bob", "20002")  # phone only: sms
WANDA = patient("wanda", "20003", preferred_channels=["whatsapp", "sms"], whatsapp="+4790000001")
FLEUR = patient("fleur", "20004", locale="fr")  # French dates and words
ELLA = patient("ella", "20005", phone=None, email="ella@example.org", preferred_channels=["email"])
PATIENTS = (AMY, BOB, WANDA, FLEUR, ELLA)

# Every event's message shows the date and time, so a test can read what the patient was told.
MESSAGES = [
    {"event_type": event, "message": [
        {"locale": "en", "content": f"{event}: {{{{appointment_date}}}} at {{{{appointment_time}}}}"},
        {"locale": "fr", "content": f"{event} (fr): {{{{appointment_date}}}} à {{{{appointment_time}}}}"}]}
    for event in ("booked", "confirmed", "cancelled", "rescheduled", "unrecognised", "past_appointment")
]
REMINDER_TEXT = [{"locale": "en", "content": "Reminder {{appointment_date}} at {{appointment_time}}"},
                 {"locale": "fr", "content": "Rappel {{appointment_date}} à {{appointment_time}}"}]


def config(**overrides: Any) -> dict[str, Any]:
    """One `appointment_reminders` entry: form APPT, time at fields.appointment_time, CANCEL / MOVE /
    SEEN forms, a message for every event. Reminders default to the transition's (24 h and 2 h,
    default text); `reminders=[...]` replaces them. An override of None removes the key."""
    base: dict[str, Any] = {"form": "APPT", "appointment_time": "fields.appointment_time",
                            "cancel_forms": ["CANCEL"], "reschedule_forms": ["MOVE"], "attended_forms": ["SEEN"],
                            "messages": copy.deepcopy(MESSAGES)}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def settings(*configs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """App settings with appointment_reminders (and default_responses off) in Oslo's zone."""
    base = {"transitions": {"appointment_reminders": True}, "timezone": ZONE,
            "forms": {code: {} for code in ("APPT", "CANCEL", "MOVE", "SEEN")},
            "appointment_reminders": list(configs or [config()])}
    base.update(extra)
    return base


def booking(doc_id: str, when: str | None, code: str | None = "20001", at: datetime = T0, form: str = "APPT",
            **fields: Any) -> dict[str, Any]:
    """An appointment report sent by the CHW at `at` for patient `code` at `when` (ISO text, or None
    for no appointment_time field)."""
    values: dict[str, Any] = {}
    if code is not None:
        values["patient_id"] = code
    if when is not None:
        values["appointment_time"] = when
    values.update(fields)
    return {"_id": doc_id, "type": "data_record", "form": form, "from": CHW["phone"], "contact": CHW_CONTACT,
            "reported_date": ms(at), "fields": values}


def form_report(doc_id: str, form: str, code: str | None = "20001", at: datetime = T0, **fields: Any) -> dict[str, Any]:
    """A CANCEL / MOVE / SEEN report (any form) by the CHW about patient `code`."""
    return booking(doc_id, None, code, at, form=form, **fields)


def reply(doc_id: str, phone: str, text: str, at: datetime = T0) -> dict[str, Any]:
    """An incoming SMS with no form (a yes/no reply) from `phone`."""
    return {"_id": doc_id, "type": "data_record", "from": phone, "sms_message": {"from": phone, "message": text},
            "reported_date": ms(at)}


def tasks_of(doc: dict[str, Any], key: str = "scheduled_tasks", type_: str | None = None) -> list[dict[str, Any]]:
    return [t for t in doc.get(key) or [] if isinstance(t, dict) and (type_ is None or t.get("type") == type_)]


def reminders(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's appointment reminders, in planning order."""
    return tasks_of(doc, "scheduled_tasks", "appointment_reminder")


def texts(doc: dict[str, Any], key: str = "tasks") -> list[str]:
    """Every message text of the doc's `tasks` (or `scheduled_tasks`)."""
    return [m.get("message") for t in tasks_of(doc, key) for m in t.get("messages") or []]


def errors(doc: dict[str, Any]) -> list[str]:
    return [e.get("code") for e in doc.get("errors") or []]


@dataclass
class Appointments(ClockedWorld):
    """A database with the hierarchy, patients and a running Sentinel whose clock the test moves."""

    pouchdb_url: str | None = None

    def tick_cli(self, at: datetime) -> Any:
        """`python -m sentinel tick --now <at>` as a subprocess; then Sentinel processes the echoes."""
        assert self.pouchdb_url, "make_world(..., pouchdb_url=pouchdb.url) for tick_cli"
        self.clock.now = at
        done = sentinel_cli(self.main, self.pouchdb_url, "tick", "--now", iso(at), timeout=120)
        assert done.returncode == 0, done.stderr
        drain(self.runner)
        return done

    def states(self, doc_id: str) -> list[tuple[str, str]]:
        """[(state, due)] of the report's appointment reminders."""
        return [(t.get("state"), t.get("due")) for t in reminders(self.main.get(doc_id))]


def make_world(main: CouchDB, sentinel: CouchDB, make_runner: Any, app_settings: dict[str, Any] | None = None,
               patients: tuple[dict[str, Any], ...] = PATIENTS, at: datetime = T0, pouchdb_url: str | None = None,
               extra_docs: tuple[dict[str, Any], ...] = ()) -> Appointments:
    """The hierarchy (CHW included), `patients` and `extra_docs` (translations...) seeded, then a
    Runner at `at` on `app_settings` (default `settings()`), caught up."""
    main.bulk_docs([copy.deepcopy(d) for d in (*HIERARCHY, *patients, *extra_docs)])
    clock = Clock(at)
    runner = make_runner(app_settings if app_settings is not None else settings(), clock=clock)
    drain(runner)
    return Appointments(main, sentinel, runner, clock, pouchdb_url)
