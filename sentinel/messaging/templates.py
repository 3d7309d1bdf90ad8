"""Message text: CHT's template context (message-utils `extendedTemplateContext`) and Mustache rendering.

Context (spec 6.1), earlier sources win and a source only fills keys still missing (lodash
`_.defaults`; a JSON `null` counts as set):

    {patient, place} < extras (next_msg, parent, week, ...) < extract(patient) (+ patient_name from
    its name) < extract(place) < extract(report) < extract(latest registration) < extract(latest
    place registration)

where `extract(x)` is `{clinic, health_center, district, parent: health_center, grandparent:
district}` (the ancestors of x found in its hydrated lineage, present only when found) < `x.fields` < x.

Only the patient and place the caller passes count as steps 1 and 3-4 (CHT uses `extras.patient`,
never the report's own hydrated `patient`, which then only comes in as a key of the report at step 5).
`patient_name` is the patient's `name` unless an earlier source set a truthy one; a patient without a
`name` leaves it unset, so the report's `patient_name` field can still fill it.

Rendering: Mustache (pystache) with HTML escaping off and parsed templates cached. Values print as
JavaScript's `String()` does, as mustache.js prints them: `null` as nothing, booleans as `true` /
`false`, integral numbers without `.0`, arrays joined by commas, objects as `[object Object]`; a key
whose value is `null` stops the lookup there (inside a section it does not fall back to an outer
key of the same name). Lambdas, each rendering its inner text first (with the whole context, lambdas
included, as CHT does): `{{#date}}` (`date_format`, default `DD-MMM-YYYY`), `{{#datetime}}`
(`reported_date_format`, default `DD-MMM-YYYY HH:mm:ss`), `{{#bikram_sambat_date}}` (bikram-sambat's
`toBik_text`: Devanagari day, month name and year, e.g. `१५ चैत २०७३`), `{{#local_phone}}` (without
`+<default_country_code>`). A number is read as epoch ms, anything else as a date string; dates are
shown in the `timezone` setting's zone and the message's locale (month and day names from CLDR
through Babel). Formats are moment.js formats (`[...]` is literal text), translated to CLDR patterns.

Known differences from moment.js, on purpose or minor: a date that cannot be read is left as its
text (moment prints `Invalid date`); month and day names are CLDR's, which differ from moment's in
a few places (Nepali abbreviations and digits, `sept` in Spanish); `Do` prints the plain day number.
A template that cannot be parsed (a mismatched end tag) raises `TemplateError`, as mustache.js throws;
pystache accepts an unclosed section, which mustache.js rejects.

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

from sentinel.core.docs import Doc, js_number_string, js_truthy

DEFAULT_DATE_FORMAT = "DD-MMM-YYYY"
DEFAULT_DATETIME_FORMAT = "DD-MMM-YYYY HH:mm:ss"


class TemplateError(ValueError):
    """A template that cannot be parsed (an unclosed section, bad delimiters, ...)."""


def js_string(value: Any) -> str:
    """JavaScript `String(value)` for JSON values, as mustache.js prints an interpolated value."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return js_number_string(value)
    if isinstance(value, (list, tuple)):
        return ",".join(js_string(v) for v in value)
    if isinstance(value, Mapping):
        return "[object Object]"
    return str(value)


class _JsRenderer(pystache.Renderer):
    def str_coerce(self, val: Any) -> str:  # noqa: D102 - pystache's hook for non-string values
        return js_string(val)


_renderer = _JsRenderer(escape=lambda s: s, missing_tags="ignore")

# moment.js tokens -> CLDR (LDML) pattern letters; longest first so "MMMM" wins over "MM"
_MOMENT_TOKENS = [
    ("YYYY", "yyyy"), ("YY", "yy"), ("MMMM", "MMMM"), ("MMM", "MMM"), ("MM", "MM"), ("M", "M"),
    ("DDDD", "DDD"), ("DDD", "D"), ("Do", "d"), ("DD", "dd"), ("D", "d"), ("dddd", "EEEE"), ("ddd", "EEE"),
    ("dd", "EEEEEE"), ("d", "e"), ("HH", "HH"), ("H", "H"), ("hh", "hh"), ("h", "h"), ("mm", "mm"),
    ("m", "m"), ("ss", "ss"), ("s", "s"), ("SSS", "SSS"), ("A", "a"), ("a", "a"), ("ZZ", "xx"), ("Z", "xxx"),
    ("ww", "ww"), ("w", "w"), ("GGGG", "YYYY"), ("gggg", "YYYY"), ("kk", "kk"), ("k", "k"), ("Q", "Q"),
    ("SS", "SS"), ("S", "S"),
]
_MOMENT_PATTERN = re.compile(
    r"\[[^\]]*\]|" + "|".join(re.escape(t) for t, _ in _MOMENT_TOKENS) + r"|[A-Za-z]|[^A-Za-z\[]+|\["
)
_TOKEN_MAP = dict(_MOMENT_TOKENS)


