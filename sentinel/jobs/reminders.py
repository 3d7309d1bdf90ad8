"""SMS reminders to places: CHT's `reminders` job (sentinel/src/schedule/reminders.js, spec 4.3 and 3.7).

Config, `settings.reminders[]`:

    {form, translation_key | message, cron | text_expression, mute_after_form_for?, contact_types?}

Each run (every 5 minutes, SIGUSR2, `sentinel tick`), for each valid reminder:

1. **When.** The window starts at the newest `reminderlog:<form>:<ms>` of the sentinel database within
   the last day (from the start of the hour, one day back), else at that point. The reminder's
   latest fire time in the window, `scheduled`, must be strictly after the window start (so a fire
   time is handled once, by the run that writes its reminderlog), and at or before now.
   As in CHT, reminders read the real clock (`now`), not `synthetic_date`; schedules are in the
   `timezone` setting's zone (CHT: the server's local time).
2. **Who.** Places of `contact_types` (default: the leaf place types, those no other place type
   lists as a parent), paged by type through `sentinel/contacts_by_type` (`[type, _id]`, PAGE_SIZE
   at a time). Dropped: places that already have `reminder:<form>:<scheduled ms>:<place id>`; with
   `mute_after_form_for` ("<n> minute|hour|day|week[s]"), places with a report of `form` from that
   place (its contact's parent) whose newest `reported_date` + the duration is at or after
   `scheduled` (`sentinel/reports_by_form_and_parent`, `_stats` max); places without
   `contact`; muted places (`messages.is_muted`: the place or an ancestor); places whose legacy
   `tasks` already hold this reminder.
3. **What.** One doc per place, written with `_bulk_docs`:

       {_id: "reminder:<form>:<scheduled ms>:<place id>", type: "reminder",
        contact: <place's contact, minified>, place: {_id, parent: <minified>}, form,
        reported_date: <now ms>,
        tasks: [{messages, state, state_history, form, timestamp: <scheduled ISO>, type: "reminder"}]}

   The message goes to `reporting_unit` with the place as the patient (`{{name}}` is the place's
   name) and `week` (moment's locale week, `w`) and `year` of `scheduled` in the template context.
   Its uuid is derived from the doc id, so a doc written again after a crash is the same doc.
   Its state is `pending`, or `duplicate` beyond `sms.duplicate_limit` identical messages to one
   number *within this run* (a fresh count per run, as after a CHT restart: the daemon's persisted
   counts belong to the feed's thread and are neither read nor written here).
   A refused write (other than a 409: someone wrote that very reminder meanwhile) fails the reminder:
   no reminderlog is written, so the next run does it again, skipping the places already done.
4. **Log.** `reminderlog:<form>:<scheduled ms>` `{type: "reminderlog", duration, reminder: <config>,
   reported_date}` in the sentinel database.

An invalid reminder entry (see `config_problems`) is logged and skipped, as in CHT. A reminder that
fails (CouchDB refused a write, a bug) is logged and the others still run (CHT stops at the first);
the job then reports the failure, and the next run does that reminder again.

**Schedules.** `cron`: five fields (minute hour day-of-month month day-of-week), evaluated with
croniter; as in later.js, whose cron parser CHT uses, a day-of-month *and* a day-of-week restrict
together (both must match), not either (`day_or=False`). `text_expression` (later.js's English
syntax; it wins over `cron`, as in CHT): no Python port exists, so we implement the subset CHT
configurations use, with later.js's semantics checked against later 1.2.0 itself (see tests):

    at <time> [and|, <time>...]        9:00, 09:00, 21:30, 9:00 am, 1:15 pm ("12:xx am" is 12:xx,
                                        as in later.js)
    on <day>[-<day> | through <day>][, ...]       mon, tue, tues, wednesday, ...
    every weekday | every weekend
    every <n> minutes|hours|days|weeks|months     (days: of the month; weeks: ISO week of the year)
    on the first|last|<n>th[,<m>th...] minute|hour|day [of the month]|day of the week|week|month
    of <month>[-<month>][, ...]                   jan, february, ...

combined freely ("at 9:00 am on Mon", "every 1 week on Mon at 10:00", "on the first day of the
week"). A schedule fires at the start of its finest part: at the given times, else at the start of
each matching minute, hour, day (00:00), ISO week (Monday 00:00) or month. Anything else later.js
knows (`after`, `before`, `between`, `starting on`, `also`, `except`, `in <year>`, seconds, day
instances, weeks of the month, days of the year) or any expression it would not parse is rejected
with a settings problem saying to use `cron` instead.

Reads:  settings; `reminderlog:` docs (sentinel db); the views above; places, their lineage and
        existing reminder docs (`_all_docs`).
Writes: `reminder:` docs (main db) and `reminderlog:` docs (sentinel db).
"""
from __future__ import annotations

