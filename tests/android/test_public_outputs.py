"""Android parsers on the public recordings in tests/android/public/, one test per file.

Each test asserts what that folder's README lists for the file, including what the text does not
state (None, not a guess).
"""

from __future__ import annotations

from pathlib import Path

from android_runner.benchmark_model import parse_op_profile, parse_output
from android_runner.cpuinfo import parse_proc_cpuinfo
from android_runner.discovery import NO_PERMISSIONS, SETUP_URL, ListedPhone, parse_devices_l
from android_runner.dumpsys import parse_battery, parse_thermal
from android_runner.props import device_facts, parse_getprop

PUBLIC = Path(__file__).with_name("public")


def text(name: str) -> str:
    return (PUBLIC / name).read_text(encoding="utf-8")


def test_every_recording_has_a_readme_row() -> None:
    readme = text("README.md")
    recordings = sorted(p.name for p in PUBLIC.glob("*.txt"))
    assert recordings and all(f"`{name}`" in readme for name in recordings)


# --- dumpsys thermalservice ----------------------------------------------------------------------


def test_thermal_untabbed_pixel_reads_current_not_cached() -> None:
    state = parse_thermal(text("thermal_bort_pixel_hal2_untabbed.txt"))
    assert state.status == 0
    assert len(state.sensors) == 13
    temps = state.temperatures_c
    assert (temps["cpu0-gold-usr"], temps["cpu1-silver-usr"]) == (31.7, 32.0)  # cached: 54.6, 53.9
    assert (temps["maxfg"], temps["fps-therm-monitor"]) == (25.900002, 28.348001)
    cpus = {name: value for name, value in temps.items() if name.startswith("cpu")}
    assert max(cpus.values()) == 32.300003 and max(cpus, key=cpus.__getitem__) == "cpu0-silver-usr"
    assert state.cooling_devices == {"battery": 0, "mnh": 0, "thermal-cpufreq-0": 0,
                                     "thermal-cpufreq-4": 0, "thermal-devfreq-0": 0}


def test_thermal_samsung_aidl_without_cooling_devices() -> None:
    state = parse_thermal(text("thermal_bort_samsung_aidl_empty_cooling.txt"))
    assert state.status == 0
    assert state.temperatures_c == {"AP": 34.6, "BAT": 25.2, "PA": 30.0, "SKIN": 28.2, "SUBBAT": 0.0, "USB": 25.8}
    assert {s.name: s.type for s in state.sensors}["AP"] == 0
    assert state.cooling_devices == {}


def test_thermal_emulator_space_indented_names_with_spaces() -> None:
    state = parse_thermal(text("thermal_bort_emulator_spaces_in_names.txt"))
    assert state.status == 0
    (sensor,) = state.sensors
    assert (sensor.name, sensor.value, sensor.type) == ("test temperature sensor", 30.8, 3)
    assert state.cooling_devices == {"test cooling device": 100}


def test_thermal_skia_tabbed_hot_cpu() -> None:
    state = parse_thermal(text("thermal_skia_pixel_hal2_tabbed.txt"))
    assert state.status == 0
    temps = state.temperatures_c
    assert len(temps) == 13
    assert max(temps.values()) == 44.1 and max(temps, key=temps.__getitem__) == "cpu1-silver-usr"
    assert temps["battery"] == 28.000002  # cached: 30.000002
    assert temps["mb-therm-monitor"] == 30.147001
    assert len(state.cooling_devices) == 4 and set(state.cooling_devices.values()) == {0}


