"""sentinel/lineage.py: hydrating and minifying lineage with CHT's semantics (spec 1.5, 7 `minify`).

Pure unit tests: the documents live in a dict and `lookup` is `STORE.get`.
"""
from __future__ import annotations

import copy
from typing import Any

import pytest

from sentinel.core import lineage

DISTRICT = {"_id": "district", "type": "district_hospital", "name": "District", "contact": {"_id": "dh-person"}}
HEALTH_CENTER = {"_id": "hc", "type": "health_center", "name": "HC", "parent": {"_id": "district"}, "contact": {"_id": "hc-person"}}
CLINIC = {"_id": "clinic", "type": "clinic", "name": "Clinic", "parent": {"_id": "hc", "parent": {"_id": "district"}}, "contact": {"_id": "chw"}}
CHW = {"_id": "chw", "type": "person", "name": "Chloe", "phone": "+1555", "parent": {"_id": "clinic", "parent": {"_id": "hc", "parent": {"_id": "district"}}}}
HC_PERSON = {"_id": "hc-person", "type": "person", "name": "Hank", "parent": {"_id": "hc", "parent": {"_id": "district"}}}
DH_PERSON = {"_id": "dh-person", "type": "person", "name": "Dora", "parent": {"_id": "district"}}
PATIENT = {"_id": "patient", "type": "person", "name": "Pat", "patient_id": "12348", "parent": CHW["parent"]}
REPORT = {
    "_id": "report",
    "type": "data_record",
    "form": "V",
    "fields": {"patient_id": "12348"},
    "contact": {"_id": "chw", "parent": {"_id": "clinic", "parent": {"_id": "hc", "parent": {"_id": "district"}}}},
}
STORE = {d["_id"]: d for d in (DISTRICT, HEALTH_CENTER, CLINIC, CHW, HC_PERSON, DH_PERSON, PATIENT, REPORT)}
PRISTINE = copy.deepcopy(STORE)


def lookup(doc_id: str) -> dict[str, Any] | None:
    return STORE.get(doc_id)


@pytest.fixture(autouse=True)
def store_is_never_mutated():
    yield
    assert STORE == PRISTINE


# The hydrated chain every lineage of the clinic ends in: each place with its primary contact.
HYDRATED_DISTRICT = {**DISTRICT, "contact": DH_PERSON}
HYDRATED_HC = {**HEALTH_CENTER, "contact": HC_PERSON, "parent": HYDRATED_DISTRICT}
HYDRATED_CLINIC_PARENT = {**CLINIC, "contact": CHW, "parent": HYDRATED_HC}
HYDRATED_CHW = {**CHW, "parent": HYDRATED_CLINIC_PARENT}


# --- references ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc, expected",
    [
        pytest.param(REPORT, {"chw", "clinic", "hc", "district"}, id="a report: its contact's lineage"),
        pytest.param({"_id": "r", "type": "data_record", "contact": "chw"}, {"chw"}, id="a report whose contact is a bare id"),
        pytest.param({"_id": "r", "type": "data_record"}, set(), id="a report without contact"),
        pytest.param(CHW, {"clinic", "hc", "district"}, id="a person: its parents"),
        pytest.param(CLINIC, {"chw", "hc", "district"}, id="a place: its contact and parents"),
        pytest.param(DISTRICT, {"dh-person"}, id="a top-level place: its contact"),
        pytest.param({"_id": "p", "type": "person", "parent": "clinic"}, {"clinic"}, id="a parent given as a bare id"),
        pytest.param({"_id": "p", "type": "person", "linked_docs": {"tag": "a", "other": {"_id": "b"}}}, {"a", "b"}, id="a contact's linked docs"),
        pytest.param({"_id": "x", "type": "feedback", "linked_docs": {"tag": "a"}}, set(), id="linked docs of a non-contact"),
        pytest.param({"_id": "self", "type": "clinic", "contact": {"_id": "self"}}, set(), id="never the doc itself"),
        pytest.param({"_id": "p", "type": "person", "parent": {"_id": "a", "parent": {"_id": "b", "parent": {"_id": "a"}}}}, {"a", "b"}, id="a looping chain, once"),
        pytest.param({"_id": "p", "type": "person", "parent": 42, "contact": ["x"]}, set(), id="malformed references"),
    ],
)
def test_references_lists_the_ids_hydrating_a_document_needs(doc, expected):
    assert lineage.references(doc) == expected


