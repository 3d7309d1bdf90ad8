"""Scheduled jobs: run at start-up, then every 5 minutes, on SIGUSR2, or once by `sentinel tick`.

A job is `(name, run(env, now))`. Jobs run one after another in a background thread; a job is never
run twice at once. Each run logs `Task <name> started` and `Task <name> completed` (or
`completed with error: ...`), the lines CHT's tooling waits for.

Jobs here: `transitions_disabled_reminder` (repeats the settings problems while transitions are
disabled, so a growing backlog is never silent). Later capabilities add their jobs to `JOBS`.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from .couch import CouchDB
from .errors import ConfigError
from .settings import Settings

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 5 * 60


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


JOBS: list[tuple[str, Callable[[JobEnv, datetime], None]]] = [
    ("transitions_disabled_reminder", transitions_disabled_reminder),
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
        else:
            log.info("Task %s completed", name)
            outcome[name] = None
    return outcome


class Scheduler:
    """Runs the jobs in a daemon thread every INTERVAL_SECONDS, or at once when `request_run()` is called."""

    def __init__(self, env: JobEnv, clock: Callable[[], datetime], interval: float = INTERVAL_SECONDS):
        self.env = env
        self.clock = clock
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sentinel-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request_run(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                run_jobs(self.env, self.clock())
            except Exception:  # run_jobs already logs each job; this guards the loop itself
                log.exception("Scheduled jobs failed")
            self._wake.wait(self.interval)
            self._wake.clear()
