"""sentinel/milestones.py: MOTECH schedule-tracking arithmetic (issue 5) as pure logic.

Pure: no database. Times are written as local wall-clock strings in the test's zone ("2050-05-15T08:20"),
so window boundaries, preferred times and floating shifts read as in MOTECH's tests. Cases marked
"MOTECH #n" reproduce the worked examples of §1.5 of the reference (schedules-orders-reminders.md).
"""
from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sentinel.programs.milestones import (
    ZERO,
    Period,
    ScheduleError,
    alert_times,
    between,
    current_window,
    default_time,
    defaulted,
    find_schedule,
    message_config,
    milestone_start,
    milestone_windows,
    next_milestone,
    parse_preferred_time,
    parse_schedule,
    parse_time_value,
    plus,
    possible_alert_times,
    schedule_problems,
)

UTC = ZoneInfo("UTC")


def at(text: str, tz: ZoneInfo = UTC) -> datetime:
    """A wall-clock time in `tz` ("2050-05-15" is midnight)."""
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def local(moment: datetime, tz: ZoneInfo = UTC) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%dT%H:%M")


# --- fixtures: MOTECH's own schedule files -------------------------------------------------------
# S1: schedulingIT/schedule.json
S1 = {
    "name": "schedule",
    "milestones": [
        {"name": "milestone1",
         "scheduleWindows": {"earliest": ["5 days"], "due": ["10 days"], "late": ["15 days"], "max": ["20 days"]},
         "data": {"Foo": "Bar"},
         "alerts": [{"window": "due", "offset": ["0 days"], "interval": ["1 Day"], "count": "5"}]},
        {"name": "milestone2",
         "scheduleWindows": {"earliest": ["1 Weeks"], "due": ["2 Weeks"], "late": ["3 Weeks"], "max": ["4 weeks"]},
         "alerts": [{"window": "earliest", "offset": ["0 days"], "interval": ["1 Day"], "count": "3"}]},
    ],
}

# SF: schedule_with_floating_alerts.json
SF = {
    "name": "floating",
    "milestones": [
        {"name": "milestone1",
         "scheduleWindows": {"earliest": ["1 Weeks"], "due": ["2 Weeks"], "late": ["3 Weeks"], "max": ["4 weeks"]},
         "alerts": [{"window": "due", "offset": ["0 days"], "interval": ["1 Day"], "count": "4", "floating": "true"}]},
        {"name": "milestone2",
         "scheduleWindows": {"earliest": ["1 Weeks"], "due": ["2 Weeks"], "late": ["3 Weeks"], "max": ["4 weeks"]},
         "alerts": [{"window": "earliest", "offset": ["0 days"], "interval": ["1 Day"], "count": "3", "floating": "true"}]},
    ],
}

# The pre-2012 IPTI schedule (motech/motech simple-schedule.json), the one in the user's description.
IPTI_2011 = {
    "name": "IPTI Schedule",
    "totalDuration": "52 Weeks",
    "milestones": [
        {"name": "IPTI 1", "referenceDate": "IPTI Schedule",
         "scheduleWindows": {"earliest": "13 Weeks", "due": "14 Weeks", "late": "16 Weeks", "max": ""},
         "data": {"Foo": "Bar"},
         "alerts": [
             {"window": "Late", "startOffset": "0 Days", "interval": "1 Day", "count": "7"},
             {"window": "Late", "startOffset": "1 Week", "interval": "1 Week", "count": "51"},
         ]},
        {"name": "IPTI 2", "referenceDate": "IPTI 1",
         "scheduleWindows": {"earliest": "1 Weeks", "due": "2 Weeks", "late": "3 Weeks", "max": ""},
         "data": {"doo": "Bar"}},
    ],
}

# Modelled on the current IPTI sample (schedules/simple-schedule.json): list-valued, summed time values.
IPTI_LISTS = {
    "name": "IPTI lists",
    "milestones": [
        {"name": "IPTI 1",
         "scheduleWindows": {"earliest": ["13 Weeks"], "due": ["14 Weeks", "2 hours"],
                             "late": ["1 year", "2 month", "16 Weeks"], "max": ["", "", "", ""]},
         "alerts": [
             {"window": "due", "offset": ["0 days"], "interval": ["1 Day"], "count": "7"},
             {"window": "late", "offset": ["1 Week", "4 hours"], "interval": ["1 Week"], "count": "51"},
         ]},
    ],
}

