"""Phone numbers with CHT's semantics (`shared-libs/phone-number`, over libphonenumber).

Python's `phonenumbers` is a port of the same Google library CHT wraps, so parsing, validity and
matching agree with CHT (up to the metadata versions of the two copies).

`settings_like` is a mapping of app settings; the keys read are:

- `default_country_code`: a calling code (`254` or `"254"`), turned into the region used to parse
  numbers written without `+`. Missing or unknown: region `ZZ`, so only `+...` numbers parse.
- `phone_validation`: `"full"` (the default: `isValidNumber`), `"partial"` (`isPossibleNumber`) or
  `"none"`; case-insensitive. A number must still parse, and letters are always rejected.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Mapping

import phonenumbers

from sentinel.core.docs import js_truthy

_LETTERS = re.compile(r"[a-zA-Z]")
_UNKNOWN_REGION = "ZZ"
_MATCHES = (phonenumbers.MatchType.NSN_MATCH, phonenumbers.MatchType.EXACT_MATCH)


def _setting(settings_like: Mapping[str, Any] | None, key: str) -> Any:
    return settings_like.get(key) if isinstance(settings_like, Mapping) else None


def _js_string(value: Any) -> str:
    """JavaScript `String(value)` for the scalars settings hold."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


@lru_cache(maxsize=64)
def _region_for_key(key: str) -> str:
    # CHT: `getRegionCodeForCountryCode(code)` is a lookup in an object keyed by the calling code's
    # decimal string, so 254 and "254" agree while "+254" or "0254" are unknown (region ZZ).
    if not key.isascii() or not key.isdigit() or str(int(key)) != key:
        return _UNKNOWN_REGION
    return phonenumbers.region_code_for_country_code(int(key))


def region(settings_like: Mapping[str, Any] | None) -> str:
    """The region (`"KE"`, or `"ZZ"` when unknown) numbers without `+` are parsed in."""
    code = _setting(settings_like, "default_country_code")
    if code is None or isinstance(code, (bool, dict, list)):
        return _UNKNOWN_REGION
    return _region_for_key(_js_string(code))


def _parse(settings_like: Mapping[str, Any] | None, phone: Any) -> phonenumbers.PhoneNumber | None:
    if not isinstance(phone, str):
        return None
    try:
        return phonenumbers.parse(phone, region(settings_like), keep_raw_input=True)
    except phonenumbers.NumberParseException:
        return None


def _passes(settings_like: Mapping[str, Any] | None, phone: str, parsed: phonenumbers.PhoneNumber) -> bool:
    mode = _setting(settings_like, "phone_validation")
    if js_truthy(mode) and not isinstance(mode, str):
        return False  # CHT calls `.toLowerCase()` on it, which throws, and the throw reads as invalid
    mode = mode.lower() if isinstance(mode, str) else ""
    if mode == "partial":
        ok = phonenumbers.is_possible_number(parsed)
    elif mode == "none":
        ok = True
    else:
        ok = phonenumbers.is_valid_number(parsed)
    return bool(ok) and not _LETTERS.search(phone)  # letters: 1-800-MICROSOFT parses, CHT refuses it


def validate(settings_like: Mapping[str, Any] | None, phone: Any) -> bool:
    """CHT `phoneNumber.validate`: parses in the settings' region and passes `phone_validation`."""
    parsed = _parse(settings_like, phone)
    return parsed is not None and _passes(settings_like, phone, parsed)


def normalize(settings_like: Mapping[str, Any] | None, phone: Any) -> str | None:
    """CHT `phoneNumber.normalize`: E.164 (`+254712345678`), or None (CHT: false) when invalid."""
    parsed = _parse(settings_like, phone)
    if parsed is None or not _passes(settings_like, phone, parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def same(a: Any, b: Any) -> bool:
    """CHT `phoneNumber.same`: libphonenumber's `isNumberMatch` gives NSN_MATCH or EXACT_MATCH.

    `+254712345678`, `0712345678` and `+254 712 345 678` are the same number; no region is used.
    """
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    try:
        return phonenumbers.is_number_match(a, b) in _MATCHES
    except Exception:  # noqa: BLE001 - CHT: any exception reads as "not the same"
        return False


def local_phone(settings_like: Mapping[str, Any] | None, phone: Any) -> str:
    """CHT's `{{#local_phone}}` lambda: the text trimmed, then `+<default_country_code>` removed.

    Nothing is put in its place (no leading 0): `+254712345678` becomes `712345678`. Text without that
    prefix, or settings without a (truthy) `default_country_code`, comes back trimmed only.
    """
    text = phone.strip() if isinstance(phone, str) else ("" if phone is None else _js_string(phone).strip())
    code = _setting(settings_like, "default_country_code")
    if not text or not js_truthy(code):
        return text
    prefix = "+" + _js_string(code)
    return text[len(prefix):] if text.startswith(prefix) else text
