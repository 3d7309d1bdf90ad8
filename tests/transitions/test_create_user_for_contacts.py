"""create_user_for_contacts (CHT 4.1 user replacement) and the `user_replacement` job.

The transition queues `task:user-replacement:<contact id>` (sentinel database) for a person contact
whose `user_for_contact.replaced.status` is READY; the job (run here with `tick`) creates the new
token-login user in the server's `_users` database and the main database, writes the login SMS doc,
deletes the original user and marks the contact COMPLETE or ERROR. Everything runs against the real
PouchDB Server, whose `_users` database hashes passwords and answers `_session` logins as CouchDB's
does (the server runs without admins configured: every request is an admin's). CHT's observable
results are those of its integration test tests/integration/sentinel/transitions/
create_user_for_contacts.spec.js.
"""
from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

import httpx
import pytest

from sentinel.jobs import user_replacement
from sentinel.core.errors import ConfigError, TransientError
from sentinel.daemon.settings_check import build
from transitions import create_user_for_contacts

from ..support import Clock, ClockedWorld, drain

T0 = datetime(2024, 3, 4, 10, 0, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)
DAY_MS = 24 * 60 * 60 * 1000
APP_URL = "https://cht.example.org/"  # a trailing slash: CHT strips it
HELP = "Hi {{fullname}}, tap the link below to log in as {{name}}."
USER_PREFIX = "org.couchdb.user:"
ORIGINAL_PASSWORD = "Sup3rSecret!-not-in-the-log"

