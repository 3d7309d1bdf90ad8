"""Evaluating a rule, for the pupil port (`sentinel/rules/validation.py`: CHT's pupil validation rules, as
CHT 4.15+ shared-libs/validation/src runs them).

`_evaluate` runs a parsed rule (left to right, no precedence) over a `_Context`; the `_f_*` rule functions
(CHT 4.15 validator_functions + validation_utils), their table `_FUNCTIONS`, the configuration check of
one call (`_call_problems`), and the queries of other reports (unique, uniqueWithin, exists, uniquePhone).
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable, Sequence

from sentinel.rules.pupil_dates import _add, _compare_date, _duration_problem, _iso_weeks_in_year, _parse_duration
from sentinel.rules.pupil_parser import _Call, _Seq, _Ternary
from sentinel.rules.pupil_regex import JSRegexError, _js_regex
from sentinel.core.docs import js_number_string
from sentinel.rules.pupil_values import (
    UNDEFINED,
    Query,
    _Context,
    _Crash,
    _ge,
    _get,
    _is_number,
    _js_key,
    _js_string,
    _le,
    _length,
    _loose_equal,
    _lower,
    _parse_float,
    _parse_int,
    _strict_equal,
    _to_number,
    _truthy,
    _utf16_length,
)

REPORTS_VIEW = "reports_by_field"
PHONES_VIEW = "lookups"
MAX_INDEXED_LENGTH = 200  # as ddocs/sentinel/views/reports_by_field/map.js
INDEX_SKIPPED = ("_id", "_rev", "type", "refid", "content")  # and names ending in _date

def _evaluate(node: Any, ctx: _Context, key: str, needed: bool) -> bool:
    """pupil's validator: left to right, no precedence. `needed` False: the result cannot matter."""
    if isinstance(node, _Seq):
        result = True
        for operator, negated, operand in node.items:
            operand_needed = needed and (not result if operator == "||" else result)
            value = _evaluate(operand, ctx, key, operand_needed)
            if negated:
                value = not value
            result = (result or value) if operator == "||" else (result and value)
        return result
    if isinstance(node, _Ternary):
        branch = node.then if _evaluate(node.condition, ctx, key, needed) else node.otherwise
        return True if branch is None else _evaluate(branch, ctx, key, needed)
    name = node.name.lower()
    args = list(node.args)
    if name.startswith("other"):
        name = name[5:]
        value = _get(ctx.values, args.pop(0) if args else UNDEFINED)
    else:
        value = ctx.values.get(key, UNDEFINED)
    function = _FUNCTIONS.get(name)
    if function is None:
        return True  # pupil: an unknown function is valid
    if name in _DATABASE_FUNCTIONS and not needed:
        return True
    return bool(function(ctx, value, *args))


def _f_equals(ctx: _Context, value: Any, other: Any = UNDEFINED, *_: Any) -> bool:
    return _loose_equal(value, other)


def _f_sequals(ctx: _Context, value: Any, other: Any = UNDEFINED, *_: Any) -> bool:
    return _strict_equal(value, other)


def _f_iequals(ctx: _Context, value: Any, other: Any = UNDEFINED, *_: Any) -> bool:
    return _lower(value) == _lower(other)


def _f_lenmin(ctx: _Context, value: Any, minimum: Any = UNDEFINED, *_: Any) -> bool:
    return _ge(_length(value), minimum)


def _f_lenmax(ctx: _Context, value: Any, maximum: Any = UNDEFINED, *_: Any) -> bool:
    return _le(_length(value), maximum)


def _f_lenequals(ctx: _Context, value: Any, length: Any = UNDEFINED, *_: Any) -> bool:
    if value is None or value is UNDEFINED:
        raise _Crash()  # value.toString()
    return _loose_equal(_utf16_length(_js_string(value)), _parse_int(length))


def _f_min(ctx: _Context, value: Any, minimum: Any = UNDEFINED, *_: Any) -> bool:
    return _ge(_parse_float(value), minimum)


def _f_max(ctx: _Context, value: Any, maximum: Any = UNDEFINED, *_: Any) -> bool:
    return _le(_parse_float(value), maximum)


def _f_between(ctx: _Context, value: Any, minimum: Any = UNDEFINED, maximum: Any = UNDEFINED, *_: Any) -> bool:
    number = _parse_float(value)
    return _ge(number, minimum) and _le(number, maximum)


def _f_in(ctx: _Context, value: Any, *options: Any) -> bool:
    return any(_loose_equal(option, value) for option in options)


def _f_required(ctx: _Context, value: Any, *_: Any) -> bool:
    return _truthy(value)


def _f_optional(ctx: _Context, value: Any, *_: Any) -> bool:
    return True


def _f_numeric(ctx: _Context, value: Any, *_: Any) -> bool:
    return not math.isnan(_parse_float(value)) and math.isfinite(_to_number(value))


