"""CHT's `mark_for_outbound`: a document some `outbound` push configuration is relevant to is queued
for that push; the `outbound` job (`sentinel/jobs/outbound.py`, which describes the config, credentials,
the payload and the retries) sends it.

CHT: shared-libs/transitions/src/transitions/mark_for_outbound.js. Its filter is only "an `outbound`
config exists", with no has-run check, and it always returns false, so it runs on every revision of
every document (our `runs_once = False`) and is never recorded in the infodoc's `transitions`.

Reads:  settings `outbound`; the hydrated document; its infodoc's `completed_tasks`; the document's
        `task:outbound:<id>` (sentinel db, read for the whole batch in one request).
Writes: `task:outbound:<doc id>` `{type: "task:outbound", created: <ms>, doc_id, queue: [<keys>]}` in
        the sentinel database, staged with the batch: one key per config whose `relevant_to` holds,
        except configs with an invalid cron (logged and skipped, as in CHT) and those whose mapped
        payload was already pushed (the last `completed_tasks` hash for that key); an existing task
        gets the missing keys added. A config whose mapping fails is queued (the job keeps the error).
        The document itself is never changed (CHT returns false).

Unlike CHT, nothing is sent during the batch (the staged task wakes the job as soon as the batch is
saved), so a slow destination never holds up the feed; see `sentinel/jobs/outbound.py` for delivery (at least once)
and why a batch processed again after a crash does not push a payload twice.
"""
from __future__ import annotations

import logging
from typing import Any

from sentinel.jobs import outbound
from sentinel.core.context import BatchContext, Context
from sentinel.core.docs import Doc, clone

log = logging.getLogger(__name__)

name = "mark_for_outbound"
config_key = outbound.SECTION
runs_once = False  # CHT's filter has no hasRun check: every revision is looked at


def check_config(section: Any, settings: Any) -> list[str]:
    """CHT's transition has no `init`: no `outbound` config stops CHT's Sentinel, so none stops ours
    (failing closed would stop every other transition too). What would make pushes fail at run time
    is a settings warning instead (`config_warnings`)."""
    return []


def config_warnings(section: Any, settings: Any) -> list[str]:
    """Settings warnings: what would make this config's pushes fail at run time (CHT's messages)."""
    return outbound.config_warnings(section, settings)


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001 - the transition interface's name
    return bool(outbound.configs(ctx.section(config_key)))


def prefetch(docs: list[Doc], batch: BatchContext) -> None:
    if outbound.configs(batch.settings.section(config_key)):
        batch.sentinel_docs(outbound.task_id(d["_id"]) for d in docs)


def run(doc: Doc, ctx: Context) -> bool:
    keys = []
    for key, conf in outbound.relevant(doc, ctx.settings):
        error = outbound.cron_error(key, conf)
        if error:
            log.error("Outbound Push failed: %s", error)
            continue
        try:
            body = outbound.payload(doc, conf, key, ctx.settings.expressions)
        except outbound.OutboundError:
            keys.append(key)  # CHT: the push fails and is queued; the job records why
            continue
        if outbound.already_sent(body, key, ctx.info):
            log.info("Not pushing %s to %s as payload is identical to previous push", doc["_id"], key)
            continue
        keys.append(key)
    if keys:
        _queue(doc["_id"], keys, ctx)
    return False  # the document itself is not changed


def _queue(doc_id: str, keys: list[str], ctx: Context) -> None:
    task_id = outbound.task_id(doc_id)
    existing = ctx.sentinel_docs([task_id]).get(task_id)
    if existing is None:
        log.info("Creating outbound task %s", task_id)
        ctx.stage_sentinel_doc({"_id": task_id, "type": outbound.TASK_TYPE, "created": int(ctx.now.timestamp() * 1000),
                                "doc_id": doc_id, "queue": keys}, job=outbound.JOB)
        return
    queue = existing.get("queue") if isinstance(existing.get("queue"), list) else []
    missing = [k for k in keys if k not in queue]
    if missing:
        task = clone(existing)
        task["queue"] = [*queue, *missing]
        ctx.stage_sentinel_doc(task, job=outbound.JOB)
