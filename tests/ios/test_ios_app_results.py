"""What a first run on a real iPhone would hit (issue 11), on the host side, against the fake phone.

The fake phone's app follows the folder contract as the Swift app does (tests/ios/fake_phone.py);
the host side here is benchlab's real driver, reading real files: a heartbeat caught in the
gap an older app left while rewriting it, a model with several outputs one of which is a scalar,
Core ML outputs that come back sorted by name, and a job with compute units the app does not know.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from benchlab.records import AcceleratorSetting, Job, Scenario, Variant
from ios_runner.jobs import ContainerFiles, wait_for_result
from ios_runner.model_io import declared_io
from ios_runner.protocol import COMPUTE_UNITS, INBOX, STATUS_FILE, job_filename
from tests.ios.fake_phone import FakePhone, FakeServices
from tests.ios.test_ios_device import CPU, CPU_ONLY, LITERT_COREML, device_for, make_job

MakePhone = Callable[..., tuple[FakePhone, FakeServices]]


@pytest.fixture(scope="module")
def heads_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("heads-inputs") / "features.npy"
    np.save(path, np.random.default_rng(7).normal(size=(5, 4)).astype(np.float32))
    return path


def litert_outputs(model: Path, inputs: Path) -> list[list[np.ndarray]]:
    """Each output of ``model`` on every sample, in the model's output order, run here with LiteRT."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model))
    interpreter.allocate_tensors()
    (source,) = interpreter.get_input_details()
    found: list[list[np.ndarray]] = [[] for _ in interpreter.get_output_details()]
    for sample in np.load(inputs):
        interpreter.set_tensor(source["index"], sample.reshape(1, 4))
        interpreter.invoke()
        for index, detail in enumerate(interpreter.get_output_details()):
            found[index].append(np.array(interpreter.get_tensor(detail["index"])))
    return found


# --- the heartbeat's rewrite gap ---------------------------------------------------------------------


def test_a_status_read_in_the_rewrite_gap_is_no_status_yet(make_phone: MakePhone) -> None:
    phone, services = make_phone()
    phone.open_app_by_hand()
    with services.open_container(phone.udid, phone.bundle_id) as container:
        files = ContainerFiles(container)
        assert files.status() is not None
        phone.app.stop()  # no heartbeat rewrites from here on
        phone.status_gap_reads = 1
        assert files.status() is None  # deleted, the new file not renamed in yet: not an error
        assert not (phone.documents / STATUS_FILE).exists() and phone.status_gaps_hit == 1
        phone.app._write_status()  # the rename lands
        assert files.status() is not None


def test_a_healthy_job_is_not_failed_by_heartbeat_reads_in_the_gap(
        make_phone: MakePhone, tiny_tflite_path: Path) -> None:
    phone, services = make_phone(status_gap_reads=1_000_000)  # every read, the whole run
    device = device_for(phone, services)
    device.prepare([tiny_tflite_path])
    m = device.run(make_job(tiny_tflite_path, "tflite", CPU, repeats=2))
    assert m.status == "ok", m.error
    assert phone.status_gaps_hit >= 1, "the driver read the heartbeat while it was missing"
    assert [len(r) for r in m.samples_us] == [4, 4]


# --- several outputs, a scalar among them, matched by name ----------------------------------------------


def test_a_model_with_a_scalar_output_keeps_every_output_by_name(
        make_phone: MakePhone, heads_tflite: Path, heads_inputs: Path) -> None:
    phone, services = make_phone()
    device = device_for(phone, services)
    device.prepare([heads_tflite])
    m = device.run(make_job(heads_tflite, "tflite", CPU, heads_inputs))
    assert m.status == "ok", m.error
    probs, score = litert_outputs(heads_tflite, heads_inputs)
    assert list(m.outputs) == ["probs", "score"]  # the signature's names, in the model's order
    assert m.outputs["probs"].shape == (5, 3)  # "PartitionedCall:0", batch axis dropped
    assert np.allclose(m.outputs["probs"], np.concatenate(probs), atol=1e-6)
    assert m.outputs["score"].shape == (5,) and np.allclose(m.outputs["score"], score, rtol=1e-6)
    (result,) = [json.loads(line) for line in m.runner_output.splitlines()]
    assert [(o["name"], o["shape"]) for o in result["outputs"]] == [("PartitionedCall:0", [1, 3]),
                                                                   ("PartitionedCall:1", [])]
    assert result["litert_delegate"] == "xnnpack"
    # The host named the evaluation input as the model does, not "input".
    assert [t.name for t in phone.app.jobs_seen[0].inputs] == ["serving_default_features:0"]
    assert np.allclose([float(s) for s in score], (np.load(heads_inputs) ** 2).sum(axis=1), rtol=1e-5)


