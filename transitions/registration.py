"""CHT's `registration` transition: a registration report creates or finds its patient or place,
assigns or clears message schedules, and replies (spec 2.3, 2.4).

Reads:  the report (hydrated: contact, patient, place); settings `registrations`, `schedules`,
        `forms`, `contact_types`; contacts by short code or phone; the subject's registrations
        (view `reports_by_subject`); codes in use (the lookup index).
Writes: on the report: `patient_id`/`place_id`/`case_id`, `lmp_date`, `expected_date`,
        `birth_date`, `fields.place_uuid`, `scheduled_tasks`, `tasks`, `errors`, `contact` (when
        found by phone); new contacts (staged, with a deterministic `_id`); cleared tasks on other
        registrations (staged).
Config: registrations: [{form, events: [{name: "on_create", trigger, params, bool_expr}],
        validations: {join_responses, list}, messages: [{event_type?, bool_expr?, recipient, ...}]}]

Deliberate differences from CHT, all documented in the README:
- a rejected provided id (`no_provided_patient_id`, `provided_patient_id_not_unique`) stops
  `add_patient` there; CHT goes on and may create a patient without a `patient_id`;
- new contacts get an `_id` derived from the report's. A run that finds the contact it created
  before (the report's own write was lost: a crash between the two) takes its code back instead of
  creating a second contact or rejecting the report's provided id as taken;
- days start in the `timezone` setting's zone.
"""
from __future__ import annotations

import json
import logging
import math
import re
import uuid
from datetime import datetime
from typing import Any, Mapping

from dateutil.relativedelta import relativedelta

from sentinel.core import clock, lineage, phones

from sentinel.messaging import schedules

from sentinel.rules import validation
from sentinel.core.context import Context
from sentinel.core.docs import HARDCODED_TYPES, Doc, add_error, clone, fields_of, get_id, is_report, js_truthy
from sentinel.messaging.messages import add_errors, add_message, add_rejection_message, generate, has_text, is_muted, set_task_state
from sentinel.messaging.recipients import initial_state_for_sender
from sentinel.messaging.templates import TemplateError
from sentinel.programs.registrations import registration_config, registrations_of, silence, subject_ids

log = logging.getLogger(__name__)

name = "registration"
config_key = "registrations"
doc_types = ("data_record",)

TRIGGERS = ("add_patient", "add_patient_id", "add_place", "add_case", "add_expected_date", "add_birth_date",
            "assign_schedule", "clear_schedule")
_CONTACT_NAMESPACE = uuid.UUID("1b0f6a4e-0c56-4d3f-8f0e-5b9a7c3d2e10")


# --- configuration ---------------------------------------------------------------------------------


class ParamsError(ValueError):
    pass