# MOTECH ScheduleFactoryTest.shouldCreateAbsoluteSchedule
ABSOLUTE = {
    "name": "absolute",
    "absolute": True,
    "milestones": [
        {"name": "m1", "scheduleWindows": {"earliest": ["1 weeks"], "due": ["2 weeks"], "late": ["3 weeks"], "max": [""]}},
        {"name": "m2", "scheduleWindows": {"earliest": ["5 weeks"], "due": ["6 weeks"], "late": ["7 weeks"], "max": ["8 weeks"]},
         "alerts": [
             {"window": "due", "offset": ["5 weeks"], "interval": ["1 day"], "count": 3},
             {"window": "late", "offset": ["6 weeks", "3 days"], "interval": ["1 day"], "count": 1},
         ]},
    ],
}


def schedule_with(alert: dict[str, Any] | None = None, windows: dict[str, Any] | None = None, **extra: Any):
    """A one-milestone relative schedule (S1's milestone1 windows by default) with one alert."""
    milestone = {"name": "m", "scheduleWindows": windows or {"earliest": "5 days", "due": "10 days", "late": "15 days", "max": "20 days"},
                 "alerts": [alert] if alert else []}
    return parse_schedule({"name": "one", "milestones": [milestone], **extra})


def plan(schedule, *, reference: str, now: str, enrolled: str | None = None, preferred: str | None = None,
         milestone: int = 0, fulfilled: str | None = None, tz: ZoneInfo = UTC):
    """MOTECH's scheduling of the current milestone's alerts, at `now` (enrolled at `now` by default)."""
    enrolled_on = at(enrolled or now, tz)
    start = milestone_start(schedule, milestone, at(reference, tz), enrolled_on, at(fulfilled, tz) if fulfilled else None, tz)
    return alert_times(schedule, milestone, start, enrolled_on, at(now, tz), preferred, tz)


def dues(alerts, tz: ZoneInfo = UTC) -> list[str]:
    return [local(a.due, tz) + ("!" if a.immediate else "") for a in alerts]


