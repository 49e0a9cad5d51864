"""What an iPhone is, from what it reports: ProductType table and parsers for device listings.

An iPhone identifies its model by ``ProductType`` ("iPhone15,2"): usbmux listings, lockdown
values (`ideviceinfo`) and ``utsname.machine`` inside the runner app all report it. ``lookup``
turns it into the marketing name, chip, year and whether Core ML can use a Neural Engine.

``neural_engine`` means a Neural Engine that apps can reach through Core ML (and the LiteRT
Core ML delegate): A12 Bionic and later. The A11 has a first-generation Neural Engine, but Apple
keeps it for Face ID and the camera; Core ML runs ``cpuAndNeuralEngine`` there on the CPU.

The parsers read text real tools printed (shared/fixtures/ios); none needs a device library.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from benchlab.errors import DeviceError


@dataclass(frozen=True)
class ProductInfo:
    """One iPhone model: ``name`` is Apple's marketing name, ``chip`` the SoC as Apple names it."""

    product_type: str
    name: str
    chip: str
    neural_engine: bool
    year: int


# (name, chip, year, product types). Several ProductTypes share a model where Apple built
# regional variants (iPhone 7 GSM/CDMA, iPhone 8, X, XS Max).
_MODELS: tuple[tuple[str, str, int, tuple[str, ...]], ...] = (
    ("iPhone 7", "A10 Fusion", 2016, ("iPhone9,1", "iPhone9,3")),
    ("iPhone 7 Plus", "A10 Fusion", 2016, ("iPhone9,2", "iPhone9,4")),
    ("iPhone 8", "A11 Bionic", 2017, ("iPhone10,1", "iPhone10,4")),
    ("iPhone 8 Plus", "A11 Bionic", 2017, ("iPhone10,2", "iPhone10,5")),
    ("iPhone X", "A11 Bionic", 2017, ("iPhone10,3", "iPhone10,6")),
    ("iPhone XS", "A12 Bionic", 2018, ("iPhone11,2",)),
    ("iPhone XS Max", "A12 Bionic", 2018, ("iPhone11,4", "iPhone11,6")),
    ("iPhone XR", "A12 Bionic", 2018, ("iPhone11,8",)),
    ("iPhone 11", "A13 Bionic", 2019, ("iPhone12,1",)),
    ("iPhone 11 Pro", "A13 Bionic", 2019, ("iPhone12,3",)),
    ("iPhone 11 Pro Max", "A13 Bionic", 2019, ("iPhone12,5",)),
    ("iPhone SE (2nd generation)", "A13 Bionic", 2020, ("iPhone12,8",)),
    ("iPhone 12 mini", "A14 Bionic", 2020, ("iPhone13,1",)),
    ("iPhone 12", "A14 Bionic", 2020, ("iPhone13,2",)),
    ("iPhone 12 Pro", "A14 Bionic", 2020, ("iPhone13,3",)),
    ("iPhone 12 Pro Max", "A14 Bionic", 2020, ("iPhone13,4",)),
    ("iPhone 13 Pro", "A15 Bionic", 2021, ("iPhone14,2",)),
    ("iPhone 13 Pro Max", "A15 Bionic", 2021, ("iPhone14,3",)),
    ("iPhone 13 mini", "A15 Bionic", 2021, ("iPhone14,4",)),
    ("iPhone 13", "A15 Bionic", 2021, ("iPhone14,5",)),
    ("iPhone SE (3rd generation)", "A15 Bionic", 2022, ("iPhone14,6",)),
    ("iPhone 14", "A15 Bionic", 2022, ("iPhone14,7",)),
    ("iPhone 14 Plus", "A15 Bionic", 2022, ("iPhone14,8",)),
    ("iPhone 14 Pro", "A16 Bionic", 2022, ("iPhone15,2",)),
    ("iPhone 14 Pro Max", "A16 Bionic", 2022, ("iPhone15,3",)),
    ("iPhone 15", "A16 Bionic", 2023, ("iPhone15,4",)),
    ("iPhone 15 Plus", "A16 Bionic", 2023, ("iPhone15,5",)),
    ("iPhone 15 Pro", "A17 Pro", 2023, ("iPhone16,1",)),
    ("iPhone 15 Pro Max", "A17 Pro", 2023, ("iPhone16,2",)),
    ("iPhone 16 Pro", "A18 Pro", 2024, ("iPhone17,1",)),
    ("iPhone 16 Pro Max", "A18 Pro", 2024, ("iPhone17,2",)),
    ("iPhone 16", "A18", 2024, ("iPhone17,3",)),
    ("iPhone 16 Plus", "A18", 2024, ("iPhone17,4",)),
    ("iPhone 16e", "A18", 2025, ("iPhone17,5",)),
    ("iPhone 17 Pro", "A19 Pro", 2025, ("iPhone18,1",)),
    ("iPhone 17 Pro Max", "A19 Pro", 2025, ("iPhone18,2",)),
    ("iPhone 17", "A19", 2025, ("iPhone18,3",)),
    ("iPhone Air", "A19 Pro", 2025, ("iPhone18,4",)),
    # Fewer public sources than the rest so far; check against a real unit when one joins the lab.
    ("iPhone 17e", "A19", 2026, ("iPhone18,5",)),
)

