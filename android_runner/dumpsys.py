"""Read `dumpsys thermalservice` and `dumpsys battery` output.

Both dumps carry more than their headline numbers: thermalservice lists cached values next to the
live HAL readings, and vendor battery dumps (Samsung's, for one) append event logs whose
``level:74`` lines describe the past. Each parser reads only the section that describes now.

Layouts of `dumpsys thermalservice` read here (recorded cases in tests/android/public/):
HIDL 1.0 and 2.0 HALs ("ThermalHAL 1.0 / 2.0 connected") and the AIDL HAL ("ThermalHAL AIDL 1
connected"), all printing ``Temperature{mValue=.., mType=.., mName=.., mStatus=..}`` records;
records indented with a tab, with spaces, or not indented at all (as some tools re-print the
dump); a section header followed directly by the next header (no cooling devices), or ending the
text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# android.os.Temperature types whose mValue is not known to be a temperature: BCL_VOLTAGE (volts;
# Pixel 6 reports mV), BCL_CURRENT (mA), BCL_PERCENTAGE (battery %) and UNKNOWN (-1), under which
# Pixel 6 reports differences and flags (USB2-MINUS-QI -0.82, FLASH_LED_REDUCE 0.0) next to
# thermistors. Keeping them out of temperatures_c stops a 4.384 V or 11900 mA reading from passing
# as a temperature; they stay in ``sensors``.
_NOT_TEMPERATURE_TYPES = frozenset({-1, 6, 7, 8})

#: The line between the two services' outputs in CONDITIONS_COMMAND's output.
BATTERY_FOLLOWS = "__BENCHLAB_BATTERY__"
#: Both services a phone's conditions come from, in one shell command: conditions are read before
#: and after every repeat, and each adb shell costs a round trip and a process on the phone.
CONDITIONS_COMMAND = f"dumpsys thermalservice; echo {BATTERY_FOLLOWS}; dumpsys battery"

_THERMAL_STATUS = re.compile(r"^\s*Thermal Status:\s*(-?\d+)\s*$")
_TEMPERATURE = re.compile(
    r"Temperature\{mValue=(?P<value>[-+\w.]+),\s*mType=(?P<type>-?\d+),\s*"
    r"mName=(?P<name>[^,}]*),\s*mStatus=(?P<status>-?\d+)\}"
)
_COOLING_DEVICE = re.compile(
    r"CoolingDevice\{mValue=(?P<value>[-+\w.]+),\s*mType=(?P<type>-?\d+),\s*mName=(?P<name>[^,}]*)\}"
)


@dataclass(frozen=True)
class TemperatureReading:
    """One live HAL sensor reading; ``type`` and ``status`` are android.os.Temperature codes."""

    name: str
    value: float
    type: int
    status: int


@dataclass(frozen=True)
class ThermalState:
    """The thermal service's status and live HAL readings.

    ``status`` is PowerManager's THERMAL_STATUS_* (0 none, 1 light, 2 moderate, 3 severe, ...).
    ``temperatures_c`` holds the sensors whose type says they measure temperature; ``sensors``
    keeps every HAL reading, including battery-limit sensors in volts/mA/% and UNKNOWN-type ones.
    """

    status: int | None
    temperatures_c: dict[str, float] = field(default_factory=dict, hash=False)
    cooling_devices: dict[str, float] = field(default_factory=dict, hash=False)
    sensors: tuple[TemperatureReading, ...] = ()


_RECORD = re.compile(r"^\s*(?:Temperature|CoolingDevice)\{")


def _section_lines(text: str, header: str) -> list[str]:
    """The body of the section headed by the line equal to ``header``: the lines after it that are
    indented or are records (``Temperature{..}``, ``CoolingDevice{..}``), up to the first other
    line (the next header). Records count even unindented, since some tools re-print the dump
    without its tabs; an unindented non-record line is always the next header."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == header:
            body = []
            for following in lines[index + 1 :]:
                if not following.strip() or not (following[0].isspace() or _RECORD.match(following)):
                    break
                body.append(following)
            return body
    return []


