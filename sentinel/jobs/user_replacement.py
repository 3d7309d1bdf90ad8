"""User replacement (CHT 4's `create_user_for_contacts`): the scheduled job `user_replacement` that does
what the transition (`transitions/create_user_for_contacts.py`) queued: a new token-login user for the
replacement contact, the login SMS, the original user deleted, the contact marked `COMPLETE` or `ERROR`.

CHT code this follows (read from medic/cht-core): shared-libs/transitions/src/transitions/
create_user_for_contacts.js (replaceUser, generateUsername, the errors), shared-libs/user-management/
src/users.js (createUser: missingFields, validateNewUsername, getUserUpdates / getSettingsUpdates;
getUserSettings by contact_id; deleteUser), token-login.js (validateAndNormalizePhone,
enableTokenLogin, generateTokenLoginDoc), roles.js (isOffline) and libs/passwords.js, shared-libs/
contacts people.getOrCreatePerson and places.getPlace.

**The task**, `task:user-replacement:<contact id>` in the sentinel database, staged by the transition:
`{type: "task:user-replacement", created: <ms>, contact_id, replaced_by, seq}`. The job adds, in
this order, each written before the step it guards:

- `plan: {username, original, roles, facility_id, contact_id, phone, fullname}`: everything the new
  user is made of, decided once (the random username included) after every check passed. A run that
  finds a plan carries it out, whatever happened to the documents since: the identity of the new
  user never changes, so a crash and a re-run never create a second user;
- `result: "COMPLETE" | "ERROR"` (and `error: <message>`): then the contact, the infodoc, and the
  task is deleted.

**A run**, for each task (paged, PAGE_SIZE at a time):

1. With a result: finish (step 5). Without a plan: a contact that is gone, or whose
   `user_for_contact.replaced.status` is no longer `READY`, drops the task.
2. The checks, in CHT's order, each failure an `ERROR` with CHT's message: `replaced.by` given ("No id
   was provided for the new replacement contact."); it is a person ("Failed to find person."); the
   original user: the first `user-settings` doc (by id: CHT's `doc_by_type` order; one marked
   `inactive`, i.e. deleted, is passed over) whose `contact_id` is the contact ("Failed to find user
   setting with contact_id [<id>]."), and its `_users` doc ("Failed to find user with name [<name>] in
   the [users] database."); the new contact's `name` ("Replacement contact [<id>] must have a name.")
   and `parent`; then `users.createUser`'s: "Missing required fields: phone" (and `place`, `contact`
   for offline roles, `type or roles`), "A valid phone number is required for SMS login." (the phone
   is then normalised, E.164), the place exists ("Failed to find place."), each of these written as
   CHT's transition writes them: `Error creating new user: "<message>"`.
3. The username: CHT's `generateUsername` (NFD, accents stripped, lower case, trimmed, every
   character but `a-z`, `0-9` and space removed, runs of spaces to `-`, then `-` and 4 random digits
   0000-9998), drawn again while `org.couchdb.user:<name>` exists in `_users` or in the main database.
   Roles: the original's (its `_users` doc), `mm-online` removed for offline roles, added otherwise.
4. Carrying out the plan, each step skipped when already done:
   - `_users` `org.couchdb.user:<username>` `{name, type: "user", password, roles, facility_id}`, the
     password random (20 characters of CHT's alphabet, never stored elsewhere, never logged);
   - main db `org.couchdb.user:<username>` `{name, type: "user-settings", fullname, phone, roles,
     facility_id, contact_id}`;
   - token login: `token_login: {active: true, token, expiration_date: now + 24 h}` on the `_users`
     doc (the token: 64 random characters, unique against `token:login:<token>` docs), the SMS doc
     `token:login:<token>` `{type: "token_login", reported_date, user: <_users id>, tasks: [the
     `token_login` config's message (its `translation_key` or `message`, rendered with the
     user-settings and `_users` fields), "<app_url without trailing />/medic/login/token/<token>"]}`
     (both to the new user's phone, `pending`), and `token_login: {active: true, expiration_date}` on
     the user-settings doc. The token is written on the `_users` doc first, so a re-run finds it and
     never sends a second link; it is only ever sent in request bodies (never in a URL: no server
     or proxy log holds it);
   - the original user deleted as CHT's deleteUser does: its `_users` doc `_deleted: true` (the whole
     doc, as CHT puts it), its user-settings doc `inactive: true, deletion_date: <ms>`.
   A document already there is checked to be the plan's (same name, type, roles, place, contact);
   anything else means the username was taken meanwhile: `ERROR` ('Username "<x>" already taken.').
5. The contact: `user_for_contact.replaced.status` `COMPLETE`, or `ERROR` plus CHT's transition error
   `{code: "create_user_for_contacts_error'", message: "Transition error on create_user_for_contacts:
   <message>"}` (only while it is still `READY`; after a 409 on the fresh revision); the infodoc's
   `transitions.create_user_for_contacts = {last_rev, seq, ok, run_date}` (`last_rev`: the revision
   the replacement acted on, as the pipeline records); then the task is deleted.

CouchDB errors (a 5xx, the server gone, a 409 that keeps coming) leave the task as it is, for the next
run; a 401/403 (the `COUCH_URL` user must be a server admin to write `_users`, as CHT Sentinel's is)
stops the run. Nothing runs while the settings are invalid or the transition is disabled (the tasks
wait). Passwords, tokens and login links are never logged, nor put in error messages.

**Where we differ from CHT, on purpose.** The work happens in the job, woken right after the batch
that queued it (CHT does it inside the transition); the infodoc entry is written by the job, when the
outcome is known. A deleted (`inactive`) user-settings doc is not taken as the original user (CHT
would take it and fail). A username taken in the main database only is drawn again (CHT's draw checks
`_users` only, then fails). The SMS tasks are `pending` (CHT's duplicate check cannot apply: the link is
new each time). `replaced.by` must be an id (CHT would create a person from an object). Not
implemented: CHT 4.2+'s `user_for_contact.create` (a user for a new contact) and the `replace` map
(several users of one contact, password reset instead of deletion).

Reads:  settings `token_login`, `app_url`, `roles`, `contact_types`, phone settings, translations;
        `task:user-replacement:` docs and infodocs (sentinel db); contacts, places and user-settings
        docs (main db); `_users`.
Writes: `_users` docs; user-settings and `token:login:` docs and the contact (main db); infodocs and
        the tasks (sentinel db).
"""
from __future__ import annotations