#: Chips without a Neural Engine that Core ML can use (see the module docstring).
_NO_COREML_NEURAL_ENGINE = frozenset({"A10 Fusion", "A11 Bionic"})

PRODUCT_TYPES: dict[str, ProductInfo] = {
    product_type: ProductInfo(
        product_type=product_type,
        name=name,
        chip=chip,
        neural_engine=chip not in _NO_COREML_NEURAL_ENGINE,
        year=year,
    )
    for name, chip, year, product_types in _MODELS
    for product_type in product_types
}


def lookup(product_type: str) -> ProductInfo | None:
    """Return the model behind a ProductType such as "iPhone15,2", or None when it is not known.

    Surrounding whitespace is ignored; the comparison is otherwise exact ("iphone15,2" is not a
    ProductType an iPhone reports). Never raises.
    """
    return PRODUCT_TYPES.get(product_type.strip())


# --- usbmux device listings ----------------------------------------------------------------------


@dataclass(frozen=True)
class IosDeviceListing:
    """One device as usbmux lists it; a field the listing lacks is None.

    ``udid`` is the 40-hex (or 25-character, 2018+ models) identifier usbmux uses; ``name`` is
    the user-chosen device name, decoded (it may hold emoji).
    """

    udid: str
    product_type: str | None = None
    product_version: str | None = None
    build_version: str | None = None
    name: str | None = None
    connection_type: str | None = None
    device_class: str | None = None
    hardware_model: str | None = None
    cpu_architecture: str | None = None

    @property
    def product(self) -> ProductInfo | None:
        """The table entry for this device's ProductType, or None when unknown or unlisted."""
        return lookup(self.product_type) if self.product_type else None


_UDID_KEYS = ("Identifier", "UniqueDeviceID", "UDID", "SerialNumber")


def _listing_from_mapping(data: dict[str, object]) -> IosDeviceListing:
    def text(key: str) -> str | None:
        value = data.get(key)
        return str(value) if value not in (None, "") else None

    udid = next((text(key) for key in _UDID_KEYS if text(key)), None)
    if udid is None:
        raise DeviceError(
            f"usbmux listing has no device identifier (looked for {', '.join(_UDID_KEYS)})"
        )
    return IosDeviceListing(
        udid=udid,
        product_type=text("ProductType"),
        product_version=text("ProductVersion"),
        build_version=text("BuildVersion"),
        name=text("DeviceName"),
        connection_type=text("ConnectionType"),
        device_class=text("DeviceClass"),
        hardware_model=text("HardwareModel"),
        cpu_architecture=text("CPUArchitecture"),
    )


