"""Typed errors for what users hit. Each message says what was received and what would fix it.

The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``; it never shows a
traceback for these.
"""

from __future__ import annotations


class MobileDistillError(Exception):
    """Base class: a problem with the user's input or environment, reported in one line."""

    exit_code = 2


class ConfigError(MobileDistillError):
    """A recipe file or an option has a bad value."""


class DataError(MobileDistillError):
    """A dataset file or column cannot be used as given."""


class ModelError(MobileDistillError):
    """A model folder is missing, incomplete or of an unsupported kind."""


class GateFailure(MobileDistillError):
    """A regression gate said FAIL. Carries the report so callers can still write it out."""

    exit_code = 1

    def __init__(self, message: str, report: dict | None = None):
        super().__init__(message)
        self.report = report or {}
