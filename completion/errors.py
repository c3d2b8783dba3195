"""Errors raised by completion. The CLI turns any `CompletionError` into one line on stderr and exit code 2."""

from __future__ import annotations


class CompletionError(Exception):
    """Base class of every error completion raises on bad input or a failed operation."""


class ShapeError(CompletionError, ValueError):
    """An array or tensor has the wrong shape or dtype."""


class ConfigError(CompletionError, ValueError):
    """A config, preset or option is invalid."""


class InputFileError(CompletionError, OSError):
    """An input file is missing, unreadable or has the wrong content."""
