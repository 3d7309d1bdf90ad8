"""CHT's outbound push: documents sent as JSON to other systems (the `outbound` setting), and the
scheduled job `outbound` that pushes the queue the `mark_for_outbound` transition fills.

CHT code this follows: shared-libs/outbound/src/outbound.js (mapping, auth, send, the payload hash),
sentinel/src/schedule/outbound.js (the retry job), shared-libs/transitions/src/transitions/
mark_for_outbound.js (the transition) and shared-libs/settings/src/index.js (credentials).

Config, `settings.outbound` (a push configuration per key; the key is the push's name):

    {<key>: {relevant_to: "<JavaScript over doc>",
             destination: {base_url, path, auth?: {type: "basic", username, password_key}
                                                 | {type: "header", name: "Authorization", value_key}
                                                 | {type: "muso-sih", username, password_key, path}},
             mapping: {"<dest.path>": "<doc.path>" | {path | expr, optional?}},
             cron?: "<minute hour day month weekday>"}}

- **relevant_to** runs with `doc` = the hydrated document (CHT: `vm.runInNewContext(relevant_to,
  {doc})`; `info` is not given). A falsy `relevant_to` is never relevant. As everywhere in
  Sentinel, a JsonLogic rule is accepted too, and an expression that fails counts as false
  (logged once) where CHT fails the transition on that document.
- **mapping** builds the payload: each key is an object-path in the payload, each value an
  object-path into `{doc}` (required: a missing value fails the push) or `{path | expr, optional}`.
  `expr` is JavaScript (run as a script, like CHT's vm: the last statement's value) or JsonLogic.
  A value that is `undefined` is left out when optional, fails the push when not; an `expr` that
  throws fails the push ("Mapping error for '<key>/<dest>' ..."; the JS error's text is not kept, it
  may hold personal data). An entry with neither `path` nor `expr` fails the push (CHT 4).
- **destination**: POST of the payload as JSON (JavaScript's `JSON.stringify` text) to
  url-join(base_url, path), 10 s timeout, `User-Agent: Sentinel/<version>`, no redirects followed;
  a 2xx answer is success, anything else a failure. Auth: `basic` (username + the secret named by
  `password_key`), `header` (only `Authorization`, set to the secret named by `value_key`),
  `muso-sih` (form login to base_url + auth.path for a token sent as `?token=`); no `auth` = none;
  an `auth` without `type`, or another type or header name, fails every push, as in CHT.
- **cron** (optional): the push is only made by a job run within 5 minutes of a cron time (CHT's
  TIME_FRAME_DURATION), in the `timezone` setting's zone, evaluated as reminders' cron is
  (croniter, day-of-month and day-of-week both restricting). An invalid cron (CHT: cron-validator
  without aliases or `?`) is logged and the push is never made.

**Credentials.** CHT keeps them encrypted in its `medic-vault` database (API `PUT
/api/v1/credentials/<key>`, `cht-conf set-secret`). Sentinel reads the secret named `<key>` from the
environment variable `SENTINEL_SECRET_<KEY>` (the key upper-cased, every character other than A-Z
and 0-9 written `_`: `example.com` -> `SENTINEL_SECRET_EXAMPLE_COM`), else from the sentinel
database's `_local/credentials` doc `{"credentials": {<key>: <secret>}}` (a `_local` doc does not
replicate). A secret is never logged; a missing one is a warning and the push stays queued.

**Sending once, and the queue.** After a push, the document's infodoc gets `completed_tasks:
[{type: "outbound", name: <key>, timestamp: <ms>, hash}]`, `hash` being CHT's sha-256 of the
payload with sorted keys. A payload whose hash equals the last push's for that key is not sent
again (CHT 3.10+: a document is pushed again only when its mapped payload changes). The transition
never sends: it stages `task:outbound:<doc id>` `{type: "task:outbound", created: <ms>, doc_id,
queue: [<keys>]}` in the sentinel database with the batch (keys already pushed with this payload are
left out; a task that exists gets the missing keys added). The job, at every scheduled run:

1. takes the configurations that are due (no cron, or within 5 minutes of a cron time);
2. pages through the `task:outbound:` docs (PAGE_SIZE at a time); a task whose document is gone is
   deleted; the others' documents are read and hydrated (lineage, patient, place), their infodocs read;
3. per task and queued key: a key whose configuration no longer exists is dropped; a key not due is
   kept; otherwise the payload is mapped (a mapping error is kept on the task, see below), dropped
   if identical to the last push, else sent;
4. after a successful push the infodoc's `completed_tasks` is written first, then the key is taken
   off the task (the task is deleted when its queue is empty). A failure leaves the key queued, with
   its reason in the task's `errors: {<key>: <message>}` (written only when it changes).

So a push is made at most once per document, key and payload, even when a batch is processed again
after a crash (the re-staged task finds the push in `completed_tasks` and is dropped), except when
Sentinel dies between the destination's answer and the infodoc write: then the next run pushes it
again. Delivery is at least once, as in CHT; destinations should be idempotent.

**Where we differ from CHT, on purpose.** Pushes happen in the job, not during the batch (so a slow
destination never holds up the changes feed): the first attempt comes with the next scheduled run
(every 5 minutes by default, `sentinel run --schedule-interval`, or SIGUSR2), where CHT tries at
once (CHT's transition also pushes a cron config at once within 50 minutes of a cron time; here
the job's 5-minute rule applies to every attempt). A queued key whose config exists but is not due
is kept (CHT drops it when another config is due). New keys are added to an existing task (CHT
ignores them). A destination that times out or cannot be reached is not tried again in the same run,
and a run stops starting pushes after RUN_BUDGET seconds (the rest wait for the next run), so a dead
or slow endpoint cannot hold up the other scheduled jobs for long. Response bodies are not logged.
A bad `outbound` config never disables transitions (CHT's transition has no `init`): what would
make its pushes fail (`config_warnings`) is a settings warning.

Reads:  settings `outbound`, `timezone`; `task:outbound:` docs, infodocs and `_local/credentials`
        (sentinel db); the tasks' documents and their lineage (main db); `SENTINEL_SECRET_*`.
Writes: infodocs (`completed_tasks`) and `task:outbound:` docs (sentinel db); HTTP POSTs.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

import httpx
from croniter import croniter

from sentinel.core import clock, infodoc
from sentinel.core.context import BatchContext
from sentinel.core.couch import CouchDB
from sentinel.core.docs import Doc, clone, js_truthy
from sentinel.core.errors import Conflict, TransientError
from sentinel.core.lookups import LookupIndex

log = logging.getLogger(__name__)

SECTION = "outbound"
TASK_PREFIX = "task:outbound:"
TASK_TYPE = "task:outbound"
JOB = "outbound"  # the scheduled job's name (sentinel.jobs.scheduler.JOBS), woken after a batch that queued a task
PAGE_SIZE = 1000  # tasks per page (CHT's BATCH_SIZE)
REQUEST_TIMEOUT = 10.0  # seconds (CHT's OUTBOUND_REQ_TIMEOUT)
JOB_TIME_FRAME = timedelta(minutes=5)  # a cron config is due this close to a cron time (CHT)
RUN_BUDGET = 240.0  # seconds: no push is started later than this in one run
WRITE_ATTEMPTS = 5
CREDENTIALS_DOC = "_local/credentials"
ENV_PREFIX = "SENTINEL_SECRET_"
AUTH_TYPES = ("basic", "header", "muso-sih")
try:
    USER_AGENT = f"Sentinel/{importlib.metadata.version('sentinel-couch')}"
except importlib.metadata.PackageNotFoundError:  # run from a source tree that is not installed
    USER_AGENT = "Sentinel"

_UNDEFINED = object()  # JavaScript's undefined: a mapped value that is not there
_EXPR_SCRIPT = "function (doc) { var __r = eval(%s); return __r === undefined ? [] : [__r]; }"


class OutboundError(Exception):
    """A push that cannot be made now. The message names the document and the key, never data or secrets."""


class DestinationDown(OutboundError):
    """The destination timed out or could not be reached: not tried again in this run."""


# --- configuration ------------------------------------------------------------------------------------


def task_id(doc_id: str) -> str:
    return TASK_PREFIX + doc_id


def configs(section: Any) -> dict[str, Mapping[str, Any]]:
    """The push configurations by key, as CHT's `Object.keys(config.outbound)` sees them (a list's
    keys are its indices); entries that are not objects can never be relevant and are left out."""
    if isinstance(section, Mapping):
        items = section.items()
    elif isinstance(section, list):
        items = ((str(i), conf) for i, conf in enumerate(section))
    else:
        return {}
    return {str(key): conf for key, conf in items if isinstance(conf, Mapping)}


def relevant(doc: Doc, settings: Any) -> list[tuple[str, Mapping[str, Any]]]:
    """The (key, config) pairs whose `relevant_to` holds for the hydrated `doc`, in config order."""
    found = []
    for key, conf in configs(settings.section(SECTION)).items():
        source = conf.get("relevant_to")
        if js_truthy(source) and settings.expressions.condition(source, ("doc",), f"outbound.{key}.relevant_to")(doc=doc):
            found.append((key, conf))
    return found


def valid_cron(expression: Any) -> bool:
    """CHT's cron-validator `isValidCron` (five fields, no seconds, no aliases, no `?`)."""
    if not isinstance(expression, str):
        return False
    text = expression.strip()
    return len(text.split()) == 5 and not re.search(r"[A-Za-z?#]", text) and croniter.is_valid(text)