@lru_cache(maxsize=256)
def cldr_pattern(moment_format: str) -> str:
    """A moment.js format as a CLDR pattern (`DD-MMM-YYYY` -> `dd-MMM-yyyy`).

    As in moment, `[...]` is literal text and so is every letter that is not a token (one letter at a
    time: `DDTHH` is day, `T`, hour); runs of literal text are quoted together."""
    out: list[str] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            text = "".join(literal)
            out.append(_quote(text) if any(c.isalpha() or c == "'" for c in text) else text)
            literal.clear()

    for token in _MOMENT_PATTERN.findall(moment_format):
        if token in _TOKEN_MAP:
            flush()
            out.append(_TOKEN_MAP[token])
        elif token.startswith("[") and token.endswith("]") and len(token) > 1:
            literal.append(token[1:-1])
        else:  # a letter that is no token, other characters, or a bracket never closed
            literal.append(token)
    flush()
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


# bikram-sambat's (npm, used by CHT) month names and digits; nepali_datetime only does the arithmetic
BS_MONTHS = ("बैशाख", "जेठ", "असार", "साउन", "भदौ", "असोज", "कार्तिक", "मंसिर", "पौष", "माघ", "फाल्गुन", "चैत")
_DEVANAGARI_DIGITS = str.maketrans("0123456789", "०१२३४५६७८९")


def bikram_sambat(moment: datetime) -> str:
    """bikram-sambat `toBik_text`: the Nepali date as `<day> <month> <year>` in Devanagari, the day
    not zero-padded (2017-03-28 is `१५ चैत २०७३`)."""
    bs = nepali_datetime.date.from_datetime_date(moment.date())
    day, year = (str(n).translate(_DEVANAGARI_DIGITS) for n in (bs.day, bs.year))
    return f"{day} {BS_MONTHS[bs.month - 1]} {year}"


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
    """The template context of a message about `doc` (see the module docstring for the order).

    `patient` and `place` are the caller's (CHT `extras.patient` / `extras.place`), not the doc's.
    """
    context: dict[str, Any] = {}
    if isinstance(patient, dict):
        context["patient"] = patient
    if isinstance(place, dict):
        context["place"] = place
    defaults(context, extra)
    if isinstance(patient, dict):
        defaults(context, extract(patient, ancestors))
        # JS: `ctx.patient_name = ctx.patient_name || patient.name`; an undefined name leaves the key
        # undefined, which a later source may still fill
        if not js_truthy(context.get("patient_name")):
            if "name" in patient:
                context["patient_name"] = patient["name"]
            else:
                context.pop("patient_name", None)
    defaults(context, extract(place, ancestors))
    defaults(context, extract(doc, ancestors))
    defaults(context, extract(registrations[0] if registrations else None, ancestors))
    defaults(context, extract(place_registrations[0] if place_registrations else None, ancestors))
    return context


# --- rendering -------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _parsed(template: str) -> Any:
    try:
        return pystache.parse(template)
    except Exception as exc:  # pystache raises ParsingError and a few plain errors on bad delimiters
        raise TemplateError(f"{type(exc).__name__}: {exc}") from exc


def _render(template: str, context: Mapping[str, Any]) -> str:
    try:
        return _renderer.render(_parsed(template), context)
    except TemplateError:
        raise
    except pystache.parser.ParsingError as exc:  # a template returned by a lambda
        raise TemplateError(str(exc)) from exc


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
    string) as an aware datetime in the settings' zone, or None; `local_phone` strips the country code.

    Raises TemplateError when the template cannot be parsed."""
    view: dict[str, Any] = {}

    def inner(text: str) -> str:
        return _render(text, view).strip()

    def dated(fmt: Callable[[datetime], str]) -> Callable[..., str]:
        def lambda_(text: str | None = None) -> str:
            if text is None:  # `{{date}}` used as a variable, not a section: nothing to format
                return ""
            rendered = inner(text)
            moment = to_datetime(_number_or_text(rendered))
            return fmt(moment) if moment is not None else rendered

        return lambda_

    def phone_lambda(text: str | None = None) -> str:
        return local_phone(inner(text)) if text is not None else ""

    date_format = settings.get("date_format") or DEFAULT_DATE_FORMAT
    datetime_format = settings.get("reported_date_format") or DEFAULT_DATETIME_FORMAT
    lambdas = {
        "date": dated(lambda m: format_moment(m, date_format, locale)),
        "datetime": dated(lambda m: format_moment(m, datetime_format, locale)),
        "bikram_sambat_date": dated(bikram_sambat),
        "local_phone": phone_lambda,
    }
    # list items by index / `.length` need the context copied into _JsLists: only when the template asks
    view.update({k: _js_lists(v) for k, v in context.items()} if _LIST_ACCESS.search(template) else context)
    view.update(lambdas)  # CHT: `{...view, ...helpers}`, the helpers win
    return _render(template, view)


_LIST_ACCESS = re.compile(r"\.(\d+|length)\b")


class _JsList(list):
    """A list whose items a dotted name reaches by index, and that has a `length`, as in mustache.js
    (`{{new_reports.0.contact.name}}`, `{{new_reports.length}}`): pystache looks names up as attributes
    on objects that are not builtins."""

    def __getattr__(self, name: str) -> Any:
        if name == "length":
            return len(self)
        if name.isdigit() and int(name) < len(self):
            return self[int(name)]
        raise AttributeError(name)


def _js_lists(value: Any) -> Any:
    if isinstance(value, list):
        return _JsList(_js_lists(v) for v in value)
    if isinstance(value, dict):
        return {k: _js_lists(v) for k, v in value.items()}
    return value


def _number_or_text(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value
