"""CHT's `accept_case_reports`: a report about a case (`case_id`, given by a registration's
`add_case`) replies, takes the case's place and silences the case registrations' reminders
(spec 2.6; CHT accept_case_reports.js).

Reads:  the report (hydrated); settings `accept_case_reports`, `registrations`, `forms`; the case's
        registrations (view `reports_by_subject` on the case id, the batch's copies).
Writes: on the report: `tasks`, `errors`, `fields.place_uuid`; on registrations (staged): `cleared`
        tasks with `cleared_by`.
Config: accept_case_reports: [{form, silence_type?, silence_for?, validations?: {join_responses, list},
        messages?: [{event_type: "report_accepted" | "registration_not_found", bool_expr?, recipient,
        translation_key | message}]}]

In order (CHT onMatch): validations (each failing rule an error, one reply); the case id is
`doc.case_id || doc.fields.case_id`; no valid registration for it (or no case id):
`registration_not_found`; else the `report_accepted` messages whose `bool_expr` passes (templates see
the case's registrations as `registrations`), `fields.place_uuid` from the first registration's
`fields.place_uuid` (when it has one), then silencing as accept_patient_reports does (one shared
implementation, `sentinel.programs.registrations.silence`). Unlike accept_patient_reports, CHT sets no
`registration_id` and no `responded_to_by` here, and neither does Sentinel.
"""
from __future__ import annotations

from typing import Any, Mapping

from sentinel.core.context import Context
from sentinel.core.docs import Doc, fields_of, is_report, js_truthy
from sentinel.messaging.messages import add_errors, add_rejection_message
from sentinel.programs.registrations import registrations_of, silence

from .accept_patient_reports import add_accepted_messages, report_configs_problems, validate
from .accept_patient_reports import report_config as find_report_config

name = "accept_case_reports"
config_key = "accept_case_reports"
doc_types = ("data_record",)


def report_config(settings: Any, form: Any) -> Mapping[str, Any] | None:
    """CHT `config.find(c => c.form === form)`: exact equality."""
    return find_report_config(settings, form, config_key)


def check_config(section: Any, settings: Any) -> list[str]:
    return report_configs_problems(config_key, section, settings)


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001 - the transition interface's name
    return (
        is_report(doc)
        and js_truthy(doc.get("form"))
        and js_truthy(doc.get("reported_date"))
        and report_config(ctx.settings, doc.get("form")) is not None
        and ctx.settings.is_valid_submission(doc)
    )


def case_id(doc: Doc) -> Any:
    """CHT: `doc.case_id || (doc.fields && doc.fields.case_id)`."""
    return doc.get("case_id") if js_truthy(doc.get("case_id")) else fields_of(doc).get("case_id")


def run(doc: Doc, ctx: Context) -> bool:
    config = report_config(ctx.settings, doc.get("form")) or {}
    errors = validate(doc, ctx, config)
    if errors:
        add_errors(doc, ctx, config, errors, key=f"{name}:validation")
        return True
    case = case_id(doc)
    registrations = registrations_of(ctx, [case]) if js_truthy(case) else []
    if not registrations:
        add_rejection_message(doc, ctx, config, "registration_not_found")
        return True
    add_accepted_messages(doc, ctx, config, {"patient": doc.get("patient"), "registrations": registrations, "place": doc.get("place")},
                          transition=name)
    first_fields = registrations[0].get("fields")
    place_uuid = first_fields.get("place_uuid") if isinstance(first_fields, dict) else None
    if js_truthy(place_uuid):
        if not isinstance(doc.get("fields"), dict):
            doc["fields"] = {}
        doc["fields"]["place_uuid"] = place_uuid
    silence(ctx, doc, registrations, config.get("silence_type"), config.get("silence_for"), ctx.now)
    return True
