"""Parse an incoming SMS into a report: which JSON form it is for, its field values and CHT's errors.

Port of the CHT api's SMS report parsing (cht-core `api/src/services/`):

- `report/smsparser.js`: `getFormCode`, `isMuvukuFormat`, `stripFormCode`, the choice of parser, the
  per-type field parsers (`fieldParsers`/`parseField`), dotted field keys (`createDeepKey`) and the
  Bikram Sambat aggregate date (`bsAggreDate`);
- `report/textforms-parser.js`: `isCompact`, `parseCompact` (the compact "CODE value value..." format)
  and `parse` (the labelled "CODE label value#label value" format);
- `report/mp-parser.js` ("1!CODE!v1#v2...", muvuku) and `report/javarosa-parser.js`
  ("J1!CODE!label#value#label#value");
- `report/validate.js` (`sys.missing_fields`) and `records.js` `getDataRecord`/`createByForm`
  (form look-up, `extra_fields`, `sys.empty`, `sys.form_not_found`);
- `config.js` `translate`/`getMessage` for labels given per locale.

`parse(message, forms, locale="en", translate=None, *, tz=None)` reads the message text and the app
settings' `forms` object and returns a `ParsedMessage(form, fields, errors)`:

- `form`: the key in `forms` of the form named by the message's first word (`getFormCode`), or None;
- `fields`: the values, nested at dots of dotted field keys as CHT's report `fields` are; a field the
  message does not give is absent (CHT leaves it `undefined`, which JSON drops); a value given but not
  readable as its type is None (CHT's `null`);
- `errors`: `{code, message}` objects in CHT's order: `sys.missing_fields` (with `fields`),
  `extra_fields` (muvuku values beyond the form's fields), `sys.empty`, `sys.form_not_found`.

`translate(key, locale)` resolves translation keys (labels given as a key, error codes); it defaults
to returning the key. Labels given per locale (`{"en": "N", "sw": "J"}`) are resolved here, as CHT's
`getMessage` does. `tz` is the zone of dates without one (default UTC; CHT uses the server's zone,
and is deployed in UTC).

Deliberate differences from CHT:

1. Form look-up: CHT reads `forms[CODE.toUpperCase()]`; we try that key, then any key equal to the
   code ignoring case. CHT only flags an unknown code (`sys.form_not_found`) in `forms_only_mode` and
   otherwise treats the SMS as a plain message; we always report it, callers may ignore it.
2. CHT's `getFormCode` takes the second "!"-separated part of *any* message with two "!" (so
   "P Jane! Hi!" names form " HI"); we do so only for muvuku messages (`1!`/`J1!` headers).
3. Labelled (textforms) values are kept as the text after the label and each field's type reads it.
   CHT first guesses a type from the text: a number given to a string field stays a number, and
   "N 12 Main St" glues into "12Main St". A value may span lines (CHT's regex stops at a newline).
   A field given with an unreadable date is None here (CHT drops it); both count as missing.
4. Dates: ISO 8601 forms and "YYYY-M-D"/"YYYY/M/D" are read (in `tz` when without offset); other
   texts are None, where CHT falls back to JavaScript's lenient `Date` parser (and stores NaN).
5. `phone_number` values are kept as sent (digits standardised); CHT normalises them with the
   settings' country code (`@medic/phone-number`), which callers can do with `sentinel.core.phones`.
6. List values are translated in `locale` (CHT: in the settings' locale). A `string` field with a
   `list` maps its values like an `integer` one (CHT's loop over that list throws).
7. Labels are matched as text, not as regular expressions (CHT builds regexes from them unescaped);
   a form without `meta.code` has its key stripped from the message (CHT strips nothing).
8. Devanagari digits are standardised in ids (`patient_id`, `place_id`) and Bikram Sambat dates and
   date parts, as CHT's newer specs expect, besides numbers (as CHT's `parseNum` does).
9. A field without `labels` is skipped when matching labels (CHT throws).

Field order is the definition's (JavaScript object key order: integer-like keys first); `position`
is not used, as in CHT.

Pure: no I/O, reads only its arguments.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field as dc_field
from datetime import datetime, timezone, tzinfo
from typing import Any, Callable, Mapping

import nepali_datetime

__all__ = ["ParsedMessage", "get_form_code", "is_muvuku_format", "parse"]

Translate = Callable[[str, str], str]

_UNDEFINED = object()  # JavaScript `undefined`: a field the message did not give

# smsparser.js MUVUKU_REGEX: "<parser code>!<form code>!<body>"; JS `.` does not match newlines.
_MUVUKU = re.compile(r"^\s*([A-Za-z]?\d)!.+!.+")
# smsparser.js ZERO_WIDTH_UNICODE_CHARACTERS
_INVISIBLE = re.compile("[\u200b-\u200d\ufeff]")
# smsparser.js T_TABLE: Devanagari digits
_DEVANAGARI = str.maketrans("०१२३४५६७८९", "0123456789")
# smsparser.js getFormCode (textforms): the first run of characters other than the separators
_FORM_CODE = re.compile(r"^\s*([^\s!\-,:#]+)")
# textforms-parser.js reBoundary
_BOUNDARY = re.compile(r"\s*#\s*")
# textforms-parser.js reField, reduced to label and value (see difference 3): the label is a run of
# letters, "_", "." or "*" (searched, not anchored, as CHT's regex is), then "-", "!" or spaces.
_LABELLED = re.compile(r"\s*([A-Za-z_.*]+)[\s\-!]*(.*?)\s*$", re.DOTALL)
# textforms-parser.js parseCompact: quoted values or runs of non-space, non-quote characters;
# the greedy quote form is used when there are more values than fields ("quotes in quotes").
_COMPACT_VALUES = re.compile(r'"[^"]+"|[^"\s]+')
_COMPACT_VALUES_GREEDY = re.compile(r'".+"|[^"\s]+')
_JS_INDEX = re.compile(r"^(0|[1-9]\d*)$")
_TEMPLATE_VAR = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")


@dataclass
class ParsedMessage:
    """The outcome of `parse`: form key (or None), parsed field values, CHT error objects."""

    form: str | None
    fields: dict[str, Any] = dc_field(default_factory=dict)
    errors: list[dict[str, Any]] = dc_field(default_factory=list)


def _identity(key: str, locale: str) -> str:
    return key


# --- small JavaScript-compatible helpers --------------------------------------------------------------


def _js_keys(mapping: Mapping[str, Any]) -> list[str]:
    """`Object.keys` order: array-index-like keys ascending first, then the others as inserted."""
    keys = list(mapping.keys())
    indices = [k for k in keys if isinstance(k, str) and _JS_INDEX.match(k) and int(k) < 2**32 - 1]
    others = [k for k in keys if k not in indices]
    return sorted(indices, key=int) + others


def _strip_invisible(text: str) -> str:
    return _INVISIBLE.sub("", text)


def _standardise_digits(text: str) -> str:
    return text.translate(_DEVANAGARI)


_JS_DECIMAL = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_JS_RADIX = re.compile(r"^0([xXoObB])([0-9a-fA-F]+)$")


def _js_number(text: str) -> int | float | None:
    """JavaScript `Number(text)` when finite, else None; integral values come back as int."""
    text = text.strip(" \t\n\r\v\f\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
                      "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff")
    if text == "":
        return 0  # Number("  ") is 0
    radix = _JS_RADIX.match(text)
    if radix:
        base = {"x": 16, "o": 8, "b": 2}[radix.group(1).lower()]
        try:
            return int(radix.group(2), base)
        except ValueError:
            return None
    if not _JS_DECIMAL.match(text):
        return None
    value = float(text)
    if not math.isfinite(value):
        return None
    if value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return value


def _parse_num(raw: str) -> int | float | None:
    """smsparser.js parseNum: Devanagari digits standardised, then a finite JS number, else null."""
    std = _standardise_digits(raw)
    if std == "":
        return None
    return _js_number(std)


def _render(text: str, ctx: Mapping[str, Any]) -> str:
    """config.js translate's `{{var}}` template; left as is when a variable is missing (lodash throws)."""
    names = _TEMPLATE_VAR.findall(text)
    if any(name not in ctx for name in names):
        return text
    return _TEMPLATE_VAR.sub(lambda m: str(ctx[m.group(1)]), text)


