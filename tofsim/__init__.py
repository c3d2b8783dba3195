"""tofsim: scenes and dense depth in, sparse-spot time-of-flight out.

Importing tofsim loads neither torch nor Open3D; Open3D is imported inside the functions that raycast.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from tofsim.camera import Intrinsics, range_to_z, z_to_range
from tofsim.errors import TofsimError
from tofsim.frame import SPOT_DTYPE, DenseFrame, Sample, SpotStatus

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
    "open_dataset",
    "range_to_z",
    "z_to_range",
    "__version__",
]


def open_dataset(path, **kwargs):
    """Open a tofsim dataset folder (HDF5 shards + manifest.json); see `tofsim.dataset.reader.open_dataset`."""
    from tofsim.dataset.reader import open_dataset as _open

    return _open(path, **kwargs)
