"""The power-rail readers (android_runner.power_rails) on recorded ODPM counters, and energy per
inference from two readings with the idle power taken out."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from android_runner.power_rails import (
    READERS,
    RailMeter,
    RailReading,
    parse_iio_energy,
    parse_powerstats_hal1,
    parse_powerstats_hal2,
    rail_power_mw,
    read_with,
)

PUBLIC = Path(__file__).with_name("public")
PIXEL6 = (PUBLIC / "odpm_iio_pixel6_aosp_script_two_meters.txt").read_text()
ANGLE = (PUBLIC / "odpm_iio_angle_two_meters_clocks_apart.txt").read_text()


def test_a_pixel6_energy_value_pair_gives_every_rail_in_mj_on_its_own_meters_clock() -> None:
    reading = parse_iio_energy(PIXEL6)
    assert reading is not None and len(reading.energy_mj) == 16
    assert reading.energy_mj["S10M_VDD_TPU"] == pytest.approx(5578.756)
    assert reading.energy_mj["S4M_VDD_CPUCL0"] == pytest.approx(46356.942)
    assert reading.energy_mj["VSYS_PWR_DISPLAY"] == pytest.approx(81221.665)
    assert reading.times_s["S10M_VDD_TPU"] == pytest.approx(349.894)
    assert reading.times_s["VSYS_PWR_WLAN_BT"] == reading.times_s["VSYS_PWR_DISPLAY"] == pytest.approx(359.458)


def test_two_meters_65_hours_apart_keep_their_own_clocks_and_exact_large_counters() -> None:
    reading = parse_iio_energy(ANGLE)
    assert reading is not None and len(reading.energy_mj) == 16
    assert reading.energy_mj["VSYS_PWR_WLAN_BT"] == 192612469.095  # integer µWs: no float rounding
    assert reading.energy_mj["VSYS_PWR_RFFE"] == 0.0
    assert reading.energy_mj["PPVAR_VSYS_PWR_DISP"] == pytest.approx(611687.448)
    assert reading.times_s["S2S_VDD_G3D"] == pytest.approx(251741.617)
    assert reading.times_s["S2M_VDD_CPUCL2"] == pytest.approx(16086.645)
    # One second later on each meter's clock, each rail 100 mJ more: 100 mW each, whatever the clocks.
    later = "\n".join(_advanced(line) for line in ANGLE.splitlines())
    power = rail_power_mw(reading, parse_iio_energy(later))  # type: ignore[arg-type]
    assert power["VSYS_PWR_WLAN_BT"] == pytest.approx(100.0) and power["S1M_VDD_MIF"] == pytest.approx(100.0)


def _advanced(line: str) -> str:
    """The same iio line one second and 100 mJ (100000 µWs) later."""
    if line.startswith("t="):
        return f"t={int(line[2:]) + 1000}"
    head, value = line.rsplit(", ", 1)
    stamp = head[head.index("(T=") + 3:head.index(")")]
    return f"{head.replace(f'(T={stamp})', f'(T={int(stamp) + 1000})')}, {int(value) + 100000}"


def _float32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


def hal2_dump(reading: RailReading, channel: str, width: int) -> str:
    """The AIDL HAL's energy meter section, rendered with its printf formats (PowerStatsAidl.cpp)."""
    rows = "".join(f"  %{width}s   %14.2f mWs\n" % (channel.format(rail=r, sub=reading.subsystems.get(r, "SoC")),
                                                    _float32(e * 1000) / 1000.0)
                   for r, e in reading.energy_mj.items())
    return ("\n============= PowerStats HAL 2.0 state residencies ==============\n"
            "========== End of PowerStats HAL 2.0 state residencies ==========\n"
            "\n============= PowerStats HAL 2.0 energy meter ==============\n"
            f"  %{width}s   %18s\n" % ("Channel", "Cumulative Energy") + rows +
            "========== End of PowerStats HAL 2.0 energy meter ==========\n"
            "\n============= PowerStats HAL 2.0 energy consumers ==============\n"
            "CPU_CLUSTER  :       12345.67 mWs\n"
            "========== End of PowerStats HAL 2.0 energy consumers ==========\n")


@pytest.mark.parametrize("channel,width", [("[{rail}]:{sub}", 32), ("{rail}", 18)], ids=["android13", "android12"])
def test_the_hal2_dump_gives_each_rail_as_the_hal_prints_it(channel: str, width: int) -> None:
    recorded = parse_iio_energy(PIXEL6)
    assert recorded is not None
    reading = parse_powerstats_hal2(hal2_dump(recorded, channel, width))
    assert reading is not None and set(reading.energy_mj) == set(recorded.energy_mj)  # not the consumers
    # The HAL prints a float of µWs: 46356942 µWs comes back as 46356.94 mJ.
    assert reading.energy_mj["S4M_VDD_CPUCL0"] == pytest.approx(46356.94, abs=0.01)
    assert reading.times_s == {}  # the dump has no clock: read_with adds the phone's uptime
    if channel.startswith("["):
        assert reading.subsystems["S4M_VDD_CPUCL0"] == "SoC"


