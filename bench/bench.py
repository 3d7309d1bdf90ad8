"""Benchmark: how fast Sentinel works through a backlog, compared with the server's raw write rate.

1. Starts a fresh PouchDB Server (LevelDB in a temp dir) unless --couch-url / COUCH_URL names a server;
   then fresh database names on it are used, and deleted afterwards unless --keep.
2. Raw rate: writes --raw-docs report-shaped docs (default: as many as --reports) into a scratch
   database with `_bulk_docs` in batches of --batch-size, after 10 untimed warm-up batches (Node's JIT
   makes the first few several times slower); only the requests are timed.
3. Main database: 1 district, 10 health centers, 100 clinics each with a CHW (distinct phone), settings
   enabling update_clinics, update_sent_by and generate_shortcode_on_contacts, then a backlog of
   --reports SMS reports from the CHWs' phones, all written before Sentinel starts. With --warm-views,
   Sentinel's design docs are installed and their indexes built first (as in a running deployment).
4. Runs `<venv>/bin/sentinel run --batch-size B` as its own process (log in a file; COUCH_URL in its
   environment), polls its VmRSS and the checkpoint `_local/transitions-seq` until
   `_changes?since=<checkpoint>&limit=1` is empty (seqs are opaque: only the server compares them),
   reads VmHWM, then stops it with SIGTERM. Wall time runs from launching the process (start-up and,
   unless warmed, view indexing included) to caught up, Sentinel's echoes of its own writes included.
5. Checks with bulk `_all_docs` that every report has the right `contact`, `sent_by` and an infodoc.
6. Prints a summary (with --json: JSON on stdout, the text on stderr). Targets: Sentinel >= 30% of the
   raw rate and >= 1000 reports/s, peak RSS < 150 MB. They are reported, never enforced.
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
from sentinel import ddocs  # noqa: E402
from sentinel.core.couch import CouchServer, split_couch_url  # noqa: E402
from sentinel.core.embedded import PouchDBServer  # noqa: E402
from sentinel.core.settings import SettingsStore  # noqa: E402

TRANSITIONS = {"update_clinics": True, "update_sent_by": True, "generate_shortcode_on_contacts": True}

# --workload registrations: CHT's pregnancy registration, with a reply and a 4-message schedule
REGISTRATION_SETTINGS = {
    "transitions": {**TRANSITIONS, "registration": True},
    "forms": {"P": {"meta": {"code": "P"}, "fields": {"patient_name": {"type": "string"}, "lmp": {"type": "integer"}}}},
    "registrations": [{
        "form": "P",
        "events": [
            {"name": "on_create", "trigger": "add_patient", "params": "", "bool_expr": ""},
            {"name": "on_create", "trigger": "add_expected_date", "params": "", "bool_expr": "typeof doc.lmp !== 'undefined'"},
            {"name": "on_create", "trigger": "assign_schedule", "params": "ANC Reminders", "bool_expr": ""},
        ],
        "messages": [{"event_type": "report_accepted", "recipient": "reporting_unit",
                      "message": [{"locale": "en", "content": "Thank you {{contact.name}}, {{patient_name}} is registered as {{patient_id}}."}]}],
    }],
    "schedules": [{
        "name": "ANC Reminders", "start_from": "lmp_date",
        "messages": [
            {"group": g, "offset": f"{w} weeks", "send_time": "09:00", "recipient": "reporting_unit",
             "message": [{"locale": "en", "content": f"{{{{patient_name}}}} ({{{{patient_id}}}}) is due for ANC visit {g}."}]}
            for g, w in ((1, 12), (2, 20), (3, 26), (4, 30))
        ],
    }],
}


def say(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def hierarchy() -> tuple[list[dict], list[tuple[str, str, str]]]:
    """The contacts, and (phone, id, name) of each of the 100 CHWs."""
    docs: list[dict] = [{"_id": "district", "type": "district_hospital", "name": "District"}]
    chws = []
    for n in range(100):
        hc, clinic, chw, phone = f"hc-{n // 10:02d}", f"clinic-{n:03d}", f"chw-{n:03d}", f"+2547{n:08d}"
        if n % 10 == 0:
            docs.append({"_id": hc, "type": "health_center", "name": f"Health Center {n // 10}", "parent": {"_id": "district"}})
        up = {"_id": hc, "parent": {"_id": "district"}}
        docs.append({"_id": clinic, "type": "clinic", "name": f"Clinic {n}", "parent": up, "contact": {"_id": chw}})
        docs.append({"_id": chw, "type": "person", "name": f"CHW {n}", "phone": phone, "parent": {"_id": clinic, "parent": up}})
        chws.append((phone, chw, f"CHW {n}"))
    return docs, chws


def report(i: int, phone: str) -> dict:
    """An SMS report shaped like CHT's (about 530 bytes of JSON)."""
    ts = 1700000000000 + i * 1000
    return {
        "_id": str(uuid.uuid4()), "type": "data_record", "form": "V", "from": phone, "reported_date": ts, "locale": "en",
        "sms_message": {"message": f"1!V!{i % 97} {i % 13} visit notes for household {i}", "from": phone, "form": "V",
                        "locale": "en", "type": "sms_message", "gateway_ref": uuid.uuid4().hex, "sent_timestamp": str(ts)},
        "fields": {"patient_name": f"Patient {i}", "visit_type": i % 97, "weight": i % 13, "notes": "visit notes " * 3},
        "tasks": [], "errors": [],
    }


