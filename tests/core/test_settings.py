"""Settings: defaults merged under the doc, validation that lists every problem, fail closed, hot reload."""
from __future__ import annotations

import json

import pytest

from sentinel.daemon.cli import main as cli
from sentinel.core.errors import ConfigError
from sentinel.core.settings import load_defaults, merge_defaults, transition_enabled
from sentinel.daemon.settings_check import build

from ..support import drain, put_settings, report


@pytest.mark.parametrize(
    "conf, enabled",
    [
        (True, True),
        ({}, True),  # JS truthiness: an empty object enables, as in CHT
        ({"disable": False}, True),
        ({"client_side": False}, True),
        ([], True),
        (False, False),
        (None, False),
        ({"disable": True}, False),
        (0, False),
        ("", False),
    ],
)
def test_a_transition_is_enabled_when_truthy_and_not_disabled(conf, enabled):
    assert transition_enabled(conf) is enabled


def test_defaults_fill_only_keys_the_doc_lacks_and_null_sections_count_as_absent():
    merged = merge_defaults({"locale": "fr", "schedule_evening_hours": None, "custom": 1})
    assert merged["locale"] == "fr"
    assert merged["schedule_evening_hours"] == load_defaults()["schedule_evening_hours"]
    assert merged["custom"] == 1
    assert "synthetic_date" not in merged  # null in defaults too: absent


def test_null_transition_sections_are_allowed():
    settings, transitions = build({"transitions": {"update_clinics": None}, "update_clinics": None})
    assert transitions == ()


def test_every_problem_is_reported_at_once_with_the_warnings_beside_them():
    with pytest.raises(ConfigError) as err:
        build({
            "transitions": {"foo": True, "bar": {}, "update_clinics": "yes"},
            "schedule_morning_hours": 25,
            "update_clinics": [{"messages": []}],
        })
    assert err.value.problems == [
        "settings.schedule_morning_hours: 25 is greater than the maximum of 23",
        'Unknown transition "foo"',
        'Unknown transition "bar"',
    ]
    assert err.value.warnings == [
        "settings.transitions.update_clinics: 'yes' is read by JavaScript truthiness: the transition is enabled, as in CHT",
        'settings.update_clinics[0]: {"messages": []} names no `form`; no report matches it, so it is ignored, as in CHT',
    ]


def test_enabled_transitions_come_in_cht_order_whatever_the_settings_order():
    _, transitions = build({"transitions": {"resolve_pending": True, "update_sent_by": True, "update_clinics": True}})
    assert [t.name for t in transitions] == ["update_clinics", "update_sent_by", "resolve_pending"]


# --- check-config ---------------------------------------------------------------------------------
def test_check_config_accepts_a_valid_file_or_a_whole_settings_doc(tmp_path, capsys):
    plain = tmp_path / "app_settings.json"
    plain.write_text(json.dumps({"transitions": {"update_clinics": True}}))
    doc = tmp_path / "settings_doc.json"
    doc.write_text(json.dumps({"_id": "settings", "settings": {"transitions": {"update_sent_by": {}}}}))
    assert cli(["check-config", str(plain)]) == 0
    assert cli(["check-config", str(doc)]) == 0
    out = capsys.readouterr().out
    assert "transitions enabled: update_clinics" in out and "transitions enabled: update_sent_by" in out


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"transitions": {"nope": true}, "schedule_evening_hours": 99}', ['Unknown transition "nope"', "settings.schedule_evening_hours"]),
        ("{not json", ["not valid JSON"]),
        ("[1, 2]", ["must be a JSON object"]),
    ],
)
def test_check_config_prints_every_problem_and_exits_1(tmp_path, capsys, content, expected):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert cli(["check-config", str(path)]) == 1
    out = capsys.readouterr().out
    for text in expected:
        assert text in out


def test_check_config_on_a_missing_file_says_so(tmp_path, capsys):
    assert cli(["check-config", str(tmp_path / "nope.json")]) == 1
    assert "no such file" in capsys.readouterr().out


# --- against the server ----------------------------------------------------------------------------
def test_a_missing_settings_doc_is_created_from_defaults(main, make_runner):
    runner = make_runner()
    assert main.get("settings")["settings"] == load_defaults()
    assert runner.current is not None


def test_settings_changes_are_picked_up_live_between_batches(main, hierarchy, make_runner):
    runner = make_runner({"transitions": {"update_clinics": True}})
    main.put(report("before", **{"from": "+254700000001"}))
    drain(runner)
    put_settings(main, {"transitions": {"update_clinics": True, "update_sent_by": True}})
    main.put(report("after", **{"from": "+254700000001"}))
    drain(runner)
    assert "sent_by" not in main.get("before")
    assert main.get("after")["sent_by"] == "Chloe CHW"


def test_invalid_settings_stop_all_processing_until_they_are_fixed(main, sentinel_db, hierarchy, make_runner, caplog):
    runner = make_runner({"transitions": {"update_clinics": True}})
    drain(runner)
    put_settings(main, {"transitions": {"update_clinics": True, "no_such_transition": True}})
    runner.step()  # reads the settings change: fail closed
    assert runner.current is None
    assert 'Unknown transition "no_such_transition"' in caplog.text
    stuck_at = sentinel_db.get("_local/transitions-seq")["value"]
    main.put(report("waiting", **{"from": "+254700000001"}))
    for _ in range(3):
        runner.step()
    assert "contact" not in main.get("waiting")
    assert sentinel_db.get("_local/transitions-seq")["value"] == stuck_at
    put_settings(main, {"transitions": {"update_clinics": True}})
    drain(runner)
    assert main.get("waiting")["contact"]["_id"] == "chw"


def test_translations_are_reloaded_when_a_messages_doc_changes(main, make_runner):
    runner = make_runner({"transitions": {"update_clinics": True}})
    main.put({"_id": "messages-en", "code": "en", "generic": {"sys.facility_not_found": "Unknown sender"}})
    drain(runner)
    main.put(report("r1", **{"from": "+19999"}))
    drain(runner)
    assert main.get("r1")["errors"] == [{"code": "sys.facility_not_found", "message": "Unknown sender"}]