_ALPHA = re.compile(r"[a-zA-Z]+")
_ALPHANUMERIC = re.compile(r"[a-zA-Z0-9]+")
_EMAIL = re.compile(r"[A-Z0-9._%+-]+@[A-Z0-9.-]+\.[A-Z]{2,4}", re.IGNORECASE | re.ASCII)


def _f_alpha(ctx: _Context, value: Any, *_: Any) -> bool:
    return _ALPHA.fullmatch(_js_string(value)) is not None


def _f_alphanumeric(ctx: _Context, value: Any, *_: Any) -> bool:
    return _ALPHANUMERIC.fullmatch(_js_string(value)) is not None


def _f_email(ctx: _Context, value: Any, *_: Any) -> bool:
    return _EMAIL.fullmatch(_js_string(value)) is not None


def _f_regex(ctx: _Context, value: Any, pattern: Any = UNDEFINED, flags: Any = UNDEFINED, *_: Any) -> bool:
    source = "(?:)" if pattern is UNDEFINED else _js_string(pattern)
    try:
        compiled, sticky = _js_regex(source, _js_string(flags) if _truthy(flags) else "")
    except JSRegexError:
        raise _Crash() from None  # new RegExp throws a SyntaxError
    text = _js_string(value)
    return (compiled.match(text) if sticky else compiled.search(text)) is not None


def _f_integer(ctx: _Context, value: Any, *_: Any) -> bool:
    return _loose_equal(_parse_int(value), value)


def _f_equalsto(ctx: _Context, value: Any, other_key: Any = UNDEFINED, *_: Any) -> bool:
    return _loose_equal(value, _get(ctx.values, other_key))


def _f_exists(ctx: _Context, value: Any, form: Any = UNDEFINED, field: Any = UNDEFINED, *_: Any) -> bool:
    if form is UNDEFINED or field is UNDEFINED:
        return False  # CHT: a TypeError caught by the function, which then returns undefined
    return _reports_exist(ctx, [field], form=_index_key("form", _js_string(form)))


def _f_unique(ctx: _Context, value: Any, *fields: Any) -> bool:
    return bool(fields) and not _reports_exist(ctx, list(fields))


def _f_uniquewithin(ctx: _Context, value: Any, *args: Any) -> bool:
    if len(args) < 2:
        return False  # no fields: CHT's exists() rejects, caught, undefined
    try:
        return not _reports_exist(ctx, list(args[:-1]), within=args[-1])
    except _NoStartDate:
        return False


def _f_isafter(ctx: _Context, value: Any, duration: Any = UNDEFINED, *_: Any) -> bool:
    return _compare_date(ctx, value, duration, after=True)


def _f_isbefore(ctx: _Context, value: Any, duration: Any = UNDEFINED, *_: Any) -> bool:
    return _compare_date(ctx, value, duration, after=False)


def _f_isisoweek(ctx: _Context, value: Any, week_field: Any = UNDEFINED, year_field: Any = UNDEFINED, *_: Any) -> bool:
    values = ctx.values
    if _js_key(week_field) not in values or (_truthy(year_field) and _js_key(year_field) not in values):
        return False
    year = _get(values, year_field) if _truthy(year_field) else ctx.now.astimezone(ctx.tz).year
    week = _get(values, week_field)
    if not re.fullmatch(r"[0-9]{1,2}", _js_string(week)) or not re.fullmatch(r"[0-9]{4}", _js_string(year)):
        return False
    return _ge(week, 1) and _le(week, _iso_weeks_in_year(int(_to_number(year))))


def _f_validphone(ctx: _Context, value: Any, field: Any = UNDEFINED, *_: Any) -> bool:
    phone = _get(ctx.values, field)
    if _is_number(phone):
        phone = _js_string(phone)
    return isinstance(phone, str) and phone != "" and bool(ctx.phone_is_valid(phone))


def _f_uniquephone(ctx: _Context, value: Any, field: Any = UNDEFINED, *_: Any) -> bool:
    phone = _get(ctx.values, field)
    if _is_number(phone):
        phone = _js_string(phone)
    if not isinstance(phone, str) or phone == "":
        return True
    return not ctx.query(PHONES_VIEW, [["phone", phone]])