CLINIC = {"_id": "clinic", "type": "clinic", "name": "Clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}
HIERARCHY = [
    {"_id": "district", "type": "district_hospital", "name": "District"},
    {"_id": "health_center", "type": "health_center", "name": "Health Center", "parent": {"_id": "district"}},
    CLINIC,
]
LINEAGE = {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}
NEW_PERSON = {"_id": "new_person", "type": "person", "name": "New Person", "phone": "+254712345678", "parent": LINEAGE}
SETTINGS = {
    "transitions": {"create_user_for_contacts": True},
    "token_login": {"enabled": True, "translation_key": "sms.token.login.help"},
    "app_url": APP_URL,
}


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def original_person(doc_id: str = "original_person", **extra: Any) -> dict[str, Any]:
    return {"_id": doc_id, "type": "person", "name": "Original Person", "parent": LINEAGE, **extra}


def ready(by: Any = "new_person", status: str = "READY") -> dict[str, Any]:
    replaced = {"status": status} if by is None else {"by": by, "status": status}
    return {"replaced": replaced}


# --- the world: databases, _users and a Sentinel with a clock ----------------------------------------


@pytest.fixture
def users(server) -> Iterator[Any]:
    """The server's `_users` database (shared by the whole session): users created by a test are deleted after it."""
    db = server.db("_users")
    before = {row["id"] for row in db.all_docs_range(USER_PREFIX, USER_PREFIX + "\ufff0", include_docs=False)}
    yield db
    for row in db.all_docs_range(USER_PREFIX, USER_PREFIX + "\ufff0", include_docs=False):
        if row["id"] not in before:
            db.delete_doc(row["id"], row["value"]["rev"])


@pytest.fixture
def world(main, sentinel_db, make_runner):
    main.bulk_docs([dict(d) for d in HIERARCHY])
    main.put({"_id": "messages-en", "type": "translations", "code": "en", "generic": {"sms.token.login.help": HELP}})

    def make(settings: dict[str, Any] | None = None, docs: list[dict[str, Any]] = ()) -> ClockedWorld:
        if docs:
            main.bulk_docs([dict(d) for d in docs])
        clock = Clock(T0)
        runner = make_runner(settings or SETTINGS, clock=clock)
        if runner.current is not None:
            drain(runner)
        return ClockedWorld(main, sentinel_db, runner, clock)

    return make


@pytest.fixture
def original_user(main, users) -> Callable[..., str]:
    """original_user(contact_id) creates a CHT user (`_users` + user-settings docs) for the contact; its name."""

    def make(contact_id: str = "original_person", roles: list[str] | None = None) -> str:
        name = f"original_{uuid.uuid4().hex[:8]}"
        users.put({"_id": USER_PREFIX + name, "name": name, "type": "user", "password": ORIGINAL_PASSWORD,
                   "roles": roles or ["chw"], "facility_id": "clinic"})
        main.put({"_id": USER_PREFIX + name, "name": name, "type": "user-settings", "fullname": "Original Person",
                  "roles": roles or ["chw"], "facility_id": "clinic", "contact_id": contact_id})
        return name

    return make


def can_log_in(pouchdb, name: str, password: str) -> bool:
    return httpx.post(f"{pouchdb.url}/_session", json={"name": name, "password": password}).status_code == 200


def user_settings_of(w: ClockedWorld, contact_id: str) -> list[dict[str, Any]]:
    rows = w.main.all_docs_range(USER_PREFIX, USER_PREFIX + "\ufff0")
    return [r["doc"] for r in rows if r["doc"].get("type") == "user-settings" and r["doc"].get("contact_id") == contact_id]


def token_docs(w: ClockedWorld) -> list[dict[str, Any]]:
    return [r["doc"] for r in w.main.all_docs_range("token:login:", "token:login:\ufff0")]


def new_users(users, prefix: str = "new-person-") -> list[dict[str, Any]]:
    return [r["doc"] for r in users.all_docs_range(USER_PREFIX + prefix, USER_PREFIX + prefix + "\ufff0")]


def task(w: ClockedWorld, contact_id: str = "original_person") -> dict[str, Any] | None:
    return w.sentinel.get(f"task:user-replacement:{contact_id}")


def status(w: ClockedWorld, contact_id: str = "original_person") -> Any:
    return w.doc(contact_id)["user_for_contact"]["replaced"]["status"]


def tick(w: ClockedWorld, at: datetime = T0 + MINUTE) -> None:
    assert w.tick(at)[user_replacement.JOB] is None


def replace(w: ClockedWorld, contact_id: str = "original_person", by: Any = "new_person") -> None:
    w.edit(contact_id, user_for_contact=ready(by))


def assert_replaced_once(w: ClockedWorld, users, pouchdb, original: str) -> dict[str, Any]:
    """One new token-login user for new_person, one login SMS, the original user gone, the contact COMPLETE."""
    [settings_doc] = user_settings_of(w, "new_person")
    assert [u["_id"] for u in new_users(users)] == [settings_doc["_id"]]
    assert len(token_docs(w)) == 1
    assert users.get(USER_PREFIX + original) is None
    assert not can_log_in(pouchdb, original, ORIGINAL_PASSWORD)
    assert status(w) == "COMPLETE" and "errors" not in w.doc("original_person")
    assert task(w) is None
    return settings_doc


# --- a replacement -----------------------------------------------------------------------------------


def test_a_ready_contact_is_queued_and_not_changed_by_the_transition(world, original_user, users):
    original_user()
    w = world(docs=[original_person(), NEW_PERSON])
    replace(w)

    assert status(w) == "READY"
    assert task(w) == {"_id": "task:user-replacement:original_person", "_rev": task(w)["_rev"], "type": "task:user-replacement",
                       "created": ms(T0), "contact_id": "original_person", "replaced_by": "new_person", "seq": task(w)["seq"]}
    assert "create_user_for_contacts" not in w.sentinel.get("original_person-info")["transitions"]
    assert user_settings_of(w, "new_person") == []


def test_a_ready_contact_gets_a_new_token_login_user_for_its_replacement_and_the_original_user_is_deleted(
        world, original_user, users, pouchdb):
    original = original_user()
    w = world(docs=[original_person(), NEW_PERSON])
    assert can_log_in(pouchdb, original, ORIGINAL_PASSWORD)
    replace(w)
    replaced_rev = w.doc("original_person")["_rev"]

    tick(w)

    at, expires = ms(T0 + MINUTE), ms(T0 + MINUTE) + DAY_MS
    settings_doc = assert_replaced_once(w, users, pouchdb, original)
    username = settings_doc["name"]
    assert re.fullmatch(r"new-person-\d{4}", username)
    assert settings_doc == {"_id": USER_PREFIX + username, "_rev": settings_doc["_rev"], "name": username, "type": "user-settings",
                            "fullname": "New Person", "phone": "+254712345678", "roles": ["chw"], "facility_id": "clinic",
                            "contact_id": "new_person", "token_login": {"active": True, "expiration_date": expires}}
    user = users.get(USER_PREFIX + username)
    token = user["token_login"]["token"]
    assert {k: user[k] for k in ("name", "type", "roles", "facility_id", "token_login")} == {
        "name": username, "type": "user", "roles": ["chw"], "facility_id": "clinic",
        "token_login": {"active": True, "token": token, "expiration_date": expires}}
    assert "password" not in user and user["password_scheme"]  # the server hashed it
    assert len(token) == 64

    [sms] = token_docs(w)
    assert {k: sms[k] for k in ("_id", "type", "reported_date", "user")} == {
        "_id": f"token:login:{token}", "type": "token_login", "reported_date": at, "user": USER_PREFIX + username}
    help_task, link_task = sms["tasks"]
    assert [t["state"] for t in sms["tasks"]] == ["pending", "pending"]
    assert help_task["messages"][0]["to"] == link_task["messages"][0]["to"] == "+254712345678"
    assert help_task["messages"][0]["message"] == f"Hi New Person, tap the link below to log in as {username}."
    assert link_task["messages"][0]["message"] == f"https://cht.example.org/medic/login/token/{token}"

    original_settings = w.main.get(USER_PREFIX + original)
    assert original_settings["inactive"] is True and original_settings["deletion_date"] == at
    assert users.get(USER_PREFIX + original) is None  # deleted
    record = w.sentinel.get("original_person-info")["transitions"]["create_user_for_contacts"]
    assert record["ok"] is True and record["last_rev"] == replaced_rev


def test_the_original_users_roles_are_kept_and_the_online_role_follows_cht(world, original_user, users):
    original_user(roles=["manager"])
    w = world({**SETTINGS, "roles": {"manager": {"offline": False}}}, docs=[original_person(), NEW_PERSON])
    replace(w)
    tick(w)

    [settings_doc] = user_settings_of(w, "new_person")
    assert settings_doc["roles"] == ["manager", "mm-online"]  # an online role: CHT adds mm-online
    assert users.get(settings_doc["_id"])["roles"] == ["manager", "mm-online"]


def test_a_token_login_config_without_text_sends_the_link_and_is_a_settings_warning(world, original_user, users):
    settings = {**SETTINGS, "token_login": {"enabled": True}}
    assert any(w.startswith("settings.token_login: neither translation_key nor message") for w in build(settings)[0].warnings)
    original_user()
    w = world(settings, docs=[original_person(), NEW_PERSON])
    replace(w)
    tick(w)

    [sms] = token_docs(w)
    help_task, link_task = sms["tasks"]
    assert help_task["messages"][0]["error"] == "messages.errors.message.empty" and "message" not in help_task["messages"][0]
    assert link_task["messages"][0]["message"].startswith("https://cht.example.org/medic/login/token/")
    assert status(w) == "COMPLETE"


def test_the_batch_that_queues_a_replacement_wakes_the_job(world, original_user, users):
    original_user()
    w = world(docs=[original_person(), NEW_PERSON])
    woken: list[set[str]] = []
    w.runner.job_listeners.append(woken.append)  # the daemon's scheduler listens here (sentinel/daemon/cli.py)
    replace(w)
    assert {user_replacement.JOB} in woken


# --- once only: re-runs and crashes --------------------------------------------------------------------


def test_running_the_job_again_creates_nothing_more(world, original_user, users, pouchdb):
    original = original_user()
    w = world(docs=[original_person(), NEW_PERSON])
    replace(w)
    tick(w)
    first = user_settings_of(w, "new_person")

    tick(w, T0 + 10 * MINUTE)
    w.edit("original_person", name="Original Person (edited)")  # a later revision: COMPLETE, not READY
    tick(w, T0 + 20 * MINUTE)

    assert user_settings_of(w, "new_person") == first
    assert_replaced_once(w, users, pouchdb, original)


def test_processing_the_ready_change_again_before_the_job_ran_queues_nothing_more(world, original_user, users, pouchdb):
    original = original_user()
    w = world(docs=[original_person(), NEW_PERSON])
    before = w.runner.checkpoint.value
    replace(w)
    queued = task(w)
    w.runner.checkpoint.save(before)  # a crash before the checkpoint moved: the batch comes again
    drain(w.runner)
    assert task(w) == queued

    tick(w)
    assert_replaced_once(w, users, pouchdb, original)


CRASH_POINTS = {
    "after the plan is saved": ("_carry_out", "before"),
    "after the _users doc": ("_create_user", "after"),
    "after the user-settings doc": ("_create_user_settings", "after"),
    "after the token, before the login SMS": ("_token_login_doc", "before"),
    "after token login": ("_enable_token_login", "after"),
    "after the original user is deleted": ("_delete_original", "after"),
    "after the contact is written, before the infodoc": ("_record_run", "before"),
}


@pytest.mark.parametrize("method, when", CRASH_POINTS.values(), ids=CRASH_POINTS.keys())
def test_a_crash_at_any_point_and_a_second_run_replace_the_user_once(world, original_user, users, pouchdb, monkeypatch,
                                                                     method, when):
    original = original_user()
    w = world(docs=[original_person(), NEW_PERSON])
    replace(w)
    real = getattr(user_replacement._Job, method)

    def crashing(self, *args, **kwargs):
        if when == "after":
            real(self, *args, **kwargs)
        raise TransientError("simulated crash")

    monkeypatch.setattr(user_replacement._Job, method, crashing)
    assert w.tick(T0 + MINUTE)[user_replacement.JOB] == "TransientError: simulated crash"  # the run died there
    assert task(w)["plan"]["username"].startswith("new-person-")  # the identity was fixed before anything was made
    monkeypatch.setattr(user_replacement._Job, method, real)

    tick(w, T0 + 2 * MINUTE)
    settings_doc = assert_replaced_once(w, users, pouchdb, original)
    token = users.get(settings_doc["_id"])["token_login"]["token"]
    assert token_docs(w)[0]["_id"] == f"token:login:{token}"  # the link sent is the one that logs in
    assert w.sentinel.get("original_person-info")["transitions"]["create_user_for_contacts"]["ok"] is True


def test_a_username_taken_by_someone_else_after_the_plan_is_an_error_not_a_second_user(world, original_user, users, pouchdb,
                                                                                     monkeypatch):
    original = original_user()
    w = world(docs=[original_person(), NEW_PERSON])
    replace(w)
    def crash(self, plan):
        raise TransientError("simulated crash")

    with monkeypatch.context() as patch:  # the run dies once the plan is saved
        patch.setattr(user_replacement._Job, "_carry_out", crash)
        w.tick(T0 + MINUTE)
    username = task(w)["plan"]["username"]
    users.put({"_id": USER_PREFIX + username, "name": username, "type": "user", "password": "0ther-Pass!", "roles": ["admin"]})

    tick(w, T0 + 2 * MINUTE)

    assert status(w) == "ERROR"
    assert w.doc("original_person")["errors"][0]["message"] == (
        f'Transition error on create_user_for_contacts: Error creating new user: "Username \\"{username}\\" already taken."')
    assert users.get(USER_PREFIX + username)["roles"] == ["admin"]  # theirs, untouched
    assert user_settings_of(w, "new_person") == [] and can_log_in(pouchdb, original, ORIGINAL_PASSWORD)


# --- errors --------------------------------------------------------------------------------------------

ERRORS = {
    "the new contact has no name": ({**NEW_PERSON, "name": None}, "new_person",
                                    "Replacement contact [new_person] must have a name."),
    "the new contact has no phone": ({k: v for k, v in NEW_PERSON.items() if k != "phone"}, "new_person",
                                     'Error creating new user: "Missing required fields: phone"'),
    "the new contact's phone is invalid": ({**NEW_PERSON, "phone": 12345}, "new_person",
                                           'Error creating new user: "A valid phone number is required for SMS login."'),
    "no replacement contact id": (NEW_PERSON, None, "No id was provided for the new replacement contact."),
    "the new contact does not exist": (NEW_PERSON, "nobody", "Failed to find person."),
    "the new contact is a place": (NEW_PERSON, "clinic", "Failed to find person."),
    "the new contact's place does not exist": ({**NEW_PERSON, "parent": {"_id": "nowhere"}}, "new_person",
                                               "Failed to find place."),
}


@pytest.mark.parametrize("new_person, by, message", ERRORS.values(), ids=ERRORS.keys())
def test_a_replacement_that_cannot_be_made_sets_error_on_the_contact_and_keeps_the_original_user(
        world, original_user, users, pouchdb, new_person, by, message):
    original = original_user()
    w = world(docs=[original_person(), new_person])
    replace(w, by=by)
    tick(w)

    contact = w.doc("original_person")
    assert contact["user_for_contact"]["replaced"]["status"] == "ERROR"
    assert contact["errors"] == [{"code": "create_user_for_contacts_error'",
                                  "message": f"Transition error on create_user_for_contacts: {message}"}]
    assert user_settings_of(w, "new_person") == [] and new_users(users) == [] and token_docs(w) == []
    assert can_log_in(pouchdb, original, ORIGINAL_PASSWORD)  # untouched
    assert w.sentinel.get("original_person-info")["transitions"]["create_user_for_contacts"]["ok"] is False
    assert task(w) is None


def test_a_contact_without_a_user_gets_error(world, users):
    w = world(docs=[original_person(), NEW_PERSON])
    replace(w)
    tick(w)

    assert status(w) == "ERROR"
    assert w.doc("original_person")["errors"][0]["message"] == (
        "Transition error on create_user_for_contacts: Failed to find user setting with contact_id [original_person].")


def test_a_contact_set_ready_again_after_an_error_is_tried_again(world, original_user, users, pouchdb):
    original = original_user()
    w = world(docs=[original_person(), {**NEW_PERSON, "name": None}])
    replace(w)
    tick(w)
    assert status(w) == "ERROR"

    w.edit("new_person", name="New Person")
    replace(w)
    tick(w, T0 + 2 * MINUTE)

    assert status(w) == "COMPLETE"
    assert len(user_settings_of(w, "new_person")) == 1
    assert users.get(USER_PREFIX + original) is None


# --- which contacts -------------------------------------------------------------------------------------

IGNORED = {
    "status PENDING": original_person(user_for_contact=ready(status="PENDING")),
    "status COMPLETE": original_person(user_for_contact=ready(status="COMPLETE")),
    "status ERROR": original_person(user_for_contact=ready(status="ERROR")),
    "no user_for_contact": original_person(),
    "replaced is not an object": original_person(user_for_contact={"replaced": "READY"}),
    "a place marked READY": {**CLINIC, "_id": "original_person", "user_for_contact": ready()},
}


@pytest.mark.parametrize("contact", IGNORED.values(), ids=IGNORED.keys())
def test_a_contact_that_is_not_a_ready_person_is_ignored(world, original_user, users, pouchdb, contact):
    original = original_user()
    w = world(docs=[NEW_PERSON])
    stored = w.save(contact)
    tick(w)

    assert w.doc("original_person") == stored
    assert task(w) is None
    assert "create_user_for_contacts" not in w.sentinel.get("original_person-info")["transitions"]
    assert user_settings_of(w, "new_person") == [] and can_log_in(pouchdb, original, ORIGINAL_PASSWORD)


def test_a_disabled_transition_queues_nothing_and_its_queue_waits(world, original_user, users):
    original_user()
    w = world({**SETTINGS, "transitions": {"create_user_for_contacts": {"disable": True}}}, docs=[original_person(), NEW_PERSON])
    replace(w)
    assert task(w) is None
    w.sentinel.put({"_id": "task:user-replacement:original_person", "type": "task:user-replacement", "created": 0,
                    "contact_id": "original_person", "replaced_by": "new_person", "seq": None})
    tick(w)
    assert task(w) is not None and status(w) == "READY" and user_settings_of(w, "new_person") == []


# --- settings: fail closed as CHT's init ------------------------------------------------------------------

TOKEN_LOGIN = create_user_for_contacts.TOKEN_LOGIN_PROBLEM
APP_URL_ = create_user_for_contacts.APP_URL_PROBLEM
BAD_SETTINGS = {
    "no token_login": ({"app_url": APP_URL}, [TOKEN_LOGIN]),
    "token_login not enabled": ({"token_login": {"enabled": False}, "app_url": APP_URL}, [TOKEN_LOGIN]),
    "token_login not an object": ({"token_login": True, "app_url": APP_URL}, [TOKEN_LOGIN]),
    "no app_url": ({"token_login": {"enabled": True}}, [APP_URL_]),
    "an empty app_url": ({"token_login": {"enabled": True}, "app_url": ""}, [APP_URL_]),
    "neither": ({}, [TOKEN_LOGIN, APP_URL_]),
}


@pytest.mark.parametrize("values, problems", BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_settings_without_token_login_or_app_url_fail_closed_with_chts_message(values, problems):
    with pytest.raises(ConfigError) as err:
        build({"transitions": {"create_user_for_contacts": True, "update_sent_by": True}, **values})
    assert err.value.problems == [f"create_user_for_contacts: {p}" for p in problems]


def test_a_truthy_enabled_and_an_app_url_are_enough():
    _, transitions = build({"transitions": {"create_user_for_contacts": True}, "token_login": {"enabled": "true"},
                            "app_url": "http://localhost:5988"})
    assert [t.name for t in transitions] == ["create_user_for_contacts"]


def test_on_a_server_bad_settings_stop_every_transition_and_nothing_is_queued(world, original_user, users):
    original_user()
    w = world({"transitions": {"create_user_for_contacts": True, "update_sent_by": True}, "app_url": APP_URL},
              docs=[original_person(user_for_contact=ready()), NEW_PERSON])
    assert w.runner.current is None
    assert f"create_user_for_contacts: {TOKEN_LOGIN}" in w.runner.config_error.problems
    w.runner.step()
    assert task(w) is None and w.sentinel.get("original_person-info") is None


# --- logs -------------------------------------------------------------------------------------------------


def test_passwords_tokens_and_login_links_never_appear_in_the_logs(world, original_user, users, monkeypatch, caplog):
    secrets_made: list[str] = []
    real = user_replacement._random_text

    def recording(length: int) -> str:
        secrets_made.append(real(length))
        return secrets_made[-1]

    monkeypatch.setattr(user_replacement, "_random_text", recording)
    caplog.set_level(logging.DEBUG)  # httpx's request lines included
    original_user()
    w = world(docs=[original_person(), NEW_PERSON])
    replace(w)
    tick(w)
    tick(w, T0 + 2 * MINUTE)

    [settings_doc] = user_settings_of(w, "new_person")
    token = users.get(settings_doc["_id"])["token_login"]["token"]
    assert token in secrets_made and len(secrets_made) >= 2  # the password and the token candidates
    assert "replaced by new-person-" in caplog.text
    for secret in [*secrets_made, ORIGINAL_PASSWORD, "/medic/login/token/", "token:login:"]:
        assert secret not in caplog.text


# --- CHT's rules, without a database ----------------------------------------------------------------------


@pytest.mark.parametrize("name, expected", [
    ("New Person", "new-person"),
    ("  Élodie   Mbappé ", "elodie-mbappe"),
    ("O'Brien, Jr.", "obrien-jr"),
    ("Anna ?", "anna-"),  # CHT trims before removing characters
    ("Zoë_Ngũgĩ 2", "zoengugi-2"),
])
def test_usernames_are_chts_generate_username(name, expected):
    assert user_replacement.username_base(name) == expected
    assert user_replacement.generate_username(name, 42) == f"{expected}-0042"
    assert re.fullmatch(re.escape(expected) + r"-\d{4}", user_replacement.generate_username(name))


@pytest.mark.parametrize("roles, configured, expected", [
    (["chw"], {}, ["chw"]),  # a role not configured counts as offline
    (["chw", "mm-online"], {}, ["chw", "mm-online"]),  # the online role makes it online
    (["chw"], {"chw": {"offline": True}}, ["chw"]),
    (["manager"], {"manager": {"offline": False}}, ["manager", "mm-online"]),
    (["manager", "chw"], {"manager": {}, "chw": {"offline": True}}, ["manager", "chw"]),
])
def test_the_new_users_roles_follow_chts_online_role_rule(roles, configured, expected):
    settings, _ = build({"roles": configured})
    assert user_replacement.user_roles(roles, settings) == expected
