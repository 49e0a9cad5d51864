"""Android parsers on text real phones printed (shared/fixtures/README.md), one test per file.

Each fixture test asserts every value the README lists for that file, and that what the file
does not state comes back as None. Short synthetic strings below cover formats the fixtures lack.
"""

from __future__ import annotations

import pytest

from android_runner.benchmark_model import (
    NO_SUMMARY_ERROR,
    DelegateUse,
    parse_op_profile,
    parse_output,
    parse_outputs,
    parse_stat_line,
)
from android_runner.cpuinfo import big_core_mask, clusters, core_mask, parse_max_freq_khz, parse_proc_cpuinfo
from android_runner.discovery import ListedPhone, parse_devices_l
from android_runner.dumpsys import BATTERY_FOLLOWS, CONDITIONS_COMMAND, parse_battery, parse_thermal, split_conditions
from android_runner.props import device_facts, parse_getprop

# tests/ is a rootdir package when tests/__init__.py exists, a plain sys.path entry otherwise.
try:
    from tests.fixtures_path import fixture_text, requires_fixtures
except ImportError:
    from fixtures_path import fixture_text, requires_fixtures  # type: ignore[no-redef]


def bench(name: str) -> str:
    return fixture_text(f"benchmark_model/{name}")


def props_file(name: str) -> str:
    return fixture_text(f"android_props/{name}")


def assert_no_timings(output) -> None:  # type: ignore[no-untyped-def]
    for field in (
        "init_us", "first_us", "warmup_avg_us", "avg_us", "count", "min_us", "max_us", "std_us",
        "median_us", "p5_us", "p95_us", "mem_init_mb", "mem_overall_mb", "peak_mb",
    ):
        assert getattr(output, field) is None, field
    assert output.samples_us == ()


# --- benchmark_model/ ----------------------------------------------------------------------------


@requires_fixtures
def test_mi11_fp32_cpu_summary_and_peak_label_memory() -> None:
    out = parse_output(bench("mi11_yolov5s_fp32_cpu_t4.txt"))
    assert out.status == "ok" and out.error is None and out.has_summary
    assert out.count == 50
    assert out.avg_us == 249684
    assert (out.min_us, out.max_us, out.std_us) == (247067, 254474, 1442)
    assert (out.init_us, out.first_us, out.warmup_avg_us) == (16242, 360262, 304586)
    # "Peak memory footprint (MB): init= overall=" is the old label of the init/overall deltas.
    assert (out.mem_init_mb, out.mem_overall_mb) == (4.92969, 138.809)
    assert out.peak_mb is None
    assert out.threads is None  # the command used 4 threads, but the text does not say so
    assert out.delegates == () and out.delegate_applied is None
    assert (out.median_us, out.p5_us, out.p95_us) == (None, None, None)
    assert out.warmup_count is None and out.model_size_mb is None and out.init_session_ms is None


@requires_fixtures
def test_mi11_nnapi_qti_default_failure() -> None:
    out = parse_output(bench("mi11_yolov5s_int8_nnapi_qtidefault_failed.txt"))
    assert out.status == "failed"
    assert out.error == "Failed to apply NNAPI delegate."
    assert out.threads == 4
    assert out.use_nnapi is True
    assert out.nnapi_accelerator == "qti-default"
    assert out.nnapi_accelerators_available == ("qti-default", "qti-dsp", "qti-gpu", "nnapi-reference")
    assert any("ANEURALNETWORKS_OP_FAILED" in line for line in out.error_lines)
    assert "Node number 248 (TfLiteNnapiDelegate) failed to prepare." in out.error_lines
    assert "Failed to apply NNAPI delegate." in out.error_lines
    assert out.delegates == (DelegateUse(name="NNAPI", applied="no"),)
    assert out.delegate_applied == "no"
    assert_no_timings(out)


