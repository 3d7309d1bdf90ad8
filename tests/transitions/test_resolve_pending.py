"""resolve_pending: pending messages are marked `sent` (test and demo builds) (spec 2.6, 3.1, 3.8).

A task is resolved when it is `pending` and one of its messages has both `to` and `message`; it gets
state `sent`, a `state_history` entry and a `timestamp`. `scheduled_tasks` are resolved too, unless the
report has errors.

Most cases are documents seeded (`seed`) into one database that Sentinel processes once, in one batch
(`world`); the tests then read each document's outcome.
"""
from __future__ import annotations

from typing import Any
from unittest.mock import ANY

import pytest

from ..support import (
    NOW,
    NOW_ISO,
    drain,
    processed,
    report,
)

EARLIER = "2023-12-31T10:00:00.000Z"
SETTINGS = {"transitions": {"resolve_pending": True}}
CONTACT = {"_id": "chw", "parent": {"_id": "clinic"}}
ERRORS = [{"code": "invalid_report", "message": "bad"}]


def task(state: str = "pending", **message: Any) -> dict[str, Any]:
    message = {"uuid": "m-1", "to": "+254700000001", "message": "hello", **message}
    return {"messages": [{k: v for k, v in message.items() if v is not None}], "state": state, "state_history": [{"state": state, "timestamp": EARLIER}]}


def sent(original: dict[str, Any]) -> dict[str, Any]:
    """`original` as resolve_pending leaves it."""
    return {
        **original,
        "state": "sent",
        "state_history": [*original["state_history"], {"state": "sent", "timestamp": NOW_ISO}],
        "timestamp": NOW_ISO,
    }


# --- the processed world ---------------------------------------------------------------------------

SEEDED: list[dict[str, Any]] = []


def seed(doc: dict[str, Any]) -> dict[str, Any]:
    SEEDED.append(doc)
    return doc


def seeded_report(doc_id: str, **extra: Any) -> dict[str, Any]:
    return seed(report(doc_id, contact=CONTACT, **extra))


@pytest.fixture(scope="module")
def world(pouchdb):
    with processed(pouchdb, SETTINGS, SEEDED) as processed_world:
        yield processed_world


# --- tasks -----------------------------------------------------------------------------------------

PENDING = seeded_report("pending", tasks=[task()])


def test_a_pending_task_with_a_recipient_and_text_becomes_sent_with_history_and_timestamp(world):
    assert world.doc(PENDING) == {**PENDING, "tasks": [sent(task())]}


def test_the_infodoc_records_the_run(world):
    assert world.info(PENDING)["transitions"] == {
        "resolve_pending": {"last_rev": world.revs["pending"], "seq": ANY, "ok": True, "run_date": NOW_ISO}
    }


NO_HISTORY = seeded_report("no-history", tasks=[{"messages": [{"uuid": "m-1", "to": "+1555", "message": "hi"}], "state": "pending"}])


def test_a_pending_task_without_history_gets_one_with_the_sent_entry(world):
    assert world.doc(NO_HISTORY)["tasks"] == [
        {"messages": [{"uuid": "m-1", "to": "+1555", "message": "hi"}], "state": "sent", "state_history": [{"state": "sent", "timestamp": NOW_ISO}], "timestamp": NOW_ISO}
    ]


MIXED = seeded_report(
    "mixed",
    tasks=[
        task(message=None, error="messages.errors.message.empty"),
        task(),
        task(state="scheduled"),
        task(to=None),
        task(state="sent"),
    ],
)


def test_only_the_pending_tasks_with_a_recipient_and_text_are_resolved(world):
    tasks = MIXED["tasks"]
    assert world.doc(MIXED)["tasks"] == [tasks[0], sent(tasks[1]), tasks[2], tasks[3], tasks[4]]


ONE_GOOD_MESSAGE = seeded_report(
    "one-good-message",
    tasks=[{"messages": [{"uuid": "m-1", "to": "+1555", "error": "messages.errors.message.empty"}, {"uuid": "m-2", "to": "+1555", "message": "hi"}], "state": "pending", "state_history": [{"state": "pending", "timestamp": EARLIER}]}],
)


