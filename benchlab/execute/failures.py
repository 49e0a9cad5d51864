"""Why a repeat failed, decided by the class of the exception that failed it: the one mapping.

* model: the variant itself (a custom op, a delegate that refuses it, data that does not fit its
  inputs; ModelError, SuiteError): `--resume` does not run it again unless `--retry-failed`.
* device: the device or its transport (a timeout, a lost phone, a refused launch, a full disk;
  DeviceError): retried.
* harness: benchlab's own fault (a runner result this benchlab cannot read, a runner it could not
  install, any exception it did not raise on purpose; RunnerError and the rest): retried.
* interrupted: not an exception's; the executor sets it when the user stopped the run.

Runners raise the class that says what failed and turn it into a record with `failure_cause(exc)`;
the local and the Dask executor use the same function for what a device raises. Nothing else names
a cause for an exception.
"""

from __future__ import annotations

from benchlab.errors import DeviceError, ModelError, RunnerError, SuiteError
from benchlab.records import FailureCause

#: Exception classes and their causes, most specific first; anything else is the harness's.
CAUSES: tuple[tuple[type[BaseException], FailureCause], ...] = (
    (ModelError, "model"),
    (SuiteError, "model"),
    (DeviceError, "device"),
    (RunnerError, "harness"),
)


def failure_cause(exc: BaseException) -> FailureCause:
    """Return the cause of a repeat that `exc` failed (see the module docstring)."""
    return next((cause for kind, cause in CAUSES if isinstance(exc, kind)), "harness")
