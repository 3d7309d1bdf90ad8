"""Scheduled messages whose time has come: CHT's `dueTasks` job (SL/transitions/src/schedule/due_tasks.js,
spec 4.2 and 3.8), run by the scheduler every 5 minutes, on SIGUSR2 and by `sentinel tick`.

A task of a document's `scheduled_tasks` in state `scheduled` whose due time has come becomes
`pending`, which hands it to the SMS gateway. Its messages are rendered at that moment when it has
none (CHT 4.x stores scheduled tasks without messages): from `message_key` (a translation key) or
`message`, to `recipient`, in the document's locale, with the template context CHT's dueTasks builds:

    patient, place             the hydrated document's subjects (`lineage.hydrate`)
    registrations              valid registrations of `fields.patient_id || patient.patient_id`
    place_registrations        valid registrations of `fields.place_id || place.place_id`

Rules, in CHT's order:

- **Send window.** Nothing happens outside `schedule_morning_*` .. `schedule_evening_*`
  (`clock.in_send_window`, `synthetic_date` applied), except for appointment reminders (issue 7,
  `type: appointment_reminder`) whose appointment comes before the window next opens: the window
  never delays a reminder past its appointment.
- **Appointments past.** An appointment reminder whose appointment time (`appointment_at`) has come
  is `cleared`, never sent late.
- **Which tasks.** Only state `scheduled` is touched: a `sent` (or `pending`, `cleared`, ...) task
  sharing the due date stays as it is (cht-core#10802). The due time is the view's:
  `task.due || task.timestamp || doc.reported_date` (JavaScript truthiness, so a null or missing
  `due` falls back, cht-core#6582), as epoch ms. A task is due when
  `now - max_overdue <= due <= now`, `now` being `clock.effective_now` (so `synthetic_date`
  applies) and `max_overdue` the setting (default 7 days, `clock.max_overdue`): a task overdue by more
  than that is left as it is, never sent.
- **Messages.** A task that has messages keeps them. One without gets them generated
  (`messages.generate`); generated messages with an `error` (no text, no such translation, the
  patient missing...) are not kept. Then: a first message with non-empty text makes the task
  `pending`; otherwise, with `sms.clear_failing_schedules` (JavaScript truthiness), the task becomes
  `clear`; otherwise it stays `scheduled`, untouched (CHT 5.1).
- **Deterministic uuids.** A generated message's uuid comes from the document id and
  `scheduled_tasks:<index>:<due ms>` (`messages.generate`'s `key`), so a run that crashed after
  generating and before writing gives the same uuids when it runs again.

How (and where we differ from CHT on purpose):

- The documents come from Sentinel's due index (`lookups.due_keys`: one small doc per UTC hour and
  shard of the ids with a `scheduled` task due then, kept up to date from the feed and Sentinel's own
  writes), not from the `messages_by_state` view, which PouchDB Server would bring up to date at
  1 ms for every document written since the last query. The buckets of the window's hours are read
  in one range request, their documents in pages of PAGE_SIZE; each listed document is checked
  (its tasks' states and due times), so an out-of-date entry costs a read, never a wrong send.
  Entries of documents with nothing due in that hour any more are taken out afterwards (`tidy`).
- A page's documents are read in one request; their lineage and subjects are loaded in
  a few bulk requests by a `BatchContext` (as a transition batch is), and the registrations of all
  the page's subjects in one view request.
- A document is changed only in the tasks that change: its stored form is written back (no
  hydrate-and-minify round trip as in CHT), with one `_bulk_docs` per page. A 409 means someone
  edited it since the page was read: their edit is kept, and the document is read afresh and tried
  again on the next run.
- A document that cannot be handled (malformed, a bug) is logged and skipped; the others go on.
- A task's due date is compared as epoch ms, not as CHT's ISO string (CHT never sends a task whose
  `due` is stored in another ISO form, e.g. without milliseconds).

Reads:  the due index (sentinel database), the pages' documents, their lineage and subjects (`_all_docs`, Sentinel's lookup index), their
        registrations (`sentinel/reports_by_subject`).
Writes: the documents whose tasks changed (`_bulk_docs`), tidied due-index docs.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Mapping

from sentinel.programs import appointments

from sentinel.core import clock

from sentinel.messaging import messages
from sentinel.core.context import BatchContext
from sentinel.core.couch import CouchDB
from sentinel.core.ddocs import SENTINEL_DDOC
from sentinel.core.docs import Doc, clone, fields_of, js_truthy
from sentinel.core import lookups
from sentinel.core.lookups import LookupIndex
from sentinel.programs.registrations import is_valid_registration

log = logging.getLogger(__name__)

PAGE_SIZE = 1000  # documents per page (CHT's BATCH_SIZE); tests make it small
BUCKETS_PER_READ = 1000  # due-index docs per request
SCHEDULED = "scheduled"
PENDING = "pending"
CLEAR = "clear"
CLEARED = "cleared"  # an appointment reminder whose appointment has come (not CHT's "clear")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class DueTasksOutcome:
    """What one run did (logged, and returned for tests and `sentinel tick`)."""

    in_window: bool = True
    pages: int = 0
    docs: int = 0
    pending: int = 0  # tasks moved to pending
    cleared: int = 0  # tasks set to clear (no message could be generated, clear_failing_schedules)
    failing: int = 0  # due tasks left scheduled: no message could be generated
    written: int = 0
    conflicts: int = 0  # documents someone else changed meanwhile: tried again next run
    errors: int = 0  # documents skipped (malformed) or not written (refused)


def run(env: Any, now: datetime) -> None:
    """The scheduler job: `JobEnv` → process; nothing to do while the settings are invalid."""
    settings = env.settings()
    if settings is None:
        log.info("due_tasks: skipped while the settings are invalid")
        return
    outcome = process(env.main, env.sentinel, settings, now)
    if not outcome.in_window and not outcome.pending:
        log.info("due_tasks: outside the send window, nothing sent")
        return
    log.info(
        "due_tasks: %d document(s) in %d page(s): %d task(s) pending, %d cleared, %d left scheduled "
        "(no message); %d document(s) written, %d changed meanwhile (next run), %d skipped",
        outcome.docs,
        outcome.pages,
        outcome.pending,
        outcome.cleared,
        outcome.failing,
        outcome.written,
        outcome.conflicts,
        outcome.errors,
    )


def process(main: CouchDB, sentinel: CouchDB, settings: Any, now: datetime) -> DueTasksOutcome:
    """Move every due `scheduled` task as of `now` (see the module docstring)."""
    outcome = DueTasksOutcome()
    effective = clock.effective_now(settings, now)
    window: tuple[int, ...] = (_ms(clock.overdue_cutoff(settings, now)), _ms(effective))
    if not clock.in_send_window(settings, now):
        outcome.in_window = False
        # only appointment reminders that cannot wait for the window: their appointment comes first
        window += (_ms(appointments.next_window_start(settings, now)),)
    seen: dict[str, set[str]] = {}  # bucket doc id -> the document ids it listed
    current: dict[str, set[str]] = {}  # document id -> the buckets it belongs in after this run
    for rows in index_pages(main, sentinel, window, PAGE_SIZE, seen):
        outcome.pages += 1
        for row in rows:  # as read, before this run changes them: what it sends is tidied next run,
            doc = row.get("doc")  # once its write is sure to have landed
            current[row["id"]] = {f"{kind}:{value}" for kind, value in lookups.due_keys(doc)} if isinstance(doc, dict) else set()
        _process_page(main, sentinel, settings, now, window, rows, outcome)
    tidy(sentinel, seen, current)
    return outcome


# --- paging --------------------------------------------------------------------------------------


def index_pages(main: CouchDB, sentinel: CouchDB, window: tuple[int, ...], page_size: int,
                seen: dict[str, set[str]]) -> Iterator[list[dict[str, Any]]]:
    """The documents the due index lists for the window's hours, PAGE_SIZE at a time, as rows
    `{id, doc}`; each document once. `seen` gets, per bucket doc id, the ids it listed (for `tidy`)."""
    first = lookups.index_id(("due", lookups.due_hour(window[0])))
    last = lookups.index_id(("due", lookups.due_hour(window[1]))) + ":\ufff0"
    ids: set[str] = set()
    after: str | None = None
    while True:
        rows = sentinel.all_docs_range(after or first, last, limit=BUCKETS_PER_READ + 1)
        rows = [r for r in rows if r.get("id") != after][:BUCKETS_PER_READ]
        for row in rows:
            listed = (row.get("doc") or {}).get("ids")
            if isinstance(listed, list):
                seen[row["id"]] = {i for i in listed if isinstance(i, str)}
                ids.update(seen[row["id"]])
        if len(rows) < BUCKETS_PER_READ:
            break
        after = rows[-1]["id"]
    ordered = sorted(ids)
    for i in range(0, len(ordered), page_size):
        chunk = ordered[i:i + page_size]
        found = main.all_docs(chunk)
        yield [{"id": doc_id, "doc": found.get(doc_id)} for doc_id in chunk]


def tidy(sentinel: CouchDB, seen: dict[str, set[str]], current: dict[str, set[str]]) -> None:
    """Take out of each bucket the documents that no longer have a scheduled task due in it (sent,
    cleared, deleted). A bucket someone else changed meanwhile (409) is left for the next run."""
    changed = []
    found = sentinel.all_docs([bucket for bucket in seen])
    for bucket, listed in seen.items():
        stale = {i for i in listed if bucket[len(lookups.ID_PREFIX):] not in current.get(i, set())}
        doc = found.get(bucket)
        if stale and doc is not None:
            changed.append({**doc, "ids": sorted(set(doc.get("ids") or []) - stale)})
    if changed:
        sentinel.bulk_docs(changed)  # 409s are fine: the next run looks again


# --- one page ------------------------------------------------------------------------------------


def _process_page(main: CouchDB, sentinel: CouchDB, settings: Any, now: datetime, window: tuple[int, ...],
                  rows: list[dict[str, Any]], outcome: DueTasksOutcome) -> None:
    docs: dict[str, Doc] = {}
    for row in rows:
        doc = row.get("doc")
        if isinstance(doc, dict) and isinstance(doc.get("_id"), str) and not doc.get("_deleted"):
            docs.setdefault(doc["_id"], doc)
        elif row.get("id") not in docs:
            log.warning("due_tasks: skipping row %s of %r: no document", row.get("key"), row.get("id"))
    candidates = [d for d in docs.values() if _due_tasks(d, window)]
    outcome.docs += len(candidates)
    if not candidates:
        return
    batch = BatchContext(main, LookupIndex(sentinel), settings, now)
    try:
        batch.add(clone(d) for d in candidates)  # the batch's copies; the stored forms are changed below
        batch.prefetch(candidates)
    except Exception:  # a malformed doc must not cost the page: each is hydrated alone below
        log.exception("due_tasks: loading the lineage of a page failed; loading document by document")
    hydrated: dict[str, Doc] = {}
    for doc in candidates:
        try:
            hydrated[doc["_id"]] = batch.hydrated(doc)
        except Exception as exc:
            outcome.errors += 1
            log.exception("due_tasks: skipping %s: cannot load its lineage: %s", doc["_id"], exc)
    registrations = _registrations(main, settings, hydrated.values())
    changed = []
    clear_failing = clear_failing_schedules(settings)
    for doc in candidates:
        if doc["_id"] not in hydrated:
            continue
        try:
            if update_due_tasks(doc, hydrated[doc["_id"]], registrations, settings, now, window, clear_failing, outcome):
                changed.append(doc)
        except Exception as exc:
            outcome.errors += 1
            log.exception("due_tasks: skipping %s: %s", doc["_id"], exc)
    _write(main, changed, outcome)


def clear_failing_schedules(settings: Any) -> bool:
    """`sms.clear_failing_schedules`, JavaScript truthiness (CHT: `config.get('sms')?.clear_failing_schedules || false`)."""
    sms = settings.get("sms")
    return isinstance(sms, Mapping) and js_truthy(sms.get("clear_failing_schedules"))


def update_due_tasks(doc: Doc, hydrated: Doc, registrations: Mapping[str, list[Doc]], settings: Any, now: datetime,
                     window: tuple[int, ...], clear_failing: bool, outcome: DueTasksOutcome | None = None) -> bool:
    """Move `doc`'s due scheduled tasks (in place); True when any changed. `hydrated` is its hydrated copy."""
    outcome = outcome if outcome is not None else DueTasksOutcome()
    due = _due_tasks(doc, window)
    if not due:
        return False
    extra = _template_extra(hydrated, registrations)
    changed = False
    for index, task, due_ms in due:
        appointment = _appointment_ms(task)
        if appointment is not None and appointment <= window[1]:  # the appointment has come: too late
            changed |= messages.set_task_state(task, CLEARED, now)
            outcome.cleared += 1
            continue
        if not js_truthy(task.get("messages")):
            generated = _generate(hydrated, task, settings, extra, f"scheduled_tasks:{index}:{due_ms}")
            if generated and not any(isinstance(m, dict) and m.get("error") for m in generated):
                task["messages"] = generated
        if _has_text(task.get("messages")):
            changed |= messages.set_task_state(task, PENDING, now)
            outcome.pending += 1
        elif clear_failing:
            changed |= messages.set_task_state(task, CLEAR, now)
            outcome.cleared += 1
        else:
            outcome.failing += 1
    return changed


