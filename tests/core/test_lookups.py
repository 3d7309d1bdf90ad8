"""Sentinel's own lookup index (sentinel/lookups.py): who has this phone, this short code, this rc_code,
which codes are in use.

Specified here: the keys a document answers (`keys_of`, `make_key`, as `ddocs/.../lookups/map.js` emits
them) and how a stored entry is merged after a 409; the one-off `build` from `_all_docs` (paged,
marked built, idempotent); lookups through a `BatchContext`, where an entry is only a candidate that the
current document must confirm (and stale candidates are dropped from the index); and, end to end, that
a running Sentinel keeps the index current and does not rebuild it on restart.
"""
from __future__ import annotations

from typing import Any

import pytest

from sentinel.core import lookups
from sentinel.core.context import BatchContext
from sentinel.core.lookups import MAX_VALUE_LENGTH, LookupIndex, index_id, keys_of, make_key, merge
from sentinel.core.settings import Settings

from ..support import CHW, HIERARCHY, NOW, drain, report

# --- the keys a document answers ------------------------------------------------------------------

EVERY_FIELD = {"phone": "+254700000001", "patient_id": "12345", "place_id": "67890", "rc_code": "cln1", "case_id": "C-1"}
CODES = {("code", "12345"), ("code", "67890"), ("code", "C-1")}


@pytest.mark.parametrize("doc_type", ["person", "clinic", "health_center", "district_hospital", "contact"])
def test_a_contact_answers_its_phone_shortcodes_upper_cased_rc_code_and_codes(doc_type):
    doc = {"_id": "c", "type": doc_type, "contact_type": "household", **EVERY_FIELD}
    assert keys_of(doc) == {
        ("phone", "+254700000001"),
        ("shortcode", "12345"),
        ("shortcode", "67890"),
        ("external", "CLN1"),
        *CODES,
    }


@pytest.mark.parametrize("doc_type", ["data_record", "feedback", None])
def test_any_other_document_answers_only_its_codes(doc_type):
    assert keys_of({"_id": "r", "type": doc_type, **EVERY_FIELD}) == CODES


def test_numbers_are_keys_as_js_string_writes_them():
    doc = {"_id": "p", "type": "person", "phone": 254700000001, "patient_id": 12345.0, "case_id": 7}
    assert keys_of(doc) == {("phone", "254700000001"), ("shortcode", "12345"), ("code", "12345"), ("code", "7")}


NO_KEY = [
    pytest.param(True, id="a boolean"),
    pytest.param({"a": 1}, id="a dict"),
    pytest.param(["12345"], id="a list"),
    pytest.param(None, id="null"),
    pytest.param("", id="an empty string"),
    pytest.param(float("nan"), id="NaN"),
    pytest.param("1" * (MAX_VALUE_LENGTH + 1), id="longer than MAX_VALUE_LENGTH"),
]


@pytest.mark.parametrize("value", [*NO_KEY, pytest.param(0, id="zero (falsy, as in map.js)")])
def test_values_that_cannot_be_keys_give_no_key(value):
    assert keys_of({"_id": "p", "type": "person", **{field: value for field in EVERY_FIELD}}) == set()


@pytest.mark.parametrize("value", NO_KEY)
def test_make_key_gives_none_for_what_cannot_be_a_key(value):
    assert make_key("phone", value) is None


@pytest.mark.parametrize(
    "kind, value, key",
    [
        pytest.param("phone", "+254700000001", ("phone", "+254700000001"), id="a string as it is"),
        pytest.param("phone", 254700000001, ("phone", "254700000001"), id="an int"),
        pytest.param("shortcode", 12345.0, ("shortcode", "12345"), id="an integral float without .0"),
        pytest.param("code", 1.5, ("code", "1.5"), id="a fractional float"),
        pytest.param("code", 0, ("code", "0"), id="zero (only keys_of skips falsy fields)"),
        pytest.param("external", "cln1", ("external", "CLN1"), id="an rc_code upper-cased"),
        pytest.param("shortcode", "abc", ("shortcode", "abc"), id="only external values are upper-cased"),
        pytest.param("phone", "1" * MAX_VALUE_LENGTH, ("phone", "1" * MAX_VALUE_LENGTH), id="exactly MAX_VALUE_LENGTH"),
        pytest.param("code", 0.00001, ("code", "0.00001"), id="a small float as JS writes it"),
        pytest.param("code", 1e21, ("code", "1e+21"), id="a huge float as JS writes it"),
    ],
)
def test_make_key_writes_the_value_as_the_view_would(kind, value, key):
    assert make_key(kind, value) == key


