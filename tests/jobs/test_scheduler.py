"""The scheduler thread: every job at start-up and each interval; only the asked-for jobs on request."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from sentinel.jobs import scheduler
from sentinel.jobs.scheduler import Scheduler


def test_a_request_for_some_jobs_runs_only_those_and_the_interval_runs_them_all(monkeypatch):
    runs: list[str] = []

    def job(name):
        def run(env, now):
            runs.append(name)
        return run

    monkeypatch.setattr(scheduler, "JOBS", [("a", job("a")), ("b", job("b")), ("c", job("c"))])
    jobs = Scheduler(env=None, clock=lambda: datetime(2024, 1, 1, tzinfo=timezone.utc), interval=1.5)

    def settle(count: int) -> None:
        deadline = time.monotonic() + 5
        while len(runs) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    jobs.start()
    try:
        settle(3)
        assert runs == ["a", "b", "c"]  # start-up: everything
        jobs.request_run(["b"])
        settle(4)
        assert runs[3:] == ["b"]  # a batch queued work for b: b alone, at once
        jobs.request_run()
        settle(7)
        assert runs[4:] == ["a", "b", "c"]  # SIGUSR2 or new settings: everything
        settle(10)  # the interval passes with no request
        assert runs[7:] == ["a", "b", "c"]
    finally:
        jobs.stop()
