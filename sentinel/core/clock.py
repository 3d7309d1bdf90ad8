"""Time for transitions and jobs: the settings' time zone, `synthetic_date`, durations, the send window.

Every transition and job that needs "now", a day boundary, a duration or the send window asks here,
so the rules live in one place:

- **Time zone.** The `timezone` setting (an IANA name such as "Africa/Nairobi"; default "UTC") is the
  zone of a `send_time` without offset, of the send window, of day boundaries, of `synthetic_date`
  and of a date without zone read from a document. The process time zone is never used: CHT uses the
  Sentinel container's local time for all of these (spec 8.9); with `timezone` unset we behave like
  CHT run in UTC, which is how CHT is deployed and tested.
- **synthetic_date** `YYYYMMDD[HH[MM]]`, read in the settings zone, hours defaulting to 12 and
  minutes to 0 (CHT date.js: "default hours to noon so catches send window"). Like CHT's
  `date.getDate()`, which is what assignSchedule, the send window and dueTasks read, the synthetic
  clock is *frozen*: it does not tick from the synthetic start. (CHT's `getTimestamp()` does tick,
  but nothing on the schedule path uses it.) CHT reads the setting once at start-up; we read it from
  the current settings, so a change applies on the next reload.
- **Durations** `"<n> <unit>"`: CHT's `getOffset`/`getDuration`; see `parse_duration`.
  Adding one follows moment: seconds, minutes and hours are elapsed time; days, weeks, months and
  years are calendar steps in the settings zone (the wall-clock time is kept across a DST change,
  and months clamp to the end of the month).
- **DST.** A wall-clock time that does not exist (a spring-forward gap) is moved forward by the size
  of the gap (dateutil's `resolve_imaginary`: 02:30 on a 1-hour gap becomes 03:30), which is also what
  a JavaScript `Date` does. An ambiguous wall-clock time (the fall-back overlap) takes its first
  occurrence (`fold=0`), as JavaScript does.

Pure functions: they read only their arguments (settings may be a `Settings` or a plain mapping).
"""
from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil.relativedelta import relativedelta
from dateutil.tz import resolve_imaginary

from sentinel.core.docs import utc_iso

UTC = timezone.utc
DEFAULT_TIMEZONE = "UTC"
DEFAULT_MAX_OVERDUE = "7 days"
SYNTHETIC_NOON = 12

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SYNTHETIC = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})?)?$")
_DURATION = re.compile(r"^(\d+)(?:\s+(second|minute|hour|day|week|month|year)s?)?$", re.IGNORECASE)
_NUMERIC = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_BASIC_DATE = re.compile(r"^\d{8}$")
# Zone names that exist on disk but would follow the host's configuration.
_HOST_ZONES = frozenset({"localtime", "posixrules"})


def setting(settings: Any, key: str) -> Any:
    """A settings value, `None` when absent or null (works for `Settings` and plain mappings)."""
    if settings is None:
        return None
    return settings.get(key)


# --- time zone ------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones()) - _HOST_ZONES