def test_thermal_tensor_phone_battery_limits_and_unknown_types_are_not_temperatures() -> None:
    state = parse_thermal(text("thermal_skia_pixel6_bcl_unknown_types.txt"))
    assert state.status == 0
    assert len(state.sensors) == 42
    sensors = {s.name: s for s in state.sensors}
    assert (sensors["ocp_cpu2"].value, sensors["ocp_cpu2"].type) == (11900.0, 7)
    assert (sensors["smpl_gm"].value, sensors["smpl_gm"].type) == (1300.0, 6)
    assert (sensors["USB2-MINUS-QI"].value, sensors["USB2-MINUS-QI"].type) == (-0.82000005, -1)
    temps = state.temperatures_c
    for not_a_temperature in ("ocp_cpu2", "ocp_gpu", "smpl_gm", "vdroop1", "soc", "USB2-MINUS-QI",
                              "FLASH_LED_REDUCE", "quiet_therm"):
        assert not_a_temperature not in temps, not_a_temperature
    assert (temps["BIG"], temps["MID"], temps["LITTLE"]) == (26.000002, 27.000002, 27.000002)
    assert (temps["G3D"], temps["TPU"], temps["VIRTUAL-SKIN"], temps["battery"]) == (
        26.000002, 25.000002, 24.83324, 22.1)
    assert max(temps.values()) == 27.000002
    assert state.cooling_devices == {}


def test_thermal_hal1_shield() -> None:
    state = parse_thermal(text("thermal_hal1_nvidia_shield.txt"))
    assert state.status == 0
    assert state.temperatures_c == {"CPU0": 56.000004, "CPU1": 56.000004, "CPU2": 56.000004,
                                    "CPU3": 56.000004, "GPU": 55.500004}
    assert state.cooling_devices == {"FAN": 0}


# --- dumpsys battery -----------------------------------------------------------------------------


def test_battery_redmi_hyperos_vendor_lines() -> None:
    battery = parse_battery(text("battery_amply52_redmi_note14_hyperos3.txt"))
    assert battery.powered_by == ("ac",) and battery.charging is True
    assert (battery.level, battery.scale, battery.percent) == (80, 100, 80.0)
    assert (battery.status, battery.health) == (2, 2)
    assert battery.voltage_mv == 4228  # not the "last voltage value sent" 4232
    assert battery.temperature_c == 36.4
    assert battery.technology == "Li-poly"
    assert battery.charge_counter_uah == 4274
    assert battery.current_now is None


def test_battery_samsung_full_on_usb() -> None:
    battery = parse_battery(text("battery_zebrunner150_samsung_full.txt"))
    assert battery.powered_by == ("usb",) and battery.charging is True
    assert (battery.status, battery.health, battery.level, battery.scale) == (5, 2, 100, 100)
    assert battery.voltage_mv == 4312
    assert battery.temperature_c == 30.9
    assert battery.technology == "Li-ion"
    assert battery.charge_counter_uah == 2967000
    assert battery.current_now == 0


def test_battery_without_temperature_is_unknown_not_zero() -> None:
    battery = parse_battery(text("battery_skia_ac_level9_no_temperature.txt"))
    assert battery.powered_by == ("ac",) and battery.charging is True
    assert (battery.level, battery.scale, battery.status, battery.health) == (9, 100, 2, 2)
    assert battery.voltage_mv == 4248
    assert battery.charge_counter_uah == 2448973
    assert battery.temperature_c is None and battery.technology is None


# --- benchmark_model -----------------------------------------------------------------------------


def test_benchmark_old_peak_label_and_cut_op_table() -> None:
    raw = text("benchmark_tf42507_peak_label_opprof_cut.txt")
    out = parse_output(raw)
    assert out.status == "ok" and out.error is None and out.error_lines == ()
    assert out.threads == 4
    assert out.model_size_mb == 0.004448
    assert out.init_session_ms == 0.855
    assert (out.warmup_count, out.warmup_avg_us) == (15, 34825.1)
    assert (out.count, out.avg_us, out.min_us, out.max_us, out.std_us) == (50, 33209.4, 32641, 34005, 450)
    assert (out.init_us, out.first_us) == (855, 49060)
    assert (out.mem_init_mb, out.mem_overall_mb, out.peak_mb) == (0, 12.8672, None)
    profile = parse_op_profile(raw)
    assert profile.init is not None and profile.init.run_order == ()  # its one row is cut
    assert profile.run is None


