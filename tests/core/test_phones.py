"""sentinel/phones.py: CHT's SL/phone-number semantics over `phonenumbers` (spec 6.4).

Pure unit tests. Numbers: Kenya (+254), the US (+1) and Nepal (+977), valid ones taken from
libphonenumber's example numbers.
"""
from __future__ import annotations

from typing import Any

import pytest

from sentinel.core import phones

KE = {"default_country_code": 254}
KE_STR = {"default_country_code": "254"}
US = {"default_country_code": 1}
NP = {"default_country_code": 977}


def mode(settings: dict[str, Any], phone_validation: Any) -> dict[str, Any]:
    return {**settings, "phone_validation": phone_validation}


# --- validate ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, phone, expected",
    [
        # full (the default): isValidNumber in the region of default_country_code
        pytest.param(KE, "0712345678", True, id="full: a Kenyan mobile in national format is valid in region 254"),
        pytest.param(KE, "0712 345 678", True, id="full: spaces are allowed"),
        pytest.param(KE_STR, "0712345678", True, id="full: the country code may be a string"),
        pytest.param(KE, "+254712345678", True, id="full: an international number is valid in any region"),
        pytest.param({}, "+254712345678", True, id="full: an international number needs no country code"),
        pytest.param({}, "0712345678", False, id="full: a national number without a country code does not parse"),
        pytest.param(None, "+254712345678", True, id="full: settings may be None"),
        pytest.param(KE, "071234567", False, id="full: a Kenyan number one digit short is invalid"),
        pytest.param(KE, "0123456789", False, id="full: a Kenyan number of an unassigned range is invalid"),
        pytest.param(US, "(201) 555-0123", True, id="full: a US number with brackets and dashes is valid"),
        pytest.param(US, "1234567890", False, id="full: a US number with area code 123 is invalid"),
        pytest.param(NP, "9841234567", True, id="full: a Nepali mobile is valid in region 977"),
        pytest.param(NP, "98412345678", False, id="full: a Nepali mobile one digit long is invalid"),
        pytest.param(KE, "+9779841234567", True, id="full: another country's number in international format is valid"),
        pytest.param(mode(KE, "strict"), "071234567", False, id="an unknown phone_validation means full"),
        pytest.param(mode(KE, ""), "0712345678", True, id="an empty phone_validation means full"),
        pytest.param({"default_country_code": "+254"}, "0712345678", False, id="a country code written with + is an unknown region"),
        pytest.param({"default_country_code": 999}, "0712345678", False, id="an unassigned country code is an unknown region"),
        # partial: isPossibleNumber
        pytest.param(mode(KE, "partial"), "071234567", True, id="partial: a possible but invalid Kenyan number passes"),
        pytest.param(mode(KE, "partial"), "0123456789", True, id="partial: an unassigned Kenyan range passes"),
        pytest.param(mode(KE, "PARTIAL"), "071234567", True, id="partial: the mode is case-insensitive"),
        pytest.param(mode(US, "partial"), "1234567890", True, id="partial: a US number with a bad area code passes"),
        pytest.param(mode(US, "partial"), "201555012", False, id="partial: a US number one digit short fails"),
        pytest.param(mode(NP, "partial"), "98412345678", True, id="partial: a Nepali number of possible length passes"),
        pytest.param(mode(NP, "partial"), "12345", False, id="partial: a Nepali number far too short fails"),
        # none: anything that parses
        pytest.param(mode(KE, "none"), "123", True, id="none: any number that parses in the region passes"),
        pytest.param(mode({}, "none"), "0712345678", False, id="none: a number that does not parse still fails"),
        pytest.param(mode(KE, "none"), "", False, id="none: an empty string fails"),
        # letters are always rejected
        pytest.param(US, "1-800-MICROSOFT", False, id="full: a vanity number with letters is rejected"),
        pytest.param(mode(US, "partial"), "1-800-FLOWERS", False, id="partial: letters are rejected"),
        pytest.param(mode(US, "none"), "1-800-MICROSOFT", False, id="none: letters are rejected"),
        pytest.param(mode(KE, "none"), "0712345678x", False, id="none: a trailing letter is rejected"),
        # not a string, or a broken setting
        pytest.param(KE, None, False, id="None is not a phone"),
        pytest.param(KE, 254712345678, False, id="a number (not a string) is not a phone"),
        pytest.param(mode(KE, True), "0712345678", False, id="a non-string phone_validation makes every phone invalid, as in CHT"),
    ],
)
def test_validate(settings: Any, phone: Any, expected: bool) -> None:
    assert phones.validate(settings, phone) is expected


