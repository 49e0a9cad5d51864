"""Free-text names (suites, models, variants, devices, accelerators) made safe as file names.

Names are shown verbatim everywhere else; only where a name becomes part of a path does it pass
through file_name(), so `a/b`, `..` or a 300-character name can never write outside its folder or
exceed the file system's 255-byte limit.
"""

from __future__ import annotations

import hashlib
import re

#: Longest file name file_name() returns, with room left for a suffix such as ".labels.npy".
MAX_FILE_NAME = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def file_name(name: str) -> str:
    """Return `name` as one safe path component: ASCII letters, digits, `_`, `.` and `-` only.

    Runs of other characters become `_` and leading dots are dropped (no `..`, no hidden files).
    A name longer than MAX_FILE_NAME is cut and ends in a hash of the whole name, so two long
    names that share a beginning still get different files.
    """
    safe = _UNSAFE.sub("_", name).lstrip(".") or "_"
    if len(safe) <= MAX_FILE_NAME:
        return safe
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"{safe[: MAX_FILE_NAME - len(digest) - 1]}-{digest}"
