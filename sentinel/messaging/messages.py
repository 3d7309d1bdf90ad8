"""Outgoing messages: the one message library every talking transition uses (CHT lib/messages +
message-utils + task-utils).

Shapes (spec 3.1, 3.2):

    task = {"messages": [{"uuid", "to"?, "message"?, "original_message"?, "error"?}],
            "state": "pending", "state_history": [{"state": "pending", "timestamp": ISO}]}

- Text: a `translation_key` (the `messages-<locale>` docs, falling back to English, then to the key)
  or an inline `messages || message` (`[{locale, content}]`, the locale's entry else the first,
  trimmed; or a plain string, as it is). `add_message` reads only `translation_key` and `message` of
  its config, as CHT's addMessage does. Locale: `doc.locale || doc.sms_message.locale ||
  locale_outgoing || locale || en`. A text that is empty, or that is the translation key itself (no
  translation anywhere), gives the message `error: messages.errors.message.empty` and no `message`.
- Rendering: `templates` (CHT's context, Mustache with escaping off, the date lambdas). Texts longer
  than `multipart_sms_limit` parts (default 10) are truncated, ending in `...`, keeping
  `original_message`.
- Recipient: `recipients.resolve` (CHT's rules over the template context), then the outgoing phone
  replace/filter rules; `to` is left out when nothing resolves. A filter that is not a valid regex,
  or a template that cannot be parsed, gives the report a `parse_error` and adds no message.
- Initial state of an immediate task: `denied` when the report's sender (`doc.from`) is denied
  (gateway number, deny list, too short, letters), else `duplicate` beyond `sms.duplicate_limit`
  identical messages to that number in a run, each less than 30 minutes after the previous one
  (`history`, persisted; a denied message is not counted), else `pending`.
- Idempotence: a caller passes a `key` naming the message within its transition run
  (e.g. "registration:messages:0"); the message's uuid is derived from the document id and that key,
  and a message already present with that uuid is not added again. So a change processed again after
  a crash (its write landed, its infodoc did not) adds no second message.

Reads and writes: only the documents given (and the batch's duplicate-message history).
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any, Iterable, Mapping

from sentinel.core import clock, phones

from sentinel.messaging import recipients, sms_parts, templates
from sentinel.core.docs import Doc, add_error, js_truthy, utc_iso

log = logging.getLogger(__name__)

EMPTY_MESSAGE_ERROR = "messages.errors.message.empty"
PATIENT_MISSING_ERROR = "messages.errors.patient.missing"
PLACE_MISSING_ERROR = "messages.errors.place.missing"
_UUID_NAMESPACE = uuid.UUID("6f1c8a52-3f59-4c55-9b0e-8f8f4d1f0a77")  # Sentinel's messages


# --- text ------------------------------------------------------------------------------------------


def _translation_key(config: Any) -> Any:
    if not isinstance(config, Mapping):
        return None
    return config.get("translation_key") or config.get("translationKey")


def message_text(config: Mapping[str, Any], locale: str, settings: Any) -> str:
    """The unrendered text of a message config ("" when there is none). CHT `getMessage`:
    `translation_key || translationKey` through the translations, else `messages || message`."""
    if not isinstance(config, Mapping):
        return ""
    key = _translation_key(config)
    if isinstance(key, str) and key:
        return settings.translate(key, locale)
    message = config.get("messages") if js_truthy(config.get("messages")) else config.get("message")
    if isinstance(message, list):
        if not message:
            return ""
        chosen = next((m for m in message if isinstance(m, Mapping) and m.get("locale") == locale), message[0])
        content = chosen.get("content") if isinstance(chosen, Mapping) else None
        return content.strip() if isinstance(content, str) else ""
    return message if isinstance(message, str) else ""


def has_text(config: Mapping[str, Any], locale: str, settings: Any) -> bool:
    """A message config that would give text (a translation key always does: the key itself)."""
    return bool(message_text(config, locale, settings))


def template_context(doc: Doc, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """CHT `extendedTemplateContext`. `extra`: patient, place, registrations, place_registrations,
    template_context (next_msg, parent, ...). Only a patient or place given here counts as one (as in
    CHT); the report's own hydrated `patient` is then just one of its keys."""
    extra = extra or {}
    return templates.build_context(
        doc,
        recipients.ancestors,
        patient=extra.get("patient"),
        place=extra.get("place"),
        registrations=extra.get("registrations") or (),
        place_registrations=extra.get("place_registrations") or (),
        extra=extra.get("template_context"),
    )


def render(template: str, context: Mapping[str, Any], locale: str, settings: Any) -> str:
    values = settings.values
    return templates.render(
        template,
        context,
        locale=locale,
        settings=values,
        to_datetime=lambda value: _as_datetime(value, settings),
        local_phone=lambda phone: phones.local_phone(values, phone),
    )


def _as_datetime(value: Any, settings: Any) -> Any:
    moment = clock.parse_date(value, settings)
    return moment.astimezone(clock.zone(settings)) if moment is not None else None


# --- generating ------------------------------------------------------------------------------------


def message_uuid(doc: Doc, key: str | None) -> str:
    if key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_UUID_NAMESPACE, f"{doc.get('_id')}/{key}"))


