"""CHT's `accept_patient_reports`: a report about a registered patient or place (a visit, a delivery)
replies, links the latest registration, silences the registrations' reminders and records which sent
reminder it answers (spec 2.5; CHT accept_patient_reports.js and its integration tests).

Reads:  the report (hydrated: contact, patient, place); settings `patient_reports`,
        `registrations`, `forms`; the patient's and the place's registrations (view
        `reports_by_subject`, the batch's copies).
Writes: on the report: `tasks`, `errors`, `registration_id`; on registrations (staged, never written
        directly, so two reports of one batch build on the same copy): `cleared` tasks with
        `cleared_by`, and `responded_to_by` of the reminder answered.
Config: patient_reports: [{form, silence_type?, silence_for?, validations?: {join_responses, list},
        messages?: [{event_type: "report_accepted" | "registration_not_found", bool_expr?, recipient,
        translation_key | message}]}]

In order (CHT onMatch): validations (each failing rule an error, one reply); no patient and no place
found: `registration_not_found`; else the `report_accepted` messages whose `bool_expr` passes,
`registration_id` = the latest registration (patient's and place's) by reported_date, silencing of
`silence_type` (comma-separated) on every registration but the report itself (`silence_for`: only
the groups with a task due by `reported_date + silence_for`), then `responded_to_by`.

Differences from CHT, on purpose:
- a config without `messages` sends nothing (CHT's `config.messages.forEach` throws);
- registrations are staged and saved with the batch; CHT posts each one at once, and two reports
  silencing one registration can conflict (#3640, #6624);
- `responded_to_by` gets a report's id once, even when the report is processed again.
"""
from __future__ import annotations

from typing import Any, Mapping

from sentinel.core import clock

from sentinel.rules import validation
from sentinel.core.context import BatchContext, Context
from sentinel.core.docs import Doc, is_report, js_truthy, patient_ref, place_ref
from sentinel.messaging.messages import add_errors, add_message, add_rejection_message
from sentinel.programs.registrations import latest_registration, registrations_of, respond, silence, subject_ids

name = "accept_patient_reports"
config_key = "patient_reports"
doc_types = ("data_record",)


def report_config(settings: Any, form: Any, key: str = config_key) -> Mapping[str, Any] | None:
    """CHT `_.find(config, {form})`: the first entry of the `key` section whose form equals the
    report's exactly (accept_case_reports finds its own section with it)."""
    section = settings.get(key)
    for conf in section if isinstance(section, list) else []:
        if isinstance(conf, Mapping) and conf.get("form") == form:
            return conf
    return None


def check_config(section: Any, settings: Any) -> list[str]:
    return report_configs_problems(config_key, section, settings)


def report_configs_problems(key: str, section: Any, settings: Any) -> list[str]:
    """Problems of a `patient_reports`-shaped section (shared with accept_case_reports)."""
    if section is None:
        return []
    if not isinstance(section, list):
        return [f"{key}: must be a list of report configurations"]
    problems: list[str] = []
    for i, conf in enumerate(section):
        where = f"{key}[{i}]"
        if not isinstance(conf, Mapping) or not isinstance(conf.get("form"), str) or not conf.get("form"):
            problems.append(f"{where}.form: a form code is required")
            continue
        silence_type = conf.get("silence_type")
        if silence_type not in (None, "") and not isinstance(silence_type, str):
            problems.append(f"{where}.silence_type: must be a string of comma-separated schedule names")
        silence_for = conf.get("silence_for")
        if silence_for not in (None, "") and clock.parse_duration(silence_for) is None:
            problems.append(f'{where}.silence_for: must be a duration such as "8 days", got {silence_for!r}')
        messages = conf.get("messages")
        if messages is not None and not isinstance(messages, list):
            problems.append(f"{where}.messages: must be a list")
        for j, message in enumerate(messages if isinstance(messages, list) else []):
            if isinstance(message, Mapping):
                problems += settings.expressions.syntax_problems(message.get("bool_expr"), ("doc",), f"{where}.messages[{j}].bool_expr")
        if conf.get("validations") is not None:
            problems += validation.validations_problems(conf.get("validations"), f"{where}.validations")
    return problems


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001 - the transition interface's name
    return (
        is_report(doc)
        and js_truthy(doc.get("form"))
        and js_truthy(doc.get("reported_date"))
        and report_config(ctx.settings, doc.get("form")) is not None
        and ctx.settings.is_valid_submission(doc)
    )


def prefetch(docs: list[Doc], batch: BatchContext) -> None:
    """The registrations of every configured report's subjects, in one view request for the batch."""
    ids: list[Any] = []
    for doc in docs:
        if is_report(doc) and report_config(batch.settings, doc.get("form")) is not None:
            for ref in (patient_ref(doc), place_ref(doc)):
                uuid = batch.subject_uuid(ref) if ref else None
                ids += [r for r in (ref, uuid) if r]
    batch.prefetch_subject_reports(ids)


def run(doc: Doc, ctx: Context) -> bool:
    config = report_config(ctx.settings, doc.get("form")) or {}
    errors = validate(doc, ctx, config)
    if errors:
        add_errors(doc, ctx, config, errors, {"patient": doc.get("patient")}, key=f"{name}:validation")
        return True
    patient, place = doc.get("patient"), doc.get("place")
    if not js_truthy(patient) and not js_truthy(place):
        add_rejection_message(doc, ctx, config, "registration_not_found")
        return True
    patient_registrations = registrations_of(ctx, subject_ids(patient))
    place_registrations = registrations_of(ctx, subject_ids(place))
    registrations = [*patient_registrations, *place_registrations]
    add_accepted_messages(doc, ctx, config, {
        "patient": patient, "registrations": patient_registrations,
        "place": place, "place_registrations": place_registrations,
    })
    latest = latest_registration(registrations, ctx.settings, ctx.now)
    if latest is not None:
        doc["registration_id"] = latest["_id"]
    silence(ctx, doc, registrations, config.get("silence_type"), config.get("silence_for"), ctx.now)
    respond(ctx, doc, registrations, config.get("silence_for"))
    return True


def validate(doc: Doc, ctx: Context, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """CHT transitionUtils.validate: the config's `validations.list` over the report."""
    validations = config.get("validations")
    return validation.validate_report(ctx, doc, validations.get("list") if isinstance(validations, Mapping) else None)


def add_accepted_messages(doc: Doc, ctx: Context, config: Mapping[str, Any], extra: Mapping[str, Any],
                          transition: str = name) -> None:
    """CHT messageRelevant + addMessagesToDoc: each `report_accepted` message whose `bool_expr`
    (over `{doc}`) passes, to its recipient, keyed by its index (one message however often it runs)."""
    messages = config.get("messages")
    for index, message in enumerate(messages if isinstance(messages, list) else []):
        if not isinstance(message, Mapping) or message.get("event_type") != "report_accepted":
            continue
        where = f"{config_key if transition == name else transition}[{config.get('form')}].messages[{index}].bool_expr"
        if not ctx.settings.expressions.condition(message.get("bool_expr"), ("doc",), where)(doc=doc):
            continue
        add_message(doc, ctx, message, message.get("recipient"), key=f"{transition}:messages:{index}", extra=extra)