import logging
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator, Mapping

from croniter import croniter

from sentinel.core import clock, lineage

from sentinel.messaging import messages
from sentinel.core.context import BatchContext, Context
from sentinel.core.ddocs import SENTINEL_DDOC
from sentinel.core.couch import CouchDB
from sentinel.core.docs import HARDCODED_TYPES, Doc, js_truthy
from sentinel.core.errors import Conflict
from sentinel.core.history import MessageHistory
from sentinel.core.lookups import LookupIndex

log = logging.getLogger(__name__)

PAGE_SIZE = 1000  # places per page (CHT's BATCH_SIZE); tests make it small
CONTACTS_VIEW = "contacts_by_type"
FORM_PARENT_VIEW = "reports_by_form_and_parent"
MUTE_DURATION = re.compile(r"^\d+ (minute|day|hour|week)s?$")  # CHT's parseDuration
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_HARDCODED_PARENTS = {"health_center": ["district_hospital"], "clinic": ["health_center"]}


class UnsupportedSchedule(ValueError):
    """A `text_expression` or `cron` this implementation cannot evaluate (the message says why)."""


# === schedules ===================================================================================


class Schedule(ABC):
    """A reminder's fire times, in a time zone."""

    @abstractmethod
    def prev(self, now: datetime, start: datetime) -> datetime | None:
        """The latest fire time `t` with `start <= t <= now` (later.js `schedule.prev(1, now, start)`), in UTC, or None."""


class CronSchedule(Schedule):
    def __init__(self, expression: str, tz: Any):
        text = expression.strip()
        if len(text.split()) != 5 or not croniter.is_valid(text):
            raise UnsupportedSchedule(f"cron {expression!r} is not a valid five-field cron expression (minute hour day month weekday)")
        self.expression = text
        self.tz = tz

    def prev(self, now: datetime, start: datetime) -> datetime | None:
        # from the next whole second, so that a fire time exactly at `now` (to the second) counts
        base = now.astimezone(self.tz).replace(microsecond=0) + timedelta(seconds=1)
        found = croniter(self.expression, base, day_or=False).get_prev(datetime).astimezone(timezone.utc)
        return found if found >= start else None


# --- later.js text expressions ----------------------------------------------------------------------

