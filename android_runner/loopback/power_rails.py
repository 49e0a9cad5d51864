"""Power rails for a loopback phone: energy counters that advance with time and with simulated work.

A personality with ``power_rails`` answers ``dumpsys android.hardware.power.stats.IPowerStats/default``
the way an Android 13+ AIDL PowerStats HAL does (hardware/google/pixel powerstats/PowerStatsAidl.cpp:
``[RAIL]:subsystem`` channels, ``%14.2f mWs`` of a float), from this model:

    energy(rail) = idle_mw * (uptime - uptime at device start) + active_mw * busy seconds

where *uptime* is this machine's /proc/uptime (the one a harness reads through the loopback shell)
and *busy seconds* is the sum of every inference the stand-in benchmark_model timed on the phone,
which it appends to the ledger file (``LOOPBACK_RAILS_LEDGER`` in its environment) before it exits.
So energy per inference, idle taken out, is the sum of the rails' active_mw times the mean inference
time: a slower variant costs more energy, as on a phone, and a personality with higher active
power costs more per inference at the same speed.

Run as a script (the loopback's ``dumpsys`` runs it for that service), it prints the dump.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

#: Environment variable naming the file of busy microseconds (one number a line) the stand-in
#: benchmark_model appends to.
LEDGER_ENV = "LOOPBACK_RAILS_LEDGER"
#: Environment variable holding the rails (JSON list of [rail, subsystem, idle_mw, active_mw]) and
#: the uptime the counters start at.
RAILS_ENV = "LOOPBACK_RAILS"
SERVICE = "android.hardware.power.stats.IPowerStats/default"


@dataclass(frozen=True)
class PowerRail:
    """One rail: its name, the subsystem it feeds, its idle power and its extra power while inferring (mW)."""

    name: str
    subsystem: str
    idle_mw: float
    active_mw: float


#: The Pixel 6's first meter's rails (names from a recording of its energy_value file; see
#: tests/fixtures/power_rails/README.md), with round powers chosen for the loopback.
PIXEL6_RAILS = (
    PowerRail("S10M_VDD_TPU", "TPU", 5.0, 0.0),
    PowerRail("VSYS_PWR_MODEM", "Modem", 40.0, 0.0),
    PowerRail("VSYS_PWR_RFFE", "RFFE", 3.0, 0.0),
    PowerRail("S2M_VDD_CPUCL2", "CPU(BIG)", 20.0, 1500.0),
    PowerRail("S3M_VDD_CPUCL1", "CPU(MID)", 15.0, 300.0),
    PowerRail("S4M_VDD_CPUCL0", "CPU(LITTLE)", 25.0, 60.0),
    PowerRail("S5M_VDD_INT", "INT", 30.0, 120.0),
    PowerRail("S1M_VDD_MIF", "MIF", 35.0, 200.0),
)


def uptime_s() -> float:
    """Return this machine's /proc/uptime, the clock the harness reads through the loopback shell."""
    return float(Path("/proc/uptime").read_text().split()[0])


def shell_env(rails: tuple[PowerRail, ...], ledger: Path, started_uptime_s: float) -> dict[str, str]:
    """Return the loopback shell's environment entries that give a phone these rails."""
    if not rails:
        return {}
    spec = {"rails": [[r.name, r.subsystem, r.idle_mw, r.active_mw] for r in rails], "start": started_uptime_s}
    return {LEDGER_ENV: str(ledger), RAILS_ENV: json.dumps(spec)}


def record_busy(busy_us: float) -> None:
    """Append a run's busy microseconds to the ledger (called by the stand-in benchmark_model)."""
    ledger = os.environ.get(LEDGER_ENV)
    if ledger and busy_us > 0:
        with open(ledger, "a", encoding="utf-8") as handle:
            handle.write(f"{busy_us:.0f}\n")


def _float32(value: float) -> float:
    """The HAL prints `static_cast<float>(energyUWs) / 1000.0`: the counter passes through a float."""
    return struct.unpack("f", struct.pack("f", value))[0]


def render_dump() -> str:
    """Return the HAL's dump for the rails in the environment, counters as of now."""
    spec = json.loads(os.environ[RAILS_ENV])
    ledger = Path(os.environ[LEDGER_ENV])
    busy_s = sum(float(x) for x in ledger.read_text().split()) / 1e6 if ledger.exists() else 0.0
    elapsed = max(0.0, uptime_s() - float(spec["start"]))
    lines = ["", "============= PowerStats HAL 2.0 energy meter ==============",
             "  %32s   %18s" % ("Channel", "Cumulative Energy")]
    for name, subsystem, idle_mw, active_mw in spec["rails"]:
        energy_uws = int((idle_mw * elapsed + active_mw * busy_s) * 1000)
        lines.append("  %32s   %14.2f mWs" % (f"[{name}]:{subsystem}", _float32(energy_uws) / 1000.0))
    lines.append("========== End of PowerStats HAL 2.0 energy meter ==========")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_dump())
