"""The bulk re-plan of an order job (issue 6): when a job appears or its `status` changes, every
existing subject is planned once, in the background (a scheduler job), a page at a time, resumable.

- `active` / `test`: every report of the job's `trigger_form` (view `sentinel/reports_by_form`,
  PAGE_SIZE at a time, in id order), their subjects re-planned for this job
  (`order_plans.replan`; in `test` mode that cancels the non-test planned orders and plans test
  orders for test contacts only); the page's orders written with one `_bulk_docs`.
- `stopped`, or a job taken out of the settings: every `planned` order of the job (view
  `orders_by_job_state_due`) becomes `cancelled` (`cancelled_by: "sentinel"`, reason `job_stopped` /
  `job_removed`); sent orders are never touched.

Progress is kept in the job's state document (`sentinel/programs/order_registry.py`): after each page,
`replan.after` (the last trigger report done) and `replan.done`; a `kill -9` costs at most the page
at hand, which planning again changes nothing in (deterministic order ids, idempotent planning). Each
page is logged: `order job <id>: re-planned <done> of <total> trigger reports (<n> %)`. When done,
`planned_status` is the status planned for, and the job is left alone until its status changes.

A 409 (the `order_planning` transition or a user changed one of the orders meanwhile) keeps their
version: the transition re-planned that subject with the same settings anyway, and a user's
cancellation must stand.

Reads:  settings, the job state documents, trigger reports, the subjects' reports, orders, patients.
Writes: order documents (main database), the job state documents (sentinel database).
"""
from __future__ import annotations

import copy
import logging
from datetime import datetime
from typing import Any

from sentinel.core import clock

from sentinel.programs import order_plans, order_registry
from sentinel.core.context import BatchContext
from sentinel.core.ddocs import SENTINEL_DDOC
from sentinel.core.lookups import LookupIndex
from sentinel.programs.orders import CANCELLED, JOB_STOPPED, PLANNED, SYSTEM, OrderJob
from sentinel.core.settings import transition_enabled

log = logging.getLogger(__name__)

PAGE_SIZE = 500  # trigger reports (or planned orders) per page: the eFORSK manual's batch of 500
ORIGIN = "order_replan"
JOB_REMOVED = "job_removed"
REMOVED = "removed"


def enabled(settings: Any) -> bool:
    return settings is not None and transition_enabled(settings.transitions_config().get("order_planning"))


def run(env: Any, now: datetime) -> None:
    """The scheduler job: finish (or start) the bulk re-plan of every job whose status changed."""
    settings = env.settings()
    if not enabled(settings):
        return
    jobs = order_plans.jobs_of(settings)
    states = order_registry.load_all(env.sentinel)
    for job in jobs:
        state = states.get(job.id)
        if state is None or (state.get("planned_status") == job.status and not state.get("replan")):
            continue
        replan_job(env, settings, job, state, now)
    configured = {job.id for job in jobs}
    for job_id, state in states.items():
        if job_id not in configured and state.get("planned_status") != REMOVED:
            _start(env, state, REMOVED, now, total=None)
            cancelled = cancel_planned(env, job_id, JOB_REMOVED, now)
            log.info("order job %s was taken out of the settings: %d planned order(s) cancelled", job_id, cancelled)
            _finish(env, state, REMOVED)


def replan_job(env: Any, settings: Any, job: OrderJob, state: dict[str, Any], now: datetime) -> None:
    progress = state.get("replan")
    if isinstance(progress, dict) and progress.get("status") == job.status:
        log.info("order job %s (%s): resuming the re-plan after %d of %s trigger reports",
                 job.id, job.status, progress.get("done", 0), progress.get("total", "?"))
    else:
        total = None if job.status == "stopped" else count_triggers(env.main, job)
        _start(env, state, job.status, now, total)
        log.info("order job %s is %s: re-planning %s",
                 job.id, job.status, "(cancelling its planned orders)" if job.status == "stopped" else f"{total} trigger report(s)")
    if job.status == "stopped":
        cancelled = cancel_planned(env, job.id, JOB_STOPPED, now)
        log.info("order job %s stopped: %d planned order(s) cancelled", job.id, cancelled)
    else:
        _plan_pages(env, settings, job, state, now)
    _finish(env, state, job.status)


def _start(env: Any, state: dict[str, Any], status: str, now: datetime, total: int | None) -> None:
    state["replan"] = {"status": status, "after": None, "done": 0, "total": total, "started": clock.to_iso(now)}
    order_registry.save(env.sentinel, state)


