"""sentinel/sms_parser.py: SMS reports parsed as CHT's api does (smsparser.js, textforms-parser.js, ...).

The cases are ported from cht-core's specs `api/tests/mocha/services/report/smsparser.spec.js`,
`smsparser-compact-textform.spec.js` and `textforms-parser.spec.js` (with their form definitions,
`api/tests/form-definitions.js`), run through our `parse` (form look-up and errors included), plus
the cases of the module's deliberate differences. Dates are epoch milliseconds of midnight UTC.
"""
from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest

from sentinel.gateway import sms_parser
from sentinel.gateway.sms_parser import ParsedMessage, parse

MAR_12_2012 = 1331510400000  # 2012-03-12T00:00:00Z
DAY = 86400000


def _f(type_: str, tiny: Any = None, short: Any = None, **extra: Any) -> dict[str, Any]:
    labels = {k: v for k, v in (("tiny", tiny), ("short", short)) if v is not None}
    return {"type": type_, "labels": labels, **extra}


MONTHS = [[i + 1, {"en": name}] for i, name in enumerate(
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
     "November", "December"])]

# api/tests/form-definitions.js YYYY, YYYZ and the spec's inline definitions
YYYY = {
    "meta": {"code": "YYYY", "label": "Test Monthly Report"},
    "fields": {
        "facility_id": _f("string", "HFI", "Health Facility Identifier", required=True),
        "year": _f("integer", "RPY", "Report Year", required=True),
        "month": _f("integer", "RPM", "Report Month", list=MONTHS, required=True),
        "misoprostol_administered": _f("boolean", {"en": "MSP"}, {"en": "Misoprostol?"}),
        "quantity_dispensed.la_6x1": _f("integer", "L1T"),
        "quantity_dispensed.la_6x2": _f("integer", "L2T"),
        "quantity_dispensed.cotrimoxazole": _f("integer", "CDT"),
        "quantity_dispensed.zinc": _f("integer", "ZDT"),
        "quantity_dispensed.ors": _f("integer", "ODT"),
        "quantity_dispensed.eye_ointment": _f("integer", "EOT"),
        "days_stocked_out.la_6x1": _f("integer", "L1O"),
        "days_stocked_out.la_6x2": _f("integer", "L2O"),
        "days_stocked_out.cotrimoxazole": _f("integer", "CDO"),
        "days_stocked_out.zinc": _f("integer", "ZDO"),
        "days_stocked_out.ors": _f("integer", "ODO"),
        "days_stocked_out.eye_ointment": _f("integer", "EDO"),
    },
    "facility_reference": "facility_id",
}
YYYZ = {
    "meta": {"code": "YYYZ"},
    "fields": {
        "one": _f("string", "one", "One", required=True),
        "two": _f("string", "two", "Two", required=True),
        "birthdate": _f("date", "BIR", "Birth Date"),
    },
}
ANCR = {  # smsparser-compact-textform.spec.js
    "meta": {"code": "ANCR"},
    "fields": {"name": _f("string", "N", "Name"), "lmp": _f("integer", "LMP", "LMP"), "somedate": _f("date", "D", "Date")},
}
CHAT = {"meta": {"code": "CHAT"}, "fields": {"name": _f("string", "N", "Name"), "comment": _f("string", "C", "Comment")}}
R_NAME = {"meta": {"code": "R"}, "fields": {"name": _f("string", "N", "Name")}}
R_LOCALE = {"meta": {"code": "R"}, "fields": {"name": _f("string", {"en": "n", "sw": "j"}, "Name")}}
R_KEY = {"meta": {"code": "R"}, "fields": {"name": _f("string", "form.r.name.tiny", "Name")}}
ABCD = {
    "meta": {"code": "ABCD"},
    "fields": {"q": _f("integer", "q", list=[[0, "Yes"], [1, "No"]]), "name": _f("string", "name")},
}
TDATE = {"meta": {"code": "0000"}, "fields": {"testdate": _f("date", "TDATE", "testdate")}}
TBSDATE = {"meta": {"code": "0000"}, "fields": {"testdate": _f("bsDate", "TDATE", "testdate")}}
FOO = {"meta": {"code": "0000"}, "fields": {"foo": _f("string", "foo", "foo")}}
OFF = {
    "meta": {"code": "OFF"},
    "fields": {
        "patient_id": _f("string", {"en": "ID"}, {"en": "Patient ID"}, position=0),
        "reason": _f("string", {"en": "r", "sw": "r"}, {"en": "Reason", "sw": "Reason"}, position=1),
    },
}
YYYT = {"meta": {"code": "YYYT"}, "fields": {"patient_id": _f("string", "ID"), "lmp_date": _f("bsDate", "LMP")}}
YYYS = {
    "meta": {"code": "YYYS"},
    "fields": {
        "patient_id": _f("string", "ID"),
        "lmp_year": _f("bsYear", "Y"),
        "lmp_month": _f("bsMonth", "M"),
        "lmp_day": _f("bsDay", "D"),
        "lmp_date": _f("bsAggreDate", "LMP"),
    },
}
YYYR = {
    "meta": {"code": "YYYR"},
    "fields": {"patient_id": _f("string", "ID"), "lmp_year": _f("bsYear", "Y"), "lmp_date": _f("bsAggreDate", "LMP")},
}
YES_NO = [[0, "Yes"], [1, "No"]]
LISTS = {"meta": {"code": "0000"}, "fields": {"q1": _f("integer", list=YES_NO), "q2": _f("integer", list=YES_NO)}}
BOOL = {"meta": {"code": "0000"}, "fields": {"testbool": _f("boolean")}}
MONTH = {"meta": {"code": "FOO"}, "fields": {"month": _f("month", "RPM", "Report Month", required=True)}}
JR_SIMILAR = {"meta": {"code": "T"}, "fields": {"problem": _f("string", "P"), "meta_problem": _f("string", "MetaP")}}
JR_UNMATCHED = {"meta": {"code": "T"}, "fields": {"one": _f("string", "one"), "odd": _f("string", "odd")}}
MIXED_KEY = {"meta": {"code": "R"}, "fields": {"ooOoo": _f("string", "n")}}
UPPER_KEY = {"meta": {"code": "R"}, "fields": {"OOOOO": _f("string", "n")}}
REGEX_CODE = {"meta": {"code": ".*.*"}, "fields": {"name": _f("string", {"en": "n"}, "Name")}}
DEVANAGARI_CODE = {"meta": {"code": "ग"}, "fields": {"foo": _f("string", "foo", "foo")}}