# --- labels and translations --------------------------------------------------------------------------


def _get_message(value: Mapping[str, Any], locale: str) -> Any:
    """config.js getMessage: the locale's text, else `default`, else English, else the first one."""

    def find(loc: str) -> Any:
        translations = value.get("translations")
        if translations is not None:
            for item in translations if isinstance(translations, list) else []:
                if isinstance(item, Mapping) and item.get("locale") == loc:
                    return item.get("content")
            return None
        return value.get(loc)

    translations = value.get("translations")
    first_translation = None
    if isinstance(translations, list) and translations and isinstance(translations[0], Mapping):
        first_translation = translations[0].get("content")
    first_value = value[next(iter(value))] if value else None
    for candidate in (find(locale), value.get("default"), find("en"), first_translation, first_value):
        if candidate:
            return candidate
    return None


def _text(value: Any, locale: str, translate: Translate) -> Any:
    """config.js translate: a per-locale object via getMessage, a string via the translations."""
    if isinstance(value, Mapping):
        return _get_message(value, locale) or value
    if isinstance(value, str):
        return translate(value, locale)
    return None


def _label(field: Any, kind: str, locale: str, translate: Translate) -> str | None:
    labels = field.get("labels") if isinstance(field, Mapping) else None
    if not isinstance(labels, Mapping):
        return None
    text = _text(labels.get(kind), locale, translate)
    return text if isinstance(text, str) and text else None