def cron_error(key: str, conf: Mapping[str, Any]) -> str | None:
    cron = conf.get("cron")
    if js_truthy(cron) and not valid_cron(cron):
        return f"Invalid cron expression \"{cron}\" on outbound '{key}' config"
    return None


def is_due(conf: Mapping[str, Any], now: datetime, tz: Any, frame: timedelta = JOB_TIME_FRAME) -> bool:
    """No cron, or `now` within `frame` of the cron time before or after it (CHT isWithinTimeFrame)."""
    cron = conf.get("cron")
    if not js_truthy(cron):
        return True
    if not valid_cron(cron):
        return False
    local = now.astimezone(tz)
    previous = croniter(cron.strip(), local.replace(microsecond=0) + timedelta(seconds=1), day_or=False).get_prev(datetime)
    following = croniter(cron.strip(), local, day_or=False).get_next(datetime)
    return abs(now - previous) <= frame or abs(following - now) <= frame


def config_warnings(section: Any, settings: Any) -> list[str]:
    """What makes a push configuration fail at run time (CHT's messages, with the JSON path): settings
    warnings (the start-up log, `check-config`, `status`), never problems: CHT's init accepts them all."""
    problems: list[str] = []
    for key, conf in configs(section).items():
        where = f"settings.outbound.{key}"
        source = conf.get("relevant_to")
        if not js_truthy(source):
            problems.append(f"{where}.relevant_to: missing, so the push is never relevant to any document")
        else:
            problems += settings.expressions.syntax_problems(source, ("doc",), f"{where}.relevant_to")
        mapping = conf.get("mapping")
        if not isinstance(mapping, Mapping):
            problems.append(f"{where}.mapping: must be an object ({{\"<payload path>\": \"doc.<path>\"}}), so every push fails")
        else:
            for dest, entry in mapping.items():
                if isinstance(entry, str):
                    continue
                expr = entry.get("expr") if isinstance(entry, Mapping) else None
                if js_truthy(expr):
                    if isinstance(expr, str):
                        problems += settings.expressions.syntax_problems(expr, ("doc",), f"{where}.mapping.{dest}.expr")
                elif not (isinstance(entry, Mapping) and js_truthy(entry.get("path"))):
                    problems.append(f"{where}.mapping.{dest}: either 'expr' or 'path' is required, so every push fails")
        destination = conf.get("destination")
        if not isinstance(destination, Mapping):
            problems.append(f"{where}.destination: must be an object with base_url and path, so every push fails")
        else:
            for part in ("base_url", "path"):
                if not isinstance(destination.get(part), str):
                    received = _js_text(destination.get(part))
                    problems.append(f"{where}.destination.{part}: Url must be a string. Received {received}")
            auth = destination.get("auth")
            if js_truthy(auth):
                try:
                    if _auth_type(auth) == "header":
                        _header_name(auth)
                except OutboundError as exc:
                    problems.append(f"{where}.destination.auth: {exc}")
        error = cron_error(key, conf)
        if error:
            problems.append(f"{where}.cron: {error}")
    return problems


