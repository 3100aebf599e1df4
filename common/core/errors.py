"""Exceptions that mean "the user's input is wrong": scripts print them as one line and exit non-zero."""


class UserError(Exception):
    """Bad arguments, config or input folder; the message says what to fix."""


class ConfigError(UserError):
    """An unknown key, a wrong type or an out-of-range value in the configuration."""


class VideoError(Exception):
    """A video file that cannot be opened or decoded; the batch goes on without it."""