def generate(
    doc: Doc,
    config: Mapping[str, Any],
    recipient: Any,
    settings: Any,
    extra: Mapping[str, Any] | None = None,
    key: str | None = None,
) -> list[dict[str, Any]]:
    """CHT `messageUtils.generate`: `[{uuid, to?, message | error, original_message?}]`.

    `recipient` None means none (the sender, as CHT's `generate` with an undefined recipient);
    `add_message` passes `reporting_unit` instead, as CHT's addMessage does.
    Raises `re.error` for an invalid `outgoing_phone_filters` pattern and `templates.TemplateError`
    for a template that cannot be parsed (callers record a parse_error).
    """
    extra = extra or {}
    locale = settings.locale_for(doc)
    context = template_context(doc, extra)
    values = settings.values
    to = recipients.resolve(
        context,
        recipient,
        sender=None,
        default_to_sender=recipients.default_to_sender_setting(values),
        settings=values,
    )
    entry: dict[str, Any] = {"uuid": message_uuid(doc, key)}
    if to is not None:  # JS `to: undefined` is not written
        entry["to"] = to
    template = message_text(config, locale, settings)
    text = render(template, context, locale, settings) if template else ""
    translation_key = _translation_key(config)
    if not text or (translation_key and text == translation_key):
        entry["error"] = EMPTY_MESSAGE_ERROR
        return [entry]
    entry["message"], truncated = sms_parts.truncate(text, settings.get("multipart_sms_limit"))
    if truncated:
        entry["original_message"] = text
    if not extra.get("patient") and extra.get("registrations"):
        entry["error"] = PATIENT_MISSING_ERROR
    if not extra.get("place") and extra.get("place_registrations"):
        entry["error"] = PLACE_MISSING_ERROR
    return [entry]


def find_message(doc: Doc, message_id: str, lists: Iterable[str] = ("tasks", "scheduled_tasks")) -> dict[str, Any] | None:
    """The task holding a message with this uuid, if any."""
    for name in lists:
        for task in doc.get(name) or []:
            if isinstance(task, dict) and any(isinstance(m, dict) and m.get("uuid") == message_id for m in task.get("messages") or []):
                return task
    return None


def initial_state(doc: Doc, entry: Mapping[str, Any], ctx: Any) -> str:
    """`denied` (the sender is denied), `duplicate` (over the limit), else `pending` (CHT messageStatus)."""
    if recipients.initial_state_for_sender(ctx.settings.values, doc.get("from")) == "denied":
        return "denied"
    if ctx.batch.history.is_duplicate(entry.get("to"), entry.get("message"), ctx.now, ctx.settings):
        return "duplicate"
    return "pending"


