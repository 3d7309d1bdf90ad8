"""order_planning (issue 6, the eFORSK ePROM design): an `order_jobs` job plans orders of its
`order_form` for a patient from that patient's reports of its `trigger_form`; the scheduler jobs
re-plan a job in bulk when its status changes (`order_replan`) and send due orders (`order_dispatch`).

Everything runs against the real PouchDB Server, through the running Sentinel (`make_orders`), the
scheduler jobs in-process as of a given time (`Orders.tick`). The planner's own arithmetic is tested
in tests/test_orders.py; here the values are the stored order documents' (hand-checked in comments).

The settings zone is Africa/Nairobi (UTC+3); T0 = 2026-03-02T07:00Z (Monday 10:00 in Nairobi). The
job `fu` (tests/orders_support.job) orders questionnaire Q 7 days after each T report; order k of a
trigger is due 7×(k+1) days after its anchor, never sooner than one hour after it was planned.
"""
from __future__ import annotations

from typing import Any

import pytest

from sentinel.core.errors import ConfigError
from sentinel.daemon.settings_check import build

from ..orders_support import DAY, HOUR, T0, Orders, answer, iso, job, make_orders, settings, trigger

# Z = 2 repeats, all planned at once (3 orders: k = 0, 1, 2)
REPEAT_AT_ONCE = {"enabled": True, "max_repeats": 2, "require_answer": False}
# Z = 2 repeats, each planned once the one before was answered (the default)
REPEAT_ON_ANSWER = {"enabled": True, "max_repeats": 2}


def oid(trigger_id: str, k: int, job_id: str = "fu") -> str:
    return f"order:{job_id}:{trigger_id}:{k}"


def revs(w: Orders, job_id: str = "fu") -> dict[str, str]:
    return {i: d["_rev"] for i, d in w.orders(job_id).items()}


def cancelled(w: Orders, job_id: str = "fu") -> dict[str, tuple[str | None, str | None]]:
    """{order id: (cancelled_by, cancel_reason)} of the job's cancelled orders."""
    return {i: (d.get("cancelled_by"), d.get("cancel_reason")) for i, d in w.orders(job_id).items()
            if d["state"] == "cancelled"}


def start(main, sentinel_db, make_runner, *jobs: dict[str, Any], **extra: Any) -> Orders:
    return make_orders(main, sentinel_db, make_runner, settings(*jobs, **extra))


# --- one order ------------------------------------------------------------------------------------
def test_a_trigger_plans_one_order_seven_days_later(main, sentinel_db, make_runner):
    w = start(main, sentinel_db, make_runner, job())
    w.save(trigger("t1"), at=T0)

    stored = w.orders()
    assert list(stored) == ["order:fu:t1:0"]
    doc = {k: v for k, v in stored["order:fu:t1:0"].items() if k != "_rev"}
    assert doc == {
        "_id": "order:fu:t1:0", "type": "order", "job": "fu", "form": "Q", "trigger": "t1",
        "patient": "amy", "patient_id": "10001", "k": 0,
        "due": "2026-03-09T07:00:00.000Z",  # T0 + 7 days
        "state": "planned", "test": False, "planned_at": "2026-03-02T07:00:00.000Z",
        "expiry_days": None, "reminder_days": None,
        "state_history": [{"state": "planned", "timestamp": "2026-03-02T07:00:00.000Z",
                           "due": "2026-03-09T07:00:00.000Z"}],
    }
    rev = stored["order:fu:t1:0"]["_rev"]

    # re-runs plan nothing new and write nothing: an unrelated edit, the same trigger saved again,
    # the bulk re-plan of the new job (first tick), a tick before the due date
    w.edit("t1", at=T0 + HOUR, note="called back")
    w.save(trigger("t1"), at=T0 + 2 * HOUR)
    w.tick(T0 + 3 * HOUR)
    w.tick(T0 + DAY)
    assert revs(w) == {"order:fu:t1:0": rev}
    assert w.states() == {"order:fu:t1:0": ("planned", "2026-03-09T07:00:00.000Z")}


