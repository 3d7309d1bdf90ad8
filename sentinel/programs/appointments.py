"""Appointment reminders (issue 7) as pure logic: configuration, appointment times, reminder times,
yes/no replies, channels and the dates in messages. No database: `transitions/appointment_reminders.py`
reads and writes the documents, `due_tasks` sends the reminders.

Choices where the seeds leave room (see `../shared/reference/schedules-orders-reminders.md` §3):

- **Times.** An appointment time is ISO 8601 *with* an offset (`2026-03-23T13:00:00+01:00`, `...Z`):
  the offset fixes the instant; the appointment's time zone (`timezone`: an IANA name or a path into
  the report, default the settings zone) is only used to write the date and time in messages and to
  count calendar days. A time without an offset is refused, never guessed.
- **Before.** `"24 hours"`, `"90 minutes"` are elapsed time (24 h before 09:00 the day after a DST
  change is 08:00 on the clock); `"1 day"`, `"2 weeks"` are calendar days at the same wall-clock time
  in the appointment's zone.
- **Skipped reminders.** A reminder whose time is already past at booking, or closer than
  `min_notice` (default 0 minutes), is not planned.
- **Replies** are split into words (letters and digits, accents ignored, case-insensitive); a reply
  confirms when one of its words is a confirm word and none a cancel word, cancels in the opposite
  case, and is unrecognised otherwise ("I know" is not "no", "yesterday" is not "yes", "yes no" is
  neither). The words are those of the patient's locale; a locale without a list uses every list.
- **Channels.** Each message carries `channel`: the first of the patient's `preferred_channels` (else
  the configured order, default whatsapp, sms, email) for which the patient has an address
  (`whatsapp`, `phone` (normalised), `email` on the patient; `fields.contact_number` counts as a phone). Messages
  to anyone but the patient go by SMS.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Iterable, Mapping, Sequence

from babel.dates import format_date, format_time

from sentinel.core import clock
from sentinel.messaging.messages import set_task_state
from sentinel.messaging.schedules import MISSING, get_path

SETTING = "appointment_reminders"
BOOKED, CONFIRMED, CANCELLED, RESCHEDULED, ATTENDED, MISSED = (
    "booked", "confirmed", "cancelled", "rescheduled", "attended", "missed")
ACTIVE = (BOOKED, CONFIRMED, RESCHEDULED)  # upcoming appointments: reminders go out, replies count
EVENTS = ("booked", "confirmed", "cancelled", "rescheduled", "unrecognised", "past_appointment")
CHANNELS = ("whatsapp", "sms", "email")
TASK_TYPE = "appointment_reminder"
UNSENT = ("scheduled", "muted", "pending")  # reminders not yet handed to a gateway (as clear_schedule)
DEFAULT_REMINDERS = ({"before": "24 hours"}, {"before": "2 hours"})
DEFAULT_CONFIRM = {"en": ["yes", "y"], "fr": ["oui"], "es": ["si"], "pt": ["sim"], "sw": ["ndiyo", "ndio"],
                   "ne": ["ho", "hajur"]}
DEFAULT_CANCEL = {"en": ["no", "n"], "fr": ["non"], "es": ["no"], "pt": ["nao"], "sw": ["hapana"], "ne": ["hoina"]}
DATE_PATTERN = "EEEE d MMMM"  # Monday 23 March (CLDR pattern, in the recipient's locale)
TIME_PATTERN = "HH:mm"

ERR_PATIENT = "appointment_patient_not_found"
ERR_TIME = "appointment_invalid_time"
ERR_OFFSET = "appointment_time_without_offset"
ERR_ZONE = "appointment_invalid_timezone"
ERR_DOUBLE = "appointment_double_booking"
ERR_NOT_FOUND = "appointment_not_found"
ERR_PAST = "appointment_in_the_past"


# --- configuration ---------------------------------------------------------------------------------
def _path_ok(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and all(value.split("."))


def _forms(value: Any) -> list[str]:
    return [f for f in value if isinstance(f, str)] if isinstance(value, list) else []


def config_problems(section: Any, settings: Any) -> list[str]:
    """Every problem of the `appointment_reminders` setting, with its path."""
    if section is None:
        return []
    if not isinstance(section, list):
        return [f"{SETTING}: must be a list of {{form, appointment_time, reminders, ...}}"]
    problems: list[str] = []
    seen_forms: dict[str, str] = {}
    for i, conf in enumerate(section):
        where = f"{SETTING}[{i}]"
        if not isinstance(conf, Mapping):
            problems.append(f"{where}: must be an object")
            continue
        form = conf.get("form")
        if not isinstance(form, str) or not form.strip():
            problems.append(f"{where}.form: the appointment form's code is required")
        if conf.get("notify_window") is not None and not _path_ok(conf.get("notify_window")):
            problems.append(f"{where}.notify_window: must be a dotted path to a number of hours (such as \"fields.notify_window\"), got {conf.get('notify_window')!r}")
        if not _path_ok(conf.get("appointment_time")):
            problems.append(f"{where}.appointment_time: a dotted path to the ISO 8601 time (such as \"fields.appointment_time\") is required, got {conf.get('appointment_time')!r}")
        zone = conf.get("timezone")
        if zone is not None and (not isinstance(zone, str) or (not clock.is_zone_name(zone) and (not _path_ok(zone) or "." not in zone))):
            problems.append(f"{where}.timezone: must be an IANA zone name (Europe/Oslo) or a dotted path into the report (fields.timezone), got {zone!r}")
        elif isinstance(zone, str) and "/" in zone and not clock.is_zone_name(zone):
            problems.append(f"{where}.timezone: unknown time zone {zone!r}")
        reminders = conf.get("reminders", list(DEFAULT_REMINDERS))
        if not isinstance(reminders, list):
            problems.append(f"{where}.reminders: must be a list of {{before, translation_key | message, recipient}}")
            reminders = []
        for j, reminder in enumerate(reminders):
            if not isinstance(reminder, Mapping) or clock.parse_duration(reminder.get("before")) is None:
                problems.append(f"{where}.reminders[{j}].before: must be a duration such as \"24 hours\" or \"30 minutes\", got {reminder.get('before') if isinstance(reminder, Mapping) else reminder!r}")
        for key in ("confirm", "cancel"):
            words = conf.get(key)
            if words is not None and not (isinstance(words, Mapping) and all(
                    isinstance(v, list) and all(isinstance(w, str) and normalise(w) for w in v) for v in words.values())):
                problems.append(f"{where}.{key}: must be {{locale: [words]}}, such as {{\"en\": [\"yes\", \"y\"]}}")
        messages = conf.get("messages")
        if messages is not None and not isinstance(messages, list):
            problems.append(f"{where}.messages: must be a list of {{event_type, translation_key | message, recipient}}")
        for j, message in enumerate(messages if isinstance(messages, list) else []):
            if not isinstance(message, Mapping) or message.get("event_type") not in EVENTS:
                problems.append(f"{where}.messages[{j}].event_type: must be one of {', '.join(EVENTS)}")
        for key in ("cancel_forms", "reschedule_forms", "attended_forms"):
            value = conf.get(key)
            if value is not None and (not isinstance(value, list) or len(_forms(value)) != len(value)):
                problems.append(f"{where}.{key}: must be a list of form codes")
        if conf.get("missed_after") is not None and clock.parse_duration(conf.get("missed_after")) is None:
            problems.append(f"{where}.missed_after: must be a duration such as \"1 day\", got {conf.get('missed_after')!r}")
        if conf.get("min_notice") is not None and clock.parse_duration(conf.get("min_notice")) is None:
            problems.append(f"{where}.min_notice: must be a duration such as \"1 hour\", got {conf.get('min_notice')!r}")
        channels = conf.get("channels")
        if channels is not None and (not isinstance(channels, list) or not channels or any(c not in CHANNELS for c in channels)):
            problems.append(f"{where}.channels: must be a non-empty list of {', '.join(CHANNELS)}")
        if isinstance(form, str):
            for f in [form] + [f for key in ("cancel_forms", "reschedule_forms", "attended_forms") for f in _forms(conf.get(key))]:
                if f.strip().upper() in seen_forms and seen_forms[f.strip().upper()] != where:
                    problems.append(f"{where}: form {f!r} is already used by {seen_forms[f.strip().upper()]}")
                seen_forms.setdefault(f.strip().upper(), where)
    return problems


def configs(settings: Any) -> list[Mapping[str, Any]]:
    section = settings.section(SETTING) if settings is not None else None
    return [c for c in section if isinstance(c, Mapping)] if isinstance(section, list) else []


def _matches(form: Any, code: Any) -> bool:
    return isinstance(form, str) and isinstance(code, str) and form.strip().upper() == code.strip().upper()


def config_for(settings: Any, form: Any, key: str | None = None) -> Mapping[str, Any] | None:
    """The config whose `form` (or, with `key`, whose `cancel_forms`/`reschedule_forms`/...) has this form."""
    for conf in configs(settings):
        candidates = [conf.get("form")] if key is None else _forms(conf.get(key))
        if any(_matches(form, c) for c in candidates):
            return conf
    return None


def message_config(conf: Mapping[str, Any], event: str) -> Mapping[str, Any] | None:
    for message in conf.get("messages") or []:
        if isinstance(message, Mapping) and message.get("event_type") == event:
            return message
    return None


# --- times -----------------------------------------------------------------------------------------
def parse_time(value: Any) -> tuple[datetime | None, str | None]:
    """(aware datetime, None) or (None, error code): ISO 8601 with an offset only."""
    if not isinstance(value, str) or not value.strip():
        return None, ERR_TIME
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None, ERR_TIME
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None, ERR_OFFSET
    return moment, None


def zone_of(conf: Mapping[str, Any], report: Mapping[str, Any], settings: Any) -> tzinfo | None:
    """The appointment's zone: the config's IANA name, or the one at its path in the report, else the
    settings zone. None when the report names an unknown zone."""
    name = conf.get("timezone")
    if name is None:
        return clock.zone(settings)
    if clock.is_zone_name(name):
        return clock.zone_named(name)
    value = get_path(report, name)
    if value is MISSING or value in (None, ""):
        return clock.zone(settings)
    return clock.zone_named(value) if isinstance(value, str) and clock.is_zone_name(value) else None


def reminder_times(conf: Mapping[str, Any], at: datetime, tz: tzinfo, now: datetime,
                   report: Mapping[str, Any] | None = None) -> list[tuple[int, Mapping[str, Any], datetime]]:
    """(index, reminder config, due) of the reminders to plan for an appointment at `at`, booked `now`."""
    notice = clock.parse_duration(conf.get("min_notice")) if conf.get("min_notice") is not None else None
    earliest = clock.add_duration(now, notice, None, tz=tz) if notice is not None else now
    planned = []
    for index, reminder in enumerate(reminders_of(conf, report or {})):
        duration = clock.parse_duration(reminder.get("before")) if isinstance(reminder, Mapping) else None
        if duration is None:
            continue
        due = clock.add_duration(at, -duration, None, tz=tz)
        if due >= earliest and due < at:
            planned.append((index, reminder, due))
    return planned


def describe(at: datetime, tz: tzinfo, locale: str, conf: Mapping[str, Any] | None = None) -> dict[str, str]:
    """`appointment_date` ("Monday 23 March") and `appointment_time` ("13:00") in the appointment's zone
    and the recipient's locale (CLDR names; unknown locales fall back to English)."""
    conf = conf or {}
    local = at.astimezone(tz)
    try:
        day = format_date(local, conf.get("date_format") or DATE_PATTERN, locale=locale or "en")
        hour = format_time(local, conf.get("time_format") or TIME_PATTERN, locale=locale or "en")
    except Exception:  # an unknown locale: English
        day = format_date(local, conf.get("date_format") or DATE_PATTERN, locale="en")
        hour = format_time(local, conf.get("time_format") or TIME_PATTERN, locale="en")
    return {"appointment_date": day, "appointment_time": hour}


