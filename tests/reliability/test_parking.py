"""Changes that keep failing are parked, retried with growing backoff, and cleared once they succeed."""
from __future__ import annotations

import json
import subprocess
from datetime import datetime
from typing import Any

import pytest

import sentinel.daemon.runner as runner_module
from sentinel.core.couch import CouchDB
from sentinel.core.parking import error_doc_id

from ..support import HIERARCHY, drain, report
from .helpers import (
    ALL_TRANSITIONS,
    CHW_PHONE,
    PROJECT_ROOT,
    assert_shortcodes_unique,
    child_env,
    docs_by_id,
    generation,
    parked_errors,
    sentinel_command,
)

# --- 4. a change that keeps failing is parked, retried with growing backoff, then cleared -----------------
FORBID_DDOC = {
    "_id": "_design/test-forbid",
    "validate_doc_update": "function (newDoc) { if (newDoc.forbid) { throw({forbidden: 'forbidden by the test'}); } }",
}


def sentinel_status(couch_url: str) -> dict[str, Any]:
    done = subprocess.run(
        sentinel_command("status", "--json", "--couch-url", couch_url),
        capture_output=True,
        cwd=PROJECT_ROOT,
        env=child_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def set_next_attempt_in_the_past(sentinel_db: CouchDB, doc_id: str) -> None:
    parked = sentinel_db.get(error_doc_id(doc_id))
    parked["next_attempt"] = "2000-01-01T00:00:00.000Z"
    sentinel_db.put(parked)


def minutes_between(start: str, end: str) -> float:
    def parse(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    return (parse(end) - parse(start)).total_seconds() / 60


@pytest.mark.slow
def test_a_change_that_keeps_failing_is_parked_retried_with_growing_backoff_and_cleared_once_it_succeeds(
    main, sentinel_db, hierarchy, make_runner, pouchdb, monkeypatch
):
    monkeypatch.setattr(runner_module, "PARKED_CHECK_SECONDS", 0.0)
    lineage = {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}
    main.put({"_id": "stubborn", "type": "person", "name": "Stubborn", "forbid": True, "parent": lineage})
    main.put({"_id": "fine", "type": "person", "name": "Fine", "parent": lineage})
    main.put(dict(FORBID_DDOC))  # from now on the server refuses to save `stubborn`
    stubborn_rev = main.get("stubborn")["_rev"]
    couch_url = f"{pouchdb.url}/{main.name}"

    # one change per batch: which document a refused write belongs to is pinned by the next test
    runner = make_runner({"transitions": {"generate_shortcode_on_contacts": True}}, batch_size=1)
    drain(runner)

    # parked with its error; the feed went on past it
    assert main.get("fine").get("patient_id")
    assert main.get("stubborn")["_rev"] == stubborn_rev
    parked = sentinel_db.get(error_doc_id("stubborn"))
    assert parked is not None, "the failing change was dropped"
    assert parked["type"] == "sentinel-error" and parked["doc_id"] == "stubborn"
    assert "forbidden" in parked["error"]
    assert parked["attempts"] == 1 and parked["seq"] is not None
    assert minutes_between(parked["last_failed"], parked["next_attempt"]) == pytest.approx(1)
    info = sentinel_db.get("stubborn-info")
    assert info is None or "generate_shortcode_on_contacts" not in (info.get("transitions") or {})
    main.put({"_id": "later", "type": "person", "name": "Later", "parent": lineage})
    drain(runner)
    assert main.get("later").get("patient_id"), "a parked change blocked the feed"

    status = sentinel_status(couch_url)
    assert status["parked_failures"] == 1
    assert [f["doc_id"] for f in status["failures"]] == ["stubborn"]
    assert "forbidden" in status["failures"][0]["error"] and status["failures"][0]["attempts"] == 1
    assert status["backlog"] == 0

    # not due yet: left alone
    runner.step()
    assert sentinel_db.get(error_doc_id("stubborn"))["attempts"] == 1

    # due, still failing: parked again, with a longer delay
    set_next_attempt_in_the_past(sentinel_db, "stubborn")
    runner.step()
    parked = sentinel_db.get(error_doc_id("stubborn"))
    assert parked["attempts"] == 2
    assert minutes_between(parked["last_failed"], parked["next_attempt"]) == pytest.approx(4)
    assert sentinel_status(couch_url)["failures"][0]["attempts"] == 2

    # due, and the cause is gone: processed, and the error doc is cleared
    ddoc = main.get(FORBID_DDOC["_id"])
    main.delete_doc(ddoc["_id"], ddoc["_rev"])
    set_next_attempt_in_the_past(sentinel_db, "stubborn")
    runner.step()
    drain(runner)
    assert sentinel_db.get(error_doc_id("stubborn")) is None
    stubborn = main.get("stubborn")
    assert stubborn.get("patient_id") and generation(stubborn) == 2
    assert isinstance(sentinel_db.get("stubborn-info")["transitions"], dict)
    assert_shortcodes_unique(docs_by_id(main).values())
    status = sentinel_status(couch_url)
    assert status["parked_failures"] == 0 and status["failures"] == []


def test_a_write_the_server_refuses_parks_its_own_change_and_no_other(main, sentinel_db, hierarchy, make_runner):
    """PouchDB Server answers validation failures first in `_bulk_docs`, out of request order."""
    lineage = {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}
    people = [{"_id": f"p{i}", "type": "person", "name": f"P{i}", "parent": lineage} for i in range(4)]
    people.insert(2, {"_id": "stubborn", "type": "person", "name": "Stubborn", "forbid": True, "parent": lineage})
    main.bulk_docs(people)
    main.put(dict(FORBID_DDOC))
    stubborn_rev = main.get("stubborn")["_rev"]
    runner = make_runner({"transitions": {"generate_shortcode_on_contacts": True}})
    drain(runner)
    assert list(parked_errors(sentinel_db)) == ["stubborn"]
    assert main.get("stubborn")["_rev"] == stubborn_rev
    for doc in HIERARCHY + [p for p in people if p["_id"] != "stubborn"]:
        stored = main.get(doc["_id"])
        assert stored.get("patient_id") or stored.get("place_id"), f"{doc['_id']} was not processed"
        assert isinstance(sentinel_db.get(f"{doc['_id']}-info")["transitions"], dict)
    info = sentinel_db.get("stubborn-info")
    assert info is None or "generate_shortcode_on_contacts" not in (info.get("transitions") or {})


def test_a_change_whose_processing_breaks_is_parked_and_the_rest_of_the_batch_goes_on(main, sentinel_db, hierarchy, make_runner, monkeypatch):
    """A bug that breaks the whole batch: it is processed change by change, and only the culprit is parked."""
    import transitions.update_sent_by as update_sent_by

    real_prefetch = update_sent_by.prefetch

    def prefetch(docs, batch):
        if any(d.get("_id") == "culprit" for d in docs):
            raise RuntimeError("prefetch bug")
        return real_prefetch(docs, batch)

    monkeypatch.setattr(update_sent_by, "prefetch", prefetch)
    runner = make_runner({"transitions": ALL_TRANSITIONS})
    main.bulk_docs([report("r1", **{"from": CHW_PHONE}), report("culprit", **{"from": CHW_PHONE}), report("r2", **{"from": CHW_PHONE})])
    drain(runner)
    assert main.get("r1")["sent_by"] == "Chloe CHW" and main.get("r2")["sent_by"] == "Chloe CHW"
    assert "sent_by" not in main.get("culprit")
    parked = parked_errors(sentinel_db)
    assert list(parked) == ["culprit"]
    assert "prefetch bug" in parked["culprit"]["error"]