def _appointment_ms(task: Mapping[str, Any]) -> int | None:
    """An appointment reminder's appointment time (epoch ms), None for other tasks."""
    if task.get("type") != appointments.TASK_TYPE:
        return None
    at = clock.parse_date(task.get("appointment_at"))
    return _ms(at) if at is not None else None


def _due_tasks(doc: Doc, window: tuple[int, ...]) -> list[tuple[int, dict[str, Any], int]]:
    """(index, task, due ms) of the doc's scheduled tasks due within the window. A third value in
    `window` (outside the send window): only appointment reminders whose appointment is before it."""
    urgent_before = window[2] if len(window) > 2 else None
    tasks = doc.get("scheduled_tasks")
    if not isinstance(tasks, list):
        return []
    found = []
    for index, task in enumerate(tasks):
        if not isinstance(task, dict) or task.get("state") != SCHEDULED:
            continue
        due_ms = lookups.due_ms(task, doc)
        if urgent_before is not None and ((_appointment_ms(task) or urgent_before + 1) > urgent_before):
            continue
        if due_ms is not None and window[0] <= due_ms <= window[1]:
            found.append((index, task, due_ms))
    return found


def _template_extra(hydrated: Doc, registrations: Mapping[str, list[Doc]]) -> dict[str, Any]:
    patient_key, place_key = _subject_keys(hydrated)
    return {
        "patient": hydrated.get("patient"),
        "place": hydrated.get("place"),
        "registrations": registrations.get(patient_key, []) if patient_key else [],
        "place_registrations": registrations.get(place_key, []) if place_key else [],
    }


