"""Exceptions that carry a one-line message meant for the user (the CLI prints it, exit 2)."""


class CircleSurvivalError(Exception):
    """Base class: the message is one clear line naming the problem."""


class ConfigError(CircleSurvivalError, ValueError):
    """A configuration value, file or request is invalid."""


class StoreError(CircleSurvivalError):
    """A store is missing, foreign, damaged, or holds runs of another configuration."""


class StoreWarning(UserWarning):
    """Something in a store was set aside or left out; the message says what (the CLI prints
    it as one line)."""
