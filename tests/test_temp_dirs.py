"""Temporary folders a killed benchlab leaves (it runs no cleanup on SIGKILL) are swept by the next
one, and only those: a live process's, another host's and foreign folders stay."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from benchlab.temp_dirs import make_owned_dir, owned_tempdir


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_making_a_folder_sweeps_only_what_dead_processes_of_this_host_left(tmp_path: Path) -> None:
    host = socket.gethostname()
    stale = tmp_path / f"benchlab-host@{host}.{_dead_pid()}-abc123"
    cache_partial = tmp_path / f"0123abcd.partial@{host}.{_dead_pid()}-x_9"
    kept = [tmp_path / f"benchlab-host@{host}.{os.getpid()}-live01",  # alive
            tmp_path / f"benchlab-host@another-host.{_dead_pid()}-far001",  # a shared disk's other host
            tmp_path / "benchlab-host-legacy1", tmp_path / "someone-else"]
    for folder in (stale, cache_partial, *kept):
        (folder / "inside").mkdir(parents=True)

    made = make_owned_dir("benchlab-host", tmp_path)

    assert made.name.startswith(f"benchlab-host@{host}.{os.getpid()}-")
    assert sorted(tmp_path.iterdir()) == sorted([made, *kept])


def test_an_owned_tempdir_is_removed_on_the_way_out(tmp_path: Path) -> None:
    with owned_tempdir("benchlab-src", tmp_path) as folder:
        (folder / "saved_model").mkdir()
    assert list(tmp_path.iterdir()) == []