def test_ids_to_load_is_the_union_of_the_references_of_the_documents():
    assert lineage.ids_to_load([REPORT, DISTRICT, PATIENT]) == {"chw", "clinic", "hc", "district", "dh-person"}


def test_parent_ids_stops_at_max_depth():
    chain: dict[str, Any] = {"_id": "n0"}
    node = chain
    for i in range(1, 100):
        node["parent"] = {"_id": f"n{i}"}
        node = node["parent"]
    assert lineage.parent_ids(chain) == [f"n{i}" for i in range(lineage.MAX_DEPTH)]


# --- hydrate ---------------------------------------------------------------------------------------


def test_a_person_is_hydrated_with_every_parent_and_each_parents_primary_contact():
    assert lineage.hydrate(CHW, lookup) == HYDRATED_CHW


def test_hydrate_contact_gives_the_same_as_hydrating_the_stored_contact():
    assert lineage.hydrate_contact("chw", lookup) == HYDRATED_CHW


def test_hydrate_contact_of_an_unknown_id_is_none():
    assert lineage.hydrate_contact("nobody", lookup) is None


def test_a_place_is_hydrated_with_its_primary_contact_and_its_parents():
    assert lineage.hydrate(CLINIC, lookup) == {**CLINIC, "contact": CHW, "parent": HYDRATED_HC}


def test_a_report_gets_its_contact_hydrated_with_lineage_and_its_patient_and_place_attached():
    hydrated = lineage.hydrate(REPORT, lookup, patient_uuid="patient", place_uuid="clinic")
    assert hydrated == {
        **REPORT,
        "contact": HYDRATED_CHW,
        "patient": {**PATIENT, "parent": HYDRATED_CLINIC_PARENT},
        "place": {**CLINIC, "contact": CHW, "parent": HYDRATED_HC},
    }


def test_a_report_subject_that_does_not_exist_is_not_attached():
    hydrated = lineage.hydrate(REPORT, lookup, patient_uuid="nobody", place_uuid=None)
    assert "patient" not in hydrated and "place" not in hydrated


def test_a_report_whose_contact_is_a_bare_id_gets_the_hydrated_contact():
    assert lineage.hydrate({"_id": "r", "type": "data_record", "contact": "chw"}, lookup)["contact"] == HYDRATED_CHW


def test_a_report_whose_contact_no_longer_exists_keeps_the_contact_id_and_hydrates_its_parents():
    doc = {**REPORT, "contact": {"_id": "gone", "parent": REPORT["contact"]["parent"]}}
    assert lineage.hydrate(doc, lookup)["contact"] == {"_id": "gone", "parent": HYDRATED_CLINIC_PARENT}


def test_a_missing_parent_is_left_as_a_stub_and_the_chain_above_it_is_still_hydrated():
    doc = {"_id": "p", "type": "person", "parent": {"_id": "deleted-clinic", "parent": {"_id": "hc", "parent": {"_id": "district"}}}}
    assert lineage.hydrate(doc, lookup) == {**doc, "parent": {"_id": "deleted-clinic", "parent": HYDRATED_HC}}


def test_a_parent_given_as_a_bare_id_is_hydrated():
    doc = {"_id": "p", "type": "person", "parent": "district"}
    assert lineage.hydrate(doc, lookup) == {**doc, "parent": HYDRATED_DISTRICT}


def test_a_missing_primary_contact_is_left_as_it_is():
    store = {**STORE, "lonely": {"_id": "lonely", "type": "clinic", "contact": {"_id": "gone"}}}
    assert lineage.hydrate(store["lonely"], store.get)["contact"] == {"_id": "gone"}


def test_a_parent_loop_stops_hydration_instead_of_hanging():
    store = {
        "a": {"_id": "a", "type": "clinic", "parent": {"_id": "b"}},
        "b": {"_id": "b", "type": "health_center", "parent": {"_id": "a"}},
    }
    assert lineage.hydrate(store["a"], store.get) == {"_id": "a", "type": "clinic", "parent": {"_id": "b", "type": "health_center", "parent": {"_id": "a"}}}


@pytest.mark.parametrize("parent", [None, "", 42, [], {}, {"name": "no id"}])
def test_a_malformed_parent_is_left_as_it_is(parent):
    doc = {"_id": "p", "type": "person", "parent": parent}
    assert lineage.hydrate(doc, lookup) == doc


