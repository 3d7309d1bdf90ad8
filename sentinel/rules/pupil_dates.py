"""Dates and durations (moment) for the pupil port (`sentinel/rules/validation.py`: CHT's pupil validation
rules, as CHT 4.15+ shared-libs/validation/src runs them).

moment's durations (`parseInt(n) + ' ' + unit`), add/subtract, parsing of a date value, and the day
comparison of isAfter/isBefore.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from sentinel.rules.pupil_values import UNDEFINED, _Context, _is_number, _js_string, _parse_int


_DURATION_UNITS = {
    "year": "year", "years": "year", "y": "year",
    "quarter": "quarter", "quarters": "quarter", "Q": "quarter",
    "month": "month", "months": "month", "M": "month",
    "week": "week", "weeks": "week", "w": "week",
    "day": "day", "days": "day", "d": "day",
    "hour": "hour", "hours": "hour", "h": "hour",
    "minute": "minute", "minutes": "minute", "m": "minute",
    "second": "second", "seconds": "second", "s": "second",
    "millisecond": "millisecond", "milliseconds": "millisecond", "ms": "millisecond",
}
_OTHER_MOMENT_UNITS = {  # units moment knows that are not durations: the duration is invalid
    "date", "dates", "D", "isoweek", "isoweeks", "W", "weekday", "weekdays", "e", "isoweekday",
    "isoweekdays", "E", "dayofyear", "dayofyears", "DDD", "weekyear", "weekyears", "gg", "isoweekyear",
    "isoweekyears", "GG",
}
_UNIT_MS = {"hour": 3_600_000, "minute": 60_000, "second": 1000, "millisecond": 1}


@dataclass(frozen=True)
class _Duration:
    months: int
    days: int
    milliseconds: int


def _unit(text: str) -> str | None:
    """moment's normalizeUnits (exact alias, then lower-cased): a duration unit, 'other', or None."""
    for candidate in (text, text.lower()):
        if candidate in _DURATION_UNITS:
            return _DURATION_UNITS[candidate]
        if candidate in _OTHER_MOMENT_UNITS:
            return "other"
    return None


def _parse_duration(text: str) -> _Duration | None:
    """CHT parseDuration: moment.duration(parseInt(parts[0]), parts[1]); None when moment finds it invalid."""
    parts = text.split(" ")
    count = _parse_int(parts[0])
    unit_text = parts[1] if len(parts) > 1 else ""
    if not unit_text:
        return None if math.isnan(count) else _Duration(0, 0, int(count))
    unit = _unit(unit_text)
    if unit is None:
        return _Duration(0, 0, 0)  # an unknown unit is dropped: a valid, zero duration
    if unit == "other" or math.isnan(count):
        return None
    n = int(count)
    if unit in ("year", "quarter", "month"):
        return _Duration(n * {"year": 12, "quarter": 3, "month": 1}[unit], 0, 0)
    if unit in ("week", "day"):
        return _Duration(0, n * (7 if unit == "week" else 1), 0)
    return _Duration(0, 0, n * _UNIT_MS[unit])


def _duration_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"the duration must be quoted, like '2 weeks', not {_js_string(value)}"
    parts = value.split(" ")
    unit = _unit(parts[1]) if len(parts) > 1 and parts[1] else None
    if math.isnan(_parse_int(parts[0])) or unit in (None, "other"):
        return f"'{value}' is not a duration like '2 weeks' (a number, one space, a unit)"
    return None


def _add(moment: datetime, duration: _Duration, sign: int) -> datetime | None:
    """moment's add/subtract: months (day clamped), then calendar days, then elapsed milliseconds."""
    try:
        if duration.months:
            total = moment.year * 12 + moment.month - 1 + sign * duration.months
            year, month = divmod(total, 12)
            month += 1
            last_day = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
            moment = moment.replace(year=year, month=month, day=min(moment.day, last_day))
        if duration.days:
            moment = moment + timedelta(days=sign * duration.days)  # wall-clock: keeps the time of day
        if duration.milliseconds:
            elapsed = timedelta(milliseconds=sign * duration.milliseconds)
            moment = (moment.astimezone(timezone.utc) + elapsed).astimezone(moment.tzinfo)
        return moment
    except (ValueError, OverflowError):
        return None


_ISO_YEAR_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


def _moment(value: Any, ctx: _Context) -> datetime | None:
    """moment(value) in `tz`: now for undefined, epoch ms, ISO 8601 or RFC 2822; None when invalid."""
    try:
        if value is UNDEFINED:
            return ctx.now.astimezone(ctx.tz)
        if _is_number(value):
            return datetime.fromtimestamp(value / 1000, ctx.tz) if math.isfinite(value) else None
        if not isinstance(value, str):
            return None
        text = value.strip()
        match = _ISO_YEAR_MONTH.fullmatch(text)
        if match:
            parsed = datetime(int(match[1]), int(match[2]), 1)
        elif re.match(r"[0-9]{4}", text) and text.isascii():
            parsed = datetime.fromisoformat(text.replace(",", "."))
        else:
            parsed = parsedate_to_datetime(text)
        if parsed is None:
            return None
        return parsed.replace(tzinfo=ctx.tz) if parsed.tzinfo is None else parsed.astimezone(ctx.tz)
    except (ValueError, OverflowError, OSError, TypeError, IndexError):
        return None


def _compare_date(ctx: _Context, value: Any, duration: Any, after: bool) -> bool:
    """CHT compareDate: the value's day against the day of reported_date ± duration, in `tz`."""
    if not isinstance(duration, str):
        return False
    parsed = _parse_duration(duration)
    tested = _moment(value, ctx)
    reported = _moment(ctx.values.get("reported_date", UNDEFINED), ctx)
    if parsed is None or tested is None or reported is None:
        return False
    control = _add(reported, parsed, 1 if after else -1)
    if control is None:
        return False
    tested_day, control_day = tested.astimezone(ctx.tz).date(), control.astimezone(ctx.tz).date()
    return tested_day >= control_day if after else tested_day <= control_day


def _iso_weeks_in_year(year: int) -> int:
    """moment().year(year).isoWeeksInYear(): 53 or 52 (ISO weeks repeat every 400 years)."""
    year = year % 400 or 400
    return date(year, 12, 28).isocalendar()[1]
