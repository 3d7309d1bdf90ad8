"""The infodoc and checkpoint contract other tools rely on (CHT's waitForSentinel, getInfoDoc)."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from sentinel.core.docs import utc_iso
from sentinel.core.pipeline import Change, Pipeline
from sentinel.daemon.settings_check import build

from .support import caught_up, drain, report

CLINICS_AND_SENT_BY = {"transitions": {"update_clinics": True, "update_sent_by": True}}


def checkpoint(sentinel_db):
    return sentinel_db.get("_local/transitions-seq")


def test_a_document_no_transition_matches_gets_an_infodoc_with_empty_transitions(main, sentinel_db, make_runner):
    runner = make_runner(CLINICS_AND_SENT_BY)
    main.put({"_id": "plain", "type": "something"})
    drain(runner)
    info = sentinel_db.get("plain-info")
    assert info["transitions"] == {}
    assert {k: info[k] for k in ("type", "doc_id")} == {"type": "info", "doc_id": "plain"}
    assert main.get("plain")["_rev"].startswith("1-")  # nothing changed: never written


def test_the_checkpoint_is_the_last_seq_of_the_feed_once_caught_up(main, sentinel_db, hierarchy, make_runner):
    runner = make_runner(CLINICS_AND_SENT_BY)
    main.bulk_docs([report(f"r{i}", **{"from": "+254700000001"}) for i in range(5)])
    drain(runner)
    stored = checkpoint(sentinel_db)
    assert stored["value"] == main.changes(stored["value"], limit=1, wait=0).last_seq
    assert caught_up(runner)


@pytest.mark.parametrize("doc_id", ["_design/app", "abc-info", "abc____1-x____tombstone"])
def test_ignored_ids_get_no_infodoc_but_the_checkpoint_moves_past_them(doc_id, main, sentinel_db, make_runner):
    runner = make_runner(CLINICS_AND_SENT_BY)
    main.put({"_id": doc_id, "type": "data_record"} if not doc_id.startswith("_design") else {"_id": doc_id})
    drain(runner)
    assert sentinel_db.get(f"{doc_id}-info") is None
    assert caught_up(runner)


def test_a_deleted_document_runs_no_transition_and_only_advances_the_checkpoint(main, sentinel_db, make_runner):
    runner = make_runner(CLINICS_AND_SENT_BY)
    doc = {"_id": "gone", "type": "data_record", "from": "+1555"}
    main.put(doc)
    main.delete_doc("gone", doc["_rev"])
    drain(runner)
    assert sentinel_db.get("gone-info") is None
    assert caught_up(runner)


def test_an_infodoc_written_by_someone_else_is_kept_and_extended(main, sentinel_db, hierarchy, make_runner):
    sentinel_db.create()
    sentinel_db.put({
        "_id": "r1-info", "type": "info", "doc_id": "r1",
        "initial_replication_date": "2024-01-01T00:00:00.000Z", "latest_replication_date": "2024-01-02T00:00:00.000Z",
        "muting_history": [{"muted": True}], "custom": 42,
    })
    runner = make_runner(CLINICS_AND_SENT_BY)
    main.put(report("r1", **{"from": "+254700000001"}))
    drain(runner)
    info = sentinel_db.get("r1-info")
    assert info["custom"] == 42 and info["muting_history"] == [{"muted": True}]
    assert info["latest_replication_date"] == "2024-01-02T00:00:00.000Z"
    assert set(info["transitions"]) == {"update_clinics", "update_sent_by"}


def test_a_transition_already_recorded_by_the_api_is_not_run_again(main, sentinel_db, hierarchy, make_runner):
    sentinel_db.create()
    sentinel_db.put({"_id": "r1-info", "type": "info", "doc_id": "r1",
                     "transitions": {"update_clinics": {"last_rev": "0-x", "seq": None, "ok": True, "run_date": "x"}}})
    runner = make_runner(CLINICS_AND_SENT_BY)
    main.put(report("r1", **{"from": "+254700000001"}))
    drain(runner)
    doc = main.get("r1")
    assert "contact" not in doc and doc["sent_by"] == "Chloe CHW"


def test_every_transition_that_ran_is_recorded_and_the_document_is_written_once(main, sentinel_db, hierarchy, make_runner):
    runner = make_runner(CLINICS_AND_SENT_BY)
    main.put(report("r1", **{"from": "+254700000001"}))
    drain(runner)
    doc, info = main.get("r1"), sentinel_db.get("r1-info")
    assert doc["_rev"].startswith("2-")  # two transitions changed it: one write
    assert info["_rev"].startswith("1-")  # and the echo of our write did not rewrite the infodoc
    for name in ("update_clinics", "update_sent_by"):
        record = info["transitions"][name]
        assert record["ok"] is True and record["last_rev"].startswith("1-") and record["seq"] is not None
        datetime.fromisoformat(record["run_date"].replace("Z", "+00:00"))


def test_a_transition_runs_at_most_once_per_document(main, sentinel_db, hierarchy, make_runner):
    runner = make_runner(CLINICS_AND_SENT_BY)
    main.put(report("r1"))  # no sender: update_clinics runs and records sys.facility_not_found
    drain(runner)
    doc = main.get("r1")
    doc["from"] = "+254700000001"  # a later edit that would now match by phone
    main.put(doc)
    drain(runner)
    assert "contact" not in main.get("r1")


def test_legacy_transition_records_on_the_doc_are_removed_when_it_is_written(main, hierarchy, make_runner):
    runner = make_runner(CLINICS_AND_SENT_BY)
    main.put(report("r1", **{"from": "+254700000001", "transitions": {"old": {"ok": True, "last_rev": 1}}}))
    drain(runner)
    assert "transitions" not in main.get("r1")


def test_a_document_cht_api_is_still_processing_is_left_for_its_next_change(main, sentinel_db, hierarchy, make_runner):
    sentinel_db.create()
    sentinel_db.put({"_id": "r1-info", "type": "info", "doc_id": "r1", "transitions_started": utc_iso(datetime.now(timezone.utc))})
    runner = make_runner(CLINICS_AND_SENT_BY)
    main.put(report("r1", **{"from": "+254700000001"}))
    drain(runner)
    assert "contact" not in main.get("r1")
    assert "transitions" not in sentinel_db.get("r1-info")


def test_a_checkpoint_moved_by_someone_else_is_adopted_not_overwritten(main, sentinel_db, hierarchy, make_runner, caplog):
    runner = make_runner(CLINICS_AND_SENT_BY)
    main.put(report("r1", **{"from": "+254700000001"}))
    drain(runner)
    stored = checkpoint(sentinel_db)
    sentinel_db.put({"_id": "_local/transitions-seq", "_rev": stored["_rev"], "value": "0"})  # an operator's reset
    main.put({"_id": "c", "type": "x"})
    drain(runner)
    assert "moved by someone else" in caplog.text
    assert sentinel_db.get("c-info")["transitions"] == {}
    assert main.get("r1")["_rev"].startswith("2-")  # reprocessing from 0 changed nothing twice
    assert caught_up(runner)


# --- the pipeline's per-transition rules, with stand-in transitions on the real server ------------------
def _transition(name, run, filter=lambda doc, ctx: True, **extra):  # noqa: A002
    return SimpleNamespace(name=name, run=run, filter=filter, **extra)


def _process(main, sentinel_db, transitions, ids):
    sentinel_db.create()
    settings, _ = build({})
    pipeline = Pipeline(main, sentinel_db)
    rows = main.changes("0", limit=1000, wait=0).results
    changes = [Change.from_row(r) for r in rows if r["id"] in ids]
    return pipeline.process(changes, settings, transitions, datetime.now(timezone.utc))


def test_a_transition_that_raises_records_an_error_and_the_others_still_run(main, sentinel_db):
    main.put({"_id": "d1", "type": "data_record"})

    def boom(doc, ctx):
        raise ValueError("bad input")

    def mark(doc, ctx):
        doc["marked"] = True
        return True

    outcome = _process(main, sentinel_db, [_transition("breaks", boom), _transition("marks", mark)], {"d1"})
    doc, info = main.get("d1"), sentinel_db.get("d1-info")
    assert doc["errors"] == [{"code": "breaks_error'", "message": "Transition error on breaks: bad input"}]
    assert doc["marked"] is True
    assert info["transitions"]["breaks"]["ok"] is False and info["transitions"]["marks"]["ok"] is True
    assert outcome.failed == []


def test_a_transition_is_skipped_on_the_revision_it_last_ran_on(main, sentinel_db):
    doc = {"_id": "d1", "type": "data_record"}
    main.put(doc)
    sentinel_db.create()
    sentinel_db.put({"_id": "d1-info", "type": "info", "doc_id": "d1",
                     "transitions": {"again": {"last_rev": doc["_rev"], "ok": True}}})
    calls = []
    rerunnable = _transition("again", lambda d, c: calls.append(1) or True, runs_once=False)
    _process(main, sentinel_db, [rerunnable], {"d1"})
    assert calls == []


def test_deletions_reach_on_delete_hooks_and_nothing_else(main, sentinel_db):
    doc = {"_id": "d1", "type": "data_record"}
    main.put(doc)
    main.delete_doc("d1", doc["_rev"])
    seen = []
    hook = _transition("hook", lambda d, c: pytest.fail("run on a deleted doc"), on_delete=lambda doc_id, ctx: seen.append(doc_id))
    _process(main, sentinel_db, [hook], {"d1"})
    assert seen == ["d1"]


def test_writes_staged_on_other_documents_are_saved_in_the_same_batch(main, sentinel_db):
    main.bulk_docs([{"_id": "d1", "type": "data_record"}, {"_id": "p1", "type": "person", "visits": 0}])

    def count_visit(doc, ctx):
        patient = ctx.load("p1")
        patient["visits"] += 1
        ctx.stage(patient)
        return False

    outcome = _process(main, sentinel_db, [_transition("visits", count_visit)], {"d1"})
    assert main.get("p1")["visits"] == 1
    assert main.get("d1")["_rev"].startswith("1-")
    assert outcome.written == 1


def test_a_parked_error_is_cleared_when_the_document_is_processed_successfully(main, sentinel_db):
    main.put({"_id": "d1", "type": "data_record"})
    sentinel_db.create()
    sentinel_db.put({"_id": "sentinel-error:d1", "type": "sentinel-error", "doc_id": "d1", "attempts": 1,
                     "next_attempt": utc_iso(datetime.now(timezone.utc) - timedelta(minutes=1))})
    _process(main, sentinel_db, [], {"d1"})
    assert sentinel_db.get("sentinel-error:d1") is None
    assert sentinel_db.get("d1-info")["transitions"] == {}


def test_an_unexpected_error_in_the_loop_is_logged_and_the_loop_goes_on(main, hierarchy, make_runner, monkeypatch, caplog):
    runner = make_runner(CLINICS_AND_SENT_BY)
    real_save = runner.checkpoint.save
    calls = []

    def save_fails_once(value):
        calls.append(value)
        if len(calls) == 1:
            raise RuntimeError("permission denied, say")
        return real_save(value)

    monkeypatch.setattr(runner.checkpoint, "save", save_fails_once)
    monkeypatch.setattr("sentinel.daemon.runner.UNEXPECTED_ERROR_MAX_PAUSE", 0.1)
    main.put(report("r1", **{"from": "+254700000001"}))
    thread = threading.Thread(target=runner.loop)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not caught_up(runner) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        runner.stop()
        thread.join(10)
    assert "Unexpected error (1 in a row)" in caplog.text
    assert main.get("r1")["sent_by"] == "Chloe CHW" and caught_up(runner)
