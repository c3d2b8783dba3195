"""`reproduce`: the whole study in one call, resumable step by step.

Output folder ``DIR``::

    reproduce.json        the resolved preset and its hash (a folder holds one study)
    steps/<step>.json     done-markers (written last, atomically); a re-run skips these steps
    dataset/              the generated tofsim dataset;   gt/depth, gt/sparse: its test split as .npy
    runs/<method>/        float32 tofnet, QAT runs (w8a8, w4a8, w4a4, wstar; memory.json), nlspn
    preds/<method>/       test-split predictions ({index:06d}.npy, latency.csv, predictions.json)
    scores/               leaderboard score output (metrics.csv with params / memory / latency / bits columns,
                          methods.toml to score again)
    figures/comparison.png (paper layout), comparison_all_methods.png, error_maps/<method>/, depth/, color/
    report/index.html     the HTML report
    realdata/             frames, dataset, preds, scores, mesh.ply, mesh.json (when the 7-Scenes frames exist)
    results.md            headline tables and the command that produced them
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from leaderboard.errors import ConfigError
from leaderboard.reproduce.outputs import step_figures, step_report, step_results, step_score
from leaderboard.reproduce.presets import ReproducePreset, get_preset
from leaderboard.reproduce.realdata import REALDATA_STEPS, default_realdata_path
from leaderboard.reproduce.steps import (
    SYNTHETIC_STEPS,
    OutputError,
    ProgressFn,
    StepFn,
    Study,
    run_step,
)
from tofsim.dataset.folders import prepare_output_dir
from tofsim.errors import OutputError as TofsimOutputError
from tofsim.provenance import write_json

__all__ = ["reproduce", "step_names", "STEPS", "select_steps"]

#: Every step, in order.
STEPS: list[tuple[str, StepFn]] = [
    *SYNTHETIC_STEPS,
    ("score", step_score),
    ("figures", step_figures),
    ("report", step_report),
    *REALDATA_STEPS,
    ("results", step_results),
]

_USE_DEFAULT = object()


def step_names() -> list[str]:
    """Names of the steps, in the order they run."""
    return [name for name, _ in STEPS]


def select_steps(only: Sequence[str] | None) -> list[tuple[str, StepFn]]:
    """The steps `only` names (a step name, or a group prefix such as ``qat``, ``predict``, ``realdata``).

    Raises:
        ConfigError: a name that matches no step (listing the valid ones).
    """
    if only is None:
        return list(STEPS)
    if isinstance(only, str):
        only = [only]
    unknown = [item for item in only if not any(n == item or n.startswith(f"{item}-") for n, _ in STEPS)]
    if unknown:
        raise ConfigError(f"unknown step(s) {', '.join(unknown)}; valid: {', '.join(step_names())}")
    return [(n, fn) for n, fn in STEPS if any(n == item or n.startswith(f"{item}-") for item in only)]


def _prepare(out_dir: Path) -> None:
    try:
        prepare_output_dir(out_dir)
    except TofsimOutputError as err:  # one error family per package
        raise OutputError(str(err)) from None


def _claim(out_dir: Path, preset: ReproducePreset) -> None:
    """Record the preset in ``reproduce.json``; refuse a folder that holds another study."""
    import json

    path = out_dir / "reproduce.json"
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = {}
        if old.get("preset_sha256") != preset.sha256():
            raise ConfigError(
                f"{out_dir} holds a study made with other settings (preset {old.get('preset', {}).get('name')!r}); "
                "choose another --out or delete it"
            )
        return
    write_json(
        path, {"preset": preset.to_dict(), "preset_sha256": preset.sha256()}, sort_keys=True, what="study record"
    )


def reproduce(
    preset: str | ReproducePreset,
    out_dir: str | os.PathLike[str],
    *,
    progress: ProgressFn | None = None,
    only: Sequence[str] | None = None,
    realdata: str | os.PathLike[str] | None = _USE_DEFAULT,  # type: ignore[assignment]
    command: str | None = None,
) -> Path:
    """Run (or resume) the whole study into `out_dir` (layout in the module docstring).

    Args:
        preset: ``quick``, ``standard``, ``paper`` or a `ReproducePreset` (e.g. ``get_preset("quick", n_frames=24)``).
        out_dir: the study folder (created). Re-running with the same preset skips finished steps.
        progress: called with one event dict per step change and inside long steps (see `ProgressFn`).
        only: run only these steps or step groups (``dataset``, ``train``, ``qat``, ``predict``, ``score``,
            ``figures``, ``report``, ``realdata``, ``results``, or a full step name); None runs all.
        realdata: the 7-Scenes frames folder; default `default_realdata_path()`; None skips the real-data study.
        command: the command line recorded in ``results.md`` (default: the equivalent CLI call).

    Returns:
        `out_dir`.

    Raises:
        ConfigError: unknown preset or step, or a folder holding a study with other settings.
        OutputError: the folder cannot be created or written.
        LeaderboardError, CompletionError, TofsimError: a step that fails on bad input.
    """
    resolved = get_preset(preset)
    steps = select_steps(only)
    out = Path(out_dir)
    _prepare(out)
    _claim(out, resolved)
    real = default_realdata_path() if realdata is _USE_DEFAULT else (None if realdata is None else Path(realdata))
    cmd = command or f"leaderboard reproduce --preset {resolved.name} --out {out}"
    study = Study(preset=resolved, out_dir=out, progress=progress, realdata_path=real, command=cmd)
    study.emit("study-start", total=len(steps), steps=[n for n, _ in steps])
    for k, (name, fn) in enumerate(steps):
        run_step(study, name, fn, index=k, total=len(steps))
    study.current = ""
    study.emit("study-done", total=len(steps), skipped=dict(study.skipped))
    return out