def test_repeats_without_require_answer_are_planned_at_once(main, sentinel_db, make_runner):
    w = start(main, sentinel_db, make_runner, job(repeat=REPEAT_AT_ONCE))
    w.save(trigger("t1"), at=T0)
    assert w.states() == {
        "order:fu:t1:0": ("planned", "2026-03-09T07:00:00.000Z"),  # T0 + 7 d
        "order:fu:t1:1": ("planned", "2026-03-16T07:00:00.000Z"),  # T0 + 14 d
        "order:fu:t1:2": ("planned", "2026-03-23T07:00:00.000Z"),  # T0 + 21 d
    }


# --- require_answer -------------------------------------------------------------------------------
@pytest.mark.parametrize("answered_at, next_due", [
    pytest.param(T0 + 8 * DAY, "2026-03-16T07:00:00.000Z", id="on-time-answer-keeps-the-series-dates"),  # T0 + 14 d
    pytest.param(T0 + 20 * DAY, "2026-03-22T08:00:00.000Z", id="late-answer-plans-one-hour-after-it"),  # T0+20d+1h
])
def test_repeats_with_require_answer_wait_for_the_answer(main, sentinel_db, make_runner, answered_at, next_due):
    w = start(main, sentinel_db, make_runner, job(repeat=REPEAT_ON_ANSWER))
    w.save(trigger("t1"), at=T0)
    assert w.states() == {"order:fu:t1:0": ("planned", "2026-03-09T07:00:00.000Z")}

    w.tick(T0 + 7 * DAY)  # due: sent (Monday 10:00 in Nairobi, inside the send window)
    sent = w.order(oid("t1", 0))
    assert (sent["state"], sent["ordered_at"]) == ("ordered", "2026-03-09T07:00:00.000Z")
    assert [(t["type"], t["state"], t["messages"][0]["to"], t["messages"][0]["message"]) for t in sent["tasks"]] == [
        ("order", "pending", "+254711010001", "Amy, please answer questionnaire 1.")]
    assert w.states() == {"order:fu:t1:0": ("ordered", "2026-03-09T07:00:00.000Z")}  # k=1 waits for the answer

    reply = w.save(answer("a1", answered_at), at=answered_at)
    assert (reply["order_id"], reply["order_job"]) == ("order:fu:t1:0", "fu")
    first = w.order(oid("t1", 0))
    assert (first["state"], first["answer"], first["answered_at"]) == ("answered", "a1", iso(answered_at))
    assert w.states() == {
        "order:fu:t1:0": ("answered", "2026-03-09T07:00:00.000Z"),
        "order:fu:t1:1": ("planned", next_due),
    }


# --- the Y stop rule ------------------------------------------------------------------------------
def test_an_existing_answer_stops_a_new_trigger(main, sentinel_db, make_runner):
    w = start(main, sentinel_db, make_runner, job(stop_if_existing=1))
    w.save(answer("a0", T0 - 30 * DAY), at=T0 - 30 * DAY)  # AMY already answered Q once
    w.save(trigger("t1"), at=T0)
    w.save(trigger("t2", code="10002"), at=T0)  # BOB has no answer: planned
    assert w.states() == {"order:fu:t2:0": ("planned", "2026-03-09T07:00:00.000Z")}


@pytest.mark.parametrize("config, planned, cancelled_after_answer", [
    pytest.param(job(stop_if_existing=1), ["order:fu:t1:0"], ["order:fu:t1:0"], id="Y=1"),
    # with Y=2 only the two earliest of 3 are planned; one manual answer leaves room for one
    pytest.param(job(repeat=REPEAT_AT_ONCE, stop_if_existing=2), ["order:fu:t1:0", "order:fu:t1:1"],
                 ["order:fu:t1:1"], id="Y=2-of-3-repeats"),
])
def test_a_manual_answer_cancels_planned_orders_beyond_y(main, sentinel_db, make_runner, config, planned,
                                                           cancelled_after_answer):
    w = start(main, sentinel_db, make_runner, config)
    w.save(trigger("t1"), at=T0)
    assert sorted(w.orders()) == planned

    w.save(answer("a1", T0 + DAY), at=T0 + DAY)  # a Q report nobody ordered
    assert w.main.get("a1").get("order_id") is None  # no `ordered` order to link it to
    assert cancelled(w) == {i: ("sentinel", "stop_if_existing") for i in cancelled_after_answer}
    assert sorted(i for i, (state, _) in w.states().items() if state == "planned") == \
        sorted(set(planned) - set(cancelled_after_answer))


