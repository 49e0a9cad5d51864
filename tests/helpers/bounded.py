"""Run a piece of benchlab in a child process under a time limit and report its peak memory.

A case that could hang or eat all memory runs here, so a regression fails its own test (the
limit is generous: the test asserts the case was refused or stayed small, never how fast).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: Far above what any of these cases takes on a loaded machine; reached only by a hang.
TIME_LIMIT_SECONDS = 300
# The child's own high-water mark: VmHWM belongs to its address space, which exec starts afresh
# (getrusage's ru_maxrss would carry over the forking test process's peak).
_PEAK = ("print('peak_kb', next(line.split()[1] for line in open('/proc/self/status') "
         "if line.startswith('VmHWM:')))")


@dataclass(frozen=True)
class Finished:
    """What a bounded child did: its exit code, standard error and peak resident memory."""

    returncode: int
    stdout: str
    stderr: str
    peak_mb: float


def run_bounded(statements: str, cwd: Path, exit_with: str = "0") -> Finished:
    """Run Python `statements` in a child, then exit with the value of `exit_with`.

    Raises subprocess.TimeoutExpired (failing the calling test) when it outlives TIME_LIMIT_SECONDS.
    """
    source = f"{statements}\n{_PEAK}\nraise SystemExit({exit_with})\n"
    done = subprocess.run([sys.executable, "-c", source], cwd=cwd, capture_output=True, text=True,
                          timeout=TIME_LIMIT_SECONDS, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = done.stdout.splitlines()
    peak = [int(line.split()[1]) for line in lines if line.startswith("peak_kb ")]
    return Finished(done.returncode, done.stdout, done.stderr, peak[-1] / 1024 if peak else float("nan"))


def run_cli_bounded(argv: list[str], cwd: Path) -> Finished:
    """Run `benchlab ARGV` in a bounded child (see run_bounded)."""
    return run_bounded(f"from benchlab.cli import main\ncode = main({argv!r})", cwd, exit_with="code")
