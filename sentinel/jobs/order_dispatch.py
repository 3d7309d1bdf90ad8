"""The order dispatcher (issue 6): a scheduler job that sends due orders, reminds, and expires.

For every job that is `active` or `test`:

1. **Send.** `planned` orders due by now (view `sentinel/orders_by_job_state_due`, at most
   MAX_PER_RUN per job and run, oldest first) are re-checked first: their subjects are re-planned
   (`order_plans.replan`, every job, so the Y rule sees all of them), which cancels or moves what no
   longer applies (trigger gone or no longer matching, patient deceased or consent withdrawn, Y
   reached, a test order for a contact no longer marked `test`). An order still `planned` and due
   becomes `ordered` (`ordered_at`), with the order message as a `pending` task of the order
   document's `tasks` (a dispatcher hands it out like any other message). When no message can be
   made (no recipient phone, no text) the order becomes `failed` with `failure` saying why.
2. **Remind.** An `ordered` order without an answer `reminder_days` (calendar days, settings zone)
   after `ordered_at` gets one reminder task (`reminder_translation_key`/`reminder_message`, else the
   order message) and `reminded_at`.
3. **Expire.** An `ordered` order without an answer `expiry_days` after `ordered_at` becomes
   `expired`; with `require_answer` its series ends there.

Messages are sent only inside the send window (`schedule_morning_*`..`schedule_evening_*`), as
`due_tasks` does; expiry is marked at any hour. Message uuids are deterministic (`<order id>:order`,
`<order id>:reminder`), so a run that crashed before writing produces the same messages again.

Template context: the trigger report (hydrated: `patient`, `contact`, ...) with the patient's keys on
top (`patient_name`, ...), plus `order` = {id, job, form, k, number (k + 1), due, expires}.
Default recipient: `patient.phone`.

Reads:  orders by job, state and due; the subjects' reports, orders and patients; trigger reports.
Writes: order documents (one `_bulk_docs` per page). A 409 keeps the other writer's version; the
        order is looked at again on the next run.
"""
from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta

from sentinel.core import clock, phones

from sentinel.messaging import messages

from sentinel.programs import order_plans
from sentinel.core.context import BatchContext
from sentinel.core.ddocs import SENTINEL_DDOC
from sentinel.core.lookups import LookupIndex
from sentinel.jobs.order_replan import enabled, write
from sentinel.programs.orders import EXPIRED, FAILED, ORDERED, PLANNED, OrderJob
from sentinel.messaging.templates import TemplateError

log = logging.getLogger(__name__)

PAGE_SIZE = 500
MAX_PER_RUN = 1000  # due orders sent per job and run (the eFORSK dispatcher's limit); the rest next run
ORIGIN = "order_dispatch"
DEFAULT_RECIPIENT = "patient.phone"


@dataclass
class DispatchOutcome:
    ordered: int = 0
    failed: int = 0
    reminded: int = 0
    expired: int = 0
    cancelled_or_moved: int = 0
    conflicts: int = 0


def run(env: Any, now: datetime) -> None:
    settings = env.settings()
    if not enabled(settings):
        return
    outcome = process(env.main, env.sentinel, settings, now)
    log.info("order_dispatch: %d order(s) sent, %d failed, %d reminded, %d expired, %d re-planned at send time, "
             "%d changed meanwhile (next run)", outcome.ordered, outcome.failed, outcome.reminded, outcome.expired,
             outcome.cancelled_or_moved, outcome.conflicts)


def process(main: Any, sentinel: Any, settings: Any, now: datetime) -> DispatchOutcome:
    outcome = DispatchOutcome()
    jobs = order_plans.jobs_of(settings)
    sending = clock.in_send_window(settings, now)
    if not sending:
        log.info("order_dispatch: outside the send window, no order or reminder sent")
    effective = clock.effective_now(settings, now)
    for job in jobs:
        if job.status not in ("active", "test"):
            continue
        if sending:
            _send_due(main, sentinel, settings, jobs, job, effective, outcome)
        _follow_up(main, sentinel, settings, job, effective, outcome, sending)
    return outcome