# --- the payload (CHT mapDocumentToPayload) ------------------------------------------------------------


def payload(doc: Doc, conf: Mapping[str, Any], key: str, expressions: Any) -> dict[str, Any]:
    """The JSON payload `conf.mapping` makes of the hydrated `doc`; raises OutboundError (see the module)."""
    doc_id = doc.get("_id")
    mapping = conf.get("mapping")
    if not isinstance(mapping, Mapping):
        raise OutboundError(f"Mapping error for '{key}': the mapping is not an object: '{doc_id}'")
    out: dict[str, Any] = {}
    for dest, source in mapping.items():
        if isinstance(source, str):
            path, expr, required = source, None, True
        elif isinstance(source, Mapping):
            path, expr, required = source.get("path"), source.get("expr"), not js_truthy(source.get("optional"))
        else:
            path, expr, required = None, None, True
        where = f"outbound.{key}.mapping.{dest}.expr"
        if js_truthy(expr):
            value = _evaluate(expr, doc, where, expressions)
            if value is None:
                raise OutboundError(f"Mapping error for '{key}/{dest}' JS error on source document: '{doc_id}'")
            value = value[0] if value else _UNDEFINED
        elif js_truthy(path):
            value = object_path_get({"doc": doc}, path)
        else:
            raise OutboundError(f"Mapping error for '{key}/{dest}' either 'expr' or 'path' is required: '{doc_id}'")
        if required and value is _UNDEFINED:
            problem = "expr evaluated to undefined" if js_truthy(expr) else f"cannot find '{path}' on source document"
            raise OutboundError(f"Mapping error for '{key}/{dest}' on source document '{doc_id}': {problem}")
        if value is not _UNDEFINED:
            object_path_set(out, dest, value)
    return out