def _finish(env: Any, state: dict[str, Any], status: str) -> None:
    state["planned_status"], state["replan"] = status, None
    order_registry.save(env.sentinel, state)


def count_triggers(main: Any, job: OrderJob) -> int:
    form = job.trigger_form.strip().upper()
    rows = main.view(SENTINEL_DDOC, "reports_by_form", startkey=[form, ""], endkey=[form, {}], reduce="true")
    return int(rows[0]["value"]) if rows else 0


def _plan_pages(env: Any, settings: Any, job: OrderJob, state: dict[str, Any], now: datetime) -> None:
    progress = state["replan"]
    form = job.trigger_form.strip().upper()
    while True:
        after = progress.get("after")
        rows = env.main.view(SENTINEL_DDOC, "reports_by_form", startkey=[form, after or ""], endkey=[form, {}],
                             reduce="false", include_docs="true", limit=PAGE_SIZE + 1)
        rows = [r for r in rows if r.get("id") != after][:PAGE_SIZE]
        if not rows:
            return
        reports = [r["doc"] for r in rows if isinstance(r.get("doc"), dict)]
        written, conflicts = plan_page(env, settings, job, reports, now)
        progress["after"] = rows[-1]["id"]
        progress["done"] = progress.get("done", 0) + len(rows)
        order_registry.save(env.sentinel, state)
        total = progress.get("total") or progress["done"]
        log.info("order job %s: re-planned %d of %d trigger reports (%d %%); %d order(s) written%s",
                 job.id, progress["done"], total, min(100, 100 * progress["done"] // max(total, 1)), written,
                 f", {conflicts} changed meanwhile (kept)" if conflicts else "")
        if len(rows) < PAGE_SIZE:
            return


def plan_page(env: Any, settings: Any, job: OrderJob, reports: list[dict[str, Any]], now: datetime) -> tuple[int, int]:
    """Re-plan the subjects of these trigger reports for `job`; (orders written, conflicts)."""
    batch = BatchContext(env.main, LookupIndex(env.sentinel), settings, now)
    batch.add(reports)
    batch.prefetch(reports)
    subjects = {}
    for report in reports:
        subject = order_plans.subject_of_report(batch, report)
        if subject is not None:
            subjects.setdefault(subject.uuid, subject)
    order_plans.prefetch(batch, subjects.values())
    for subject in subjects.values():
        try:
            order_plans.replan(batch, [job], subject, now, ORIGIN)
        except Exception:  # one subject's bad data must not stop the job's re-plan
            log.exception("order job %s: re-planning %s failed; skipped", job.id, subject.uuid)
    return write(env.main, [doc for doc, _ in batch.staged()])


def cancel_planned(env: Any, job_id: str, reason: str, now: datetime) -> int:
    """Cancel every `planned` order of a job, a page at a time; returns how many."""
    cancelled, start = 0, [job_id, PLANNED, ""]
    while True:
        rows = env.main.view(SENTINEL_DDOC, "orders_by_job_state_due", startkey=start,
                             endkey=[job_id, PLANNED, {}], include_docs="true", limit=PAGE_SIZE + 1)
        rows = [r for r in rows if r.get("key") != start][:PAGE_SIZE]
        if not rows:
            return cancelled
        docs = []
        for row in rows:
            doc = row.get("doc")
            if isinstance(doc, dict) and doc.get("state") == PLANNED:
                doc = copy.deepcopy(doc)
                doc.update(state=CANCELLED, cancelled_by=SYSTEM, cancel_reason=reason)
                doc.setdefault("state_history", []).append({"state": CANCELLED, "timestamp": clock.to_iso(now), "reason": reason})
                docs.append(doc)
        written, _ = write(env.main, docs)
        cancelled += written
        start = rows[-1]["key"]
        if len(rows) < PAGE_SIZE:
            return cancelled


def write(main: Any, docs: list[dict[str, Any]]) -> tuple[int, int]:
    """Save order documents; (written, conflicts). Other errors are logged."""
    if not docs:
        return 0, 0
    written = conflicts = 0
    for doc, result in zip(docs, main.bulk_docs(docs)):
        error = result.get("error")
        if error is None:
            written += 1
        elif error == "conflict":
            conflicts += 1
        else:
            log.error("could not save order %s: %s: %s", doc.get("_id"), error, result.get("reason"))
    return written, conflicts