YYYY_FULL = {
    "facility_id": "facility", "year": 2011, "month": "November", "misoprostol_administered": False,
    "quantity_dispensed": {"la_6x1": 1, "la_6x2": 2, "cotrimoxazole": 3, "zinc": 4, "ors": 5, "eye_ointment": 6},
    "days_stocked_out": {"la_6x1": 9, "la_6x2": 8, "cotrimoxazole": 7, "zinc": 6, "ors": 5, "eye_ointment": 4},
}


def _forms(definition: dict[str, Any]) -> dict[str, Any]:
    return {definition["meta"]["code"].upper(): definition}


def _sw_keys(key: str, locale: str) -> str:
    """A translation table: the tiny label key is "J" in Swahili."""
    return {("form.r.name.tiny", "sw"): "J"}.get((key, locale), key)


# --- the form code -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message, expected",
    [
        pytest.param("", None, id="an empty message has no form code"),
        pytest.param("YYYY CDT33", "YYYY", id="the code ends at a space"),
        pytest.param("YYYY", "YYYY", id="a code alone is a code"),
        pytest.param("yyyy CDT33", "YYYY", id="the code is upper-cased"),
        pytest.param("YYYY-CDT33", "YYYY", id="the code ends at a hyphen"),
        pytest.param("YYYY CDT33 foo bar", "YYYY", id="only the first word is the code"),
        pytest.param("YYYY!foo", "YYYY", id="the code ends at an exclamation mark"),
        pytest.param("YYYY#foo#2011#11#", "YYYY", id="the code ends at a hash"),
        pytest.param("YYYY,foo", "YYYY", id="the code ends at a comma"),
        pytest.param("YYYY:foo", "YYYY", id="the code ends at a colon"),
        pytest.param("द CDT33", "द", id="a code may be non-ASCII"),
        pytest.param("1!anc!x#y", "ANC", id="a muvuku header names the code second"),
        pytest.param("J1!T!p#Bar", "T", id="a javarosa header names the code second"),
        pytest.param("P Jane! Hi!", "P", id="two exclamation marks in a plain message do not make a muvuku header"),
        pytest.param("#foo", None, id="a message starting with a separator has no code"),
    ],
)
def test_form_code(message: str, expected: str | None) -> None:
    assert sms_parser.get_form_code(message) == expected


