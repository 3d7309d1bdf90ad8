"""Mark pending messages as sent (for test and demo builds that must not queue real SMS).

Reads:  report.tasks, and report.scheduled_tasks when the report has no errors.
Writes: each pending task with a recipient and text: state `sent`, state_history, timestamp.
"""
from __future__ import annotations

from typing import Any

from sentinel.core.context import Context
from sentinel.core.docs import Doc, utc_iso
from sentinel.messaging.messages import set_task_state

name = "resolve_pending"
runs_once = False  # CHT runs it whenever pending messages are there


def _pending(tasks: Any) -> list[dict[str, Any]]:
    if not isinstance(tasks, list):
        return []
    return [
        task
        for task in tasks
        if isinstance(task, dict)
        and task.get("state") == "pending"
        and any(isinstance(m, dict) and m.get("to") and m.get("message") for m in task.get("messages") or [])
    ]


def _all_pending(doc: Doc) -> list[dict[str, Any]]:
    tasks = _pending(doc.get("tasks"))
    if not doc.get("errors"):  # scheduled tasks are left alone on a report with errors
        tasks += _pending(doc.get("scheduled_tasks"))
    return tasks


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001
    return bool(_all_pending(doc))


def run(doc: Doc, ctx: Context) -> bool:
    updated = False
    for task in _all_pending(doc):
        if set_task_state(task, "sent", ctx.now):
            task["timestamp"] = utc_iso(ctx.now)
            updated = True
    return updated