# --- form code ----------------------------------------------------------------------------------------


def is_muvuku_format(message: Any) -> bool:
    """smsparser.js isMuvukuFormat: a "1!CODE!..." or "J1!CODE!..." style header."""
    return isinstance(message, str) and bool(_MUVUKU.match(message))


def get_form_code(message: Any) -> str | None:
    """smsparser.js getFormCode: the upper-cased form code, or None (see difference 2)."""
    if not isinstance(message, str):
        return None
    if is_muvuku_format(message):
        return message.split("!")[1].upper()
    match = _FORM_CODE.match(message)
    return match.group(1).upper() if match else None


def _find_form(code: str, forms: Mapping[str, Any]) -> str | None:
    if code in forms:  # records.js getForm: forms[code]
        return code
    folded = code.casefold()
    for key in forms:
        if isinstance(key, str) and key.casefold() == folded:
            return key
    return None


def _strip_form_code(code: Any, message: str) -> str:
    """smsparser.js stripFormCode: the code and the separators after it, ignoring case."""
    if not isinstance(code, str):
        return message
    return re.sub(r"^\s*" + re.escape(code) + r"[\s!\-,:#]*", "", message, count=1, flags=re.IGNORECASE)


# --- the four message formats -------------------------------------------------------------------------


def _starts_with(text: str, label: str) -> bool:
    """textforms-parser.js startsWith: the label alone, or followed by a space or a digit."""
    if text.lower() == label.lower():
        return True
    return re.match(re.escape(label) + r"[\s0-9]", text, flags=re.IGNORECASE) is not None


def _is_compact(definition: Mapping[str, Any], message: str, locale: str, translate: Translate) -> bool:
    """textforms-parser.js isCompact: no "#" and the text does not start with a tiny or short label."""
    fields = definition.get("fields")
    if not message or not isinstance(fields, Mapping):
        return False
    parts = _BOUNDARY.split(message)
    if len(parts) != 1:
        return False
    for field in fields.values():
        for kind in ("tiny", "short"):
            label = _label(field, kind, locale, translate)
            if label and _starts_with(parts[0], label):
                return False
    return True


