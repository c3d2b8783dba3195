"""Errors raised by leaderboard. The CLI turns any `LeaderboardError` into one line on stderr and exit code 2."""

from __future__ import annotations


class LeaderboardError(Exception):
    """Base class of every error leaderboard raises on bad input or a failed operation."""


class ShapeError(LeaderboardError, ValueError):
    """An array or tensor has the wrong shape or dtype."""


class ConfigError(LeaderboardError, ValueError):
    """A config, preset or option is invalid."""


class InputFileError(LeaderboardError, OSError):
    """An input file is missing, unreadable or has the wrong content."""