# --- the patient's state --------------------------------------------------------------------------
@pytest.mark.parametrize("changes, reason", [
    pytest.param({"date_of_death": "2026-03-10"}, "deceased", id="date_of_death"),
    pytest.param({"consent_withdrawn": True}, "consent_withdrawn", id="consent_withdrawn-true"),
    pytest.param({"consent_withdrawn": "2026-03-10"}, "consent_withdrawn", id="consent_withdrawn-date"),
])
def test_death_or_withdrawn_consent_cancels_planned_orders(main, sentinel_db, make_runner, changes, reason):
    w = start(main, sentinel_db, make_runner, job(repeat=REPEAT_AT_ONCE))
    w.save(trigger("t1"), at=T0)
    w.save(trigger("t2", code="10002"), at=T0)  # BOB: not affected
    w.tick(T0 + 7 * DAY)  # k=0 of both sent
    before = revs(w)

    w.edit("amy", at=T0 + 8 * DAY, **changes)
    assert cancelled(w) == {"order:fu:t1:1": ("sentinel", reason), "order:fu:t1:2": ("sentinel", reason)}
    after = revs(w)
    # the sent order and BOB's orders are untouched
    assert {i: r for i, r in after.items() if i not in cancelled(w)} == \
        {i: r for i, r in before.items() if i not in cancelled(w)}
    assert w.states()["order:fu:t1:0"] == ("ordered", "2026-03-09T07:00:00.000Z")
    # a later edit of the trigger does not bring them back
    w.edit("t1", at=T0 + 9 * DAY, note="x")
    assert revs(w) == after


# --- the trigger changes --------------------------------------------------------------------------
def test_a_trigger_edited_mid_series_moves_only_the_future_orders(main, sentinel_db, make_runner):
    w = start(main, sentinel_db, make_runner, job(anchor="fields.visit_date", repeat=REPEAT_AT_ONCE))
    w.save(trigger("t1", visit_date="2026-03-02"), at=T0)  # midnight in Nairobi = 2026-03-01T21:00Z
    assert w.states() == {
        "order:fu:t1:0": ("planned", "2026-03-08T21:00:00.000Z"),
        "order:fu:t1:1": ("planned", "2026-03-15T21:00:00.000Z"),
        "order:fu:t1:2": ("planned", "2026-03-22T21:00:00.000Z"),
    }
    w.tick(T0 + 7 * DAY)  # Monday 10:00 in Nairobi: k=0 (due Monday 00:00) sent
    sent = w.order(oid("t1", 0))
    assert sent["state"] == "ordered"

    w.edit("t1", at=T0 + 8 * DAY, fields={"patient_id": "10001", "visit_date": "2026-03-05"})
    assert w.order(oid("t1", 0)) == sent  # same rev, same state
    moved = w.orders()
    assert w.states() == {
        "order:fu:t1:0": ("ordered", "2026-03-08T21:00:00.000Z"),
        "order:fu:t1:1": ("planned", "2026-03-18T21:00:00.000Z"),  # 2026-03-05 + 14 d, Nairobi midnight
        "order:fu:t1:2": ("planned", "2026-03-25T21:00:00.000Z"),  # 2026-03-05 + 21 d
    }
    assert {moved[oid("t1", k)]["planned_at"] for k in (1, 2)} == {iso(T0 + 8 * DAY)}


def test_a_deleted_trigger_cancels_its_planned_orders(main, sentinel_db, make_runner):
    w = start(main, sentinel_db, make_runner, job(repeat=REPEAT_AT_ONCE))
    w.save(trigger("t1"), at=T0)
    w.tick(T0 + 7 * DAY)  # k=0 sent
    sent = w.order(oid("t1", 0))

    w.delete("t1", at=T0 + 8 * DAY)
    assert w.order(oid("t1", 0)) == sent
    assert cancelled(w) == {"order:fu:t1:1": ("sentinel", "trigger_gone"),
                            "order:fu:t1:2": ("sentinel", "trigger_gone")}