# later.js's token expressions (src/parse/text.js), matched at the current position, longest wins.
_TOKENS = {
    "rank": r"((\d+)(st|nd|rd|th)?)\b",
    "time": r"((([0]?[1-9]|1[0-2]):[0-5]\d(\s)?(am|pm))|(([0]?\d|1\d|2[0-3]):[0-5]\d))\b",
    "dayName": r"((sun|mon|tue(s)?|wed(nes)?|thu(r(s)?)?|fri|sat(ur)?)(day)?)\b",
    "monthName": r"(jan(uary)?|feb(ruary)?|ma((r(ch)?)?|y)|apr(il)?|ju(ly|ne)|aug(ust)?|oct(ober)?|(sept|nov|dec)(ember)?)\b",
    "yearIndex": r"(\d\d\d\d)\b",
    "every": r"every\b",
    "after": r"after\b",
    "before": r"before\b",
    "second": r"(s|sec(ond)?(s)?)\b",
    "minute": r"(m|min(ute)?(s)?)\b",
    "hour": r"(h|hour(s)?)\b",
    "day": r"(day(s)?( of the month)?)\b",
    "dayInstance": r"day instance\b",
    "dayOfWeek": r"day(s)? of the week\b",
    "dayOfYear": r"day(s)? of the year\b",
    "weekOfYear": r"week(s)?( of the year)?\b",
    "weekOfMonth": r"week(s)? of the month\b",
    "weekday": r"weekday\b",
    "weekend": r"weekend\b",
    "month": r"month(s)?\b",
    "year": r"year(s)?\b",
    "between": r"between (the)?\b",
    "start": r"(start(ing)? (at|on( the)?)?)\b",
    "at": r"(at|@)\b",
    "and": r"(,|and\b)",
    "except": r"(except\b)",
    "also": r"(also)\b",
    "first": r"(first)\b",
    "last": r"last\b",
    "in": r"in\b",
    "of": r"of\b",
    "onthe": r"on the\b",
    "on": r"on\b",
    "through": r"(-|(to|through)\b)",
}
_COMPILED = {name: re.compile(pattern) for name, pattern in _TOKENS.items()}
_NAMES = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10,
    "nov": 11, "dec": 12, "sun": 1, "mon": 2, "tue": 3, "wed": 4, "thu": 5, "fri": 6, "sat": 7,
}
# later.js time periods we evaluate: constraint name, min, max, max when `last`
_PERIODS = {
    "minute": ("m", 0, 59, 59),
    "hour": ("h", 0, 23, 23),
    "day": ("D", 1, 31, 0),
    "dayOfWeek": ("d", 1, 7, 7),
    "weekOfYear": ("wy", 1, 53, None),
    "month": ("M", 1, 12, 12),
}
_UNSUPPORTED_PERIODS = {
    "second": "seconds",
    "dayOfYear": "days of the year",
    "dayInstance": "day instances",
    "weekOfMonth": "weeks of the month",
    "year": "years",
}
_UNSUPPORTED_WORDS = {
    "after": "after", "before": "before", "in": "in <year>", "except": "except", "also": "also",
    "between": "between", "start": "starting on/at",
}