# --workload mixed: 40% pregnancy registrations (given patient codes), 40% visits about those patients
# that silence their ANC reminders, 20% cholera reports that raise a multi-report alert
MIXED_SETTINGS = {
    **REGISTRATION_SETTINGS,
    "transitions": {**REGISTRATION_SETTINGS["transitions"], "accept_patient_reports": True, "multi_report_alerts": True},
    "forms": {**REGISTRATION_SETTINGS["forms"], "V": {"meta": {"code": "V"}}, "C": {"meta": {"code": "C"}}},
    "registrations": [{
        **REGISTRATION_SETTINGS["registrations"][0],
        "events": [
            {"name": "on_create", "trigger": "add_patient", "params": {"patient_id_field": "code"}, "bool_expr": ""},
            *REGISTRATION_SETTINGS["registrations"][0]["events"][1:],
        ],
    }],
    "patient_reports": [{
        "form": "V", "silence_type": "ANC Reminders", "silence_for": "",
        "messages": [{"event_type": "report_accepted", "recipient": "reporting_unit",
                      "message": [{"locale": "en", "content": "Visit for {{patient_name}} recorded."}]}],
    }],
    "multi_report_alerts": [{
        "name": "cholera", "is_report_counted": "function(report, latest) { return report.fields.cases > 0; }",
        "num_reports_threshold": 3, "time_window_in_days": 7, "forms": ["C"],
        "message": "{{num_counted_reports}} cholera reports in {{time_window_in_days}} days", "recipients": ["+254700000999"],
    }],
}


def mixed_report(i: int, phone: str, now_ms: int) -> dict:
    """Reports 0, 5, 10 ... are the first registrations; the rest cycle registration, visit, alert."""
    kind = ("registration", "registration", "visit", "visit", "alert")[i % 5]
    if kind == "registration":
        doc = registration_report(i, phone, now_ms)
        doc["fields"]["code"] = f"M{i:06d}"
        return doc
    base = {"_id": str(uuid.uuid4()), "type": "data_record", "from": phone, "reported_date": now_ms + i, "locale": "en"}
    if kind == "visit":  # about a patient registered a few reports earlier
        return {**base, "form": "V", "fields": {"patient_id": f"M{(i // 5) * 5 + (i % 5) - 2:06d}"}}
    # cholera reports trickle in over the past weeks (8 hours apart), so a 7-day window holds ~20 of them
    return {**base, "form": "C", "reported_date": now_ms - (25_000 - i) * 5_760_000, "fields": {"cases": 1 + i % 3}}