@pytest.mark.parametrize(
    "stored, ours, removed, ids",
    [
        pytest.param(["a", "c"], ["a", "b"], [], ["a", "b", "c"], id="the union of both"),
        pytest.param(["a", "c"], ["a"], ["c"], ["a"], id="minus what we dropped"),
        pytest.param(None, ["b"], [], ["b"], id="a stored doc without ids"),
    ],
)
def test_merge_keeps_our_doc_with_the_stored_rev_and_the_union_of_ids_minus_dropped(stored, ours, removed, ids):
    current = {"_id": "lookup:phone:1", "_rev": "2-new", **({"ids": stored} if stored is not None else {})}
    mine = {**lookups.index_doc(("phone", "1"), ours), "_rev": "1-old"}
    assert merge(current, mine, removed) == {**mine, "_rev": "2-new", "ids": ids}


# --- building the index from the main database ------------------------------------------------------

PATIENT = {"_id": "patient", "type": "person", "name": "Pat", "phone": CHW["phone"], "patient_id": "12345", "parent": {"_id": "clinic"}}
REPORT = report("report-1", **{"from": CHW["phone"], "patient_id": "12345", "case_id": "C-1"})
DESIGN = {"_id": "_design/fake", "type": "person", "phone": "+254799999999", "patient_id": "99999"}
SEEDED = [*HIERARCHY, PATIENT, REPORT, DESIGN]
BUILT = {  # every entry `build` makes from SEEDED
    "lookup:phone:+254700000001": ["chw", "patient"],
    "lookup:phone:+254700000002": ["hc-person"],
    "lookup:phone:+254700000003": ["dh-person"],
    "lookup:external:CLN1": ["clinic"],
    "lookup:shortcode:12345": ["patient"],
    "lookup:code:12345": ["patient", "report-1"],
    "lookup:code:C-1": ["report-1"],
}
NEW_PHONE = "+254700000777"


def index_docs(sentinel_db) -> dict[str, dict[str, Any]]:
    return {r["id"]: r["doc"] for r in sentinel_db.all_docs_range(lookups.ID_PREFIX, lookups.ID_PREFIX + "\ufff0")}


def entries(sentinel_db) -> dict[str, list[str]]:
    return {doc_id: doc["ids"] for doc_id, doc in index_docs(sentinel_db).items()}


@pytest.fixture
def seeded(main, sentinel_db) -> list[dict[str, Any]]:
    docs = [dict(d) for d in SEEDED]
    assert not [r for r in main.bulk_docs(docs) if r.get("error")]
    sentinel_db.create()
    return docs


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(1000, id="in one page"),
        pytest.param(7, id="in pages of 7"),
        pytest.param(len(SEEDED), id="with a last page exactly full"),
        pytest.param(1, id="one document per page"),
    ],
)
def test_build_enters_every_document_and_marks_the_index_built(main, sentinel_db, seeded, monkeypatch, page):
    monkeypatch.setattr(lookups, "SCAN_PAGE", page)
    assert not lookups.is_built(sentinel_db)
    assert lookups.build(main, sentinel_db) == len(SEEDED)
    assert entries(sentinel_db) == BUILT  # design docs skipped
    assert lookups.is_built(sentinel_db)
    assert sentinel_db.get(lookups.MARKER_ID)["documents"] == len(SEEDED)


