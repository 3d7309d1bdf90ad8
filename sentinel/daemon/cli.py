"""The `sentinel` command: run | check-config | settings push | status | tick | milestones preview | orders list |
gateway [add-user].

The main database comes from `--couch-url` or `COUCH_URL` (`http://user:pass@host:5984/medic`); the
sentinel database is `<main>-sentinel`. Passwords are never printed or logged.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from datetime import datetime, timezone
from typing import Any, Sequence

from sentinel.core.couch import CouchServer, redact
from sentinel.core.errors import ConfigError, SentinelError, TransientError
from sentinel.core.parking import ParkedErrors
from sentinel.daemon.runner import DEFAULT_BATCH_SIZE, Runner, utc_now
from sentinel.jobs.scheduler import INTERVAL_SECONDS, Scheduler, run_jobs
from sentinel.core.settings import Settings, SettingsStore, merge_defaults, read_settings_file
from sentinel.daemon.settings_check import build

log = logging.getLogger("sentinel")


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore"):  # request lines would repeat every feed poll
        logging.getLogger(noisy).setLevel(logging.WARNING)


def couch_url(args: argparse.Namespace) -> str:
    url = getattr(args, "couch_url", None) or os.environ.get("COUCH_URL")
    if not url:
        raise SystemExit("COUCH_URL is not set: pass --couch-url http://user:pass@host:5984/medic (or use `sentinel run --embedded`)")
    return url


def connect(args: argparse.Namespace) -> tuple[CouchServer, str]:
    try:
        return CouchServer.from_url(couch_url(args))
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


# --- run ---------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    embedded = None
    if args.embedded and not (args.couch_url or os.environ.get("COUCH_URL")):
        from sentinel.core.embedded import PouchDBServer

        embedded = PouchDBServer(data_dir=args.data_dir).start()
        args.couch_url = f"{embedded.url}/medic"
        log.info("Embedded PouchDB Server on %s (data in %s); main database: %s", embedded.url, embedded.data_dir, args.couch_url)
    try:
        server, db = connect(args)
        log.info("Sentinel starting on %s", redact(couch_url(args)))
        runner = Runner(server, db, batch_size=args.batch_size)
        scheduler = Scheduler(runner.job_env(), clock=utc_now, interval=args.schedule_interval)
        install_signal_handlers(runner, scheduler)
        runner.settings_listeners.append(scheduler.request_run)  # a new or changed order job: re-plan now
        runner.job_listeners.append(scheduler.request_run)  # e.g. an outbound push queued: send it now
        try:
            runner.setup()
        except TransientError:
            if not runner.stop_event.is_set():
                raise
            log.info("Stopped before start-up completed")
            return 0
        scheduler.start()
        gateway = _start_gateway(runner, args) if args.gateway_port is not None else None
        runner.loop()
        scheduler.stop()
        if gateway is not None:
            gateway.stop()
        return 0
    finally:
        if embedded is not None:
            embedded.stop()


def install_signal_handlers(runner: Runner, scheduler: Scheduler) -> None:
    def stop(signum: int, _frame: Any) -> None:
        if runner.stop_event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        log.info("Received %s: stopping after the current batch", signal.Signals(signum).name)
        runner.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, lambda *_: runner.toggle_pause())
    signal.signal(signal.SIGUSR2, lambda *_: scheduler.request_run())


# --- settings ---------------------------------------------------------------------------------------
def _validate_file(path: str) -> tuple[dict[str, Any], list[str], list[str], list[str]]:
    """(settings, problems, warnings, enabled transition names)."""
    try:
        settings = read_settings_file(path)
        built, transitions = build(settings)
    except ConfigError as exc:
        return {}, exc.problems, exc.warnings, []
    return settings, [], list(built.warnings), [t.name for t in transitions]


def _print_findings(heading: str, problems: list[str], warnings: list[str]) -> None:
    """The settings check's problems, then its warnings, one indented line each."""
    if problems:
        print(f"{heading}{len(problems)} problem(s):")
        for problem in problems:
            print(f"  - {problem}")
    if warnings:
        print(f"{len(warnings)} warning(s) (ignored or read as CHT reads them; transitions still run):")
        for warning in warnings:
            print(f"  - {warning}")


