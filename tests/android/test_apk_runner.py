"""The benchmark-APK runner: its commands, its logcat parsing on a recorded APK log, and whole runs
on the loopback phone, whose `am` starts the stand-in benchmark_model as a background "app" that
logs to a logcat (android_runner/loopback/benchmark_apk.py)."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from android_runner import apk_runner, commands
from android_runner.apk_runner import (
    benchmark_args,
    parse_apk_logcat,
    run_lines,
    run_once,
    start_command,
)
from android_runner.benchmark_model import DelegateUse
from android_runner.transport import DirectTransport, with_exit_code
from benchlab.errors import RunnerError
from benchlab.records import AcceleratorSetting, Scenario
from android_runner.loopback import FLAGSHIP, LOW_END, LoopbackAdbDevice
from android_runner.loopback.benchmark_apk import (
    device_log,
    install_benchmark_apk,
    stop_benchmark_apk,
    uninstall_benchmark_apk,
)

try:
    from tests.fixtures_path import fixture_text, requires_fixtures
except ImportError:
    from fixtures_path import fixture_text, requires_fixtures  # type: ignore[no-redef]

CPU2 = AcceleratorSetting(name="cpu-2", kind="cpu", threads=2)
GPU = AcceleratorSetting(name="gpu", kind="gpu")
QUICK = Scenario(warmup=1, iterations=5, min_seconds=0, max_seconds=30, timeout_seconds=60)
MODEL = f"{commands.DEVICE_DIR}/tiny.tflite"


# --- commands ------------------------------------------------------------------------------------


def test_args_are_the_binarys_flags_without_binary_or_taskset() -> None:
    args = benchmark_args(MODEL, CPU2, QUICK)
    binary_argv = shlex.split(commands.benchmark_command("/x/benchmark_model", MODEL, CPU2, QUICK, cpu_mask="f0"))
    assert binary_argv[:3] == ["taskset", "f0", "/x/benchmark_model"]
    assert args.split() == binary_argv[3:]
    assert args.startswith(f"--graph={MODEL} --num_threads=2 ")


def test_start_command_quotes_the_args_extra_once_for_the_phones_shell() -> None:
    args = benchmark_args(MODEL, GPU, QUICK)
    command = start_command(args)
    assert command.startswith("am start -S -n org.tensorflow.lite.benchmark/.BenchmarkModelActivity --es args ")
    assert shlex.split(command)[-1] == args  # one word on the phone, as the Activity reads it
    assert apk_runner.READ_LOGCAT == ("logcat -d -v threadtime -s tflite:V tflite_BenchmarkModelActivity:V "
                                      "AndroidRuntime:E libc:F")
    assert apk_runner.FORCE_STOP == "am force-stop org.tensorflow.lite.benchmark"
    assert apk_runner.install_command("/data/local/tmp/benchlab/b m.apk") == (
        "pm install -r -d -g '/data/local/tmp/benchlab/b m.apk'")


def test_args_with_whitespace_are_refused_since_the_apk_splits_on_it() -> None:
    with pytest.raises(RunnerError, match="split on whitespace"):
        benchmark_args("/data/local/tmp/my model.tflite", CPU2, QUICK)


# --- parsing -------------------------------------------------------------------------------------


@requires_fixtures
def test_recorded_apk_logcat_parses_as_the_binary_output_does() -> None:
    out = parse_apk_logcat(fixture_text("benchmark_model/apk_logcat_tf56301_nnapi_partial.txt"))
    assert out.status == "ok"
    assert out.delegates == (DelegateUse(name="NNAPI", applied="partial", delegated_kernels=44),)
    assert (out.init_us, out.first_us, out.warmup_avg_us, out.avg_us, out.count) == (126059, 32942, 12581.9,
                                                                                      12167.6, 75)


def test_only_the_last_run_of_the_app_process_is_read() -> None:
    log = "\n".join([
        "05-30 15:16:40.000  1111  1111 I tflite_BenchmarkModelActivity: Running TensorFlow Lite benchmark with args: a",
        "05-30 15:16:40.100  1111  1111 I tflite  : Inference timings in us: Init: 1, First inference: 1, "
        "Warmup (avg): 1, Inference (avg): 1",
        "05-30 15:16:44.000  3380  3380 I tflite_BenchmarkModelActivity: Running TensorFlow Lite benchmark with args: b",
        "05-30 15:16:44.500  2222  2222 E AndroidRuntime: FATAL EXCEPTION: main",  # another app
        "05-30 15:16:46.366  3380  3380 I tflite  : Inference timings in us: Init: 126059, First inference: "
        "32942, Warmup (avg): 12581.9, Inference (avg): 12167.6",
    ])
    lines = run_lines(log)
    assert len(lines) == 2 and all(" 3380 " in line for line in lines)
    assert apk_runner.run_end(lines) == ("finished", True)  # summary only: confirmed by a quiet poll
    assert parse_apk_logcat(log).avg_us == 12167.6
    assert run_lines("nothing started yet\n") == []


# --- whole runs on the loopback phone -------------------------------------------------------------


@pytest.fixture()
def connect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Start a loopback phone with the APK stand-in; yield (device, transport) after pushing the model."""
    monkeypatch.setenv("BENCHLAB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("BENCHLAB_ADB_KEY", str(tmp_path / "no-sdk-key"))
    opened: list[tuple[LoopbackAdbDevice, DirectTransport]] = []

    def start(personality, model: Path | None) -> tuple[LoopbackAdbDevice, DirectTransport]:
        device = LoopbackAdbDevice(personality, tmp_path / personality.name, accept_new_keys=True)
        device.start()
        install_benchmark_apk(device)
        transport = DirectTransport(device.serial)
        opened.append((device, transport))
        transport.shell(f"mkdir -p {commands.DEVICE_DIR}", timeout_s=10)
        if model is not None:
            transport.push(model, MODEL, timeout_s=30)
        return device, transport

    yield start
    for device, transport in opened:
        stop_benchmark_apk(device)
        transport.close()
        device.stop()


def test_a_cpu_run_through_the_apk_finishes_with_real_numbers(connect, tiny_tflite_path: Path) -> None:
    device, transport = connect(FLAGSHIP, tiny_tflite_path)
    run = run_once(transport, MODEL, CPU2, QUICK, poll_s=0.2)
    assert run.ended == "finished"
    out = run.output
    assert out.status == "ok" and out.error is None, run.logcat
    assert out.threads == 2 and out.graph == MODEL
    assert out.count is not None and out.count >= 5
    assert out.avg_us is not None and out.avg_us > 0 and out.init_us is not None
    # The Activity's start line opens the run; the JNI's end line closes it.
    assert "Running TensorFlow Lite benchmark with args: --graph=" in run.logcat.splitlines()[0]
    assert "Average inference timings in us: Warmup:" in run.logcat.splitlines()[-1]
    issued = [c for c in device.commands if c.startswith(("pm ", "logcat ", "am "))]
    expected_start = [apk_runner.CHECK_INSTALLED, apk_runner.CLEAR_LOGCAT, start_command(benchmark_args(MODEL, CPU2, QUICK))]
    assert issued[:3] == [with_exit_code(c) for c in expected_start]
    assert set(issued[3:-1]) == {with_exit_code(apk_runner.READ_LOGCAT)}  # polls
    assert issued[-1] == with_exit_code(apk_runner.FORCE_STOP)
    assert not (device.support_dir / "benchmark_apk" / "app.pid").exists()  # force-stopped


def test_a_gpu_delegate_failure_ends_the_run_as_failed(connect, tiny_tflite_path: Path) -> None:
    device, transport = connect(LOW_END, tiny_tflite_path)  # no usable GPU delegate on this phone
    run = run_once(transport, MODEL, GPU, QUICK, poll_s=0.2)
    assert run.ended == "failed"
    assert run.output.status == "failed"
    assert run.output.error == "Failed to apply GPU delegate."
    assert "Average inference timings" not in device_log(device)  # the JNI prints no end line then


def test_a_crashing_app_is_reported_as_crashed(connect, tiny_tflite_path: Path) -> None:
    device, transport = connect(FLAGSHIP, tiny_tflite_path)
    device.faults.crash_benchmark = True
    run = run_once(transport, MODEL, CPU2, QUICK, poll_s=0.2)
    assert run.ended == "crashed"
    assert run.output.status == "failed"
    assert run.output.error is not None and "Fatal signal 11 (SIGSEGV)" in run.output.error


def test_a_run_longer_than_its_timeout_is_stopped(connect, tiny_tflite_path: Path) -> None:
    device, transport = connect(FLAGSHIP, tiny_tflite_path)
    # The tool measures for at least 60 s; the job allows 1 s.
    scenario = Scenario(warmup=1, iterations=5, min_seconds=60, max_seconds=150, timeout_seconds=1.0)
    run = run_once(transport, MODEL, CPU2, scenario, poll_s=0.2)
    assert run.ended == "timeout"
    assert run.output.status == "failed" and run.output.error == "benchmark APK did not finish within 1 s"
    assert device.commands[-1] == with_exit_code(apk_runner.FORCE_STOP)
    assert not (device.support_dir / "benchmark_apk" / "app.pid").exists()


def test_a_phone_without_the_apk_says_how_to_install_it(connect) -> None:
    device, transport = connect(FLAGSHIP, None)
    uninstall_benchmark_apk(device)
    with pytest.raises(RunnerError, match="benchmark APK .* is not installed") as raised:
        run_once(transport, MODEL, CPU2, QUICK)
    assert raised.value.hint is not None and "adb install -r -d -g" in raised.value.hint
    assert not any(c.startswith("am start") for c in device.commands)
