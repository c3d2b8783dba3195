"""Names and layout of a tofsim dataset on disk (see ``docs/dataset-format.md``): one place for every string.

A dataset is a folder with HDF5 shards ``shard-00000.h5``, ... and ``manifest.json`` (written last).
Each shard stacks its N samples along axis 0; the variable-length spot tables are stored flat with offsets.
"""

from __future__ import annotations

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "SHARD_PATTERN",
    "VERSIONED_LIBRARIES",
    "SPLIT_NAMES",
    "DATASETS",
    "FILTERS",
    "ZONE_DATASETS",
    "SAMPLE_FIELDS",
    "shard_filename",
]

FORMAT_NAME = "tofsim-dataset"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
SHARD_PATTERN = "shard-{shard_index:05d}.h5"
SPLIT_NAMES = ("train", "val", "test")
#: Software whose versions shape a dataset's bytes: stored in every shard and the manifest as ``versions``
#: (this project under the key ``tofsim``).
VERSIONED_LIBRARIES = ("tofbench", "numpy", "h5py", "hdf5", "python")

# HDF5 dataset names inside a shard.
RGB = "rgb"  # (N, H, W, 3) uint8
DEPTH = "depth"  # (N, H, W) float32 z-depth, m, 0 invalid
SPARSE = "sparse"  # (N, H, W) float32 z-depth, m, 0 = no measurement
MASK = "mask"  # (N, H, W) uint8 0/1 (sparse > 0)
K = "K"  # (N, 3, 3) float64 px
POSE = "pose"  # (N, 4, 4) float64 T_world_from_cam, m
META = "meta"  # (N,) variable-length UTF-8 JSON string
INDEX = "index"  # (N,) int64 global sample index
SPOTS = "spots"  # (M,) SPOT_DTYPE, all samples' spot tables concatenated
SPOT_OFFSETS = "spot_offsets"  # (N + 1,) int64: spots of sample j are spots[off[j]:off[j + 1]]

#: `tofsim.frame.Sample` field -> the HDF5 dataset that stores it. The on-disk names predate the units in the
#: field names and do not change, so every dataset ever written reads as is (``spots`` and ``meta`` keep theirs).
SAMPLE_FIELDS: dict[str, str] = {
    "rgb": RGB,
    "depth_m": DEPTH,
    "sparse_m": SPARSE,
    "spot_mask": MASK,
    "K": K,
    "pose": POSE,
}

#: HDF5 filter per dataset (h5py ``create_dataset`` keywords; None = unfiltered), chosen for write speed, as a
#: 640 x 480 frame must be written in a few ms: deflate level 1 (standard in every HDF5 build, unlike LZF) on the
#: mostly-zero sparse map (1.2 MB -> ~15 kB), the mask and the spot table; nothing on colour (lossless coding
#: saves ~15-30 % on camera images at 10-20 ms per frame) or on ground-truth depth (float32: little gain on
#: rendered depth for ~6 ms per frame). Unfiltered chunks are written directly, one chunk per sample.
FILTERS: dict[str, dict[str, object] | None] = {
    RGB: None,
    DEPTH: None,
    SPARSE: {"compression": "gzip", "compression_opts": 1},
    MASK: {"compression": "gzip", "compression_opts": 1},
    SPOTS: {"compression": "gzip", "compression_opts": 1},
}

#: Every dataset in a shard with its per-dataset attributes (units, depth_kind, invalid value, meaning).
DATASETS: dict[str, dict[str, str | int | float]] = {
    RGB: {"units": "8-bit sRGB", "description": "colour in the depth camera's frame"},
    DEPTH: {"units": "m", "depth_kind": "z", "invalid_value": 0.0, "description": "ground-truth z-depth"},
    SPARSE: {"units": "m", "depth_kind": "z", "invalid_value": 0.0, "description": "simulated ToF z-depth at spots"},
    MASK: {"units": "1", "description": "1 where sparse > 0 (bool stored as uint8)"},
    K: {"units": "px", "description": "pinhole intrinsics, pixel centres at integer coordinates (OpenCV)"},
    POSE: {"units": "m", "description": "T_world_from_cam (camera-to-world), OpenCV camera axes"},
    META: {"units": "", "description": "per-sample JSON: scene_id, split, seed, preset, source_file, versions"},
    INDEX: {"units": "", "description": "global sample index"},
    SPOTS: {
        "units": "u, v: px; range_m, z_m, sigma_m: m; amplitude: photo-electrons; status: tofsim.frame.SpotStatus",
        "depth_kind": "range_m is range along the ray, z_m is z-depth",
        "invalid_value": 0.0,
        "description": "spot tables of all samples, concatenated",
    },
    SPOT_OFFSETS: {"units": "", "description": "spots of sample j are spots[offsets[j]:offsets[j + 1]]"},
}


#: Optional zone datasets, written only when the samples carry zone statistics (a zone sensor with
#: ``zone_statistics``): HDF5 name -> (key in `Sample.zones`, attributes). Shards without them read as before.
ZONE_MAP = "zone_map"  # (N, H, W) int16 zone index per pixel, -1 = no zone; gzip level 1
ZONE_DATASETS: dict[str, tuple[str, dict[str, str | int | float]]] = {
    "zone_range_mean_m": ("range_mean_m", {"units": "m", "depth_kind": "range", "invalid_value": 0.0,
                                           "description": "mean true range over each zone's pixels (rows, cols)"}),
    "zone_range_std_m": ("range_std_m", {"units": "m", "depth_kind": "range", "invalid_value": 0.0,
                                         "description": "std of the true range over each zone's pixels"}),
    "zone_range_min_m": ("range_min_m", {"units": "m", "depth_kind": "range", "invalid_value": 0.0,
                                         "description": "nearest true range in each zone"}),
    "zone_range_max_m": ("range_max_m", {"units": "m", "depth_kind": "range", "invalid_value": 0.0,
                                         "description": "farthest true range in each zone"}),
    "zone_pixel_count": ("pixel_count", {"units": "px", "description": "valid pixels per zone"}),
    ZONE_MAP: ("zone_map", {"units": "", "invalid_value": -1,
                            "description": "row-major zone index of every pixel (tofsim.sensor.zones)"}),
}  # fmt: skip


def shard_filename(shard_index: int) -> str:
    """File name of shard `shard_index` (``shard-00007.h5``); sorted names are shard order."""
    if shard_index < 0:
        raise ValueError(f"shard_index must be >= 0, got {shard_index}")
    return SHARD_PATTERN.format(shard_index=int(shard_index))
