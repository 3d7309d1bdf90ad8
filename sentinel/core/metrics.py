"""Prometheus metrics of this process (issue 8), served by `sentinel gateway` at `GET /metrics`.

The daemon's counters are filled where the work happens (the runner, the pipeline, the scheduler);
they are meaningful when the gateway runs in the same process (`sentinel run --gateway-port P`, what
`make run` does). A gateway run on its own (`sentinel gateway`) reports the database figures only
(messages by state, backlog is then absent).

    sentinel_backlog                               changes after the checkpoint (last batch)
    sentinel_batches_total                         batches processed
    sentinel_documents_processed_total{transition} documents a transition ran on successfully
    sentinel_documents_failed_total{transition}    runs that recorded an error on the document
    sentinel_documents_parked_total                changes parked after a failure
    sentinel_scheduler_runs_total{job, outcome}    scheduled job runs (ok | error)
    sentinel_messages{state}                       messages by task state (view messages_by_state_count,
                                                   read at scrape time by the gateway)
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry(auto_describe=True)

backlog = Gauge("sentinel_backlog", "Changes after the checkpoint, as of the last batch", registry=REGISTRY)
batches = Counter("sentinel_batches", "Batches of changes processed", registry=REGISTRY)
processed = Counter("sentinel_documents_processed", "Documents a transition ran on successfully", ["transition"], registry=REGISTRY)
failed = Counter("sentinel_documents_failed", "Transition runs that recorded an error on the document", ["transition"], registry=REGISTRY)
parked = Counter("sentinel_documents_parked", "Changes parked after a failure (retried later)", registry=REGISTRY)
scheduler_runs = Counter("sentinel_scheduler_runs", "Scheduled job runs", ["job", "outcome"], registry=REGISTRY)
