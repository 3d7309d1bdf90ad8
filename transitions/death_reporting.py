"""CHT's `death_reporting`: a report of a configured form marks its patient deceased, or undoes it.

Reads:  the report (hydrated patient); settings `death_reporting`.
Writes: the patient contact (staged): `date_of_death` = the value at `date_field` in the report, else
        its `reported_date`; removed by an undo form. The report itself is not changed, but CHT
        counts the transition as having changed it when the patient was written (so it is saved).
Config: death_reporting: {mark_deceased_forms: [...], undo_deceased_forms: [...], date_field: "fields.x.y"}
"""
from __future__ import annotations

from typing import Any, Mapping

from sentinel.core.context import Context
from sentinel.core.docs import Doc, is_report
from sentinel.messaging.schedules import MISSING, get_path

name = "death_reporting"
doc_types = ("data_record",)


def _config(ctx: Context) -> Mapping[str, Any]:
    section = ctx.section("death_reporting")
    return section if isinstance(section, Mapping) else {}


def _forms(config: Mapping[str, Any], key: str) -> list[Any]:
    forms = config.get(key)
    return forms if isinstance(forms, list) else []


def check_config(section: Any, settings: Any) -> list[str]:
    forms = section.get("mark_deceased_forms") if isinstance(section, Mapping) else None
    if not isinstance(forms, list) or not forms:
        return ["death_reporting.mark_deceased_forms: an array of form codes is required"]
    return []


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001 - the transition interface's name
    config = _config(ctx)
    form = doc.get("form")
    return (is_report(doc) and bool(form) and (form in _forms(config, "mark_deceased_forms") or form in _forms(config, "undo_deceased_forms"))
            and isinstance(doc.get("patient"), dict) and ctx.settings.is_valid_submission(doc))


def run(doc: Doc, ctx: Context) -> bool:
    patient_id = doc["patient"].get("_id")
    stored = ctx.load(patient_id) if isinstance(patient_id, str) else None
    if stored is None:
        return False
    config = _config(ctx)
    if doc.get("form") in _forms(config, "mark_deceased_forms") and not stored.get("date_of_death"):
        date_field = config.get("date_field")
        found = get_path(doc, date_field) if isinstance(date_field, str) and date_field else None
        stored["date_of_death"] = (None if found is MISSING else found) or doc.get("reported_date")
    elif doc.get("form") in _forms(config, "undo_deceased_forms") and stored.get("date_of_death"):
        del stored["date_of_death"]
    else:
        return False  # already in the state the report asks for
    ctx.stage(stored)
    return True
