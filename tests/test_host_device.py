"""The host device runs real LiteRT inference in worker processes; failures become results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import benchlab.execute.host_device as host_device
from benchlab.execute.host_device import HostDevice
from benchlab.records import AcceleratorSetting, Job, Scenario, Variant


def make_job(model: Path, tmp_path: Path, scenario: Scenario | None = None,
             accelerator: AcceleratorSetting | None = None, with_inputs: bool = True) -> Job:
    inputs_path = None
    if with_inputs:
        inputs_path = tmp_path / "inputs.npy"
        np.save(inputs_path, np.random.default_rng(0).random((12, 28, 28, 1), dtype=np.float32))
    variant = Variant(model="m", name="fp32", recipe="fp32", format="tflite", status="built", path=str(model))
    return Job(job_id="j", run_id="r", suite="s", variant=variant, device_id="host",
               accelerator=accelerator or AcceleratorSetting(name="cpu-t1", kind="cpu", threads=1),
               scenario=scenario or Scenario(warmup=3, iterations=25, repeats=2),
               eval_inputs_path=str(inputs_path) if inputs_path else None)


def test_records_every_iteration_of_every_repeat_and_outputs(tiny_tflite_path: Path, tmp_path: Path) -> None:
    measurement = HostDevice().run(make_job(tiny_tflite_path, tmp_path))
    assert measurement.status == "ok", measurement.error
    assert [len(r) for r in measurement.samples_us] == [25, 25]
    assert len(measurement.warmup_us) == 3
    assert all(s > 0 for s in measurement.all_samples_us)
    assert measurement.init_us > 0 and measurement.first_us > 0
    assert measurement.outputs.shape == (12, 10)
    np.testing.assert_allclose(measurement.outputs.sum(axis=1), 1.0, rtol=1e-4)  # softmax rows
    # The worker's own peak (VmHWM), far below the TensorFlow-laden test process.
    assert 5 < measurement.peak_memory_mb < 600
    assert measurement.conditions_before.load_average is not None


def test_min_seconds_extends_the_measured_loop(tiny_tflite_path: Path, tmp_path: Path) -> None:
    job = make_job(tiny_tflite_path, tmp_path, Scenario(warmup=0, iterations=5, min_seconds=0.3))
    measurement = HostDevice().run(job)
    assert sum(measurement.all_samples_us) / 1e6 <= 0.3 + 0.1
    assert len(measurement.all_samples_us) > 5  # a tiny model needs far more than 5 runs for 0.3 s


def test_xnnpack_off_runs_the_builtin_kernels(tiny_tflite_path: Path, tmp_path: Path) -> None:
    accelerator = AcceleratorSetting(name="cpu-noxnn", kind="cpu", threads=1, xnnpack=False)
    measurement = HostDevice().run(make_job(tiny_tflite_path, tmp_path, accelerator=accelerator))
    assert measurement.status == "ok", measurement.error


def test_custom_op_is_a_failed_measurement_with_the_op_named(custom_op_tflite_path: Path, tmp_path: Path) -> None:
    measurement = HostDevice().run(make_job(custom_op_tflite_path, tmp_path, with_inputs=False))
    assert measurement.status == "failed"
    assert measurement.error == "custom op Betainc not available in this LiteRT runtime"


def test_hanging_worker_times_out(tiny_tflite_path: Path, tmp_path: Path) -> None:
    scenario = Scenario(warmup=0, iterations=10**9, min_seconds=30, max_seconds=60, timeout_seconds=3)
    measurement = HostDevice().run(make_job(tiny_tflite_path, tmp_path, scenario))
    assert (measurement.status, measurement.error) == ("failed", "timed out after 3 s")


def test_crashing_worker_is_a_failed_measurement(tiny_tflite_path: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_device, "WORKER_MODULE", "tests.helpers.crashing_worker")
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    measurement = HostDevice().run(make_job(tiny_tflite_path, tmp_path))
    assert (measurement.status, measurement.error) == ("failed", "worker killed by SIGSEGV")


def test_host_capabilities_refuse_core_ml_with_a_reason() -> None:
    caps = HostDevice().capabilities()
    cpu = AcceleratorSetting(name="cpu", kind="cpu")
    assert caps.refusal("tflite", cpu) is None
    assert caps.refusal("mlpackage", cpu).startswith("built, not runnable on this device")
    assert "not available" in caps.refusal("tflite", AcceleratorSetting(name="gpu", kind="gpu"))