def parse_params(params: Any) -> Any:
    """CHT parseParams: an object as is, a JSON string, else a comma-split string ("" gives {})."""
    if not params:
        return {}
    if isinstance(params, (dict, list)):
        return params
    if not isinstance(params, str):
        raise ParamsError(f"params must be an object, a list or a string, got {json.dumps(params)}")
    text = params.strip()
    if text[:1] in ("[", "{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParamsError(f"params are not valid JSON: {exc}") from None
    return params.split(",")


def check_config(section: Any, settings: Any) -> list[str]:
    if section is None:
        return []
    if not isinstance(section, list):
        return ["registrations: must be a list of registration configurations"]
    problems: list[str] = schedules.schedule_problems(settings)
    for i, conf in enumerate(section):
        where = f"registrations[{i}]"
        if not isinstance(conf, Mapping) or not isinstance(conf.get("form"), str) or not conf.get("form"):
            problems.append(f"{where}.form: a form code is required")
            continue
        events = conf.get("events") or []
        for j, event in enumerate(events if isinstance(events, list) else []):
            problems += _event_problems(event, f"{where}.events[{j}]", settings)
        for j, message in enumerate(conf.get("messages") or []):
            if isinstance(message, Mapping):
                problems += settings.expressions.syntax_problems(message.get("bool_expr"), ("doc",), f"{where}.messages[{j}].bool_expr")
        if conf.get("validations") is not None:
            problems += validation.validations_problems(conf.get("validations"), f"{where}.validations")
    return problems


def _event_problems(event: Any, where: str, settings: Any) -> list[str]:
    if not isinstance(event, Mapping):
        return [f"{where}: must be an object"]
    trigger = event.get("trigger")
    try:
        params = parse_params(event.get("params"))
    except ParamsError as exc:
        return [f"{where}.params: {exc}"]
    problems = settings.expressions.syntax_problems(event.get("bool_expr"), ("doc",), f"{where}.bool_expr")
    if trigger in ("add_patient", "add_patient_id"):
        params = params if isinstance(params, dict) else {}
        if params.get("patient_id_field") == "patient_id":
            problems.append(f"{where}.params.patient_id_field: cannot be patient_id")
        type_id = params.get("contact_type") or "person"
        contact_type = settings.type_by_id(type_id)
        if contact_type is None:
            problems.append(f"{where}.params.contact_type: would create a contact of the unknown type {type_id!r}")
        elif not settings.is_person_type(contact_type):
            problems.append(f"{where}.params.contact_type: would create a person of the place type {type_id!r}")
    elif trigger == "add_place":
        type_id = params.get("contact_type") if isinstance(params, dict) else None
        contact_type = settings.type_by_id(type_id) if type_id else None
        if not type_id:
            problems.append(f"{where}.params.contact_type: add_place needs the contact type of the place")
        elif contact_type is None:
            problems.append(f"{where}.params.contact_type: would create a place of the unknown type {type_id!r}")
        elif settings.is_person_type(contact_type):
            problems.append(f"{where}.params.contact_type: would create a place of the person type {type_id!r}")
    elif trigger in ("assign_schedule", "clear_schedule"):
        if not event.get("params") or not isinstance(params, list):
            problems.append(f"{where}.params: the name(s) of the schedule(s), as a string, comma-separated list or array")
        # A name no schedule has is not a problem: CHT skips it, and an existing configuration with a
        # stale name must not stop every transition. It is logged when a report meets it.
    return problems


# --- the transition --------------------------------------------------------------------------------


def prefetch(docs: list[Doc], batch: Any) -> None:
    """Bulk-load what `add_patient`/`add_place` will look up for these reports: the contacts an
    earlier run may have created, provided ids and parents by short code, senders by phone."""
    created, codes, senders = [], [], []
    for doc in docs:
        config = registration_config(batch.settings, doc.get("form")) if is_report(doc) else None
        events = config.get("events") if isinstance(config, Mapping) else None
        for event in events if isinstance(events, list) else []:
            role = {"add_patient": "patient", "add_patient_id": "patient", "add_place": "place"}.get(event.get("trigger")) if isinstance(event, Mapping) else None
            if role is None or doc.get(f"{role}_id"):
                continue
            try:
                params = parse_params(event.get("params"))
            except ParamsError:
                continue
            params = params if isinstance(params, dict) else {}
            created.append(contact_id(doc, role))
            codes += [fields_of(doc).get(params.get(key)) for key in ("patient_id_field", "parent_id") if isinstance(params.get(key), str)]
            contact = doc.get("contact")
            if not params.get("parent_id") and not (isinstance(contact, dict) and contact.get("parent")):
                senders.append(doc.get("from"))
    batch.load_many(created)
    batch.prefetch_references("shortcode", [c for c in codes if c])
    batch.prefetch_phones([s for s in senders if s])


def contact_id(doc: Doc, role: str) -> str:
    """The `_id` of the patient ("patient") or place ("place") this report creates."""
    return str(uuid.uuid5(_CONTACT_NAMESPACE, f"{doc.get('_id')}/{role}"))


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001 - the transition interface's name
    return is_report(doc) and registration_config(ctx.settings, doc.get("form")) is not None and ctx.settings.is_valid_submission(doc)


def run(doc: Doc, ctx: Context) -> bool:
    config = registration_config(ctx.settings, doc.get("form")) or {}
    errors = validation.validate_report(ctx, doc, config.get("validations"))
    if errors:
        add_errors(doc, ctx, config, errors, {"patient": doc.get("patient"), "place": doc.get("place")})
        return True
    fields = fields_of(doc)
    patient_ref, place_ref = fields.get("patient_id"), fields.get("place_id")
    if (patient_ref and not ctx.settings.is_person(doc.get("patient"))) or (place_ref and not ctx.settings.is_place(doc.get("place"))):
        add_rejection_message(doc, ctx, config, "registration_not_found")
        return True
    for index, event in enumerate(config.get("events") or []):
        if not isinstance(event, Mapping) or event.get("name") != "on_create" or event.get("trigger") not in TRIGGERS:
            continue
        where = f"registrations[{config.get('form')}].events[{index}].bool_expr"
        flat = {**fields, **doc}  # CHT: _.defaults({}, doc, doc.fields)
        if not ctx.settings.expressions.condition(event.get("bool_expr"), ("doc",), where)(doc=flat):
            continue
        TRIGGER_RUNNERS[event["trigger"]](doc, ctx, config, parse_params(event.get("params")))
    _add_messages(doc, ctx, config)
    return True


# --- triggers --------------------------------------------------------------------------------------


def _add_patient(doc: Doc, ctx: Context, config: Mapping[str, Any], params: Any) -> None:
    if doc.get("patient_id"):
        return
    params = params if isinstance(params, (dict, list)) else {}
    if _created_before(doc, ctx, "patient"):
        return
    id_field = params.get("patient_id_field") if isinstance(params, dict) else None
    if id_field:
        provided = fields_of(doc).get(id_field)
        if not provided:
            add_rejection_message(doc, ctx, config, "no_provided_patient_id")
            return
        # CHT isIdUnique: no *contact* has this short code (contacts_by_reference), whatever reports say
        if ctx.contacts_by_reference("shortcode", provided):
            add_rejection_message(doc, ctx, config, "provided_patient_id_not_unique")
            return
        doc["patient_id"] = provided
    else:
        doc["patient_id"] = ctx.next_shortcode()
    contact_type = params.get("contact_type") if isinstance(params, dict) else None
    patient: Doc = {
        **_name(doc, params, "patient"),
        "reported_date": doc.get("reported_date"),
        "patient_id": doc["patient_id"],
        "source_id": doc.get("_id"),
    }
    if contact_type:
        patient.update(type="contact", contact_type=contact_type)
    else:
        patient["type"] = "person"
    _create_contact(doc, ctx, config, params, patient, "patient", provided=bool(id_field))


def _add_place(doc: Doc, ctx: Context, config: Mapping[str, Any], params: Any) -> None:
    if doc.get("place_id"):
        return
    params = params if isinstance(params, dict) else {}
    if _created_before(doc, ctx, "place"):
        return
    doc["place_id"] = ctx.next_shortcode()
    contact_type = params.get("contact_type")
    place: Doc = {
        **_name(doc, params, "place"),
        "reported_date": doc.get("reported_date"),
        "place_id": doc["place_id"],
        "source_id": doc.get("_id"),
    }
    if contact_type in HARDCODED_TYPES:
        place["type"] = contact_type
    else:
        place.update(type="contact", contact_type=contact_type)
    _create_contact(doc, ctx, config, params, place, "place", provided=False)


def _create_contact(doc: Doc, ctx: Context, config: Mapping[str, Any], params: Any, contact: Doc, role: str, provided: bool) -> None:
    """CHT addPatient/addPlace after the code is set: find it, or check the parent and create it.

    CHT looks the code up first (getContactUuid) and stops if a contact has it. A generated code is
    unused by construction (the generator checks every document's codes), so only a provided one is
    looked up (already answered by the uniqueness check, so it costs nothing).
    """
    if provided and ctx.contacts_by_reference("shortcode", contact[f"{role}_id"]):
        return  # a contact already has this code: the report points at it
    parent = _parent(doc, ctx, config, params)
    if parent is None:
        return
    if not ctx.settings.is_parent_of(parent, contact):
        add_rejection_message(doc, ctx, config, "parent_invalid", {"template_context": {"parent": parent}})
        return
    if role == "patient":
        if doc.get("birth_date"):
            contact["date_of_birth"] = doc["birth_date"]
        phone_field = _phone_field(ctx, doc.get("form"))
        phone = fields_of(doc).get(phone_field) if phone_field else None
        if phone:
            if not phones.validate(ctx.settings.values, phone):
                add_rejection_message(doc, ctx, config, "provided_phone_not_valid")
                return
            contact["phone"] = phone
    contact = {k: v for k, v in contact.items() if v is not None or k == "name"}
    doc[role] = {"parent": parent, **contact}  # for the messages; stripped when the report is saved
    stored = {"_id": contact_id(doc, role), **contact, "parent": lineage.minify_lineage(parent)}
    creator = (doc.get("contact") or {}).get("_id") if isinstance(doc.get("contact"), dict) else None
    if creator:
        stored["created_by"] = creator
    ctx.stage(stored)


def _created_before(doc: Doc, ctx: Context, role: str) -> bool:
    """The contact an earlier run of this report created, when the report's own write was lost: the
    report takes its code back (and the contact, for the messages) instead of creating another."""
    existing = ctx.load(contact_id(doc, role))
    code = existing.get(f"{role}_id") if existing is not None else None
    if not code or existing.get("source_id") != doc.get("_id"):
        return False
    doc[f"{role}_id"] = code
    doc[role] = ctx.hydrated_contact(existing["_id"]) or clone(existing)
    return True


def _parent(doc: Doc, ctx: Context, config: Mapping[str, Any], params: Any) -> Doc | None:
    """CHT getParent: the `parent_id` field's place, else the sender's place (found by phone if needed).

    As in CHT, only the sender's parent on a hydrated report is hydrated: a place found by short
    code or by the sender's phone is the stored document (its own `parent` minified), which is what
    the templates see (`{{parent.name}}` of a patient under a clinic is then the clinic's name).
    """
    field = params.get("parent_id") if isinstance(params, dict) else None
    if not field:
        contact = doc.get("contact")
        if isinstance(contact, dict) and js_truthy(contact.get("parent")):
            return clone(contact["parent"])
        found = ctx.contacts_by_phone(doc.get("from")) if doc.get("from") else []
        sender = clone(found[0]) if found else None
        if sender is not None:
            doc["contact"] = sender  # CHT getParentByPhone: the contact as stored
        place_id = get_id(sender.get("parent")) if sender is not None else None
        parent = ctx.load(place_id) if place_id else None
        if parent is None:
            add_rejection_message(doc, ctx, config, "parent_not_found")
            return None
        return clone(parent)
    code = fields_of(doc).get(field)
    if not code:
        add_rejection_message(doc, ctx, config, "parent_field_not_provided")
        return None
    found = ctx.contacts_by_reference("shortcode", code)
    if not found:
        add_rejection_message(doc, ctx, config, "parent_not_found")
        return None
    return clone(found[0])


def _add_case(doc: Doc, ctx: Context, config: Mapping[str, Any], params: Any) -> None:
    if not doc.get("case_id"):
        doc["case_id"] = ctx.next_shortcode()
    contact = doc.get("contact") if isinstance(doc.get("contact"), dict) else {}
    parent = contact.get("parent") if isinstance(contact.get("parent"), dict) else {}
    if parent.get("_id"):
        if not isinstance(doc.get("fields"), dict):
            doc["fields"] = {}
        doc["fields"]["place_uuid"] = parent["_id"]


def _add_expected_date(doc: Doc, ctx: Context, config: Mapping[str, Any], params: Any) -> None:
    """CHT setExpectedBirthDate: LMP from `lmp_date|date_lmp` (epoch ms), else weeks back from the report's day.

    As in CHT, the first of those fields that is present decides, even when it holds no usable
    value (`null`, `""`, `0`): a later one is not looked at. Fractional weeks are whole days, rounded
    (moment: 2.5 weeks back is 18 days back).
    """
    fields = fields_of(doc)
    start = None
    ms = _first_present(fields, ("lmp_date", "date_lmp"), lambda v: _js_parse_int(v) if js_truthy(v) else 0)
    if ms:
        start = clock.parse_date(ms, ctx.settings)
    if start is None:
        weeks = _first_present(fields, ("weeks_since_lmp", "last_menstrual_period", "lmp"), _js_number)
        day = _report_day(doc, ctx) if weeks else None
        if day is not None:
            start = _shifted(day, days=-_abs_round(weeks * 7) if math.isfinite(weeks) else None)
    expected = _shifted(start, weeks=40) if start is not None else None
    if expected is None:  # CHT: no LMP, or one out of range (moment's invalid date writes null)
        doc["lmp_date"] = None
        doc["expected_date"] = None
        return
    doc["lmp_date"] = clock.to_iso(start)
    doc["expected_date"] = clock.to_iso(expected)


def _add_birth_date(doc: Doc, ctx: Context, config: Mapping[str, Any], params: Any) -> None:
    """CHT setBirthDate: the report's day minus the first age found (years, months, weeks, days);
    nothing at all for a report without `fields` (CHT getDOB gives '')."""
    day = _report_day(doc, ctx)
    if day is None or not js_truthy(doc.get("fields")):
        return
    fields = fields_of(doc)
    for unit, keys in (
        ("years", ("years_since_dob", "years_since_birth", "age_in_years")),
        ("months", ("months_since_dob", "months_since_birth", "age_in_months")),
        ("weeks", ("weeks_since_dob", "dob", "weeks_since_birth", "age_in_weeks")),
        ("days", ("days_since_dob", "days_since_birth", "age_in_days")),
    ):
        value = next((fields[k] for k in keys if fields.get(k) is not None), None)
        amount = _js_parse_int(value)
        if amount is not None:
            born = _shifted(day, **{unit: -amount})
            doc["birth_date"] = clock.to_iso(born) if born is not None else None  # out of range: moment's invalid date
            return
    doc["birth_date"] = clock.to_iso(day)


def _assign_schedule(doc: Doc, ctx: Context, config: Mapping[str, Any], params: Any) -> None:
    names = params if isinstance(params, list) else []
    extra = _subject_context(doc, ctx)
    locale = ctx.settings.locale_for(doc)
    patient, place = doc.get("patient"), doc.get("place")
    muted = is_muted(patient) if isinstance(patient, dict) else is_muted(place) if isinstance(place, dict) else False
    denied = initial_state_for_sender(ctx.settings.values, doc.get("from")) == "denied"
    state = "denied" if denied else "muted" if muted else "scheduled"
    for schedule_name in names:
        schedule = schedules.find_schedule(ctx.settings, schedule_name.strip() if isinstance(schedule_name, str) else schedule_name)
        if schedule is None:
            log.warning("assign_schedule on %s: no schedule named %r in the settings; skipped", doc.get("_id"), schedule_name)
            continue
        result = schedules.plan(schedule, doc, settings=ctx.settings, now=ctx.now,
                                has_text=lambda message: has_text(message, locale, ctx.settings))
        for error in result.errors:
            log.warning("Schedule %r on %s: %s", schedule.get("name"), doc.get("_id"), error)
        if not result.ready:
            continue
        existing = doc.get("scheduled_tasks") if isinstance(doc.get("scheduled_tasks"), list) else []
        for planned in result.tasks:
            task = planned.task
            if any(_same_task(task, other) for other in existing):
                continue  # already assigned (a change processed again after a crash)
            if not planned.message.get("translation_key"):
                key = f"schedule:{schedule.get('name')}:{planned.index}:{task.get('due')}"
                try:
                    task["messages"] = generate(doc, planned.message, planned.message.get("recipient"), ctx.settings, extra, key)
                except (re.error, TemplateError) as exc:  # CHT: a parse_error on the report, the task is not added
                    add_error(doc, {"code": "parse_error", "message": f"{exc}: {planned.message.get('message')}"})
                    continue
            set_task_state(task, state, ctx.now)
            existing.append(task)
        if existing:
            doc["scheduled_tasks"] = existing


def _same_task(a: Mapping[str, Any], b: Any) -> bool:
    return isinstance(b, Mapping) and all(a.get(k) == b.get(k) for k in ("type", "group", "due", "message_key", "recipient"))


def _clear_schedule(doc: Doc, ctx: Context, config: Mapping[str, Any], params: Any) -> None:
    types = [t for t in params if isinstance(t, str)] if isinstance(params, list) else []
    ids = subject_ids(doc.get("patient")) + subject_ids(doc.get("place"))
    case_id = doc.get("case_id") or fields_of(doc).get("case_id")
    if case_id:
        ids.append(str(case_id))
    registrations = registrations_of(ctx, ids)
    silence(ctx, doc, registrations, ",".join(types), None, ctx.now)


TRIGGER_RUNNERS = {
    "add_patient": _add_patient,
    "add_patient_id": _add_patient,  # deprecated name
    "add_place": _add_place,
    "add_case": _add_case,
    "add_expected_date": _add_expected_date,
    "add_birth_date": _add_birth_date,
    "assign_schedule": _assign_schedule,
    "clear_schedule": _clear_schedule,
}


# --- messages --------------------------------------------------------------------------------------


def _add_messages(doc: Doc, ctx: Context, config: Mapping[str, Any]) -> None:
    messages = config.get("messages")
    if not isinstance(messages, list) or not messages:
        return
    extra = {**_subject_context(doc, ctx), "template_context": {"next_msg": next_times(doc, ctx)}}
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping) or message.get("event_type") not in (None, "", "report_accepted"):
            continue
        where = f"registrations[{config.get('form')}].messages[{index}].bool_expr"
        if not ctx.settings.expressions.condition(message.get("bool_expr"), ("doc",), where)(doc=doc):
            continue
        add_message(doc, ctx, message, message.get("recipient"), key=f"registration:messages:{index}", extra=extra)


