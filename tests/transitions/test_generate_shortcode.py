"""generate_shortcode_on_contacts and its deprecated alias generate_patient_id_on_people (spec 2.6, 3.5).

Every contact of a configured contact type gets a short code: `patient_id` for person types, `place_id`
for place types, unless it has one already. Ids are valid (check digit), `current_length` long, and
distinct, also among the many contacts of one batch. The alias behaves the same: every test of the
processed world runs once per transition name.
"""
from __future__ import annotations

from typing import Any
from unittest.mock import ANY

import pytest

from sentinel.core.ids import is_valid_id

from ..support import (
    NOW_ISO,
    drain,
    processed,
    report,
    without_rev,
)

NAMES = ("generate_shortcode_on_contacts", "generate_patient_id_on_people")

CONTACT_TYPES = [
    {"id": "district_hospital"},
    {"id": "health_center", "parents": ["district_hospital"]},
    {"id": "clinic", "parents": ["health_center"]},
    {"id": "person", "person": True, "parents": ["district_hospital", "health_center", "clinic"]},
    {"id": "region"},
    {"id": "household", "parents": ["region"]},
    {"id": "member", "person": True, "parents": ["household"]},
]


def settings(name: str, **extra: Any) -> dict[str, Any]:
    return {"transitions": {name: True}, "contact_types": CONTACT_TYPES, **extra}


class Shortcode:
    """Equal to any valid short code of `length` digits (for whole-document assertions)."""

    def __init__(self, length: int = 5):
        self.length = length

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and len(other) == self.length and is_valid_id(other)

    def __repr__(self) -> str:
        return f"<valid {self.length}-digit shortcode>"


SHORTCODE = Shortcode()


# --- the processed world ---------------------------------------------------------------------------

SEEDED: list[dict[str, Any]] = []


def seed(doc: dict[str, Any]) -> dict[str, Any]:
    SEEDED.append(doc)
    return doc


@pytest.fixture(scope="module", params=NAMES)
def world(request, pouchdb):
    with processed(pouchdb, settings(request.param), SEEDED, name=request.param) as processed_world:
        yield processed_world


def generation(rev: str) -> int:
    return int(rev.split("-")[0])


# --- who gets which id -----------------------------------------------------------------------------

PERSON = seed({"_id": "person", "type": "person", "name": "Pat", "parent": {"_id": "clinic", "parent": {"_id": "hc", "parent": {"_id": "dh"}}}})


def test_a_person_gets_a_patient_id_and_nothing_else(world):
    assert world.doc(PERSON) == {**PERSON, "patient_id": SHORTCODE}


def test_a_contact_is_saved_once_and_its_new_id_does_not_trigger_another_run(world):
    assert generation(world.rev(PERSON)) == 2


def test_the_infodoc_records_the_transition_that_ran(world):
    assert world.info(PERSON)["transitions"] == {world.name: {"last_rev": world.revs["person"], "seq": ANY, "ok": True, "run_date": NOW_ISO}}


@pytest.mark.parametrize(
    "seeded",
    [
        pytest.param(seed({"_id": "dh", "type": "district_hospital", "name": "DH"}), id="district_hospital"),
        pytest.param(seed({"_id": "hc", "type": "health_center", "name": "HC", "parent": {"_id": "dh"}}), id="health_center"),
        pytest.param(seed({"_id": "clinic", "type": "clinic", "name": "C", "parent": {"_id": "hc", "parent": {"_id": "dh"}}}), id="clinic"),
    ],
)
def test_a_place_gets_a_place_id_and_nothing_else(world, seeded):
    assert world.doc(seeded) == {**seeded, "place_id": SHORTCODE}


@pytest.mark.parametrize(
    "seeded, key",
    [
        pytest.param(seed({"_id": "region", "type": "contact", "contact_type": "region", "name": "North"}), "place_id", id="a place type"),
        pytest.param(seed({"_id": "household", "type": "contact", "contact_type": "household", "parent": {"_id": "region"}}), "place_id", id="a child place type"),
        pytest.param(seed({"_id": "member", "type": "contact", "contact_type": "member", "parent": {"_id": "household", "parent": {"_id": "region"}}}), "patient_id", id="a person type"),
    ],
)
def test_a_contact_of_a_configured_custom_type_gets_the_id_of_its_kind(world, seeded, key):
    assert world.doc(seeded) == {**seeded, key: SHORTCODE}


