"""Order jobs as Sentinel has known them: one `order-job:<id>` document per job, in the sentinel database.

    {_id: "order-job:<id>", type: "order_job_state", job, first_seen (ISO), trigger_form, order_form,
     planned_status: the job status whose bulk re-plan finished (null: none yet),
     replan: {status, after (the last trigger report id done), done, total, started} | null}

- At every settings load (`sync`, called by the runner): a job not known yet gets its document, with
  `first_seen` = now (the default `created_after` of the job); a known job whose `trigger_form` or
  `order_form` changed is a settings problem, so the settings fail closed with a message saying to
  create a new job instead. The first-seen dates go to `Settings.order_jobs_seen`.
- The bulk re-plan (`sentinel/jobs/order_replan.py`) keeps its progress in `replan` (saved after each
  page, so a crash resumes there) and sets `planned_status` when it is done.
The runner only creates these documents and the scheduler thread only updates them, so they never race.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Mapping

from sentinel.core import clock
from sentinel.core.couch import CouchDB
from sentinel.programs.orders import SETTING

ID_PREFIX = "order-job:"


def state_id(job_id: str) -> str:
    return f"{ID_PREFIX}{job_id}"


def load_all(sentinel: CouchDB) -> dict[str, dict[str, Any]]:
    """Every known job's state document, by job id."""
    rows = sentinel.all_docs_range(ID_PREFIX, ID_PREFIX + "\ufff0")
    return {row["doc"]["job"]: row["doc"] for row in rows
            if isinstance(row.get("doc"), dict) and isinstance(row["doc"].get("job"), str)}


def save(sentinel: CouchDB, state: dict[str, Any]) -> None:
    """Write a state document (the scheduler's progress); its new `_rev` is kept on it."""
    state["_rev"] = sentinel.put(state)


def sync(sentinel: CouchDB, settings: Any, now: datetime) -> tuple[Any, list[str]]:
    """(settings with `order_jobs_seen`, problems): record new jobs, refuse changed forms."""
    jobs = settings.section(SETTING)
    if not isinstance(jobs, list) or not jobs:
        return settings, []
    known = load_all(sentinel)
    problems: list[str] = []
    new = []
    for i, job in enumerate(jobs):
        if not isinstance(job, Mapping) or not isinstance(job.get("id"), str):
            continue
        before = known.get(job["id"])
        if before is None:
            state = {"_id": state_id(job["id"]), "type": "order_job_state", "job": job["id"],
                     "first_seen": clock.to_iso(now), "trigger_form": job.get("trigger_form"),
                     "order_form": job.get("order_form"), "planned_status": None, "replan": None}
            known[job["id"]] = state
            new.append(state)
            continue
        for key in ("trigger_form", "order_form"):
            if before.get(key) != job.get(key):
                problems.append(
                    f"settings.{SETTING}[{i}].{key}: trigger_form and order_form of an existing job cannot change "
                    f"(job {job['id']!r} has had {key} {before.get(key)!r} since {before.get('first_seen')}, now "
                    f"{job.get(key)!r}); create a new job with another id instead")
    if problems:
        return settings, problems
    if new:
        sentinel.bulk_docs(new)  # a 409 is another Sentinel's creation of the same job: theirs stands
        known.update(load_all(sentinel))
    seen = {job_id: state.get("first_seen") for job_id, state in known.items() if state.get("first_seen")}
    return dataclasses.replace(settings, order_jobs_seen=seen), []