def _load_json(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DeviceError(f"usbmux listing is not JSON: {exc}") from exc


def parse_usbmux_device(text: str) -> IosDeviceListing:
    """Return the device in one usbmux listing object (``{"Identifier": ..., "ProductType": ...}``).

    Leading indentation is fine and JSON escapes (``\\ud83d\\udc36``) are decoded. Raises
    DeviceError when the text is not one JSON object or names no device identifier.
    """
    data = _load_json(text)
    if not isinstance(data, dict):
        raise DeviceError(f"usbmux listing is not one device object but {type(data).__name__}")
    return _listing_from_mapping(data)


def parse_usbmux_list(text: str) -> list[IosDeviceListing]:
    """Return every device in a usbmux list (a JSON array of device objects, or one object).

    This is the shape `pymobiledevice3 usbmux list` prints. Raises DeviceError when the text is
    not JSON or an entry is not a device object with an identifier.
    """
    data = _load_json(text)
    entries = data if isinstance(data, list) else [data]
    listings = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise DeviceError(f"usbmux list entry {index} is not a device object: {entry!r}")
        listings.append(_listing_from_mapping(entry))
    return listings


# --- ideviceinfo ---------------------------------------------------------------------------------

_KEY_VALUE = re.compile(r"^(?P<key>[A-Za-z][A-Za-z0-9_]*):(?: (?P<value>.*))?$")


def parse_ideviceinfo(text: str) -> dict[str, str]:
    """Return the top-level ``Key: value`` pairs `ideviceinfo` printed, values as text.

    Indented lines (the members of a nested dictionary) and lines that are not ``Key: value``
    are skipped; a key printed with no value maps to "". Never raises.
    """
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line[0].isspace():
            continue
        match = _KEY_VALUE.match(line.rstrip("\r"))
        if match and match["key"] not in values:
            values[match["key"]] = (match["value"] or "").strip()
    return values


# --- app latency logs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AppLatencyLog:
    """Per-inference latencies an app logged as CSV, in milliseconds as printed.

    ``columns`` are the latency columns in file order ("CPU", "GPU", "ANE"); ``indices`` the
    inference numbers; ``values_ms[column]`` one value per row. The first row is the first
    inference after loading (it includes one-off setup), so ``steady_ms`` leaves it out.
    ``skipped_lines`` counts lines that were not a complete row (e.g. a row cut off at the end).
    """

    columns: tuple[str, ...]
    indices: tuple[int, ...]
    values_ms: dict[str, tuple[float, ...]]
    skipped_lines: int = 0

    def first_ms(self, column: str) -> float | None:
        """The first inference's latency in ``column``, or None when there are no rows."""
        values = self._column(column)
        return values[0] if values else None

    def steady_ms(self, column: str) -> tuple[float, ...]:
        """Every latency in ``column`` after the first inference."""
        return self._column(column)[1:]

    def steady_us(self, column: str) -> tuple[float, ...]:
        """``steady_ms`` in microseconds, the unit measurements keep."""
        return tuple(round(value * 1000.0, 3) for value in self.steady_ms(column))

    def _column(self, column: str) -> tuple[float, ...]:
        if column not in self.values_ms:
            raise KeyError(f"column {column!r} is not in the log (columns: {', '.join(self.columns)})")
        return self.values_ms[column]


def _csv_fields(line: str) -> list[str]:
    fields = [field.strip() for field in line.strip().split(",")]
    # Each line ends with a comma; the empty field after it is not a column.
    while fields and fields[-1] == "":
        fields.pop()
    return fields


def parse_app_log_csv(text: str) -> AppLatencyLog:
    """Return the latencies in an app's ``inference index,CPU,GPU,ANE,`` CSV log.

    The first non-empty line is the header (first column the inference index, the others latency
    columns in ms); trailing commas are allowed. Rows with a wrong field count or a non-number
    are skipped and counted. Raises DeviceError when there is no header with at least one
    latency column.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise DeviceError("app latency log is empty")
    header = _csv_fields(lines[0])
    if len(header) < 2:
        raise DeviceError(f"app latency log header has no latency columns: {lines[0]!r}")
    columns = tuple(header[1:])
    indices: list[int] = []
    rows: list[list[float]] = []
    skipped = 0
    for line in lines[1:]:
        fields = _csv_fields(line)
        if len(fields) != len(header):
            skipped += 1
            continue
        try:
            index = int(fields[0])
            values = [float(field) for field in fields[1:]]
        except ValueError:
            skipped += 1
            continue
        indices.append(index)
        rows.append(values)
    return AppLatencyLog(
        columns=columns,
        indices=tuple(indices),
        values_ms={column: tuple(row[i] for row in rows) for i, column in enumerate(columns)},
        skipped_lines=skipped,
    )
