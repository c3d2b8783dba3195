"""The runner of a reproduction study: the `Study`, a `Step` record, done-markers and `run_step` (resumable).

A step is ``run(study) -> dict`` (a JSON-able summary). `run_step` skips a step whose done-marker
``DIR/steps/<step>.json`` exists and was written for the same preset (its hash), and otherwise runs it and writes
the marker last, atomically, so a step stopped halfway (Ctrl-C, a crash) runs again on the next call. A step that
cannot run here (no real data, no quantization entry point) raises `StepSkipped` with the reason: no marker is
written, so it runs once the reason is gone. The study's steps, in order, are `leaderboard.reproduce.pipeline.STEPS`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leaderboard.errors import LeaderboardError
from leaderboard.reproduce.presets import ReproducePreset
from tofsim.provenance import write_json

__all__ = [
    "OutputError",
    "StepSkipped",
    "Study",
    "StepFn",
    "ProgressFn",
    "Step",
    "marker_path",
    "read_marker",
    "run_step",
]

#: ``progress(event)``: ``{"event": "study-start" | "step-start" | "step-progress" | "step-done" | "step-skip" |
#: "step-skipped" | "study-done", "step": name, "index": i, "total": n, ...}``.
ProgressFn = Callable[[dict[str, Any]], None]


class OutputError(LeaderboardError, OSError):
    """The study folder cannot be created or written."""


class StepSkipped(Exception):  # noqa: N818 - a signal, not an error
    """A step that cannot run in this environment; the reason is reported and no done-marker is written."""


@dataclass
class Study:
    """One study: its preset, folder, progress callback and the paths every step uses.

    Attributes:
        preset: the resolved preset.
        out_dir: the study folder ``DIR``.
        progress: optional callback (see `ProgressFn`).
        realdata_path: the 7-Scenes frames folder (or None: no real-data study).
        command: the command line recorded in ``results.md``.
    """

    preset: ReproducePreset
    out_dir: Path
    progress: ProgressFn | None = None
    realdata_path: Path | None = None
    command: str = ""
    current: str = ""
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def dataset_dir(self) -> Path:
        """The generated tofsim dataset."""
        return self.out_dir / "dataset"

    @property
    def gt_dir(self) -> Path:
        """Test-split ground truth as ``{index:06d}.npy`` z-depth (m), what scoring and figures read."""
        return self.out_dir / "gt" / "depth"

    @property
    def sparse_dir(self) -> Path:
        """Test-split sparse inputs as ``{index:06d}.npy`` (m, 0 = no spot), for RDS and the at-spot regions."""
        return self.out_dir / "gt" / "sparse"

    def run_dir(self, method: str) -> Path:
        """Run folder of a trained method."""
        return self.out_dir / "runs" / method

    def preds_dir(self, method: str) -> Path:
        """Test-split predictions of a method."""
        return self.out_dir / "preds" / method

    def emit(self, event: str, **info: Any) -> None:
        """Send a progress event (no-op without a callback)."""
        if self.progress is not None:
            self.progress({"event": event, "step": self.current, **info})


StepFn = Callable[[Study], dict[str, Any]]


@dataclass(frozen=True)
class Step:
    """One step of the study, as the study's list (`leaderboard.reproduce.pipeline.STEPS`) declares it.

    Attributes:
        name: the step's name (its done-marker is ``steps/<name>.json``).
        run: ``run(study) -> summary``.
        needs: the steps whose outputs it reads: a newer marker of one of them makes this step run again.
            Each comes earlier in the list.
        groups: names that select it with others (``--only qat`` runs every ``qat-*`` step).
    """

    name: str
    run: StepFn
    needs: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


def marker_path(study: Study, name: str) -> Path:
    """The done-marker of step `name`."""
    return study.out_dir / "steps" / f"{name}.json"


def read_marker(study: Study, name: str) -> dict[str, Any] | None:
    """The done-marker of step `name` if it exists and belongs to this preset, else None."""
    try:
        record = json.loads(marker_path(study, name).read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("preset_sha256") == study.preset.sha256() else None


def _stale(study: Study, step: Step, record: dict[str, Any]) -> bool:
    """True when a step that `step` needs finished after it did (its outputs are out of date).

    Uses the finishing times recorded in the markers (not file times, which a copy of the folder changes).
    """
    own = int(record.get("finished_ns", 0))
    for dep in step.needs:
        other = read_marker(study, dep)
        if other is not None and int(other.get("finished_ns", 0)) > own:
            return True
    return False


def run_step(study: Study, step: Step, *, index: int = 0, total: int = 1) -> dict[str, Any] | None:
    """Run one step unless its done-marker says it is finished; return its record (None when skipped).

    A marker whose summary says ``partial`` (a step that ran with some inputs missing) does not count as done,
    nor does one older than the marker of a step it needs (`Step.needs`): e.g. ``score`` runs again after a
    prediction step was redone.

    Raises:
        whatever the step raises (LeaderboardError, CompletionError, TofsimError on bad input or a failed run).
    """
    name = step.name
    study.current = name
    done = read_marker(study, name)
    if done is not None and not done["summary"].get("partial") and not _stale(study, step, done):
        study.emit("step-skip", index=index, total=total, reason="already done (resume)")
        return done
    study.emit("step-start", index=index, total=total)
    t0 = time.perf_counter()
    try:
        summary = step.run(study)
    except StepSkipped as why:
        study.skipped[name] = str(why)
        study.emit("step-skipped", index=index, total=total, reason=str(why))
        return None
    record = {
        "step": name,
        "preset": study.preset.name,
        "preset_sha256": study.preset.sha256(),
        "elapsed_s": round(time.perf_counter() - t0, 3),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "finished_ns": time.time_ns(),
        "summary": summary,
    }
    marker = marker_path(study, name)
    marker.parent.mkdir(parents=True, exist_ok=True)
    write_json(marker, record, sort_keys=True, what="step marker")
    study.emit("step-done", index=index, total=total, elapsed_s=record["elapsed_s"])
    return record
