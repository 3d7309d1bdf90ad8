"""Attach the sender's contact to a new report: by `refid` (a place's `rc_code`) first, else by phone.

Reads:  the report; contacts by rc_code (refid) or by
        phone (Sentinel's lookup index); their lineage; settings `forms`, `update_clinics`, `contact_types`.
Writes: report.contact (minified on save); when nobody is found, for a configured non-public SMS form
        a `sys.facility_not_found` message to the sender plus error, for an unknown form the error only.
Config: update_clinics: [{form, messages: [{event_type: "sys.facility_not_found", recipient, ...}]}]
"""
from __future__ import annotations

from typing import Any

from sentinel.core.context import BatchContext, Context
from sentinel.core.docs import Doc, add_error, get_id, is_report
from sentinel.messaging.messages import add_rejection_message
from sentinel.core.settings import Settings

name = "update_clinics"
doc_types = ("data_record",)  # never runs on anything else: no need to hydrate other docs for it
FACILITY_NOT_FOUND = "sys.facility_not_found"


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001 - the transition interface's name
    return is_report(doc) and not doc.get("contact")


def prefetch(docs: list[Doc], batch: BatchContext) -> None:
    """Look up all senders of reports that have no contact yet in two requests."""
    orphans = [d for d in docs if is_report(d) and not d.get("contact")]
    batch.prefetch_references("external", (d["refid"] for d in orphans if d.get("refid")))
    batch.prefetch_phones(d["from"] for d in orphans if not d.get("refid") and d.get("from"))


def _by_refid(refid: Any, ctx: Context) -> Doc | None:
    found = ctx.contacts_by_reference("external", refid)
    if not found:
        return None
    result = found[0]
    contact_type = ctx.settings.contact_type(result)
    if contact_type is None:
        return None
    if contact_type.get("person"):
        return ctx.hydrated_contact(result["_id"])
    contact_id = get_id(result.get("contact"))
    if contact_id is None:
        # a place without a primary contact: the report is attached to the place itself
        return result.get("contact") or {"parent": result}
    return ctx.hydrated_contact(contact_id)


def _by_phone(phone: Any, ctx: Context) -> Doc | None:
    found = ctx.contacts_by_phone(phone)
    return ctx.hydrated_contact(found[0]["_id"]) if found else None


def run(doc: Doc, ctx: Context) -> bool:
    if doc.get("refid"):
        contact = _by_refid(doc["refid"], ctx)
    elif doc.get("from"):
        contact = _by_phone(doc["from"], ctx)
    else:
        contact = None
    if contact:
        doc["contact"] = contact
        return True
    if doc.get("content_type") == "xml":
        return False
    form = ctx.settings.form(doc.get("form")) if doc.get("form") else None
    if form is not None and form.get("public_form"):
        return False
    if form is not None:  # configured, even as an empty definition (JS: `{}` is truthy)
        configs = ctx.section(name) if isinstance(ctx.section(name), list) else []
        form_config = next((c for c in configs if isinstance(c, dict) and c.get("form") == doc.get("form")), {})
        add_rejection_message(doc, ctx, form_config, FACILITY_NOT_FOUND)
        return True
    message = ctx.translate(FACILITY_NOT_FOUND, ctx.settings.locale_for(doc))
    add_error(doc, {"code": FACILITY_NOT_FOUND, "message": message})
    return True


def check_config(section: Any, settings: Settings) -> list[str]:
    if section is not None and not isinstance(section, list):
        return ["update_clinics settings must be a list of {form, messages}"]
    return []
