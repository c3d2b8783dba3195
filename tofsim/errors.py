"""Errors raised by tofsim. The CLI turns any `TofsimError` into one line on stderr and exit code 2."""

from __future__ import annotations


class TofsimError(Exception):
    """Base class of every error tofsim raises on bad input or a failed operation."""


class ShapeError(TofsimError, ValueError):
    """An array has the wrong shape or dtype."""


class ConfigError(TofsimError, ValueError):
    """A config, preset or option is invalid (unknown key, bad value)."""


class RegistryError(TofsimError, KeyError):
    """An unknown name was asked of a registry."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0]) if self.args else ""


class InputFileError(TofsimError, OSError):
    """An input file is missing, unreadable or has the wrong content."""


class OutputError(TofsimError, OSError):
    """An output location cannot be written."""


class RasterFallbackWarning(UserWarning):
    """A scene asked for the raster renderer is raycast instead (`tofsim.raster.raster_problem` says why)."""
