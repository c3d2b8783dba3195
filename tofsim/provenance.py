"""Provenance: the one way a file is published, the one JSON form, the one hash and the one version stamp.

Every file the three packages publish (shards, manifests, score tables, figures, checkpoints, model folders,
markers) goes through `atomic_path`: it is written under a temporary name in the same folder, flushed to disk and
renamed over the final name with `os.replace`, so a reader never sees half a file and a failed write leaves the
old file as it was.

JSON comes in two forms, both written here only:

- `canonical_json`: compact, sorted keys, numpy values and paths converted; the form that is hashed
  (`json_sha256`: config hashes) and stored in HDF5 attributes. NaN stays NaN so old hashes stay valid.
- `write_json`: a JSON *file*: indented by two, a final newline, non-finite floats as ``null``; keys sorted when
  the file's readers do not care about order (manifests, markers), kept in order where the order is the content
  (a score table's methods, a report's metrics).

`versions` names the software that shaped a file's bytes; callers list the libraries that matter to them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from tofsim.errors import InputFileError, OutputError, TofsimError

__all__ = [
    "atomic_path",
    "atomic_folder",
    "write_bytes_atomic",
    "write_text_atomic",
    "write_json",
    "json_text",
    "read_json",
    "canonical_json",
    "json_sha256",
    "sha256_file",
    "versions",
    "PROJECT_DISTRIBUTION",
]


#: The installed distribution that holds tofsim, completion and leaderboard.
PROJECT_DISTRIBUTION = "tofbench"
#: Version stamp of a source tree that was not installed.
LOCAL_VERSION = "0.0.0+local"


def _json_default(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in JSON")


def canonical_json(obj: object) -> str:
    """Deterministic compact JSON: sorted keys, numpy scalars/arrays, paths and sets converted, UTF-8 kept.

    Raises:
        TypeError: a value JSON cannot hold.

    Example:
        >>> canonical_json({"b": np.float32(0.5), "a": [1, 2]})
        '{"a": [1, 2], "b": 0.5}'
    """
    return json.dumps(obj, sort_keys=True, default=_json_default, ensure_ascii=False)


def json_sha256(obj: object) -> str:
    """Hex SHA-256 of `canonical_json(obj)`: equal values, equal hashes (config hashes)."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in 4 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(4 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sibling(path: Path, suffix: str) -> Path:
    """A unique hidden name beside `path` (same folder, so `os.replace` is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.{suffix}")


@contextmanager
def _published(path: Path, what: str) -> Iterator[None]:
    """Operating-system errors in the block become one `OutputError` naming `path` and `what`."""
    try:
        yield
    except TofsimError:
        raise
    except OSError as e:
        raise OutputError(f"{path}: cannot write {what} ({e.strerror or e})") from None


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, what: str = "file") -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block succeeds, flush it to disk and rename it over `path`.

    The folder must exist. On any error the temporary file is removed and `path` is left as it was.

    Args:
        path: the final file name.
        what: what is written, for the error message ("manifest", "figure", ...).

    Raises:
        OutputError: an operating-system error while writing or publishing (names `path` and `what`);
            other errors propagate unchanged.

    Example:
        >>> with atomic_path(Path("out/manifest.json"), what="manifest") as tmp:  # doctest: +SKIP
        ...     tmp.write_text("{}")
    """
    path = Path(path)
    tmp = _sibling(path, "tmp")
    try:
        with _published(path, what):
            yield tmp
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_folder(path: str | os.PathLike[str], *, what: str = "folder", replace: bool = False) -> Iterator[Path]:
    """Yield a new temporary folder beside `path`; when the block succeeds, rename it to `path`.

    The folder appears whole or not at all. An existing empty folder at `path` is replaced; an existing folder
    with files only when `replace` is true (the old one is moved aside first, then deleted). The parent folder
    must exist. On any error the temporary folder is deleted and `path` is left as it was.

    Raises:
        OutputError: `path` holds files and `replace` is false, or an operating-system error while writing
            (names `path` and `what`); other errors propagate unchanged.
    """
    path = Path(path)
    tmp = _sibling(path, "tmp")
    try:
        with _published(path, what):
            tmp.mkdir()
            yield tmp
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
            if not path.exists():
                os.replace(tmp, path)
            elif replace:
                trash = _sibling(path, "old")
                os.replace(path, trash)
                os.replace(tmp, path)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                raise OutputError(f"{path}: already exists and is not empty; remove it or choose another folder")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, what: str = "file") -> Path:
    """Publish `data` as `path` through `atomic_path`; return `path`.

    Raises:
        OutputError: the folder is missing or not writable.
    """
    path = Path(path)
    with atomic_path(path, what=what) as tmp:
        tmp.write_bytes(data)
    return path


