"""Typed settings of the service."""

from config.errors import ConfigError
from config.settings import Settings, get_settings, load_settings

__all__ = ["ConfigError", "Settings", "get_settings", "load_settings"]