def test_the_hal2_delta_form_keeps_the_cumulative_energy() -> None:
    text = ("\n============= PowerStats HAL 2.0 energy meter ==============\n"
            "Elapsed time: 5012 ms\n"
            "  %32s   %18s (%14s)\n" % ("Channel", "Cumulative Energy", "Delta   ") +
            "  %32s   %14.2f mWs (%14.2f)\n" % ("[S2M_VDD_CPUCL2]:CPU(BIG)", 30203.50, 1250.25) +
            "========== End of PowerStats HAL 2.0 energy meter ==========\n")
    reading = parse_powerstats_hal2(text)
    assert reading is not None and reading.energy_mj == {"S2M_VDD_CPUCL2": pytest.approx(30203.5)}
    assert reading.subsystems == {"S2M_VDD_CPUCL2": "CPU(BIG)"}


def test_android12s_delta_form_has_the_header_on_the_elapsed_time_line() -> None:
    """The %18s HAL's dumpEnergyMeter writes `"Elapsed time: " << ms << " ms"` with no newline, so its
    header follows on the same line; the rows are bare rail names."""
    text = ("\n============= PowerStats HAL 2.0 energy meter ==============\n"
            "Elapsed time: 5012 ms" + "  %18s   %18s (%14s)\n" % ("Channel", "Cumulative Energy", "Delta   ") +
            "  %18s   %14.2f mWs (%14.2f)\n" % ("S2M_VDD_CPUCL2", 30203.50, 1250.25) +
            "========== End of PowerStats HAL 2.0 energy meter ==========\n")
    reading = parse_powerstats_hal2(text)
    assert reading is not None and reading.energy_mj == {"S2M_VDD_CPUCL2": pytest.approx(30203.5)}
    assert reading.subsystems == {}


def test_the_hal1_rail_table_gives_rail_and_subsystem() -> None:
    text = ("\n============= PowerStats HAL 1.0 rail energy data ==============\n"
            "  %14s   %18s   %18s\n" % ("Subsys", "Rail", "Cumulative Energy") +
            "  %14s   %18s   %14.2f mWs\n" % ("CPU", "VDD_CPU_LITTLE", 46356.94) +
            "  %14s   %18s   %14.2f mWs\n" % ("GPU", "VDD_GPU", 5315.42) +
            "========== End of PowerStats HAL 1.0 rail energy data ==========\n")
    reading = parse_powerstats_hal1(text)
    assert reading is not None
    assert reading.energy_mj == {"VDD_CPU_LITTLE": pytest.approx(46356.94), "VDD_GPU": pytest.approx(5315.42)}
    assert reading.subsystems == {"VDD_CPU_LITTLE": "CPU", "VDD_GPU": "GPU"}


@pytest.mark.parametrize("text", ["", "Can't find service: android.hardware.power.stats.IPowerStats/default\n",
                                  "/system/bin/sh: lshal: inaccessible or not found\n",
                                  "\n============= PowerStats HAL 2.0 energy meter ==============\n"
                                  "  %32s   %18s\n" % ("Channel", "Cumulative Energy") +
                                  "========== End of PowerStats HAL 2.0 energy meter ==========\n"])
def test_a_phone_without_rails_reads_as_none_with_every_reader(text: str) -> None:
    assert all(reader.parse(text) is None for reader in READERS)


def test_a_dump_is_timed_at_the_midpoint_of_the_uptimes_around_it() -> None:
    recorded = parse_iio_energy(PIXEL6)
    assert recorded is not None
    dump = hal2_dump(recorded, "[{rail}]:{sub}", 32)
    reading = read_with(READERS[1], lambda command: f"812.40 1600.00\n{dump}812.46 1600.02\n")
    assert reading is not None and all(t == pytest.approx(812.43) for t in reading.times_s.values())
    assert read_with(READERS[1], lambda command: f"{dump}") is None  # no clock: no reading


class FakeRails:
    """A phone's HAL dump as a function of time and of the energy the work added (one rail 500 mW idle)."""

    def __init__(self) -> None:
        self.now, self.work_mj = 100.0, 0.0

    def shell(self, command: str) -> str:
        energy = 500.0 * self.now + self.work_mj
        dump = ("============= PowerStats HAL 2.0 energy meter ==============\n"
                "  %32s   %14.2f mWs\n" % ("[S2M_VDD_CPUCL2]:CPU(BIG)", energy) +
                "========== End of PowerStats HAL 2.0 energy meter ==========\n")
        return f"{self.now:.2f} 0.00\n{dump}{self.now:.2f} 0.00\n"

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_energy_per_inference_takes_the_idle_power_out() -> None:
    phone = FakeRails()
    meter = RailMeter.find(phone.shell, idle_s=2.0, sleep=phone.sleep)
    assert meter is not None and meter.reader.name == "powerstats-hal2"
    assert meter.idle_mw == {"S2M_VDD_CPUCL2": pytest.approx(500.0)}
    before = meter.read(phone.shell)
    phone.now += 3.0
    phone.work_mj += 1200.0  # 60 inferences of 20 mJ each above idle
    after = meter.read(phone.shell)
    assert before is not None and after is not None
    assert meter.per_inference(before, after, 60) == {"S2M_VDD_CPUCL2": pytest.approx(20.0)}
    with pytest.raises(ValueError, match="went backwards"):  # a reboot between the readings
        meter.per_inference(after, before, 60)


def test_no_reader_answering_means_no_meter() -> None:
    assert RailMeter.find(lambda command: "Can't find service: x\n", sleep=lambda s: None) is None
