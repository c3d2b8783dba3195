"""`leaderboard reproduce`: the whole study (data, training, QAT, baselines, scores, figures, report) in one call.

``reproduce("quick", "out/quick")`` generates procedural data, trains float32 tofnet, fine-tunes it with QAT at
W8A8 / W4A8 / W4A4 / W*, trains NLSPN and CSPN, runs the classical baselines, predicts, scores and writes tables, error
maps, the paper-layout comparison figure, the HTML report and ``results.md``; with the 7-Scenes frames present it
also runs the methods on real frames and checks a TSDF mesh. Finished steps are skipped when re-run. See
``docs/reproduce.md``. Importing this package loads neither torch nor Open3D (the steps import them).
"""

from leaderboard.reproduce.pipeline import STEPS, reproduce, select_steps, step_names
from leaderboard.reproduce.presets import (
    METHODS,
    PRESETS,
    ReproducePreset,
    apply_overrides,
    get_preset,
    preset_names,
    study_methods,
)
from leaderboard.reproduce.runner import OutputError

__all__ = [
    "METHODS",
    "PRESETS",
    "STEPS",
    "OutputError",
    "ReproducePreset",
    "apply_overrides",
    "get_preset",
    "preset_names",
    "reproduce",
    "select_steps",
    "step_names",
    "study_methods",
]