class _Parser:
    """later.js `parse.text` for the supported subset: builds one schedule {constraint: [values]}."""

    def __init__(self, text: str):
        self.input = text.strip().lower()
        self.pos = 0
        self.schedule: dict[str, list[Any]] = {}

    def fail(self, why: str) -> UnsupportedSchedule:
        where = self.input[self.pos:] or "the end"
        return UnsupportedSchedule(f"{why} at {where!r}")

    def peek(self, kinds: list[str]) -> tuple[str | None, str, int]:
        start = self.pos
        while start < len(self.input) and self.input[start].isspace():
            start += 1
        best: tuple[str | None, str, int] = (None, "", start)
        for kind in kinds:
            match = _COMPILED[kind].match(self.input, start)
            if match and len(match.group(0)) > len(best[1]):
                best = (kind, match.group(0), start + len(match.group(0)))
        return best

    def take(self, kinds: list[str]) -> tuple[str | None, str]:
        kind, text, end = self.peek(kinds)
        if kind is not None:
            self.pos = end
        return kind, text

    def check(self, kind: str) -> bool:
        return self.take([kind])[0] == kind

    def value(self, kind: str) -> Any:
        found, text = self.take([kind])
        if found != kind:
            raise self.fail(f"expected {kind}")
        if kind == "rank":
            return int(re.match(r"\d+", text).group(0))
        if kind in ("dayName", "monthName"):
            return _NAMES[text[:3]]
        if kind == "time":
            parts = re.split(r"(:|am|pm)", text)  # later.js: "12:xx am" stays 12:xx
            hour = int(parts[0]) + 12 if len(parts) > 3 and parts[3] == "pm" and int(parts[0]) < 12 else int(parts[0])
            return hour * 3600 + int(parts[2].strip()) * 60
        return text

    def ranges(self, kind: str) -> list[int]:
        values: list[int] = []
        while True:
            first = self.value(kind)
            last = self.value(kind) if self.check("through") else first
            values.extend(range(first, last + 1))
            if not self.check("and"):
                return values

    def add(self, name: str, values: list[Any]) -> None:
        current = self.schedule.setdefault(name, [])
        current.extend(v for v in values if v not in current)

    def period(self, on: list[int] | None = None, every: int | None = None, first: bool = False, last: bool = False) -> None:
        kind, _ = self.take(["second", "minute", "hour", "dayOfYear", "dayOfWeek", "dayInstance", "day", "month",
                             "year", "weekOfMonth", "weekOfYear"])
        if kind in _UNSUPPORTED_PERIODS:
            raise self.fail(f"{_UNSUPPORTED_PERIODS[kind]} are not supported")
        if kind not in _PERIODS:
            raise self.fail("expected a time period (minute, hour, day, day of the week, week, month)")
        name, low, high, high_last = _PERIODS[kind]
        if every is not None:
            if every < 1:
                raise self.fail("every 0 is not a schedule")
            values = list(range(low, high + 1, every))
        elif first:
            values = [low]
        elif last:
            if high_last is None:
                raise self.fail("the last week of the year is not supported")
            values = [high_last]
        else:
            values = on or []
        if any(not isinstance(v, int) or v < (0 if name == "D" else low) or v > high for v in values):
            raise self.fail(f"a {kind} out of range")
        self.add(name, values)
        kind_after, _, _ = self.peek(["start", "between"])
        if kind_after is not None:
            raise self.fail(f"{_UNSUPPORTED_WORDS[kind_after]} is not supported")

    def parse(self) -> dict[str, list[Any]]:
        if not self.input:
            raise UnsupportedSchedule("the expression is empty")
        while True:
            kind, _, end = self.peek(list(_TOKENS))
            if end >= len(self.input) and kind is None:
                break
            kind, _ = self.take(["every", "after", "before", "onthe", "on", "of", "in", "at", "and", "except", "also"])
            if kind == "every":
                if self.check("weekend"):
                    self.add("d", [1, 7])
                elif self.check("weekday"):
                    self.add("d", [2, 3, 4, 5, 6])
                else:
                    self.period(every=self.value("rank"))
            elif kind == "onthe":
                if self.check("first"):
                    self.period(first=True)
                elif self.check("last"):
                    self.period(last=True)
                else:
                    self.period(on=self.ranges("rank"))
            elif kind == "on":
                self.add("d", self.ranges("dayName"))
            elif kind == "of":
                self.add("M", self.ranges("monthName"))
            elif kind == "at":
                self.add("t", [self.value("time")])
                while self.check("and"):
                    self.add("t", [self.value("time")])
            elif kind == "and":
                continue
            elif kind in _UNSUPPORTED_WORDS:
                raise self.fail(f"{_UNSUPPORTED_WORDS[kind]} is not supported")
            else:
                raise self.fail("not understood")
        if not self.schedule:
            raise UnsupportedSchedule("the expression sets no time")
        return self.schedule


def parse_text_expression(text: Any) -> dict[str, list[Any]]:
    """later.js `parse.text(text).schedules[0]` for the supported subset; UnsupportedSchedule otherwise."""
    if not isinstance(text, str):
        raise UnsupportedSchedule(f"must be a string, got {text!r}")
    return _Parser(text).parse()


