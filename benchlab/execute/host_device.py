"""The host device: this machine's CPU, the embedded default with no phone attached. It runs every format
a host runtime is registered for (benchlab.execute.host_runtimes: .tflite in LiteRT, .pte in ExecuTorch,
.pt2 in PyTorch) and every language-model format in the engine it names (benchlab.execute.host_llm).

Each repeat of a job runs in a fresh worker process (benchlab.execute.host_worker) with a timeout; a
worker that crashes, hangs or refuses the model is a failed Measurement with a one-line reason.

Workers run in their own session, so a Ctrl-C at the terminal reaches benchlab (which lets the
repeat in flight finish) and not the worker; and they ask the kernel to kill them when benchlab
dies (PR_SET_PDEATHSIG), so no worker outlives a killed run.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchlab.settings import PARENT_PID
from benchlab.errors import BenchlabError, DeviceError, ModelError, RunnerError, is_disk_full
from benchlab.execute.failures import failure_cause
from benchlab.execute.host_llm import language_model, run_llm_repeat
from benchlab.execute.host_runtimes import registered, runtime_for
from benchlab.formats import registered as registered_formats
from benchlab.platforms import HOST
from benchlab.temp_dirs import owned_tempdir
from benchlab.records import (
    Capabilities,
    Conditions,
    DeviceInfo,
    Job,
    Measurement,
    now_iso,
)

log = logging.getLogger(__name__)

#: Where Linux exposes RAPL package energy counters (Intel, recent AMD); benchlab does not read them.
POWERCAP = Path("/sys/class/powercap")
#: The module each worker process runs (a test points it at a crashing stand-in).
WORKER_MODULE = "benchlab.execute.host_worker"
#: A worker's exit code when the disk filled: a device failure, which `--resume` retries, not the model's.
EXIT_DISK_FULL = 75


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _temperatures_c() -> dict[str, float]:
    temperatures: dict[str, float] = {}
    for zone in sorted(Path("/sys/class/thermal").glob("thermal_zone*")):
        try:
            name = (zone / "type").read_text().strip()
            temperatures[f"{name}:{zone.name}"] = int((zone / "temp").read_text()) / 1000.0
        except (OSError, ValueError):
            continue  # zones without a readable sensor are common in VMs
    return temperatures


def _cpu_freq_mhz() -> dict[str, float]:
    """Return each core's current clock in MHz: cpufreq's scaling_cur_freq where the kernel exposes it,
    else the "cpu MHz" lines of /proc/cpuinfo (x86; in a VM often the nominal clock, which never moves)."""
    freqs: dict[str, float] = {}
    for path in sorted(Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_cur_freq")):
        try:
            freqs[path.parent.parent.name] = int(path.read_text()) / 1000.0
        except (OSError, ValueError):
            continue
    if freqs:
        return freqs
    try:
        lines = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("cpu MHz")]
    except OSError:
        return {}
    for index, line in enumerate(lines):
        try:
            freqs[f"cpu{index}"] = float(line.split(":", 1)[1])
        except ValueError:
            continue
    return freqs


def failed_result(exc: BenchlabError) -> dict[str, Any]:
    """Return a worker's result for a repeat that `exc` failed: its message, and the cause its class
    says (benchlab.execute.failures), as the worker's JSON carries them."""
    return {"status": "failed", "error": str(exc), "cause": failure_cause(exc)}


