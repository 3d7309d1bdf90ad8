"""Malformed documents are processed or recorded as errors, and never stop the feed."""
from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from sentinel.core.couch import CouchDB

from ..support import drain, report
from .helpers import (
    ALL_TRANSITIONS,
    CHW_CONTACT,
    CHW_PHONE,
    assert_shortcodes_unique,
    docs_by_id,
    parked_errors,
    pending_task,
    sent_entries,
)

# --- 3. malformed documents --------------------------------------------------------------------------
DEEP_NESTING = 3000  # deeper than Python's default recursion limit


def put_raw(db: CouchDB, doc_id: str, body: str) -> None:
    """Store a document given as JSON text (Python's own encoder cannot write some of them)."""
    db.server.request("PUT", f"/{db.name}/{doc_id}", content=body)


def deeply_nested_report(doc_id: str, depth: int) -> str:
    head = json.dumps(report(doc_id, **{"from": CHW_PHONE}))[:-1]
    return head + ', "deep": ' + '{"a": ' * depth + "{}" + "}" * depth + "}"


def parent_chain(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {"_id": "chain-0"}
    node = root
    for i in range(1, depth):
        node["parent"] = {"_id": f"chain-{i}"}
        node = node["parent"]
    return root


def malformed_docs() -> list[dict[str, Any]]:
    clinic_lineage = {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}
    return [
        report("bad-from-number", **{"from": 254700000001}),
        report("bad-from-object", **{"from": {"phone": CHW_PHONE}}),
        report("bad-from-true", **{"from": True}),
        report("bad-from-huge-number", **{"from": 1e308}),
        report("bad-contact-string", contact="chw", **{"from": CHW_PHONE}),
        report("bad-contact-number", contact=42),
        report("bad-contact-id-number", contact={"_id": 5, "parent": "clinic"}),
        report("bad-contact-self", contact={"_id": "bad-contact-self", "parent": {"_id": "bad-contact-self"}}),
        report("bad-fields-list", fields=[1, 2, {"patient_id": "x"}], **{"from": CHW_PHONE}),
        report("bad-fields-string", fields="fields", patient_id={"nested": True}, **{"from": CHW_PHONE}),
        report("bad-refid-object", refid={"code": "CLN1"}),
        report("bad-refid-number", refid=12),
        report("bad-form-number", form=12),
        report("bad-form-list", form=["V"]),
        report("bad-tasks-string", tasks="pending", **{"from": CHW_PHONE}),
        report(
            "bad-tasks-items",
            tasks=[1, "x", None, {"state": "pending", "messages": "text"}, {"state": "pending", "messages": [{"to": 5, "message": {"a": 1}}], "state_history": "h"}],
            scheduled_tasks={"not": "a list"},
        ),
        report("bad-errors-string", errors="oops", **{"from": {"x": 1}}),
        report("bad-transitions-string", transitions="legacy", **{"from": CHW_PHONE}),
        report("bad-reported-date", reported_date="yesterday", **{"from": CHW_PHONE}),
        report("bad-huge-field", fields={"blob": "x" * (2 * 1024 * 1024)}, **{"from": CHW_PHONE}),
        report("bad-huge-message", tasks=[pending_task(CHW_PHONE, "y" * 1_000_000)]),
        {"_id": "bad-type-list", "type": ["data_record"], "form": "V", "from": CHW_PHONE},
        {"_id": "bad-type-number", "type": 7, "parent": {"_id": "clinic"}},
        {"_id": "bad-type-missing", "from": CHW_PHONE, "tasks": [pending_task(CHW_PHONE, "no-type")]},
        {"_id": "bad-parent-int", "type": "person", "name": "Int Parent", "parent": 7},
        {"_id": "bad-parent-string", "type": "person", "name": "String Parent", "parent": "clinic"},
        {"_id": "bad-parent-self", "type": "person", "name": "Self Parent", "parent": {"_id": "bad-parent-self"}},
        {"_id": "bad-parent-self-deep", "type": "clinic", "name": "Loop", "parent": {"_id": "bad-parent-self-deep", "parent": {"_id": "bad-parent-self-deep"}}},
        {"_id": "bad-loop-a", "type": "health_center", "name": "Loop A", "parent": {"_id": "bad-loop-b"}, "contact": {"_id": "bad-loop-b"}},
        {"_id": "bad-loop-b", "type": "health_center", "name": "Loop B", "parent": {"_id": "bad-loop-a"}, "contact": {"_id": "bad-loop-a"}},
        {"_id": "bad-parent-chain", "type": "person", "name": "Deep", "parent": parent_chain(80)},
        {"_id": "bad-contact-type", "type": "contact", "contact_type": 5, "name": "Typed"},
        {"_id": "bad-contact-type-unknown", "type": "contact", "contact_type": "no_such_type", "parent": clinic_lineage},
        {"_id": "bad-patient-id-list", "type": "person", "patient_id": ["x"], "parent": clinic_lineage},
        {"_id": "bad-phone-number", "type": "person", "name": "Numeric Phone", "phone": 254711111111, "parent": clinic_lineage},
        {"_id": "bad-linked-docs", "type": "person", "name": "Linked", "linked_docs": ["a"], "parent": clinic_lineage},
        {"_id": "bad-name-huge", "type": "person", "name": "n" * 500_000, "parent": clinic_lineage},
        {"_id": "odd id/with spaces?&%#ü", "type": "person", "name": "Odd Id", "parent": clinic_lineage},
        {"_id": "bad-empty"},
    ]


@pytest.mark.slow
def test_malformed_documents_are_processed_or_recorded_as_errors_and_never_stop_the_feed(main, sentinel_db, hierarchy, make_runner):
    runner = make_runner({"transitions": ALL_TRANSITIONS})
    bad = malformed_docs()
    for doc in bad:  # one at a time: one doc the server refuses must not hide the others
        main.put(dict(doc))
    put_raw(main, "bad-deep-nesting", deeply_nested_report("bad-deep-nesting", DEEP_NESTING))
    bad_ids = [d["_id"] for d in bad] + ["bad-deep-nesting"]
    main.put(report("normal-after", **{"from": CHW_PHONE, "tasks": [pending_task("+254799999999", "normal")]}))

    drain(runner, timeout=60)
    runner.step()  # and it goes on afterwards

    readable = [i for i in bad_ids if i != "bad-deep-nesting"]  # too deep for Python's json module
    stored = main.all_docs(readable + ["normal-after"] + [d["_id"] for d in hierarchy])
    deep = httpx.get(f"{main.server.base_url}/{main.name}/bad-deep-nesting").text
    stored["bad-deep-nesting"] = {"errors": ["(unreadable)"]} if '"errors"' in deep else {}
    infos = docs_by_id(sentinel_db)
    parked = parked_errors(sentinel_db)

    normal = stored["normal-after"]
    assert normal["contact"] == CHW_CONTACT
    assert normal["sent_by"] == "Chloe CHW"
    assert normal["tasks"][0]["state"] == "sent" and sent_entries(normal["tasks"][0]) == 1
    assert isinstance(infos["normal-after-info"]["transitions"], dict)

    unaccounted = []
    for doc_id in bad_ids:
        processed = isinstance(infos.get(f"{doc_id}-info", {}).get("transitions"), dict)
        errors = stored[doc_id].get("errors")
        recorded = isinstance(errors, list) and errors != []
        is_parked = doc_id in parked and bool(parked[doc_id].get("error"))
        if not (processed or recorded or is_parked):
            unaccounted.append(doc_id)
    assert not unaccounted, f"malformed documents neither processed nor recorded as errors: {unaccounted}"

    # documents whose only fault is their lineage still get what they are owed
    for doc_id in ("bad-parent-self", "bad-parent-int", "bad-parent-string", "bad-phone-number", "odd id/with spaces?&%#ü", "bad-name-huge"):
        assert stored[doc_id].get("patient_id"), f"{doc_id} got no patient_id: {parked.get(doc_id)}"
    for doc_id in ("bad-parent-self-deep", "bad-loop-a", "bad-loop-b"):
        assert stored[doc_id].get("place_id"), f"{doc_id} got no place_id: {parked.get(doc_id)}"
    assert stored["bad-patient-id-list"]["patient_id"] == ["x"]
    assert stored["bad-contact-string"]["sent_by"] == "Chloe CHW"
    assert len(stored["bad-huge-field"]["fields"]["blob"]) == 2 * 1024 * 1024
    assert stored["bad-huge-field"]["sent_by"] == "Chloe CHW"
    assert stored["bad-huge-message"]["tasks"][0]["state"] == "sent"
    assert_shortcodes_unique(stored.values())
    for failure in parked.values():
        assert failure["attempts"] >= 1 and failure["next_attempt"] and failure["error"]