def _subject_context(doc: Doc, ctx: Context) -> dict[str, Any]:
    """patient, place and their registrations (by the ids the report's fields give) for templates."""
    fields = fields_of(doc)
    return {
        "patient": doc.get("patient"),
        "place": doc.get("place"),
        "registrations": registrations_of(ctx, [fields["patient_id"]]) if fields.get("patient_id") else [],
        "place_registrations": registrations_of(ctx, [fields["place_id"]]) if fields.get("place_id") else [],
    }


def next_times(doc: Doc, ctx: Context) -> dict[str, int]:
    """CHT getNextTimes: whole minutes, hours, ... until the first scheduled task (0s without one)."""
    tasks = doc.get("scheduled_tasks") if isinstance(doc.get("scheduled_tasks"), list) else []
    now = clock.effective_now(ctx.settings, ctx.now)
    first = tasks[0] if tasks and isinstance(tasks[0], dict) else {}
    due = clock.parse_date(first.get("due"), ctx.settings) or now
    seconds = (due - now).total_seconds()
    months = _months_between(now, due)
    return {
        "minutes": int(seconds / 60),
        "hours": int(seconds / 3600),
        "days": int(seconds / 86400),
        "weeks": int(seconds / 604800),
        "months": months,
        "years": int(months / 12),
    }


