"""The exception hierarchy and the exit codes the CLI maps them to.

Library code raises these; only ``benchlab.cli`` turns them into a one-line message and an exit
code (docs/architecture.md, "Errors and exit codes": 0 ok, 1 a gate or regression failed, 2 bad
input, 3 device or harness failure).
"""

from __future__ import annotations

import errno
import os

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_DEVICE_FAILURE = 3
#: A run stopped by SIGINT/SIGTERM, as shells report it (128 + SIGINT): resumable.
EXIT_INTERRUPTED = 130


class BenchlabError(Exception):
    """Base of every error benchlab raises on purpose; ``hint`` tells the user what to do next."""

    exit_code = EXIT_DEVICE_FAILURE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class SuiteError(BenchlabError):
    """The suite file, a model or a dataset it names is not usable."""

    exit_code = EXIT_BAD_INPUT


class DeviceError(BenchlabError):
    """A device cannot be found, reached or prepared."""

    exit_code = EXIT_DEVICE_FAILURE


class DeviceLost(DeviceError):
    """A device stopped answering mid-run (cable pulled, adbd gone): the rest of its jobs are skipped."""


class RunnerError(BenchlabError):
    """A native benchmark runner failed in a way that is not a measurement of the model."""

    exit_code = EXIT_DEVICE_FAILURE


class ModelError(RunnerError):
    """The variant itself cannot run as asked: a model file that cannot be read, evaluation data that does
    not fit its inputs, a delegate that refuses it. A failure of the model, so `--resume` leaves it."""


class StoreError(BenchlabError):
    """A results directory is missing, unreadable or of an unknown schema version."""

    exit_code = EXIT_BAD_INPUT


class DiskFull(BenchlabError):
    """The disk filled while benchlab wrote: what is stored is kept, nothing half-written counts,
    and the command can be run again (`--resume` for a run) once there is space."""

    exit_code = EXIT_DEVICE_FAILURE


def is_disk_full(exc: OSError) -> bool:
    """Return whether an OSError says the disk (or the user's quota) is full."""
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


def caused_by_disk_full(exc: BaseException) -> bool:
    """Return whether `exc`, or an exception it was raised from, is a full disk.

    Converters wrap the OSError in their own types, or keep only its text.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if (isinstance(seen, OSError) and is_disk_full(seen)) or os.strerror(errno.ENOSPC) in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class UsageError(BenchlabError):
    """Command-line arguments that do not go together."""

    exit_code = EXIT_BAD_INPUT


def first_line(exc: BaseException, limit: int = 200) -> str:
    """Return the first line of an exception's message (its type name when empty), cut at `limit`."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
