"""CHT's `muting` transition: a mute/unmute report mutes or unmutes its patient or place and all the
contacts under it, with their schedules; a new contact under a muted place is muted (spec 2.6, 3.4,
3.8; CHT muting.js).

Reads:  the report (hydrated: patient, place); settings `muting`, `contact_types`; descendants
        (view `sentinel/contacts_by_ancestor`), registrations (`reports_by_subject`), infodocs.
Writes: on the report: `tasks` (the configured replies) and `errors`; on contacts: `muted`; on their
        registrations: task states; on their infodocs: `muting_history` (see `sentinel.muting`).
Config: muting: {mute_forms: [form], unmute_forms?: [form], validations?: {join_responses, list},
        messages?: [{event_type: mute|unmute|already_muted|already_unmuted|contact_not_found,
        recipient, translation_key | message}]}

Reports: the form matches one of `mute_forms`/`unmute_forms` (CHT isFormCodeSame), a valid submission
(an xform, a public form, or a known sender). No patient/place: the `contact_not_found` message's
text as an error (or `Failed to complete muting request, event type "contact_not_found"
misconfigured.`) and that message. Then validations (errors and one reply). A subject already in the
wanted state gets `already_muted`/`already_unmuted` and nothing else changes; otherwise the mute or
unmute runs and the `mute`/`unmute` message is added. Messages without a configured entry are not sent.

Contacts: a contact (of a configured type) that is not muted, has a muted ancestor (muted before its
`initial_replication_date` when the infodoc has a real one; `unknown` or none matches any), and whose
infodoc has no `muting_history` yet, is muted now with its registrations; its infodoc records the
muted ancestor's last mute report.

Not implemented: CHT's replay of offline (client-side) muting, i.e. reports with
`client_side_transitions.muting` and contacts whose `muting_history.last_update` is `client_side`.
"""
from __future__ import annotations

from typing import Any, Mapping

from sentinel import muting, validation
from sentinel.context import Context
from sentinel.docs import HARDCODED_TYPES, Doc, is_report
from sentinel.messages import add_error_message, add_errors, add_message, message_text
from sentinel.registrations import form_matches

name = "muting"
config_key = "muting"
doc_types = ("data_record", "contact", *HARDCODED_TYPES)

MUTE_PROPERTY = "mute_forms"
UNMUTE_PROPERTY = "unmute_forms"


def _config(ctx_or_settings: Any) -> Mapping[str, Any]:
    settings = getattr(ctx_or_settings, "settings", ctx_or_settings)
    section = settings.section(config_key)
    return section if isinstance(section, Mapping) else {}


def check_config(section: Any, settings: Any) -> list[str]:
    forms = section.get(MUTE_PROPERTY) if isinstance(section, Mapping) else None
    if not isinstance(forms, list) or not forms:
        return [f"Configuration error. Config must define have a '{config_key}.{MUTE_PROPERTY}' array defined."]
    problems: list[str] = []
    unmute = section.get(UNMUTE_PROPERTY)
    if unmute is not None and not isinstance(unmute, list):
        problems.append(f"{config_key}.{UNMUTE_PROPERTY}: must be a list of form codes")
    if section.get("validations") is not None:
        problems += validation.validations_problems(section.get("validations"), f"{config_key}.validations")
    return problems


def _forms(config: Mapping[str, Any], key: str) -> list[Any]:
    forms = config.get(key)
    return forms if isinstance(forms, list) else []


def is_mute_form(config: Mapping[str, Any], form: Any) -> bool:
    return any(form_matches(form, f) for f in _forms(config, MUTE_PROPERTY))


def is_unmute_form(config: Mapping[str, Any], form: Any) -> bool:
    return any(form_matches(form, f) for f in _forms(config, UNMUTE_PROPERTY))


def _is_relevant_report(doc: Doc, ctx: Context) -> bool:
    config = _config(ctx)
    return (
        is_report(doc)
        and bool(doc.get("form"))
        and (is_mute_form(config, doc.get("form")) or is_unmute_form(config, doc.get("form")))
        and not ctx.has_run(name)
        and ctx.settings.is_valid_submission(doc)
    )


def _is_new_contact_with_muted_parent(doc: Doc, ctx: Context) -> bool:
    return (
        not doc.get("muted")
        and muting.is_muted_in_lineage(doc, muting.replication_ms(ctx.info)) is not None
        and not ctx.info.get("muting_history")
        and not muting.is_last_updated_by_client(doc)
    )


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001 - the transition interface's name
    if is_report(doc):
        return _is_relevant_report(doc, ctx)
    return ctx.settings.contact_type(doc) is not None and _is_new_contact_with_muted_parent(doc, ctx)


def run(doc: Doc, ctx: Context) -> bool:
    if not is_report(doc):
        return muting.mute_new_contact(ctx, doc)
    config = _config(ctx)
    mute = is_mute_form(config, doc.get("form"))
    contact = doc.get("patient") or doc.get("place")
    if not contact:
        _add_error(doc, ctx, config, "contact_not_found")
        _add_message(doc, ctx, config, "contact_not_found")
        return True
    errors = ctx.validate(doc, config.get("validations"))
    if errors:
        add_errors(doc, ctx, config, errors, {"patient": doc.get("patient"), "place": doc.get("place")})
        return True
    if bool(contact.get("muted")) is mute:  # already in the wanted state: nothing else changes
        _add_message(doc, ctx, config, "already_muted" if contact.get("muted") else "already_unmuted")
        return True
    muting.update_mute_state(ctx, contact, mute, doc["_id"], doc)
    _add_message(doc, ctx, config, "mute" if mute else "unmute")
    return True


def _event_config(config: Mapping[str, Any], event_type: str) -> Mapping[str, Any] | None:
    messages = config.get("messages")
    return next((m for m in messages if isinstance(m, Mapping) and m.get("event_type") == event_type), None) if isinstance(messages, list) else None


def _add_message(doc: Doc, ctx: Context, config: Mapping[str, Any], event_type: str) -> None:
    found = _event_config(config, event_type)
    if found is not None:
        add_message(doc, ctx, found, found.get("recipient"), key=f"{name}:{event_type}",
                    extra={"patient": doc.get("patient"), "place": doc.get("place")})


def _add_error(doc: Doc, ctx: Context, config: Mapping[str, Any], event_type: str) -> None:
    """CHT `_addErr`: the event's message text as the error (code and message), else a generic one."""
    text = message_text(_event_config(config, event_type) or {}, ctx.settings.locale_for(doc), ctx.settings)
    add_error_message(doc, text or f'Failed to complete muting request, event type "{event_type}" misconfigured.', ctx)
