"""`reproduce`: the whole study in one call, resumable step by step.

Output folder ``DIR``::

    reproduce.json        the resolved preset, its hash and the overridden fields (a folder holds one study)
    steps/<step>.json     done-markers (written last, atomically); a re-run skips these steps
    dataset/              the generated tofsim dataset;   gt/depth, gt/sparse: its test split as .npy
    runs/<method>/        float32 tofnet, QAT runs (w8a8, w4a8, w4a4, wstar; memory.json), nlspn, cspn
    preds/<method>/       test-split predictions ({index:06d}.npy, latency.csv, predictions.json)
    scores/               leaderboard score output (metrics.csv with params / memory / latency / bits columns,
                          methods.toml to score again)
    figures/comparison.png (paper layout), comparison_all_methods.png, error_maps/<method>/, depth/, color/
    realdata/             frames, dataset, preds, scores, mesh.ply, mesh.json (when the 7-Scenes frames exist)
    report/index.html     the HTML report: charts, figures and tables of the synthetic and the real-frame scores
    results.md            headline tables and the command that produced them
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from leaderboard.errors import ConfigError
from leaderboard.reproduce.outputs import step_figures, step_report, step_results, step_score
from leaderboard.reproduce.presets import METHODS, QUANT_PRESETS, ReproducePreset, get_preset
from leaderboard.reproduce.realdata import (
    default_realdata_path,
    make_realdata_predict_step,
    step_realdata_convert,
    step_realdata_mesh,
    step_realdata_score,
)
from leaderboard.reproduce.runner import OutputError, ProgressFn, Step, Study, run_step
from leaderboard.reproduce.steps import (
    TRAINED,
    make_predict_step,
    make_qat_step,
    step_dataset,
    step_train_cspn,
    step_train_float32,
    step_train_nlspn,
    train_step_of,
)
from tofsim.dataset.folders import prepare_output_dir
from tofsim.errors import OutputError as TofsimOutputError
from tofsim.provenance import write_json

__all__ = ["reproduce", "step_names", "STEPS", "STEP", "select_steps"]


def _run_of(method: str) -> tuple[str, ...]:
    """The step that makes `method`'s run folder, for a trained method."""
    return (train_step_of(method),) if method in TRAINED else ()


_PREDICT = tuple(f"predict-{m}" for m in METHODS)
_REAL_PREDICT = tuple(f"realdata-predict-{m}" for m in METHODS)

#: The study: every step in the order it runs, with the steps whose outputs it reads (`Step.needs`) and the
#: groups that select it (``--only``). The one place the study's order and dependencies are written.
STEPS: tuple[Step, ...] = (
    Step("dataset", step_dataset),
    Step("train-float32", step_train_float32, needs=("dataset",), groups=("train",)),
    *(Step(f"qat-{q}", make_qat_step(q), needs=("train-float32",), groups=("qat",)) for q in QUANT_PRESETS),
    Step("train-nlspn", step_train_nlspn, needs=("dataset",), groups=("train",)),
    Step("train-cspn", step_train_cspn, needs=("dataset",), groups=("train",)),
    *(Step(f"predict-{m}", make_predict_step(m), needs=("dataset", *_run_of(m)), groups=("predict",)) for m in METHODS),
    Step("score", step_score, needs=_PREDICT),
    Step("figures", step_figures, needs=_PREDICT),
    Step("realdata-convert", step_realdata_convert, groups=("realdata",)),
    *(
        Step(f"realdata-predict-{m}", make_realdata_predict_step(m), needs=("realdata-convert", *_run_of(m)),
             groups=("realdata", "realdata-predict"))
        for m in METHODS
    ),
    Step("realdata-score", step_realdata_score, needs=_REAL_PREDICT, groups=("realdata",)),
    Step("realdata-mesh", step_realdata_mesh, groups=("realdata",)),
    Step("report", step_report, needs=("score", "figures", "realdata-score")),
    Step("results", step_results, needs=("score", "realdata-score", "realdata-mesh")),
)  # fmt: skip
STEP = {s.name: s for s in STEPS}

_USE_DEFAULT = object()


def step_names() -> list[str]:
    """Names of the steps, in the order they run."""
    return [s.name for s in STEPS]


def _selects(step: Step, item: str) -> bool:
    return item == step.name or item in step.groups


def select_steps(only: Sequence[str] | None) -> list[Step]:
    """The steps `only` names (a step name, or a group such as ``train``, ``qat``, ``predict``, ``realdata``).

    Raises:
        ConfigError: a name that matches no step (listing the valid ones).
    """
    if only is None:
        return list(STEPS)
    if isinstance(only, str):
        only = [only]
    unknown = [item for item in only if not any(_selects(s, item) for s in STEPS)]
    if unknown:
        groups = sorted({g for s in STEPS for g in s.groups})
        raise ConfigError(
            f"unknown step(s) {', '.join(unknown)}; valid: {', '.join(step_names())} (groups: {', '.join(groups)})"
        )
    return [s for s in STEPS if any(_selects(s, item) for item in only)]


def _prepare(out_dir: Path) -> None:
    try:
        prepare_output_dir(out_dir)
    except TofsimOutputError as err:  # one error family per package
        raise OutputError(str(err)) from None


def _claim(out_dir: Path, preset: ReproducePreset, overrides: dict[str, Any] | None = None) -> None:
    """Record the preset (and the fields overridden on it) in ``reproduce.json``; refuse another study's folder."""
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
    record = {"preset": preset.to_dict(), "preset_sha256": preset.sha256(), "overrides": dict(overrides or {})}
    write_json(path, record, sort_keys=True, what="study record")


def reproduce(
    preset: str | ReproducePreset,
    out_dir: str | os.PathLike[str],
    *,
    progress: ProgressFn | None = None,
    only: Sequence[str] | None = None,
    realdata: str | os.PathLike[str] | None = _USE_DEFAULT,  # type: ignore[assignment]
    command: str | None = None,
    overrides: Mapping[str, Any] | None = None,
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
        overrides: preset fields changed on top of `preset` (e.g. ``{"n_frames": 24}``, what ``--frames``,
            ``--epochs`` and ``--device`` set through `apply_overrides`); recorded in ``reproduce.json``.

    Returns:
        `out_dir`.

    Raises:
        ConfigError: unknown preset or step, or a folder holding a study with other settings.
        OutputError: the folder cannot be created or written.
        LeaderboardError, CompletionError, TofsimError: a step that fails on bad input.
    """
    resolved = get_preset(preset, **dict(overrides or {}))
    steps = select_steps(only)
    out = Path(out_dir)
    _prepare(out)
    _claim(out, resolved, dict(overrides or {}))
    real = default_realdata_path() if realdata is _USE_DEFAULT else (None if realdata is None else Path(realdata))
    cmd = command or f"leaderboard reproduce --preset {resolved.name} --out {out}"
    study = Study(preset=resolved, out_dir=out, progress=progress, realdata_path=real, command=cmd)
    study.emit("study-start", total=len(steps), steps=[s.name for s in steps])
    for k, step in enumerate(steps):
        run_step(study, step, index=k, total=len(steps))
    study.current = ""
    study.emit("study-done", total=len(steps), skipped=dict(study.skipped))
    return out
