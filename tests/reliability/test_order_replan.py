"""A job added to the settings when 5,000 trigger reports already exist: the bulk re-plan plans every
subject once, in pages, and a `kill -9` halfway loses nothing and plans nothing twice (issue 6)."""
from __future__ import annotations

import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from sentinel.core.clock import to_iso

from ..orders_support import CLINIC_IDS, job, ms, settings
from ..support import HIERARCHY, put_settings, report
from .helpers import PROJECT_ROOT, child_env, sentinel_command, wait_until

TRIGGERS = 5000
PATIENTS = 5000  # one trigger report each (the default stop rule, Y = 1, would plan one order per patient)
NOW = datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)
REPORTED = NOW - timedelta(days=1)


def seed(main: Any) -> None:
    patients = [{"_id": f"p-{i:05d}", "type": "person", "name": f"P {i}", "patient_id": f"{20000 + i}",
                 "phone": f"+2547{i:08d}", "parent": CLINIC_IDS} for i in range(PATIENTS)]
    triggers = [report(f"t-{i:05d}", form="T", reported_date=ms(REPORTED) + i, fields={"patient_id": f"{20000 + i % PATIENTS}"})
                for i in range(TRIGGERS)]
    docs = [dict(d) for d in HIERARCHY] + patients + triggers
    for i in range(0, len(docs), 1000):
        assert not [r for r in main.bulk_docs(docs[i:i + 1000]) if r.get("error")]


def tick(couch_url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(sentinel_command("tick", "--couch-url", couch_url, "--now", NOW.isoformat()),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=PROJECT_ROOT, env=child_env())


@pytest.mark.slow
def test_a_new_job_plans_5000_existing_triggers_in_pages_and_resumes_after_kill_9(main, sentinel_db, pouchdb):
    seed(main)
    put_settings(main, settings(job(created_after="2020-01-01")))
    couch_url = f"{pouchdb.url}/{main.name}"

    # first run: killed once a few pages are done, well before the end
    started = time.monotonic()
    first = tick(couch_url)
    progress = lambda: ((sentinel_db.get("order-job:fu") or {}).get("replan") or {}).get("done", 0)
    wait_until(lambda: progress() >= 1500 or first.poll() is not None, 120, "the re-plan's first pages", every=0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert first.returncode == -signal.SIGKILL, f"the first run ended by itself:\n{first.stdout.read()}"
    done_at_kill = progress()
    assert 1500 <= done_at_kill < TRIGGERS
    planned_at_kill = len(main.all_docs_range("order:fu:", "order:fu:\ufff0", include_docs=False))
    assert 0 < planned_at_kill < TRIGGERS

    # second run: resumes where the first stopped, finishes
    second = tick(couch_url)
    out, _ = second.communicate(timeout=300)
    elapsed = time.monotonic() - started
    assert second.returncode == 0, out
    assert f"resuming the re-plan after {done_at_kill} of {TRIGGERS} trigger reports" in out, out
    assert f"re-planned {TRIGGERS} of {TRIGGERS} trigger reports (100 %)" in out, out

    orders = {r["id"]: r["doc"] for r in main.all_docs_range("order:fu:", "order:fu:\ufff0")}
    assert sorted(orders) == sorted(f"order:fu:t-{i:05d}:0" for i in range(TRIGGERS))
    for order_id, order in orders.items():
        assert order["state"] == "planned" and order["k"] == 0, order
        assert order["_rev"].startswith("1-"), f"{order_id} was written more than once: {order['_rev']}"
        i = int(order["trigger"][2:])
        assert order["patient"] == f"p-{i % PATIENTS:05d}"
        assert order["due"] == to_iso(REPORTED + timedelta(days=7, milliseconds=i))
    state = sentinel_db.get("order-job:fu")
    assert (state["planned_status"], state["replan"]) == ("active", None)
    print(f"\n5,000 triggers planned in {elapsed:.1f} s over two runs (kill -9 after {done_at_kill})")