# --- alert times: the table ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "config, kwargs, expected",
    [
        pytest.param(S1, dict(reference="2050-05-10", enrolled="2050-05-10", now="2050-05-01", preferred="08:20"),
                     ["2050-05-15T08:20", "2050-05-16T08:20", "2050-05-17T08:20", "2050-05-18T08:20", "2050-05-19T08:20"],
                     id="motech_1_preferred_time_replaces_time_of_day"),
        pytest.param(S1, dict(reference="2050-05-10T08:20", enrolled="2050-05-10", now="2050-05-01"),
                     ["2050-05-15T08:20", "2050-05-16T08:20", "2050-05-17T08:20", "2050-05-18T08:20", "2050-05-19T08:20"],
                     id="motech_5_without_preferred_time_alerts_at_reference_time"),
        pytest.param(S1, dict(reference="2050-05-10", now="2050-05-20T09:00", preferred="10:00", milestone=1,
                              fulfilled="2050-05-20T09:00"),
                     ["2050-05-20T10:00", "2050-05-21T10:00", "2050-05-22T10:00"],
                     id="motech_4_next_milestone_counts_from_fulfilment"),
        pytest.param(SF, dict(reference="2050-05-02T11:00", now="2050-05-10T10:00", preferred="09:00"),
                     ["2050-05-11T09:00", "2050-05-12T09:00", "2050-05-13T09:00", "2050-05-14T09:00"],
                     id="motech_8_floating_delayed_enrolment_with_preferred_time_past_today_starts_tomorrow"),
        pytest.param(SF, dict(reference="2050-05-02T11:00", now="2050-05-10T08:00", preferred="09:00"),
                     ["2050-05-10T09:00", "2050-05-11T09:00", "2050-05-12T09:00", "2050-05-13T09:00"],
                     id="floating_delayed_enrolment_with_preferred_time_still_ahead_today_starts_today"),
        pytest.param(SF, dict(reference="2050-05-02T11:00", now="2050-05-10T15:00"),
                     ["2050-05-10T15:00!", "2050-05-11T11:00", "2050-05-12T11:00", "2050-05-13T11:00"],
                     id="floating_without_preferred_time_fires_todays_alert_immediately"),
        pytest.param(SF, dict(reference="2050-05-02T11:00", now="2050-05-10T08:00"),
                     ["2050-05-10T11:00", "2050-05-11T11:00", "2050-05-12T11:00", "2050-05-13T11:00"],
                     id="floating_without_preferred_time_before_time_of_day_keeps_todays_alert"),
        pytest.param(SF, dict(reference="2050-05-02T11:00", now="2050-05-14T12:00"),
                     ["2050-05-14T12:00!", "2050-05-15T11:00"],
                     id="floating_series_is_still_cut_by_the_window_end"),
        pytest.param(SF, dict(reference="2050-05-02T11:00", now="2050-05-03"),
                     ["2050-05-09T11:00", "2050-05-10T11:00", "2050-05-11T11:00", "2050-05-12T11:00"],
                     id="floating_alert_not_delayed_is_not_moved"),
        pytest.param(S1, dict(reference="2050-05-10", now="2050-05-17T12:00"),
                     ["2050-05-18T00:00", "2050-05-19T00:00"],
                     id="delayed_enrolment_drops_alerts_before_now"),
        pytest.param(S1, dict(reference="2050-05-10", now="2050-05-17T08:00", preferred="09:00"),
                     ["2050-05-17T09:00", "2050-05-18T09:00", "2050-05-19T09:00"],
                     id="preferred_time_after_now_keeps_todays_alert"),
        pytest.param(S1, dict(reference="2050-05-10", now="2050-05-17T10:00", preferred="09:00"),
                     ["2050-05-18T09:00", "2050-05-19T09:00"],
                     id="preferred_time_before_now_drops_todays_alert"),
        pytest.param(S1, dict(reference="2050-05-10", now="2050-05-01", enrolled="2050-05-17T06:00"),
                     ["2050-05-18T00:00", "2050-05-19T00:00"],
                     id="no_alert_before_enrolment_even_when_now_is_earlier"),
        pytest.param(S1, dict(reference="2050-05-10", now="2050-05-21T12:00", milestone=1, fulfilled="2050-05-20T09:00",
                              preferred="10:00"),
                     ["2050-05-22T10:00"],
                     id="fulfilment_before_now_counts_from_fulfilment_and_drops_past_alerts"),
        pytest.param(S1, dict(reference="2050-05-10", now="2050-05-20"), [],
                     id="elapsed_window_raises_no_alerts"),
        pytest.param(S1, dict(reference="2050-05-10", now="2050-05-30T00:00"), [],
                     id="defaulted_milestone_raises_no_alerts"),
        pytest.param(S1, dict(reference="2050-05-12", now="2050-05-01", milestone=1),
                     ["2050-05-01T00:00", "2050-05-02T00:00", "2050-05-03T00:00"],
                     id="enrolled_directly_into_later_milestone_counts_from_enrolment"),
        pytest.param(ABSOLUTE, dict(reference="2050-01-01", now="2050-01-01", milestone=1),
                     ["2050-02-05T00:00", "2050-02-06T00:00", "2050-02-07T00:00", "2050-02-15T00:00"],
                     id="absolute_schedule_offsets_count_from_schedule_start"),
        pytest.param(ABSOLUTE, dict(reference="2050-01-01", now="2050-01-01", milestone=1, fulfilled="2050-01-02"),
                     ["2050-02-05T00:00", "2050-02-06T00:00", "2050-02-07T00:00", "2050-02-15T00:00"],
                     id="absolute_schedule_ignores_fulfilment_dates"),
    ],
)
def test_alert_times(config, kwargs, expected):
    assert dues(plan(parse_schedule(config), **kwargs)) == expected