_FUNCTIONS: dict[str, Callable[..., bool]] = {
    "equals": _f_equals,
    "iequals": _f_iequals,
    "sequals": _f_sequals,
    "siequals": _f_iequals,  # both sides are strings, so === and == agree
    "lenmin": _f_lenmin,
    "lenmax": _f_lenmax,
    "lenequals": _f_lenequals,
    "min": _f_min,
    "max": _f_max,
    "between": _f_between,
    "in": _f_in,
    "required": _f_required,
    "optional": _f_optional,
    "numeric": _f_numeric,
    "alpha": _f_alpha,
    "alphanumeric": _f_alphanumeric,
    "email": _f_email,
    "regex": _f_regex,
    "integer": _f_integer,
    "equalsto": _f_equalsto,
    "exists": _f_exists,
    "unique": _f_unique,
    "uniquewithin": _f_uniquewithin,
    "isafter": _f_isafter,
    "isbefore": _f_isbefore,
    "isisoweek": _f_isisoweek,
    "validphone": _f_validphone,
    "uniquephone": _f_uniquephone,
}
_DATABASE_FUNCTIONS = {"exists", "unique", "uniquewithin", "uniquephone"}
_MIN_ARGS = {
    "equals": 1, "iequals": 1, "sequals": 1, "siequals": 1, "lenmin": 1, "lenmax": 1, "lenequals": 1,
    "min": 1, "max": 1, "between": 2, "in": 1, "regex": 1, "equalsto": 1, "exists": 2, "unique": 1,
    "uniquewithin": 2, "isafter": 1, "isbefore": 1, "isisoweek": 1, "validphone": 1, "uniquephone": 1,
}
FUNCTION_NAMES = (
    "equals iequals sequals siequals lenMin lenMax lenEquals min max between in required optional numeric "
    "alpha alphanumeric email regex integer equalsTo exists unique uniqueWithin isAfter isBefore isISOWeek "
    "validPhone uniquePhone"
).split()


def _call_problems(call: _Call) -> list[str]:
    name = call.name.lower()
    args = list(call.args)
    if name.startswith("other"):
        if not args:
            return [f"{call.name}() needs the name of the other field first"]
        name, args = name[5:], args[1:]
    if name not in _FUNCTIONS:
        return [f"unknown function '{call.name}' (CHT treats it as always valid)"]
    needed = _MIN_ARGS.get(name, 0)
    if len(args) < needed:
        return [f"{call.name} needs {needed} argument{'s' if needed > 1 else ''}, not {len(args)}"]
    problems = []
    if name in ("iequals", "siequals") and not isinstance(args[0], str):
        problems.append(f"{call.name} needs a quoted string argument")
    if name == "regex":
        flags = args[1] if len(args) > 1 and _truthy(args[1]) else ""
        try:
            _js_regex(_js_string(args[0]), _js_string(flags))
        except JSRegexError as error:
            problems.append(f"invalid regular expression /{_js_string(args[0])}/{_js_string(flags)}: {error}")
    for duration in ([args[0]] if name in ("isafter", "isbefore") else [args[-1]] if name == "uniquewithin" else []):
        problem = _duration_problem(duration)
        if problem:
            problems.append(f"{call.name}: {problem}")
    return problems


# --- other reports ----------------------------------------------------------------------------------


class _NoStartDate(Exception):
    """uniqueWithin with a duration that is not a string: CHT's duration.split throws, caught, undefined."""


_NO_LIMIT = object()


def _index_key(field: str, value: Any) -> list[str] | None:
    """The `reports_by_field` key of a field's value, None when no report can have it in the index."""
    name = field.lower()
    if not name or name in INDEX_SKIPPED or name.endswith("_date"):
        return None
    if isinstance(value, str):
        text = value.lower()
    elif _is_number(value) and value == value and value != 0:
        text = js_number_string(value).lower()
    else:
        return None  # '', 0, booleans, null, absent, objects: CHT's index has no such entry
    return [name, text] if 0 < len(text) <= MAX_INDEXED_LENGTH else None


def _reports_exist(ctx: _Context, fields: Sequence[Any], form: Any = _NO_LIMIT, within: Any = _NO_LIMIT) -> bool:
    """CHT validation_utils.exists: another report, without errors, with every field's value (and the form)."""
    keys: list[list[str]] = []
    for field in fields:
        key = _index_key(_js_key(field), _get(ctx.values, field))
        if key is None:
            return False
        keys.append(key)
    if form is not _NO_LIMIT:
        if form is None:
            return False
        keys.append(form)
    unique_keys = [list(k) for k in dict.fromkeys(tuple(k) for k in keys)]
    rows = ctx.query(REPORTS_VIEW, unique_keys)
    found: dict[tuple[str, ...], dict[str, Any]] = {tuple(k): {} for k in unique_keys}
    for row in rows:
        key = tuple(row.get("key") or ())
        if key in found and isinstance(row.get("id"), str):
            found[key][row["id"]] = row.get("value") or {}
    candidates = set.intersection(*(set(ids) for ids in found.values()))
    candidates.discard(ctx.values.get("_id"))
    if not candidates:
        return False
    start = _start_date(ctx, within)
    values = found[tuple(unique_keys[0])]
    for doc_id in candidates:
        value = values[doc_id]
        if value.get("has_errors"):
            continue
        reported = value.get("reported_date")
        if start is None or (_is_number(reported) and reported >= start):
            return True
    return False


def _start_date(ctx: _Context, within: Any) -> float | None:
    """CHT parseStartDate: epoch ms of now minus the duration; None: no limit."""
    if within is _NO_LIMIT or not _truthy(within):
        return None
    if not isinstance(within, str):
        raise _NoStartDate()
    duration = _parse_duration(within)
    if duration is None:
        return None  # moment().subtract(invalid) is NaN, and `!NaN` means no limit
    start = _add(ctx.now.astimezone(ctx.tz), duration, -1)
    return None if start is None else start.timestamp() * 1000
