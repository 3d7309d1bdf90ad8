"""CHT 4's `create_user_for_contacts`, user replacement: a person contact whose user was replaced on a
device (`user_for_contact.replaced: {by: <new contact id>, status: "READY"}`, set by the webapp's
client-side transition) gets its user replaced by a new token-login user for the new contact.

CHT: shared-libs/transitions/src/transitions/create_user_for_contacts.js (4.1, the `replaced` shape),
with shared-libs/user-management (users.js createUser / getUserSettings / deleteUser, token-login.js).

This transition only decides: it stages `task:user-replacement:<contact id>` in the sentinel database
and the scheduled job `user_replacement` (`sentinel/jobs/user_replacement.py`, which describes every
document it writes) creates the new user, sends the login SMS, deletes the original user and sets the
contact's status `COMPLETE` (or `ERROR`, with the error on the contact), woken right after the batch.

- **init** (our `check_config`), as CHT's: fails closed, stopping every transition, when
  `token_login.enabled` is not truthy or `app_url` is not set, with CHT's messages.
- **filter**: a contact of a person type whose `user_for_contact.replaced.status` is `READY`. Like
  CHT's there is no has-run check (our `runs_once = False`): a contact set `READY` again after an
  `ERROR` is tried again.
- **run**: stages the task (`{type, created, contact_id, replaced_by, seq}`) unless one is there
  already (a later revision of a contact still `READY` adds nothing); returns False: the contact is
  only changed by the job, when the replacement is done or has failed.

Reads:  settings `token_login`, `app_url`, `contact_types`; the hydrated contact; its
        `task:user-replacement:` doc (sentinel db, read for the whole batch in one request).
Writes: `task:user-replacement:<contact id>` in the sentinel database, staged with the batch. Nothing
        else: the contact is not changed by the transition (see `sentinel/jobs/user_replacement.py`).
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

from sentinel.jobs import user_replacement
from sentinel.core.context import BatchContext, Context
from sentinel.core.docs import Doc, js_truthy

log = logging.getLogger(__name__)

name = "create_user_for_contacts"
runs_once = False  # CHT's filter has no hasRun check: the status alone decides

TOKEN_LOGIN_PROBLEM = "Configuration error. Token login must be enabled to use the create_user_for_contacts transition."
APP_URL_PROBLEM = "Configuration error. The app_url must be defined to use the create_user_for_contacts transition."


def check_config(section: Any, settings: Any) -> list[str]:
    """CHT's `init`: token login enabled (`token_login.enabled` truthy) and `app_url` set."""
    problems = []
    token_login = settings.get("token_login")
    if not (isinstance(token_login, Mapping) and js_truthy(token_login.get("enabled"))):
        problems.append(TOKEN_LOGIN_PROBLEM)
    if not js_truthy(settings.get("app_url")):
        problems.append(APP_URL_PROBLEM)
    return problems


def config_warnings(section: Any, settings: Any) -> list[str]:
    """Settings warnings: a `token_login` config without text sends the login SMS without its help text."""
    token_login = settings.get("token_login")
    has_text = isinstance(token_login, Mapping) and (js_truthy(token_login.get("translation_key"))
                                                     or js_truthy(token_login.get("message")))
    if isinstance(token_login, Mapping) and not has_text:
        return ["settings.token_login: neither translation_key nor message: the login SMS's help text will be the "
                "message error messages.errors.message.empty (the link is sent as usual)"]
    return []


def _ready(doc: Doc) -> bool:
    return user_replacement.replaced_status(doc) == user_replacement.READY


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001 - the transition interface's name
    return ctx.settings.is_person(doc) and _ready(doc)


def prefetch(docs: list[Doc], batch: BatchContext) -> None:
    batch.sentinel_docs(user_replacement.task_id(d["_id"]) for d in docs if _ready(d))


def run(doc: Doc, ctx: Context) -> bool:
    task_id = user_replacement.task_id(doc["_id"])
    if ctx.sentinel_docs([task_id]):
        return False  # queued already (the job has not finished it yet)
    replaced = doc["user_for_contact"]["replaced"]
    log.info("Queueing the replacement of the user of contact %s", doc["_id"])
    ctx.stage_sentinel_doc(
        {
            "_id": task_id,
            "type": user_replacement.TASK_TYPE,
            "created": int(ctx.now.timestamp() * 1000),
            "contact_id": doc["_id"],
            "replaced_by": replaced.get("by"),
            "seq": ctx.seq,
        },
        job=user_replacement.JOB,
    )
    return False
