"""Device profiles: the shipped YAML files load, phones match them, bad files are refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchlab.errors import SuiteError
from benchlab.plan.profile_match import derived_profile, match_profile
from benchlab.settings import PROFILES_DIR
from benchlab.plan.profiles import (
    load_platforms,
    TIERS,
    UNKNOWN_TIER,
    default_profiles_dir,
    load_profiles,
)
from benchlab.platforms import registered

# tests/ is a rootdir package when tests/__init__.py exists, a plain sys.path entry otherwise.
try:
    from tests.fixtures_path import fixture_text
except ImportError:
    from fixtures_path import fixture_text  # type: ignore[no-redef]

VALID = """\
schema: 1
name: Test Phone
platform: android
tier: mid
models: [TP-1]
socs: [SM0000]
accelerators:
  - {kind: cpu, threads: 4}
big_cores: [4, 5, 6, 7]
thermal: {max_status: 1, max_battery_temp_c: 40, cooldown_s: 60, wait_limit_s: 600}
"""


def write_profile(directory: Path, text: str, name: str = "phone.yaml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_profiles_load_and_cover_every_tier() -> None:
    profiles = load_profiles()
    android = [profile for profile in profiles if profile.platform == "android"]
    assert len(android) >= 8
    assert {profile.tier for profile in android} == set(TIERS)
    for profile in android:
        assert profile.source is not None and not profile.derived
        assert profile.models and profile.socs and profile.soc_name
        assert profile.accelerators[0].kind == "cpu"
        assert all(setting.kind in load_platforms()["android"].accelerator_kinds for setting in profile.accelerators)


def test_platforms_are_data_beside_their_profiles_with_known_accelerator_kinds() -> None:
    platforms = load_platforms()
    assert sorted(platforms) == ["android", "ios"]
    for spec in platforms.values():
        assert set(spec.accelerator_kinds) <= set(registered().kinds)
        assert spec.derived_accelerators and all(a.kind in spec.accelerator_kinds for a in spec.derived_accelerators)
    assert [a.name for a in platforms["ios"].derived_accelerators] == ["cpu-t4", "coreml-all"]


def test_a_profile_of_a_platform_nobody_describes_is_refused(tmp_path: Path) -> None:
    (tmp_path / "android").mkdir()
    (tmp_path / "android" / "platform.yaml").write_text(
        "schema: 1\nplatform: android\nderived_accelerators: [{kind: cpu}]\n")
    write_profile(tmp_path / "android", "schema: 1\nname: x\nplatform: symbian\ntier: mid\nmodels: [x]\nsocs: []\n"
                  "accelerators: [{kind: cpu}]\nthermal: {max_status: 1, max_battery_temp_c: 40, cooldown_s: 1, "
                  "wait_limit_s: 1}\n")
    with pytest.raises(SuiteError, match="field 'platform' .*allowed: android"):
        load_profiles(tmp_path)


def test_moto_g75_getprop_fixture_matches_its_profile() -> None:
    from android_runner.props import device_facts, parse_getprop

    facts = device_facts(parse_getprop(fixture_text("android_props/getprop_moto_g75_excerpt_with_fastboot.txt")))
    profiles = load_profiles()
    by_model = match_profile(profiles, "android", model=facts.model, soc=facts.soc)
    assert by_model is not None and by_model.name == "Motorola moto g75 5G"
    assert by_model.tier == "mid"
    # adb devices -l spells the model moto_g75_5G; the SoC alone also finds the profile.
    assert match_profile(profiles, "android", model="moto_g75_5G") is by_model
    assert match_profile(profiles, "android", soc=facts.soc) is by_model


def test_match_prefers_model_then_soc_case_insensitively() -> None:
    profiles = load_profiles()
    exynos = match_profile(profiles, "android", model="sm-s921b", soc="SM8650")
    assert exynos is not None and exynos.soc_name == "Samsung Exynos 2400"
    by_soc = match_profile(profiles, "android", model="Unknown Phone", soc="sm8650")
    assert by_soc is not None and "SM8650" in by_soc.socs
    # A suffixed part number matches its base part, a different number does not.
    assert match_profile(profiles, "android", soc="MT6769V/CZ") is not None
    assert match_profile(profiles, "android", soc="MT67690") is None
    assert match_profile(profiles, "ios", model="moto g75 5G") is None


def test_unknown_phone_gets_a_derived_profile() -> None:
    assert match_profile(load_profiles(), "android", model="Nokia 3310", soc="XYZ123") is None
    derived = derived_profile("android", "Nokia 3310", "XYZ123")
    assert derived.derived and derived.source is None
    assert derived.tier == UNKNOWN_TIER
    assert [setting.kind for setting in derived.accelerators] == ["cpu", "gpu", "nnapi"]
    assert derived.models == ("Nokia 3310",) and derived.socs == ("XYZ123",)
    with pytest.raises(SuiteError, match="allowed: android, ios"):
        derived_profile("windows", None, None)


def test_valid_profile_normalises_big_cores_and_names_accelerators(tmp_path: Path) -> None:
    write_profile(tmp_path, VALID)
    (profile,) = load_profiles(tmp_path)
    assert profile.big_cores == "f0"
    assert profile.accelerators[0].name == "cpu-t4"
    assert profile.thermal.cooldown_s == 60.0


@pytest.mark.parametrize(
    ("bad_line", "replacement", "field", "allowed"),
    [
        ("tier: mid", "tier: high", "'tier'", "low-end, mid, flagship"),
        ("platform: android", "platform: symbian", "'platform'", "android, ios"),
        ("  - {kind: cpu, threads: 4}", "  - {kind: tpu}", "'accelerators[0].kind'", "cpu, gpu, nnapi, hexagon, qnn"),
        ("schema: 1", "schema: 2", "'schema'", "1"),
    ],
)
def test_bad_profile_names_file_field_and_allowed_values(
    tmp_path: Path, bad_line: str, replacement: str, field: str, allowed: str
) -> None:
    path = write_profile(tmp_path, VALID.replace(bad_line, replacement))
    with pytest.raises(SuiteError) as error:
        load_profiles(tmp_path)
    message = str(error.value)
    assert str(path) in message and field in message and allowed in message


def test_missing_and_unknown_fields_are_named(tmp_path: Path) -> None:
    write_profile(tmp_path, VALID.replace("socs: [SM0000]\n", ""))
    with pytest.raises(SuiteError, match="field 'socs' is missing"):
        load_profiles(tmp_path)
    write_profile(tmp_path, VALID + "colour: red\n")
    with pytest.raises(SuiteError, match="field 'colour' is not a profile field"):
        load_profiles(tmp_path)
    write_profile(tmp_path, VALID.replace("max_status: 1", "max_status: hot"))
    with pytest.raises(SuiteError, match="'thermal.max_status'"):
        load_profiles(tmp_path)


def test_duplicate_names_and_invalid_yaml_are_refused(tmp_path: Path) -> None:
    write_profile(tmp_path, VALID, "a.yaml")
    write_profile(tmp_path, VALID, "b.yaml")
    with pytest.raises(SuiteError, match="already used"):
        load_profiles(tmp_path)
    (tmp_path / "b.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(SuiteError, match="not valid YAML"):
        load_profiles(tmp_path)


def test_profiles_dir_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_profile(tmp_path, VALID)
    monkeypatch.setenv(PROFILES_DIR.name, str(tmp_path))
    assert default_profiles_dir() == tmp_path
    assert [profile.name for profile in load_profiles()] == ["Test Phone"]
    monkeypatch.setenv(PROFILES_DIR.name, str(tmp_path / "missing"))
    with pytest.raises(SuiteError, match="does not exist"):
        load_profiles()
