"""The message library (CHT lib/messages, message-utils, task-utils): text, generate, add_message and its
initial states, errors and rejections, task states, muting (spec 3.1, 3.8, 6).

Pure logic over documents: the transition context is a small fake holding real `Settings`, `now` and
a real `MessageHistory` (the history's persistence is tested against the server in test_history.py).
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from sentinel.messaging import messages
from sentinel.core.history import MessageHistory
from sentinel.core.settings import Settings, merge_defaults

NOW = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
NOW_ISO = "2024-01-02T03:04:05.678Z"
SENDER = "+254700000001"
CLINIC_PHONE = "+254700000009"
HC_PHONE = "+254700000008"

TRANSLATIONS = {
    "en": {
        "greeting": "Hello {{contact.name}}",
        "english.only": "Only in English",
        "padded": "  spaced out  ",
        "messages.generic.registration_not_found": "No registration for {{patient_id}}",
        "invalid.form": "Invalid form {{form}}",
    },
    "fr": {"greeting": "Bonjour {{contact.name}}"},
}

CLINIC = {"_id": "clinic", "type": "clinic", "name": "Clinic", "contact": {"_id": "nurse", "name": "Nurse", "phone": CLINIC_PHONE},
          "parent": {"_id": "hc", "type": "health_center", "contact": {"phone": HC_PHONE}, "parent": {"_id": "dh", "type": "district_hospital"}}}
CHW = {"_id": "chw", "type": "person", "name": "Chloe", "phone": SENDER, "parent": CLINIC}


PATIENT = {"_id": "patient", "type": "person", "name": "Pat", "patient_id": "12345", "parent": CLINIC}


def report(**extra: Any) -> dict[str, Any]:
    doc = {"_id": "report-1", "type": "data_record", "form": "V", "from": SENDER, "reported_date": 1700000000000,
           "contact": CHW, "fields": {"patient_id": "12345"}}
    doc.update(extra)
    return doc


def settings(**values: Any) -> Settings:
    return Settings(values=merge_defaults(values), translations=TRANSLATIONS)


def make_ctx(now: datetime = NOW, history: MessageHistory | None = None, **values: Any) -> SimpleNamespace:
    """What the message library reads of a transition's Context: settings, now and the batch's history."""
    return SimpleNamespace(settings=settings(**values), now=now, batch=SimpleNamespace(history=history or MessageHistory()))


# --- message_text ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config, locale, expected",
    [
        pytest.param({"translation_key": "greeting"}, "fr", "Bonjour {{contact.name}}", id="a translation key in the locale"),
        pytest.param({"translation_key": "english.only"}, "fr", "Only in English", id="a translation key falls back to English"),
        pytest.param({"translation_key": "no.such.key"}, "fr", "no.such.key", id="then to the key itself"),
        pytest.param({"translation_key": "padded"}, "en", "spaced out", id="translations are trimmed"),
        pytest.param({"translationKey": "greeting"}, "en", "Hello {{contact.name}}", id="translationKey as well"),
        pytest.param({"translation_key": "greeting", "message": "inline"}, "en", "Hello {{contact.name}}", id="the key wins over inline text"),
        pytest.param({"message": [{"locale": "en", "content": "hi"}, {"locale": "fr", "content": " salut "}]}, "fr", "salut",
                     id="inline: the locale's entry, trimmed"),
        pytest.param({"message": [{"locale": "en", "content": "hi"}, {"locale": "fr", "content": "salut"}]}, "sw", "hi",
                     id="inline: else the first entry"),
        pytest.param({"messages": [{"locale": "en", "content": "plural"}], "message": "singular"}, "en", "plural", id="messages wins over message"),
        pytest.param({"messages": [], "message": "singular"}, "en", "", id="an empty messages list is still messages (JS [] is truthy)"),
        pytest.param({"messages": None, "message": "singular"}, "en", "singular", id="a null messages falls back to message"),
        pytest.param({"message": " as it is "}, "en", " as it is ", id="a plain string as it is"),
        pytest.param({"message": []}, "en", "", id="an empty list"),
        pytest.param({"message": [{"locale": "en"}]}, "en", "", id="an entry without content"),
        pytest.param({}, "en", "", id="no text"),
    ],
)
def test_message_text(config, locale, expected):
    assert messages.message_text(config, locale, settings()) == expected


# --- generate --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc, recipient, values, expected_to",
    [
        pytest.param(report(), "reporting_unit", {}, SENDER, id="reporting_unit is the sender"),
        pytest.param(report(**{"from": None}), "reporting_unit", {}, SENDER, id="else the contact's phone"),
        pytest.param(report(), "clinic", {}, CLINIC_PHONE, id="clinic: the patient's clinic's contact"),
        pytest.param(report(), "health_center", {}, HC_PHONE, id="health_center"),
        pytest.param(report(), ["nobody", "clinic"], {}, CLINIC_PHONE, id="the first recipient that resolves"),
        pytest.param(report(), "+254711111111", {}, "+254711111111", id="a phone number as it is"),
        pytest.param(report(), None, {}, SENDER, id="no recipient: the sender"),
        pytest.param(report(), "reporting_unit", {"outgoing_phone_replace": {"match": "+254", "replace": "0"}}, "0700000001",
                     id="outgoing_phone_replace"),
        pytest.param(report(), "reporting_unit", {"outgoing_phone_filters": [{"match": "^\\+(\\d{3})", "replace": "00$1"}]}, "00254700000001",
                     id="outgoing_phone_filters"),
        pytest.param(report(**{"from": None}, contact=None), "reporting_unit", {}, "reporting_unit",
                     id="nothing resolves and no sender: the recipient as written"),
    ],
)
def test_generate_sends_to_the_resolved_recipient(doc, recipient, values, expected_to):
    [entry] = messages.generate(doc, {"message": "hi"}, recipient, settings(**values), {"patient": PATIENT})
    assert entry["to"] == expected_to


def test_clinic_without_a_patient_is_the_senders_phone_as_in_cht():
    # The context's deprecated `parent` (= the health center) makes CHT's walk for the clinic start
    # at the report itself and go up from the health center, so no clinic is found.
    [entry] = messages.generate(report(), {"message": "hi"}, "clinic", settings())
    assert entry["to"] == SENDER


def test_generate_leaves_to_out_when_nothing_resolves_and_there_is_no_recipient():
    [entry] = messages.generate(report(**{"from": None}, contact=None), {"message": "hi"}, None, settings())
    assert "to" not in entry
    assert entry["message"] == "hi"


@pytest.mark.parametrize(
    "config, doc, extra, expected",
    [
        pytest.param({"translation_key": "greeting"}, report(), None, {"message": "Hello Chloe"}, id="a translated, rendered text"),
        pytest.param({"translation_key": "greeting"}, report(locale="fr"), None, {"message": "Bonjour Chloe"}, id="in the doc's locale"),
        pytest.param({"translation_key": "greeting"}, report(sms_message={"locale": "fr"}), None, {"message": "Bonjour Chloe"},
                     id="in the sms_message's locale"),
        pytest.param({"message": ""}, report(), None, {"error": "messages.errors.message.empty"}, id="no text: empty error"),
        pytest.param({"message": "{{nothing}}"}, report(), None, {"error": "messages.errors.message.empty"}, id="a text rendering to nothing"),
        pytest.param({"translation_key": "no.such.key"}, report(), None, {"error": "messages.errors.message.empty"},
                     id="an untranslated key: empty error"),
        pytest.param({"translationKey": "no.such.key"}, report(), None, {"error": "messages.errors.message.empty"},
                     id="an untranslated translationKey: empty error"),
        pytest.param({"message": "Hi {{patient_name}}"}, report(), {"registrations": [{"_id": "reg"}]},
                     {"message": "Hi ", "error": "messages.errors.patient.missing"}, id="registrations without a patient"),
        pytest.param({"message": "Hi"}, report(), {"place_registrations": [{"_id": "reg"}]},
                     {"message": "Hi", "error": "messages.errors.place.missing"}, id="place registrations without a place"),
        pytest.param({"message": "Hi"}, report(), {"registrations": [{}], "place_registrations": [{}]},
                     {"message": "Hi", "error": "messages.errors.place.missing"}, id="both missing: the place error"),
        pytest.param({"message": "Hi {{patient_name}}"}, report(), {"patient": {"name": "Pat"}, "registrations": [{}]},
                     {"message": "Hi Pat"}, id="registrations with their patient"),
    ],
)
def test_generate_text_and_errors(config, doc, extra, expected):
    [entry] = messages.generate(doc, config, "reporting_unit", settings(), extra)
    assert {k: v for k, v in entry.items() if k not in ("uuid", "to")} == expected


@pytest.mark.parametrize(
    "text, limit, expected_message",
    [
        pytest.param("o" * 1000, 1, "o" * 150 + "...", id="1000 GSM characters, limit 1"),
        pytest.param("☃" * 1000, 1, "☃" * 64 + "...", id="1000 UCS-2 characters, limit 1"),
        pytest.param("o" * 1600, None, "o" * 1527 + "...", id="the default limit is 10 parts"),
    ],
)
def test_generate_truncates_beyond_multipart_sms_limit_keeping_the_original(text, limit, expected_message):
    values = {"multipart_sms_limit": limit} if limit else {}
    [entry] = messages.generate(report(), {"message": text}, "reporting_unit", settings(**values))
    assert entry["message"] == expected_message
    assert entry["original_message"] == text


def test_generate_does_not_truncate_within_the_limit():
    [entry] = messages.generate(report(), {"message": "o" * 1530}, "reporting_unit", settings())
    assert entry["message"] == "o" * 1530
    assert "original_message" not in entry


def test_generate_gives_a_deterministic_uuid_for_a_key_and_a_random_one_without():
    keyed = [messages.generate(report(), {"message": "hi"}, None, settings(), key="k")[0]["uuid"] for _ in range(2)]
    assert keyed[0] == keyed[1] == str(uuid.uuid5(messages._UUID_NAMESPACE, "report-1/k"))
    other_doc = messages.generate(report(_id="report-2"), {"message": "hi"}, None, settings(), key="k")[0]["uuid"]
    random = {messages.generate(report(), {"message": "hi"}, None, settings())[0]["uuid"] for _ in range(2)}
    assert other_doc != keyed[0]
    assert len(random) == 2 and all(uuid.UUID(u).version == 4 for u in random)


# --- add_message -----------------------------------------------------------------------------------


def test_add_message_appends_a_pending_task_with_its_state_history():
    doc = report()
    task = messages.add_message(doc, make_ctx(), {"translation_key": "greeting"}, "reporting_unit", task_fields={"type": "alert"})
    assert doc["tasks"] == [task]
    assert task == {
        "messages": [{"uuid": task["messages"][0]["uuid"], "to": SENDER, "message": "Hello Chloe"}],
        "type": "alert",
        "state": "pending",
        "state_history": [{"state": "pending", "timestamp": NOW_ISO}],
    }


def test_add_message_without_recipient_answers_the_reporting_unit():
    doc = report()
    messages.add_message(doc, make_ctx(), {"message": "hi"}, None)
    assert doc["tasks"][0]["messages"][0]["to"] == SENDER


@pytest.mark.parametrize(
    "config, expected",
    [
        pytest.param({"translation_key": "greeting"}, {"message": "Hello Chloe"}, id="translation_key"),
        pytest.param({"message": [{"locale": "en", "content": "inline"}]}, {"message": "inline"}, id="message"),
        pytest.param({"messages": [{"locale": "en", "content": "plural"}]}, {"error": "messages.errors.message.empty"},
                     id="not messages (CHT's addMessage passes only translation_key and message)"),
        pytest.param({"translationKey": "greeting"}, {"error": "messages.errors.message.empty"}, id="not translationKey"),
    ],
)
def test_add_message_reads_the_translation_key_and_message_of_its_config(config, expected):
    doc = report()
    messages.add_message(doc, make_ctx(), config)
    entry = doc["tasks"][0]["messages"][0]
    assert {k: v for k, v in entry.items() if k in ("message", "error")} == expected
    assert doc["tasks"][0]["state"] == "pending"  # an empty message is still a pending task


@pytest.mark.parametrize(
    "sender, values",
    [
        pytest.param("+254700000000", {"gateway_number": "+254700000000"}, id="the gateway number"),
        pytest.param("0700000000", {"gateway_number": "+254700000000", "default_country_code": 254}, id="the gateway number, written locally"),
        pytest.param("+2547123", {"outgoing_deny_list": "+2547123,MPESA"}, id="a prefix on the deny list"),
        pytest.param("mpesa-alerts", {"outgoing_deny_list": "+2547123, MPESA "}, id="the deny list ignores case and spaces"),
        pytest.param("12345", {"outgoing_deny_shorter_than": 6}, id="shorter than outgoing_deny_shorter_than"),
        pytest.param("SAFARICOM", {"outgoing_deny_with_alphas": True}, id="letters with outgoing_deny_with_alphas"),
    ],
)
def test_add_message_denies_a_denied_sender(sender, values):
    doc = report(**{"from": sender})
    task = messages.add_message(doc, make_ctx(**values), {"message": "hi"}, "health_center")
    assert task["state"] == "denied"
    assert task["state_history"] == [{"state": "denied", "timestamp": NOW_ISO}]
    assert task["messages"][0]["to"] == HC_PHONE  # the rule tests the sender, not the recipient


@pytest.mark.parametrize(
    "sender, values",
    [
        pytest.param("+254799999999", {"outgoing_deny_list": "+2547123"}, id="another prefix"),
        pytest.param("123456", {"outgoing_deny_shorter_than": 6}, id="long enough"),
        pytest.param("SAFARICOM", {"outgoing_deny_with_alphas": "true"}, id="alphas only when exactly true"),
        pytest.param(None, {"outgoing_deny_shorter_than": 6}, id="no sender"),
    ],
)
def test_add_message_allows_other_senders(sender, values):
    task = messages.add_message(report(**{"from": sender}), make_ctx(**values), {"message": "hi"}, "health_center")
    assert task["state"] == "pending"


def _states(count: int, ctx: SimpleNamespace, text: str = "same text", to: str = "health_center") -> list[str]:
    return [messages.add_message(report(_id=f"r{i}"), ctx, {"message": text}, to)["state"] for i in range(count)]


@pytest.mark.parametrize(
    "values, pending",
    [
        pytest.param({}, 5, id="default limit 5"),
        pytest.param({"sms": {"duplicate_limit": 2}}, 2, id="sms.duplicate_limit"),
        pytest.param({"sms": {"duplicate_limit": 50}}, 20, id="at most 20"),
    ],
)
def test_add_message_marks_messages_beyond_the_duplicate_limit_duplicate(values, pending):
    ctx = make_ctx(**values)
    assert _states(pending + 2, ctx) == ["pending"] * pending + ["duplicate"] * 2


def test_the_duplicate_limit_counts_per_number_and_text():
    ctx = make_ctx(sms={"duplicate_limit": 1})
    assert _states(1, ctx, "a") + _states(1, ctx, "b") + _states(1, ctx, "a", "+254711111111") == ["pending"] * 3
    assert _states(1, ctx, "a") == ["duplicate"]


def test_the_duplicate_count_starts_again_30_minutes_after_the_last_message():
    history = MessageHistory()
    assert _states(2, make_ctx(history=history, sms={"duplicate_limit": 1})) == ["pending", "duplicate"]
    later = make_ctx(now=NOW + timedelta(minutes=29), history=history, sms={"duplicate_limit": 1})
    assert _states(1, later) == ["duplicate"]
    after_window = make_ctx(now=NOW + timedelta(minutes=59), history=history, sms={"duplicate_limit": 1})
    assert _states(1, after_window) == ["pending"]


def test_a_denied_message_is_not_counted_as_a_duplicate():
    history = MessageHistory()
    ctx = make_ctx(history=history, sms={"duplicate_limit": 1}, outgoing_deny_list="+2547")
    assert _states(3, ctx) == ["denied"] * 3
    assert _states(1, make_ctx(history=history, sms={"duplicate_limit": 1})) == ["pending"]


def test_a_bad_outgoing_phone_filter_records_a_parse_error_and_adds_nothing():
    doc = report()
    ctx = make_ctx(outgoing_phone_filters=[{"match": "(unclosed", "replace": "x"}])
    assert messages.add_message(doc, ctx, {"translation_key": "greeting"}) is None
    assert doc["tasks"] == []
    [error] = doc["errors"]
    assert error["code"] == "parse_error"
    assert error["message"].endswith(": greeting")


def test_a_template_that_cannot_be_parsed_records_a_parse_error_and_adds_nothing():
    doc = report()
    assert messages.add_message(doc, make_ctx(), {"message": "{{#a}}x{{/b}}"}) is None
    assert doc["tasks"] == []
    assert [(e["code"], e["message"].endswith(": undefined")) for e in doc["errors"]] == [("parse_error", True)]


def test_the_same_key_twice_adds_one_message():
    doc, ctx = report(), make_ctx()
    first = messages.add_message(doc, ctx, {"message": "hi"}, key="registration:messages:0")
    again = messages.add_message(doc, ctx, {"message": "hi"}, key="registration:messages:0")
    other = messages.add_message(doc, ctx, {"message": "hi"}, key="registration:messages:1")
    assert again is first
    assert doc["tasks"] == [first, other]
    assert first["messages"][0]["uuid"] == str(uuid.uuid5(messages._UUID_NAMESPACE, "report-1/registration:messages:0"))


def test_a_message_added_again_under_its_key_is_not_counted_again():
    doc, ctx = report(), make_ctx(sms={"duplicate_limit": 1})
    for _ in range(3):
        messages.add_message(doc, ctx, {"message": "hi"}, key="k")
    assert _states(1, ctx, "hi", "reporting_unit") == ["duplicate"]  # counted once before, so this is the 2nd


# --- errors and rejections -------------------------------------------------------------------------


def test_add_errors_records_every_error_rendered_and_sends_one_reply_with_the_first():
    doc = report()
    errors = [{"code": "invalid_a", "message": "A wrong for {{patient_name}}"}, {"code": "invalid_b", "message": "B wrong"}]
    messages.add_errors(doc, make_ctx(), {"validations": {}}, errors, {"patient": {"name": "Pat"}})
    assert doc["errors"] == [{"code": "invalid_a", "message": "A wrong for Pat"}, {"code": "invalid_b", "message": "B wrong"}]
    [task] = doc["tasks"]
    assert task["messages"][0]["message"] == "A wrong for Pat"
    assert task["messages"][0]["to"] == SENDER


def test_add_errors_with_join_responses_joins_them_with_two_spaces():
    doc = report()
    errors = [{"code": "invalid_a", "message": "A for {{patient_id}}."}, {"code": "invalid_a", "message": "Again."}, {"code": "c", "message": "C."}]
    messages.add_errors(doc, make_ctx(), {"validations": {"join_responses": True}}, errors)
    assert [t["messages"][0]["message"] for t in doc["tasks"]] == ["A for 12345.  Again.  C."]
    assert [e["code"] for e in doc["errors"]] == ["invalid_a", "c"]  # a code is recorded once


@pytest.mark.parametrize(
    "error, expected",
    [
        pytest.param("invalid_x", {"code": "invalid_x", "message": "invalid_x"}, id="a string is code and message"),
        pytest.param({"code": "invalid_y"}, {"code": "invalid_y", "message": 'Error: {"code":"invalid_y"}'}, id="no message: the error as JSON"),
        pytest.param({"message": "No code"}, {"code": "invalid_report", "message": "No code"}, id="no code: invalid_report"),
        pytest.param({"code": "invalid_z", "message": [{"locale": "en", "content": "Localized {{form}}"}]},
                     {"code": "invalid_z", "message": "Localized V"}, id="an inline localized message"),
    ],
)
def test_add_error_message(error, expected):
    doc = report()
    messages.add_error_message(doc, error, make_ctx())
    assert doc["errors"] == [expected]


def test_an_error_rendering_to_nothing_is_not_recorded():
    doc = report()
    messages.add_error_message(doc, {"code": "invalid_e", "message": "{{nothing}}"}, make_ctx())
    assert "errors" not in doc


def test_add_rejection_message_uses_the_configured_message_for_its_event_type_and_its_recipient():
    doc = report()
    config = {"messages": [
        {"event_type": "report_accepted", "message": "thanks"},
        {"event_type": "registration_not_found", "recipient": "health_center", "message": [{"locale": "en", "content": "No {{patient_id}} at {{clinic.name}}"}]},
    ]}
    messages.add_rejection_message(doc, make_ctx(), config, "registration_not_found")
    assert [(t["messages"][0]["to"], t["messages"][0]["message"]) for t in doc["tasks"]] == [(HC_PHONE, "No 12345 at Clinic")]
    assert doc["errors"] == [{"code": "registration_not_found", "message": "No 12345 at Clinic"}]


@pytest.mark.parametrize(
    "doc, expected_to",
    [
        pytest.param(report(), SENDER, id="the sender"),
        pytest.param(report(fields={"patient_id": "12345", "from": "+254722222222"}), "+254722222222", id="a from field first (recipient 'from')"),
        pytest.param(report(**{"from": None}), SENDER, id="no from: the contact's phone"),
    ],
)
def test_add_rejection_message_otherwise_sends_the_generic_translation_to_from(doc, expected_to):
    messages.add_rejection_message(doc, make_ctx(), {"messages": []}, "registration_not_found")
    assert [(t["messages"][0]["to"], t["messages"][0]["message"]) for t in doc["tasks"]] == [(expected_to, "No registration for 12345")]
    assert doc["errors"] == [{"code": "registration_not_found", "message": "No registration for 12345"}]


def test_an_untranslated_rejection_gives_an_empty_message_and_the_key_as_error():
    doc = report()
    messages.add_rejection_message(doc, make_ctx(), {}, "parent_not_found")
    assert doc["tasks"][0]["messages"][0]["error"] == "messages.errors.message.empty"
    assert doc["errors"] == [{"code": "parent_not_found", "message": "messages.generic.parent_not_found"}]


def test_a_rejection_is_added_once_however_often_it_is_made():
    doc, ctx = report(), make_ctx()
    for _ in range(2):
        messages.add_rejection_message(doc, ctx, {}, "registration_not_found")
    assert len(doc["tasks"]) == 1 and len(doc["errors"]) == 1


# --- set_task_state --------------------------------------------------------------------------------

LATER = NOW + timedelta(hours=1)
LATER_ISO = "2024-01-02T04:04:05.678Z"
OLD = {"state": "pending", "state_details": "old", "state_history": [{"state": "pending", "state_details": "old", "timestamp": NOW_ISO}]}


@pytest.mark.parametrize(
    "task, args, changed, expected",
    [
        pytest.param({}, ("pending",), True, {"state": "pending", "state_history": [{"state": "pending", "timestamp": LATER_ISO}]},
                     id="a new task: state and history, no null details"),
        pytest.param({}, ("failed", "no credit", "gw-1"), True,
                     {"state": "failed", "state_details": "no credit", "gateway_ref": "gw-1",
                      "state_history": [{"state": "failed", "state_details": "no credit", "timestamp": LATER_ISO}]},
                     id="details and gateway ref"),
        pytest.param(OLD, ("sent",), True,
                     {"state": "sent", "state_history": [*OLD["state_history"], {"state": "sent", "timestamp": LATER_ISO}]},
                     id="a new state drops the old details"),
        pytest.param(OLD, ("pending", "new"), True,
                     {"state": "pending", "state_details": "new",
                      "state_history": [*OLD["state_history"], {"state": "pending", "state_details": "new", "timestamp": LATER_ISO}]},
                     id="the same state with new details"),
        pytest.param(OLD, ("pending",), False, OLD, id="the same state: no change"),
        pytest.param(OLD, ("pending", "old"), False, OLD, id="the same state and details: no change"),
        pytest.param({"state": "pending"}, ("pending",), True, {"state": "pending", "state_history": [{"state": "pending", "timestamp": LATER_ISO}]},
                     id="the same state without history: history added"),
    ],
)
def test_set_task_state(task, args, changed, expected):
    task = {k: (list(v) if isinstance(v, list) else v) for k, v in task.items()}
    state, *rest = args
    details = rest[0] if rest else None
    gateway_ref = rest[1] if len(rest) > 1 else None
    assert messages.set_task_state(task, state, LATER, details, gateway_ref) is changed
    assert task == expected


# --- muting ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "contact, muted",
    [
        pytest.param({"_id": "p", "muted": 1700000000000}, True, id="muted itself"),
        pytest.param({"_id": "p", "parent": {"_id": "c", "muted": True}}, True, id="a muted parent"),
        pytest.param({"_id": "p", "parent": {"_id": "c", "parent": {"_id": "hc", "muted": "2024-01-01"}}}, True, id="a muted grandparent"),
        pytest.param({"_id": "p", "muted": False, "parent": {"_id": "c", "muted": None, "parent": {"_id": "hc", "muted": 0}}}, False,
                     id="falsy muted values"),
        pytest.param({"_id": "p", "parent": {"_id": "c"}}, False, id="nobody muted"),
        pytest.param(None, False, id="no contact"),
    ],
)
def test_is_muted_through_the_lineage(contact, muted):
    assert messages.is_muted(contact) is muted
