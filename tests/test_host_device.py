"""The host device runs real LiteRT inference in worker processes; failures become results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import benchlab.execute.host_device as host_device
from tests.helpers.litert_reference import litert_outputs
from benchlab.execute.host_device import HostDevice
from benchlab.records import AcceleratorSetting, Job, Scenario, Variant
from benchlab.tensors import Feeds, describe_tflite, save_feeds



def make_job(model: Path, tmp_path: Path, scenario: Scenario | None = None,
             accelerator: AcceleratorSetting | None = None, with_inputs: bool = True,
             feeds: Feeds | None = None) -> Job:
    inputs_path = None
    if with_inputs:
        inputs_path = tmp_path / "inputs.npz"
        save_feeds(inputs_path, feeds or {"x": np.random.default_rng(0).random((12, 28, 28, 1), dtype=np.float32)})
    variant = Variant(model="m", name="fp32", recipe="fp32", format="tflite", status="built", path=str(model))
    return Job(job_id="j", run_id="r", suite="s", variant=variant, device_id="host",
               accelerator=accelerator or AcceleratorSetting(name="cpu-t1", kind="cpu", threads=1),
               scenario=scenario or Scenario(warmup=3, iterations=25, repeats=2),
               eval_inputs_path=str(inputs_path) if inputs_path else None, evaluate=with_inputs)


def test_records_every_iteration_of_every_repeat_and_outputs(tiny_tflite_path: Path, tmp_path: Path) -> None:
    measurement = HostDevice().run(make_job(tiny_tflite_path, tmp_path))
    assert measurement.status == "ok", measurement.error
    assert [len(r) for r in measurement.samples_us] == [25, 25]
    assert len(measurement.warmup_us) == 3
    assert all(s > 0 for s in measurement.all_samples_us)
    assert measurement.init_us > 0 and measurement.first_us > 0
    (scores,) = measurement.outputs.values()
    assert scores.shape == (12, 10)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-4)  # softmax rows
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
    assert measurement.failure_cause == "model" and not measurement.retryable  # the class said so


def test_hanging_worker_times_out(tiny_tflite_path: Path, tmp_path: Path) -> None:
    scenario = Scenario(warmup=0, iterations=10**9, min_seconds=30, max_seconds=60, timeout_seconds=3)
    measurement = HostDevice().run(make_job(tiny_tflite_path, tmp_path, scenario))
    assert (measurement.status, measurement.error) == ("failed", "timed out after 3 s")
    assert measurement.failure_cause == "harness"


@pytest.mark.parametrize("worker, error, cause", [
    ("tests.helpers.crashing_worker", "worker killed by SIGSEGV", "harness"),
    # A full disk is the host's, not the model's: a device failure, which --resume retries.
    ("tests.helpers.disk_full_worker", "disk full at /tmp/benchlab-host-x/outputs.npz", "device"),
])
def test_a_worker_that_dies_is_a_failed_measurement_with_its_cause(worker: str, error: str, cause: str,
                                                                   tiny_tflite_path: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_device, "WORKER_MODULE", worker)
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    measurement = HostDevice().run(make_job(tiny_tflite_path, tmp_path))
    assert (measurement.status, measurement.error, measurement.failure_cause) == ("failed", error, cause)
    assert measurement.retryable


def test_host_capabilities_refuse_core_ml_with_a_reason() -> None:
    caps = HostDevice().capabilities()
    cpu = AcceleratorSetting(name="cpu", kind="cpu")
    assert caps.refusal("tflite", cpu) is None
    assert caps.refusal("mlpackage", cpu).startswith("built, not runnable on this device")
    assert "not available" in caps.refusal("tflite", AcceleratorSetting(name="gpu", kind="gpu"))


def production_feeds(model: Path) -> Feeds:
    """Eight samples for every input of `model`: real values, token ids, a 20x30 image for dynamic H x W."""
    rng = np.random.default_rng(11)
    feeds: Feeds = {}
    for tensor in describe_tflite(model).inputs:
        shape = tuple(20 if d < 0 and i == 0 else 30 if d < 0 else d for i, d in enumerate(tensor.sample_shape))
        if tensor.dtype == "int32":
            feeds[tensor.name] = rng.integers(0, 50, (8, *shape)).astype(np.int32)
        else:
            feeds[tensor.name] = rng.random((8, *shape), dtype=np.float32)
    return feeds


@pytest.mark.parametrize("model_fixture", ["two_tower_tflite_path", "token_tflite_path", "dynamic_tflite_path",
                                           "int8_io_tflite_path"])
def test_every_input_fed_by_name_and_every_output_kept(model_fixture: str, request: pytest.FixtureRequest,
                                                       tmp_path: Path) -> None:
    """Several inputs and outputs, int32 ids (not quantized into nonsense), dynamic H x W, int8 I/O."""
    model = request.getfixturevalue(model_fixture)
    feeds = production_feeds(model)
    # Stored in another order than the model's: inputs are matched by name, not position.
    measurement = HostDevice().run(make_job(model, tmp_path, feeds=dict(reversed(feeds.items()))))
    assert measurement.status == "ok", measurement.error
    expected = litert_outputs(model, feeds)
    assert set(measurement.outputs) == set(expected) == set(describe_tflite(model).output_names)
    for name, values in expected.items():
        np.testing.assert_allclose(measurement.outputs[name], values, rtol=1e-5, atol=1e-6)
    if model_fixture == "dynamic_tflite_path":
        assert measurement.outputs["mask"].shape == (8, 20, 30, 1)  # resized to the data


def test_data_that_does_not_fit_an_input_fails_naming_it(two_tower_tflite_path: Path, tmp_path: Path) -> None:
    feeds = production_feeds(two_tower_tflite_path)
    feeds["meta"] = feeds["meta"][:, :6]
    measurement = HostDevice().run(make_job(two_tower_tflite_path, tmp_path, feeds=feeds))
    assert measurement.status == "failed"
    assert measurement.error == ("input 'meta': the model expects meta float32 (8,), "
                                 "the evaluation data holds float32 (6,)")


def test_an_evaluation_inputs_file_that_is_gone_fails_the_job_in_one_line(tiny_tflite_path: Path, tmp_path: Path) -> None:
    job = make_job(tiny_tflite_path, tmp_path)
    Path(job.eval_inputs_path).unlink()
    measurement = HostDevice().run(job)
    assert measurement.status == "failed" and measurement.failure_cause == "harness"  # --resume retries it
    assert "inputs.npz" in measurement.error and "\n" not in measurement.error


def test_energy_on_the_host_is_not_available_and_said_once(tiny_tflite_path: Path, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_device, "POWERCAP", tmp_path / "no-powercap")  # whatever this machine has
    device = HostDevice()
    job = make_job(tiny_tflite_path, tmp_path, Scenario(warmup=1, iterations=3, repeats=1, energy=True),
                   with_inputs=False)
    with caplog.at_level("WARNING"):
        first, second = device.run(job), device.run(job)
    assert first.status == second.status == "ok" and not first.metric_values
    said = [r.getMessage() for r in caplog.records if "energy: not available" in r.getMessage()]
    assert said == [f"host: energy: not available on this machine (no RAPL energy counters under {tmp_path / 'no-powercap'})"]