@pytest.mark.parametrize(
    "alert, kwargs, expected",
    [
        pytest.param({"window": "due", "offset": "0 days", "interval": "1 day", "count": "10"},
                     dict(reference="2050-05-10", now="2050-05-01"),
                     ["2050-05-15T00:00", "2050-05-16T00:00", "2050-05-17T00:00", "2050-05-18T00:00", "2050-05-19T00:00"],
                     id="count_truncated_by_the_window_end"),
        pytest.param({"window": "due", "offset": "0 days", "interval": "1 day", "count": "2"},
                     dict(reference="2050-05-10T09:00", now="2050-05-01", preferred="08:20"),
                     ["2050-05-15T08:20", "2050-05-16T08:20"],
                     id="preferred_time_may_fall_before_the_window_opens_that_day"),
        pytest.param({"window": "due", "offset": "-2 days", "interval": "1 day", "count": "3"},
                     dict(reference="2050-05-10", now="2050-05-01"),
                     ["2050-05-13T00:00", "2050-05-14T00:00", "2050-05-15T00:00"],
                     id="negative_offset_starts_before_the_window"),
        pytest.param({"window": "due", "offset": ["1 day", "-6 hours"], "interval": "12 hours", "count": "2"},
                     dict(reference="2050-05-10", now="2050-05-01"),
                     ["2050-05-15T18:00", "2050-05-16T06:00"],
                     id="list_offset_with_negative_item_is_summed"),
        pytest.param({"window": "DUE", "offset": "0 days", "interval": "1 day", "count": "1"},
                     dict(reference="2050-05-10", now="2050-05-01"),
                     ["2050-05-15T00:00"],
                     id="window_names_are_case_insensitive"),
        pytest.param({"window": "due", "offset": "0 days", "interval": "1 day", "count": "0"},
                     dict(reference="2050-05-10", now="2050-05-01"), [],
                     id="count_zero_raises_nothing"),
        pytest.param({"window": "due", "offset": "0 days", "interval": "1 hour", "count": "6", "floating": True},
                     dict(reference="2050-05-07T08:00", now="2050-05-15T10:30"),
                     ["2050-05-15T10:30!", "2050-05-15T11:00", "2050-05-15T12:00", "2050-05-15T13:00"],
                     id="several_past_floating_timings_give_one_immediate_alert"),
        pytest.param({"window": "due", "offset": "0 days", "interval": "1 day", "count": "5"},
                     dict(reference="2050-05-10", now="2050-05-01", total="16 days"),
                     ["2050-05-15T00:00", "2050-05-16T00:00"],
                     id="total_duration_stops_alerts_after_that_long_from_enrolment"),
    ],
)
def test_alert_series(alert, kwargs, expected):
    extra = {"totalDuration": kwargs.pop("total")} if "total" in kwargs else {}
    assert dues(plan(schedule_with(alert, **extra), **kwargs)) == expected


def test_alerts_carry_window_milestone_and_global_index():
    schedule = parse_schedule(S1)
    [first, *_] = plan(schedule, reference="2050-05-10", now="2050-05-01")
    assert (first.window, first.milestone, first.index, first.number) == ("due", "milestone1", 0, 0)
    second = plan(schedule, reference="2050-05-10", now="2050-05-20T09:00", milestone=1, fulfilled="2050-05-20T09:00")
    assert [(a.milestone, a.index, a.number) for a in second] == [("milestone2", 1, 0), ("milestone2", 1, 1), ("milestone2", 1, 2)]


def test_immediate_alert_keeps_motechs_time_in_at():
    [first, *_] = plan(parse_schedule(SF), reference="2050-05-02T11:00", now="2050-05-10T15:00")
    assert first.immediate and local(first.at) == "2050-05-10T11:00" and local(first.due) == "2050-05-10T15:00"


def test_daily_alerts_keep_the_preferred_time_across_dst():
    london = ZoneInfo("Europe/London")  # clocks go forward on Sunday 2050-03-27
    schedule = schedule_with({"window": "due", "offset": "0 days", "interval": "1 day", "count": "3"},
                             windows={"earliest": "1 week", "due": "2 weeks"})
    alerts = plan(schedule, reference="2050-03-19", now="2050-03-01", preferred="09:00", tz=london)
    assert dues(alerts, london) == ["2050-03-26T09:00", "2050-03-27T09:00", "2050-03-28T09:00"]
    assert [a.due.astimezone(UTC).hour for a in alerts] == [9, 8, 8]