def registration_report(i: int, phone: str, now_ms: int) -> dict:
    """An SMS pregnancy registration (form P): a new patient, LMP 8 weeks ago."""
    return {
        "_id": str(uuid.uuid4()), "type": "data_record", "form": "P", "from": phone, "reported_date": now_ms + i,
        "locale": "en", "sms_message": {"message": f"1!P!Patient {i}#8", "from": phone, "form": "P", "locale": "en",
                                        "type": "sms_message", "gateway_ref": uuid.uuid4().hex},
        "fields": {"patient_name": f"Patient {i}", "lmp": 8},
    }


def bulk_load(db, docs: list[dict], batch: int, what: str) -> float:
    """Write docs in batches; returns the seconds spent in the requests. Any error row is fatal."""
    spent, shown = 0.0, time.monotonic()
    for i in range(0, len(docs), batch):
        started = time.monotonic()
        bad = [r for r in db.bulk_docs(docs[i:i + batch]) if r.get("error")]
        spent += time.monotonic() - started
        if bad:
            raise SystemExit(f"{what}: {len(bad)} write errors, e.g. {bad[0]}")
        if time.monotonic() - shown > 3:
            shown = time.monotonic()
            say(f"  {what}: {min(i + batch, len(docs))}/{len(docs)} docs, {spent:.1f}s")
    return spent


def proc_mb(pid: int, key: str) -> float:
    """A /proc/<pid>/status figure (VmRSS, VmHWM) in MB; 0 when unavailable."""
    try:
        line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(key + ":"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return 0.0


def cpu_seconds(pid: int | None) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def warm_views(server: CouchServer, db: str) -> float:
    """Install Sentinel's design docs and build every view index of the main database; returns seconds."""
    started = time.monotonic()
    server.db(f"{db}-sentinel").create()
    ddocs.install(server.db(db), server.db(f"{db}-sentinel"))
    for database, ddoc in ddocs.all_ddocs():
        for view, spec in ddoc["views"].items() if database == "main" else ():
            server.db(db).view(ddoc["_id"][len("_design/"):], view, limit=1, **({"reduce": False} if "reduce" in spec else {}))
    return time.monotonic() - started


def run_sentinel(args, server: CouchServer, url: str, db: str, log_path: Path, server_pid: int | None) -> dict:
    """Run Sentinel until the feed has nothing after its checkpoint; returns timings and memory."""
    exe = Path(sys.executable).parent / "sentinel"
    cmd = [str(exe if exe.exists() else shutil.which("sentinel")), "run", "--batch-size", str(args.batch_size)]
    sentinel_db, checkpoint, first, peak, shown = server.db(f"{db}-sentinel"), None, None, 0.0, 0.0
    server_cpu0 = cpu_seconds(server_pid)
    with open(log_path, "wb") as log:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, env=dict(os.environ, COUCH_URL=url), stdout=log, stderr=subprocess.STDOUT)
    try:
        while True:
            elapsed = time.monotonic() - started
            if proc.poll() is not None or elapsed > args.timeout:
                raise SystemExit(f"sentinel exited ({proc.returncode}) or timed out after {elapsed:.0f}s; see {log_path}")
            peak = max(peak, proc_mb(proc.pid, "VmRSS"))
            doc = sentinel_db.get("_local/transitions-seq")  # None while neither it nor the database exists
            checkpoint = doc.get("value") if doc else None
            if checkpoint is not None:
                first = elapsed if first is None else first
                if not server.request("GET", f"/{db}/_changes", params={"since": str(checkpoint), "limit": 1}).get("results"):
                    break
            if elapsed - shown >= 3:
                shown = elapsed
                say(f"  {elapsed:6.1f}s  checkpoint {str(checkpoint)[:30]}  rss {proc_mb(proc.pid, 'VmRSS'):.0f} MB")
            time.sleep(0.1)
        wall = time.monotonic() - started
        peak, cpu = max(peak, proc_mb(proc.pid, "VmHWM")), cpu_seconds(proc.pid)
        server_cpu = None if server_cpu0 is None else cpu_seconds(server_pid) - server_cpu0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {"wall": wall, "first": first, "peak_rss": peak, "cpu": cpu, "server_cpu": server_cpu}


