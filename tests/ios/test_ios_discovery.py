"""Discovery: every iPhone usbmux lists is a Device, ready or unavailable with its state and what to do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from benchlab.errors import DeviceError
from benchlab.records import AcceleratorSetting, Job, Scenario, Variant
from ios_runner.device import IPhoneDevice
from ios_runner.discovery import DEFAULT_BUNDLE_ID, RunnerConfig, UnavailableIPhone, discover, ipa_app
from ios_runner.services import PhoneListing
from tests.ios.fake_phone import FakePhone, FakeServices, make_ipa

MakePhone = Callable[..., tuple[FakePhone, FakeServices]]
CONFIG = RunnerConfig()


def a_job() -> Job:
    variant = Variant(model="m", name="fp32", recipe="tflite", format="tflite", status="cached", path="/x.tflite")
    return Job(job_id="j", run_id="r", suite="s", variant=variant, device_id="d",
               accelerator=AcceleratorSetting(name="cpu", kind="cpu"), scenario=Scenario())


def only(devices: list) -> IPhoneDevice | UnavailableIPhone:  # type: ignore[type-arg]
    (device,) = devices
    return device


def test_a_ready_phone_is_an_iphone_device(make_phone: MakePhone) -> None:
    phone, services = make_phone(name="Lab 15 Pro")
    device = only(discover(services=services, config=CONFIG))
    assert isinstance(device, IPhoneDevice)
    assert device.info.state == "ready" and device.info.tier == "flagship"
    assert device.app is not None and device.app.version == "1.0 (1)"


@pytest.mark.parametrize(("options", "state", "reason"), [
    ({"paired": "trust-pending"}, "not-paired",
     "not paired: unlock Lab iPhone and tap Trust on the 'Trust This Computer?' prompt, then run again"),
    ({"paired": "locked"}, "locked", "locked: unlock Lab iPhone so it can be paired"),
    ({"paired": "denied"}, "not-paired", "not paired: Lab iPhone refused to trust this computer"),
    ({"developer_mode": False}, "developer-mode-off",
     "developer mode off: turn on Settings > Privacy & Security > Developer Mode on Lab iPhone"),
    ({"app_installed": False}, "app-missing",
     f"runner app missing: {DEFAULT_BUNDLE_ID} is not installed on Lab iPhone"),
    ({"product_version": "15.7.9", "product_type": "iPhone9,1"}, "unsupported-ios",
     "unsupported iOS: Lab iPhone runs iOS 15.7.9, the runner app needs iOS 16.0 or later"),
    ({"disconnected": True}, "offline", "offline: lockdown: the connection to the phone dropped"),
])
def test_a_phone_that_cannot_run_jobs_is_listed_with_its_state_and_its_jobs_fail_with_the_reason(
        make_phone: MakePhone, options: dict, state: str, reason: str) -> None:  # type: ignore[type-arg]
    phone, services = make_phone(**options)
    device = only(discover(services=services, config=CONFIG))
    assert isinstance(device, UnavailableIPhone)
    assert device.info.state == state and device.info.platform == "ios" and device.info.id == phone.udid
    assert device.reason.startswith(reason), device.reason
    assert phone.udid in device.reason or state == "offline"
    m = device.run(a_job())
    assert m.status == "failed" and m.error == device.reason and "\n" not in m.error


def test_ios_before_16_has_no_developer_mode_and_is_not_refused_for_it(make_phone: MakePhone) -> None:
    phone, services = make_phone(developer_mode=None, product_version="16.7.8", product_type="iPhone10,3")
    assert isinstance(only(discover(services=services, config=CONFIG)), IPhoneDevice)


def test_a_missing_app_is_fine_when_an_ipa_is_configured(make_phone: MakePhone, tmp_path: Path) -> None:
    phone, services = make_phone(app_installed=False)
    ipa = make_ipa(tmp_path / "BenchlabRunner.ipa")
    device = only(discover(services=services, config=RunnerConfig(ipa=ipa)))
    assert isinstance(device, IPhoneDevice) and device.app is None and device.ipa == ipa
    assert device.ipa_app is not None and device.ipa_app.version == "1.1 (7)"


def test_watches_and_apple_tvs_are_not_listed(make_phone: MakePhone) -> None:
    phone, services = make_phone()
    listing = services.list_phones()[0]
    services.list_phones = lambda: [listing, PhoneListing(udid="tv", connection_type="Network",  # type: ignore[method-assign]
                                                          device_class="AppleTV")]
    assert [d.info.id for d in discover(services=services, config=CONFIG)] == [phone.udid]


def test_config_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BENCHLAB_IOS_BUNDLE_ID", raising=False)
    monkeypatch.delenv("BENCHLAB_IOS_RUNNER_IPA", raising=False)
    assert RunnerConfig.from_env() == RunnerConfig(bundle_id="org.benchlab.runner", ipa=None, pair_wait_s=0.0)
    ipa = make_ipa(tmp_path / "r.ipa")
    monkeypatch.setenv("BENCHLAB_IOS_BUNDLE_ID", "com.example.lab.runner")
    monkeypatch.setenv("BENCHLAB_IOS_RUNNER_IPA", str(ipa))
    monkeypatch.setenv("BENCHLAB_IOS_PAIR_TIMEOUT_S", "20")
    assert RunnerConfig.from_env() == RunnerConfig(bundle_id="com.example.lab.runner", ipa=ipa, pair_wait_s=20.0)
    monkeypatch.setenv("BENCHLAB_IOS_RUNNER_IPA", str(tmp_path / "missing.ipa"))
    with pytest.raises(DeviceError, match="is not a file"):
        RunnerConfig.from_env()


def test_the_version_inside_an_ipa_is_read(tmp_path: Path) -> None:
    app = ipa_app(make_ipa(tmp_path / "r.ipa", bundle_id="com.example.r", version="2.0", build="12"))
    assert app is not None and (app.bundle_id, app.version) == ("com.example.r", "2.0 (12)")
    (tmp_path / "bad.ipa").write_bytes(b"not a zip")
    assert ipa_app(tmp_path / "bad.ipa") is None


def test_the_entry_point_function_uses_the_default_services(monkeypatch: pytest.MonkeyPatch,
                                                            make_phone: MakePhone) -> None:
    import ios_runner
    import ios_runner.discovery

    phone, services = make_phone()
    monkeypatch.setattr(ios_runner.discovery, "default_services", lambda: services)
    assert [d.info.id for d in ios_runner.discover(["ios:*"])] == [phone.udid]


def test_developer_mode_off_says_how_to_reveal_the_switch_without_xcode(make_phone: MakePhone) -> None:
    phone, services = make_phone(developer_mode=False)
    device = only(discover(services=services, config=CONFIG))
    assert isinstance(device, UnavailableIPhone)
    assert "`pymobiledevice3 amfi reveal-developer-mode`" in device.reason


@pytest.mark.parametrize("options", [{}, {"paired": "trust-pending"}], ids=["ready", "not paired"])
def test_a_phone_usbmuxd_lists_without_the_dash_is_named_by_its_udid_as_apple_writes_it(
        make_phone: MakePhone, options: dict) -> None:  # type: ignore[type-arg]
    from benchlab.plan.targets import matches

    phone, services = make_phone(udid="00008120001A2B3C4D5E6F70", **options)
    device = only(discover(services=services, config=CONFIG))
    assert device.info.id == "00008120-001A2B3C4D5E6F70"
    assert matches(device.info, "ios:00008120-001A2B3C4D5E6F70"), "the UDID Finder and Xcode show selects it"
    legacy, legacy_services = make_phone(udid="a50b2ae37f010229e0bbcfabe9a7a7e054fdb818")  # 40 digits: as it is
    assert only(discover(services=legacy_services, config=CONFIG)).info.id == legacy.udid
