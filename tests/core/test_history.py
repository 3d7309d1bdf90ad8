"""The duplicate-message history (CHT lib/history.js, persisted): the limit, runs of identical messages
(a run goes on while each message comes less than 30 minutes after the previous one), what is saved,
loading at start-up (real server) and, end to end, counts that survive a daemon restart.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from sentinel.core import history
from sentinel.core.history import MessageHistory, duplicate_limit, history_id

from ..support import drain, report

T0 = datetime(2024, 1, 2, 3, 0, 0, tzinfo=timezone.utc)
T0_MS = 1704164400000
TO, TEXT = "+254700000001", "Your phone number is not registered."


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ms(minutes: float) -> int:
    return T0_MS + int(minutes * 60_000)


# --- the limit -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, limit",
    [
        pytest.param({}, 5, id="no sms settings: 5"),
        pytest.param({"sms": {}}, 5, id="no limit: 5"),
        pytest.param({"sms": {"duplicate_limit": 2}}, 2, id="duplicate_limit"),
        pytest.param({"sms": {"duplicate_limit": 20}}, 20, id="20 is the maximum"),
        pytest.param({"sms": {"duplicate_limit": 21}}, 20, id="above 20: 20"),
        pytest.param({"sms": {"duplicate_limit": "3"}}, 3, id="a string, as in CHT's documentation"),
        pytest.param({"sms": {"duplicate_limit": "2.9"}}, 2, id="parseInt"),
        pytest.param({"sms": {"duplicate_limit": 4.0}}, 4, id="a whole float"),
        pytest.param({"sms": {"duplicate_limit": 0}}, 5, id="zero: the default"),
        pytest.param({"sms": {"duplicate_limit": -2}}, 5, id="negative: the default"),
        pytest.param({"sms": {"duplicate_limit": "0.5"}}, 5, id="parses to zero: the default"),
        pytest.param({"sms": {"duplicate_limit": "many"}}, 5, id="not a number: the default"),
        pytest.param({"sms": {"duplicate_limit": True}}, 5, id="a boolean: the default"),
        pytest.param({"sms": {"duplicate_limit": None}}, 5, id="null: the default"),
        pytest.param({"sms": {"allowed_duplicates_limit": 3}}, 3, id="allowed_duplicates_limit, the name CHT's code reads"),
        pytest.param({"sms": {"allowed_duplicates_limit": 3, "duplicate_limit": 7}}, 3, id="allowed_duplicates_limit wins"),
        pytest.param({"sms": "5"}, 5, id="sms not an object"),
    ],
)
def test_duplicate_limit(settings, limit):
    assert duplicate_limit(settings) == limit


# --- runs of identical messages --------------------------------------------------------------------


@pytest.mark.parametrize(
    "minutes, counts",
    [
        pytest.param([0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6], id="one after the other"),
        pytest.param([0, 10, 20, 29.9], [1, 2, 3, 4], id="inside 30 minutes of the previous one"),
        pytest.param([0, 30], [1, 1], id="30 minutes after the previous one: a new run"),
        pytest.param([0, 45, 50], [1, 1, 2], id="a new run counts on"),
        pytest.param([0, 29, 58, 87, 116], [1, 2, 3, 4, 5], id="a slow run goes on (the 30 minutes are from the last message)"),
    ],
)
def test_counts_within_and_outside_the_window(minutes, counts):
    h = MessageHistory()
    assert [h.count(TO, TEXT, at(m)) for m in minutes] == counts


def test_counts_are_per_recipient_and_text():
    h = MessageHistory()
    assert [h.count(TO, TEXT, T0), h.count(TO, "other", T0), h.count("+254711111111", TEXT, T0), h.count(TO, TEXT, T0)] == [1, 1, 1, 2]


@pytest.mark.parametrize(
    "settings, expected",
    [
        pytest.param({}, [False] * 5 + [True, True], id="default: the 6th is a duplicate"),
        pytest.param({"sms": {"duplicate_limit": 2}}, [False, False, True, True, True, True, True], id="limit 2: the 3rd"),
    ],
)
def test_is_duplicate_beyond_the_limit(settings, expected):
    h = MessageHistory()
    assert [h.is_duplicate(TO, TEXT, at(i), settings) for i in range(7)] == expected


def test_the_oldest_runs_are_forgotten_beyond_max_entries(monkeypatch):
    monkeypatch.setattr(history, "MAX_ENTRIES", 2)
    h = MessageHistory()
    for i, text in enumerate(["a", "b", "c"]):
        h.count(TO, text, at(i))
    assert h.count(TO, "c", at(3)) == 2
    assert h.count(TO, "a", at(4)) == 1  # forgotten: a count can only go down this way


# --- what is saved ---------------------------------------------------------------------------------


def test_pending_writes_hold_the_counted_runs_until_saved():
    h = MessageHistory()
    h.count(TO, TEXT, at(0))
    h.count(TO, TEXT, at(1))
    doc_id = history_id(TO, TEXT)
    assert h.pending_writes() == [{"_id": doc_id, "type": "sms_history", "count": 2, "last": ms(1)}]
    h.saved(doc_id, "1-a")
    assert h.pending_writes() == []
    h.count(TO, TEXT, at(2))
    assert h.pending_writes() == [{"_id": doc_id, "_rev": "1-a", "type": "sms_history", "count": 3, "last": ms(2)}]
    h.saved(doc_id, None)  # taken over by a newer version
    h.count(TO, TEXT, at(3))
    assert "_rev" not in h.pending_writes()[0]


@pytest.mark.parametrize(
    "stored, ours, merged",
    [
        pytest.param({"count": 6, "last": ms(5)}, {"count": 4, "last": ms(3)}, {"count": 6, "last": ms(5)}, id="the same run keeps the higher count"),
        pytest.param({"count": 2, "last": ms(1)}, {"count": 4, "last": ms(3)}, {"count": 4, "last": ms(3)}, id="ours when higher"),
        pytest.param({"count": 9, "last": ms(-60)}, {"count": 1, "last": ms(3)}, {"count": 1, "last": ms(3)}, id="an older run: ours"),
        pytest.param({"times": [ms(0), ms(1), ms(2)]}, {"count": 2, "last": ms(2)}, {"count": 3, "last": ms(2)}, id="a stored list of times"),
    ],
)
def test_merge_over_a_newer_stored_version(stored, ours, merged):
    h = MessageHistory()
    doc_id = history_id(TO, TEXT)
    result = h.merge({"_id": doc_id, "_rev": "2-theirs", "type": "sms_history", **stored}, {"_id": doc_id, "_rev": "1-ours", "type": "sms_history", **ours})
    assert result == {"_id": doc_id, "_rev": "2-theirs", "type": "sms_history", **merged}
    assert h.count(TO, TEXT, at(4)) == merged["count"] + 1  # memory follows the merge


def test_the_doc_of_a_run_that_ended_is_deleted():
    h = MessageHistory()
    doc_id = history_id(TO, TEXT)
    h.count(TO, TEXT, at(0))
    h.pending_writes()
    h.saved(doc_id, "1-a")
    h.count(TO, "something else", at(31))  # time goes on
    writes = h.pending_writes()
    assert {"_id": doc_id, "_rev": "1-a", "type": "sms_history", "_deleted": True} in writes
    h.saved(doc_id, "2-deleted")
    h.count(TO, TEXT, at(40))
    assert [w for w in h.pending_writes() if w["_id"] == doc_id] == [{"_id": doc_id, "type": "sms_history", "count": 1, "last": ms(40)}]


# --- loading at start-up (real server) -------------------------------------------------------------


def _stored(text: str, **fields: Any) -> dict[str, Any]:
    return {"_id": history_id(TO, text), "type": "sms_history", **fields}


def test_load_keeps_only_the_runs_still_inside_the_window(sentinel_db):
    sentinel_db.create()
    docs = [
        _stored("open", count=4, last=ms(-10)),
        _stored("ended", count=9, last=ms(-30)),
        _stored("old format", times=[ms(-50), ms(-20), ms(-5)]),
        {"_id": "lookup:phone:x", "type": "lookup", "ids": []},  # not ours
    ]
    assert not [r for r in sentinel_db.bulk_docs(docs) if r.get("error")]
    h = MessageHistory()
    h.load(sentinel_db, T0)
    writes = h.pending_writes()  # the ended run's doc goes
    assert writes == [{"_id": history_id(TO, "ended"), "_rev": docs[1]["_rev"], "type": "sms_history", "_deleted": True}]
    for doc, result in zip(writes, sentinel_db.bulk_docs(writes)):
        h.saved(doc["_id"], result.get("rev"))
    assert sentinel_db.get(history_id(TO, "ended")) is None
    assert [h.count(TO, text, T0) for text in ("open", "ended", "old format")] == [5, 1, 4]
    writes = h.pending_writes()  # saved over the stored revisions, and over the tombstone
    assert not [r for r in sentinel_db.bulk_docs(writes) if r.get("error")]
    assert {d["_id"]: (d["count"], d["last"]) for d in (sentinel_db.get(w["_id"]) for w in writes)} == {
        history_id(TO, "open"): (5, T0_MS), history_id(TO, "ended"): (1, T0_MS), history_id(TO, "old format"): (4, T0_MS)
    }


def test_load_reads_every_page(sentinel_db, monkeypatch):
    monkeypatch.setattr(history, "LOAD_PAGE", 2)
    sentinel_db.create()
    sentinel_db.bulk_docs([_stored(f"text {i}", count=i + 1, last=ms(-1)) for i in range(5)])
    h = MessageHistory()
    h.load(sentinel_db, T0)
    assert [h.count(TO, f"text {i}", T0) for i in range(5)] == [2, 3, 4, 5, 6]


# --- end to end: counts survive a restart ----------------------------------------------------------

UNKNOWN_PHONE = "+254799999999"
SETTINGS = {"transitions": {"update_clinics": True}, "forms": {"V": {"meta": {"code": "V"}, "fields": {}}}}
TRANSLATIONS = {"_id": "messages-en", "code": "en", "type": "translations",
                "generic": {"messages.generic.sys.facility_not_found": TEXT}}


def _reply_states(main, ids: list[str]) -> list[tuple[str, str]]:
    found = [main.get(i) for i in ids]
    return [(d["tasks"][0]["state"], d["tasks"][0]["messages"][0]["message"]) for d in found]


def test_duplicate_counts_survive_a_daemon_restart(make_runner, main, sentinel_db):
    runner = make_runner(SETTINGS, clock=lambda: at(0))
    main.bulk_docs([TRANSLATIONS, *(report(f"r{i}", **{"from": UNKNOWN_PHONE}) for i in range(5))])
    drain(runner)
    assert _reply_states(main, [f"r{i}" for i in range(5)]) == [("pending", TEXT)] * 5
    stored = sentinel_db.get(history_id(UNKNOWN_PHONE, TEXT))
    assert (stored["type"], stored["count"], stored["last"]) == ("sms_history", 5, T0_MS)

    restarted = make_runner(clock=lambda: at(20))  # a new process: nothing in memory
    main.put(report("r5", **{"from": UNKNOWN_PHONE}))
    drain(restarted)
    assert _reply_states(main, ["r5"]) == [("duplicate", TEXT)]
    assert sentinel_db.get(history_id(UNKNOWN_PHONE, TEXT))["count"] == 6

    after_the_window = make_runner(clock=lambda: at(50))  # 30 minutes after the 6th: a new run
    main.put(report("r6", **{"from": UNKNOWN_PHONE}))
    drain(after_the_window)
    assert _reply_states(main, ["r6"]) == [("pending", TEXT)]
    assert sentinel_db.get(history_id(UNKNOWN_PHONE, TEXT))["count"] == 1
