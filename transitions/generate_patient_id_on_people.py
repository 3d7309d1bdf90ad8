"""Deprecated alias of `generate_shortcode_on_contacts` (CHT 3.8): same filter, same effect.

Reads and writes what generate_shortcode_on_contacts does.
"""
from __future__ import annotations

from typing import Any

from sentinel.core.settings import Settings

from . import generate_shortcode_on_contacts as _shortcodes

name = "generate_patient_id_on_people"
runs_once = False
doc_types = _shortcodes.doc_types
filter = _shortcodes.filter  # noqa: A001
run = _shortcodes.run


def config_warnings(section: Any, settings: Settings) -> list[str]:
    """CHT logs a deprecation warning at load; it is one of the settings warnings here."""
    return [
        "settings.transitions.generate_patient_id_on_people: deprecated since CHT 3.8.x; it runs as "
        '"generate_shortcode_on_contacts" does (use that name)'
    ]
