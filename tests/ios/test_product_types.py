"""The ProductType table, and what real listings report (shared/fixtures/README.md, ios)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from ios_runner.product_types import PRODUCT_TYPES, lookup
from ios_runner.protocol import app_supports_ios

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


# --- what real listings report ------------------------------------------------------------------


def test_the_product_type_a_real_usbmux_listing_reports_is_in_the_table(ios_fixture: Fixture) -> None:
    # pymobiledevice3 hands the same keys to ios_runner.services as a dict; lookup reads ProductType.
    listing = json.loads(ios_fixture("usbmux_list_entry_iphone9_1.txt"))
    info = lookup(listing["ProductType"])
    assert info is not None and (info.name, info.chip, info.neural_engine) == ("iPhone 7", "A10 Fusion", False)
    assert not app_supports_ios(listing["ProductVersion"])  # 15.7.9: the runner app needs iOS 16
