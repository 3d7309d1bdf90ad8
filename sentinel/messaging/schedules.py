"""Scheduled messages: CHT's `assignSchedule` (SL/transitions/src/lib/schedules.js, spec 2.4) as pure logic.

`plan(schedule, doc, settings=..., now=..., has_text=...)` says which `scheduled_tasks` a report gets
from one entry of the `schedules` setting; the caller (the registration transition) adds `messages`,
`state` and `state_history` through the message library and appends the tasks to the document.
`find_schedule` is CHT's `getScheduleConfig`; `schedule_problems` is the settings check.

The algorithm, in CHT's order:

1. **Start.** `start_from` is a dotted path into the report (`"fields.lmp_date"`), or a list of them of
   which the first whose value is not missing wins (object-path `coalesce`: a `null` value counts, it
   stops the search); default `reported_date`. Missing → `NOT_YET` (the caller returns False, so a
   later change retries). `null` → `NO_START` (the caller returns True: done, no tasks). The value is
   read by `clock.parse_date` (epoch ms, ISO, a date without zone in the settings zone); a value that
   is not a date → `NOT_YET` with an error (CHT would write tasks with `due: null`).
2. **Due**, per message: start + `offset` (`clock.add_duration`: hours are elapsed time, days and
   longer are calendar steps in the settings zone). Then `send_time` `"HH:mm"` sets the time of day
   (seconds and milliseconds 0) on that day in the settings zone, or `"HH:mm ±hh:mm"` on that day as
   seen at that fixed UTC offset (moment's `utcOffset` first, then `hours`/`minutes`). Then `send_day`
   moves the date *forward* to that weekday, keeping the time; the same day when it already is that
   weekday.
3. **Skip.** If the due time is before now (`synthetic_date` applied) or the message has no text
   (`has_text(message) is False`), the message is skipped, and so is the rest of its `group`, unless
   the schedule has `start_mid_group` (JavaScript truthiness). A message with a bad `offset`,
   `send_time` or `send_day` is skipped alone with an error (CHT logs bad offsets and skips them;
   the settings check rejects all three before this is ever reached).
4. **Task**: `{due, group, type: schedule.name, translation_key: schedule.translation_key,
   message_key: msg.translation_key, recipient: msg.recipient}`, in that key order, where a key
   whose value is absent or null is left out (never written as null); `due` is UTC
   `YYYY-MM-DDTHH:mm:ss.sssZ`.

Deviations from CHT, on purpose (see the README): an offset of `"0"`/`"0 days"` is valid (CHT skips it);
`send_day` never moves a date backwards (moment's `day()` stays within the Sun–Sat week); the process
time zone is never used: the `timezone` setting applies instead (`sentinel/core/clock.py`). CHT's
`alreadyRun` check never matches (bug-compat dead code) and is not reproduced.

DST: a `send_time` (or a calendar step) that lands in a spring-forward gap is moved forward by the gap
(dateutil `resolve_imaginary`: 02:30 → 03:30 in New York); in the fall-back overlap the first
occurrence is used. Both match what a JavaScript Date does.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Callable, Mapping

from dateutil.relativedelta import relativedelta

from sentinel.core import clock
from sentinel.core.docs import clone, js_truthy

NOT_YET = "not_yet"
NO_START = "no_start"
PLANNED = "planned"

DEFAULT_START_FROM = "reported_date"
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")  # JS order: 0 = Sunday

MISSING: Any = object()
_SEND_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::\d{2})?(?:\s+(Z|[+-]\d{2}(?::?\d{2})?))?$", re.IGNORECASE)
_TASK_KEYS = ("due", "group", "type", "translation_key", "message_key", "recipient")


@dataclass(frozen=True)
class PlannedTask:
    """One task to add: the skeleton to store, its due time, and the message config it came from."""

    task: dict[str, Any]
    due: datetime
    message: Mapping[str, Any]
    index: int  # position of `message` in the schedule's `messages`


@dataclass(frozen=True)
class Skipped:
    """A message that gets no task, and why: past, no_text, group_skipped, or invalid (see `errors`)."""

    index: int
    group: Any
    reason: str


@dataclass(frozen=True)
class PlanResult:
    """What `plan` decided.

    status: NOT_YET (the start is missing or not a date: create nothing, return False so a later
    change retries), NO_START (the start is null: create nothing, the schedule is done) or PLANNED
    (`tasks` may still be empty when every message was skipped).
    """

    status: str
    tasks: tuple[PlannedTask, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    errors: tuple[str, ...] = ()
    start: datetime | None = None

    @property
    def ready(self) -> bool:
        return self.status != NOT_YET


# --- config pieces --------------------------------------------------------------------------------
def get_path(doc: Any, path: str) -> Any:
    """object-path `get` for a dotted path: list items by index; `MISSING` when any step is absent.

    A null on the way (`fields` is null for `fields.lmp_date`) makes the value missing, as in
    object-path; a null at the end is returned as None.
    """
    if not isinstance(path, str) or not path:
        return MISSING
    current = doc
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return MISSING
    return current


def start_value(schedule: Mapping[str, Any], doc: Any) -> Any:
    """The raw start value of `doc` for `schedule` (None for null, `MISSING` when absent)."""
    start_from = schedule.get("start_from")
    if start_from is None:
        start_from = DEFAULT_START_FROM
    paths = start_from if isinstance(start_from, list) else [start_from]
    for path in paths:
        value = get_path(doc, path)
        if value is not MISSING:
            return value
    return MISSING


def parse_send_time(value: Any) -> tuple[int, int, tzinfo | None] | None:
    """`"HH:mm"` or `"HH:mm ±hh:mm"` (also `±hhmm`, `±hh`, `Z`) → (hour, minute, fixed zone or None); None if invalid.

    Seconds (`"09:00:30"`) are accepted and ignored, as CHT does.
    """
    if not isinstance(value, str):
        return None
    match = _SEND_TIME.match(value.strip())
    if not match:
        return None
    hour, minute, offset = int(match.group(1)), int(match.group(2)), match.group(3)
    if hour > 23 or minute > 59:
        return None
    if offset is None:
        return hour, minute, None
    if offset.upper() == "Z":
        return hour, minute, timezone.utc
    digits = offset[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        return None
    sign = -1 if offset[0] == "-" else 1
    return hour, minute, timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_send_day(value: Any) -> int | None:
    """A weekday as JavaScript numbers it (0 = Sunday … 6 = Saturday), or None if invalid.

    Accepted: a weekday's English name or any prefix of it of 2 letters or more, any case (`"Monday"`,
    `"mon"`, `"tues"`, `"th"`), and the numbers 0–6 (moment's `day()` takes both).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 6 else None
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if text.isdigit():
        return int(text) if int(text) <= 6 else None
    if len(text) < 2:
        return None
    for number, name in enumerate(WEEKDAYS):
        if name.startswith(text):
            return number
    return None


def _absent(value: Any) -> bool:
    return value is None or value == ""


def _group_key(group: Any) -> Any:
    """Group identity as JavaScript `includes` sees it: 1 and 1.0 match, 1 and "1" and true do not."""
    if isinstance(group, bool) or group is None:
        return ("literal", group)
    if isinstance(group, (int, float)):
        return ("number", group)
    try:
        return (type(group).__name__, json.dumps(group, sort_keys=True, default=str))
    except (TypeError, ValueError):
        return ("object", id(group))


# --- the plan -------------------------------------------------------------------------------------
def due_time(start: datetime, offset: relativedelta, send_time: tuple[int, int, tzinfo | None] | None,
             send_day: int | None, settings: Any) -> datetime:
    """Step 2 of the algorithm: start + offset, then send_time, then send_day (forward). Raises OverflowError/ValueError out of range."""
    due = clock.add_duration(start, offset, settings)
    if send_time is not None:
        hour, minute, fixed = send_time
        work = fixed if fixed is not None else clock.zone(settings)
        local = due.astimezone(work)
        due = clock.localize(datetime(local.year, local.month, local.day, hour, minute), work)
    if send_day is not None:
        ahead = ((send_day - 1) % 7 - due.weekday()) % 7  # JS Sunday=0 → Python Monday=0
        if ahead:
            due = clock.localize(due.replace(tzinfo=None) + timedelta(days=ahead), due.tzinfo)
    return due.replace(microsecond=due.microsecond // 1000 * 1000)  # JS dates hold milliseconds


def plan(schedule: Mapping[str, Any], doc: Mapping[str, Any], *, settings: Any, now: datetime,
         has_text: Callable[[Mapping[str, Any]], bool]) -> PlanResult:
    """The scheduled tasks `doc` gets from `schedule` (one entry of the `schedules` setting).

    now: the real current time, timezone-aware; `synthetic_date` is applied here.
    has_text(message_config): whether the message has text in the report's locale; a message
    without text is skipped like a past one (CHT: `!messages.getMessage(msg, locale)`). It is only
    called for messages that are not already past.
    Returns a PlanResult; `doc` is not modified.
    """
    if not isinstance(schedule, Mapping):
        return PlanResult(NOT_YET, errors=(f"schedule config must be an object, got {schedule!r}",))
    name = schedule.get("name")
    raw = start_value(schedule, doc)
    if raw is MISSING:
        return PlanResult(NOT_YET)
    if raw is None:
        return PlanResult(NO_START)
    start = clock.parse_date(raw, settings)
    if start is None:
        return PlanResult(NOT_YET, errors=(f"schedule {name!r}: start value {raw!r} is not a date",))

    current = clock.effective_now(settings, now).astimezone(timezone.utc)
    messages = schedule.get("messages")
    mid_group = js_truthy(schedule.get("start_mid_group"))
    skip_groups: set[Any] = set()
    tasks: list[PlannedTask] = []
    skipped: list[Skipped] = []
    errors: list[str] = []

    for index, msg in enumerate(messages if isinstance(messages, list) else []):
        if not isinstance(msg, Mapping):
            errors.append(f"schedule {name!r}: messages[{index}] is not an object; skipped")
            skipped.append(Skipped(index, None, "invalid"))
            continue
        group = msg.get("group")
        if _group_key(group) in skip_groups:
            skipped.append(Skipped(index, group, "group_skipped"))
            continue
        problem, due = _message_due(msg, start, settings)
        if problem:
            errors.append(f"schedule {name!r}: messages[{index}]: {problem}; skipped")
            skipped.append(Skipped(index, group, "invalid"))
            continue
        assert due is not None
        reason = "past" if due.astimezone(timezone.utc) < current else None
        if reason is None and not has_text(msg):
            reason = "no_text"
        if reason:
            skipped.append(Skipped(index, group, reason))
            if not mid_group:
                skip_groups.add(_group_key(group))
            continue
        values = {
            "due": clock.to_iso(due),
            "group": group,
            "type": name,
            "translation_key": schedule.get("translation_key"),
            "message_key": msg.get("translation_key"),
            "recipient": msg.get("recipient"),
        }
        task = {key: clone(values[key]) for key in _TASK_KEYS if values[key] is not None}
        tasks.append(PlannedTask(task=task, due=due.astimezone(timezone.utc), message=msg, index=index))

    return PlanResult(PLANNED, tasks=tuple(tasks), skipped=tuple(skipped), errors=tuple(errors), start=start)


def _message_due(msg: Mapping[str, Any], start: datetime, settings: Any) -> tuple[str | None, datetime | None]:
    offset = clock.parse_duration(msg.get("offset"))
    if offset is None:
        return f"offset {msg.get('offset')!r} cannot be parsed as a valid offset", None
    send_time = None
    if not _absent(msg.get("send_time")):
        send_time = parse_send_time(msg.get("send_time"))
        if send_time is None:
            return f"send_time {msg.get('send_time')!r} is not \"HH:mm\" or \"HH:mm ±hh:mm\"", None
    send_day = None
    if not _absent(msg.get("send_day")):
        send_day = parse_send_day(msg.get("send_day"))
        if send_day is None:
            return f"send_day {msg.get('send_day')!r} is not a weekday", None
    try:
        return None, due_time(start, offset, send_time, send_day, settings)
    except (OverflowError, ValueError) as exc:
        return f"offset {msg.get('offset')!r} puts the due date out of range ({exc})", None


# --- settings -------------------------------------------------------------------------------------
def find_schedule(settings: Any, name: Any) -> Mapping[str, Any] | None:
    """CHT `getScheduleConfig`: the schedule whose `name` equals `name` exactly (case-sensitive); the last one if several."""
    found = None
    schedules = clock.setting(settings, "schedules")
    for schedule in schedules if isinstance(schedules, list) else []:
        if isinstance(schedule, Mapping) and _same(schedule.get("name"), name):
            found = schedule
    return found


def _same(a: Any, b: Any) -> bool:
    """JavaScript `===` for JSON scalars: 1 matches 1.0, but not True or "1"."""
    if isinstance(a, (bool, str)) or isinstance(b, (bool, str)):
        return type(a) is type(b) and a == b
    return a == b


_OVERFLOW_PROBE = datetime(2000, 1, 1, tzinfo=timezone.utc)


def _start_from_problem(value: Any) -> str | None:
    def bad_path(path: Any) -> bool:
        return not isinstance(path, str) or not path or any(part == "" for part in path.split("."))

    if value is None:
        return None
    if isinstance(value, list):
        if not value or any(bad_path(p) for p in value):
            return f"must be a dotted path or a non-empty list of them, got {value!r}"
        return None
    if bad_path(value):
        return f"must be a dotted path (such as \"fields.lmp_date\") or a list of them, got {value!r}"
    return None


def schedule_problems(settings: Any) -> list[str]:
    """Problems with the `schedules` setting, each with its path (`settings.schedules[0].messages[2].offset: ...`)."""
    schedules = clock.setting(settings, "schedules")
    if schedules is None:
        return []
    if not isinstance(schedules, list):
        return ["settings.schedules: must be a list of schedules"]
    problems: list[str] = []
    for i, schedule in enumerate(schedules):
        where = f"settings.schedules[{i}]"
        if not isinstance(schedule, Mapping):
            problems.append(f"{where}: must be an object with name and messages")
            continue
        name = schedule.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where}.name: every schedule needs a name, got {name!r}")
        key = schedule.get("translation_key")
        if key is not None and not isinstance(key, str):
            problems.append(f"{where}.translation_key: must be a string, got {key!r}")
        start_problem = _start_from_problem(schedule.get("start_from"))
        if start_problem:
            problems.append(f"{where}.start_from: {start_problem}")
        messages = schedule.get("messages")
        if messages is None:
            continue
        if not isinstance(messages, list):
            problems.append(f"{where}.messages: must be a list")
            continue
        for j, msg in enumerate(messages):
            problems.extend(_message_problems(msg, f"{where}.messages[{j}]"))
    return problems


def _message_problems(msg: Any, where: str) -> list[str]:
    if not isinstance(msg, Mapping):
        return [f"{where}: must be an object"]
    problems = []
    offset = msg.get("offset")
    parsed = clock.parse_duration(offset)
    if parsed is None:
        problems.append(
            f"{where}.offset: must be \"<n> <unit>\" with unit second, minute, hour, day, week, month or year"
            f" (or \"0\"), got {offset!r}"
        )
    else:
        try:
            clock.add_duration(_OVERFLOW_PROBE, parsed, None)
        except (OverflowError, ValueError):
            problems.append(f"{where}.offset: {offset!r} is too large")
    send_time = msg.get("send_time")
    if not _absent(send_time) and parse_send_time(send_time) is None:
        problems.append(f"{where}.send_time: must be \"HH:mm\" or \"HH:mm ±hh:mm\" (e.g. \"09:00 +03:00\"), got {send_time!r}")
    send_day = msg.get("send_day")
    if not _absent(send_day) and parse_send_day(send_day) is None:
        problems.append(f"{where}.send_day: must be a weekday name such as \"monday\", got {send_day!r}")
    return problems


__all__ = [
    "NOT_YET",
    "NO_START",
    "PLANNED",
    "PlanResult",
    "PlannedTask",
    "Skipped",
    "due_time",
    "find_schedule",
    "get_path",
    "parse_send_day",
    "parse_send_time",
    "plan",
    "schedule_problems",
    "start_value",
]
