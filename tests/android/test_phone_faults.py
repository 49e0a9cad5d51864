"""Phone faults through android_runner's real code path: an AndroidDevice on a DirectTransport to a
loopback phone (real ADB wire protocol, real LiteRT behind the stand-in benchmark_model).

Each test switches one fault on the loopback phone and checks what a run records: latency kept
when only the evaluation fails, a full phone reported at once and kept in service, a reboot
waited for and the job retried, a phone that stays gone raising DeviceLost, nothing left behind.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from android_runner import commands
from android_runner.device import (
    EVAL_BATCH,
    EVAL_DIR,
    EVAL_FAILED,
    EVAL_PER_SAMPLE,
    RECONNECTED,
    IDLE_MIN,
    AndroidDevice,
)
from android_runner.transport import DirectTransport
from benchlab.errors import DeviceError, DeviceLost
from benchlab.records import AcceleratorSetting, Job, Measurement, Scenario, Variant
from android_runner.loopback import FLAGSHIP, LOW_END, LoopbackAdbDevice

CPU = AcceleratorSetting(name="cpu-t1", kind="cpu", threads=1)
GPU = AcceleratorSetting(name="gpu", kind="gpu")
QUICK = Scenario(warmup=1, iterations=3, min_seconds=0, max_seconds=10, repeats=1, timeout_seconds=20)


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny dense model (8 -> 4, batch dimension resizable) and a ~1 MB one for pushes."""
    import tensorflow as tf

    folder = tmp_path_factory.mktemp("fault-models")
    paths = {}
    for name, (inputs, units) in {"tiny": (8, 4), "big": (512, 512)}.items():
        tf.keras.utils.set_random_seed(0)
        model = tf.keras.Sequential([tf.keras.Input((inputs,)), tf.keras.layers.Dense(units)])
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return paths


@pytest.fixture()
def phone(tmp_path: Path, android_loopback_env: None) -> Iterator[LoopbackAdbDevice]:
    with LoopbackAdbDevice(FLAGSHIP, tmp_path / "phone", accept_new_keys=True) as device:
        yield device


def open_device(phone: LoopbackAdbDevice) -> AndroidDevice:
    return AndroidDevice(DirectTransport(phone.serial, connect_timeout_s=5), "tcp")


def make_job(model: Path, tmp_path: Path, samples: int = 0, accelerator: AcceleratorSetting = CPU,
             scenario: Scenario = QUICK, name: str = "fp32") -> Job:
    """The first repeat of a job (it evaluates `samples` inputs, if any), as the executor plans it."""
    eval_path = None
    if samples:
        eval_path = tmp_path / f"eval-{samples}.npy"
        np.save(eval_path, np.random.default_rng(1).uniform(-1, 1, size=(samples, 8)).astype(np.float32))
    variant = Variant(model="tiny", name=name, recipe="tflite", format="tflite", status="ok", path=str(model))
    return Job(job_id=f"tiny.{name}.phone.{accelerator.name}", run_id="run", suite="faults", variant=variant,
               device_id="phone", accelerator=accelerator, scenario=scenario,
               eval_inputs_path=str(eval_path) if eval_path else None, evaluate=eval_path is not None)


def host_outputs(model: Path, eval_path: str) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model))
    interpreter.allocate_tensors()
    rows = []
    for sample in np.load(eval_path):
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], sample.reshape(1, 8))
        interpreter.invoke()
        rows.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).reshape(-1))
    return np.stack(rows)


def only_output(m: Measurement) -> np.ndarray:
    """The tiny model's one output, from the outputs the runner returns by name."""
    (values,) = m.outputs.values()
    return values


def launches(phone: LoopbackAdbDevice) -> int:
    """Evaluation runner processes the phone started (each carries --output_filepath)."""
    return sum(command.count("--output_filepath") for command in phone.commands)


def eval_dir(phone: LoopbackAdbDevice) -> Path:
    return phone.host_path(EVAL_DIR)


def eval_folder(phone: LoopbackAdbDevice, device: AndroidDevice, job: Job) -> Path:
    """The job's evaluation folder on the phone, as the session `device` names it."""
    return eval_dir(phone) / f"{device.session}-{job.job_id}"


