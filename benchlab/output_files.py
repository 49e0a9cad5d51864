"""Writing a file the user named on the command line (a CSV, JUnit XML, a summary): its folder is
created, and a path that cannot be written is one line naming it, not a traceback."""

from __future__ import annotations

from pathlib import Path

from benchlab.errors import DiskFull, UsageError, is_disk_full


def write_output(path: Path, text: str) -> None:
    """Write `text` to `path`, creating its folder.

    Raises DiskFull (exit 3) when the disk fills, UsageError (exit 2) for any other path that
    cannot be written (a parent that is a file, /proc, no permission).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        if is_disk_full(exc):
            raise DiskFull(f"disk full at {path}", hint="free space and run the command again") from None
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}",
                         hint="pass a path in a folder you can write to") from None