def _evaluate(expr: Any, doc: Doc, where: str, expressions: Any) -> list[Any] | None:
    """[value], [] for undefined, None when the expression failed. CHT's vm turns a non-string
    `expr` into its text (`true` -> "true"); a JSON object or list is a JsonLogic rule (null: undefined)."""
    if isinstance(expr, (bool, int, float)):
        expr = _js_text(expr)
    if isinstance(expr, str):
        return expressions.function(_EXPR_SCRIPT % json.dumps(expr), where)(doc)
    value = expressions.value(expr, ("doc",), where)(doc=doc)
    return [] if value is None else [value]


def _path_key(part: Any) -> Any:
    """object-path's getKey: "12" is the index 12, anything else stays a string."""
    if isinstance(part, str) and re.fullmatch(r"-?[0-9]+", part) and str(int(part)) == part:
        return int(part)
    return part


def _keys(path: Any) -> list[Any] | None:
    if isinstance(path, bool):
        return None
    if isinstance(path, int):
        return [path]
    if isinstance(path, str):
        return [_path_key(p) for p in path.split(".")]
    if isinstance(path, list):
        return [_path_key(p) for p in path]
    return None


def _shallow(obj: Any, key: Any) -> Any:
    """object-path's getShallowProperty (own properties only)."""
    if isinstance(obj, dict):
        return obj.get(str(key), _UNDEFINED)
    if isinstance(obj, (list, str)):
        if key == "length":
            return len(obj)
        if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < len(obj):
            return obj[key]
    return _UNDEFINED


def object_path_get(obj: Any, path: Any) -> Any:
    """object-path `get(obj, path)`: the value, `_UNDEFINED` when a step is missing (a null on the
    way is missing too; a null at the end is the value null)."""
    keys = _keys(path)
    if keys is None:
        return _UNDEFINED
    current = obj
    for key in keys:
        if current is None:
            return _UNDEFINED
        current = _shallow(current, key)
        if current is _UNDEFINED:
            return _UNDEFINED
    return current


def object_path_set(obj: dict[str, Any], path: Any, value: Any) -> None:
    """object-path `set(obj, path, value)`: missing steps become objects (arrays before an index)."""
    keys = _keys(path)
    if not keys:
        return
    current: Any = obj
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(current, dict):
            name = str(key)
            if last:
                current[name] = value
                return
            if name not in current:
                current[name] = [] if isinstance(keys[i + 1], int) else {}
            current = current[name]
        elif isinstance(current, list) and isinstance(key, int) and not isinstance(key, bool) and key >= 0:
            while len(current) <= key:
                current.append(None)  # a JS array's holes, as JSON writes them
            if last:
                current[key] = value
                return
            if current[key] is None:
                current[key] = [] if isinstance(keys[i + 1], int) else {}
            current = current[key]
        else:  # JavaScript sets nothing visible on a primitive (or a named property of an array)
            return


# --- JSON as JavaScript writes it, and CHT's payload hash ----------------------------------------------


