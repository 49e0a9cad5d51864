"""Find Android phones: through a running adb server when there is one, else directly over USB,
plus TCP endpoints (adbd over Wi-Fi, a farm's remote-ADB) named by suite targets or
$BENCHLAB_ANDROID_CONNECT. A phone that cannot be used yet (unauthorized, offline) is still
listed, with its state and what to do; its jobs become failed measurements saying so.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence

from android_runner.device import AndroidDevice
from android_runner.transport import (
    DeviceUnauthorized,
    DirectTransport,
    ServerTransport,
    adb_server_running,
    server_port,
)
from benchlab.execute.devices import UnavailableDevice
from benchlab.errors import DeviceError
from benchlab.records import Capabilities, DeviceInfo

log = logging.getLogger(__name__)

CONNECT_ENV = "BENCHLAB_ANDROID_CONNECT"
USE_SERVER_ENV = "BENCHLAB_ADB_SERVER"  # "0" forces direct connections even when a server runs


ANDROID_CAPABILITIES = Capabilities(kinds=frozenset({"cpu", "gpu", "nnapi", "hexagon", "qnn"}),
                                    formats=frozenset({"tflite"}))


def unavailable(serial: str, state: str, reason: str, model: str | None = None) -> UnavailableDevice:
    """A phone that was seen but cannot run jobs; every job it gets fails with the reason."""
    info = DeviceInfo(id=serial, platform="android", model=model, state=state, transport="adb")
    return UnavailableDevice(info, reason, ANDROID_CAPABILITIES)


def unauthorized_reason(serial: str, model: str | None) -> str:
    """The one-line instruction for a phone that has not trusted this machine."""
    return f"unauthorized: accept the USB debugging prompt on {model or 'the phone'} ({serial})"


def tcp_endpoints(targets: Sequence[str]) -> list[str]:
    """Return host:port endpoints named by `android:HOST:PORT` targets and $BENCHLAB_ANDROID_CONNECT."""
    endpoints = [t.split(":", 1)[1] for t in targets if t.startswith("android:") and t.count(":") == 2]
    endpoints += [e.strip() for e in os.environ.get(CONNECT_ENV, "").split(",") if e.strip()]
    return list(dict.fromkeys(endpoints))


def _open(transport_factory, serial: str, transport_name: str, model: str | None = None):  # type: ignore[no-untyped-def]
    try:
        return AndroidDevice(transport_factory(serial), transport_name)
    except DeviceError as exc:
        text = str(exc)
        if isinstance(exc, DeviceUnauthorized):
            return unavailable(serial, "unauthorized", unauthorized_reason(serial, model), model)
        return unavailable(serial, "offline", f"offline: {text}", model)


def _via_server() -> list:  # type: ignore[type-arg]
    import adbutils

    devices = []
    for entry in adbutils.AdbClient(port=server_port()).list(extended=True):
        model = entry.tags.get("model")
        if entry.state == "device":
            devices.append(_open(ServerTransport, entry.serial, "adb-server", model))
        elif entry.state == "unauthorized":
            devices.append(unavailable(entry.serial, "unauthorized",
                                             unauthorized_reason(entry.serial, model), model))
        else:
            devices.append(unavailable(entry.serial, entry.state, f"{entry.state}: reconnect the phone", model))
    return devices


def _usb_serials() -> list[str]:
    try:
        from adb_shell.transport.usb_transport import UsbTransport

        return [t.serial_number for t in UsbTransport.find_all_adb_devices()]
    except (ImportError, OSError) as exc:  # no libusb, or no permission on the USB bus
        log.warning("USB phones not listed: %s (install libusb-1.0 and check udev rules)", exc)
        return []


def discover(targets: Sequence[str] = ()) -> Iterable[AndroidDevice | UnavailableDevice]:
    """Return every reachable phone (and those seen but unusable) for `benchlab devices` and runs."""
    found: list = []  # type: ignore[type-arg]
    if os.environ.get(USE_SERVER_ENV, "1") != "0" and adb_server_running():
        found += _via_server()
    else:
        found += [_open(DirectTransport, serial, "usb") for serial in _usb_serials()]
    known = {d.info.id for d in found}
    found += [_open(DirectTransport, endpoint, "tcp") for endpoint in tcp_endpoints(targets) if endpoint not in known]
    return found
