"""Give every contact of a configured type its short code: `patient_id` (people) or `place_id` (places).

Reads:  the contact; settings `contact_types`; codes in use (Sentinel's lookup index) and the doc
        `shortcode-id-length`, through the id generator.
Writes: contact.patient_id or contact.place_id (unique in the database and within the batch).
"""
from __future__ import annotations

from sentinel.core.context import Context
from sentinel.core.docs import Doc
from sentinel.core.settings import Settings

name = "generate_shortcode_on_contacts"
# contacts only: the hard-coded types, and configured ones (stored as type "contact")
doc_types = ("contact", "person", "clinic", "health_center", "district_hospital", "national_office")
runs_once = False  # the filter (no id yet) is the guard, as in CHT


def _is_person(doc: Doc, ctx: Context) -> bool:
    type_id = doc.get("contact_type") if doc.get("type") == "contact" else doc.get("type")
    return Settings.is_person_type(ctx.settings.contact_type(doc) or {"id": type_id})


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001
    contact_type = ctx.settings.contact_type(doc)
    if contact_type is None:
        return False
    if Settings.is_person_type(contact_type):
        return not doc.get("patient_id")
    return not doc.get("place_id")


def run(doc: Doc, ctx: Context) -> bool:
    doc["patient_id" if _is_person(doc, ctx) else "place_id"] = ctx.next_shortcode()
    return True
