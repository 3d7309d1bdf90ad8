"""Milestone schedule tracking: MOTECH's schedule-tracking arithmetic (issue 5) as pure logic.

A *schedule* (one entry of the `milestone_schedules` setting, in MOTECH's JSON format) is a list of
*milestones*; each milestone has four cumulative windows `earliest`, `due`, `late`, `max` and alerts
raised inside them. This module parses definitions and computes windows, alert times and the
defaulting time. It has no database: the `milestone_tracking` transition stores enrollments and
turns `Alert`s into `scheduled_tasks`.

What mirrors what (MOTECH `motech/modules` `schedule-tracking`, the same algorithm as the 0.x
CouchDB module; see `../shared/reference/schedules-orders-reminders.md` §1):

- `parse_schedule`, `schedule_problems` — `ScheduleFactory.build` (+ the JSON records). Window values
  are **cumulative end points**: duration = end − previous end, and an empty value (`""`, `[]`, a
  missing key, or a value equal to zero such as `"0 days"`: Joda's `Period.ZERO` test) gives a
  zero-length window and does not advance the previous end. In an **absolute** schedule the previous
  end is not reset between milestones (values count from the schedule start) and every alert offset
  is converted to window-relative by subtracting the window's absolute start. Alert indexes are
  global across the schedule (`alertIndex += alerts.size()`), as MOTECH's job ids use them.
- `milestone_start` — `Enrollment.getCurrentMilestoneStartDate`: relative schedule, first milestone:
  the reference datetime; later milestone: the last fulfilment, else the enrolment time; absolute
  schedule: reference + Σ max durations of the earlier milestones, whatever the fulfilments.
- `milestone_windows`, `current_window` — `Milestone.getWindowStart/End`, `Enrollment.
  getCurrentWindowAsOf`: start = milestone start + Σ durations before the window, end = start side +
  Σ through it; windows are `[start, end)`, elapsed *at* their end (`Milestone.windowElapsed`).
- `alert_times` — `AlertWindow` + `EnrollmentAlertService.scheduleAlertsForCurrentMilestone`:
  1. first = window start + offset; `preferred_time` replaces the time of day (seconds 0) on that
     local date in `tz` (so it may fall before the window opens that day, as in MOTECH);
  2. `count` timings, each the previous + interval;
  3. earliest valid = now if enrolled_on ≤ now else enrolled_on;
  4. floating alerts, only when earliest valid > first: the series moves (by the Joda period between
     them) so that it starts on earliest valid's *date* at first's hour:minute; with a preferred time,
     if that is already before now, one more day;
  5. keep timings < window end (the end wins over `count`); keep timings ≥ earliest valid (for a
     floating alert without preferred time: ≥ midnight of that day, so today's alert survives);
  6. windows already elapsed at `now` are skipped; a surviving timing before `now` is MOTECH's
     immediate event: it gets `due = now`, `immediate = True`.
- `possible_alert_times` — `EnrollmentAlertService.getAlertTimings` (MOTECH's preview): the series
  per window, floated, **not** clipped to the window end and **not** filtered by now.
- `default_time`, `defaulted` — `EnrollmentDefaultmentService` (job at milestone start + max
  duration = end of the last non-empty window) and `Schedule.hasExpiredSince` (at enrolment the
  record is DEFAULTED when that time is strictly before now; exactly at it is still ACTIVE).
- `next_milestone` — `Schedule.getNextMilestoneName`.

Date arithmetic. Periods are Joda periods: years, months, days (weeks are 7 days) and elapsed time
(hours, minutes, seconds), summed field by field (a list value is summed; `["1 year", "2 month",
"16 Weeks"]` stays 1 year 2 months 112 days, it is not normalised). Adding one follows Joda: years,
then months (clamped to the month end), then days on the wall clock of `tz`, then the elapsed part as
real time. Like `clock.add_duration` (which uses moment's order and is kept for CHT schedules), a
wall-clock time in a DST gap moves forward by the gap and an ambiguous one takes its first occurrence
(`clock.localize`). Single values are parsed by `clock.parse_duration` (`"<n> <unit>"`, units
year|month|week|day|hour|minute|second, singular or plural, any case).

Choices where MOTECH or the reference is ambiguous (also listed in the report for the README):

- **Time zone.** MOTECH uses the server zone; we use `tz` (the caller passes `clock.zone(settings)`).
  All datetimes returned are in `tz`.
- **Window names** are case-insensitive everywhere (alerts' `window`, `scheduleWindows` keys): the
  pre-2012 IPTI file writes `"Late"`. Unknown names are problems.
- **Negative offsets** (`"-2 days"`, `["1 week", "-1 day"]`) are allowed in alert offsets only; window
  values, intervals and `totalDuration` must be non-negative.
- **Pre-2012 format**: scalar strings are accepted wherever a list is (and lists where MOTECH had
  scalars), `startOffset` is the alert offset (giving both `offset` and `startOffset` is a problem),
  `referenceDate` is ignored. `totalDuration` (either format): alerts due at or after
  `enrolled_on + totalDuration` are dropped ("when 52 weeks have elapsed since enrollment, alerts are
  stopped"); it does not change windows or defaulting.
- **Several timings already past** (possible only for a floating alert without preferred time and an
  interval under a day: today's earlier timings survive the midnight threshold): MOTECH fires the
  first immediately and hands the rest to Quartz's misfire policy. We keep the first as the immediate
  alert and drop the other past ones, so a patient never gets a burst.
- **Repeats across DST.** MOTECH computes the series with calendar steps but Quartz then repeats every
  `interval` in elapsed seconds, so a daily alert drifts by an hour across a DST change. We keep the
  computed series (calendar steps: a daily alert keeps its time of day).
- **Stricter checks than MOTECH** (it would accept these and then misbehave or throw while
  scheduling): a zero interval with `count` > 1 (Quartz rejects a zero repeat interval), a `count`
  that is not a non-negative integer, `floating`/`absolute` that are not booleans (or "true"/"false"),
  a milestone whose windows are all empty (it would default at once), duplicate milestone names
  (MOTECH looks milestones up by name).
- **Message config.** `translation_key`/`message` (the message source) and `recipient` are opaque here:
  `message_config` takes the message source from the milestone if it names one, else from the
  schedule, and the recipient likewise, independently.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, Iterable, Mapping

from dateutil.relativedelta import relativedelta

from sentinel.core import clock
from sentinel.messaging.schedules import parse_send_time

SETTING = "milestone_schedules"
WINDOW_NAMES = ("earliest", "due", "late", "max")

UTC = timezone.utc


# --- periods --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    """A Joda period as MOTECH uses it: calendar fields plus elapsed time, added field by field."""

    years: int = 0
    months: int = 0
    days: int = 0
    elapsed: timedelta = timedelta(0)

    def __add__(self, other: "Period") -> "Period":
        return Period(self.years + other.years, self.months + other.months, self.days + other.days,
                      self.elapsed + other.elapsed)

    def __sub__(self, other: "Period") -> "Period":
        return self + (-other)

    def __neg__(self) -> "Period":
        return Period(-self.years, -self.months, -self.days, -self.elapsed)

    @property
    def is_zero(self) -> bool:
        return not (self.years or self.months or self.days or self.elapsed)

    @property
    def has_months(self) -> bool:
        """Whether the period has a month or year part (not allowed in alert intervals)."""
        return bool(self.years or self.months)


ZERO = Period()


def plus(moment: datetime, period: Period, tz: tzinfo) -> datetime:
    """`moment + period` as Joda's `DateTime.plus(Period)` in zone `tz`: years, months, days on the wall clock, then elapsed time."""
    local = moment.astimezone(tz)
    if period.years or period.months or period.days:
        naive = local.replace(tzinfo=None)
        if period.years:
            naive += relativedelta(years=period.years)
        if period.months:
            naive += relativedelta(months=period.months)
        if period.days:
            naive += timedelta(days=period.days)
        local = clock.localize(naive, tz)
    if period.elapsed:
        local = (local.astimezone(UTC) + period.elapsed).astimezone(tz)
    return local


