"""`appointment_reminders`: reminders before booked appointments, yes/no replies, cancel and
reschedule forms (issue 7). Rules and formats: `sentinel.programs.appointments` (its docstring lists the choices).

Config (`appointment_reminders`): [{form, appointment_time (path to ISO 8601 with offset), timezone
(IANA name or path; default the settings zone), reminders: [{before, translation_key | message,
recipient (default the patient)}] (default 24 hours and 2 hours before), confirm, cancel ({locale:
[words]}), messages: [{event_type: booked | confirmed | cancelled | rescheduled | unrecognised |
past_appointment, translation_key | message, recipient}], cancel_forms, reschedule_forms,
attended_forms, missed_after, min_notice, notify_window (path to a number of hours that replaces
the reminders with one that long before: the reminder API's), channels (default whatsapp, sms, email), date_format,
time_format}].

Reads:  the report (hydrated: its patient); the subject's other reports (double bookings, the next
        appointment for a cancel/reschedule form without `fields.appointment_id`); appointments by
        phone (`sentinel/appointments_by_phone`) for replies and double bookings.
Writes: on an appointment report: `appointment` {at (UTC), local (ISO in its zone), timezone, phone,
        patient_uuid, patient_id, locale}, `appointment_status`, `appointment_status_history`
        [{status, timestamp, report}], reminders as `scheduled_tasks` {type: appointment_reminder,
        before, due, appointment_at, appointment_time, messages (rendered at booking, each with
        `channel`), state scheduled}; on a reply: `appointment_reply` {appointment_id, action}; on a
        cancel/reschedule/attended form: `appointment_id`; replies and notices as `tasks`;
        errors (`appointment_*` codes) on the report. The appointment report, when a reply or form
        changes it, is staged.

Idempotent: a state change is recorded once per report (`appointment_status_history[].report`),
message uuids are keyed on the appointment and its time, and a reply that has `appointment_reply`
is never handled again.
"""
from __future__ import annotations

import copy
from datetime import datetime
from typing import Any, Mapping

from sentinel.programs import appointments as appts
from sentinel.core import clock, phones
from sentinel.messaging import messages
from sentinel.core.context import Context
from sentinel.core.ddocs import SENTINEL_DDOC
from sentinel.core.docs import Doc, add_error, fields_of, is_report, patient_ref
from sentinel.messaging.schedules import MISSING, get_path

name = "appointment_reminders"
config_key = "appointment_reminders"
doc_types = ("data_record",)

DEFAULT_REMINDER_TEXT = [{"locale": "en", "content": "Reminder: you have an appointment on {{appointment_date}} at "
                                                     "{{appointment_time}}. Reply YES to confirm or NO to cancel."}]


def check_config(section: Any, settings: Any) -> list[str]:
    return appts.config_problems(section, settings)


def _is_reply(doc: Doc) -> bool:
    sms = doc.get("sms_message")
    return not doc.get("form") and isinstance(sms, Mapping) and bool(doc.get("from") or sms.get("from"))


def _kind(doc: Doc, settings: Any) -> tuple[str, Mapping[str, Any]] | None:
    form = doc.get("form")
    if form:
        for kind, key in (("book", None), ("cancel", "cancel_forms"), ("reschedule", "reschedule_forms"),
                          ("attended", "attended_forms")):
            conf = appts.config_for(settings, form, key)
            if conf is not None:
                return kind, conf
        return None
    return ("reply", {}) if _is_reply(doc) and appts.configs(settings) else None


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001 - the transition interface's name
    # a reply that names its appointment already is looked at again: its appointment's write may have
    # been lost (a 409 with a field app's edit), and applying it again is idempotent
    return is_report(doc) and _kind(doc, ctx.settings) is not None


def run(doc: Doc, ctx: Context) -> bool:
    kind, conf = _kind(doc, ctx.settings) or (None, {})
    if kind == "book":
        return _book(doc, conf, ctx)
    if kind == "reply":
        return _reply(doc, ctx)
    if kind in ("cancel", "reschedule", "attended"):
        return _change(doc, conf, kind, ctx)
    return False