import json
import logging
import re
import secrets
import string
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Callable, Mapping

from sentinel.core import infodoc, phones

from sentinel.messaging import messages
from sentinel.core.couch import CouchDB
from sentinel.core.docs import Doc, add_error, js_truthy, utc_iso
from sentinel.core.errors import Conflict, CouchError, TransientError
from sentinel.core.history import MessageHistory
from sentinel.core.settings import transition_enabled

log = logging.getLogger(__name__)

NAME = "create_user_for_contacts"  # the transition
JOB = "user_replacement"  # the scheduled job's name (sentinel.jobs.scheduler.JOBS), woken after a batch that queued a task
TASK_PREFIX = "task:user-replacement:"
TASK_TYPE = "task:user-replacement"
USERS_DB = "_users"
USER_PREFIX = "org.couchdb.user:"
TOKEN_PREFIX = "token:login:"

READY, COMPLETE, ERROR = "READY", "COMPLETE", "ERROR"

PAGE_SIZE = 100
WRITE_ATTEMPTS = 5
USERNAME_ATTEMPTS = 1000  # 9999 suffixes per name
TOKEN_EXPIRE_MS = 24 * 60 * 60 * 1000  # CHT TOKEN_EXPIRE_TIME
TOKEN_LENGTH = 64
PASSWORD_LENGTH = 20
PASSWORD_CHARS = string.ascii_lowercase + string.ascii_uppercase + string.digits + ".,:!$-="  # CHT passwords.js
ONLINE_ROLE = "mm-online"
DB_ADMIN_ROLES = ("_admin",)
ERROR_CODE = f"{NAME}_error'"  # CHT's code, apostrophe included
# fields of the _users doc that never go into a message's template context
_SECRET_FIELDS = ("password", "derived_key", "salt", "iterations", "password_scheme", "token_login")


