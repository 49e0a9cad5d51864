"""Pymobiledevice3Services through the real pymobiledevice3 client, against a loopback usbmuxd + lockdownd
reached as a remote usbmuxd ($BENCHLAB_USBMUXD): listing, pre-pairing values, and pairing states."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ios_runner.discovery import RunnerConfig, UnavailableIPhone, discover
from ios_runner.services import PhoneNotPaired, Pymobiledevice3Services
from tests.ios.loopback_usbmuxd import LoopbackPhone, LoopbackUsbmuxd, rsa_public_key_pem

IPHONE_12 = LoopbackPhone(
    serial="00008101-000611223344556E", device_id=3,
    values={"ProductType": "iPhone13,2", "ProductVersion": "17.4.1", "BuildVersion": "21E236",
            "DeviceName": "Lab iPhone 12", "DeviceClass": "iPhone", "UniqueDeviceID": "00008101-000611223344556E",
            "WiFiAddress": "aa:bb:cc:dd:ee:ff"},
)


@pytest.fixture(scope="module")
def public_key() -> bytes:
    return rsa_public_key_pem()


@pytest.fixture
def usbmuxd(monkeypatch: pytest.MonkeyPatch, public_key: bytes) -> Iterator[LoopbackUsbmuxd]:
    wired = LoopbackPhone(**{**IPHONE_12.__dict__, "public_key_pem": public_key})
    wifi = LoopbackPhone(**{**IPHONE_12.__dict__, "device_id": 9, "connection_type": "Network",
                            "public_key_pem": public_key})
    with LoopbackUsbmuxd([wifi, wired]) as server:
        monkeypatch.setenv("BENCHLAB_USBMUXD", server.address)
        yield server


@pytest.fixture
def services(usbmuxd: LoopbackUsbmuxd) -> Iterator[Pymobiledevice3Services]:
    real = Pymobiledevice3Services()
    try:
        yield real
    finally:
        real.close()


def test_a_remote_usbmuxd_lists_the_phone_once_with_its_pre_pairing_values(services: Pymobiledevice3Services,
                                                                          usbmuxd: LoopbackUsbmuxd) -> None:
    (listing,) = services.list_phones()
    assert listing.udid == IPHONE_12.serial and listing.connection_type == "USB"  # USB wins over Wi-Fi
    assert (listing.product_type, listing.product_version, listing.build_version) == ("iPhone13,2", "17.4.1", "21E236")
    assert listing.device_name == "Lab iPhone 12" and listing.device_class == "iPhone"
    assert services.transport(listing.udid) == "usbmux-remote"
    assert "QueryType" in usbmuxd.lockdown_requests and "GetValue" in usbmuxd.lockdown_requests
    assert "Pair" not in usbmuxd.lockdown_requests, "listing never pairs"


@pytest.mark.parametrize(("pair_error", "state"), [
    ("PairingDialogResponsePending", "trust-pending"),
    ("PasswordProtected", "locked"),
    ("UserDeniedPairing", "denied"),
])
def test_pairing_states_as_the_phone_answers_pair(services: Pymobiledevice3Services, usbmuxd: LoopbackUsbmuxd,
                                                  pair_error: str, state: str) -> None:
    for phone in usbmuxd.phones:
        phone.pair_error = pair_error
    assert services.pairing_state(IPHONE_12.serial, wait_s=0) == state
    assert "Pair" in usbmuxd.lockdown_requests


def test_an_unpaired_phone_refuses_paired_services(services: Pymobiledevice3Services) -> None:
    with pytest.raises(PhoneNotPaired):
        services.installed_app(IPHONE_12.serial, "org.benchlab.runner")


def test_discovery_through_the_real_library_reports_the_trust_prompt(services: Pymobiledevice3Services) -> None:
    (device,) = discover(services=services, config=RunnerConfig())
    assert isinstance(device, UnavailableIPhone) and device.info.state == "not-paired"
    assert device.info.model == "iPhone 12" and device.info.transport == "usbmux-remote"
    assert device.reason.startswith("not paired: unlock Lab iPhone 12 and tap Trust")