def cmd_check_config(args: argparse.Namespace) -> int:
    _, problems, warnings, enabled = _validate_file(args.file)
    if problems:
        _print_findings(f"{args.file}: ", problems, warnings)
        return 1
    print(f"{args.file}: valid; transitions enabled: {', '.join(enabled) or 'none'}")
    _print_findings("", [], warnings)
    return 0


def cmd_milestones_preview(args: argparse.Namespace) -> int:
    from sentinel.programs import milestones_preview

    if args.settings:
        settings = read_settings_file(args.settings)
    elif getattr(args, "couch_url", None) or os.environ.get("COUCH_URL"):
        server, db = CouchServer.from_url(couch_url(args))
        try:
            settings = SettingsStore(server.db(db)).read()[0] or {}
        finally:
            server.close()
    else:
        settings = {}
    try:
        schedule = milestones_preview.load_schedule(args.schedule, settings)
        reference = milestones_preview.parse_when(args.reference, "--reference")
        now = milestones_preview.parse_when(args.now, "--now") if args.now else None
        lines = milestones_preview.preview(schedule, reference, settings, args.preferred_time, now)
    except ConfigError as exc:
        print(f"{args.schedule}: {len(exc.problems)} problem(s):")
        for problem in exc.problems:
            print(f"  - {problem}")
        return 1
    print("\n".join(lines))
    return 0


def cmd_settings_push(args: argparse.Namespace) -> int:
    settings, problems, warnings, enabled = _validate_file(args.file)
    if problems:
        _print_findings(f"{args.file}: not pushed, ", problems, warnings)
        return 1
    server, db = connect(args)
    rev = SettingsStore(server.db(db)).push(settings)
    print(f"settings pushed to {db} (rev {rev}); transitions enabled: {', '.join(enabled) or 'none'}")
    _print_findings("", [], warnings)
    return 0


# --- status -----------------------------------------------------------------------------------------
def cmd_status(args: argparse.Namespace) -> int:
    server, db = connect(args)
    runner = Runner(server, db)
    main, sentinel = runner.main, runner.sentinel
    checkpoint = runner.checkpoint.load() if sentinel.exists() else None
    count, exact = main.count_changes_since(checkpoint if checkpoint is not None else "0")
    parked_total, parked = ParkedErrors(sentinel).listing() if sentinel.exists() else (0, [])
    raw, rev = SettingsStore(main).read()
    try:
        built, transitions = build(raw, rev)
        settings_state: dict[str, Any] = {
            "valid": True,
            "rev": rev,
            "transitions": [t.name for t in transitions],
            "warnings": list(built.warnings),
        }
    except ConfigError as exc:
        settings_state = {"valid": False, "rev": rev, "problems": exc.problems, "warnings": exc.warnings}
    report = {
        "database": db,
        "checkpoint": checkpoint,
        "backlog": count,
        "backlog_exact": exact,
        "parked_failures": parked_total,
        "failures": [{k: d.get(k) for k in ("doc_id", "seq", "attempts", "next_attempt", "error")} for d in parked],
        "settings": settings_state,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"database:    {db}")
    print(f"checkpoint:  {checkpoint if checkpoint is not None else '(none: sentinel has not run)'}")
    print(f"backlog:     {count if exact else f'more than {count}'} change(s) after the checkpoint")
    print(f"failures:    {parked_total} parked change(s)")
    for failure in report["failures"]:
        print(f"  - {failure['doc_id']}: {failure['attempts']} attempt(s), next {failure['next_attempt']}: {failure['error']}")
    if settings_state["valid"]:
        print(f"settings:    valid (rev {rev}); transitions enabled: {', '.join(settings_state['transitions']) or 'none'}")
    else:
        print(f"settings:    INVALID (rev {rev}); transitions are disabled:")
        for problem in settings_state["problems"]:
            print(f"  - {problem}")
    if settings_state["warnings"]:
        print(f"warnings:    {len(settings_state['warnings'])} settings value(s) ignored or read as CHT reads them:")
        for warning in settings_state["warnings"]:
            print(f"  - {warning}")
    return 0


