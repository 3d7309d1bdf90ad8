"""Message text: CHT's template context (message-utils `extendedTemplateContext`) and Mustache rendering.

Context (spec 6.1), earlier sources win and a source only fills keys still missing (lodash
`_.defaults`; a JSON `null` counts as set):

    {patient, place} < extras (next_msg, parent, week, ...) < extract(patient) (+ patient_name from
    its name) < extract(place) < extract(report) < extract(latest registration) < extract(latest
    place registration)

where `extract(x)` is `{clinic, health_center, district, parent: health_center, grandparent:
district}` (the ancestors of x found in its hydrated lineage, present only when found) < `x.fields` < x.

Rendering: Mustache (pystache) with HTML escaping off and parsed templates cached, `None` rendered as
nothing (CHT's mustache renders `null` as ""). Lambdas, each rendering its inner text first:
`{{#date}}` (`date_format`, default `DD-MMM-YYYY`), `{{#datetime}}` (`reported_date_format`, default
`DD-MMM-YYYY HH:mm:ss`), `{{#bikram_sambat_date}}` (the Nepali date in Devanagari, day month year),
`{{#local_phone}}` (without `+<default_country_code>`). A number is read as epoch ms, anything else as
a date string; dates are shown in the `timezone` setting's zone and the message's locale (month and
day names from CLDR through Babel). Formats are moment.js formats, translated to CLDR patterns.

Reads and writes: nothing (pure functions over hydrated documents).
"""
from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Any, Callable, Mapping

import nepali_datetime
import pystache
from babel.core import Locale, UnknownLocaleError
from babel.dates import format_datetime

from .docs import Doc

DEFAULT_DATE_FORMAT = "DD-MMM-YYYY"
DEFAULT_DATETIME_FORMAT = "DD-MMM-YYYY HH:mm:ss"

_renderer = pystache.Renderer(escape=lambda s: s, missing_tags="ignore")

# moment.js tokens -> CLDR (LDML) pattern letters; longest first so "MMMM" wins over "MM"
_MOMENT_TOKENS = [
    ("YYYY", "yyyy"), ("YY", "yy"), ("MMMM", "MMMM"), ("MMM", "MMM"), ("MM", "MM"), ("M", "M"),
    ("DDDD", "DDD"), ("DDD", "D"), ("Do", "d"), ("DD", "dd"), ("D", "d"), ("dddd", "EEEE"), ("ddd", "EEE"),
    ("dd", "EEEEEE"), ("d", "e"), ("HH", "HH"), ("H", "H"), ("hh", "hh"), ("h", "h"), ("mm", "mm"),
    ("m", "m"), ("ss", "ss"), ("s", "s"), ("SSS", "SSS"), ("A", "a"), ("a", "a"), ("ZZ", "xx"), ("Z", "xxx"),
    ("ww", "ww"), ("w", "w"), ("GGGG", "YYYY"), ("gggg", "YYYY"),
]
_MOMENT_PATTERN = re.compile(r"\[[^\]]*\]|" + "|".join(re.escape(t) for t, _ in _MOMENT_TOKENS) + r"|[A-Za-z]+|[^A-Za-z\[]+")
_TOKEN_MAP = dict(_MOMENT_TOKENS)


@lru_cache(maxsize=256)
def cldr_pattern(moment_format: str) -> str:
    """A moment.js format as a CLDR pattern (`DD-MMM-YYYY` -> `dd-MMM-yyyy`); unknown letters are literal."""
    out = []
    for token in _MOMENT_PATTERN.findall(moment_format):
        if token.startswith("["):
            out.append(_quote(token[1:-1]))
        elif token in _TOKEN_MAP:
            out.append(_TOKEN_MAP[token])
        else:
            out.append(_quote(token) if any(c.isalpha() or c == "'" for c in token) else token)
    return "".join(out)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'" if text else ""


