"""update_scheduled_reports: a weekly/monthly report replaces the same place's earlier ones for that
period (spec 2.6); the latest by reported_date is kept."""
from __future__ import annotations

import pytest

from ..support import CHW, NOW, drain, report

SETTINGS = {"transitions": {"update_scheduled_reports": True}}
CONTACT = {"_id": CHW["_id"], "parent": CHW["parent"]}


def period_report(doc_id: str, reported: int, **fields) -> dict:
    return report(doc_id, form="W", reported_date=reported, contact=CONTACT, fields={"year": 2024, **fields})


@pytest.mark.parametrize(
    "period",
    [
        pytest.param({"week": 5}, id="week"),
        pytest.param({"week_number": 5}, id="week_number"),
        pytest.param({"month": 3}, id="month"),
        pytest.param({"month_num": 3}, id="month_num"),
    ],
)
def test_the_latest_report_of_a_period_replaces_the_earlier_ones(main, hierarchy, make_runner, period):
    main.bulk_docs([period_report("old1", 1000, **period), period_report("old2", 2000, **period)])
    runner = make_runner(SETTINGS, clock=lambda: NOW)
    drain(runner)
    main.put(period_report("new", 3000, **period))
    drain(runner)
    assert main.get("new") is not None
    assert main.get("old1") is None and main.get("old2") is None


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(period_report("x", 1000, week=6), id="another week"),
        pytest.param(period_report("x", 1000, week=5) | {"form": "Z"}, id="another form"),
        pytest.param(period_report("x", 1000, week=5) | {"contact": {"_id": "hc-person", "parent": {"_id": "health_center"}}}, id="another place"),
        pytest.param(period_report("x", 1000, week=5) | {"fields": {"year": 2023, "week": 5}}, id="another year"),
    ],
)
def test_other_reports_are_kept(main, hierarchy, make_runner, other):
    main.put(other)
    runner = make_runner(SETTINGS, clock=lambda: NOW)
    main.put(period_report("new", 3000, week=5))
    drain(runner)
    assert main.get("x") is not None and main.get("new") is not None


def test_an_older_report_arriving_late_removes_itself_not_the_newer_one(main, hierarchy, make_runner):
    main.put(period_report("newer", 5000, week=5))
    runner = make_runner(SETTINGS, clock=lambda: NOW)
    drain(runner)
    main.put(period_report("late", 1000, week=5))
    drain(runner)
    assert main.get("newer") is not None and main.get("late") is None


def test_a_place_that_is_not_a_leaf_type_is_left_alone(main, hierarchy, make_runner):
    at_hc = {"_id": "hc-person", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}
    main.put(period_report("old", 1000, week=5) | {"contact": at_hc})
    runner = make_runner(SETTINGS, clock=lambda: NOW)
    main.put(period_report("new", 3000, week=5) | {"contact": at_hc})
    drain(runner)
    assert main.get("old") is not None
