"""Typed configuration for briefing-digest."""

from settings.loader import DEFAULT_CONFIG, PROJECT_ROOT, SettingsError, load_settings
from settings.schema import SUPPORTED_LANGUAGES, Language, Settings

__all__ = [
    "DEFAULT_CONFIG",
    "PROJECT_ROOT",
    "SUPPORTED_LANGUAGES",
    "Language",
    "Settings",
    "SettingsError",
    "load_settings",
]
