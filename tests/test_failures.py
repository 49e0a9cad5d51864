"""The class of the exception that failed a repeat decides its cause, in one mapping every executor shares."""

from __future__ import annotations

import pytest

from android_runner.tools import ToolMissing
from android_runner.transport import DeviceTimeout
from benchlab.errors import BenchlabError, DeviceError, DeviceLost, ModelError, RunnerError, SuiteError
from benchlab.execute.executor import LocalExecutor, interleaved_schedule
from benchlab.execute.failures import failure_cause
from benchlab.records import Job, Measurement
from tests.test_execution import RecordingDevice, jobs_for


@pytest.mark.parametrize(("exc", "cause"), [
    (ModelError("the delegate refused the model"), "model"),
    (SuiteError("data does not fit input x"), "model"),
    (DeviceError("no space left on device"), "device"),
    (DeviceLost("adb: device offline"), "device"),
    (RunnerError("a result this benchlab cannot read"), "harness"),
    # A runner's own classes are the same mapping's: a hung run is the phone's, a tool not fetched the harness's.
    (DeviceTimeout("benchmark APK did not finish within 1 s"), "device"),
    (ToolMissing("no benchmark_model.apk for arm64-v8a: run `benchlab tools fetch android`"), "harness"),
    (BenchlabError("anything else benchlab raised"), "harness"),
    (ValueError("a bug"), "harness"),
])
def test_the_exception_class_decides_the_cause(exc: BaseException, cause: str) -> None:
    assert failure_cause(exc) == cause


class RaisingDevice(RecordingDevice):
    """Fails every repeat by raising `error` from run()."""

    def __init__(self, error: BenchlabError) -> None:
        super().__init__("a")
        self.error = error

    def run(self, job: Job) -> Measurement:
        raise self.error


@pytest.mark.parametrize(("error", "cause", "retried"), [
    (DeviceError("phone locked"), "device", True),
    (RunnerError("runner output unreadable"), "harness", True),
    (ModelError("custom op"), "model", False),
])
def test_the_local_executor_records_the_cause_the_class_says(error: BenchlabError, cause: str, retried: bool) -> None:
    stored: list[Measurement] = []
    LocalExecutor().execute(interleaved_schedule(jobs_for(["a"], ["v1"], repeats=1), seed="r"),
                            [RaisingDevice(error)], stored.append)
    (record,) = stored
    assert (record.status, record.failure_cause, record.retryable) == ("failed", cause, retried)
