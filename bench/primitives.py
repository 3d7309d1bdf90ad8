"""What the server itself charges for each request Sentinel makes per batch: the floor under its rate.

Starts a fresh PouchDB Server (or uses --couch-url), then times, per batch of --batch-size documents
(median of --rounds), every request a batch of reports costs Sentinel at least:

  feed page with documents   `_changes?include_docs=true` (the new reports)
  infodoc read               `_all_docs` with keys, on the sentinel database (none exist yet)
  document update            `_bulk_docs` of the reports with a field added (new revisions)
  infodoc insert             `_bulk_docs` of infodocs on the sentinel database
  echo page                  `_changes` without documents (the feed's echo of those updates)

and, for comparison, the raw insert the benchmark's ratio is taken against. The sum of the five is
what one batch costs the server with no Sentinel time at all; its rate over the raw rate is the best
ratio any client making these requests can reach on this server.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import report  # noqa: E402
from sentinel.core.couch import CouchServer, split_couch_url  # noqa: E402
from sentinel.core.embedded import PouchDBServer  # noqa: E402


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--couch-url", help="a server to use instead of a fresh PouchDB Server (its path is ignored)")
    args = p.parse_args()
    n = args.batch_size
    embedded = None
    if args.couch_url:
        base, auth, _ = split_couch_url(args.couch_url)
        server = CouchServer(base, auth)
    else:
        embedded = PouchDBServer().start()
        server = CouchServer(embedded.url)
    name = f"primitives-{uuid.uuid4().hex[:8]}"
    main_db, sentinel_db = server.db(name), server.db(f"{name}-sentinel")
    main_db.create()
    sentinel_db.create()
    try:
        for _ in range(10):  # warm-up: Node's JIT makes the first requests several times slower
            main_db.bulk_docs([report(i, "+1") for i in range(n)])
        costs: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            since = main_db.info().get("update_seq")
            fresh = [report(i, "+1") for i in range(n)]
            costs.setdefault("raw insert (the benchmark's reference)", []).append(timed(lambda: main_db.bulk_docs(fresh)))
            page = []
            costs.setdefault("feed page with documents", []).append(
                timed(lambda: page.append(main_db.changes(since, n, 1, include_docs=True)))
            )
            docs = [row["doc"] for row in page[0].results]
            info_ids = [d["_id"] + "-info" for d in docs]
            costs.setdefault("infodoc read", []).append(timed(lambda: sentinel_db.all_docs(info_ids)))
            for doc in docs:
                doc["contact"] = {"_id": "chw", "parent": {"_id": "clinic", "parent": {"_id": "hc"}}}
            costs.setdefault("document update", []).append(timed(lambda: main_db.bulk_docs(docs)))
            infos = [{"_id": i, "type": "info", "doc_id": i[:-5], "transitions": {"update_clinics": {
                "ok": True, "seq": 1, "last_rev": "1-x", "run_date": "2026-01-01T00:00:00.000Z"}}} for i in info_ids]
            costs.setdefault("infodoc insert", []).append(timed(lambda: sentinel_db.bulk_docs(infos)))
            after = page[0].last_seq
            costs.setdefault("echo page", []).append(timed(lambda: main_db.changes(after, n, 1, include_docs=False)))
        medians = {k: statistics.median(v) for k, v in costs.items()}
        raw = medians.pop("raw insert (the benchmark's reference)")
        floor = sum(medians.values())
        print(f"server vendor: {server.welcome().get('vendor', {}).get('name', '?')}; batch {n}; medians of {args.rounds}")
        for label, seconds in medians.items():
            print(f"  {label:28s} {seconds * 1000:7.1f} ms")
        print(f"  {'sum: one batch, no Sentinel':28s} {floor * 1000:7.1f} ms  -> at most {n / floor:,.0f} docs/s")
        print(f"  {'raw insert':28s} {raw * 1000:7.1f} ms  -> {n / raw:,.0f} docs/s")
        print(f"best possible ratio to raw: {raw / floor:.0%}")
    finally:
        main_db.delete()
        sentinel_db.delete()
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()
