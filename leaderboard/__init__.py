"""leaderboard: predictions in, metrics, error maps, tables, figures and reports out (scoring needs no torch).

The verbs: `score` (ground truth + predictions -> a score folder; `leaderboard.score.score`) and `report` (a
score folder -> a static HTML report; `leaderboard.report.write_report`).

Each verb has the name of the module that defines it. The package imports both modules here, so the names stay
bound to the functions (Python binds a submodule to its package's attribute only when it first imports it): use
``from leaderboard.score import ScoreResult`` for the rest of a module, not ``import leaderboard.score as m``.
"""

from __future__ import annotations

from leaderboard.report import write_report as report
from leaderboard.score import score

__all__ = ["report", "score"]