def _js_number(value: int | float) -> str:
    """Number.prototype.toString, as JSON.stringify writes numbers (non-finite ones are null)."""
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return "null"
    if value == 0:
        return "0"
    mantissa, _, exponent = repr(abs(value)).partition("e")  # the shortest round-trip digits, as JS
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    n = len(whole) + (int(exponent) if exponent else 0)  # abs(value) = 0.<digits> * 10**n
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        text = digits[0] + ("." + digits[1:] if k > 1 else "") + ("e+" if n - 1 >= 0 else "e-") + str(abs(n - 1))
    return ("-" if value < 0 else "") + text


def _js_string(text: str) -> str:
    dumped = json.dumps(text, ensure_ascii=False)
    return re.sub(r"[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", dumped)


def _js_key_order(obj: Mapping[str, Any]) -> list[str]:
    """A JS object's own key order: integer-like keys ascending, then the others as inserted."""
    indices = sorted((k for k in obj if re.fullmatch(r"0|[1-9][0-9]*", k) and int(k) < 2**32 - 1), key=int)
    return indices + [k for k in obj if k not in set(indices)]


def js_json(value: Any) -> str:
    """`JSON.stringify(value)` of JSON-shaped data, byte for byte."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return _js_number(value)
    if isinstance(value, str):
        return _js_string(value)
    if isinstance(value, list):
        return "[" + ",".join(js_json(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_js_string(k)}:{js_json(value[k])}" for k in _js_key_order(value)) + "}"
    return "null"


def _ordered(value: Any) -> str:
    """CHT's orderedStringify: objects with sorted keys (written unescaped, as CHT does), the rest
    (arrays included, whatever they hold) as JSON.stringify."""
    if isinstance(value, Mapping):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(f'"{k}":{_ordered(value[k])}' for k in keys) + "}"
    return js_json(value)


def payload_hash(body: Any) -> str:
    """CHT's outbound hash: sha-256 of the ordered JSON text, hex (never change it: hashes are stored)."""
    return hashlib.sha256(_ordered(json.loads(js_json(body))).encode("utf-8")).hexdigest()


def already_sent(body: Any, key: str, info: Mapping[str, Any] | None) -> bool:
    """CHT alreadySent: the last `outbound` completed task of `key` has this payload's hash."""
    tasks = info.get("completed_tasks") if isinstance(info, Mapping) else None
    if not isinstance(tasks, list):
        return False
    last = next((t for t in reversed(tasks)
                 if isinstance(t, Mapping) and t.get("type") == "outbound" and t.get("name") == key), None)
    return bool(last) and bool(last.get("hash")) and last.get("hash") == payload_hash(body)


def completed_task(body: Any, key: str, now: datetime) -> dict[str, Any]:
    return {"type": "outbound", "name": key, "timestamp": _ms(now), "hash": payload_hash(body)}


# --- credentials -----------------------------------------------------------------------------------------


def env_name(key: str) -> str:
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", key).upper()


class Credentials:
    """Secrets by key: the environment first, then `_local/credentials` (read once, when first needed)."""

    def __init__(self, sentinel: CouchDB, environ: Mapping[str, str] | None = None):
        self.sentinel = sentinel
        self.environ = environ if environ is not None else os.environ
        self._stored: Mapping[str, Any] | None = None

    def get(self, key: Any) -> str:
        if not isinstance(key, str) or not key:
            raise OutboundError("You must pass the key for the credentials you want")
        secret = self.environ.get(env_name(key))
        if not secret:
            if self._stored is None:
                doc = self.sentinel.get(CREDENTIALS_DOC) or {}
                self._stored = doc.get("credentials") if isinstance(doc.get("credentials"), Mapping) else {}
            found = self._stored.get(key)
            secret = found if isinstance(found, str) else None
        if not secret:
            raise OutboundError(f"Credentials for '{key}' have not been configured: set {env_name(key)}, "
                                f"or {CREDENTIALS_DOC} in the sentinel database")
        return secret


# --- sending ---------------------------------------------------------------------------------------------


