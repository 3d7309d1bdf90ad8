"""update_clinics: a new report gets its sender's contact, by `refid` first, else by phone (spec 2.6).

When nobody is found: xml reports and public forms are left alone, a configured non-public form gets a
`sys.facility_not_found` message to the sender plus the error, any other report the error only.

Most cases are documents seeded (`seed`) into one database that Sentinel processes once, in one batch
(`world`); the tests then read each document's outcome. Cases that need edits between runs use the
per-test fixtures.
"""
from __future__ import annotations

import uuid
from typing import Any
from unittest.mock import ANY

import pytest

from ..support import (
    CHW,
    CLINIC,
    HC_PERSON,
    HIERARCHY,
    NOW,
    NOW_ISO,
    drain,
    processed,
    report,
)

UNKNOWN_PHONE = "+254799999999"
NOT_FOUND_TEXT = "Your phone number is not registered."  # messages.generic.sys.facility_not_found
ERROR_TEXT = "Facility not found."  # sys.facility_not_found
FORM = {"meta": {"code": "V", "label": "Visit"}, "fields": {}}

CLINIC_IDS = {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}
CHW_LINEAGE = {"_id": "chw", "parent": CLINIC_IDS}
HC_PERSON_LINEAGE = {"_id": "hc-person", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}

TRANSLATIONS = {
    "_id": "messages-en",
    "code": "en",
    "type": "translations",
    "generic": {
        "messages.generic.sys.facility_not_found": NOT_FOUND_TEXT,
        "sys.facility_not_found": ERROR_TEXT,
    },
}

SETTINGS = {
    "transitions": {"update_clinics": True},
    "forms": {
        "V": FORM,  # configured, not public
        "W": {"meta": {"code": "W"}, "fields": {}},  # configured, with its own message below
        "P": {"meta": {"code": "P"}, "fields": {}, "public_form": True},
        "E": {},  # configured with an empty definition: still a configured form (JS `{}` is truthy)
    },
    "update_clinics": [
        {"form": "OTHER", "messages": [{"event_type": "sys.facility_not_found", "recipient": "reporting_unit", "message": [{"locale": "en", "content": "wrong form"}]}]},
        {"form": "W", "messages": [{"event_type": "sys.facility_not_found", "recipient": "reporting_unit", "message": [{"locale": "en", "content": "{{from}} is not registered with us."}]}]},
    ],
}


# --- the processed world ---------------------------------------------------------------------------

SEEDED: list[dict[str, Any]] = []


def seed(doc: dict[str, Any]) -> dict[str, Any]:
    """Add `doc` to the world Sentinel processes once for this module; returns it (unsaved)."""
    SEEDED.append(doc)
    return doc


@pytest.fixture(scope="module")
def world(pouchdb):
    with processed(pouchdb, SETTINGS, [*HIERARCHY, TRANSLATIONS, *SEEDED]) as processed_world:
        yield processed_world


def not_found_task(to: str, text: str) -> dict[str, Any]:
    return {
        "messages": [{"uuid": ANY, "to": to, "message": text}],
        "state": "pending",
        "state_history": [{"state": "pending", "timestamp": NOW_ISO}],
    }


def untranslated_task(to: str) -> dict[str, Any]:
    return {
        "messages": [{"uuid": ANY, "to": to, "error": "messages.errors.message.empty"}],
        "state": "pending",
        "state_history": [{"state": "pending", "timestamp": NOW_ISO}],
    }


# --- finding the contact by phone ------------------------------------------------------------------


@pytest.mark.parametrize(
    "seeded, lineage",
    [
        pytest.param(seed(report("phone-chw", **{"from": CHW["phone"]})), CHW_LINEAGE, id="a CHW"),
        pytest.param(seed(report("phone-hc", **{"from": HC_PERSON["phone"]})), HC_PERSON_LINEAGE, id="a health center person"),
    ],
)
def test_a_report_from_a_known_phone_gets_that_contact_with_its_lineage_minified(world, seeded, lineage):
    assert world.doc(seeded) == {**seeded, "contact": lineage}


NUMERIC_PERSON = seed({"_id": "numeric-phone", "type": "person", "name": "Num", "phone": "254700000099", "parent": CLINIC_IDS})
NUMERIC_SENDER = seed(report("numeric-sender", **{"from": 254700000099}))


def test_a_numeric_sender_is_looked_up_as_a_string(world):
    assert world.doc(NUMERIC_SENDER)["contact"] == {"_id": "numeric-phone", "parent": CLINIC_IDS}


# --- finding the contact by refid ------------------------------------------------------------------

BY_REFID = seed(report("refid-clinic", refid=CLINIC["rc_code"]))


def test_a_refid_matching_a_place_gives_the_report_the_places_primary_contact(world):
    assert world.doc(BY_REFID) == {**BY_REFID, "contact": CHW_LINEAGE}


LOWER_RC_CODE_PLACE = seed({"_id": "clinic-lower", "type": "clinic", "name": "Lower", "rc_code": "abc9", "parent": CLINIC_IDS["parent"], "contact": {"_id": "hc-person"}})
BY_UPPER_REFID = seed(report("refid-upper", refid="ABC9"))


