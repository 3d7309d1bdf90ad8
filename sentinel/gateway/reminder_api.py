"""The appointment-reminder API of the SMS reminder service (flowroute/sms-reminder, the seed
`004`), on top of the `appointment_reminders` transition (issue 8).

- `create(body)`: validates `contact_number` (a valid phone number for the settings' rules),
  `appointment_time` (ISO 8601 *with* an offset), `notify_window` (whole hours, 1–720), `location`
  (≤ 128 characters), `participant` (≤ 256) and writes an appointment report of the configured form
  (`gateway.reminder_form`, default the first `appointment_reminders` form): `fields.contact_number`,
  the time at the config's `appointment_time` path, `fields.notify_window`, `location`,
  `participant`, `source: "reminder_api"`. The transition books it through the feed; the config
  should name `notify_window: "fields.notify_window"` so that the reminder goes that many hours before.
  Unlike the original, several appointments per number are allowed (not at the same time: that is
  refused here, 400, as a double booking).
- `get(id)`, `list()`: the documented fields, from the document: `reminder_id`, `contact_number`,
  `appt_user_dt` (the wall-clock time as submitted), `appt_sys_dt` and `notify_sys_dt` (UTC),
  `location`, `participant`, `reminder_sent` (the reminder left `scheduled`), `confirm_sent` (a yes/no
  reply was answered), `will_attend` (true confirmed, false cancelled, else null), plus `status` and
  `errors` (the transition's, e.g. a time already past).
- `cancel(id)`: status `cancelled`, unsent reminders `cleared` (the document is kept, not deleted).

Reads/writes: the main database.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from sentinel.programs import appointments as appts
from sentinel.core import clock, phones
from sentinel.core.couch import CouchDB
from sentinel.core.ddocs import SENTINEL_DDOC
from sentinel.core.errors import Conflict
from sentinel.messaging.schedules import MISSING, get_path

SOURCE = "reminder_api"
MAX_LOCATION, MAX_PARTICIPANT = 128, 256
MAX_NOTIFY_WINDOW = 720
CONFLICT_ROUNDS = 5


class InvalidReminder(ValueError):
    """A 400: the message names the field."""


class NoReminderConfig(RuntimeError):
    """No `appointment_reminders` config for the API to book with (a 503)."""


def reminder_config(settings: Any) -> Mapping[str, Any]:
    gateway = settings.get("gateway") if settings is not None else None
    wanted = gateway.get("reminder_form") if isinstance(gateway, Mapping) else None
    configs = appts.configs(settings)
    conf = appts.config_for(settings, wanted) if wanted else (configs[0] if configs else None)
    if conf is None:
        raise NoReminderConfig("no appointment_reminders config to book reminders with"
                               + (f" (gateway.reminder_form {wanted!r})" if wanted else "; add one to the settings"))
    return conf


def _set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        doc = doc.setdefault(part, {})
    doc[parts[-1]] = value


def validate(body: Any, settings: Any) -> dict[str, Any]:
    """The cleaned fields, or InvalidReminder naming the first bad one."""
    if not isinstance(body, Mapping):
        raise InvalidReminder("the body must be a JSON object")
    for key in ("contact_number", "appointment_time", "notify_window"):
        if body.get(key) in (None, ""):
            raise InvalidReminder(f"{key}: required")
    number = str(body["contact_number"]).strip()
    normalised = phones.normalize(settings.values if settings is not None else {}, number)
    if normalised is None:
        raise InvalidReminder(f"contact_number: {number!r} is not a valid phone number (use the international form, +...)")
    at, problem = appts.parse_time(body["appointment_time"])
    if problem == appts.ERR_OFFSET:
        raise InvalidReminder(f"appointment_time: {body['appointment_time']!r} has no UTC offset (e.g. 2026-07-06T15:23-08:00)")
    if problem:
        raise InvalidReminder(f"appointment_time: {body['appointment_time']!r} is not an ISO 8601 time")
    window = body["notify_window"]
    if isinstance(window, str) and window.strip().isdigit():
        window = int(window.strip())
    if not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= MAX_NOTIFY_WINDOW:
        raise InvalidReminder(f"notify_window: must be a whole number of hours from 1 to {MAX_NOTIFY_WINDOW}, got {body['notify_window']!r}")
    cleaned = {"contact_number": normalised, "appointment_time": at, "notify_window": window}
    for key, limit in (("location", MAX_LOCATION), ("participant", MAX_PARTICIPANT)):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidReminder(f"{key}: must be a string")
        if len(value) > limit:
            raise InvalidReminder(f"{key}: at most {limit} characters, got {len(value)}")
        cleaned[key] = value
    return cleaned


def create(main: CouchDB, body: Any, settings: Any, now: datetime) -> str:
    """Validate and write the appointment report; returns the reminder id."""
    conf = reminder_config(settings)
    cleaned = validate(body, settings)
    at: datetime = cleaned["appointment_time"]
    if at <= now:
        raise InvalidReminder(f"appointment_time: {body['appointment_time']!r} has already passed")
    rows = main.view(SENTINEL_DDOC, "appointments_by_phone", key=[cleaned["contact_number"], clock.to_iso(at)])
    if any(r.get("value") in appts.ACTIVE for r in rows):
        raise InvalidReminder("appointment_time: this contact_number already has an appointment at that time")
    reminder_id = uuid.uuid4().hex
    doc: dict[str, Any] = {"_id": reminder_id, "type": "data_record", "form": conf["form"], "source": SOURCE,
                           "reported_date": int(now.timestamp() * 1000), "from": cleaned["contact_number"],
                           "fields": {"contact_number": cleaned["contact_number"], "notify_window": cleaned["notify_window"]}}
    _set_path(doc, conf["appointment_time"], str(body["appointment_time"]).strip())
    for key in ("location", "participant"):
        if key in cleaned:
            doc["fields"][key] = cleaned[key]
    main.put(doc)
    return reminder_id


def _wall(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else None


def describe(doc: Mapping[str, Any], conf: Mapping[str, Any] | None) -> dict[str, Any]:
    """The service's fields for one reminder document."""
    fields = doc.get("fields") if isinstance(doc.get("fields"), Mapping) else {}
    raw = get_path(doc, conf["appointment_time"]) if conf else fields.get("appointment_time", MISSING)
    submitted, _ = appts.parse_time(None if raw is MISSING else raw)
    utc = submitted.astimezone(timezone.utc) if submitted else None
    reminders = [t for t in doc.get("scheduled_tasks") or [] if isinstance(t, Mapping) and t.get("type") == appts.TASK_TYPE]
    due = clock.parse_date(reminders[0].get("due")) if reminders else None
    if due is None and utc is not None and isinstance(fields.get("notify_window"), int):
        due = utc - timedelta(hours=fields["notify_window"])
    status = doc.get("appointment_status")
    replies = [h for h in doc.get("appointment_status_history") or []
               if isinstance(h, Mapping) and h.get("status") in (appts.CONFIRMED, appts.CANCELLED) and h.get("report")]
    return {
        "reminder_id": doc.get("_id"),
        "contact_number": fields.get("contact_number"),
        "appt_user_dt": _wall(submitted.replace(tzinfo=None)) if submitted else None,
        "appt_sys_dt": _wall(utc),
        "notify_sys_dt": _wall(due.astimezone(timezone.utc)) if due else None,
        "location": fields.get("location"),
        "participant": fields.get("participant"),
        "reminder_sent": any(t.get("state") not in ("scheduled", "muted", "cleared") for t in reminders),
        "confirm_sent": bool(replies),
        "will_attend": True if status == appts.CONFIRMED else False if status == appts.CANCELLED else None,
        "status": status,
        "errors": doc.get("errors") or [],
    }