def write_text_atomic(path: str | os.PathLike[str], text: str, *, what: str = "file") -> Path:
    """Publish `text` (UTF-8, newlines as given) as `path` through `atomic_path`; return `path`.

    Raises:
        OutputError: the folder is missing or not writable.
    """
    return write_bytes_atomic(path, text.encode("utf-8"), what=what)


def _finite_or_none(obj: object) -> object:
    if isinstance(obj, float | np.floating) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _finite_or_none(obj.tolist())
    return obj


def json_text(obj: object, *, sort_keys: bool = False) -> str:
    """The text `write_json` writes: indented by two, final newline, non-finite floats as ``null``.

    Raises:
        TypeError: a value JSON cannot hold.
    """
    return json.dumps(_finite_or_none(obj), indent=2, sort_keys=sort_keys, default=_json_default) + "\n"


def write_json(path: str | os.PathLike[str], obj: object, *, sort_keys: bool = False, what: str = "JSON file") -> Path:
    """Publish `obj` as a JSON file (`json_text`) through `atomic_path`; return `path`.

    Args:
        path: the final file name (its folder must exist).
        obj: dicts, lists, numbers, strings, numpy values and paths.
        sort_keys: sort every object's keys (for files whose key order carries no meaning).
        what: what is written, for the error message.

    Raises:
        OutputError: the folder is missing or not writable, or `obj` holds a value JSON cannot hold.
    """
    try:
        text = json_text(obj, sort_keys=sort_keys)
    except TypeError as e:
        raise OutputError(f"{path}: {what} is not JSON-serialisable ({e})") from None
    return write_text_atomic(path, text, what=what)


def read_json(path: str | os.PathLike[str], *, what: str = "JSON file") -> Any:  # noqa: ANN401
    """Read a JSON file written by `write_json`; its content is arbitrary JSON (the caller knows its layout).

    Raises:
        InputFileError: a missing or unreadable file, or invalid JSON.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(f"{path}: {what} not found") from None
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise InputFileError(f"{path}: invalid JSON ({e})") from None
    except OSError as e:
        raise InputFileError(f"{path}: cannot read {what} ({e.strerror or e})") from None


def _library_version(name: str) -> str:
    if name == "hdf5":  # the C library under h5py
        import h5py

        return str(h5py.version.hdf5_version)
    if name == "python":
        return platform.python_version()
    try:
        return version(name)
    except PackageNotFoundError:
        return LOCAL_VERSION if name == PROJECT_DISTRIBUTION else "not installed"


def versions(libraries: Sequence[str], *, project_key: str = PROJECT_DISTRIBUTION) -> dict[str, str]:
    """Versions of the software that shaped a file, in the order asked.

    Args:
        libraries: distribution names (``"numpy"``, ``"h5py"``, ``"pillow"``, ...), ``"python"``, ``"hdf5"`` (the C
            library under h5py) and ``"tofbench"`` (this project; stored under `project_key`).
        project_key: the key this project's version is stored under (datasets say ``"tofsim"``).

    Returns:
        ``{name: version}``; ``"not installed"`` for a missing library, ``"0.0.0+local"`` for an uninstalled
        source tree of this project.

    Example:
        >>> sorted(versions(["python", "numpy"]))
        ['numpy', 'python']
    """
    return {(project_key if name == PROJECT_DISTRIBUTION else name): _library_version(name) for name in libraries}