# --- helpers -------------------------------------------------------------------------------------
def _error(doc: Doc, code: str, message: str) -> bool:
    return add_error(doc, {"code": code, "message": message})


def _locale(patient: Mapping[str, Any] | None, doc: Doc, ctx: Context) -> str:
    for key in ("locale", "language"):
        value = (patient or {}).get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ctx.settings.locale_for(doc)


def _message_task(render_doc: Doc, ctx: Context, conf: Mapping[str, Any], config: Mapping[str, Any],
                  recipient: Any, key: str, details: Mapping[str, Any], patient: Mapping[str, Any] | None,
                  phone: str | None, task_fields: Mapping[str, Any]) -> dict[str, Any] | None:
    """A task with one rendered message and its `channel`, or None when nobody can be reached.

    `recipient` "patient" (or none) is the patient on their preferred channel; anything else is
    resolved as for every message and goes by SMS.
    """
    content = {"translation_key": config.get("translation_key"), "message": config.get("message")}
    to_patient = recipient in (None, "", "patient")
    extra = {"patient": patient, "template_context": dict(details)}
    generated = messages.generate(render_doc, content, "reporting_unit" if to_patient else recipient, ctx.settings,
                                  extra, key=key)
    entry = generated[0] if generated else {}
    if entry.get("error"):
        return None
    if to_patient:
        address = appts.choose_channel(conf, patient, phone)
        if address is None:
            return None
        entry["to"], entry["channel"] = address.to, address.channel
    else:
        if not entry.get("to"):
            return None
        entry["channel"] = "sms"
    return {"messages": generated, **task_fields}


def _notify(target: Doc, ctx: Context, conf: Mapping[str, Any], event: str, appointment: Doc,
            default_recipient: str | None, patient: Mapping[str, Any] | None = None) -> None:
    """The configured message of `event` about `appointment`, as an immediate task on `target`."""
    config = appts.message_config(conf, event)
    if config is None:
        return
    info = appointment.get("appointment") or {}
    key = f"appointment:{appointment['_id']}:{info.get('at')}:{event}"
    if messages.find_message(target, messages.message_uuid(_render_doc(target, info), key), ("tasks",)):
        return
    at = clock.parse_date(info.get("at"))
    tz = clock.zone_named(info["timezone"]) if clock.is_zone_name(info.get("timezone")) else clock.zone(ctx.settings)
    details = appts.describe(at, tz, info.get("locale") or "en", conf) if at else {}
    patient = patient if patient is not None else (ctx.hydrated_contact(info["patient_uuid"]) if info.get("patient_uuid") else None)
    task = _message_task(_render_doc(target, info), ctx, conf, config, config.get("recipient") or default_recipient,
                         key, details, patient, info.get("phone"), {"type": f"appointment_{event}"})
    if task is None:
        return
    messages.set_task_state(task, messages.initial_state(target, task["messages"][0], ctx), ctx.now)
    target.setdefault("tasks", []).append(task)


def _render_doc(doc: Doc, info: Mapping[str, Any]) -> Doc:
    """The document a message is rendered against, in the patient's locale."""
    return {**doc, "locale": info.get("locale")} if info.get("locale") else doc


# --- booking -------------------------------------------------------------------------------------
def _book(doc: Doc, conf: Mapping[str, Any], ctx: Context) -> bool:
    if doc.get("appointment") or doc.get("appointment_status") == appts.CANCELLED:
        return False  # booked already (processed before), or cancelled (through the reminder API) first
    patient, phone, problem = _who(doc, ctx)
    if problem:
        return _error(doc, appts.ERR_PATIENT, problem)
    at, tz, problem_code, problem = _when(doc, conf, ctx)
    if problem_code:
        return _error(doc, problem_code, problem)
    if at <= ctx.now:
        return _error(doc, appts.ERR_PAST, f"The appointment time {get_path(doc, conf['appointment_time'])} has already passed")
    clash = _double_booking(doc, ctx, patient, phone, at)
    if clash:
        return _error(doc, appts.ERR_DOUBLE, f"Already booked at this time: appointment {clash}")
    locale = _locale(patient, doc, ctx)
    doc["appointment"] = {"at": clock.to_iso(at), "local": at.astimezone(tz).isoformat(), "timezone": tz.key,
                          "phone": phone, "patient_uuid": (patient or {}).get("_id"),
                          "patient_id": (patient or {}).get("patient_id"), "locale": locale}
    appts.set_status(doc, appts.BOOKED, ctx.now, doc["_id"])
    _plan(doc, conf, ctx, patient, at, tz)
    _notify(doc, ctx, conf, "booked", doc, "patient", patient)
    return True


