"""CHT's `muting` transition: a mute/unmute report mutes or unmutes its patient or place and all the
contacts under it, with their schedules; a new contact under a muted place is muted; muting done
offline by the webapp is replayed (spec 2.6, 3.4, 3.8; CHT muting.js).

Reads:  the report (hydrated: patient, place); settings `muting`, `contact_types`; descendants
        (view `sentinel/contacts_by_ancestor`), registrations (`reports_by_subject`), infodocs; for
        replays, the replayed reports (hydrated) and their infodocs.
Writes: on the report: `tasks` (the configured replies) and `errors`; on contacts: `muted`,
        `muting_history.server_side`/`last_update`; on their registrations: task states; on their
        infodocs: `muting_history` (see `sentinel.programs.muting`); on replayed reports: `tasks`, and their
        infodocs' `transitions.muting` ({last_rev, ok, run_date}: no seq, as CHT).
Config: muting: {mute_forms: [form], unmute_forms?: [form], validations?: {join_responses, list},
        messages?: [{event_type: mute|unmute|already_muted|already_unmuted|contact_not_found,
        recipient, translation_key | message}]}
        (`transitions.muting: {client_side: false}` switches off the webapp's offline muting only;
        Sentinel replays whatever arrives marked.)

Reports: the form matches one of `mute_forms`/`unmute_forms` (CHT isFormCodeSame), a valid submission
(an xform, a public form, or a known sender), muting not run on it yet. No patient/place: the
`contact_not_found` message's text as an error (or `Failed to complete muting request, event type
"contact_not_found" misconfigured.`) and that message. Then validations (errors and one reply). A
subject already in the wanted state gets `already_muted`/`already_unmuted` and nothing else changes,
unless the report was applied offline (`client_side_transitions.muting`): then, as any other, the
mute or unmute runs and the `mute`/`unmute` message is added. Messages without a configured entry are
not sent; a message already on the report is not added again (replays).

Offline reports: after the mute/unmute, every offline event that followed this report in the
`muting_history.client_side` of the contacts it went through is replayed, in CHT's order (by date):
each such report is re-read from the batch (hydrated afresh, so it sees the state the previous
replay left) and, if it still is a relevant mute/unmute report, the whole report logic runs on it
again, even if muting already ran on it, without replaying further; it is saved with its reply and
its infodoc records the run, so its own change (now or later) does not run muting again. A report
not in the database yet is skipped (it replays the others when it arrives). The report being
processed may be in its own queue (circular histories): it is then run again in place.

Contacts: a contact of a configured type that is new under a muted place (not muted, a muted ancestor,
muted before its `initial_replication_date` when the infodoc has a real one, no infodoc
`muting_history`), or whose `muting_history.last_update` is `client_side` (muted or unmuted offline),
goes through `sentinel.programs.muting.process_contact`. Runs whenever the filter says so (`runs_once =
False`): a contact muted offline after Sentinel already processed it must be processed again, as in
CHT; processing sets `last_update: server_side`, so it runs once per offline update.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

from sentinel.core import lineage

from sentinel.programs import muting

from sentinel.rules import validation
from sentinel.core.context import Context
from sentinel.core.docs import HARDCODED_TYPES, Doc, clone, is_report, utc_iso
from sentinel.core.errors import TransientError
from sentinel.messaging.messages import add_error_message, add_errors, add_message, message_text
from sentinel.programs.registrations import form_matches

name = "muting"
config_key = "muting"
doc_types = ("data_record", "contact", *HARDCODED_TYPES)
runs_once = False  # the filter decides: reports once (hasRun), contacts on every offline update

log = logging.getLogger(__name__)

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


def _is_relevant_report(doc: Doc, ctx: Context, replaying: bool = False) -> bool:
    """CHT isRelevantReport; a replay passes CHT's empty infodoc (`{}`): muting may have run on it."""
    config = _config(ctx)
    return (
        is_report(doc)
        and bool(doc.get("form"))
        and (is_mute_form(config, doc.get("form")) or is_unmute_form(config, doc.get("form")))
        and (replaying or not ctx.has_run(name))
        and ctx.settings.is_valid_submission(doc)
    )


