"""`sentinel gateway`: the HTTP service a dispatcher (an SMS gateway) talks to (issue 8). Flask,
served by waitress (a production WSGI server, pure Python), on loopback by default.

    GET  /health                 {"ok": true, "couchdb": true|false}; the only route without a login
    GET  /metrics                Prometheus text (`sentinel/core/metrics.py`)
    GET  /api/sms                {"medic-gateway": true}
    POST /api/sms                medic-gateway / cht-gateway protocol: body {messages: [{id, from,
                                 content}], updates: [{id, status, reason}]}; incoming messages become
                                 reports (`sentinel/gateway/inbox.py`), updates delivery states, and the answer
                                 is {messages: [{id, to, content}]}: messages to send (`sentinel/gateway/outbox.py`)
    POST /reminder               the SMS reminder service's API (`sentinel/gateway/reminder_api.py`)
    GET  /reminder, GET /reminder/<id>, DELETE /reminder/<id>

Every route but /health needs HTTP basic auth with a user added by `sentinel gateway add-user`
(`sentinel/gateway/users.py`); without valid credentials the answer is 401 with
`WWW-Authenticate: Basic`. Bad input answers 400 `{"message": "<field>: <what is wrong>"}`.
Credentials are never logged (waitress logs no request lines; ours name the user only).

Reads/writes: the main database (messages, reports, appointment reports), the sentinel database
(users), the settings doc (re-read every SETTINGS_SECONDS: forms, phone rules, appointment configs).
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable

from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily

from sentinel.gateway import inbox, outbox, reminder_api

from sentinel.core import metrics
from sentinel.core.couch import CouchDB
from sentinel.core.ddocs import SENTINEL_DDOC
from sentinel.core.errors import SentinelError
from sentinel.gateway.users import Users
from sentinel.core.settings import Settings, SettingsStore, merge_defaults

log = logging.getLogger(__name__)

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 5988
SETTINGS_SECONDS = 10.0
MAX_INCOMING = 500  # messages per request


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class _SettingsCache:
    """The settings as the gateway uses them (merged with the defaults, not necessarily valid: a
    gateway keeps handing out messages while a settings problem is being fixed)."""

    def __init__(self, main: CouchDB):
        self.store = SettingsStore(main)
        self._value: Settings | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> Settings:
        with self._lock:
            if self._value is None or time.monotonic() - self._read_at >= SETTINGS_SECONDS:
                raw, rev = self.store.read()
                self._value = Settings(values=merge_defaults(raw if isinstance(raw, dict) else {}), rev=rev,
                                       translations=self.store.translations())
                self._read_at = time.monotonic()
            return self._value


class _MessagesCollector:
    """`sentinel_messages{state}`, read from the database at scrape time."""

    def __init__(self, main: CouchDB):
        self.main = main

    def collect(self):
        family = GaugeMetricFamily("sentinel_messages", "Outgoing messages by task state", labels=["state"])
        try:
            rows = self.main.view(SENTINEL_DDOC, "messages_by_state_count", group="true")
        except SentinelError:
            rows = []
        for row in rows:
            family.add_metric([str(row.get("key"))], float(row.get("value") or 0))
        yield family


def create_app(main: CouchDB, sentinel: CouchDB, clock: Callable[[], datetime] = utc_now,
               batch: int = outbox.DEFAULT_LIMIT, resend_after: float = outbox.DEFAULT_RESEND_AFTER) -> Flask:
    app = Flask("sentinel-gateway")
    users = Users(sentinel)
    settings = _SettingsCache(main)
    collector = _MessagesCollector(main)

    def unauthorised() -> Response:
        response = jsonify({"message": "authentication required"})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Basic realm="sentinel gateway"'
        return response

    @app.before_request
    def authenticate():
        if request.path == "/health":
            return None
        auth = request.authorization
        if auth is None or auth.type != "basic" or not users.check(auth.username, auth.password):
            return unauthorised()
        return None

    def bad(message: str, status: int = 400) -> Response:
        response = jsonify({"message": message})
        response.status_code = status
        return response

    @app.get("/health")
    def health():
        try:
            main.server.welcome()
            ok = True
        except SentinelError:
            ok = False
        response = jsonify({"ok": ok, "couchdb": ok})
        response.status_code = 200 if ok else 503
        return response

    @app.get("/metrics")
    def metrics_page():
        body = generate_latest(metrics.REGISTRY) + generate_latest(collector)  # type: ignore[arg-type]
        return Response(body, mimetype=CONTENT_TYPE_LATEST)

    @app.get("/api/sms")
    def sms_hello():
        return jsonify({"medic-gateway": True})

    @app.post("/api/sms")
    def sms_exchange():
        body = request.get_json(silent=True)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            return bad("the body must be a JSON object {messages, updates}")
        incoming = body.get("messages") or []
        updates = body.get("updates") or []
        if not isinstance(incoming, list) or not isinstance(updates, list):
            return bad("messages and updates must be lists")
        if len(incoming) > MAX_INCOMING:
            return bad(f"messages: at most {MAX_INCOMING} per request")
        for i, message in enumerate(incoming):
            if not isinstance(message, dict) or not message.get("id") or not message.get("from") or not isinstance(message.get("content", ""), str):
                return bad(f"messages[{i}]: needs id, from and content")
        for i, update in enumerate(updates):
            if not isinstance(update, dict) or not update.get("id") or not isinstance(update.get("status"), str):
                return bad(f"updates[{i}]: needs id and status")
        now = clock()
        if incoming:
            created, seen = inbox.store(main, incoming, settings(), now)
            log.info("gateway: %d incoming message(s) stored, %d seen before", created, seen)
        if updates:
            result = outbox.apply_updates(main, updates, now)
            if result.unknown or result.failed:
                log.warning("gateway: %d state update(s) for unknown messages, %d not recorded (will come again)",
                            len(result.unknown), len(result.failed))
        out = outbox.hand_out(main, now, batch, resend_after)
        return jsonify({"messages": out})

    @app.post("/reminder")
    def reminder_create():
        try:
            reminder_id = reminder_api.create(main, request.get_json(silent=True), settings(), clock())
        except reminder_api.InvalidReminder as exc:
            return bad(str(exc))
        except reminder_api.NoReminderConfig as exc:
            return bad(str(exc), 503)
        return jsonify({"reminder_id": reminder_id, "message": f"successfully created a reminder with id {reminder_id}"})

    @app.get("/reminder")
    def reminder_list():
        return jsonify({"reminders": reminder_api.listing(main, settings())})

    @app.get("/reminder/<reminder_id>")
    def reminder_get(reminder_id: str):
        found = reminder_api.get(main, reminder_id, settings())
        return jsonify(found) if found is not None else bad("unknown reminder id", 404)

    @app.delete("/reminder/<reminder_id>")
    def reminder_delete(reminder_id: str):
        if not reminder_api.cancel(main, reminder_id, clock()):
            return bad("unknown reminder id", 404)
        return jsonify({"message": f"reminder {reminder_id} cancelled"})

    return app


class GatewayServer:
    """The app served by waitress in a background thread (`sentinel run --gateway-port`, tests), or in
    the calling thread (`serve_forever`, `sentinel gateway`).

    Stopping closes the sockets in the thread that serves them: closing them from another thread while
    it waits in `select` makes that wait fail (EBADF)."""

    def __init__(self, app: Flask, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, threads: int = 4):
        from waitress.server import create_server

        self.server = create_server(app, host=host, port=port, threads=threads, ident="sentinel-gateway")
        self.port = self.server.effective_port  # type: ignore[union-attr]
        self.host = host
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, name="sentinel-gateway", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "GatewayServer":
        self._thread.start()
        log.info("Gateway listening on %s", self.url)
        return self

    def serve_forever(self) -> None:
        server = self.server
        try:
            while not self._stopping.is_set():
                server.asyncore.loop(timeout=0.5, map=server._map, use_poll=server.adj.asyncore_use_poll, count=1)
        finally:
            server.task_dispatcher.shutdown()
            server.close()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self.server.pull_trigger()  # wake its `select` now
            self._thread.join(10)
