"""The ``completion`` command: list models, train, predict.

Each command parses its options, calls one library function and prints where the output went. Any
`CompletionError` (or `TofsimError` from reading a dataset) becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from tqdm import tqdm

from completion.cli_quant import export_command, memory_command, quantize_command
from completion.errors import CompletionError
from completion.run_folder import CONFIG, RunFolder
from tofsim.errors import TofsimError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Depth completion: models, training, prediction.")


def _fail(err: Exception) -> typer.Exit:
    typer.echo(f"error: {err}", err=True)
    return typer.Exit(2)


@app.command("models")
def models_cmd() -> None:
    """List the registered models and the pretrained checkpoints."""
    from completion import models
    from completion.checkpoint import PRETRAINED, PRETRAINED_DIR
    from completion.errors import InputFileError
    from completion.model_cards import read_card

    for name in models.names():
        typer.echo(f"{name:18s} {models.MODELS[name].summary}")
    for name, summary in PRETRAINED.items():
        try:
            card = read_card(name)
        except InputFileError:
            card = None
        state = "" if (PRETRAINED_DIR / f"{name}.pt").is_file() and card else " [not installed]"
        scores = ""
        if card is not None:
            rmse = {k: card.test_rmse_m(k) for k in card.test_metrics}
            scores = "".join(f"; test RMSE {k} {1000 * v:.1f} mm" for k, v in rmse.items() if v is not None)
        typer.echo(f"{name:18s} pretrained: {summary}{scores}{state}")


class _TrainBar:
    """Progress callback for `completion.train.fit`: one tqdm bar over all steps."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            total = event["epochs"] * event["steps_per_epoch"]
            self.bar = tqdm(total=total, initial=event["start_epoch"] * event["steps_per_epoch"], unit="step")
            self.bar.set_description(f"train on {event['device']}")
        elif kind == "step" and self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(epoch=event["epoch"], loss=f"{event['loss']:.4f}")
        elif kind == "epoch" and self.bar is not None:
            self.bar.write(
                f"epoch {event['epoch']}: train loss {event['train_loss']:.4f}, val RMSE {event['val_rmse_m']:.4f} m"
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _one_line_warning(show: Callable[..., None]) -> Callable[..., None]:
    """A `warnings.showwarning` that prints `ValidationOnTrainWarning` as one ``warning: ...`` line."""
    from completion.train import ValidationOnTrainWarning

    def showwarning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, ValidationOnTrainWarning):
            typer.echo(f"warning: {message}", err=True)
        else:
            show(message, category, *args, **kwargs)

    return showwarning


@app.command("train")
def train_cmd(
    out: Annotated[Path, typer.Option("--out", help="run folder (config.json, last.pt, best.pt, metrics).")],
    data: Annotated[Path | None, typer.Option("--data", help="tofsim dataset folder.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="model name (`completion models`).")] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help=r"TOML file: TrainConfig fields, \[loss] and \[model_cfg] tables."),
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="total epochs (on resume: extend).")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="samples per step.")] = None,
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="seed of init, order, augmentation.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue the run in --out from its last.pt.")] = False,
    init_from: Annotated[
        str | None, typer.Option("--init-from", help="start from these weights (run folder, .pt, pretrained name).")
    ] = None,
) -> None:
    """Train a model; under torchrun it trains data-parallel on all processes."""
    from completion.train import TrainConfig, ValidationOnTrainWarning, train

    overrides = {"data": str(data) if data is not None else None, "model": model, "epochs": epochs,
                 "batch_size": batch_size, "device": device, "seed": seed, "init_from": init_from}  # fmt: skip
    overrides = {k: v for k, v in overrides.items() if v is not None}
    bar = _TrainBar()
    try:
        if resume and config is None and (out / CONFIG).is_file():
            values = RunFolder.at(out).train_config()
            cfg = TrainConfig.from_dict(
                values | {k: v for k, v in overrides.items() if k in ("epochs", "device", "data")}
            )
        elif config is not None:
            cfg = TrainConfig.from_toml(config, **overrides)
        else:
            cfg = TrainConfig.from_dict(overrides)
        with warnings.catch_warnings():
            warnings.simplefilter("always", ValidationOnTrainWarning)  # every run says it, not only the first
            warnings.showwarning = _one_line_warning(warnings.showwarning)
            run = train(cfg, out, resume=resume, progress=bar)
    except (CompletionError, TofsimError) as err:
        raise _fail(err) from None
    finally:
        bar.close()
    if os.environ.get("RANK", "0") == "0":  # under torchrun only rank 0 reports
        typer.echo(f"run folder: {run} (best.pt, last.pt, metrics.csv)")


@app.command("predict")
def predict_cmd(
    model: Annotated[str, typer.Option("--model", help="run folder, .pt file, pretrained or baseline name.")],
    data: Annotated[Path, typer.Option("--data", help="tofsim dataset folder or input folder (rgb/, sparse/).")],
    out: Annotated[Path, typer.Option("--out", help="prediction folder to create.")],
    png_scale_per_m: Annotated[
        float | None,
        typer.Option("--png-scale-per-m", help="also write 16-bit PNGs (1000 = mm)."),
    ] = None,
    split: Annotated[str | None, typer.Option("--split", help="only this split (default: all).")] = None,
    device: Annotated[str, typer.Option("--device", help="torch device.")] = "cpu",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace an existing --out folder.")] = False,
    runtime: Annotated[
        str,
        typer.Option(
            "--runtime",
            help="auto (quantized models: torch-int8, the fastest, else onnxruntime int8), torch, torch-int8, or "
            "onnx (an .onnx file, or RUN/model.onnx).",
        ),
    ] = "auto",
) -> None:
    """Predict depth: one float32 .npy per sample (named by sample index), optional 16-bit PNG."""
    from completion.predict import predict, read_summary

    bar: tqdm | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="sample", desc="predict")
        bar.update(1)

    cb: Callable[[int, int], None] = progress
    try:
        from completion.runtimes import load_for_runtime

        loaded = load_for_runtime(model, runtime, device=device)
        if loaded.note:
            typer.echo(f"warning: {loaded.note}", err=True)
        # torch models go by name, so predictions.json records their checkpoint
        target = model if loaded.runtime == "torch" else loaded.model
        folder = predict(target, data, out, png_scale_per_m=png_scale_per_m, device=device, split=split,
                         overwrite=overwrite, progress=cb)  # fmt: skip
    except (CompletionError, TofsimError) as err:
        raise _fail(err) from None
    finally:
        if bar is not None:
            bar.close()
    summary = read_summary(folder)
    typer.echo(
        f"{summary['count']} predictions in {folder} ({loaded.runtime}, median latency "
        f"{summary['median_latency_s'] * 1e3:.1f} ms)"
    )


app.command("quantize")(quantize_command)
app.command("memory")(memory_command)
app.command("export")(export_command)


def main() -> None:  # pragma: no cover - console-script entry
    """Entry point (``python -m completion.cli``)."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
