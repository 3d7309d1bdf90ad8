"""`order_planning`: plan form orders ahead of time from trigger reports (issue 6, the eFORSK ePROM
design). The rules are `sentinel.programs.orders`; reading and staging are `sentinel.programs.order_plans`.

Re-plans one subject (patient) whenever something planning depends on changes:
- a report of a job's `trigger_form` or `order_form` about the subject (created or edited);
- the patient's own document (`date_of_death`, `consent_withdrawn`, `test`);
- a deleted trigger report (`on_delete`: its orders are found by id, their subject re-planned).
An answer (a report of an `order_form`) first marks the subject's oldest `ordered` order of that form
`answered` (`order_plans.link_answer`) and gets `order_id` and `order_job`.

Reads:  settings `order_jobs`; the subject's reports, orders and patient document (bulk-prefetched
        for the whole batch: two view requests).
Writes: order documents (`order:<job>:<trigger>:<k>`, staged); on an answer `order_id`/`order_job`;
        on a trigger whose patient is unknown the error `order_patient_not_found`.
Runs on every change of such a document (`runs_once = False`): planning is idempotent, so a
re-run stages nothing.
"""
from __future__ import annotations

from typing import Any

from sentinel.programs import order_plans
from sentinel.core.context import BatchContext, Context
from sentinel.core.docs import Doc, add_error, is_report, patient_ref
from sentinel.programs.orders import order_jobs_problems, same_form

name = "order_planning"
config_key = "order_jobs"
runs_once = False
doc_types = ("data_record", "person", "contact")

ERR_NO_PATIENT = "order_patient_not_found"


def check_config(section: Any, settings: Any) -> list[str]:
    return order_jobs_problems(settings, expressions=settings.expressions)


def _relevant(doc: Doc, settings: Any) -> bool:
    jobs = order_plans.jobs_of(settings)
    if not jobs:
        return False
    if is_report(doc):
        form = doc.get("form")
        return isinstance(form, str) and form.strip().upper() in order_plans.forms_of(jobs)
    return settings.is_person(doc)


def prefetch(docs: list[Doc], batch: BatchContext) -> None:
    subjects = []
    for doc in docs:
        if not _relevant(doc, batch.settings):
            continue
        found = order_plans.subject_of_report(batch, doc) if is_report(doc) else order_plans.subject_of_contact(batch, doc["_id"])
        if found is not None:
            subjects.append(found)
    order_plans.prefetch(batch, subjects)


def filter(doc: Doc, ctx: Context) -> bool:
    return _relevant(doc, ctx.settings)


def run(doc: Doc, ctx: Context) -> bool:
    batch, jobs = ctx.batch, order_plans.jobs_of(ctx.settings)
    if not is_report(doc):
        subject = order_plans.subject_of_contact(batch, doc["_id"])
        if subject is not None:
            order_plans.replan(batch, jobs, subject, ctx.now, ctx.doc_id)
        return False
    subject = order_plans.subject_of_report(batch, doc)
    if subject is None:
        triggering = [j.id for j in jobs if same_form(doc.get("form"), j.trigger_form)]
        if not triggering:
            return False
        return add_error(doc, {"code": ERR_NO_PATIENT, "message": (
            f"No patient found for {patient_ref(doc)!r}: no orders planned for job(s) {', '.join(triggering)}")})
    changed = False
    if any(same_form(doc.get("form"), j.order_form) for j in jobs):
        changed = order_plans.link_answer(batch, doc, subject, ctx.now, ctx.doc_id)
    order_plans.replan(batch, jobs, subject, ctx.now, ctx.doc_id)
    return changed


def on_delete(doc_id: str, ctx: Context) -> None:
    """A deleted trigger report: re-plan the subjects of its orders (its planned ones are cancelled)."""
    jobs = order_plans.jobs_of(ctx.settings)
    if not jobs or doc_id.startswith("order:"):
        return
    for subject in order_plans.subjects_of_trigger(ctx.batch, jobs, doc_id):
        order_plans.replan(ctx.batch, jobs, subject, ctx.now, ctx.doc_id)