def between(start: datetime, end: datetime, tz: tzinfo) -> Period:
    """Joda's `new Period(start, end)`: whole years, then months, then days from `start`, the rest as elapsed time."""
    if end < start:
        return -between(end, start, tz)
    a, b = start.astimezone(tz), end.astimezone(tz)
    years = b.year - a.year
    while years > 0 and plus(a, Period(years=years), tz) > b:
        years -= 1
    cursor = plus(a, Period(years=years), tz)
    months = (b.year - cursor.year) * 12 + b.month - cursor.month
    while months > 0 and plus(cursor, Period(months=months), tz) > b:
        months -= 1
    cursor = plus(cursor, Period(months=months), tz)
    days = (b.date() - cursor.date()).days
    while days > 0 and plus(cursor, Period(days=days), tz) > b:
        days -= 1
    cursor = plus(cursor, Period(days=days), tz)
    return Period(years, months, days, b - cursor)


def _item_period(text: str, allow_negative: bool) -> Period | None:
    stripped = text.strip()
    if not stripped:
        return ZERO
    sign = 1
    if allow_negative and stripped.startswith("-"):
        sign, stripped = -1, stripped[1:].strip()
    parsed = clock.parse_duration(stripped)
    if parsed is None:
        return None
    period = Period(parsed.calendar.years, parsed.calendar.months, parsed.calendar.days, parsed.elapsed)
    return -period if sign < 0 else period