# --- gateway ----------------------------------------------------------------------------------------
def _start_gateway(runner: Runner, args: argparse.Namespace):
    from sentinel.gateway.app import GatewayServer

    return GatewayServer(_gateway_app(runner, args), host=args.gateway_host, port=args.gateway_port).start()


def _gateway_app(runner: Runner, args: argparse.Namespace):
    """The gateway app for the daemon's databases; warns when nobody could use it yet."""
    from sentinel.gateway.app import create_app
    from sentinel.gateway.users import Users

    if not Users(runner.sentinel).any():
        log.warning("No gateway users yet: every request but /health is refused. Add one with "
                    "`sentinel gateway add-user NAME`.")
    return create_app(runner.main, runner.sentinel, batch=args.gateway_batch, resend_after=args.gateway_resend_after)


def cmd_gateway(args: argparse.Namespace) -> int:
    from sentinel.core import ddocs
    from sentinel.gateway.app import GatewayServer

    server, db = connect(args)
    runner = Runner(server, db)
    runner.retry(lambda: (runner.main.create(exist_ok=True), runner.sentinel.create(exist_ok=True),
                          ddocs.install(runner.main, runner.sentinel)))
    app = _gateway_app(runner, args)
    gateway = GatewayServer(app, host=args.gateway_host, port=args.gateway_port or 5988)
    log.info("Gateway for %s on %s", redact(couch_url(args)), gateway.url)
    try:
        gateway.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def cmd_gateway_add_user(args: argparse.Namespace) -> int:
    import getpass

    from sentinel.gateway.users import add_user

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass(f"Password for {args.name}: ")
    server, db = connect(args)
    sentinel = server.db(f"{db}-sentinel")
    sentinel.create(exist_ok=True)
    try:
        add_user(sentinel, args.name, password)
    except ValueError as exc:
        print(f"sentinel: {exc}", file=sys.stderr)
        return 1
    print(f"gateway user {args.name} saved")
    return 0


# --- orders -----------------------------------------------------------------------------------------
def cmd_orders_list(args: argparse.Namespace) -> int:
    from sentinel.programs import orders_list

    server, db = connect(args)
    main = server.db(db)
    raw, _ = SettingsStore(main).read()
    settings = Settings(values=merge_defaults(raw if isinstance(raw, dict) else {}))
    found = orders_list.rows(main, args.job, args.state, args.limit)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        print("\n".join(orders_list.render(found, args.job, args.state, settings, args.limit)))
    return 0 if found or args.job in orders_list.configured_jobs(settings) else 1