@pytest.mark.parametrize(
    "message, expected",
    [
        *[pytest.param(m, True, id=f"muvuku: {m}") for m in (
            "1!A!s", "1!ANCR!sarah#11", "1!A!sarah#11($*&", "1!ग!sarah#11", "1!?!sarah", "1!123!sarah",
            "1!a!foobar🇺🇸", "A1!a!x", "Z9!a!y")],
        *[pytest.param(m, False, id=f"not muvuku: {m}") for m in (
            "1?ANCR!sarah", "a?b?c", "41!a!s", "4T!a!s", "00!a!s", "1!a!")],
    ],
)
def test_muvuku_format(message: str, expected: bool) -> None:
    assert sms_parser.is_muvuku_format(message) is expected


# --- values --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "definition, message, expected",
    [
        # compact (smsparser-compact-textform.spec.js)
        pytest.param(ANCR, "ANCR sarah 24 2012-03-12", {"name": "sarah", "lmp": 24, "somedate": MAR_12_2012},
                     id="compact values fill the fields in definition order"),
        pytest.param(ANCR, "ANCR#sarah", {"name": "sarah"}, id="compact code may end at a hash"),
        pytest.param(ANCR, "ANCR!sarah", {"name": "sarah"}, id="compact code may end at an exclamation mark"),
        pytest.param(ANCR, "ANCR-sarah", {"name": "sarah"}, id="compact code may end at a hyphen"),
        pytest.param(ANCR, 'ANCR "Sarah Connor" 24 2012-03-12', {"name": "Sarah Connor", "lmp": 24, "somedate": MAR_12_2012},
                     id="compact quotes make one value of several words"),
        pytest.param(ANCR, 'ANCR "Sarah "killer bee" Connor" 24 2012-03-12',
                     {"name": 'Sarah "killer bee" Connor', "lmp": 24, "somedate": MAR_12_2012},
                     id="compact quotes may hold quotes"),
        pytest.param(ANCR, 'ANCR "Sarah Connor" 24', {"name": "Sarah Connor", "lmp": 24},
                     id="compact with too few values leaves the last fields out"),
        pytest.param(ANCR, 'ANCR "Sarah Connor" 24 2012-03-12 comment', {"name": "Sarah Connor", "lmp": 24, "somedate": MAR_12_2012},
                     id="compact with too many values ignores the extra ones"),
        pytest.param(CHAT, "CHAT sarah reduced fetal movements", {"name": "sarah", "comment": "reduced fetal movements"},
                     id="a last string field takes the rest of the text"),
        pytest.param(ANCR, "ANCR sarah abc 2012-03-12", {"name": "sarah", "lmp": None, "somedate": MAR_12_2012},
                     id="a compact value not of its field type is null"),
        pytest.param(R_NAME, "R North West", {"name": "North West"},
                     id="a value starting with a tiny label's letter stays compact"),
        pytest.param(R_LOCALE, "R jane", {"name": "jane"}, id="compact needs no labels"),
        # textforms (smsparser.spec.js)
        pytest.param(YYYY, "YYYY#HFI!foobar#ZDT!999#RPY!!2012",
                     {"facility_id": "foobar", "year": 2012, "quantity_dispensed": {"zinc": 999}},
                     id="textforms labels may be followed by exclamation marks"),
        pytest.param(YYYY, "YYYY#HFI-foobar#ZDT-999#RPY--2012",
                     {"facility_id": "foobar", "year": 2012, "quantity_dispensed": {"zinc": 999}},
                     id="textforms labels may be followed by hyphens"),
        pytest.param(YYYY, "YYYY#HFI!foobar#ZDT!९९९#RPY!!२०१२",
                     {"facility_id": "foobar", "year": 2012, "quantity_dispensed": {"zinc": 999}},
                     id="Devanagari digits are read as numbers"),
        pytest.param(YYYY, "YYYY CDT 33 #HFI foobar# ZDT 999 #RPY 2012",
                     {"facility_id": "foobar", "year": 2012, "quantity_dispensed": {"cotrimoxazole": 33, "zinc": 999}},
                     id="textforms labels may come in any order"),
        pytest.param(YYYY, "YYYY CDT 33 HFI foobar ZDT 999 RPY 2012", {"quantity_dispensed": {"cotrimoxazole": None}},
                     id="textforms without hashes is one label with the rest as its value"),
        pytest.param(YYYY, "YYYY CDT 33# ZDT 999 #RPY2012", {"quantity_dispensed": {"cotrimoxazole": 33, "zinc": 999}, "year": 2012},
                     id="a number may follow its label without a space"),
        pytest.param(YYYY, "YYYY CDT33#ZDT999#RPY2012", {"quantity_dispensed": {"cotrimoxazole": 33, "zinc": 999}, "year": 2012},
                     id="textforms numbers without any spaces"),
        pytest.param(YYYY, "YYYY CDT33#HFI001#ZDT999#RPY2012",
                     {"facility_id": "001", "quantity_dispensed": {"cotrimoxazole": 33, "zinc": 999}, "year": 2012},
                     id="a string field keeps leading zeros"),
        pytest.param(YYYY, "YYYY CDT33#HFI01ach#ZDT999#RPY2012",
                     {"facility_id": "01ach", "quantity_dispensed": {"cotrimoxazole": 33, "zinc": 999}, "year": 2012},
                     id="a string field may mix digits and letters"),
        pytest.param(YYYY, "YYYY CDT33", {"quantity_dispensed": {"cotrimoxazole": 33}}, id="textforms with one label"),
        pytest.param(YYYY, "yyyy cdt33#msp 1#rpm 11", {"quantity_dispensed": {"cotrimoxazole": 33},
                                                     "misoprostol_administered": True, "month": "November"},
                     id="labels ignore case and list values are mapped to their label"),
        pytest.param(ABCD, "\t\nABCD \t \n \t Q \t\n 1 \t\n", {"q": "No"}, id="whitespace around a list value is ignored"),
        pytest.param(ABCD, "\t\n ABCD\t\n  Q \t\n 0 \t\n# \t\n Name John Smith\n \t", {"q": "Yes", "name": "John Smith"},
                     id="whitespace around labels and values is ignored"),
        pytest.param(ABCD, "\t\nABCD\t \n Q \t\n 1 \t \n# \t\n Name  \t \n John Smith\n \t", {"q": "No", "name": "John Smith"},
                     id="whitespace between a label and its value is ignored"),
        pytest.param(ABCD, "ABCD q 7", {"q": None}, id="a value not in the list is null"),
        pytest.param(TDATE, "0000 TDATE 2012-03-12", {"testdate": MAR_12_2012}, id="textforms date"),
        pytest.param(YYYZ, "YYYZ BIR2012-03-12", {"birthdate": MAR_12_2012}, id="textforms date right after its label"),
        pytest.param(FOO, "0000 foo 16A", {"foo": "16A"}, id="textforms string of digits and letters"),
        pytest.param(FOO, "0000 foo 16A!", {"foo": "16A!"}, id="textforms string ending in an exclamation mark"),
        pytest.param(FOO, "0000 foo 012345", {"foo": "012345"}, id="textforms string keeps a leading zero"),
        pytest.param(OFF, "OFF ID 12345", {"patient_id": "12345"}, id="textforms id of digits stays a string"),
        pytest.param(MIXED_KEY, "R n jane", {"ooOoo": "jane"}, id="mixed case field keys get their tiny label's value"),
        pytest.param(MIXED_KEY, "R jane", {"ooOoo": "jane"}, id="mixed case field keys in compact"),
        pytest.param(UPPER_KEY, "R n jane", {"OOOOO": "jane"}, id="upper case field keys get their tiny label's value"),
        pytest.param(REGEX_CODE, ".*.*  n jane", {"name": "jane"}, id="regex characters in the form code are literal"),
        pytest.param(DEVANAGARI_CODE, "ग foo 16A", {"foo": "16A"}, id="a non-ASCII code with textforms"),
        pytest.param(DEVANAGARI_CODE, "ग 16A", {"foo": "16A"}, id="a non-ASCII code with compact"),
        # muvuku and javarosa (smsparser.spec.js)
        pytest.param(YYYY, "1!YYYY!facility#2011#11#0#1#2#3#4#5#6#9#8#7#6#5#4", YYYY_FULL, id="muvuku values in field order"),
        pytest.param(YYYY, "1!YYYY!facility#2011#11#yyyyy#zzzz#2#3#4#5#6#9#8#7#6#5#4",
                     {**YYYY_FULL, "misoprostol_administered": None,
                      "quantity_dispensed": {**YYYY_FULL["quantity_dispensed"], "la_6x1": None}},
                     id="muvuku values not of their type are null"),
        pytest.param(YYYY, "1!YYYY!facility#2011#11#1#1#2#3",
                     {"facility_id": "facility", "year": 2011, "month": "November", "misoprostol_administered": True,
                      "quantity_dispensed": {"la_6x1": 1, "la_6x2": 2, "cotrimoxazole": 3}, "days_stocked_out": {}},
                     id="muvuku with too few values leaves the last fields out"),
        pytest.param(MONTH, "1!FOO!10", {"month": 10}, id="month fields are numbers"),
        pytest.param(DEVANAGARI_CODE, "1!ग!16A", {"foo": "16A"}, id="muvuku with a non-ASCII code"),
        pytest.param(FOO, "1!0000!16A!", {"foo": "16A!"}, id="muvuku value with an exclamation mark"),
        pytest.param(FOO, "1!0000!012345", {"foo": "012345"}, id="muvuku string keeps a leading zero"),
        pytest.param(LISTS, "1!0000!1#", {"q1": "No", "q2": None}, id="an empty muvuku list value is null"),
        pytest.param(LISTS, "1!0000!0", {"q1": "Yes"}, id="zero is a list value"),
        pytest.param(ABCD, "1!ABCD!\t\n 1 \t\n#\n \t John \nSmith \n \t", {"q": "No", "name": "John \nSmith"},
                     id="muvuku values are trimmed"),
        pytest.param(TDATE, "1!0000!2012-03-12", {"testdate": MAR_12_2012}, id="muvuku date"),
        pytest.param(YYYZ, "1!YYYZ!##2012-03-12", {"one": None, "two": None, "birthdate": MAR_12_2012},
                     id="empty muvuku values are null"),
        pytest.param(BOOL, "1!0000!1", {"testbool": True}, id="boolean 1 is true"),
        pytest.param(BOOL, "1!0000!0", {"testbool": False}, id="boolean 0 is false"),
        pytest.param(BOOL, "1!0000!2", {"testbool": None}, id="boolean other than 0 or 1 is null"),
        pytest.param(YYYY, "J1!YYYY!HFI#facility#RPY#2011#RPM#11#MSP#0#L1T#1#L2T#2#CDT#3#ZDT#4#ODT#5#EOT#6#L1O#9#"
                     "L2O#8#CDO#7#ZDO#6#ODO#5#EDO#4", YYYY_FULL, id="javarosa labels and values"),
        pytest.param(YYYY, "J1!YYYY!EDO#4#ODT#5#RPM#11#L2T#2#HFI#facility#CDT#3#CDO#7#MSP#0#ZDO#6#L1O#9#RPY#2011#EOT#6#ODO#"
                     "5#L1T#1#ZDT#4#L2O#8", YYYY_FULL, id="javarosa labels in any order"),
        pytest.param(YYYY, "J1!YYYY!L2T#2#HFI#fa\\cility\\#2\\#3#CDT#3#CDO#7",
                     {"facility_id": "fa\\cility#2#3", "quantity_dispensed": {"la_6x2": 2, "cotrimoxazole": 3},
                      "days_stocked_out": {"cotrimoxazole": 7}},
                     id="javarosa values may escape a hash"),
        pytest.param(YYYY, "J1!YYYY!HFI#!fac*!?ty!#RPY#2015", {"facility_id": "!fac*!?ty!", "year": 2015, "quantity_dispensed": {},
                                                              "days_stocked_out": {}},
                     id="javarosa values may hold special characters"),
        pytest.param(JR_SIMILAR, "J1!T!p#Bar#metap#foo", {"problem": "Bar", "meta_problem": "foo"},
                     id="javarosa labels match whole"),
        pytest.param(JR_SIMILAR, "J1!T!p #Bar#  metap#foo", {"problem": "Bar", "meta_problem": "foo"},
                     id="javarosa labels may have spaces around"),
        pytest.param(JR_UNMATCHED, "J1!T!one#two#odd", {"one": "two"}, id="a javarosa label without value is left out"),
        # Bikram Sambat dates (smsparser.spec.js)
        pytest.param(TBSDATE, "1!0000!2068-11-29", {"testdate": MAR_12_2012}, id="muvuku Bikram Sambat date"),
        pytest.param(TBSDATE, "0000 2068-11-29", {"testdate": MAR_12_2012}, id="compact Bikram Sambat date"),
        pytest.param(YYYT, "YYYT 12345 2068-11-29", {"patient_id": "12345", "lmp_date": MAR_12_2012},
                     id="an id and a Bikram Sambat date"),
        pytest.param(YYYT, "YYYT 12345 २०७०-०१-०१", {"patient_id": "12345", "lmp_date": 1365897600000},
                     id="a Bikram Sambat date in Devanagari digits"),
        pytest.param(YYYT, "YYYT १2345 २०७7-०७-११", {"patient_id": "12345", "lmp_date": 1603756800000},
                     id="an id and a date mixing Devanagari and Western digits"),
        pytest.param(YYYT, "YYYT 12345 2068-11-32", {"patient_id": "12345", "lmp_date": None},
                     id="an impossible Bikram Sambat date is null"),
        pytest.param(YYYT, "YYYT ०३१७७", {"patient_id": "03177"}, id="an id in Devanagari digits"),
        pytest.param(YYYS, "YYYS 12345 2068 11 29",
                     {"patient_id": "12345", "lmp_year": "2068", "lmp_month": "11", "lmp_day": "29", "lmp_date": MAR_12_2012},
                     id="Bikram Sambat date parts make the aggregate date"),
        pytest.param(YYYS, "YYYS ०३१77 २०८० १ १",
                     {"patient_id": "03177", "lmp_year": "2080", "lmp_month": "1", "lmp_day": "1", "lmp_date": 1681430400000},
                     id="Bikram Sambat date parts in Devanagari digits"),
        pytest.param(YYYS, "YYYS #ID 12345 #Y 2068 #M 11 #D 29",
                     {"patient_id": "12345", "lmp_year": "2068", "lmp_month": "11", "lmp_day": "29", "lmp_date": MAR_12_2012},
                     id="textforms Bikram Sambat date parts"),
        pytest.param(YYYS, "YYYS 12345 123 11 29",
                     {"patient_id": "12345", "lmp_year": "123", "lmp_month": "11", "lmp_day": "29", "lmp_date": None},
                     id="an impossible Bikram Sambat year makes a null aggregate"),
        pytest.param(YYYS, "YYYS 12345", {"patient_id": "12345"}, id="no Bikram Sambat year makes no aggregate"),
        pytest.param(YYYR, "YYYR 12345 2068", {"patient_id": "12345", "lmp_year": "2068", "lmp_date": 1302739200000},
                     id="Bikram Sambat month and day default to 1"),
    ],
)
def test_values(definition: dict[str, Any], message: str, expected: dict[str, Any]) -> None:
    result = parse(message, _forms(definition))
    assert result.form == definition["meta"]["code"].upper()
    assert result.fields == expected


