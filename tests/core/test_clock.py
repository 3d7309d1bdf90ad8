"""sentinel/clock.py: the settings' time zone, synthetic_date, durations, the send window, dates in documents.

Pure: no database. Times are compared as CHT stores them (`to_iso`, UTC with milliseconds), so a
wrong zone or a lost DST hour shows up in the expected string.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta

from sentinel.core import clock
from sentinel.core.clock import (
    add_duration,
    clock_problems,
    effective_now,
    in_send_window,
    overdue_cutoff,
    parse_date,
    parse_duration,
    start_of_day,
    timezone_problems,
    to_iso,
    zone,
)
from sentinel.core.settings import Settings

UTC = timezone.utc
REAL_NOW = datetime(2030, 6, 1, 3, 4, 5, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- time zone -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, expected",
    [
        pytest.param({}, "UTC", id="default_is_utc"),
        pytest.param({"timezone": None}, "UTC", id="null_is_utc"),
        pytest.param({"timezone": "Africa/Nairobi"}, "Africa/Nairobi", id="iana_name"),
        pytest.param(Settings(values={"timezone": "America/New_York"}), "America/New_York", id="settings_object"),
    ],
)
def test_zone_comes_from_the_timezone_setting(settings, expected):
    assert zone(settings) == ZoneInfo(expected)


@pytest.mark.parametrize(
    "value, problem",
    [
        pytest.param(None, None, id="unset_is_fine"),
        pytest.param("UTC", None, id="utc_is_fine"),
        pytest.param("Africa/Nairobi", None, id="iana_name_is_fine"),
        pytest.param("Mars/Olympus_Mons", "unknown time zone 'Mars/Olympus_Mons'", id="unknown_name"),
        pytest.param("africa/nairobi", "unknown time zone 'africa/nairobi'", id="names_are_case_sensitive"),
        pytest.param("localtime", "unknown time zone 'localtime'", id="host_zone_is_refused"),
        pytest.param("+03:00", "unknown time zone '+03:00'", id="offset_is_not_a_zone"),
        pytest.param("", "must be an IANA time zone name", id="empty_string"),
        pytest.param(3, "must be an IANA time zone name", id="not_a_string"),
    ],
)
def test_timezone_problems_name_the_setting(value, problem):
    problems = timezone_problems({"timezone": value})
    if problem is None:
        assert problems == []
        zone({"timezone": value})
    else:
        assert len(problems) == 1
        assert problems[0].startswith("settings.timezone: ") and problem in problems[0]
        with pytest.raises(ValueError, match="settings.timezone"):
            zone({"timezone": value})


# --- synthetic_date / effective_now ----------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, expected",
    [
        pytest.param({}, "2030-06-01T03:04:05.000Z", id="unset_gives_real_now"),
        pytest.param({"synthetic_date": "20240115"}, "2024-01-15T12:00:00.000Z", id="date_only_defaults_to_noon"),
        pytest.param({"synthetic_date": "2024011508"}, "2024-01-15T08:00:00.000Z", id="with_hours"),
        pytest.param({"synthetic_date": "202401150830"}, "2024-01-15T08:30:00.000Z", id="with_hours_and_minutes"),
        pytest.param({"synthetic_date": "2024011500"}, "2024-01-15T00:00:00.000Z", id="hour_00_is_midnight_not_noon"),
        pytest.param({"synthetic_date": 2024011508}, "2024-01-15T08:00:00.000Z", id="number_is_read_as_its_digits"),
        pytest.param(
            {"synthetic_date": "2024011508", "timezone": "Africa/Nairobi"}, "2024-01-15T05:00:00.000Z", id="read_in_settings_zone"
        ),
        pytest.param(
            {"synthetic_date": "202403100230", "timezone": "America/New_York"},
            "2024-03-10T07:30:00.000Z",
            id="dst_gap_moves_forward",
        ),
        pytest.param({"synthetic_date": "20241340"}, "2030-06-01T03:04:05.000Z", id="impossible_date_is_ignored"),
        pytest.param({"synthetic_date": "2024011525"}, "2030-06-01T03:04:05.000Z", id="impossible_hour_is_ignored"),
        pytest.param({"synthetic_date": "2024-01-15"}, "2030-06-01T03:04:05.000Z", id="dashes_are_not_the_format"),
        pytest.param({"synthetic_date": ""}, "2030-06-01T03:04:05.000Z", id="empty_is_unset"),
    ],
)
def test_effective_now_honours_synthetic_date(settings, expected):
    assert to_iso(effective_now(settings, REAL_NOW)) == expected


def test_synthetic_clock_is_frozen_like_cht_getdate():
    settings = {"synthetic_date": "2024011508"}
    later = REAL_NOW + timedelta(hours=5)
    assert effective_now(settings, REAL_NOW) == effective_now(settings, later)


@pytest.mark.parametrize(
    "settings",
    [pytest.param({}, id="real"), pytest.param({"synthetic_date": "202401150830", "timezone": "Asia/Kolkata"}, id="synthetic")],
)
def test_effective_now_is_idempotent(settings):
    once = effective_now(settings, REAL_NOW)
    assert effective_now(settings, once) == once


def test_effective_now_refuses_a_naive_now():
    with pytest.raises(ValueError, match="timezone-aware"):
        effective_now({}, datetime(2024, 1, 1))


# --- start_of_day ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tz, moment, expected",
    [
        pytest.param("UTC", "2024-01-15T22:30:00Z", "2024-01-15T00:00:00.000Z", id="utc"),
        pytest.param("Africa/Nairobi", "2024-01-15T22:30:00Z", "2024-01-15T21:00:00.000Z", id="nairobi_is_already_the_next_day"),
        pytest.param("America/New_York", "2024-01-15T03:00:00Z", "2024-01-14T05:00:00.000Z", id="new_york_is_still_the_day_before"),
        pytest.param("America/New_York", "2024-03-10T12:00:00Z", "2024-03-10T05:00:00.000Z", id="dst_day_starts_in_winter_time"),
        pytest.param("America/Santiago", "2024-09-08T12:00:00Z", "2024-09-08T04:00:00.000Z", id="midnight_in_dst_gap_becomes_1am"),
    ],
)
def test_start_of_day_is_midnight_in_settings_zone(tz, moment, expected):
    assert to_iso(start_of_day(utc(moment), {"timezone": tz})) == expected


# --- durations -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("1 second", relativedelta(seconds=1), id="second"),
        pytest.param("30 seconds", relativedelta(seconds=30), id="seconds"),
        pytest.param("1 minute", relativedelta(minutes=1), id="minute"),
        pytest.param("90 minutes", relativedelta(minutes=90), id="minutes"),
        pytest.param("1 hour", relativedelta(hours=1), id="hour"),
        pytest.param("36 hours", relativedelta(hours=36), id="hours"),
        pytest.param("1 day", relativedelta(days=1), id="day"),
        pytest.param("10 days", relativedelta(days=10), id="days"),
        pytest.param("1 week", relativedelta(weeks=1), id="week"),
        pytest.param("12 weeks", relativedelta(days=84), id="weeks"),
        pytest.param("1 month", relativedelta(months=1), id="month"),
        pytest.param("9 months", relativedelta(months=9), id="months"),
        pytest.param("1 year", relativedelta(years=1), id="year"),
        pytest.param("2 years", relativedelta(years=2), id="years"),
        pytest.param("0", relativedelta(), id="bare_zero_is_valid"),
        pytest.param("0 days", relativedelta(), id="zero_days_is_valid"),
        pytest.param("1 days", relativedelta(days=1), id="plural_with_one"),
        pytest.param("2 day", relativedelta(days=2), id="singular_with_two"),
        pytest.param("  12   Weeks ", relativedelta(weeks=12), id="case_and_whitespace_tolerated"),
        pytest.param("5", None, id="bare_nonzero_number_is_ambiguous"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="missing"),
        pytest.param(5, None, id="number_not_string"),
        pytest.param("days", None, id="unit_without_number"),
        pytest.param("five days", None, id="words"),
        pytest.param("-1 days", None, id="negative"),
        pytest.param("1.5 days", None, id="fraction"),
        pytest.param("5x days", None, id="junk_after_number"),
        pytest.param("5 weekdays", None, id="unknown_unit_containing_a_unit"),
        pytest.param("2 fortnights", None, id="unknown_unit"),
        pytest.param("3 days later", None, id="trailing_words"),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "tz, start, duration, expected",
    [
        pytest.param("UTC", "2024-01-31T10:00:00Z", "1 month", "2024-02-29T10:00:00.000Z", id="month_clamps_to_month_end"),
        pytest.param("UTC", "2024-02-29T10:00:00Z", "1 year", "2025-02-28T10:00:00.000Z", id="leap_day_plus_year"),
        pytest.param("America/New_York", "2024-03-09T17:00:00Z", "1 day", "2024-03-10T16:00:00.000Z", id="day_keeps_wall_clock_across_dst"),
        pytest.param("America/New_York", "2024-03-09T17:00:00Z", "24 hours", "2024-03-10T17:00:00.000Z", id="hours_are_elapsed_time"),
        pytest.param("America/New_York", "2024-03-09T17:00:00Z", "36 hours", "2024-03-11T05:00:00.000Z", id="hours_over_a_day_stay_elapsed"),
        pytest.param("America/New_York", "2024-03-09T07:30:00Z", "1 day", "2024-03-10T07:30:00.000Z", id="day_into_dst_gap_moves_forward"),
        pytest.param("America/New_York", "2024-11-02T05:30:00Z", "1 day", "2024-11-03T05:30:00.000Z", id="day_into_overlap_takes_first"),
        pytest.param("Africa/Nairobi", "2024-01-15T22:00:00Z", "1 month", "2024-02-15T22:00:00.000Z", id="calendar_in_settings_zone"),
        pytest.param("UTC", "2024-01-15T10:00:00Z", "0", "2024-01-15T10:00:00.000Z", id="zero"),
    ],
)
def test_add_duration_follows_moment(tz, start, duration, expected):
    assert to_iso(add_duration(utc(start), parse_duration(duration), {"timezone": tz})) == expected


@pytest.mark.parametrize(
    "duration, expected",
    [
        pytest.param("24 hours", "2024-03-09T16:00:00.000Z", id="minus_hours_stay_elapsed"),
        pytest.param("1 day", "2024-03-09T17:00:00.000Z", id="minus_day_keeps_wall_clock"),
    ],
)
def test_negated_duration_keeps_its_kind(duration, expected):
    settings = {"timezone": "America/New_York"}
    assert to_iso(add_duration(utc("2024-03-10T16:00:00Z"), -parse_duration(duration), settings)) == expected


@pytest.mark.parametrize(
    "settings, expected",
    [
        pytest.param({}, "2024-01-08T12:00:00.000Z", id="default_seven_days"),
        pytest.param({"max_overdue": "2 days"}, "2024-01-13T12:00:00.000Z", id="duration_string"),
        pytest.param({"max_overdue": 3}, "2024-01-12T12:00:00.000Z", id="number_of_days"),
        pytest.param({"max_overdue": "0"}, "2024-01-15T12:00:00.000Z", id="zero"),
    ],
)
def test_overdue_cutoff_uses_max_overdue_and_synthetic_date(settings, expected):
    settings = {"synthetic_date": "20240115", **settings}
    assert to_iso(overdue_cutoff(settings, REAL_NOW)) == expected


# --- the send window -------------------------------------------------------------------------------

WINDOW = {
    "schedule_morning_hours": 8,
    "schedule_morning_minutes": 30,
    "schedule_evening_hours": 18,
    "schedule_evening_minutes": 0,
}


@pytest.mark.parametrize(
    "settings, now, inside",
    [
        pytest.param(WINDOW, "2024-01-15T08:29:59Z", False, id="just_before_morning"),
        pytest.param(WINDOW, "2024-01-15T08:30:00Z", True, id="morning_edge_inclusive"),
        pytest.param(WINDOW, "2024-01-15T12:00:00Z", True, id="midday"),
        pytest.param(WINDOW, "2024-01-15T18:00:00Z", True, id="evening_edge_inclusive"),
        pytest.param(WINDOW, "2024-01-15T18:00:59Z", True, id="evening_minute_counts_whole"),
        pytest.param(WINDOW, "2024-01-15T18:01:00Z", False, id="just_after_evening"),
        pytest.param({}, "2024-01-15T00:00:00Z", True, id="defaults_from_midnight"),
        pytest.param({}, "2024-01-15T23:00:59Z", True, id="defaults_until_23h"),
        pytest.param({}, "2024-01-15T23:01:00Z", False, id="defaults_not_after_23h"),
        pytest.param({"schedule_evening_hours": 0}, "2024-01-15T22:59:00Z", True, id="evening_zero_means_23_inside"),
        pytest.param({"schedule_evening_hours": 0}, "2024-01-15T23:01:00Z", False, id="evening_zero_means_23_outside"),
        pytest.param(
            {"schedule_evening_hours": 0, "schedule_evening_minutes": 30}, "2024-01-15T23:30:00Z", True, id="evening_zero_keeps_minutes"
        ),
        pytest.param({"schedule_evening_hours": None}, "2024-01-15T23:01:00Z", False, id="evening_null_means_23"),
        pytest.param({"schedule_morning_hours": "8", "schedule_evening_hours": "9"}, "2024-01-15T08:15:00Z", True, id="numeric_strings"),
        pytest.param({**WINDOW, "timezone": "Africa/Nairobi"}, "2024-01-15T05:30:00Z", True, id="nairobi_morning_is_0530_utc"),
        pytest.param({**WINDOW, "timezone": "Africa/Nairobi"}, "2024-01-15T15:01:00Z", False, id="nairobi_evening_is_1500_utc"),
        pytest.param({**WINDOW, "timezone": "America/New_York"}, "2024-07-15T12:30:00Z", True, id="new_york_summer_time"),
        pytest.param({**WINDOW, "timezone": "America/New_York"}, "2024-01-15T12:30:00Z", False, id="new_york_winter_time"),
        pytest.param({**WINDOW, "synthetic_date": "20240115"}, "2030-01-01T03:00:00Z", True, id="synthetic_noon_is_inside"),
        pytest.param({**WINDOW, "synthetic_date": "2024011507"}, "2030-01-01T12:00:00Z", False, id="synthetic_7am_is_outside"),
        pytest.param(
            {"schedule_morning_hours": 20, "schedule_evening_hours": 6}, "2024-01-15T22:00:00Z", False, id="inverted_window_is_empty"
        ),
    ],
)
def test_in_send_window(settings, now, inside):
    assert in_send_window(settings, utc(now)) is inside


# --- dates in documents ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "moment, expected",
    [
        pytest.param(datetime(2024, 1, 15, 10, 0, tzinfo=UTC), "2024-01-15T10:00:00.000Z", id="utc"),
        pytest.param(datetime(2024, 1, 15, 10, 0, 0, 123999, tzinfo=UTC), "2024-01-15T10:00:00.123Z", id="microseconds_truncated"),
        pytest.param(datetime(2024, 1, 15, 1, 0, tzinfo=ZoneInfo("Africa/Nairobi")), "2024-01-14T22:00:00.000Z", id="converted_to_utc"),
    ],
)
def test_to_iso_is_chts_utc_format(moment, expected):
    assert to_iso(moment) == expected


def test_to_iso_refuses_naive_datetimes():
    with pytest.raises(ValueError):
        to_iso(datetime(2024, 1, 15, 10, 0))


@pytest.mark.parametrize(
    "value, tz, expected",
    [
        pytest.param(1705312800000, None, "2024-01-15T10:00:00.000Z", id="epoch_ms"),
        pytest.param(1705312800123.9, None, "2024-01-15T10:00:00.123Z", id="epoch_ms_fraction_truncated"),
        pytest.param("1705312800000", None, "2024-01-15T10:00:00.000Z", id="epoch_ms_string"),
        pytest.param(0, None, "1970-01-01T00:00:00.000Z", id="epoch_zero"),
        pytest.param("2024-01-15T10:00:00.000Z", None, "2024-01-15T10:00:00.000Z", id="iso_utc"),
        pytest.param("2024-01-15T10:00:00.000z", None, "2024-01-15T10:00:00.000Z", id="iso_lowercase_z"),
        pytest.param("2024-01-15T10:00:00+03:00", "America/New_York", "2024-01-15T07:00:00.000Z", id="iso_offset_wins_over_zone"),
        pytest.param("2024-01-15", None, "2024-01-15T00:00:00.000Z", id="date_only_utc_by_default"),
        pytest.param("2024-01-15", "Africa/Nairobi", "2024-01-14T21:00:00.000Z", id="date_only_in_settings_zone"),
        pytest.param("20240115", "Africa/Nairobi", "2024-01-14T21:00:00.000Z", id="eight_digits_are_a_basic_date"),
        pytest.param("2024-01-15 10:00", "Africa/Nairobi", "2024-01-15T07:00:00.000Z", id="naive_time_in_settings_zone"),
        pytest.param("2024-03-10T02:30", "America/New_York", "2024-03-10T07:30:00.000Z", id="naive_time_in_dst_gap"),
        pytest.param(datetime(2024, 1, 15, 10), "Africa/Nairobi", "2024-01-15T07:00:00.000Z", id="naive_datetime"),
        pytest.param(datetime(2024, 1, 15, 10, tzinfo=UTC), "Africa/Nairobi", "2024-01-15T10:00:00.000Z", id="aware_datetime"),
        pytest.param(date(2024, 1, 15), "Africa/Nairobi", "2024-01-14T21:00:00.000Z", id="date_object"),
    ],
)
def test_parse_date(value, tz, expected):
    settings = {"timezone": tz} if tz else None
    assert to_iso(parse_date(value, settings)) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("soon", id="words"),
        pytest.param("2024-1-5", id="unpadded"),
        pytest.param("2024-02-30", id="impossible_date"),
        pytest.param(True, id="boolean"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="infinity"),
        pytest.param(10**20, id="out_of_range"),
        pytest.param({}, id="object"),
        pytest.param([2024, 1, 15], id="list"),
    ],
)
def test_parse_date_gives_none_for_non_dates(value):
    assert parse_date(value) is None


# --- the settings check ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, paths",
    [
        pytest.param({}, [], id="nothing_set"),
        pytest.param({"timezone": "Africa/Nairobi", "synthetic_date": "2024011508", "max_overdue": "3 days"}, [], id="all_valid"),
        pytest.param({"max_overdue": 14}, [], id="max_overdue_days_number"),
        pytest.param({"timezone": "Nowhere"}, ["settings.timezone"], id="bad_timezone"),
        pytest.param({"max_overdue": "a week"}, ["settings.max_overdue"], id="bad_max_overdue"),
        pytest.param({"max_overdue": -1}, ["settings.max_overdue"], id="negative_max_overdue"),
    ],
)
def test_clock_problems(settings, paths):
    assert [p.split(":")[0] for p in clock_problems(settings)] == paths


def test_setting_treats_null_as_absent_for_settings_objects_and_mappings():
    assert clock.setting(Settings(values={"timezone": None}), "timezone") is None
    assert clock.setting({"timezone": None}, "timezone") is None
    assert clock.setting(None, "timezone") is None
