"""A phone's power rails (ODPM): where to read them, what each reader prints, and energy from two readings.

Phones with an on-device power monitor (ODPM: every Pixel from the 6 on, Pixel 4/5 through an older
HAL, other makers' phones where their powerstats HAL exposes one) count each power rail's energy
since boot. Three readers print those counters, tried in this order (the first that answers with at
least one rail is the phone's reader for the run):

``odpm-iio``: ``cat /sys/bus/iio/devices/iio:device*/energy_value``
    The ODPM driver's own file (Pixel 6 and later kernels): ``t=<ms since boot>`` then one line per
    channel, ``CH<i>(T=<ms>)[<RAIL>], <µWs>``; one block per meter chip (Pixel 6: two, 8 rails
    each). The file carries its own timestamps and costs only a sysfs read, but user builds keep it
    from the shell (AOSP's ODPM scripts run ``adb root`` first): it answers on rooted and
    userdebug phones only.
``powerstats-hal2``: ``dumpsys android.hardware.power.stats.IPowerStats/default``
    The AIDL PowerStats HAL's dump, Android 12 and later, readable by the shell user (androidx
    macrobenchmark's ``PowerRail.hasMetrics`` runs the same command). Its energy meter section is
    ``============= PowerStats HAL 2.0 energy meter ==============``, a ``Channel  Cumulative Energy``
    header, one ``<channel>   <energy> mWs`` line per rail (with ``delta``: `` (<delta>)`` after
    it and an ``Elapsed time: N ms`` line), and ``========== End of PowerStats HAL 2.0 energy meter
    ==========``. The channel is ``[<RAIL>]:<subsystem>`` from Android 13's HAL
    (hardware/google/pixel powerstats/PowerStatsAidl.cpp, format ``%32s``), the bare rail name in
    Android 12's (``%18s``). Energies are printed from a float with two decimals in mWs (= mJ), so a
    rail that has counted for days loses precision: a float holds 24 bits, 1 mJ at 8,400 J.
``powerstats-hal1``: ``lshal debug android.hardware.power.stats@1.0::IPowerStats/default``
    The HIDL PowerStats HAL 1.0 (Android 10 and 11; Pixel 4 and 5): ``============= PowerStats HAL
    1.0 rail energy data ==============``, a ``Subsys  Rail  Cumulative Energy`` header and one
    ``<subsys>   <rail>   <energy> mWs`` line per rail.

The HAL dumps have no timestamp, so every reading is timed by the phone's ``/proc/uptime`` read
just before and just after it in the same shell, at the midpoint (the iio file's own ``T=`` wins
where there is one). /proc/uptime has 10 ms steps and a dump takes tens of milliseconds: times the
idle power (a few hundred mW with the screen off) that is a few mJ per reading, against hundreds of
mJ for a repeat of a real model; a model of a few microseconds needs more iterations per repeat.

Energy per inference (`RailMeter.per_inference`): the rails' energy between the readings before and
after one runner process, minus each rail's idle power (from a window of IDLE_WINDOW_S measured the
same way, with nothing running, once per phone and run) times the time between them, divided by
the inferences the process ran. Battery counters (``dumpsys batterystats``, the fuel gauge's charge
counter) are never used: on USB power the charger feeds the phone and the gauge sees only the rest.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: Seconds of the idle window each phone's idle power comes from (once per phone and run).
IDLE_WINDOW_S = 5.0
_UPTIME = "cat /proc/uptime"
_IIO_BLOCK_TIME = re.compile(r"^t=(\d+)\s*$")
_IIO_CHANNEL = re.compile(r"^CH(\d+)\(T=(\d+)\)\[([^\]]+)\],\s*(\d+)\s*$")
_HAL2_START = "PowerStats HAL 2.0 energy meter"
_HAL1_START = "PowerStats HAL 1.0 rail energy data"
_NUMBER = r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_HAL2_ROW = re.compile(rf"^\s*(\S+)\s+({_NUMBER}) mWs(?:\s*\(\s*{_NUMBER}\))?\s*$")
_HAL1_ROW = re.compile(rf"^\s*(\S+)\s+(\S+)\s+({_NUMBER}) mWs\s*$")
_CHANNEL = re.compile(r"^\[([^\]]+)\]:(.*)$")


@dataclass(frozen=True)
class RailReading:
    """Every rail's energy counted since boot, in mJ, and when each was read, in seconds.

    Times are per rail: each ODPM meter chip stamps its own block, and a recording of a Pixel's two
    blocks read in one ``cat`` shows stamps 65 hours apart (tests/android/public/README.md), so a
    rail's energy is only ever divided by its own block's time.
    """

    energy_mj: Mapping[str, float]
    #: The subsystem each rail feeds where the reader names it ("CPU(BIG)", "TPU"), by rail.
    subsystems: Mapping[str, str]
    #: Seconds on the clock of each rail's meter (the iio stamps; /proc/uptime for a HAL dump), by rail;
    #: empty when the reader printed no time and the uptime was not read.
    times_s: Mapping[str, float]


def parse_iio_energy(text: str) -> RailReading | None:
    """Return the rails of one or more ODPM ``energy_value`` files (µWs counters, each channel with
    its block's ms timestamp); None when no channel line is there."""
    energy: dict[str, float] = {}
    times: dict[str, float] = {}
    for line in text.splitlines():
        match = _IIO_CHANNEL.match(line.strip())
        if match:
            energy[match.group(3)] = int(match.group(4)) / 1000.0  # µWs -> mWs = mJ
            times[match.group(3)] = int(match.group(2)) / 1000.0
    return RailReading(energy, {}, times) if energy else None


def _section(text: str, start: str) -> list[str] | None:
    """Return the lines after the ``=== <start> ===`` line up to its ``=== End of`` line, None without it."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if start in line and line.lstrip().startswith("=") and "End of" not in line:
            rest = lines[index + 1:]
            end = next((i for i, row in enumerate(rest) if "End of" in row and row.lstrip().startswith("=")),
                       len(rest))
            return rest[:end]
    return None


def parse_powerstats_hal2(text: str) -> RailReading | None:
    """Return the rails of the AIDL PowerStats HAL's energy meter section (``[RAIL]:subsystem`` or a
    bare rail name, mWs, optional delta), None when the section is missing or empty."""
    section = _section(text, _HAL2_START)
    if section is None:
        return None
    energy: dict[str, float] = {}
    subsystems: dict[str, str] = {}
    for line in section:
        match = _HAL2_ROW.match(line)
        if not match:
            continue  # the header, "Elapsed time: N ms"
        channel = _CHANNEL.match(match.group(1))
        rail = channel.group(1) if channel else match.group(1)
        if channel and channel.group(2):
            subsystems[rail] = channel.group(2)
        energy[rail] = float(match.group(2))
    return RailReading(energy, subsystems, {}) if energy else None


def parse_powerstats_hal1(text: str) -> RailReading | None:
    """Return the rails of the HIDL PowerStats HAL 1.0's rail energy section (subsys, rail, mWs),
    None when the section is missing or empty."""
    section = _section(text, _HAL1_START)
    if section is None:
        return None
    energy: dict[str, float] = {}
    subsystems: dict[str, str] = {}
    for line in section:
        match = _HAL1_ROW.match(line)
        if match:
            energy[match.group(2)] = float(match.group(3))
            subsystems[match.group(2)] = match.group(1)
    return RailReading(energy, subsystems, {}) if energy else None


@dataclass(frozen=True)
class Reader:
    """One way to read the rails: its name, the shell command and the parser of what it prints."""

    name: str
    command: str
    parse: Callable[[str], RailReading | None]


#: The readers, in the order they are tried (module docstring).
READERS = (
    Reader("odpm-iio", "cat /sys/bus/iio/devices/iio:device*/energy_value 2>/dev/null", parse_iio_energy),
    Reader("powerstats-hal2", "dumpsys android.hardware.power.stats.IPowerStats/default 2>/dev/null",
           parse_powerstats_hal2),
    Reader("powerstats-hal1", "lshal debug android.hardware.power.stats@1.0::IPowerStats/default 2>/dev/null",
           parse_powerstats_hal1),
)


def read_with(reader: Reader, shell: Callable[[str], str]) -> RailReading | None:
    """Read the rails once with `reader` through `shell` (command -> output); None when the reader
    printed no rail. A reader without timestamps is timed by the phone's uptime read in the same
    shell just before and just after it: the midpoint, since the HAL reads its counters somewhere
    inside a dump that itself takes tens of milliseconds (idle power times that is the error)."""
    output = shell(f"{_UPTIME}; {reader.command}; {_UPTIME}").rstrip("\n")
    first, _, rest = output.partition("\n")
    body, _, last = rest.rpartition("\n")
    reading = reader.parse(body)
    if reading is None:
        return None
    if not reading.times_s:
        try:
            start, end = float(first.split()[0]), float(last.split()[0])
        except (IndexError, ValueError):
            return None  # no clock: energy without a duration cannot have idle taken out
        return RailReading(reading.energy_mj, reading.subsystems, dict.fromkeys(reading.energy_mj, (start + end) / 2))
    return reading


def rail_power_mw(before: RailReading, after: RailReading) -> dict[str, float]:
    """Return each rail's mean power between two readings in mW (mJ / s), rails of both readings only.

    Raises ValueError when a rail's clock did not advance or its counter went backwards (the phone rebooted).
    """
    return {rail: (after.energy_mj[rail] - before.energy_mj[rail]) / seconds
            for rail, seconds in _seconds(before, after).items()}


def _seconds(before: RailReading, after: RailReading) -> dict[str, float]:
    """Return the seconds between the readings of every rail both have, on that rail's clock."""
    seconds = {}
    for rail in before.energy_mj:
        if rail not in after.energy_mj:
            continue
        if after.energy_mj[rail] < before.energy_mj[rail]:
            raise ValueError(f"{rail}: the energy counter went backwards (did the phone reboot?)")
        elapsed = after.times_s.get(rail, 0.0) - before.times_s.get(rail, 0.0)
        if elapsed <= 0:
            raise ValueError(f"{rail}: the rail readings are not in time order")
        seconds[rail] = elapsed
    return seconds