def test_a_refid_is_matched_against_the_upper_cased_rc_code_of_a_place(world):
    assert world.doc(BY_UPPER_REFID)["contact"] == HC_PERSON_LINEAGE


REF_PERSON = seed({"_id": "ref-person", "type": "person", "name": "Ref", "rc_code": "P77", "parent": CLINIC_IDS})
BY_PERSON_REFID = seed(report("refid-person", refid="P77"))


def test_a_refid_matching_a_person_gives_the_report_that_person(world):
    assert world.doc(BY_PERSON_REFID)["contact"] == {"_id": "ref-person", "parent": CLINIC_IDS}


EMPTY_PLACE = seed({"_id": "empty-clinic", "type": "clinic", "name": "Empty", "rc_code": "EMPTY1", "parent": CLINIC_IDS["parent"]})
BY_EMPTY_PLACE_REFID = seed(report("refid-empty-place", refid="EMPTY1"))


def test_a_refid_matching_a_place_without_a_primary_contact_attaches_the_report_to_the_place(world):
    assert world.doc(BY_EMPTY_PLACE_REFID) == {
        **BY_EMPTY_PLACE_REFID,
        "contact": {"parent": {"_id": "empty-clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}},
    }


EMBEDDED_CONTACT = {"name": "CCN", "phone": "+34567890123"}
OLD_PLACE = seed({"_id": "old-clinic", "type": "clinic", "name": "Old", "rc_code": "OLD1", "contact": EMBEDDED_CONTACT, "parent": CLINIC_IDS["parent"]})
BY_OLD_PLACE_REFID = seed(report("refid-old-place", refid="OLD1"))


def test_a_refid_matching_a_place_whose_contact_is_embedded_without_an_id_gets_that_embedded_contact(world):
    assert world.doc(BY_OLD_PLACE_REFID)["contact"] == EMBEDDED_CONTACT


REFID_AND_PHONE = seed(report("refid-and-phone", refid=CLINIC["rc_code"], **{"from": HC_PERSON["phone"]}))


def test_the_refid_takes_precedence_over_the_phone(world):
    assert world.doc(REFID_AND_PHONE)["contact"] == CHW_LINEAGE


UNKNOWN_REFID_KNOWN_PHONE = seed(report("unknown-refid", refid="NOPE", **{"from": CHW["phone"]}))


def test_an_unknown_refid_is_not_rescued_by_a_known_phone(world):
    doc = world.doc(UNKNOWN_REFID_KNOWN_PHONE)
    assert "contact" not in doc
    assert doc["errors"] == [{"code": "sys.facility_not_found", "message": NOT_FOUND_TEXT}]


OFFICE = seed({"_id": "office", "type": "national_office", "name": "Office", "rc_code": "OFF1"})
BY_OFFICE_REFID = seed(report("refid-office", refid="OFF1", form="UNKNOWN"))


def test_a_refid_matching_a_doc_that_is_not_a_configured_contact_type_finds_nobody(world):
    assert world.doc(BY_OFFICE_REFID) == {**BY_OFFICE_REFID, "errors": [{"code": "sys.facility_not_found", "message": ERROR_TEXT}]}


# --- nobody found ----------------------------------------------------------------------------------

CONFIGURED_FORM = seed(report("configured-form", **{"from": UNKNOWN_PHONE}))


def test_a_report_from_an_unknown_phone_on_a_configured_form_gets_a_facility_not_found_message_and_error(world):
    doc = world.doc(CONFIGURED_FORM)
    assert doc == {
        **CONFIGURED_FORM,
        "tasks": [not_found_task(UNKNOWN_PHONE, NOT_FOUND_TEXT)],
        "errors": [{"code": "sys.facility_not_found", "message": NOT_FOUND_TEXT}],
    }
    assert uuid.UUID(doc["tasks"][0]["messages"][0]["uuid"])


CONFIGURED_MESSAGE = seed(report("configured-message", form="W", **{"from": UNKNOWN_PHONE}))


def test_the_facility_not_found_message_of_the_forms_update_clinics_config_is_used_instead_of_the_generic_one(world):
    text = f"{UNKNOWN_PHONE} is not registered with us."
    doc = world.doc(CONFIGURED_MESSAGE)
    assert doc["tasks"] == [not_found_task(UNKNOWN_PHONE, text)]
    assert doc["errors"] == [{"code": "sys.facility_not_found", "message": text}]


EMPTY_FORM_DEFINITION = seed(report("empty-form-definition", form="E", **{"from": UNKNOWN_PHONE}))


def test_a_form_configured_with_an_empty_definition_still_counts_as_configured(world):
    """CHT's getForm returns `{}`, which JS treats as true: the sender gets the message too."""
    doc = world.doc(EMPTY_FORM_DEFINITION)
    assert doc["tasks"] == [not_found_task(UNKNOWN_PHONE, NOT_FOUND_TEXT)]
    assert doc["errors"] == [{"code": "sys.facility_not_found", "message": NOT_FOUND_TEXT}]


@pytest.mark.parametrize(
    "seeded",
    [
        pytest.param(seed(report("unconfigured-form", form="UNKNOWN", **{"from": UNKNOWN_PHONE})), id="a form that is not configured"),
        pytest.param(seed({k: v for k, v in report("no-form", **{"from": UNKNOWN_PHONE}).items() if k != "form"}), id="no form"),
        pytest.param(seed(report("no-sender", form="UNKNOWN")), id="no refid and no phone"),
    ],
)
def test_a_report_nobody_is_found_for_gets_only_the_facility_not_found_error_when_it_has(world, seeded):
    assert world.doc(seeded) == {**seeded, "errors": [{"code": "sys.facility_not_found", "message": ERROR_TEXT}]}


@pytest.mark.parametrize(
    "seeded",
    [
        pytest.param(seed(report("xml", content_type="xml", **{"from": UNKNOWN_PHONE})), id="an xml report"),
        pytest.param(seed(report("public-form", form="P", **{"from": UNKNOWN_PHONE})), id="a public form"),
    ],
)
def test_a_report_nobody_is_found_for_is_left_unchanged_when_it_is(world, seeded):
    assert world.unchanged(seeded)
    assert world.info(seeded)["transitions"] == {}


# --- when it runs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seeded",
    [
        pytest.param(seed(report("has-contact-id", contact={"_id": "hc-person"}, **{"from": CHW["phone"]})), id="a contact id"),
        pytest.param(seed(report("has-contact-lineage", contact=HC_PERSON_LINEAGE, **{"from": CHW["phone"]})), id="a minified lineage"),
    ],
)
def test_a_report_that_already_has_a_contact_is_left_alone(world, seeded):
    assert world.unchanged(seeded)
    assert world.info(seeded)["transitions"] == {}


NOT_A_REPORT = seed({"_id": "not-a-report", "type": "feedback", "from": CHW["phone"]})


def test_only_reports_are_given_a_contact(world):
    assert world.unchanged(NOT_A_REPORT)


def test_the_infodoc_records_the_run_on_the_revision_it_processed(world):
    info = world.info(BY_REFID)
    assert info["transitions"] == {"update_clinics": {"last_rev": world.revs[BY_REFID["_id"]], "seq": ANY, "ok": True, "run_date": NOW_ISO}}
    assert (info["_id"], info["type"], info["doc_id"]) == ("refid-clinic-info", "info", "refid-clinic")


def test_the_infodoc_records_a_run_that_only_added_the_error(world):
    assert world.info(CONFIGURED_FORM)["transitions"]["update_clinics"]["ok"] is True


# --- edits after the first run ---------------------------------------------------------------------


def test_it_runs_only_once_per_document_even_when_the_contact_is_removed_later(main, sentinel_db, hierarchy, make_runner):
    runner = make_runner(SETTINGS)
    main.put(report("r1", **{"from": CHW["phone"]}))
    drain(runner)
    record = sentinel_db.get("r1-info")["transitions"]["update_clinics"]

    edited = main.get("r1")
    del edited["contact"]
    rev = main.put(edited)
    drain(runner)

    doc = main.get("r1")
    assert doc["_rev"] == rev
    assert "contact" not in doc
    assert sentinel_db.get("r1-info")["transitions"]["update_clinics"] == record


def test_a_report_that_found_nobody_is_not_looked_up_again_when_the_sender_registers_later(main, hierarchy, make_runner):
    runner = make_runner(SETTINGS)
    main.put(report("r1", form="UNKNOWN", **{"from": UNKNOWN_PHONE}))
    drain(runner)

    main.put({"_id": "newcomer", "type": "person", "name": "New", "phone": UNKNOWN_PHONE, "parent": CLINIC_IDS})
    edited = main.get("r1")
    edited["note"] = "edited"
    rev = main.put(edited)
    drain(runner)

    doc = main.get("r1")
    assert doc["_rev"] == rev
    assert "contact" not in doc


@pytest.mark.parametrize(
    "form, expected_tasks",
    [
        pytest.param("V", [untranslated_task(UNKNOWN_PHONE)], id="a configured form: an empty message and the error"),
        pytest.param("UNKNOWN", None, id="an unconfigured form: the error"),
    ],
)
def test_without_translations_the_error_reads_as_the_key_and_the_message_is_empty(main, hierarchy, make_runner, form, expected_tasks):
    """CHT's translate() falls back to the key, so the error shows something; message-utils then
    refuses a text that is the key itself (`messages.errors.message.empty`): no SMS reads as a key."""
    runner = make_runner({"transitions": {"update_clinics": True}, "forms": {"V": FORM}}, clock=lambda: NOW)
    main.put(report("r1", form=form, **{"from": UNKNOWN_PHONE}))
    drain(runner)
    doc = main.get("r1")
    assert doc.get("tasks") == expected_tasks
    key = "messages.generic.sys.facility_not_found" if expected_tasks else "sys.facility_not_found"
    assert doc["errors"] == [{"code": "sys.facility_not_found", "message": key}]