def _who(doc: Doc, ctx: Context) -> tuple[Doc | None, str | None, str | None]:
    """(patient, phone, problem): the hydrated patient and the number replies come from."""
    ref = patient_ref(doc)
    number = fields_of(doc).get("contact_number")
    if ref not in (None, ""):
        patient = doc.get("patient") if isinstance(doc.get("patient"), dict) and doc["patient"].get("_id") else None
        if patient is None:
            return None, None, f"No patient found for {ref!r}: no reminders planned"
        phone = phones.normalize(ctx.settings.values, patient.get("phone")) or patient.get("phone")
        return patient, phone, None
    if number not in (None, ""):
        phone = phones.normalize(ctx.settings.values, number)
        if phone is None:
            return None, None, f"The contact number {number!r} is not a valid phone number"
        return None, phone, None
    return None, None, "The appointment names no patient (fields.patient_id) and no contact_number"


def _when(doc: Doc, conf: Mapping[str, Any], ctx: Context):
    value = get_path(doc, conf["appointment_time"])
    at, code = appts.parse_time(None if value is MISSING else value)
    if code == appts.ERR_OFFSET:
        return None, None, code, f"The appointment time {value!r} has no UTC offset (write it as 2026-03-23T13:00:00+01:00)"
    if code:
        return None, None, code, f"No valid appointment time at {conf['appointment_time']}: {value if value is not MISSING else 'missing'!r}"
    tz = appts.zone_of(conf, doc, ctx.settings)
    if tz is None:
        return None, None, appts.ERR_ZONE, f"Unknown time zone at {conf.get('timezone')}: {get_path(doc, conf['timezone'])!r}"
    return at, tz, None, None


def _appointments_of(ctx: Context, patient: Mapping[str, Any] | None, phone: str | None) -> dict[str, Doc]:
    """The batch's copies of every appointment of this patient (by subject) or number (by phone)."""
    found: dict[str, Doc] = {}
    if patient:
        for report in ctx.reports_by_subject([patient.get("_id"), patient.get("patient_id")]):
            if isinstance(report.get("appointment"), Mapping):
                found[report["_id"]] = report
    if phone:
        rows = ctx.view(SENTINEL_DDOC, "appointments_by_phone", startkey=[phone, ""], endkey=[phone, {}], include_docs=True)
        for row in rows:
            if isinstance(row.get("doc"), dict):
                current = ctx.batch.lookup(row["id"]) or row["doc"]
                found[row["id"]] = current
    return found


def _double_booking(doc: Doc, ctx: Context, patient: Mapping[str, Any] | None, phone: str | None, at: datetime) -> str | None:
    for other_id, other in _appointments_of(ctx, patient, phone).items():
        if other_id == doc["_id"] or other.get("appointment_status") not in appts.ACTIVE:
            continue
        if clock.parse_date((other.get("appointment") or {}).get("at")) == at:
            return other_id
    return None


