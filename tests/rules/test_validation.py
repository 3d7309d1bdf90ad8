"""sentinel/validation.py: CHT's pupil validation rules (spec 2.7).

Pure tables first: every function with passing and failing values, pupil's left-to-right operators,
what `rule_problems` reports (with the location), the errors a failing entry or a broken rule gives, and
the flattening of `fields` over the document. Then `unique`, `uniqueWithin`, `exists` and `uniquePhone`
against reports and contacts in a real PouchDB Server, through the `reports_by_field` and `lookups`
views and `CouchDB.view`; the database is never mocked.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

import pytest

from sentinel.core.ddocs import SENTINEL_DDOC
from sentinel.core import ddocs
from sentinel.rules import validation
from sentinel.core.couch import CouchDB, CouchServer
from sentinel.rules.validation import Failure, failures, rule_problems, validate, validations_problems

NOW = datetime(2024, 1, 15, 12, 0, tzinfo=timezone.utc)
DAY = 86_400_000
WEEK = 7 * DAY
NOW_MS = int(NOW.timestamp() * 1000)
REPORTED = NOW_MS - 2 * 3_600_000  # 10:00 the same day
ABSENT = object()


def no_query(view: str, keys: list) -> list:
    raise AssertionError(f"no query expected, got {view} {keys}")


def run(
    rule: str,
    value: Any = ABSENT,
    *,
    query: Callable[[str, list], list] = no_query,
    phone_is_valid: Callable[[str], bool] = lambda phone: phone.startswith("+2547"),
    doc: dict[str, Any] | None = None,
    **other_fields: Any,
) -> list[dict[str, Any]]:
    """The errors of one entry {property: 'x', rule} on a report whose fields hold x=value and the others."""
    fields = dict(other_fields)
    if value is not ABSENT:
        fields["x"] = value
    report = doc if doc is not None else {"_id": "r1", "type": "data_record", "form": "F", "reported_date": REPORTED}
    report = {**report, "fields": {**report.get("fields", {}), **fields}}
    entry = {"property": "x", "rule": rule, "message": [{"locale": "en", "content": "x is invalid"}]}
    return validate(report, [entry], now=NOW, query=query, phone_is_valid=phone_is_valid, translate=lambda k, locale: k)


def is_valid(rule: str, value: Any = ABSENT, **kwargs: Any) -> bool:
    errors = run(rule, value, **kwargs)
    assert errors in ([], [{"code": "invalid_x", "message": "x is invalid"}]), errors
    return not errors


# --- the functions --------------------------------------------------------------------------------

FUNCTIONS = [
    # equals and in compare with JavaScript's loose ==, sequals with ===
    pytest.param("equals('a')", "a", {}, True, id="equals: same string"),
    pytest.param("equals('a')", "A", {}, False, id="equals: is case-sensitive"),
    pytest.param("equals(5)", "5", {}, True, id="equals: loose, '5' == 5"),
    pytest.param("equals('1')", 1, {}, True, id="equals: loose, 1 == '1'"),
    pytest.param("sequals('a')", "a", {}, True, id="sequals: same string"),
    pytest.param("sequals(5)", "5", {}, False, id="sequals: strict, '5' !== 5"),
    pytest.param("sequals(5)", 5, {}, True, id="sequals: same number"),
    pytest.param("iEquals('MARY')", "mary", {}, True, id="iequals: ignores case"),
    pytest.param("iequals('mary')", "maryjohn", {}, False, id="iequals: different string"),
    pytest.param("siequals('A')", "a", {}, True, id="siequals: ignores case"),
    pytest.param("siequals('a')", "b", {}, False, id="siequals: different string"),
    pytest.param("in('a', 'b')", "b", {}, True, id="in: one of the values"),
    pytest.param("in('a', 'b')", "c", {}, False, id="in: none of the values"),
    pytest.param("in(1, 2)", "2", {}, True, id="in: loose, '2' == 2"),
    # lengths: a string's UTF-16 length, an array's length; anything else has none
    pytest.param("lenMin(2)", "ab", {}, True, id="lenMin: long enough"),
    pytest.param("lenMin(2)", "a", {}, False, id="lenMin: too short"),
    pytest.param("lenMin(1)", ABSENT, {}, False, id="lenMin: an absent value is ''"),
    pytest.param("lenMin(2)", "😀", {}, True, id="lenMin: an emoji is 2 UTF-16 units"),
    pytest.param("lenMin(2)", ["a", "b"], {}, True, id="lenMin: an array's length"),
    pytest.param("lenMin(1)", 12345, {}, False, id="lenMin: a number has no length"),
    pytest.param("lenMax(3)", "abc", {}, True, id="lenMax: short enough"),
    pytest.param("lenMax(3)", "abcd", {}, False, id="lenMax: too long"),
    pytest.param("lenMax(3)", ABSENT, {}, True, id="lenMax: an absent value is ''"),
    pytest.param("lenEquals(3)", "abc", {}, True, id="lenEquals: exact length"),
    pytest.param("lenEquals(3)", "ab", {}, False, id="lenEquals: other length"),
    pytest.param("lenEquals(3)", 123, {}, True, id="lenEquals: String(number)"),
    # min, max, between: parseFloat of the value
    pytest.param("min(5)", "10", {}, True, id="min: above"),
    pytest.param("min(5)", "3", {}, False, id="min: below"),
    pytest.param("min(10)", "12abc", {}, True, id="min: parseFloat reads the leading number"),
    pytest.param("min(0)", ABSENT, {}, False, id="min: an absent value is not a number"),
    pytest.param("max(5)", "3", {}, True, id="max: below"),
    pytest.param("max(5)", "10", {}, False, id="max: above"),
    pytest.param("between(0, 40)", 40, {}, True, id="between: bounds included"),
    pytest.param("between(0, 40)", "0", {}, True, id="between: a string"),
    pytest.param("between(0, 40)", 41, {}, False, id="between: above"),
    pytest.param("between(0, 40)", -1, {}, False, id="between: below"),
    # required / optional
    pytest.param("required", "x", {}, True, id="required: a value"),
    pytest.param("required", ABSENT, {}, False, id="required: absent"),
    pytest.param("required", "", {}, False, id="required: empty"),
    pytest.param("required", None, {}, False, id="required: null"),
    pytest.param("required", 0, {}, False, id="required: 0 is falsy"),
    pytest.param("optional", ABSENT, {}, True, id="optional: always valid"),
    pytest.param("optional && integer", ABSENT, {}, False, id="optional does not excuse the other calls"),
    # character classes
    pytest.param("numeric", "1.5", {}, True, id="numeric: a decimal"),
    pytest.param("numeric", "1e3", {}, True, id="numeric: an exponent"),
    pytest.param("numeric", "12abc", {}, False, id="numeric: trailing letters"),
    pytest.param("numeric", ABSENT, {}, False, id="numeric: absent"),
    pytest.param("numeric", "٣", {}, False, id="numeric: ASCII digits only"),
    pytest.param("alpha", "abc", {}, True, id="alpha: letters"),
    pytest.param("alpha", "abc1", {}, False, id="alpha: a digit"),
    pytest.param("alpha", "é", {}, False, id="alpha: ASCII letters only"),
    pytest.param("alphanumeric", "abc123", {}, True, id="alphanumeric: letters and digits"),
    pytest.param("alphaNumeric", "abc@123", {}, False, id="alphanumeric: a symbol"),
    pytest.param("email", "a.b@example.org", {}, True, id="email: an address"),
    pytest.param("email", "not-an-email", {}, False, id="email: no @"),
    pytest.param("email", "a@b.c", {}, False, id="email: a one-letter domain"),
    # regex: a JavaScript RegExp
    pytest.param("regex('^\\d{5}$')", "12345", {}, True, id="regex: matches"),
    pytest.param("regex('^\\d{5}$')", "1234", {}, False, id="regex: does not match"),
    pytest.param("regex(\"^abc$\", \"i\")", "ABC", {}, True, id="regex: flags"),
    pytest.param("regex('^\\d+$')", 123, {}, True, id="regex: tests String(value)"),
    pytest.param("regex('[0-9]')", "x7y", {}, True, id="regex: searches, not anchored"),
    pytest.param("regex('^abc$')", "abc\n", {}, False, id="regex: $ is the end of input"),
    pytest.param("regex('^a.c$')", "a\rc", {}, False, id="regex: . does not match a line break"),
    pytest.param("regex('^\\d$')", "٣", {}, False, id="regex: \\d is ASCII"),
    # integer: parseInt(value) == value
    pytest.param("integer", "5", {}, True, id="integer: a string"),
    pytest.param("integer", "   5", {}, True, id="integer: leading spaces"),
    pytest.param("integer", "-2", {}, True, id="integer: negative"),
    pytest.param("integer", 5, {}, True, id="integer: a number"),
    pytest.param("integer", "2.3", {}, False, id="integer: a decimal"),
    pytest.param("integer", 5.5, {}, False, id="integer: a decimal number"),
    pytest.param("integer", "56b", {}, False, id="integer: trailing letters"),
    pytest.param("integer", ABSENT, {}, False, id="integer: absent"),
    # other fields
    pytest.param("equalsTo('y')", "a", {"y": "a"}, True, id="equalsTo: same as the other field"),
    pytest.param("equalsTo('y')", "a", {"y": "b"}, False, id="equalsTo: differs from the other field"),
    pytest.param("otherEquals('country', 'US') ? lenMin(2) : lenMin(0)", "", {"country": "US"}, False, id="otherX: runs X on another field"),
    pytest.param("otherEquals('country', 'US') ? lenMin(2) : lenMin(0)", "", {"country": "KE"}, True, id="otherX: the other branch"),
    pytest.param("lenMn(1)", ABSENT, {}, True, id="an unknown function is valid"),
    # isAfter / isBefore: the day of reported_date +/- the duration
    pytest.param("isAfter('-40 weeks')", REPORTED - 40 * WEEK, {}, True, id="isAfter: the same day"),
    pytest.param("isAfter('-40 weeks')", REPORTED - 40 * WEEK - DAY, {}, False, id="isAfter: the day before"),
    pytest.param("isAfter('2 days')", "2024-01-17", {}, True, id="isAfter: an ISO date"),
    pytest.param("isAfter('2 days')", "2024-01-16T23:59:00Z", {}, False, id="isAfter: an ISO date-time the day before"),
    pytest.param("isBefore('4 weeks')", REPORTED - 4 * WEEK, {}, True, id="isBefore: the same day"),
    pytest.param("isBefore('4 weeks')", REPORTED - 4 * WEEK + DAY, {}, False, id="isBefore: the day after"),
    pytest.param("isBefore('1 month')", "2023-12-15", {}, True, id="isBefore: months are calendar months"),
    pytest.param("isBefore('4 weeks')", "x", {}, False, id="isBefore: not a date"),
    pytest.param("isBefore('x')", REPORTED - 5 * WEEK, {}, False, id="isBefore: not a duration"),
    # isISOWeek
    pytest.param("isISOWeek('x', 'year')", 53, {"year": 2020}, True, id="isISOWeek: 2020 has 53 weeks"),
    pytest.param("isISOWeek('x', 'year')", 53, {"year": 2021}, False, id="isISOWeek: 2021 has 52"),
    pytest.param("isISOWeek('x', 'year')", "07", {"year": "2021"}, True, id="isISOWeek: strings"),
    pytest.param("isISOWeek('x', 'year')", 0, {"year": 2021}, False, id="isISOWeek: week 0"),
    pytest.param("isISOWeek('x', 'year')", 10, {}, False, id="isISOWeek: the year field is missing"),
    pytest.param("isISOWeek('x')", 52, {}, True, id="isISOWeek: without a year field, the current year (2024: 52)"),
    pytest.param("isISOWeek('x')", 53, {}, False, id="isISOWeek: 53 in 2024"),
    pytest.param("isISOWeek('y')", ABSENT, {}, False, id="isISOWeek: the week field is missing"),
    # validPhone: the phone validation the caller gives
    pytest.param("validPhone('x')", "+254712345678", {}, True, id="validPhone: valid"),
    pytest.param("validPhone('x')", "0712", {}, False, id="validPhone: invalid"),
    pytest.param("validPhone('x')", ABSENT, {}, False, id="validPhone: absent"),
]


@pytest.mark.parametrize("rule, value, others, expected", FUNCTIONS)
def test_each_function_passes_and_fails_as_cht_does(rule, value, others, expected):
    assert is_valid(rule, value, **others) is expected


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param(NOW_MS, True, id="today"),
        pytest.param(NOW_MS - DAY, False, id="yesterday"),
    ],
)
def test_is_after_counts_from_now_when_the_report_has_no_reported_date(value, expected):
    doc = {"_id": "r1", "type": "data_record", "form": "F"}
    assert is_valid("isAfter('0 days')", value, doc=doc) is expected


def test_days_are_compared_in_the_given_time_zone():
    nairobi = timezone(timedelta(hours=3))
    doc = {"_id": "r1", "reported_date": REPORTED, "fields": {"x": "2024-01-15T22:00:00Z"}}  # 16th in Nairobi
    entry = [{"property": "x", "rule": "isBefore('0 days')"}]
    args = dict(now=NOW, query=no_query, phone_is_valid=bool, translate=lambda k, locale: k)
    assert validate(doc, entry, **args) == []
    assert validate(doc, entry, tz=nairobi, **args) == [{"code": "invalid_x", "message": None}]


# --- operators: pupil has no precedence -----------------------------------------------------------

T, F = "optional", "equals('never')"


@pytest.mark.parametrize(
    "rule, expected",
    [
        pytest.param(f"{T} || {F} && {F}", False, id="|| then && applied left to right: (T || F) && F"),
        pytest.param(f"{F} && {F} || {T}", True, id="(F && F) || T"),
        pytest.param(f"{T} || ({F} && {F})", True, id="parentheses group"),
        pytest.param(f"!{T} || {T}", True, id="! negates the next operand only"),
        pytest.param(f"!{F} && {T}", True, id="!F && T"),
        pytest.param(f"!({T} && {F})", True, id="! of a group"),
        pytest.param(f"{F} ? {F} : {T}", True, id="ternary: else"),
        pytest.param(f"{T} ? {F} : {T}", False, id="ternary: then"),
        pytest.param(f"{F} ? {F}", True, id="ternary without else: valid"),
        pytest.param(f"{T} && {F} ? {T} : {F}", False, id="ternary: the condition is everything before ?"),
        pytest.param(f"({T} ? {T} : {F}) && {F}", False, id="ternary in a group"),
        pytest.param("()", True, id="an empty group is valid"),
        pytest.param("", True, id="an empty rule is valid"),
        pytest.param("OPTIONAL && Equals('v')", True, id="function names ignore case"),
        pytest.param("len Min(1)", True, id="whitespace outside strings is dropped, as CHT's reader does"),
        pytest.param("in('a', 'v',)", True, id="a trailing comma in the arguments"),
    ],
)
def test_operators_apply_left_to_right_with_not_binding_the_next_operand(rule, expected):
    assert is_valid(rule, "v") is expected


def test_parsed_rules_are_cached_per_rule_string():
    rule = f"lenMin(1) && lenMax({uuid.uuid4().int % 1000 + 10})"
    first = validation._parse(rule)
    assert validation._parse(rule) is first
    assert validation._parse(rule + " ") is not first


# --- configuration problems -----------------------------------------------------------------------

WHERE = "settings.registrations[0].validations.list[1].rule"


@pytest.mark.parametrize(
    "rule, problem",
    [
        pytest.param("regex(bad no quotes)", "Unexpected identifier at character 7", id="an unquoted argument"),
        pytest.param("lenMin(1) &&", "Unexpected end of rule at character 13", id="a trailing operator"),
        pytest.param("lenMin(1) && && lenMax(2)", "Unexpected logical AND at character 14", id="two operators"),
        pytest.param("!!required", "Unexpected logical NOT at character 2", id="two negations"),
        pytest.param("(lenMin(1)", "All blocks weren't closed. at character 11", id="an unclosed group"),
        pytest.param("lenMin(1))", "Can't close the root block. at character 10", id="an extra closing bracket"),
        pytest.param("lenMin(1", "the argument list is not closed at character 9", id="unclosed arguments"),
        pytest.param("lenMin(1,,2)", "Unexpected function argument separator at character 10", id="an empty argument"),
        pytest.param("equals('a", "Unterminated string at character 8", id="an unterminated string"),
        pytest.param("5", "Unexpected string at character 1", id="a number instead of a function"),
        pytest.param("required : integer", "Unexpected ternary 'else' at character 10", id="else without then"),
        pytest.param("a ? b ? c : d : e", "Unexpected ternary 'then' at character 7", id="a nested ternary without parentheses"),
        pytest.param("required ? (lenMin(1))", "All blocks weren't closed.", id="a ternary ending with a group (CHT)"),
    ],
)
def test_a_rule_that_does_not_parse_is_reported_with_its_location(rule, problem):
    problems = rule_problems(rule, WHERE)
    assert len(problems) == 1
    assert problems[0].startswith(f"{WHERE}: cannot parse ")
    assert problem in problems[0]


@pytest.mark.parametrize(
    "rule, problem",
    [
        pytest.param("lenMn(1)", "unknown function 'lenMn' (CHT treats it as always valid)", id="an unknown function"),
        pytest.param("between(1)", "between needs 2 arguments, not 1", id="missing arguments"),
        pytest.param("otherEquals()", "otherEquals() needs the name of the other field first", id="otherX without the field"),
        pytest.param("iequals(5)", "iequals needs a quoted string argument", id="iequals on a number"),
        pytest.param("regex('[a-')", "invalid regular expression /[a-/", id="an invalid regex"),
        pytest.param("regex('a', 'q')", "invalid flags 'q'", id="invalid regex flags"),
        pytest.param("isAfter('2 weks')", "'2 weks' is not a duration", id="an unknown duration unit"),
        pytest.param("isBefore('2weeks')", "'2weeks' is not a duration", id="a duration without a space"),
        pytest.param("isBefore(2)", "the duration must be quoted", id="a number as duration"),
        pytest.param("uniqueWithin('f', '7 dayz')", "'7 dayz' is not a duration", id="uniqueWithin's duration"),
        pytest.param("uniqueWithin('7 days')", "uniqueWithin needs 2 arguments", id="uniqueWithin without a field"),
        pytest.param("required && integer ", 'CHT ignores "integer" at the end', id="an identifier CHT drops before trailing whitespace"),
        pytest.param(None, "the rule must be a string", id="no rule"),
    ],
)
def test_other_rule_problems_are_reported_with_the_location(rule, problem):
    problems = rule_problems(rule, WHERE)
    assert problems and all(p.startswith(f"{WHERE}: ") for p in problems)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    "rule",
    [
        "lenMin(1) && lenMax(30)",
        "integer && between(0,40)",
        "regex('^[0-9]{5}$') && unique('patient_id')",
        "regex(\"^\\\\d+$\", \"i\")",
        "exists('REGISTRATION', 'patient_id') || exists('G', 'patient_id')",
        "uniqueWithin('form', 'patient_id', '1 week')",
        "isAfter('-40 weeks') && isBefore('0 days')",
        "isISOWeek('week', 'year')",
        "otherEquals('country', 'US') ? lenMin(2) : lenMin(0)",
        "(required ? lenMin(1)) && !equals('x')",
        "validPhone('phone') && uniquePhone('phone')",
        "",
    ],
)
def test_sound_rules_have_no_problems(rule):
    assert rule_problems(rule, WHERE) == []


def test_a_validations_block_is_checked_entry_by_entry():
    block = {"join_responses": True, "list": [
        {"property": "name", "rule": "lenMin(1)"},
        {"property": "lmp", "rule": "integer &&"},
        {"rule": "required"},
        "lenMin(1)",
    ]}
    assert validations_problems(block, "settings.registrations[0].validations") == [
        'settings.registrations[0].validations.list[1].rule: cannot parse "integer &&": Unexpected end of rule at character 11',
        "settings.registrations[0].validations.list[2].property: must be a non-empty string",
        "settings.registrations[0].validations.list[3]: must be an object with property and rule",
    ]


# --- errors ---------------------------------------------------------------------------------------

ARGS = dict(now=NOW, query=no_query, phone_is_valid=bool)


def translations(key: str, locale: str) -> str:
    return {("messages.name", "fr"): "Nom invalide", ("messages.name", "en"): "Bad name"}.get((key, locale), key)


def test_each_failing_entry_gives_invalid_property_with_its_raw_message_in_list_order():
    doc = {"_id": "r", "locale": "fr", "fields": {"name": "", "lmp": "x", "age": 200}}
    entries = [
        {"property": "lmp", "rule": "integer", "message": [{"locale": "en", "content": " LMP {{lmp}} "}, {"locale": "fr", "content": "DDR {{lmp}}"}]},
        {"property": "name", "rule": "lenMin(1)", "translation_key": "messages.name"},
        {"property": "age", "rule": "max(120)", "message": "Age {{age}}?"},
        {"property": "age", "rule": "integer", "message": "never shown"},
        {"property": "nick", "rule": "required"},
        {"property": "lmp", "rule": "lenMax(5)", "message": [{"locale": "sw", "content": " first entry "}]},
    ]
    assert validate(doc, {"join_responses": True, "list": entries}, translate=translations, **ARGS) == [
        {"code": "invalid_lmp", "message": "DDR {{lmp}}"},  # the doc's locale
        {"code": "invalid_name", "message": "Nom invalide"},
        {"code": "invalid_age", "message": "Age {{age}}?"},
        {"code": "invalid_nick", "message": None},  # neither message nor translation_key
    ]
    assert validate(doc, entries[:2], translate=translations, locale="en", **ARGS) == [
        {"code": "invalid_lmp", "message": "LMP {{lmp}}"},
        {"code": "invalid_name", "message": "Bad name"},
    ]
    assert validate({"fields": {"lmp": "123456"}}, entries[5:], translate=translations, **ARGS) == [
        {"code": "invalid_lmp", "message": "first entry"},  # no entry for the locale: the first, trimmed
    ]


def test_failures_keep_the_entry_each_error_came_from():
    entry = {"property": "x", "rule": "required", "message": "missing"}
    assert failures({"_id": "r"}, [entry], translate=translations, **ARGS) == [Failure("invalid_x", "missing", entry)]


@pytest.mark.parametrize(
    "config",
    [pytest.param(None, id="no block"), pytest.param({"join_responses": True}, id="a block without list"), pytest.param([], id="an empty list")],
)
def test_no_validations_means_no_errors(config):
    assert validate({"_id": "r"}, config, translate=translations, **ARGS) == []


@pytest.mark.parametrize(
    "rule, message",
    [
        pytest.param("regex(bad no quotes)", 'Error on pupil validations: {"message":"Unexpected identifier","pos":2}', id="an unquoted argument"),
        pytest.param("(required", "Error on pupil validations: {\"message\":\"All blocks weren't closed.\"}", id="an unclosed group"),
        pytest.param("iequals('a')", "Error on pupil validations: {}", id="iequals on a number: a TypeError"),
        pytest.param("regex('(')", "Error on pupil validations: {}", id="an invalid regex: a SyntaxError"),
        pytest.param(None, "Error on pupil validations: {}", id="no rule"),
    ],
)
def test_a_broken_rule_fails_the_whole_validation_with_cht_single_error(rule, message):
    entries = [
        {"property": "name", "rule": "required", "message": "name missing"},  # fails, but is dropped
        {"property": "age", "rule": rule, "message": "bad age"},
    ]
    errors = validate({"_id": "r", "fields": {"age": 7}}, entries, translate=translations, **ARGS)
    assert errors == [{"code": "invalid_report", "message": message}]


# --- the values a rule sees -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc, entry, valid",
    [
        pytest.param({"x": "top", "fields": {"x": "field"}}, {"property": "x", "rule": "equals('field')"}, True, id="fields win over the doc"),
        pytest.param({"patient_id": "12345", "fields": {}}, {"property": "patient_id", "rule": "lenEquals(5)"}, True, id="a top-level property"),
        pytest.param({"from": "+1", "fields": {"phone": "+1"}}, {"property": "phone", "rule": "equalsTo('from')"}, True, id="equalsTo across the doc and its fields"),
        pytest.param({"fields": {"phone": "+2"}, "from": "+1"}, {"property": "phone", "rule": "equalsTo('from')"}, False, id="equalsTo: different"),
        pytest.param({"form": "P"}, {"property": "x", "rule": "otherIequals('form', 'p')"}, True, id="otherX reads the doc too"),
    ],
)
def test_rules_see_the_fields_flattened_over_the_doc(doc, entry, valid):
    assert (validate(doc, [entry], translate=translations, **ARGS) == []) is valid


def test_an_absent_property_becomes_an_empty_string_that_later_rules_see():
    doc = {"_id": "r", "fields": {"b": ""}}
    entries = [{"property": "a", "rule": "optional"}, {"property": "b", "rule": "equalsTo('a')"}]
    assert validate(doc, entries, translate=translations, **ARGS) == []  # '' == '' (CHT sets a to '')
    assert validate(doc, entries[1:], translate=translations, **ARGS) == [{"code": "invalid_b", "message": None}]
    assert doc == {"_id": "r", "fields": {"b": ""}}  # the document itself is left alone


# --- other reports and contacts, in a real PouchDB Server -----------------------------------------


def report(doc_id: str, form: str, reported_date: int = NOW_MS - DAY, **fields: Any) -> dict[str, Any]:
    return {"_id": doc_id, "type": "data_record", "form": form, "reported_date": reported_date, "fields": fields}


REPORTS = [
    {**report("reg-1", "REGISTRATION", patient_name="Alice"), "patient_id": "A1"},  # as add_patient writes it
    report("p-1", "P", patient_id="a1", visit="V1"),
    {**report("err-1", "P", patient_id="E1"), "errors": [{"code": "x", "message": "x"}]},
    report("old-1", "P", reported_date=NOW_MS - 20 * DAY, patient_id="O1"),
    report("num-1", "N", count=42, zero=0, empty="", flag=True, nested={"a": 1}),
    {"_id": "not-a-report", "type": "person", "patient_id": "Q1", "phone": "+254700000001", "name": "P"},
]


@pytest.fixture(scope="module")
def db(pouchdb) -> Iterator[CouchDB]:
    """A main database with our design documents and REPORTS (read-only for the tests of this section)."""
    server = CouchServer(pouchdb.url)
    main = server.db(f"medic-{uuid.uuid4().hex[:10]}")
    sentinel = server.db(f"{main.name}-sentinel")
    main.create()
    sentinel.create()
    ddocs.install(main, sentinel)
    main.bulk_docs([dict(d) for d in REPORTS])
    yield main
    main.delete()
    sentinel.delete()
    server.close()


class CountingQuery:
    """`query` for the validator, straight to the views through CouchDB.view; counts the calls."""

    def __init__(self, db: CouchDB):
        self.db, self.calls = db, []

    def __call__(self, view: str, keys: list) -> list:
        self.calls.append((view, keys))
        return self.db.view(SENTINEL_DDOC, view, keys=keys)


def check(db: CouchDB, rule: str, doc_id: str = "new", form: str = "P", **fields: Any) -> tuple[bool, CountingQuery]:
    query = CountingQuery(db)
    doc = report(doc_id, form, reported_date=NOW_MS, **fields)
    errors = validate(doc, [{"property": "x", "rule": rule}], now=NOW, query=query, phone_is_valid=bool, translate=translations)
    return errors == [], query


def test_the_view_indexes_each_scalar_of_a_report_and_its_fields_lower_cased(db):
    rows = db.view(SENTINEL_DDOC, "reports_by_field")
    assert sorted((r["key"], r["id"]) for r in rows if r["id"] in ("reg-1", "num-1")) == [
        (["count", "42"], "num-1"),
        (["form", "n"], "num-1"),
        (["form", "registration"], "reg-1"),
        (["patient_id", "a1"], "reg-1"),
        (["patient_name", "alice"], "reg-1"),
    ]
    values = {r["id"]: r["value"] for r in rows}
    assert values["p-1"] == {"reported_date": NOW_MS - DAY, "has_errors": False}
    assert values["err-1"] == {"reported_date": NOW_MS - DAY, "has_errors": True}
    assert "not-a-report" not in values


@pytest.mark.parametrize(
    "rule, fields, doc_id, form, unique",
    [
        pytest.param("unique('patient_id')", {"patient_id": "Z9"}, "new", "P", True, id="no report has the value"),
        pytest.param("unique('patient_id')", {"patient_id": "A1"}, "new", "X", False, id="a report of another form has it"),
        pytest.param("unique('patient_id')", {"patient_id": "a1"}, "new", "P", False, id="values compare lower-cased"),
        pytest.param("unique('patient_id')", {"patient_id": "E1"}, "new", "P", True, id="reports with errors do not count"),
        pytest.param("unique('visit')", {"visit": "V1"}, "p-1", "P", True, id="the report itself does not count"),
        pytest.param("unique('patient_id', 'visit')", {"patient_id": "a1", "visit": "V2"}, "new", "P", True, id="every field must match on one report"),
        pytest.param("unique('patient_id', 'visit')", {"patient_id": "A1", "visit": "v1"}, "new", "P", False, id="every field matches on one report"),
        pytest.param("unique('form', 'patient_id')", {"patient_id": "A1"}, "new", "X", True, id="form listed: only reports of this form count"),
        pytest.param("unique('form', 'patient_id')", {"patient_id": "A1"}, "new", "registration", False, id="form listed: a report of this form has it"),
        pytest.param("unique('count')", {"count": 42}, "new", "P", False, id="numbers compare as String(number)"),
        pytest.param("unique('count')", {"count": 43}, "new", "P", True, id="another number"),
        pytest.param("uniqueWithin('patient_id', '7 days')", {"patient_id": "O1"}, "new", "P", True, id="uniqueWithin: older than the window"),
        pytest.param("uniqueWithin('patient_id', '30 days')", {"patient_id": "O1"}, "new", "P", False, id="uniqueWithin: inside the window"),
        pytest.param("uniqueWithin('patient_id', '1 week')", {"patient_id": "A1"}, "new", "P", False, id="uniqueWithin: a day old"),
    ],
)
def test_unique_means_no_other_report_of_any_form_without_errors_has_all_the_values(db, rule, fields, doc_id, form, unique):
    valid, query = check(db, rule, doc_id=doc_id, form=form, **fields)
    assert valid is unique
    assert len(query.calls) == 1  # one query per rule function


@pytest.mark.parametrize(
    "rule, fields, doc_id, exists",
    [
        pytest.param("exists('REGISTRATION', 'patient_id')", {"patient_id": "a1"}, "new", True, id="a registration has the value (top-level)"),
        pytest.param("exists('registration', 'patient_id')", {"patient_id": "A1"}, "new", True, id="the form compares case-insensitively"),
        pytest.param("exists('REGISTRATION', 'patient_id')", {"patient_id": "Z9"}, "new", False, id="no report has the value"),
        pytest.param("exists('N', 'patient_id')", {"patient_id": "a1"}, "new", False, id="only reports of other forms have it"),
        pytest.param("exists('P', 'patient_id')", {"patient_id": "E1"}, "new", False, id="only a report with errors has it"),
        pytest.param("exists('P', 'patient_id')", {"patient_id": "a1"}, "p-1", False, id="only the report itself has it"),
        pytest.param("exists('L', 'patient_id') || exists('P', 'patient_id')", {"patient_id": "a1"}, "new", True, id="two exists combined with ||"),
    ],
)
def test_exists_means_another_report_of_the_form_without_errors_has_the_value(db, rule, fields, doc_id, exists):
    valid, _query = check(db, rule, doc_id=doc_id, form="X", **fields)
    assert valid is exists


@pytest.mark.parametrize(
    "rule, fields, calls",
    [
        pytest.param("required && unique('patient_id')", {}, 0, id="the result cannot matter after a failure"),
        pytest.param("unique('patient_id')", {"patient_id": ""}, 0, id="an empty value matches no report"),
        pytest.param("unique('zero')", {"zero": 0}, 0, id="0 matches no report"),
        pytest.param("unique('patient_id') || unique('visit')", {"patient_id": "Z9", "visit": "V1"}, 1, id="|| after a success"),
        pytest.param("unique('patient_id') && exists('P', 'visit')", {"patient_id": "Z9", "visit": "V1"}, 2, id="two functions, two queries"),
    ],
)
def test_queries_are_made_only_when_their_answer_can_matter(db, rule, fields, calls):
    _valid, query = check(db, rule, **fields)
    assert len(query.calls) == calls


@pytest.mark.parametrize(
    "phone, unique",
    [pytest.param("+254700000001", False, id="a contact has the phone"), pytest.param("+254700000099", True, id="nobody has it")],
)
def test_unique_phone_asks_the_contacts_by_phone(db, phone, unique):
    valid, query = check(db, "uniquePhone('phone')", phone=phone)
    assert valid is unique
    assert query.calls == [("lookups", [["phone", phone]])]
