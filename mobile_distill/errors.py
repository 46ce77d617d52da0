"""Typed errors for what users hit. Each message says what was received and what would fix it.

The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``; it never shows a
traceback for these. Library messages name configuration fields (``seq_len``, ``distill.temperature``)
and list them in ``fields``; the CLI rewrites those names as its own flags (``--seq-len``).
"""

from __future__ import annotations


class MobileDistillError(Exception):
    """Base class: a problem with the user's input or environment, reported in one line."""

    exit_code = 2

    def __init__(self, message: str, fields: tuple[str, ...] = ()):
        super().__init__(message)
        self.fields = tuple(fields)  # the config fields the message names, for the CLI to map to flags


class ConfigError(MobileDistillError):
    """A recipe file or an option has a bad value."""


class DataError(MobileDistillError):
    """A dataset file or column cannot be used as given."""


class ModelError(MobileDistillError):
    """A model folder is missing, incomplete or of an unsupported kind."""


class GateFailure(MobileDistillError):
    """A regression gate said FAIL. Carries its typed report so callers can still print and write it."""

    exit_code = 1

    def __init__(self, message: str, report):
        super().__init__(message)
        self.report = report


class Gate1Failure(GateFailure):
    """Gate 1 (student vs teacher) failed; ``report`` is the `gate.Gate1Report`."""


class Gate2Failure(GateFailure):
    """Gate 2 (artifacts vs their reference, or vs a baseline) failed; ``report`` is the `BenchReport`."""
