"""ProductType table and the parsers, on text real tools printed (shared/fixtures/README.md, ios)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from benchlab.errors import DeviceError
from ios_runner.product_types import (
    PRODUCT_TYPES,
    lookup,
    parse_app_log_csv,
    parse_ideviceinfo,
    parse_usbmux_device,
    parse_usbmux_list,
)

Fixture = Callable[[str], str]


# --- the table -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product_type", "name", "chip", "neural_engine", "year"),
    [
        ("iPhone9,1", "iPhone 7", "A10 Fusion", False, 2016),
        ("iPhone10,1", "iPhone 8", "A11 Bionic", False, 2017),
        ("iPhone10,6", "iPhone X", "A11 Bionic", False, 2017),
        ("iPhone11,8", "iPhone XR", "A12 Bionic", True, 2018),
        ("iPhone12,8", "iPhone SE (2nd generation)", "A13 Bionic", True, 2020),
        ("iPhone14,6", "iPhone SE (3rd generation)", "A15 Bionic", True, 2022),
        ("iPhone15,2", "iPhone 14 Pro", "A16 Bionic", True, 2022),
        ("iPhone16,2", "iPhone 15 Pro Max", "A17 Pro", True, 2023),
        ("iPhone17,1", "iPhone 16 Pro", "A18 Pro", True, 2024),
        ("iPhone17,5", "iPhone 16e", "A18", True, 2025),
        ("iPhone18,3", "iPhone 17", "A19", True, 2025),
        ("iPhone18,4", "iPhone Air", "A19 Pro", True, 2025),
    ],
)
def test_lookup_knows_the_model(product_type: str, name: str, chip: str, neural_engine: bool, year: int) -> None:
    info = lookup(product_type)
    assert info is not None
    assert (info.product_type, info.name, info.chip, info.neural_engine, info.year) == (
        product_type,
        name,
        chip,
        neural_engine,
        year,
    )


def test_lookup_of_unknown_product_type_is_none() -> None:
    assert lookup("iPhone99,9") is None
    assert lookup("iPad13,4") is None
    assert lookup(" iPhone11,8 ") == lookup("iPhone11,8")


def test_table_covers_iphone_8_through_17_and_both_later_se() -> None:
    names = {info.name for info in PRODUCT_TYPES.values()}
    for generation in ("8", "X", "XS", "XR", "11", "12", "13", "14", "15", "16", "17"):
        assert f"iPhone {generation}" in names
    assert {"iPhone SE (2nd generation)", "iPhone SE (3rd generation)", "iPhone 17 Pro Max"} <= names
    # Every iPhone from the A12 on has a Neural Engine Core ML can use; none before it.
    for info in PRODUCT_TYPES.values():
        assert info.neural_engine == (info.chip not in ("A10 Fusion", "A11 Bionic")), info


def test_product_types_look_like_what_phones_report() -> None:
    for product_type, info in PRODUCT_TYPES.items():
        assert product_type.startswith("iPhone") and "," in product_type
        assert 2016 <= info.year <= 2026


# --- usbmux --------------------------------------------------------------------------------------


def test_usbmux_entry_iphone9_1(ios_fixture: Fixture) -> None:
    device = parse_usbmux_device(ios_fixture("usbmux_list_entry_iphone9_1.txt"))
    assert device.udid == "a50b2ae37f010229e0bbcfabe9a7a7e054fdb818"
    assert device.name == "\U0001f436\U0001f4f1"  # the JSON escapes, decoded: dog face, mobile phone
    assert device.product_type == "iPhone9,1"
    assert device.product_version == "15.7.9"
    assert device.build_version == "19H365"
    assert device.connection_type == "USB"
    assert device.device_class == "iPhone"
    assert device.hardware_model is None and device.cpu_architecture is None
    assert device.product is not None and device.product.name == "iPhone 7"
    assert device.product.neural_engine is False


def test_usbmux_list_reads_an_array_and_a_single_object(ios_fixture: Fixture) -> None:
    entry = ios_fixture("usbmux_list_entry_iphone9_1.txt")
    assert parse_usbmux_list(entry) == [parse_usbmux_device(entry)]
    listed = parse_usbmux_list(f"[{entry}, {{\"UniqueDeviceID\": \"00008030-001A2B3C4D5E802E\", \"ProductType\": \"iPhone12,8\"}}]")
    assert [device.udid for device in listed] == [
        "a50b2ae37f010229e0bbcfabe9a7a7e054fdb818",
        "00008030-001A2B3C4D5E802E",
    ]
    assert listed[1].name is None and listed[1].product_version is None


def test_usbmux_entry_without_identifier_or_json_is_refused() -> None:
    with pytest.raises(DeviceError, match="no device identifier"):
        parse_usbmux_device('{"ProductType": "iPhone9,1"}')
    with pytest.raises(DeviceError, match="not JSON"):
        parse_usbmux_device("Identifier: abc")
    with pytest.raises(DeviceError, match="not one device object"):
        parse_usbmux_device("[]")


# --- ideviceinfo ---------------------------------------------------------------------------------


def test_ideviceinfo_excerpt_iphone11_8(ios_fixture: Fixture) -> None:
    values = parse_ideviceinfo(ios_fixture("ideviceinfo_excerpt_iphone11_8.txt"))
    assert values["ProductType"] == "iPhone11,8"
    assert values["ProductVersion"] == "13.3.1"
    assert values["ProductName"] == "iPhone OS"
    assert values["ProductionSOC"] == "true" and values["ProtocolVersion"] == "2"
    for absent in ("UniqueDeviceID", "HardwareModel", "CPUArchitecture"):
        assert absent not in values
    info = lookup(values["ProductType"])
    assert info is not None and (info.name, info.chip) == ("iPhone XR", "A12 Bionic")


def test_ideviceinfo_skips_nested_and_odd_lines() -> None:
    text = "DeviceName: Lab 3\nNonVolatileRAM:\n  auto-boot: dHJ1ZQ==\nnot a pair\nEmpty:\nWiFiAddress: a8:5b:78:00:11:22\n"
    assert parse_ideviceinfo(text) == {
        "DeviceName": "Lab 3",
        "NonVolatileRAM": "",
        "Empty": "",
        "WiFiAddress": "a8:5b:78:00:11:22",
    }


# --- app latency log -----------------------------------------------------------------------------


def test_app_log_iphone15promax_cpu_gpu_ane(ios_fixture: Fixture) -> None:
    log = parse_app_log_csv(ios_fixture("app_log_iphone15promax_cpu_gpu_ane_csv.txt"))
    assert log.columns == ("CPU", "GPU", "ANE")  # the trailing comma is not a column
    assert log.indices == tuple(range(1, 10))
    assert log.skipped_lines == 0
    assert (log.first_ms("CPU"), log.first_ms("GPU"), log.first_ms("ANE")) == (83.08, 123.78, 20.00)
    assert tuple(log.values_ms[column][8] for column in log.columns) == (69.24, 19.49, 24.91)
    assert len(log.steady_ms("GPU")) == 8 and log.steady_ms("GPU")[0] == 35.96
    assert log.steady_us("ANE")[-1] == 24910.0
    with pytest.raises(KeyError, match="columns: CPU, GPU, ANE"):
        log.steady_ms("NPU")


def test_app_log_skips_a_cut_row_and_refuses_no_header() -> None:
    log = parse_app_log_csv("inference index,CPU,\n1,10.5,\n2,9.75,\n3,9.\n4,\n")
    assert log.values_ms == {"CPU": (10.5, 9.75, 9.0)}
    assert log.skipped_lines == 1
    with pytest.raises(DeviceError, match="empty"):
        parse_app_log_csv("\n\n")
    with pytest.raises(DeviceError, match="no latency columns"):
        parse_app_log_csv("inference index,\n1,\n")
