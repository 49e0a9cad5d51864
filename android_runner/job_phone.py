"""What a job module (pte_jobs, llama_jobs) uses of the phone it runs on: `JobPhone`, which
android_runner.device's AndroidDevice is.

AndroidDevice hands an ExecuTorch program or language model to its job module with itself as the
phone, so a job module naming AndroidDevice would import device.py back (an import cycle, even if only
under TYPE_CHECKING). This Protocol is that contract, declared once where both can import it: the
phone's identity, its conditions, its shell, and its file store (files pushed once per content hash,
named by their bytes, kept fresh against other sessions' sweeps; see AndroidDevice for each).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from android_runner.props import AndroidFacts
from android_runner.transport import AdbTransport, ShellResult
from benchlab.records import Conditions, DeviceInfo


class JobPhone(Protocol):
    """The phone a job module runs on. The underscored calls are the driver's own, shared with its job
    modules only (no caller outside android_runner uses them)."""

    transport: AdbTransport
    info: DeviceInfo
    facts: AndroidFacts
    #: taskset hex mask of the big cores a runner is pinned to, None when unknown.
    cpu_mask: str | None
    #: Names what this session alone writes on the phone (its work folders and partial pushes).
    session: str

    def conditions(self) -> Conditions:
        """Return the phone's thermal status, temperatures and battery now."""
        ...

    def _shell(self, command: str, timeout_s: float = ...) -> ShellResult:
        """Run a command on the phone; raises DeviceTimeout past `timeout_s`."""
        ...

    @staticmethod
    def _remote(name: str) -> str:
        """Return where a file called `name` lives on the phone."""
        ...

    @classmethod
    def _model_remote(cls, local: Path) -> str:
        """Return where a model file lives on the phone, named by its bytes."""
        ...

    def _keep_fresh(self) -> None:
        """Touch every file this session uses, forgetting those found gone."""
        ...

    def _use(self, local: Path, remote: str) -> None:
        """Make a model or data file present on the phone and keep it fresh while this session runs."""
        ...

    def _ensure(self, local: Path, remote: str, executable: bool = False, fresh: bool = False) -> None:
        """Push `local` to `remote` unless the phone's copy has the same sha256."""
        ...

    def _push(self, local: Path, remote: str, timeout_s: float) -> None:
        """Push `local` to `remote` through a partial file renamed into place."""
        ...
