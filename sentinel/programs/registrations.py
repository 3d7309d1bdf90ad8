"""Registrations: which reports count as a subject's registration, and silencing their schedules.

Shared by `registration` (its `clear_schedule` trigger, the template context's latest registration)
and the report transitions (`accept_patient_reports` and friends).

- `is_valid_registration` is CHT registration-utils `isValidRegistration`: a report without errors,
  whose form matches a `registrations` entry (`^[^a-z]*<configured code>[^a-z]*$`, case-insensitive:
  anything but letters around the code, tested against the report's form), that is an xform, or
  whose form is configured in `forms` (any object, `{}` included: JS truthiness) and is public or
  has a contact.
- `registration_config` is the transition's own match, CHT `utils.isFormCodeSame(doc.form, conf.form)`:
  `^W*<report's form>\\W*$` tested against the configured code (the literal `W*` is CHT's [bug-compat]).
- `subject_ids(contact)`: the ids reports may name a contact by (`_id`, `patient_id`, `place_id`).
- `silence(...)`: CHT `silenceRegistrations`: on every registration but the report itself, the
  tasks of the listed schedule types in a clearable state (`pending`, `scheduled`, `muted`) become
  `cleared` with `cleared_by: <report id>`; with `silence_for`, only the groups that have a task due
  before `reported_date + silence_for`.
- `latest_registration(registrations, now)`: CHT accept_patient_reports `addRegistrationToDoc`
  (`_.maxBy` by `moment(reported_date)`: the first of equals wins).
- `respond(...)`: CHT accept_patient_reports `findValidRegistration` (medic/medic#4694): the first
  registration with a `sent`/`delivered` task due before the report gets the report's id in that
  task's `responded_to_by` (once: a report processed again adds nothing).

Reads: registrations through the batch context. Writes: changed registrations, staged on it.
"""
from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, Iterable, Mapping

from sentinel.core import clock
from sentinel.core.docs import Doc, js_truthy
from sentinel.messaging.messages import set_task_state

CLEARABLE_STATES = ("pending", "scheduled", "muted")


def form_matches(doc_form: Any, config_form: Any) -> bool:
    """CHT `isFormCodeSame(doc.form, conf.form)`: `^W*<doc form>\\W*$`, case-insensitive, tested
    against the configured code (the literal `W*` is CHT's [bug-compat])."""
    if not isinstance(doc_form, str) or not isinstance(config_form, str) or not doc_form:
        return False
    return re.fullmatch(r"W*" + re.escape(doc_form) + r"\W*", config_form, re.IGNORECASE) is not None


def registration_config(settings: Any, form: Any) -> Mapping[str, Any] | None:
    """The first `registrations` entry for this form."""
    configs = settings.get("registrations")
    for conf in configs if isinstance(configs, list) else []:
        if isinstance(conf, Mapping) and form_matches(form, conf.get("form")):
            return conf
    return None


def is_valid_registration(doc: Any, settings: Any) -> bool:
    if not isinstance(doc, dict) or doc.get("errors"):
        return False
    if doc.get("type") != "data_record" or not doc.get("form"):
        return False
    configs = settings.get("registrations")
    if not isinstance(doc["form"], str) or not any(
        isinstance(conf, Mapping)
        and isinstance(conf.get("form"), str)
        and conf["form"]
        and re.fullmatch(r"[^a-z]*" + re.escape(conf["form"]) + r"[^a-z]*", doc["form"], re.IGNORECASE)
        for conf in (configs if isinstance(configs, list) else [])
    ):
        return False
    if doc.get("content_type") == "xml":
        return True
    form = settings.form(doc["form"])  # `{}` counts: JavaScript truthiness
    return form is not None and bool(js_truthy(form.get("public_form")) or js_truthy(doc.get("contact")))


def subject_ids(contact: Any) -> list[str]:
    if not isinstance(contact, dict):
        return []
    return [str(contact[k]) for k in ("_id", "patient_id", "place_id") if contact.get(k)]


def registrations_of(ctx: Any, ids: Iterable[Any]) -> list[Doc]:
    """The valid registrations about any of these subject ids, in CHT's order (the view's: by id
    asked, then by document id; not by date: a template's `registrations[0]` is the first by id)."""
    return [r for r in ctx.reports_by_subject(ids) if is_valid_registration(r, ctx.settings)]


