"""Read `adb devices -l` output into one record per attached device."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: States adb prints in the second column (adb's ConnectionState names).
KNOWN_STATES = (
    "device",
    "offline",
    "unauthorized",
    "authorizing",
    "connecting",
    "bootloader",
    "recovery",
    "rescue",
    "sideload",
    "host",
    "detached",
    "unknown",
    "no permissions",
)
_FIELD_KEYS = ("usb", "product", "model", "device", "transport_id")
_FIELD = re.compile(r"^(?P<key>" + "|".join(_FIELD_KEYS) + r"):(?P<value>\S*)$")


@dataclass(frozen=True)
class AdbDeviceEntry:
    """One line of `adb devices -l`; a field adb did not print is None.

    adb prints ``model`` with every non-alphanumeric character replaced by ``_`` (so
    "moto g75 5G" appears as "moto_g75_5G"); ``detail`` holds the text after a
    "no permissions" state, which tells the user how to fix udev rules.
    """

    serial: str
    state: str
    usb: str | None = None
    product: str | None = None
    model: str | None = None
    device: str | None = None
    transport_id: int | None = None
    detail: str | None = None


def _parse_line(line: str) -> AdbDeviceEntry | None:
    parts = line.split()
    if len(parts) < 2:
        return None
    serial, rest = parts[0], parts[1:]
    if rest[:2] == ["no", "permissions"]:
        state = "no permissions"
        after_state = rest[2:]
    elif rest[0] in KNOWN_STATES:
        state = rest[0]
        after_state = rest[1:]
    else:
        return None
    fields: dict[str, str] = {}
    other: list[str] = []
    for token in after_state:
        match = _FIELD.match(token)
        if match and match["key"] not in fields:
            fields[match["key"]] = match["value"]
        else:
            other.append(token)
    transport = fields.get("transport_id")
    return AdbDeviceEntry(
        serial=serial,
        state=state,
        usb=fields.get("usb"),
        product=fields.get("product"),
        model=fields.get("model"),
        device=fields.get("device"),
        transport_id=int(transport) if transport and transport.isdigit() else None,
        detail=" ".join(other) or None,
    )


def parse_adb_devices(text: str) -> list[AdbDeviceEntry]:
    """Return one entry per device line of `adb devices -l` (or plain `adb devices`) output.

    Reads the lines after "List of devices attached" when that header is present, otherwise every
    line; a line whose second column is not an adb state (a prompt, "* daemon started ...") is
    skipped. Never raises.
    """
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == "List of devices attached":
            lines = lines[index + 1 :]
            break
    entries = []
    for line in lines:
        entry = _parse_line(line)
        if entry is not None:
            entries.append(entry)
    return entries
