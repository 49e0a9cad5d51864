"""The host side of the runner app's folder contract (see ``ios_runner.protocol``) on one open container.

* Models and inputs go under ``models/<sha16>/<name>`` and ``inputs/<sha16>.f32``, pushed to a
  ``.part`` name first and renamed, and are skipped when the manifest (``benchlab_manifest.json``
  in Documents) says the same sha256 is already there and the path exists.
* A job is written as ``inbox/<id>.json.part`` and renamed to ``inbox/<id>.json``.
* ``wait_for_result`` polls ``outbox/`` until the result appears, the app does not pick the job
  up in time, the app's heartbeat goes stale while the job runs, or the deadline passes.
* ``cleanup`` removes a job's result, outputs and ``done/`` file; ``sweep`` removes what earlier,
  abandoned runs left behind.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ios_runner.protocol import (
    DONE,
    INBOX,
    OUTBOX,
    PARTIAL_SUFFIX,
    RUNNING,
    STATUS_FILE,
    ProtocolError,
    RunnerJob,
    RunnerResult,
    RunnerStatus,
    job_filename,
    job_json,
    read_result,
    read_status,
)
from ios_runner.services import AppContainer, ContainerError, push_folder

MANIFEST_FILE = "benchlab_manifest.json"
MANIFEST_VERSION = 1
MODELS = "models"
INPUTS = "inputs"
#: How often outbox/ is looked at while a job runs.
POLL_SECONDS = 0.5
#: The app rewrites its heartbeat every 5 s in the foreground; older than this, it is not running.
STALE_HEARTBEAT_SECONDS = 15.0
#: This machine's clock in seconds since the epoch, by which the app's heartbeat is aged (a seam:
#: tests put in the fake phone's clock, so a live fake app is never late however busy the machine is).
WALL_CLOCK: Callable[[], float] = time.time
#: The clock the wait for a job's pickup and result is timed by (a seam: a test of a timeout puts in its
#: fake phone's clock, which moves only as the fake app works, so the app is never late to pick a job up
#: however busy the machine is).
ELAPSED_CLOCK: Callable[[], float] = time.monotonic

WaitState = Literal["done", "not-picked-up", "app-stopped", "timeout"]


@dataclass(frozen=True)
class WaitOutcome:
    """How waiting for a job ended; ``heartbeat_age_s`` is the app's last heartbeat age, if known."""

    state: WaitState
    waited_s: float
    heartbeat_age_s: float | None = None


def heartbeat_age(status: RunnerStatus | None, phone_now: float) -> float | None:
    """Return the age in seconds of the app's heartbeat on the phone's clock, or None without one."""
    if status is None:
        return None
    return max(0.0, phone_now - status.updated_at.timestamp())


