"""Plan jobs (variant x device x accelerator) and execute them: one worker thread per device.

Jobs on one device run one at a time (two benchmarks on one phone would measure each other);
devices run in parallel. A device with `thermal_limits` (phones, from their profile) is gated
before each job (benchlab.gate). Each finished job is scored (accuracy, fidelity) and appended to the store
at once, so an interrupted run keeps everything measured and `--resume` runs only the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from benchlab.accuracy import fidelity, top_k_accuracy
from benchlab.devices import Device
from benchlab.errors import BenchlabError, DeviceLost
from benchlab.gate import STARTED_HOT, ThermalLimits, wait_until_cool
from benchlab.names import file_name
from benchlab.records import (
    FORMAT_ACCELERATORS,
    NO_ACCELERATOR,
    AcceleratorSetting,
    Job,
    Measurement,
    Scenario,
    Variant,
    now_iso,
)
from benchlab.store import RunStore

OnMeasurement = Callable[[Measurement], None]


@dataclass(frozen=True)
class EvalSet:
    """One model's evaluation inputs (stored as .npy for runners) and labels, if known."""

    inputs_path: str
    labels: np.ndarray | None
    top_k: int = 1


def job_id(variant: Variant, device_id: str, accelerator: AcceleratorSetting) -> str:
    """Return a stable, file-name-safe id: the same job gets the same id in a resumed run."""
    return file_name(f"{variant.model}.{variant.name}.{device_id}.{accelerator.name}")


def plan_jobs(run_id: str, suite: str, variants: Sequence[Variant], devices: Sequence[Device],
              accelerators: Sequence[AcceleratorSetting], scenario: Scenario,
              eval_sets: dict[str, EvalSet]) -> list[Job]:
    """Return every (variant, device, accelerator) job; reference variants first on each device,
    so fidelity can be computed as soon as each optimized variant finishes."""
    ordered = sorted(variants, key=lambda v: not v.is_reference)
    jobs = []
    for device in devices:
        for variant in ordered:
            fitting = [a for a in accelerators if a.kind in FORMAT_ACCELERATORS.get(variant.format, ())]
            for accelerator in fitting or [AcceleratorSetting(name=NO_ACCELERATOR, kind=NO_ACCELERATOR)]:
                jobs.append(Job(
                    job_id=job_id(variant, device.info.id, accelerator), run_id=run_id, suite=suite,
                    variant=variant, device_id=device.info.id, accelerator=accelerator, scenario=scenario,
                    eval_inputs_path=eval_sets[variant.model].inputs_path if variant.model in eval_sets else None,
                ))
    # Accelerator-major order on each device: all variants of one setting run back to back.
    return sorted(jobs, key=lambda j: (j.device_id, j.accelerator.name, not j.variant.is_reference))


class _Scorer:
    """Adds accuracy and fidelity to measurements, remembering each reference's outputs."""

    def __init__(self, eval_sets: dict[str, EvalSet]) -> None:
        self.eval_sets = eval_sets
        self.references: dict[tuple[str, str, str], Measurement] = {}

    def score(self, m: Measurement) -> Measurement:
        """Return the measurement with accuracy, accuracy delta and fidelity filled in."""
        if m.status != "ok" or m.outputs is None:
            return m
        eval_set = self.eval_sets.get(m.variant.model)
        scored = m
        if eval_set is not None and eval_set.labels is not None:
            accuracy = round(100.0 * top_k_accuracy(m.outputs, eval_set.labels, eval_set.top_k), 3)
            scored = replace(m, accuracy_metric=f"top{eval_set.top_k}", accuracy=accuracy)
        key = (m.variant.model, m.device.id, m.accelerator.name)
        if m.variant.is_reference:
            self.references[key] = scored  # the reference is compared with itself: delta 0, agreement 1
        reference = self.references.get(key)
        if reference is None or reference.outputs is None:
            return scored
        delta = None
        if scored.accuracy is not None and reference.accuracy is not None:
            delta = round(scored.accuracy - reference.accuracy, 3)
        return replace(scored, accuracy_delta=delta,
                       fidelity=fidelity(m.outputs, reference.outputs, reference.variant.name))


