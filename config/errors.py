class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable and the expected form."""
