"""Templates: CHT's template context (spec 6.1) and Mustache rendering with the lambdas (spec 6.2).

Pure functions: the context is built by `messages.template_context` (CHT `extendedTemplateContext`)
and rendered by `messages.render` (CHT message-utils `render`, with the real clock and phone helpers
behind the lambdas), so no database is involved.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from sentinel.messaging import messages, templates
from sentinel.core.settings import Settings

# A hydrated hierarchy, as lineage hydration gives it: district_hospital > health_center > clinic.
DISTRICT = {"_id": "dh", "type": "district_hospital", "name": "Central District", "contact": {"name": "Dora", "phone": "+254700000003"}}
HEALTH_CENTER = {"_id": "hc", "type": "health_center", "name": "Riverside HC", "parent": DISTRICT, "contact": {"name": "Hank", "phone": "+254700000002"}}
CLINIC = {"_id": "cl", "type": "clinic", "name": "Hilltop Clinic", "parent": HEALTH_CENTER, "contact": {"name": "Chloe", "phone": "+254700000001"}}
CHW = {"_id": "chw", "type": "person", "name": "Chloe", "phone": "+254700000001", "parent": CLINIC}

OTHER_HC = {"_id": "hc2", "type": "health_center", "name": "Lakeside HC", "parent": DISTRICT}
OTHER_CLINIC = {"_id": "cl2", "type": "clinic", "name": "Valley Clinic", "parent": OTHER_HC}

MS_2024_08_15_0930 = 1723714200000  # 2024-08-15T09:30:00Z


def report(**extra: Any) -> dict[str, Any]:
    doc = {"_id": "r1", "type": "data_record", "form": "V", "from": "+254700000001", "reported_date": MS_2024_08_15_0930,
           "contact": CHW, "fields": {}}
    doc.update(extra)
    return doc


def context(doc: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return messages.template_context(doc if doc is not None else report(), extra)


def render(template: str, ctx: dict[str, Any], locale: str = "en", **settings: Any) -> str:
    return messages.render(template, ctx, locale, Settings(values=settings))


# --- the context order (6.1) -----------------------------------------------------------------------

PATIENT = {"_id": "p1", "type": "person", "name": "Pat", "patient_id": "11111", "parent": OTHER_CLINIC}
PLACE = {"_id": "pl1", "type": "clinic", "name": "Place Clinic", "place_id": "22222", "parent": HEALTH_CENTER}


@pytest.mark.parametrize(
    "doc, extra, key, expected",
    [
        pytest.param(report(), {"patient": PATIENT, "template_context": {"patient": "extras"}}, "patient", PATIENT,
                     id="the patient object beats an extra of the same name"),
        pytest.param(report(), {"patient": {**PATIENT, "who": "patient"}, "template_context": {"who": "extras"}}, "who", "extras",
                     id="extras beat the patient's keys"),
        pytest.param(report(), {"patient": {**PATIENT, "who": "patient", "fields": {"who": "patient field"}}}, "who", "patient field",
                     id="the patient's fields beat its top-level keys"),
        pytest.param(report(), {"patient": {**PATIENT, "who": "patient"}, "place": {**PLACE, "who": "place"}}, "who", "patient",
                     id="the patient beats the place"),
        pytest.param(report(who="report"), {"place": {**PLACE, "who": "place"}}, "who", "place",
                     id="the place beats the report"),
        pytest.param(report(who="report", fields={"who": "report field"}), {}, "who", "report field",
                     id="the report's fields beat its top-level keys"),
        pytest.param(report(), {"registrations": [{"fields": {"who": "registration"}}, {"fields": {"who": "older"}}],
                                "place_registrations": [{"fields": {"who": "place registration"}}]}, "who", "registration",
                     id="the first registration beats the first place registration"),
        pytest.param(report(who="report"), {"registrations": [{"who": "registration"}]}, "who", "report",
                     id="the report beats its registrations"),
        pytest.param(report(), {"place_registrations": [{"fields": {"who": "place registration"}}]}, "who", "place registration",
                     id="a place registration fills what nothing else set"),
        pytest.param(report(fields={"who": "report field"}), {"template_context": {"who": None}}, "who", None,
                     id="a null value counts as set (lodash defaults)"),
        pytest.param(report(fields={"who": "report field"}), {"template_context": {"other": 1}}, "who", "report field",
                     id="a missing key lets a later source fill it"),
    ],
)
def test_earlier_sources_win_and_later_ones_only_fill_missing_keys(doc, extra, key, expected):
    assert context(doc, **extra)[key] == expected


@pytest.mark.parametrize(
    "extra, doc, expected",
    [
        pytest.param({"patient": PATIENT}, report(fields={"patient_name": "From Report"}), "Pat", id="the patient's name"),
        pytest.param({"patient": PATIENT, "template_context": {"patient_name": "Given"}}, report(), "Given",
                     id="an extra patient_name wins over the patient's name"),
        pytest.param({"patient": PATIENT, "template_context": {"patient_name": ""}}, report(), "Pat",
                     id="an empty patient_name is replaced by the patient's name (JS ||)"),
        pytest.param({"patient": {k: v for k, v in PATIENT.items() if k != "name"}}, report(fields={"patient_name": "From Report"}),
                     "From Report", id="a patient without a name leaves it to the report's field"),
        pytest.param({}, report(patient=PATIENT, fields={"patient_name": "From Report"}), "From Report",
                     id="without a patient given, the report's hydrated patient gives no patient_name"),
    ],
)
def test_patient_name(extra, doc, expected):
    assert context(doc, **extra)["patient_name"] == expected


def test_the_reports_hydrated_patient_is_only_one_of_its_keys_when_no_patient_is_given():
    ctx = context(report(patient=PATIENT))
    assert ctx["patient"] == PATIENT  # from the report, at step 5
    assert ctx["clinic"]["_id"] == "cl"  # the sender's clinic, not the patient's (cl2)


@pytest.mark.parametrize(
    "extra, doc, expected",
    [
        pytest.param({"patient": PATIENT}, report(), {"clinic": "cl2", "health_center": "hc2", "district": "dh", "parent": "hc2", "grandparent": "dh"},
                     id="from the patient, which has a parent: walked from itself"),
        pytest.param({}, report(), {"clinic": "cl", "health_center": "hc", "district": "dh", "parent": "hc", "grandparent": "dh"},
                     id="from the report, which has none: walked from its contact"),
        pytest.param({"place": {"_id": "pl", "type": "contact", "contact_type": "clinic", "parent": {"_id": "x", "type": "contact", "contact_type": "health_center"}}},
                     report(contact=None), {"clinic": "pl", "health_center": "x", "parent": "x"},
                     id="configurable contact types match on contact_type"),
    ],
)
def test_ancestors_clinic_health_center_and_district(extra, doc, expected):
    ctx = context(doc, **extra)
    found = {k: ctx[k]["_id"] for k in ("clinic", "health_center", "district", "parent", "grandparent") if isinstance(ctx.get(k), dict)}
    assert found == expected


@pytest.mark.parametrize(
    "patient, expected_parent",
    [
        pytest.param({"_id": "p", "name": "P", "parent": {"_id": "lone", "type": "clinic", "name": "Lone Clinic"}}, "lone",
                     id="no health_center: the patient's own parent"),
        pytest.param(PATIENT, "hc2", id="a health_center found: that health_center"),
    ],
)
def test_parent_falls_back_to_the_docs_own_parent_when_no_health_center_is_found(patient, expected_parent):
    assert context(report(contact=None), patient=patient)["parent"]["_id"] == expected_parent


def test_names_of_the_hierarchy_render():
    ctx = context(patient=PATIENT)
    text = render("{{patient_name}} ({{patient_id}}) at {{clinic.name}}, {{health_center.name}}, {{district.name}}; by {{contact.name}}", ctx)
    assert text == "Pat (11111) at Valley Clinic, Lakeside HC, Central District; by Chloe"


# --- Mustache --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template, ctx, expected",
    [
        pytest.param("{{name}}", {"name": "Tom & Jerry <3>"}, "Tom & Jerry <3>", id="no HTML escaping"),
        pytest.param("{{{name}}}", {"name": "a&b"}, "a&b", id="triple braces as well"),
        pytest.param("[{{x}}]", {"x": None}, "[]", id="null renders as nothing"),
        pytest.param("[{{x}}]", {}, "[]", id="a missing key renders as nothing"),
        pytest.param("[{{a.b}}]", {"a": {"b": None}}, "[]", id="a null at the end of a dotted name"),
        pytest.param("{{#p}}[{{name}}]{{/p}}", {"name": "outer", "p": {"name": None}}, "[]",
                     id="a null inside a section does not fall back to an outer key"),
        pytest.param("{{t}} {{f}}", {"t": True, "f": False}, "true false", id="booleans as JavaScript prints them"),
        pytest.param("{{n}} {{x}}", {"n": 5.0, "x": 2.5}, "5 2.5", id="numbers as JavaScript prints them"),
        pytest.param("{{a}} {{b}} {{c}} {{d}}", {"a": 1e-5, "b": 1e-7, "c": 1e21, "d": 1e20}, "0.00001 1e-7 1e+21 100000000000000000000",
                     id="small and large numbers as JavaScript prints them"),
        pytest.param("{{list}}", {"list": ["a", None, 3]}, "a,,3", id="arrays joined by commas"),
        pytest.param("{{obj}}", {"obj": {"a": 1}}, "[object Object]", id="objects"),
        pytest.param("{{#items}}<{{.}}>{{/items}}", {"items": ["a", "b"]}, "<a><b>", id="sections over lists"),
        pytest.param("{{#f}}yes{{/f}}{{^f}}no{{/f}}", {"f": False}, "no", id="inverted sections"),
        pytest.param("{{contact.phone}}", {"contact": {"phone": "+254700000001"}}, "+254700000001", id="dotted names"),
        pytest.param("[{{date}}]", {}, "[]", id="a lambda used as a variable renders nothing"),
    ],
)
def test_mustache_rendering(template, ctx, expected):
    assert render(template, ctx) == expected


def test_a_template_that_cannot_be_parsed_raises_a_template_error():
    with pytest.raises(templates.TemplateError):
        render("{{#open}}text{{/other}}", {})


# --- lambdas ---------------------------------------------------------------------------------------

DATE_ISO = "2024-08-15T09:30:00.000Z"


@pytest.mark.parametrize(
    "template, value, settings, expected",
    [
        pytest.param("{{#date}}{{v}}{{/date}}", MS_2024_08_15_0930, {}, "15-Aug-2024", id="date, epoch ms, default format"),
        pytest.param("{{#date}}{{v}}{{/date}}", str(MS_2024_08_15_0930), {}, "15-Aug-2024", id="date, epoch ms as a string"),
        pytest.param("{{#date}}{{v}}{{/date}}", DATE_ISO, {}, "15-Aug-2024", id="date, ISO string"),
        pytest.param("{{#date}}{{v}}{{/date}}", "2024-08-15", {}, "15-Aug-2024", id="date, ISO date"),
        pytest.param("{{#datetime}}{{v}}{{/datetime}}", MS_2024_08_15_0930, {}, "15-Aug-2024 09:30:00", id="datetime, default format"),
        pytest.param("{{#date}}{{v}}{{/date}}", DATE_ISO, {"date_format": "D MMMM YYYY"}, "15 August 2024", id="date_format"),
        pytest.param("{{#datetime}}{{v}}{{/datetime}}", DATE_ISO, {"reported_date_format": "DD/MM/YYYY HH:mm"}, "15/08/2024 09:30",
                     id="reported_date_format"),
        pytest.param("{{#datetime}}{{v}}{{/datetime}}", DATE_ISO, {"reported_date_format": "YYYY-MM-DD [at] h:mm A"}, "2024-08-15 at 9:30 AM",
                     id="[literal] text in a format"),
        pytest.param("{{#date}}{{v}}{{/date}}", DATE_ISO, {"date_format": "[Today is] dddd"}, "Today is Thursday", id="literal text with letters that are tokens"),
        pytest.param("{{#datetime}}{{v}}{{/datetime}}", DATE_ISO, {"timezone": "Africa/Nairobi"}, "15-Aug-2024 12:30:00",
                     id="the timezone setting"),
        pytest.param("{{#date}}{{v}}{{/date}}", "2024-08-15T22:30:00.000Z", {"timezone": "Africa/Nairobi"}, "16-Aug-2024",
                     id="the timezone setting moves the day"),
        pytest.param("{{#date}}{{v}}{{/date}}", "2024-08-15T10:00:00", {"timezone": "Africa/Nairobi"}, "15-Aug-2024",
                     id="a date string without zone is in the timezone setting"),
        pytest.param("{{#date}}{{v}}{{/date}}", "not a date", {}, "not a date", id="text that is not a date is left as it is"),
        pytest.param("Due {{#date}}{{v}}{{/date}}!", MS_2024_08_15_0930, {}, "Due 15-Aug-2024!", id="inside a sentence"),
    ],
)
def test_date_lambdas(template, value, settings, expected):
    assert render(template, {"v": value}, **settings) == expected


@pytest.mark.parametrize(
    "locale, date_format, expected",
    [
        pytest.param("fr", "DD-MMM-YYYY", "15-août-2024", id="fr short month"),
        pytest.param("fr", "dddd D MMMM YYYY", "jeudi 15 août 2024", id="fr long"),
        pytest.param("es", "DD-MMM-YYYY", "15-ago-2024", id="es short month"),
        pytest.param("es", "dddd D MMMM YYYY", "jueves 15 agosto 2024", id="es long"),
        pytest.param("sw", "DD-MMM-YYYY", "15-Ago-2024", id="sw short month"),
        pytest.param("sw", "dddd D MMMM YYYY", "Alhamisi 15 Agosti 2024", id="sw long"),
        pytest.param("ne", "D MMMM YYYY", "15 अगस्ट 2024", id="ne month name"),
        pytest.param("ne", "dddd", "बिहिबार", id="ne weekday"),
        pytest.param("xx", "D MMMM YYYY", "15 August 2024", id="an unknown locale is English"),
        pytest.param("es-419", "D MMMM YYYY", "15 agosto 2024", id="a regional locale"),
    ],
)
def test_dates_are_shown_in_the_messages_locale(locale, date_format, expected):
    assert render("{{#date}}{{v}}{{/date}}", {"v": MS_2024_08_15_0930}, locale, date_format=date_format) == expected


def test_the_inner_text_of_a_lambda_is_rendered_first_with_the_whole_context():
    ctx = context(report())
    assert render("{{#date}}{{reported_date}}{{/date}}", ctx) == "15-Aug-2024"
    assert render("{{#datetime}}{{#local_phone}}{{reported_date}}{{/local_phone}}{{/datetime}}", ctx) == "15-Aug-2024 09:30:00"


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("2017-03-28T00:00:00.000Z", "१५ चैत २०७३", id="bikram-sambat's own example"),
        pytest.param("2020-09-04", "१९ भदौ २०७७", id="bhadau"),
        pytest.param("2024-04-13", "१ बैशाख २०८१", id="new year: day not zero-padded"),
        pytest.param(1713000000000, "१ बैशाख २०८१", id="epoch ms"),
    ],
)
def test_bikram_sambat_date(value, expected):
    assert render("{{#bikram_sambat_date}}{{v}}{{/bikram_sambat_date}}", {"v": value}) == expected


def test_bikram_sambat_date_is_taken_in_the_timezone_setting():
    # 2024-04-12T20:00Z is already 13 April in Kathmandu (+05:45)
    text = render("{{#bikram_sambat_date}}{{v}}{{/bikram_sambat_date}}", {"v": "2024-04-12T20:00:00Z"}, timezone="Asia/Kathmandu")
    assert text == "१ बैशाख २०८१"


@pytest.mark.parametrize(
    "phone, settings, expected",
    [
        pytest.param("+254712345678", {"default_country_code": 254}, "712345678", id="the country code is stripped"),
        pytest.param(" +254712345678 ", {"default_country_code": "254"}, "712345678", id="trimmed first"),
        pytest.param("+255712345678", {"default_country_code": 254}, "+255712345678", id="another country is kept"),
        pytest.param("+254712345678", {}, "+254712345678", id="no default_country_code"),
    ],
)
def test_local_phone(phone, settings, expected):
    assert render("{{#local_phone}}{{p}}{{/local_phone}}", {"p": phone}, **settings) == expected


def test_local_phone_renders_its_inner_text_first():
    assert render("Call {{#local_phone}}{{contact.phone}}{{/local_phone}}", {"contact": CHW}, default_country_code=254) == "Call 700000001"


# --- moment formats as CLDR patterns ---------------------------------------------------------------


AUG_15 = datetime(2024, 8, 15, 9, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "moment_format, pattern, shown",
    [
        pytest.param("DD-MMM-YYYY", "dd-MMM-yyyy", "15-Aug-2024", id="CHT's default date format"),
        pytest.param("DD-MMM-YYYY HH:mm:ss", "dd-MMM-yyyy HH:mm:ss", "15-Aug-2024 09:30:00", id="CHT's default datetime format"),
        pytest.param("dddd D MMMM YY", "EEEE d MMMM yy", "Thursday 15 August 24", id="names"),
        pytest.param("h:mm A", "h:mm a", "9:30 AM", id="12-hour clock"),
        pytest.param("[Week] w", "'Week 'w", "Week 33", id="bracketed text is literal"),
        pytest.param("[Le] D [de] MMMM", "'Le 'd' de 'MMMM", "Le 15 de August", id="literal runs are quoted together"),
        pytest.param("YYYY [it's] MM", "yyyy' it''s 'MM", "2024 it's 08", id="an apostrophe in literal text"),
        pytest.param("D MMM 'YY", "d MMM' '''yy", "15 Aug '24", id="an apostrophe outside brackets"),
        pytest.param("YYYY-MM-DDTHH:mm:ssZ", "yyyy-MM-dd'T'HH:mm:ssxxx", "2024-08-15T09:30:00+00:00",
                     id="a letter that is not a token is literal, one at a time"),
        pytest.param("YYYY at", "yyyy a't'", "2024 AMt", id="unbracketed words are read token by token as moment does"),
        pytest.param("YYYY [", "yyyy [", "2024 [", id="an unclosed bracket is literal"),
    ],
)
def test_moment_formats_as_cldr_patterns(moment_format, pattern, shown):
    assert templates.cldr_pattern(moment_format) == pattern
    assert templates.format_moment(AUG_15, moment_format, "en") == shown
