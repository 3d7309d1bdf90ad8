"""App settings: read the `settings` document, merge `settings/defaults.json` under it, validate.

Reads:  the main database's `settings` doc (its `settings` key, CHT 3.x shape) and `messages-*` docs.
Writes: the `settings` doc, only when it is missing at start-up (created from defaults) or pushed by
        `sentinel settings push`.

Validation = CHT's tolerance (`settings_tolerance`: values CHT reads leniently are normalised, with a
warning) + `settings/schema.json` + unknown transition names + each enabled transition's own
`check_config`. Any problem makes `build()` raise ConfigError listing *every* problem; the runner then
keeps transitions disabled (fail closed) until a fixed settings doc arrives. Warnings never disable.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import jsonschema

from sentinel.core.couch import CouchDB
from sentinel.core.docs import Doc, js_truthy
from sentinel.core.expressions import Expressions
from sentinel.core.errors import ConfigError, Conflict
from sentinel.core.paths import DEFAULTS_FILE, SCHEMA_FILE

SETTINGS_DOC_ID = "settings"
TRANSLATIONS_PREFIX = "messages-"

_HARDCODED_CONTACT_TYPES: dict[str, dict[str, Any]] = {
    "district_hospital": {"id": "district_hospital"},
    "health_center": {"id": "health_center", "parents": ["district_hospital"]},
    "clinic": {"id": "clinic", "parents": ["health_center"]},
    "person": {"id": "person", "person": True, "parents": ["district_hospital", "health_center", "clinic"]},
}


@lru_cache(maxsize=1)
def load_defaults() -> dict[str, Any]:
    return json.loads(DEFAULTS_FILE.read_text())


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def merge_defaults(doc_settings: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level keys of the doc win over the defaults (lodash `_.defaults`); `null` counts as absent."""
    merged = dict(load_defaults())
    merged.update({k: v for k, v in doc_settings.items() if v is not None})
    return {k: v for k, v in merged.items() if v is not None}


def schema_problems(merged: Mapping[str, Any]) -> list[str]:
    """Every schema violation, one line each, with the JSON path of the offending value."""
    problems = []
    for error in sorted(_validator().iter_errors(merged), key=lambda e: [str(p) for p in e.absolute_path]):
        where = "settings" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        problems.append(f"{where}: {error.message}")
    return problems


def transition_enabled(conf: Any) -> bool:
    """CHT: enabled when truthy (JS truthiness: `{}` counts) and `disable` is not truthy."""
    return js_truthy(conf) and not (isinstance(conf, dict) and js_truthy(conf.get("disable")))


@dataclass(frozen=True)
class Settings:
    """One validated snapshot of the app settings; replaced whole on reload, never mutated."""

    values: Mapping[str, Any]
    rev: str | None = None
    translations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # JavaScript and JsonLogic conditions of this settings load (compiled code is cached per thread)
    expressions: Expressions = field(default_factory=Expressions, compare=False)
    # order job id -> the date Sentinel first saw it (`sentinel/programs/order_registry.py`): the default `created_after`
    order_jobs_seen: Mapping[str, str] = field(default_factory=dict, compare=False)
    # what the settings check ignored, coerced or skipped, one line each with its JSON path
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def get(self, key: str, default: Any = None) -> Any:
        value = self.values.get(key)
        return default if value is None else value

    def section(self, name: str) -> Any:
        return self.values.get(name)

    def transitions_config(self) -> dict[str, Any]:
        conf = self.values.get("transitions")
        return conf if isinstance(conf, dict) else {}

    # --- contact types (CHT contact-types-utils) --------------------------------------------------
    def contact_types(self) -> list[dict[str, Any]]:
        types = self.values.get("contact_types")
        return [t for t in types if isinstance(t, dict)] if isinstance(types, list) else []

    def contact_type(self, doc: Any) -> dict[str, Any] | None:
        if not isinstance(doc, dict):
            return None
        type_id = doc.get("contact_type") if doc.get("type") == "contact" else doc.get("type")
        if not isinstance(type_id, str) or not type_id:
            return None
        configured = self.contact_types()
        if not configured:
            return _HARDCODED_CONTACT_TYPES.get(type_id)
        return next((t for t in configured if t.get("id") == type_id), None)

    @staticmethod
    def is_person_type(contact_type: Mapping[str, Any] | None) -> bool:
        return bool(contact_type) and (bool(contact_type.get("person")) or contact_type.get("id") == "person")

    def type_by_id(self, type_id: Any) -> dict[str, Any] | None:
        """The configured contact type with this id (CHT getTypeById), or a hard-coded one when none are configured."""
        return self.contact_type({"type": "contact", "contact_type": type_id}) if isinstance(type_id, str) else None

    def is_person(self, doc: Any) -> bool:
        return self.is_person_type(self.contact_type(doc))

    def is_place(self, doc: Any) -> bool:
        contact_type = self.contact_type(doc)
        return contact_type is not None and not self.is_person_type(contact_type)

    def is_parent_of(self, parent: Any, child: Any) -> bool:
        """CHT contact-types-utils isParentOf: the child's type lists the parent's type among its parents."""
        parent_type, child_type = self.contact_type(parent), self.contact_type(child)
        parents = child_type.get("parents") if child_type else None
        return bool(parent_type) and isinstance(parents, list) and parent_type.get("id") in parents

    # --- forms, locale, translations --------------------------------------------------------------
    def form(self, code: Any) -> dict[str, Any] | None:
        forms = self.values.get("forms")
        if not isinstance(forms, dict) or not isinstance(code, str):
            return None
        form = forms.get(code)
        return form if isinstance(form, dict) else None

    def is_valid_submission(self, doc: Any) -> bool:
        """CHT utils.isValidSubmission: an app (xml) report, a public form, or a configured form
        (`{}` counts: JavaScript truthiness) sent by a known contact (its phone or its place's contact's)."""
        if not isinstance(doc, dict):
            return False
        if doc.get("type") == "data_record" and doc.get("content_type") == "xml":
            return True
        form = self.form(doc.get("form"))
        if form is None:
            return False
        if js_truthy(form.get("public_form")):
            return True
        contact = doc.get("contact") if isinstance(doc.get("contact"), dict) else {}
        parent = contact.get("parent") if isinstance(contact.get("parent"), dict) else {}
        parent_contact = parent.get("contact") if isinstance(parent.get("contact"), dict) else {}
        return bool(contact.get("phone") or parent_contact.get("phone"))

    def locale_for(self, doc: Mapping[str, Any]) -> str:
        """CHT getLocale: doc.locale || doc.sms_message.locale || locale_outgoing || locale || 'en'."""
        sms = doc.get("sms_message")
        for candidate in (
            doc.get("locale"),
            sms.get("locale") if isinstance(sms, dict) else None,
            self.values.get("locale_outgoing"),
            self.values.get("locale"),
        ):
            if isinstance(candidate, str) and candidate:
                return candidate
        return "en"

    def translate(self, key: str, locale: str | None = None) -> str:
        """The translation of `key` in `locale`, else in English, else the key itself (trimmed)."""
        for code in (locale, "en"):
            value = self.translations.get(code or "", {}).get(key)
            if isinstance(value, str) and value:
                return value.strip()
        return key