class ReplacementError(Exception):
    """The replacement cannot be made (CHT's message): the contact gets `ERROR`."""


def task_id(contact_id: str) -> str:
    return TASK_PREFIX + contact_id


def replaced_status(doc: Any) -> Any:
    """`doc.user_for_contact.replaced.status`, or None."""
    user_for_contact = doc.get("user_for_contact") if isinstance(doc, Mapping) else None
    replaced = user_for_contact.get("replaced") if isinstance(user_for_contact, Mapping) else None
    return replaced.get("status") if isinstance(replaced, Mapping) else None


def _replaced(doc: Doc) -> dict[str, Any]:
    return doc["user_for_contact"]["replaced"]


def _js_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _create_user_error(message: str) -> ReplacementError:
    """users.createUser's 400s, as the transition rethrows them: `Error creating new user: "<msg>"`."""
    return ReplacementError(f"Error creating new user: {_js_json(message)}")


# --- CHT's rules, pure -------------------------------------------------------------------------------


def username_base(contact_name: str) -> str:
    """CHT generateUsername without the digits: NFD, accents (U+0300-U+036F) stripped, lower case,
    trimmed, every character but a-z, 0-9 and space removed, runs of whitespace to `-`."""
    text = unicodedata.normalize("NFD", contact_name)
    text = re.sub("[\u0300-\u036f]", "", text).lower().strip()
    text = re.sub("[^a-z0-9 ]", "", text)
    return re.sub(r"\s+", "-", text)


def generate_username(contact_name: str, number: int | None = None) -> str:
    """`<base>-<4 digits>`; the digits are CHT's `Math.floor(Math.random() * 9999)` (0000-9998)."""
    number = secrets.randbelow(9999) if number is None else number
    return f"{username_base(contact_name)}-{number:04d}"


def is_offline(roles: list[Any], settings: Any) -> bool:
    """CHT roles.isOffline: no online role (`mm-online`, `_admin`), and no configured role, or one
    configured `offline`."""
    if not roles:
        return False
    configured = settings.get("roles")
    configured = configured if isinstance(configured, Mapping) else {}
    if any(r in (*DB_ADMIN_ROLES, ONLINE_ROLE) for r in roles):
        return False
    known = [r for r in roles if isinstance(r, str) and js_truthy(configured.get(r))]
    return not known or any(isinstance(configured[r], Mapping) and js_truthy(configured[r].get("offline")) for r in known)


def user_roles(roles: list[Any], settings: Any) -> list[Any]:
    """The new user's roles (CHT getCommonFieldsUpdates): `mm-online` removed for offline roles, added
    for online ones."""
    roles = list(roles)
    if is_offline(roles, settings):
        return [r for r in roles if r != ONLINE_ROLE]
    return roles if ONLINE_ROLE in roles else [*roles, ONLINE_ROLE]


def _random_text(length: int) -> str:
    """CHT passwords.generate: `length` characters of its alphabet; drawn again until every class of
    character is there (a stand-in for CHT's simple-password-tester score, which random text of this
    length passes)."""
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits, ".,:!$-=")
    while True:
        text = "".join(secrets.choice(PASSWORD_CHARS) for _ in range(length))
        if all(any(c in cls for c in text) for cls in classes):
            return text


def login_url(app_url: str, token: str) -> str:
    """CHT: `${app_url.replace(/\\/+$/, '')}/medic/login/token/${token}`."""
    return f"{re.sub(r'/+$', '', app_url)}/medic/login/token/{token}"


def enabled(settings: Any) -> bool:
    return transition_enabled(settings.transitions_config().get(NAME))


# --- the job -----------------------------------------------------------------------------------------


@dataclass
class ReplacementOutcome:
    tasks: int = 0  # task docs looked at
    completed: int = 0  # users replaced (contact COMPLETE)
    failed: int = 0  # contact ERROR
    dropped: int = 0  # tasks whose contact is gone or no longer READY
    waiting: int = 0  # tasks left for a later run (a CouchDB error)


