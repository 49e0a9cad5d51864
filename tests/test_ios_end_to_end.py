"""A suite on a fake iPhone next to this machine, through benchlab's real CLI, executor, store and report.

The iPhone is ``tests/ios/fake_phone.py``: benchlab's real iOS driver and discovery talk to it
through the ``PhoneServices`` seam (``ios_runner.discovery.default_services``), and its runner app
follows the folder contract like the Swift app. LiteRT jobs run for real on this CPU; Core ML jobs
"compile" the real .mlpackage spec and predict with the same model's fp32 .tflite (Linux has no
Core ML), so the rows are real measurements of a stand-in, not of an iPhone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import benchlab
import benchlab.execute.devices
import benchlab.results.store
import ios_runner
import ios_runner.discovery
import ios_runner.jobs
from benchlab.cli import main
from tests.ios.fake_phone import FakeClock, FakePhone, FakeServices

READY = "00008130-000A1B2C3D4E5F60"
UNTRUSTED = "00008101-000611223344556E"


@pytest.fixture()
def iphones(tmp_path: Path, tiny_tflite_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServices]:
    """A ready iPhone 15 Pro and an iPhone 12 that has not trusted this machine, found by the iOS runner."""
    clock = FakeClock()  # the host ages the heartbeats by the phones' clock: never stale on a busy machine
    monkeypatch.setattr(ios_runner.jobs, "WALL_CLOCK", clock)
    ready = FakePhone(udid=READY, documents=tmp_path / "iphone15pro" / "Documents", name="Lab iPhone 15 Pro",
                      product_type="iPhone16,1", coreml_reference=tiny_tflite_path, clock=clock)
    untrusted = FakePhone(udid=UNTRUSTED, documents=tmp_path / "iphone12" / "Documents", name="Lab iPhone 12",
                          product_type="iPhone13,2", paired="trust-pending", clock=clock)
    services = FakeServices([ready, untrusted])
    monkeypatch.setattr(ios_runner.discovery, "default_services", lambda: services)
    monkeypatch.setattr(ios_runner.jobs, "POLL_SECONDS", 0.05)
    # Whether or not pyproject.toml registers the iOS runner yet, benchlab must find it.
    registered = benchlab.execute.devices._runner_discoverers
    monkeypatch.setattr(benchlab.execute.devices, "_runner_discoverers", lambda: {**registered(), "ios": ios_runner.discover})
    try:
        yield services
    finally:
        services.stop_all()


def test_core_ml_rows_on_an_iphone_next_to_litert_rows_on_the_host(tmp_path: Path, iphones: FakeServices,
                                                                   tiny_keras_path: Path, digits_npz: Path) -> None:
    suite = {
        "name": "iphone-lab",
        "models": [{"name": "tiny", "path": str(tiny_keras_path)}],
        "dataset": {"npz": str(digits_npz), "limit": 24},
        "variants": ["fp32", "dynamic-int8", "coreml-fp16"],
        "targets": ["host", f"ios:{READY}", f"ios:{UNTRUSTED}"],
        "accelerators": [{"kind": "cpu", "threads": 1},
                         {"kind": "coreml", "options": {"compute_units": "cpuAndNeuralEngine"}},
                         {"kind": "coreml", "options": {"compute_units": "all"}}],
        # timeout_seconds: a safety net, not what is tested (the fake app's first Core ML job imports coremltools).
        "scenario": {"warmup": 2, "iterations": 8, "min_seconds": 0, "repeats": 6, "timeout_seconds": 600},
    }
    path = tmp_path / "iphone.yaml"
    path.write_text(yaml.safe_dump(suite))
    results = tmp_path / "results"
    assert main(["run", str(path), "--results", str(results)]) == 0
    (run_dir,) = results.iterdir()
    df = benchlab.load_results(run_dir)

    iphone = df[df["device_id"] == READY]
    coreml = iphone[iphone["format"] == "mlpackage"].set_index("accelerator")
    assert set(coreml.index) == {"coreml-cpuAndNeuralEngine", "coreml-all"}
    assert set(coreml["status"]) == {"ok"}, coreml["error"].tolist()
    assert (coreml["runner"] == "benchlab-ios-runner").all()
    assert coreml["runner_version"].str.startswith("app 1.0 (1), Core ML (iOS 17.2.1 21C66)").all()
    assert (coreml["latency_source"] == "samples").all() and (coreml["latency_count"] == 48).all()
    assert (coreml["latency_repeats"] == 6).all()  # one app job per repeat, interleaved
    assert (coreml["latency_ms_median"] > 0).all() and coreml["latency_ms_ci_low"].notna().all()
    assert coreml["accuracy"].notna().all(), "outputs on the phone come back and are scored"
    assert (coreml["size_bytes"] > 0).all() and coreml["size_compressed_bytes"].notna().all()
    assert (coreml["tier"] == "flagship").all() and (coreml["device_model"] == "iPhone 15 Pro").all()
    assert (coreml["soc"] == "A17 Pro").all() and (coreml["platform"] == "ios").all()
    assert (coreml["thermal_status_before"] == 0).all() and (coreml["battery_temperature_c_before"] == 31.5).all()

    litert_on_phone = iphone[iphone["format"] == "tflite"].set_index("variant")
    assert set(litert_on_phone["status"]) == {"ok"} and set(litert_on_phone["accelerator"]) == {"cpu-t1"}
    assert litert_on_phone["runner_version"].str.contains("LiteRT").all()
    assert litert_on_phone.loc["dynamic-int8", "fidelity_top1_agreement"] > 0.8  # against fp32 on the phone

    host = df[df["device_id"] == "host"].set_index(["variant", "accelerator"])
    assert host.loc[("fp32", "cpu-t1"), "status"] == "ok" and host.loc[("dynamic-int8", "cpu-t1"), "status"] == "ok"
    assert host.loc[("coreml-fp16", "coreml-all"), "status"] == "unsupported"
    # Same model, same inputs: the phone's LiteRT fp32 agrees with the host's, and so does the fake's
    # Core ML (it predicts with the fp32 .tflite; see tests/ios/fake_phone.py).
    assert litert_on_phone.loc["fp32", "accuracy"] == host.loc[("fp32", "cpu-t1"), "accuracy"]
    assert (coreml["accuracy"] == host.loc[("fp32", "cpu-t1"), "accuracy"]).all()

    untrusted = df[df["device_id"] == UNTRUSTED]
    assert len(untrusted) and set(untrusted["status"]) == {"failed"}
    assert untrusted["error"].str.startswith("not paired: unlock Lab iPhone 12 and tap Trust").all()

    devices = {d.id: d for d in benchlab.results.store.read_run_meta(run_dir).devices}
    assert devices[READY].transport == "usbmux" and devices[READY].profile == "Apple iPhone 15 Pro"
    assert devices[UNTRUSTED].state == "not-paired"
    page = (run_dir / "report.html").read_text()
    assert "iPhone 15 Pro" in page and "coreml-cpuAndNeuralEngine" in page

    phone = iphones.phones[READY]
    assert phone.app.launches == 1, "developer services launched the app once; it stayed up"
    assert not any(list((phone.documents / f).iterdir()) for f in ("inbox", "outbox", "done", "running"))

    # A second run pushes nothing: the phone's manifest has every model and input with the same sha256.
    pushed = iphones.counters["files_pushed"]
    assert main(["run", str(path), "--results", str(results)]) == 0
    assert iphones.counters["files_pushed"] == pushed


def test_benchlab_devices_lists_iphones_with_their_state(iphones: FakeServices, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(benchlab.execute.devices, "_runner_discoverers", lambda: {"ios": ios_runner.discover})
    assert main(["devices"]) == 0
    lines = capsys.readouterr().out.splitlines()
    ready = next(line for line in lines if READY[:16] in line)  # the table shortens long ids
    untrusted = next(line for line in lines if UNTRUSTED[:16] in line)
    assert all(word in ready for word in ("ios", "iPhone 15 Pro", "A17 Pro", "flagship", "usbmux", "ready"))
    assert "iPhone 12" in untrusted and "not-paired" in untrusted


def test_a_launch_the_phone_refused_is_retried_by_resume_once_the_phone_is_unlocked(
        tmp_path: Path, iphones: FakeServices, tiny_tflite_path: Path) -> None:
    """A refused launch is the phone's failure, not the model's: the rest of the run goes on, and
    `--resume` runs the job again (issue 22: before, it counted against the model and was never retried)."""
    suite = {"name": "iphone-locked", "models": [{"name": "tiny", "path": str(tiny_tflite_path)}],
             "variants": ["tflite"], "targets": ["host", f"ios:{READY}"],
             "accelerators": [{"kind": "cpu", "threads": 1}],
             "scenario": {"warmup": 1, "iterations": 3, "min_seconds": 0, "repeats": 1, "timeout_seconds": 600}}
    path = tmp_path / "locked.yaml"
    path.write_text(yaml.safe_dump(suite))
    results = tmp_path / "results"
    phone = iphones.phones[READY]
    phone.launch_refused = True  # the phone is locked: SpringBoard refuses the launch
    main(["run", str(path), "--results", str(results)])
    (run_dir,) = results.iterdir()
    first = benchlab.load_results(run_dir).set_index("device_id")
    assert first.loc["host", "status"] == "ok", "the other devices' work goes on"
    assert first.loc[READY, "status"] == "failed" and first.loc[READY, "failure_cause"] == "device"
    assert "the phone refused" in first.loc[READY, "error"] and "unlock the phone" in first.loc[READY, "error"]

    phone.launch_refused = False  # unlocked
    assert main(["run", "--resume", run_dir.name, "--results", str(results)]) == 0
    again = benchlab.load_results(run_dir)
    assert set(again[again["device_id"] == READY]["status"]) == {"ok"}