# --- the job's status -----------------------------------------------------------------------------
def test_a_stopped_job_cancels_and_a_late_restart_plans_one_order_per_subject(main, sentinel_db, make_runner):
    w = start(main, sentinel_db, make_runner, job(repeat=REPEAT_AT_ONCE))
    w.save(trigger("t1"), at=T0)
    w.save(trigger("t2", code="10002"), at=T0)
    w.tick(T0 + HOUR)  # the new job's bulk re-plan: nothing changes
    assert len(w.states()) == 6

    w.settings(settings(job(status="stopped", repeat=REPEAT_AT_ONCE)), at=T0 + DAY)
    w.tick(T0 + DAY)
    assert cancelled(w) == {oid(t, k): ("sentinel", "job_stopped") for t in ("t1", "t2") for k in range(3)}

    # restarted 10 weeks later: every period missed; only the last one is planned, at now + 1 h
    restart = T0 + 70 * DAY
    w.settings(settings(job(repeat=REPEAT_AT_ONCE)), at=restart)
    w.tick(restart)
    assert {i: s for i, s in w.states().items() if s[0] == "planned"} == {
        "order:fu:t1:2": ("planned", "2026-05-11T08:00:00.000Z"),  # T0 + 70 d + 1 h
        "order:fu:t2:2": ("planned", "2026-05-11T08:00:00.000Z"),
    }
    assert cancelled(w) == {oid(t, k): ("sentinel", "job_stopped") for t in ("t1", "t2") for k in range(2)}
    # the re-plan is done: a later tick before the new due date writes nothing
    settled = revs(w)
    w.tick(restart + HOUR / 2)
    assert revs(w) == settled


def test_a_test_job_plans_only_for_test_contacts(main, sentinel_db, make_runner):
    w = start(main, sentinel_db, make_runner, job(status="test"))
    w.save(trigger("t1"), at=T0)  # AMY
    w.save(trigger("t3", code="10003"), at=T0)  # TESSA, test: true
    stored = w.orders()
    assert list(stored) == ["order:fu:t3:0"]
    assert (stored["order:fu:t3:0"]["test"], stored["order:fu:t3:0"]["patient"]) == (True, "tessa")


def test_switching_to_test_mode_cancels_the_non_test_planned_orders(main, sentinel_db, make_runner):
    w = start(main, sentinel_db, make_runner, job())
    w.save(trigger("t1"), at=T0)
    w.save(trigger("t3", code="10003"), at=T0)
    w.tick(T0 + HOUR)
    assert {i: d["test"] for i, d in w.orders().items()} == {"order:fu:t1:0": False, "order:fu:t3:0": False}

    w.settings(settings(job(status="test")), at=T0 + DAY)
    assert cancelled(w) == {}  # the settings change alone re-plans nobody
    w.tick(T0 + DAY)
    assert cancelled(w) == {"order:fu:t1:0": ("sentinel", "test_mode")}
    tessa = w.order(oid("t3", 0))
    assert (tessa["state"], tessa["test"], tessa["due"]) == ("planned", True, "2026-03-09T07:00:00.000Z")

    # back to active: AMY's order (cancelled by Sentinel) is planned again, TESSA's is no test any more
    w.settings(settings(job()), at=T0 + 2 * DAY)
    w.tick(T0 + 2 * DAY)
    assert {i: (d["state"], d["test"], d["due"]) for i, d in w.orders().items()} == {
        "order:fu:t1:0": ("planned", False, "2026-03-09T07:00:00.000Z"),
        "order:fu:t3:0": ("planned", False, "2026-03-09T07:00:00.000Z"),
    }


# --- a user's cancellation ------------------------------------------------------------------------
def test_a_manual_cancellation_survives_re_planning(main, sentinel_db, make_runner):
    w = start(main, sentinel_db, make_runner, job(repeat=REPEAT_AT_ONCE))
    w.save(trigger("t1"), at=T0)
    doc = w.order(oid("t1", 1))
    doc.update(state="cancelled", cancelled_by="nurse", cancel_reason="patient asked")
    nurse = w.save(doc, at=T0 + HOUR)

    w.edit("t1", at=T0 + 2 * HOUR, note="edited")  # the transition re-plans the subject
    assert w.order(oid("t1", 1)) == nurse

    w.settings(settings(job(status="stopped", repeat=REPEAT_AT_ONCE)), at=T0 + DAY)
    w.tick(T0 + DAY)
    w.settings(settings(job(repeat=REPEAT_AT_ONCE)), at=T0 + 2 * DAY)
    w.tick(T0 + 2 * DAY)
    assert w.order(oid("t1", 1)) == nurse
    assert w.states() == {
        "order:fu:t1:0": ("planned", "2026-03-09T07:00:00.000Z"),  # revived at its own date
        "order:fu:t1:1": ("cancelled", "2026-03-16T07:00:00.000Z"),
        "order:fu:t1:2": ("planned", "2026-03-23T07:00:00.000Z"),
    }
    assert cancelled(w) == {"order:fu:t1:1": ("nurse", "patient asked")}


