"""The iPhone driver (ios_runner.device) against a fake iPhone whose runner app follows the folder contract."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

import ios_runner.jobs
from benchlab.records import AcceleratorSetting, Job, Scenario, Variant
from ios_runner.device import IPhoneDevice
from ios_runner.jobs import MANIFEST_FILE
from ios_runner.protocol import RUNNER_NAME
from ios_runner.services import PhoneError, PhoneListing
from tests.ios.fake_phone import APP_GONE_S, FakePhone, FakeServices, make_ipa

CPU = AcceleratorSetting(name="cpu-t2", kind="cpu", threads=2)
GPU = AcceleratorSetting(name="gpu", kind="gpu")
ANE = AcceleratorSetting(name="coreml-cpuAndNeuralEngine", kind="coreml", options={"compute_units": "cpuAndNeuralEngine"})
CPU_ONLY = AcceleratorSetting(name="coreml-cpuOnly", kind="coreml", options={"compute_units": "cpuOnly"})
LITERT_COREML = AcceleratorSetting(name="litert-coreml", kind="coreml")

MakePhone = Callable[..., tuple[FakePhone, FakeServices]]


def device_for(phone: FakePhone, services: FakeServices, **options: object) -> IPhoneDevice:
    listing = next(item for item in services.list_phones() if item.udid == phone.udid)
    app = services.installed_app(phone.udid, phone.bundle_id)
    return IPhoneDevice(services, listing, phone.bundle_id, app, **options)  # type: ignore[arg-type]


def make_job(path: Path, fmt: str, accelerator: AcceleratorSetting, inputs: Path | None = None,
             **scenario: float) -> Job:
    variant = Variant(model="tiny", name=path.stem, recipe="tflite" if fmt == "tflite" else "mlpackage",
                      format=fmt, status="cached", path=str(path))
    # A safety net, not what these tests measure: the fake app's first Core ML job imports coremltools,
    # which a busy machine stretched past 30 s (the tests of timeouts give their own).
    settings = {"warmup": 1, "iterations": 4, "repeats": 1, "timeout_seconds": 600.0, **scenario}
    return Job(job_id=f"tiny.{path.stem}.phone.{accelerator.name}", run_id="run1", suite="s", variant=variant,
               device_id="phone", accelerator=accelerator, scenario=Scenario(**settings),  # type: ignore[arg-type]
               eval_inputs_path=str(inputs) if inputs else None, evaluate=inputs is not None)


@pytest.fixture(scope="module")
def eval_inputs(tmp_path_factory: pytest.TempPathFactory, digits_npz: Path) -> Path:
    path = tmp_path_factory.mktemp("eval") / "tiny.npy"
    np.save(path, np.load(digits_npz)["inputs"][:6])
    return path


def leftovers(phone: FakePhone) -> dict[str, list[str]]:
    return {folder: sorted(p.name for p in (phone.documents / folder).glob("*"))
            for folder in ("inbox", "outbox", "done", "running")}


def test_a_tflite_job_runs_in_the_app_and_comes_back_with_every_iteration(
        make_phone: MakePhone, tiny_tflite_path: Path, eval_inputs: Path) -> None:
    phone, services = make_phone()
    device = device_for(phone, services)
    job = make_job(tiny_tflite_path, "tflite", CPU, eval_inputs, repeats=2, iterations=5)
    device.prepare([tiny_tflite_path])
    m = device.run(job)
    assert m.status == "ok", m.error
    assert m.runner == RUNNER_NAME == "benchlab-ios-runner"
    assert m.runner_version is not None and m.runner_version.startswith("app 1.0 (1), LiteRT ")
    assert [len(r) for r in m.samples_us] == [5, 5] and all(s > 0 for s in m.all_samples_us)
    assert len(set(m.all_samples_us)) > 1, "latencies are measured, not constants"
    assert m.init_us and m.first_us and len(m.warmup_us) == 1
    (probs,) = m.outputs.values()  # the tiny model's one output, by its name
    assert probs.shape == (6, 10)  # one row per evaluation sample, batch axis dropped
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)  # softmax outputs from the real model
    assert m.conditions_before.thermal_status == 0 and m.conditions_before.battery_level == 87
    assert m.conditions_after.battery_temperature_c == 31.5 and m.conditions_after.charging is True
    assert services.counters["launch_attempts"] == 1 and phone.app.launches == 1
    assert leftovers(phone) == {"inbox": [], "outbox": [], "done": [], "running": []}, "each job cleans up"
    assert json.loads(m.runner_output.splitlines()[0])["status"] == "ok"  # the app's own result is kept
    assert services.open_containers == 0, "every container is closed"


def test_a_model_on_the_phone_with_the_same_sha256_is_not_pushed_again(
        make_phone: MakePhone, tiny_tflite_path: Path, tmp_path: Path) -> None:
    phone, services = make_phone()
    device_for(phone, services).prepare([tiny_tflite_path])
    assert services.counters["files_pushed"] == 1
    manifest = json.loads((phone.documents / MANIFEST_FILE).read_text())
    (remote, sha), = manifest["files"].items()
    assert remote.startswith("models/") and remote.endswith("/tiny.tflite") and len(sha) == 64
    assert (phone.documents / remote).read_bytes() == tiny_tflite_path.read_bytes()

    device_for(phone, services).prepare([tiny_tflite_path])  # a new session: only the manifest knows
    assert services.counters["files_pushed"] == 1

    changed = tmp_path / "tiny.tflite"
    changed.write_bytes(tiny_tflite_path.read_bytes() + b"\0")
    device_for(phone, services).prepare([changed])
    assert services.counters["files_pushed"] == 2
    assert len(json.loads((phone.documents / MANIFEST_FILE).read_text())["files"]) == 2


def test_an_mlpackage_folder_is_pushed_whole_then_skipped(make_phone: MakePhone, tmp_path: Path) -> None:
    package = tmp_path / "tiny-coreml-fp16.mlpackage"
    (package / "Data" / "com.apple.CoreML" / "weights").mkdir(parents=True)
    (package / "Manifest.json").write_text("{}")
    (package / "Data" / "com.apple.CoreML" / "model.mlmodel").write_bytes(b"spec")
    (package / "Data" / "com.apple.CoreML" / "weights" / "weight.bin").write_bytes(b"w" * 1000)
    phone, services = make_phone()
    device_for(phone, services).prepare([package])
    assert services.counters["files_pushed"] == 3
    (remote,) = json.loads((phone.documents / MANIFEST_FILE).read_text())["files"]
    pushed = phone.documents / remote
    assert pushed.name == package.name and (pushed / "Data/com.apple.CoreML/weights/weight.bin").stat().st_size == 1000
    assert not pushed.with_name(pushed.name + ".part").exists()
    device_for(phone, services).prepare([package])
    assert services.counters["files_pushed"] == 3


def test_inbox_mode_warns_once_and_runs_jobs_while_the_app_is_open(
        make_phone: MakePhone, tiny_tflite_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    phone, services = make_phone(can_launch=False, name="Lab SE")
    phone.open_app_by_hand()  # the app writes its heartbeat as it opens
    device = device_for(phone, services)
    # The heartbeat is fresh, so the driver does not even try to launch.
    with caplog.at_level(logging.WARNING, logger="ios_runner.device"):
        assert device.run(make_job(tiny_tflite_path, "tflite", CPU)).status == "ok"
    assert services.counters.get("launch_attempts", 0) == 0

    phone.app.stop()
    phone.clock.advance(APP_GONE_S)  # the heartbeat goes stale; the person opens the app again a moment later
    reopen = __import__("threading").Timer(0.5, phone.open_app_by_hand)
    reopen.start()
    with caplog.at_level(logging.WARNING, logger="ios_runner.device"):
        assert device.run(make_job(tiny_tflite_path, "tflite", CPU)).status == "ok"
        assert device.run(make_job(tiny_tflite_path, "tflite", GPU)).status == "ok"
    reopen.join()
    warnings = [r.getMessage() for r in caplog.records if "inbox mode" in r.getMessage()]
    assert len(warnings) == 1 and "open the benchlab runner app on Lab SE and keep it in the foreground" in warnings[0]
    assert services.counters["launch_attempts"] == 1, "a phone without developer services is not asked again"


def test_inbox_mode_with_the_app_closed_fails_saying_what_to_do(
        make_phone: MakePhone, tiny_tflite_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHLAB_IOS_PICKUP_TIMEOUT_S", "1")
    phone, services = make_phone(can_launch=False, name="Lab SE")
    device = device_for(phone, services)
    m = device.run(make_job(tiny_tflite_path, "tflite", CPU))
    assert m.status == "failed"
    assert m.error.startswith("inbox mode: open the benchlab runner app on Lab SE and keep it in the foreground")
    assert "tunneld" in m.error and "\n" not in m.error
    assert m.failure_cause == "device" and m.retryable, "the phone's fault: --resume runs it again"
    assert leftovers(phone)["inbox"] == [], "a job nobody picked up is withdrawn, so it does not run later"


def test_an_app_killed_mid_job_is_a_failed_row_not_a_hang(make_phone: MakePhone, tiny_tflite_path: Path) -> None:
    phone, services = make_phone(die_on_next_job=True)
    device = device_for(phone, services)
    # The app's clock moved on an hour once iOS ended it (FakeClock): a heartbeat stale by the phone's
    # clock ends the wait, not the timeout; a live app is never stale, however busy this machine is.
    m = device.run(make_job(tiny_tflite_path, "tflite", CPU, timeout_seconds=600))
    assert m.status == "failed" and "stopped answering mid-job (last heartbeat 3600 s ago)" in m.error
    assert "Auto-Lock" in m.error
    assert m.failure_cause == "device" and m.retryable
    # The next job relaunches the app, which reports the interrupted job itself; ours still runs.
    assert device.run(make_job(tiny_tflite_path, "tflite", CPU)).status == "ok"
    assert phone.app.launches == 2


def test_a_job_that_never_finishes_times_out(make_phone: MakePhone, tiny_tflite_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # The wait is timed by the phone's clock (FakeClock), which stands still until the app has taken the job
    # (the pickup waits min(timeout, ...): never late, however busy this machine is) and then runs on while
    # the app, alive and its heartbeat fresh, works on the job without end: only the timeout ends the wait.
    phone, services = make_phone(hang_next_job=True)
    give_up = time.monotonic() + 600  # a real-time guard: a broken wait fails the test, never hangs it

    def elapsed() -> float:
        if time.monotonic() > give_up:
            raise AssertionError("the wait never timed out by the phone's clock")
        return phone.clock()

    monkeypatch.setattr(ios_runner.jobs, "ELAPSED_CLOCK", elapsed)
    job = make_job(tiny_tflite_path, "tflite", CPU, timeout_seconds=5)
    m = device_for(phone, services).run(job)
    assert [name.endswith(f"{job.job_id}.json") for name in leftovers(phone)["running"]] == [True], \
        "the app had taken the job: it timed out running, not waiting to be picked up"
    assert m.status == "failed"
    assert m.error.startswith("the runner app on Lab iPhone did not finish the job within 5 s")
    assert "timeout_seconds" in m.error
    assert m.failure_cause == "device" and m.retryable, "a phone timeout is not a model failure"


def test_a_model_core_ml_cannot_compile_is_a_failed_row_with_a_hint(make_phone: MakePhone, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mlpackage"
    broken.mkdir()
    (broken / "Manifest.json").write_text('{"fileFormatVersion": "1.0.0", "itemInfoEntries": {}}')
    phone, services = make_phone()
    device = device_for(phone, services)
    device.prepare([broken])
    m = device.run(make_job(broken, "mlpackage", CPU_ONLY))
    assert m.status == "failed"
    assert m.error.startswith("Core ML could not compile the model")
    assert "minimum deployment target" in m.error
    assert m.failure_cause is None and not m.retryable, "the model's own failure is not retried"


def test_neural_engine_units_on_a_phone_without_one_are_unsupported(make_phone: MakePhone, tmp_path: Path,
                                                                   tiny_tflite_path: Path) -> None:
    phone, services = make_phone(product_type="iPhone10,3", product_version="16.7.8", build_version="20H343")
    device = device_for(phone, services)
    package = tmp_path / "m.mlpackage"
    package.mkdir()
    m = device.run(make_job(package, "mlpackage", ANE))
    assert m.status == "unsupported" and "iPhone X (A11 Bionic) has no Neural Engine" in m.error
    assert not (phone.documents / "models").exists(), "nothing is pushed for a job the phone cannot run"
    # The LiteRT Core ML delegate: the app itself refuses it there.
    m = device.run(make_job(tiny_tflite_path, "tflite", LITERT_COREML))
    assert m.status == "unsupported" and "needs a Neural Engine" in m.error


def test_a_gpu_delegate_the_phone_cannot_create_is_unsupported(make_phone: MakePhone, tiny_tflite_path: Path) -> None:
    phone, services = make_phone(metal_available=False)
    m = device_for(phone, services).run(make_job(tiny_tflite_path, "tflite", GPU))
    assert m.status == "unsupported" and m.error == "the LiteRT Metal delegate could not be created on this phone"


def test_an_accelerator_an_iphone_has_not_is_unsupported(make_phone: MakePhone, tiny_tflite_path: Path) -> None:
    phone, services = make_phone()
    m = device_for(phone, services).run(make_job(tiny_tflite_path, "tflite", AcceleratorSetting(name="nnapi", kind="nnapi")))
    assert m.status == "unsupported" and "cannot run a tflite model on an iPhone" in m.error


def test_a_phone_that_drops_off_usb_is_lost_for_the_run(make_phone: MakePhone, tiny_tflite_path: Path) -> None:
    """An unplugged iPhone raises DeviceLost, so the executor quarantines it (its jobs become retryable rows)."""
    from benchlab.errors import DeviceLost
    from benchlab.execute.executor import StopControl, run_device_schedule

    phone, services = make_phone()
    device = device_for(phone, services)
    phone.disconnected = True
    job = make_job(tiny_tflite_path, "tflite", CPU)
    with pytest.raises(DeviceLost, match="connection to the phone dropped"):
        device.run(job)
    assert services.open_containers == 0
    stored: list = []
    run_device_schedule(device, [job, replace(job, job_id="other")], stored.append, StopControl())
    assert [(m.job_id, m.status, m.failure_cause) for m in stored] == [
        (job.job_id, "failed", "device"), ("other", "skipped", "device")]


def test_conditions_battery_always_thermal_only_from_a_fresh_heartbeat(make_phone: MakePhone) -> None:
    phone, services = make_phone(thermal_state=2, clock_skew=timedelta(hours=1))  # the phone's clock is ahead
    device = device_for(phone, services)
    cold = device.conditions()
    assert cold.thermal_status is None and cold.battery_level == 87 and cold.battery_temperature_c == 31.5
    phone.open_app_by_hand()  # the app writes its heartbeat as it opens
    hot = device.conditions()
    assert hot.thermal_status == 2 and hot.charging is True


def test_identity_profile_tier_and_thermal_limits(make_phone: MakePhone) -> None:
    phone, services = make_phone(product_type="iPhone12,8", product_version="17.5.1", build_version="21F90")
    device = device_for(phone, services)
    info = device.info
    assert (info.id, info.platform, info.maker) == (phone.udid, "ios", "Apple")
    assert (info.model, info.soc, info.tier) == ("iPhone SE (2nd generation)", "A13 Bionic", "low-end")
    assert info.os_version == "iOS 17.5.1 (21F90)" and info.transport == "usbmux"
    assert info.profile == "Apple iPhone SE (2nd generation)"
    assert device.thermal_limits.max_status == 1 and device.thermal_limits.cooldown_s == 120
    caps = device.capabilities()
    assert caps.formats == {"tflite", "mlpackage"} and {"coreml", "cpu", "gpu"} <= caps.kinds


def test_an_unknown_iphone_gets_a_derived_profile(make_phone: MakePhone, caplog: pytest.LogCaptureFixture) -> None:
    phone, services = make_phone(product_type="iPhone99,1")
    with caplog.at_level(logging.WARNING):
        device = device_for(phone, services)
    assert device.info.tier == "unknown" and "no device profile" in caplog.text


def test_a_missing_app_is_installed_from_the_ipa_before_the_first_job(make_phone: MakePhone, tmp_path: Path,
                                                                      tiny_tflite_path: Path) -> None:
    phone, services = make_phone(app_installed=False)
    device = device_for(phone, services, ipa=make_ipa(tmp_path / "BenchlabRunner.ipa", version="1.1", build="7"))
    device.prepare([tiny_tflite_path])
    assert services.counters["installs"] == 1 and phone.app_version == "1.1 (7)"
    m = device.run(make_job(tiny_tflite_path, "tflite", CPU))
    assert m.status == "ok" and m.runner_version.startswith("app 1.1 (7),")
    device.prepare([tiny_tflite_path])
    assert services.counters["installs"] == 1


def test_an_older_app_is_upgraded_from_the_ipa(make_phone: MakePhone, tmp_path: Path) -> None:
    from ios_runner.discovery import ipa_app

    phone, services = make_phone(app_version="1.0 (1)")
    ipa = make_ipa(tmp_path / "BenchlabRunner.ipa", version="1.2", build="9")
    device = device_for(phone, services, ipa=ipa, ipa_app=ipa_app(ipa))
    device.prepare([])
    assert phone.app_version == "1.2 (9)"


def test_an_ipa_not_signed_for_the_phone_fails_prepare_with_what_to_do(make_phone: MakePhone, tmp_path: Path) -> None:
    phone, services = make_phone(app_installed=False, ipa_signed=False)
    device = device_for(phone, services, ipa=make_ipa(tmp_path / "BenchlabRunner.ipa"))
    with pytest.raises(PhoneError) as caught:
        device.prepare([])
    assert str(caught.value).startswith("the runner app is not signed for Lab iPhone")
    assert "UDID" in (caught.value.hint or "")


def test_a_missing_app_without_an_ipa_fails_the_job(make_phone: MakePhone, tiny_tflite_path: Path) -> None:
    phone, services = make_phone(app_installed=False)
    listing = PhoneListing(udid=phone.udid, connection_type="USB", product_type=phone.product_type,
                           product_version=phone.product_version, device_name="Lab iPhone")
    device = IPhoneDevice(services, listing, "org.benchlab.runner", None)
    m = device.run(make_job(tiny_tflite_path, "tflite", CPU))
    assert m.status == "failed" and m.error.startswith("runner app missing: org.benchlab.runner is not installed")
    assert "BENCHLAB_IOS_RUNNER_IPA" in m.error
    assert m.failure_cause == "device"


def test_a_launch_the_phone_refuses_fails_the_job_as_a_device_failure_with_what_to_do(
        make_phone: MakePhone, tiny_tflite_path: Path) -> None:
    phone, services = make_phone(launch_refused=True)
    m = device_for(phone, services).run(make_job(tiny_tflite_path, "tflite", CPU))
    assert m.status == "failed" and m.failure_cause == "device" and m.retryable
    assert m.error.startswith("launch org.benchlab.runner: the phone refused: ")
    assert "could not be, unlocked" in m.error and "VPN & Device Management" in m.error and "\n" not in m.error


def test_jobs_left_by_an_earlier_run_are_swept_before_the_first_job(make_phone: MakePhone,
                                                                    tiny_tflite_path: Path) -> None:
    phone, services = make_phone()
    for folder, name in (("inbox", "old-r0-x.json"), ("outbox", "old-r0-x.json"), ("outbox", "old-r0-x.out0.f32"),
                         ("done", "old-r0-x.json")):
        (phone.documents / folder).mkdir(parents=True, exist_ok=True)
        (phone.documents / folder / name).write_text("{}")
    assert device_for(phone, services).run(make_job(tiny_tflite_path, "tflite", CPU)).status == "ok"
    assert leftovers(phone) == {"inbox": [], "outbox": [], "done": [], "running": []}


def test_energy_on_an_iphone_is_apples_energy_impact_from_the_gauge_and_no_joules_said_once(
        make_phone: MakePhone, tiny_tflite_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The fake phone's gauge answers with real phones' recorded replies (tests/ios/public)."""
    phone, services = make_phone()
    device = device_for(phone, services)
    job = make_job(tiny_tflite_path, "tflite", CPU, energy=True)  # type: ignore[arg-type]
    device.prepare([tiny_tflite_path])
    with caplog.at_level("WARNING"):
        runs = [device.run(job), device.run(job)]
    assert [m.status for m in runs] == ["ok", "ok"] and services.counters["energy_recordings"] == 2
    values = runs[0].metric_values
    # Second 0 (the gauge's first answer) and the line cut in its source are not readings; the other
    # three are: -10.0 (an idle app, tidevice#233), 331.15... (pymobiledevice3#792), 767.82... (tidevice's README).
    assert values["energy_impact"] == pytest.approx((-10.0 + 331.15294117647056 + 767.8212481980341) / 3)
    assert values["energy_impact.readings"] == 3
    assert values["energy_impact.part.display"] == pytest.approx((0 + 341.15294117647056 + 214.3294117647059) / 3)
    assert "energy" not in values, "no millijoules from an iPhone, ever"
    raw = json.loads(runs[0].runner_output.splitlines()[-1])["energy_impact"]  # type: ignore[union-attr]
    assert raw[0]["pid"] == phone.pid and len(raw[0]["replies"]) == 4, "every reply kept raw"
    said = [r.getMessage() for r in caplog.records if "energy: not available on this phone" in r.getMessage()]
    assert len(said) == 1 and phone.udid in said[0] and "energy impact is recorded instead" in said[0]


def test_without_developer_services_an_iphone_runs_and_says_once_that_energy_impact_is_not_available(
        make_phone: MakePhone, tiny_tflite_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    phone, services = make_phone(can_launch=False)
    phone.open_app_by_hand()  # inbox mode: someone keeps the app open
    device = device_for(phone, services)
    job = make_job(tiny_tflite_path, "tflite", CPU, energy=True)  # type: ignore[arg-type]
    device.prepare([tiny_tflite_path])
    with caplog.at_level("WARNING"):
        runs = [device.run(job), device.run(job)]
    assert [m.status for m in runs] == ["ok", "ok"] and not any(m.metric_values for m in runs)
    said = [r.getMessage() for r in caplog.records if "energy impact not available" in r.getMessage()]
    assert len(said) == 1 and "tunneld" in said[0]
    assert services.counters["energy_recordings"] == 1, "asked once, then not again this run"