@requires_fixtures
def test_mi11_nnapi_op_profile_tables() -> None:
    text = bench("mi11_yolov5s_nnapi_op_profiling.txt")
    profile = parse_op_profile(text)

    assert profile.init is not None
    init_rows = {row.node_type: row for row in profile.init.run_order}
    assert init_rows["ModifyGraphWithDelegate"].avg_ms == 413.346
    assert init_rows["ModifyGraphWithDelegate"].percent == 56.670
    assert init_rows["AllocateTensors"].avg_ms == 158.023
    assert init_rows["AllocateTensors"].times_called == 2
    assert profile.init.timings is not None
    assert (profile.init.timings.count, profile.init.timings.curr_us) == (1, 729391)

    run = profile.run
    assert run is not None
    assert run.nodes_executed == 11 and run.nodes_observed == 11
    by_type = {row.node_type: row for row in run.by_node_type}
    assert set(by_type) == {"TfLiteNnapiDelegate", "STRIDED_SLICE", "RESIZE_NEAREST_NEIGHBOR"}
    nnapi = by_type["TfLiteNnapiDelegate"]
    assert (nnapi.count, nnapi.avg_ms, nnapi.percent) == (3, 149.483, 94.187)
    assert (by_type["STRIDED_SLICE"].count, by_type["STRIDED_SLICE"].avg_ms) == (6, 8.347)
    assert (by_type["RESIZE_NEAREST_NEIGHBOR"].count, by_type["RESIZE_NEAREST_NEIGHBOR"].avg_ms) == (2, 0.879)
    top = run.top_by_time[0]
    assert (top.node_type, top.avg_ms, top.percent) == ("TfLiteNnapiDelegate", 79.010, 49.781)
    assert len(run.run_order) == 11
    assert run.timings is not None
    assert (run.timings.count, run.timings.avg_us, run.timings.std_us) == (50, 158715, 2931)

    # Op tables only: no summary line, so as a benchmark result it has no timings.
    out = parse_output(text)
    assert out.status == "failed" and out.error == NO_SUMMARY_ERROR
    assert_no_timings(out)


@requires_fixtures
def test_gpu_fully_delegated_cut_before_memory() -> None:
    out = parse_output(bench("tf43541_denoising_gpu_opprof_t4.txt"))
    assert out.status == "ok"
    assert out.threads == 4
    assert out.use_gpu is True
    assert out.gpu_backend == "OpenCL"
    assert out.delegates == (DelegateUse(name="GPU", applied="full", delegated_kernels=1),)
    assert out.delegate_applied == "yes"
    assert out.model_size_mb == 7.07479
    assert out.init_session_ms == 870.557
    assert (out.init_us, out.first_us, out.warmup_avg_us, out.avg_us) == (870557, 130565, 122373, 119375)
    assert (out.count, out.std_us) == (50, 1948)
    assert (out.mem_init_mb, out.mem_overall_mb, out.peak_mb) == (None, None, None)


@requires_fixtures
def test_benchmark_apk_logcat_nnapi_partial() -> None:
    out = parse_output(bench("apk_logcat_tf56301_nnapi_partial.txt"))
    assert out.status == "ok"
    assert out.delegates == (DelegateUse(name="NNAPI", applied="partial", delegated_kernels=44),)
    assert out.delegate_applied == "partial"
    assert out.init_session_ms == 126.059
    assert (out.init_us, out.first_us, out.warmup_avg_us, out.avg_us) == (126059, 32942, 12581.9, 12167.6)
    assert out.count == 75
    assert out.model_size_mb == 0.113392
    assert (out.mem_init_mb, out.mem_overall_mb, out.peak_mb) == (None, None, None)
    assert out.threads is None


@requires_fixtures
def test_old_v1x_two_runs_second_without_summary() -> None:
    text = bench("old_v1x_mobilenetv1_quant_arm64_multi.txt")
    first, second = parse_outputs(text)

    assert first.status == "ok" and first.has_summary
    assert first.threads is None
    assert first.init_session_ms == 9.933
    assert (first.avg_us, first.warmup_avg_us, first.init_us) == (66767.6, 76605.9, 9933)

    assert not second.has_summary
    assert second.status == "failed" and second.error == NO_SUMMARY_ERROR
    assert second.threads == 2
    assert second.init_session_ms == 4.183
    assert (second.warmup_count, second.warmup_avg_us) == (13, 37625.7)
    assert second.avg_us is None and second.count is None

    # The last complete run is the result.
    assert parse_output(text) == first


