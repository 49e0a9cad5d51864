"""Sustained mode: run one job without a pause for minutes, its latency recorded in windows.

A phone's first-minute latency says little about its tenth: under continuous load the SoC heats, the
thermal governor lowers clocks, and throughput falls. `scenario.sustained_minutes` runs, after the
ordinary repeats, one session per job (variant x device x accelerator): the device is gated cool once
(benchlab.execute.gate), then the job runs window after window with no cooldown, and every window is
one record with its latencies and the device's conditions (thermal status, temperatures, CPU clocks)
read right after it.

**Windows.** A window is one runner process measuring for `window_seconds(minutes)`: 30 s in a run
of five minutes or more, else a tenth of the run (a 0.5-minute try gets ten 3 s windows). 30 s
because phone throttling moves on a scale of tens of seconds to minutes (skin-temperature control
loops, the first frequency cap often one to three minutes in), so a 30 s window resolves the first
step while holding hundreds to thousands of inferences for a stable figure, and reading the thermal
service once per window (about 0.1 s of adb) costs nothing measurable. A window is a fresh runner
process, so the same code runs on every platform (benchmark_model on Android, the runner app on
iPhones, a LiteRT worker here); the price is a restart between windows (process start and model
load, tens of milliseconds to a second) during which the device idles; each window's wall-clock
start and end are kept, so the gap is visible.

**Time axis.** A window's place on the curve is the inference time measured before it (the sum of
the runner's timed inferences, warmup not counted): what the device spent under load. On a phone it
is close to wall time less the restarts; on the loopback phone, whose thermal model runs on simulated
time, it is the only clock that means anything.

Raw figures only: every latency the runner reports per iteration is kept (this machine, iPhones);
LiteRT's benchmark_model prints statistics only, so an Android window keeps those (count, mean,
percentiles). The curve and its figures are computed from the stored windows
(benchlab.results.sustained), so `benchlab report` recomputes them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchlab.errors import BenchlabError, DeviceLost
from benchlab.execute.devices import Device
from benchlab.execute.executor import StopControl, abort_on_request
from benchlab.execute.gate import STARTED_HOT, wait_until_cool
from benchlab.formats import format_named
from benchlab.records import Conditions, Job, Measurement

#: The longest window, in seconds (the module docstring says why 30).
WINDOW_SECONDS = 30.0
#: The fewest windows a session has: a short try still draws a curve.
MIN_WINDOWS = 10


def window_seconds(minutes: float) -> float:
    """Return how long each window of a `minutes`-long session measures: 30 s, or a tenth of a shorter run."""
    return min(WINDOW_SECONDS, minutes * 60.0 / MIN_WINDOWS)


def window_count(minutes: float) -> int:
    """Return how many windows a `minutes`-long session runs (the last may end the session a little late)."""
    return max(1, math.ceil(round(minutes * 60.0 / window_seconds(minutes), 6)))


@dataclass(frozen=True)
class SustainedWindow:
    """One window of a sustained session: its raw latencies and the device's state right after it."""

    job_id: str
    model: str
    variant: str
    device_id: str
    accelerator: str
    #: The window's place in its session (0 first) and how many the session runs.
    index: int
    windows: int
    window_seconds: float
    status: str
    error: str | None = None
    #: Wall-clock seconds from the session's start to this window's start and end (restart included).
    started_s: float | None = None
    finished_s: float | None = None
    #: Every timed inference, when the runner reports each one (microseconds).
    samples_us: tuple[float, ...] = ()
    #: The runner's own statistics when it reports no single iteration (count, avg_us, median_us ...).
    stats: dict[str, float | None] = field(default_factory=dict)
    init_us: float | None = None
    conditions: Conditions | None = None
    flags: tuple[str, ...] = ()
    #: What the runner reported for the window of a metric without a field of its own, as in
    #: `Measurement.metric_values`: with energy on, energy per inference ("energy", mJ, and each rail's)
    #: or Apple's energy impact ("energy_impact").
    metric_values: dict[str, float] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Timed inferences in the window."""
        if self.samples_us:
            return len(self.samples_us)
        return int(self.stats.get("count") or 0)

    @property
    def busy_seconds(self) -> float | None:
        """The window's measured inference time in seconds (None when the runner gave no figure for it)."""
        if self.samples_us:
            return sum(self.samples_us) / 1e6
        avg = self.stats.get("avg_us")
        return self.count * avg / 1e6 if avg is not None and self.count else None


#: Receives each finished window.
WindowSink = Callable[[SustainedWindow], None]


def window_job(job: Job, index: int, seconds: float, latency_us: float | None) -> Job:
    """Return the repeat that measures one window of `job`: no evaluation, no op profiling, warmup only first.

    It asks for `seconds` of timing (benchmark_model and this machine's worker stop on time) and for as
    many iterations as fit in it at `latency_us` (the latest measured latency), for a runner that
    counts iterations only (the iPhone app); the time cap ends the window either way.
    """
    iterations = job.scenario.iterations if latency_us is None else max(1, math.ceil(seconds * 1e6 / latency_us))
    scenario = replace(job.scenario, warmup=job.scenario.warmup if index == 0 else 0, iterations=iterations,
                       min_seconds=seconds, max_seconds=seconds, repeats=1, op_profile_runs=0,
                       timeout_seconds=seconds + job.scenario.timeout_seconds)
    return replace(job, scenario=scenario, repeat=index, slot=0, evaluate=False)