def _subject_keys(hydrated: Doc) -> tuple[str | None, str | None]:
    """CHT dueTasks: `fields.patient_id || patient.patient_id`, `fields.place_id || place.place_id`."""
    fields = fields_of(hydrated)
    patient = hydrated.get("patient") if isinstance(hydrated.get("patient"), dict) else {}
    place = hydrated.get("place") if isinstance(hydrated.get("place"), dict) else {}
    keys = []
    for value in (fields.get("patient_id") or patient.get("patient_id"), fields.get("place_id") or place.get("place_id")):
        keys.append(str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "" else None)
    return keys[0], keys[1]


def _registrations(main: CouchDB, settings: Any, hydrated: Any) -> dict[str, list[Doc]]:
    """Valid registrations by subject key, newest first, for every key of the page (one view request)."""
    keys = sorted({k for doc in hydrated for k in _subject_keys(doc) if k})
    if not keys:
        return {}
    rows = main.view(SENTINEL_DDOC, "reports_by_subject", keys=keys, include_docs=True)
    by_key: dict[str, dict[str, Doc]] = {}
    for row in rows:
        doc = row.get("doc")
        if isinstance(doc, dict) and is_valid_registration(doc, settings):
            by_key.setdefault(str(row.get("key")), {}).setdefault(doc["_id"], doc)
    return {
        key: sorted(found.values(), key=lambda d: _number(d.get("reported_date")), reverse=True)
        for key, found in by_key.items()
    }