# --- the IPTI example from the user's description -------------------------------------------------
def test_ipti_example_worked_through():
    """IPTI dose 1: due between 13 and 14 weeks of age, late until 16 weeks (pre-2012 file, as the user wrote it).

    Born 2024-01-01 (the reference date), enrolled at birth, alerts at 09:00 Nairobi time:
    - earliest (the user's "waiting")  0–13 weeks: 2024-01-01 → 2024-04-01 (13 weeks = 91 days, leap year)
    - due                             13–14 weeks: 2024-04-01 → 2024-04-08
    - late                            14–16 weeks: 2024-04-08 → 2024-04-22
    - max is empty: zero-length at 16 weeks; the milestone defaults at 2024-04-22 00:00.
    Alerts are in the late window: daily ×7 from its start (04-08 … 04-14), and weekly ×51 from one
    week in (04-15, 04-22, …), cut by the window end to the single alert of 04-15.
    After a fulfilment on 2024-04-10 14:00, IPTI 2 counts from it: 1/2/3 weeks, no alerts.
    """
    nairobi = ZoneInfo("Africa/Nairobi")
    schedule = parse_schedule(IPTI_2011)
    birth = at("2024-01-01", nairobi)
    start = milestone_start(schedule, 0, birth, birth, None, nairobi)
    windows = milestone_windows(schedule, 0, start, nairobi)
    assert [(w.name, local(w.start, nairobi), local(w.end, nairobi)) for w in windows] == [
        ("earliest", "2024-01-01T00:00", "2024-04-01T00:00"),
        ("due", "2024-04-01T00:00", "2024-04-08T00:00"),
        ("late", "2024-04-08T00:00", "2024-04-22T00:00"),
        ("max", "2024-04-22T00:00", "2024-04-22T00:00"),
    ]
    assert current_window(windows, at("2024-04-07T23:59", nairobi)).name == "due"
    assert current_window(windows, at("2024-04-08", nairobi)).name == "late"
    assert current_window(windows, at("2024-04-22", nairobi)) is None
    assert local(default_time(schedule, 0, start, nairobi), nairobi) == "2024-04-22T00:00"

    alerts = alert_times(schedule, 0, start, birth, birth, "09:00", nairobi)
    assert [(local(a.due, nairobi), a.window, a.index) for a in alerts] == [
        ("2024-04-08T09:00", "late", 0), ("2024-04-09T09:00", "late", 0), ("2024-04-10T09:00", "late", 0),
        ("2024-04-11T09:00", "late", 0), ("2024-04-12T09:00", "late", 0), ("2024-04-13T09:00", "late", 0),
        ("2024-04-14T09:00", "late", 0), ("2024-04-15T09:00", "late", 1),
    ]

    assert next_milestone(schedule, 0) == 1 and next_milestone(schedule, 1) is None
    fulfilled = at("2024-04-10T14:00", nairobi)
    start2 = milestone_start(schedule, 1, birth, birth, fulfilled, nairobi)
    assert [local(w.end, nairobi) for w in milestone_windows(schedule, 1, start2, nairobi)] == [
        "2024-04-17T14:00", "2024-04-24T14:00", "2024-05-01T14:00", "2024-05-01T14:00"]
    assert alert_times(schedule, 1, start2, birth, fulfilled, "09:00", nairobi) == []


def test_ipti_total_duration_stops_alerts_52_weeks_after_enrolment():
    config = copy.deepcopy(IPTI_2011)
    config["milestones"][0]["scheduleWindows"]["late"] = "100 Weeks"  # a late window long enough to reach the cutoff
    schedule = parse_schedule(config)
    birth = at("2024-01-01")
    alerts = alert_times(schedule, 0, birth, birth, birth, None, UTC)
    weekly = [a for a in alerts if a.index == 1]
    assert local(weekly[-1].due) < local(birth + timedelta(weeks=52)) <= local(weekly[-1].due + timedelta(weeks=1))
    assert len(weekly) == 37  # weeks 15 … 51 after birth; 52 weeks is the cutoff (exclusive)


# --- windows --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "config, milestone, reference, expected",
    [
        pytest.param(S1, 0, "2050-05-10", [("2050-05-10T00:00", "2050-05-15T00:00"), ("2050-05-15T00:00", "2050-05-20T00:00"),
                                           ("2050-05-20T00:00", "2050-05-25T00:00"), ("2050-05-25T00:00", "2050-05-30T00:00")],
                     id="relative_values_are_cumulative_end_points"),
        pytest.param({"name": "e", "milestones": [{"name": "m", "scheduleWindows": {"earliest": "1 week", "due": "2 weeks",
                                                                                    "late": "3 weeks", "max": ""}}]},
                     0, "2050-01-01", [("2050-01-01T00:00", "2050-01-08T00:00"), ("2050-01-08T00:00", "2050-01-15T00:00"),
                                       ("2050-01-15T00:00", "2050-01-22T00:00"), ("2050-01-22T00:00", "2050-01-22T00:00")],
                     id="empty_max_is_zero_length_at_the_end_of_late"),
        pytest.param({"name": "e", "milestones": [{"name": "m", "scheduleWindows": {"earliest": "", "due": "0 days",
                                                                                    "late": "3 weeks", "max": []}}]},
                     0, "2050-01-01", [("2050-01-01T00:00", "2050-01-01T00:00"), ("2050-01-01T00:00", "2050-01-01T00:00"),
                                       ("2050-01-01T00:00", "2050-01-22T00:00"), ("2050-01-22T00:00", "2050-01-22T00:00")],
                     id="empty_and_zero_values_do_not_advance"),
        pytest.param(ABSOLUTE, 1, "2050-01-01", [("2050-01-22T00:00", "2050-02-05T00:00"), ("2050-02-05T00:00", "2050-02-12T00:00"),
                                                 ("2050-02-12T00:00", "2050-02-19T00:00"), ("2050-02-19T00:00", "2050-02-26T00:00")],
                     id="absolute_values_count_from_the_schedule_start"),
        pytest.param(IPTI_LISTS, 0, "2024-01-01", [("2024-01-01T00:00", "2024-04-01T00:00"), ("2024-04-01T00:00", "2024-04-08T02:00"),
                                                   ("2024-04-08T02:00", "2025-06-21T00:00"), ("2025-06-21T00:00", "2025-06-21T00:00")],
                     id="list_values_are_summed_years_then_months_then_days"),
    ],
)
def test_milestone_windows(config, milestone, reference, expected):
    schedule = parse_schedule(config)
    start = milestone_start(schedule, milestone, at(reference), at(reference), None, UTC)
    assert [(local(w.start), local(w.end)) for w in milestone_windows(schedule, milestone, start, UTC)] == expected


