"""CHT's tolerance for odd values in app settings, applied before validation.

Reads:  the raw `settings` object of the settings document (before `settings/defaults.json`).
Writes: nothing; `tolerate()` returns a normalised copy and one warning per value it changed.

Real configurations carry values CHT never chokes on: `"synthetic_date": ""` (CHT's own test
configuration), hours written as strings, `"forms": []`, a transition enabled with `"true"`. CHT reads
each of these with JavaScript's `||`, truthiness or `moment`'s number coercion and runs on. Refusing
them would switch a whole deployment off for a key CHT ignores, so each is normalised here the way CHT
reads it, and a warning with the JSON path tells the configurator what was ignored or coerced. Values
CHT would misread (an hour that is not a number, a message limit of "abc") are left alone, so the
schema or the transition's own check fails the settings closed with the problem named.

`RULES` is the table the README prints (key, what CHT does, what Sentinel does); each rule's code is
the function of the same key below.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any, Callable, Mapping

from sentinel.core.clock import synthetic_parts
from sentinel.core.docs import js_truthy

ABSENT = object()  # a normaliser's answer: drop the key (CHT reads it as unset)

# key -> (what CHT does, what Sentinel does); the README's table, kept beside the code it describes
RULES: dict[str, tuple[str, str]] = {
    "synthetic_date": (
        "`date.js`: used only when a `(\\d{4})(\\d{2})(\\d{2})(\\d{2})?(\\d{2})?` match is found; `\"\"`, "
        "`null` or unreadable text mean the real date",
        "the same: `\"\"` or unreadable text is dropped with a warning, a number is read as its digits",
    ),
    "schedule_morning_hours / _minutes, schedule_evening_hours / _minutes": (
        "`config.get(k) || default`, then `moment.hours(v)`: `\"\"`/`null` give the default, `\"7\"` is 7",
        "the same, with a warning for `\"\"` and for a number written as a string; text that is no number "
        "or a value out of range fails closed (CHT's send window would be wrong)",
    ),
    "multipart_sms_limit": (
        "`config.get(k) || 10`; a numeric string compares as a number",
        "`\"\"` or 0 → 10 and `\"5\"` → 5 with a warning; other text fails closed (CHT would cut every message)",
    ),
    "locale, locale_outgoing": (
        "`doc.locale || locale_outgoing || locale || 'en'`: `\"\"` falls through",
        "`\"\"` or a non-string is dropped with a warning",
    ),
    "gateway_number, default_country_code": (
        "compared or concatenated as text; `\"\"` means none",
        "`\"\"` is dropped, a number is read as text (gateway_number), with a warning",
    ),
    "sms": (
        "read as `config.sms && config.sms.x`: a non-object has no keys",
        "a non-object is dropped with a warning",
    ),
    "forms": (
        "`config.forms && config.forms[code]`: `[]` or `\"\"` has no forms; a form that is not an object is "
        "no form; `public_form` is read by truthiness",
        "the same, each with a warning: `forms` or a form of the wrong type is dropped, `public_form` becomes "
        "its JavaScript truthiness",
    ),
    "contact_types": (
        "`Array.isArray(contact_types) ? contact_types : []`; an entry without an `id` never matches",
        "a non-list is dropped (the hard-coded hierarchy applies, as in CHT), an entry without a string `id` "
        "is dropped, `parents` that is not a list is dropped; each with a warning",
    ),
    "transitions": (
        "`transitions[name]` enabled when truthy and `!disable`; a non-object `transitions` enables none; "
        "an unknown name stops every transition (`Unknown transition`)",
        "the same: any value counts by JavaScript truthiness (`\"true\"`, `1`; a warning says so), "
        "`disable` too; an unknown name fails closed, as in CHT",
    ),
    "update_clinics": (
        "`_.findWhere(update_clinics, {form})`: an entry without a `form` never matches",
        "such an entry is dropped with a warning; a non-list fails closed",
    ),
    "registrations, patient_reports, schedules, alerts, notifications, muting, death_reporting, "
    "self_report, accept_case_reports, multi_report_alerts, default_responses, reminders, outbound, "
    "outgoing_phone_filters, outgoing_phone_replace": (
        "read as `config.get(k) || []` / `|| {}` by the transition that uses it: `\"\"` is none",
        "`\"\"` is dropped with a warning; any other wrong type is the transition's own check "
        "(fail closed where CHT's `init` throws, e.g. `muting` without `mute_forms`)",
    ),
    "date_format, reported_date_format, phone_validation, outgoing_deny_list, outgoing_deny_shorter_than, "
    "outgoing_deny_with_alphas, forms_only_mode": (
        "`value || default`, `parseInt`, JavaScript truthiness",
        "read the same way where they are used (no warning: nothing is ignored)",
    ),
    "transitions.create_user_for_contacts": (
        "`init` throws without `token_login.enabled` or `app_url`: every transition stops",
        "the same, with CHT's messages; the replacement itself is made by the `user_replacement` job",
    ),
    "translations (a list: CHT 2.x)": (
        "CHT 3's upgrade moved these texts into `messages-<locale>` docs; CHT 4 reads only the docs",
        "read as translations under the docs' texts (a doc's text wins), with one warning: an old "
        "configuration loaded as it is keeps its texts",
    ),
    "timezone, max_overdue, milestone_schedules, milestone_enrollments, order_jobs, appointment_reminders": (
        "not CHT keys (Sentinel's own features)",
        "checked strictly: any problem fails closed with its JSON path (nobody's CHT configuration has them)",
    ),
    "transitions.generate_patient_id_on_people": (
        "runs, logging that it is deprecated since 3.8",
        "runs as `generate_shortcode_on_contacts`, with a settings warning saying so",
    ),
    "a key CHT does not read": (
        "ignored (settings hold keys for the webapp, API, tasks and targets)",
        "ignored silently",
    ),
    "`null` for any key": (
        "`_.defaults` leaves it, `config.get(k) || default` reads the default",
        "read as absent, silently (CHT's own defaults write `synthetic_date: null`)",
    ),
}


def readme_table() -> str:
    """`RULES` as the README's markdown table (a test keeps the README's copy equal to this)."""
    lines = ["| Key | CHT | Sentinel |", "|---|---|---|"]
    lines += [f"| {key} | {cht} | {ours} |" for key, (cht, ours) in RULES.items()]
    return "\n".join(lines)


def _where(path: tuple[Any, ...]) -> str:
    return "settings" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


class _Normaliser:
    """Collects the warnings of one `tolerate()` call."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, path: tuple[Any, ...], value: Any, what: str) -> None:
        self.warnings.append(f"{_where(path)}: {_shown(value)} {what}")

    # --- scalars --------------------------------------------------------------------------------
    def empty_as_absent(self, path: tuple[Any, ...], value: Any) -> Any:
        if value == "":
            self.warn(path, value, "is read as unset, as CHT reads it")
            return ABSENT
        return value

    def integer(self, path: tuple[Any, ...], value: Any, default_note: str, zero_is_unset: bool = False) -> Any:
        """CHT's `value || default` then a number coercion: `""` → unset, `"7"` → 7, 7.9 → 7 (and 0 →
        unset where the default is not 0: `0 || 10` is 10)."""
        if value == "" or (zero_is_unset and value == 0 and not isinstance(value, bool)):
            self.warn(path, value, f"is read as unset ({default_note}), as CHT reads it")
            return ABSENT
        if isinstance(value, str) and re.fullmatch(r"\s*[0-9]+\s*", value):
            self.warn(path, value, f"is a number written as text; read as {int(value)}, as CHT reads it")
            return int(value)
        if isinstance(value, float) and not isinstance(value, bool) and math.isfinite(value) and value != int(value):
            self.warn(path, value, f"is not a whole number; read as {int(value)}, as CHT's moment reads it")
            return int(value)
        if isinstance(value, float) and math.isfinite(value):
            return int(value)
        return value  # anything else is the schema's to refuse

    def synthetic_date(self, path: tuple[Any, ...], value: Any) -> Any:
        if value == "":
            self.warn(path, value, "is read as unset (the real date), as CHT reads it")
            return ABSENT
        if synthetic_parts(value) is None:
            self.warn(path, value, "is not a date Sentinel can read (YYYYMMDD[HH[MM]]); the real date is used, as CHT does for text it cannot read")
            return ABSENT
        if not isinstance(value, str):
            self.warn(path, value, f"is a number; read as the text {str(value)!r}, as CHT reads it")
        return str(value).strip()

    def locale(self, path: tuple[Any, ...], value: Any) -> Any:
        if value == "" or not isinstance(value, str):
            self.warn(path, value, "is no locale code; read as unset (the next locale applies), as CHT reads it")
            return ABSENT
        return value

    def text(self, path: tuple[Any, ...], value: Any) -> Any:
        if value == "":
            self.warn(path, value, "is read as unset, as CHT reads it")
            return ABSENT
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.warn(path, value, f"is a number; read as the text {str(value)!r}")
            return str(value)
        return value

    def object_or_absent(self, path: tuple[Any, ...], value: Any) -> Any:
        if isinstance(value, dict):
            return value
        self.warn(path, value, "is not an object; read as unset, as CHT reads it")
        return ABSENT

    # --- sections -------------------------------------------------------------------------------
    def forms(self, path: tuple[Any, ...], value: Any) -> Any:
        if not isinstance(value, dict):
            self.warn(path, value, "is not an object of forms; read as no forms, as CHT reads it")
            return ABSENT
        forms = {}
        for code, form in value.items():
            if not isinstance(form, dict):
                self.warn(path + (code,), form, "is not a form definition; the form is ignored, as in CHT")
                continue
            form = dict(form)
            public = form.get("public_form")
            if public is not None and not isinstance(public, bool):
                self.warn(path + (code, "public_form"), public, f"is read by JavaScript truthiness as {js_truthy(public)}, as in CHT")
                form["public_form"] = js_truthy(public)
            for key in ("fields", "meta"):
                if key in form and form[key] is not None and not isinstance(form[key], dict):
                    self.warn(path + (code, key), form[key], "is not an object; read as unset")
                    del form[key]
            forms[code] = form
        return forms

    def contact_types(self, path: tuple[Any, ...], value: Any) -> Any:
        if not isinstance(value, list):
            self.warn(path, value, "is not a list; read as unset (the hard-coded hierarchy), as CHT reads it")
            return ABSENT
        types = []
        for i, entry in enumerate(value):
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry.get("id"):
                self.warn(path + (i,), entry, "has no string `id`; no contact can be of this type, so it is ignored")
                continue
            entry = dict(entry)
            if "parents" in entry and entry["parents"] is not None and not isinstance(entry["parents"], list):
                self.warn(path + (i, "parents"), entry["parents"], "is not a list of type ids; read as unset")
                del entry["parents"]
            if "person" in entry and entry["person"] is not None and not isinstance(entry["person"], bool):
                self.warn(path + (i, "person"), entry["person"], f"is read by JavaScript truthiness as {js_truthy(entry['person'])}")
                entry["person"] = js_truthy(entry["person"])
            types.append(entry)
        return types

    def update_clinics(self, path: tuple[Any, ...], value: Any) -> Any:
        if not isinstance(value, list):
            return value  # the transition's check refuses it
        kept = []
        for i, entry in enumerate(value):
            if isinstance(entry, dict) and isinstance(entry.get("form"), str) and entry["form"]:
                kept.append(entry)
            else:
                self.warn(path + (i,), entry, "names no `form`; no report matches it, so it is ignored, as in CHT")
        return kept

    def transitions(self, path: tuple[Any, ...], value: Any) -> Any:
        if not isinstance(value, dict):
            self.warn(path, value, "is not an object; no transition is enabled, as in CHT")
            return ABSENT
        result = {}
        for name, conf in value.items():
            if conf is None or isinstance(conf, bool):
                result[name] = conf
            elif isinstance(conf, dict):
                disable = conf.get("disable")
                if disable is not None and not isinstance(disable, bool):
                    self.warn(path + (name, "disable"), disable, f"is read by JavaScript truthiness as {js_truthy(disable)}, as in CHT")
                    conf = {**conf, "disable": js_truthy(disable)}
                result[name] = conf
            else:
                enabled = js_truthy(conf)
                state = "enabled" if enabled else "disabled"
                self.warn(path + (name,), conf, f"is read by JavaScript truthiness: the transition is {state}, as in CHT")
                result[name] = enabled
        return result


