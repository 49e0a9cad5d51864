"""Where every op ran: the op-profiling pass, its rows, and what report, check and compare say.

The mapping from a parsed op profile to rows is checked on recorded real output (Mi 11, NNAPI on
qti-gpu); the pass itself runs on the loopback flagship phone, whose GPU delegate refuses SOFTMAX,
through android_runner's real transport and the stand-in benchmark_model (real LiteRT).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from android_runner.benchmark_model import op_placement, parse_op_profile
from android_runner.device import AndroidDevice
from benchlab.nightly.compare import compare_measurements, placement_change
from benchlab.nightly.compare import FAILED
from benchlab.plan.suite import RegressionSpec
from benchlab.records import (
    OP_PROFILE_KEYS,
    AcceleratorSetting,
    DeviceInfo,
    Measurement,
    Scenario,
    Variant,
    full_delegation_failure,
)
from benchlab.results.run_record import combine_repeats, measurement_row
from benchlab.results.store import measurement_from_record, measurement_to_record
from benchlab.decide.check import check_measurement
from benchlab.views.report import coverage_text, not_ok_notes
from tests.android.test_phone_faults import GPU, make_job, open_device
from tests.fixtures_path import fixture_text
from android_runner.loopback import FLAGSHIP, LoopbackAdbDevice

QUICK = Scenario(warmup=1, iterations=3, min_seconds=0, max_seconds=10, repeats=1, timeout_seconds=20,
                 op_profile_runs=2)


def mi11_rows() -> tuple[dict, ...]:
    profile = parse_op_profile(fixture_text("benchmark_model/mi11_yolov5s_nnapi_op_profiling.txt"))
    assert profile.run is not None
    return op_placement(profile.run).rows


def measurement(kind: str = "nnapi", **fields) -> Measurement:
    variant = Variant(model="yolo", name="fp32", recipe="asis", format="tflite", status="built", sha256="a")
    return Measurement(job_id="yolo.fp32.mi11.nnapi", run_id="r", suite="s", variant=variant,
                       device=DeviceInfo(id="mi11", platform="android", os_version="14"),
                       accelerator=AcceleratorSetting(name=kind, kind=kind), status="ok", runner="benchmark_model",
                       runner_stats=({"count": 5, "median_us": 158000.0},), **fields)


# --- recorded real output ----------------------------------------------------------------------


def test_mi11_nnapi_profile_maps_each_node_to_the_delegate_or_the_cpu() -> None:
    profile = parse_op_profile(fixture_text("benchmark_model/mi11_yolov5s_nnapi_op_profiling.txt"))
    placement = op_placement(profile.run)
    assert len(placement.rows) == 11 and all(set(row) == set(OP_PROFILE_KEYS) for row in placement.rows)
    delegated = [row for row in placement.rows if not row["on_cpu"]]
    assert [row["ran_on"] for row in delegated] == ["NNAPI"] * 3
    assert delegated[0]["node"].endswith("]:231") and delegated[0]["avg_ms"] == 79.010
    assert delegated[0]["time_pct"] == 49.781
    assert {row["ran_on"] for row in placement.rows if row["on_cpu"]} == {"CPU"}
    # 149.483 ms of 158.71 ms in the three NNAPI partitions (the tool's own summary says 94.187%).
    assert placement.delegated_time_pct == pytest.approx(94.187, abs=0.01)
    m = measurement(op_profile=placement.rows, delegated_time_pct=placement.delegated_time_pct)
    assert m.cpu_fallback_ops == {"STRIDED_SLICE": 6, "RESIZE_NEAREST_NEIGHBOR": 2}


def test_a_gpu_output_cut_before_its_op_tables_has_no_run_profile() -> None:
    # The user enabled op profiling but the excerpt ends at the timings: nothing may be invented.
    profile = parse_op_profile(fixture_text("benchmark_model/tf43541_denoising_gpu_opprof_t4.txt"))
    assert profile.run is None and profile.init is None


def test_xnnpack_nodes_count_as_the_cpu() -> None:
    text = fixture_text("benchmark_model/mi11_yolov5s_nnapi_op_profiling.txt").replace(
        "TfLiteNnapiDelegate", "TfLiteXNNPackDelegate")
    placement = op_placement(parse_op_profile(text).run)
    assert {row["ran_on"] for row in placement.rows} == {"XNNPACK", "CPU"}
    assert all(row["on_cpu"] for row in placement.rows) and placement.delegated_time_pct == 0.0


# --- stored, combined, viewed --------------------------------------------------------------------


def test_the_profile_survives_the_store_and_comes_from_the_repeat_that_ran_it() -> None:
    rows = mi11_rows()
    first = measurement(op_profile=rows, delegated_time_pct=94.185, delegated_nodes=223, total_nodes=231)
    second = replace(measurement(delegated_nodes=223, total_nodes=231), repeat=1)
    stored = [measurement_from_record(json.loads(json.dumps(measurement_to_record(m)))) for m in (second, first)]
    assert stored[1].op_profile == rows
    combined = combine_repeats(stored)
    assert combined.op_profile == rows and combined.delegated_time_pct == 94.185
    row = measurement_row(combined)
    assert row["cpu_fallback_ops"] == "STRIDED_SLICE ×6, RESIZE_NEAREST_NEIGHBOR ×2"
    assert coverage_text(row) == "nodes 223/231, time 94%"
    assert coverage_text({**row, "accelerator_kind": "cpu"}) == ""


def test_report_notes_and_check_name_the_ops_that_fell_back() -> None:
    import pandas as pd

    m = measurement(op_profile=mi11_rows(), delegated_time_pct=94.185, delegate_applied="partial")
    notes = not_ok_notes(pd.DataFrame([measurement_row(m)]))
    assert "fell back to the CPU: STRIDED_SLICE ×6, RESIZE_NEAREST_NEIGHBOR ×2 — fp32@mi11·nnapi" in notes
    (warning,) = [w for w in check_measurement(m) if w.code == "delegate-fallback"]
    assert "94% of the time on the delegate" in warning.message
    assert warning.message.endswith("the CPU: STRIDED_SLICE ×6, RESIZE_NEAREST_NEIGHBOR ×2")


def test_compare_notes_an_op_that_moved_to_the_cpu() -> None:
    rows = mi11_rows()
    moved = tuple(dict(row, ran_on="CPU", on_cpu=True) if row["node"].endswith(":232") else row for row in rows)
    base, cand = measurement(op_profile=rows), measurement(op_profile=moved)
    assert placement_change(base, cand) == "placement changed: TfLiteNnapiDelegate now on CPU"
    assert placement_change(cand, base) == "placement changed: TfLiteNnapiDelegate back on the accelerator"
    assert placement_change(base, measurement()) is None  # no profile on one side: nothing to say
    row = compare_measurements(base, cand, RegressionSpec())
    assert "placement changed: TfLiteNnapiDelegate now on CPU" in row.notes and not row.failed
    strict = compare_measurements(base, full_delegation_failure(cand), RegressionSpec())
    assert strict.status == FAILED and "RESIZE_NEAREST_NEIGHBOR ×2" in strict.reason


# --- the pass on the loopback flagship -------------------------------------------------------------


@pytest.fixture(scope="module")
def softmax_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Dense + SOFTMAX on 8 inputs: the flagship's GPU takes FULLY_CONNECTED and refuses SOFTMAX."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((8,)), tf.keras.layers.Dense(4),
                                 tf.keras.layers.Softmax()])
    path = tmp_path_factory.mktemp("coverage-models") / "head.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


@pytest.fixture()
def flagship(tmp_path: Path, android_loopback_env: None) -> Iterator[LoopbackAdbDevice]:
    with LoopbackAdbDevice(FLAGSHIP, tmp_path / "phone", accept_new_keys=True) as device:
        yield device


def ready(phone: LoopbackAdbDevice, model: Path) -> AndroidDevice:
    device = open_device(phone)
    device.prepare([model])
    return device


def test_the_first_repeat_records_where_each_op_ran_on_a_partial_gpu(flagship, softmax_model, tmp_path) -> None:
    device = ready(flagship, softmax_model)
    job = make_job(softmax_model, tmp_path, accelerator=GPU, scenario=QUICK)
    m = device.run(job)
    assert m.status == "ok" and m.delegate_applied == "partial" and m.op_profile_note is None
    assert [(row["op"], row["ran_on"]) for row in m.op_profile] == [("TfLiteGpuDelegateV2", "GPU"),
                                                                    ("SOFTMAX", "CPU")]
    # SOFTMAX takes microseconds: the tool prints ms to 3 decimals, so its share may round to 0%.
    assert m.cpu_fallback_ops == {"SOFTMAX": 1} and 0 < m.delegated_time_pct <= 100
    # The pass is its own process: the timed repeat's statistics are those of the scenario.
    assert len(m.runner_stats) == 1 and m.runner_stats[0]["count"] == QUICK.iterations
    profiled = [c for c in flagship.commands if "--enable_op_profiling=true" in c]
    assert len(profiled) == 1 and "--num_runs=2" in profiled[0]

    later = device.run(replace(job, repeat=1))
    assert later.status == "ok" and later.op_profile == () and later.op_profile_note is None
    assert len([c for c in flagship.commands if "--enable_op_profiling=true" in c]) == 1


def test_a_hung_profiling_pass_keeps_the_latency_and_says_why(flagship, softmax_model, tmp_path) -> None:
    flagship.faults.hang_benchmark = "--enable_op_profiling"
    device = ready(flagship, softmax_model)
    m = device.run(make_job(softmax_model, tmp_path, accelerator=GPU,
                            scenario=replace(QUICK, timeout_seconds=3)))
    assert m.status == "ok" and m.runner_stats[0]["count"] == QUICK.iterations
    assert m.op_profile == () and m.op_profile_note.startswith("op profile not recorded:")
    assert "killed" in m.op_profile_note


def test_require_full_delegation_fails_a_partial_gpu_job_naming_the_op(flagship, softmax_model, tmp_path) -> None:
    device = ready(flagship, softmax_model)
    m = device.run(make_job(softmax_model, tmp_path, accelerator=GPU,
                            scenario=replace(QUICK, require_full_delegation=True)))
    assert m.status == "failed" and m.failure_cause == "model"
    assert m.error == "require_full_delegation: 1 op(s) fell back to the CPU: SOFTMAX"
    assert m.runner_stats and m.op_profile, "what was measured stays in the record"
    cpu = device.run(make_job(softmax_model, tmp_path, accelerator=AcceleratorSetting(name="cpu", kind="cpu",
                                                                                      threads=1),
                              scenario=replace(QUICK, require_full_delegation=True)))
    assert cpu.status == "ok" and cpu.op_profile  # the CPU is where a CPU job is meant to run