def run(env: Any, now: datetime) -> None:
    """The scheduler job: `JobEnv` -> process; nothing while the settings are invalid."""
    settings = env.settings()
    if settings is None:
        log.info("user_replacement: skipped while the settings are invalid")
        return
    outcome = process(env.main, env.sentinel, env.main.server.db(USERS_DB), settings, now)
    if outcome.tasks:
        log.info("user_replacement: %d task(s): %d user(s) replaced, %d failed (ERROR on the contact), %d dropped, "
                 "%d waiting", outcome.tasks, outcome.completed, outcome.failed, outcome.dropped, outcome.waiting)


def process(main: CouchDB, sentinel: CouchDB, users: CouchDB, settings: Any, now: datetime) -> ReplacementOutcome:
    """Carry out every queued replacement (see the module docstring)."""
    outcome = ReplacementOutcome()
    pages = sentinel.prefix_pages(TASK_PREFIX, PAGE_SIZE)
    if not enabled(settings):
        waiting = sum(len(rows) for rows in pages)
        if waiting:
            log.info("user_replacement: %d task(s) wait: the %s transition is not enabled", waiting, NAME)
        return outcome
    job = _Job(main, sentinel, users, settings, now, outcome)
    for rows in pages:
        for row in rows:
            task = row.get("doc")
            if not (isinstance(task, dict) and isinstance(task.get("contact_id"), str)):
                log.warning("user_replacement: %s is not a %s doc ({contact_id}); left as it is", row.get("id"), TASK_TYPE)
                continue
            outcome.tasks += 1
            try:
                job.task(task)
            except TransientError:
                raise
            except CouchError as exc:
                outcome.waiting += 1
                if exc.status in (401, 403):
                    log.error("user_replacement: %s; the COUCH_URL user must be a server admin to write %s", exc, USERS_DB)
                    raise
                log.error("user_replacement: %s left for the next run: %s", task["_id"], exc)
            except Exception as exc:  # a malformed task or document, a bug: the other tasks still go
                outcome.waiting += 1
                log.error("user_replacement: %s could not be processed: %s: %s", task["_id"], type(exc).__name__, exc)
    return outcome


def _update(db: CouchDB, doc_id: str, change: Callable[[Doc], bool]) -> Doc | None:
    """Read `doc_id`, apply `change` (False: nothing to write) and save; after a 409, again on the fresh
    revision. Returns the document as saved (or as found), None when there is none."""
    for _ in range(WRITE_ATTEMPTS):
        doc = db.get(doc_id)
        if doc is None or not change(doc):
            return doc
        try:
            db.put(doc)
            return doc
        except Conflict:
            continue
    raise Conflict(409, "conflict", f"still conflicting after {WRITE_ATTEMPTS} attempts", f"PUT {doc_id}")


