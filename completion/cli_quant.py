"""The ``completion quantize``, ``completion memory`` and ``completion export`` commands (registered in cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from tqdm import tqdm

from completion.errors import CompletionError
from completion.run_folder import RunFolder
from tofsim.errors import TofsimError
from tofsim.provenance import write_json

__all__ = ["quantize_command", "memory_command", "export_command", "onnx_model_path"]


def _fail(err: Exception) -> typer.Exit:
    typer.echo(f"error: {err}", err=True)
    return typer.Exit(2)


def onnx_model_path(model: str) -> Path:
    """The ONNX file for ``--runtime onnx``: the file itself, or ``RUN/model.onnx`` of a run folder.

    Raises:
        CompletionError: when there is no such file (says how to export one).
    """
    path = Path(model)
    if path.suffix == ".onnx" and path.is_file():
        return path
    if path.is_dir() and RunFolder.at(path).onnx.is_file():
        return RunFolder.at(path).onnx
    from completion.checkpoint import PRETRAINED

    export = f"`completion export {model} --out {path / 'model.onnx' if path.is_dir() else 'model.onnx'}`"
    if path.is_dir() or path.suffix in (".pt", ".pth") or str(model) in PRETRAINED:
        raise CompletionError(
            f"{model} is a torch model (for --runtime torch, torch-int8 or auto); --runtime onnx runs ONNX files "
            f"for onnxruntime: use --runtime auto, or export one with {export}"
        )
    if path.suffix == ".onnx":  # named like an ONNX file, but there is none
        raise CompletionError(f"{model}: no such ONNX file")
    raise CompletionError(
        f"--runtime onnx needs an .onnx file or a run folder with model.onnx; export one with {export}"
    )


class _QatBar:
    def __init__(self) -> None:
        self.bar: tqdm | None = None
        self.kind = ""

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind in ("sensitivity", "refine"):
            desc = "W* layer sensitivity" if kind == "sensitivity" else "activation steps"
            if self.bar is None or self.kind != kind:
                self.close()
                self.kind = kind
                self.bar = tqdm(total=event["total"], desc=desc, unit="layer" if kind == "refine" else "eval")
            self.bar.update(event["done"] - self.bar.n)
        elif kind == "start":
            self.close()
            self.kind = kind
            self.bar = tqdm(total=event["epochs"] * event["steps_per_epoch"], desc="QAT", unit="step")
        elif kind == "step" and self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{event['loss']:.4f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def quantize_command(
    source: Annotated[Path, typer.Option("--from", help="float run folder (`completion train` output).")],
    bits: Annotated[str, typer.Option("--bits", help="w8a8, w4a8, w4a4 or wstar.")],
    out: Annotated[Path, typer.Option("--out", help="new run folder for the quantized model.")],
    budget_mb: Annotated[
        float | None, typer.Option("--budget-mb", help="W* weight budget in MB (default: float32 / 14).")
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="QAT fine-tuning epochs.")] = 2,
    data: Annotated[Path | None, typer.Option("--data", help="dataset (default: the float run's).")] = None,
    max_train_samples: Annotated[
        int | None, typer.Option("--max-train-samples", help="fine-tune on the first N training samples only.")
    ] = None,
    max_val_samples: Annotated[
        int | None, typer.Option("--max-val-samples", help="validate on the first N validation samples only.")
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help="CPU threads (default: the float run's cpu_threads).")
    ] = None,
) -> None:
    """Quantize a float run: fold BatchNorm, calibrate, fine-tune with QAT, write a memory report.

    Calibration sets the LSQ steps, equalizes activation channels and searches the activation steps against the
    float model's depth.
    """
    from completion.quant.api import quantize_run
    from completion.quant.report import format_memory_report

    bar = _QatBar()
    given = {"data": None if data is None else str(data), "max_train_samples": max_train_samples,
             "max_val_samples": max_val_samples, "cpu_threads": threads}  # fmt: skip
    overrides = {k: v for k, v in given.items() if v is not None} or None
    try:
        run = quantize_run(source, bits, out, budget_mb=budget_mb, epochs=epochs, train_overrides=overrides,
                           progress=bar)  # fmt: skip
    except (CompletionError, TofsimError) as err:
        raise _fail(err) from None
    finally:
        bar.close()
    report = RunFolder.at(run).memory()
    typer.echo(format_memory_report(report))
    typer.echo(f"quantized run: {run} (best.pt, quantization.json, memory.json)")


def memory_command(
    run: Annotated[str, typer.Argument(help="run folder, .pt checkpoint or model name.")],
    height: Annotated[int, typer.Option("--height", help="input height in pixels.")] = 480,
    width: Annotated[int, typer.Option("--width", help="input width in pixels.")] = 640,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the report as JSON here.")] = None,
) -> None:
    """Weight bytes per layer as stored and peak activation memory, beside float32."""
    from completion.checkpoint import load_model
    from completion.quant.report import format_memory_report, memory_report

    try:
        report = memory_report(load_model(run), height_px=height, width_px=width)
    except (CompletionError, TofsimError) as err:
        raise _fail(err) from None
    typer.echo(format_memory_report(report))
    if json_out is not None:
        typer.echo(f"wrote {write_json(json_out, report, what='memory report')}")
    elif Path(run).is_dir():
        typer.echo(f"wrote {RunFolder.at(run).write_memory(report)}")


def export_command(
    run: Annotated[str, typer.Argument(help="run folder (float or quantized) or .pt checkpoint.")],
    out: Annotated[Path, typer.Option("--out", help="the .onnx file to write.")],
    height: Annotated[
        int, typer.Option("--height", help="trace height (the graph takes any multiple of the stride).")
    ] = 480,
    width: Annotated[
        int, typer.Option("--width", help="trace width (the graph takes any multiple of the stride).")
    ] = 640,
    weight_storage: Annotated[
        str, typer.Option("--weights", help="packed (INT4/INT2 where planned: smallest) or int8 (fastest).")
    ] = "packed",
) -> None:
    """Export to ONNX with QuantizeLinear/DequantizeLinear so onnxruntime runs int8 convolutions, at any input size."""
    from completion.checkpoint import load_model
    from completion.export import export_onnx

    try:
        info = export_onnx(load_model(run), out, height_px=height, width_px=width, weight_storage=weight_storage)
    except (CompletionError, TofsimError) as err:
        raise _fail(err) from None
    kinds = sorted(set(info["weights"].values())) or ["float32"]
    typer.echo(f"wrote {info['path']} ({info['bytes']:,} bytes, opset {info['opset']}, weights {', '.join(kinds)})")