# --- tick -------------------------------------------------------------------------------------------
def parse_now(text: str | None) -> datetime:
    if not text:
        return utc_now()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(f"--now must be an ISO date-time such as 2026-01-31T09:00:00Z, got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def cmd_tick(args: argparse.Namespace) -> int:
    now = parse_now(args.now)
    server, db = connect(args)
    runner = Runner(server, db)
    # the jobs see what the daemon's would: the sentinel database, the design documents (their
    # views), the lookup index (subjects by short code) and the settings, set up as `run` does
    runner.setup()
    outcome = run_jobs(runner.job_env(), now)
    failed = {name: error for name, error in outcome.items() if error}
    print(f"ran {len(outcome)} scheduled job(s) as of {now.isoformat()}: {len(failed)} failed")
    for name, error in failed.items():
        print(f"  - {name}: {error}")
    return 1 if failed else 0


# --- entry point ------------------------------------------------------------------------------------
def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _gateway_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gateway-host", default="127.0.0.1", help="address to listen on (default %(default)s: loopback only)")
    p.add_argument("--gateway-batch", type=int, default=25, help="messages handed out per poll (default %(default)s)")
    p.add_argument("--gateway-resend-after", type=_positive_seconds, default=300.0, metavar="SECONDS",
                   help="hand a message out again when not acknowledged after this long (default %(default)s)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="sentinel", description="Run CHT-style transitions on a CouchDB changes feed.")
    top.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "info"), help="debug, info, warning or error")
    sub = top.add_subparsers(dest="command", required=True)

    def with_url(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--couch-url", help="main database URL (default: $COUCH_URL)")
        return p

    run = with_url(sub.add_parser("run", help="follow the changes feed and run transitions until stopped"))
    run.add_argument("--embedded", action="store_true", help="without COUCH_URL: start a local PouchDB Server")
    run.add_argument("--data-dir", help="with --embedded: keep the server's data here (default: a temporary folder)")
    run.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="changes per batch (default %(default)s)")
    run.add_argument(
        "--schedule-interval",
        type=_positive_seconds,
        default=INTERVAL_SECONDS,
        metavar="SECONDS",
        help="run the scheduled jobs (due tasks, reminders, ...) this often (default %(default)s; SIGUSR2 runs them at once)",
    )
    run.add_argument("--gateway-port", type=int, help="also serve the gateway HTTP API on this port (see `sentinel gateway`)")
    _gateway_options(run)
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check-config", help="validate an app-settings JSON file offline")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_config)

    settings = sub.add_parser("settings", help="manage the settings doc")
    settings_sub = settings.add_subparsers(dest="settings_command", required=True)
    push = with_url(settings_sub.add_parser("push", help="validate a settings file, then write it into the settings doc"))
    push.add_argument("file")
    push.set_defaults(func=cmd_settings_push)

    status = with_url(sub.add_parser("status", help="checkpoint, backlog, parked failures, settings"))
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=cmd_status)

    ms = sub.add_parser("milestones", help="milestone schedules")
    ms_sub = ms.add_subparsers(dest="milestones_command", required=True)
    prev = with_url(ms_sub.add_parser("preview", help="print a schedule's windows and alert times from a reference date"))
    prev.add_argument("schedule", help="a schedule's name in milestone_schedules, or a JSON file holding one")
    prev.add_argument("--reference", required=True, help="the reference date (ISO 8601), e.g. the birth date")
    prev.add_argument("--preferred-time", help="HH:MM: alerts at this time of day")
    prev.add_argument("--now", help="ISO 8601: alerts before this are not shown (default: the reference)")
    prev.add_argument("--settings", help="an app-settings JSON file to read the schedule and timezone from")
    prev.set_defaults(func=cmd_milestones_preview)
    orders = sub.add_parser("orders", help="planned form orders (order_jobs)")
    orders_sub = orders.add_subparsers(dest="orders_command", required=True)
    listing = with_url(orders_sub.add_parser("list", help="a job's orders by state and due date, planned ones ahead of time"))
    listing.add_argument("--job", required=True, help="the order job's id")
    listing.add_argument("--state", choices=("planned", "ordered", "answered", "expired", "failed", "cancelled"),
                         help="only orders in this state (default: all, by state then due date)")
    listing.add_argument("--limit", type=int, default=200, help="at most this many (default %(default)s)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=cmd_orders_list)
    gateway = with_url(sub.add_parser("gateway", help="serve the HTTP API for an SMS gateway (medic-gateway protocol, reminders, metrics)"))
    gateway.add_argument("--gateway-port", "--port", dest="gateway_port", type=int, default=5988, help="port (default %(default)s)")
    _gateway_options(gateway)
    gateway.set_defaults(func=cmd_gateway)
    gateway_sub = gateway.add_subparsers(dest="gateway_command", required=False)
    add = with_url(gateway_sub.add_parser("add-user", help="add (or change the password of) a gateway user"))
    add.add_argument("name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    add.set_defaults(func=cmd_gateway_add_user)
    tick = with_url(sub.add_parser("tick", help="run the scheduled jobs once, now"))
    tick.add_argument("--now", help="run them as of this ISO date-time instead")
    tick.set_defaults(func=cmd_tick)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        return int(args.func(args) or 0)
    except SentinelError as exc:
        print(f"sentinel: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
