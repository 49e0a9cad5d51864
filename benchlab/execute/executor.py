"""Plan jobs (variant x device x accelerator) and dispatch their repeats to devices.

The repeat is the unit of replication (benchlab.metrics.stats says why): one repeat is one fresh
runner process, and every statistic that claims a confidence rests on per-repeat summaries. So a job is dispatched as
`scenario.repeats` separate repeats, and on each device the repeats of all its jobs run
**interleaved**, round by round: round r runs repeat r of every job once, in an order shuffled
with a seed derived from the run id, device and round. Drift (a thermal step, a co-tenant, the
governor) then hits every variant alike instead of all repeats of one variant, which is what
Google Benchmark's random interleaving and Pinpoint's alternating executions do.

Jobs on one device run one at a time (two benchmarks on one phone would measure each other);
devices run in parallel, one thread each. A device with thermal limits is gated before each
repeat (benchlab.execute.gate). Each finished repeat goes to the sink (the run's store) at once, so an
interrupted run keeps everything measured and `--resume` runs only the rest.

The executor only dispatches: it neither scores nor reads the store (benchlab.results.scoring does the
former after execution; the pipeline tells the executor which repeats are already done).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from benchlab.execute.devices import Device
from benchlab.errors import BenchlabError, DeviceLost
from benchlab.execute.failures import failure_cause
from benchlab.execute.gate import STARTED_HOT, too_hot, wait_until_cool
from benchlab.names import file_name
from benchlab.formats import accelerator_kinds, format_named
from benchlab.records import (
    NO_ACCELERATOR,
    AcceleratorSetting,
    FailureCause,
    Job,
    Measurement,
    MeasurementStatus,
    Scenario,
    Variant,
    now_iso,
)

if TYPE_CHECKING:
    from benchlab.execute.sustained import WindowSink

#: How quickly an abort (a second Ctrl-C) reaches the devices.
ABORT_POLL_SECONDS = 0.2
#: How recent a device's last repeat must be (this host's clock, cooldown included) for the gate to
#: trust its reading after instead of reading again: a moment, so a phone heat-soaking after the
#: load, or used by another run meanwhile, is read afresh.
FRESH_SECONDS = 1.0
#: Receives each finished repeat; returns it as stored.
Sink = Callable[[Measurement], Measurement]


@dataclass
class StopControl:
    """How a run is asked to stop: `stop_dispatch` lets in-flight repeats finish, `abort` does not.

    The CLI sets the first on the first SIGINT/SIGTERM and the second on the next one; the
    pipeline sets `executing` while repeats are dispatched (before that, nothing is measured yet
    and a stop may end the process at once).
    """

    stop_dispatch: threading.Event = field(default_factory=threading.Event)
    abort: threading.Event = field(default_factory=threading.Event)
    executing: threading.Event = field(default_factory=threading.Event)

    @property
    def stopping(self) -> bool:
        """Whether no new repeat may start."""
        return self.stop_dispatch.is_set() or self.abort.is_set()


class Executor(Protocol):
    """Runs planned repeats on devices and hands each finished one to the sink."""

    def execute(self, repeats: Sequence[Job], devices: Sequence[Device], sink: Sink,
                stop: StopControl | None = None) -> None:
        """Run `repeats` (already in schedule order per device); return when all ran or a stop was asked."""
        ...

    def sustain(self, jobs: Sequence[Job], devices: Sequence[Device], sink: WindowSink,
                stop: StopControl, latencies_us: Mapping[str, float], say: Callable[[str], None]) -> None:
        """Run the sustained session of each job (benchlab.execute.sustained.run_sustained), handing
        each window to `sink` as it finishes; return when all ran or a stop was asked."""
        ...


def job_id(variant: Variant, device_id: str, accelerator: AcceleratorSetting) -> str:
    """Return a stable, file-name-safe id: the same job gets the same id in a resumed run."""
    return file_name(f"{variant.model}.{variant.name}.{device_id}.{accelerator.name}")


def plan_jobs(run_id: str, suite: str, variants: Sequence[Variant], devices: Sequence[Device],
              accelerators: Sequence[AcceleratorSetting], scenario: Scenario,
              eval_inputs: dict[str, str]) -> list[Job]:
    """Return every (variant, device, accelerator) job, one per pair that fits the variant's format.

    A variant no accelerator of the suite fits still gets one job (on "none"), so its row says why
    it did not run. `eval_inputs` maps a model name to its stored evaluation inputs (.npy).
    """
    jobs = []
    for device in devices:
        for variant in variants:
            fitting = [a for a in accelerators if a.kind in accelerator_kinds(variant.format)]
            for accelerator in fitting or [AcceleratorSetting(name=NO_ACCELERATOR, kind=NO_ACCELERATOR)]:
                for setting, mode_scenario in _matrix_settings(variant, device, accelerator, scenario):
                    jobs.append(Job(
                        job_id=job_id(variant, device.info.id, setting), run_id=run_id, suite=suite,
                        variant=variant, device_id=device.info.id, accelerator=setting, scenario=mode_scenario,
                        eval_inputs_path=eval_inputs.get(variant.model),
                    ))
    return jobs


def _matrix_settings(variant: Variant, device: Device, accelerator: AcceleratorSetting, scenario: Scenario
                     ) -> list[tuple[AcceleratorSetting, Scenario]]:
    """Return the device's job settings of a pair; a language model's (a generative format) once per
    cell of the scenario's LLM matrix, the setting named NAME@ppP-tgD so each cell is its own row."""
    settings = device.capabilities().job_settings(accelerator, scenario, variant.format)
    fmt = format_named(variant.format)
    if fmt is None or not fmt.generative or accelerator.kind == NO_ACCELERATOR:
        return settings
    return [(replace(setting, name=f"{setting.name}@{cell.label}"),
             replace(cell_scenario, llm=replace(cell_scenario.llm, cell=cell)))
            for setting, cell_scenario in settings for cell in scenario.llm.cells()]