def parse_time_value(value: Any, *, allow_negative: bool = False) -> tuple[Period | None, list[str]]:
    """A MOTECH time value → (Period, []) or (None, problems).

    `"<n> <unit>"`, `""` (zero), a list of them (summed field by field), or None/absent (zero).
    Each problem is a path suffix and message, to append to the value's path: `"[1]: must be ..."`
    for a list item, `": must be ..."` for a scalar. `allow_negative` (alert offsets) accepts a
    leading `-` on each item.
    """
    if value is None:
        return ZERO, []
    items = value if isinstance(value, list) else [value]
    total, problems = ZERO, []
    for i, item in enumerate(items):
        where = f"[{i}]" if isinstance(value, list) else ""
        period = _item_period(item, allow_negative) if isinstance(item, str) else None
        if period is None:
            sign = "an optional \"-\" and " if allow_negative else ""
            problems.append(
                f"{where}: must be {sign}\"<n> <unit>\" (unit year, month, week, day, hour, minute or second),"
                f" \"\" or a list of them, got {item!r}"
            )
            continue
        total += period
    return (None if problems else total), problems


# --- the schedule model ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AlertDef:
    """One alert of a milestone (MOTECH `Alert`): offset from the window start, interval, count."""

    window: str                 # lower-case window name
    offset: Period              # window-relative (already converted in an absolute schedule)
    interval: Period
    count: int
    floating: bool
    index: int                  # global across the schedule, as in MOTECH's job id "<enrollment>.<index>"