def test_absolute_milestone_starts_after_previous_max_durations():
    config = {"name": "abs3", "absolute": True, "milestones": [
        {"name": f"m{i}", "scheduleWindows": {w: f"{4 * i + k + 1} weeks" for k, w in enumerate(("earliest", "due", "late", "max"))}}
        for i in range(3)]}
    schedule = parse_schedule(config)
    reference = at("2050-01-01")
    assert milestone_start(schedule, 2, reference, reference, at("2050-01-03"), UTC) == reference + timedelta(weeks=8)
    assert schedule.milestones[1].max_duration == Period(days=28)


def test_window_boundaries_are_left_closed_right_open():
    schedule = parse_schedule(S1)
    windows = milestone_windows(schedule, 0, at("2050-05-10"), UTC)
    assert current_window(windows, at("2050-05-15")).name == "due"
    assert current_window(windows, at("2050-05-14T23:59:59")).name == "earliest"
    assert current_window(windows, at("2050-05-30")) is None


def test_list_valued_alerts_of_the_current_ipti_sample():
    schedule = parse_schedule(IPTI_LISTS)
    start = at("2024-01-01")
    alerts = alert_times(schedule, 0, start, start, start, None, UTC)
    due = [local(a.due) for a in alerts if a.window == "due"]
    late = [local(a.due) for a in alerts if a.window == "late"]
    assert due == [f"2024-04-0{d}T00:00" for d in range(1, 8)]
    assert len(late) == 51 and late[0] == "2024-04-15T06:00" and late[-1] == "2025-03-31T06:00"


def test_preview_is_not_clipped_nor_filtered():
    schedule = schedule_with({"window": "due", "offset": "0 days", "interval": "1 day", "count": "7"})
    preview = possible_alert_times(schedule, 0, at("2050-05-10"), at("2050-05-18"), at("2050-05-18"), None, UTC)
    assert [local(t)[:10] for t in preview["due"]] == [f"2050-05-{d}" for d in range(15, 22)]
    assert preview["earliest"] == preview["late"] == preview["max"] == []


# --- defaulting -----------------------------------------------------------------------------------
NOW_19 = at("2012-04-04T03:03:59")
DEFAULT_19 = {"name": "d", "milestones": [
    {"name": "m1", "scheduleWindows": {"earliest": "1 week", "due": "2 weeks", "late": "3 weeks", "max": "4 weeks"}},
    {"name": "m2", "scheduleWindows": {"earliest": "4 weeks", "due": "5 weeks", "late": "6 weeks", "max": ""}},
]}


@pytest.mark.parametrize(
    "milestone, reference, enrolled, expected",
    [
        pytest.param(0, NOW_19 - timedelta(days=29), NOW_19, True, id="motech_19_first_milestone_expired_at_enrolment_defaults"),
        pytest.param(0, NOW_19 - timedelta(days=28), NOW_19, False, id="exactly_at_the_end_is_still_active"),
        pytest.param(1, NOW_19, NOW_19 - timedelta(weeks=6, seconds=1), True,
                     id="motech_19_later_milestone_counts_from_enrolment_and_defaults"),
        pytest.param(1, NOW_19, NOW_19 - timedelta(weeks=6), False, id="motech_19_later_milestone_at_its_end_is_active"),
    ],
)
def test_defaulting_at_enrolment(milestone, reference, enrolled, expected):
    schedule = parse_schedule(DEFAULT_19)
    start = milestone_start(schedule, milestone, reference, enrolled, None, UTC)
    assert defaulted(schedule, milestone, start, NOW_19, UTC) is expected


def test_default_time_is_the_end_of_the_last_non_empty_window():
    schedule = parse_schedule(DEFAULT_19)
    assert local(default_time(schedule, 1, at("2050-01-01"), UTC)) == "2050-02-12T00:00"


