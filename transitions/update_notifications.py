"""CHT's `update_notifications` transition (deprecated in CHT 3.2 for `muting`): an "off" report mutes
its patient or place and everything under it, an "on" report unmutes them (spec 2.6, 3.8; CHT
update_notifications.js). The muting itself is `sentinel.programs.muting`, shared with `muting`.

Reads:  the report (hydrated: patient, place); settings `notifications`.
Writes: on the report: `tasks`, `errors`; contacts, registrations and infodocs as `muting` does.
Config: notifications: {on_form, off_form, validations?, messages?: [{event_type: on_mute|on_unmute|
        patient_not_found, recipient, translation_key | message}]}

How it differs from `muting`:
- one form each way, matched the other way round (CHT `isFormCodeSame(config form, doc form)`: junk
  around the *report's* code is tolerated);
- validations come first, then the subject: none gives the `patient_not_found` message's text as an
  error with code `notification_error`, and that message;
- a subject already in the wanted state gets the same `on_mute`/`on_unmute` reply (there is no
  already_* event), and nothing else changes;
- an event without a configured message gives the error `{code: notification_error, message: Failed to
  complete notification request, event type "<event>" misconfigured.}` instead of a reply;
- the reply's template context has the subject as `patient` and empty `registrations`;
- it does not mute new contacts created under a muted place (only `muting` does).
"""
from __future__ import annotations

from typing import Any, Mapping

from sentinel.programs import muting

from sentinel.rules import validation
from sentinel.core.context import Context
from sentinel.core.docs import Doc, is_report
from sentinel.messaging.messages import add_error_message, add_errors, add_message, message_text
from sentinel.programs.registrations import form_matches

name = "update_notifications"
config_key = "notifications"
doc_types = ("data_record",)
ERROR_CODE = "notification_error"


def _config(ctx: Any) -> Mapping[str, Any]:
    section = ctx.settings.section(config_key)
    return section if isinstance(section, Mapping) else {}


def check_config(section: Any, settings: Any) -> list[str]:
    if section is None:
        return []
    if not isinstance(section, Mapping):
        return [f"{config_key}: must be an object with on_form and off_form"]
    if section.get("validations") is not None:
        return validation.validations_problems(section.get("validations"), f"{config_key}.validations")
    return []


def event(config: Mapping[str, Any], form: Any) -> bool | None:
    """True for the off form (mute), False for the on form (unmute), None for any other."""
    on, off = config.get("on_form"), config.get("off_form")
    if isinstance(on, str) and on and form_matches(on, form):
        return False
    if isinstance(off, str) and off and form_matches(off, form):
        return True
    return None


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001 - the transition interface's name
    # CHT's filter does not look at the form; its onMatch then does nothing (and records nothing)
    # for other forms. Checking the form here has the same outcome.
    return (
        is_report(doc)
        and bool(doc.get("form"))
        and not ctx.has_run(name)
        and ctx.settings.is_valid_submission(doc)
        and event(_config(ctx), doc.get("form")) is not None
    )


def run(doc: Doc, ctx: Context) -> bool:
    config = _config(ctx)
    mute = event(config, doc.get("form"))
    if mute is None:
        return False
    errors = validation.validate_report(ctx, doc, config.get("validations"))
    if errors:
        add_errors(doc, ctx, config, errors, {"patient": doc.get("patient"), "place": doc.get("place")})
        return True
    contact = doc.get("patient") or doc.get("place")
    if not contact:
        _add_error(doc, ctx, config, "patient_not_found")
        _add_message(doc, ctx, config, "patient_not_found", None)
        return True
    if bool(contact.get("muted")) is not mute:
        muting.update_mute_state(ctx, contact, mute, doc["_id"], doc)
    _add_message(doc, ctx, config, "on_mute" if mute else "on_unmute", contact)
    return True


def _event_config(config: Mapping[str, Any], event_type: str) -> Mapping[str, Any] | None:
    messages = config.get("messages")
    return next((m for m in messages if isinstance(m, Mapping) and m.get("event_type") == event_type), None) if isinstance(messages, list) else None


def _add_message(doc: Doc, ctx: Context, config: Mapping[str, Any], event_type: str, patient: Any) -> None:
    found = _event_config(config, event_type)
    if found is None:
        _add_error(doc, ctx, config, event_type)
        return
    add_message(doc, ctx, found, found.get("recipient"), key=f"{name}:{event_type}",
                extra={"patient": patient, "registrations": []})


def _add_error(doc: Doc, ctx: Context, config: Mapping[str, Any], event_type: str) -> None:
    text = message_text(_event_config(config, event_type) or {}, ctx.settings.locale_for(doc), ctx.settings)
    message = text or f'Failed to complete notification request, event type "{event_type}" misconfigured.'
    add_error_message(doc, {"code": ERROR_CODE, "message": message}, ctx)