def verify(server: CouchServer, db: str, reports: list[dict], chws: dict[str, tuple[str, str]], workload: str) -> dict:
    """Count reports without the right contact, sent_by or an infodoc (bulk reads only); for
    registrations also without their one patient (unique patient_id), reply and 4 scheduled tasks."""
    from transitions.registration import _CONTACT_NAMESPACE  # the patients' deterministic ids

    registrations, mixed = workload != "visits", workload == "mixed"

    ids = [r["_id"] for r in reports]
    docs, infos = server.db(db).all_docs(ids), server.db(f"{db}-sentinel").all_docs(i + "-info" for i in ids)
    patients = server.db(db).all_docs(str(uuid.uuid5(_CONTACT_NAMESPACE, f"{i}/patient")) for i in ids) if registrations else {}
    codes = [p.get("patient_id") for p in patients.values()]
    counts = dict.fromkeys(("incomplete_reports", "no_contact", "wrong_contact", "no_sent_by", "no_infodoc",
                            "no_patient", "no_reply", "no_schedule"), 0)
    counts["duplicated_patient_ids"] = len(codes) - len(set(codes))
    counts.update(visits_not_silencing=0, alerts_raised=0)
    for r in reports:
        doc, info, (chw_id, name) = docs.get(r["_id"], {}), infos.get(r["_id"] + "-info", {}), chws[r["from"]]
        flaws = {"no_contact": not doc.get("contact"), "no_sent_by": doc.get("sent_by") != name,
                 "wrong_contact": bool(doc.get("contact")) and doc["contact"].get("_id") != chw_id,
                 "no_infodoc": not isinstance(info.get("transitions"), dict)}
        if mixed and r.get("form") == "V":  # the visited registration's reminders are cleared by this visit
            registration = docs.get(doc.get("registration_id"), {})
            tasks = registration.get("scheduled_tasks") or []
            silenced = bool(tasks) and all(t.get("state") == "cleared" and t.get("cleared_by") == r["_id"] for t in tasks)
            flaws["visits_not_silencing"] = not silenced
        elif mixed and r.get("form") == "C":
            counts["alerts_raised"] += any(t.get("type") == "alert" for t in doc.get("tasks") or [])
        elif registrations:
            patient = patients.get(str(uuid.uuid5(_CONTACT_NAMESPACE, f"{r['_id']}/patient")), {})
            flaws["no_patient"] = not doc.get("patient_id") or patient.get("patient_id") != doc.get("patient_id")
            flaws["no_reply"] = len(doc.get("tasks") or []) != 1
            flaws["no_schedule"] = len(doc.get("scheduled_tasks") or []) != 4
        for key, flawed in flaws.items():
            counts[key] += flawed
        counts["incomplete_reports"] += any(flaws.values())
    return counts


