"""benchlab's cache folder, and the lock under which one process builds a file in it.

Below every stage: the quickstart model (plan), variants (optimize), runner binaries and a farm
worker's files all live here, and two processes started together must not build the same file twice.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchlab.settings import CACHE_DIR, read


def cache_dir() -> Path:
    """Return benchlab's cache folder: $BENCHLAB_CACHE_DIR, else ~/.cache/benchlab (created if missing)."""
    configured = read(CACHE_DIR)
    base = Path(configured) if configured else Path.home() / ".cache" / "benchlab"
    base.mkdir(parents=True, exist_ok=True)
    return base


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for building `path` (on `path`.lock) across processes; blocks until free.

    The kernel releases the lock (fcntl.flock) when its holder dies, so a killed build never blocks
    the next one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f"{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