def tasks_to_clear(registration: Doc, reported_date: Any, types: list[str], silence_for: Any, settings: Any) -> list[dict]:
    """CHT `findToClear`."""
    tasks = [t for t in registration.get("scheduled_tasks") or [] if isinstance(t, dict) and t.get("type") in types]
    if not silence_for:
        return [t for t in tasks if t.get("state") in CLEARABLE_STATES]
    reported = clock.parse_date(reported_date, settings)
    duration = clock.parse_duration(silence_for)
    if reported is None or duration is None:
        return [t for t in tasks if t.get("state") in CLEARABLE_STATES]
    until = clock.add_duration(reported, duration, settings)
    groups = set()
    for task in tasks:
        due = clock.parse_date(task.get("due"), settings)
        if due is not None and due <= until:
            groups.add((_hashable(task.get("group")), task.get("type")))
    return [t for t in tasks if (_hashable(t.get("group")), t.get("type")) in groups and t.get("state") in CLEARABLE_STATES]


def silence(ctx: Any, report: Doc, registrations: list[Doc], silence_type: Any, silence_for: Any, now: datetime) -> int:
    """Clear the listed types' clearable tasks on every registration but `report`; returns how many."""
    if not silence_type:
        return 0
    types = [t.strip() for t in (silence_type if isinstance(silence_type, list) else str(silence_type).split(","))]
    cleared = 0
    for registration in registrations:
        if registration.get("_id") == report.get("_id"):
            continue
        found = tasks_to_clear(registration, report.get("reported_date"), types, silence_for, ctx.settings)
        for task in found:
            set_task_state(task, "cleared", now)
            task["cleared_by"] = report.get("_id")
        if found:
            ctx.stage(registration)
            cleared += len(found)
    return cleared


def _ms(value: Any, settings: Any, missing: datetime | None = None) -> float:
    """`moment(value).valueOf()`: epoch ms, NaN for an invalid date; a missing value is `missing`
    (moment(undefined) is now), or NaN without one."""
    moment = missing if value is None and missing is not None else clock.parse_date(value, settings)
    return moment.timestamp() * 1000 if moment is not None else math.nan


def latest_registration(registrations: list[Doc], settings: Any, now: datetime) -> Doc | None:
    """CHT `_.maxBy(registrations, r => moment(r.reported_date))`: the latest by reported_date, the
    first of equals; a first one with an invalid date is never replaced (NaN compares false)."""
    best, best_ms = None, math.nan
    for registration in registrations:
        value = _ms(registration.get("reported_date"), settings, now)
        if best is None or value > best_ms:
            best, best_ms = registration, value
    return best


def find_responded_registration(report: Doc, registrations: list[Doc], silence_for: Any, settings: Any) -> tuple[Doc, dict] | None:
    """CHT `findValidRegistration`: (registration, task) the report responds to, or None.

    For each registration with scheduled tasks, sorted by due: skipped when the report predates its
    first task; else its tasks from the last to the first: a `cleared` task whose silence window
    (`due - silence_for`) started before the report, following a task of another group, ends the
    search in this registration; the first `sent`/`delivered` task due before the report is the one.
    An invalid or missing `silence_for` subtracts nothing (moment: `subtract(null)`).
    """
    visit = _ms(report.get("reported_date"), settings)
    if math.isnan(visit):
        return None
    duration = clock.parse_duration(silence_for) if silence_for else None
    for registration in registrations:
        tasks = [t for t in registration.get("scheduled_tasks") or [] if isinstance(t, dict)]
        if not tasks:
            continue
        tasks = sorted(tasks, key=lambda t: (lambda ms: (1, 0.0) if math.isnan(ms) else (0, ms))(_ms(t.get("due"), settings)))
        if visit < _ms(tasks[0].get("due"), settings):
            continue
        for j in range(len(tasks) - 1, -1, -1):
            task, previous = tasks[j], tasks[j - 1] if j > 0 else None
            due = _ms(task.get("due"), settings)
            start = _silence_start(task.get("due"), duration, settings) if duration is not None else due
            if start < visit and task.get("state") == "cleared" and previous is not None and previous.get("group") != task.get("group"):
                break
            if due < visit and task.get("state") in ("delivered", "sent"):
                return registration, task
    return None


def _silence_start(due: Any, duration: Any, settings: Any) -> float:
    moment = clock.parse_date(due, settings)
    if moment is None:
        return math.nan
    try:
        return clock.add_duration(moment, -duration, settings).timestamp() * 1000
    except (OverflowError, ValueError):
        return math.nan


def respond(ctx: Any, report: Doc, registrations: list[Doc], silence_for: Any) -> Doc | None:
    """Record the report in `responded_to_by` of the task it responds to (see
    `find_responded_registration`) and stage that registration; returns it (None when none)."""
    found = find_responded_registration(report, registrations, silence_for, ctx.settings)
    if found is None:
        return None
    registration, task = found
    responders = task.get("responded_to_by")
    if not isinstance(responders, list):
        responders = task["responded_to_by"] = []
    if report.get("_id") not in responders:  # processed again: already recorded, nothing to write
        responders.append(report.get("_id"))
        ctx.stage(registration)
    return registration


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, (dict, list)) else value
