"""``leaderboard reproduce --preset quick|standard|paper|shipped --out DIR``: the whole study in one command.

``--frames N``, ``--epochs N`` and ``--device D`` override the preset (`leaderboard.reproduce.apply_overrides`);
the overridden fields are recorded in ``DIR/reproduce.json`` and the command line in ``results.md``.

`reproduce_command` is a typer-annotated function; ``leaderboard/cli.py`` registers it on the ``leaderboard``
app (``app.command("reproduce")(reproduce_command)``). It parses the options, calls
`leaderboard.reproduce.reproduce` and shows a progress bar over the steps (the current step, and the epoch /
frame inside it). Any `LeaderboardError`, `CompletionError` or `TofsimError` becomes one line on stderr and exit
code 2. Importing this module loads neither torch nor Open3D.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["reproduce_command", "StepProgress"]


class StepProgress:
    """A tqdm bar over the study's steps: description = current step, postfix = progress inside it.

    Args:
        quiet: print nothing (the callback still works).
        stream: where to draw (stderr by default).
    """

    def __init__(self, *, quiet: bool = False, stream: Any = None) -> None:
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.bar: Any = None
        self.lines: list[str] = []

    def _say(self, text: str) -> None:
        self.lines.append(text)
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream)

    def __call__(self, event: dict[str, Any]) -> None:
        """Handle one progress event of `leaderboard.reproduce.reproduce`."""
        kind, step = event.get("event"), event.get("step", "")
        if kind == "study-start":
            if not self.quiet:
                from tqdm import tqdm

                self.bar = tqdm(total=event["total"], unit="step", file=self.stream, dynamic_ncols=True)
        elif kind == "step-start":
            self._t0 = time.perf_counter()
            if self.bar is not None:
                self.bar.set_description(step)
                self.bar.set_postfix_str("")
        elif kind == "step-progress":
            if self.bar is not None:
                detail = event.get("detail")
                if detail is None and "done" in event:
                    detail = f"{event['done']}/{event['total']}"
                self.bar.set_postfix_str(str(detail or ""), refresh=True)
        elif kind == "step-skip":
            self._say(f"  {step}: skipped, {event.get('reason', 'already done')}")
            if self.bar is not None:
                self.bar.update(1)
        elif kind == "step-skipped":
            self._say(f"  {step}: not run: {event.get('reason', '')}")
            if self.bar is not None:
                self.bar.update(1)
        elif kind == "step-done":
            self._say(f"  {step}: done in {event.get('elapsed_s', 0.0):.1f} s")
            if self.bar is not None:
                self.bar.update(1)
        elif kind == "study-done" and self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        """Close the bar (after an error)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def reproduce_command(
    preset: Annotated[
        str,
        typer.Option(
            "--preset",
            help="shipped (the demo: the shipped models, no training) | quick (trains in minutes) | standard "
            "(CPU study) | paper.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Study folder (re-run to resume; finished steps are skipped).")],
    realdata: Annotated[
        Path | None,
        typer.Option(
            "--realdata",
            help="7-Scenes frames folder (default: $TOFBENCH_REALDATA, else ../shared/data/7scenes-redkitchen).",
        ),
    ] = None,
    no_realdata: Annotated[bool, typer.Option("--no-realdata", help="Skip the real-data study.")] = False,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            help="Run only this step or group (dataset, train, qat, predict, score, figures, "
            "report, realdata, results); repeatable.",
        ),
    ] = None,  # fmt: skip
    frames: Annotated[
        str | None, typer.Option("--frames", help="Override the preset's generated frames (n_frames).")
    ] = None,
    epochs: Annotated[
        str | None, typer.Option("--epochs", help="Override the training epochs of float32 tofnet, NLSPN and CSPN.")
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="Override the training device: cpu, auto, cuda or cuda:N.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Generate data, train float32 tofnet, QAT (W8A8, W4A8, W4A4, W*), NLSPN, CSPN and baselines; score, report."""
    from completion.errors import CompletionError
    from leaderboard.errors import LeaderboardError
    from leaderboard.reproduce import apply_overrides, get_preset, reproduce
    from leaderboard.reproduce.realdata import default_realdata_path
    from tofsim.errors import TofsimError

    command = f"leaderboard reproduce --preset {preset} --out {out}"
    real: Path | None = default_realdata_path() if realdata is None else realdata
    if no_realdata:
        real, command = None, command + " --no-realdata"
    elif realdata is not None:
        command += f" --realdata {realdata}"
    if only:
        command += "".join(f" --only {o}" for o in only)
    given = {"--frames": frames, "--epochs": epochs, "--device": device}
    command += "".join(f" {k} {v}" for k, v in given.items() if v is not None)
    display = StepProgress(quiet=quiet)
    t0 = time.perf_counter()
    try:
        _, overrides = apply_overrides(get_preset(preset), frames=frames, epochs=epochs, device=device)
        folder = reproduce(
            preset, out, progress=display, only=only or None, realdata=real, command=command, overrides=overrides
        )
    except (LeaderboardError, CompletionError, TofsimError) as err:
        display.close()
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        typer.echo(f"error: {msg}", err=True)
        raise typer.Exit(code=2) from None
    not_run = [line for line in display.lines if ": not run:" in line]
    typer.echo(f"study {preset!r} in {folder} ({time.perf_counter() - t0:.0f} s)")
    for line in not_run:
        typer.echo(line)
    for name in ("results.md", "scores/metrics.csv", "figures/comparison.png", "report/index.html"):
        state = "" if (folder / name).exists() else "  (not written)"
        typer.echo(f"  {folder / name}{state}")