# --- a self-repeating job (trigger_form == order_form) --------------------------------------------
SELF = job(trigger_form="Q", order_form="Q")


def test_a_self_repeating_job_orders_the_next_one_from_each_answer(main, sentinel_db, make_runner):
    w = start(main, sentinel_db, make_runner, SELF)
    w.save(answer("q1", T0), at=T0)
    assert w.states() == {"order:fu:q1:0": ("planned", "2026-03-09T07:00:00.000Z")}

    # two rounds: sent on its due date, answered the next day, which plans the next one 7 days later
    for n, (sent_at, reply) in enumerate([(T0 + 7 * DAY, "q2"), (T0 + 15 * DAY, "q3")]):
        w.tick(sent_at)
        previous = "q1" if n == 0 else "q2"
        assert w.order(oid(previous, 0))["state"] == "ordered"
        linked = w.save(answer(reply, sent_at + DAY), at=sent_at + DAY)
        assert (linked["order_id"], linked["order_job"]) == (oid(previous, 0), "fu")
    assert w.states() == {
        "order:fu:q1:0": ("answered", "2026-03-09T07:00:00.000Z"),
        "order:fu:q2:0": ("answered", "2026-03-17T07:00:00.000Z"),  # q2 at T0 + 8 d, + 7 d
        "order:fu:q3:0": ("planned", "2026-03-25T07:00:00.000Z"),   # q3 at T0 + 16 d, + 7 d
    }


def test_a_self_repeating_job_stops_at_y(main, sentinel_db, make_runner):
    w = start(main, sentinel_db, make_runner, {**SELF, "stop_if_existing": 2})
    w.save(answer("q1", T0), at=T0)  # 1 Q report: one more allowed
    assert w.states() == {"order:fu:q1:0": ("planned", "2026-03-09T07:00:00.000Z")}
    w.tick(T0 + 7 * DAY)
    w.save(answer("q2", T0 + 8 * DAY), at=T0 + 8 * DAY)  # the 2nd Q report answers it: Y reached
    assert w.states() == {"order:fu:q1:0": ("answered", "2026-03-09T07:00:00.000Z")}


def test_repeat_on_a_self_repeating_job_is_refused():
    with pytest.raises(ConfigError) as raised:
        build(settings({**SELF, "repeat": {"enabled": True, "max_repeats": 2}}))
    assert any("order_jobs[0].repeat" in p for p in raised.value.problems), raised.value.problems
    build(settings(SELF))  # without repeat it is accepted


# --- the one-hour rule ----------------------------------------------------------------------------
@pytest.mark.parametrize("repeat, expected", [
    pytest.param(None, {"order:fu:t1:0": ("planned", "2026-03-02T08:00:00.000Z")}, id="one-order"),
    # all three periods are past: only the last is planned (missed periods), at now + 1 h
    pytest.param(REPEAT_AT_ONCE, {"order:fu:t1:2": ("planned", "2026-03-02T08:00:00.000Z")}, id="missed-repeats"),
])
def test_an_anchor_far_in_the_past_plans_one_hour_from_now(main, sentinel_db, make_runner, repeat, expected):
    w = start(main, sentinel_db, make_runner, job(anchor="fields.visit_date", repeat=repeat))
    w.save(trigger("t1", visit_date="2025-06-01"), at=T0)  # natural due dates in June 2025
    assert w.states() == expected  # T0 + 1 h, not in the past
    assert {d["planned_at"] for d in w.orders().values()} == {"2026-03-02T07:00:00.000Z"}
