"""Scheduled jobs: run at start-up, then every 5 minutes (`sentinel run --schedule-interval`), on
SIGUSR2, or once by `sentinel tick [--now ISO]`.

A job is `(name, run(env, now))`. Jobs run one after another in a background thread; a job is never
run twice at once. Each run logs `Task <name> started` and `Task <name> completed` (or
`completed with error: ...`), the lines CHT's tooling waits for. A job that fails is logged and the
others still run; it runs again next time (every job is idempotent).

Jobs, in CHT's order (spec 4.1), then ours:

- `due_tasks` (`sentinel/jobs/due_tasks.py`, CHT dueTasks): inside the send window, `scheduled` tasks
  whose due time has come become `pending`, their messages rendered now.
- `reminders` (`sentinel/jobs/reminders.py`, CHT reminders): the `reminders` setting's
  `reminder:<form>:<ms>:<place>` docs and `reminderlog:<form>:<ms>` docs.
- `outbound` (`sentinel/jobs/outbound.py`, CHT outbound): pushes the `task:outbound:` queue that the
  `mark_for_outbound` transition fills to the `outbound` setting's destinations, retrying failures.
- `transitions_disabled_reminder`: repeats the settings problems while transitions are disabled, so a
  growing backlog is never silent.
- `sms_history_cleanup`: deletes the duplicate-message counts (`sms-history:*`, `sentinel/core/history.py`)
  of the sentinel database whose newest message is more than 30 minutes old.

- `milestone_defaults` (`sentinel/jobs/milestone_defaults.py`): milestone enrollments past their last window.
- `order_replan` (`sentinel/jobs/order_replan.py`): the bulk re-plan of an order job that appeared or
  changed status, resumable; `order_dispatch` (`sentinel/jobs/order_dispatch.py`): due orders sent,
  reminders, expiry.
- `appointment_outcomes` (`sentinel/jobs/appointment_outcomes.py`): appointments past without attendance
  become `missed`.
- `user_replacement` (`sentinel/jobs/user_replacement.py`, the effect of CHT's `create_user_for_contacts`):
  the `task:user-replacement:` queue: new token-login users, login SMS, original users deleted.

`due_tasks`, `reminders`, `outbound` and `user_replacement` do nothing while the settings are invalid (`env.settings()` is None).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable

from sentinel.jobs import appointment_outcomes, due_tasks, milestone_defaults, order_dispatch, order_replan, outbound, reminders, user_replacement

from sentinel.core import metrics, history
from sentinel.core.couch import CouchDB
from sentinel.core.errors import ConfigError
from sentinel.core.settings import Settings

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 5 * 60
HISTORY_PAGE_SIZE = 1000  # sms-history docs read (and deleted) per request


@dataclass
class JobEnv:
    """What jobs may use: the databases, the current settings (None when invalid) and the problem."""

    main: CouchDB
    sentinel: CouchDB
    settings: Callable[[], Settings | None]
    config_error: Callable[[], ConfigError | None]


def transitions_disabled_reminder(env: JobEnv, now: datetime) -> None:
    error = env.config_error()
    if error is not None:
        log.error(
            "Transitions are disabled until the settings are fixed; the changes feed is not processed. Problems:\n  %s",
            "\n  ".join(error.problems),
        )


def sms_history_cleanup(env: JobEnv, now: datetime) -> int:
    """Delete the `sms-history:` docs whose newest time is older than the 30-minute window; returns how many.

    Paged through `_all_docs` by id, deleted with one `_bulk_docs` per page, each at the revision read:
    a doc written meanwhile (a 409: a new message was counted) is kept. A doc without any time counts
    nothing and goes too. Both stored forms are read: `{count, last}` and the older `{times: [...]}`.
    """
    horizon = int((now - history.WINDOW).timestamp() * 1000)
    deleted, after = 0, None
    end = history.ID_PREFIX + "\ufff0"
    while True:
        rows = env.sentinel.all_docs_range(after or history.ID_PREFIX, end, limit=HISTORY_PAGE_SIZE + 1)
        rows = [r for r in rows if r.get("id") != after][:HISTORY_PAGE_SIZE]
        expired = []
        for row in rows:
            doc = row.get("doc")
            if not isinstance(doc, dict) or not doc.get("_id", "").startswith(history.ID_PREFIX):
                continue
            newest = _newest_message_ms(doc)
            if newest is None or newest < horizon:
                expired.append({"_id": doc["_id"], "_rev": doc["_rev"], "_deleted": True})
        if expired:
            results = env.sentinel.bulk_docs(expired)
            deleted += sum(1 for r in results if r.get("error") is None)
            for doc, result in zip(expired, results):
                if result.get("error") not in (None, "conflict"):
                    log.error("sms_history_cleanup: could not delete %s: %s", doc["_id"], result.get("error"))
        if len(rows) < HISTORY_PAGE_SIZE:
            break
        after = rows[-1]["id"]
    if deleted:
        log.info("sms_history_cleanup: deleted %d expired duplicate-message count(s)", deleted)
    return deleted


def _newest_message_ms(doc: dict) -> float | None:
    """The time of the newest message a `sms-history:` doc counts (`last`, else the latest of `times`)."""
    def number(value: object) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    if number(doc.get("last")):
        return doc["last"]
    times = [t for t in doc.get("times") or [] if number(t)] if isinstance(doc.get("times"), list) else []
    return max(times) if times else None


JOBS: list[tuple[str, Callable[[JobEnv, datetime], None]]] = [
    ("due_tasks", due_tasks.run),
    ("reminders", reminders.run),
    (outbound.JOB, outbound.run),  # CHT: after replications, which we do not have
    ("transitions_disabled_reminder", transitions_disabled_reminder),
    ("sms_history_cleanup", sms_history_cleanup),
    ("milestone_defaults", milestone_defaults.run),
    ("order_replan", order_replan.run),  # before the dispatcher: it sends from up-to-date plans
    ("order_dispatch", order_dispatch.run),
    ("appointment_outcomes", appointment_outcomes.run),
    (user_replacement.JOB, user_replacement.run),
]


def run_jobs(env: JobEnv, now: datetime, jobs=None) -> dict[str, str | None]:
    """Run every job once; returns {name: error message or None}. A failing job never stops the others."""
    outcome: dict[str, str | None] = {}
    for name, job in jobs if jobs is not None else JOBS:
        log.info("Task %s started", name)
        try:
            job(env, now)
        except Exception as exc:
            log.exception("Task %s completed with error: %s", name, exc)
            outcome[name] = f"{type(exc).__name__}: {exc}"
            metrics.scheduler_runs.labels(job=name, outcome="error").inc()
        else:
            log.info("Task %s completed", name)
            outcome[name] = None
            metrics.scheduler_runs.labels(job=name, outcome="ok").inc()
    return outcome


class Scheduler:
    """Runs the jobs in a daemon thread every INTERVAL_SECONDS, or at once when `request_run()` is
    called; `request_run(jobs)` runs only those jobs at once (work a batch just queued for them), and
    the next interval still runs them all."""

    def __init__(self, env: JobEnv, clock: Callable[[], datetime], interval: float = INTERVAL_SECONDS):
        self.env = env
        self.clock = clock
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._all_requested = True  # the first run runs every job
        self._requested: set[str] = set()
        self._thread = threading.Thread(target=self._loop, name="sentinel-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request_run(self, jobs: Iterable[str] | None = None) -> None:
        with self._lock:
            if jobs is None:
                self._all_requested = True
            else:
                self._requested.update(jobs)
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _next_jobs(self, woken: bool) -> list[tuple[str, Callable[[JobEnv, datetime], None]]]:
        with self._lock:
            everything = self._all_requested or not woken
            requested, self._requested, self._all_requested = self._requested, set(), False
        return JOBS if everything else [(name, job) for name, job in JOBS if name in requested]

    def _loop(self) -> None:
        woken = False
        while not self._stop.is_set():
            try:
                run_jobs(self.env, self.clock(), self._next_jobs(woken))
            except Exception:  # run_jobs already logs each job; this guards the loop itself
                log.exception("Scheduled jobs failed")
            woken = self._wake.wait(self.interval)
            self._wake.clear()