@requires_fixtures
def test_windows_adb_xnnpack_percentiles() -> None:
    out = parse_output(bench("win_adb_xnnpack_cpu_t4_p5median.txt"))
    assert out.status == "ok"
    assert out.threads == 4
    assert out.delegates == (
        DelegateUse(name="XNNPACK", applied="full", delegated_nodes=49, total_nodes=49, partitions=1),
    )
    assert out.delegate_applied == "yes"
    assert out.init_session_ms == 102.32
    # Warmup "count=1 curr=670083" has no min/max/avg fields: its one sample is curr.
    assert out.warmup_count == 1
    assert out.warmup_samples_us == (670083,)
    assert (out.count, out.avg_us) == (50, 699438)
    assert (out.p5_us, out.median_us, out.p95_us) == (502674, 576856, 1373207)
    assert (out.init_us, out.first_us, out.warmup_avg_us) == (102320, 670083, 670083)
    assert (out.mem_init_mb, out.mem_overall_mb) == (98.0977, 99.2031)
    assert out.peak_mb is None
    assert out.samples_us == ()  # 50 different samples, none printed


@requires_fixtures
def test_termux_batch_matmul_prepare_failure() -> None:
    out = parse_output(bench("termux_int8_batchmatmul_prepare_failed.txt"))
    assert out.status == "failed"
    assert out.error == "Node number 57 (BATCH_MATMUL) failed to prepare."
    assert any("batch_matmul.cc:353" in line and "was not true" in line for line in out.error_lines)
    assert "Failed to allocate tensors!" in out.error_lines
    assert "Benchmarking failed." in out.error_lines
    assert out.delegates == (
        DelegateUse(name="XNNPACK", applied="partial", delegated_nodes=2136, total_nodes=2168, partitions=65),
    )
    assert out.threads is None
    assert_no_timings(out)


# --- android_props/ ------------------------------------------------------------------------------


@requires_fixtures
def test_thermal_qcom_nsp_status0() -> None:
    state = parse_thermal(props_file("thermalservice_qcom_nsp_status0.txt"))
    assert state.status == 0
    temps = state.temperatures_c
    cpus = {name: value for name, value in temps.items() if name.startswith("CPU")}
    assert set(cpus) == {f"CPU{i}" for i in range(6)}
    assert max(cpus.values()) == 36.2
    assert {name for name, value in cpus.items() if value == 36.2} == {"CPU0", "CPU1", "CPU3"}
    assert (temps["GPU0"], temps["GPU1"], temps["nsp0"], temps["nsp1"]) == (34.3, 34.3, 34.3, 34.7)
    assert (temps["skin"], temps["battery"]) == (33.136, 29.0)
    # socd (type 8, battery %) and vbat (type 6, volts) are HAL readings but not temperatures.
    sensors = {sensor.name: sensor for sensor in state.sensors}
    assert (sensors["socd"].value, sensors["socd"].type) == (11.0, 8)
    assert (sensors["vbat"].value, sensors["vbat"].type) == (4.384, 6)
    assert "socd" not in temps and "vbat" not in temps
    assert len(state.cooling_devices) == 12
    assert set(state.cooling_devices.values()) == {0}
    # The static thresholds (NaN values) are not readings.
    assert all(value == value for value in temps.values())


