"""The score folder: the only writer (`ScoreFolder.write`) and the only reader (`ScoreFolder.read`).

``leaderboard score`` builds a `ScoreFolder` and writes it; the report and the figure command read it back and use
its attributes, never file or key names of their own. Files (all written by `write`; see ``docs/leaderboard-guide.md``):

- ``metrics.csv``: one row per method: headline metrics, ``pooled_*``, regions, bootstrap intervals, counts,
  then the methods' metadata. Metres, 1/m and fractions.
- ``metrics.md``, ``metrics.tex``: the headline table (best value bold).
- ``per_image.csv``, ``bins.csv``, ``regions.csv``, ``paired.csv``: the other tables.
- ``protocol.json``: the protocol and its hash; ``methods.json``: method -> resolved prediction source.
- ``metrics.json`` (`ScoreSummary`): rows, protocol, intervals, paired tests, counts, missing files, ground truth,
  versions and checksums; written last.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leaderboard.errors import InputFileError
from leaderboard.tables import HEADLINE_COLUMNS, to_csv, to_latex, to_markdown
from tofsim.provenance import read_json, write_json, write_text_atomic

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ScoreFolder", "Table", "FILES", "TABLE_FILES"]

#: A table row: column -> value (str, int, float; NaN for an empty cell once read back).
Row = dict[str, object]

#: Metadata columns shown in ``metrics.md`` / ``metrics.tex`` when some method has them.
TABLE_METADATA_COLUMNS = ("params", "bits", "weight_mb", "latency_ms")
#: CSV tables of a score folder, by file stem.
TABLE_FILES = ("metrics", "per_image", "bins", "regions", "paired")
#: Every file `ScoreFolder.write` publishes, in the order it publishes them (``metrics.json`` last).
FILES = (
    "metrics.csv",
    "metrics.md",
    "metrics.tex",
    "per_image.csv",
    "bins.csv",
    "regions.csv",
    "paired.csv",
    "protocol.json",
    "methods.json",
    "metrics.json",
)


@dataclass(frozen=True)
class Table:
    """One CSV table: its columns in order and one dict per row."""

    columns: tuple[str, ...]
    rows: list[Row]

    def frame(self) -> pd.DataFrame:
        """The table as a `pandas.DataFrame` (columns in order)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(self.columns))