class _Job:
    def __init__(self, main: CouchDB, sentinel: CouchDB, users: CouchDB, settings: Any, now: datetime,
                 outcome: ReplacementOutcome):
        self.main, self.sentinel, self.users, self.settings, self.now = main, sentinel, users, settings, now
        self.outcome = outcome
        self.now_ms = int(now.timestamp() * 1000)
        self._user_settings: list[Doc] | None = None  # every user-settings doc, read once per run

    # --- one task -------------------------------------------------------------------------------
    def task(self, task: Doc) -> None:
        contact_id = task["contact_id"]
        if task.get("result") not in (COMPLETE, ERROR) and not isinstance(task.get("plan"), dict):
            contact = self.main.get(contact_id)
            if contact is None or replaced_status(contact) != READY:
                log.info("user_replacement: contact %s is gone or no longer READY; dropping %s", contact_id, task["_id"])
                self.outcome.dropped += 1
                self._delete_task(task)
                return
            try:
                plan = self._plan(contact)
            except ReplacementError as exc:
                task = self._save_task(task, result=ERROR, error=str(exc))
            else:
                task = self._save_task(task, plan=plan)  # the new user's identity, before anything exists
        if task.get("result") not in (COMPLETE, ERROR):
            try:
                self._carry_out(task["plan"])
            except ReplacementError as exc:
                task = self._save_task(task, result=ERROR, error=str(exc))
            else:
                task = self._save_task(task, result=COMPLETE)
                log.info("user_replacement: user %s of contact %s replaced by %s (contact %s)", task["plan"]["original"],
                         contact_id, task["plan"]["username"], task["plan"]["contact_id"])
        self._finish(task)

    def _save_task(self, task: Doc, **fields: Any) -> Doc:
        updated = {**task, **fields}
        try:
            self.sentinel.put(updated)
        except Conflict:  # written meanwhile (re-staged after a deletion, another process): keep its progress
            fresh = self.sentinel.get(task["_id"]) or {k: v for k, v in task.items() if k != "_rev"}
            updated = {**fresh, **{k: v for k, v in fields.items() if k not in fresh}}
            self.sentinel.put(updated)
        return updated

    def _delete_task(self, task: Doc) -> None:
        try:
            self.sentinel.put({"_id": task["_id"], "_rev": task["_rev"], "_deleted": True})
        except Conflict:
            pass  # re-staged meanwhile: the next run looks at it

    # --- deciding -------------------------------------------------------------------------------
    def _plan(self, contact: Doc) -> dict[str, Any]:
        """CHT replaceUser's checks and createUser's validation, in CHT's order; the new user's fields."""
        by = _replaced(contact).get("by")
        if not js_truthy(by):
            raise ReplacementError("No id was provided for the new replacement contact.")
        if not isinstance(by, str):
            raise ReplacementError("Person must be a new object or string identifier (UUID).")
        new_contact = self.main.get(by)
        if new_contact is None or not self.settings.is_person(new_contact):
            raise ReplacementError("Failed to find person.")
        original = self._original_user_settings(contact["_id"])
        original_name = original.get("name")
        original_user = self.users.get(USER_PREFIX + str(original_name)) if isinstance(original_name, str) else None
        if original_user is None:
            raise ReplacementError(f"Failed to find user with name [{original_name}] in the [users] database.")

        name = new_contact.get("name")
        if not js_truthy(name):
            raise ReplacementError(f"Replacement contact [{by}] must have a name.")
        if not isinstance(name, str):
            raise ReplacementError("contactName.normalize is not a function")
        parent = new_contact.get("parent")
        if parent is None:
            raise ReplacementError("Cannot read properties of undefined (reading '_id')")
        place_id = parent.get("_id") if isinstance(parent, Mapping) else None
        roles = original_user.get("roles")
        roles = roles if isinstance(roles, list) else None
        phone = new_contact.get("phone")

        # users.createUser: missingFields (token login: phone; offline roles: place and contact)
        required = {"username": True, "phone": phone}
        if roles and is_offline(roles, self.settings):
            required.update(place=place_id, contact=by)
        missing = [field for field, value in required.items() if not js_truthy(value)]
        if roles is None:
            missing.append("type or roles")
        if missing:
            raise _create_user_error("Missing required fields: " + ", ".join(missing))
        # token-login validateAndNormalizePhone
        if not phones.validate(self.settings.values, phone):
            raise _create_user_error("A valid phone number is required for SMS login.")
        phone = phones.normalize(self.settings.values, phone)
        # createUserEntities: createPlace (places.getPlace)
        if place_id:
            place = self.main.get(place_id) if isinstance(place_id, str) else None
            if place is None or not self.settings.is_place(place):
                raise ReplacementError("Failed to find place.")
        plan: dict[str, Any] = {
            "username": self._free_username(name),
            "original": original_name,
            "roles": user_roles(roles, self.settings),
            "contact_id": by,
            "phone": phone,
            "fullname": name,
        }
        if place_id:
            plan["facility_id"] = place_id
        return plan

    def _original_user_settings(self, contact_id: str) -> Doc:
        """CHT getUserSettings({contact_id}): the first user-settings doc (by id) of the contact."""
        if self._user_settings is None:
            self._user_settings = [
                r["doc"] for rows in self.main.prefix_pages(USER_PREFIX, 1000) for r in rows
                if isinstance(r.get("doc"), dict) and r["doc"].get("type") == "user-settings"
            ]
        for doc in self._user_settings:
            if doc.get("contact_id") == contact_id and not doc.get("inactive"):
                return doc
        raise ReplacementError(f"Failed to find user setting with contact_id [{contact_id}].")

    def _free_username(self, name: str) -> str:
        """CHT generateUniqueUsername (drawn again while taken in `_users`, or in the main database)."""
        for _ in range(USERNAME_ATTEMPTS):
            username = generate_username(name)
            if self.users.get(USER_PREFIX + username) is None and self.main.get(USER_PREFIX + username) is None:
                return username
        raise ReplacementError(f"No free username for [{name}] after {USERNAME_ATTEMPTS} attempts.")

    # --- doing ----------------------------------------------------------------------------------
    def _carry_out(self, plan: Mapping[str, Any]) -> None:
        user_id = USER_PREFIX + plan["username"]
        user = self._create_user(user_id, plan)
        user_settings = self._create_user_settings(user_id, plan)
        self._enable_token_login(user, user_settings, plan)
        self._delete_original(plan["original"])

    def _taken(self, plan: Mapping[str, Any]) -> ReplacementError:
        return _create_user_error(f'Username "{plan["username"]}" already taken.')

    def _create_user(self, user_id: str, plan: Mapping[str, Any]) -> Doc:
        user = self.users.get(user_id)
        if user is None:
            doc = {"_id": user_id, "name": plan["username"], "type": "user", "password": _random_text(PASSWORD_LENGTH),
                   "roles": list(plan["roles"])}
            if "facility_id" in plan:
                doc["facility_id"] = plan["facility_id"]
            try:
                self.users.put(doc)
            except Conflict:
                pass  # there meanwhile: checked below
            del doc
            user = self.users.get(user_id)
        if not (isinstance(user, dict) and user.get("name") == plan["username"] and user.get("type") == "user"
                and user.get("roles") == plan["roles"] and user.get("facility_id") == plan.get("facility_id")):
            raise self._taken(plan)
        return user

    def _create_user_settings(self, user_id: str, plan: Mapping[str, Any]) -> Doc:
        doc = self.main.get(user_id)
        if doc is None:
            doc = {"_id": user_id, "name": plan["username"], "type": "user-settings", "fullname": plan["fullname"],
                   "phone": plan["phone"], "roles": list(plan["roles"])}
            if "facility_id" in plan:
                doc["facility_id"] = plan["facility_id"]
            doc["contact_id"] = plan["contact_id"]
            try:
                self.main.put(doc)
            except Conflict:
                doc = self.main.get(user_id)
        if not (isinstance(doc, dict) and doc.get("name") == plan["username"] and doc.get("type") == "user-settings"
                and doc.get("contact_id") == plan["contact_id"]):
            raise self._taken(plan)
        if self._user_settings is not None:  # a later task of this run may replace this new user
            self._user_settings = [d for d in self._user_settings if d.get("_id") != user_id] + [doc]
        return doc

    def _enable_token_login(self, user: Doc, user_settings: Doc, plan: Mapping[str, Any]) -> None:
        """CHT enableTokenLogin, in an order a re-run can resume: the token on the `_users` doc first."""
        context = {**user_settings, **user}  # CHT: Object.assign({}, userSettings, user), as read before the token
        for key in _SECRET_FIELDS:
            context.pop(key, None)
        token_login = user.get("token_login")
        if not (isinstance(token_login, dict) and isinstance(token_login.get("token"), str) and token_login["token"]):
            token = self._new_token()

            def set_token(doc: Doc) -> bool:
                current = doc.get("token_login")
                if isinstance(current, dict) and current.get("token"):
                    return False  # set meanwhile: keep that one
                doc["token_login"] = {"active": True, "token": token, "expiration_date": self.now_ms + TOKEN_EXPIRE_MS}
                return True

            user = _update(self.users, user["_id"], set_token) or user
            token_login = user["token_login"]
        token = token_login["token"]
        token_doc_id = TOKEN_PREFIX + token
        if not self.main.all_docs([token_doc_id]):  # a POST: the token never goes into a URL
            doc = self._token_login_doc(token_doc_id, user["_id"], token, plan, context)
            results = self.main.bulk_docs([doc])
            error = results[0].get("error") if results else "no result"
            if error not in (None, "conflict"):
                raise CouchError(500, str(error), "the token_login doc could not be saved", f"{self.main.name}/_bulk_docs")
        expiration = token_login.get("expiration_date")

        def set_settings(doc: Doc) -> bool:
            if isinstance(doc.get("token_login"), dict):
                return False
            doc["token_login"] = {"active": True, "expiration_date": expiration}
            return True

        _update(self.main, user_settings["_id"], set_settings)

    def _new_token(self) -> str:
        """CHT generateToken: 10 candidates, the first without a `token:login:` doc."""
        for _ in range(10):
            tokens = [_random_text(TOKEN_LENGTH) for _ in range(10)]
            found = self.main.all_docs(TOKEN_PREFIX + t for t in tokens)
            free = [t for t in tokens if TOKEN_PREFIX + t not in found]
            if free:
                return free[0]
        raise ReplacementError("Failed to generate unique token")

    def _token_login_doc(self, doc_id: str, user_id: str, token: str, plan: Mapping[str, Any], context: Doc) -> Doc:
        """CHT generateTokenLoginDoc: the help message (the `token_login` config) and the link, to the phone."""
        doc: Doc = {"_id": doc_id, "type": "token_login", "reported_date": self.now_ms, "user": user_id, "tasks": []}
        config = self.settings.get("token_login")
        config = config if isinstance(config, Mapping) else {}
        shim = SimpleNamespace(settings=self.settings, now=self.now, batch=SimpleNamespace(history=MessageHistory()))
        phone = context.get("phone") or plan["phone"]
        messages.add_message(doc, shim, config, phone, extra={"template_context": context})
        messages.add_message(doc, shim, {"message": login_url(str(self.settings.get("app_url")), token)}, phone)
        return doc

    def _delete_original(self, name: Any) -> None:
        """CHT deleteUser: the `_users` doc `_deleted` (put whole), the user-settings doc `inactive`."""
        if not isinstance(name, str):
            return
        user_id = USER_PREFIX + name

        def delete(doc: Doc) -> bool:
            doc["_deleted"] = True
            return True

        def deactivate(doc: Doc) -> bool:
            if doc.get("inactive") is True:
                return False
            doc["inactive"] = True
            doc["deletion_date"] = self.now_ms
            return True

        _update(self.users, user_id, delete)
        deactivated = _update(self.main, user_id, deactivate)
        if self._user_settings is not None and deactivated is not None:
            self._user_settings = [deactivated if d.get("_id") == user_id else d for d in self._user_settings]

    # --- the outcome ----------------------------------------------------------------------------
    def _finish(self, task: Doc) -> None:
        ok = task.get("result") == COMPLETE
        error = task.get("error") if isinstance(task.get("error"), str) else "unknown error"
        acted_on: list[Any] = []

        def mark(doc: Doc) -> bool:
            acted_on[:] = [doc.get("_rev")]
            if replaced_status(doc) != READY:
                return False  # written already (a re-run), or changed by someone else
            _replaced(doc)["status"] = COMPLETE if ok else ERROR
            if not ok:
                add_error(doc, {"code": ERROR_CODE, "message": f"Transition error on {NAME}: {error}"})
            return True

        contact = _update(self.main, task["contact_id"], mark)
        if contact is not None:
            self._record_run(task["contact_id"], acted_on[0], task.get("seq"), ok)
        if ok:
            self.outcome.completed += 1
        else:
            self.outcome.failed += 1
            log.error("user_replacement: the user of contact %s could not be replaced: %s", task["contact_id"], error)
        self._delete_task(task)

    def _record_run(self, contact_id: str, rev: Any, seq: Any, ok: bool) -> None:
        """The infodoc's `transitions.create_user_for_contacts` (after a 409, on the fresh infodoc)."""
        info_id = infodoc.infodoc_id(contact_id)
        for _ in range(WRITE_ATTEMPTS):
            info = self.sentinel.get(info_id) or infodoc.blank(contact_id)
            infodoc.record_run(info, NAME, rev, seq, ok, utc_iso(self.now))
            try:
                self.sentinel.put(info)
                return
            except Conflict:
                continue
        raise Conflict(409, "conflict", f"still conflicting after {WRITE_ATTEMPTS} attempts", f"PUT {info_id}")