def _parse_compact(keys: list[str], fields: Mapping[str, Any], message: str) -> dict[str, Any]:
    """textforms-parser.js parseCompact: values in field order; a last string field takes the rest."""
    values = _COMPACT_VALUES.findall(message)
    if len(values) > len(keys):
        values = _COMPACT_VALUES_GREEDY.findall(message)
    results: dict[str, Any] = {}
    for index, key in enumerate(keys):
        if not values:
            break
        field = fields[key] if isinstance(fields[key], Mapping) else {}
        if index == len(keys) - 1 and field.get("type") == "string":
            value = " ".join(values)
            values = []
        else:
            value = values.pop(0)
        if value.startswith('"') and value.endswith('"'):
            value = value[1:-1]
        results.setdefault(key, value)
    return results


def _parse_textforms(message: str) -> dict[str, Any]:
    """textforms-parser.js parse: "#"-separated "label value" parts, labels lower-cased.

    A label given twice gives a list of its values, in order (CHT's setResult)."""
    results: dict[str, Any] = {}
    for part in _BOUNDARY.split(message):
        match = _LABELLED.search(part)
        if not match:
            continue
        key, value = match.group(1).lower(), match.group(2)
        if value == "":
            value = _UNDEFINED  # a label without a value gives nothing
        if key not in results or results[key] is _UNDEFINED:
            results[key] = value
        elif isinstance(results[key], list):
            results[key].append(value)
        else:
            results[key] = [results[key], value]
    return results


def _parse_muvuku(keys: list[str], message: str) -> dict[str, Any]:
    """mp-parser.js: "1!CODE!v1#v2#..." values in field order; extra values flag `_extra_fields`."""
    parts = message.split("#")
    header = parts[0].split("!")
    values = ["!".join(header[2:])] + parts[1:]
    results: dict[str, Any] = {}
    for index in range(max(len(keys), len(values))):
        if index >= len(keys):
            results["_extra_fields"] = True
        elif index < len(values):
            results[keys[index]] = values[index].strip()
    return results


def _parse_javarosa(keys: list[str], fields: Mapping[str, Any], message: str, locale: str,
                    translate: Translate) -> dict[str, Any]:
    """javarosa-parser.js: "J1!CODE!label#value#label#value", "\\#" escaping a "#" in a value."""
    data = "!".join(message.split("!")[2:])
    parts = re.sub(r"([^\\])#", "\\1\v", data).split("\v")
    labels = [p.strip() for p in parts[0::2]]
    values = parts[1::2]
    results: dict[str, Any] = {}
    for key in keys:
        label = _label(fields[key], "tiny", locale, translate)
        if not label:
            continue
        for given, value in zip(labels, values):
            if given.lower() == label.lower():
                results[key] = value.replace("\\#", "#")
    return results


# --- field types --------------------------------------------------------------------------------------


