"""Accelerator settings and scenarios become the real benchmark_model flags."""

from __future__ import annotations

import pytest

from android_runner.commands import (
    EvalInput,
    SampleFile,
    accelerator_flags,
    benchmark_command,
    eval_chunk_command,
    input_layer_names,
    kill_command,
    op_profile_command,
    value_file_item,
)
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
    command = eval_chunk_command("/b/benchmark_model", "/m/m.tflite", setting("gpu"), "/w/eval/job",
                                 [EvalInput("input_1", (1, 28, 28, 1), 3136)], 64, 32, "outputs.bin",
                                 cpu_mask=None, marker="job")
    assert "dd if=inputs-0.bin of=in-0.bin bs=3136 skip=64 count=32" in command
    for flag in ("--input_layer=input_1", "--input_layer_shape=32,28,28,1",
                 "--input_layer_value_files=input_1:in-0.bin",
                 "--output_filepath=out.bin", "--use_gpu=true", "--num_runs=1"):
        assert flag in command.split(), flag
    assert command.startswith("( cd /w/eval/job && ") and command.endswith("cat out.bin >> outputs.bin )")


def test_an_eval_chunk_names_every_input_tensor_in_model_order_with_its_own_shape_and_file() -> None:
    """Tensor names as exported models have them ("serving_default_meta:0"): --input_layer takes
    them as they are (split at ','), --input_layer_value_files escapes each ':' as '::'."""
    inputs = [EvalInput("serving_default_meta:0", (1, 8), 32),
              EvalInput("serving_default_image:0", (1, 16, 16, 3), 3072)]
    command = eval_chunk_command("/b/benchmark_model", "/m/m.tflite", setting("cpu"), "/w/eval/job", inputs,
                                 0, 4, "outputs.bin", cpu_mask="f0", marker="job")
    args = command.split()
    assert "--input_layer=serving_default_meta:0,serving_default_image:0" in args
    assert "--input_layer_shape=4,8:4,16,16,3" in args
    assert "--input_layer_value_files=serving_default_meta::0:in-0.bin,serving_default_image::0:in-1.bin" in args
    assert ("dd if=inputs-0.bin of=in-0.bin bs=32 skip=0 count=4 2>/dev/null && "
            "dd if=inputs-1.bin of=in-1.bin bs=3072 skip=0 count=4 2>/dev/null && ") in command
    assert "taskset f0 /b/benchmark_model" in command


@pytest.mark.parametrize(("name", "item"), [
    ("x", "x:in-0.bin"),
    ("x:0", "x::0:in-0.bin"),
    ("a:b:", "a::b:::in-0.bin"),
])
def test_value_file_items_escape_every_colon_of_the_name(name: str, item: str) -> None:
    assert value_file_item(name, "in-0.bin") == item


def test_a_name_with_a_comma_is_given_by_position_since_the_tool_cannot_escape_it() -> None:
    assert input_layer_names(["ids", "a,b", "c:0"]) == ["ids", "benchlab_input_1", "c:0"]
    command = eval_chunk_command("/b/benchmark_model", "/m/m.tflite", setting("cpu"), "/w", [
        EvalInput("ids", (1, 12), 48), EvalInput("a,b", (1, 3), 12)], 0, 1, "o.bin", cpu_mask=None, marker="j")
    assert "--input_layer=ids,benchlab_input_1" in command.split()
    assert "--input_layer_value_files=ids:in-0.bin,benchlab_input_1:in-1.bin" in command.split()


def test_timed_runs_and_the_op_profile_feed_one_sample_of_every_input_from_its_file() -> None:
    inputs = [SampleFile(EvalInput("serving_default_meta:0", (1, 8), 32), "/data/local/tmp/benchlab/sample-a.bin"),
              SampleFile(EvalInput("serving_default_image:0", (1, 10, 14, 3), 1680),
                         "/data/local/tmp/benchlab/sample-b.bin")]
    expected = ["--input_layer=serving_default_meta:0,serving_default_image:0",
                "--input_layer_shape=1,8:1,10,14,3",
                ("--input_layer_value_files=serving_default_meta::0:/data/local/tmp/benchlab/sample-a.bin,"
                 "serving_default_image::0:/data/local/tmp/benchlab/sample-b.bin")]
    timed = benchmark_command("/b/benchmark_model", "/m/m.tflite", setting("cpu"), Scenario(), "f0", inputs=inputs)
    profile = op_profile_command("/b/benchmark_model", "/m/m.tflite", setting("cpu"), 5, "f0", inputs=inputs)
    for command in (timed, profile):
        assert all(flag in command.split() for flag in expected), command
    # Without inputs the tool makes up its own values, as before.
    assert "--input_layer" not in benchmark_command("/b/benchmark_model", "/m/m.tflite", setting("cpu"), Scenario(), None)