def _not_run(job: Job, device: Device, status: str, error: str) -> Measurement:
    return Measurement(
        job_id=job.job_id, run_id=job.run_id, suite=job.suite, variant=job.variant, device=device.info,
        accelerator=job.accelerator, status=status, runner="none", error=error,  # type: ignore[arg-type]
        started_at=now_iso(), finished_at=now_iso(),
    )


def _flags(m: Measurement) -> tuple[str, ...]:
    flags = list(m.flags)
    before, after = m.conditions_before, m.conditions_after
    if before and after and before.thermal_status is not None and after.thermal_status is not None \
            and after.thermal_status > before.thermal_status:
        flags.append("thermal-rose")
    return tuple(flags)


def _run_one(job: Job, device: Device) -> Measurement:
    if job.variant.status == "failed":
        return _not_run(job, device, "failed", f"variant not built: {job.variant.error}")
    refusal = device.capabilities().refusal(job.variant.format, job.accelerator)
    if refusal is not None:
        return _not_run(job, device, "unsupported", refusal)
    try:
        limits: ThermalLimits | None = getattr(device, "thermal_limits", None)
        hot = wait_until_cool(device.conditions, limits)[1] if limits is not None else None
        device.prepare([Path(job.variant.path)] if job.variant.path else [])
        measurement = device.run(job)
    except DeviceLost:
        raise
    except BenchlabError as exc:  # a device that failed mid-job: a failed result, the run goes on
        return _not_run(job, device, "failed", str(exc))
    return replace(measurement, flags=(*measurement.flags, STARTED_HOT)) if hot else measurement


def _device_worker(device: Device, jobs: Sequence[Job], store: RunStore, scorer: _Scorer,
                   on_measurement: OnMeasurement) -> None:
    lost: str | None = None  # once a device is gone, its remaining jobs are skipped, not retried
    for index, job in enumerate(jobs):
        if lost is not None:
            measurement = _not_run(job, device, "skipped", f"device quarantined for this run: {lost}")
            on_measurement(store.append(measurement))
            continue
        if index and job.scenario.cooldown_seconds:
            time.sleep(job.scenario.cooldown_seconds)  # let the SoC cool so jobs do not heat each other
        try:
            measurement = scorer.score(_run_one(job, device))
        except DeviceLost as exc:
            lost = str(exc)
            measurement = _not_run(job, device, "failed", lost)
        measurement = store.append(replace(measurement, flags=_flags(measurement)))
        on_measurement(measurement)


def execute(jobs: Sequence[Job], devices: Sequence[Device], store: RunStore, eval_sets: dict[str, EvalSet],
            on_measurement: OnMeasurement = lambda _m: None) -> None:
    """Run the jobs, one thread per device, appending each measurement to the store as it finishes.

    Jobs whose id is already in the store (a resumed run) are skipped; their stored outputs seed
    the fidelity references.
    """
    scorer = _Scorer(eval_sets)
    done = store.measurements()
    for m in done:
        if m.variant.is_reference and m.outputs_file:
            outputs = np.load(store.directory / m.outputs_file)
            scorer.references[(m.variant.model, m.device.id, m.accelerator.name)] = replace(m, outputs=outputs)
    finished = {m.job_id for m in done}
    by_device = {d.info.id: [j for j in jobs if j.device_id == d.info.id and j.job_id not in finished]
                 for d in devices}
    with ThreadPoolExecutor(max_workers=max(1, len(devices)), thread_name_prefix="device") as pool:
        futures = [pool.submit(_device_worker, d, by_device[d.info.id], store, scorer, on_measurement)
                   for d in devices]
        for future in futures:
            future.result()