@pytest.mark.parametrize(
    "seeded",
    [
        pytest.param(seed(report("report")), id="a report"),
        pytest.param(seed({"_id": "feedback", "type": "feedback", "info": {}}), id="feedback"),
        pytest.param(seed({"_id": "untyped", "name": "no type"}), id="a doc without type"),
        pytest.param(seed({"_id": "shop", "type": "contact", "contact_type": "shop", "name": "Shop"}), id="a custom type that is not configured"),
        pytest.param(seed({"_id": "typeless-contact", "type": "contact", "name": "?"}), id="a contact without contact_type"),
    ],
)
def test_a_document_that_is_not_a_configured_contact_is_untouched(world, seeded):
    assert world.unchanged(seeded)
    assert world.info(seeded)["transitions"] == {}


@pytest.mark.parametrize(
    "seeded",
    [
        pytest.param(seed({"_id": "has-patient-id", "type": "person", "name": "Kept", "patient_id": "12348"}), id="a person with a patient_id"),
        pytest.param(seed({"_id": "has-place-id", "type": "clinic", "name": "Kept", "place_id": "13249"}), id="a place with a place_id"),
        pytest.param(seed({"_id": "member-has-id", "type": "contact", "contact_type": "member", "patient_id": "anything"}), id="a custom person with any patient_id"),
    ],
)
def test_an_existing_id_is_kept(world, seeded):
    assert world.unchanged(seeded)
    assert world.doc(seeded) == seeded


@pytest.mark.parametrize(
    "seeded, key",
    [
        pytest.param(seed({"_id": "person-with-place-id", "type": "person", "place_id": "55555"}), "patient_id", id="a person with only a place_id"),
        pytest.param(seed({"_id": "place-with-patient-id", "type": "health_center", "patient_id": "66666"}), "place_id", id="a place with only a patient_id"),
    ],
)
def test_the_id_of_the_other_kind_does_not_count(world, seeded, key):
    assert world.doc(seeded) == {**seeded, key: SHORTCODE}


MANY = [seed({"_id": f"many-person-{i:03d}", "type": "person", "name": f"P{i}"}) for i in range(60)] + [
    seed({"_id": f"many-household-{i:03d}", "type": "contact", "contact_type": "household", "name": f"H{i}"}) for i in range(40)
]


def test_many_contacts_created_in_one_batch_all_get_distinct_valid_ids(world):
    rows = world.main.all_docs([d["_id"] for d in MANY])
    ids = [doc.get("patient_id") or doc.get("place_id") for doc in rows.values()]
    assert len(ids) == len(MANY)
    assert all(code == SHORTCODE for code in ids)
    assert len(set(ids)) == len(ids)


def test_no_two_documents_of_the_batch_share_an_id(world):
    everything = world.main.all_docs([d["_id"] for d in SEEDED])
    codes = [doc[k] for doc in everything.values() for k in ("patient_id", "place_id") if k in doc]
    assert len(set(codes)) == len(codes)


# --- settings --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_the_shortcode_id_length_doc_sets_the_length_of_new_ids(main, make_runner, name):
    main.put({"_id": "shortcode-id-length", "current_length": 7})
    runner = make_runner(settings(name))
    main.put({"_id": "p1", "type": "person", "name": "Seven"})
    main.put({"_id": "c1", "type": "clinic", "name": "Seven"})
    drain(runner)
    assert main.get("p1")["patient_id"] == Shortcode(7)
    assert main.get("c1")["place_id"] == Shortcode(7)


@pytest.mark.parametrize("name", NAMES)
def test_a_hardcoded_type_left_out_of_the_configured_contact_types_gets_no_id(main, make_runner, name):
    runner = make_runner({"transitions": {name: True}, "contact_types": [t for t in CONTACT_TYPES if t["id"] != "person"]})
    rev = main.put({"_id": "p1", "type": "person", "name": "Unconfigured"})
    drain(runner)
    assert main.get("p1")["_rev"] == rev


def test_with_both_enabled_a_contact_gets_one_id_from_the_first_and_the_alias_does_not_run(main, sentinel_db, make_runner):
    runner = make_runner({"transitions": {name: True for name in NAMES}, "contact_types": CONTACT_TYPES})
    rev = main.put({"_id": "p1", "type": "person", "name": "Both"})
    drain(runner)
    doc = main.get("p1")
    assert without_rev(doc) == {"_id": "p1", "type": "person", "name": "Both", "patient_id": SHORTCODE}
    assert generation(doc["_rev"]) == generation(rev) + 1
    assert list(sentinel_db.get("p1-info")["transitions"]) == ["generate_shortcode_on_contacts"]
