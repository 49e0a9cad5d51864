"""Where built artifacts live, and content-hash keys so nothing is rebuilt that has not changed.

A variant's key hashes the parent model's bytes, the recipe and its options, the calibration data
(for calibrated recipes) and the converter versions: change any of them and the variant is rebuilt;
change none and `benchlab optimize` reuses it and says so.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """Return benchlab's cache folder: $BENCHLAB_CACHE_DIR, else ~/.cache/benchlab."""
    configured = os.environ.get("BENCHLAB_CACHE_DIR")
    base = Path(configured) if configured else Path.home() / ".cache" / "benchlab"
    base.mkdir(parents=True, exist_ok=True)
    return base


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


def variant_key(parent_sha256: str, recipe: str, options: dict[str, Any], extra: dict[str, str]) -> str:
    """Return the cache key of a variant built from a parent with a recipe, options and tool versions."""
    blob = json.dumps(
        {"parent": parent_sha256, "recipe": recipe, "options": options, **extra}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]
