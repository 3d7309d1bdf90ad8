"""Outgoing messages on reports: `tasks` with CHT's shape, and errors with rendered text.

This is the core every talking transition shares (CHT's lib/messages + message-utils):

    task = {"messages": [{"uuid", "to", "message"}], "state": "pending",
            "state_history": [{"state": "pending", "timestamp": ISO}]}

Text comes from `translation_key` (the settings' translations, falling back to English, then the
key) or from an inline `message` (`[{locale, content}]` or a string); it is rendered with Mustache,
HTML escaping off. A message whose text cannot be found gets `error` instead of `message`.

Recipients here: `reporting_unit`/`from` (the sender), a field name or dotted path of the report, or a
literal phone number; anything else falls back to the sender. The registration issue grows this into
the full recipient rules, deny lists and duplicate limits.
"""
from __future__ import annotations

import re
import uuid
from functools import lru_cache
from typing import Any, Mapping

import pystache

from .docs import Doc, add_error, fields_of, utc_iso

EMPTY_MESSAGE_ERROR = "messages.errors.message.empty"
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{3,}$")
_renderer = pystache.Renderer(escape=lambda s: s, missing_tags="ignore")


@lru_cache(maxsize=2048)
def _parsed(template: str) -> Any:
    return pystache.parse(template)


def _no_nulls(value: Any) -> Any:
    """pystache renders None as "None"; CHT's mustache renders nothing."""
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value]
    return value


def render(template: str, context: Mapping[str, Any]) -> str:
    return _renderer.render(_parsed(template), _no_nulls(dict(context)))


def template_context(doc: Doc, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Extras first, then the report's fields, then its top-level keys (earlier sources win)."""
    context: dict[str, Any] = {}
    for source in (extra or {}, fields_of(doc), doc):
        for key, value in source.items():
            context.setdefault(key, value)
    return context


def message_text(config: Mapping[str, Any], locale: str, settings: Any) -> str | None:
    """The unrendered text of a message config, or None when there is none."""
    key = config.get("translation_key")
    if isinstance(key, str) and key:
        return settings.translate(key, locale) or None  # CHT: a missing translation reads as its key
    message = config.get("message", config.get("messages"))
    if isinstance(message, str):
        return message or None
    if isinstance(message, list):
        entries = [m for m in message if isinstance(m, dict) and isinstance(m.get("content"), str)]
        chosen = next((m for m in entries if m.get("locale") == locale), entries[0] if entries else None)
        return chosen["content"].strip() if chosen and chosen["content"].strip() else None
    return None


def resolve_recipient(doc: Doc, recipient: Any) -> Any:
    """The phone number a message goes to (see the module docstring for the rules supported here)."""
    sender = doc.get("from")
    if sender is None and isinstance(doc.get("contact"), dict):
        sender = doc["contact"].get("phone")
    candidates = recipient if isinstance(recipient, list) else [recipient]
    for candidate in candidates:
        if not isinstance(candidate, str) or not candidate:
            continue
        if candidate in ("reporting_unit", "from"):
            if sender:
                return sender
            continue
        fields = fields_of(doc)
        if isinstance(fields.get(candidate), (str, int)):
            return fields[candidate]
        value: Any = doc
        for part in candidate.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return value
        if _PHONE.match(candidate):
            return candidate
    return sender


def add_message(doc: Doc, config: Mapping[str, Any], recipient: Any, settings: Any, now: Any, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Append an immediate message task to `doc.tasks` and return it."""
    locale = settings.locale_for(doc)
    text = message_text(config, locale, settings)
    entry: dict[str, Any] = {"uuid": str(uuid.uuid4()), "to": resolve_recipient(doc, recipient)}
    if text is None:
        entry["error"] = EMPTY_MESSAGE_ERROR
    else:
        entry["message"] = render(text, template_context(doc, extra))
    task = {"messages": [entry], "state": "pending", "state_history": [{"state": "pending", "timestamp": utc_iso(now)}]}
    if not isinstance(doc.get("tasks"), list):
        doc["tasks"] = []
    doc["tasks"].append(task)
    return task


def add_rendered_error(doc: Doc, code: str, text: str | None, extra: Mapping[str, Any] | None = None) -> bool:
    """CHT messages.addError: the error's message is rendered with the report as context."""
    message = render(text, template_context(doc, extra)) if text else code
    return add_error(doc, {"code": code, "message": message})


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


def add_rejection_message(doc: Doc, report_config: Mapping[str, Any], error_key: str, settings: Any, now: Any) -> None:
    """CHT addRejectionMessage: a message to the sender *and* an error, both for `error_key`.

    The message is the report config's first message with `event_type == error_key`, else the
    translation `messages.generic.<error_key>`; it goes to that message's recipient, else the sender.
    """
    messages = report_config.get("messages") if isinstance(report_config, Mapping) else None
    config = next(
        (m for m in messages or [] if isinstance(m, dict) and m.get("event_type") == error_key),
        None,
    )
    message_config: Mapping[str, Any] = config or {"translation_key": f"messages.generic.{error_key}"}
    locale = settings.locale_for(doc)
    error_text = message_text(message_config, locale, settings) or message_config.get("translation_key")
    add_message(doc, message_config, (config or {}).get("recipient") or "from", settings, now)
    add_rendered_error(doc, error_key, error_text)
