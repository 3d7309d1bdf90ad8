"""update_sent_by: a report gets `sent_by` = the name of the first contact with the sender's phone (spec 2.6).

It runs on reports with a `from` and no `sent_by` key at all, unless an earlier run succeeded (CHT:
`hasRun && ok`), so a run that failed is retried on a later revision.

Most cases are documents seeded (`seed`) into one database that Sentinel processes once, in one batch
(`world`); the tests then read each document's outcome.
"""
from __future__ import annotations

from typing import Any
from unittest.mock import ANY

import pytest

from sentinel.core.couch import CouchDB

from ..support import (
    CHW,
    CLINIC,
    HIERARCHY,
    NOW_ISO,
    drain,
    processed,
    report,
)

SETTINGS = {"transitions": {"update_sent_by": True}}
UNKNOWN_PHONE = "+254799999999"
SHARED_PHONE = "+254711000000"
CLINIC_IDS = {"_id": "clinic", "parent": CLINIC["parent"]}


# --- the processed world ---------------------------------------------------------------------------

SEEDED: list[dict[str, Any]] = []
REVISED: list[str] = []  # ids saved a second time before Sentinel sees them
INFODOCS: dict[str, dict[str, Any]] = {}  # id -> update_sent_by record to put in its infodoc ("rev": 1 or 2)


def seed(doc: dict[str, Any]) -> dict[str, Any]:
    SEEDED.append(doc)
    return doc


def revise_and_write_infodocs(main: CouchDB, sentinel: CouchDB, revs: dict[str, str]) -> None:
    first_revs = dict(revs)
    for doc_id in REVISED:
        doc = main.get(doc_id)
        doc["note"] = "edited"
        revs[doc_id] = main.put(doc)
    for doc_id, record in INFODOCS.items():
        last_rev = first_revs[doc_id] if record["rev"] == 1 else revs[doc_id]
        transitions = {"update_sent_by": {"last_rev": last_rev, "seq": 1, "ok": record["ok"], "run_date": "2023-12-01T00:00:00.000Z"}}
        info = {"_id": f"{doc_id}-info", "type": "info", "doc_id": doc_id, "initial_replication_date": "unknown", "latest_replication_date": "unknown"}
        if record["ok"] is not None:
            info["transitions"] = transitions
        sentinel.put(info)


@pytest.fixture(scope="module")
def world(pouchdb):
    with processed(pouchdb, SETTINGS, [*HIERARCHY, *SEEDED], prepare=revise_and_write_infodocs) as processed_world:
        yield processed_world


def revised(doc: dict[str, Any], **earlier_run: Any) -> dict[str, Any]:
    """`doc`, saved twice before Sentinel sees it; `earlier_run` = {rev: 1|2, ok} puts an infodoc record
    (`ok=None`: an infodoc without `transitions`, as CHT API writes)."""
    REVISED.append(doc["_id"])
    if earlier_run:
        INFODOCS[doc["_id"]] = earlier_run
    return seed(doc)


# --- the name ------------------------------------------------------------------------------------

FROM_CHW = seed(report("from-chw", **{"from": CHW["phone"]}))


def test_a_report_from_a_known_phone_gets_the_contacts_name_as_sent_by(world):
    assert world.doc(FROM_CHW) == {**FROM_CHW, "sent_by": CHW["name"]}


def test_the_infodoc_records_the_run(world):
    assert world.info(FROM_CHW)["transitions"] == {
        "update_sent_by": {"last_rev": world.revs[FROM_CHW["_id"]], "seq": ANY, "ok": True, "run_date": NOW_ISO}
    }


SECOND = seed({"_id": "b-second", "type": "person", "name": "Ben", "phone": SHARED_PHONE, "parent": CLINIC_IDS})
FIRST = seed({"_id": "a-first", "type": "person", "name": "Anna", "phone": SHARED_PHONE, "parent": CLINIC_IDS})
FROM_SHARED_PHONE = seed(report("from-shared-phone", **{"from": SHARED_PHONE}))


def test_when_several_contacts_share_the_phone_the_first_in_view_order_names_the_sender(world):
    assert world.doc(FROM_SHARED_PHONE)["sent_by"] == "Anna"


NAMELESS = seed({"_id": "nameless", "type": "person", "phone": "+254722000000", "parent": CLINIC_IDS})


@pytest.mark.parametrize(
    "seeded",
    [
        pytest.param(seed(report("from-unknown", **{"from": UNKNOWN_PHONE})), id="nobody has the phone"),
        pytest.param(seed(report("from-nameless", **{"from": NAMELESS["phone"]})), id="the contact has no name"),
    ],
)
def test_a_report_is_not_changed_nor_written_when(world, seeded):
    assert world.unchanged(seeded)
    assert world.info(seeded)["transitions"] == {}


# --- which documents ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seeded",
    [
        pytest.param(seed(report("sent-by-name", sent_by="Someone", **{"from": CHW["phone"]})), id="a sent_by"),
        pytest.param(seed(report("sent-by-null", sent_by=None, **{"from": CHW["phone"]})), id="a null sent_by"),
        pytest.param(seed(report("sent-by-empty", sent_by="", **{"from": CHW["phone"]})), id="an empty sent_by"),
        pytest.param(seed(report("no-from")), id="no from"),
        pytest.param(seed({"_id": "not-a-report", "type": "feedback", "from": CHW["phone"]}), id="not a report"),
    ],
)
def test_a_document_is_not_touched_when_it_has(world, seeded):
    assert world.unchanged(seeded)
    assert world.doc(seeded) == seeded


# --- earlier runs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seeded",
    [
        pytest.param(revised(report("failed-before", **{"from": CHW["phone"]}), rev=1, ok=False), id="failed on an earlier revision"),
        pytest.param(revised(report("api-infodoc", **{"from": CHW["phone"]}), rev=1, ok=None), id="never ran (infodoc without transitions)"),
    ],
)
def test_it_runs_on_a_later_revision_when_it_has(world, seeded):
    assert world.doc(seeded) == {**seeded, "note": "edited", "sent_by": CHW["name"]}
    record = world.info(seeded)["transitions"]["update_sent_by"]
    assert (record["last_rev"], record["ok"]) == (world.revs[seeded["_id"]], True)


@pytest.mark.parametrize(
    "seeded",
    [
        pytest.param(revised(report("ok-before", **{"from": CHW["phone"]}), rev=1, ok=True), id="succeeded on an earlier revision"),
        pytest.param(revised(report("failed-this-rev", **{"from": CHW["phone"]}), rev=2, ok=False), id="already run on this revision"),
    ],
)
def test_it_does_not_run_when_it_has(world, seeded):
    assert world.unchanged(seeded)
    assert "sent_by" not in world.doc(seeded)


def test_a_report_whose_sender_was_unknown_gets_sent_by_on_a_later_revision_once_the_sender_registers(main, hierarchy, make_runner):
    runner = make_runner(SETTINGS)
    main.put(report("r1", **{"from": UNKNOWN_PHONE}))
    drain(runner)
    assert "sent_by" not in main.get("r1")

    main.put({"_id": "newcomer", "type": "person", "name": "Nina New", "phone": UNKNOWN_PHONE, "parent": CLINIC_IDS})
    edited = main.get("r1")
    edited["note"] = "edited"
    main.put(edited)
    drain(runner)
    assert main.get("r1")["sent_by"] == "Nina New"