def test_benchmark_pre_114_summary_line_alone() -> None:
    out = parse_output(text("benchmark_tf50652_old_summary_line_only.txt"))
    assert out.status == "ok"
    assert (out.warmup_avg_us, out.init_us, out.avg_us) == (432930, 35157, 387831)
    assert (out.count, out.min_us, out.max_us, out.first_us) == (None, None, None, None)


# --- getprop -------------------------------------------------------------------------------------


def test_getprop_indented_lines_and_a_cut_last_line() -> None:
    props = parse_getprop(text("getprop_flutter4009_nexus5_indented_cut.txt"))
    assert len(props) == 27
    assert "ro.build.user" not in props
    assert props["ro.build.date"] == "Tue Jan  6 22:40:00 UTC 2015"
    facts = device_facts(props)
    assert facts.soc == "msm8974"
    assert facts.build_fingerprint == "google/hammerhead/hammerhead:5.1/LMY06B/1666863:userdebug/dev-keys"
    assert (facts.model, facts.android_release, facts.sdk) == (None, None, None)


def test_getprop_preview_release_letter() -> None:
    props = parse_getprop(text("getprop_nativerun45_emulator_p_preview_cut.txt"))
    assert len(props) == 37
    assert props["ro.build.version.base_os"] == ""
    facts = device_facts(props)
    assert (facts.android_release, facts.sdk, facts.soc) == ("P", 27, "ranchu")


# --- /proc/cpuinfo -------------------------------------------------------------------------------


def test_cpuinfo_collapsed_layout_attributes_no_part_to_a_core() -> None:
    info = parse_proc_cpuinfo(text("proc_cpuinfo_armsocs30_nubia_z17_lite_collapsed.txt"))
    assert info.processors == 8
    assert info.processor_name == "AArch64 Processor rev 4 (aarch64)"
    assert info.hardware == "Qualcomm Technologies, Inc MSM8976SG"
    assert info.parts == {} and info.implementers == {}
    assert info.unattributed_parts == ("0xd03",)


# --- adb devices -----------------------------------------------------------------------------------

UDEV_DIAGNOSIS = "missing udev rules? user is in the plugdev group"


def test_adb_devices_l_no_permissions_is_one_state_with_adbs_diagnosis() -> None:
    (phone,) = parse_devices_l(text("adb_devices_l_no_permissions_wsl_usbipd.txt"))
    assert phone == ListedPhone("abceb966", NO_PERMISSIONS, model=None, diagnosis=UDEV_DIAGNOSIS)
    reason = phone.reason()
    assert reason.startswith("no permissions: this user may not open the USB device of abceb966 "
                             f"(adb: {UDEV_DIAGNOSIS}); add a udev rule")
    assert "plugdev group" in reason and reason.endswith(f"(see {SETUP_URL})") and "\n" not in reason


def test_adb_devices_no_permissions_after_a_tab() -> None:
    (phone,) = parse_devices_l(text("adb_devices_rayhunter162_no_permissions_tab.txt"))
    assert phone == ListedPhone("eb9f484b", NO_PERMISSIONS, diagnosis=UDEV_DIAGNOSIS)


def test_adb_devices_older_diagnosis_with_a_semicolon_and_a_cut_link() -> None:
    (phone,) = parse_devices_l(text("adb_devices_madb141_no_permissions_cut.txt"))
    assert phone == ListedPhone("009d1cd696d5194a", NO_PERMISSIONS,
                                diagnosis="user in plugdev group; are your udev rules wrong?")


def test_adb_devices_no_permissions_without_diagnosis_then_sideload_not_fastboot_lines() -> None:
    before, after = parse_devices_l(text("adb_devices_udev298_no_permissions_then_sideload.txt"))
    assert before == ListedPhone("1fXXXX9", NO_PERMISSIONS)
    assert "(adb:" not in before.reason() and SETUP_URL in before.reason()
    assert after == ListedPhone("1fXXXX9", "sideload")
    assert after.reason() == "sideload: the phone is booted into sideload mode; reboot it into Android"