def _parse_date(raw: str, tz: tzinfo) -> int | None:
    """moment(text).valueOf() for ISO 8601 dates and "YYYY-M-D"; None when unreadable."""
    text = _standardise_digits(_strip_invisible(raw)).strip()
    loose = re.fullmatch(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})", text)
    try:
        if loose:
            moment = datetime(int(loose.group(1)), int(loose.group(2)), int(loose.group(3)))
        else:
            iso = re.sub(r"^(\d{4}-\d{2}-\d{2}) ", r"\1T", text)
            if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2}([T]\d{2}(:\d{2}(:\d{2}([.,]\d+)?)?)?"
                                r"(Z|[+-]\d{2}(:?\d{2})?)?)?)?)?|\d{8}", iso):
                return None
            if re.fullmatch(r"\d{4}(-\d{2})?", iso):
                iso += "-01" * (2 - iso.count("-"))
            moment = datetime.fromisoformat(iso.replace(",", ".").replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return round(moment.timestamp() * 1000)


def _bs_to_epoch(year: Any, month: Any, day: Any, tz: tzinfo) -> int | None:
    """smsparser.js bsToEpoch: a Bikram Sambat date to the epoch ms of its Gregorian midnight, or null."""
    try:
        parts = [int(_standardise_digits(str(p)).strip()) for p in (year, month, day)]
        greg = nepali_datetime.date(*parts).to_datetime_date()
    except (ValueError, TypeError, OverflowError):
        return None
    return round(datetime(greg.year, greg.month, greg.day, tzinfo=tz).timestamp() * 1000)


def _list_value(field: Mapping[str, Any], cleaned: str, locale: str, translate: Translate) -> Any:
    """The label of the `list` item whose value is `cleaned` (String(item[0]) === cleaned), else null."""
    for item in field.get("list") or []:
        if isinstance(item, (list, tuple)) and len(item) >= 2 and _js_string(item[0]) == cleaned:
            return _text(item[1], locale, translate)
    return None


def _js_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _parse_field(key: str, field: Mapping[str, Any], raw: Any, locale: str, translate: Translate,
                 tz: tzinfo) -> Any:
    """smsparser.js parseField / fieldParsers: one raw text to its field type's value."""
    kind = field.get("type")
    if raw is _UNDEFINED:
        return _UNDEFINED
    if isinstance(raw, list):
        if kind == "string":
            return [_parse_field(key, field, r, locale, translate, tz) for r in raw]
        raw = ",".join(r for r in raw if isinstance(r, str))  # String(array)
    if kind not in ("integer", "string", "date", "bsDate", "boolean", "month", "phone_number"):
        if kind in ("bsYear", "bsMonth", "bsDay"):
            return _standardise_digits(_strip_invisible(raw))
        return raw  # unknown types keep the text (CHT logs a warning)
    if raw == "":
        return None
    cleaned = _strip_invisible(raw)
    if kind == "integer":
        if field.get("list"):
            return _list_value(field, cleaned, locale, translate)
        return _parse_num(cleaned)
    if kind == "string":
        if field.get("list"):  # difference 6
            mapped = _list_value(field, cleaned, locale, translate)
            return raw if mapped is None else mapped
        if key in ("patient_id", "place_id"):
            return _standardise_digits(cleaned)
        return raw
    if kind == "date":
        return _parse_date(cleaned, tz)
    if kind == "bsDate":
        std = _standardise_digits(cleaned)
        separator = re.search(r"[^0-9]", std)
        if not separator:
            return None
        parts = std.split(separator.group(0))
        if len(parts) != 3:
            return None
        return _bs_to_epoch(*parts, tz=tz)
    if kind == "boolean":
        value = _parse_num(cleaned)
        return {1: True, 0: False}.get(value) if value is not None else None
    if kind == "month":
        return _parse_num(cleaned)
    return _standardise_digits(cleaned).strip()  # phone_number: difference 5


def _set_deep(target: dict[str, Any], path: list[str], value: Any) -> None:
    """smsparser.js createDeepKey; an undefined leaf is left out (JSON drops it) but its parents exist."""
    for part in path[:-1]:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    if value is not _UNDEFINED:
        target[path[-1]] = value


def _get_deep(data: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(data, Mapping) or part not in data:
            return None
        data = data[part]
    return data


def _missing_fields(keys: list[str], fields: Mapping[str, Any], data: Mapping[str, Any]) -> list[str]:
    """validate.js: required fields whose value is undefined or null (or a list starting with one)."""
    missing = []
    for key in keys:
        field = fields[key]
        if not isinstance(field, Mapping) or not field.get("required"):
            continue
        value = _get_deep(data, key.split("."))
        if value is None or (isinstance(value, list) and (not value or value[0] is None)):
            missing.append(key)
    return missing


# --- entry point --------------------------------------------------------------------------------------


def _form_data(definition: Mapping[str, Any], form_key: str, message: str, locale: str,
               translate: Translate, tz: tzinfo) -> tuple[dict[str, Any], bool]:
    """smsparser.js parse: the form's values, and whether muvuku values went beyond its fields."""
    fields = definition.get("fields")
    if not isinstance(fields, Mapping):
        return {}, False
    keys = _js_keys(fields)
    omitted_too = False
    if is_muvuku_format(message):
        parser_code = _MUVUKU.match(message).group(1).upper()
        if parser_code == "1":
            raw = _parse_muvuku(keys, message)
        elif parser_code == "J1":
            raw = _parse_javarosa(keys, fields, message, locale, translate)
        else:
            raw = {}  # getParser: no parser for other codes
        omitted_too = True
    else:
        meta = definition.get("meta")
        code = meta.get("code") if isinstance(meta, Mapping) else None
        body = _strip_form_code(code if isinstance(code, str) else form_key, message)  # difference 7
        if _is_compact(definition, body, locale, translate):
            raw = _parse_compact(keys, fields, body)
        else:
            raw = _parse_textforms(body) if body else {}
            # smsparser.js: replace tiny labels with field keys
            for key in keys:
                label = _label(fields[key], "tiny", locale, translate)
                label = label.lower() if label else None
                if label and key != label and raw.get(label, _UNDEFINED) is not _UNDEFINED:
                    raw[key] = raw.pop(label)
    data: dict[str, Any] = {}
    for key in keys:
        field = fields[key] if isinstance(fields[key], Mapping) else {}
        value = raw.get(key, _UNDEFINED)
        if value is _UNDEFINED and not omitted_too:
            continue  # `if (msgData[k] || addOmittedFields)`
        _set_deep(data, key.split("."), _parse_field(key, field, value, locale, translate, tz))
    _aggregate_bs_date(keys, fields, raw, data, tz)
    return data, raw.get("_extra_fields") is True


def _aggregate_bs_date(keys: list[str], fields: Mapping[str, Any], raw: Mapping[str, Any],
                       data: dict[str, Any], tz: tzinfo) -> None:
    """smsparser.js: a `bsAggreDate` field from the `bsYear`, `bsMonth` and `bsDay` fields (1 by default)."""
    types = {k: fields[k].get("type") if isinstance(fields[k], Mapping) else None for k in keys}
    target = next((k for k in keys if types[k] == "bsAggreDate"), None)
    if target is None:
        return
    parts: dict[str, Any] = {"bsYear": None, "bsMonth": 1, "bsDay": 1}
    for key in keys:
        if types[key] in parts:
            value = raw.get(key, _UNDEFINED)
            parts[types[key]] = None if value is _UNDEFINED else value
    if parts["bsYear"]:
        data[target] = _bs_to_epoch(parts["bsYear"], parts["bsMonth"], parts["bsDay"], tz)


def parse(message: str, forms: Mapping[str, Any], locale: str = "en", translate: Translate | None = None,
          *, tz: tzinfo | None = None) -> ParsedMessage:
    """Parse an SMS against the app settings' `forms`; see the module docstring."""
    translate = translate or _identity
    tz = tz or timezone.utc
    message = message if isinstance(message, str) else ""
    forms = forms if isinstance(forms, Mapping) else {}

    def error(code: str, **ctx: Any) -> dict[str, Any]:
        return {"code": code, "message": _render(translate(code, locale), ctx)}  # records.js addError

    code = get_form_code(message)
    form_key = _find_form(code, forms) if code is not None else None
    result = ParsedMessage(form=form_key)
    if form_key is not None:
        definition = forms[form_key] if isinstance(forms[form_key], Mapping) else {}
        data, extra = _form_data(definition, form_key, message, locale, translate, tz)
        result.fields = data
        fields = definition.get("fields")
        if isinstance(fields, Mapping):
            missing = _missing_fields(_js_keys(fields), fields, data)
            if missing:
                result.errors.append({**error("sys.missing_fields"), "fields": missing})
        if extra:
            result.errors.append(error("extra_fields"))
    if not message.strip():
        result.errors.append(error("sys.empty"))
    elif form_key is None and code is not None:
        result.errors.append(error("sys.form_not_found", form=code))
    return result
