"""Load test of `sentinel gateway` (issue 8): a simulated SMS gateway polls while messages become pending.

1. Starts a fresh PouchDB Server (LevelDB, temporary folder) unless --couch-url is given, and
   `sentinel gateway` as its own process on a free loopback port, with one user.
2. A writer adds --messages pending messages (default 10,000), one task each, in `_bulk_docs` of
   --write-batch at --write-rate documents per second, while
3. the simulated gateway polls `POST /api/sms` every --poll seconds (at once again when an answer
   was full, as a gateway with a backlog does), acknowledging what it got on the next poll
   (`UNSENT`, then `SENT` and `DELIVERED` on the following ones), until everything was handed out
   and delivered.
4. Before all that, the server's raw `_bulk_docs` rate with the same documents, for comparison.
5. Checks: every message handed out, none handed out again after its acknowledgement, every task
   `delivered` with the history pending → forwarded-to-gateway → received-by-gateway → sent →
   delivered; prints messages per second handed out (from the first poll to the last message).

This is a measurement, not a test: it prints figures and exits 1 when a check fails.

    .venv/bin/python bench/gateway_load.py [--messages 10000] [--batch 500]
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sentinel.core.couch import CouchServer  # noqa: E402
from sentinel.core.embedded import PouchDBServer  # noqa: E402

AUTH = ("loadtest", "loadtest-password")


def say(*parts: object) -> None:
    print(*parts, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def message_doc(i: int, run: str) -> dict:
    uid = f"{run}-{i:06d}"
    return {"_id": f"load-{uid}", "type": "data_record", "form": "LOAD", "reported_date": 1772300000000 + i,
            "tasks": [{"messages": [{"uuid": uid, "to": f"+2547{i % 10**8:08d}", "message": f"load test message {i}"}],
                       "state": "pending", "state_history": [{"state": "pending", "timestamp": "2026-03-01T00:00:00.000Z"}]}]}


def writer(db, total: int, batch: int, rate: float, run: str, done: threading.Event) -> None:
    start = time.monotonic()
    for first in range(0, total, batch):
        docs = [message_doc(i, run) for i in range(first, min(first + batch, total))]
        results = db.bulk_docs(docs)
        assert not [r for r in results if r.get("error")], results[:3]
        wait = start + (first + batch) / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    done.set()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=500, help="messages handed out per poll (the gateway's --gateway-batch)")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between polls when the last answer was not full")
    p.add_argument("--write-batch", type=int, default=500)
    p.add_argument("--write-rate", type=float, default=1000.0, help="pending messages written per second")
    p.add_argument("--couch-url", help="an existing server (http://user:pass@host:5984); default: a fresh PouchDB Server")
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sentinel-gateway-load-"))
    embedded = None if args.couch_url else PouchDBServer(data_dir=work / "pouchdb").start()
    base = args.couch_url or embedded.url
    server = CouchServer(base)
    db_name = f"load-{uuid.uuid4().hex[:8]}"
    main_db, sentinel_db = server.db(db_name), server.db(f"{db_name}-sentinel")
    gateway = None
    try:
        main_db.create()
        sentinel_db.create()
        scratch = server.db(f"{db_name}-raw")
        scratch.create()
        t0 = time.monotonic()
        for first in range(0, args.messages, args.write_batch):
            scratch.bulk_docs([message_doc(i, "raw") for i in range(first, min(first + args.write_batch, args.messages))])
        raw_rate = args.messages / (time.monotonic() - t0)
        scratch.delete()
        say(f"raw _bulk_docs: {raw_rate:.0f} docs/s ({args.messages} message documents)")
        env = dict(os.environ, COUCH_URL=f"{base}/{db_name}", PYTHONUNBUFFERED="1")
        subprocess.run([sys.executable, "-m", "sentinel", "gateway", "add-user", AUTH[0], "--password-stdin"],
                       input=AUTH[1] + "\n", text=True, env=env, check=True, cwd=ROOT, capture_output=True)
        port = free_port()
        log = open(work / "gateway.log", "w")
        gateway = subprocess.Popen([sys.executable, "-m", "sentinel", "gateway", "--port", str(port),
                                    "--gateway-batch", str(args.batch)], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        client = httpx.Client(base_url=url, auth=AUTH, timeout=120)
        for _ in range(100):
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        say(f"gateway on {url}; writing {args.messages} pending messages at {args.write_rate:.0f}/s while it is polled")

        run = uuid.uuid4().hex[:6]
        written = threading.Event()
        thread = threading.Thread(target=writer, args=(main_db, args.messages, args.write_batch, args.write_rate, run, written))
        received: dict[str, int] = {}
        after_ack: list[str] = []
        acked: set[str] = set()
        stage = {"UNSENT": [], "SENT": [], "DELIVERED": []}
        polls, first_poll, last_message = 0, None, None
        started = time.monotonic()
        thread.start()
        while True:
            updates = [{"id": i, "status": s} for s in ("DELIVERED", "SENT", "UNSENT") for i in stage[s]]
            stage["DELIVERED"], stage["SENT"], stage["UNSENT"] = stage["SENT"], stage["UNSENT"], []
            t0 = time.monotonic()
            response = client.post("/api/sms", json={"messages": [], "updates": updates})
            response.raise_for_status()
            polls += 1
            first_poll = first_poll or t0
            acked.update(u["id"] for u in updates if u["status"] == "UNSENT")
            out = response.json()["messages"]
            for message in out:
                received[message["id"]] = received.get(message["id"], 0) + 1
                if message["id"] in acked:
                    after_ack.append(message["id"])
                stage["UNSENT"].append(message["id"])
            if out:
                last_message = time.monotonic()
            everything_out = written.is_set() and len(received) >= args.messages
            if everything_out and not any(stage.values()):
                break
            if time.monotonic() - started > 1800:
                say("gave up after 30 minutes")
                break
            if len(out) < args.batch:
                time.sleep(max(0.0, args.poll - (time.monotonic() - t0)))
        thread.join()

        rows = main_db.all_docs_range(f"load-{run}-", f"load-{run}-\ufff0")
        wrong = [r["id"] for r in rows if r["doc"]["tasks"][0]["state"] != "delivered"
                 or [h["state"] for h in r["doc"]["tasks"][0]["state_history"]]
                 != ["pending", "forwarded-to-gateway", "received-by-gateway", "sent", "delivered"]]
        twice = [i for i, n in received.items() if n > 1]
        seconds = (last_message or time.monotonic()) - (first_poll or started)
        rate = len(received) / seconds if seconds > 0 else 0.0
        say(f"handed out:   {len(received)} of {args.messages} messages in {polls} polls")
        say(f"rate:         {rate:.0f} messages/s handed out (first poll to last message, {seconds:.1f} s;"
            f" messages written at {args.write_rate:.0f}/s)")
        say(f"handed out more than once: {len(twice)}; after their acknowledgement: {len(after_ack)}")
        say(f"server writes meanwhile: {args.messages} messages + {args.messages} hand-outs + {3 * args.messages}"
            f" state updates (raw insert rate {raw_rate:.0f} docs/s)")
        say(f"documents not delivered with the full history: {len(wrong)}")
        ok = len(received) == args.messages and not after_ack and not wrong and len(rows) == args.messages
        say("OK" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(10)
        try:
            main_db.delete()
            sentinel_db.delete()
        except Exception:
            pass
        server.close()
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    sys.exit(main())
