"""The sha256 of a model file or package folder: what names a variant, keys the build cache, and
tells a device or a farm worker whether it already holds the same bytes.

A shared module (outside the stage folders), so the builder, the executors and the runner packages
hash files the same way without reaching into one another.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def path_sha256(path: Path) -> str:
    """Return the sha256 of a file, or of a directory's files (relative names and bytes) in order."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if file != path:
            digest.update(str(file.relative_to(path)).encode())
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