def _window(job: Job, device: Device, index: int, windows: int, seconds: float,
            measurement: Measurement | None, error: str | None, flags: tuple[str, ...]) -> SustainedWindow:
    """Return the record of one window from what the runner measured (None: the window did not run)."""
    base = SustainedWindow(job_id=job.job_id, model=job.variant.model, variant=job.variant.name,
                           device_id=device.info.id, accelerator=job.accelerator.name, index=index,
                           windows=windows, window_seconds=seconds, status="failed", error=error, flags=flags)
    if measurement is None:
        return base
    stats = dict(measurement.runner_stats[0]) if measurement.runner_stats else {}
    return replace(base, status=measurement.status, error=measurement.error, init_us=measurement.init_us,
                   samples_us=tuple(measurement.all_samples_us), stats=stats,
                   conditions=measurement.conditions_after, flags=(*flags, *measurement.flags),
                   metric_values=dict(measurement.metric_values))


def run_session(job: Job, device: Device, sink: WindowSink, stop: StopControl, latency_us: float | None = None,
                clock: Callable[[], float] = time.monotonic) -> None:
    """Run every window of one job's session back to back, handing each to `sink`.

    `latency_us` (the job's latency in its repeats) sizes the first window's iteration count for a
    runner that only counts; each later window is sized by the one before it.

    The device is gated cool once, before the first window (a window flagged started-hot when it
    never cooled). A window that fails ends the session with that failed window; a stop request ends
    it between windows. Raises DeviceLost when the device is gone.
    """
    minutes = job.scenario.sustained_minutes
    assert minutes is not None
    seconds, windows = window_seconds(minutes), window_count(minutes)
    flags: tuple[str, ...] = ()
    if device.thermal_limits is not None and wait_until_cool(device.conditions, device.thermal_limits)[1]:
        flags = (STARTED_HOT,)
    try:
        device.prepare([Path(job.variant.path)] if job.variant.path else [])
    except DeviceLost:
        raise
    except BenchlabError as exc:  # the model could not be copied (a full phone): the session's one window says why
        sink(_window(job, device, 0, windows, seconds, None, str(exc), flags))
        return
    origin = clock()
    for index in range(windows):
        if stop.stopping:
            return
        started = clock() - origin
        try:
            measurement = device.run(window_job(job, index, seconds, latency_us))
            window = _window(job, device, index, windows, seconds, measurement, None, flags)
            busy = window.busy_seconds
            latency_us = busy * 1e6 / window.count if busy else latency_us
        except DeviceLost:
            raise
        except BenchlabError as exc:
            window = _window(job, device, index, windows, seconds, None, str(exc), flags)
        window = replace(window, started_s=round(started, 3), finished_s=round(clock() - origin, 3))
        sink(window)
        flags = ()
        if window.status != "ok":
            return


def sustained_jobs(jobs: Sequence[Job], devices: Sequence[Device], done: Collection[str] = (),
                   dead: Collection[str] = ()) -> list[Job]:
    """Return the jobs that get a session: built variants the device runs, whose repeats did not fail for
    a reason of the model (`dead`), and whose session is not already complete (`done`). A language model
    (a generative format) gets none: its runs are prompt x generation cells, not timed inferences."""
    by_id = {d.info.id: d for d in devices}
    return [job for job in jobs
            if job.scenario.sustained_minutes is not None and job.variant.status != "failed"
            and not getattr(format_named(job.variant.format), "generative", False)
            and job.job_id not in done and job.job_id not in dead
            and by_id[job.device_id].capabilities().refusal(job.variant.format, job.accelerator) is None]


def run_sustained(jobs: Sequence[Job], devices: Sequence[Device], sink: WindowSink, stop: StopControl,
                  latencies_us: Mapping[str, float] | None = None, say: Callable[[str], None] = print) -> None:
    """Run each job's session: devices in parallel (one thread each), one session at a time per device.

    `latencies_us` holds each job's latency in its repeats, by job id (run_session says what for).
    A lost device ends its sessions (said once); the other devices go on. On `stop.abort` each device
    is asked to abort the window in flight.
    """
    lock = threading.Lock()

    def per_device(device: Device) -> None:
        for job in (j for j in jobs if j.device_id == device.info.id):
            if stop.stopping:
                return
            minutes = job.scenario.sustained_minutes
            with lock:
                say(f"sustained: {job.variant.model}/{job.variant.name} on {device.info.id} · "
                    f"{job.accelerator.name} for {minutes:g} min ({window_count(minutes or 0)} windows of "
                    f"{window_seconds(minutes or 0):g} s)")
            try:
                run_session(job, device, sink, stop, (latencies_us or {}).get(job.job_id))
            except DeviceLost as exc:
                with lock:
                    say(f"sustained: {device.info.id} lost, its sessions end here: {exc}")
                return

    # A second Ctrl-C (stop.abort) kills the window in flight, as during the repeats.
    finished = threading.Event()
    watcher = threading.Thread(target=abort_on_request, args=(stop, finished, devices), daemon=True)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=max(1, len(devices)), thread_name_prefix="sustained") as pool:
            for future in [pool.submit(per_device, d) for d in devices]:
                future.result()
    finally:
        finished.set()
        watcher.join()
