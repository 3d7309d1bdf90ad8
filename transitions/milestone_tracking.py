"""`milestone_tracking`: reports enrol a patient (or place) into a MOTECH milestone schedule, fulfil its
milestones and unenrol it (issue 5). The arithmetic is `sentinel.programs.milestones`; this module stores it.

Reads:  the report (hydrated: patient, place, contact); settings `milestone_enrollments`,
        `milestone_schedules`, `timezone`, `synthetic_date`; the subject's enrollment documents, by
        their deterministic ids (`enrollment:<schedule>:<subject uuid>:<n>`, n = 1, 2, ...).
Writes: enrollment documents (staged); on the report: `errors` and replies (`tasks`).
Config: milestone_enrollments: [{form, schedule, action: "enroll" | "fulfill" | "unenroll",
        reference_date (path, default "reported_date"), preferred_alert_time ("HH:MM" or a path),
        milestone (path to the starting milestone's name), date (path of the fulfilment date, default
        the report's reported_date), bool_expr, messages: [{event_type, recipient, translation_key |
        message}]}]. Reply event types: enrolled, already_enrolled, fulfilled, completed, unenrolled,
        not_enrolled.

The enrollment document (`type: "enrollment"`):

    _id                 enrollment:<schedule>:<subject uuid>:<n>; only the highest n may be active,
                        a new one (n + 1) starts only after a terminal status
    schedule, patient_id, patient_uuid (or place_id, place_uuid), status (active | completed |
    defaulted | unenrolled), status_history [{status, date, report}], reference_date, enrolled_on,
    preferred_alert_time, current_milestone, windows {earliest|due|late|max: {start, end}} (ISO, of the
    current milestone), fulfillments [{milestone, date, report}], enrolled_by (the report's id),
    scheduled_tasks [{type: <schedule>, milestone, window, alert, number, due, message_key | message,
    recipient, state, state_history}]
    contact, from, fields {patient_id, patient_uuid, patient_name, place_id}: the reporter and the
                        subject, so that `due_tasks` can render the alert's message and find its
                        recipient at due time (it hydrates `contact` of a non-report document).

Idempotence: an enrollment remembers the report that made it (`enrolled_by`) and every fulfilment its
report, so a report processed again (its own write lost after a crash) changes nothing and is not told
"already enrolled". Alert tasks are planned from the schedule, not random.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Mapping

from sentinel.core import clock, lineage

from sentinel.programs import milestones
from sentinel.core.context import Context
from sentinel.core.docs import Doc, add_error, fields_of, get_id, is_report
from sentinel.messaging.messages import add_success_message, is_muted, set_task_state
from sentinel.messaging.schedules import MISSING, get_path

log = logging.getLogger(__name__)

name = "milestone_tracking"
config_key = "milestone_enrollments"
doc_types = ("data_record",)

ACTIONS = ("enroll", "fulfill", "unenroll")
ACTIVE, COMPLETED, DEFAULTED, UNENROLLED = "active", "completed", "defaulted", "unenrolled"
TERMINAL = (COMPLETED, DEFAULTED, UNENROLLED)
UNSENT = ("scheduled", "muted", "pending")  # as clear_schedule: what has not left for the gateway yet
ID_PREFIX = "enrollment:"
LOAD_CHUNK = 8  # enrollment ids read per request while looking for the subject's latest

ERR_ALREADY = "milestone_already_enrolled"
ERR_NOT_ENROLLED = "milestone_not_enrolled"
ERR_NO_SUBJECT = "milestone_subject_not_found"
ERR_REFERENCE = "milestone_invalid_reference_date"
ERR_MILESTONE = "milestone_unknown_milestone"
ERR_DATE = "milestone_invalid_date"
ERR_SCHEDULE = "milestone_unknown_schedule"


# --- configuration ---------------------------------------------------------------------------------


def _bad_path(value: Any) -> bool:
    return not isinstance(value, str) or not value or any(part == "" for part in value.split("."))


def check_config(section: Any, settings: Any) -> list[str]:
    problems = list(milestones.schedule_problems(settings))
    if section is None:
        return problems
    if not isinstance(section, list):
        return problems + ["milestone_enrollments: must be a list of {form, schedule, action, ...}"]
    raw_schedules = settings.get(milestones.SETTING)
    names = {s.get("name") for s in raw_schedules if isinstance(s, Mapping)} if isinstance(raw_schedules, list) else set()
    for i, conf in enumerate(section):
        where = f"milestone_enrollments[{i}]"
        if not isinstance(conf, Mapping):
            problems.append(f"{where}: must be an object with form, schedule and action")
            continue
        if not isinstance(conf.get("form"), str) or not conf.get("form").strip():
            problems.append(f"{where}.form: a form code is required")
        schedule = conf.get("schedule")
        if not isinstance(schedule, str) or not schedule:
            problems.append(f"{where}.schedule: the name of a milestone schedule is required")
        elif schedule not in names:
            problems.append(f"{where}.schedule: no schedule named {schedule!r} in milestone_schedules")
        if conf.get("action") not in ACTIONS:
            problems.append(f"{where}.action: must be one of {', '.join(ACTIONS)}, got {conf.get('action')!r}")
        for key in ("reference_date", "milestone", "date"):
            if conf.get(key) is not None and _bad_path(conf.get(key)):
                problems.append(f"{where}.{key}: must be a dotted path into the report (such as \"fields.dob\"), got {conf.get(key)!r}")
        preferred = conf.get("preferred_alert_time")
        if preferred is not None and milestones.parse_preferred_time(preferred) is None and (
                _bad_path(preferred) or ":" in preferred):
            problems.append(f"{where}.preferred_alert_time: must be \"HH:MM\" or a dotted path into the report, got {preferred!r}")
        problems += settings.expressions.syntax_problems(conf.get("bool_expr"), ("doc",), f"{where}.bool_expr")
        messages = conf.get("messages")
        if messages is not None and not isinstance(messages, list):
            problems.append(f"{where}.messages: must be a list")
        for j, message in enumerate(messages if isinstance(messages, list) else []):
            if not isinstance(message, Mapping):
                problems.append(f"{where}.messages[{j}]: must be an object")
    return problems


def _configs(settings: Any, form: Any) -> list[tuple[int, Mapping[str, Any]]]:
    section = settings.section(config_key)
    if not isinstance(form, str) or not isinstance(section, list):
        return []
    wanted = form.strip().upper()
    return [(i, c) for i, c in enumerate(section)
            if isinstance(c, Mapping) and isinstance(c.get("form"), str) and c["form"].strip().upper() == wanted]


# --- the transition --------------------------------------------------------------------------------


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001 - the transition interface's name
    return is_report(doc) and bool(_configs(ctx.settings, doc.get("form"))) and ctx.settings.is_valid_submission(doc)


def run(doc: Doc, ctx: Context) -> bool:
    changed = False
    for index, conf in _configs(ctx.settings, doc.get("form")):
        where = f"milestone_enrollments[{index}].bool_expr"
        flat = {**fields_of(doc), **doc}
        if not ctx.settings.expressions.condition(conf.get("bool_expr"), ("doc",), where)(doc=flat):
            continue
        changed |= ACTION_RUNNERS[conf["action"]](doc, ctx, conf) if conf.get("action") in ACTION_RUNNERS else False
    return changed


# --- subjects and enrollment documents ----------------------------------------------------------------


def _subject(doc: Doc) -> tuple[str, Doc] | None:
    """("patient" | "place", the hydrated subject) of a report, None without one."""
    for role in ("patient", "place"):
        subject = doc.get(role)
        if isinstance(subject, dict) and isinstance(subject.get("_id"), str) and subject.get("type") not in (None, "data_record"):
            return role, subject
    return None


def enrollment_id(schedule: str, subject_uuid: str, n: int) -> str:
    return f"{ID_PREFIX}{schedule}:{subject_uuid}:{n}"


def latest_enrollment(ctx: Context, schedule: str, subject_uuid: str) -> tuple[int, Doc | None]:
    """(n, document) of the subject's latest enrollment in the schedule; (0, None) when it has none.

    Enrollments are numbered 1, 2, ... without gaps; they are read LOAD_CHUNK ids per request."""
    n, found = 0, None
    while True:
        ids = [enrollment_id(schedule, subject_uuid, k) for k in range(n + 1, n + 1 + LOAD_CHUNK)]
        ctx.batch.load_many(ids)
        for doc_id in ids:
            doc = ctx.load(doc_id)
            if doc is None or doc.get("_deleted"):
                return n, found
            n, found = n + 1, doc


def _reply(doc: Doc, ctx: Context, conf: Mapping[str, Any], event_type: str) -> None:
    add_success_message(doc, ctx, conf, event_type, extra={"patient": doc.get("patient"), "place": doc.get("place")})


def _error(doc: Doc, code: str, message: str) -> None:
    add_error(doc, {"code": code, "message": message})


def _now(ctx: Context) -> datetime:
    return clock.effective_now(ctx.settings, ctx.now)


def _date_at(doc: Doc, path: Any, ctx: Context) -> datetime | None:
    value = get_path(doc, path or "reported_date")
    return None if value is MISSING else clock.parse_date(value, ctx.settings)


def _preferred_time(doc: Doc, conf: Mapping[str, Any]) -> str | None:
    value = conf.get("preferred_alert_time")
    if value is None or value == "":
        return None
    if milestones.parse_preferred_time(value) is not None:
        return value
    found = get_path(doc, value)
    if found is MISSING or found in (None, ""):
        return None
    if milestones.parse_preferred_time(found) is None:
        log.warning("milestone_tracking on %s: preferred_alert_time %r at %s is not HH:MM; no preferred time",
                    doc.get("_id"), found, value)
        return None
    return found


def _status(enrollment: Doc, status: str, now: datetime, report_id: Any) -> None:
    enrollment["status"] = status
    entry = {"status": status, "date": clock.to_iso(now)}
    if report_id is not None:
        entry["report"] = report_id
    enrollment.setdefault("status_history", []).append(entry)


def clear_unsent(enrollment: Doc, now: datetime, cleared_by: Any = None) -> int:
    """Unsent alerts (`scheduled`, `muted`, `pending`) become `cleared`; returns how many."""
    count = 0
    for task in enrollment.get("scheduled_tasks") or []:
        if isinstance(task, dict) and task.get("state") in UNSENT:
            set_task_state(task, "cleared", now)
            if cleared_by is not None:
                task["cleared_by"] = cleared_by
            count += 1
    return count


def _windows(schedule: milestones.Schedule, index: int, start: datetime, tz: Any) -> dict[str, dict[str, str]]:
    return {w.name: {"start": clock.to_iso(w.start), "end": clock.to_iso(w.end)}
            for w in milestones.milestone_windows(schedule, index, start, tz)}


def _plan(enrollment: Doc, schedule: milestones.Schedule, index: int, start: datetime, enrolled_on: datetime,
          now: datetime, tz: Any, state: str) -> None:
    """Set the current milestone, its windows, and append its alerts as scheduled tasks."""
    enrollment["current_milestone"] = schedule.milestones[index].name
    enrollment["windows"] = _windows(schedule, index, start, tz)
    message = milestones.message_config(schedule, index)
    tasks = enrollment.setdefault("scheduled_tasks", [])
    for alert in milestones.alert_times(schedule, index, start, enrolled_on, now, enrollment.get("preferred_alert_time"), tz):
        task: dict[str, Any] = {
            "type": schedule.name,
            "milestone": alert.milestone,
            "window": alert.window,
            "alert": alert.index,
            "number": alert.number,
            "due": clock.to_iso(alert.due),
        }
        if alert.immediate:
            task["immediate"] = True
        if message.get("translation_key") is not None:
            task["message_key"] = message["translation_key"]
        if message.get("message") is not None:
            task["message"] = message["message"]
        if message.get("recipient") is not None:
            task["recipient"] = message["recipient"]
        set_task_state(task, state, now)
        tasks.append(task)


def _find_schedule(doc: Doc, ctx: Context, conf: Mapping[str, Any]) -> milestones.Schedule | None:
    schedule = milestones.find_schedule(ctx.settings, conf.get("schedule"))
    if schedule is None:
        _error(doc, ERR_SCHEDULE, f"No milestone schedule named {conf.get('schedule')!r}.")
    return schedule


def _subject_or_error(doc: Doc, ctx: Context, conf: Mapping[str, Any]) -> tuple[str, Doc] | None:
    found = _subject(doc)
    if found is None:
        _error(doc, ERR_NO_SUBJECT, "The report names no patient or place to track.")
        _reply(doc, ctx, conf, "subject_not_found")
    return found


# --- actions ----------------------------------------------------------------------------------------


def _enroll(doc: Doc, ctx: Context, conf: Mapping[str, Any]) -> bool:
    schedule = _find_schedule(doc, ctx, conf)
    found = _subject_or_error(doc, ctx, conf) if schedule is not None else None
    if schedule is None or found is None:
        return True
    role, subject = found
    n, latest = latest_enrollment(ctx, schedule.name, subject["_id"])
    if latest is not None and latest.get("status") == ACTIVE:
        if latest.get("enrolled_by") == doc.get("_id"):
            doc["enrollment_id"] = latest["_id"]  # this report made it (processed again): its own write was lost
            return True
        _error(doc, ERR_ALREADY, f"{subject.get('name') or subject['_id']} is already enrolled in {schedule.name}.")
        _reply(doc, ctx, conf, "already_enrolled")
        return True
    if latest is not None and latest.get("enrolled_by") == doc.get("_id"):
        doc["enrollment_id"] = latest["_id"]  # this report's enrollment has ended since: do not start another
        return True
    tz = clock.zone(ctx.settings)
    now = _now(ctx)
    reference = _date_at(doc, conf.get("reference_date"), ctx)
    if reference is None:
        _error(doc, ERR_REFERENCE, f"No valid reference date at {conf.get('reference_date') or 'reported_date'}.")
        return True
    index = 0
    if conf.get("milestone"):
        wanted = get_path(doc, conf["milestone"])
        if wanted is not MISSING and wanted not in (None, ""):
            index = schedule.milestone_index(wanted)
            if index is None:
                _error(doc, ERR_MILESTONE, f"{schedule.name} has no milestone {wanted!r}.")
                return True
    enrolled_on = _date_at(doc, "reported_date", ctx) or now
    enrolled_on = min(enrolled_on, now)
    enrollment: Doc = {
        "_id": enrollment_id(schedule.name, subject["_id"], n + 1),
        "type": "enrollment",
        "schedule": schedule.name,
        **_subject_keys(role, subject),
        "status": ACTIVE,
        "status_history": [],
        "reference_date": clock.to_iso(reference),
        "enrolled_on": clock.to_iso(enrolled_on),
        "preferred_alert_time": _preferred_time(doc, conf),
        "current_milestone": schedule.milestones[index].name,
        "windows": {},
        "fulfillments": [],
        "scheduled_tasks": [],
        "enrolled_by": doc.get("_id"),
        **_message_context(doc, role, subject),
    }
    start = milestones.milestone_start(schedule, index, reference, enrolled_on, None, tz)
    if milestones.defaulted(schedule, index, start, now, tz):  # MOTECH: enrolled already past the last window
        enrollment["windows"] = _windows(schedule, index, start, tz)
        _status(enrollment, DEFAULTED, now, doc.get("_id"))
    else:
        _status(enrollment, ACTIVE, now, doc.get("_id"))
        _plan(enrollment, schedule, index, start, enrolled_on, now, tz, _task_state(subject))
    ctx.stage(enrollment)
    doc["enrollment_id"] = enrollment["_id"]
    _reply(doc, ctx, conf, "enrolled")
    return True


def _active(doc: Doc, ctx: Context, conf: Mapping[str, Any]) -> tuple[milestones.Schedule, Doc] | None:
    """The schedule and the subject's active enrollment; None otherwise, with an error on the report,
    or with `enrollment_id` put back when this report already acted on it (processed again)."""
    schedule = _find_schedule(doc, ctx, conf)
    found = _subject_or_error(doc, ctx, conf) if schedule is not None else None
    if schedule is None or found is None:
        return None
    _, latest = latest_enrollment(ctx, schedule.name, found[1]["_id"])
    if latest is None or latest.get("status") != ACTIVE:
        if latest is not None and _acted(latest, doc):
            doc["enrollment_id"] = latest["_id"]  # processed again: it already did its work
            return None
        _error(doc, ERR_NOT_ENROLLED, f"{found[1].get('name') or found[1]['_id']} is not enrolled in {schedule.name}.")
        _reply(doc, ctx, conf, "not_enrolled")
        return None
    return schedule, latest


def _acted(enrollment: Doc, doc: Doc) -> bool:
    report_id = doc.get("_id")
    return any(isinstance(e, dict) and e.get("report") == report_id for e in
               (enrollment.get("fulfillments") or []) + (enrollment.get("status_history") or []))


def _fulfill(doc: Doc, ctx: Context, conf: Mapping[str, Any]) -> bool:
    found = _active(doc, ctx, conf)
    if found is None:
        return True  # an error, or enrollment_id put back
    schedule, enrollment = found
    if _acted(enrollment, doc):
        doc["enrollment_id"] = enrollment["_id"]  # processed again: it already did its work
        return True
    when = _date_at(doc, conf.get("date"), ctx)
    if when is None:
        _error(doc, ERR_DATE, f"No valid fulfilment date at {conf.get('date') or 'reported_date'}.")
        return True
    fulfillments = enrollment.setdefault("fulfillments", [])
    last = clock.parse_date(fulfillments[-1].get("date")) if fulfillments and isinstance(fulfillments[-1], dict) else None
    if last is not None and last == when:
        return False  # MOTECH: a fulfilment at the same datetime as the last one is ignored
    index = schedule.milestone_index(enrollment.get("current_milestone"))
    if index is None:
        log.warning("milestone_tracking: %s is at milestone %r, which %s no longer has; not fulfilled",
                    enrollment["_id"], enrollment.get("current_milestone"), schedule.name)
        _error(doc, ERR_MILESTONE, f"{schedule.name} has no milestone {enrollment.get('current_milestone')!r}.")
        return True
    tz = clock.zone(ctx.settings)
    now = _now(ctx)
    clear_unsent(enrollment, now, doc.get("_id"))
    fulfillments.append({"milestone": schedule.milestones[index].name, "date": clock.to_iso(when), "report": doc.get("_id")})
    following = milestones.next_milestone(schedule, index)
    if following is None:
        _status(enrollment, COMPLETED, now, doc.get("_id"))
        event = "completed"
    else:
        reference = clock.parse_date(enrollment.get("reference_date"))
        enrolled_on = clock.parse_date(enrollment.get("enrolled_on")) or now
        start = milestones.milestone_start(schedule, following, reference, enrolled_on, when, tz)
        subject = doc.get("patient") if isinstance(doc.get("patient"), dict) else doc.get("place")
        _plan(enrollment, schedule, following, start, enrolled_on, now, tz, _task_state(subject))
        event = "fulfilled"
    ctx.stage(enrollment)
    doc["enrollment_id"] = enrollment["_id"]
    _reply(doc, ctx, conf, event)
    return True


def _unenroll(doc: Doc, ctx: Context, conf: Mapping[str, Any]) -> bool:
    found = _active(doc, ctx, conf)
    if found is None:
        return True  # an error, or enrollment_id put back
    _, enrollment = found
    now = _now(ctx)
    clear_unsent(enrollment, now, doc.get("_id"))
    _status(enrollment, UNENROLLED, now, doc.get("_id"))
    ctx.stage(enrollment)
    doc["enrollment_id"] = enrollment["_id"]
    _reply(doc, ctx, conf, "unenrolled")
    return True


ACTION_RUNNERS = {"enroll": _enroll, "fulfill": _fulfill, "unenroll": _unenroll}


# --- small helpers ----------------------------------------------------------------------------------


def _task_state(subject: Any) -> str:
    return "muted" if isinstance(subject, dict) and is_muted(subject) else "scheduled"


def _subject_keys(role: str, subject: Doc) -> dict[str, Any]:
    if role == "patient":
        return {"patient_id": subject.get("patient_id"), "patient_uuid": subject["_id"]}
    return {"place_id": subject.get("place_id"), "place_uuid": subject["_id"]}


def _message_context(doc: Doc, role: str, subject: Doc) -> dict[str, Any]:
    """What `due_tasks` needs to render and address an alert from the enrollment document."""
    fields: dict[str, Any] = {}
    if role == "patient":
        fields.update(patient_id=subject.get("patient_id"), patient_uuid=subject["_id"], patient_name=subject.get("name"))
    else:
        fields.update(place_id=subject.get("place_id"), place_uuid=subject["_id"], place_name=subject.get("name"))
    result: dict[str, Any] = {"fields": {k: v for k, v in fields.items() if v is not None}}
    contact = doc.get("contact")
    if get_id(contact):
        result["contact"] = lineage.minify_lineage(contact)
    if isinstance(doc.get("from"), str) and doc["from"]:
        result["from"] = doc["from"]
    return result