def url_join(*parts: Any) -> str:
    """url-join: the parts joined by single slashes (a trailing slash kept, `?` and `&` fixed up)."""
    for part in parts:
        if not isinstance(part, str):
            raise OutboundError(f"Url must be a string. Received {_js_text(part)}")
    parts_list = list(parts)
    if not parts_list:
        return ""
    if re.match(r"^[^/:]+:/*$", parts_list[0]) and len(parts_list) > 1:
        parts_list[0:2] = [parts_list[0] + parts_list[1]]
    if re.match(r"^file:///", parts_list[0]):
        parts_list[0] = re.sub(r"^([^/:]+):/*", r"\1:///", parts_list[0])
    else:
        parts_list[0] = re.sub(r"^([^/:]+):/*", r"\1://", parts_list[0])
    joined = []
    for i, part in enumerate(parts_list):
        if part == "":
            continue
        if i > 0:
            part = re.sub(r"^/+", "", part)
        part = re.sub(r"/+$", "", part) if i < len(parts_list) - 1 else re.sub(r"/+$", "/", part)
        joined.append(part)
    text = re.sub(r"/(\?|&|#[^!])", r"\1", "/".join(joined))
    head, *rest = text.split("?")
    return head + ("?" if rest else "") + "&".join(rest)


def _auth_type(auth: Any) -> str:
    kind = auth.get("type") if isinstance(auth, Mapping) else None
    if not js_truthy(kind):
        raise OutboundError("No auth.type, either declare the type or omit the auth property")
    if not isinstance(kind, str) or kind.lower() not in AUTH_TYPES:
        raise OutboundError(f"Invalid auth type '{_js_text(kind)}'. Supported: basic, header, muso-sih")
    return kind.lower()


def _header_name(auth: Mapping[str, Any]) -> str:
    name = auth.get("name")
    if not isinstance(name, str) or name.lower() != "authorization":
        raise OutboundError(f"Unsupported header name '{_js_text(name)}'. Supported: authorization")
    return name


def send(client: httpx.Client, conf: Mapping[str, Any], body: Any, credentials: Credentials) -> None:
    """POST `body` to the config's destination; raises OutboundError (DestinationDown for transport failures)."""
    destination = conf.get("destination")
    if not isinstance(destination, Mapping):
        raise OutboundError("destination must be an object with base_url and path")
    url = url_join(destination.get("base_url"), destination.get("path"))
    headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json", "Accept": "application/json"}
    auth: tuple[str, str] | None = None
    params: dict[str, str] = {}
    auth_conf = destination.get("auth")
    if js_truthy(auth_conf):
        kind = _auth_type(auth_conf)
        if kind == "basic":
            auth = (_js_text(auth_conf.get("username")) if auth_conf.get("username") is not None else "",
                    credentials.get(auth_conf.get("password_key")))
        elif kind == "header":
            _header_name(auth_conf)
            headers["Authorization"] = credentials.get(auth_conf.get("value_key"))
        else:
            params["token"] = _muso_token(client, destination, auth_conf, credentials)
    response = _post(client, url, content=js_json(body).encode("utf-8"), headers=headers, auth=auth, params=params)
    if not 200 <= response.status_code < 300:
        raise OutboundError(f"server responded with {response.status_code}")


