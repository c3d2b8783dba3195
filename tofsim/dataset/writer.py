"""Write one HDF5 shard of samples: atomically (temporary name, then `os.replace`) and reproducibly.

The same samples and attributes always give the same bytes: object time stamps are off, the file format
bounds are fixed (``libver`` earliest..v110), and datasets and attributes are created in a fixed order.
The file is written under a temporary name in the target folder and renamed when complete, so a failure
never leaves a partial shard under the final name.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tofsim.checks import check_shape
from tofsim.dataset import schema
from tofsim.errors import OutputError, ShapeError
from tofsim.frame import SPOT_DTYPE, Sample
from tofsim.provenance import atomic_path, canonical_json, sha256_file, versions

__all__ = ["write_shard", "encode_chunks"]


def _attr_value(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float, np.generic)):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value
    return canonical_json(value)  # dicts, lists, None: a JSON string


def _check_samples(samples: Sequence[Sample]) -> tuple[int, int]:
    if len(samples) == 0:
        raise ShapeError("write_shard: samples is empty; a shard holds at least one sample")
    first = samples[0]
    hw = check_shape(first.depth_m, ("H", "W"), name="samples[0].depth_m")
    h, w = hw["H"], hw["W"]
    for j, s in enumerate(samples):
        check_shape(s.rgb, (h, w, 3), name=f"samples[{j}].rgb")
        check_shape(s.depth_m, (h, w), name=f"samples[{j}].depth_m")
        check_shape(s.sparse_m, (h, w), name=f"samples[{j}].sparse_m")
        check_shape(s.spot_mask, (h, w), name=f"samples[{j}].spot_mask")
        check_shape(s.K, (3, 3), name=f"samples[{j}].K")
        check_shape(s.pose, (4, 4), name=f"samples[{j}].pose")
        if np.asarray(s.rgb).dtype != np.uint8:
            raise ShapeError(f"samples[{j}].rgb: expected dtype uint8, got {np.asarray(s.rgb).dtype}")
        spots = np.asarray(s.spots)
        if spots.ndim != 1 or spots.dtype.names != SPOT_DTYPE.names:
            raise ShapeError(f"samples[{j}].spots: expected a 1-D SPOT_DTYPE table, got {spots.dtype} {spots.shape}")
    return h, w


def _global_indices(samples: Sequence[Sample], attrs: Mapping[str, Any]) -> np.ndarray:
    if all("index" in s.meta for s in samples):
        index = np.array([int(s.meta["index"]) for s in samples], dtype=np.int64)
        if np.any(index != index[0] + np.arange(len(index))):
            raise ShapeError(f"write_shard: meta['index'] must be consecutive within a shard, got {index.tolist()[:8]}")
        return index
    first = int(attrs.get("first_index", 0))
    return np.arange(first, first + len(samples), dtype=np.int64)


#: The per-sample image datasets: dtype and how to get the array from a `Sample`.
_IMAGES: dict[str, tuple[np.dtype, Any]] = {
    schema.RGB: (np.dtype("u1"), lambda s: np.asarray(s.rgb, dtype="u1")),
    schema.DEPTH: (np.dtype("<f4"), lambda s: np.asarray(s.depth_m, dtype="<f4")),
    schema.SPARSE: (np.dtype("<f4"), lambda s: np.asarray(s.sparse_m, dtype="<f4")),
    schema.MASK: (np.dtype("u1"), lambda s: np.asarray(s.spot_mask).astype("u1")),
}


def encode_chunks(sample: Sample) -> dict[str, bytes]:
    """One sample's image chunks exactly as HDF5 stores them (one chunk per sample and dataset).

    Unfiltered datasets get their raw bytes; gzip-filtered ones the zlib stream HDF5's deflate filter writes
    (``compress2`` at the same level gives the same bytes). `zlib` releases the GIL, so samples can be encoded on
    a worker thread while the next one is simulated; `write_shard` then only copies bytes into the file.

    Returns:
        dataset name -> chunk bytes, for the image datasets (rgb, depth, sparse, mask).
    """
    out = {}
    for key, (dtype, get) in _IMAGES.items():
        raw = np.ascontiguousarray(get(sample), dtype=dtype)
        filt = schema.FILTERS[key]
        if filt is None:
            out[key] = raw.tobytes()
        elif filt.get("compression") == "gzip" and len(filt) <= 2:
            out[key] = zlib.compress(memoryview(raw).cast("B"), int(filt.get("compression_opts", 4)))
        else:  # pragma: no cover - a filter other than plain gzip would need HDF5 to apply it
            raise ValueError(f"{key}: cannot pre-encode chunks for filter {filt}")
    return out


def _write_hdf5(
    path: Path, samples: Sequence[Sample], attrs: Mapping[str, Any], chunks: Sequence[Mapping[str, bytes]] | None
) -> None:
    """Write the shard's HDF5 file at `path` (the caller handles atomicity)."""
    import h5py

    h, w = _check_samples(samples)
    n = len(samples)
    index = _global_indices(samples, attrs)
    spots = [np.asarray(s.spots).astype(SPOT_DTYPE, copy=False) for s in samples]
    offsets = np.zeros(n + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(t) for t in spots])
    spots_flat = np.concatenate(spots) if offsets[-1] else np.zeros(0, dtype=SPOT_DTYPE)

    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)  # no time stamps: identical input -> identical bytes
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_EARLIEST, h5py.h5f.LIBVER_V110)
    fid = h5py.h5f.create(os.fsencode(path), h5py.h5f.ACC_TRUNC, fapl=fapl, fcpl=fcpl)
    with h5py.File(fid) as f:
        if chunks is None:
            chunks = [encode_chunks(s) for s in samples]
        elif len(chunks) != n:
            raise ShapeError(f"write_shard: {len(chunks)} encoded chunk sets for {n} samples")
        for key, (dtype, _) in _IMAGES.items():
            shape = (h, w, 3) if key == schema.RGB else (h, w)
            dset = f.create_dataset(
                key,
                shape=(n, *shape),
                dtype=dtype,
                chunks=(1, *shape),
                track_times=False,
                **(schema.FILTERS[key] or {}),
            )
            origin = (0,) * len(shape)
            for j in range(n):  # one chunk per sample, already encoded: HDF5 only copies the bytes
                dset.id.write_direct_chunk((j, *origin), chunks[j][key])
        small = {
            schema.K: np.stack([np.asarray(s.K, dtype=np.float64) for s in samples]),
            schema.POSE: np.stack([np.asarray(s.pose, dtype=np.float64) for s in samples]),
            schema.INDEX: index,
            schema.SPOT_OFFSETS: offsets,
        }
        for key, arr in small.items():
            f.create_dataset(key, data=arr, track_times=False)
        meta = np.array([canonical_json(s.meta) for s in samples], dtype=object)
        f.create_dataset(schema.META, data=meta, dtype=h5py.string_dtype("utf-8"), track_times=False)
        if len(spots_flat):
            chunk = (min(len(spots_flat), 4096),)  # ~100 kB: a sample's spots decompress a chunk or two
            f.create_dataset(
                schema.SPOTS, data=spots_flat, chunks=chunk, track_times=False, **(schema.FILTERS[schema.SPOTS] or {})
            )
        else:
            f.create_dataset(schema.SPOTS, shape=(0,), dtype=SPOT_DTYPE, track_times=False)
        # HDF5 places a cached chunk in the file when the chunk is flushed, which is when its dataset closes,
        # unless flushed earlier. A Dask worker's profiler can hold the frame that created a dataset, delaying
        # the close past the attributes below; flushing here fixes the layout, so identical input stays
        # identical bytes.
        f.flush()
        zone_keys = _write_zones(f, samples)
        for key in sorted(schema.DATASETS):
            for attr, value in sorted(schema.DATASETS[key].items()):
                f[key].attrs[attr] = value
        for key in zone_keys:
            for attr, value in sorted(schema.ZONE_DATASETS[key][1].items()):
                f[key].attrs[attr] = value
        # replaced by the caller's own "versions" when given
        root = {"versions": canonical_json(versions(schema.VERSIONED_LIBRARIES, project_key="tofsim"))}
        root |= {k: _attr_value(v) for k, v in attrs.items()}
        root |= {  # the layout keys win over caller attributes of the same name
            "format": schema.FORMAT_NAME,
            "format_version": schema.FORMAT_VERSION,
            "count": n,
            "first_index": int(index[0]),
            "image_height_px": h,
            "image_width_px": w,
            "units": "m",
            "depth_kind": "z",
        }
        for key in sorted(root):
            f.attrs[key] = root[key]


