"""This process's memory as Linux counts it (/proc/self/status): what a measuring child process reports.

VmHWM, not getrusage's ru_maxrss, is a process's own peak: Linux carries ru_maxrss across exec, so a
child started by a large parent reports the parent's resident size at the fork as its own peak (a
benchlab that had exported a torch model, 1.4 GB, made every tiny language model's repeat "1392 MB").
VmHWM belongs to the process's own address space, which exec replaces.
"""

from __future__ import annotations


def status_mb(field: str) -> float:
    """Return a memory field of this process (VmRSS, VmHWM) from /proc/self/status, in MB.

    Raises OSError where there is no such field (no /proc: not Linux).
    """
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024.0
    raise OSError(f"/proc/self/status has no {field}")
