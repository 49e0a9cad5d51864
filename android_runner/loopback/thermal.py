"""A loopback phone that heats under load and throttles, on simulated time.

A real phone under continuous inference heats toward a steady temperature; past a threshold its
thermal governor caps the clocks, so each inference takes longer, and the thermal service's status
climbs (PowerManager THERMAL_STATUS_LIGHT, MODERATE, SEVERE ...). This model does the same,
deterministically: its clock is the simulated latency of the inferences it ran, never the wall
clock, so a ten-minute curve takes seconds and does not depend on this machine's load.

- Each inference lasts ``base_inference_us`` times the throttle factor of the SoC temperature now:
  ``1 + slowdown_per_c * (T - throttle_from_c)`` above ``throttle_from_c``, 1 below.
- It heats the SoC toward ``ambient_c + rise_c`` with time constant ``tau_s`` (first-order, Newton's
  law): ``T <- T_ss - (T_ss - T) * exp(-latency / tau_s)``. Nothing cools it between runs (idle time
  would have to come from the wall clock), so a test's sessions on one phone heat it in turn.
- The skin runs at 60% of the SoC's rise over ambient and the battery at 30%; the thermal status
  follows the skin, as skin-temperature control does on phones: 0 below 37 °C, then one step per
  2 °C (1 light, 2 moderate, 3 severe, 4 critical).

The state (SoC temperature, seconds under load) is a JSON file in the phone's support folder; after
each run the stand-in benchmark_model rewrites ``dumpsys thermalservice``'s answer from it in the
HAL 2.0 layout of the recorded dumps (recorded/thermalservice_throttled_status2.txt), so the harness
reads status and temperatures through the same parser as on a real phone.

This file is imported by the tests (as android_runner.loopback.thermal) and by the stand-in
benchmark_model (as a sibling module of the script), so it imports nothing of the package.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

#: The state file and the thermalservice answer, relative to the phone's support folder.
STATE_FILE = "thermal.json"
THERMALSERVICE_FILE = os.path.join("dumpsys", "thermalservice")
#: Skin temperature at which the status leaves 0, and the step per status level, in °C.
STATUS_FROM_C = 37.0
STATUS_STEP_C = 2.0
MAX_STATUS = 4


@dataclass(frozen=True)
class ThermalModel:
    """How a simulated phone heats and throttles (see the module docstring)."""

    base_inference_us: float = 20_000.0
    ambient_c: float = 30.0
    rise_c: float = 25.0
    tau_s: float = 40.0
    throttle_from_c: float = 40.0
    slowdown_per_c: float = 0.04

    def factor(self, soc_c: float) -> float:
        """Return how much longer an inference takes at SoC temperature `soc_c`."""
        return 1.0 + self.slowdown_per_c * max(0.0, soc_c - self.throttle_from_c)

    def heated(self, soc_c: float, seconds: float) -> float:
        """Return the SoC temperature after `seconds` more under load."""
        steady = self.ambient_c + self.rise_c
        return steady - (steady - soc_c) * math.exp(-seconds / self.tau_s)

    def skin_c(self, soc_c: float) -> float:
        """Return the skin temperature at SoC temperature `soc_c`."""
        return self.ambient_c + 0.6 * (soc_c - self.ambient_c)

    def battery_c(self, soc_c: float) -> float:
        """Return the battery temperature at SoC temperature `soc_c`."""
        return self.ambient_c + 0.3 * (soc_c - self.ambient_c)

    def status(self, soc_c: float) -> int:
        """Return PowerManager's thermal status at SoC temperature `soc_c` (from the skin)."""
        over = self.skin_c(soc_c) - STATUS_FROM_C
        return 0 if over < 0 else min(MAX_STATUS, 1 + int(over // STATUS_STEP_C))

    def config(self) -> dict[str, float]:
        """Return the model as plain data (for the stand-in tool's environment)."""
        return asdict(self)


def _temperature(value: float, kind: int, name: str, status: int) -> str:
    return f"\tTemperature{{mValue={value:.1f}, mType={kind}, mName={name}, mStatus={status}}}"


def thermal_dump(model: ThermalModel, soc_c: float) -> str:
    """Return `dumpsys thermalservice` at SoC temperature `soc_c`, in the HAL 2.0 layout of a real dump."""
    status = model.status(soc_c)
    skin, battery = model.skin_c(soc_c), model.battery_c(soc_c)
    # CPU cores a little apart, as real sensors are; the cooling device's state follows the status.
    cpus = [_temperature(soc_c + offset, 0, f"CPU{i}", 0) for i, offset in enumerate((0.0, -0.4, 0.3, -0.2))]
    return "\n".join([
        "IsStatusOverride: false",
        "ThermalEventListeners:", "\tcallbacks: 1", "\tkilled: false", "\tbroadcasts count: -1",
        "ThermalStatusListeners:", "\tcallbacks: 1", "\tkilled: false", "\tbroadcasts count: -1",
        f"Thermal Status: {status}",
        "Cached temperatures:", _temperature(model.ambient_c, 3, "skin", 0),
        "HAL Ready: true",
        "HAL connection:", "\tThermalHAL 2.0 connected: yes",
        "Current temperatures from HAL:",
        _temperature(battery, 2, "battery", 0), _temperature(skin, 3, "skin", status),
        _temperature(soc_c - 1.5, 1, "gpu", 0), *cpus,
        "Current cooling devices from HAL:",
        f"\tCoolingDevice{{mValue={3 * status}, mType=2, mName=thermal-cpufreq-6}}",
        "",
    ])


class SimulatedSoC:
    """The heating state of one loopback phone, loaded from and saved to its support folder."""

    def __init__(self, model: ThermalModel, support_dir: Path) -> None:
        self.model = model
        self.support_dir = support_dir
        path = support_dir / STATE_FILE
        state = json.loads(path.read_text()) if path.exists() else {}
        self.soc_c = float(state.get("soc_c", model.ambient_c))
        self.load_s = float(state.get("load_s", 0.0))

    def inference_us(self) -> float:
        """Run one simulated inference: return its latency and heat the SoC by it."""
        latency_us = self.model.base_inference_us * self.model.factor(self.soc_c)
        self.soc_c = self.model.heated(self.soc_c, latency_us / 1e6)
        self.load_s += latency_us / 1e6
        return latency_us

    def save(self) -> None:
        """Store the state and rewrite the thermal service's answer from it (each file replaced whole)."""
        for name, text in ((STATE_FILE, json.dumps({"soc_c": self.soc_c, "load_s": self.load_s})),
                           (THERMALSERVICE_FILE, thermal_dump(self.model, self.soc_c))):
            path = self.support_dir / name
            partial = path.with_name(path.name + ".partial")
            partial.write_text(text, encoding="utf-8")
            partial.replace(path)
