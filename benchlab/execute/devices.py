"""The Device protocol every target implements, runner discovery and target selection
(the target grammar itself is benchlab.plan.targets).

A runner package (android_runner, ios_runner, ...) registers a discovery function under the
``benchlab.runners`` entry-point group; this module loads it lazily, so the orchestrator never
imports a phone protocol library itself and a broken runner cannot stop the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol, runtime_checkable

from benchlab.errors import DeviceError
from benchlab.plan.profiles import ThermalLimits
from benchlab.plan.targets import may_name_platform, matches
from benchlab.platforms import RUNNER_ENTRY_POINT_GROUP
from benchlab.records import Capabilities, Conditions, DeviceInfo, Job, Measurement

log = logging.getLogger(__name__)

@runtime_checkable
class Device(Protocol):
    """A target that can run benchmark jobs (docs/architecture.md, "Plug-in point: a platform").

    `run()` may raise DeviceLost (a subclass of DeviceError) when the device is gone for good:
    the executor then quarantines it for the rest of the run. Any other DeviceError fails only
    the repeat in flight.
    """

    info: DeviceInfo
    #: When the device is cool enough to measure on (from its profile); None: never gated.
    thermal_limits: ThermalLimits | None

    def capabilities(self) -> Capabilities:
        """Return the accelerator kinds and model formats this device can run."""
        ...

    def conditions(self) -> Conditions:
        """Return thermal and battery state now."""
        ...

    def prepare(self, artifacts: Sequence[Path]) -> None:
        """Make model and runner files present on the device, skipping those already there."""
        ...

    def run(self, job: Job) -> Measurement:
        """Run one repeat of a job; a failure is a Measurement with status and error, not an exception."""
        ...

    def abort(self) -> None:
        """Stop the run in flight at once (a second Ctrl-C); it returns a failed Measurement. Thread-safe."""
        ...

    def close(self) -> None:
        """Release connections and services; the device is not used afterwards."""
        ...


class UnavailableDevice:
    """A device that was seen but cannot run jobs (unauthorized, not paired, offline).

    Runners list it so `benchlab devices` shows its state, and every job it gets becomes a failed
    measurement carrying the reason and what to do, so a suite naming it still finishes.
    """

    thermal_limits = None

    def __init__(self, info: DeviceInfo, reason: str, capabilities: Capabilities) -> None:
        self.info = info
        self.reason = reason
        self._capabilities = capabilities

    def capabilities(self) -> Capabilities:
        """What the device could run if it were usable, so each job reaches run() and records why."""
        return self._capabilities

    def conditions(self) -> Conditions:
        """Unknown: the device cannot be read."""
        return Conditions(timestamp=time.time())

    def prepare(self, artifacts: Sequence[Path]) -> None:
        """Nothing can be copied; run() reports why."""

    def run(self, job: Job) -> Measurement:
        """Return a failed measurement naming the state and what to do."""
        return Measurement(job_id=job.job_id, run_id=job.run_id, suite=job.suite, variant=job.variant,
                           device=self.info, accelerator=job.accelerator, status="failed", runner="none",
                           error=self.reason, failure_cause="device")

    def abort(self) -> None:
        """Nothing runs here."""

    def close(self) -> None:
        """Nothing is open."""


DiscoverFunction = Callable[[Sequence[str]], Iterable[Device]]


def _runner_discoverers() -> dict[str, DiscoverFunction]:
    """Load every registered runner's discovery function, skipping (and logging) broken ones."""
    found: dict[str, DiscoverFunction] = {}
    for entry in entry_points(group=RUNNER_ENTRY_POINT_GROUP):
        try:
            found[entry.name] = entry.load()
        except (ImportError, AttributeError) as exc:
            log.warning("runner %s is not usable: %s", entry.name, exc)
    return found


def discover_devices(targets: Sequence[str] = (), include_host: bool = True) -> list[Device]:
    """Return the host device and every device the registered runners can see.

    `targets` are the suite's selectors: a runner may need them to reach devices it cannot
    enumerate (an Android phone at a TCP address).

    A runner whose discovery fails (no USB permission, daemon down) is logged and skipped so the
    other runners' devices are still listed.
    """
    devices: list[Device] = []
    if include_host:
        from benchlab.execute.host_device import HostDevice

        devices.append(HostDevice())
    for name, discover in _runner_discoverers().items():
        if targets and not any(may_name_platform(t, name) for t in targets):
            continue  # a host-only suite does not probe USB buses or adb servers
        try:
            devices.extend(discover(targets))
        except DeviceError as exc:
            log.warning("%s devices not listed: %s", name, exc)
    return devices


def select_devices(devices: Sequence[Device], selectors: Sequence[str]) -> list[Device]:
    """Return the devices named by any selector, in discovery order.

    Raises DeviceError when a selector names no connected device, listing what is connected.
    """
    chosen: list[Device] = []
    for selector in selectors:
        hits = [d for d in devices if matches(d.info, selector)]
        if not hits:
            connected = ", ".join(f"{d.info.platform}:{d.info.id}" for d in devices) or "none"
            raise DeviceError(
                f"no connected device matches target {selector!r} (connected: {connected})",
                hint="run `benchlab devices` to see what benchlab can reach",
            )
        chosen.extend(d for d in hits if d not in chosen)
    return chosen