def add_message(
    doc: Doc,
    ctx: Any,
    config: Mapping[str, Any],
    recipient: Any = None,
    *,
    key: str | None = None,
    extra: Mapping[str, Any] | None = None,
    task_fields: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Append an immediate message task to `doc.tasks` and return it (CHT `messages.addMessage`).

    `ctx` is the transition's Context (settings, now, the duplicate history). `recipient` None is
    `reporting_unit` (CHT's default parameter). Only the config's `translation_key` and `message` are
    read, as CHT does. With `key`, a message already added under that key is returned instead of
    adding a second one. `task_fields` are extra keys of the task (type, form, alert_name, ...). A
    bad outgoing phone filter or template records a parse_error on the report and adds nothing
    (returns None); `doc.tasks` exists afterwards either way, as in CHT.
    """
    if not isinstance(doc.get("tasks"), list):
        doc["tasks"] = []
    if key is not None:
        existing = find_message(doc, message_uuid(doc, key), ("tasks",))
        if existing is not None:
            return existing
    config = config if isinstance(config, Mapping) else {}
    content = {k: v for k, v in (("translationKey", config.get("translation_key")), ("message", config.get("message"))) if v is not None}
    try:
        generated = generate(doc, content, "reporting_unit" if recipient is None else recipient, ctx.settings, extra, key)
    except (re.error, templates.TemplateError) as exc:
        # CHT: `e.message + ': ' + messageConfig.translation_key` (JS prints a missing key as undefined)
        what = config.get("translation_key")
        add_error(doc, {"code": "parse_error", "message": f"{exc}: {what if what is not None else 'undefined'}"})
        return None
    task: dict[str, Any] = {"messages": generated, **(task_fields or {})}
    set_task_state(task, initial_state(doc, generated[0], ctx), ctx.now)
    doc["tasks"].append(task)
    return task


# --- errors and rejections ----------------------------------------------------------------------


def _json_stringify(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def add_error_message(doc: Doc, error: Any, ctx: Any, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """CHT `messages.addError`: the error's message is a template, rendered with the report's context
    (`extra` as for a message) and added with `utils.addError` (not when the rendered text is empty,
    nor when an error with that code is already there; code `invalid_report` when it has none).

    `error` is a string (code and message) or `{code, message}`; an error without a message gets
    `Error: <the error as JSON>`. The message may also be an inline `[{locale, content}]` list.
    A template that cannot be parsed records a `parse_error` instead. Returns the error as rendered.
    """
    if isinstance(error, str):
        error = {"code": error, "message": error}
    elif isinstance(error, Mapping):
        error = dict(error)
        if not js_truthy(error.get("message")):
            error["message"] = "Error: " + _json_stringify(error)
    else:
        error = {"message": "Error: " + _json_stringify(error)}
    try:
        template = message_text({"message": error["message"]}, ctx.settings.locale_for(doc), ctx.settings)
        error["message"] = render(template, template_context(doc, extra), ctx.settings.locale_for(doc), ctx.settings) if template else ""
    except templates.TemplateError as exc:
        add_error(doc, {"message": f"{exc}: {_json_stringify(error)}", "code": "parse_error"})
        return error
    if js_truthy(error.get("message")):
        add_error(doc, error)
    return error


def add_errors(doc: Doc, ctx: Any, report_config: Mapping[str, Any], errors: list[Any],
               extra: Mapping[str, Any] | None = None, key: str = "validation") -> None:
    """CHT `messages.addErrors`: every error on the doc (rendered, see `add_error_message`), and ONE
    reply to the reporting unit: the first error's rendered text, or, with
    `validations.join_responses`, all of them joined by two spaces. The reply is an inline message
    (rendered again, without `extra`, as CHT does)."""
    errors = [e for e in errors or [] if e]
    if not errors:
        return
    texts = []
    for error in errors:
        rendered = add_error_message(doc, error, ctx, extra)
        # CHT reads `err.message || err`: a string error as it was given, an object's rendered text
        texts.append(error if isinstance(error, str) else rendered.get("message"))
    validations = report_config.get("validations") if isinstance(report_config, Mapping) else None
    join = isinstance(validations, Mapping) and js_truthy(validations.get("join_responses"))
    reply = "  ".join(t for t in texts if isinstance(t, str) and t) if join else texts[0]
    add_message(doc, ctx, {"message": reply if isinstance(reply, str) else ""}, "reporting_unit", key=key)


def add_rejection_message(doc: Doc, ctx: Any, report_config: Mapping[str, Any], error_key: str,
                          extra: Mapping[str, Any] | None = None) -> None:
    """CHT addRejectionMessage: a message to the sender *and* an error, both for `error_key`.

    The message is the report config's first message with `event_type == error_key`, else the
    translation `messages.generic.<error_key>`; it goes to that message's recipient, else `from`
    (the report's `fields.from` or `from`, else the contact's phone). The error's text is that
    message's unrendered text (rendered as the error is added).
    """
    messages = report_config.get("messages") if isinstance(report_config, Mapping) else None
    candidates = messages if isinstance(messages, list) else []
    found = next((m for m in candidates if isinstance(m, Mapping) and m.get("event_type") == error_key), None)
    message_config: Mapping[str, Any] = found or {"translation_key": f"messages.generic.{error_key}"}
    error_text = message_text(message_config, ctx.settings.locale_for(doc), ctx.settings)
    recipient = found.get("recipient") if found is not None and js_truthy(found.get("recipient")) else "from"
    add_message(doc, ctx, message_config, recipient, key=f"rejection:{error_key}", extra=extra)
    add_error_message(doc, {"message": error_text, "code": error_key}, ctx, extra)


def add_success_message(doc: Doc, ctx: Any, report_config: Mapping[str, Any], event_type: str,
                        extra: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """CHT addSuccessMessage: the report config's first message of `event_type`, to its recipient."""
    messages = report_config.get("messages") if isinstance(report_config, Mapping) else None
    config = next((m for m in messages or [] if isinstance(m, dict) and m.get("event_type") == event_type), None)
    if config is None:
        return None
    return add_message(doc, ctx, config, config.get("recipient"), key=f"success:{event_type}", extra=extra)


# --- states ----------------------------------------------------------------------------------------


def set_task_state(task: dict[str, Any], state: str, now: Any, details: str | None = None, gateway_ref: str | None = None) -> bool:
    """CHT task-utils setTaskState: change state and append history; False when nothing changes.

    Absent details and gateway refs are omitted, never written as null.
    """
    history = task.get("state_history")
    if not isinstance(history, list):
        history = task["state_history"] = []
    same_last = bool(history) and isinstance(history[-1], dict) and history[-1].get("state") == state
    if (
        task.get("state") == state
        and same_last
        and (not details or task.get("state_details") == details)
        and (not gateway_ref or task.get("gateway_ref") == gateway_ref)
    ):
        return False
    task["state"] = state
    entry: dict[str, Any] = {"state": state}
    for key, value in (("state_details", details), ("gateway_ref", gateway_ref)):
        if value is None:
            task.pop(key, None)
        else:
            task[key] = value
    if details is not None:
        entry["state_details"] = details
    entry["timestamp"] = utc_iso(now)
    history.append(entry)
    return True


def is_muted(contact: Any) -> bool:
    """A contact muted itself or through a muted ancestor (its hydrated parent chain)."""
    node, depth = contact, 0
    while isinstance(node, dict) and depth < 50:
        if node.get("muted"):
            return True
        node, depth = node.get("parent"), depth + 1
    return False
