"""Where built artifacts live, and content-hash keys so nothing is rebuilt that has not changed.

A variant's key hashes the parent model's bytes, the recipe and its options, the data it needs
(calibration data for calibrated recipes) and the converter version: change any of them and the
variant is rebuilt; change none and `benchlab optimize` reuses it and says so.

Several processes may build into one cache (two suites started together, a farm sharing a disk).
Each key is built under an exclusive lock on its own lock file (benchlab.cache_dir.file_lock), in
a staging folder of its own, and published by one atomic rename; the second process waits, then
finds the entry and reuses it. An entry is trusted only when its metadata is complete and its
file's sha256 matches; anything else is rebuilt.

A build that failed is an entry too (its failure record, no artifact): the same key fails the same
way, so a later run reports it without spending the build again, until asked to retry it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchlab.cache_dir import cache_dir, file_lock
from benchlab.errors import DiskFull, is_disk_full
from benchlab.file_hash import path_sha256
from benchlab.temp_dirs import make_owned_dir

ENTRY_FILE = "variant.json"
#: What a failed build leaves in its entry instead of ENTRY_FILE and an artifact.
FAILURE_FILE = "failure.json"


def variant_key(parent_sha256: str, recipe: str, options: dict[str, Any], extra: dict[str, str]) -> str:
    """Return the cache key of a variant built from a parent with a recipe, options and tool versions."""
    blob = json.dumps(
        {"parent": parent_sha256, "recipe": recipe, "options": options, **extra}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


@contextmanager
def locked_entry(key: str) -> Iterator[Path]:
    """Hold the build lock of a variant cache key; yield the entry's folder (it may not exist yet).

    Blocks while another process builds the same key. Different keys never wait for each other.
    """
    folder = cache_dir() / "variants" / key
    with file_lock(folder):
        yield folder


def trusted_entry(folder: Path) -> dict[str, Any] | None:
    """Return a cache entry's metadata when its artifact is there with the recorded sha256, else None.

    Call with the key's lock held (see locked_entry).
    """
    try:
        meta = json.loads((folder / ENTRY_FILE).read_text())
        artifact = Path(meta["path"])
        if artifact.exists() and path_sha256(artifact) == meta["sha256"]:
            return meta
    except (OSError, ValueError, KeyError, TypeError):
        pass  # missing, half-written or foreign metadata: not trusted, so the variant is rebuilt
    return None


def failed_entry(folder: Path) -> dict[str, Any] | None:
    """Return the record of a failed build at this entry (with its "error"), else None.

    Call with the key's lock held (see locked_entry).
    """
    try:
        meta = json.loads((folder / FAILURE_FILE).read_text())
        return meta if isinstance(meta, dict) and isinstance(meta.get("error"), str) else None
    except (OSError, ValueError):
        return None  # no failure recorded, or a half-written one: build it


@contextmanager
def staging(folder: Path) -> Iterator[Path]:
    """Yield a fresh private folder to build an entry in; it is removed unless published.

    Raises DiskFull when the disk fills while it is made or written: a full disk says nothing
    about the variant, so nothing is cached for it.
    """
    try:
        path = make_owned_dir(f"{folder.name}.partial", folder.parent)  # swept if this process is killed
    except OSError as exc:
        raise disk_full_at(folder) if is_disk_full(exc) else exc from None
    try:
        yield path
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        raise disk_full_at(folder) from None
    finally:
        shutil.rmtree(path, ignore_errors=True)


def disk_full_at(folder: Path) -> DiskFull:
    return DiskFull(f"disk full at {folder.parent}", hint="free space and run again (nothing was cached)")


def publish(staged: Path, folder: Path, meta: dict[str, Any], file: str = ENTRY_FILE) -> None:
    """Write the entry's metadata (as `file`: ENTRY_FILE, or FAILURE_FILE for a failed build) into
    `staged` and rename it to `folder` in one atomic step.

    An entry already at `folder` (untrusted, or a failure being retried) is moved aside first. Call
    with the key's lock held.
    """
    (staged / file).write_text(json.dumps(meta, indent=2))
    if folder.exists():
        discarded = make_owned_dir(f"{folder.name}.discarded", folder.parent)
        folder.rename(discarded / folder.name)
        shutil.rmtree(discarded, ignore_errors=True)
    staged.rename(folder)