@lru_cache(maxsize=64)
def babel_locale(code: str | None) -> Locale:
    """The CLDR locale for a CHT locale code (`en`, `fr`, `sw`, `ne`, `es-419`, ...), English if unknown."""
    try:
        return Locale.parse((code or "en").replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse("en")


def format_moment(moment: datetime, moment_format: str, locale: str | None) -> str:
    return format_datetime(moment, cldr_pattern(moment_format), locale=babel_locale(locale))


def bikram_sambat(moment: datetime) -> str:
    """The Nepali (Bikram Sambat) date in Devanagari, e.g. `१९ भदौ २०७७`."""
    return nepali_datetime.date.from_datetime_date(moment.date()).strftime("%D %N %K")


# --- context ---------------------------------------------------------------------------------------


def defaults(target: dict[str, Any], *sources: Mapping[str, Any] | None) -> dict[str, Any]:
    """lodash `_.defaults`: fill only the keys `target` does not have yet, earlier sources first."""
    for source in sources:
        for key, value in (source or {}).items():
            if key not in target:
                target[key] = value
    return target


Ancestors = Callable[[Doc], Mapping[str, Doc]]  # x -> {"clinic": ..., "health_center": ..., "district": ...}


def extract(x: Any, ancestors: Ancestors) -> dict[str, Any]:
    if not isinstance(x, dict):
        return {}
    found = ancestors(x)
    base = {
        "clinic": found.get("clinic"),
        "health_center": found.get("health_center"),
        "district": found.get("district"),
        "parent": found.get("health_center"),
        "grandparent": found.get("district"),
    }
    fields = x.get("fields") if isinstance(x.get("fields"), dict) else {}
    return defaults({k: v for k, v in base.items() if v is not None}, fields, x)


def build_context(
    doc: Doc,
    ancestors: Ancestors,
    *,
    patient: Any = None,
    place: Any = None,
    registrations: list[Doc] | tuple[Doc, ...] = (),
    place_registrations: list[Doc] | tuple[Doc, ...] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The template context of a message about `doc` (see the module docstring for the order)."""
    patient = patient if patient is not None else doc.get("patient")
    place = place if place is not None else doc.get("place")
    context: dict[str, Any] = {}
    if isinstance(patient, dict):
        context["patient"] = patient
    if isinstance(place, dict):
        context["place"] = place
    defaults(context, extra)
    if isinstance(patient, dict):
        defaults(context, extract(patient, ancestors))
        if not context.get("patient_name"):
            context["patient_name"] = patient.get("name")
    defaults(context, extract(place, ancestors))
    defaults(context, extract(doc, ancestors))
    defaults(context, extract(registrations[0] if registrations else None, ancestors))
    defaults(context, extract(place_registrations[0] if place_registrations else None, ancestors))
    return context


# --- rendering -------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _parsed(template: str) -> Any:
    return pystache.parse(template)


def _no_nulls(value: Any) -> Any:
    """pystache renders None as "None"; CHT's mustache renders nothing."""
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value]
    return value


def render_plain(template: str, context: Mapping[str, Any]) -> str:
    """Mustache without lambdas (error messages, inner texts of lambdas)."""
    return _renderer.render(_parsed(template), _no_nulls(dict(context)))


def render(
    template: str,
    context: Mapping[str, Any],
    *,
    locale: str | None,
    settings: Mapping[str, Any],
    to_datetime: Callable[[Any], datetime | None],
    local_phone: Callable[[str], str],
) -> str:
    """Render `template` with CHT's lambdas. `to_datetime` reads a rendered value (epoch ms or a date
    string) as an aware datetime in the settings' zone, or None; `local_phone` strips the country code."""
    plain = _no_nulls(dict(context))

    def inner(text: str) -> str:
        return _renderer.render(_parsed(text), plain).strip()

    def dated(fmt: Callable[[datetime], str]) -> Callable[[str], str]:
        def lambda_(text: str) -> str:
            rendered = inner(text)
            moment = to_datetime(_number_or_text(rendered))
            return fmt(moment) if moment is not None else rendered

        return lambda_

    date_format = settings.get("date_format") or DEFAULT_DATE_FORMAT
    datetime_format = settings.get("reported_date_format") or DEFAULT_DATETIME_FORMAT
    lambdas = {
        "date": dated(lambda m: format_moment(m, date_format, locale)),
        "datetime": dated(lambda m: format_moment(m, datetime_format, locale)),
        "bikram_sambat_date": dated(bikram_sambat),
        "local_phone": lambda text: local_phone(inner(text)),
    }
    return _renderer.render(_parsed(template), {**plain, **lambdas})


def _number_or_text(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value
