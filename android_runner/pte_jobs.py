"""An ExecuTorch .pte job on an Android phone: ExecuTorch's `executor_runner` (which the user builds, see
the README, and registers with `benchlab tools add android executor_runner PATH`) pushed and run from adb
shell, one process per repeat, then once per evaluation sample for the outputs.

A repeat runs 1 + warmup + iterations executions in one process: the first is the first inference, the
next `warmup` the warm-up, the rest the timed samples, each from the runner's own per-execution log line
(android_runner.executor_runner). Inputs are sample 0 of the evaluation data as raw files in the program's
dtypes (the runner's tensors of ones when the job has no data); the evaluation feeds every sample in turn
and pulls each output's raw bytes (`--output_file`). The threads are the setting's (`--cpu_threads`),
pinned to the big cores as benchmark_model is.
"""

from __future__ import annotations

import shlex
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from android_runner import commands
from android_runner.executor_runner import kill_command, parse_output, run_command
from android_runner.job_phone import JobPhone
from android_runner.tools import EXECUTOR_RUNNER_NAME, executor_runner, sha256_file
from android_runner.transport import DeviceTimeout
from benchlab.errors import DeviceError, DeviceLost, RunnerError
from benchlab.execute.failures import failure_cause
from benchlab.records import Job, Measurement, now_iso
from benchlab.tensors import Feeds, ModelIO, load_feeds, match_names, to_tensor

RUNNER = "executor_runner"


def run(device: JobPhone, job: Job) -> Measurement:
    """Run every repeat of a .pte job and its evaluation; a failure is a failed Measurement, one line."""
    base = Measurement(job_id=job.job_id, run_id=job.run_id, suite=job.suite, variant=job.variant,
                       device=device.info, accelerator=job.accelerator, status="ok", started_at=now_iso(),
                       runner=RUNNER)
    model_remote = device._model_remote(Path(job.variant.path))
    binary_remote = device._remote(EXECUTOR_RUNNER_NAME)
    try:
        binary = executor_runner(device.facts.abi)  # ToolMissing until the user adds one
        base = replace(base, runner_version=sha256_file(binary), conditions_before=device.conditions())
        device._ensure(binary, binary_remote, executable=True)
        device._use(Path(job.variant.path), model_remote)
        io = _program_io(job.variant.path)
        data = _fitted(io, job.eval_inputs_path) if job.eval_inputs_path else None
        measurement = _repeats(device, job, base, binary_remote, model_remote, io, data)
        if measurement.status == "ok" and job.evaluate and data is not None:
            measurement = replace(measurement, outputs=_evaluate(device, job, binary_remote, model_remote, io, data))
    except DeviceLost:
        raise
    except (DeviceError, RunnerError) as exc:
        return replace(base, status="failed", error=str(exc), failure_cause=failure_cause(exc), finished_at=now_iso())
    except ValueError as exc:  # evaluation data that does not fit the program's inputs: the model's
        return replace(base, status="failed", error=str(exc), finished_at=now_iso())
    return replace(measurement, conditions_after=device.conditions(), finished_at=now_iso())


def _program_io(path: str) -> ModelIO:
    """The .pte's inputs and outputs, read on this machine with executorch.runtime."""
    from benchlab.formats import format_named

    fmt = format_named("pte")
    assert fmt is not None
    return fmt.describe(Path(path))


def _fitted(io: ModelIO, inputs_path: str) -> list[np.ndarray]:
    """Return the evaluation data as one array per program input, in its dtype; raises ValueError naming an
    input that does not fit."""
    data: Feeds = load_feeds(inputs_path)
    mapping = match_names(list(data), io.inputs)
    arrays = []
    for tensor in io.inputs:
        values = data[mapping[tensor.name]]
        if tensor.misfit(values) is not None:
            raise ValueError(f"input {tensor.name!r}: the program expects {tensor.describe()}, the evaluation data "
                             f"holds {values.dtype} {values.shape[1:]}")
        arrays.append(to_tensor(values, tensor))
    return arrays


def _push_sample(device: JobPhone, job: Job, workdir: str, data: list[np.ndarray], index: int,
                 tmp: Path) -> list[str]:
    """Push sample `index` of every input as raw bytes; return their paths on the phone."""
    remotes = []
    for position, values in enumerate(data):
        local = tmp / f"input-{position}.bin"
        local.write_bytes(np.ascontiguousarray(values[index : index + 1]).tobytes())
        remotes.append(f"{workdir}/{local.name}")
        device._push(local, remotes[-1], timeout_s=job.scenario.timeout_seconds)
    return remotes