def interleaved_schedule(jobs: Sequence[Job], seed: str, done: Collection[tuple[str, int]] = (),
                         dead: Collection[str] = ()) -> list[Job]:
    """Return the repeats to run, per device round by round, each round in a seeded shuffled order.

    Every returned Job is one repeat (`repeat`, `slot` set; its scenario runs once). Only the first
    repeat evaluates the model on the evaluation inputs: outputs do not change between repeats and
    evaluation is not timed. Repeats in `done` ((job_id, repeat) pairs) and every repeat of a job
    in `dead` (one that failed for a reason of the model) are left out, so a resumed run runs the
    rest in the same order it would have.
    """
    schedule: list[Job] = []
    for device_id in dict.fromkeys(j.device_id for j in jobs):
        mine = sorted((j for j in jobs if j.device_id == device_id), key=lambda j: j.job_id)
        rounds = max((j.scenario.repeats for j in mine), default=0)
        for round_index in range(rounds):
            order = list(mine)
            random.Random(f"{seed}/{device_id}/{round_index}").shuffle(order)
            for slot, job in enumerate(order):
                if round_index >= job.scenario.repeats or (job.job_id, round_index) in done or job.job_id in dead:
                    continue
                schedule.append(replace(
                    job, repeat=round_index, slot=slot, scenario=replace(job.scenario, repeats=1),
                    evaluate=round_index == 0 and job.eval_inputs_path is not None,
                ))
    return schedule


def not_run(job: Job, device: Device, status: MeasurementStatus, error: str,
            cause: FailureCause | None = None) -> Measurement:
    """Return the record of a repeat that did not measure, with its reason and cause."""
    return Measurement(
        job_id=job.job_id, run_id=job.run_id, suite=job.suite, variant=job.variant, device=device.info,
        accelerator=job.accelerator, status=status, runner="none", error=error, failure_cause=cause,
        repeat=job.repeat, slot=job.slot, started_at=now_iso(), finished_at=now_iso(),
    )


def _with_flags(m: Measurement, hot: bool) -> Measurement:
    flags = list(m.flags) + ([STARTED_HOT] if hot else [])
    before, after = m.conditions_before, m.conditions_after
    if before and after and before.thermal_status is not None and after.thermal_status is not None \
            and after.thermal_status > before.thermal_status:
        flags.append("thermal-rose")
    return replace(m, flags=tuple(dict.fromkeys(flags)))


def _cool_just_now(device: Device, previous: Measurement | None) -> bool:
    """Return whether the device's last repeat, which ended a moment ago (`previous`, passed only
    within FRESH_SECONDS of it, on this host's clock), ended within its thermal limits, so the gate
    need not read its conditions again. Saves each repeat a conditions read (two `dumpsys` on a
    phone) between the last repeat's reading after and the next one's reading before, which are
    still read and recorded."""
    after = previous.conditions_after if previous is not None else None
    return after is not None and device.thermal_limits is not None and too_hot(after, device.thermal_limits) is None