@dataclass(frozen=True)
class RailMeter:
    """A phone's rails as this run reads them: the reader that answered and the idle power per rail."""

    reader: Reader
    idle_mw: Mapping[str, float]

    @classmethod
    def find(cls, shell: Callable[[str], str], idle_s: float | None = None,
             sleep: Callable[[float], None] = time.sleep) -> RailMeter | None:
        """Return the phone's meter: the first reader that answers, with the idle power from a
        window of `idle_s` (IDLE_WINDOW_S) with nothing started; None when no reader answers.

        Raises ValueError when the idle window's readings are not usable (`rail_power_mw`).
        """
        for reader in READERS:
            before = read_with(reader, shell)
            if before is None:
                continue
            sleep(IDLE_WINDOW_S if idle_s is None else idle_s)
            after = read_with(reader, shell)
            if after is None:
                raise ValueError(f"{reader.name}: the rails answered once, then not")
            return cls(reader, rail_power_mw(before, after))
        return None

    def read(self, shell: Callable[[str], str]) -> RailReading | None:
        """Read the rails now (None when the reader did not answer this time)."""
        return read_with(self.reader, shell)

    def per_inference(self, before: RailReading, after: RailReading, inferences: int) -> dict[str, float]:
        """Return each rail's mJ per inference between two readings, its idle power times the time
        between them taken out; rails without an idle figure are left out.

        Raises ValueError for readings out of order or counters that went backwards, and for no inferences.
        """
        if inferences <= 0:
            raise ValueError("no inferences ran between the readings")
        return {rail: (after.energy_mj[rail] - before.energy_mj[rail] - self.idle_mw[rail] * seconds) / inferences
                for rail, seconds in _seconds(before, after).items() if rail in self.idle_mw}