# Sections read by CHT as `config.get(k) || <empty>`: an empty string is no section at all.
_SECTIONS = (
    "registrations", "patient_reports", "schedules", "alerts", "notifications", "muting", "death_reporting",
    "self_report", "accept_case_reports", "multi_report_alerts", "default_responses", "reminders", "outbound",
    "outgoing_phone_filters", "outgoing_phone_replace",
)

_TOP_LEVEL: dict[str, Callable[[_Normaliser, tuple[Any, ...], Any], Any]] = {
    **{section: _Normaliser.empty_as_absent for section in _SECTIONS},
    "synthetic_date": _Normaliser.synthetic_date,
    "schedule_morning_hours": lambda n, p, v: n.integer(p, v, "0"),
    "schedule_morning_minutes": lambda n, p, v: n.integer(p, v, "0"),
    "schedule_evening_hours": lambda n, p, v: n.integer(p, v, "23"),
    "schedule_evening_minutes": lambda n, p, v: n.integer(p, v, "0"),
    "multipart_sms_limit": lambda n, p, v: n.integer(p, v, "10 parts", zero_is_unset=True),
    "locale": _Normaliser.locale,
    "locale_outgoing": _Normaliser.locale,
    "gateway_number": _Normaliser.text,
    "default_country_code": _Normaliser.empty_as_absent,
    "sms": _Normaliser.object_or_absent,
    "forms": _Normaliser.forms,
    "contact_types": _Normaliser.contact_types,
    "transitions": _Normaliser.transitions,
    "update_clinics": _Normaliser.update_clinics,
}


def tolerate(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(normalised copy of the settings, warnings). `null` values are left for `merge_defaults`."""
    normaliser = _Normaliser()
    result: dict[str, Any] = {}
    for key, value in raw.items():
        rule = _TOP_LEVEL.get(key)
        if rule is None or value is None:
            result[key] = value
            continue
        normalised = rule(normaliser, (key,), value)
        if normalised is not ABSENT:
            result[key] = normalised
    return result, normaliser.warnings


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else _json(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)