def _months_between(start: datetime, end: datetime) -> int:
    delta = relativedelta(end, start)
    return delta.years * 12 + delta.months


# --- small helpers ---------------------------------------------------------------------------------


def _name(doc: Doc, params: Any, prefix: str) -> dict[str, Any]:
    """`{name}` from the name field; no key when the report lacks the field (JS undefined)."""
    fields, field = fields_of(doc), _name_field(params, prefix)
    return {"name": fields[field]} if field in fields else {}


def _first_present(fields: Mapping[str, Any], keys: tuple[str, ...], convert: Any) -> Any:
    """CHT's loops over alternative field names: the first key whose converted value is not NaN
    (None); a missing field converts to NaN."""
    for key in keys:
        if key in fields:
            value = convert(fields[key])
            if value is not None:
                return value
    return None


def _shifted(moment: datetime, **delta: Any) -> datetime | None:
    """`moment` moved by whole calendar units, or None when a unit is missing or out of range."""
    if any(v is None for v in delta.values()):
        return None
    try:
        return moment + relativedelta(**delta)
    except (OverflowError, ValueError):
        return None


def _abs_round(value: float) -> int:
    """moment's absRound: halves away from zero."""
    return int(math.floor(abs(value) + 0.5)) * (-1 if value < 0 else 1)