@dataclass(frozen=True)
class MilestoneDef:
    """One milestone (MOTECH `Milestone`): the four window durations, alerts, data and message config."""

    name: str
    durations: tuple[Period, Period, Period, Period]   # earliest, due, late, max (not cumulative)
    alerts: tuple[AlertDef, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)   # the raw milestone definition

    def window_start(self, window: str) -> Period:
        """Σ durations of the windows before `window` (`Milestone.getWindowStart`)."""
        total = ZERO
        for name, duration in zip(WINDOW_NAMES, self.durations):
            if name == window:
                break
            total += duration
        return total

    def window_end(self, window: str) -> Period:
        """Σ durations up to and including `window` (`Milestone.getWindowEnd`)."""
        total = ZERO
        for name, duration in zip(WINDOW_NAMES, self.durations):
            total += duration
            if name == window:
                break
        return total

    @property
    def max_duration(self) -> Period:
        """`Milestone.getMaximumDuration`: the end of the `max` window (= end of the last non-empty window)."""
        return self.window_end("max")


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule definition (MOTECH `Schedule`)."""

    name: str
    milestones: tuple[MilestoneDef, ...]
    absolute: bool = False
    total_duration: Period | None = None    # pre-2012 `totalDuration`
    config: Mapping[str, Any] = field(default_factory=dict)   # the raw definition

    def milestone_index(self, name: Any) -> int | None:
        """The index of the milestone called `name` (exact match), or None."""
        for i, milestone in enumerate(self.milestones):
            if milestone.name == name:
                return i
        return None

    @property
    def duration(self) -> Period:
        """`Schedule.getDuration`: Σ max durations of the milestones."""
        total = ZERO
        for milestone in self.milestones:
            total += milestone.max_duration
        return total


@dataclass(frozen=True)
class Window:
    """A milestone window as datetimes: `[start, end)`; zero-length when start == end."""

    name: str
    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class Alert:
    """One alert to send.

    due: when to send it (= `at`, or `now` for MOTECH's immediate alert); at: the time MOTECH computed;
    number: position in its alert's series (0 = first of `count`), so (index, number) is unique
    within a milestone.
    """

    due: datetime
    window: str
    milestone: str
    index: int
    number: int
    at: datetime
    immediate: bool = False


class ScheduleError(ValueError):
    """An invalid schedule definition; `problems` lists each one with its path."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


# --- parsing --------------------------------------------------------------------------------------
def _flag(value: Any) -> bool | None:
    """A MOTECH boolean (Gson reads true/false and the strings "true"/"false"); None when neither."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _window_name(value: Any) -> str | None:
    if isinstance(value, str) and value.strip().lower() in WINDOW_NAMES:
        return value.strip().lower()
    return None


def _build(config: Any, where: str) -> tuple[Schedule | None, list[str]]:
    """ScheduleFactory.build plus the checks; (schedule, []) or (None, problems)."""
    if not isinstance(config, Mapping):
        return None, [f"{where}: must be an object with name and milestones"]
    problems: list[str] = []
    name = config.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}.name: every schedule needs a name, got {name!r}")
    absolute = _flag(config.get("absolute"))
    if absolute is None:
        problems.append(f"{where}.absolute: must be true or false, got {config.get('absolute')!r}")
        absolute = False
    total = None
    if config.get("totalDuration") not in (None, ""):
        total, bad = parse_time_value(config.get("totalDuration"))
        problems.extend(f"{where}.totalDuration{p}" for p in bad)
    problems.extend(_message_problems(config, where))

    milestones_raw = config.get("milestones")
    if not isinstance(milestones_raw, list) or not milestones_raw:
        problems.append(f"{where}.milestones: a schedule needs a non-empty list of milestones")
        return None, problems

    milestones: list[MilestoneDef] = []
    seen: dict[str, int] = {}
    previous_end = ZERO
    alert_index = 0
    for i, raw in enumerate(milestones_raw):
        at = f"{where}.milestones[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{at}: must be an object with name and scheduleWindows")
            continue
        m_name = raw.get("name")
        if not isinstance(m_name, str) or not m_name.strip():
            problems.append(f"{at}.name: every milestone needs a name, got {m_name!r}")
        elif m_name in seen:
            problems.append(f"{at}.name: duplicate milestone name {m_name!r} (also milestones[{seen[m_name]}])")
        else:
            seen[m_name] = i
        problems.extend(_message_problems(raw, at))

        values, bad = _window_values(raw.get("scheduleWindows"), f"{at}.scheduleWindows")
        problems.extend(bad)
        durations: list[Period] = []
        starts: dict[str, Period] = {}
        for window in WINDOW_NAMES:
            end = values.get(window, ZERO)
            starts[window] = previous_end
            if end.is_zero:
                durations.append(ZERO)
            else:
                origin = datetime(2000, 1, 1, tzinfo=timezone.utc)
                if plus(origin, end, timezone.utc) < plus(origin, previous_end, timezone.utc):
                    problems.append(f"{at}.scheduleWindows.{window}: ends before the window before it (window values "
                                    "are cumulative end points, e.g. earliest 13 weeks, due 14 weeks, late 16 weeks)")
                durations.append(end - previous_end)
                previous_end = end
        if not bad and all(d.is_zero for d in durations):
            problems.append(f"{at}.scheduleWindows: at least one window needs a length (earliest, due, late or max)")
        if not absolute:
            previous_end = ZERO

        alerts_raw = raw.get("alerts")
        if alerts_raw is None:
            alerts_raw = []
        alerts: list[AlertDef] = []
        if not isinstance(alerts_raw, list):
            problems.append(f"{at}.alerts: must be a list")
            alerts_raw = []
        for j, alert_raw in enumerate(alerts_raw):
            alert, bad_alert = _alert(alert_raw, f"{at}.alerts[{j}]", absolute, starts, alert_index + j)
            problems.extend(bad_alert)
            if alert is not None:
                alerts.append(alert)
        alert_index += len(alerts_raw)
        data = raw.get("data")
        milestones.append(MilestoneDef(
            name=m_name if isinstance(m_name, str) else "",
            durations=tuple(durations),  # type: ignore[arg-type]
            alerts=tuple(alerts),
            data=dict(data) if isinstance(data, Mapping) else {},
            config=raw,
        ))
    if problems:
        return None, problems
    return Schedule(name=name, milestones=tuple(milestones), absolute=absolute, total_duration=total, config=config), []


def _window_values(raw: Any, where: str) -> tuple[dict[str, Period], list[str]]:
    if not isinstance(raw, Mapping):
        return {}, [f"{where}: must be an object with earliest, due, late and max, got {raw!r}"]
    values: dict[str, Period] = {}
    keys: dict[str, str] = {}
    problems: list[str] = []
    for key, value in raw.items():
        window = _window_name(key)
        if window is None:
            problems.append(f"{where}.{key}: unknown window name (earliest, due, late or max)")
            continue
        if window in keys:
            problems.append(f"{where}.{key}: window {window!r} given twice (also as {keys[window]!r})")
            continue
        keys[window] = key
        period, bad = parse_time_value(value)
        problems.extend(f"{where}.{key}{p}" for p in bad)
        if period is not None:
            values[window] = period
    return values, problems


def _alert(raw: Any, where: str, absolute: bool, starts: Mapping[str, Period], index: int) -> tuple[AlertDef | None, list[str]]:
    if not isinstance(raw, Mapping):
        return None, [f"{where}: must be an object with window, offset, interval and count"]
    problems: list[str] = []
    window = _window_name(raw.get("window"))
    if window is None:
        problems.append(f"{where}.window: unknown window name {raw.get('window')!r} (earliest, due, late or max)")
    if "offset" in raw and "startOffset" in raw:
        problems.append(f"{where}: give either offset or startOffset (pre-2012), not both")
    offset_key = "offset" if "offset" in raw else "startOffset"
    offset, bad = parse_time_value(raw.get(offset_key), allow_negative=True)
    problems.extend(f"{where}.{offset_key}{p}" for p in bad)
    interval, bad = parse_time_value(raw.get("interval"))
    problems.extend(f"{where}.interval{p}" for p in bad)
    if interval is not None and interval.has_months:
        problems.append(f"{where}.interval: months and years are not allowed in an alert interval, got {raw.get('interval')!r}")
    count = _count(raw.get("count"))
    if count is None:
        problems.append(f"{where}.count: must be a non-negative integer (or a string of digits), got {raw.get('count')!r}")
    elif count > 1 and interval is not None and interval.is_zero:
        problems.append(f"{where}.interval: an alert with count {count} needs a non-zero interval")
    floating = _flag(raw.get("floating"))
    if floating is None:
        problems.append(f"{where}.floating: must be true or false, got {raw.get('floating')!r}")
    elif floating and absolute:
        problems.append(f"{where}.floating: floating alerts are not allowed in an absolute schedule")
    if problems:
        return None, problems
    assert window is not None and offset is not None and interval is not None and count is not None
    if absolute:
        offset = offset - starts[window]
    return AlertDef(window=window, offset=offset, interval=interval, count=count, floating=bool(floating), index=index), []


def _message_problems(raw: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    for key in ("translation_key", "recipient"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            problems.append(f"{where}.{key}: must be a non-empty string, got {value!r}")
    if raw.get("translation_key") is not None and raw.get("message") is not None:
        problems.append(f"{where}: give either translation_key or message, not both")
    return problems


def parse_schedule(config: Any, where: str = "schedule") -> Schedule:
    """A schedule definition (MOTECH JSON, current or pre-2012) → Schedule; raises ScheduleError."""
    schedule, problems = _build(config, where)
    if schedule is None:
        raise ScheduleError(problems)
    return schedule


def schedule_problems(settings: Any) -> list[str]:
    """Problems with the `milestone_schedules` setting, each with its path (empty when valid or unset)."""
    schedules = clock.setting(settings, SETTING)
    if schedules is None:
        return []
    if not isinstance(schedules, list):
        return [f"settings.{SETTING}: must be a list of schedule definitions"]
    problems: list[str] = []
    names: dict[str, int] = {}
    for i, config in enumerate(schedules):
        where = f"settings.{SETTING}[{i}]"
        problems.extend(_build(config, where)[1])
        name = config.get("name") if isinstance(config, Mapping) else None
        if isinstance(name, str) and name.strip():
            if name in names:
                problems.append(f"{where}.name: duplicate schedule name {name!r} (also {SETTING}[{names[name]}])")
            else:
                names[name] = i
    return problems


def find_schedule(settings: Any, name: Any) -> Schedule | None:
    """The parsed schedule called `name` (exact match) from `milestone_schedules`; None when absent or invalid."""
    schedules = clock.setting(settings, SETTING)
    for i, config in enumerate(schedules if isinstance(schedules, list) else []):
        if isinstance(config, Mapping) and config.get("name") == name and isinstance(name, str):
            schedule, _ = _build(config, f"settings.{SETTING}[{i}]")
            return schedule
    return None


def message_config(schedule: Schedule, milestone_index: int) -> dict[str, Any]:
    """The alert message config of a milestone: `translation_key` or `message`, and `recipient`.

    The message source comes from the milestone when it names one, else from the schedule; the
    recipient likewise, independently. Keys without a value are left out.
    """
    milestone = schedule.milestones[milestone_index].config
    result: dict[str, Any] = {}
    source = milestone if any(milestone.get(k) is not None for k in ("translation_key", "message")) else schedule.config
    for key in ("translation_key", "message"):
        if source.get(key) is not None:
            result[key] = source[key]
    recipient = milestone.get("recipient", schedule.config.get("recipient"))
    if recipient is not None:
        result["recipient"] = recipient
    return result


def parse_preferred_time(value: Any) -> tuple[int, int] | None:
    """`"HH:MM"` → (hour, minute); None when absent or invalid (a fixed UTC offset is not allowed)."""
    parsed = parse_send_time(value)
    if parsed is None or parsed[2] is not None:
        return None
    return parsed[0], parsed[1]


# --- the arithmetic -------------------------------------------------------------------------------
def _aware(moment: datetime, what: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {moment!r}")
    return moment


def next_milestone(schedule: Schedule, milestone_index: int) -> int | None:
    """The index of the milestone after `milestone_index`, None after the last (fulfilling it completes the enrollment)."""
    return milestone_index + 1 if milestone_index + 1 < len(schedule.milestones) else None


def milestone_start(schedule: Schedule, milestone_index: int, reference: datetime, enrolled_on: datetime,
                    last_fulfilment: datetime | None, tz: tzinfo) -> datetime:
    """`Enrollment.getCurrentMilestoneStartDate`: where the milestone's windows count from.

    reference: the schedule start (MOTECH `startOfSchedule` = reference date + time, 00:00 when the
    report gives only a date); last_fulfilment: the last fulfilment's datetime, None if none.
    """
    _aware(reference, "reference")
    if schedule.absolute:
        start = reference.astimezone(tz)
        for milestone in schedule.milestones[:milestone_index]:
            start = plus(start, milestone.max_duration, tz)
        return start
    if milestone_index == 0:
        return reference.astimezone(tz)
    if last_fulfilment is not None:
        return _aware(last_fulfilment, "last_fulfilment").astimezone(tz)
    return _aware(enrolled_on, "enrolled_on").astimezone(tz)


def milestone_windows(schedule: Schedule, milestone_index: int, start: datetime, tz: tzinfo) -> list[Window]:
    """The four windows of a milestone whose start (see `milestone_start`) is `start`, in order."""
    milestone = schedule.milestones[milestone_index]
    begin = _aware(start, "start").astimezone(tz)
    return [Window(name, plus(begin, milestone.window_start(name), tz), plus(begin, milestone.window_end(name), tz))
            for name in WINDOW_NAMES]


def get_window(schedule: Schedule, milestone_index: int, start: datetime, name: str, tz: tzinfo) -> Window:
    """One window by name (case-insensitive)."""
    wanted = _window_name(name)
    if wanted is None:
        raise ValueError(f"unknown window name {name!r}")
    return milestone_windows(schedule, milestone_index, start, tz)[WINDOW_NAMES.index(wanted)]


def current_window(windows: Iterable[Window], moment: datetime) -> Window | None:
    """`Enrollment.getCurrentWindowAsOf`: the window containing `moment`, None before or after all of them."""
    for candidate in windows:
        if candidate.contains(moment):
            return candidate
    return None


def default_time(schedule: Schedule, milestone_index: int, start: datetime, tz: tzinfo) -> datetime:
    """When the milestone defaults: start + max duration (the end of its last non-empty window)."""
    return plus(_aware(start, "start"), schedule.milestones[milestone_index].max_duration, tz)


def defaulted(schedule: Schedule, milestone_index: int, start: datetime, now: datetime, tz: tzinfo) -> bool:
    """`Schedule.hasExpiredSince`: whether an enrollment made at `now` starts DEFAULTED (default time strictly before now)."""
    return default_time(schedule, milestone_index, start, tz) < _aware(now, "now")


def _to_preferred(moment: datetime, preferred: tuple[int, int] | None, tz: tzinfo) -> datetime:
    if preferred is None:
        return moment
    local = moment.astimezone(tz)
    return clock.localize(datetime(local.year, local.month, local.day, preferred[0], preferred[1]), tz)


def _midnight(moment: datetime, tz: tzinfo) -> datetime:
    local = moment.astimezone(tz)
    return clock.localize(datetime(local.year, local.month, local.day), tz)


def _preferred(preferred_time: Any) -> tuple[int, int] | None:
    if preferred_time is None or preferred_time == "":
        return None
    if isinstance(preferred_time, tuple):
        return preferred_time
    parsed = parse_preferred_time(preferred_time)
    if parsed is None:
        raise ValueError(f"preferred_time must be \"HH:MM\", got {preferred_time!r}")
    return parsed


def _series(alert: AlertDef, win: Window, enrolled_on: datetime, now: datetime,
            preferred: tuple[int, int] | None, tz: tzinfo) -> tuple[list[datetime], datetime]:
    """AlertWindow: (all possible timings, floated but unclipped; the earliest valid time)."""
    first = _to_preferred(plus(win.start, alert.offset, tz), preferred, tz)
    timings: list[datetime] = []
    for k in range(alert.count):
        timings.append(first if k == 0 else plus(timings[-1], alert.interval, tz))
    earliest_valid = now if enrolled_on <= now else enrolled_on
    if alert.floating and earliest_valid > first and timings:
        local_first = first.astimezone(tz)
        day: date = earliest_valid.astimezone(tz).date()
        float_start = clock.localize(datetime.combine(day, time(local_first.hour, local_first.minute)), tz)
        shift = between(first, float_start, tz)
        if preferred is not None and plus(first, shift, tz) < now:
            shift = shift + Period(days=1)
        timings = [plus(t, shift, tz) for t in timings]
    return timings, earliest_valid


def alert_times(schedule: Schedule, milestone_index: int, start: datetime, enrolled_on: datetime, now: datetime,
                preferred_time: Any, tz: tzinfo) -> list[Alert]:
    """The alerts to schedule for a milestone whose start (see `milestone_start`) is `start`, planned at `now`.

    preferred_time: "HH:MM" (in `tz`), an (hour, minute) tuple, or None. Sorted by due time. An alert
    whose time is already past at `now` (MOTECH's immediate event) has `due = now`, `immediate=True`.
    """
    _aware(enrolled_on, "enrolled_on")
    _aware(now, "now")
    preferred = _preferred(preferred_time)
    milestone = schedule.milestones[milestone_index]
    windows = {w.name: w for w in milestone_windows(schedule, milestone_index, start, tz)}
    cutoff = plus(enrolled_on, schedule.total_duration, tz) if schedule.total_duration is not None else None
    now_local = now.astimezone(tz)
    result: list[Alert] = []
    for alert in milestone.alerts:
        win = windows[alert.window]
        if not now < win.end:  # Milestone.windowElapsed: skipped
            continue
        timings, earliest_valid = _series(alert, win, enrolled_on, now, preferred, tz)
        threshold = _midnight(earliest_valid, tz) if alert.floating and preferred is None else earliest_valid
        kept = [(k, t) for k, t in enumerate(timings) if t < win.end and t >= threshold]
        past_seen = False
        for k, at in kept:
            immediate = at < now
            if immediate:
                if past_seen:
                    continue  # only one immediate alert per series (see the module docstring)
                past_seen = True
            due = now_local if immediate else at
            if cutoff is not None and not due < cutoff:
                continue
            result.append(Alert(due=due, window=alert.window, milestone=milestone.name, index=alert.index,
                                number=k, at=at, immediate=immediate))
    result.sort(key=lambda a: (a.due, a.index, a.number))
    return result


def possible_alert_times(schedule: Schedule, milestone_index: int, start: datetime, enrolled_on: datetime,
                         now: datetime, preferred_time: Any, tz: tzinfo) -> dict[str, list[datetime]]:
    """MOTECH's preview (`getAlertTimings`): per window, every alert timing, floated but not clipped to the
    window end nor filtered by now. Use `alert_times` for what is actually sent."""
    preferred = _preferred(preferred_time)
    milestone = schedule.milestones[milestone_index]
    windows = {w.name: w for w in milestone_windows(schedule, milestone_index, start, tz)}
    result: dict[str, list[datetime]] = {name: [] for name in WINDOW_NAMES}
    for alert in milestone.alerts:
        result[alert.window].extend(_series(alert, windows[alert.window], enrolled_on, now, preferred, tz)[0])
    return result


__all__ = [
    "Alert",
    "AlertDef",
    "MilestoneDef",
    "Period",
    "Schedule",
    "ScheduleError",
    "WINDOW_NAMES",
    "Window",
    "ZERO",
    "alert_times",
    "between",
    "current_window",
    "default_time",
    "defaulted",
    "find_schedule",
    "get_window",
    "message_config",
    "milestone_start",
    "milestone_windows",
    "next_milestone",
    "parse_preferred_time",
    "parse_schedule",
    "parse_time_value",
    "plus",
    "possible_alert_times",
    "schedule_problems",
]