def test_building_twice_changes_no_index_doc(main, sentinel_db, seeded):
    lookups.build(main, sentinel_db)
    first = index_docs(sentinel_db)
    lookups.build(main, sentinel_db)
    assert index_docs(sentinel_db) == first  # same ids, same revs: nothing rewritten


def test_a_build_over_an_existing_index_adds_to_its_entries(main, sentinel_db, seeded):
    sentinel_db.put(lookups.index_doc(("phone", CHW["phone"]), ["earlier"]))  # e.g. an interrupted build
    lookups.build(main, sentinel_db)
    assert entries(sentinel_db) == {**BUILT, "lookup:phone:+254700000001": ["chw", "earlier", "patient"]}


# --- lookups through a batch -------------------------------------------------------------------------


@pytest.fixture
def new_batch(main, sentinel_db, seeded):
    """new_batch() is a BatchContext over the index built from SEEDED (and whatever changed since)."""
    lookups.build(main, sentinel_db)
    return lambda: BatchContext(main, LookupIndex(sentinel_db), Settings(values={}), NOW)


def ids(docs: list[dict[str, Any]]) -> list[str]:
    return [d["_id"] for d in docs]


def write_index(batch: BatchContext, sentinel_db) -> None:
    assert not [r for r in sentinel_db.bulk_docs([d for d, _ in batch.index.pending_writes().values()]) if r.get("error")]


@pytest.mark.parametrize(
    "kind, value, found",
    [
        pytest.param("phone", CHW["phone"], ["chw", "patient"], id="contacts by phone, in id order"),
        pytest.param("phone", DESIGN["phone"], [], id="a phone only a design doc has"),
        pytest.param("shortcode", 12345, ["patient"], id="a numeric short code"),
        pytest.param("shortcode", "C-1", [], id="a case_id is no short code"),
        pytest.param("external", "cln1", ["clinic"], id="an rc_code, whatever its case"),
    ],
)
def test_contacts_are_found_by_what_the_index_holds(new_batch, kind, value, found):
    batch = new_batch()
    assert ids(batch.contacts_by_reference(kind, value)) == found
    if kind == "phone":
        assert ids(batch.contacts_by_phone(value)) == found


@pytest.mark.parametrize(
    "ref, subject",
    [
        pytest.param("12345", "patient", id="a short code gives its contact"),
        pytest.param(12345, "patient", id="a numeric short code"),
        pytest.param("chw", "chw", id="anything else is taken as a doc id"),
        pytest.param(None, None, id="no reference"),
    ],
)
def test_subject_uuid_resolves_a_short_code_through_the_index(new_batch, ref, subject):
    assert new_batch().subject_uuid(ref) == subject


def change_phone(main, doc_id: str) -> None:
    doc = main.get(doc_id)
    main.put({**doc, "phone": NEW_PHONE})


def delete(main, doc_id: str) -> None:
    main.delete_doc(doc_id, main.get(doc_id)["_rev"])


@pytest.mark.parametrize("lose_key", [pytest.param(change_phone, id="phone changed"), pytest.param(delete, id="deleted")])
def test_a_candidate_without_the_key_any_more_is_not_found_and_is_dropped_from_the_index(main, sentinel_db, new_batch, lose_key):
    lose_key(main, "chw")
    batch = new_batch()
    assert ids(batch.contacts_by_phone(CHW["phone"])) == ["patient"]
    write_index(batch, sentinel_db)
    assert entries(sentinel_db)[index_id(("phone", CHW["phone"]))] == ["patient"]


def test_codes_in_use_counts_every_index_entry_even_one_the_current_version_dropped(main, new_batch):
    main.put({**main.get("patient"), "patient_id": "54321"})  # not seen by Sentinel yet
    assert new_batch().codes_in_use(["12345", "C-1", "54321", "00000"]) == {"12345", "C-1"}


NEWCOMER = {"_id": "a-newcomer", "type": "person", "phone": CHW["phone"], "parent": {"_id": "clinic"}}
MOVED_CHW = {**CHW, "phone": NEW_PHONE}