def _name_field(params: Any, prefix: str) -> str:
    if isinstance(params, list) and params and params[0]:
        return params[0]
    if isinstance(params, dict) and params.get(f"{prefix}_name_field"):
        return params[f"{prefix}_name_field"]
    return f"{prefix}_name"


def _phone_field(ctx: Context, form_code: Any) -> str | None:
    form = ctx.settings.form(form_code) or {}
    fields = form.get("fields") if isinstance(form.get("fields"), dict) else {}
    return next((k for k, f in fields.items() if isinstance(f, dict) and f.get("type") == "phone_number"), None)


def _report_day(doc: Doc, ctx: Context) -> datetime | None:
    reported = clock.parse_date(doc.get("reported_date"), ctx.settings)
    return clock.start_of_day(reported, ctx.settings) if reported is not None else None


def _js_parse_int(value: Any) -> int | None:
    """JS parseInt of a field value: the leading decimal digits of its string form, None for NaN."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value) if math.isfinite(value) else None
    match = _JS_INT.match(str(value))
    return int(match.group(1)) if match else None


def _js_number(value: Any) -> float | None:
    """JS Number() of a (present) field value, None for NaN; "" and null are 0."""
    if value is None:
        return 0.0
    if isinstance(value, (bool, int, float)):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text == "":
        return 0.0
    if _JS_NUMBER.match(text):
        return float(text.replace("Infinity", "inf"))
    return None


_JS_INT = re.compile(r"^\s*([+-]?[0-9]+)")
_JS_NUMBER = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?|Infinity)$")
