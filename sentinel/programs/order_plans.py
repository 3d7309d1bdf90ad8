"""A subject's orders, read and re-planned through a `BatchContext`: what the `order_planning`
transition, the bulk re-plan (`order_replan`) and the order dispatcher (`order_dispatch`) share.

The planning rules are `sentinel.programs.orders.plan_subject` (pure); this module finds its inputs and stages
its output.

Reads:  settings `order_jobs` (and `Settings.order_jobs_seen`, the first-seen dates); a subject's
        reports (`sentinel/reports_by_subject`, by the patient's `_id` and `patient_id`), its
        orders (`sentinel/orders_by_subject`, same keys) and the patient document.
Writes: nothing itself: order documents are staged on the batch (`BatchContext.stage`) with the
        origin the caller gives, and the pipeline (or the scheduler job) saves them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Iterable, Sequence

from sentinel.core import clock, lineage
from sentinel.core.context import BatchContext
from sentinel.core.ddocs import SENTINEL_DDOC
from sentinel.core.docs import Doc, patient_ref
from sentinel.programs.orders import ANSWERED, ORDERED, SETTING, OrderJob, parse_order_job, plan_subject, same_form

_ORDER_IDS = "order_plans.ids"  # batch memo: subject key -> ids of its orders (stored, and staged this batch)
_JOBS_CACHE: dict[int, tuple[Any, list[OrderJob]]] = {}


def jobs_of(settings: Any) -> list[OrderJob]:
    """The configured order jobs, parsed; `created_after` defaults to the date the job was first seen.

    The settings were validated when loaded, so every entry parses; one that does not (settings built
    without the check, in a test) is left out. Parsed once per settings object.
    """
    cached = _JOBS_CACHE.get(id(settings))
    if cached is not None and cached[0] is settings:
        return cached[1]
    raw = settings.section(SETTING) if settings is not None else None
    jobs: list[OrderJob] = []
    seen = getattr(settings, "order_jobs_seen", {}) or {}
    for i, entry in enumerate(raw if isinstance(raw, list) else []):
        try:
            job = parse_order_job(entry, f"settings.{SETTING}[{i}]", settings)
        except ValueError:
            continue
        if job.created_after is None and seen.get(job.id):
            job = replace(job, created_after=clock.parse_date(seen[job.id], settings))
        jobs.append(job)
    _JOBS_CACHE.clear()  # one settings object is in force at a time
    _JOBS_CACHE[id(settings)] = (settings, jobs)
    return jobs


def forms_of(jobs: Iterable[OrderJob]) -> set[str]:
    """The trigger and order forms of these jobs, upper-cased: a report of any of them re-plans its subject."""
    return {f.strip().upper() for job in jobs for f in (job.trigger_form, job.order_form)}


@dataclass(frozen=True)
class Subject:
    """A patient whose orders are planned: its `_id`, its `patient_id` (short code) and the document."""

    uuid: str
    patient_id: str | None
    patient: Doc

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k in (self.uuid, self.patient_id) if k)


def subject_of_contact(batch: BatchContext, contact_id: str) -> Subject | None:
    """The subject a person document is (the batch's copy, so a staged edit is seen)."""
    doc = batch.load(contact_id)
    if not isinstance(doc, dict) or not lineage.is_contact(doc):
        return None
    code = doc.get("patient_id")
    return Subject(doc["_id"], str(code) if code not in (None, "") else None, doc)


def subject_of_report(batch: BatchContext, report: Doc) -> Subject | None:
    """The patient a report is about (`fields.patient_id`, `fields.patient_uuid`, `patient_id`), if it exists."""
    ref = patient_ref(report)
    if not isinstance(ref, (str, int)) or isinstance(ref, bool) or ref == "":
        return None
    uuid = batch.subject_uuid(str(ref))
    return subject_of_contact(batch, uuid) if uuid else None


# --- reading -----------------------------------------------------------------------------------------
def prefetch(batch: BatchContext, subjects: Iterable[Subject]) -> None:
    """Read the reports and the orders of all these subjects in two requests."""
    keys = [k for s in subjects for k in s.keys]
    batch.prefetch_subject_reports(keys)
    _load_order_ids(batch, keys)


def _load_order_ids(batch: BatchContext, keys: Sequence[str]) -> dict[str, set[str]]:
    known: dict[str, set[str]] = batch.memo.setdefault(_ORDER_IDS, {})
    missing = [k for k in dict.fromkeys(keys) if k not in known]
    for key in missing:
        known[key] = set()
    if missing:
        rows = batch.main.view(SENTINEL_DDOC, "orders_by_subject", keys=missing, include_docs=True)
        for row in rows:
            doc = row.get("doc")
            if isinstance(doc, dict) and isinstance(doc.get("_id"), str) and row.get("key") in known:
                known[row["key"]].add(doc["_id"])
                if batch.lookup(doc["_id"]) is None:  # a copy staged this batch wins over the stored one
                    batch.add([doc])
    return known


def orders_of(batch: BatchContext, subject: Subject) -> list[Doc]:
    """The subject's order documents (every job), as the batch holds them: staged versions included."""
    known = _load_order_ids(batch, subject.keys)
    ids = sorted(set().union(*(known[k] for k in subject.keys))) if subject.keys else []
    found = (batch.lookup(i) for i in ids)
    return [d for d in found if isinstance(d, dict) and not d.get("_deleted")]


def reports_of(batch: BatchContext, subject: Subject) -> list[Doc]:
    return [r for r in batch.reports_by_subject(subject.keys) if not r.get("_deleted")]


# --- writing -----------------------------------------------------------------------------------------
def stage_order(batch: BatchContext, subject: Subject, order: Doc, origin: str) -> None:
    """Stage an order document of this subject (new or changed) and remember it as the subject's."""
    batch.stage(order, origin)
    known = _load_order_ids(batch, subject.keys)
    for key in subject.keys:
        known[key].add(order["_id"])


def replan(batch: BatchContext, jobs: Sequence[OrderJob], subject: Subject, now: datetime, origin: str) -> int:
    """Re-plan one subject for these jobs (in order; each sees what the ones before staged, for the Y
    rule). Returns how many order documents were staged."""
    reports = reports_of(batch, subject)
    staged = 0
    for job in jobs:
        triggers = [r for r in reports if same_form(r.get("form"), job.trigger_form)]
        answers = [r for r in reports if same_form(r.get("form"), job.order_form)]
        diff = plan_subject(job, triggers, answers, orders_of(batch, subject), subject.patient, now,
                            batch.settings.expressions, settings=batch.settings, subject_id=subject.uuid)
        for doc in diff.docs:
            stage_order(batch, subject, doc, origin)
            staged += 1
    return staged


def link_answer(batch: BatchContext, report: Doc, subject: Subject, now: datetime, origin: str) -> bool:
    """An answer (a report of an order form) marks the subject's oldest open (`ordered`) order of that
    form `answered`; the report gets `order_id` and `order_job`. True when the report changed.

    Idempotent: a report that names its order already changes nothing, and an order answered by this
    report (its own write lost after a crash) is linked again rather than a second one answered.
    """
    if report.get("order_id"):
        return False
    orders = orders_of(batch, subject)
    order = next((o for o in orders if o.get("answer") == report.get("_id")), None)
    if order is None:
        open_orders = [o for o in orders if o.get("state") == ORDERED and same_form(o.get("form"), report.get("form"))]
        if not open_orders:
            return False
        oldest = min(open_orders, key=lambda o: (str(o.get("ordered_at") or o.get("due") or ""), o["_id"]))
        order = copy.deepcopy(oldest)
        order.update(state=ANSWERED, answer=report["_id"], answered_at=clock.to_iso(now))
        order.setdefault("state_history", []).append({"state": ANSWERED, "timestamp": clock.to_iso(now), "report": report["_id"]})
        stage_order(batch, subject, order, origin)
    report["order_id"] = order["_id"]
    report["order_job"] = order.get("job")
    return True


def subjects_of_trigger(batch: BatchContext, jobs: Sequence[OrderJob], trigger_id: str) -> list[Subject]:
    """The subjects of the orders planned from one trigger report (found by their ids,
    `order:<job>:<trigger>:<k>`, one range read per job): what a deleted trigger must re-plan."""
    subjects: dict[str, Subject] = {}
    for job in jobs:
        prefix = f"order:{job.id}:{trigger_id}:"
        for row in batch.main.all_docs_range(prefix, prefix + "\ufff0"):
            doc = row.get("doc")
            if not isinstance(doc, dict) or not isinstance(doc.get("patient"), str):
                continue
            if batch.lookup(doc["_id"]) is None:
                batch.add([doc])
            subject = subjects.get(doc["patient"]) or subject_of_contact(batch, doc["patient"])
            if subject is not None:
                subjects[subject.uuid] = subject
    return list(subjects.values())
