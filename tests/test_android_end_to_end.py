"""A suite on two loopback phones (a low-end and a flagship personality) through benchlab's real
Android runner: discovery over TCP, auth with benchlab's own key, push, benchmark_model, on-device
evaluation, dumpsys conditions, profiles and tiers, failures as results, the report."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import benchlab
import benchlab.results.store
from benchlab.cli import main
from android_runner.loopback import FLAGSHIP, LOW_END, LoopbackAdbDevice
from android_runner.loopback.ports import free_port


@pytest.fixture()
def phones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LoopbackAdbDevice, LoopbackAdbDevice]]:
    monkeypatch.setenv("BENCHLAB_CONFIG_DIR", str(tmp_path / "config"))  # benchlab makes its own key here
    monkeypatch.setenv("BENCHLAB_ADB_KEY", str(tmp_path / "no-sdk-key"))
    monkeypatch.setenv("BENCHLAB_ADB_SERVER", "0")
    monkeypatch.setenv("BENCHLAB_ADB_AUTH_TIMEOUT_S", "2")
    runner = tmp_path / "benchmark_model"
    runner.write_bytes(b"\x7fELF placeholder: the loopback phone runs its benchmark_model stand-in\n")
    monkeypatch.setenv("BENCHLAB_ANDROID_BENCHMARK_MODEL", str(runner))
    with LoopbackAdbDevice(LOW_END, tmp_path / "low", accept_new_keys=True) as low, \
            LoopbackAdbDevice(FLAGSHIP, tmp_path / "flag", accept_new_keys=True) as flagship:
        yield low, flagship


@pytest.fixture(params=["direct", "adb-server"])
def transport(request: pytest.FixtureRequest, phones, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Reach the phones with adb-shell directly, or through a private stock adb server."""
    if request.param == "direct":
        yield "tcp"
        return
    adb = shutil.which("adb")
    if adb is None:
        pytest.skip("Debian's adb is not installed (make test installs it)")
    port = str(free_port())
    (tmp_path / "adb-home").mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "adb-home"), "ANDROID_ADB_SERVER_PORT": port}
    subprocess.run([adb, "start-server"], env=env, check=True, capture_output=True, timeout=30)
    try:
        for phone in phones:
            subprocess.run([adb, "connect", phone.serial], env=env, capture_output=True, timeout=30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            listing = subprocess.run([adb, "devices"], env=env, capture_output=True, text=True, timeout=10).stdout
            if all(f"{phone.serial}\tdevice" in listing for phone in phones):
                break
            time.sleep(0.3)
        monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", port)
        monkeypatch.setenv("BENCHLAB_ADB_SERVER", "1")
        yield "adb-server"
    finally:
        subprocess.run([adb, "kill-server"], env=env, capture_output=True, timeout=30)


def lab_suite(tmp_path: Path, keras_model: Path, digits: Path, serials: list[str]) -> Path:
    suite = {
        "name": "lab-loopback",
        "models": [{"name": "tiny", "path": str(keras_model)}],
        "dataset": {"npz": str(digits), "limit": 12},
        "variants": ["fp32", "full-int8"],
        "targets": [f"android:{s}" for s in serials],
        "accelerators": [{"kind": "cpu", "threads": 2}, {"kind": "gpu"}],
        "scenario": {"warmup": 1, "iterations": 5, "min_seconds": 0, "repeats": 2},
    }
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def test_low_end_and_flagship_phones_side_by_side(tmp_path: Path, phones, transport: str, tiny_keras_path: Path,
                                                   digits_npz: Path) -> None:
    low, flagship = phones
    suite = lab_suite(tmp_path, tiny_keras_path, digits_npz, [low.serial, flagship.serial])
    results = tmp_path / "results"
    assert main(["run", str(suite), "--results", str(results)]) == 0
    (run_dir,) = results.iterdir()
    df = benchlab.load_results(run_dir)
    assert len(df) == 8  # 2 variants x 2 phones x 2 accelerators
    tiers = dict(zip(df["device_id"], df["tier"]))
    assert tiers == {low.serial: "low-end", flagship.serial: "flagship"}
    assert set(df["device_model"]) == {"SM-A055F", "SM-S921U"}
    run_devices = {d.id: d for d in benchlab.results.store.read_run_meta(run_dir).devices}
    assert {d.transport for d in run_devices.values()} == {transport}
    assert run_devices[low.serial].profile == "Samsung Galaxy A05"

    cpu = df[df["accelerator"] == "cpu-t2"]
    assert set(cpu["status"]) == {"ok"}
    assert (cpu["latency_source"] == "runner-repeats").all() and (cpu["latency_count"] == 2).all()
    assert cpu["accuracy"].notna().all(), "outputs on the phone must come back and be scored"
    fp32 = cpu[cpu["variant"] == "fp32"].set_index("device_id")
    assert fp32.loc[low.serial, "accuracy"] == fp32.loc[flagship.serial, "accuracy"]
    assert (cpu["thermal_status_before"] == 0).all()  # read from the recorded dumpsys thermalservice

    gpu = df[df["accelerator"] == "gpu"].set_index(["device_id", "variant"])
    low_gpu = gpu.loc[(low.serial, "fp32")]
    assert low_gpu["status"] == "failed" and "Failed to apply GPU delegate" in low_gpu["error"]
    flag_gpu = gpu.loc[(flagship.serial, "fp32")]
    assert flag_gpu["status"] == "ok" and flag_gpu["delegate_applied"] == "partial"
    assert "delegate-fallback" in flag_gpu["flags"]
    # The op-profiling pass: the classifier head's SOFTMAX stays on the CPU, the rest (nearly all
    # the time: the tool prints op times to 0.001 ms) on the GPU.
    assert flag_gpu["cpu_fallback_ops"] == "SOFTMAX" and 50 < flag_gpu["delegated_time_pct"] <= 100
    assert flag_gpu["delegated_nodes"] < flag_gpu["total_nodes"]
    assert cpu["op_profile_note"].isna().all() and cpu["cpu_fallback_ops"].isna().all()

    page = (run_dir / "report.html").read_text()
    assert "SM-A055F" in page and "SM-S921U" in page
    coverage = f"nodes {int(flag_gpu['delegated_nodes'])}/{int(flag_gpu['total_nodes'])}, time {flag_gpu['delegated_time_pct']:.0f}%"
    assert f"<td>{coverage}</td>" in page

    # A second run pushes nothing: the phone already holds the same bytes (one job on it shows it).
    pushed = low.host_path("/data/local/tmp/benchlab/benchmark_model")
    before = pushed.stat().st_mtime_ns
    again = {**yaml.safe_load(suite.read_text()), "variants": ["fp32"], "targets": [f"android:{low.serial}"],
             "accelerators": [{"kind": "cpu", "threads": 2}]}
    suite.write_text(yaml.safe_dump(again))
    assert main(["run", str(suite), "--results", str(results)]) == 0
    assert pushed.stat().st_mtime_ns == before


def test_an_unauthorized_phone_is_a_failed_row_saying_what_to_do(tmp_path: Path, phones, tiny_keras_path: Path,
                                                                 digits_npz: Path) -> None:
    low, flagship = phones
    low.faults.unauthorized = True
    low.accept_new_keys = False
    suite = lab_suite(tmp_path, tiny_keras_path, digits_npz, [low.serial, flagship.serial])
    assert main(["run", str(suite), "--results", str(tmp_path / "results")]) == 0
    df = benchlab.load_results(next((tmp_path / "results").iterdir()))
    refused = df[df["device_id"] == low.serial]
    assert set(refused["status"]) == {"failed"}
    assert refused["error"].str.startswith(f"unauthorized: accept the USB debugging prompt on the phone ({low.serial})").all()
    assert set(df[(df["device_id"] == flagship.serial) & (df["accelerator"] == "cpu-t2")]["status"]) == {"ok"}


def test_a_crashing_runner_and_a_hang_are_failed_rows(tmp_path: Path, phones, tiny_keras_path: Path,
                                                      digits_npz: Path) -> None:
    low, flagship = phones
    low.faults.crash_benchmark = True
    suite = yaml.safe_load(lab_suite(tmp_path, tiny_keras_path, digits_npz, [low.serial]).read_text())
    suite["accelerators"] = [{"kind": "cpu", "threads": 1}]
    suite["variants"] = ["fp32"]
    path = tmp_path / "crash.yaml"
    path.write_text(yaml.safe_dump(suite))
    assert main(["run", str(path), "--results", str(tmp_path / "results")]) == 3  # nothing measured
    (row,) = benchlab.load_results(next((tmp_path / "results").iterdir())).to_dict("records")
    assert row["status"] == "failed" and row["error"].startswith("benchmark_model crashed (SIGSEGV)")


def test_a_full_phone_fails_its_jobs_and_the_other_phone_goes_on(tmp_path: Path, phones, transport: str,
                                                                 tiny_keras_path: Path, digits_npz: Path) -> None:
    low, flagship = phones
    low.faults.disk_full_after_bytes = 1000
    suite = yaml.safe_load(lab_suite(tmp_path, tiny_keras_path, digits_npz, [low.serial, flagship.serial]).read_text())
    suite["accelerators"] = [{"kind": "cpu", "threads": 1}]
    path = tmp_path / "full.yaml"
    path.write_text(yaml.safe_dump(suite))
    assert main(["run", str(path), "--results", str(tmp_path / "results")]) == 0
    df = benchlab.load_results(next((tmp_path / "results").iterdir())).set_index("device_id")
    full = df.loc[[low.serial]]
    assert set(full["status"]) == {"failed"}  # every job tried: the full phone is not quarantined
    assert full["error"].str.match(r"no space left on device \(0 MB free\): \S+\.tflite needs").all()
    assert "\n" not in "".join(full["error"])
    assert set(df.loc[[flagship.serial], "status"]) == {"ok"}


def test_the_thermal_gate_waits_for_a_hot_phone(tmp_path: Path, phones, tiny_keras_path: Path, digits_npz: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import benchlab.execute.gate
    from tests.fixtures_path import fixture_text

    monkeypatch.setattr(benchlab.execute.gate, "POLL_SECONDS", 0.2)
    low, _ = phones
    low.set_thermal(fixture_text("android_props/thermalservice_throttled_status2.txt"))
    timer = threading.Timer(3.0, lambda: low.set_thermal(fixture_text("android_props/thermalservice_qcom_nsp_status0.txt")))
    suite = yaml.safe_load(lab_suite(tmp_path, tiny_keras_path, digits_npz, [low.serial]).read_text())
    suite["accelerators"] = [{"kind": "cpu", "threads": 1}]
    suite["variants"] = ["fp32"]
    path = tmp_path / "hot.yaml"
    path.write_text(yaml.safe_dump(suite))
    timer.start()
    started = time.monotonic()
    try:
        assert main(["run", str(path), "--results", str(tmp_path / "results")]) == 0
    finally:
        timer.cancel()
    assert time.monotonic() - started >= 3.0  # it waited for the phone to cool
    (row,) = benchlab.load_results(next((tmp_path / "results").iterdir())).to_dict("records")
    assert row["status"] == "ok" and row["thermal_status_before"] == 0 and "started-hot" not in row["flags"]


def test_a_phone_that_drops_out_is_quarantined_and_the_other_goes_on(tmp_path: Path, phones, tiny_keras_path: Path,
                                                                     digits_npz: Path) -> None:
    low, flagship = phones
    low.faults.drop_during_shell = "benchmark_model --graph"  # the cable is pulled mid-benchmark
    suite = yaml.safe_load(lab_suite(tmp_path, tiny_keras_path, digits_npz, [low.serial, flagship.serial]).read_text())
    suite["accelerators"] = [{"kind": "cpu", "threads": 1}]
    path = tmp_path / "drop.yaml"
    path.write_text(yaml.safe_dump(suite))
    assert main(["run", str(path), "--results", str(tmp_path / "results")]) == 0
    df = benchlab.load_results(next((tmp_path / "results").iterdir()))
    dropped = df[df["device_id"] == low.serial].sort_values("started_at")
    assert dropped["status"].tolist() == ["failed", "skipped"]
    assert "connection lost" in dropped["error"].iloc[0]
    assert dropped["error"].iloc[1].startswith("device quarantined for this run: ")
    assert set(df[df["device_id"] == flagship.serial]["status"]) == {"ok"}


def test_devices_lists_phones_with_profile_tier_and_state(phones, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture) -> None:
    low, flagship = phones
    low.faults.unauthorized = True
    low.accept_new_keys = False
    monkeypatch.setenv("BENCHLAB_ANDROID_CONNECT", f"{low.serial},{flagship.serial}")
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    flagship_line = next(line for line in out.splitlines() if flagship.serial in line)
    for text in ("android", "SM-S921U", "SM8650", "Android 14", "arm64-v8a", "flagship", "ready"):
        assert text in flagship_line, text
    low_line = next(line for line in out.splitlines() if low.serial in line)
    assert "unauthorized" in low_line


def test_a_hanging_benchmark_times_out_and_the_next_job_runs(tmp_path: Path, phones, tiny_keras_path: Path,
                                                             digits_npz: Path) -> None:
    low, _ = phones
    low.faults.hang_shell = "--use_xnnpack=false"  # only the second accelerator's runs hang
    suite = yaml.safe_load(lab_suite(tmp_path, tiny_keras_path, digits_npz, [low.serial]).read_text())
    suite["variants"] = ["fp32"]
    suite["accelerators"] = [{"kind": "cpu", "threads": 1, "xnnpack": False}, {"kind": "cpu", "threads": 2}]
    suite["scenario"]["timeout_seconds"] = 3
    path = tmp_path / "hang.yaml"
    path.write_text(yaml.safe_dump(suite))
    assert main(["run", str(path), "--results", str(tmp_path / "results")]) == 0
    df = benchlab.load_results(next((tmp_path / "results").iterdir())).set_index("accelerator")
    assert df.loc["cpu-t1-noxnnpack", "status"] == "failed"
    assert "did not finish within 3 s" in df.loc["cpu-t1-noxnnpack", "error"]
    assert df.loc["cpu-t2", "status"] == "ok"


def test_a_cable_pulled_mid_push_fails_the_job_with_the_reason(tmp_path: Path, phones, tiny_keras_path: Path,
                                                                digits_npz: Path) -> None:
    low, flagship = phones
    low.faults.drop_after_push_bytes = 4096
    suite = yaml.safe_load(lab_suite(tmp_path, tiny_keras_path, digits_npz, [low.serial, flagship.serial]).read_text())
    suite["variants"] = ["fp32"]
    suite["accelerators"] = [{"kind": "cpu", "threads": 1}]
    path = tmp_path / "unplug.yaml"
    path.write_text(yaml.safe_dump(suite))
    assert main(["run", str(path), "--results", str(tmp_path / "results")]) == 0
    df = benchlab.load_results(next((tmp_path / "results").iterdir())).set_index("device_id")
    assert df.loc[low.serial, "status"] == "failed"
    assert "connection lost while pushing" in df.loc[low.serial, "error"]
    assert df.loc[flagship.serial, "status"] == "ok"


def test_a_phone_that_reboots_mid_suite_is_waited_for_and_its_job_retried(
        tmp_path: Path, phones, transport: str, tiny_keras_path: Path, digits_npz: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHLAB_ANDROID_REBOOT_WAIT_S", "60")
    monkeypatch.setattr("android_runner.device.RECONNECT_POLL_S", 0.3)
    low, _ = phones
    low.faults.reboot_down_s = 2.0
    # fp32's first benchmark_model run (the phone's copy is named by its content: tiny-fp32-<sha>.tflite)
    low.faults.reboot_during_shell = "--graph=/data/local/tmp/benchlab/tiny-fp32-"
    suite = yaml.safe_load(lab_suite(tmp_path, tiny_keras_path, digits_npz, [low.serial]).read_text())
    suite["accelerators"] = [{"kind": "cpu", "threads": 1}]
    path = tmp_path / "reboot.yaml"
    path.write_text(yaml.safe_dump(suite))
    assert main(["run", str(path), "--results", str(tmp_path / "results")]) == 0
    df = benchlab.load_results(next((tmp_path / "results").iterdir())).set_index("variant")
    assert set(df["status"]) == {"ok"} and df["accuracy"].notna().all()
    assert "reconnected" in df.loc["fp32", "flags"] and "reconnected" not in df.loc["full-int8", "flags"]