@requires_fixtures
def test_thermal_throttled_status2() -> None:
    state = parse_thermal(props_file("thermalservice_throttled_status2.txt"))
    assert state.status == 2
    temps = state.temperatures_c
    assert temps["skin"] == 44.637
    assert {sensor.name: sensor.status for sensor in state.sensors}["skin"] == 2
    assert (temps["battery"], temps["gpu"]) == (43.8, 45.9)
    cpus = {name: value for name, value in temps.items() if name.startswith("CPU")}
    assert max(cpus.values()) == 48.2 and max(cpus, key=cpus.__getitem__) == "CPU6"
    cooling = state.cooling_devices
    assert cooling["thermal-cpufreq-6"] == cooling["thermal-cpufreq-7"] == 11
    assert all(cooling[f"thermal-cpufreq-{i}"] == 6 for i in range(6))
    assert cooling["thermal-devfreq-0"] == 0


@requires_fixtures
def test_battery_samsung_s24_reads_only_current_state() -> None:
    battery = parse_battery(props_file("dumpsys_battery_samsung_s24.txt"))
    assert battery.level == 75  # not 74 .. 71 from the ACTION_BATTERY_CHANGED event log
    assert battery.scale == 100
    assert battery.percent == 75.0
    assert battery.voltage_mv == 4156
    assert battery.temperature_c == 35.7
    assert (battery.status, battery.health) == (2, 2)
    assert battery.technology == "Li-ion"
    assert battery.charge_counter_uah == 3719506
    assert battery.current_now == 1531
    assert battery.powered_by == ("usb",)
    assert battery.charging is True


@requires_fixtures
def test_proc_cpuinfo_oneplus7t_after_prompt() -> None:
    info = parse_proc_cpuinfo(props_file("proc_cpuinfo_oneplus7t_sm8150.txt"))
    assert info.processors == 8
    assert set(info.implementers.values()) == {"0x51"}
    assert info.parts == {**{i: "0x805" for i in range(4)}, **{i: "0x804" for i in range(4, 8)}}
    assert info.hardware == "Qualcomm Technologies, Inc SM8150"
    assert info.processor_name == "AArch64 Processor rev 14 (aarch64)"


@requires_fixtures
def test_adb_devices_l_huawei_ready_with_its_model() -> None:
    (phone,) = parse_devices_l(props_file("adb_devices_l_huawei_alp_al00.txt"))  # the header is no phone
    assert phone == ListedPhone("UYT5T18414003349", "device", model="ALP_AL00")


@requires_fixtures
def test_adb_devices_l_pixel6a_unauthorized_says_to_accept_the_prompt() -> None:
    (phone,) = parse_devices_l(props_file("adb_devices_l_pixel6a_unauthorized.txt"))
    assert phone == ListedPhone("27211JEGR06194", "unauthorized")
    assert phone.reason() == "unauthorized: accept the USB debugging prompt on the phone (27211JEGR06194)"


@requires_fixtures
def test_getprop_moto_g75_skips_fastboot_lines() -> None:
    props = parse_getprop(props_file("getprop_moto_g75_excerpt_with_fastboot.txt"))
    assert not any("sku" in key or "slot" in key for key in props)
    facts = device_facts(props)
    assert facts.model == "moto g75 5G"
    assert facts.manufacturer == "motorola"
    assert facts.abi == "arm64-v8a"
    assert facts.soc == "SM6475"
    assert facts.soc_manufacturer == "QTI"
    assert facts.sdk == 34  # from ro.product.build.version.sdk
    assert facts.device == "sorap"
    for absent in ("ro.build.version.release", "ro.build.version.sdk", "ro.board.platform"):
        assert absent not in props
    assert facts.android_release is None
    assert facts.build_fingerprint is None


@requires_fixtures
def test_cpuinfo_max_freq_single_value() -> None:
    khz = parse_max_freq_khz(props_file("cpuinfo_max_freq_cpu0_single_value.txt"))
    assert khz == 988000
    assert khz / 1000 == 988  # MHz


