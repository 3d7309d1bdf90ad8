"""Which transitions run: the explicit ordered allowlist in `transitions.AVAILABLE`, filtered by settings.

Nothing is imported by a name taken from settings: only modules listed in `transitions.AVAILABLE` can
ever run (CHT keeps an allowlist for the same security reason).
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

import transitions as catalogue

if TYPE_CHECKING:
    from sentinel.core.settings import Settings

REQUIRED = ("name", "filter", "run")


def transition_module(name: str) -> ModuleType:
    module = importlib.import_module(f"transitions.{name}")
    missing = [attr for attr in REQUIRED if not hasattr(module, attr)]
    if missing:
        raise TypeError(f"transitions.{name} lacks {', '.join(missing)}")
    return module


def config_section(module: ModuleType, settings: "Settings"):
    """The settings section a transition reads (its `config_key`, else its name)."""
    return settings.section(getattr(module, "config_key", module.name))


def load_enabled(settings: "Settings") -> tuple[tuple[ModuleType, ...], list[str], list[str]]:
    """(enabled modules in run order, problems, warnings).

    Problems: unknown names (CHT stops every transition for one: `Unknown transition`) and failed
    `check_config`s. Warnings: CHT transitions this version does not run (`transitions.NOT_RUN`), which
    CHT deployments enable for CHT API's sake; refusing them would switch everything else off.
    """
    from sentinel.core.settings import transition_enabled

    problems: list[str] = []
    warnings: list[str] = []
    configured = settings.transitions_config()
    for name, conf in configured.items():
        if name in catalogue.AVAILABLE:
            continue
        if name in catalogue.NOT_RUN:
            if transition_enabled(conf):
                warnings.append(f"settings.transitions.{name}: not run by Sentinel: {catalogue.NOT_RUN[name]}")
        else:
            problems.append(f'Unknown transition "{name}"')
    enabled = []
    for name in catalogue.AVAILABLE:
        if not transition_enabled(configured.get(name)):
            continue
        module = transition_module(name)
        check = getattr(module, "check_config", None)
        if check is not None:
            problems.extend(f"{name}: {p}" for p in check(config_section(module, settings), settings))
        warn = getattr(module, "config_warnings", None)
        if warn is not None:
            warnings.extend(warn(config_section(module, settings), settings))
        enabled.append(module)
    return tuple(enabled), problems, warnings
