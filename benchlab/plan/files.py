"""What is wrong with a path a user gave as a file to read (a suite, a model, data, an image).

Only regular files are read: a FIFO or a device would block the run for ever on its first read,
and "not found" for a directory or a symlink loop sends the user looking in the wrong place.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def file_problem(path: Path) -> str | None:
    """Return why `path` is not a readable regular file ("does not exist", "is a directory", ...), or None.

    Follows symlinks, as opening the file would.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "does not exist"
    except (OSError, ValueError) as exc:  # a symlink loop, a component that is a file, an embedded NUL
        return f"cannot be read: {getattr(exc, 'strerror', None) or exc}"
    if stat.S_ISDIR(mode):
        return "is a directory"
    if not stat.S_ISREG(mode):
        return f"is not a regular file (a {_kind(mode)}, which reading could block on for ever)"
    return None


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device"