@requires_fixtures
def test_one_conditions_command_splits_into_the_two_dumps_each_parser_reads() -> None:
    thermal, battery = props_file("thermalservice_throttled_status2.txt"), props_file("dumpsys_battery_samsung_s24.txt")
    assert f"echo {BATTERY_FOLLOWS};" in CONDITIONS_COMMAND
    for thermal_text in (thermal, thermal.rstrip("\n")):  # a dump may end without a newline
        parts = split_conditions(f"{thermal_text}{BATTERY_FOLLOWS}\n{battery}")
        assert parse_thermal(parts[0]) == parse_thermal(thermal) and parse_battery(parts[1]) == parse_battery(battery)
    assert split_conditions(thermal)[1] == ""  # cut short before the battery: no battery figures, no error
    # A phone whose adbd runs shell commands on a pty (before Android 7) ends every line in CRLF.
    crlf = split_conditions(f"{thermal}{BATTERY_FOLLOWS}\n{battery}".replace("\n", "\r\n"))
    assert parse_thermal(crlf[0]) == parse_thermal(thermal) and parse_battery(crlf[1]) == parse_battery(battery)
    # A phone without the thermal service still gives its battery.
    missing = split_conditions(f"Can't find service: thermalservice\n{BATTERY_FOLLOWS}\n{battery}")
    assert parse_battery(missing[1]) == parse_battery(battery) and parse_battery(missing[1]).temperature_c is not None


# --- formats the fixtures do not show ------------------------------------------------------------


def test_getprop_empty_and_multiline_values() -> None:
    text = "[a.empty]: []\n[a.multi]: [line one\nline two]\n[a.cut]: [never closed\n[b.next]: [x]\n"
    assert parse_getprop(text) == {"a.empty": "", "a.multi": "line one\nline two", "b.next": "x"}


def test_device_facts_falls_back_to_board_platform_then_hardware() -> None:
    assert device_facts({"ro.board.platform": "lahaina", "ro.hardware": "qcom"}).soc == "lahaina"
    assert device_facts({"ro.hardware": "mt6762"}).soc == "mt6762"
    assert device_facts({}).soc is None and device_facts({}).sdk is None


def test_stat_line_all_same_fixes_every_sample() -> None:
    stats = parse_stat_line("count=3 curr=1200(all same)")
    assert stats is not None and stats.all_same
    assert (stats.min_us, stats.max_us, stats.avg_us, stats.std_us) == (1200, 1200, 1200, 0)
    assert stats.samples_us == (1200, 1200, 1200)
    assert parse_stat_line("Timings (microseconds): count=1 curr=5") is None


def test_summary_without_run_header_is_not_guessed() -> None:
    out = parse_output("count=10 first=5 curr=5 min=4 max=6 avg=5 std=1\n")
    assert out.status == "failed" and out.error == NO_SUMMARY_ERROR
    assert out.avg_us is None and out.warmup_avg_us is None


def test_brief_logcat_prefix_and_peak_monitoring_line() -> None:
    text = "\n".join(
        [
            "I/tflite  ( 3380): Running benchmark for at least 1 iterations",
            "I/tflite  ( 3380): count=1 curr=900",
            "I/tflite  ( 3380): Running benchmark for at least 50 iterations",
            "I/tflite  ( 3380): count=2 curr=800(all same)",
            "I/tflite  ( 3380): Inference timings in us: Init: 10, First inference: 900, "
            "Warmup (avg): 900, Inference (avg): 800",
            "I/tflite  ( 3380): Memory footprint delta from the start of the tool (MB): init=1.5 overall=2.5",
            "I/tflite  ( 3380): Overall peak memory footprint (MB) via periodic monitoring: 3.25",
        ]
    )
    out = parse_output(text)
    assert out.status == "ok"
    assert out.samples_us == (800, 800)
    assert (out.mem_init_mb, out.mem_overall_mb, out.peak_mb) == (1.5, 2.5, 3.25)