def on_phone(phone: LoopbackAdbDevice, name: str) -> Path:
    """A file of benchlab's folder on the phone, on the loopback phone's filesystem."""
    return phone.host_path(f"{commands.DEVICE_DIR}/{name}")


def model_on_phone(phone: LoopbackAdbDevice, local: Path) -> Path:
    """Where a model is pushed on the phone (named by its bytes), on the loopback phone's filesystem."""
    return phone.host_path(AndroidDevice._model_remote(local))


# --- evaluation failures keep the latency -------------------------------------------------------


def test_a_hung_evaluation_is_killed_after_one_timeout_and_the_latency_stays(phone, models, tmp_path) -> None:
    phone.faults.hang_benchmark = "--output_filepath"  # only evaluation runs hang, as a wedged driver
    device = open_device(phone)
    job = make_job(models["tiny"], tmp_path, samples=10, scenario=Scenario(
        warmup=1, iterations=3, min_seconds=0, max_seconds=10, timeout_seconds=3))
    device.prepare([models["tiny"]])
    m = device.run(job)
    assert m.status == "ok" and m.runner_stats and m.runner_stats[0]["count"] == 3
    assert m.outputs is None and EVAL_FAILED in m.flags
    assert m.accuracy_note.startswith("accuracy not measured: evaluation failed: ")
    assert "did not finish within 3 s (evaluation run killed)" in m.accuracy_note
    assert any(c.startswith("pkill -9 -f '[-]-benchmark_name=tiny") for c in phone.commands)
    # The stand-in runner (a real process on the "phone") is gone, and so is the job's folder.
    alive = subprocess.run(["pgrep", "-f", f"--benchmark_name={job.job_id}"], capture_output=True, text=True)
    assert alive.stdout == ""
    assert list(eval_dir(phone).iterdir()) == []
    assert m.conditions_after is not None  # the phone is still there and answered


def test_a_full_disk_while_pushing_inputs_keeps_the_latency(phone, models, tmp_path) -> None:
    device = open_device(phone)
    device.prepare([models["tiny"]])
    phone.faults.disk_full_after_bytes = 100
    m = device.run(make_job(models["tiny"], tmp_path, samples=20))
    assert m.status == "ok" and m.runner_stats
    assert EVAL_FAILED in m.flags
    assert "no space left on device (0 MB free): inputs-0.bin needs 0.0 MB" in m.accuracy_note
    assert list(eval_dir(phone).iterdir()) == []


