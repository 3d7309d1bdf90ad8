"""The long-running loop: follow the feed in batches, process them, checkpoint, and keep going.

Reads:  the main database's `_changes`, settings and translation docs; parked errors when due.
Writes: through the pipeline; the checkpoint `_local/transitions-seq` once per batch, after every
        write of the batch is durable.

Life cycle: `setup()` waits for CouchDB, creates the sentinel database, installs design documents,
creates the settings doc from defaults if missing and loads the settings; `run()` loops until
`stop()` (SIGTERM/SIGINT), finishing the batch at hand first. `toggle_pause()` (SIGUSR1) holds the feed.

Failure handling:
- CouchDB unreachable / 5xx / timeouts: the step is retried with backoff; the checkpoint waits.
- invalid settings: no batch is processed and the checkpoint does not move (fail closed); the
  settings doc is polled and processing resumes as soon as it is valid.
- a change that fails: parked in the sentinel database and retried later; the feed goes on.
- a 409 on a doc we wrote: that change is processed again on the new revision, a few rounds at most.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable

from sentinel.core import ddocs, lookups, metrics

from sentinel.programs import order_registry
from sentinel.core.checkpoint import Checkpoint
from sentinel.core.couch import CouchDB, CouchServer
from sentinel.core.errors import ConfigError, TransientError
from sentinel.core.parking import ParkedErrors
from sentinel.core.pipeline import BatchOutcome, Change, Pipeline, RecentWrites
from sentinel.core.retry import make_retry
from sentinel.jobs.scheduler import JobEnv
from sentinel.core.settings import SETTINGS_DOC_ID, TRANSLATIONS_PREFIX, Settings, SettingsStore
from sentinel.daemon.settings_check import build

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
IDLE_WAIT_SECONDS = 10.0  # longest wait for a change before housekeeping runs
SETTINGS_POLL_SECONDS = 2.0  # while disabled by bad settings
PARKED_CHECK_SECONDS = 30.0
BACKLOG_COUNT_SECONDS = 10.0
BACKLOG_COUNT_CAP = 1000  # counting further would cost more than it tells (logged as ">1000")
CONFLICT_ROUNDS = 5
UNEXPECTED_ERROR_MAX_PAUSE = 60.0


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _malloc_trim() -> Callable[[], Any] | None:
    """glibc's `malloc_trim(0)`, or None elsewhere (macOS, musl)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


_TRIM = _malloc_trim()


def release_memory() -> None:
    """Give the heap pages a batch freed back to the system (glibc `malloc_trim`). A batch parses
    megabytes of JSON into short-lived objects and glibc keeps the freed pages: on a
    25,000-registration backlog the peak was 153 MB without this, 141 MB with it. Under a millisecond
    per batch."""
    if _TRIM is not None:
        _TRIM()


