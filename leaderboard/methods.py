"""The methods file: which methods to score, where their predictions are, and what the table says about them.

TOML::

    [[method]]
    name = "float32"
    path = "preds/float32"          # relative to the methods file
    params = 1.2e6
    bits = 32
    weight_mb = 4.6
    latency_ms = 12.5

    [[method]]
    name = "NLSPN"
    path = "preds/nlspn"
    format = "nlspn"                # {index:010d}.png, 16-bit, x256
    notes = "released outputs"

YAML: ``method:`` (or ``methods:``) holding a list of the same mappings. Keys ``format``, ``scale_per_m``,
``key``, ``list_file``, ``pattern`` and ``float_scale_per_m`` (float files not in metres: 1000 for millimetres)
tell how to read the files; every other key is metadata and becomes a
table column (numbers stay numbers).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leaderboard.errors import ConfigError, InputFileError
from leaderboard.io.readers import KNOWN_SCALES_PER_M
from leaderboard.io.sources import FORMAT_ALIASES, PRED_FORMATS, PredictionSource

__all__ = ["MethodSpec", "load_methods", "parse_pred_option", "METADATA_KEYS", "SOURCE_KEYS", "PRED_OPTIONS"]

#: Keys that describe how to read the predictions.
SOURCE_KEYS = ("path", "format", "scale_per_m", "key", "list_file", "pattern", "float_scale_per_m")
#: Metadata keys with a known meaning (others are allowed and kept as they are).
METADATA_KEYS = ("params", "bits", "weight_mb", "activation_mb", "latency_ms", "notes", "paper", "url")


@dataclass(frozen=True, kw_only=True)
class MethodSpec:
    """One method to score.

    Attributes:
        name: row name in the tables (unique).
        source: where and how to read its predictions.
        metadata: table columns besides the metrics (params, bits, weight_mb, latency_ms, ...).
    """

    name: str
    source: PredictionSource
    metadata: dict[str, Any] = field(default_factory=dict)


def _spec(entry: dict[str, Any], base: Path, where: str) -> MethodSpec:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: each method must be a table/mapping, got {type(entry).__name__}")
    if "name" not in entry or "path" not in entry:
        raise ConfigError(f"{where}: each method needs 'name' and 'path' (got keys {', '.join(entry) or 'none'})")
    meta = {k: v for k, v in entry.items() if k not in (*SOURCE_KEYS, "name")}
    for k, v in meta.items():
        if not isinstance(v, (str, int, float, bool)) and v is not None:
            raise ConfigError(f"{where}: method {entry['name']!r} metadata {k!r} must be a number or text")
    path = Path(entry["path"])
    list_file = entry.get("list_file")
    source = PredictionSource(
        path=path if path.is_absolute() else base / path,
        fmt=entry.get("format", "auto"),
        scale_per_m=entry.get("scale_per_m"),
        key=entry.get("key"),
        list_file=None if list_file is None else (base / list_file),
        pattern=entry.get("pattern"),
        float_scale_per_m=entry.get("float_scale_per_m"),
    )
    return MethodSpec(name=str(entry["name"]), source=source, metadata=meta)


def load_methods(path: str | Path) -> list[MethodSpec]:
    """Read a methods file (TOML, or YAML by suffix ``.yaml``/``.yml``).

    Raises:
        InputFileError: missing or unparsable file.
        ConfigError: no methods, a method without name or path, duplicate names, bad metadata, bad format.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"methods file not found: {path}")
    text = path.read_text()
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = tomllib.loads(text)
    except Exception as e:  # tomllib.TOMLDecodeError, yaml.YAMLError
        raise InputFileError(f"methods file {path} cannot be parsed: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a 'method' list at the top level")
    unknown = sorted(set(data) - {"method", "methods"})
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(unknown)}; valid: method, methods")
    entries = data.get("method", data.get("methods"))
    if not entries or not isinstance(entries, list):
        raise ConfigError(f"{path}: no methods; write [[method]] tables (TOML) or a 'method:' list (YAML)")
    specs = [_spec(e, path.parent, str(path)) for e in entries]
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"{path}: duplicate method name(s) {', '.join(dup)}")
    return specs