class HostDevice:
    """This machine's CPU, running each variant in its format's host runtime (benchlab.execute.host_runtimes)."""

    thermal_limits = None  # a host has no thermal status to gate on; load average is recorded

    def __init__(self) -> None:
        self._energy_said = False  # "energy: not available" is said once per run
        self._running: set[subprocess.Popen] = set()
        self._running_lock = threading.Lock()
        self.info = DeviceInfo(
            id="host",
            platform="host",
            maker=platform.system(),
            model=platform.node() or "host",
            soc=_cpu_model(),
            os_version=platform.platform(),
            abi=platform.machine(),
            tier="host",
            transport="local",
        )

    def capabilities(self) -> Capabilities:
        """Return CPU for every format a host runtime runs (.tflite with or without XNNPACK, .pte, .pt2) and for
        every language-model format (LiteRT-LM's, ExecuTorch's: each names its engine)."""
        language_models = (fmt.name for fmt in registered_formats() if language_model(fmt.name) is not None)
        return HOST.capabilities(formats={*(runtime.name for runtime in registered()), *language_models},
                                 max_threads=os.cpu_count())

    def conditions(self) -> Conditions:
        """Return load average, whatever thermal zones this machine exposes, and the CPU clocks."""
        return Conditions(timestamp=time.time(), temperatures_c=_temperatures_c(), load_average=os.getloadavg()[0],
                          cpu_freq_mhz=_cpu_freq_mhz())

    def prepare(self, artifacts: Sequence[Path]) -> None:
        """Nothing to copy: the host reads artifacts where they are."""

    def abort(self) -> None:
        """Kill the worker in flight; its repeat returns as failed."""
        with self._running_lock:
            for process in self._running:
                process.kill()

    def close(self) -> None:
        """Nothing stays open between repeats."""

    def run(self, job: Job) -> Measurement:
        """Run every repeat of the job in a worker process and return one Measurement."""
        if job.scenario.energy and not self._energy_said:
            self._energy_said = True
            rapl = any(POWERCAP.glob("intel-rapl:*/energy_uj"))
            log.warning("host: energy: not available on this machine (%s)",
                        "RAPL package counters are there, but package energy is not a model's energy and "
                        "benchlab does not report it" if rapl else f"no RAPL energy counters under {POWERCAP}")
        started_at = now_iso()
        # A language model's engine names itself in its result (host_llm); every other format's runtime here.
        llm = language_model(job.variant.format)
        runner, runner_version = ((llm.engine, "") if llm is not None else
                                  (runtime_for(job.variant.format).runner, runtime_for(job.variant.format).version()))
        base = Measurement(
            job_id=job.job_id, run_id=job.run_id, suite=job.suite, variant=job.variant, device=self.info,
            accelerator=job.accelerator, status="ok", runner=runner, runner_version=runner_version,
            started_at=started_at, conditions_before=self.conditions(),
        )
        try:
            if llm is not None:  # a language model: one cell of the LLM matrix
                return replace(run_llm_repeat(job, base), conditions_after=self.conditions())
            return self._run_repeats(job, base)
        except OSError as exc:  # the worker's folder or request file: a full disk is the host's, not the model's
            if not is_disk_full(exc):
                raise
            raise DeviceError(f"disk full at {exc.filename or tempfile.gettempdir()}") from None

    def _run_repeats(self, job: Job, base: Measurement) -> Measurement:
        repeats: list[dict[str, Any]] = []
        outputs = None
        with owned_tempdir("benchlab-host") as workdir:  # swept by the next benchlab if this one is killed
            for repeat in range(job.scenario.repeats):
                outputs_path = workdir / "outputs.npz" if repeat == 0 and job.evaluate else None
                result = self._run_worker(job, workdir, outputs_path)
                if result["status"] != "ok":
                    return replace(base, status="failed", error=result["error"], finished_at=now_iso(),
                                   failure_cause=result.get("cause"), conditions_after=self.conditions())
                repeats.append(result)
                if outputs_path is not None and outputs_path.exists():
                    from benchlab.tensors import load_feeds

                    outputs = load_feeds(outputs_path)
        first = repeats[0]
        return replace(
            base,
            init_us=first["init_us"],
            first_us=first["first_us"],
            warmup_us=tuple(first["warmup_us"]),
            samples_us=tuple(tuple(r["samples_us"]) for r in repeats),
            memory_init_mb=round(first["memory_init_mb"], 3),
            peak_memory_mb=round(max(r["peak_memory_mb"] for r in repeats), 3),
            outputs=outputs,
            conditions_after=self.conditions(),
            finished_at=now_iso(),
        )

    def _run_worker(self, job: Job, workdir: Path, outputs_path: Path | None) -> dict[str, Any]:
        """Run one worker process; turn a crash, hang or refusal into {"status": "failed", ...}."""
        scenario = job.scenario
        request_path, result_path = workdir / "request.json", workdir / "result.json"
        result_path.unlink(missing_ok=True)
        request_path.write_text(json.dumps({
            "model_path": job.variant.path,
            "format": job.variant.format,
            "threads": job.accelerator.threads or 1,
            "xnnpack": job.accelerator.xnnpack is not False,
            "warmup": scenario.warmup,
            "iterations": scenario.iterations,
            "min_seconds": scenario.min_seconds,
            "max_seconds": scenario.max_seconds,
            "eval_inputs_path": job.eval_inputs_path,
            "outputs_path": str(outputs_path) if outputs_path else None,
            "result_path": str(result_path),
        }))
        process = subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE, str(request_path)], stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
            env={**os.environ, PARENT_PID.name: str(os.getpid())},
        )
        with self._running_lock:
            self._running.add(process)
        try:
            _, stderr = process.communicate(timeout=scenario.timeout_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return failed_result(RunnerError(f"timed out after {scenario.timeout_seconds:g} s"))
        finally:
            with self._running_lock:
                self._running.discard(process)
        if result_path.exists():
            return json.loads(result_path.read_text())
        if process.returncode < 0:
            name = signal.Signals(-process.returncode).name
            return failed_result(RunnerError(f"worker killed by {name}"))
        last = [line for line in stderr.splitlines() if line.strip()][-1:] or ["no output"]
        if process.returncode == EXIT_DISK_FULL:
            return failed_result(DeviceError(last[0][:300]))  # this machine's disk: the device's
        return failed_result(ModelError(f"worker exited with {process.returncode}: {last[0][:300]}"))
