"""Settings values CHT reads leniently run on with a warning; values CHT would misread still fail closed."""
from __future__ import annotations

import pytest

from sentinel.core.errors import ConfigError
from sentinel.daemon.settings_check import build
from sentinel.core.settings_tolerance import RULES, tolerate

ABSENT = object()


@pytest.mark.parametrize(
    "raw, key, expected, warning_path",
    [
        # synthetic_date: CHT's date.js uses it only when it can read a date out of it
        ({"synthetic_date": ""}, "synthetic_date", ABSENT, "settings.synthetic_date"),
        ({"synthetic_date": "next monday"}, "synthetic_date", ABSENT, "settings.synthetic_date"),
        ({"synthetic_date": "20240230"}, "synthetic_date", ABSENT, "settings.synthetic_date"),
        ({"synthetic_date": 20240115}, "synthetic_date", "20240115", "settings.synthetic_date"),
        ({"synthetic_date": "2024011508"}, "synthetic_date", "2024011508", None),
        # the send window: `config.get(k) || default`, then moment's number coercion
        ({"schedule_morning_hours": ""}, "schedule_morning_hours", ABSENT, "settings.schedule_morning_hours"),
        ({"schedule_morning_hours": "7"}, "schedule_morning_hours", 7, "settings.schedule_morning_hours"),
        ({"schedule_evening_minutes": 30.0}, "schedule_evening_minutes", 30, None),
        ({"schedule_evening_hours": 18.5}, "schedule_evening_hours", 18, "settings.schedule_evening_hours"),
        ({"schedule_evening_hours": 18}, "schedule_evening_hours", 18, None),
        ({"multipart_sms_limit": "5"}, "multipart_sms_limit", 5, "settings.multipart_sms_limit"),
        ({"multipart_sms_limit": ""}, "multipart_sms_limit", ABSENT, "settings.multipart_sms_limit"),
        # locales fall through `||`
        ({"locale": ""}, "locale", ABSENT, "settings.locale"),
        ({"locale_outgoing": 7}, "locale_outgoing", ABSENT, "settings.locale_outgoing"),
        ({"locale": "sw"}, "locale", "sw", None),
        ({"gateway_number": 254700000000}, "gateway_number", "254700000000", "settings.gateway_number"),
        ({"gateway_number": ""}, "gateway_number", ABSENT, "settings.gateway_number"),
        ({"default_country_code": ""}, "default_country_code", ABSENT, "settings.default_country_code"),
        ({"sms": "none"}, "sms", ABSENT, "settings.sms"),
        # forms: `config.forms && config.forms[code]`
        ({"forms": []}, "forms", ABSENT, "settings.forms"),
        ({"forms": {"A": None, "B": {}}}, "forms", {"B": {}}, "settings.forms.A"),
        ({"forms": {"A": {"public_form": "true"}}}, "forms", {"A": {"public_form": True}}, "settings.forms.A.public_form"),
        ({"forms": {"A": {"fields": []}}}, "forms", {"A": {}}, "settings.forms.A.fields"),
        # contact types: Array.isArray, entries matched by id
        ({"contact_types": {}}, "contact_types", ABSENT, "settings.contact_types"),
        ({"contact_types": [{"name": "x"}, {"id": "clinic"}]}, "contact_types", [{"id": "clinic"}], "settings.contact_types[0]"),
        ({"contact_types": [{"id": "c", "parents": "d"}]}, "contact_types", [{"id": "c"}], "settings.contact_types[0].parents"),
        # transitions: JavaScript truthiness
        ({"transitions": []}, "transitions", ABSENT, "settings.transitions"),
        ({"transitions": {"update_sent_by": "true"}}, "transitions", {"update_sent_by": True}, "settings.transitions.update_sent_by"),
        ({"transitions": {"update_sent_by": 0}}, "transitions", {"update_sent_by": False}, "settings.transitions.update_sent_by"),
        (
            {"transitions": {"update_sent_by": {"disable": "yes"}}},
            "transitions",
            {"update_sent_by": {"disable": True}},
            "settings.transitions.update_sent_by.disable",
        ),
        ({"transitions": {"update_sent_by": {"client_side": False}}}, "transitions", {"update_sent_by": {"client_side": False}}, None),
        ({"update_clinics": [{"form": "A"}, {}]}, "update_clinics", [{"form": "A"}], "settings.update_clinics[1]"),
        # what CHT does not read is left alone, silently
        ({"tasks": "", "contact_summary": 3}, "tasks", "", None),
        ({"synthetic_date": None}, "synthetic_date", None, None),
    ],
)
def test_a_value_cht_reads_leniently_is_read_the_same_way_with_one_warning(raw, key, expected, warning_path):
    normalised, warnings = tolerate(raw)
    assert normalised.get(key, ABSENT) == expected if expected is not ABSENT else key not in normalised
    assert [w.split(":")[0] for w in warnings] == ([warning_path] if warning_path else [])