def test_a_contacts_linked_docs_are_hydrated():
    doc = {"_id": "p", "type": "person", "linked_docs": {"tag": "clinic", "other": {"_id": "dh-person"}, "gone": "nobody"}}
    assert lineage.hydrate(doc, lookup)["linked_docs"] == {"tag": CLINIC, "other": DH_PERSON, "gone": "nobody"}


def test_hydrate_returns_a_copy_that_shares_nothing_with_the_input_or_the_store():
    doc = copy.deepcopy(REPORT)
    hydrated = lineage.hydrate(doc, lookup, patient_uuid="patient")
    hydrated["contact"]["parent"]["name"] = "changed"
    hydrated["patient"]["parent"]["contact"]["name"] = "changed"
    hydrated["fields"]["patient_id"] = "changed"
    assert doc == REPORT  # the store is checked by the autouse fixture


# --- minify ----------------------------------------------------------------------------------------


def test_a_hydrated_report_minifies_back_to_its_stored_form_without_patient_and_place():
    hydrated = lineage.hydrate(REPORT, lookup, patient_uuid="patient", place_uuid="clinic")
    assert lineage.minify(hydrated) == REPORT


@pytest.mark.parametrize("doc", [CHW, HC_PERSON, DH_PERSON, PATIENT], ids=lambda d: d["_id"])
def test_a_hydrated_person_minifies_back_to_its_stored_form(doc):
    assert lineage.minify(lineage.hydrate(doc, lookup)) == doc


def test_a_hydrated_place_minifies_its_primary_contact_to_the_contacts_lineage():
    """CHT's minify writes `contact: {_id, parent: <minified lineage>}`, even where only `{_id}` was stored."""
    assert lineage.minify(lineage.hydrate(CLINIC, lookup)) == {**CLINIC, "contact": {"_id": "chw", "parent": CHW["parent"]}}


def test_minify_changes_the_document_in_place_and_returns_it():
    hydrated = lineage.hydrate(CHW, lookup)
    assert lineage.minify(hydrated) is hydrated
    assert hydrated == CHW


def test_a_contact_that_is_only_a_parent_place_minifies_to_the_places_id_chain():
    """update_clinics' `{parent: place}` for a place without a primary contact (our deliberate difference)."""
    doc = {"_id": "r", "type": "data_record", "contact": {"parent": {**CLINIC, "parent": HYDRATED_HC}}}
    assert lineage.minify(doc) == {"_id": "r", "type": "data_record", "contact": {"parent": {"_id": "clinic", "parent": {"_id": "hc", "parent": {"_id": "district"}}}}}


def test_an_embedded_contact_without_an_id_is_kept_as_it_is():
    doc = {"_id": "r", "type": "data_record", "contact": {"name": "CCN", "phone": "+1555"}}
    assert lineage.minify(copy.deepcopy(doc)) == doc


def test_patient_and_place_are_kept_on_documents_that_are_not_reports():
    doc = {"_id": "x", "type": "feedback", "patient": {"_id": "p"}, "place": {"_id": "c"}}
    assert lineage.minify(copy.deepcopy(doc)) == doc


def test_a_contacts_linked_docs_minify_to_ids():
    doc = {"_id": "p", "type": "person", "linked_docs": {"tag": {**CLINIC}, "other": "dh-person", "bad": {"name": "no id"}}}
    assert lineage.minify(doc)["linked_docs"] == {"tag": "clinic", "other": "dh-person"}


def test_minify_lineage_keeps_only_the_ids_of_a_hydrated_chain():
    assert lineage.minify_lineage(HYDRATED_CLINIC_PARENT) == {"_id": "clinic", "parent": {"_id": "hc", "parent": {"_id": "district"}}}


@pytest.mark.parametrize("value", [None, "clinic", {}, {"name": "no id"}])
def test_minify_lineage_leaves_what_is_not_a_lineage_alone(value):
    assert lineage.minify_lineage(value) == value


def test_minify_lineage_raises_on_a_parent_loop():
    looping: dict[str, Any] = {"_id": "a", "parent": {"_id": "b"}}
    looping["parent"]["parent"] = looping
    with pytest.raises(ValueError, match="possible parent recursion"):
        lineage.minify_lineage(looping)


def test_is_contact_knows_the_hardcoded_types_and_type_contact():
    assert [lineage.is_contact({"type": t}) for t in ("person", "clinic", "health_center", "district_hospital", "contact", "data_record", None)] == [
        True, True, True, True, True, False, False,
    ]
