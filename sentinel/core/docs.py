"""Small helpers about CouchDB/CHT documents, shared by the core and the transitions.

Pure functions: they read and write only their arguments.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

Doc = dict[str, Any]

HARDCODED_PLACE_TYPES = ("district_hospital", "health_center", "clinic")
HARDCODED_TYPES = (*HARDCODED_PLACE_TYPES, "person")


def clone(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars); several times faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def js_number_string(number: float | int) -> str:
    """JavaScript's String(number) (ECMAScript Number::toString): the shortest round-trip digits, as
    Python's repr finds them, written positionally from 1e-6 up to 1e21 and exponentially outside
    (`1e-7`, `1.5e+21`); integral floats without `.0`; NaN, Infinity and -0 as JavaScript writes them."""
    if isinstance(number, int) and abs(number) < 2**53:
        return str(number)
    number = float(number)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    _, digits, exponent = Decimal(repr(abs(number))).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    exponent += len(digits) - len(text)
    k, n = len(text), len(text) + exponent
    prefix = "-" if number < 0 else ""
    if k <= n <= 21:
        return prefix + text + "0" * (n - k)
    if 0 < n <= 21:
        return prefix + text[:n] + "." + text[n:]
    if -6 < n <= 0:
        return prefix + "0." + "0" * -n + text
    e = n - 1
    mantissa = text if k == 1 else text[0] + "." + text[1:]
    return f"{prefix}{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness, which CHT settings rely on: `{}` and `[]` are true, `0`, `""`, null are false."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def rev_generation(rev: Any) -> int | None:
    """The number before the dash of a revision (JS `parseInt(rev)`), or None."""
    if isinstance(rev, int) and not isinstance(rev, bool):
        return rev
    if not isinstance(rev, str):
        return None
    digits = ""
    for ch in rev.strip():
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else None


def get_id(item: Any) -> str | None:
    """The id of a lineage reference, which may be a string id or an object with `_id`."""
    if isinstance(item, str):
        return item or None
    if isinstance(item, dict):
        value = item.get("_id")
        return value if isinstance(value, str) and value else None
    return None


def is_report(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("type") == "data_record"


def fields_of(doc: Doc) -> dict[str, Any]:
    """`doc.fields` when it is an object, else an empty dict (malformed reports must not crash anyone)."""
    fields = doc.get("fields")
    return fields if isinstance(fields, dict) else {}


def patient_ref(doc: Doc) -> Any:
    """CHT's getPatientId: fields.patient_id || fields.patient_uuid || doc.patient_id."""
    fields = fields_of(doc)
    return fields.get("patient_id") or fields.get("patient_uuid") or doc.get("patient_id")


def place_ref(doc: Doc) -> Any:
    """CHT's getPlaceId: fields.place_id || doc.place_id."""
    return fields_of(doc).get("place_id") or doc.get("place_id")


def utc_iso(moment: datetime) -> str:
    """JS `toISOString()`: UTC with milliseconds and a Z."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def add_error(doc: Doc, error: dict[str, Any]) -> bool:
    """CHT's utils.addError: append `{code, message}` unless an error with that code is already there."""
    errors = doc.get("errors")
    if not isinstance(errors, list):
        errors = []
    code = error.get("code") or "invalid_report"
    if any(isinstance(e, dict) and e.get("code") == code for e in errors):
        return False
    errors.append({**error, "code": code})
    doc["errors"] = errors
    return True