def _write_zones(f: Any, samples: Sequence[Sample]) -> list[str]:
    """Write the optional zone datasets when every sample carries zone statistics; returns their names."""
    zones = [s.zones for s in samples]
    if not all(z is not None and schema.ZONE_MAP in z for z in zones):
        if any(z is not None and schema.ZONE_MAP in z for z in zones):
            raise ShapeError("write_shard: zone statistics must be present in every sample of a shard or in none")
        return []
    names = sorted(schema.ZONE_DATASETS)
    for name in names:
        key = schema.ZONE_DATASETS[name][0]
        arr = np.stack([np.asarray(z[key]) for z in zones])
        if name == schema.ZONE_MAP:
            f.create_dataset(
                name, data=arr.astype("<i2"), chunks=(1, *arr.shape[1:]), compression="gzip", compression_opts=1,
                track_times=False,
            )  # fmt: skip
        else:
            f.create_dataset(name, data=arr, track_times=False)
    f.flush()
    return names


def write_shard(
    path: Path, samples: Sequence[Sample], *, attrs: dict, chunks: Sequence[Mapping[str, bytes]] | None = None
) -> dict:
    """Write `samples` to the HDF5 shard `path`, atomically and reproducibly.

    The file is written to a temporary name in the same folder, hashed, flushed to disk and renamed over
    `path`; on any error the temporary file is removed and `path` is untouched.

    Args:
        path: final shard path (e.g. ``out / schema.shard_filename(k)``); its folder must exist.
        samples: `tofsim.frame.Sample` objects of one image size. Global indices come from ``meta["index"]``
            when every sample has one, else ``attrs["first_index"] + j`` (default 0).
        attrs: root attributes: seed, config_hash, versions, preset, ... (non-scalars stored as JSON).
        chunks: optional ``encode_chunks(sample)`` of every sample, computed ahead (e.g. on another thread);
            the file is the same either way.

    Returns:
        ``{"file": name, "count": n, "sha256": hex digest of the file, "first_index": global index of sample 0}``.

    Raises:
        ShapeError: empty input, mismatched image sizes, wrong dtypes or a spot table of another dtype.
        OutputError: the folder is missing or not writable.
    """
    path = Path(path)
    _check_samples(samples)
    if not path.parent.is_dir():
        raise OutputError(f"{path.parent}: output folder does not exist")
    with atomic_path(path, what="shard") as tmp:
        _write_hdf5(tmp, samples, attrs, chunks)
        digest = sha256_file(tmp)
    first = int(_global_indices(samples, attrs)[0])
    return {"file": path.name, "count": len(samples), "sha256": digest, "first_index": first}