def _plan(doc: Doc, conf: Mapping[str, Any], ctx: Context, patient: Doc | None, at: datetime, tz: Any,
          render: Doc | None = None) -> None:
    """Reminder tasks for the appointment `doc` at `at`, rendered against `render` (default: `doc`,
    which must then be hydrated)."""
    info = doc["appointment"]
    render = render if render is not None else doc
    details = appts.describe(at, tz, info["locale"], conf)
    tasks = doc.setdefault("scheduled_tasks", [])
    for index, reminder, due in appts.reminder_times(conf, at, tz, ctx.now, doc):
        config = reminder if reminder.get("translation_key") or reminder.get("message") else {"message": DEFAULT_REMINDER_TEXT}
        key = f"appointment:{doc['_id']}:{info['at']}:reminder:{index}"
        task = _message_task(_render_doc(render, info), ctx, conf, config, reminder.get("recipient"), key, details,
                             patient, info.get("phone"), {
                                 "type": appts.TASK_TYPE, "before": reminder.get("before"), "due": clock.to_iso(due),
                                 "appointment_at": info["at"], "appointment_time": info["local"]})
        if task is None:
            _error(doc, "appointment_no_contact", f"No way to reach the recipient of the {reminder.get('before')} reminder")
            continue
        # a muted patient's reminders are planned muted: unmuting puts the future ones back
        messages.set_task_state(task, "muted" if messages.is_muted(patient) else "scheduled", ctx.now)
        tasks.append(task)


# --- replies -------------------------------------------------------------------------------------
def _reply(doc: Doc, ctx: Context) -> bool:
    """A yes/no reply: decide which appointment and what it says (or find what was decided before,
    when this reply is processed again after one of the two writes was lost), then apply it."""
    sender = doc.get("from") or (doc.get("sms_message") or {}).get("from")
    phone = phones.normalize(ctx.settings.values, sender) or sender
    found = _appointments_of(ctx, None, phone if isinstance(phone, str) else None)
    if not found:
        return False  # not a reply to us: default_responses may answer it
    appointment, action = _decided_before(doc, found)
    if appointment is None:
        ahead = appts.upcoming(found.values(), ctx.now)
        if ahead:
            appointment = ahead[0]
            conf = appts.config_for(ctx.settings, appointment.get("form")) or {}
            text = (doc.get("sms_message") or {}).get("message")
            action = appts.classify_reply(text, conf, (appointment.get("appointment") or {}).get("locale")) or "unrecognised"
        else:
            appointment = max(found.values(), key=lambda d: ((d.get("appointment") or {}).get("at") or "", d["_id"]))
            action = "past_appointment"
    return _apply_reply(doc, ctx, appointment, action)


def _decided_before(doc: Doc, found: Mapping[str, Doc]) -> tuple[Doc | None, str | None]:
    """(appointment, action) this reply was already matched to: named on the reply, or recorded on
    one of the number's appointments (the reply's own write lost)."""
    done = doc.get("appointment_reply")
    if isinstance(done, Mapping) and done.get("appointment_id") in found:
        return found[done["appointment_id"]], done.get("action")
    for appointment in found.values():
        for entry in appointment.get("appointment_status_history") or []:
            if isinstance(entry, Mapping) and entry.get("report") == doc["_id"] and entry.get("status") in (appts.CONFIRMED, appts.CANCELLED):
                return appointment, "confirm" if entry["status"] == appts.CONFIRMED else "cancel"
        if appointment.get("unrecognised_reply") == doc["_id"]:
            return appointment, "unrecognised"
    return None, None


def _apply_reply(doc: Doc, ctx: Context, stored: Doc, action: str) -> bool:
    """Apply a reply's action to the appointment (idempotently) and answer it (keyed: once)."""
    before = (copy.deepcopy(doc.get("appointment_reply")), len(doc.get("tasks") or []))
    appointment = copy.deepcopy(stored)
    conf = appts.config_for(ctx.settings, appointment.get("form")) or {}
    status = appointment.get("appointment_status")
    if action == "confirm":
        if status in appts.ACTIVE and status != appts.CONFIRMED:
            appts.set_status(appointment, appts.CONFIRMED, ctx.now, doc["_id"])
        _notify(doc, ctx, conf, "confirmed", appointment, "reporting_unit")
    elif action == "cancel":
        if status in appts.ACTIVE:
            appts.set_status(appointment, appts.CANCELLED, ctx.now, doc["_id"])
            appts.clear_reminders(appointment, ctx.now)
        _notify(doc, ctx, conf, "cancelled", appointment, "reporting_unit")
    elif action == "unrecognised":
        if appointment.get("unrecognised_reply") in (None, doc["_id"]):  # "please reply yes or no": once
            appointment["unrecognised_reply"] = doc["_id"]
            _notify(doc, ctx, conf, "unrecognised", appointment, "reporting_unit")
    else:
        _notify(doc, ctx, conf, "past_appointment", appointment, "reporting_unit")
    doc["appointment_reply"] = {"appointment_id": appointment["_id"], "action": action}
    if appointment != stored:
        ctx.stage(appointment)
    return appointment != stored or before != (doc["appointment_reply"], len(doc.get("tasks") or []))


