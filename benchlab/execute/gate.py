"""The thermal and battery gate: wait, before a job, until a device is within its profile's limits.

A phone that is already throttling when a job starts measures its thermal state, not the model.
The gate polls the device's conditions until the thermal status and battery temperature are within
the profile's limits, up to a wait limit; a job that has to start anyway is flagged "started-hot"
so the report (and `benchlab check`) can refuse to trust it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from benchlab.plan.profiles import ThermalLimits
from benchlab.records import Conditions

STARTED_HOT = "started-hot"
#: How often a hot device is read again; the profile's cooldown_s caps it.
POLL_SECONDS = 10.0


def too_hot(conditions: Conditions, limits: ThermalLimits) -> str | None:
    """Return why the conditions exceed the limits, or None when a job may start."""
    if conditions.thermal_status is not None and conditions.thermal_status > limits.max_status:
        return f"thermal status {conditions.thermal_status} > {limits.max_status}"
    battery = conditions.battery_temperature_c
    if battery is not None and battery > limits.max_battery_temp_c:
        return f"battery {battery:.1f} °C > {limits.max_battery_temp_c:.1f} °C"
    return None


def wait_until_cool(read: Callable[[], Conditions], limits: ThermalLimits,
                    sleep: Callable[[float], None] = time.sleep,
                    clock: Callable[[], float] = time.monotonic) -> tuple[Conditions, str | None]:
    """Poll `read` until within limits or the wait limit passes.

    Returns the last conditions read and, if the device never cooled down, the reason it was hot.
    """
    deadline = clock() + limits.wait_limit_s
    while True:
        conditions = read()
        reason = too_hot(conditions, limits)
        if reason is None or clock() >= deadline:
            return conditions, reason
        sleep(min(POLL_SECONDS, limits.cooldown_s, max(0.0, deadline - clock())))
