"""Benchmark: how fast Sentinel works through a backlog, compared with the server's raw write rate.

1. Starts a fresh PouchDB Server (LevelDB in a temp dir) unless --couch-url / COUCH_URL names a server
   (then fresh database names on it are used and deleted afterwards unless --keep).
2. Raw rate: writes --raw-docs report-shaped docs into a scratch database with `_bulk_docs`, in batches
   of --batch-size, and times only those requests (docs/s).
3. Creates a main database with 1 district, 10 health centers, 100 clinics each with a CHW (distinct
   phone), settings enabling update_clinics, update_sent_by and generate_shortcode_on_contacts, then a
   backlog of --reports SMS reports from the CHWs' phones, all before Sentinel starts.
4. Runs `<venv>/bin/sentinel run --batch-size B` as its own process (log in a file), polls its RSS and the
   checkpoint `_local/transitions-seq` until `_changes?since=<checkpoint>&limit=1` is empty (seqs are
   opaque: only the server compares them), reads VmHWM, then stops it with SIGTERM.
   Wall time runs from launching the process (start-up and view indexing included) to caught up.
5. Checks with bulk `_all_docs` that every report has `contact`, `sent_by` and an infodoc.
6. Prints a summary (`--json`: JSON on stdout, text on stderr). Targets: Sentinel >= 30% of the raw rate
   and >= 1000 reports/s, peak RSS < 150 MB. They are reported, never enforced.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sentinel.couch import CouchServer, split_couch_url  # noqa: E402
from sentinel.embedded import PouchDBServer  # noqa: E402
from sentinel.settings import SettingsStore  # noqa: E402

TRANSITIONS = {"update_clinics": True, "update_sent_by": True, "generate_shortcode_on_contacts": True}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def say(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def hierarchy() -> tuple[list[dict], list[tuple[str, str, str]]]:
    """Contacts, and (phone, chw id, chw name) for each of the 100 CHWs."""
    docs: list[dict] = [{"_id": "district", "type": "district_hospital", "name": "District"}]
    chws = []
    for h in range(10):
        hc = f"hc-{h:02d}"
        docs.append({"_id": hc, "type": "health_center", "name": f"Health Center {h}", "parent": {"_id": "district"}})
        for c in range(10):
            n = h * 10 + c
            clinic, chw, phone = f"clinic-{n:03d}", f"chw-{n:03d}", f"+2547{n:08d}"
            lineage = {"_id": clinic, "parent": {"_id": hc, "parent": {"_id": "district"}}}
            docs.append({"_id": clinic, "type": "clinic", "name": f"Clinic {n}", "parent": lineage["parent"], "contact": {"_id": chw}})
            docs.append({"_id": chw, "type": "person", "name": f"CHW {n}", "phone": phone, "parent": lineage, "reported_date": 1700000000000})
            chws.append((phone, chw, f"CHW {n}"))
    return docs, chws


def report(i: int, phone: str) -> dict:
    """An SMS report shaped like CHT's (about 600 bytes of JSON)."""
    text = f"1!V!{i % 97} {i % 13} visit notes for household {i}"
    return {
        "_id": str(uuid.uuid4()),
        "type": "data_record",
        "form": "V",
        "from": phone,
        "reported_date": 1700000000000 + i * 1000,
        "locale": "en",
        "sms_message": {"message": text, "from": phone, "form": "V", "locale": "en", "type": "sms_message",
                        "gateway_ref": uuid.uuid4().hex, "sent_timestamp": str(1700000000000 + i * 1000)},
        "fields": {"patient_name": f"Patient {i}", "visit_type": i % 97, "weight": i % 13, "notes": "visit notes " * 3},
        "tasks": [],
        "errors": [],
    }


def bulk_load(db, docs: list[dict], batch: int, what: str) -> float:
    """Write docs in batches; returns seconds spent in the requests. Fails loudly on any error row."""
    spent, shown = 0.0, time.monotonic()
    for i in range(0, len(docs), batch):
        chunk = docs[i:i + batch]
        started = time.monotonic()
        results = db.bulk_docs(chunk)
        spent += time.monotonic() - started
        bad = [r for r in results if r.get("error")]
        if bad:
            raise SystemExit(f"{what}: {len(bad)} write errors, e.g. {bad[0]}")
        if time.monotonic() - shown > 3:
            shown = time.monotonic()
            say(f"  {what}: {i + len(chunk)}/{len(docs)} docs, {spent:.1f}s")
    return spent