@pytest.mark.parametrize(
    "definition, message, locale, translate, expected",
    [
        pytest.param(R_LOCALE, "R n jane", "sw", None, {"name": "n jane"},
                     id="another locale's tiny label is read as compact"),
        pytest.param(R_LOCALE, "R j jane", "sw", None, {"name": "jane"}, id="the locale's tiny label is a label"),
        pytest.param(R_LOCALE, "r J jane", "sw", None, {"name": "jane"}, id="the locale's tiny label ignores case"),
        pytest.param(R_LOCALE, "R n jane", "fr", None, {"name": "jane"}, id="a locale without a label falls back to English"),
        pytest.param(R_KEY, "R j jane", "sw", _sw_keys, {"name": "jane"}, id="a tiny label given as a translation key"),
        pytest.param(R_KEY, "r J jane", "sw", _sw_keys, {"name": "jane"}, id="a translated tiny label ignores case"),
        pytest.param(R_KEY, "R jane", "sw", _sw_keys, {"name": "jane"}, id="compact with a translated tiny label"),
        pytest.param(R_KEY, "J1!R!j#jane", "sw", _sw_keys, {"name": "jane"}, id="javarosa with a translated tiny label"),
        pytest.param(OFF, "OFF ID 12345", "en", None, {"patient_id": "12345"}, id="an English tiny label given per locale"),
    ],
)
def test_locales(definition: dict[str, Any], message: str, locale: str, translate: Any, expected: dict[str, Any]) -> None:
    assert parse(message, _forms(definition), locale, translate).fields == expected


