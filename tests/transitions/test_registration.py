"""registration: a registration report creates or finds its subject, sets dates, assigns and clears
schedules, and replies (spec 2.3, 2.4, 2.7, 3, 6; CHT registration.js and its integration tests).

Most cases are documents seeded into one database that Sentinel processes once at NOW (`world`);
cases that need a second pass (idempotence) use the per-test fixtures.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from unittest.mock import ANY

import pytest

from sentinel.core.ids import is_valid_id

from ..support import CHW, DH_PERSON, HC_PERSON, HIERARCHY, NOW, NOW_ISO, drain, processed, report

REPORTED = 1704067200000  # 2024-01-01T00:00:00.000Z, the day before NOW
UNKNOWN = "+254799999999"
CLINIC_IDS = {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}
HC_IDS = {"_id": "health_center", "parent": {"_id": "district"}}
HC_B_IDS = {"_id": "hc-b", "parent": {"_id": "district"}}
BY_CHW = {"from": CHW["phone"], "contact": {"_id": "chw", "parent": CLINIC_IDS}}
BY_HC_PERSON = {"from": HC_PERSON["phone"], "contact": {"_id": "hc-person", "parent": HC_IDS}}
BY_DH_PERSON = {"from": DH_PERSON["phone"], "contact": {"_id": "dh-person", "parent": {"_id": "district"}}}


def ev(trigger: str, params: Any = "", bool_expr: Any = "") -> dict[str, Any]:
    return {"name": "on_create", "trigger": trigger, "params": params, "bool_expr": bool_expr}


def msg(content: str, fr: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"message": [{"locale": "en", "content": content}, *([{"locale": "fr", "content": fr}] if fr else [])], **extra}


def task(text: str, to: str = CHW["phone"], state: str = "pending") -> dict[str, Any]:
    return {"messages": [{"uuid": ANY, "to": to, "message": text}], "state": state, "state_history": [{"state": state, "timestamp": NOW_ISO}]}


def iso(*ymd_hm: int) -> str:
    return datetime(*ymd_hm, tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


VALIDATIONS = [
    {"property": "patient_name", "rule": "lenMin(3)", "message": [{"locale": "en", "content": "Name {{patient_name}} is too short"}]},
    {"property": "age", "rule": "integer", "translation_key": "val.age"},
]
ANC = {"name": "ANC", "translation_key": "schedule.anc", "messages": [
    {"group": 1, "offset": "1 day", "recipient": "clinic", "message": [{"locale": "en", "content": "past"}]},  # due before NOW
    {"group": 1, "offset": "2 weeks", "recipient": "clinic", "translation_key": "anc.visit"},  # the rest of a past group
    {"group": 2, "offset": "4 weeks", "send_time": "09:00", "recipient": "reporting_unit", "translation_key": "anc.visit"},
    {"group": 2, "offset": "5 weeks", "recipient": "clinic", **msg("Visit for {{patient_name}}", "Visite pour {{patient_name}}")},
]}
SETTINGS = {
    "transitions": {"registration": True},
    "outgoing_deny_list": "+999",
    "contact_types": [
        {"id": "district_hospital"}, {"id": "health_center", "parents": ["district_hospital"]},
        {"id": "clinic", "parents": ["health_center"]},
        {"id": "person", "parents": ["district_hospital", "health_center", "clinic"], "person": True},
        {"id": "chw", "parents": ["health_center"], "person": True}, {"id": "nursing_home", "parents": ["health_center"]},
    ],
    "forms": {
        **{code: {} for code in ("F", "RID", "RPAR", "RCHW", "ROLD", "PLACE", "HOME", "CASE", "PREG", "BIRTH", "SCHED", "CLEAR",
                                 "COND", "VAL", "VALJ", "MSG", "RO")},  # `{}`, as CHT's own tests configure forms
        "REG": {"meta": {"code": "REG"}, "fields": {"patient_name": {"type": "string"}, "phone": {"type": "phone_number"}}},
        "PUB": {"public_form": True}, "PUBREG": {"public_form": True},
    },
    "schedules": [ANC],
    "registrations": [
        {"form": "F", "events": []}, {"form": "WWJUNK--", "events": []}, {"form": "PUB", "events": []}, {"form": "G", "events": []},
        {"form": "REG", "events": [ev("add_patient")], "messages": [
            msg("Patient {{patient_name}} ({{patient_id}}) added to {{clinic.name}}", event_type="report_accepted", recipient="reporting_unit")]},
        {"form": "RID", "events": [ev("add_patient", {"patient_id_field": "our_id", "patient_name_field": "our_name"})]},
        {"form": "RPAR", "events": [ev("add_patient", '{"parent_id": "parent"}')],
         "messages": [msg("{{patient_name}} ({{patient_id}}) added to {{parent.name}}", bool_expr="doc.patient")]},
        {"form": "RCHW", "events": [ev("add_patient", {"parent_id": "parent", "contact_type": "chw"})],
         "messages": [msg("Cannot create a chw under {{parent.place_id}} ({{parent.type}})", event_type="parent_invalid")]},
        {"form": "PUBREG", "events": [ev("add_patient", {"contact_type": "person"})]},
        {"form": "ROLD", "events": [ev("add_patient_id", "name")]},
        {"form": "PLACE", "events": [ev("add_place", {"contact_type": "clinic", "place_name_field": "the_place_name"})],
         "messages": [msg("Place {{place.name}} ({{place_id}}) added to {{health_center.name}}", bool_expr="doc.place")]},
        {"form": "HOME", "events": [ev("add_place", {"contact_type": "nursing_home", "parent_id": "parent"})]},
        {"form": "CASE", "events": [ev("add_case")]},
        {"form": "PREG", "events": [ev("add_expected_date")]},
        {"form": "BIRTH", "events": [ev("add_birth_date"), ev("add_patient")]},
        {"form": "SCHED", "events": [ev("assign_schedule", "ANC")], "messages": [msg("Next visit in {{next_msg.days}} days")]},
        {"form": "CLEAR", "events": [ev("clear_schedule", ["ANC"])]},
        {"form": "COND", "events": [ev("add_case", bool_expr="doc.kind === 'case' && doc.type === 'data_record'"),
                                    ev("add_expected_date", bool_expr={"==": [{"var": "doc.kind"}, "preg"]})]},
        {"form": "VAL", "events": [ev("add_patient")], "validations": {"list": VALIDATIONS}},
        {"form": "VALJ", "events": [ev("add_patient")], "validations": {"join_responses": True, "list": VALIDATIONS}},
        {"form": "MSG", "events": [], "messages": [
            {"event_type": "report_accepted", "recipient": "reporting_unit", "translation_key": "msg.accepted"},
            {"recipient": "clinic", "bool_expr": "doc.fields.count > 0",
             **msg("{{count}} for {{patient_name}} ({{patient_id}})", "{{count}} pour {{patient_name}}")},
            {"recipient": "parent", "bool_expr": {">": [{"var": "doc.fields.count"}, 100]}, **msg("big")},
            {"event_type": "registration_not_found", **msg("Who is {{patient_id}}?")},
            {"event_type": "something_else", **msg("never")},
        ]},
        {"form": "RO", "events": [], "messages": [msg("Note: {{note}}")]},
    ],
}
TRANSLATIONS = [
    {"_id": "messages-en", "code": "en", "type": "translations", "generic": {
        "messages.generic.no_provided_patient_id": "No patient id given.",
        "messages.generic.provided_patient_id_not_unique": "Patient id {{our_id}} is taken.",
        "messages.generic.parent_field_not_provided": "Parent field is required.",
        "messages.generic.parent_not_found": "Parent not found.",
        "messages.generic.parent_invalid": "Parent {{parent.name}} cannot hold this.",
        "messages.generic.provided_phone_not_valid": "Phone {{phone}} is not valid.",
        "anc.visit": "ANC visit", "schedule.anc": "ANC", "msg.accepted": "Thanks {{contact.name}}", "val.age": "Age must be a whole number"}},
    {"_id": "messages-fr", "code": "fr", "type": "translations", "generic": {"msg.accepted": "Merci {{contact.name}}"}},
]
CONTACTS = [
    {"_id": "no-phone", "type": "person", "name": "Nophone", "parent": CLINIC_IDS},
    {"_id": "clinic-b", "type": "clinic", "name": "Clinic B", "place_id": "30003", "parent": HC_IDS},
    {"_id": "hc-b", "type": "health_center", "name": "HC B", "place_id": "30004", "parent": {"_id": "district"}},
    {"_id": "anna", "type": "person", "name": "Anna", "patient_id": "10001", "parent": CLINIC_IDS},
    {"_id": "mo", "type": "person", "name": "Mo", "patient_id": "10002", "muted": "2023-12-01T00:00:00.000Z", "parent": CLINIC_IDS},
    {"_id": "cleo", "type": "person", "name": "Cleo", "patient_id": "10003", "parent": CLINIC_IDS},
    {"_id": "rory", "type": "person", "name": "Rory", "patient_id": "10005", "parent": CLINIC_IDS},
    {"_id": "taken", "type": "person", "name": "Taken", "patient_id": "20002", "parent": CLINIC_IDS},
    report("failed-registration", form="OTHER", patient_id="20003"),  # only a report carries 20003
]

SEEDED: list[dict[str, Any]] = []
ALREADY_RUN: list[str] = []  # seeded docs whose infodoc records a registration run


def seed(doc_id: str, form: str, fields: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    doc = {**report(doc_id, form=form, fields=fields or {}, reported_date=REPORTED), **extra}
    SEEDED.append(doc)
    return doc


def by_id(doc_id: str) -> dict[str, Any]:
    return next(d for d in SEEDED if d["_id"] == doc_id)


def xml(doc_id: str, form: str, **extra: Any) -> dict[str, Any]:
    return seed(doc_id, form, content_type="xml", contact={"_id": "chw", "parent": CLINIC_IDS}, **extra)


def mark_already_run(main, sentinel, revs) -> None:
    sentinel.bulk_docs([{"_id": f"{i}-info", "type": "info", "doc_id": i, "transitions": {"registration": {
        "ok": True, "last_rev": revs[i], "seq": 1, "run_date": "2023-12-01T00:00:00.000Z"}}} for i in ALREADY_RUN])


@pytest.fixture(scope="module")
def world(pouchdb):
    with processed(pouchdb, SETTINGS, [*HIERARCHY, *CONTACTS, *TRANSLATIONS, *SEEDED], prepare=mark_already_run) as w:
        rows = w.main.all_docs_page(None, 10_000)
        w.created = {}
        for doc in (r["doc"] for r in rows):
            w.created.setdefault(doc.get("source_id"), []).append({k: v for k, v in doc.items() if k != "_rev"})
        yield w


def the_contact(world, seeded: dict[str, Any]) -> dict[str, Any]:
    created = world.created.get(seeded["_id"], [])
    assert len(created) == 1, created
    return created[0]


# --- filter ----------------------------------------------------------------------------------------
ALREADY_RUN.append(seed("f-already-run", "F", **BY_CHW)["_id"])


@pytest.mark.parametrize("seeded, runs", [
    pytest.param(xml("f-lower", "f"), True, id="the form code in another case"),
    pytest.param(xml("f-junk", "junk"), True, id="a configured code with CHT's literal W and non-word junk around it"),
    pytest.param(xml("f-suffix", "F!"), False, id="junk on the report's own code"),
    pytest.param(xml("f-other", "FX"), False, id="an unconfigured form"),
    pytest.param(seed("f-known", "F", **BY_CHW), True, id="an SMS from a known sender, the form configured as {}"),
    pytest.param(seed("f-place-phone", "F", contact={"_id": "no-phone", "parent": CLINIC_IDS}), True, id="an SMS whose sender's place has a contact phone"),
    pytest.param(seed("f-unknown", "F", **{"from": UNKNOWN}), False, id="an SMS from an unknown sender"),
    pytest.param(seed("f-public", "PUB", **{"from": UNKNOWN}), True, id="a public form from an unknown sender"),
    pytest.param(seed("f-no-form-def", "G", **BY_CHW), False, id="an SMS form missing from forms"),
    pytest.param(seed("f-not-report", "F", type="person", **BY_CHW), False, id="not a data_record"),
    pytest.param(by_id("f-already-run"), False, id="already run"),
])
def test_it_runs_only_on_configured_valid_submissions_not_yet_processed(world, seeded, runs):
    record = world.info(seeded)["transitions"].get("registration")
    assert (record is not None and record["seq"] != 1) is runs  # seq 1: the run recorded before
    assert world.unchanged(seeded) is not runs


# --- add_patient -----------------------------------------------------------------------------------
REG = seed("reg", "REG", {"patient_name": "Minerva", "phone": "+254712345678"}, **BY_CHW)


def test_add_patient_creates_the_person_under_the_senders_place_and_replies(world):
    doc = world.doc(REG)
    code = doc["patient_id"]
    assert is_valid_id(code) and len(code) == 5
    assert doc == {**REG, "patient_id": code, "tasks": [task(f"Patient Minerva ({code}) added to Clinic")]}
    assert the_contact(world, REG) == {
        "_id": ANY, "name": "Minerva", "type": "person", "patient_id": code, "reported_date": REPORTED,
        "source_id": "reg", "phone": "+254712345678", "parent": CLINIC_IDS, "created_by": "chw"}


@pytest.mark.parametrize("seeded, code, shape", [
    pytest.param(seed("rid", "RID", {"our_name": "Venus", "our_id": "venus"}, **BY_CHW), "venus",
                 {"type": "person", "name": "Venus", "parent": CLINIC_IDS, "created_by": "chw"}, id="patient_id_field"),
    pytest.param(seed("rid-report-only", "RID", {"our_name": "Rhea", "our_id": "20003"}, **BY_CHW), "20003",
                 {"type": "person", "name": "Rhea", "parent": CLINIC_IDS, "created_by": "chw"}, id="a provided id only a report carries (CHT checks contacts)"),
    pytest.param(seed("rpar", "RPAR", {"patient_name": "Solaris", "parent": "30003"}, **BY_DH_PERSON), None,
                 {"type": "person", "name": "Solaris", "parent": {"_id": "clinic-b", "parent": HC_IDS}, "created_by": "dh-person"}, id="parent_id field"),
    pytest.param(seed("rchw", "RCHW", {"patient_name": "Lunaris", "parent": "30004"}, **BY_DH_PERSON), None,
                 {"type": "contact", "contact_type": "chw", "name": "Lunaris", "parent": HC_B_IDS, "created_by": "dh-person"}, id="contact_type"),
    pytest.param(seed("pubreg", "PUBREG", {"patient_name": "Mentos"}, **{"from": HC_PERSON["phone"]}), None,
                 {"type": "contact", "contact_type": "person", "name": "Mentos", "parent": HC_IDS, "created_by": "hc-person"}, id="parent of the sender found by phone"),
    pytest.param(seed("rold", "ROLD", {"name": "Oldie"}, **BY_CHW), None,
                 {"type": "person", "name": "Oldie", "parent": CLINIC_IDS, "created_by": "chw"}, id="add_patient_id alias, name field from params[0]"),
])
def test_add_patient_creates_the_contact(world, seeded, code, shape):
    doc = world.doc(seeded)
    assert doc["patient_id"] == code or (code is None and is_valid_id(doc["patient_id"]))
    assert "errors" not in doc
    assert the_contact(world, seeded) == {
        "_id": ANY, "patient_id": doc["patient_id"], "reported_date": REPORTED, "source_id": seeded["_id"], **shape}


def test_a_patient_placed_by_parent_id_sees_that_place_unhydrated_in_templates_as_cht_does(world):
    doc = world.doc(by_id("rpar"))  # CHT test "should create people with selected parent": {{parent.name}} is the clinic
    assert doc["tasks"] == [task(f"Solaris ({doc['patient_id']}) added to Clinic B", DH_PERSON["phone"])]


def test_a_sender_found_by_phone_becomes_the_reports_contact(world):
    assert world.doc(by_id("pubreg"))["contact"] == {"_id": "hc-person", "parent": HC_IDS}


@pytest.mark.parametrize("seeded, code, text, keeps_id", [
    pytest.param(seed("bad-phone", "REG", {"patient_name": "Pat", "phone": "+2541"}, **BY_CHW),
                 "provided_phone_not_valid", "Phone +2541 is not valid.", "patient_id", id="provided_phone_not_valid"),
    pytest.param(seed("rid-none", "RID", {"our_name": "X"}, **BY_CHW),
                 "no_provided_patient_id", "No patient id given.", None, id="no_provided_patient_id"),
    pytest.param(seed("rid-taken", "RID", {"our_id": "20002"}, **BY_CHW),
                 "provided_patient_id_not_unique", "Patient id 20002 is taken.", None, id="provided_patient_id_not_unique"),
    pytest.param(seed("rpar-none", "RPAR", {"patient_name": "S"}, **BY_CHW),
                 "parent_field_not_provided", "Parent field is required.", "patient_id", id="parent_field_not_provided"),
    pytest.param(seed("rpar-unknown", "RPAR", {"parent": "99999"}, **BY_CHW),
                 "parent_not_found", "Parent not found.", "patient_id", id="parent_not_found: no such code"),
    pytest.param(seed("pubreg-unknown", "PUBREG", {}, **{"from": UNKNOWN}),
                 "parent_not_found", "Parent not found.", "patient_id", id="parent_not_found: nobody has the phone"),
    pytest.param(seed("rchw-clinic", "RCHW", {"parent": "30003"}, **BY_CHW),
                 "parent_invalid", "Cannot create a chw under 30003 (clinic)", "patient_id", id="parent_invalid (the form's own message)"),
    pytest.param(seed("place-in-clinic", "PLACE", {}, **BY_CHW),
                 "parent_invalid", "Parent Clinic cannot hold this.", "place_id", id="parent_invalid for a place"),
])
def test_a_rejected_subject_gets_the_error_and_one_reply_and_no_contact(world, seeded, code, text, keeps_id):
    doc = world.doc(seeded)
    assert doc["errors"] == [{"code": code, "message": text}]
    assert doc["tasks"][0] == task(text, seeded["from"])
    assert seeded["_id"] not in world.created
    assert {k for k in ("patient_id", "place_id") if k in doc} == ({keeps_id} if keeps_id else set())


# --- add_place, add_case ---------------------------------------------------------------------------
PLACE = seed("place", "PLACE", {"the_place_name": "Toyota"}, **BY_HC_PERSON)
HOME = seed("home", "HOME", {"place_name": "Ford", "parent": "30004"}, **BY_DH_PERSON)


def test_add_place_creates_a_hardcoded_type_as_its_type_without_a_primary_contact(world):
    doc = world.doc(PLACE)
    code = doc["place_id"]
    assert doc == {**PLACE, "place_id": code, "tasks": [task(f"Place Toyota ({code}) added to Health Center", HC_PERSON["phone"])]}
    assert the_contact(world, PLACE) == {"_id": ANY, "name": "Toyota", "type": "clinic", "place_id": code, "reported_date": REPORTED,
                                         "source_id": "place", "parent": HC_IDS, "created_by": "hc-person"}


def test_add_place_creates_a_custom_type_as_a_contact_under_the_parent_id_place(world):
    assert the_contact(world, HOME) == {"_id": ANY, "name": "Ford", "type": "contact", "contact_type": "nursing_home", "place_id": world.doc(HOME)["place_id"],
                                        "reported_date": REPORTED, "source_id": "home", "parent": HC_B_IDS, "created_by": "dh-person"}


@pytest.mark.parametrize("seeded, case_id, place_uuid", [
    pytest.param(seed("case", "CASE", {"x": 1}, **BY_CHW), None, "clinic", id="a new case id and the sender's place"),
    pytest.param(seed("case-kept", "CASE", {}, case_id="12345", **BY_CHW), "12345", "clinic", id="an existing case id is kept"),
    pytest.param(seed("case-xml", "CASE", {}, content_type="xml"), None, None, id="no sender: no place_uuid"),
])
def test_add_case(world, seeded, case_id, place_uuid):
    doc = world.doc(seeded)
    assert doc["case_id"] == case_id or (case_id is None and is_valid_id(doc["case_id"]))
    assert doc["fields"] == {**seeded["fields"], **({"place_uuid": place_uuid} if place_uuid else {})}


# --- dates -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seeded, lmp, expected", [
    pytest.param(seed("lmp-ms", "PREG", {"lmp_date": 1696118400000}, **BY_CHW), (2023, 10, 1), (2024, 7, 7), id="lmp_date in epoch ms"),
    pytest.param(seed("lmp-weeks", "PREG", {"weeks_since_lmp": 2}, reported_date=REPORTED + 36_000_000, **BY_CHW), (2023, 12, 18), (2024, 9, 23),
                 id="weeks_since_lmp back from the start of the report's day"),
    pytest.param(seed("lmp-string", "PREG", {"last_menstrual_period": "4"}, **BY_CHW), (2023, 12, 4), (2024, 9, 9), id="last_menstrual_period as text"),
    pytest.param(seed("lmp-half", "PREG", {"lmp": 2.5}, **BY_CHW), (2023, 12, 14), (2024, 9, 19), id="fractional weeks round to whole days"),
    pytest.param(seed("lmp-none", "PREG", {}, **BY_CHW), None, None, id="none: both null"),
    pytest.param(seed("lmp-null", "PREG", {"lmp_date": None, "date_lmp": 1696118400000}, **BY_CHW), None, None, id="a present but empty lmp_date hides date_lmp"),
])
def test_add_expected_date(world, seeded, lmp, expected):
    doc = world.doc(seeded)
    assert (doc["lmp_date"], doc["expected_date"]) == ((iso(*lmp), iso(*expected)) if lmp else (None, None))


@pytest.mark.parametrize("seeded, birth", [
    pytest.param(seed("dob-years", "BIRTH", {"patient_name": "Bo", "years_since_dob": 2}, **BY_CHW), (2022, 1, 1), id="years"),
    pytest.param(seed("dob-months", "BIRTH", {"patient_name": "Bo", "age_in_years": "x", "months_since_birth": "3"}, **BY_CHW), (2023, 10, 1),
                 id="months when years are not a number"),
    pytest.param(seed("dob-weeks", "BIRTH", {"patient_name": "Bo", "weeks_since_birth": 2}, **BY_CHW), (2023, 12, 18), id="weeks"),
    pytest.param(seed("dob-days", "BIRTH", {"patient_name": "Bo", "age_in_days": 10}, **BY_CHW), (2023, 12, 22), id="days"),
    pytest.param(seed("dob-none", "BIRTH", {"patient_name": "Bo"}, **BY_CHW), (2024, 1, 1), id="none: the report's day"),
])
def test_add_birth_date_also_gives_the_new_patient_its_date_of_birth(world, seeded, birth):
    assert world.doc(seeded)["birth_date"] == the_contact(world, seeded)["date_of_birth"] == iso(*birth)


# --- schedules -------------------------------------------------------------------------------------
def anc_tasks(state: str, visit: str = "Visit for Anna", to: str = CHW["phone"]) -> list[dict[str, Any]]:
    """Group 1 is skipped (its first message is past); a message with a translation_key is generated when due."""
    history = [{"state": state, "timestamp": NOW_ISO}]
    return [
        {"due": iso(2024, 1, 29, 9, 0), "group": 2, "type": "ANC", "translation_key": "schedule.anc", "message_key": "anc.visit",
         "recipient": "reporting_unit", "state": state, "state_history": history},
        {"due": iso(2024, 2, 5), "group": 2, "type": "ANC", "translation_key": "schedule.anc", "recipient": "clinic",
         "messages": [{"uuid": ANY, "to": to, "message": visit}], "state": state, "state_history": history},
    ]


@pytest.mark.parametrize("seeded, tasks, reply", [
    pytest.param(seed("sched", "SCHED", {"patient_id": "10001"}, **BY_CHW), anc_tasks("scheduled"), task("Next visit in 27 days"), id="scheduled"),
    pytest.param(seed("sched-fr", "SCHED", {"patient_id": "10001"}, locale="fr", **BY_CHW), anc_tasks("scheduled", "Visite pour Anna"),
                 task("Next visit in 27 days"), id="in the report's locale"),
    pytest.param(seed("sched-muted", "SCHED", {"patient_id": "10002"}, **BY_CHW), anc_tasks("muted", "Visit for Mo"), task("Next visit in 27 days"), id="muted patient"),
    pytest.param(seed("sched-denied", "SCHED", {"patient_id": "10001"}, **{**BY_CHW, "from": "+99912345678"}),
                 anc_tasks("denied"), task("Next visit in 27 days", "+99912345678", "denied"), id="denied sender"),
])
def test_assign_schedule(world, seeded, tasks, reply):
    assert world.doc(seeded) == {**seeded, "scheduled_tasks": tasks, "tasks": [reply]}


def old_task(state: str, kind: str = "ANC") -> dict[str, Any]:
    return {"due": iso(2024, 2, 1), "group": 1, "type": kind, "state": state, "state_history": [{"state": state, "timestamp": "2023-12-01T00:00:00.000Z"}]}


def cleared(state: str) -> dict[str, Any]:
    old = old_task(state)
    return {**old, "state": "cleared", "state_history": [*old["state_history"], {"state": "cleared", "timestamp": NOW_ISO}], "cleared_by": "clear"}


OLD = [old_task(s) for s in ("scheduled", "pending", "muted", "sent")] + [old_task("scheduled", "OTHER")]
OLD_REG = seed("old-reg", "SCHED", {"patient_id": "10003"}, scheduled_tasks=OLD, **BY_CHW)
OLD_XML = seed("old-xml", "2SCHED", {"patient_id": "10003"}, content_type="xml", scheduled_tasks=[old_task("scheduled")], **BY_CHW)
OLD_ERRORS = seed("old-errors", "SCHED", {"patient_id": "10003"}, errors=[{"code": "x", "message": "x"}], scheduled_tasks=[old_task("scheduled")], **BY_CHW)
OLD_CASE = seed("old-case", "CASE", {"place_uuid": "clinic-b"}, case_id="40004", scheduled_tasks=[old_task("scheduled")], **BY_CHW)
CLEAR = seed("clear", "CLEAR", {"patient_id": "10003"}, scheduled_tasks=[old_task("scheduled")], **BY_CHW)
CLEAR_PLACE = seed("clear-place", "CLEAR", {"place_id": "30003"}, **BY_CHW)
ALREADY_RUN.extend(d["_id"] for d in (OLD_REG, OLD_XML, OLD_ERRORS, OLD_CASE))


def test_clear_schedule_clears_the_clearable_tasks_of_the_listed_types_on_the_patients_other_registrations(world):
    assert world.doc(OLD_REG)["scheduled_tasks"] == [cleared("scheduled"), cleared("pending"), cleared("muted"), OLD[3], OLD[4]]
    assert world.doc(CLEAR)["scheduled_tasks"] == CLEAR["scheduled_tasks"]  # not the current doc
    assert world.unchanged(OLD_ERRORS)  # a report with errors is no registration


def test_clear_schedule_counts_an_app_registration_whose_form_has_non_letters_around_the_code(world):
    assert world.doc(OLD_XML)["scheduled_tasks"] == [{**cleared("scheduled")}]  # registration-utils ^[^a-z]*SCHED[^a-z]*$


def test_clear_schedule_finds_a_registration_by_its_place_uuid(world):
    assert world.doc(OLD_CASE)["scheduled_tasks"] == [{**cleared("scheduled"), "cleared_by": "clear-place"}]


# --- validations, unknown subjects, messages ---------------------------------------------------------
@pytest.mark.parametrize("seeded, reply", [
    pytest.param(seed("val", "VAL", {"patient_name": "Al", "age": "x"}, **BY_CHW), "Name Al is too short", id="the first error's message"),
    pytest.param(seed("valj", "VALJ", {"patient_name": "Al", "age": "x"}, **BY_CHW), "Name Al is too short  Age must be a whole number",
                 id="join_responses: all, two spaces apart"),
])
def test_an_invalid_report_gets_every_error_one_reply_and_no_trigger(world, seeded, reply):
    assert world.doc(seeded) == {**seeded, "tasks": [task(reply)], "errors": [
        {"code": "invalid_patient_name", "message": "Name Al is too short"}, {"code": "invalid_age", "message": "Age must be a whole number"}]}


@pytest.mark.parametrize("seeded, who", [
    pytest.param(seed("nf-patient", "MSG", {"patient_id": "99999"}, **BY_CHW), "99999", id="no contact has the patient_id"),
    pytest.param(seed("nf-place-as-patient", "MSG", {"patient_id": "30003"}, **BY_CHW), "30003", id="the patient_id is a place's"),
    pytest.param(seed("nf-person-as-place", "MSG", {"place_id": "10001"}, **BY_CHW), "", id="the place_id is a person's"),
])
def test_a_report_about_an_unknown_subject_gets_registration_not_found(world, seeded, who):
    text = f"Who is {who}?"
    assert world.doc(seeded) == {**seeded, "tasks": [task(text)], "errors": [{"code": "registration_not_found", "message": text}]}


NOBODY = seed("nf-nobody", "MSG", {"patient_id": "99999"}, content_type="xml", contact={"_id": "no-phone", "parent": CLINIC_IDS})


def test_a_rejection_nobody_can_receive_is_addressed_to_from_as_in_cht(world):
    assert world.doc(NOBODY)["tasks"][0]["messages"][0]["to"] == "from"  # CHT addRejectionMessage's recipient


@pytest.mark.parametrize("seeded, tasks", [
    pytest.param(seed("msg", "MSG", {"patient_id": "10001", "count": 5}, **BY_CHW),
                 [task("Thanks Chloe CHW"), task("5 for Anna (10001)")], id="translation key, JS bool_expr, clinic"),
    pytest.param(seed("msg-fr", "MSG", {"patient_id": "10001", "count": 500}, locale="fr", **BY_CHW),
                 [task("Merci Chloe CHW"), task("500 pour Anna"), task("big", HC_PERSON["phone"])], id="locale fr, JsonLogic bool_expr, parent"),
    pytest.param(seed("msg-none", "MSG", {"patient_id": "10001", "count": 0}, **BY_CHW), [task("Thanks Chloe CHW")], id="failing bool_exprs"),
])
def test_messages_without_event_type_or_report_accepted_are_sent_when_their_bool_expr_passes(world, seeded, tasks):
    assert world.doc(seeded) == {**seeded, "tasks": tasks}


@pytest.mark.parametrize("seeded, keys", [
    pytest.param(seed("cond-case", "COND", {"kind": "case", "type": "other"}, **BY_CHW), {"case_id"}, id="JS on fields flattened onto doc, doc's own keys first"),
    pytest.param(seed("cond-preg", "COND", {"kind": "preg", "lmp": 2}, **BY_CHW), {"lmp_date", "expected_date"}, id="JsonLogic"),
    pytest.param(seed("cond-none", "COND", {"kind": "x"}, **BY_CHW), set(), id="neither passes"),
])
def test_a_trigger_runs_only_when_its_bool_expr_passes(world, seeded, keys):
    assert set(world.doc(seeded)) - set(seeded) == keys


seed("ro-a", "RO", {"patient_id": "10005", "note": "oldest, first by id"}, reported_date=REPORTED - 86_400_000, **BY_CHW)
seed("ro-b", "RO", {"patient_id": "10005", "note": "newer"}, reported_date=REPORTED - 3_600_000, **BY_CHW)
RO = seed("ro-c", "RO", {"patient_id": "10005"}, **BY_CHW)
ALREADY_RUN.extend(["ro-a", "ro-b"])


def test_templates_read_the_patients_first_registration_by_id_as_chts_view_returns_them(world):
    assert world.doc(RO)["tasks"] == [task("Note: oldest, first by id")]


# --- idempotence -----------------------------------------------------------------------------------
IDEM_SETTINGS = {**SETTINGS, "registrations": [{"form": "SCHED", "events": [ev("add_patient"), ev("assign_schedule", "ANC")],
                                                  "messages": [msg("Welcome {{patient_name}} ({{patient_id}})")]}, *SETTINGS["registrations"]]}


def created_by(main, report_id: str) -> list[dict[str, Any]]:
    return [r["doc"] for r in main.all_docs_page(None, 1000) if r["doc"].get("source_id") == report_id]


@pytest.mark.parametrize("form, fields, lose_the_report_write", [
    pytest.param("SCHED", {"patient_name": "Ida"}, False, id="processed again"),
    pytest.param("SCHED", {"patient_name": "Ida"}, True, id="the report's write lost, its patient created"),
    pytest.param("RID", {"our_name": "Ida", "our_id": "ida"}, True, id="same with a provided id"),
])
def test_a_report_processed_again_adds_no_second_patient_message_or_task(main, sentinel_db, hierarchy, make_runner, form, fields,
                                                                         lose_the_report_write):
    main.bulk_docs([dict(d) for d in TRANSLATIONS])
    main.put(report("r1", form=form, fields=fields, reported_date=REPORTED, **BY_CHW))
    drain(make_runner(IDEM_SETTINGS, clock=lambda: NOW))
    first, patients = main.get("r1"), created_by(main, "r1")
    assert len(patients) == 1 and "errors" not in first
    assert (len(first.get("tasks", [])), len(first.get("scheduled_tasks", []))) == ((1, 2) if form == "SCHED" else (0, 0))

    if lose_the_report_write:
        main.put(report("r1", form=form, fields=fields, reported_date=REPORTED, _rev=first["_rev"], **BY_CHW))
    info = sentinel_db.get("r1-info")
    info["transitions"] = {}
    sentinel_db.put(info)
    if not lose_the_report_write:
        main.put({**first, "note": "edited"})
    drain(make_runner(clock=lambda: NOW))

    again = main.get("r1")
    assert created_by(main, "r1") == patients
    assert {k: v for k, v in again.items() if k not in ("_rev", "note")} == {k: v for k, v in first.items() if k != "_rev"}
    assert sentinel_db.get("r1-info")["transitions"]["registration"]["ok"] is True