def _pages(main: Any, job_id: str, state: str, until: str, limit: int):
    """Rows of one job's orders in `state` due up to `until`, a page at a time."""
    start: list[Any] = [job_id, state, ""]
    seen = 0
    while seen < limit:
        rows = main.view(SENTINEL_DDOC, "orders_by_job_state_due", startkey=start,
                         endkey=[job_id, state, until, {}], include_docs="true", limit=PAGE_SIZE + 1)
        rows = [r for r in rows if r.get("key") != start][:min(PAGE_SIZE, limit - seen)]
        if not rows:
            return
        seen += len(rows)
        yield [r["doc"] for r in rows if isinstance(r.get("doc"), dict)]
        if len(rows) < PAGE_SIZE:
            return
        start = rows[-1]["key"]


def _page_batch(main: Any, sentinel: Any, settings: Any, now: datetime, page: list[dict[str, Any]]) -> BatchContext:
    """A batch holding a page of orders with their patients, triggers and lineage, read in a few bulk
    requests (not one per order when a message is made)."""
    batch = BatchContext(main, LookupIndex(sentinel), settings, now)
    batch.add(page)
    refs = [o.get(k) for o in page for k in ("patient", "trigger")]
    batch.load_many([r for r in refs if isinstance(r, str)])
    loaded = [batch.lookup(r) for r in refs if isinstance(r, str)]
    batch.prefetch([d for d in loaded if isinstance(d, dict)])
    return batch


def _send_due(main: Any, sentinel: Any, settings: Any, jobs: list[OrderJob], job: OrderJob, now: datetime,
              outcome: DispatchOutcome) -> None:
    for page in _pages(main, job.id, PLANNED, clock.to_iso(now), MAX_PER_RUN):
        batch = _page_batch(main, sentinel, settings, now, page)
        subjects = {}
        for order in page:
            subject = order_plans.subject_of_contact(batch, order.get("patient")) if isinstance(order.get("patient"), str) else None
            if subject is not None:
                subjects.setdefault(subject.uuid, subject)
        order_plans.prefetch(batch, subjects.values())
        for subject in subjects.values():  # re-check: cancels or moves what no longer applies
            outcome.cancelled_or_moved += order_plans.replan(batch, jobs, subject, now, ORIGIN)
        for stored in page:
            order = batch.lookup(stored["_id"])
            due = clock.parse_date(order.get("due")) if order else None
            if order is None or order.get("state") != PLANNED or (due is not None and due > now):
                continue
            subject = subjects.get(order.get("patient"))
            order = copy.deepcopy(order)
            _send(batch, job, order, subject, now, outcome)
            batch.stage(order, ORIGIN)
        _save(main, batch, outcome)


def _send(batch: BatchContext, job: OrderJob, order: dict[str, Any], subject: Any, now: datetime,
          outcome: DispatchOutcome) -> None:
    if subject is None:
        _fail(order, "the patient document was not found", now)
        outcome.failed += 1
        return
    task, error = _message(batch, job, order, subject, job.message, "order", now)
    if task is None:
        _fail(order, error, now)
        outcome.failed += 1
        return
    order.setdefault("tasks", []).append(task)
    order.update(state=ORDERED, ordered_at=clock.to_iso(now))
    order.setdefault("state_history", []).append({"state": ORDERED, "timestamp": clock.to_iso(now)})
    outcome.ordered += 1


def _fail(order: dict[str, Any], why: str, now: datetime) -> None:
    order.update(state=FAILED, failure=why)
    order.setdefault("state_history", []).append({"state": FAILED, "timestamp": clock.to_iso(now), "reason": why})


