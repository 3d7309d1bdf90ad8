"""Deprecated alias of `generate_shortcode_on_contacts` (CHT 3.8): same filter, same effect.

Reads and writes what generate_shortcode_on_contacts does.
"""
from __future__ import annotations

import logging
from typing import Any

from sentinel.settings import Settings

from . import generate_shortcode_on_contacts as _shortcodes

name = "generate_patient_id_on_people"
runs_once = False
doc_types = _shortcodes.doc_types
filter = _shortcodes.filter  # noqa: A001
run = _shortcodes.run


def check_config(section: Any, settings: Settings) -> list[str]:
    logging.getLogger(__name__).warning(
        'generate_patient_id_on_people transition is deprecated since 3.8.x. Please use "generate_shortcode_on_contacts" transition instead.'
    )
    return []