@dataclass(frozen=True, kw_only=True)
class ScoreFolder:
    """Everything ``leaderboard score`` writes into one folder.

    Attributes:
        path: the folder.
        metrics: ``metrics.csv`` (column ``method`` first; one row per method, in scoring order).
        per_image: ``per_image.csv``.
        bins: ``bins.csv`` (pooled per GT depth bin).
        regions: ``regions.csv`` (pooled per image region).
        paired: ``paired.csv`` (paired tests between every two methods).
        protocol: ``protocol.json``: the protocol's fields and its ``hash``.
        methods: ``methods.json``: method -> resolved source (``path``, ``format``, ``scale_per_m``, ...),
            ``metadata`` and ``n_missing_files``.
        summary: ``metrics.json``: ``columns``, ``rows``, ``protocol``, ``confidence_intervals``,
            ``paired_tests``, ``counts``, ``missing_files``, ``ground_truth``, ``versions``, ``checksums``, ``units``.
    """

    path: Path
    metrics: Table
    per_image: Table
    bins: Table
    regions: Table
    paired: Table
    protocol: dict[str, Any]
    methods: dict[str, dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)

    # --- writing -------------------------------------------------------------------------------------------------

    def write(self) -> dict[str, Path]:
        """Write every file in `FILES` into `path` (created), each atomically, ``metrics.json`` last.

        Returns:
            File name -> written path.

        Raises:
            OutputError: the folder cannot be created or written.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        out = self.path
        paths = {"metrics.csv": write_text_atomic(out / "metrics.csv", to_csv(self.metrics.rows, self.metrics.columns))}
        paths["metrics.md"] = write_text_atomic(out / "metrics.md", to_markdown(self.metrics.rows, self.table_columns))
        paths["metrics.tex"] = write_text_atomic(
            out / "metrics.tex",
            to_latex(self.metrics.rows, self.table_columns, caption=self.caption, label="tab:depth-completion"),
        )
        for stem in TABLE_FILES[1:]:
            table: Table = getattr(self, stem)
            paths[f"{stem}.csv"] = write_text_atomic(out / f"{stem}.csv", to_csv(table.rows, table.columns))
        paths["protocol.json"] = write_json(out / "protocol.json", self.protocol, what="protocol")
        paths["methods.json"] = write_json(out / "methods.json", self.methods, what="methods")
        paths["metrics.json"] = write_json(out / "metrics.json", self.summary, what="score summary")
        return paths

    # --- reading -------------------------------------------------------------------------------------------------

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> ScoreFolder:
        """Read a folder written by `write` (``leaderboard score --out``).

        Raises:
            InputFileError: the folder or one of its files is missing or unreadable.
        """
        d = Path(path)
        if not (d / "metrics.csv").is_file():
            raise InputFileError(f"{d}: no metrics.csv here; run `leaderboard score --gt GT --out {d}` first")
        missing = [name for name in FILES if not (d / name).is_file()]
        if missing:
            raise InputFileError(
                f"{d}: not a complete score folder (missing {', '.join(missing)}); score again with `leaderboard score`"
            )
        tables = {stem: _read_table(d / f"{stem}.csv") for stem in TABLE_FILES}
        if "method" not in tables["metrics"].columns:
            raise InputFileError(f"{d / 'metrics.csv'}: needs a 'method' column, has {list(tables['metrics'].columns)}")
        return cls(
            path=d,
            **tables,
            protocol=_read_object(d / "protocol.json"),
            methods={str(k): v for k, v in _read_object(d / "methods.json").items() if isinstance(v, dict)},
            summary=_read_object(d / "metrics.json"),
        )

    # --- what follows from the files ---------------------------------------------------------------------------

    @property
    def table_columns(self) -> list[str]:
        """Columns of ``metrics.md`` / ``metrics.tex``: the headline metrics, then size and speed metadata."""
        meta = {
            k for entry in self.methods.values() if isinstance(entry.get("metadata"), dict) for k in entry["metadata"]
        }
        return [*HEADLINE_COLUMNS, *[c for c in TABLE_METADATA_COLUMNS if c in meta]]

    @property
    def caption(self) -> str:
        """Caption of ``metrics.tex``: frames scored and how."""
        aggregation = str(self.protocol.get("aggregation", "")).replace("_", "-")
        return (
            f"Depth completion on {self.ground_truth.get('n_frames')} frames ({aggregation} means, "
            f"missing pixels {self.protocol.get('missing')})."
        )

    @property
    def method_names(self) -> list[str]:
        """Method names in the order of ``metrics.csv``."""
        return [str(r["method"]) for r in self.metrics.rows]

    @property
    def ground_truth(self) -> dict[str, Any]:
        """``metrics.json["ground_truth"]``: ``kind``, ``path``, ``n_frames``, ``format``, ``scale_per_m``, ..."""
        gt = self.summary.get("ground_truth")
        return gt if isinstance(gt, dict) else {}

    @property
    def gt_path(self) -> Path | None:
        """The ground-truth folder that was scored, or None when it was an in-memory object."""
        p = self.ground_truth.get("path")
        return Path(p) if isinstance(p, str) and p else None

    @property
    def gt_scale_per_m(self) -> float | None:
        """PNG scale of a ground-truth folder, or None."""
        s = self.ground_truth.get("scale_per_m")
        return float(s) if isinstance(s, int | float) else None

    def prediction_specs(self) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """(method name -> ``methods.json`` entry, names whose entry has no prediction folder)."""
        specs, missing = {}, []
        for n in self.method_names:
            entry = self.methods.get(n) or {}
            if isinstance(entry.get("path"), str) and entry["path"]:
                specs[n] = dict(entry)
            else:
                missing.append(n)
        return specs, missing


def _read_object(path: Path) -> dict[str, Any]:
    value = read_json(path, what=path.name)
    if not isinstance(value, dict):
        raise InputFileError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def _read_table(path: Path) -> Table:
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{path}: cannot read CSV ({exc})") from None
    rows: list[Row] = [
        {str(k): (math.nan if v is None else v) for k, v in r.items()} for r in df.to_dict(orient="records")
    ]
    return Table(columns=tuple(str(c) for c in df.columns), rows=rows)
