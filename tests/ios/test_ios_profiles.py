"""The iPhone device profiles load with benchlab's loader and agree with the ProductType table."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchlab.plan.profile_match import match_profile
from benchlab.plan.profiles import PLATFORM_FILE, TIERS, load_profile, load_profiles
from ios_runner.platform import COMPUTE_UNITS
from ios_runner.product_types import lookup

IOS_PROFILES = Path(__file__).resolve().parents[2] / "device_profiles" / "ios"
PROFILE_FILES = sorted(p for p in IOS_PROFILES.glob("*.yaml") if p.name != PLATFORM_FILE)


def test_there_are_iphone_profiles_in_every_tier() -> None:
    profiles = [load_profile(path) for path in PROFILE_FILES]
    assert len(profiles) >= 6
    assert {profile.tier for profile in profiles} == set(TIERS)


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda path: path.stem)
def test_profile_agrees_with_the_product_table(path: Path) -> None:
    profile = load_profile(path)
    assert profile.platform == "ios" and profile.big_cores is None
    assert profile.models and profile.socs and profile.soc_name and profile.year and profile.ram_gb
    infos = [lookup(model) for model in profile.models]
    assert all(info is not None for info in infos), f"{path.name}: a model is not a known ProductType"
    assert {info.chip for info in infos if info} == set(profile.socs)
    assert all(info.year == profile.year for info in infos if info)
    first = infos[0]
    assert first is not None and profile.name == f"Apple {first.name}"
    # iOS thermalState runs 0 (nominal) to 3 (critical).
    assert 0 <= profile.thermal.max_status <= 3
    units = [s.options["compute_units"] for s in profile.accelerators if s.kind == "coreml"]
    assert sorted(units) == sorted(COMPUTE_UNITS)
    has_ane = all(info.neural_engine for info in infos if info)
    assert ("cpuAndNeuralEngine" in units) == has_ane
    assert {s.kind for s in profile.accelerators} == {"coreml", "cpu", "gpu"}


def test_fixture_phones_and_stand_ins_match_profiles() -> None:
    profiles = load_profiles(IOS_PROFILES)
    xr = match_profile(profiles, "ios", model="iPhone11,8", soc="A12 Bionic")
    assert xr is not None and xr.name == "Apple iPhone XR" and xr.tier == "low-end"
    # A 15 Pro Max has no profile of its own: the 15 Pro's, by chip.
    info = lookup("iPhone16,2")
    assert info is not None
    stand_in = match_profile(profiles, "ios", model="iPhone16,2", soc=info.chip)
    assert stand_in is not None and stand_in.name == "Apple iPhone 15 Pro"
    # The plain A18 of the iPhone 16 is not the 16 Pro's A18 Pro.
    assert match_profile(profiles, "ios", model="iPhone17,3", soc="A18") is None