def _run_repeat(job: Job, device: Device, previous: Measurement | None = None) -> Measurement:
    """Run one repeat; a failure of the variant, the device or the runner becomes a record.

    `previous`: the record of the repeat this device ended a moment ago, whose conditions after may
    spare the gate its read (`_cool_just_now`); None when there is none that recent."""
    if job.variant.status == "failed":
        return not_run(job, device, "failed", f"variant not built: {job.variant.error}", "model")
    refusal = device.capabilities().refusal(job.variant.format, job.accelerator)
    if refusal is not None:
        return not_run(job, device, "unsupported", refusal, "model")
    hot = False
    if device.thermal_limits is not None and not _cool_just_now(device, previous):
        hot = wait_until_cool(device.conditions, device.thermal_limits)[1] is not None
    try:
        device.prepare([Path(job.variant.path)] if job.variant.path else [])
        measurement = device.run(job)
    except DeviceLost:
        raise
    except BenchlabError as exc:  # a failed repeat, the run goes on; the error's class says whose fault
        return not_run(job, device, "failed", str(exc), failure_cause(exc))
    return _with_flags(replace(measurement, repeat=job.repeat, slot=job.slot), hot)


def run_device_schedule(device: Device, schedule: Sequence[Job], sink: Sink, stop: StopControl) -> None:
    """Run one device's repeats in order until done or stopped, handing each record to the sink.

    A job whose repeat did not measure runs no further repeats in this execution (a model that
    fails once fails again; a device or harness failure is left for `--resume`, which runs the
    repeats without an ok record). A device that is lost is quarantined: the repeat in flight fails
    and every job with repeats left gets one "skipped" record, both retryable by `--resume`.
    """
    dead: set[str] = set()
    previous: Measurement | None = None
    previous_ended = 0.0
    for index, job in enumerate(schedule):
        if stop.stopping:
            return
        if job.job_id in dead:
            continue
        if index and job.scenario.cooldown_seconds:
            time.sleep(job.scenario.cooldown_seconds)  # let the SoC cool so repeats do not heat each other
        try:
            just_now = previous if time.monotonic() - previous_ended <= FRESH_SECONDS else None
            measurement = previous = _run_repeat(job, device, just_now)
            previous_ended = time.monotonic()
        except DeviceLost as exc:
            sink(not_run(job, device, "failed", str(exc), failure_cause(exc)))
            _quarantine(device, schedule[index + 1:], dead | {job.job_id}, str(exc), sink)
            return
        if stop.abort.is_set() and measurement.status != "ok":
            measurement = replace(measurement, status="interrupted", failure_cause="interrupted",
                                  error=f"interrupted: {measurement.error}")
        sink(measurement)
        if measurement.status != "ok":
            dead.add(job.job_id)


def _quarantine(device: Device, rest: Sequence[Job], finished: set[str], reason: str, sink: Sink) -> None:
    """Record one skipped repeat for each job of a lost device that still had repeats to run."""
    for job in rest:
        if job.job_id not in finished:
            finished.add(job.job_id)
            sink(not_run(job, device, "skipped", f"device quarantined for this run: {reason}", "device"))


class LocalExecutor:
    """The embedded default: one thread per device on this machine."""

    def execute(self, repeats: Sequence[Job], devices: Sequence[Device], sink: Sink,
                stop: StopControl | None = None) -> None:
        """Run each device's repeats (in the given order) on its own thread; return when all are done.

        On `stop.abort` every device is asked to abort the repeat in flight.
        """
        stop = stop or StopControl()
        by_device = {d.info.id: [r for r in repeats if r.device_id == d.info.id] for d in devices}
        finished = threading.Event()
        watcher = threading.Thread(target=abort_on_request, args=(stop, finished, devices), daemon=True)
        watcher.start()
        try:
            with ThreadPoolExecutor(max_workers=max(1, len(devices)), thread_name_prefix="device") as pool:
                futures = [pool.submit(run_device_schedule, d, by_device[d.info.id], sink, stop) for d in devices]
                for future in futures:
                    future.result()
        finally:
            finished.set()
            watcher.join()


    def sustain(self, jobs: Sequence[Job], devices: Sequence[Device], sink: WindowSink,
                stop: StopControl, latencies_us: Mapping[str, float], say: Callable[[str], None]) -> None:
        """Run the sessions here, one thread per device (benchlab.execute.sustained.run_sustained)."""
        from benchlab.execute.sustained import run_sustained

        run_sustained(jobs, devices, sink, stop, latencies_us, say)


def abort_on_request(stop: StopControl, finished: threading.Event, devices: Sequence[Device]) -> None:
    """Wait until the run finishes or an abort is asked; on an abort, stop what each device runs."""
    while not finished.wait(ABORT_POLL_SECONDS):
        if stop.abort.is_set():
            for device in devices:
                device.abort()
            return
