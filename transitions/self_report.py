"""CHT's `self_report`: the sender of a report is its subject (a person reporting about themself).

Reads:  the report's `from`; contacts by phone (the lookup index) and the sender's lineage.
Writes: report `fields.patient_uuid`, `fields.patient_id`, and `patient` (hydrated, for the transitions
        after it; dropped on save); a `report_accepted` message, or `sender_not_found` (message and error).
Config: self_report: [{form, messages: [{event_type: report_accepted | sender_not_found, recipient, ...}]}]
        (the form matched exactly, as CHT does).
"""
from __future__ import annotations

from typing import Any, Mapping

from sentinel.core.context import BatchContext, Context
from sentinel.core.docs import Doc, fields_of, is_report
from sentinel.messaging.messages import add_rejection_message, add_success_message

name = "self_report"
doc_types = ("data_record",)


def _config(ctx: Context, form: Any) -> Mapping[str, Any] | None:
    section = ctx.section("self_report")
    return next((c for c in section if isinstance(c, Mapping) and c.get("form") == form), None) if isinstance(section, list) and form else None


def check_config(section: Any, settings: Any) -> list[str]:
    if section is None:
        return []
    if not isinstance(section, list):
        return ["self_report: must be a list of {form, messages}"]
    return [f"self_report[{i}].form: a form code is required" for i, c in enumerate(section)
            if not isinstance(c, Mapping) or not isinstance(c.get("form"), str) or not c.get("form")]


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001 - the transition interface's name
    fields = fields_of(doc)
    return (is_report(doc) and bool(doc.get("from")) and _config(ctx, doc.get("form")) is not None
            and not (fields.get("patient_id") or fields.get("patient_uuid")))


def prefetch(docs: list[Doc], batch: BatchContext) -> None:
    batch.prefetch_phones(d["from"] for d in docs if is_report(d) and d.get("from"))


def run(doc: Doc, ctx: Context) -> bool:
    config = _config(ctx, doc.get("form")) or {}
    found = ctx.contacts_by_phone(doc["from"])
    if not found:
        add_rejection_message(doc, ctx, config, "sender_not_found")
        return True
    patient = ctx.hydrated_contact(found[0]["_id"]) or found[0]
    doc["patient"] = patient
    if not isinstance(doc.get("fields"), dict):
        doc["fields"] = {}
    doc["fields"]["patient_uuid"] = patient["_id"]
    if patient.get("patient_id") is not None:
        doc["fields"]["patient_id"] = patient["patient_id"]
    add_success_message(doc, ctx, config, "report_accepted")
    return True
