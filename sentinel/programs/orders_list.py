"""`sentinel orders list --job ID [--state STATE]`: a job's orders ahead of time, from the view
`sentinel/orders_by_job_state_due` (by state, then due date), due times shown in the settings
time zone.

Reads: the view, the settings doc (time zone, configured jobs). Writes: nothing.
"""
from __future__ import annotations

from typing import Any

from sentinel.core import clock
from sentinel.programs.orders import STATUSES
from sentinel.core.ddocs import SENTINEL_DDOC

STATES = ("planned", "ordered", "answered", "expired", "failed", "cancelled")
COLUMNS = ("due", "state", "patient", "k", "trigger", "id")


def rows(main: Any, job: str, state: str | None, limit: int) -> list[dict[str, Any]]:
    """The job's orders (in `state`, or all), as {due, state, patient, k, trigger, id, test}."""
    start: list[Any] = [job, state, ""] if state else [job]
    end: list[Any] = [job, state, {}] if state else [job, {}]
    found = main.view(SENTINEL_DDOC, "orders_by_job_state_due", startkey=start, endkey=end, limit=limit)
    out = []
    for row in found:
        key, value = row.get("key") or [], row.get("value") or {}
        out.append({"due": key[2] if len(key) > 2 else "", "state": key[1] if len(key) > 1 else "",
                    "patient": value.get("patient_id") or value.get("patient"), "k": value.get("k"),
                    "trigger": value.get("trigger"), "id": row.get("id"), "test": bool(value.get("test"))})
    return out


def configured_jobs(settings: Any) -> dict[str, str]:
    jobs = settings.get("order_jobs") if settings is not None else None
    return {j["id"]: j.get("status") for j in jobs if isinstance(j, dict) and isinstance(j.get("id"), str)} if isinstance(jobs, list) else {}


def render(found: list[dict[str, Any]], job: str, state: str | None, settings: Any, limit: int) -> list[str]:
    """Lines of a table; due times in the settings zone."""
    jobs = configured_jobs(settings)
    status = jobs.get(job)
    head = f"order job {job} ({status if status in STATUSES else 'not in the settings'}): "
    head += f"{len(found)}{'+' if len(found) >= limit else ''} order(s)" + (f" {state}" if state else "")
    try:
        zone = clock.zone(settings)
    except ValueError:
        zone = clock.zone(None)
    lines = [head]
    if not found:
        if status is None:
            lines.append(f"  no such job; jobs in the settings: {', '.join(sorted(jobs)) or 'none'}")
        return lines
    table = [(f"due ({zone.key})", "state", "patient", "k", "trigger", "id")]
    for r in found:
        due = clock.parse_date(r["due"])
        shown = due.astimezone(zone).strftime("%Y-%m-%d %H:%M") if due else "(none)"
        table.append((shown, r["state"] + (" (test)" if r["test"] else ""), str(r["patient"] or ""), str(r["k"]),
                      str(r["trigger"] or ""), str(r["id"])))
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in table]
    if len(found) >= limit:
        lines.append(f"(the first {limit}; --limit shows more)")
    return lines