class Runner:
    def __init__(
        self,
        server: CouchServer,
        main_db: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        idle_wait: float = IDLE_WAIT_SECONDS,
        clock: Callable[[], datetime] = utc_now,
    ):
        self.server = server
        self.main: CouchDB = server.db(main_db)
        self.sentinel: CouchDB = server.db(f"{main_db}-sentinel")
        self.batch_size = batch_size
        self.idle_wait = idle_wait
        self.clock = clock
        self.stop_event = threading.Event()
        self.paused = False
        self.retry = make_retry(self.stop_event)
        self.checkpoint = Checkpoint(self.sentinel)
        self.settings_store = SettingsStore(self.main)
        self.parked = ParkedErrors(self.sentinel)
        self.pipeline = Pipeline(self.main, self.sentinel, RecentWrites(), retry=self.retry)
        self.current: tuple[Settings, tuple[Any, ...]] | None = None
        self.config_error: ConfigError | None = None
        self.settings_rev: str | None = None
        self.totals = {"batches": 0, "processed": 0, "written": 0, "failed": 0}
        self._next_parked_check = 0.0
        self._next_settings_poll = 0.0
        self._backlog: tuple[float, int | None, bool] = (0.0, None, True)
        self._echo_share = 0.0  # of the last batch
        self.settings_listeners: list[Callable[[], None]] = []  # called after valid settings are loaded
        # called with the scheduled jobs a batch queued work for (after its checkpoint), e.g. outbound
        self.job_listeners: list[Callable[[set[str]], None]] = []

    def job_env(self) -> JobEnv:
        """What scheduled jobs see: the databases and, at call time, the settings in force."""
        return JobEnv(
            self.main,
            self.sentinel,
            settings=lambda: self.current[0] if self.current else None,
            config_error=lambda: self.config_error,
        )

    # --- control -----------------------------------------------------------------------------------
    def stop(self) -> None:
        self.stop_event.set()

    def toggle_pause(self) -> None:
        self.paused = not self.paused
        log.info("Transitions feed %s", "paused (SIGUSR1 again to resume)" if self.paused else "resumed")

    # --- start-up ----------------------------------------------------------------------------------
    def setup(self) -> None:
        self.retry(self._setup_once)

    def _setup_once(self) -> None:
        self.server.welcome()
        self.main.create(exist_ok=True)
        self.sentinel.create(exist_ok=True)
        ddocs.install(self.main, self.sentinel)
        if not lookups.is_built(self.sentinel):
            log.info("Building the lookup index from every document of %s (once per database)", self.main.name)
            lookups.build(self.main, self.sentinel, self.retry)
        if self.settings_store.create_if_missing():
            log.info("Created the settings doc from settings/defaults.json")
        self.reload_settings()
        self.checkpoint.load()
        self.pipeline.history.load(self.sentinel, self.clock())
        log.info("Following %s from seq %s", self.main.name, self.checkpoint.value)

    def reload_settings(self) -> bool:
        """Load and validate settings and translations; True when transitions may run."""
        raw, rev = self.retry(self.settings_store.read)
        translations = self.retry(self.settings_store.translations)
        self.settings_rev = rev
        try:
            settings, transitions = build(raw, rev, translations)
            settings, problems = self.retry(order_registry.sync, self.sentinel, settings, self.clock())
            if problems:
                raise ConfigError(problems)
        except ConfigError as exc:
            self.current, self.config_error = None, exc
            log.error(
                "Transitions are disabled until the settings are fixed (settings rev %s). Problems:\n  %s",
                rev,
                "\n  ".join(exc.problems),
            )
            log_settings_warnings(rev, exc.warnings)
            return False
        self.current, self.config_error = (settings, transitions), None
        log_settings_warnings(rev, settings.warnings)
        for listener in self.settings_listeners:  # e.g. the scheduler: a new order job is planned at once
            listener()
        names = ", ".join(t.name for t in transitions) or "none"
        log.info("Settings rev %s loaded; transitions enabled: %s", rev, names)
        log.info(
            "Reminder messages allowed between %s:%s and %s:%s",
            settings.get("schedule_morning_hours", 0),
            settings.get("schedule_morning_minutes", 0),
            settings.get("schedule_evening_hours", 23) or 23,
            settings.get("schedule_evening_minutes", 0),
        )
        return True

    # --- the loop ----------------------------------------------------------------------------------
    def run(self) -> None:
        self.setup()
        self.loop()

    def loop(self) -> None:
        """Run `step()` until stopped. Nothing but a stop ends it: an unexpected error (a 401 after a
        password change, a bug) is logged and the step retried after a growing pause; the checkpoint
        only moves after a batch succeeds, so nothing is skipped."""
        failures = 0
        while not self.stop_event.is_set():
            try:
                self.step()
                failures = 0
            except TransientError:
                if not self.stop_event.is_set():  # retry() only gives up when stopping
                    raise
            except Exception:
                failures += 1
                pause = min(2.0**failures, UNEXPECTED_ERROR_MAX_PAUSE)
                log.exception("Unexpected error (%d in a row); trying again in %.0fs", failures, pause)
                self.stop_event.wait(pause)
        log.info("Stopped at seq %s", self.checkpoint.value)

    def step(self) -> BatchOutcome | None:
        """One turn of the loop: housekeeping, then at most one batch. Returns its outcome, if any."""
        if self.paused:
            self.stop_event.wait(0.2)
            return None
        if self.current is None:
            self._poll_settings()
            return None
        self._retry_parked_if_due()
        since = self.checkpoint.value
        started = time.monotonic()
        # Documents come with the feed, except while it is mostly the echo of our own writes (those we
        # hold already; the server would read them again for nothing).
        with_docs = self._echo_share <= 0.5
        page = self.retry(self.main.changes, since, self.batch_size, self.idle_wait, 1000, self._interrupted, with_docs)
        if not page.results or self._interrupted():  # paused or stopped while waiting: leave it unprocessed
            return None
        changes = [Change.from_row(row) for row in page.results]
        if any(c.id == SETTINGS_DOC_ID or c.id.startswith(TRANSLATIONS_PREFIX) for c in changes):
            if not self.reload_settings():
                return None  # fail closed: this batch waits, unprocessed, for valid settings
        outcome = self.process(changes)
        self._echo_share = outcome.echoes / len(changes)
        self.retry(self.checkpoint.save, page.last_seq)
        # a page that was not full held everything there was: nothing was left behind it
        pending = page.pending if page.pending is not None or len(page.results) >= self.batch_size else 0
        self._log_batch(outcome, pending, time.monotonic() - started)
        if outcome.wake_jobs:
            for listener in self.job_listeners:
                listener(set(outcome.wake_jobs))
        release_memory()
        return outcome

    def process(self, changes: list[Change]) -> BatchOutcome:
        """Process changes, re-run those that met a 409, and park whatever keeps failing."""
        assert self.current is not None
        settings, transitions = self.current
        now = self.clock()
        outcome = self._process_or_serially(changes, settings, transitions, now)
        for _ in range(CONFLICT_ROUNDS):
            if not outcome.requeue:
                break
            log.info("Re-running %d changes after conflicting edits", len(outcome.requeue))
            again = self._process_or_serially(outcome.requeue, settings, transitions, now)
            outcome.absorb(again)
            outcome.requeue = again.requeue
        outcome.failed += [(c, "documents kept conflicting with other writers") for c in outcome.requeue]
        outcome.requeue = []
        if outcome.failed:
            for change, message in outcome.failed:
                log.error("Parking %s (seq %s): %s", change.id, change.seq, message)
            self.retry(self.pipeline.park, outcome.failed, now)
            metrics.parked.inc(len(outcome.failed))
            if self.pipeline.parked_ids is not None:
                self.pipeline.parked_ids.update(change.id for change, _ in outcome.failed)
        return outcome

    def _process_or_serially(self, changes, settings, transitions, now) -> BatchOutcome:
        """Bulk first; if the bulk attempt itself breaks (a bug, not a bad doc), one change at a time."""
        try:
            return self.retry(self.pipeline.process, changes, settings, transitions, now)
        except TransientError:
            raise
        except Exception:
            log.exception("Batch processing failed; processing its %d changes one at a time", len(changes))
        total = BatchOutcome(seen=len(changes))
        for change in changes:
            try:
                one = self.retry(self.pipeline.process, [change], settings, transitions, now)
            except TransientError:
                raise
            except Exception as exc:
                total.failed.append((change, f"{type(exc).__name__}: {exc}"))
                continue
            total.absorb(one)
            total.requeue += one.requeue
        return total

    def _interrupted(self) -> bool:
        return self.stop_event.is_set() or self.paused

    # --- housekeeping ------------------------------------------------------------------------------
    def _poll_settings(self) -> None:
        if time.monotonic() >= self._next_settings_poll:
            self._next_settings_poll = time.monotonic() + SETTINGS_POLL_SECONDS
            if self.retry(self.settings_store.rev) != self.settings_rev:
                self.reload_settings()
                return
        self.stop_event.wait(0.2)

    def _retry_parked_if_due(self) -> None:
        if time.monotonic() < self._next_parked_check:
            return
        self._next_parked_check = time.monotonic() + PARKED_CHECK_SECONDS
        parked = self.retry(self.parked.all)
        self.pipeline.parked_ids = {doc["doc_id"] for doc in parked if isinstance(doc.get("doc_id"), str)}
        due = ParkedErrors.due(parked, self.clock())
        if due:
            log.info("Retrying %d parked changes", len(due))
            self.process([Change(id=doc["doc_id"], seq=doc.get("seq")) for doc in due])

    def backlog(self, pending: int | None) -> tuple[int | None, bool]:
        """Changes after the checkpoint: CouchDB's `pending` when given, else counted every 10 s at most."""
        if pending is not None:
            return pending, True
        checked_at, count, exact = self._backlog
        if time.monotonic() - checked_at >= BACKLOG_COUNT_SECONDS:
            count, exact = self.retry(self.main.count_changes_since, self.checkpoint.value, BACKLOG_COUNT_CAP)
            self._backlog = (time.monotonic(), count, exact)
        return count, exact

    def _log_batch(self, outcome: BatchOutcome, pending: int | None, seconds: float) -> None:
        self.totals["batches"] += 1
        self.totals["processed"] += outcome.processed
        self.totals["written"] += outcome.written
        self.totals["failed"] += len(outcome.failed)
        count, exact = self.backlog(pending)
        metrics.batches.inc()
        if count is not None:
            metrics.backlog.set(count)
        backlog = "?" if count is None else f"{count}" if exact else f">{count}"
        rate = outcome.seen / seconds if seconds > 0 else 0.0
        log.info(
            "batch: %d changes, %d processed, %d written, %d failed; backlog %s; %.0f changes/s; seq %s",
            outcome.seen,
            outcome.processed,
            outcome.written,
            len(outcome.failed),
            backlog,
            rate,
            self.checkpoint.value,
        )


def log_settings_warnings(rev: str | None, warnings: list[str] | tuple[str, ...]) -> None:
    """One warning line listing what the settings check ignored or coerced (each with its JSON path)."""
    if warnings:
        log.warning(
            "Settings rev %s: %d value(s) ignored or read as CHT reads them:\n  %s", rev, len(warnings), "\n  ".join(warnings)
        )
