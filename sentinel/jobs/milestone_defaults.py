"""Defaulting of milestone enrollments (issue 5): MOTECH's `EnrollmentDefaultmentService` as a scheduler job.

An `active` enrollment (`transitions/milestone_tracking.py`) whose current milestone's last window has
ended (`windows.max.end`, the milestone start + its maximum duration, `milestones.default_time`)
becomes `defaulted` at the job's first run at or after that time: its unsent alerts (`scheduled`,
`muted`, `pending`) become `cleared` and `status_history` gets `{status: defaulted, date}` (the
default time itself, not the run's).

How: the enrollments are found by their id prefix (`enrollment:`) through `_all_docs`, PAGE_SIZE at a
time (no view: PouchDB Server would re-index every document written since the last query); each page's
defaulted enrollments are written with one `_bulk_docs`. A 409 (the transition or someone else changed
it meanwhile) is left for the next run, which looks again. `now` is `clock.effective_now` (so
`synthetic_date` applies). Nothing is done while the settings are invalid, as for `due_tasks`.

Reads:  `enrollment:*` documents of the main database. Writes: the ones that default.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sentinel.core import clock
from sentinel.messaging.messages import set_task_state

log = logging.getLogger(__name__)

ID_PREFIX = "enrollment:"
PAGE_SIZE = 1000
UNSENT = ("scheduled", "muted", "pending")


@dataclass
class DefaultsOutcome:
    examined: int = 0
    defaulted: int = 0
    conflicts: int = 0
    errors: int = 0


def default_time(enrollment: dict[str, Any]) -> datetime | None:
    """When an enrollment's current milestone defaults: the end of its `max` window, None when unknown."""
    windows = enrollment.get("windows")
    last = windows.get("max") if isinstance(windows, dict) else None
    return clock.parse_date(last.get("end")) if isinstance(last, dict) else None


def mark_defaulted(enrollment: dict[str, Any], at: datetime, now: datetime) -> None:
    """Status `defaulted` as of `at`; unsent alerts cleared (their history at `now`)."""
    for task in enrollment.get("scheduled_tasks") or []:
        if isinstance(task, dict) and task.get("state") in UNSENT:
            set_task_state(task, "cleared", now)
    enrollment["status"] = "defaulted"
    history = enrollment.get("status_history")
    if not isinstance(history, list):
        history = enrollment["status_history"] = []
    history.append({"status": "defaulted", "date": clock.to_iso(at)})


def process(main: Any, now: datetime) -> DefaultsOutcome:
    """Default every active enrollment whose default time is at or before `now` (effective now)."""
    outcome = DefaultsOutcome()
    after: str | None = None
    end = ID_PREFIX + "\ufff0"
    while True:
        rows = main.all_docs_range(after or ID_PREFIX, end, limit=PAGE_SIZE + 1)
        rows = [r for r in rows if r.get("id") != after][:PAGE_SIZE]
        changed = []
        for row in rows:
            doc = row.get("doc")
            if not isinstance(doc, dict) or doc.get("type") != "enrollment" or doc.get("status") != "active":
                continue
            outcome.examined += 1
            at = default_time(doc)
            if at is None:
                log.warning("milestone_defaults: %s has no windows.max.end; skipped", doc.get("_id"))
                outcome.errors += 1
                continue
            if at <= now:
                mark_defaulted(doc, at, now)
                changed.append(doc)
        if changed:
            for doc, result in zip(changed, main.bulk_docs(changed)):
                error = result.get("error")
                if error is None:
                    outcome.defaulted += 1
                elif error == "conflict":
                    outcome.conflicts += 1
                else:
                    outcome.errors += 1
                    log.error("milestone_defaults: could not save %s: %s: %s", doc["_id"], error, result.get("reason"))
        if len(rows) < PAGE_SIZE:
            break
        after = rows[-1]["id"]
    return outcome


def run(env: Any, now: datetime) -> DefaultsOutcome | None:
    """The scheduler job (`JobEnv`, now)."""
    settings = env.settings()
    if settings is None:
        log.info("milestone_defaults: skipped while the settings are invalid")
        return None
    outcome = process(env.main, clock.effective_now(settings, now))
    log.info("milestone_defaults: %d active enrollment(s) examined, %d defaulted, %d changed meanwhile (next run), %d skipped",
             outcome.examined, outcome.defaulted, outcome.conflicts, outcome.errors)
    return outcome