class TextSchedule(Schedule):
    """A parsed text expression: constraints `t` (seconds of the day), `m`, `h`, `d` (1 = Sunday),
    `D` (0 = the last day), `wy` (ISO week), `M`; it fires at the start of its finest constraint."""

    MAX_DAYS = 800  # how far back `prev` looks (the reminders window is about a day)

    def __init__(self, expression: str, tz: Any):
        self.expression = expression
        self.constraints = parse_text_expression(expression)
        self.tz = tz

    def _day_matches(self, day: date) -> bool:
        c = self.constraints
        if "d" in c and (day.weekday() + 1) % 7 + 1 not in c["d"]:
            return False
        if "D" in c:
            last = ((day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)).day
            if day.day not in c["D"] and not (0 in c["D"] and day.day == last):
                return False
        if "M" in c and day.month not in c["M"]:
            return False
        if "wy" in c and day.isocalendar()[1] not in c["wy"]:
            return False
        return True

    def _times_of_day(self, day: date) -> list[int]:
        """Candidate seconds of the day, latest first (the start of the finest constraint's periods)."""
        c = self.constraints
        hours = c.get("h", range(24))
        if "t" in c:
            times = [t for t in c["t"] if ("h" not in c or t // 3600 in c["h"]) and ("m" not in c or t // 60 % 60 in c["m"])]
        elif "m" in c:
            times = [h * 3600 + m * 60 for h in hours for m in c["m"]]
        elif "h" in c:
            times = [h * 3600 for h in hours]
        elif "d" in c or "D" in c:
            times = [0]
        elif "wy" in c:
            times = [0] if day.weekday() == 0 else []
        else:  # months only
            times = [0] if day.day == 1 else []
        return sorted(set(times), reverse=True)

    def prev(self, now: datetime, start: datetime) -> datetime | None:
        local_now = now.astimezone(self.tz)
        day = local_now.date()
        first_day = start.astimezone(self.tz).date() - timedelta(days=1)
        for _ in range(self.MAX_DAYS):
            if day < first_day:
                return None
            if self._day_matches(day):
                midnight = datetime(day.year, day.month, day.day)
                for seconds in self._times_of_day(day):
                    # in UTC: an aware time in a DST fold never equals one of another zone (PEP 495)
                    moment = clock.localize(midnight + timedelta(seconds=seconds), self.tz).astimezone(timezone.utc)
                    if moment <= now and moment >= start:
                        return moment
                    if moment < start:
                        break
            day -= timedelta(days=1)
        return None


def schedule_for(config: Mapping[str, Any], settings: Any) -> Schedule:
    """The reminder's schedule: `text_expression` when set (it wins, as in CHT), else `cron`."""
    tz = clock.zone(settings)
    if js_truthy(config.get("text_expression")):
        try:
            return TextSchedule(config["text_expression"], tz)
        except UnsupportedSchedule as exc:
            raise UnsupportedSchedule(
                f"text_expression {config['text_expression']!r} is not supported ({exc}); "
                "write the schedule as `cron` instead (e.g. \"0 9 * * 1\" for 9:00 every Monday)"
            ) from None
    if isinstance(config.get("cron"), str):
        return CronSchedule(config["cron"], tz)
    raise UnsupportedSchedule(f"cron must be a string, got {config.get('cron')!r}")


# === configuration ===============================================================================


def _known_type(type_id: Any, settings: Any) -> bool:
    return isinstance(type_id, str) and (type_id in HARDCODED_TYPES or settings.type_by_id(type_id) is not None)


def config_problems(config: Any, settings: Any) -> list[str]:
    """Why a reminder entry cannot run (CHT `isConfigValid`, plus the schedule and mute checks); [] when valid."""
    if not isinstance(config, Mapping):
        return [f"must be an object, got {config!r}"]
    problems = []
    if not isinstance(config.get("form"), str) or not config.get("form"):
        problems.append("form: must be a non-empty string")
    if not js_truthy(config.get("message")) and not js_truthy(config.get("translation_key")):
        problems.append("needs a translation_key or a message")
    if not js_truthy(config.get("text_expression")) and not js_truthy(config.get("cron")):
        problems.append("needs a cron (or a text_expression)")
    else:
        try:
            schedule_for(config, settings)
        except UnsupportedSchedule as exc:
            problems.append(str(exc))
    types = config.get("contact_types")
    if types is not None:
        if not isinstance(types, list) or not types:
            problems.append("contact_types: must be a non-empty list of contact type ids")
        else:
            unknown = [t for t in types if not _known_type(t, settings)]
            if unknown:
                problems.append(f"contact_types: unknown contact type(s) {', '.join(map(repr, unknown))}")
    mute = config.get("mute_after_form_for")
    if js_truthy(mute) and (not isinstance(mute, str) or not MUTE_DURATION.match(mute)):
        problems.append(f"mute_after_form_for: must be \"<n> minutes|hours|days|weeks\" (e.g. \"2 days\"), got {mute!r}")
    return problems


def reminder_problems(settings: Any) -> list[str]:
    """Every problem of the `reminders` setting, for the settings check (empty when valid or unset)."""
    configs = settings.get("reminders")
    if configs is None:
        return []
    if not isinstance(configs, list):
        return ["settings.reminders: must be a list of reminder configurations"]
    return [f"settings.reminders[{i}]: {p}" for i, config in enumerate(configs) for p in config_problems(config, settings)]


def place_types(config: Mapping[str, Any], settings: Any) -> list[str]:
    """`contact_types`, else the leaf place types (CHT getLeafPlaceTypes)."""
    if config.get("contact_types"):
        return list(dict.fromkeys(config["contact_types"]))
    configured = settings.contact_types()
    if not configured:
        configured = [{"id": t, "parents": _HARDCODED_PARENTS.get(t, [])} for t in HARDCODED_TYPES if t != "person"]
    places = [t for t in configured if isinstance(t.get("id"), str) and not settings.is_person_type(t)]
    return [t["id"] for t in places if not any(t["id"] in (other.get("parents") or []) for other in places)]


# === the job =====================================================================================


@dataclass
class ReminderOutcome:
    form: str
    scheduled: datetime
    created: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # why places got no reminder: count


def run(env: Any, now: datetime) -> None:
    """The scheduler job: every valid reminder in turn; an invalid one is logged and skipped."""
    settings = env.settings()
    if settings is None:
        log.info("reminders: skipped while the settings are invalid")
        return
    configs = settings.get("reminders")
    if not isinstance(configs, list):
        return
    failed = []
    for index, config in enumerate(configs):
        problems = config_problems(config, settings)
        if problems:
            log.warning("reminders[%d]: invalid, skipped: %s", index, "; ".join(problems))
            continue
        try:
            outcome = run_reminder(env.main, env.sentinel, settings, config, now)
        except Exception as exc:  # one reminder failing must not stop the others
            log.exception("reminders[%d] (%s) failed: %s", index, config.get("form"), exc)
            failed.append(f"{config.get('form')}: {type(exc).__name__}: {exc}")
            continue
        if outcome is not None:
            log.info(
                "reminders[%d] (%s) for %s: %d reminder(s) created; places skipped: %s",
                index, outcome.form, clock.to_iso(outcome.scheduled), outcome.created, outcome.skipped or "none",
            )
    if failed:
        raise RuntimeError(f"{len(failed)} reminder(s) failed and run again next time: " + "; ".join(failed))


def window_start(sentinel: CouchDB, form: str, now: datetime, settings: Any) -> datetime:
    """The newest reminderlog of `form` since the start of the hour one day back, else that point."""
    hour = now.astimezone(clock.zone(settings)).replace(minute=0, second=0, microsecond=0)
    since = clock.add_duration(hour, -clock.parse_duration("1 day"), settings)
    prefix = f"reminderlog:{form}:"
    since_ms, now_ms = _ms(since), _ms(now)
    rows = sentinel.all_docs_range(f"{prefix}{since_ms}", f"{prefix}{now_ms}", include_docs=False)
    stamps = [int(r["id"][len(prefix):]) for r in rows if r.get("id", "").startswith(prefix) and r["id"][len(prefix):].isdigit()]
    stamps = [s for s in stamps if since_ms <= s <= now_ms]
    return _from_ms(max(stamps)) if stamps else since


def due_time(sentinel: CouchDB, config: Mapping[str, Any], settings: Any, now: datetime) -> datetime | None:
    """The fire time this run handles, or None when there is none in the window (CHT matchReminder)."""
    start = window_start(sentinel, config["form"], now, settings)
    previous = schedule_for(config, settings).prev(now, start)
    return previous if previous is not None and previous > start else None


def run_reminder(main: CouchDB, sentinel: CouchDB, settings: Any, config: Mapping[str, Any], now: datetime) -> ReminderOutcome | None:
    """Create the reminders of one config for its due fire time and log it; None when none is due."""
    scheduled = due_time(sentinel, config, settings, now)
    if scheduled is None:
        return None
    started = time.perf_counter()
    outcome = ReminderOutcome(config["form"], scheduled)
    history = MessageHistory()  # duplicate-limit counts of this run only (see the module docstring)
    for page in place_pages(main, place_types(config, settings)):
        send_page(main, sentinel, settings, config, scheduled, now, page, history, outcome)
    log_doc = {
        "_id": f"reminderlog:{config['form']}:{_ms(scheduled)}",
        "duration": (time.perf_counter() - started) * 1000,
        "reminder": config,
        "reported_date": _ms(now),
        "type": "reminderlog",
    }
    try:
        sentinel.put(log_doc)
    except Conflict:  # another run logged this very fire time: it is done either way
        log.info("reminders: %s was already logged", log_doc["_id"])
    return outcome


def place_pages(main: CouchDB, types: list[str], page_size: int | None = None) -> Iterator[list[str]]:
    """Place ids of these contact types, PAGE_SIZE at a time, through `sentinel/contacts_by_type` ([type, _id])."""
    size = page_size or PAGE_SIZE
    for type_id in types:
        after: str | None = None
        while True:
            if after is None:
                rows = main.view(SENTINEL_DDOC, CONTACTS_VIEW, startkey=[type_id], endkey=[type_id, {}], limit=size)
            else:  # the key holds the id, so the next page starts right after it on any server
                rows = main.view(SENTINEL_DDOC, CONTACTS_VIEW, startkey=[type_id, after], endkey=[type_id, {}], limit=size + 1)
                rows = [r for r in rows if r.get("id") != after]
            ids = [r["id"] for r in rows if isinstance(r.get("id"), str)]
            if ids:
                yield ids
            if len(rows) < size or not ids:
                break
            after = ids[-1]


def reminder_id(form: str, scheduled: datetime, place_id: str) -> str:
    return f"reminder:{form}:{_ms(scheduled)}:{place_id}"


def send_page(main: CouchDB, sentinel: CouchDB, settings: Any, config: Mapping[str, Any], scheduled: datetime, now: datetime,
              place_ids: list[str], history: MessageHistory, outcome: ReminderOutcome) -> None:
    """Create this page's reminders (CHT getValidPlacesBatch + bulkDocs)."""
    form = config["form"]

    def skip(reason: str, count: int) -> None:
        if count:
            outcome.skipped[reason] = outcome.skipped.get(reason, 0) + count

    existing = main.all_docs([reminder_id(form, scheduled, p) for p in place_ids])
    todo = [p for p in place_ids if reminder_id(form, scheduled, p) not in existing]
    skip("already reminded", len(place_ids) - len(todo))
    muted_by_form = _recently_reported(main, settings, config, scheduled, todo)
    skip(f"sent {form} recently", len(muted_by_form))
    todo = [p for p in todo if p not in muted_by_form]
    if not todo:
        return
    batch = BatchContext(main, LookupIndex(sentinel), settings, now, history=history)
    batch.load_many(todo)
    places = [batch.lookup(p) for p in todo if batch.lookup(p) is not None]
    batch.complete_lineage(places)
    docs = []
    for place in places:
        hydrated = lineage.hydrate_contact(place["_id"], batch.lookup)
        reason = _cannot_send(config, scheduled, place, hydrated)
        if reason:
            skip(reason, 1)
            continue
        docs.append(create_reminder(config, scheduled, hydrated, Context(batch, reminder_id(form, scheduled, place["_id"]), None, {}), now))
    if not docs:
        return
    errors = []
    for doc, result in zip(docs, main.bulk_docs(docs)):
        if result.get("error") is None:
            outcome.created += 1
        elif result.get("error") == "conflict":
            skip("already reminded", 1)  # written meanwhile (another run): the same doc
        else:
            errors.append(f"{doc['_id']}: {result.get('error')}: {result.get('reason')}")
    if errors:
        raise RuntimeError("errors saving reminders: " + "; ".join(errors))


def _recently_reported(main: CouchDB, settings: Any, config: Mapping[str, Any], scheduled: datetime, place_ids: list[str]) -> set[str]:
    """Places muted by `mute_after_form_for`: a report of the form from the place within the duration."""
    mute = config.get("mute_after_form_for")
    if not place_ids or not isinstance(mute, str) or not MUTE_DURATION.match(mute):
        return set()
    duration = clock.parse_duration(mute)
    rows = main.view(SENTINEL_DDOC, FORM_PARENT_VIEW, keys=[[config["form"], p] for p in place_ids], group=True)
    muted = set()
    for row in rows:
        value, key = row.get("value"), row.get("key")
        newest = value.get("max") if isinstance(value, dict) else None
        if not isinstance(newest, (int, float)) or not isinstance(key, list) or len(key) != 2:
            continue
        last = clock.parse_date(newest, settings)
        if last is not None and scheduled <= clock.add_duration(last, duration, settings):
            muted.add(key[1])
    return muted


def _cannot_send(config: Mapping[str, Any], scheduled: datetime, place: Doc, hydrated: Doc | None) -> str | None:
    """CHT canSend: why this place gets no reminder, or None."""
    if not js_truthy(place.get("contact")):
        return "no contact"
    if messages.is_muted(hydrated if hydrated is not None else place):
        return "muted"
    tasks = place.get("tasks")
    iso = clock.to_iso(scheduled)
    if isinstance(tasks, list) and any(isinstance(t, dict) and t.get("form") == config["form"] and t.get("timestamp") == iso for t in tasks):
        return "already reminded"
    return None


def create_reminder(config: Mapping[str, Any], scheduled: datetime, place: Doc, ctx: Context, now: datetime) -> Doc:
    """The reminder doc for one place (CHT createReminder); `place` is hydrated."""
    doc: Doc = {
        "_id": reminder_id(config["form"], scheduled, place["_id"]),
        "type": "reminder",
        "contact": lineage.minify_lineage(place.get("contact")),
        "place": {"_id": place["_id"]},
        "form": config["form"],
        "reported_date": _ms(now),
        "tasks": [],
    }
    parent = lineage.minify_lineage(place.get("parent"))
    if parent is not None:
        doc["place"]["parent"] = parent
    local = scheduled.astimezone(clock.zone(ctx.settings))
    extra = {"patient": place, "template_context": {"week": str(moment_week(local.date())), "year": f"{local.year:04d}"}}
    messages.add_message(
        doc, ctx, config, "reporting_unit", key="reminder", extra=extra,
        task_fields={"form": config["form"], "timestamp": clock.to_iso(scheduled), "type": "reminder"},
    )
    return doc


def moment_week(day: date) -> int:
    """moment's `w` in its default locale (en): weeks start on Sunday; week 1 holds January 1st."""
    sunday = day - timedelta(days=(day.weekday() + 1) % 7)
    saturday = sunday + timedelta(days=6)
    return (saturday - date(saturday.year, 1, 1)).days // 7 + 1


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


__all__ = [
    "CronSchedule",
    "PAGE_SIZE",
    "ReminderOutcome",
    "Schedule",
    "TextSchedule",
    "UnsupportedSchedule",
    "config_problems",
    "create_reminder",
    "due_time",
    "moment_week",
    "parse_text_expression",
    "place_pages",
    "place_types",
    "reminder_id",
    "reminder_problems",
    "run",
    "run_reminder",
    "schedule_for",
    "send_page",
    "window_start",
]