def _muso_token(client: httpx.Client, destination: Mapping[str, Any], auth_conf: Mapping[str, Any],
                credentials: Credentials) -> str:
    password = credentials.get(auth_conf.get("password_key"))
    url = url_join(destination.get("base_url"), auth_conf.get("path"))
    form = {"login": _js_text(auth_conf.get("username")), "password": password}
    response = _post(client, url, data=form, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    if not 200 <= response.status_code < 300:
        raise OutboundError(f"auth request: server responded with {response.status_code}")
    try:
        result = response.json()
        statut, token = result.get("statut"), result["data"]["username_token"]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise OutboundError("auth request: unexpected answer") from None
    if statut != 200:
        raise OutboundError(f"Got {_js_text(statut)} when requesting auth")
    return str(token)


def _post(client: httpx.Client, url: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.post(url, **kwargs)
    except (httpx.TimeoutException, httpx.NetworkError) as exc:
        raise DestinationDown(f"{type(exc).__name__}: the destination did not answer") from None
    except httpx.HTTPError as exc:  # an invalid URL, a protocol error...
        raise OutboundError(f"request failed: {type(exc).__name__}") from None


def _js_text(value: Any) -> str:
    """String(value) for the values a config holds (messages, CHT's `${...}`)."""
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _js_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(_js_text(v) for v in value)
    return "[object Object]" if isinstance(value, Mapping) else str(value)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# --- the job ---------------------------------------------------------------------------------------------


@dataclass
class OutboundOutcome:
    tasks: int = 0  # task docs looked at
    pushed: int = 0
    failed: int = 0  # pushes (or mappings) that failed: kept queued
    unchanged: int = 0  # payload identical to the last push: dropped
    dropped: int = 0  # keys whose configuration is gone, tasks whose document is gone
    waiting: int = 0  # keys not due (cron), or whose destination was down or the run out of time


def run(env: Any, now: datetime) -> None:
    """The scheduler job: `JobEnv` -> process; nothing to do while the settings are invalid."""
    settings = env.settings()
    if settings is None:
        log.info("outbound: skipped while the settings are invalid")
        return
    outcome = process(env.main, env.sentinel, settings, now)
    if outcome.tasks:
        log.info("outbound: %d task(s): %d pushed, %d failed (kept queued), %d unchanged since the last push, "
                 "%d dropped, %d waiting", outcome.tasks, outcome.pushed, outcome.failed, outcome.unchanged,
                 outcome.dropped, outcome.waiting)


def process(main: CouchDB, sentinel: CouchDB, settings: Any, now: datetime,
            environ: Mapping[str, str] | None = None, budget: float = RUN_BUDGET) -> OutboundOutcome:
    """Push the queued tasks whose configurations are due as of `now` (see the module docstring)."""
    outcome = OutboundOutcome()
    pushes = configs(settings.section(SECTION))
    if not pushes:
        return outcome
    tz = clock.zone(settings)
    due = {key for key, conf in pushes.items() if is_due(conf, now, tz)}
    if not due:
        return outcome
    job = _Job(main, sentinel, settings, now, pushes, due, Credentials(sentinel, environ), outcome,
               time.monotonic() + budget)
    with httpx.Client(timeout=REQUEST_TIMEOUT, follow_redirects=False) as client:
        job.client = client
        for rows in sentinel.prefix_pages(TASK_PREFIX, PAGE_SIZE):
            if time.monotonic() > job.deadline:
                log.info("outbound: %.0f s spent; the remaining tasks wait for the next run", budget)
                break
            job.page(rows)
    return outcome


class _Job:
    def __init__(self, main: CouchDB, sentinel: CouchDB, settings: Any, now: datetime, pushes: dict[str, Mapping[str, Any]],
                 due: set[str], credentials: Credentials, outcome: OutboundOutcome, deadline: float):
        self.main, self.sentinel, self.settings, self.now = main, sentinel, settings, now
        self.pushes, self.due, self.credentials, self.outcome, self.deadline = pushes, due, credentials, outcome, deadline
        self.client: httpx.Client | None = None
        self.down: set[str] = set()  # destinations (base_url) that did not answer in this run

    def page(self, rows: list[dict[str, Any]]) -> None:
        tasks = []
        for row in rows:
            task = row.get("doc")
            if not (isinstance(task, dict) and isinstance(task.get("doc_id"), str) and isinstance(task.get("queue"), list)):
                log.warning("outbound: %s is not a task:outbound doc ({doc_id, queue}); left as it is", row.get("id"))
                continue
            tasks.append(task)
        if not tasks:
            return
        docs = self.main.all_docs(t["doc_id"] for t in tasks)
        for task in [t for t in tasks if t["doc_id"] not in docs]:  # CHT removeInvalidTasks
            log.warning("outbound: the document of %s (%s) could not be loaded (deleted?); deleting the task",
                        task["_id"], task["doc_id"])
            self.outcome.dropped += 1
            self._save_task(task, removed=set(task["queue"]), errors={})
        tasks = [t for t in tasks if t["doc_id"] in docs]
        if not tasks:
            return
        batch = BatchContext(self.main, LookupIndex(self.sentinel), self.settings, self.now)
        batch.add(docs.values())
        batch.prefetch(list(docs.values()))
        infos = self.sentinel.all_docs(infodoc.infodoc_id(t["doc_id"]) for t in tasks)
        for task in tasks:
            self.outcome.tasks += 1
            try:
                doc = batch.hydrated(docs[task["doc_id"]])
                doc.pop("transitions", None)  # as the pipeline hands documents to transitions (CHT < 3.0 kept runs there)
                self._task(task, doc, infos.get(infodoc.infodoc_id(task["doc_id"])))
            except TransientError:
                raise
            except Exception as exc:  # a malformed document or task, a bug: the other tasks still go
                log.error("outbound: %s could not be processed: %s: %s", task["_id"], type(exc).__name__, exc)

    def _task(self, task: Doc, doc: Doc, info: Doc | None) -> None:
        removed: set[str] = set()
        errors = dict(task.get("errors")) if isinstance(task.get("errors"), dict) else {}
        done: list[dict[str, Any]] = []
        info = info if info is not None else infodoc.blank(task["doc_id"])
        for key in dict.fromkeys(k for k in task["queue"] if isinstance(k, str)):
            conf = self.pushes.get(key)
            if conf is None:
                log.warning("outbound: unable to push %s for %s because this outbound config no longer exists; "
                            "clearing it from the task", task["doc_id"], key)
                removed.add(key)
                self.outcome.dropped += 1
                continue
            if key not in self.due:
                self.outcome.waiting += 1
                continue
            try:
                body = payload(doc, conf, key, self.settings.expressions)
            except OutboundError as exc:
                self._failed(task, key, errors, exc)
                continue
            if already_sent(body, key, info):
                log.info("outbound: not pushing %s to %s as payload is identical to previous push", task["doc_id"], key)
                removed.add(key)
                self.outcome.unchanged += 1
                continue
            destination = conf.get("destination")
            base_url = destination.get("base_url") if isinstance(destination, Mapping) else None
            base_url = base_url if isinstance(base_url, str) else None
            if base_url in self.down or time.monotonic() > self.deadline:
                self.outcome.waiting += 1
                continue
            try:
                send(self.client, conf, body, self.credentials)
            except DestinationDown as exc:
                self.down.add(base_url)
                self._failed(task, key, errors, exc)
                continue
            except OutboundError as exc:
                self._failed(task, key, errors, exc)
                continue
            log.info("outbound: pushed %s to %s", task["doc_id"], key)
            entry = completed_task(body, key, self.now)
            info.setdefault("completed_tasks", [])
            if not isinstance(info["completed_tasks"], list):
                info["completed_tasks"] = []
            info["completed_tasks"].append(entry)
            done.append(entry)
            removed.add(key)
            self.outcome.pushed += 1
        if done:  # the record of the push first: a crash after it can never push the same payload again
            self._save_info(info, done)
        for key in removed:
            errors.pop(key, None)
        if removed or errors != (task.get("errors") or {}):
            self._save_task(task, removed, errors)

    def _failed(self, task: Doc, key: str, errors: dict[str, Any], exc: OutboundError) -> None:
        log.warning("outbound: unable to push %s for %s: %s", task["doc_id"], key, exc)
        errors[key] = str(exc)
        self.outcome.failed += 1

    def _save_info(self, info: Doc, done: list[dict[str, Any]]) -> None:
        """Write the infodoc; after a 409, append our completed tasks to the stored version."""
        for _ in range(WRITE_ATTEMPTS):
            try:
                self.sentinel.put(info)
                return
            except Conflict:
                fresh = self.sentinel.get(info["_id"]) or infodoc.blank(info["doc_id"])
                tasks = fresh.get("completed_tasks") if isinstance(fresh.get("completed_tasks"), list) else []
                fresh["completed_tasks"] = tasks + done
                info = fresh
        raise Conflict(f"could not save {info['_id']} after {WRITE_ATTEMPTS} attempts")

    def _save_task(self, task: Doc, removed: set[str], errors: dict[str, Any]) -> None:
        """Take the `removed` keys off the task (deleting it when its queue is empty) and set its errors;
        after a 409 (the transition added keys meanwhile), the same on the stored version."""
        for _ in range(WRITE_ATTEMPTS):
            updated = clone(task)
            updated["queue"] = [k for k in task.get("queue") or [] if k not in removed]
            errors = {k: v for k, v in errors.items() if k in updated["queue"]}
            if errors:
                updated["errors"] = errors
            else:
                updated.pop("errors", None)
            if not updated["queue"]:
                updated["_deleted"] = True
            try:
                self.sentinel.put(updated)
                return
            except Conflict:
                fresh = self.sentinel.get(task["_id"])
                if fresh is None or not isinstance(fresh.get("queue"), list):
                    return  # deleted meanwhile
                task = fresh
        raise Conflict(f"could not save {task['_id']} after {WRITE_ATTEMPTS} attempts")