def test_a_cable_pulled_during_evaluation_keeps_the_latency_and_the_next_job_reconnects(
        phone, models, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHLAB_ANDROID_REBOOT_WAIT_S", "20")
    phone.faults.drop_during_shell = "--output_filepath"
    device = open_device(phone)
    device.prepare([models["tiny"]])
    job = make_job(models["tiny"], tmp_path, samples=10)
    m = device.run(job)
    assert m.status == "ok" and m.runner_stats and EVAL_FAILED in m.flags
    assert "connection lost" in m.accuracy_note
    assert m.conditions_after is None  # the phone could not be asked any more
    phone.faults.drop_during_shell = None  # plugged back in
    device.prepare([models["tiny"]])  # nothing to push: the phone is not asked yet
    assert eval_folder(phone, device, job).exists()  # the phone was gone at the clean-up
    again = device.run(make_job(models["tiny"], tmp_path, samples=10, name="int8"))  # finds it gone, reconnects
    assert again.status == "ok" and again.outputs is not None and again.flags == (RECONNECTED,)
    # The interrupted evaluation's folder was this session's own: swept once back, not a day later.
    assert list(eval_dir(phone).iterdir()) == []


# --- a full phone ------------------------------------------------------------------------------


def test_a_full_phone_is_reported_at_once_and_stays_in_service(phone, models, tmp_path) -> None:
    device = open_device(phone)
    phone.faults.disk_full_after_bytes = 300_000  # the runner fits, the 1 MB model does not
    with pytest.raises(DeviceError) as refused:
        device.prepare([models["big"]])
    assert not isinstance(refused.value, DeviceLost)  # the executor does not quarantine it
    big_mb = models["big"].stat().st_size / 1e6
    assert str(refused.value) == f"no space left on device (0 MB free): big.tflite needs {big_mb:.1f} MB"
    folder = phone.host_path(commands.DEVICE_DIR)
    assert sorted(p.name for p in folder.iterdir()) == ["benchmark_model"]  # no half model, no .part
    # A smaller job still runs on the same connection.
    device.prepare([models["tiny"]])
    assert device.run(make_job(models["tiny"], tmp_path)).status == "ok"


def test_sync_push_reports_adbds_early_fail_with_its_message(phone, models) -> None:
    """adbd sends FAIL at the failed write while data still flows; the push stops there."""
    transport = DirectTransport(phone.serial, connect_timeout_s=5)
    transport.shell("mkdir -p /data/local/tmp/benchlab", timeout_s=10)
    phone.faults.disk_full_after_bytes = 10_000
    from android_runner.transport import PushRefused

    with pytest.raises(PushRefused) as refused:
        transport.push(models["big"], "/data/local/tmp/benchlab/big.tflite", timeout_s=30)
    assert refused.value.reason == "write failed: No space left on device"
    phone.faults.disk_full_after_bytes = None
    transport.push(models["big"], "/data/local/tmp/benchlab/big.tflite", timeout_s=30)
    pushed = phone.host_path("/data/local/tmp/benchlab/big.tflite").read_bytes()
    assert pushed == models["big"].read_bytes()
    transport.close()


# --- a phone that reboots -----------------------------------------------------------------------


def test_a_phone_that_reboots_mid_job_is_waited_for_and_the_job_retried(
        phone, models, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHLAB_ANDROID_REBOOT_WAIT_S", "30")
    monkeypatch.setattr("android_runner.device.RECONNECT_POLL_S", 0.2)
    device = open_device(phone)
    device.prepare([models["tiny"]])
    phone.faults.reboot_down_s = 2.0
    phone.faults.reboot_during_shell = "--num_runs=3"  # the benchmark run itself
    m = device.run(make_job(models["tiny"], tmp_path, samples=5))
    assert m.status == "ok" and RECONNECTED in m.flags and m.outputs is not None
    assert sum("--num_runs=3" in c for c in phone.commands) == 2  # the interrupted run, then the retry


def test_a_phone_that_stays_gone_raises_device_lost(phone, models, tmp_path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHLAB_ANDROID_REBOOT_WAIT_S", "1.5")
    monkeypatch.setattr("android_runner.device.RECONNECT_POLL_S", 0.2)
    device = open_device(phone)
    device.prepare([models["tiny"]])
    phone.faults.reboot_down_s = 600.0
    phone.faults.reboot_during_shell = "--num_runs=3"
    with pytest.raises(DeviceLost, match=r"not back within 1\.5 s"):
        device.run(make_job(models["tiny"], tmp_path))


# --- what runs leave on a phone, and two runs on one phone ---------------------------------------


def fed_sample(phone: LoopbackAdbDevice, job: Job) -> Path:
    """The sample file on the phone's filesystem that the job's timed runs fed (its one input)."""
    (path,) = [p for p in phone.host_path(commands.DEVICE_DIR).glob("sample-*.bin")
               if p.read_bytes() == np.load(job.eval_inputs_path)[:1].tobytes()]
    return path


def idle_for_a_day(path: Path) -> None:
    """Give a file or folder on the phone the mtime of one no session has touched for a day and a
    minute (after filling a folder: adding to it makes it fresh)."""
    then = time.time() - (IDLE_MIN + 1) * 60
    os.utime(path, (then, then))


def test_samples_nobody_fed_for_a_day_are_swept_at_the_next_sessions_first_prepare(phone, models, tmp_path) -> None:
    job = make_job(models["tiny"], tmp_path, samples=4)
    interrupted = open_device(phone)
    interrupted.prepare([models["tiny"]])
    assert interrupted.run(job).status == "ok"
    sample = fed_sample(phone, job)  # the run is killed here: nothing of it runs again
    other = phone.host_path(f"{commands.DEVICE_DIR}/sample-0123456789abcdef.bin")
    other.write_bytes(b"fed by another run within the day")
    idle_for_a_day(sample)
    later = open_device(phone)
    later.prepare([models["tiny"]])
    assert not sample.exists() and other.exists()
    assert later.run(job).status == "ok"  # the same data: pushed again
    assert fed_sample(phone, job) == sample
    later.close()
    assert sample.exists()  # kept after a clean end: the next run feeding these bytes finds it


def test_a_sample_a_running_session_feeds_survives_a_second_session_on_the_phone(phone, models, tmp_path) -> None:
    job = make_job(models["tiny"], tmp_path, samples=4)
    first = open_device(phone)
    first.prepare([models["tiny"]])
    assert first.run(job).status == "ok"
    sample = fed_sample(phone, job)
    idle_for_a_day(sample)  # as if the push were a day old: the run is long
    before = time.time()
    assert first.run(job).status == "ok"  # nothing to push, but the job touches what it feeds
    assert sample.stat().st_mtime >= int(before)
    second = open_device(phone)  # another run starts on the same phone
    second.prepare([models["tiny"]])
    assert sample.exists()
    assert first.run(job).status == "ok"
    second.close()
    first.close()


def test_what_no_run_used_for_a_day_is_swept_at_the_first_prepare_and_the_rest_kept(phone, models) -> None:
    earlier = open_device(phone)
    earlier.prepare([models["tiny"]])
    earlier.close()
    killed = eval_dir(phone) / "0badc0de-tiny.fp32.phone.cpu-t1"  # a killed run's evaluation
    live = eval_dir(phone) / "1234abcd-tiny.int8.phone.cpu-t1"  # another run's, evaluating now
    for folder in (killed, live):
        folder.mkdir(parents=True)
        (folder / "inputs-0.bin").write_bytes(b"x" * 64)
    abandoned = [killed, model_on_phone(phone, models["tiny"]), on_phone(phone, "old-build.tflite"),
                 on_phone(phone, "big.tflite.0badc0de.part"), on_phone(phone, "sample-00000000deadbeef.bin")]
    fresh = [live, on_phone(phone, "other-run.tflite"), on_phone(phone, "big.tflite.1234abcd.part")]
    for path in abandoned[1:] + fresh[1:]:
        path.write_bytes(b"bytes")
    user_file = on_phone(phone, "libQnnTFLiteDelegate.so")  # put there by hand for the QNN delegate
    user_file.write_bytes(b"not benchlab's")
    for path in [*abandoned, user_file, on_phone(phone, "benchmark_model")]:
        idle_for_a_day(path)
    pushes = len(phone.commands)
    open_device(phone).prepare([models["big"]])
    assert [p.name for p in abandoned if p.exists()] == []
    assert [p.name for p in fresh if not p.exists()] == []
    assert user_file.exists()
    # The runner is never swept: one file under a fixed name, which every run needs.
    assert on_phone(phone, "benchmark_model").exists()
    assert not any("benchmark_model" in c and c.startswith("mv -f") for c in phone.commands[pushes:])


def test_a_second_runs_first_prepare_leaves_a_live_runs_evaluation_and_model_alone(
        phone, models, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    job = make_job(models["tiny"], tmp_path, samples=10)
    first = open_device(phone)
    first.prepare([models["tiny"]])
    model = model_on_phone(phone, models["tiny"])
    idle_for_a_day(model)  # as if the push were a day old: the run is long
    killed = eval_dir(phone) / "0badc0de-tiny.fp32.phone.cpu-t1"  # the same job, of a run killed a day ago
    killed.mkdir(parents=True)
    idle_for_a_day(killed)
    seen: dict[str, object] = {}
    shell = first.transport.shell

    def second_run_starts_mid_evaluation(command: str, timeout_s: float):
        """Let the first run's evaluation go on, with its folder a day old before its first runner
        process (the pushes were long); at its second process a second run starts on the phone."""
        launch = command.count("--output_filepath")
        if launch and "launches" not in seen:
            seen["launches"] = 0
            idle_for_a_day(eval_folder(phone, first, job))
        elif launch and seen["launches"] == 1:
            second = open_device(phone)
            second.prepare([models["big"]])
            second.close()
            seen["after the second prepare"] = sorted(p.name for p in eval_folder(phone, first, job).iterdir())
            seen["model"] = model.exists()
            seen["killed"] = killed.exists()
        seen["launches"] = int(seen.get("launches", 0)) + launch
        return shell(command, timeout_s=timeout_s)

    monkeypatch.setattr(first.transport, "shell", second_run_starts_mid_evaluation)
    m = first.run(job)
    assert seen["launches"] == 3  # the batch of 10, then samples 0 and 9 alone
    assert seen["model"] and not seen["killed"]
    assert "inputs-0.bin" in seen["after the second prepare"] and "outputs.bin" in seen["after the second prepare"]
    assert m.status == "ok" and not m.flags and m.accuracy_note is None
    np.testing.assert_allclose(only_output(m), host_outputs(models["tiny"], job.eval_inputs_path), rtol=1e-5, atol=1e-6)
    assert list(eval_dir(phone).iterdir()) == []  # the first run's own clean-up, at the job's end


def test_a_model_swept_while_its_run_left_it_idle_is_pushed_again_and_the_run_succeeds(phone, models, tmp_path) -> None:
    job = make_job(models["tiny"], tmp_path, samples=4)
    first = open_device(phone)
    first.prepare([models["tiny"]])
    assert first.run(job).status == "ok"
    model, sample = model_on_phone(phone, models["tiny"]), fed_sample(phone, job)
    idle_for_a_day(model)  # the first run ran nothing on this phone for a day
    idle_for_a_day(sample)
    second = open_device(phone)
    second.prepare([models["big"]])
    assert not model.exists() and not sample.exists()
    first.prepare([models["tiny"]])  # as the executor does before each repeat: it knows it pushed it
    m = first.run(job)
    assert m.status == "ok" and m.outputs is not None
    assert model.read_bytes() == models["tiny"].read_bytes()
    assert fed_sample(phone, job) == sample
    assert sum(c.startswith("mv -f") and f"/{model.name}." in c for c in phone.commands) == 2
    second.close()
    first.close()


def test_a_model_an_earlier_run_left_is_used_as_found_and_kept_fresh_from_that_moment(phone, models, tmp_path) -> None:
    device = open_device(phone)
    device.prepare([models["big"]])  # the session's first prepare, and its sweep, are done
    model = model_on_phone(phone, models["tiny"])
    model.write_bytes(models["tiny"].read_bytes())  # the same bytes, left by an earlier run a day ago
    idle_for_a_day(model)
    before = time.time()
    device.prepare([models["tiny"]])
    assert model.stat().st_mtime >= int(before)  # a sweep starting now leaves it alone
    assert device.run(make_job(models["tiny"], tmp_path)).status == "ok"
    assert not any(c.startswith("mv -f") and f"/{model.name}." in c for c in phone.commands)  # never pushed


# --- evaluation in batches ----------------------------------------------------------------------


def test_evaluation_runs_in_batches_with_the_same_outputs(phone, models, tmp_path) -> None:
    device = open_device(phone)
    job = make_job(models["tiny"], tmp_path, samples=100)
    device.prepare([models["tiny"]])
    m = device.run(job)
    assert m.status == "ok" and not m.flags and m.accuracy_note is None
    np.testing.assert_allclose(only_output(m), host_outputs(models["tiny"], job.eval_inputs_path), rtol=1e-5, atol=1e-6)
    # Two batches (64 + 36) and the two single-sample checks of the first batch.
    assert EVAL_BATCH == 64 and launches(phone) == 4
    assert any(f"--input_layer_shape={EVAL_BATCH},8" in c for c in phone.commands)


def test_a_delegate_that_refuses_a_batch_falls_back_to_one_sample_per_process(phone, models, tmp_path) -> None:
    device = open_device(phone)
    job = make_job(models["tiny"], tmp_path, samples=6, accelerator=GPU)
    device.prepare([models["tiny"]])
    m = device.run(job)
    assert m.status == "ok" and EVAL_PER_SAMPLE in m.flags
    assert m.accuracy_note.startswith("evaluated one sample per process: batch of 6 refused (evaluation run "
                                      "failed: Failed to apply GPU delegate.)")
    np.testing.assert_allclose(only_output(m), host_outputs(models["tiny"], job.eval_inputs_path), rtol=1e-5, atol=1e-6)
    assert launches(phone) == 1 + 6


def test_a_single_sample_runs_in_one_process_without_a_batch_check(tmp_path, models,
                                                                   android_loopback_env) -> None:
    with LoopbackAdbDevice(LOW_END, tmp_path / "low", accept_new_keys=True) as low:
        device = open_device(low)
        device.prepare([models["tiny"]])
        m = device.run(make_job(models["tiny"], tmp_path, samples=1))
        assert m.status == "ok" and only_output(m).shape == (1, 4) and launches(low) == 1