#: Per-method options of a CLI ``--pred NAME=PATH:OPTION=VALUE...``: option -> `PredictionSource` field.
PRED_OPTIONS = {"format": "fmt", "scale": "scale_per_m", "key": "key", "list": "list_file", "pattern": "pattern"}


def _pred_options(name: str, segments: list[str]) -> dict[str, Any]:
    """Parse ``option=value`` segments of one ``--pred`` into `PredictionSource` fields (see `PRED_OPTIONS`)."""
    fields: dict[str, Any] = {}
    valid = ", ".join(sorted(PRED_OPTIONS))
    for seg in segments:
        opt, _, value = seg.partition("=")
        opt, value = opt.strip(), value.strip()
        if opt not in PRED_OPTIONS:
            raise ConfigError(f"--pred {name!r}: unknown option {opt!r}; valid: {valid} (e.g. NAME=PATH:scale=256)")
        if not value:
            raise ConfigError(f"--pred {name!r}: option {opt!r} needs a value ({opt}=...)")
        if opt == "scale":
            try:
                scale = float(value)
            except ValueError:
                scale = float("nan")
            if not (scale > 0 and scale < float("inf")):
                raise ConfigError(
                    f"--pred {name!r}: scale={value!r} must be a positive number of units per metre "
                    f"({KNOWN_SCALES_PER_M})"
                )
            fields["scale_per_m"] = fields["float_scale_per_m"] = scale
        elif opt == "format":
            fmt = FORMAT_ALIASES.get(value, value)
            if fmt not in PRED_FORMATS:
                raise ConfigError(f"--pred {name!r}: unknown format={value!r}; valid: {', '.join(PRED_FORMATS)}")
            fields["fmt"] = fmt
        elif opt == "list":
            fields["list_file"] = Path(value)
        else:
            fields[PRED_OPTIONS[opt]] = value
    return fields


def parse_pred_option(text: str, *, fmt: str = "auto", scale_per_m: float | None = None) -> MethodSpec:
    """A `MethodSpec` from a CLI ``NAME=PATH`` option, optionally followed by ``:OPTION=VALUE`` parts.

    Options (`PRED_OPTIONS`): ``format`` (one of `PRED_FORMATS`, ``png`` meaning ``png16``), ``scale`` (units
    per metre of the stored values: PNG, and float files that hold millimetres), ``key``, ``list`` (a list file)
    and ``pattern``. They apply to this method only; `fmt` and `scale_per_m` (the CLI's ``--format`` and
    ``--png-scale-per-m``) are the defaults of the ones not given.
    Trailing ``:``-separated parts holding ``=`` are options; the rest is the path (a ``C:`` drive stays in it).

    Example:
        ``nlspn=out/nlspn:scale=256:format=png`` reads ``out/nlspn`` as 16-bit PNGs at 256 per metre.

    Raises:
        ConfigError: the text is not ``NAME=PATH[:OPTION=VALUE...]``, an unknown option (listing the valid ones),
            a bad scale or an unknown format.
    """
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not name or not rest.strip():
        raise ConfigError(f"--pred expects NAME=PATH[:scale=256][:format=png], got {text!r}")
    parts = rest.split(":")
    n_path = len(parts)
    while n_path > 1 and "=" in parts[n_path - 1]:
        n_path -= 1
    path, options = ":".join(parts[:n_path]).strip(), parts[n_path:]
    if not path:
        raise ConfigError(f"--pred {name!r}: no path before the options in {text!r}")
    given = [seg.partition("=")[0].strip() for seg in options]
    twice = sorted({o for o in given if given.count(o) > 1})
    if twice:
        raise ConfigError(f"--pred {name!r}: option(s) {', '.join(twice)} given more than once")
    fields: dict[str, Any] = {"fmt": fmt, "scale_per_m": scale_per_m, **_pred_options(name, options)}
    return MethodSpec(name=name, source=PredictionSource(path=Path(path), **fields))
