"""The thermal gate waits for a hot device to cool, and flags a job that had to start hot."""

from __future__ import annotations

from benchlab.execute.gate import too_hot, wait_until_cool
from benchlab.plan.profiles import ThermalLimits
from benchlab.records import Conditions


class Clock:
    """A clock that only moves when the gate sleeps, so the test takes no time."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def readings(*statuses: int):  # type: ignore[no-untyped-def]
    remaining = list(statuses)
    return lambda: Conditions(timestamp=0, thermal_status=remaining.pop(0) if len(remaining) > 1 else remaining[0],
                              battery_temperature_c=35.0)


def test_waits_until_the_status_drops() -> None:
    clock = Clock()
    limits = ThermalLimits(max_status=1, max_battery_temp_c=40, cooldown_s=10, wait_limit_s=100)
    conditions, reason = wait_until_cool(readings(3, 2, 1), limits, clock.sleep, lambda: clock.now)
    assert (conditions.thermal_status, reason, clock.now) == (1, None, 20)


def test_gives_up_at_the_wait_limit_and_says_why() -> None:
    clock = Clock()
    limits = ThermalLimits(max_status=0, max_battery_temp_c=40, cooldown_s=10, wait_limit_s=25)
    _, reason = wait_until_cool(readings(2), limits, clock.sleep, lambda: clock.now)
    assert reason == "thermal status 2 > 0" and clock.now == 25


def test_battery_temperature_limit() -> None:
    hot = Conditions(timestamp=0, thermal_status=0, battery_temperature_c=43.8)
    assert too_hot(hot, ThermalLimits(max_status=1, max_battery_temp_c=40, cooldown_s=10, wait_limit_s=25)) == "battery 43.8 °C > 40.0 °C"
    assert too_hot(Conditions(timestamp=0), ThermalLimits(1, 40, 10, 25)) is None  # unknown is not hot
