"""Private temporary folders that name their owner, and a sweep of those whose owner is gone.

A process killed with SIGKILL runs no cleanup, so its temporary folders (a host worker's, a
source model's export, a variant being built in the cache) would stay for ever. Each folder made
here carries its owner's host name and pid (`PREFIX@HOST.PID-RANDOM`); making one first removes
the folders beside it that this host's dead processes left. Folders of another host (a cache on
a shared disk) are never touched: their pid means nothing here.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_OWNER = re.compile(r"@(?P<host>[^@/]*)\.(?P<pid>\d+)-[^-]*$")


def process_alive(pid: int) -> bool:
    """Return whether a process with this pid exists on this machine (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def sweep_stale(parent: Path) -> list[Path]:
    """Remove the folders under `parent` that a process of this host made here and died without
    removing; return them."""
    host = socket.gethostname()
    swept = []
    for path in parent.glob("*@*"):
        owner = _OWNER.search(path.name)
        if owner and owner["host"] == host and not process_alive(int(owner["pid"])) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            swept.append(path)
    return swept


def make_owned_dir(prefix: str, parent: Path | None = None) -> Path:
    """Create and return a fresh folder `PREFIX@HOST.PID-RANDOM` under `parent` (default: the system's
    temporary folder), after sweeping what dead processes left there. Raises OSError as mkdtemp does."""
    parent = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    sweep_stale(parent)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}@{socket.gethostname()}.{os.getpid()}-", dir=parent))


@contextmanager
def owned_tempdir(prefix: str, parent: Path | None = None) -> Iterator[Path]:
    """Yield a folder from `make_owned_dir`; it is removed on the way out."""
    path = make_owned_dir(prefix, parent)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