@pytest.mark.parametrize(
    "looked_up_before, staged, found",
    [
        pytest.param([], {**NEWCOMER, "phone": NEW_PHONE}, {NEW_PHONE: ["a-newcomer"]}, id="a new contact under its phone"),
        pytest.param([CHW["phone"]], NEWCOMER, {CHW["phone"]: ["a-newcomer", "chw", "patient"]}, id="joining an earlier lookup in id order"),
        pytest.param([CHW["phone"]], MOVED_CHW, {CHW["phone"]: ["patient"], NEW_PHONE: ["chw"]}, id="a changed phone after an earlier lookup"),
        pytest.param([], MOVED_CHW, {CHW["phone"]: ["patient"], NEW_PHONE: ["chw"]}, id="a changed phone not looked up before"),
    ],
)
def test_a_document_staged_in_the_batch_is_found_by_its_later_lookups_under_its_new_keys_only(
    sentinel_db, new_batch, looked_up_before, staged, found
):
    batch = new_batch()
    for phone in looked_up_before:
        batch.contacts_by_phone(phone)
    batch.stage(dict(staged), origin="some-report")
    assert {phone: ids(batch.contacts_by_phone(phone)) for phone in found} == found
    write_index(batch, sentinel_db)  # the index keeps them as candidates (a stale one may stay until a lookup drops it)
    assert all(set(ids_) <= set(entries(sentinel_db)[index_id(("phone", phone))]) for phone, ids_ in found.items())


# --- end to end: a running Sentinel keeps the index current ------------------------------------------

SETTINGS = {"transitions": {"update_clinics": True}}
CLINIC_IDS = {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}
RESTART = [pytest.param(False, id="in the same run"), pytest.param(True, id="after a restart")]


@pytest.mark.parametrize("restart", RESTART)
def test_a_contact_created_after_sentinel_started_is_found_by_a_later_report(main, hierarchy, make_runner, restart):
    runner = make_runner(SETTINGS)
    drain(runner)
    main.put({"_id": "new-chw", "type": "person", "name": "New", "phone": NEW_PHONE, "parent": CLINIC_IDS})
    drain(runner)
    if restart:  # a fresh process knows only what the index holds
        runner = make_runner()
    main.put(report("r1", **{"from": NEW_PHONE}))
    drain(runner)
    assert main.get("r1")["contact"] == {"_id": "new-chw", "parent": CLINIC_IDS}


@pytest.mark.parametrize("restart", RESTART)
def test_a_contact_whose_phone_changes_matches_its_new_phone_and_no_longer_its_old_one(main, sentinel_db, hierarchy, make_runner, restart):
    runner = make_runner(SETTINGS)
    main.put(report("before", **{"from": CHW["phone"]}))
    drain(runner)
    assert main.get("before")["contact"]["_id"] == "chw"
    change_phone(main, "chw")
    drain(runner)
    if restart:
        runner = make_runner()
    main.bulk_docs([report("old-phone", **{"from": CHW["phone"]}), report("new-phone", **{"from": NEW_PHONE})])
    drain(runner)
    assert "contact" not in main.get("old-phone")
    assert main.get("new-phone")["contact"] == {"_id": "chw", "parent": CLINIC_IDS}
    assert "chw" not in entries(sentinel_db).get(index_id(("phone", CHW["phone"])), [])


def test_the_first_start_builds_the_index_and_a_second_start_does_not_rebuild_it(main, sentinel_db, hierarchy, make_runner, monkeypatch):
    make_runner(SETTINGS)
    marker = sentinel_db.get(lookups.MARKER_ID)
    assert lookups.is_built(sentinel_db)
    assert entries(sentinel_db)[index_id(("external", "CLN1"))] == ["clinic"]

    def no_rebuild(*args: Any) -> None:
        raise AssertionError("the index was rebuilt")

    monkeypatch.setattr(lookups, "build", no_rebuild)
    make_runner()
    assert sentinel_db.get(lookups.MARKER_ID) == marker