# --- normalize ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, phone, expected",
    [
        pytest.param(KE, "0712345678", "+254712345678", id="a Kenyan national number becomes E.164"),
        pytest.param(KE, " 0712-345-678 ", "+254712345678", id="punctuation and spaces are dropped"),
        pytest.param({}, "+254 712 345 678", "+254712345678", id="an international number needs no region"),
        pytest.param(US, "(201) 555-0123", "+12015550123", id="a US number becomes E.164"),
        pytest.param(NP, "9841234567", "+9779841234567", id="a Nepali number becomes E.164"),
        pytest.param(KE, "071234567", None, id="an invalid number is None"),
        pytest.param(mode(KE, "partial"), "071234567", "+25471234567", id="partial: a possible number is normalised"),
        pytest.param(mode(KE, "none"), "0123456789", "+254123456789", id="none: any parseable number is normalised"),
        pytest.param(mode(US, "none"), "1-800-MICROSOFT", None, id="letters are never normalised"),
        pytest.param(KE, "not a phone", None, id="text is None"),
        pytest.param(KE, None, None, id="None is None"),
    ],
)
def test_normalize(settings: Any, phone: Any, expected: str | None) -> None:
    assert phones.normalize(settings, phone) == expected


# --- same --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "a, b, expected",
    [
        pytest.param("+254712345678", "+254 712-345-678", True, id="the same number formatted differently is an exact match"),
        pytest.param("+254712345678", "0712345678", True, id="international and national forms are an NSN match"),
        pytest.param("0712345678", "0712345678", True, id="two identical national numbers match"),
        pytest.param("+12015550123", "(201) 555-0123", True, id="a US number with and without +1 match"),
        pytest.param("+9779841234567", "9841234567", True, id="a Nepali number with and without +977 match"),
        pytest.param("+254712345678", "+254712345679", False, id="different numbers do not match"),
        pytest.param("+254712345678", "+255712345678", False, id="the same digits in another country do not match"),
        pytest.param("345678", "+254712345678", False, id="a short NSN match is not enough"),
        pytest.param("gateway", "+254712345678", False, id="text is not a number"),
        pytest.param(None, "+254712345678", False, id="None never matches"),
        pytest.param(254712345678, "+254712345678", False, id="a non-string never matches"),
    ],
)
def test_same(a: Any, b: Any, expected: bool) -> None:
    assert phones.same(a, b) is expected


# --- local_phone -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, phone, expected",
    [
        pytest.param(KE, "+254712345678", "712345678", id="the country prefix is removed and no 0 is added"),
        pytest.param(KE_STR, "+254712345678", "712345678", id="the country code may be a string"),
        pytest.param(KE, "  +254712345678 ", "712345678", id="the text is trimmed first"),
        pytest.param(KE, "0712345678", "0712345678", id="a national number is left as it is"),
        pytest.param(KE, "+9779841234567", "+9779841234567", id="another country's number is left as it is"),
        pytest.param(NP, "+9779841234567", "9841234567", id="a Nepali prefix is removed with country code 977"),
        pytest.param({}, " +254712345678 ", "+254712345678", id="without a country code the text is only trimmed"),
        pytest.param({"default_country_code": 0}, "+0712", "+0712", id="a falsy country code strips nothing"),
        pytest.param(KE, "", "", id="empty text stays empty"),
        pytest.param(KE, None, "", id="None renders as empty"),
    ],
)
def test_local_phone(settings: Any, phone: Any, expected: str) -> None:
    assert phones.local_phone(settings, phone) == expected


# --- region ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, expected",
    [
        pytest.param(KE, "KE", id="254 is Kenya"),
        pytest.param(KE_STR, "KE", id="the string 254 is Kenya"),
        pytest.param(US, "US", id="1 is the US (the main region of the NANP)"),
        pytest.param(NP, "NP", id="977 is Nepal"),
        pytest.param({"default_country_code": 254.0}, "KE", id="an integral float is read as JavaScript prints it"),
        pytest.param({"default_country_code": "0254"}, "ZZ", id="a code with a leading zero is unknown"),
        pytest.param({"default_country_code": "+254"}, "ZZ", id="a code with a plus is unknown"),
        pytest.param({"default_country_code": True}, "ZZ", id="a boolean is unknown"),
        pytest.param({}, "ZZ", id="no code is unknown"),
        pytest.param(None, "ZZ", id="no settings is unknown"),
    ],
)
def test_region(settings: Any, expected: str) -> None:
    assert phones.region(settings) == expected


def test_region_is_cached_per_code() -> None:
    phones._region_for_key.cache_clear()
    for _ in range(3):
        phones.validate(KE, "0712345678")
        phones.validate(KE_STR, "0712345678")
    info = phones._region_for_key.cache_info()
    assert (info.misses, info.hits) == (1, 5)
