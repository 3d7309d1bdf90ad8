"""The settings check: app settings into (Settings, the enabled transitions), or every problem.

Reads:  the raw `settings` object (and the translations read beside it).
Writes: nothing.

It sits above every other part because it asks each of them: CHT's tolerance and the schema
(`core`), each enabled transition's `check_config`/`config_warnings` (`registry`), and the
reminders job, whose bad entries are skipped with a warning as CHT skips them.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from sentinel.core.clock import clock_problems
from sentinel.core.errors import ConfigError
from sentinel.core.settings import Settings, with_legacy_translations, merge_defaults, schema_problems
from sentinel.core.settings_tolerance import tolerate
from sentinel.daemon.registry import load_enabled
from sentinel.jobs.reminders import reminder_problems


def build(doc_settings: Any, rev: str | None = None, translations: Mapping[str, Mapping[str, str]] | None = None):
    """Validate app settings into (Settings, enabled transition modules in run order).

    Values CHT reads leniently are normalised first (`sentinel.core.settings_tolerance`); what was ignored or
    coerced, and the parts Sentinel skips as CHT does (a bad reminder, a transition it does not run),
    are `Settings.warnings`. Raises ConfigError listing every problem: schema violations, unknown
    transitions, and the problems each enabled transition's `check_config` reports; its `warnings`
    carry the warnings found on the way.
    """

    if not isinstance(doc_settings, dict):
        raise ConfigError([f"settings must be a JSON object, got {type(doc_settings).__name__}"])
    tolerated, warnings = tolerate(doc_settings)
    merged = merge_defaults(tolerated)
    problems = schema_problems(merged)
    settings = Settings(values=merged, rev=rev, translations=with_legacy_translations(translations or {}, merged, warnings))
    problems.extend(clock_problems(settings))
    enabled, registry_problems, registry_warnings = load_enabled(settings)
    problems.extend(registry_problems)
    warnings.extend(registry_warnings)
    warnings.extend(f"{p} (this reminder is skipped, as CHT skips it)" for p in reminder_problems(settings))
    if problems:
        raise ConfigError(problems, warnings)
    return replace(settings, warnings=tuple(warnings)), enabled
