"""sentinel/schedules.py: CHT's assignSchedule (spec 2.4) with our documented deviations.

Pure: no database. Each table states a behaviour; due times are compared as stored (UTC ISO with
milliseconds), so zones, DST and weekday moves show up in the expected strings.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from sentinel.messaging.schedules import (
    NO_START,
    NOT_YET,
    PLANNED,
    find_schedule,
    parse_send_day,
    parse_send_time,
    plan,
    schedule_problems,
)
from sentinel.core.settings import Settings

UTC = timezone.utc
EARLY = datetime(2020, 1, 1, tzinfo=UTC)  # before every due date below: nothing is past


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def always(_msg: Any) -> bool:
    return True


def run(messages: list[dict], doc: dict, *, tz: str | None = None, now: datetime = EARLY, has_text=always, **schedule: Any):
    settings: dict[str, Any] = {"timezone": tz} if tz else {}
    settings.update(schedule.pop("settings", {}))
    config = {"name": "ANC", "messages": messages, **schedule}
    return plan(config, doc, settings=settings, now=now, has_text=has_text)


def dues(result) -> list[str]:
    return [t.task["due"] for t in result.tasks]


def one_due(message: dict, start: Any, tz: str | None = None) -> str | None:
    result = run([message], {"reported_date": start}, tz=tz)
    assert result.status == PLANNED
    return dues(result)[0] if result.tasks else None


# --- offsets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "offset, expected",
    [
        pytest.param("0", "2024-01-01T00:00:00.000Z", id="zero_is_valid"),
        pytest.param("0 days", "2024-01-01T00:00:00.000Z", id="zero_days_is_valid"),
        pytest.param("1 second", "2024-01-01T00:00:01.000Z", id="second"),
        pytest.param("30 seconds", "2024-01-01T00:00:30.000Z", id="seconds"),
        pytest.param("1 minute", "2024-01-01T00:01:00.000Z", id="minute"),
        pytest.param("90 minutes", "2024-01-01T01:30:00.000Z", id="minutes"),
        pytest.param("1 hour", "2024-01-01T01:00:00.000Z", id="hour"),
        pytest.param("36 hours", "2024-01-02T12:00:00.000Z", id="hours"),
        pytest.param("1 day", "2024-01-02T00:00:00.000Z", id="day"),
        pytest.param("3 days", "2024-01-04T00:00:00.000Z", id="days"),
        pytest.param("1 week", "2024-01-08T00:00:00.000Z", id="week"),
        pytest.param("12 weeks", "2024-03-25T00:00:00.000Z", id="weeks"),
        pytest.param("1 month", "2024-02-01T00:00:00.000Z", id="month"),
        pytest.param("9 months", "2024-10-01T00:00:00.000Z", id="months"),
        pytest.param("1 year", "2025-01-01T00:00:00.000Z", id="year"),
        pytest.param("2 years", "2026-01-01T00:00:00.000Z", id="years"),
        pytest.param("1 weeks", "2024-01-08T00:00:00.000Z", id="plural_with_one"),
        pytest.param("2 week", "2024-01-15T00:00:00.000Z", id="singular_with_two"),
    ],
)
def test_offset_units(offset, expected):
    assert one_due({"offset": offset}, "2024-01-01T00:00:00.000Z") == expected


def test_month_offset_clamps_to_the_end_of_the_month():
    assert one_due({"offset": "1 month"}, "2024-01-31T10:00:00.000Z") == "2024-02-29T10:00:00.000Z"


@pytest.mark.parametrize(
    "offset",
    [
        pytest.param("5", id="bare_nonzero_number"),
        pytest.param("", id="empty"),
        pytest.param(None, id="missing"),
        pytest.param(5, id="number"),
        pytest.param("five days", id="words"),
        pytest.param("-1 days", id="negative"),
        pytest.param("2 fortnights", id="unknown_unit"),
        pytest.param("100000 years", id="out_of_range"),
    ],
)
def test_invalid_offset_skips_only_that_message(offset):
    messages = [{"group": 1, "offset": offset}, {"group": 1, "offset": "1 day"}]
    result = run(messages, {"reported_date": "2024-01-01T00:00:00.000Z"})
    assert result.status == PLANNED
    assert [t.index for t in result.tasks] == [1]  # the group is not skipped
    assert [(s.index, s.reason) for s in result.skipped] == [(0, "invalid")]
    assert len(result.errors) == 1 and "messages[0]" in result.errors[0]


# --- send_time -------------------------------------------------------------------------------------

# 2024-06-11T22:30Z (start + 1 day) is Tuesday evening in UTC and New York, Wednesday 01:30 in Nairobi.
LATE_START = "2024-06-10T22:30:45.123Z"


@pytest.mark.parametrize(
    "tz, send_time, expected",
    [
        pytest.param(None, "09:00", "2024-06-11T09:00:00.000Z", id="utc_no_offset"),
        pytest.param(None, "9:05", "2024-06-11T09:05:00.000Z", id="single_digit_hour"),
        pytest.param(None, "09:00 +03:00", "2024-06-12T06:00:00.000Z", id="utc_with_offset_uses_that_offsets_day"),
        pytest.param(None, "09:00 +0300", "2024-06-12T06:00:00.000Z", id="offset_without_colon"),
        pytest.param(None, "09:00 -05:00", "2024-06-11T14:00:00.000Z", id="negative_offset"),
        pytest.param(None, "09:00 Z", "2024-06-11T09:00:00.000Z", id="z_offset"),
        pytest.param(None, "09:00:30", "2024-06-11T09:00:00.000Z", id="seconds_ignored"),
        pytest.param("Africa/Nairobi", "09:00", "2024-06-12T06:00:00.000Z", id="nairobi_no_offset_uses_local_day"),
        pytest.param("Africa/Nairobi", "09:00 +00:00", "2024-06-11T09:00:00.000Z", id="nairobi_explicit_offset_wins"),
        pytest.param("America/New_York", "09:00", "2024-06-11T13:00:00.000Z", id="new_york_summer_time"),
        pytest.param("America/New_York", "09:00 +03:00", "2024-06-12T06:00:00.000Z", id="new_york_explicit_offset_wins"),
        pytest.param(None, "", "2024-06-11T22:30:45.123Z", id="empty_means_none"),
        pytest.param(None, None, "2024-06-11T22:30:45.123Z", id="absent_keeps_time_and_milliseconds"),
    ],
)
def test_send_time(tz, send_time, expected):
    message = {"offset": "1 day", "send_time": send_time}
    assert one_due(message, LATE_START, tz) == expected


@pytest.mark.parametrize(
    "start, offset, send_time, expected",
    [
        pytest.param("2024-03-09T17:00:00Z", "1 day", "02:30", "2024-03-10T07:30:00.000Z", id="dst_gap_moves_forward_by_the_gap"),
        pytest.param("2024-03-09T17:00:00Z", "1 day", "03:30", "2024-03-10T07:30:00.000Z", id="just_after_the_gap"),
        pytest.param("2024-03-09T17:00:00Z", "1 day", "01:59", "2024-03-10T06:59:00.000Z", id="just_before_the_gap"),
        pytest.param("2024-11-02T16:00:00Z", "1 day", "01:30", "2024-11-03T05:30:00.000Z", id="dst_overlap_takes_first"),
        pytest.param("2024-03-09T17:00:00Z", "1 day", None, "2024-03-10T16:00:00.000Z", id="day_offset_keeps_wall_clock"),
        pytest.param("2024-03-09T17:00:00Z", "24 hours", None, "2024-03-10T17:00:00.000Z", id="hour_offset_is_elapsed"),
        pytest.param("2024-03-09T17:00:00Z", "1 day", "09:00 -05:00", "2024-03-10T14:00:00.000Z", id="fixed_offset_ignores_dst"),
    ],
)
def test_send_time_across_new_york_dst(start, offset, send_time, expected):
    message = {"offset": offset, "send_time": send_time}
    assert one_due(message, start, "America/New_York") == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("09:00", (9, 0, None), id="plain"),
        pytest.param(" 23:59 ", (23, 59, None), id="latest"),
        pytest.param("24:00", None, id="hour_24"),
        pytest.param("09:60", None, id="minute_60"),
        pytest.param("0900", None, id="no_colon"),
        pytest.param("09", None, id="hour_only"),
        pytest.param("9am", None, id="am_pm"),
        pytest.param("09:00 Africa/Nairobi", None, id="zone_name_instead_of_offset"),
        pytest.param("09:00 +03:00 x", None, id="trailing_words"),
        pytest.param(900, None, id="number"),
    ],
)
def test_parse_send_time(value, expected):
    parsed = parse_send_time(value)
    assert (parsed if parsed is None else (parsed[0], parsed[1], parsed[2])) == expected


# --- send_day --------------------------------------------------------------------------------------

# 2024-01-03 is a Wednesday.
WEDNESDAY = "2024-01-03T10:00:00.000Z"


@pytest.mark.parametrize(
    "send_day, expected",
    [
        pytest.param("wednesday", "2024-01-03T10:00:00.000Z", id="same_weekday_stays"),
        pytest.param("thursday", "2024-01-04T10:00:00.000Z", id="next_day"),
        pytest.param("Saturday", "2024-01-06T10:00:00.000Z", id="later_this_week"),
        pytest.param("sunday", "2024-01-07T10:00:00.000Z", id="sunday_is_forward_not_back_to_dec_31"),
        pytest.param("monday", "2024-01-08T10:00:00.000Z", id="monday_is_forward_not_back_to_jan_1"),
        pytest.param("tuesday", "2024-01-09T10:00:00.000Z", id="six_days_ahead"),
        pytest.param("mon", "2024-01-08T10:00:00.000Z", id="short_name"),
        pytest.param("tues", "2024-01-09T10:00:00.000Z", id="prefix"),
        pytest.param("TH", "2024-01-04T10:00:00.000Z", id="two_letters_any_case"),
        pytest.param(1, "2024-01-08T10:00:00.000Z", id="number_monday"),
        pytest.param("0", "2024-01-07T10:00:00.000Z", id="digit_sunday"),
        pytest.param("", "2024-01-03T10:00:00.000Z", id="empty_means_none"),
    ],
)
def test_send_day_moves_forward_never_backward(send_day, expected):
    assert one_due({"offset": "0", "send_day": send_day}, WEDNESDAY) == expected


@pytest.mark.parametrize(
    "tz, start, send_time, send_day, expected",
    [
        pytest.param(None, "2024-01-03T22:30:00Z", "09:00 +03:00", "thursday", "2024-01-04T06:00:00.000Z", id="weekday_seen_at_fixed_offset"),
        pytest.param(None, "2024-01-03T22:30:00Z", "09:00", "thursday", "2024-01-04T09:00:00.000Z", id="time_then_day"),
        pytest.param("Africa/Nairobi", "2024-01-03T22:30:00Z", "09:00", "thursday", "2024-01-04T06:00:00.000Z", id="weekday_in_settings_zone"),
        pytest.param("America/New_York", "2024-03-08T07:30:00Z", "02:30", "sunday", "2024-03-10T07:30:00.000Z", id="day_move_into_dst_gap"),
        pytest.param("America/New_York", "2024-03-08T17:00:00Z", None, "sunday", "2024-03-10T16:00:00.000Z", id="day_move_keeps_wall_clock"),
    ],
)
def test_send_day_after_send_time(tz, start, send_time, send_day, expected):
    assert one_due({"offset": "0", "send_time": send_time, "send_day": send_day}, start, tz) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("funday", id="not_a_day"),
        pytest.param("t", id="one_letter_is_ambiguous"),
        pytest.param("mondays", id="longer_than_the_name"),
        pytest.param(7, id="number_out_of_range"),
        pytest.param(True, id="boolean"),
    ],
)
def test_invalid_send_day_skips_the_message(value):
    assert parse_send_day(value) is None
    result = run([{"offset": "0", "send_day": value}], {"reported_date": WEDNESDAY})
    assert result.tasks == () and result.skipped[0].reason == "invalid" and "send_day" in result.errors[0]


# --- start_from ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start_from, doc, tz, status, expected",
    [
        pytest.param(None, {"reported_date": 1704067200000}, None, PLANNED, "2024-01-01T00:00:00.000Z", id="default_reported_date_epoch_ms"),
        pytest.param(None, {}, None, NOT_YET, None, id="default_missing_is_not_yet"),
        pytest.param(None, {"reported_date": None}, None, NO_START, None, id="default_null_is_done"),
        pytest.param("fields.lmp_date", {"fields": {"lmp_date": "2024-02-01"}}, None, PLANNED, "2024-02-01T00:00:00.000Z", id="dotted_path"),
        pytest.param(
            "fields.lmp_date", {"fields": {"lmp_date": "2024-02-01"}}, "Africa/Nairobi", PLANNED, "2024-01-31T21:00:00.000Z",
            id="date_without_zone_in_settings_zone",
        ),
        pytest.param(
            "fields.lmp_date", {"fields": {"lmp_date": "2024-02-01T00:00:00+05:00"}}, "Africa/Nairobi", PLANNED,
            "2024-01-31T19:00:00.000Z", id="date_with_offset_kept",
        ),
        pytest.param("fields.lmp_date", {"fields": {}}, None, NOT_YET, None, id="missing_path_is_not_yet"),
        pytest.param("fields.lmp_date", {"fields": None}, None, NOT_YET, None, id="null_on_the_way_is_missing"),
        pytest.param("fields.lmp_date", {"fields": {"lmp_date": None}}, None, NO_START, None, id="null_value_is_done"),
        pytest.param("fields.visits.1", {"fields": {"visits": ["2024-01-01", "2024-03-01"]}}, None, PLANNED, "2024-03-01T00:00:00.000Z", id="list_index"),
        pytest.param(
            ["lmp_date", "fields.lmp_date"], {"fields": {"lmp_date": "2024-02-01"}}, None, PLANNED, "2024-02-01T00:00:00.000Z",
            id="list_first_missing_second_wins",
        ),
        pytest.param(
            ["lmp_date", "fields.lmp_date"], {"lmp_date": "2024-03-01", "fields": {"lmp_date": "2024-02-01"}}, None, PLANNED,
            "2024-03-01T00:00:00.000Z", id="list_first_defined_wins",
        ),
        pytest.param(
            ["lmp_date", "fields.lmp_date"], {"lmp_date": None, "fields": {"lmp_date": "2024-02-01"}}, None, NO_START, None,
            id="list_null_is_defined_and_stops",
        ),
        pytest.param(["lmp_date", "fields.lmp_date"], {"fields": {}}, None, NOT_YET, None, id="list_none_defined_is_not_yet"),
        pytest.param("fields.lmp_date", {"fields": {"lmp_date": "soon"}}, None, NOT_YET, None, id="not_a_date_is_not_yet"),
    ],
)
def test_start_from(start_from, doc, tz, status, expected):
    schedule = {} if start_from is None else {"start_from": start_from}
    result = run([{"offset": "0"}], doc, tz=tz, **schedule)
    assert result.status == status
    assert result.ready is (status != NOT_YET)
    assert dues(result) == ([expected] if expected else [])


def test_start_that_is_not_a_date_says_why():
    result = run([{"offset": "0"}], {"reported_date": "soon"})
    assert result.status == NOT_YET and "'soon' is not a date" in result.errors[0]


def test_plan_does_not_modify_the_doc():
    doc = {"reported_date": "2024-01-01T00:00:00.000Z"}
    run([{"offset": "0", "recipient": ["clinic"]}], doc)
    assert doc == {"reported_date": "2024-01-01T00:00:00.000Z"}


# --- groups, past and empty messages ---------------------------------------------------------------

START = {"reported_date": "2024-01-01T00:00:00.000Z"}
NOW = utc("2024-01-20T00:00:00Z")  # after "1 week" and "2 weeks", before "4 weeks"
GROUPS = [
    {"group": 1, "offset": "1 week"},  # 0: past
    {"group": 1, "offset": "4 weeks"},  # 1
    {"group": 2, "offset": "4 weeks"},  # 2
    {"group": 2, "offset": "5 weeks"},  # 3
    {"group": 3, "offset": "2 weeks"},  # 4: past
    {"group": 3, "offset": "6 weeks"},  # 5
]


@pytest.mark.parametrize(
    "messages, mid_group, has_text, planned, skipped",
    [
        pytest.param(GROUPS, None, always, [2, 3], [(0, "past"), (1, "group_skipped"), (4, "past"), (5, "group_skipped")], id="past_message_skips_its_group"),
        pytest.param(GROUPS, True, always, [1, 2, 3, 5], [(0, "past"), (4, "past")], id="start_mid_group_keeps_the_rest"),
        pytest.param(GROUPS, "yes", always, [1, 2, 3, 5], [(0, "past"), (4, "past")], id="start_mid_group_js_truthy"),
        pytest.param(GROUPS, 0, always, [2, 3], [(0, "past"), (1, "group_skipped"), (4, "past"), (5, "group_skipped")], id="start_mid_group_zero_is_false"),
        pytest.param(
            GROUPS[2:4], None, lambda m: m["offset"] != "4 weeks", [], [(0, "no_text"), (1, "group_skipped")], id="empty_text_skips_its_group",
        ),
        pytest.param(GROUPS[2:4], True, lambda m: m["offset"] != "4 weeks", [1], [(0, "no_text")], id="empty_text_mid_group"),
        pytest.param(
            [{"group": 1, "offset": "1 week"}, {"group": "1", "offset": "4 weeks"}], None, always, [1], [(0, "past")],
            id="group_1_and_string_1_differ",
        ),
        pytest.param(
            [{"offset": "1 week"}, {"offset": "4 weeks"}], None, always, [], [(0, "past"), (1, "group_skipped")],
            id="messages_without_group_share_one",
        ),
        pytest.param(
            [{"group": 1, "offset": "4 weeks"}, {"group": 1, "offset": "1 week"}], None, always, [0], [(1, "past")],
            id="only_later_messages_of_the_group_are_skipped",
        ),
        pytest.param([{"group": 1, "offset": "19 days"}], None, always, [0], [], id="due_exactly_now_is_kept"),
    ],
)
def test_groups(messages, mid_group, has_text, planned, skipped):
    schedule = {} if mid_group is None else {"start_mid_group": mid_group}
    result = run(messages, START, now=NOW, has_text=has_text, **schedule)
    assert [t.index for t in result.tasks] == planned
    assert [(s.index, s.reason) for s in result.skipped] == skipped


def test_has_text_is_asked_only_for_messages_not_past():
    asked = []
    run(GROUPS, START, now=NOW, has_text=lambda m: asked.append(m["offset"]) or True, start_mid_group=True)
    assert asked == ["4 weeks", "4 weeks", "5 weeks", "6 weeks"]


@pytest.mark.parametrize(
    "settings, real_now, planned",
    [
        pytest.param({}, "2030-01-01T00:00:00Z", [], id="real_now_all_past"),
        pytest.param({"synthetic_date": "20240110"}, "2030-01-01T00:00:00Z", [2, 3, 4, 5], id="synthetic_date_is_now"),
        pytest.param({"synthetic_date": "20240120"}, "2020-01-01T00:00:00Z", [2, 3], id="synthetic_date_even_if_earlier"),
    ],
)
def test_synthetic_date_is_the_now_of_plan(settings, real_now, planned):
    result = run(GROUPS, START, now=utc(real_now), settings=settings)
    assert [t.index for t in result.tasks] == planned


# --- task shape ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schedule, message, expected",
    [
        pytest.param(
            {"name": "ANC Reminders", "translation_key": "schedule.anc"},
            {"group": 1, "offset": "0", "translation_key": "messages.anc.visit1", "recipient": "clinic"},
            {"due": "2024-01-01T00:00:00.000Z", "group": 1, "type": "ANC Reminders", "translation_key": "schedule.anc",
             "message_key": "messages.anc.visit1", "recipient": "clinic"},
            id="all_keys_in_chts_order",
        ),
        pytest.param(
            {"name": "ANC"},
            {"offset": "0", "message": [{"locale": "en", "content": "Hi"}]},
            {"due": "2024-01-01T00:00:00.000Z", "type": "ANC"},
            id="absent_keys_omitted",
        ),
        pytest.param(
            {"name": "ANC", "translation_key": None},
            {"group": None, "offset": "0", "translation_key": None, "recipient": None},
            {"due": "2024-01-01T00:00:00.000Z", "type": "ANC"},
            id="null_keys_omitted",
        ),
        pytest.param(
            {"name": None},
            {"offset": "0", "recipient": ["patient.phone", "reporting_unit"], "group": "a"},
            {"due": "2024-01-01T00:00:00.000Z", "group": "a", "recipient": ["patient.phone", "reporting_unit"]},
            id="no_name_no_type_recipient_list",
        ),
        pytest.param(
            {"name": "ANC"},
            {"offset": "0", "group": 0, "recipient": ""},
            {"due": "2024-01-01T00:00:00.000Z", "group": 0, "type": "ANC", "recipient": ""},
            id="falsy_values_kept",
        ),
    ],
)
def test_task_shape(schedule, message, expected):
    config = {**schedule, "messages": [message]}
    result = plan(config, START, settings={}, now=EARLY, has_text=always)
    (planned,) = result.tasks
    assert planned.task == expected
    assert list(planned.task) == list(expected)
    assert None not in planned.task.values()
    assert planned.message is message and planned.index == 0
    assert planned.due == utc(expected["due"])


def test_task_values_are_copies_of_the_config():
    message = {"offset": "0", "recipient": ["clinic"]}
    (planned,) = plan({"name": "ANC", "messages": [message]}, START, settings={}, now=EARLY, has_text=always).tasks
    planned.task["recipient"].append("x")
    assert message["recipient"] == ["clinic"]


@pytest.mark.parametrize(
    "schedule",
    [pytest.param(None, id="none"), pytest.param("ANC", id="string"), pytest.param([], id="list")],
)
def test_schedule_that_is_not_an_object_is_not_yet(schedule):
    result = plan(schedule, START, settings={}, now=EARLY, has_text=always)
    assert result.status == NOT_YET and result.errors


def test_schedule_without_messages_plans_nothing():
    result = plan({"name": "ANC"}, START, settings={}, now=EARLY, has_text=always)
    assert result.status == PLANNED and result.tasks == ()


# --- find_schedule ---------------------------------------------------------------------------------

SCHEDULES = [
    {"name": "ANC", "id": 1},
    {"name": "anc", "id": 2},
    {"name": "ANC", "id": 3},
    "junk",
    {"name": 7, "id": 4},
]


@pytest.mark.parametrize(
    "settings, name, expected",
    [
        pytest.param({"schedules": SCHEDULES}, "ANC", 3, id="exact_name_last_one_wins"),
        pytest.param({"schedules": SCHEDULES}, "anc", 2, id="case_sensitive"),
        pytest.param({"schedules": SCHEDULES}, "Anc", None, id="no_match"),
        pytest.param({"schedules": SCHEDULES}, "7", None, id="no_string_number_coercion"),
        pytest.param({"schedules": SCHEDULES}, 7, 4, id="same_type_number"),
        pytest.param({}, "ANC", None, id="no_schedules"),
        pytest.param({"schedules": {"ANC": {}}}, "ANC", None, id="schedules_not_a_list"),
        pytest.param(Settings(values={"schedules": SCHEDULES}), "ANC", 3, id="settings_object"),
    ],
)
def test_find_schedule(settings, name, expected):
    found = find_schedule(settings, name)
    assert (found or {}).get("id") == expected


# --- schedule_problems -----------------------------------------------------------------------------

GOOD_MESSAGE = {"group": 1, "offset": "12 weeks", "send_day": "monday", "send_time": "09:00 +03:00", "translation_key": "k"}


@pytest.mark.parametrize(
    "schedules, paths",
    [
        pytest.param(None, [], id="no_schedules"),
        pytest.param([], [], id="empty_list"),
        pytest.param(
            [{"name": "ANC", "translation_key": "s", "start_from": ["lmp_date", "fields.lmp_date"], "messages": [GOOD_MESSAGE, {"offset": "0"}, {"offset": "0 days"}]}],
            [],
            id="valid_including_zero_offsets",
        ),
        pytest.param({"name": "ANC"}, ["settings.schedules"], id="not_a_list"),
        pytest.param(["ANC"], ["settings.schedules[0]"], id="schedule_not_an_object"),
        pytest.param([{"messages": []}], ["settings.schedules[0].name"], id="missing_name"),
        pytest.param([{"name": "  "}], ["settings.schedules[0].name"], id="blank_name"),
        pytest.param([{"name": "A", "translation_key": 3}], ["settings.schedules[0].translation_key"], id="translation_key_not_string"),
        pytest.param([{"name": "A", "start_from": ""}], ["settings.schedules[0].start_from"], id="empty_start_from"),
        pytest.param([{"name": "A", "start_from": []}], ["settings.schedules[0].start_from"], id="empty_start_from_list"),
        pytest.param([{"name": "A", "start_from": ["a", 3]}], ["settings.schedules[0].start_from"], id="start_from_list_item_not_string"),
        pytest.param([{"name": "A", "start_from": "fields..x"}], ["settings.schedules[0].start_from"], id="start_from_empty_segment"),
        pytest.param([{"name": "A", "messages": {}}], ["settings.schedules[0].messages"], id="messages_not_a_list"),
        pytest.param([{"name": "A", "messages": [GOOD_MESSAGE, "x"]}], ["settings.schedules[0].messages[1]"], id="message_not_an_object"),
        pytest.param(
            [{"name": "A", "messages": [GOOD_MESSAGE, GOOD_MESSAGE, {"offset": "5"}]}],
            ["settings.schedules[0].messages[2].offset"],
            id="bad_offset_names_its_path",
        ),
        pytest.param([{"name": "A", "messages": [{}]}], ["settings.schedules[0].messages[0].offset"], id="missing_offset"),
        pytest.param([{"name": "A", "messages": [{"offset": "99999 years"}]}], ["settings.schedules[0].messages[0].offset"], id="offset_too_large"),
        pytest.param(
            [{"name": "A", "messages": [{"offset": "1 day", "send_time": "9am"}]}],
            ["settings.schedules[0].messages[0].send_time"],
            id="bad_send_time",
        ),
        pytest.param(
            [{"name": "A", "messages": [{"offset": "1 day", "send_time": "09:00 EAT"}]}],
            ["settings.schedules[0].messages[0].send_time"],
            id="send_time_zone_abbreviation",
        ),
        pytest.param(
            [{"name": "A", "messages": [{"offset": "1 day", "send_day": "someday"}]}],
            ["settings.schedules[0].messages[0].send_day"],
            id="unknown_send_day",
        ),
        pytest.param(
            [{"name": "A", "messages": [{"offset": "1 day", "send_time": "", "send_day": None}]}], [], id="empty_send_time_and_day_are_absent",
        ),
        pytest.param(
            [{"name": "A"}, {"messages": [{"offset": "x", "send_time": "25:00", "send_day": "x"}]}],
            [
                "settings.schedules[1].name",
                "settings.schedules[1].messages[0].offset",
                "settings.schedules[1].messages[0].send_time",
                "settings.schedules[1].messages[0].send_day",
            ],
            id="every_problem_is_listed",
        ),
    ],
)
def test_schedule_problems(schedules, paths):
    settings = {} if schedules is None else {"schedules": schedules}
    problems = schedule_problems(settings)
    assert [p.split(":")[0] for p in problems] == paths