@pytest.mark.parametrize(
    "definition, message, expected",
    [
        pytest.param(ANCR, "sarah 24 2012-03-12", True, id="values only is compact"),
        pytest.param(ANCR, "Norah 24 2012-03-12", True, id="a value starting with a label's letters is compact"),
        pytest.param(ANCR, "n sarah lmp 24 d 2012-03-12", False, id="a leading tiny label is textforms"),
        pytest.param(ANCR, "LMP24", False, id="a label followed by a digit is textforms"),
        pytest.param(ANCR, "lmp", False, id="a label alone is textforms"),
        pytest.param(ANCR, "Name sarah", False, id="a leading short label is textforms"),
        pytest.param(ANCR, "sarah#24", False, id="a hash is textforms"),
    ],
)
def test_is_compact(definition: dict[str, Any], message: str, expected: bool) -> None:
    assert sms_parser._is_compact(definition, message, "en", lambda key, locale: key) is expected


# --- errors --------------------------------------------------------------------------------------------


P = {"P": {"meta": {"code": "P"}, "fields": {
    "age": {"type": "integer", "labels": {"tiny": "A"}, "required": True},
    "patient_name": {"type": "string", "labels": {"tiny": "N"}, "required": True},
}}}


@pytest.mark.parametrize(
    "message, forms, expected",
    [
        pytest.param("P 12 Jane", P, ParsedMessage("P", {"age": 12, "patient_name": "Jane"}, []),
                     id="registration: compact values in definition order"),
        pytest.param("p a 12#n Jane Doe", P, ParsedMessage("P", {"age": 12, "patient_name": "Jane Doe"}, []),
                     id="registration: textforms with lower case code and labels"),
        pytest.param("P 12", P, ParsedMessage("P", {"age": 12}, [
            {"code": "sys.missing_fields", "message": "sys.missing_fields", "fields": ["patient_name"]}]),
            id="a required field not given is missing"),
        pytest.param("P abc", P, ParsedMessage("P", {"age": None}, [
            {"code": "sys.missing_fields", "message": "sys.missing_fields", "fields": ["age", "patient_name"]}]),
            id="a required field not of its type is missing"),
        pytest.param("P", P, ParsedMessage("P", {}, [
            {"code": "sys.missing_fields", "message": "sys.missing_fields", "fields": ["age", "patient_name"]}]),
            id="a code alone misses every required field"),
        pytest.param("", P, ParsedMessage(None, {}, [{"code": "sys.empty", "message": "sys.empty"}]),
                     id="an empty message"),
        pytest.param(" \t\n", P, ParsedMessage(None, {}, [{"code": "sys.empty", "message": "sys.empty"}]),
                     id="a blank message is empty"),
        pytest.param("HELP ME", P, ParsedMessage(None, {}, [{"code": "sys.form_not_found", "message": "sys.form_not_found"}]),
                     id="a first word that is no form code"),
        pytest.param("#", P, ParsedMessage(None, {}, []), id="no first word is a plain message"),
        pytest.param("1!YYYY!facility#2011#11#0#1#2#3#1#1#1#1#1#1#1#1#1#1#####77#", _forms(YYYY), ParsedMessage("YYYY", {
            **YYYY_FULL,
            "quantity_dispensed": dict.fromkeys(YYYY_FULL["quantity_dispensed"], 1) | {"la_6x1": 1, "la_6x2": 2, "cotrimoxazole": 3},
            "days_stocked_out": dict.fromkeys(YYYY_FULL["days_stocked_out"], 1),
        }, [{"code": "extra_fields", "message": "extra_fields"}]), id="muvuku values beyond the fields are extra"),
        pytest.param("1!YYYY!facility", _forms(YYYY), ParsedMessage("YYYY", {
            "facility_id": "facility", "quantity_dispensed": {}, "days_stocked_out": {}},
            [{"code": "sys.missing_fields", "message": "sys.missing_fields", "fields": ["year", "month"]}]),
            id="required fields missing from muvuku"),
        pytest.param("A1!P!x", P, ParsedMessage("P", {}, [
            {"code": "sys.missing_fields", "message": "sys.missing_fields", "fields": ["age", "patient_name"]}]),
            id="a muvuku header of an unknown parser reads no values"),
    ],
)
def test_report(message: str, forms: dict[str, Any], expected: ParsedMessage) -> None:
    assert parse(message, forms) == expected