def parse_thermal(text: str) -> ThermalState:
    """Return the thermal status and live HAL readings from `dumpsys thermalservice` output.

    Temperatures come only from "Current temperatures from HAL:" (the "Cached temperatures:" list
    can be stale) and cooling devices from "Current cooling devices from HAL:". A missing section
    gives an empty dict, a missing "Thermal Status:" line a None status. Never raises.
    """
    status = None
    for line in text.splitlines():
        match = _THERMAL_STATUS.match(line)
        if match:
            status = int(match.group(1))
            break

    sensors = []
    for line in _section_lines(text, "Current temperatures from HAL:"):
        match = _TEMPERATURE.search(line)
        if match:
            sensors.append(
                TemperatureReading(
                    name=match["name"].strip(),
                    value=float(match["value"]),
                    type=int(match["type"]),
                    status=int(match["status"]),
                )
            )
    temperatures = {
        sensor.name: sensor.value
        for sensor in sensors
        if sensor.type not in _NOT_TEMPERATURE_TYPES
    }

    cooling = {}
    for line in _section_lines(text, "Current cooling devices from HAL:"):
        match = _COOLING_DEVICE.search(line)
        if match:
            cooling[match["name"].strip()] = float(match["value"])

    return ThermalState(
        status=status, temperatures_c=temperatures, cooling_devices=cooling, sensors=tuple(sensors)
    )


@dataclass(frozen=True)
class BatteryState:
    """The battery service's current state; a field the dump does not state is None.

    ``status`` and ``health`` are BatteryManager codes (status 2 = charging, 3 = discharging,
    5 = full). ``charging`` is True when any power source (AC, USB, wireless, dock) is connected
    or the status says charging, False when all stated sources are off and the status is known
    and not charging. ``current_now`` is printed only by some vendors, in vendor units.
    """

    level: int | None
    scale: int | None
    temperature_c: float | None
    charging: bool | None
    status: int | None
    health: int | None
    voltage_mv: int | None
    technology: str | None
    powered_by: tuple[str, ...] = ()
    charge_counter_uah: int | None = None
    current_now: int | None = None

    @property
    def percent(self) -> float | None:
        """The level as a percentage of ``scale``, or None when either is unknown."""
        if self.level is None or not self.scale:
            return None
        return 100.0 * self.level / self.scale


_POWER_SOURCES = {
    "AC powered": "ac",
    "USB powered": "usb",
    "Wireless powered": "wireless",
    "Dock powered": "dock",
}
_CHARGING_STATUS = 2
_BATTERY_KEY_VALUE = re.compile(r"^\s*(?P<key>[A-Za-z][A-Za-z ]*?)\s*:\s*(?P<value>.*?)\s*$")


def _current_battery_block(text: str) -> list[str]:
    """Lines of the top "Current Battery Service state:" block, up to the first blank line.

    Vendor extras after the standard keys stay inside the block, but the event-log buffers
    (``[EventLogBuffer]`` ...) come after a blank line, so they are never read as current values.
    """
    lines = text.splitlines()
    start = 0
    for index, line in enumerate(lines):
        if line.strip().startswith("Current Battery Service state"):
            start = index + 1
            break
    block = []
    for line in lines[start:]:
        if not line.strip():
            break
        block.append(line)
    return block


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def split_conditions(output: str) -> tuple[str, str]:
    """Return the `dumpsys thermalservice` and `dumpsys battery` parts of CONDITIONS_COMMAND's
    output (the battery part empty when the output stopped before it). The marker's line may end in
    CRLF: adbd before Android 7 ran shell commands on a pty."""
    thermal, *battery = re.split(rf"{re.escape(BATTERY_FOLLOWS)}\r?\n", output, maxsplit=1)
    return thermal, battery[0] if battery else ""


def parse_battery(text: str) -> BatteryState:
    """Return the current battery state from `dumpsys battery` output.

    Only the first "Current Battery Service state:" block is read (its first occurrence of each
    key), so later event-log lines such as ``Sending ACTION_BATTERY_CHANGED: level:74`` are
    ignored. ``temperature_c`` is the printed tenths of a degree divided by ten. Never raises.
    """
    values: dict[str, str] = {}
    for line in _current_battery_block(text):
        match = _BATTERY_KEY_VALUE.match(line)
        if match and match["key"] not in values:
            values[match["key"]] = match["value"]

    powered_by = tuple(
        source for key, source in _POWER_SOURCES.items() if values.get(key) == "true"
    )
    stated_sources = [key for key in _POWER_SOURCES if values.get(key) in ("true", "false")]
    status = _int_or_none(values.get("status"))
    charging: bool | None
    if powered_by or status == _CHARGING_STATUS:
        charging = True
    elif stated_sources and status is not None:
        charging = False
    else:
        charging = None

    tenths = _int_or_none(values.get("temperature"))
    return BatteryState(
        level=_int_or_none(values.get("level")),
        scale=_int_or_none(values.get("scale")),
        temperature_c=tenths / 10.0 if tenths is not None else None,
        charging=charging,
        status=status,
        health=_int_or_none(values.get("health")),
        voltage_mv=_int_or_none(values.get("voltage")),
        technology=values.get("technology") or None,
        powered_by=powered_by,
        charge_counter_uah=_int_or_none(values.get("Charge counter")),
        current_now=_int_or_none(values.get("current now")),
    )
