"""order_planning, after the plan (issue 6): the `order_dispatch` scheduler job sends due orders,
re-checks them at send time, reminds and expires them; answers close them; `sentinel orders list`
shows them; the job registry (`order-job:<id>`) guards a job's forms and dates its first sighting; a
job taken out of the settings has its planned orders cancelled.

Everything runs against the real PouchDB Server, with a Sentinel whose clock the test moves
(tests/orders_support.py). The planning rules themselves are tests/test_orders.py and
tests/transitions/test_order_planning.py; here the values are the documents' (hand-checked in the
comments). Settings zone Africa/Nairobi (UTC+3): T0 = 2026-03-02T07:00Z is Monday 10:00 local, and
the follow-up job `fu` orders questionnaire Q 7 days after each T report, so a trigger at T0 has its
order 0 due 2026-03-09T07:00Z (10:00 local).
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from sentinel.messaging import messages
from sentinel.jobs.scheduler import run_jobs

from ..orders_support import (AMY, DAY, HOUR, T0, TESSA, Orders, answer, iso, job, make_orders, patient,
                              sentinel_cli, settings, trigger)
from ..support import drain, put_settings

MINUTE = HOUR / 60
DUE = T0 + 7 * DAY  # 2026-03-09T07:00Z, Monday 10:00 in Nairobi
AMY_ORDER = "order:fu:t1:0"
BOB_ORDER = "order:fu:t2:0"


def with_trigger(w: Orders, doc_id: str = "t1", at=T0, code: str = "10001", **extra: Any) -> dict[str, Any]:
    """Amy's (or `code`'s) T report at `at`, processed then; returns the order it planned, if any."""
    w.save({**trigger(doc_id, at=at, code=code), **extra}, at=max(at, w.clock.now))
    return w.order(f"order:fu:{doc_id}:0")


def untouched(w: Orders, order: dict[str, Any]) -> bool:
    return w.order(order["_id"])["_rev"] == order["_rev"]


# --- 1. sending --------------------------------------------------------------------------------------
def test_a_planned_order_is_sent_at_its_due_time_once(main, sentinel_db, make_runner):
    w = make_orders(main, sentinel_db, make_runner, settings(job()))
    planned = with_trigger(w)
    assert (planned["state"], planned["due"]) == ("planned", iso(DUE))

    w.tick(DUE - MINUTE)  # 09:59 local: not yet
    assert w.order(AMY_ORDER)["state"] == "planned"
    assert untouched(w, planned)  # (the bulk re-plan of the new job changed nothing either)

    w.tick(DUE)
    sent = w.order(AMY_ORDER)
    assert sent["state"] == "ordered"
    assert sent["ordered_at"] == "2026-03-09T07:00:00.000Z"
    assert [h["state"] for h in sent["state_history"]] == ["planned", "ordered"]
    [task] = sent["tasks"]
    assert (task["type"], task["form"], task["state"]) == ("order", "Q", "pending")
    [message] = task["messages"]
    assert message["to"] == "+254711010001"  # Amy's phone
    assert message["message"] == "Amy, please answer questionnaire 1."
    # deterministic: the hydrated trigger's id and `<order id>:order`, the same on a re-run
    assert message["uuid"] == messages.message_uuid({"_id": "t1"}, f"{AMY_ORDER}:order")

    w.tick(DUE + HOUR)  # a second run sends nothing again
    assert w.order(AMY_ORDER)["_rev"] == sent["_rev"]


def test_only_the_due_orders_of_a_run_are_sent(main, sentinel_db, make_runner):
    w = make_orders(main, sentinel_db, make_runner, settings(job()))
    with_trigger(w, "t1")                      # Amy: due 03-09 07:00Z
    with_trigger(w, "t2", T0 + DAY, "10002")  # Bob: due 03-10 07:00Z
    w.tick(DUE)
    assert {i: s for i, (s, _) in w.states().items()} == {AMY_ORDER: "ordered", BOB_ORDER: "planned"}
    w.tick(DUE + DAY)
    assert {i: s for i, (s, _) in w.states().items()} == {AMY_ORDER: "ordered", BOB_ORDER: "ordered"}
    bob = w.order(BOB_ORDER)
    assert bob["tasks"][0]["messages"][0]["to"] == "+254711010002"
    assert bob["tasks"][0]["messages"][0]["message"] == "Bob, please answer questionnaire 1."


# --- 2. the re-check at send time ------------------------------------------------------------------
@pytest.mark.parametrize("overrides, who, change, reason", [
    pytest.param({}, AMY, {"date_of_death": "2026-03-08"}, "deceased", id="deceased"),
    pytest.param({}, AMY, {"consent_withdrawn": True}, "consent_withdrawn", id="consent-withdrawn"),
    pytest.param({"status": "test"}, TESSA, {"test": False}, "test_mode", id="no-longer-a-test-contact"),
])
def test_the_dispatcher_re_checks_the_patient_before_sending(main, sentinel_db, make_runner, overrides, who, change, reason):
    w = make_orders(main, sentinel_db, make_runner, settings(job(**overrides)))
    with_trigger(w, code=who["patient_id"])
    w.tick(T0 + HOUR)  # the new job's bulk re-plan is done: from now on only the dispatcher acts
    assert sentinel_db.get("order-job:fu")["planned_status"] == overrides.get("status", "active")
    assert w.order(AMY_ORDER)["state"] == "planned"

    # the patient changes in the database, but Sentinel has not processed that change yet
    main.put({**main.get(who["_id"]), **change})
    run_jobs(w.runner.job_env(), DUE)
    cancelled = w.order(AMY_ORDER)
    assert cancelled["state"] == "cancelled"
    assert (cancelled["cancelled_by"], cancelled["cancel_reason"]) == ("sentinel", reason)
    assert "tasks" not in cancelled and "ordered_at" not in cancelled

    drain(w.runner)  # Sentinel then sees the patient change: nothing more to do
    assert w.order(AMY_ORDER)["_rev"] == cancelled["_rev"]


def test_an_answer_unseen_by_sentinel_stops_the_order_at_send_time(main, sentinel_db, make_runner):
    w = make_orders(main, sentinel_db, make_runner, settings(job()))
    with_trigger(w)
    w.tick(T0 + HOUR)
    main.put(answer("manual", T0 + DAY))  # a Q report Amy filled in by herself: Y = 1 is reached
    run_jobs(w.runner.job_env(), DUE)
    order = w.order(AMY_ORDER)
    assert (order["state"], order["cancel_reason"]) == ("cancelled", "stop_if_existing")


def test_a_trigger_moved_later_unseen_by_sentinel_moves_the_order_instead_of_sending_it(main, sentinel_db, make_runner):
    w = make_orders(main, sentinel_db, make_runner, settings(job(anchor="fields.visit_date")))
    with_trigger(w, fields={"patient_id": "10001", "visit_date": "2026-03-02"})
    planned = w.order(AMY_ORDER)
    assert planned["due"] == "2026-03-08T21:00:00.000Z"  # 2026-03-09 00:00 local
    w.tick(T0 + HOUR)
    main.put({**main.get("t1"), "fields": {"patient_id": "10001", "visit_date": "2026-03-04"}})
    run_jobs(w.runner.job_env(), DUE)  # 03-09 10:00 local: the old due has passed, the new one not
    moved = w.order(AMY_ORDER)
    assert (moved["state"], moved["due"]) == ("planned", "2026-03-10T21:00:00.000Z")  # 03-11 00:00 local
    assert "tasks" not in moved


def test_a_trigger_deleted_behind_sentinels_back_is_not_ordered(main, sentinel_db, make_runner):
    w = make_orders(main, sentinel_db, make_runner, settings(job()))
    with_trigger(w)
    w.tick(T0 + HOUR)
    main.delete_doc("t1", main.get("t1")["_rev"])
    run_jobs(w.runner.job_env(), DUE)
    order = w.order(AMY_ORDER)
    assert (order["state"], order["cancel_reason"]) == ("cancelled", "trigger_gone")


# --- 3. failed orders and the recipient -------------------------------------------------------------
@pytest.mark.parametrize("recipient, phone, named", [
    pytest.param(None, False, "patient.phone", id="patient-without-a-phone"),
    # "clinic" is the clinic's contact phone: there is no hierarchy here, so no phone at all
    pytest.param("clinic", True, "clinic", id="recipient-that-resolves-to-nothing"),
])
def test_an_order_without_a_recipient_phone_fails(main, sentinel_db, make_runner, recipient, phone, named):
    cleo = patient("cleo", "10004")
    if not phone:
        del cleo["phone"]
    w = make_orders(main, sentinel_db, make_runner, settings(job(recipient=recipient)), patients=(cleo,))
    with_trigger(w, "t4", code="10004")
    w.tick(DUE)
    order = w.order("order:fu:t4:0")
    assert order["state"] == "failed", order.get("tasks")
    assert named in order["failure"] and "phone" in order["failure"]  # "no phone number for the recipient '...'"
    assert "tasks" not in order and "ordered_at" not in order
    assert order["state_history"][-1]["state"] == "failed"
    w.tick(DUE + DAY)  # a failed order stays failed
    assert w.order("order:fu:t4:0")["_rev"] == order["_rev"]


@pytest.mark.parametrize("recipient, to", [
    pytest.param("reporting_unit", "+254722000111", id="reporting-unit-is-the-trigger-sender"),
    pytest.param("+254733000222", "+254733000222", id="literal-international-number"),
    pytest.param(None, "+254711010001", id="default-patient-phone"),
])
def test_the_recipient_setting_of_the_job_is_honoured(main, sentinel_db, make_runner, recipient, to):
    w = make_orders(main, sentinel_db, make_runner, settings(job(recipient=recipient)))
    with_trigger(w, **{"from": "+254722000111"})
    w.tick(DUE)
    order = w.order(AMY_ORDER)
    assert order["state"] == "ordered"
    assert order["tasks"][0]["messages"][0]["to"] == to


def test_a_reporting_unit_recipient_reaches_the_chw_of_the_trigger(main, sentinel_db, make_runner, hierarchy):
    w = make_orders(main, sentinel_db, make_runner, settings(job(recipient="reporting_unit")))
    with_trigger(w, contact={"_id": "chw", "parent": {"_id": "clinic"}})
    w.tick(DUE)
    order = w.order(AMY_ORDER)
    assert order["state"] == "ordered"
    assert order["tasks"][0]["messages"][0]["to"] == "+254700000001"  # Chloe CHW


# --- 4. reminders and expiry ------------------------------------------------------------------------
REMINDER = [{"locale": "en", "content": "Reminder: {{patient_name}}, questionnaire {{order.number}} is waiting."}]


@pytest.mark.parametrize("extra, text", [
    pytest.param({"reminder_message": REMINDER}, "Reminder: Amy, questionnaire 1 is waiting.", id="reminder-message"),
    pytest.param({}, "Amy, please answer questionnaire 1.", id="defaults-to-the-order-message"),
])
def test_an_unanswered_order_is_reminded_once_then_expires(main, sentinel_db, make_runner, extra, text):
    w = make_orders(main, sentinel_db, make_runner, settings(job(reminder_days=2, expiry_days=5, **extra)))
    with_trigger(w)
    w.tick(DUE)
    sent = w.order(AMY_ORDER)
    assert sent["expires"] == "2026-03-14T07:00:00.000Z"  # ordered_at + 5 days

    w.tick(DUE + 2 * DAY - MINUTE)  # 03-11 09:59 local: not yet
    assert w.order(AMY_ORDER)["_rev"] == sent["_rev"]

    w.tick(DUE + 2 * DAY)
    reminded = w.order(AMY_ORDER)
    assert reminded["state"] == "ordered"
    assert reminded["reminded_at"] == "2026-03-11T07:00:00.000Z"
    assert [t["type"] for t in reminded["tasks"]] == ["order", "order_reminder"]
    reminder = reminded["tasks"][1]
    assert (reminder["form"], reminder["state"]) == ("Q", "pending")
    [message] = reminder["messages"]
    assert (message["to"], message["message"]) == ("+254711010001", text)
    assert message["uuid"] == messages.message_uuid({"_id": "t1"}, f"{AMY_ORDER}:reminder")
    assert message["uuid"] != sent["tasks"][0]["messages"][0]["uuid"]

    w.tick(DUE + 3 * DAY)  # one reminder only
    assert w.order(AMY_ORDER)["_rev"] == reminded["_rev"]

    w.tick(DUE + 5 * DAY - MINUTE)
    assert w.order(AMY_ORDER)["state"] == "ordered"
    w.tick(DUE + 5 * DAY)
    expired = w.order(AMY_ORDER)
    assert expired["state"] == "expired"
    assert expired["expired_at"] == "2026-03-14T07:00:00.000Z"
    assert len(expired["tasks"]) == 2
    w.tick(DUE + 6 * DAY)
    assert w.order(AMY_ORDER)["_rev"] == expired["_rev"]


def test_an_order_answered_before_its_reminder_is_neither_reminded_nor_expired(main, sentinel_db, make_runner):
    w = make_orders(main, sentinel_db, make_runner, settings(job(reminder_days=2, expiry_days=5)))
    with_trigger(w)
    w.tick(DUE)
    report = w.save(answer("a1", DUE + DAY), at=DUE + DAY)
    answered = w.order(AMY_ORDER)
    assert answered["state"] == "answered"
    assert (answered["answer"], answered["answered_at"]) == ("a1", "2026-03-10T07:00:00.000Z")
    assert (report["order_id"], report["order_job"]) == (AMY_ORDER, "fu")

    for at in (DUE + 2 * DAY, DUE + 5 * DAY, DUE + 6 * DAY):
        w.tick(at)
    after = w.order(AMY_ORDER)
    assert after["_rev"] == answered["_rev"]
    assert [t["type"] for t in after["tasks"]] == ["order"]
    assert "reminded_at" not in after


def test_an_order_answered_after_its_reminder_is_not_expired(main, sentinel_db, make_runner):
    w = make_orders(main, sentinel_db, make_runner, settings(job(reminder_days=2, expiry_days=5)))
    with_trigger(w)
    w.tick(DUE)
    w.tick(DUE + 2 * DAY)
    w.save(answer("a1", DUE + 3 * DAY), at=DUE + 3 * DAY)
    w.tick(DUE + 5 * DAY)
    order = w.order(AMY_ORDER)
    assert order["state"] == "answered"
    assert [t["type"] for t in order["tasks"]] == ["order", "order_reminder"]


@pytest.mark.parametrize("answered, series", [
    # answered: order 1 is planned 14 days after the trigger, 2026-03-16T07:00Z
    pytest.param(True, {"order:fu:t1:0": "answered", "order:fu:t1:1": "planned"}, id="answered-goes-on"),
    # expired: with require_answer the series ends, even when the trigger is processed again
    pytest.param(False, {"order:fu:t1:0": "expired"}, id="expired-ends-the-series"),
])
def test_with_require_answer_an_expired_order_ends_its_series(main, sentinel_db, make_runner, answered, series):
    repeat = {"enabled": True, "max_repeats": 2, "require_answer": True}
    w = make_orders(main, sentinel_db, make_runner, settings(job(repeat=repeat, expiry_days=5)))
    with_trigger(w)
    assert set(w.orders()) == {AMY_ORDER}  # order 1 waits for order 0's answer
    w.tick(DUE)
    if answered:
        w.save(answer("a1", DUE + DAY), at=DUE + DAY)
    w.tick(DUE + 5 * DAY)
    w.edit("t1", at=DUE + 5 * DAY + HOUR, note="re-processed")
    w.tick(DUE + 5 * DAY + 2 * HOUR)
    assert {i: s for i, (s, _) in w.states().items()} == series
    if answered:
        assert w.order("order:fu:t1:1")["due"] == iso(T0 + 14 * DAY)


# --- 5. the send window -----------------------------------------------------------------------------
def test_a_due_order_waits_for_the_send_window(main, sentinel_db, make_runner):
    window = {"schedule_morning_hours": 8, "schedule_evening_hours": 18}
    w = make_orders(main, sentinel_db, make_runner, settings(job(), **window))
    early = T0 - 4 * HOUR  # 2026-03-02T03:00Z, 06:00 local
    planned = with_trigger(w, at=early)
    due = early + 7 * DAY  # 2026-03-09T03:00Z, 06:00 local
    assert planned["due"] == iso(due)

    for at in (due, due + HOUR + 59 * MINUTE):  # 06:00 and 07:59 local
        w.tick(at)
        assert w.order(AMY_ORDER)["state"] == "planned"
    w.tick(due + 2 * HOUR)  # 08:00 local
    sent = w.order(AMY_ORDER)
    assert (sent["state"], sent["ordered_at"]) == ("ordered", "2026-03-09T05:00:00.000Z")


def test_reminders_wait_for_the_send_window_but_expiry_does_not(main, sentinel_db, make_runner):
    window = {"schedule_morning_hours": 8, "schedule_evening_hours": 18}
    w = make_orders(main, sentinel_db, make_runner, settings(job(reminder_days=2, expiry_days=5), **window))
    with_trigger(w)
    w.tick(DUE)  # 10:00 local
    night = DUE + 2 * DAY + 10 * HOUR  # 03-11 20:00 local: reminder due, outside the window
    w.tick(night)
    assert "reminded_at" not in w.order(AMY_ORDER)
    w.tick(night + 12 * HOUR)  # 03-12 08:00 local
    assert w.order(AMY_ORDER)["reminded_at"] == iso(night + 12 * HOUR)
    w.tick(DUE + 5 * DAY + 10 * HOUR)  # 03-14 20:00 local: expired all the same
    assert w.order(AMY_ORDER)["state"] == "expired"


# --- 6. answers -------------------------------------------------------------------------------------
def test_an_answer_closes_the_oldest_ordered_order_of_its_form(main, sentinel_db, make_runner):
    w = make_orders(main, sentinel_db, make_runner, settings(job(stop_if_existing=5)))
    # t-b is reported first (due 03-09), t-a a day later (due 03-10): id order and age disagree
    with_trigger(w, "t-b", T0)
    with_trigger(w, "t-a", T0 + DAY)
    w.tick(DUE)
    w.tick(DUE + DAY)
    assert {i: s for i, (s, _) in w.states().items()} == {"order:fu:t-a:0": "ordered", "order:fu:t-b:0": "ordered"}
    younger = w.order("order:fu:t-a:0")

    report = w.save(answer("a1", DUE + 2 * DAY), at=DUE + 2 * DAY)
    assert report["order_id"] == "order:fu:t-b:0"
    assert {i: s for i, (s, _) in w.states().items()} == {"order:fu:t-a:0": "ordered", "order:fu:t-b:0": "answered"}
    assert w.order("order:fu:t-a:0")["_rev"] == younger["_rev"]
    answered = w.order("order:fu:t-b:0")

    # the same answer processed again (an unrelated edit) answers no second order
    w.edit("a1", at=DUE + 3 * DAY, note="edited")
    assert w.order("order:fu:t-a:0")["_rev"] == younger["_rev"]
    assert w.order("order:fu:t-b:0")["_rev"] == answered["_rev"]
    assert main.get("a1")["order_id"] == "order:fu:t-b:0"

    # a second answer closes the other one
    second = w.save(answer("a2", DUE + 4 * DAY), at=DUE + 4 * DAY)
    assert second["order_id"] == "order:fu:t-a:0"
    assert w.order("order:fu:t-a:0")["answer"] == "a2"


def test_an_answer_without_an_open_order_links_nothing(main, sentinel_db, make_runner):
    w = make_orders(main, sentinel_db, make_runner, settings(job(stop_if_existing=5)))
    with_trigger(w, "t1")                           # ordered at DUE
    bob = with_trigger(w, "t2", T0 + DAY, "10002")  # still planned at DUE
    w.tick(DUE)
    amy = w.order(AMY_ORDER)
    assert (amy["state"], w.order(BOB_ORDER)["state"]) == ("ordered", "planned")

    report = w.save(answer("b1", DUE + HOUR, code="10002"), at=DUE + HOUR)  # Bob's order is not sent yet
    assert "order_id" not in report and "order_job" not in report
    assert untouched(w, bob) and untouched(w, amy)  # Amy's open order is not Bob's to answer


# --- 7. `sentinel orders list` ----------------------------------------------------------------------
def test_orders_list_shows_planned_orders_in_local_time(main, sentinel_db, make_runner, pouchdb):
    w = make_orders(main, sentinel_db, make_runner, settings(job()))
    with_trigger(w, "t0", T0 - 6 * DAY - 4 * HOUR, "10003")  # Tessa: due 03-03 03:00Z, sent below
    with_trigger(w, "t1")                      # Amy: 03-09 07:00Z = 10:00 local
    with_trigger(w, "t2", T0 + DAY, "10002")  # Bob: 03-10 07:00Z = 10:00 local
    w.tick(T0 + DAY)
    assert w.order("order:fu:t0:0")["state"] == "ordered"

    done = sentinel_cli(main, pouchdb.url, "orders", "list", "--job", "fu", "--state", "planned")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "order job fu (active): 2 order(s) planned"
    assert "due (Africa/Nairobi)" in lines[1]
    assert lines[2].split() == ["2026-03-09", "10:00", "planned", "10001", "0", "t1", AMY_ORDER]
    assert lines[3].split() == ["2026-03-10", "10:00", "planned", "10002", "0", "t2", BOB_ORDER]
    assert "order:fu:t0:0" not in done.stdout
    assert len(lines) == 4

    done = sentinel_cli(main, pouchdb.url, "orders", "list", "--job", "fu", "--state", "planned", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {"due": "2026-03-09T07:00:00.000Z", "state": "planned", "patient": "10001", "k": 0, "trigger": "t1",
         "id": AMY_ORDER, "test": False},
        {"due": "2026-03-10T07:00:00.000Z", "state": "planned", "patient": "10002", "k": 0, "trigger": "t2",
         "id": BOB_ORDER, "test": False},
    ]

    done = sentinel_cli(main, pouchdb.url, "orders", "list", "--job", "fu")  # every state
    assert done.returncode == 0, done.stderr
    assert "3 order(s)" in done.stdout.splitlines()[0]
    tessa = next(line.split() for line in done.stdout.splitlines() if "order:fu:t0:0" in line)
    assert tessa == ["2026-03-03", "06:00", "ordered", "10003", "0", "t0", "order:fu:t0:0"]  # 03:00Z in Nairobi


def test_orders_list_of_an_unknown_job_names_the_configured_ones(main, sentinel_db, make_runner, pouchdb):
    make_orders(main, sentinel_db, make_runner, settings(job(), job(id="wk", trigger_form="W")))
    done = sentinel_cli(main, pouchdb.url, "orders", "list", "--job", "nope", "--state", "planned")
    assert done.returncode == 1
    assert "no such job" in done.stdout
    assert "fu, wk" in done.stdout

    done = sentinel_cli(main, pouchdb.url, "orders", "list", "--job", "wk")  # known, nothing planned
    assert done.returncode == 0
    assert done.stdout.splitlines()[0] == "order job wk (active): 0 order(s)"


# --- 8. the settings check against the registry ------------------------------------------------------
def settle(w: Orders, steps: int = 5) -> None:
    """Let Sentinel read the feed (settings included) without requiring valid settings, as drain does."""
    for _ in range(steps):
        w.runner.step()


def test_the_forms_of_a_known_job_cannot_change(main, sentinel_db, make_runner):
    w = make_orders(main, sentinel_db, make_runner, settings(job()))
    registry = sentinel_db.get("order-job:fu")
    assert (registry["trigger_form"], registry["order_form"], registry["first_seen"]) == ("T", "Q", iso(T0))

    put_settings(main, settings(job(trigger_form="X")))
    settle(w)
    assert w.runner.current is None
    problems = w.runner.config_error.problems
    assert any("order_jobs[0].trigger_form" in p and "cannot change" in p for p in problems), problems

    # a trigger reported meanwhile waits for valid settings
    main.put(trigger("t1"))
    settle(w)
    assert w.order(AMY_ORDER) is None

    put_settings(main, settings(job()))  # back as the registry knows it
    drain(w.runner)
    assert w.runner.current is not None and w.runner.config_error is None
    assert w.order(AMY_ORDER)["state"] == "planned"
    assert sentinel_db.get("order-job:fu")["trigger_form"] == "T"


def test_a_changed_order_form_is_refused_too_and_a_new_job_id_is_fine(main, sentinel_db, make_runner):
    w = make_orders(main, sentinel_db, make_runner, settings(job()))
    put_settings(main, settings(job(order_form="Q2")))
    settle(w)
    assert w.runner.current is None
    assert any("order_jobs[0].order_form" in p and "cannot change" in p for p in w.runner.config_error.problems)

    w.settings(settings(job(id="fu2", order_form="Q2")), at=T0 + HOUR)
    assert w.runner.current is not None
    assert sentinel_db.get("order-job:fu2")["first_seen"] == iso(T0 + HOUR)


def test_created_after_defaults_to_the_day_the_job_was_first_seen(main, sentinel_db, make_runner):
    w = make_orders(main, sentinel_db, make_runner, settings(job(created_after=None)))
    assert sentinel_db.get("order-job:fu")["first_seen"] == "2026-03-02T07:00:00.000Z"
    with_trigger(w, "old", T0 - DAY)    # reported before the job appeared
    with_trigger(w, "t1", T0 + MINUTE)  # after
    w.tick(T0 + HOUR)  # the bulk re-plan of the new job does not plan the old one either
    assert set(w.orders()) == {"order:fu:t1:0"}

    # the first-seen date does not move when the settings are loaded again
    w.settings(settings(job(created_after=None, delay_days=8)), at=T0 + DAY)
    assert sentinel_db.get("order-job:fu")["first_seen"] == "2026-03-02T07:00:00.000Z"
    w.tick(T0 + DAY + HOUR)
    assert set(w.orders()) == {"order:fu:t1:0"}


# --- 9. a job taken out of the settings -------------------------------------------------------------
def test_a_removed_job_has_its_planned_orders_cancelled_but_not_its_sent_ones(main, sentinel_db, make_runner):
    w = make_orders(main, sentinel_db, make_runner, settings(job()))
    with_trigger(w, "t2", T0 - 6 * DAY, "10002")  # Bob: due T0 + 1 day
    with_trigger(w, "t1")                          # Amy: due T0 + 7 days
    w.tick(T0 + DAY)
    sent = w.order(BOB_ORDER)
    assert (sent["state"], w.order(AMY_ORDER)["state"]) == ("ordered", "planned")

    w.settings(settings(job(id="other", trigger_form="X", order_form="Y")), at=T0 + DAY + HOUR)
    assert w.order(AMY_ORDER)["state"] == "planned"  # the next tick does it
    w.tick(T0 + DAY + 2 * HOUR)
    cancelled = w.order(AMY_ORDER)
    assert cancelled["state"] == "cancelled"
    assert (cancelled["cancelled_by"], cancelled["cancel_reason"]) == ("sentinel", "job_removed")
    assert w.order(BOB_ORDER)["_rev"] == sent["_rev"]
    assert sentinel_db.get("order-job:fu")["planned_status"] == "removed"

    w.tick(DUE)  # nothing more: not re-cancelled, not sent
    assert w.order(AMY_ORDER)["_rev"] == cancelled["_rev"]
    assert w.order(BOB_ORDER)["_rev"] == sent["_rev"]
