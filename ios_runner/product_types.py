"""What an iPhone is, from what it reports: the ProductType table.

An iPhone identifies its model by ``ProductType`` ("iPhone15,2"): usbmux listings, lockdown
values (`ideviceinfo`) and ``utsname.machine`` inside the runner app all report it. ``lookup``
turns it into the marketing name, chip, year and whether Core ML can use a Neural Engine.

``neural_engine`` means a Neural Engine that apps can reach through Core ML (and the LiteRT
Core ML delegate): A12 Bionic and later. The A11 has a first-generation Neural Engine, but Apple
keeps it for Face ID and the camera; Core ML runs ``cpuAndNeuralEngine`` there on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass


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