def test_delegate_not_executed_overrides_node_counts() -> None:
    text = "\n".join(
        [
            "INFO: Created TensorFlow Lite delegate for NNAPI.",
            "VERBOSE: Replacing 31 out of 31 node(s) with delegate (TfLiteNnapiDelegate) node, "
            "yielding 1 partitions for subgraph 0.",
            "INFO: Though NNAPI delegate is explicitly applied, the model graph will not be executed "
            "by the delegate.",
            "INFO: Replacing 31 out of 31 node(s) with delegate (TfLiteXNNPackDelegate) node, "
            "yielding 1 partitions for subgraph 0.",
        ]
    )
    out = parse_output(text)
    names = {use.name: use.applied for use in out.delegates}
    assert names == {"NNAPI": "no", "XNNPACK": "full"}
    assert out.delegate_applied == "no"  # the accelerator decides, not the CPU fallback


def test_clusters_and_big_core_mask() -> None:
    tri_cluster = {0: 2_270_000, 1: 2_270_000, **{i: 3_150_000 for i in range(2, 7)}, 7: 3_390_000}
    assert clusters(tri_cluster) == [(2_270_000, [0, 1]), (3_150_000, [2, 3, 4, 5, 6]), (3_390_000, [7])]
    assert big_core_mask(tri_cluster) == "80"
    assert big_core_mask(tri_cluster, min_cores=4) == "fc"
    assert big_core_mask({i: 1_800_000 if i < 4 else 2_400_000 for i in range(8)}) == "f0"
    assert core_mask([8, 4]) == "110"
    with pytest.raises(ValueError):
        big_core_mask({})


def test_max_freq_tolerates_non_numbers() -> None:
    assert parse_max_freq_khz("cat: /sys/devices/system/cpu/cpu9/cpufreq: No such file\n") is None
    assert parse_max_freq_khz("$ cat cpuinfo_max_freq\n2400000\r\n") == 2_400_000


def test_battery_unplugged_and_missing_block() -> None:
    text = "Current Battery Service state:\n  AC powered: false\n  USB powered: false\n  status: 3\n  level: 40\n"
    battery = parse_battery(text)
    assert (battery.charging, battery.level, battery.temperature_c, battery.powered_by) == (False, 40, None, ())
    empty = parse_battery("")
    assert (empty.charging, empty.level, empty.percent) == (None, None, None)


def test_thermal_without_hal_section() -> None:
    state = parse_thermal("Thermal Status: 1\nCached temperatures:\n\tTemperature{mValue=30.0, mType=2, mName=battery, mStatus=0}\n")
    assert state.status == 1
    assert state.temperatures_c == {} and state.sensors == ()


def test_apk_end_line_logged_at_error_level_is_a_summary_not_an_error() -> None:
    # Composed from the format in tensorflow/lite/tools/benchmark/android/jni/benchmark_model_jni.cc
    # (logged at ANDROID_LOG_ERROR when a run ends, "Overall" glued on) and MemoryUsage's
    # AllStatsToStream (tensorflow/lite/profiling/memory_info.cc); the numbers are not a recording.
    text = "\n".join(
        [
            "05-30 15:16:44.858  3380  3380 I tflite  : Running benchmark for at least 1 iterations",
            "05-30 15:16:45.362  3380  3380 I tflite  : count=1 curr=900",
            "05-30 15:16:45.362  3380  3380 I tflite  : Running benchmark for at least 50 iterations",
            "05-30 15:16:46.365  3380  3380 I tflite  : count=2 curr=800(all same)",
            "05-30 15:16:46.366  3380  3380 E tflite  : Average inference timings in us: Warmup: 900, "
            "Init: 10, Inference: 800Overall max resident set size/physical footprint = 12.5 MB, "
            "total non-mmapped heap size = 3.1 MB, in-use heap size = 2.2 MB",
        ]
    )
    out = parse_output(text)
    assert out.status == "ok" and out.error_lines == ()
    assert (out.warmup_avg_us, out.init_us, out.avg_us) == (900, 10, 800)


def test_proc_cpuinfo_per_core_blocks_are_attributed() -> None:
    text = "processor\t: 0\nCPU part\t: 0xd05\n\nprocessor\t: 1\nCPU part\t: 0xd0a\n"
    info = parse_proc_cpuinfo(text)
    assert info.parts == {0: "0xd05", 1: "0xd0a"} and info.unattributed_parts == ()