def get(main: CouchDB, reminder_id: str, settings: Any) -> dict[str, Any] | None:
    doc = main.get(reminder_id)
    if not isinstance(doc, dict) or doc.get("source") != SOURCE:
        return None
    return describe(doc, appts.config_for(settings, doc.get("form")))


def listing(main: CouchDB, settings: Any, limit: int = 1000) -> list[dict[str, Any]]:
    """The API's reminders (at most `limit`), booked or not yet: the reports whose `source` is the API
    (view `sentinel/reports_by_field`, key ["source", "reminder_api"])."""
    rows = main.view(SENTINEL_DDOC, "reports_by_field", key=["source", SOURCE], include_docs="true", limit=limit)
    docs = [r["doc"] for r in rows if isinstance(r.get("doc"), dict) and r["doc"].get("source") == SOURCE]
    return [describe(d, appts.config_for(settings, d.get("form"))) for d in docs]


def cancel(main: CouchDB, reminder_id: str, now: datetime) -> bool:
    """Cancel a reminder (status `cancelled`, unsent reminders `cleared`); False when unknown."""
    for _ in range(CONFLICT_ROUNDS):
        doc = main.get(reminder_id)
        if not isinstance(doc, dict) or doc.get("source") != SOURCE:
            return False
        if doc.get("appointment_status") == appts.CANCELLED:
            return True
        appts.set_status(doc, appts.CANCELLED, now, None, by=SOURCE)
        appts.clear_reminders(doc, now)
        try:
            main.put(doc)
            return True
        except Conflict:
            continue  # the transition or a gateway update changed it: read it again
    raise Conflict(f"{reminder_id} kept changing; try again")