def translations_from_docs(docs: list[Doc]) -> dict[str, dict[str, str]]:
    """`messages-<code>` docs → {code: {key: text}}, custom values over generic ones."""
    result: dict[str, dict[str, str]] = {}
    for doc in docs:
        code = doc.get("code")
        if not isinstance(code, str):
            code = doc["_id"][len(TRANSLATIONS_PREFIX) :]
        values: dict[str, str] = {}
        for part in ("generic", "custom"):
            if isinstance(doc.get(part), dict):
                values.update({k: v for k, v in doc[part].items() if isinstance(v, str)})
        result[code] = values
    return result


def translations_from_settings(values: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """CHT 2.x kept texts in the settings' `translations` list (`[{key, default?, translations:
    [{locale, content}]}]`); CHT 3's upgrade moved them into `messages-<locale>` docs. Read them the
    same way, so an old configuration loaded as it is still has its texts."""
    legacy = values.get("translations")
    result: dict[str, dict[str, str]] = {}
    for entry in legacy if isinstance(legacy, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            continue
        for item in entry.get("translations") or []:
            if isinstance(item, dict) and isinstance(item.get("locale"), str) and isinstance(item.get("content"), str):
                result.setdefault(item["locale"], {})[entry["key"]] = item["content"]
        if isinstance(entry.get("default"), str) and entry["default"]:
            result.setdefault("en", {}).setdefault(entry["key"], entry["default"])
    return result


def with_legacy_translations(
    docs: Mapping[str, Mapping[str, str]], values: Mapping[str, Any], warnings: list[str]
) -> dict[str, dict[str, str]]:
    """The translation docs' texts over the settings' legacy `translations` (a doc always wins)."""
    legacy = translations_from_settings(values)
    merged = {code: dict(texts) for code, texts in legacy.items()}
    for code, texts in docs.items():
        merged.setdefault(code, {}).update(texts)
    if legacy:
        count = sum(len(texts) for texts in legacy.values())
        warnings.append(
            f"settings.translations: {count} text(s) in CHT 2.x's format are read as translations where no "
            "messages-<locale> doc has the key (CHT 3+ moved them into those docs when it upgraded)"
        )
    return merged


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """An app-settings JSON file: either the settings object or a whole `settings` document."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except json.JSONDecodeError as exc:
        raise ConfigError([f"{path}: not valid JSON: {exc}"]) from None
    if isinstance(data, dict) and data.get("_id") == SETTINGS_DOC_ID and isinstance(data.get("settings"), dict):
        return data["settings"]
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: app settings must be a JSON object"])
    return data


class SettingsStore:
    """Reads and writes the settings and translation documents of the main database."""

    def __init__(self, main: CouchDB):
        self.main = main

    def read(self) -> tuple[Any, str | None]:
        """(doc.settings, doc._rev); ({}, None) when the doc does not exist."""
        doc = self.main.get(SETTINGS_DOC_ID)
        if doc is None:
            return {}, None
        return doc.get("settings", {}), doc.get("_rev")

    def rev(self) -> str | None:
        doc = self.main.get(SETTINGS_DOC_ID)
        return doc.get("_rev") if doc else None

    def create_if_missing(self) -> bool:
        """Create the settings doc from defaults.json when there is none; True if it was created."""
        if self.main.get(SETTINGS_DOC_ID) is not None:
            return False
        try:
            self.main.put({"_id": SETTINGS_DOC_ID, "settings": load_defaults()})
        except Conflict:  # someone created it meanwhile: theirs wins
            return False
        return True

    def push(self, settings: dict[str, Any]) -> str:
        """Replace the doc's `settings` key (other keys of the doc are kept); returns the new rev."""
        for _ in range(5):
            doc = self.main.get(SETTINGS_DOC_ID) or {"_id": SETTINGS_DOC_ID}
            doc["settings"] = settings
            try:
                return self.main.put(doc)
            except Conflict:
                continue
        raise ConfigError(["the settings doc kept changing while pushing; try again"])

    def translations(self) -> dict[str, dict[str, str]]:
        rows = self.main.all_docs_range(TRANSLATIONS_PREFIX, TRANSLATIONS_PREFIX + "\ufff0")
        return translations_from_docs([r["doc"] for r in rows if isinstance(r.get("doc"), dict)])