def test_error_messages_are_translated_and_rendered() -> None:
    texts = {"sys.form_not_found": "The form sent '{{form}}' was not recognized.",
             "sys.missing_fields": "Missing or invalid fields: {{fields}}.",
             "sys.empty": "Message appears empty."}
    translate = lambda key, locale: texts.get(key, key)  # noqa: E731
    assert parse("XYZ 1", P, "en", translate).errors == [
        {"code": "sys.form_not_found", "message": "The form sent 'XYZ' was not recognized."}]
    # records.js translates missing_fields without a context: lodash leaves the template as it is
    assert parse("P 12", P, "en", translate).errors == [
        {"code": "sys.missing_fields", "message": "Missing or invalid fields: {{fields}}.", "fields": ["patient_name"]}]
    assert parse("", P, "en", translate).errors == [{"code": "sys.empty", "message": "Message appears empty."}]


# --- form look-up and deliberate differences ----------------------------------------------------------


@pytest.mark.parametrize(
    "message, forms, expected_form, expected_fields",
    [
        pytest.param("p 12 Jane", P, "P", {"age": 12, "patient_name": "Jane"}, id="codes ignore case"),
        pytest.param("reg 12 Jane", {"Reg": {"meta": {"code": "Reg"}, "fields": P["P"]["fields"]}}, "Reg",
                     {"age": 12, "patient_name": "Jane"}, id="a form key not in upper case is found ignoring case"),
        pytest.param("P 12 Jane", {"P": {"fields": P["P"]["fields"]}}, "P", {"age": 12, "patient_name": "Jane"},
                     id="a form without meta code has its key stripped"),
        pytest.param("P 12 Jane! Hi!", P, "P", {"age": 12, "patient_name": "Jane! Hi!"},
                     id="exclamation marks in a compact value do not make a muvuku header"),
        pytest.param("P 12 N Jane", P, "P", {"age": 12, "patient_name": "N Jane"},
                     id="a compact last string keeps a label-like word"),
        pytest.param("P#N 12 Main Street#A 40", P, "P", {"age": 40, "patient_name": "12 Main Street"},
                     id="a textforms string value starting with a number is kept whole"),
        pytest.param("P#A 40#N Jane\nDoe", P, "P", {"age": 40, "patient_name": "Jane\nDoe"},
                     id="a textforms value may span lines"),
        pytest.param("P 1e1 Jane", P, "P", {"age": 10, "patient_name": "Jane"}, id="numbers are read as JavaScript's Number"),
        pytest.param("P 2.5 Jane", P, "P", {"age": 2.5, "patient_name": "Jane"}, id="a decimal number in an integer field"),
        pytest.param("P#A 4#A 5#N Jo", P, "P", {"age": None, "patient_name": "Jo"}, id="a number label given twice is null"),
        pytest.param("P#N Jo#N Al#A 4", P, "P", {"age": 4, "patient_name": ["Jo", "Al"]},
                     id="a string label given twice lists its values"),
    ],
)
def test_form_lookup_and_differences(message: str, forms: dict[str, Any], expected_form: str,
                                     expected_fields: dict[str, Any]) -> None:
    result = parse(message, forms)
    assert (result.form, result.fields) == (expected_form, expected_fields)


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("2012-03-12", MAR_12_2012, id="ISO date"),
        pytest.param("2012-3-12", MAR_12_2012, id="date with a one digit month"),
        pytest.param("2012/03/12", MAR_12_2012, id="date with slashes"),
        pytest.param("20120312", MAR_12_2012, id="ISO basic date"),
        pytest.param("2012-03-12T10:30", MAR_12_2012 + 37800000, id="ISO date and time"),
        pytest.param("2012-03-12T10:30+03:00", MAR_12_2012 + 27000000, id="ISO date and time with offset"),
        pytest.param("२०१२-०३-१२", MAR_12_2012, id="date in Devanagari digits"),
        pytest.param("2012-02-30", None, id="an impossible date is null"),
        pytest.param("12/03/2012", None, id="a day-first date is null"),
        pytest.param("soon", None, id="words are null"),
    ],
)
def test_dates(text: str, expected: int | None) -> None:
    forms = {"D": {"meta": {"code": "D"}, "fields": {"when": {"type": "date", "labels": {"tiny": "W"}}}}}
    assert parse(f"D {text}", forms).fields == {"when": expected}


def test_dates_without_zone_are_read_in_the_given_zone() -> None:
    nairobi = timezone(timedelta(hours=3))
    assert parse("0000 2012-03-12", _forms(TDATE), tz=nairobi).fields == {"testdate": MAR_12_2012 - 3 * 3600000}


def test_fields_follow_javascript_key_order() -> None:
    forms = {"N": {"meta": {"code": "N"}, "fields": {"b": _f("string"), "2": _f("integer"), "1": _f("integer")}}}
    assert list(parse("N 1 2 bee", forms).fields.items()) == [("1", 1), ("2", 2), ("b", "bee")]