# --- replies ---------------------------------------------------------------------------------------
def normalise(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def words_of(text: Any) -> list[str]:
    return [normalise(w) for w in re.findall(r"\w+", text if isinstance(text, str) else "", flags=re.UNICODE)]


def _vocabulary(configured: Any, default: Mapping[str, list[str]], locale: str | None) -> set[str]:
    table = configured if isinstance(configured, Mapping) else default
    lists = [table[locale]] if locale in table else list(table.values())
    return {normalise(w) for words in lists for w in words if isinstance(w, str)}


def classify_reply(text: Any, conf: Mapping[str, Any], locale: str | None) -> str | None:
    """"confirm", "cancel" or None (unrecognised) for the text of a reply."""
    words = set(words_of(text))
    yes = bool(words & _vocabulary(conf.get("confirm"), DEFAULT_CONFIRM, locale))
    no = bool(words & _vocabulary(conf.get("cancel"), DEFAULT_CANCEL, locale))
    if yes and not no:
        return "confirm"
    if no and not yes:
        return "cancel"
    return None


# --- channels --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Address:
    channel: str
    to: str


def choose_channel(conf: Mapping[str, Any], patient: Mapping[str, Any] | None, phone: str | None) -> Address | None:
    """The channel and address to reach the patient on (see the module docstring), or None."""
    patient = patient or {}
    configured = [c for c in conf.get("channels") or CHANNELS if c in CHANNELS]
    preferred = patient.get("preferred_channels")
    order: Sequence[str] = [c for c in preferred if c in CHANNELS] if isinstance(preferred, list) and preferred else configured
    addresses = {"whatsapp": patient.get("whatsapp"), "sms": phone or patient.get("phone"), "email": patient.get("email")}
    for channel in order:
        value = addresses.get(channel)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return Address(channel, str(value).strip())
    return None


def nearest(appointments: Iterable[Mapping[str, Any]], now: datetime) -> Mapping[str, Any] | None:
    """The active appointment closest to `now`, before or after (the one an attendance report is about)."""
    found = []
    for doc in appointments:
        at = clock.parse_date((doc.get("appointment") or {}).get("at"))
        if doc.get("appointment_status") in ACTIVE and at is not None:
            found.append((abs(at - now), doc.get("_id") or "", doc))
    return min(found, key=lambda t: (t[0], t[1]))[2] if found else None


def upcoming(appointments: Iterable[Mapping[str, Any]], now: datetime) -> list[Mapping[str, Any]]:
    """Active appointments (booked, confirmed, rescheduled) still ahead, nearest first."""
    found = []
    for doc in appointments:
        at = clock.parse_date((doc.get("appointment") or {}).get("at"))
        if doc.get("appointment_status") in ACTIVE and at is not None and at > now:
            found.append((at, doc.get("_id") or "", doc))
    return [doc for _, _, doc in sorted(found, key=lambda t: (t[0], t[1]))]


def next_window_start(settings: Any, now: datetime) -> datetime:
    """When the send window next opens (now, if it is open)."""
    if clock.in_send_window(settings, now):
        return now
    tz = clock.zone(settings)
    local = clock.effective_now(settings, now).astimezone(tz)
    (mh, mm), _ = clock.send_window(settings)
    opening = clock.localize(local.replace(hour=mh, minute=mm, second=0, microsecond=0, tzinfo=None), tz)
    if opening <= local:
        opening = clock.localize(local.replace(tzinfo=None, hour=mh, minute=mm, second=0, microsecond=0) + timedelta(days=1), tz)
    return opening


# --- the appointment document ------------------------------------------------------------------------
def set_status(appointment: dict[str, Any], status: str, now: datetime, report_id: str | None, **extra: Any) -> bool:
    """Record a status change made by `report_id`, once (a re-run finds it recorded)."""
    history = appointment.setdefault("appointment_status_history", [])
    if report_id is not None and any(isinstance(h, Mapping) and h.get("report") == report_id and h.get("status") == status
                                     for h in history):
        return False
    appointment["appointment_status"] = status
    entry = {"status": status, "timestamp": clock.to_iso(now), **extra}
    if report_id is not None:
        entry["report"] = report_id
    history.append(entry)
    return True


def clear_reminders(appointment: dict[str, Any], now: datetime) -> None:
    """Unsent reminders become `cleared` (cancelled, rescheduled, attended, missed)."""
    for task in appointment.get("scheduled_tasks") or []:
        if isinstance(task, dict) and task.get("type") == TASK_TYPE and task.get("state") in UNSENT:
            set_task_state(task, "cleared", now)


def reminders_of(conf: Mapping[str, Any], report: Mapping[str, Any]) -> list[Any]:
    """The reminders to plan: the config's, or, when the config names a `notify_window` path and the
    report has a whole number of hours there (the reminder API's field), one that long before."""
    configured = conf.get("reminders", list(DEFAULT_REMINDERS))
    path = conf.get("notify_window")
    hours = get_path(report, path) if isinstance(path, str) and path else MISSING
    if isinstance(hours, str) and hours.strip().isdigit():
        hours = int(hours.strip())
    if isinstance(hours, int) and not isinstance(hours, bool) and hours > 0:
        first = configured[0] if isinstance(configured, list) and configured and isinstance(configured[0], Mapping) else {}
        return [{**first, "before": f"{hours} hours"}]
    return configured if isinstance(configured, list) else []