# --- parsing --------------------------------------------------------------------------------------
def test_pre_2012_and_current_formats_parse_to_the_same_windows():
    old = parse_schedule(IPTI_2011)
    new = parse_schedule({"name": "IPTI", "milestones": [
        {"name": "IPTI 1", "scheduleWindows": {"earliest": ["13 Weeks"], "due": ["14 Weeks"], "late": ["16 Weeks"], "max": [""]},
         "alerts": [{"window": "late", "offset": ["0 Days"], "interval": ["1 Day"], "count": 7},
                    {"window": "late", "offset": ["1 Week"], "interval": ["1 Week"], "count": 51}]}]})
    assert old.milestones[0].durations == new.milestones[0].durations
    assert old.milestones[0].alerts == new.milestones[0].alerts
    assert old.total_duration == Period(days=364) and new.total_duration is None


@pytest.mark.parametrize(
    "value, kwargs, expected",
    [
        pytest.param("2 Weeks", {}, Period(days=14), id="scalar"),
        pytest.param(["1 year", "2 month", "16 Weeks"], {}, Period(years=1, months=2, days=112), id="list_summed_field_by_field"),
        pytest.param(["14 Weeks", "2 hours"], {}, Period(days=98, elapsed=timedelta(hours=2)), id="calendar_and_elapsed"),
        pytest.param(["", "", ""], {}, ZERO, id="empty_items_are_zero"),
        pytest.param(None, {}, ZERO, id="absent_is_zero"),
        pytest.param("-2 days", {"allow_negative": True}, Period(days=-2), id="negative_where_allowed"),
        pytest.param("-2 days", {}, None, id="negative_elsewhere_rejected"),
        pytest.param("5", {}, None, id="bare_number_rejected"),
        pytest.param(["1 week", "two days"], {}, None, id="one_bad_item_rejects_the_value"),
        pytest.param(5, {}, None, id="number_rejected"),
    ],
)
def test_parse_time_value(value, kwargs, expected):
    assert parse_time_value(value, **kwargs)[0] == expected


def _settings(*schedules: Any) -> dict[str, Any]:
    return {"milestone_schedules": list(schedules)}