def proc_status(pid: int, key: str) -> float:
    """A /proc/<pid>/status memory figure (VmRSS, VmHWM) in MB, 0 when unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int | None) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError, TypeError):
        return 0.0


def run_sentinel(args, server: CouchServer, url: str, db: str, log_path: Path, server_pid: int | None) -> dict:
    """Run Sentinel until it has caught up; returns timings and memory."""
    exe = Path(sys.executable).parent / "sentinel"
    cmd = [str(exe if exe.exists() else shutil.which("sentinel")), "run", "--batch-size", str(args.batch_size)]
    env = dict(os.environ, COUCH_URL=url)  # the URL (maybe with a password) stays out of `ps`
    sentinel_db, checkpoint = server.db(f"{db}-sentinel"), None
    server_cpu0, peak_rss, shown = cpu_seconds(server_pid), 0.0, 0.0
    with open(log_path, "wb") as log:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        while True:
            elapsed = time.monotonic() - started
            if proc.poll() is not None:
                raise SystemExit(f"sentinel exited with {proc.returncode} after {elapsed:.1f}s; see {log_path}")
            if elapsed > args.timeout:
                raise SystemExit(f"sentinel did not catch up within {args.timeout}s (checkpoint {checkpoint}); see {log_path}")
            peak_rss = max(peak_rss, proc_status(proc.pid, "VmRSS"))
            doc = sentinel_db.get("_local/transitions-seq") if sentinel_db.exists() else None
            checkpoint = doc.get("value") if doc else None
            if checkpoint is not None:
                page = server.request("GET", f"/{db}/_changes", params={"since": str(checkpoint), "limit": 1})
                if not page.get("results"):
                    break
            if elapsed - shown >= 3:
                shown = elapsed
                say(f"  {elapsed:6.1f}s  checkpoint {str(checkpoint)[:24]}  rss {proc_status(proc.pid, 'VmRSS'):.0f} MB")
            time.sleep(0.1)
        wall = time.monotonic() - started
        hwm = proc_status(proc.pid, "VmHWM")
        cpu = cpu_seconds(proc.pid)
        server_cpu = cpu_seconds(server_pid) - server_cpu0 if server_pid else None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {"wall": wall, "peak_rss": max(hwm, peak_rss), "cpu": cpu, "server_cpu": server_cpu, "checkpoint": checkpoint}


def verify(server: CouchServer, db: str, reports: list[dict], chws: dict[str, tuple[str, str]]) -> dict:
    ids = [r["_id"] for r in reports]
    docs = server.db(db).all_docs(ids)
    infos = server.db(f"{db}-sentinel").all_docs(i + "-info" for i in ids)
    problems = {"incomplete_reports": 0, "no_contact": 0, "wrong_contact": 0, "no_sent_by": 0, "no_infodoc": 0}
    for r in reports:
        doc, info = docs.get(r["_id"], {}), infos.get(r["_id"] + "-info", {})
        chw_id, name = chws[r["from"]]
        flaws = {
            "no_contact": not doc.get("contact"),
            "wrong_contact": bool(doc.get("contact")) and doc["contact"].get("_id") != chw_id,
            "no_sent_by": doc.get("sent_by") != name,
            "no_infodoc": not isinstance(info.get("transitions"), dict),
        }
        for key, flawed in flaws.items():
            problems[key] += flawed
        problems["incomplete_reports"] += any(flaws.values())
    return problems


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reports", type=int, default=10_000, help="backlog of reports (default %(default)s)")
    p.add_argument("--raw-docs", type=int, help="docs for the raw _bulk_docs rate (default: --reports)")
    p.add_argument("--batch-size", type=int, default=500, help="Sentinel's batch size and the raw batch size")
    p.add_argument("--couch-url", default=os.environ.get("COUCH_URL"), help="use this server instead of PouchDB Server")
    p.add_argument("--timeout", type=float, default=1800, help="give up waiting for Sentinel after this many seconds")
    p.add_argument("--keep", action="store_true", help="keep databases, data dir and the Sentinel log")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sentinel-bench-"))
    embedded, tag = None, uuid.uuid4().hex[:8]
    if args.couch_url:
        parts = urlsplit(args.couch_url)
        base, auth, _ = split_couch_url(parts._replace(path="/x").geturl())
        url_for = lambda name: parts._replace(path="/" + name).geturl()  # noqa: E731
    else:
        embedded = PouchDBServer(data_dir=work / "pouchdb").start()
        base, auth = embedded.url, None
        url_for = lambda name: f"{embedded.url}/{name}"  # noqa: E731
    say(f"server: {base} ({'PouchDB Server, LevelDB in ' + str(work) if embedded else 'given'})")
    server = CouchServer(base, auth, timeout=120)
    dbs = [f"bench-raw-{tag}", f"bench-{tag}", f"bench-{tag}-sentinel"]
    ok = False
    try:
        contacts, chw_list = hierarchy()
        n_raw = args.raw_docs or args.reports
        scratch = server.db(dbs[0])
        scratch.create()
        raw_docs = [report(i, chw_list[i % len(chw_list)][0]) for i in range(n_raw)]
        say(f"raw _bulk_docs: {n_raw} docs (~{len(json.dumps(raw_docs[0]))} bytes each) in batches of {args.batch_size}")
        raw_seconds = bulk_load(scratch, raw_docs, args.batch_size, "raw")
        if not args.keep:
            scratch.delete()

        main_db = server.db(dbs[1])
        main_db.create()
        main_db.bulk_docs(contacts)
        SettingsStore(main_db).push({"transitions": TRANSITIONS})
        reports = [report(i, chw_list[i % len(chw_list)][0]) for i in range(args.reports)]
        say(f"backlog: {len(contacts)} contacts, settings, {args.reports} reports in {dbs[1]}")
        bulk_load(main_db, [dict(r) for r in reports], args.batch_size, "backlog")

        say(f"sentinel: batch size {args.batch_size}, log {work / 'sentinel.log'}")
        run = run_sentinel(args, server, url_for(dbs[1]), dbs[1], work / "sentinel.log", embedded.process.pid if embedded else None)
        say("verifying ...")
        problems = verify(server, dbs[1], reports, {phone: (cid, name) for phone, cid, name in chw_list})
        log_text = (work / "sentinel.log").read_text(errors="replace")
        raw_rate = n_raw / raw_seconds if raw_seconds else 0.0
        rate = args.reports / run["wall"]
        result = {
            "reports": args.reports, "contacts": len(contacts), "batch_size": args.batch_size,
            "wall_seconds": round(run["wall"], 2), "sentinel_docs_per_s": round(rate, 1),
            "raw_docs": n_raw, "raw_docs_per_s": round(raw_rate, 1),
            "ratio_pct": round(100 * rate / raw_rate, 1) if raw_rate else None,
            "peak_rss_mb": round(run["peak_rss"], 1), "sentinel_cpu_seconds": round(run["cpu"], 2),
            "server_cpu_seconds": None if run["server_cpu"] is None else round(run["server_cpu"], 2),
            "batches_logged": log_text.count(" batch: "), "log_errors": log_text.count(" ERROR: "),
            **problems, "server": "pouchdb-server (leveldb)" if embedded else "given",
        }
        result["targets"] = {
            "ratio_ge_30pct": bool(result["ratio_pct"] and result["ratio_pct"] >= 30),
            "rate_ge_1000": rate >= 1000, "peak_rss_lt_150mb": run["peak_rss"] < 150,
        }
        ok = problems["incomplete_reports"] == 0
        mark = lambda b: "ok" if b else "MISSED"  # noqa: E731
        t = result["targets"]
        summary = "\n".join([
            "", "=== Sentinel benchmark ===",
            f"server:               {result['server']}",
            f"reports:              {args.reports} (+{len(contacts)} contacts), batch size {args.batch_size}",
            f"wall until caught up: {run['wall']:.2f} s  ({result['batches_logged']} batches)",
            f"sentinel rate:        {rate:.0f} reports/s  [target >= 1000: {mark(t['rate_ge_1000'])}]",
            f"raw _bulk_docs rate:  {raw_rate:.0f} docs/s ({n_raw} docs)",
            f"ratio:                {result['ratio_pct']}% of raw  [target >= 30%: {mark(t['ratio_ge_30pct'])}]",
            f"peak RSS (sentinel):  {run['peak_rss']:.1f} MB  [target < 150 MB: {mark(t['peak_rss_lt_150mb'])}]",
            f"CPU: sentinel {run['cpu']:.1f} s"
            + (f", server {run['server_cpu']:.1f} s" if run["server_cpu"] is not None else "") + f" of {run['wall']:.1f} s wall",
            f"verification:         {problems['incomplete_reports']} incomplete reports "
            f"(no contact {problems['no_contact']}, wrong contact {problems['wrong_contact']}, "
            f"no/wrong sent_by {problems['no_sent_by']}, no infodoc {problems['no_infodoc']}); "
            f"{result['log_errors']} ERROR lines in the log",
        ])
        print(summary, file=sys.stderr if args.json else sys.stdout, flush=True)
        if args.json:
            print(json.dumps(result, indent=2))
        return 0 if ok else 1
    finally:
        server.close()
        if embedded:
            embedded.stop(remove_data=False)
        elif not args.keep:
            cleanup = CouchServer(base, auth)
            for name in dbs:
                cleanup.db(name).delete()
            cleanup.close()
        if args.keep or not ok:
            say(f"kept: {work}" + ("" if embedded else f" and databases {', '.join(dbs)}"))
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
