"""leaderboard: predictions in, metrics, error maps, tables, figures and reports out (scoring needs no torch)."""