def test_a_pending_task_is_resolved_when_any_of_its_messages_has_a_recipient_and_text(world):
    assert world.doc(ONE_GOOD_MESSAGE)["tasks"] == [sent(ONE_GOOD_MESSAGE["tasks"][0])]


@pytest.mark.parametrize(
    "seeded",
    [
        pytest.param(seeded_report("no-text", tasks=[task(message=None, error="messages.errors.message.empty")]), id="a pending task without text"),
        pytest.param(seeded_report("no-recipient", tasks=[task(to=None)]), id="a pending task without recipient"),
        pytest.param(seeded_report("empty-text", tasks=[task(message="")]), id="a pending task with empty text"),
        pytest.param(seeded_report("not-pending", tasks=[task(state="scheduled"), task(state="delivered")]), id="tasks that are not pending"),
        pytest.param(seeded_report("errors-scheduled-only", errors=ERRORS, scheduled_tasks=[task()]), id="errors and only a pending scheduled task"),
        pytest.param(seeded_report("no-tasks"), id="no tasks"),
    ],
)
def test_a_report_is_not_written_when_it_has(world, seeded):
    assert world.unchanged(seeded)
    assert world.info(seeded)["transitions"] == {}


# --- scheduled tasks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seeded",
    [
        pytest.param(seeded_report("scheduled-no-errors", scheduled_tasks=[task(), task(state="scheduled")]), id="no errors key"),
        pytest.param(seeded_report("scheduled-empty-errors", errors=[], scheduled_tasks=[task(), task(state="scheduled")]), id="an empty errors list"),
    ],
)
def test_pending_scheduled_tasks_are_resolved_on_a_report_without_errors(world, seeded):
    assert world.doc(seeded) == {**seeded, "scheduled_tasks": [sent(task()), task(state="scheduled")]}


WITH_ERRORS = seeded_report("with-errors", errors=ERRORS, tasks=[task()], scheduled_tasks=[task()])


def test_pending_scheduled_tasks_are_skipped_on_a_report_with_errors_while_its_tasks_are_resolved(world):
    assert world.doc(WITH_ERRORS) == {**WITH_ERRORS, "tasks": [sent(task())], "scheduled_tasks": [task()]}


NOT_A_REPORT = seed({"_id": "reminder:x", "type": "reminder", "tasks": [task()]})


def test_any_document_with_pending_tasks_is_resolved_not_only_reports(world):
    assert world.doc(NOT_A_REPORT)["tasks"] == [sent(task())]


# --- over time -------------------------------------------------------------------------------------


def test_a_pending_task_added_in_a_later_edit_is_resolved_too(main, make_runner):
    runner = make_runner(SETTINGS, clock=lambda: NOW)
    main.put(report("r1", contact=CONTACT, tasks=[task()]))
    drain(runner)

    edited = main.get("r1")
    edited["tasks"].append(task(uuid="m-2", message="second"))
    main.put(edited)
    drain(runner)

    assert main.get("r1")["tasks"] == [sent(task()), sent(task(uuid="m-2", message="second"))]


def test_a_message_an_earlier_transition_adds_in_the_same_pass_is_sent_at_once(main, hierarchy, make_runner):
    main.put({"_id": "messages-en", "code": "en", "generic": {"messages.generic.sys.facility_not_found": "Not registered."}})
    runner = make_runner({"transitions": {"update_clinics": True, "resolve_pending": True}, "forms": {"V": {"meta": {"code": "V"}, "fields": {}}}}, clock=lambda: NOW)
    rev = main.put(report("r1", **{"from": "+254799999999"}))
    drain(runner)
    doc = main.get("r1")
    assert doc["tasks"] == [
        {
            "messages": [{"uuid": ANY, "to": "+254799999999", "message": "Not registered."}],
            "state": "sent",
            "state_history": [{"state": "pending", "timestamp": NOW_ISO}, {"state": "sent", "timestamp": NOW_ISO}],
            "timestamp": NOW_ISO,
        }
    ]
    assert int(doc["_rev"].split("-")[0]) == int(rev.split("-")[0]) + 1  # one write for both transitions