def _with(config: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `config` with the dotted `path` (list items by index) set to `value`."""
    result = copy.deepcopy(config)
    target: Any = result
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last = parts[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return result


P = "settings.milestone_schedules[0]"


@pytest.mark.parametrize(
    "settings, expected",
    [
        pytest.param(_settings(S1, SF, IPTI_2011, IPTI_LISTS, ABSOLUTE), [], id="motech_files_are_valid"),
        pytest.param({}, [], id="unset_is_valid"),
        pytest.param({"milestone_schedules": {"name": "x"}}, ["settings.milestone_schedules: must be a list"], id="not_a_list"),
        pytest.param(_settings(_with(S1, "milestones.0.alerts.0.window", "overdue")),
                     [f"{P}.milestones[0].alerts[0].window: unknown window name 'overdue'"], id="unknown_alert_window"),
        pytest.param(_settings(_with(S1, "milestones.0.scheduleWindows.overdue", "1 week")),
                     [f"{P}.milestones[0].scheduleWindows.overdue: unknown window name"], id="unknown_window_key"),
        pytest.param(_settings(_with(S1, "milestones.0.alerts.0.interval", ["1 month"])),
                     [f"{P}.milestones[0].alerts[0].interval: months and years are not allowed"], id="month_interval"),
        pytest.param(_settings(_with(S1, "milestones.1.alerts.0.interval", "1 year")),
                     [f"{P}.milestones[1].alerts[0].interval: months and years are not allowed"], id="year_interval"),
        pytest.param(_settings(_with(ABSOLUTE, "milestones.1.alerts.0.floating", "true")),
                     [f"{P}.milestones[1].alerts[0].floating: floating alerts are not allowed in an absolute schedule"],
                     id="floating_in_absolute_schedule"),
        pytest.param(_settings(_with(S1, "milestones.0.scheduleWindows.due", ["10 days", "2 fortnights"])),
                     [f"{P}.milestones[0].scheduleWindows.due[1]: must be"], id="bad_time_string_in_list"),
        pytest.param(_settings(_with(S1, "milestones.0.scheduleWindows.late", "-15 days")),
                     [f"{P}.milestones[0].scheduleWindows.late: must be"], id="negative_window_value"),
        pytest.param(_settings(_with(IPTI_2011, "totalDuration", "52 weks")),
                     [f"{P}.totalDuration: must be"], id="bad_total_duration"),
        pytest.param(_settings(S1, _with(SF, "name", "schedule")),
                     ["settings.milestone_schedules[1].name: duplicate schedule name 'schedule'"], id="duplicate_schedule_names"),
        pytest.param(_settings(_with(S1, "milestones", [])), [f"{P}.milestones: a schedule needs a non-empty list"],
                     id="empty_milestones"),
        pytest.param(_settings({"name": "x"}), [f"{P}.milestones: a schedule needs a non-empty list"], id="missing_milestones"),
        pytest.param(_settings(_with(S1, "name", "")), [f"{P}.name: every schedule needs a name"], id="missing_name"),
        pytest.param(_settings(_with(S1, "milestones.1.name", "milestone1")),
                     [f"{P}.milestones[1].name: duplicate milestone name 'milestone1'"], id="duplicate_milestone_names"),
        pytest.param(_settings(_with(S1, "milestones.0.alerts.0.count", "five")),
                     [f"{P}.milestones[0].alerts[0].count: must be a non-negative integer"], id="count_not_a_number"),
        pytest.param(_settings(_with(S1, "milestones.0.alerts.0.interval", [])),
                     [f"{P}.milestones[0].alerts[0].interval: an alert with count 5 needs a non-zero interval"], id="zero_interval"),
        pytest.param(_settings(_with(IPTI_2011, "milestones.0.alerts.0.offset", "1 day")),
                     [f"{P}.milestones[0].alerts[0]: give either offset or startOffset"], id="offset_and_start_offset"),
        pytest.param(_settings(_with(S1, "milestones.0.scheduleWindows", {"earliest": "", "max": "0 days"})),
                     [f"{P}.milestones[0].scheduleWindows: at least one window needs a length"], id="all_windows_empty"),
        pytest.param(_settings(_with(S1, "milestones.0.scheduleWindows", {"Earliest": "5 days", "earliest": "6 days"})),
                     [f"{P}.milestones[0].scheduleWindows.earliest: window 'earliest' given twice"], id="window_given_twice"),
        pytest.param(_settings(_with(S1, "absolute", "yes")), [f"{P}.absolute: must be true or false"], id="absolute_not_boolean"),
        pytest.param(_settings(_with(S1, "milestones.0.translation_key", 3)),
                     [f"{P}.milestones[0].translation_key: must be a non-empty string"], id="translation_key_not_a_string"),
    ],
)
def test_schedule_problems(settings, expected):
    problems = schedule_problems(settings)
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected):
        assert problem.startswith(start), problem


def test_parse_schedule_raises_with_every_problem():
    with pytest.raises(ScheduleError) as error:
        parse_schedule(_with(_with(S1, "milestones.0.alerts.0.window", "soon"), "milestones.1.alerts.0.count", "-1"))
    assert [p.split(":")[0] for p in error.value.problems] == [
        "schedule.milestones[0].alerts[0].window", "schedule.milestones[1].alerts[0].count"]


def test_absolute_alert_offsets_are_converted_to_window_relative():
    m2 = parse_schedule(ABSOLUTE).milestones[1]
    assert [(a.window, a.offset, a.index) for a in m2.alerts] == [("due", ZERO, 0), ("late", Period(days=3), 1)]


def test_find_schedule_and_message_config():
    config = _with(_with(S1, "translation_key", "ms.alert"), "recipient", "clinic")
    config["milestones"][1]["message"] = [{"locale": "en", "content": "Dose 2 is due"}]
    settings = _settings(config)
    schedule = find_schedule(settings, "schedule")
    assert schedule is not None and find_schedule(settings, "other") is None
    assert message_config(schedule, 0) == {"translation_key": "ms.alert", "recipient": "clinic"}
    assert message_config(schedule, 1) == {"message": [{"locale": "en", "content": "Dose 2 is due"}], "recipient": "clinic"}


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("08:20", (8, 20), id="hh_mm"),
        pytest.param("8:05", (8, 5), id="single_digit_hour"),
        pytest.param("24:00", None, id="out_of_range"),
        pytest.param("08:20 +03:00", None, id="fixed_offset_rejected"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_parse_preferred_time(value, expected):
    assert parse_preferred_time(value) == expected


def test_between_is_jodas_period_and_adds_back_exactly():
    tz = ZoneInfo("Europe/London")
    start, end = at("2050-01-31T10:00", tz), at("2050-03-05T10:00", tz)
    assert between(start, end, tz) == Period(months=1, days=5)
    assert plus(start, between(start, end, tz), tz) == end