def summary(r: dict) -> str:
    t, ok = r["targets"], lambda b: "ok" if b else "MISSED"  # noqa: E731
    cpu = f"sentinel {r['sentinel_cpu_seconds']} s" + (f", server {r['server_cpu_seconds']} s" if r["server_cpu_seconds"] is not None else "")
    return "\n".join([
        "", "=== Sentinel benchmark ===",
        f"server:               {r['server']}" + (f"; views warmed first in {r['warm_seconds']} s" if r["warm_seconds"] else ""),
        f"reports:              {r['reports']} {r['workload']} (+{r['contacts']} contacts), batch size {r['batch_size']}",
        f"wall until caught up: {r['wall_seconds']} s ({r['batches_logged']} batches; first checkpoint after {r['first_checkpoint_seconds']} s)",
        f"sentinel rate:        {r['sentinel_docs_per_s']:.0f} reports/s  [target >= 1000: {ok(t['rate_ge_1000'])}]"
        f"  (~{r['after_first_batch_docs_per_s']:.0f}/s after the first batch)",
        f"raw _bulk_docs rate:  {r['raw_docs_per_s']:.0f} docs/s ({r['raw_docs']} docs)",
        f"ratio:                {r['ratio_pct']}% of raw  [target >= 30%: {ok(t['ratio_ge_30pct'])}]",
        f"peak RSS (sentinel):  {r['peak_rss_mb']} MB  [target < 150 MB: {ok(t['peak_rss_lt_150mb'])}]",
        f"CPU during the run:   {cpu} (of {r['wall_seconds']} s wall)",
        f"verification:         {r['incomplete_reports']} incomplete reports (no contact {r['no_contact']}, wrong contact "
        f"{r['wrong_contact']}, no/wrong sent_by {r['no_sent_by']}, no infodoc {r['no_infodoc']}"
        + (f", no patient {r['no_patient']}, no reply {r['no_reply']}, no schedule {r['no_schedule']}, duplicated "
           f"patient ids {r['duplicated_patient_ids']}" if r["workload"] != "visits" else "")
        + (f", visits not silencing {r['visits_not_silencing']}; {r['alerts_raised']} alerts raised" if r["workload"] == "mixed" else "")
        + f"); {r['log_errors']} ERROR lines in the log",
    ])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reports", type=int, default=10_000, help="backlog of reports (default %(default)s)")
    p.add_argument("--raw-docs", type=int, help="docs for the raw _bulk_docs rate (default: as many as --reports)")
    p.add_argument("--batch-size", type=int, default=500, help="Sentinel's and the raw writes' batch size (default %(default)s)")
    p.add_argument("--couch-url", default=os.environ.get("COUCH_URL"), help="use this server instead of a PouchDB Server")
    p.add_argument("--warm-views", action="store_true", help="build Sentinel's view indexes before starting it")
    p.add_argument("--timeout", type=float, default=1800, help="give up on Sentinel after this many seconds")
    p.add_argument("--keep", action="store_true", help="keep the databases, the data folder and the Sentinel log")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    p.add_argument("--workload", choices=("visits", "registrations", "mixed"), default="visits",
                   help="visits: SMS visit reports (contact, sent_by); registrations: pregnancy registrations "
                        "(a new patient, a reply and a 4-message schedule each); mixed: 40%% registrations, 40%% "
                        "visits silencing their schedules, 20%% reports raising multi-report alerts")
    args = p.parse_args()
    work, tag, embedded, ok = Path(tempfile.mkdtemp(prefix="sentinel-bench-")), uuid.uuid4().hex[:8], None, False
    if args.couch_url:
        parts = urlsplit(args.couch_url)
        base, auth, _ = split_couch_url(parts._replace(path="/x").geturl())
        url_for = lambda name: parts._replace(path="/" + name).geturl()  # noqa: E731
    else:
        embedded = PouchDBServer(data_dir=work / "pouchdb").start()
        base, auth, url_for = embedded.url, None, lambda name: f"{embedded.url}/{name}"
    server = CouchServer(base, auth, timeout=300)
    dbs = [f"bench-raw-{tag}", f"bench-{tag}", f"bench-{tag}-sentinel"]
    say(f"server: {base} ({f'PouchDB Server, LevelDB in {work}' if embedded else 'given'}); databases {', '.join(dbs)}")
    try:
        contacts, chw_list = hierarchy()
        n_raw = args.raw_docs or args.reports
        scratch = server.db(dbs[0])
        scratch.create()
        bulk_load(scratch, [report(i, chw_list[0][0]) for i in range(10 * args.batch_size)], args.batch_size, "warm-up")
        raw_docs = [report(i, chw_list[i % 100][0]) for i in range(n_raw)]
        say(f"raw _bulk_docs: {n_raw} docs (~{len(json.dumps(raw_docs[0]))} bytes each) in batches of {args.batch_size}")
        raw_seconds = bulk_load(scratch, raw_docs, args.batch_size, "raw")
        scratch.delete()

        main_db = server.db(dbs[1])
        main_db.create()
        bulk_load(main_db, contacts, args.batch_size, "contacts")
        registrations = args.workload != "visits"
        settings = {"visits": {"transitions": TRANSITIONS}, "registrations": REGISTRATION_SETTINGS, "mixed": MIXED_SETTINGS}
        SettingsStore(main_db).push(settings[args.workload])
        now_ms = int(time.time() * 1000)
        make = {"visits": lambda i, phone: report(i, phone), "registrations": lambda i, phone: registration_report(i, phone, now_ms),
                "mixed": lambda i, phone: mixed_report(i, phone, now_ms)}[args.workload]
        reports = [make(i, chw_list[i % 100][0]) for i in range(args.reports)]
        say(f"backlog: {len(contacts)} contacts, settings, {args.reports} reports")
        # registrations before the reports about their patients: PouchDB Server does not number the
        # documents of one _bulk_docs request in their order, and a visit before its registration
        # is rightly `registration_not_found`
        first = [r for r in reports if r.get("form") == "P"] if args.workload == "mixed" else reports
        rest = [r for r in reports if r.get("form") != "P"] if args.workload == "mixed" else []
        for part in (first, rest):
            bulk_load(main_db, [dict(r) for r in part], args.batch_size, "backlog")
        warm = warm_views(server, dbs[1]) if args.warm_views else None

        say(f"sentinel: batch size {args.batch_size}, log {work / 'sentinel.log'}")
        pid = embedded.process.pid if embedded and embedded.process else None
        run = run_sentinel(args, server, url_for(dbs[1]), dbs[1], work / "sentinel.log", pid)
        say("verifying ...")
        counts = verify(server, dbs[1], reports, {phone: (cid, name) for phone, cid, name in chw_list}, args.workload)
        log_text = (work / "sentinel.log").read_text(errors="replace")
        raw_rate, rate = n_raw / raw_seconds, args.reports / run["wall"]
        later = args.reports - max(0, args.batch_size - len(contacts) - 1)  # reports after the first (full) batch
        result = {
            "server": "pouchdb-server (leveldb)" if embedded else "given", "reports": args.reports, "workload": args.workload,
            "contacts": len(contacts), "batch_size": args.batch_size, "warm_seconds": warm and round(warm, 1),
            "wall_seconds": round(run["wall"], 2), "first_checkpoint_seconds": round(run["first"], 1),
            "sentinel_docs_per_s": round(rate, 1), "raw_docs": n_raw, "raw_docs_per_s": round(raw_rate, 1),
            "after_first_batch_docs_per_s": round(later / max(run["wall"] - run["first"], 1e-3), 1),
            "ratio_pct": round(100 * rate / raw_rate, 1), "peak_rss_mb": round(run["peak_rss"], 1),
            "sentinel_cpu_seconds": run["cpu"] and round(run["cpu"], 1),
            "server_cpu_seconds": run["server_cpu"] and round(run["server_cpu"], 1),
            "batches_logged": log_text.count(" batch: "), "log_errors": log_text.count(" ERROR: "), **counts,
        }
        result["targets"] = {"ratio_ge_30pct": result["ratio_pct"] >= 30, "rate_ge_1000": rate >= 1000,
                             "peak_rss_lt_150mb": run["peak_rss"] < 150}
        print(summary(result), file=sys.stderr if args.json else sys.stdout, flush=True)
        if args.json:
            print(json.dumps(result, indent=2))
        ok = counts["incomplete_reports"] == 0
        return 0 if ok else 1
    finally:
        for name in dbs if not (embedded or args.keep) else ():
            server.db(name).delete()
        server.close()
        if embedded:
            embedded.stop(remove_data=False)
        if args.keep or not ok:
            say(f"kept: {work}" + ("" if embedded else f" and databases {', '.join(dbs[1:])}"))
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
