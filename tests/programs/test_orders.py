"""sentinel/orders.py: order job configuration and per-subject planning (issue 6, reference §2). Pure."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from sentinel.core.expressions import Expressions
from sentinel.programs.orders import (
    OrderJobError,
    order_id,
    order_jobs_problems,
    parse_order_job,
    plan_subject,
)

UTC = timezone.utc
T0 = "2024-01-01T10:00:00.000Z"          # trigger reported
NOW = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
EXPR = Expressions()


def job(**over: Any) -> dict:
    raw = {"id": "fu", "status": "active", "trigger_form": "T", "order_form": "O", "delay_days": 10,
           "translation_key": "order.msg"}
    raw.update(over)
    return raw


def trig(tid: str = "r1", reported: str = T0, **fields: Any) -> dict:
    return {"_id": tid, "form": "T", "reported_date": reported, "patient_id": "p1", "fields": fields}


def order(k: int, state: str, due: str, trigger: str = "r1", job_id: str = "fu", **extra: Any) -> dict:
    doc = {"_id": order_id(job_id, trigger, k), "_rev": "1-a", "type": "order", "job": job_id, "form": "O",
           "trigger": trigger, "patient": "p1", "k": k, "due": due, "state": state, "test": False,
           "planned_at": "2024-01-01T12:00:00.000Z", "state_history": []}
    doc.update(extra)
    return doc


def plan(raw: dict | None = None, triggers=None, answers=(), orders=(), patient=None, now=NOW):
    return plan_subject(parse_order_job(raw or job()), [trig()] if triggers is None else triggers, list(answers),
                        list(orders), {"_id": "p1", "patient_id": "p1"} if patient is None else patient, now, EXPR)


def summary(diff) -> dict:
    return {
        "create": [(d["k"], d["due"]) for d in diff.create],
        "move": [(d["k"], d["due"]) for d in diff.move],
        "revive": [(d["k"], d["due"]) for d in diff.revive],
        "cancel": [(d["k"], d["cancel_reason"]) for d in diff.cancel],
    }


def expect(create=(), move=(), revive=(), cancel=()) -> dict:
    return {"create": list(create), "move": list(move), "revive": list(revive), "cancel": list(cancel)}


# --- configuration ---------------------------------------------------------------------------------

@pytest.mark.parametrize("over, fragment", [
    pytest.param({"status": "draft"}, "settings.order_jobs[0].status: must be one of", id="unknown_status_refused"),
    pytest.param({"trigger_form": ""}, "settings.order_jobs[0].trigger_form", id="trigger_form_required"),
    pytest.param({"delay_days": -1}, "settings.order_jobs[0].delay_days", id="negative_delay_refused"),
    pytest.param({"created_after": "soon"}, "settings.order_jobs[0].created_after", id="bad_created_after_refused"),
    pytest.param({"order_form": "T", "repeat": {"enabled": True, "max_repeats": 2}},
                 "settings.order_jobs[0].repeat: not allowed when order_form == trigger_form", id="self_repeating_job_refuses_repeat"),
    pytest.param({"repeat": {"enabled": True, "max_repeats": 31}}, "repeat.max_repeats", id="max_repeats_above_30_refused"),
    pytest.param({"repeat": {"enabled": True, "max_repeats": 2}, "delay_days": 0}, "at least 1 with repeats", id="zero_delay_with_repeats_refused"),
    pytest.param({"stop_if_existing": 0}, "stop_if_existing", id="zero_y_refused"),
    pytest.param({"translation_key": None}, "needs translation_key or message", id="message_required"),
    pytest.param({"message": "hi"}, "either translation_key or message", id="both_messages_refused"),
    pytest.param({"anchor": "fields..x"}, "anchor", id="bad_anchor_path_refused"),
    pytest.param({"expiry_days": 3, "reminder_days": 3}, "reminder_days: must be less than expiry_days", id="reminder_after_expiry_refused"),
])
def test_settings_check_reports_problem_with_path(over, fragment):
    problems = order_jobs_problems({"order_jobs": [job(**over)]})
    assert any(fragment in p for p in problems), problems


def test_valid_job_has_no_problems():
    assert order_jobs_problems({"order_jobs": [job(), job(id="b", repeat={"enabled": True, "max_repeats": 3})]}) == []


def test_duplicate_job_id_refused():
    assert any("duplicate job id" in p for p in order_jobs_problems({"order_jobs": [job(), job()]}))


@pytest.mark.parametrize("change", [
    pytest.param({"trigger_form": "T2"}, id="trigger_form_change_refused"),
    pytest.param({"order_form": "O2"}, id="order_form_change_refused"),
])
def test_forms_of_existing_job_cannot_change(change):
    problems = order_jobs_problems({"order_jobs": [job(**change)]}, {"order_jobs": [job()]})
    assert any("trigger_form and order_form of an existing job cannot change" in p for p in problems), problems


def test_other_changes_of_existing_job_are_allowed():
    assert order_jobs_problems({"order_jobs": [job(delay_days=5, status="stopped")]}, {"order_jobs": [job()]}) == []


def test_condition_syntax_checked_with_expressions():
    problems = order_jobs_problems({"order_jobs": [job(condition="doc.fields.(")]}, expressions=EXPR)
    assert any(p.startswith("settings.order_jobs[0].condition") for p in problems)


@pytest.mark.parametrize("over, y, max_orders", [
    pytest.param({}, 1, 1, id="default_y_is_1"),
    pytest.param({"repeat": {"enabled": True, "max_repeats": 3}}, 4, 4, id="default_y_with_repeats_is_z_plus_1"),
    pytest.param({"order_form": "T"}, None, 1, id="self_repeating_has_no_default_y"),
    pytest.param({"stop_if_existing": 2}, 2, 1, id="explicit_y_kept"),
])
def test_defaults(over, y, max_orders):
    parsed = parse_order_job(job(**over))
    assert (parsed.stop_if_existing, parsed.max_orders, parsed.require_answer) == (y, max_orders, True)


def test_parse_raises_with_all_problems():
    with pytest.raises(OrderJobError) as err:
        parse_order_job({"id": "x"})
    assert len(err.value.problems) >= 4


# --- planning --------------------------------------------------------------------------------------
REP = {"repeat": {"enabled": True, "max_repeats": 2}}
REP_FREE = {"repeat": {"enabled": True, "max_repeats": 2, "require_answer": False}}
D0, D1, D2 = "2024-01-11T10:00:00.000Z", "2024-01-21T10:00:00.000Z", "2024-01-31T10:00:00.000Z"


@pytest.mark.parametrize("over, kwargs, expected", [
    pytest.param({}, {}, expect(create=[(0, D0)]), id="single_order_due_delay_after_anchor"),
    pytest.param({"anchor": "fields.visit"}, {"triggers": [trig(visit="2024-02-01T00:00:00Z")]},
                 expect(create=[(0, "2024-02-11T00:00:00.000Z")]), id="anchor_from_date_path"),
    pytest.param({"anchor": "fields.visit"}, {"triggers": [trig()]}, expect(), id="missing_anchor_plans_nothing"),
    pytest.param(REP, {}, expect(create=[(0, D0)]), id="require_answer_plans_only_first"),
    pytest.param(REP_FREE, {}, expect(create=[(0, D0), (1, D1), (2, D2)]), id="without_require_answer_plans_whole_series"),
    pytest.param(REP, {"orders": [order(0, "answered", D0)], "answers": [{}], "now": datetime(2024, 1, 12, tzinfo=UTC)},
                 expect(create=[(1, D1)]), id="answer_lets_next_order_be_planned_series_anchored"),
    pytest.param(REP, {"orders": [order(0, "answered", D0)], "answers": [{}], "now": datetime(2024, 1, 25, tzinfo=UTC)},
                 expect(create=[(1, "2024-01-25T01:00:00.000Z")]), id="late_answer_next_order_not_sooner_than_one_hour"),
    pytest.param(REP, {"orders": [order(0, "ordered", D0)], "now": datetime(2024, 1, 12, tzinfo=UTC)},
                 expect(), id="require_answer_waits_for_answer"),
    pytest.param(REP, {"orders": [order(0, "expired", D0)], "now": datetime(2024, 1, 30, tzinfo=UTC)},
                 expect(), id="expired_order_ends_require_answer_series"),
    pytest.param(REP, {"orders": [order(0, "answered", D0), order(1, "answered", D1), order(2, "answered", D2)],
                       "answers": [{}, {}, {}]}, expect(), id="max_reached_nothing_more"),
    pytest.param({"repeat": {"enabled": True, "max_repeats": 1}}, {"orders": [order(0, "answered", D0), order(2, "planned", D2)],
                  "answers": [{}]}, expect(create=[(1, D1)], cancel=[(2, "max_reached")]), id="lowered_max_cancels_planned_beyond_it"),
    pytest.param({}, {"orders": [order(0, "planned", D0)]}, expect(), id="replan_is_idempotent"),
    pytest.param({}, {"triggers": [trig(reported="2024-01-05T10:00:00.000Z")], "orders": [order(0, "planned", D0)]},
                 expect(move=[(0, "2024-01-15T10:00:00.000Z")]), id="edited_anchor_moves_planned_order"),
    pytest.param({}, {"triggers": [], "orders": [order(0, "planned", D0)]}, expect(cancel=[(0, "trigger_gone")]), id="deleted_trigger_cancels_planned"),
    pytest.param({"condition": "doc.fields.wants === 'yes'"}, {"triggers": [trig(wants="no")], "orders": [order(0, "planned", D0)]},
                 expect(cancel=[(0, "trigger_not_matching")]), id="js_condition_no_longer_matching_cancels"),
    pytest.param({"condition": {"==": [{"var": "doc.fields.wants"}, "yes"]}}, {"triggers": [trig(wants="yes")]},
                 expect(create=[(0, D0)]), id="jsonlogic_condition_matching_plans"),
    pytest.param({"created_after": "2024-01-02"}, {}, expect(), id="trigger_before_created_after_ignored"),
    pytest.param({"created_after": "2024-01-01"}, {}, expect(create=[(0, D0)]), id="created_after_is_inclusive"),
    pytest.param({}, {"orders": [order(0, "ordered", D0)], "triggers": [trig(reported="2024-01-05T10:00:00.000Z")]},
                 expect(), id="sent_order_never_touched_by_edit"),
    pytest.param({}, {"orders": [order(0, "cancelled", D0, cancelled_by="ann")]}, expect(), id="user_cancellation_survives_replan"),
    pytest.param({}, {"orders": [order(0, "cancelled", D0, cancelled_by="sentinel")]},
                 expect(revive=[(0, D0)]), id="sentinel_cancellation_is_revived_when_applying_again"),
    pytest.param({}, {"answers": [{"_id": "manual"}]}, expect(), id="y_rule_existing_answer_stops"),
    pytest.param({}, {"orders": [order(0, "planned", D0)], "answers": [{"_id": "manual"}]},
                 expect(cancel=[(0, "stop_if_existing")]), id="y_rule_cancels_planned_after_manual_answer"),
    pytest.param({}, {"orders": [order(0, "ordered", "2024-01-02T00:00:00.000Z", trigger="x", job_id="other")]},
                 expect(), id="y_rule_counts_active_orders_of_other_jobs"),
    pytest.param({}, {"triggers": [trig("r1"), trig("r2", "2024-01-01T11:00:00.000Z")]}, expect(create=[(0, D0)]),
                 id="y_rule_one_order_for_two_triggers"),
    pytest.param({"status": "stopped"}, {"orders": [order(0, "planned", D0), order(1, "ordered", D1)]},
                 expect(cancel=[(0, "job_stopped")]), id="stopped_job_cancels_planned_only"),
    pytest.param({}, {"patient": {"_id": "p1", "date_of_death": "2024-01-01"}, "orders": [order(0, "planned", D0)]},
                 expect(cancel=[(0, "deceased")]), id="death_cancels_planned"),
    pytest.param({}, {"patient": {"_id": "p1", "consent_withdrawn": True}, "orders": [order(0, "planned", D0)]},
                 expect(cancel=[(0, "consent_withdrawn")]), id="consent_withdrawn_true_cancels"),
    pytest.param({}, {"patient": {"_id": "p1", "consent_withdrawn": "2024-01-01"}}, expect(), id="consent_withdrawn_date_plans_nothing"),
    pytest.param({}, {"patient": {"_id": "p1", "consent_withdrawn": False}}, expect(create=[(0, D0)]), id="consent_false_is_not_withdrawn"),
    pytest.param({}, {"now": datetime(2024, 1, 11, 9, 30, tzinfo=UTC)}, expect(create=[(0, "2024-01-11T10:30:00.000Z")]),
                 id="one_hour_rule_clamps_due"),
    pytest.param({}, {"orders": [order(0, "planned", D0, planned_at="2024-01-01T12:00:00.000Z")],
                      "now": datetime(2024, 1, 11, 10, 30, tzinfo=UTC)}, expect(), id="overdue_planned_order_not_pushed_back"),
    pytest.param(REP_FREE, {"orders": [order(0, "cancelled", D0, cancelled_by="sentinel"), order(1, "cancelled", D1, cancelled_by="sentinel"),
                                       order(2, "cancelled", D2, cancelled_by="sentinel")],
                            "now": datetime(2024, 2, 15, tzinfo=UTC)},
                 expect(revive=[(2, "2024-02-15T01:00:00.000Z")]), id="restart_after_missed_periods_one_order"),
    pytest.param(REP_FREE, {"now": datetime(2024, 1, 25, tzinfo=UTC)},
                 expect(create=[(1, "2024-01-25T01:00:00.000Z"), (2, D2)]), id="missed_periods_skipped_future_kept"),
    pytest.param(REP_FREE, {"orders": [order(2, "planned", "2024-02-15T01:00:00.000Z", planned_at="2024-02-15T00:00:00.000Z")],
                            "now": datetime(2024, 2, 16, tzinfo=UTC)}, expect(), id="missed_periods_stay_skipped_on_replan"),
    pytest.param(REP, {"orders": [order(0, "ordered", D0), order(1, "planned", D1)]}, expect(cancel=[(1, "waiting_for_answer")]),
                 id="require_answer_cancels_planned_beyond_unanswered"),
])
def test_plan_subject(over, kwargs, expected):
    assert summary(plan(job(**over), **kwargs)) == expected


def test_created_order_document_shape():
    (doc,) = plan().create
    assert doc == {
        "_id": "order:fu:r1:0", "type": "order", "job": "fu", "form": "O", "trigger": "r1", "patient": "p1", "patient_id": "p1", "k": 0,
        "due": D0, "state": "planned", "test": False, "planned_at": "2024-01-01T12:00:00.000Z", "expiry_days": None,
        "reminder_days": None, "state_history": [{"state": "planned", "timestamp": "2024-01-01T12:00:00.000Z", "due": D0}],
    }


def test_cancelled_document_records_who_and_why():
    (doc,) = plan(job(status="stopped"), orders=[order(0, "planned", D0)]).cancel
    assert (doc["state"], doc["cancelled_by"], doc["cancel_reason"], doc["_rev"]) == ("cancelled", "sentinel", "job_stopped", "1-a")
    assert doc["state_history"][-1]["state"] == "cancelled"


@pytest.mark.parametrize("patient, orders, expected", [
    pytest.param({"_id": "p1", "test": True}, [], expect(create=[(0, D0)]), id="test_mode_plans_for_test_contact"),
    pytest.param({"_id": "p1"}, [], expect(), id="test_mode_skips_real_contact"),
    pytest.param({"_id": "p1"}, [order(0, "planned", D0)], expect(cancel=[(0, "test_mode")]), id="test_mode_cancels_non_test_planned"),
    pytest.param({"_id": "p1", "test": True}, [order(0, "planned", D0)], expect(move=[(0, D0)]), id="test_mode_flips_test_contacts_order"),
])
def test_test_mode(patient, orders, expected):
    diff = plan(job(status="test"), patient=patient, orders=orders)
    assert summary(diff) == expected
    assert all(d["test"] is True for d in diff.create + diff.move)


def test_self_repeating_job_plans_from_each_answer_until_y():
    raw = job(order_form="T", stop_if_existing=3)
    r1, r2 = trig("r1"), trig("r2", "2024-01-11T10:00:00.000Z")
    answered = [order(0, "answered", D0, form="T")]
    diff = plan(raw, triggers=[r1, r2], answers=[r1, r2], orders=answered, now=datetime(2024, 1, 11, 11, tzinfo=UTC))
    assert [d["_id"] for d in diff.create] == ["order:fu:r2:0"]
    r3 = trig("r3", "2024-01-21T10:00:00.000Z")
    diff = plan(raw, triggers=[r1, r2, r3], answers=[r1, r2, r3], orders=answered + [order(0, "answered", D1, trigger="r2", form="T")])
    assert diff.empty
