"""JavaScript values for the pupil port (`sentinel/rules/validation.py`: CHT's pupil validation rules, as
CHT 4.15+ shared-libs/validation/src runs them).

`undefined`, truthiness, String(), ToNumber, parseFloat/parseInt, `==`/`===`, relational comparisons,
`.length` and `.toLowerCase()` with JavaScript's semantics, and `_Crash`, the JavaScript exception that
makes CHT drop every result for one error.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Callable, Mapping

from sentinel.core.docs import js_number_string, js_truthy


class _Undefined:
    """JavaScript `undefined` (a missing key), distinct from null (None)."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED = _Undefined()
_JS_SPACE = (  # JavaScript's \s: what trim() removes and the rule reader skips
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_DECIMAL = r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
_PARSE_FLOAT = re.compile(_DECIMAL)
_STRING_NUMBER = re.compile(rf"{_DECIMAL}|0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+")
_PARSE_INT = re.compile(r"[+-]?[0-9]+")


class _Crash(Exception):
    """A JavaScript exception inside CHT's validate: every result is dropped for one error."""

    def __init__(self, payload: Mapping[str, Any] | None = None):
        super().__init__(payload)
        self.json = json.dumps(payload or {}, separators=(",", ":"), ensure_ascii=False)


def _truthy(value: Any) -> bool:
    """JavaScript truthiness, `undefined` included."""
    return value is not UNDEFINED and js_truthy(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _js_string(value: Any) -> str:
    """JavaScript's String(value)."""
    if isinstance(value, str):
        return value
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_number(value):
        return js_number_string(value)
    if isinstance(value, list):
        return ",".join("" if v is None or v is UNDEFINED else _js_string(v) for v in value)
    return "[object Object]"


def _js_key(value: Any) -> str:
    return _js_string(value)


def _get(values: Mapping[str, Any], key: Any) -> Any:
    return values.get(_js_key(key), UNDEFINED)


def _to_primitive(value: Any) -> Any:
    return _js_string(value) if isinstance(value, (list, dict)) else value


def _to_number(value: Any) -> float:
    """JavaScript's ToNumber."""
    if value is UNDEFINED:
        return math.nan
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if _is_number(value):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        text = value.strip(_JS_SPACE)
        if not text:
            return 0.0
        if not _STRING_NUMBER.fullmatch(text):
            return math.nan
        if text[:2].lower() in ("0x", "0o", "0b"):
            return float(int(text, 0))
        return float(text.replace("Infinity", "inf"))
    return _to_number(_to_primitive(value))


def _parse_float(value: Any) -> float:
    match = _PARSE_FLOAT.match(_js_string(value).lstrip(_JS_SPACE))
    return float(match.group().replace("Infinity", "inf")) if match else math.nan


def _parse_int(value: Any) -> float:
    match = _PARSE_INT.match(_js_string(value).lstrip(_JS_SPACE))
    return float(int(match.group())) if match else math.nan


def _loose_equal(a: Any, b: Any) -> bool:
    """JavaScript's `a == b`."""
    if a is None or a is UNDEFINED or b is None or b is UNDEFINED:
        return (a is None or a is UNDEFINED) and (b is None or b is UNDEFINED)
    if isinstance(a, bool):
        return _loose_equal(1 if a else 0, b)
    if isinstance(b, bool):
        return _loose_equal(a, 1 if b else 0)
    a_object, b_object = isinstance(a, (list, dict)), isinstance(b, (list, dict))
    if a_object and b_object:
        return a is b
    if a_object or b_object:
        return _loose_equal(_to_primitive(a), _to_primitive(b))
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return _to_number(a) == _to_number(b)


def _strict_equal(a: Any, b: Any) -> bool:
    """JavaScript's `a === b`."""
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return a is b
    return type(a) is type(b) and a == b


def _compare(a: Any, b: Any) -> tuple[Any, Any] | None:
    """Operands of a JavaScript relational comparison, or None when it is false whatever the operator."""
    a, b = _to_primitive(a), _to_primitive(b)
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    x, y = _to_number(a), _to_number(b)
    return None if math.isnan(x) or math.isnan(y) else (x, y)


def _ge(a: Any, b: Any) -> bool:
    pair = _compare(a, b)
    return pair is not None and pair[0] >= pair[1]


def _le(a: Any, b: Any) -> bool:
    pair = _compare(a, b)
    return pair is not None and pair[0] <= pair[1]


def _utf16_length(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _length(value: Any) -> Any:
    """`value.length`: UNDEFINED when it has none; a TypeError on null/undefined."""
    if value is None or value is UNDEFINED:
        raise _Crash()
    if isinstance(value, str):
        return _utf16_length(value)
    if isinstance(value, list):
        return len(value)
    return UNDEFINED


def _lower(value: Any) -> str:
    """`value.toLowerCase()`, a TypeError for anything but a string."""
    if not isinstance(value, str):
        raise _Crash()
    return value.lower()


# What a rule is evaluated against; shared by the functions and the date helpers (so neither
# module needs the other to name it).
Query = Callable[[str, list], list]


@dataclass
class _Context:
    values: dict[str, Any]
    now: datetime
    tz: tzinfo
    query: Query
    phone_is_valid: Callable[[str], bool]