def _generate(hydrated: Doc, task: Mapping[str, Any], settings: Any, extra: Mapping[str, Any], key: str) -> list[dict[str, Any]] | None:
    config = {"translation_key": task.get("message_key"), "message": task.get("message")}
    try:
        return messages.generate(hydrated, config, task.get("recipient"), settings, extra, key=key)
    except re.error as exc:  # a bad outgoing_phone_filters pattern: no message can be made
        log.error("due_tasks: cannot generate the message of %s: invalid outgoing_phone_filters: %s", hydrated.get("_id"), exc)
        return None


def _has_text(generated: Any) -> bool:
    """CHT: `task.messages?.[0].message?.trim().length > 0`."""
    if not isinstance(generated, list) or not generated or not isinstance(generated[0], dict):
        return False
    text = generated[0].get("message")
    return isinstance(text, str) and bool(text.strip())


def _write(main: CouchDB, changed: list[Doc], outcome: DueTasksOutcome) -> None:
    if not changed:
        return
    for doc, result in zip(changed, main.bulk_docs(changed)):
        error = result.get("error")
        if error is None:
            outcome.written += 1
        elif error == "conflict":
            outcome.conflicts += 1
            log.info("due_tasks: %s was changed meanwhile; its edit is kept and it is tried again on the next run", doc["_id"])
        else:
            outcome.errors += 1
            log.error("due_tasks: could not save %s: %s: %s", doc["_id"], error, result.get("reason"))


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