@lru_cache(maxsize=64)
def _zone_named(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _zone_problem(name: Any) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip():
        return f"must be an IANA time zone name such as \"Africa/Nairobi\", got {name!r}"
    if name not in _known_zones():
        return f"unknown time zone {name!r} (an IANA name such as \"Africa/Nairobi\" or \"UTC\" is expected)"
    try:
        _zone_named(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # listed but unreadable
        return f"time zone {name!r} cannot be loaded: {exc}"
    return None


def is_zone_name(name: Any) -> bool:
    """True for an IANA zone name this machine can load (what the settings check accepts)."""
    return isinstance(name, str) and _zone_problem(name) is None


def zone_named(name: str) -> ZoneInfo:
    """The zone of a name `is_zone_name` accepted."""
    return _zone_named(name)


def timezone_problems(settings: Any) -> list[str]:
    """Problems with the `timezone` setting, for the settings check (empty when valid or unset)."""
    problem = _zone_problem(setting(settings, "timezone"))
    return [f"settings.timezone: {problem}"] if problem else []


def zone(settings: Any) -> ZoneInfo:
    """The settings time zone (`timezone`, default UTC). Raises ValueError for a name the check rejects."""
    name = setting(settings, "timezone")
    if name is None:
        return _zone_named(DEFAULT_TIMEZONE)
    problem = _zone_problem(name)
    if problem:
        raise ValueError(f"settings.timezone: {problem}")
    return _zone_named(name)


def localize(naive: datetime, tz: tzinfo) -> datetime:
    """A wall-clock time in `tz`: first occurrence when ambiguous, moved past a DST gap when imaginary."""
    return resolve_imaginary(naive.replace(tzinfo=tz, fold=0))


def _require_aware(moment: datetime, what: str = "now") -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {moment!r}")
    return moment


# --- now ------------------------------------------------------------------------------------------
def synthetic_parts(value: Any) -> tuple[int, int, int, int, int] | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    match = _SYNTHETIC.match(value.strip())
    if not match:
        return None
    year, month, day, hours, minutes = match.groups()
    parts = (int(year), int(month), int(day), int(hours or SYNTHETIC_NOON), int(minutes or 0))
    try:
        datetime(*parts)
    except ValueError:
        return None
    return parts


def synthetic_now(settings: Any) -> datetime | None:
    """The frozen synthetic "now" from `synthetic_date`, or None when it is unset or invalid."""
    parts = synthetic_parts(setting(settings, "synthetic_date"))
    if parts is None:
        return None
    return localize(datetime(*parts), zone(settings))


def effective_now(settings: Any, real_now: datetime) -> datetime:
    """CHT's `date.getDate()`: the synthetic date when set (frozen, not ticking), else `real_now`.

    Idempotent: `effective_now(s, effective_now(s, t)) == effective_now(s, t)`, so helpers that take
    "now" may apply it again safely. `real_now` must be timezone-aware.
    """
    _require_aware(real_now, "real_now")
    synthetic = synthetic_now(settings)
    return synthetic if synthetic is not None else real_now


def start_of_day(moment: datetime, settings: Any) -> datetime:
    """Midnight of `moment`'s day in the settings zone (past a DST gap if midnight does not exist)."""
    tz = zone(settings)
    local = moment.astimezone(tz) if moment.tzinfo else localize(moment, tz)
    return localize(datetime(local.year, local.month, local.day), tz)


# --- durations ------------------------------------------------------------------------------------
class Duration(relativedelta):
    """A relativedelta that remembers which part is elapsed time, as a moment.js duration does.

    relativedelta folds 24 hours into a day, but moment adds `"24 hours"` as elapsed time and
    `"1 day"` as a calendar day, which differ across a DST change. `calendar` holds the years,
    months and days; `elapsed` the seconds, minutes and hours. The relativedelta fields are their
    sum, so a Duration compares equal to the plain relativedelta and works with `+` as usual.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.calendar = relativedelta(years=self.years, months=self.months, days=self.days)
        self.elapsed = timedelta(hours=self.hours, minutes=self.minutes, seconds=self.seconds, microseconds=self.microseconds)

    @classmethod
    def of(cls, calendar: relativedelta, elapsed: timedelta) -> "Duration":
        result = cls(
            years=calendar.years,
            months=calendar.months,
            days=calendar.days,
            microseconds=elapsed // timedelta(microseconds=1),
        )
        result.calendar = relativedelta(years=calendar.years, months=calendar.months, days=calendar.days)
        result.elapsed = elapsed
        return result

    def __neg__(self) -> "Duration":
        return Duration.of(-self.calendar, -self.elapsed)

    def __repr__(self) -> str:
        return f"Duration(calendar={self.calendar!r}, elapsed={self.elapsed!r})"


_ELAPSED_UNITS = ("second", "minute", "hour")


def parse_duration(text: Any) -> Duration | None:
    """`"<n> <unit>"` (second/minute/hour/day/week/month/year, singular or plural) → Duration (a relativedelta); None if invalid.

    Differences from CHT's `getOffset` (`/\\d+/` on the number, `(unit)s?` on the unit, both unanchored,
    split on a single space), on purpose:
    - `"0"` (no unit) and `"0 days"` are valid: a zero offset ("on the day of registration").
    - A bare non-zero number (`"5"`) is invalid, as in CHT: it is ambiguous (moment would read
      milliseconds, people mean days), so the settings check reports it rather than guessing.
    - The whole string must match: `"5x days"`, `"5 weekdays"`, `"-1 days"` and `"1.5 days"` are
      invalid (CHT would accept some and compute nonsense). Units are case-insensitive, and any run
      of whitespace separates number and unit (`"12  Weeks"` is valid; CHT would reject it).
    - Non-strings are invalid (CHT would crash on a number).
    """
    if not isinstance(text, str):
        return None
    match = _DURATION.match(text.strip())
    if not match:
        return None
    amount, unit = int(match.group(1)), match.group(2)
    if unit is None:
        return Duration() if amount == 0 else None
    unit = unit.lower()
    if unit in _ELAPSED_UNITS:
        return Duration.of(relativedelta(), timedelta(**{unit + "s": amount}))
    return Duration.of(relativedelta(**{unit + "s": amount}), timedelta(0))


def add_duration(moment: datetime, delta: relativedelta, settings: Any, tz: tzinfo | None = None) -> datetime:
    """`moment + delta` as moment.js adds a duration, in the settings zone.

    First the elapsed part (seconds, minutes, hours), then days (weeks are days), then months and
    years as calendar steps on the wall clock of the settings zone. For a plain relativedelta (which
    has folded 24 hours into a day) the days count as calendar days. The result is in the settings
    zone (or in `tz` when given: an appointment's own zone). Raises OverflowError or ValueError when
    the result is out of range.
    """
    tz = tz or zone(settings)
    local = _require_aware(moment, "moment").astimezone(tz)
    if isinstance(delta, Duration):
        calendar, elapsed = delta.calendar, delta.elapsed
    else:
        calendar = relativedelta(years=delta.years, months=delta.months, days=delta.days)
        elapsed = timedelta(hours=delta.hours, minutes=delta.minutes, seconds=delta.seconds, microseconds=delta.microseconds)
    if elapsed:
        local = (local.astimezone(UTC) + elapsed).astimezone(tz)
    if calendar.days:
        local = localize(local.replace(tzinfo=None) + timedelta(days=calendar.days), tz)
    if calendar.months or calendar.years:
        local = localize(local.replace(tzinfo=None) + relativedelta(years=calendar.years, months=calendar.months), tz)
    return local


def max_overdue(settings: Any) -> relativedelta:
    """How late a scheduled task may still be sent: `max_overdue` ("<n> <unit>" or a number of days; default 7 days)."""
    value = setting(settings, "max_overdue")
    parsed = _max_overdue(value)
    return parsed if parsed is not None else parse_duration(DEFAULT_MAX_OVERDUE)


def _max_overdue(value: Any) -> relativedelta | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return relativedelta(days=value) if value >= 0 else None
    return parse_duration(value)


def overdue_cutoff(settings: Any, now: datetime) -> datetime:
    """The earliest due time still sent at `now` (synthetic_date applied): now − max_overdue, inclusive."""
    return add_duration(effective_now(settings, now), -max_overdue(settings), settings)


# --- the send window ------------------------------------------------------------------------------
def _clock_number(value: Any, default: int) -> int:
    """JS `value || default` for an hour/minute setting; numeric strings count (moment accepts them)."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value or default
    if isinstance(value, float) and value.is_integer():
        return int(value) or default
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip()) or default
    return default


def send_window(settings: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """((morning hour, minute), (evening hour, minute)) as CHT reads them: evening hours 0 mean 23."""
    return (
        (_clock_number(setting(settings, "schedule_morning_hours"), 0), _clock_number(setting(settings, "schedule_morning_minutes"), 0)),
        (_clock_number(setting(settings, "schedule_evening_hours"), 23), _clock_number(setting(settings, "schedule_evening_minutes"), 0)),
    )


def in_send_window(settings: Any, now: datetime) -> bool:
    """CHT `sendable()`: morning ≤ now's HH:mm ≤ evening, in the settings zone, synthetic_date applied.

    Compared to the minute, both ends inclusive: with evening 18:00, 18:00:59 is inside, 18:01 is not.
    A morning later than the evening gives an empty window (as in CHT).
    """
    local = effective_now(settings, now).astimezone(zone(settings))
    morning, evening = send_window(settings)
    return morning <= (local.hour, local.minute) <= evening


# --- dates in documents ---------------------------------------------------------------------------
def to_iso(moment: datetime) -> str:
    """CHT's stored form `YYYY-MM-DDTHH:mm:ss.sssZ` (UTC, milliseconds); `moment` must be aware."""
    return utc_iso(_require_aware(moment, "moment"))


def parse_date(value: Any, settings: Any = None) -> datetime | None:
    """A date as found in a document → aware datetime, or None when it is not a date.

    - numbers (not booleans): epoch milliseconds (fractions truncated, as a JS Date does);
    - strings of digits: epoch milliseconds, except exactly 8 digits, which moment reads as the ISO
      basic date YYYYMMDD (so do we);
    - ISO 8601 strings (`2024-01-15`, `2024-01-15T09:30:00.000Z`, `2024-01-15 09:30+03:00`, ...);
    - `datetime`/`date` objects.
    Without a zone, a date or time is in the settings zone (UTC when `settings` is None).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _from_epoch_ms(value)
    if isinstance(value, datetime):
        return value if value.tzinfo and value.utcoffset() is not None else localize(value, _zone_or_utc(settings))
    if isinstance(value, date):
        return localize(datetime(value.year, value.month, value.day), _zone_or_utc(settings))
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if _NUMERIC.match(text) and not _BASIC_DATE.match(text):
        return _from_epoch_ms(float(text) if "." in text else int(text))
    try:
        parsed = datetime.fromisoformat(text[:-1] + "Z" if text.endswith("z") else text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return localize(parsed, _zone_or_utc(settings))
    return parsed


def _zone_or_utc(settings: Any) -> tzinfo:
    return UTC if settings is None else zone(settings)


def _from_epoch_ms(value: int | float) -> datetime | None:
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = int(value)  # toward zero, like JS TimeClip
    try:
        return _EPOCH + timedelta(milliseconds=value)
    except OverflowError:
        return None


# --- the settings check ---------------------------------------------------------------------------
def clock_problems(settings: Any) -> list[str]:
    """Every clock-related settings problem: `timezone` and `max_overdue` (an unreadable `synthetic_date` is
    a warning, `sentinel.core.settings_tolerance`).

    A superset of `timezone_problems`, for a settings check that wants all of them.
    """
    problems = timezone_problems(settings)
    value = setting(settings, "max_overdue")
    if value is not None and _max_overdue(value) is None:
        problems.append(f"settings.max_overdue: must be \"<n> <unit>\" (e.g. \"7 days\") or a number of days, got {value!r}")
    return problems


__all__ = [
    "UTC",
    "Duration",
    "add_duration",
    "clock_problems",
    "effective_now",
    "in_send_window",
    "localize",
    "max_overdue",
    "overdue_cutoff",
    "parse_date",
    "parse_duration",
    "send_window",
    "setting",
    "start_of_day",
    "synthetic_parts",
    "synthetic_now",
    "timezone_problems",
    "to_iso",
    "zone",
]