class ContainerFiles:
    """The runner app's Documents folder as the folder contract uses it."""

    def __init__(self, container: AppContainer) -> None:
        self.container = container

    # --- models and inputs ---------------------------------------------------------------------

    def manifest(self) -> dict[str, str]:
        """Return what benchlab pushed before: Documents-relative path → sha256 ({} when none)."""
        if not self.container.exists(MANIFEST_FILE):
            return {}
        try:
            data = json.loads(self.container.read_bytes(MANIFEST_FILE))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}  # a torn manifest only costs a push
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            return {}
        files = data.get("files")
        return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}

    def _write_manifest(self, files: dict[str, str]) -> None:
        text = json.dumps({"version": MANIFEST_VERSION, "files": files}, indent=2, sort_keys=True)
        partial = MANIFEST_FILE + PARTIAL_SUFFIX
        self.container.write_bytes(partial, text.encode("utf-8"))
        self.container.rename(partial, MANIFEST_FILE)

    def is_present(self, path: str, sha256: str) -> bool:
        """Return whether ``path`` holds content with this sha256 (per the manifest) and still exists."""
        return self.manifest().get(path) == sha256 and self.container.exists(path)

    def ensure(self, local: Path, path: str, sha256: str) -> bool:
        """Push a local file or folder to ``path`` unless it is already there; return whether it pushed.

        The copy goes to ``<path>.part`` and is renamed into place, so a cut push never looks
        complete; the manifest is updated last.
        """
        if self.is_present(path, sha256):
            return False
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if parent:
            self.container.makedirs(parent)
        staging = path + PARTIAL_SUFFIX
        self.container.remove(staging)
        if Path(local).is_dir():
            push_folder(self.container, Path(local), staging)
        else:
            self.container.push_file(Path(local), staging)
        self.container.remove(path)
        self.container.rename(staging, path)
        files = self.manifest()
        files[path] = sha256
        self._write_manifest(files)
        return True

    # --- jobs ----------------------------------------------------------------------------------

    def submit(self, job: RunnerJob) -> None:
        """Write the job into inbox/ under a .part name and rename it, so the app never reads half of it."""
        self.container.makedirs(INBOX)
        target = f"{INBOX}/{job_filename(job.job_id)}"
        partial = target + PARTIAL_SUFFIX
        self.container.write_bytes(partial, job_json(job).encode("utf-8"))
        self.container.rename(partial, target)

    def status(self) -> RunnerStatus | None:
        """Return the app's heartbeat, or None when there is none to read now ("no status yet").

        Read without a separate existence check: apps before the fix deleted the file and then
        renamed the new one into place every few seconds, so a file that existed a moment ago
        may be gone (AFC: not found, a ContainerError) or half there (a ProtocolError). Either is
        "no status yet"; the next poll reads it. A dropped connection still raises PhoneError.
        """
        try:
            return read_status(self.container.read_bytes(STATUS_FILE))
        except (ContainerError, ProtocolError):
            return None

    def result(self, job_id: str) -> RunnerResult | None:
        """Return the job's result when the app has written it, else None.

        Raises ProtocolError when the result is there but is not a result this benchlab reads.
        """
        path = f"{OUTBOX}/{job_filename(job_id)}"
        if not self.container.exists(path):
            return None
        return read_result(self.container.read_bytes(path))

    def pull_output(self, file_name: str, local: Path) -> None:
        """Copy one output tensor file from outbox/."""
        self.container.pull_file(f"{OUTBOX}/{file_name}", local)

    def withdraw(self, job_id: str) -> bool:
        """Remove a job still waiting in inbox/; return whether it was still there."""
        path = f"{INBOX}/{job_filename(job_id)}"
        if not self.container.exists(path):
            return False
        self.container.remove(path)
        return True

    def cleanup(self, job_id: str) -> None:
        """Remove the job's result, its output files and its done/ entry."""
        for name in self.container.listdir(OUTBOX):
            if name.startswith(f"{job_id}."):
                self.container.remove(f"{OUTBOX}/{name}")
        self.container.remove(f"{DONE}/{job_filename(job_id)}")

    def sweep(self) -> int:
        """Remove jobs and results that earlier runs abandoned (inbox/, outbox/, done/); return how many.

        Only benchlab writes to inbox/, and results nobody waits for are useless, so a driver calls
        this once before its first job. running/ belongs to the app and is left alone.
        """
        removed = 0
        for folder in (INBOX, OUTBOX, DONE):
            for name in self.container.listdir(folder):
                self.container.remove(f"{folder}/{name}")
                removed += 1
        return removed

    def is_running(self, job_id: str) -> bool:
        """Return whether the app has moved the job to running/."""
        return self.container.exists(f"{RUNNING}/{job_filename(job_id)}")


def wait_for_result(files: ContainerFiles, job_id: str, timeout_s: float, pickup_timeout_s: float,
                    clock_offset_s: float, poll_s: float | None = None,
                    sleep: Callable[[float], None] = time.sleep,
                    clock: Callable[[], float] | None = None,
                    wall_clock: Callable[[], float] | None = None) -> WaitOutcome:
    """Poll until job ``job_id`` has a result in outbox/ or waiting is pointless.

    * ``done``: the result is there.
    * ``not-picked-up``: the job is still in inbox/ after ``pickup_timeout_s`` (the app is not in
      the foreground); the job is withdrawn so the app does not run it later.
    * ``app-stopped``: the app took the job but its heartbeat is older than
      STALE_HEARTBEAT_SECONDS (killed, crashed, suspended, or the phone locked).
    * ``timeout``: no result after ``timeout_s``.

    ``clock_offset_s`` is the phone's clock minus this machine's (``wall_clock``, by default
    WALL_CLOCK), to age the heartbeat; the waits are timed by ``clock``, by default ELAPSED_CLOCK.
    Raises PhoneError when the phone cannot be read.
    """
    poll_s = POLL_SECONDS if poll_s is None else poll_s
    wall_clock = WALL_CLOCK if wall_clock is None else wall_clock
    clock = ELAPSED_CLOCK if clock is None else clock
    started = clock()
    while True:
        waited = clock() - started
        if files.container.exists(f"{OUTBOX}/{job_filename(job_id)}"):
            return WaitOutcome("done", waited)
        age = heartbeat_age(files.status(), wall_clock() + clock_offset_s)
        waiting_in_inbox = files.container.exists(f"{INBOX}/{job_filename(job_id)}")
        if waiting_in_inbox and waited >= pickup_timeout_s and files.withdraw(job_id):
            return WaitOutcome("not-picked-up", waited, age)
        if not waiting_in_inbox and age is not None and age > STALE_HEARTBEAT_SECONDS:
            if files.container.exists(f"{OUTBOX}/{job_filename(job_id)}"):
                continue  # it finished just now
            return WaitOutcome("app-stopped", waited, age)
        if waited >= timeout_s:
            files.withdraw(job_id)
            return WaitOutcome("timeout", waited, age)
        sleep(poll_s)
