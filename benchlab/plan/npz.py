"""Reading a user's npz file without trusting it: no pickles, only the rows asked for, and a cap on
what one array may take once decompressed.

`np.load` decompresses a whole array on access, so a few MB of compressed zeros shaped
(1000000, 28, 28, 1) take gigabytes even when the suite asks for 50 samples. Here each member's
.npy header is read first: its size is checked against MAX_ARRAY_BYTES and only the first `rows`
rows are decompressed.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import IO

import numpy as np
from numpy.lib import format as npy_format

from benchlab.errors import SuiteError, first_line

#: Most bytes one array may take in memory once read (after `limit`): 2 GiB.
MAX_ARRAY_BYTES = 2 * 1024**3
NPY_MAGIC = b"\x93NUMPY"


def _unreadable(path: Path, why: str) -> SuiteError:
    return SuiteError(f"dataset.npz: {path} is not a readable npz file: {why}")


def _archive(path: Path) -> zipfile.ZipFile:
    """Return the open zip archive of an npz file; raise SuiteError naming what it is instead."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(NPY_MAGIC))
        if head == NPY_MAGIC:
            raise _unreadable(path, "it is a single .npy array (np.save), not an npz archive (np.savez)")
        return zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise _unreadable(path, first_line(exc)) from None


def npz_names(path: Path) -> list[str]:
    """Return the array names an npz file holds, without reading any array.

    Raises SuiteError when it is not an npz archive.
    """
    with _archive(path) as archive:
        return [name.removesuffix(".npy") for name in archive.namelist()]


def read_npz(path: Path, rows: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """Return every array of an npz file, the ones named in `rows` cut to their first that many rows.

    Raises SuiteError for a file that is not an npz archive, an array of Python objects (reading it
    would unpickle), a truncated member, or an array larger than MAX_ARRAY_BYTES as read.
    """
    arrays = {}
    with _archive(path) as archive:
        for member in archive.infolist():
            name = member.filename.removesuffix(".npy")
            try:
                with archive.open(member) as handle:
                    arrays[name] = _read_member(handle, path, name, (rows or {}).get(name))
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
                raise _unreadable(path, f"{name}: {first_line(exc)}") from None
    return arrays


def _read_member(handle: IO[bytes], path: Path, name: str, rows: int | None) -> np.ndarray:
    """Return one .npy member read from its header on, cut to `rows` rows when given."""
    version = npy_format.read_magic(handle)
    header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
    shape, fortran_order, dtype = header(handle)
    if dtype.hasobject:
        raise SuiteError(f"dataset.npz: {path}: {name}: holds Python objects, which benchlab does not "
                         "unpickle (save numbers: a numeric dtype)")
    if rows is not None and shape and not fortran_order:  # C order: the first rows come first
        shape = (min(shape[0], rows), *shape[1:])
    size = math.prod(shape) * dtype.itemsize
    if size > MAX_ARRAY_BYTES:
        raise SuiteError(f"dataset.npz: {path}: {name}: {shape} {dtype} takes {size / 1024**3:,.1f} GiB once "
                         f"decompressed, more than the {MAX_ARRAY_BYTES // 1024**3} GiB benchlab reads "
                         "(`limit` reads fewer samples)")
    buffer = bytearray(size)  # filled in place: reading into bytes and copying would take twice the memory
    view, filled = memoryview(buffer), 0
    while filled < size:
        count = handle.readinto(view[filled:])
        if not count:
            raise ValueError(f"truncated: {filled} of {size} bytes")
        filled += count
    return np.frombuffer(buffer, dtype).reshape(shape, order="F" if fortran_order else "C")
