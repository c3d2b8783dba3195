"""tofsim: scenes and dense depth in, sparse-spot time-of-flight out.

The verbs: `generate` (procedural rooms or a mesh -> a dataset folder) and `convert` (real RGB-D frames -> a
dataset folder), both from `tofsim.pipeline`; `open_dataset` reads a dataset folder back.

Importing tofsim loads neither torch nor Open3D; Open3D is imported inside the functions that raycast, and the
verbs are imported on first use, so ``import tofsim`` stays as small as the types it exports.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from tofsim.camera import Intrinsics, range_to_z, z_to_range
from tofsim.errors import TofsimError
from tofsim.frame import SPOT_DTYPE, DenseFrame, Sample, SpotStatus
from tofsim.lazy import lazy_attributes

if TYPE_CHECKING:
    from tofsim.pipeline import convert, generate

try:
    __version__ = version("tofbench")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+local"

__all__ = [
    "DenseFrame",
    "Intrinsics",
    "SPOT_DTYPE",
    "Sample",
    "SpotStatus",
    "TofsimError",
    "convert",
    "generate",
    "open_dataset",
    "range_to_z",
    "z_to_range",
    "__version__",
]


def open_dataset(path, **kwargs):
    """Open a tofsim dataset folder (HDF5 shards + manifest.json); see `tofsim.dataset.reader.open_dataset`."""
    from tofsim.dataset.reader import open_dataset as _open

    return _open(path, **kwargs)


__getattr__, __dir__ = lazy_attributes(__name__, {"generate": "tofsim.pipeline", "convert": "tofsim.pipeline"})