def test_core_ml_outputs_sorted_by_name_come_back_in_the_declared_order(
        make_phone: MakePhone, heads_mlpackage: Path, heads_tflite: Path, heads_inputs: Path) -> None:
    assert declared_io(heads_mlpackage, "mlpackage").output_names == ("zprobs", "ascore")
    phone, services = make_phone(coreml_reference=heads_tflite)
    device = device_for(phone, services)
    device.prepare([heads_mlpackage])
    m = device.run(make_job(heads_mlpackage, "mlpackage", CPU_ONLY, heads_inputs))
    assert m.status == "ok", m.error
    (result,) = [json.loads(line) for line in m.runner_output.splitlines()]
    assert [o["name"] for o in result["outputs"]] == ["ascore", "zprobs"]  # the app's order: by name
    probs, score = litert_outputs(heads_tflite, heads_inputs)
    assert list(m.outputs) == ["zprobs", "ascore"]  # the package's declared order, not the app's
    assert m.outputs["zprobs"].shape == (5, 3) and np.allclose(m.outputs["zprobs"], np.concatenate(probs), atol=1e-6)
    assert np.allclose(m.outputs["ascore"], score, rtol=1e-6)
    assert [t.name for t in phone.app.jobs_seen[0].inputs] == ["features"]


# --- a setting the app does not know --------------------------------------------------------------------


def test_unknown_compute_units_come_back_as_a_clean_failure(make_phone: MakePhone) -> None:
    """A job from a newer host (or written by hand) with compute units this app does not know."""
    phone, services = make_phone()
    job = {"schema_version": 1, "job_id": "newer-host-1", "model": "models/m.mlpackage", "format": "mlpackage",
           "compute_units": "neuralEngineOnly", "delegate": None, "threads": None,
           "gpu_precision_loss_allowed": True, "warmup": 1, "iterations": 2, "inputs": []}
    (phone.documents / INBOX).mkdir(parents=True)
    (phone.documents / INBOX / job_filename(job["job_id"])).write_text(json.dumps(job))
    phone.open_app_by_hand()
    with services.open_container(phone.udid, phone.bundle_id) as container:
        files = ContainerFiles(container)
        # 600 s: a safety net against a hang, not what is tested (the app's answer ends the wait).
        outcome = wait_for_result(files, job["job_id"], timeout_s=600, pickup_timeout_s=600, clock_offset_s=0.0)
        assert outcome.state == "done"
        result = files.result(job["job_id"])
    assert result is not None and result.status == "failed"
    assert result.error == f"compute_units neuralEngineOnly is not one of {', '.join(COMPUTE_UNITS)}"
    assert result.compute_units is None and result.format is None  # nothing echoed before the check


def test_unknown_compute_units_in_a_suite_are_refused_before_anything_is_pushed(
        make_phone: MakePhone, heads_mlpackage: Path) -> None:
    phone, services = make_phone()
    device = device_for(phone, services)
    npu = AcceleratorSetting(name="coreml-npu", kind="coreml", options={"compute_units": "npu"})
    variant = Variant(model="heads", name="heads", recipe="mlpackage", format="mlpackage", status="cached",
                      path=str(heads_mlpackage))
    m = device.run(Job(job_id="heads.npu", run_id="run1", suite="s", variant=variant, device_id=phone.udid,
                       accelerator=npu, scenario=Scenario(warmup=1, iterations=2)))
    assert m.status == "unsupported"
    assert m.error is not None and "compute_units 'npu' is not allowed (allowed: " + ", ".join(COMPUTE_UNITS) in m.error
    assert services.counters.get("files_pushed", 0) == 0


# --- delegation and conditions --------------------------------------------------------------------------


def test_a_core_ml_delegate_that_took_nothing_is_flagged_not_reported_as_core_ml(
        make_phone: MakePhone, tiny_tflite_path: Path) -> None:
    phone, services = make_phone(coreml_delegate_nodes=(0, 9), low_power_mode=True, thermal_state=1)
    device = device_for(phone, services)
    device.prepare([tiny_tflite_path])
    m = device.run(make_job(tiny_tflite_path, "tflite", LITERT_COREML))
    assert m.status == "ok", m.error
    assert (m.delegated_nodes, m.total_nodes, m.delegate_applied) == (0, 9, "no")
    assert m.flags == ("delegate-fallback",)
    before = m.conditions_before
    assert (before.thermal_status, before.thermal_scale, before.thermal_level) == (1, "ios-thermal-state", 1)
    assert before.low_power_mode is True and before.battery_level == 87
    assert device.conditions().low_power_mode is True  # from the heartbeat


def test_cpu_jobs_record_xnnpack_and_are_not_flagged(make_phone: MakePhone, tiny_tflite_path: Path) -> None:
    phone, services = make_phone()
    device = device_for(phone, services)
    device.prepare([tiny_tflite_path])
    m = device.run(make_job(tiny_tflite_path, "tflite", CPU))
    assert m.status == "ok", m.error
    assert json.loads(m.runner_output)["litert_delegate"] == "xnnpack"
    assert m.flags == () and m.conditions_before.low_power_mode is False


def test_a_running_app_is_not_relaunched_because_one_heartbeat_read_fell_in_the_gap(
        make_phone: MakePhone, tiny_tflite_path: Path) -> None:
    """A relaunch kills the app (DVT launch with kill_existing), and with it a job it may have started."""
    phone, services = make_phone()
    device = device_for(phone, services)
    device.prepare([tiny_tflite_path])
    assert device.run(make_job(tiny_tflite_path, "tflite", CPU)).status == "ok"
    assert services.counters["launch_attempts"] == 1
    phone.status_gap_reads = 1
    m = device.run(make_job(tiny_tflite_path, "tflite", CPU))
    assert m.status == "ok", m.error
    assert phone.status_gaps_hit == 1 and services.counters["launch_attempts"] == 1 and phone.app.launches == 1
