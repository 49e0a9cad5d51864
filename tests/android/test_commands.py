"""Accelerator settings and scenarios become the real benchmark_model flags."""

from __future__ import annotations

import pytest

from android_runner.commands import accelerator_flags, benchmark_command, eval_chunk_command, kill_command
from benchlab.records import AcceleratorSetting, Scenario


def setting(kind: str, **kwargs: object) -> AcceleratorSetting:
    options = kwargs.pop("options", {})
    return AcceleratorSetting(name=kind, kind=kind, options=options, **kwargs)  # type: ignore[arg-type]


def test_cpu_threads_xnnpack_and_big_core_pinning() -> None:
    command = benchmark_command("/data/local/tmp/benchlab/benchmark_model", "/data/local/tmp/benchlab/m.tflite",
                                setting("cpu", threads=4, xnnpack=False),
                                Scenario(warmup=3, iterations=40, min_seconds=2, max_seconds=30), "f0")
    assert command.startswith("taskset f0 /data/local/tmp/benchlab/benchmark_model --graph=")
    for flag in ("--num_threads=4", "--use_xnnpack=false", "--warmup_runs=3", "--num_runs=40", "--min_secs=2",
                 "--max_secs=30", "--report_peak_memory_footprint=true"):
        assert flag in command.split()


@pytest.mark.parametrize(("accelerator", "expected"), [
    (setting("gpu", options={"precision_loss_allowed": False}), ["--use_gpu=true", "--gpu_precision_loss_allowed=false"]),
    (setting("nnapi", options={"accelerator_name": "qti-dsp"}),
     ["--use_nnapi=true", "--nnapi_accelerator_name=qti-dsp", "--disable_nnapi_cpu=true"]),
    (setting("hexagon"), ["--use_hexagon=true", "--hexagon_lib_path=/data/local/tmp/benchlab"]),
    (setting("qnn", options={"library": "/data/local/tmp/libQnnTFLiteDelegate.so", "backend_type": "htp"}),
     ["--external_delegate_path=/data/local/tmp/libQnnTFLiteDelegate.so",
      "--external_delegate_options=backend_type:htp"]),
])
def test_delegates_map_to_their_flags(accelerator: AcceleratorSetting, expected: list[str]) -> None:
    flags = accelerator_flags(accelerator)
    assert all(flag in flags for flag in expected), flags


def test_core_ml_is_not_a_benchmark_model_accelerator() -> None:
    with pytest.raises(ValueError, match="cannot run accelerator kind 'coreml'"):
        accelerator_flags(setting("coreml", options={"compute_units": "all"}))


def test_user_values_are_quoted_for_the_phone_shell() -> None:
    command = benchmark_command("/b/benchmark_model", "/m/my model;rm -rf.tflite", setting("cpu"), Scenario(), None)
    assert "'--graph=/m/my model;rm -rf.tflite'" in command


def test_the_job_marker_labels_the_run_and_kill_matches_only_it() -> None:
    command = benchmark_command("/b/benchmark_model", "/m/m.tflite", setting("cpu"), Scenario(), None,
                                marker="tiny.fp32.127.0.0.1_5555.cpu-t1")
    assert "--benchmark_name=tiny.fp32.127.0.0.1_5555.cpu-t1" in command.split()
    kill = kill_command("tiny.fp32.127.0.0.1_5555.cpu-t1")
    assert kill == r"pkill -9 -f '[-]-benchmark_name=tiny\.fp32\.127\.0\.0\.1_5555\.cpu-t1'; true"


def test_an_eval_chunk_resizes_the_batch_and_feeds_that_many_samples() -> None:
    command = eval_chunk_command("/b/benchmark_model", "/m/m.tflite", setting("gpu"), "/w/eval/job", [1, 28, 28, 1],
                                 3136, 64, 32, "outputs.bin", cpu_mask=None, marker="job")
    assert "dd if=inputs.bin of=in.bin bs=3136 skip=64 count=32" in command
    for flag in ("--input_layer=benchlab_input", "--input_layer_shape=32,28,28,1",
                 "--input_layer_value_files=benchlab_input:/w/eval/job/in.bin",
                 "--output_filepath=/w/eval/job/out.bin", "--use_gpu=true", "--num_runs=1"):
        assert flag in command.split(), flag
    assert command.startswith("( cd /w/eval/job && ") and command.endswith("cat out.bin >> outputs.bin )")
