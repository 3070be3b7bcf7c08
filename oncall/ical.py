"""icalendar and recurring-ical-events, loaded on first use: only calendar feeds, calendar sources and the
Grafana OnCall import need them, and a process that never touches a calendar (most web workers, most of
the time) does not carry their ~3 MB of modules."""

from __future__ import annotations

import functools
import importlib
from types import ModuleType


@functools.cache
def icalendar() -> ModuleType:
    return importlib.import_module("icalendar")


@functools.cache
def recurring() -> ModuleType:
    return importlib.import_module("recurring_ical_events")
