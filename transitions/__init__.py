"""Sentinel's transitions: one module each, run in the order of `AVAILABLE` (CHT's order).

A transition module provides:

    name: str                                   # its key under settings.transitions
    config_key: str                             # optional: the settings section it reads (default: name)
    runs_once: bool | "until_ok"                # optional, default True: the pipeline skips it on a doc
                                                # whose infodoc already records it; "until_ok": unless
                                                # that run failed; False: its filter alone decides
    doc_types: tuple[str, ...]                  # optional: the only `type`s it can apply to (checked
                                                # before hydration, so other docs cost nothing)
    check_config(section, settings) -> list[str]  # optional: every problem with its configuration
    config_warnings(section, settings) -> list[str]  # optional: what CHT would silently ignore in it
    prefetch(docs, batch) -> None               # optional: bulk-load what run() will look up for
                                                # these (raw) docs, via batch.prefetch_phones/...
    filter(doc, ctx) -> bool                    # cheap, no side effects
    run(doc, ctx) -> bool                       # may change `doc` in place; True iff it did
    on_delete(doc_id, ctx) -> None              # optional: react to a deleted document

`doc` is the hydrated document; `ctx` is a `sentinel.core.context.Context`. Transitions never talk to
CouchDB: they read through `ctx` and stage writes to other documents with `ctx.stage()`.
"""

# Execution order. New transitions are added here, in CHT's relative order.
AVAILABLE = (
    "update_clinics",
    "self_report",
    "registration",
    "accept_patient_reports",
    "accept_case_reports",
    "generate_shortcode_on_contacts",
    "generate_patient_id_on_people",
    "appointment_reminders",  # ours: before default_responses, which leaves a yes/no reply it handled alone
    "default_responses",
    "update_sent_by",
    "update_sent_forms",  # not in CHT 4's list (deprecated there); kept after update_sent_by
    "death_reporting",
    "conditional_alerts",
    "multi_report_alerts",
    "update_notifications",
    "update_scheduled_reports",
    "resolve_pending",
    "muting",
    "mark_for_outbound",
    "create_user_for_contacts",
    "milestone_tracking",  # ours (MOTECH schedule tracking), after CHT's
    "order_planning",  # ours (eFORSK automatic orders): after death_reporting and registration
)

# CHT transitions that a settings doc may enable but that Sentinel does not run, with the reason: an
# enabled one is a settings warning, not a problem (CHT deployments enable them for CHT API's sake).
NOT_RUN: dict[str, str] = {}
