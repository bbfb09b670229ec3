"""The feeds' settings, read from the server's `Settings` in one place for every edge."""

from __future__ import annotations

from yilian.config import Settings
from yilian.feeds.hl7_intake import IntakeSettings

__all__ = ["intake_settings"]


def intake_settings(settings: Settings) -> IntakeSettings:
    return IntakeSettings(
        facilities=settings.hl7_facility_map,
        default_institution=settings.hl7_default_institution or None,
        timezone=settings.hl7_timezone,
    )
