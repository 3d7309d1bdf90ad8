"""Shared pieces of the order-planning tests (issue 6): a job, patients, trigger and answer reports,
a Sentinel runner with a settable clock, and the scheduler jobs run as of a given time."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sentinel.core.couch import CouchDB

from .support import Clock, ClockedWorld, drain, report

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)  # Monday 10:00 in Nairobi
CLINIC_IDS = {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}


def patient(doc_id: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"_id": doc_id, "type": "person", "name": doc_id.capitalize(), "patient_id": code,
            "phone": f"+2547110{code}", "parent": CLINIC_IDS, **extra}


AMY = patient("amy", "10001")
BOB = patient("bob", "10002")
TESSA = patient("tessa", "10003", test=True)  # a test contact


def job(**overrides: Any) -> dict[str, Any]:
    """The follow-up job: questionnaire Q 7 days after each T report (created_after in the past)."""
    base = {"id": "fu", "status": "active", "trigger_form": "T", "order_form": "Q", "delay_days": 7,
            "created_after": "2025-01-01",
            "message": [{"locale": "en", "content": "{{patient_name}}, please answer questionnaire {{order.number}}."}]}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def settings(*jobs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"transitions": {"order_planning": True}, "timezone": "Africa/Nairobi",
            "forms": {"T": {}, "Q": {}}, "order_jobs": list(jobs or [job()]), **extra}


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def trigger(doc_id: str, at: datetime = T0, code: str = "10001", form: str = "T", **fields: Any) -> dict[str, Any]:
    return report(doc_id, form=form, reported_date=ms(at), fields={"patient_id": code, **fields})


def answer(doc_id: str, at: datetime, code: str = "10001", form: str = "Q") -> dict[str, Any]:
    return report(doc_id, form=form, reported_date=ms(at), fields={"patient_id": code})


@dataclass
class Orders(ClockedWorld):
    """A database with patients and a running Sentinel whose clock the test moves."""

    def order(self, doc_id: str) -> dict[str, Any] | None:
        return self.main.get(doc_id)

    def orders(self, job_id: str = "fu") -> dict[str, dict[str, Any]]:
        """Every order document of a job, by id."""
        rows = self.main.all_docs_range(f"order:{job_id}:", f"order:{job_id}:\ufff0")
        return {r["id"]: r["doc"] for r in rows if isinstance(r.get("doc"), dict)}

    def states(self, job_id: str = "fu") -> dict[str, tuple[str, str]]:
        """{order id: (state, due)} of a job."""
        return {i: (d["state"], d["due"]) for i, d in self.orders(job_id).items()}


def make_orders(main: CouchDB, sentinel: CouchDB, make_runner: Any, config: dict[str, Any],
                patients: tuple[dict[str, Any], ...] = (AMY, BOB, TESSA), at: datetime = T0) -> Orders:
    main.bulk_docs([copy.deepcopy(p) for p in patients])
    clock = Clock(at)
    runner = make_runner(config, clock=clock)
    drain(runner)
    return Orders(main, sentinel, runner, clock)


def sentinel_cli(main: CouchDB, pouchdb_url: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m sentinel <args>` against this database, as an operator would run it."""
    env = dict(os.environ, COUCH_URL=f"{pouchdb_url}/{main.name}")
    return subprocess.run([sys.executable, "-m", "sentinel", *args], env=env, capture_output=True, text=True, timeout=timeout)


DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