def _execute(device: JobPhone, job: Job, command: str, output_base: str) -> str:
    """Run one executor_runner process; return its output. Raises DeviceError (the process killed on a timeout)."""
    pinned = f"taskset {device.cpu_mask} {command}" if device.cpu_mask else command
    try:
        result = device._shell(f"{pinned} 2>&1", timeout_s=job.scenario.timeout_seconds)
    except DeviceTimeout as exc:
        device._shell(kill_command(output_base))
        raise DeviceError(f"{exc} (executor_runner killed)") from None
    parsed = parse_output(result.output)
    if result.exit_code != 0 and parsed.error is None:
        last = result.output.strip().splitlines()[-1:] or ["no output"]
        raise DeviceError(f"executor_runner exited with {result.exit_code}: {last[0][:200]}")
    return str(result.output)


def _repeats(device: JobPhone, job: Job, base: Measurement, binary: str, model: str, io: ModelIO,
             data: list[np.ndarray] | None) -> Measurement:
    """The timed repeats: one runner process each, its per-execution times split into first, warm-up, samples."""
    scenario = job.scenario
    workdir = f"{commands.DEVICE_DIR}/pte-{device.session}-{job.job_id}"
    output_base = f"{workdir}/out"
    executions = 1 + scenario.warmup + scenario.iterations
    texts: list[str] = []
    samples: list[tuple[float, ...]] = []
    first = init = None
    warmup: tuple[float, ...] = ()
    with tempfile.TemporaryDirectory(prefix="benchlab-pte-") as tmp:
        device._shell(f"mkdir -p {shlex.quote(workdir)}")
        try:
            inputs = _push_sample(device, job, workdir, data, 0, Path(tmp)) if data is not None else []
            threads = job.accelerator.threads or 1
            for _ in range(scenario.repeats):
                text = _execute(device, job, run_command(binary, model, threads, executions, output_base, inputs),
                                output_base)
                texts.append(text)
                parsed = parse_output(text)
                if parsed.problem is None and len(parsed.iterations_ms) != executions:
                    problem = f"executor_runner logged {len(parsed.iterations_ms)} of {executions} executions"
                else:
                    problem = parsed.problem
                if problem is not None:
                    return replace(base, status="failed", error=problem, runner_output="\n".join(texts))
                times_us = [ms * 1000.0 for ms in parsed.iterations_ms]
                if first is None:
                    first, warmup = times_us[0], tuple(times_us[1 : 1 + scenario.warmup])
                    init = parsed.load_ms * 1000.0 if parsed.load_ms is not None else None
                samples.append(tuple(times_us[1 + scenario.warmup :]))
        finally:
            device._shell(f"rm -rf {shlex.quote(workdir)}")
    return replace(base, runner_output="\n".join(texts), init_us=init, first_us=first, warmup_us=warmup,
                   samples_us=tuple(samples))


def _evaluate(device: JobPhone, job: Job, binary: str, model: str, io: ModelIO,
              data: list[np.ndarray]) -> Feeds:
    """Run every evaluation sample in its own runner process; return each output of every sample, by name."""
    workdir = f"{commands.DEVICE_DIR}/pte-eval-{device.session}-{job.job_id}"
    output_base = f"{workdir}/out"
    outputs: dict[str, list[np.ndarray]] = {t.name: [] for t in io.outputs}
    with tempfile.TemporaryDirectory(prefix="benchlab-pte-eval-") as tmp:
        device._shell(f"mkdir -p {shlex.quote(workdir)}")
        try:
            for index in range(len(data[0]) if data else 0):
                inputs = _push_sample(device, job, workdir, data, index, Path(tmp))
                _execute(device, job, run_command(binary, model, job.accelerator.threads or 1, 1, output_base, inputs),
                         output_base)
                for position, tensor in enumerate(io.outputs):
                    local = Path(tmp) / f"out-{position}.bin"
                    device.transport.pull(f"{output_base}-{position}.bin", local, timeout_s=job.scenario.timeout_seconds)
                    values = np.frombuffer(local.read_bytes(), dtype=tensor.dtype).reshape(tensor.shape)
                    outputs[tensor.name].append(values[0].astype(np.float32) if values.dtype.kind == "f" else values[0])
        finally:
            device._shell(f"rm -rf {shlex.quote(workdir)}")
    return {name: np.stack(values) for name, values in outputs.items()}