def _message(batch: BatchContext, job: OrderJob, order: dict[str, Any], subject: Any, config: Any, kind: str,
             now: datetime) -> tuple[dict[str, Any] | None, str]:
    """The task carrying an order (or reminder) message, or (None, why not)."""
    settings = batch.settings
    if order.get("test") and not (subject.patient or {}).get("test"):
        return None, "a test order goes only to a contact marked test: true"
    trigger = batch.load(order["trigger"]) if isinstance(order.get("trigger"), str) else None
    base = trigger if isinstance(trigger, dict) else {"_id": order["_id"], "type": "data_record", "fields": {}}
    base = {**base, "fields": {**(base.get("fields") or {}), "patient_uuid": subject.uuid}}
    if subject.patient_id:
        base["fields"]["patient_id"] = subject.patient_id
    hydrated = batch.hydrated(base)
    patient = batch.hydrated_contact(subject.uuid)
    if kind == "order":
        expires = clock.add_duration(now, relativedelta(days=job.expiry_days), settings) if job.expiry_days else None
        expires_iso = clock.to_iso(expires) if expires else None
    else:  # a reminder: the order's own expiry, set when it was sent
        expires_iso = order.get("expires")
    details = {"id": order["_id"], "job": job.id, "form": job.order_form, "k": order.get("k"),
               "number": (order.get("k") or 0) + 1, "due": order.get("due"), "expires": expires_iso}
    extra = {"patient": patient, "template_context": {"order": details}}
    content = {"translation_key": config.get("translation_key"), "message": config.get("message")}
    if not any(content.values()):
        content = {"translation_key": job.message.get("translation_key"), "message": job.message.get("message")}
    recipient = job.message.get("recipient") or DEFAULT_RECIPIENT
    try:
        generated = messages.generate(hydrated, content, recipient, settings, extra, key=f"{order['_id']}:{kind}")
    except (re.error, TemplateError) as exc:
        return None, f"the {kind} message cannot be made: {exc}"
    first = generated[0] if generated else {}
    if first.get("error") or not str(first.get("message") or "").strip():
        return None, f"the {kind} message cannot be made: {first.get('error') or 'empty text'}"
    # an unresolved recipient comes back as written ("patient.phone"), as CHT's getRecipient does
    if not first.get("to") or not phones.validate(settings.values, first["to"]):
        return None, f"no phone number for the recipient {recipient!r} (got {first.get('to')!r})"
    task: dict[str, Any] = {"type": f"order_{kind}" if kind != "order" else "order", "form": job.order_form, "messages": generated}
    messages.set_task_state(task, "pending", now)
    if kind == "order" and expires_iso is not None:
        order["expires"] = expires_iso
    return task, ""


def _follow_up(main: Any, sentinel: Any, settings: Any, job: OrderJob, now: datetime, outcome: DispatchOutcome,
               sending: bool) -> None:
    if not job.reminder_days and not job.expiry_days:
        return
    # Only orders sent at least the shorter of the two periods ago can need anything, and an order is
    # sent at or after its due time: so only those due by then are read (an hour's slack for a DST
    # change within the calendar days), not every order still waiting for its answer.
    days = min(d for d in (job.reminder_days, job.expiry_days) if d)
    until = now - timedelta(days=days) + timedelta(hours=1)
    for page in _pages(main, job.id, ORDERED, clock.to_iso(until), 10**9):
        batch = _page_batch(main, sentinel, settings, now, page)
        for stored in page:
            ordered_at = clock.parse_date(stored.get("ordered_at")) or clock.parse_date(stored.get("due"))
            if ordered_at is None or stored.get("state") != ORDERED:
                continue
            order = copy.deepcopy(stored)
            if job.expiry_days and now >= clock.add_duration(ordered_at, relativedelta(days=job.expiry_days), settings):
                order.update(state=EXPIRED, expired_at=clock.to_iso(now))
                order.setdefault("state_history", []).append({"state": EXPIRED, "timestamp": clock.to_iso(now)})
                outcome.expired += 1
            elif (sending and job.reminder_days and not order.get("reminded_at")
                  and now >= clock.add_duration(ordered_at, relativedelta(days=job.reminder_days), settings)):
                subject = order_plans.subject_of_contact(batch, order.get("patient")) if isinstance(order.get("patient"), str) else None
                task = _message(batch, job, order, subject, job.reminder, "reminder", now)[0] if subject else None
                order["reminded_at"] = clock.to_iso(now)
                if task is not None:
                    order.setdefault("tasks", []).append(task)
                    outcome.reminded += 1
                else:
                    log.warning("order_dispatch: no reminder could be made for %s", order["_id"])
            else:
                continue
            batch.stage(order, ORIGIN)
        _save(main, batch, outcome)


def _save(main: Any, batch: BatchContext, outcome: DispatchOutcome) -> None:
    _, conflicts = write(main, [doc for doc, _ in batch.staged()])
    outcome.conflicts += conflicts
