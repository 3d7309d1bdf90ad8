"""Missed appointments (issue 7): a scheduler job. An appointment still `booked`, `confirmed` or
`rescheduled` whose time passed more than `missed_after` ago (default 1 day: time for an
`attended_forms` report to arrive) becomes `missed`, when its config has `attended_forms` (without
a way to record attendance nothing can be called missed). Its unsent reminders are cleared.

Reads:  `sentinel/appointments_by_status` up to now, PAGE_SIZE at a time.
Writes: the appointment reports that become missed (one `_bulk_docs` per page; a 409 is left for the
        next run).
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sentinel.programs import appointments as appts
from sentinel.core import clock
from sentinel.core.ddocs import SENTINEL_DDOC

log = logging.getLogger(__name__)

PAGE_SIZE = 500
DEFAULT_MISSED_AFTER = "1 day"


def run(env: Any, now: datetime) -> None:
    settings = env.settings()
    if settings is None or not any(c.get("attended_forms") for c in appts.configs(settings)):
        return
    missed = 0
    for status in appts.ACTIVE:
        start: list[Any] = [status, ""]
        while True:
            rows = env.main.view(SENTINEL_DDOC, "appointments_by_status", startkey=start, endkey=[status, clock.to_iso(now)],
                                 include_docs="true", limit=PAGE_SIZE + 1)
            rows = [r for r in rows if r.get("key") != start][:PAGE_SIZE]
            changed = [doc for doc in (r.get("doc") for r in rows) if isinstance(doc, dict) and _mark(doc, settings, now)]
            if changed:
                results = env.main.bulk_docs(changed)
                missed += sum(1 for r in results if r.get("error") is None)
            if len(rows) < PAGE_SIZE:
                break
            start = rows[-1]["key"]
    if missed:
        log.info("appointment_outcomes: %d appointment(s) missed", missed)


def _mark(doc: dict[str, Any], settings: Any, now: datetime) -> bool:
    conf = appts.config_for(settings, doc.get("form"))
    if conf is None or not conf.get("attended_forms") or doc.get("appointment_status") not in appts.ACTIVE:
        return False
    at = clock.parse_date((doc.get("appointment") or {}).get("at"))
    grace = clock.parse_duration(conf.get("missed_after") or DEFAULT_MISSED_AFTER)
    if at is None or grace is None or clock.add_duration(at, grace, settings) > now:
        return False
    appts.set_status(doc, appts.MISSED, now, None)
    appts.clear_reminders(doc, now)
    return True
