"""Find Android phones: through a running adb server when there is one, else directly over USB,
plus TCP endpoints (adbd over Wi-Fi, a farm's remote-ADB) named by suite targets or
$BENCHLAB_ANDROID_CONNECT. A phone that cannot be used yet (unauthorized, offline, no USB
permission, booted into recovery ...) is still listed, with its state and what to do; its jobs
become failed measurements saying so.

The server's list (``host:devices-l``) is read here rather than with adbutils' ``list()``: that
splits each line on whitespace, so adb's multi-word state for a phone this user may not open
("no permissions (missing udev rules? user is in the plugdev group); see [...]") came back as
state "no" and adb's own diagnosis was lost.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from android_runner.device import AndroidDevice
from android_runner.platform import ANDROID
from android_runner.transport import (
    DeviceUnauthorized,
    DirectTransport,
    ServerTransport,
    adb_server_running,
    server_port,
)
from benchlab.settings import ADB_SERVER, ANDROID_CONNECT, read
from benchlab.execute.devices import UnavailableDevice
from benchlab.errors import DeviceError
from benchlab.records import DeviceInfo

log = logging.getLogger(__name__)



#: The state benchlab reports for a phone adb lists as "no permissions ...": its USB device node
#: may not be opened by this user (Linux without the udev rule or the plugdev group).
NO_PERMISSIONS = "no-permissions"
SETUP_URL = "https://developer.android.com/studio/run/device"
#: The one-word states adb prints for a transport (adb's atransport::connection_state_name).
ADB_STATES = frozenset({"device", "offline", "unauthorized", "authorizing", "connecting", "bootloader",
                        "recovery", "rescue", "sideload", "host", "detached", "unknown"})
#: adb's no-permission text: "no permissions", adb's diagnosis in parentheses since 2016 (which may
#: hold a ";"), then "; see [URL]" (the "]" is missing where a terminal or a paste cut the line).
_NO_PERMISSIONS_TEXT = re.compile(r"no permissions(?: \((?P<diagnosis>[^)]*)\))?(?:; see \[[^\]\s]*\]?)?")
#: What to do for a phone seen in a state other than "device", "unauthorized" or no permissions.
_STATE_ADVICE = {
    "offline": "adbd does not answer; unplug and replug the phone",
    "authorizing": "the phone is still being authorized; list the devices again in a few seconds",
    "connecting": "the phone is still connecting; list the devices again in a few seconds",
    **{mode: f"the phone is booted into {mode} mode; reboot it into Android"
       for mode in ("bootloader", "recovery", "rescue", "sideload")},
}

#: A phone seen but unusable runs, as far as benchlab can tell, whatever an Android phone runs, so
#: each of its jobs reaches run() and records why the phone cannot be used.
ANDROID_CAPABILITIES = ANDROID.capabilities()


def unavailable(serial: str, state: str, reason: str, model: str | None = None) -> UnavailableDevice:
    """A phone that was seen but cannot run jobs; every job it gets fails with the reason."""
    info = DeviceInfo(id=serial, platform="android", model=model, state=state, transport="adb")
    return UnavailableDevice(info, reason, ANDROID_CAPABILITIES)


def unauthorized_reason(serial: str, model: str | None) -> str:
    """The one-line instruction for a phone that has not trusted this machine."""
    return f"unauthorized: accept the USB debugging prompt on {model or 'the phone'} ({serial})"


def no_permissions_reason(serial: str, diagnosis: str | None) -> str:
    """The one-line instruction for a phone whose USB device this user may not open."""
    adb_says = f" (adb: {diagnosis})" if diagnosis else ""
    return (f"no permissions: this user may not open the USB device of {serial}{adb_says}; add a udev rule "
            f"for the phone, put your user in the plugdev group, then replug it (see {SETUP_URL})")


@dataclass(frozen=True)
class ListedPhone:
    """One line of the adb server's device list.

    ``state`` is adb's word, or NO_PERMISSIONS for its "no permissions ..." text, whose
    parenthesized diagnosis ("missing udev rules? user is in the plugdev group") is kept in
    ``diagnosis`` (None for any other state, or when adb printed none). ``model`` is as adb prints
    it, every non-alphanumeric character turned into "_" ("moto_g75_5G"); None when not printed.
    """

    serial: str
    state: str
    model: str | None = None
    diagnosis: str | None = None

    def reason(self) -> str:
        """The one-line state and what to do, for a phone not in state "device"."""
        if self.state == NO_PERMISSIONS:
            return no_permissions_reason(self.serial, self.diagnosis)
        if self.state == "unauthorized":
            return unauthorized_reason(self.serial, self.model)
        return f"{self.state}: {_STATE_ADVICE.get(self.state, 'reconnect the phone')}"


def parse_devices_l(text: str) -> list[ListedPhone]:
    """Return one entry per device line of the adb server's ``host:devices-l`` answer; also reads
    what ``adb devices [-l]`` prints (its "List of devices attached" header, a prompt and "* daemon"
    lines are not device lines: their second word is not an adb state). Never raises."""
    phones = []
    for line in text.splitlines():
        words = line.split(None, 1)
        if len(words) < 2:
            continue
        serial, rest = words
        diagnosis = None
        match = _NO_PERMISSIONS_TEXT.match(rest)
        if match:
            state, fields = NO_PERMISSIONS, rest[match.end():].split()
            diagnosis = match["diagnosis"]
        else:
            state, *fields = rest.split()
            if state not in ADB_STATES:
                continue
        tags = dict(field.split(":", 1) for field in fields if ":" in field)
        phones.append(ListedPhone(serial, state, tags.get("model"), diagnosis))
    return phones


def tcp_endpoints(targets: Sequence[str]) -> list[str]:
    """Return host:port endpoints named by `android:HOST:PORT` targets and $BENCHLAB_ANDROID_CONNECT."""
    endpoints = [t.split(":", 1)[1] for t in targets if t.startswith("android:") and t.count(":") == 2]
    endpoints += [e.strip() for e in (read(ANDROID_CONNECT) or "").split(",") if e.strip()]
    return list(dict.fromkeys(endpoints))


def _open(transport_factory, serial: str, transport_name: str, model: str | None = None):  # type: ignore[no-untyped-def]
    try:
        return AndroidDevice(transport_factory(serial), transport_name)
    except DeviceError as exc:
        text = str(exc)
        if isinstance(exc, DeviceUnauthorized):
            return unavailable(serial, "unauthorized", unauthorized_reason(serial, model), model)
        return unavailable(serial, "offline", f"offline: {text}", model)


def server_listing(timeout_s: float = 10.0) -> str:
    """Return the adb server's answer to ``host:devices-l``: one line per transport, as ``adb
    devices -l`` prints them under its header. Raises DeviceError when the server does not answer."""
    import adbutils

    try:
        with adbutils.AdbClient(port=server_port(), socket_timeout=timeout_s).make_connection() as connection:
            connection.send_command("host:devices-l")
            connection.check_okay()
            return connection.read_string_block()
    except (OSError, adbutils.AdbError) as exc:
        raise DeviceError(f"the adb server on port {server_port()} did not list its devices: {exc}",
                          hint="restart it with `adb kill-server; adb start-server`") from None


def _via_server() -> list:  # type: ignore[type-arg]
    devices = []
    for phone in parse_devices_l(server_listing()):
        if phone.state == "device":
            devices.append(_open(ServerTransport, phone.serial, "adb-server", phone.model))
        else:
            devices.append(unavailable(phone.serial, phone.state, phone.reason(), phone.model))
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
    if read(ADB_SERVER) != "0" and adb_server_running():
        found += _via_server()
    else:
        found += [_open(DirectTransport, serial, "usb") for serial in _usb_serials()]
    known = {d.info.id for d in found}
    found += [_open(DirectTransport, endpoint, "tcp") for endpoint in tcp_endpoints(targets) if endpoint not in known]
    return found