# --- cancel, reschedule and attended forms -----------------------------------------------------------
def _change(doc: Doc, conf: Mapping[str, Any], kind: str, ctx: Context) -> bool:
    if doc.get("appointment_id"):
        return False
    appointment = _target(doc, ctx, attended=kind == "attended")
    if appointment is None:
        return _error(doc, appts.ERR_NOT_FOUND, f"No {'open' if kind == 'attended' else 'upcoming'} appointment found for this report"
                      + (f" (appointment_id {fields_of(doc).get('appointment_id')!r})" if fields_of(doc).get("appointment_id") else ""))
    appointment = copy.deepcopy(appointment)
    doc["appointment_id"] = appointment["_id"]
    if kind == "attended":
        appts.set_status(appointment, appts.ATTENDED, ctx.now, doc["_id"])
        appts.clear_reminders(appointment, ctx.now)
    elif kind == "cancel":
        appts.set_status(appointment, appts.CANCELLED, ctx.now, doc["_id"])
        appts.clear_reminders(appointment, ctx.now)
        _notify(doc, ctx, conf, "cancelled", appointment, "patient")
    else:
        at, tz, code, problem = _when(doc, conf, ctx)
        if code:
            del doc["appointment_id"]
            return _error(doc, code, problem)
        info = appointment["appointment"]
        patient = ctx.hydrated_contact(info["patient_uuid"]) if info.get("patient_uuid") else None
        clash = _double_booking(appointment, ctx, patient, info.get("phone"), at)
        if at <= ctx.now or clash:
            del doc["appointment_id"]
            return _error(doc, appts.ERR_PAST if at <= ctx.now else appts.ERR_DOUBLE,
                          f"Cannot move the appointment to {at.isoformat()}: "
                          + ("that time has passed" if at <= ctx.now else f"already booked then ({clash})"))
        appts.clear_reminders(appointment, ctx.now)
        previous = info["at"]
        info.update(at=clock.to_iso(at), local=at.astimezone(tz).isoformat(), timezone=tz.key)
        appointment.pop("unrecognised_reply", None)
        appts.set_status(appointment, appts.RESCHEDULED, ctx.now, doc["_id"], previous=previous)
        _plan(appointment, conf, ctx, patient, at, tz, render=ctx.batch.hydrated(appointment))
        _notify(doc, ctx, conf, "rescheduled", appointment, "patient", patient)
    ctx.stage(appointment)
    return True


def _target(doc: Doc, ctx: Context, attended: bool = False) -> Doc | None:
    """The appointment a cancel/reschedule/attended form is about: `fields.appointment_id`, else the
    subject's next upcoming one (for attendance, the open one closest in time, usually just past)."""
    named = fields_of(doc).get("appointment_id")
    if isinstance(named, str) and named:
        found = ctx.load(named)
        ok = isinstance(found, dict) and isinstance(found.get("appointment"), Mapping) and found.get("appointment_status") in appts.ACTIVE
        return found if ok else None
    patient = doc.get("patient") if isinstance(doc.get("patient"), dict) and doc["patient"].get("_id") else None
    number = fields_of(doc).get("contact_number")
    phone = phones.normalize(ctx.settings.values, number) if number else None
    if patient is None and phone is None:
        return None
    found = _appointments_of(ctx, patient, phone).values()
    if attended:
        return appts.nearest(found, ctx.now)
    ahead = appts.upcoming(found, ctx.now)
    return ahead[0] if ahead else None