@pytest.mark.parametrize(
    "raw, problem",
    [
        ({"schedule_morning_hours": "seven"}, "settings.schedule_morning_hours"),
        ({"schedule_evening_hours": 25}, "settings.schedule_evening_hours"),
        ({"multipart_sms_limit": "many"}, "settings.multipart_sms_limit"),
        ({"transitions": {"not_a_transition": True}}, 'Unknown transition "not_a_transition"'),
    ],
)
def test_a_value_cht_would_misread_still_fails_closed(raw, problem):
    with pytest.raises(ConfigError) as err:
        build(raw)
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


def test_the_warnings_are_on_the_settings_and_the_transitions_run():
    settings, transitions = build({
        "synthetic_date": "",
        "schedule_morning_hours": "6",
        "transitions": {"update_sent_by": "true", "generate_patient_id_on_people": True},
    })
    assert [t.name for t in transitions] == ["generate_patient_id_on_people", "update_sent_by"]
    assert settings.get("schedule_morning_hours") == 6 and settings.get("synthetic_date") is None
    assert [w.split(":")[0] for w in settings.warnings] == [
        "settings.synthetic_date",
        "settings.schedule_morning_hours",
        "settings.transitions.update_sent_by",
        "settings.transitions.generate_patient_id_on_people",
    ]


def test_every_rule_is_described_for_the_readme_table():
    assert all(cht and ours for cht, ours in RULES.values())


def test_the_readme_table_is_the_rules_table():
    from pathlib import Path

    from sentinel.core.settings_tolerance import readme_table

    readme = (Path(__file__).parent.parent.parent / "README.md").read_text()
    start = readme.index("<!-- tolerance-table")
    block = readme[readme.index("\n", start) + 1 : readme.index("<!-- /tolerance-table -->")]
    assert block.strip() == readme_table()


def test_cht2_translations_in_the_settings_are_read_under_the_translation_docs():
    legacy = {"translations": [
        {"key": "sys.facility_not_found", "translations": [{"locale": "en", "content": "Facility not found."},
                                                          {"locale": "fr", "content": "Site introuvable."}]},
        {"key": "greeting", "default": "Hello", "translations": []},
    ]}
    settings, _ = build(legacy, translations={"fr": {"sys.facility_not_found": "Établissement inconnu."}})
    assert settings.translate("sys.facility_not_found", "en") == "Facility not found."
    assert settings.translate("sys.facility_not_found", "fr") == "Établissement inconnu."  # the doc wins
    assert settings.translate("greeting", "sw") == "Hello"
    assert [w.split(":")[0] for w in settings.warnings] == ["settings.translations"]


@pytest.mark.parametrize("section", ["registrations", "patient_reports", "muting", "reminders", "outbound"])
def test_an_empty_string_for_a_section_is_no_section(section):
    normalised, warnings = tolerate({section: ""})
    assert section not in normalised and [w.split(":")[0] for w in warnings] == [f"settings.{section}"]


def test_nulls_inside_messages_and_sms_are_absent_as_in_cht():
    settings, _ = build({
        "sms": {"duplicate_limit": None, "default_to_sender": 1, "outgoing_service": None},
        "update_clinics": [{"form": "A", "messages": [{"event_type": None, "translation_key": None, "bool_expr": None,
                                                       "recipient": None, "message": "Who are you?"}]}],
    })
    assert settings.warnings == ()