def _is_relevant_contact(doc: Doc, ctx: Context) -> bool:
    """CHT isRelevantContact: new under a muted place, or last updated offline."""
    return ctx.settings.contact_type(doc) is not None and (
        muting.is_new_contact_with_muted_parent(doc, ctx.info) or muting.is_last_updated_by_client(doc)
    )


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001 - the transition interface's name
    if is_report(doc):
        return _is_relevant_report(doc, ctx)
    return _is_relevant_contact(doc, ctx)


def run(doc: Doc, ctx: Context) -> bool:
    if not is_report(doc):
        return muting.process_contact(ctx, doc)
    for report_id in _on_match(doc, ctx, may_replay=True):
        _replay(report_id, doc, ctx)
    return True


def _on_match(doc: Doc, ctx: Context, may_replay: bool) -> list[Any]:
    """CHT onMatch for a report (`ctx.info` is the report's infodoc); the reports to replay after it."""
    config = _config(ctx)
    mute = is_mute_form(config, doc.get("form"))
    contact = doc.get("patient") or doc.get("place")
    if not contact:
        _add_error(doc, ctx, config, "contact_not_found")
        _add_message(doc, ctx, config, "contact_not_found")
        return []
    errors = validation.validate_report(ctx, doc, config.get("validations"))
    if errors:
        add_errors(doc, ctx, config, errors, {"patient": doc.get("patient"), "place": doc.get("place")})
        return []
    offline = muting.was_processed_client_side(doc)
    if bool(contact.get("muted")) is mute and not offline:  # already in the wanted state: nothing else changes
        _add_message(doc, ctx, config, "already_muted" if contact.get("muted") else "already_unmuted")
        return []
    queue = muting.update_mute_state(ctx, contact, mute, doc["_id"], doc, replay=offline and may_replay)
    _add_message(doc, ctx, config, "mute" if mute else "unmute")
    return queue


def _replay(report_id: Any, current: Doc, ctx: Context) -> None:
    """CHT replayClientMutingEvents for one report id: run the report logic on it again, as it is now."""
    if report_id == current.get("_id"):  # its own later event (CHT re-reads it and races its own save)
        _refresh_subjects(current, ctx)
        _on_match(current, ctx, may_replay=False)
        return
    stored = ctx.load(report_id) if isinstance(report_id, str) else None
    if stored is None:  # not synced yet: it replays what follows it when it arrives
        return
    report = ctx.batch.hydrated(stored)
    info = ctx.infodocs([report_id])[report_id]
    # the replayed report's own infodoc (has_run, messages), its writes staged for the change at hand
    replay_ctx = Context(ctx.batch, ctx.doc_id, None, info)
    if not _is_relevant_report(report, replay_ctx, replaying=True):
        return
    try:
        _on_match(report, replay_ctx, may_replay=False)
    except TransientError:
        raise
    except Exception as exc:  # CHT: the replayed report gets nothing saved; the others go on
        log.error("Replaying muting report %s for %s failed: %s: %s", report_id, ctx.doc_id, type(exc).__name__, exc)
        return
    recorded = info.get("transitions") if isinstance(info.get("transitions"), dict) else {}
    info["transitions"] = {**recorded, name: {"last_rev": stored.get("_rev"), "ok": True, "run_date": utc_iso(ctx.now)}}
    ctx.stage_infodoc(report_id)
    ctx.stage(lineage.minify(report))


def _refresh_subjects(doc: Doc, ctx: Context) -> None:
    """Re-hydrate `doc`'s patient and place from the batch, which earlier replays have changed."""
    fresh = ctx.batch.hydrated(lineage.minify(clone(doc)))
    for key in ("patient", "place"):
        if fresh.get(key) is not None:
            doc[key] = fresh[key]
        else:
            doc.pop(key, None)


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
