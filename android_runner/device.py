"""An Android phone as a benchlab Device: identity from getprop, conditions from dumpsys, jobs run
by LiteRT's `benchmark_model` pushed to /data/local/tmp, evaluation outputs pulled back.

Every failure of a job (binary missing or crashing, delegate refusing the model, timeout, cable
pulled) becomes a Measurement with status and a one-line reason; only discovery raises.
"""

from __future__ import annotations

import logging
import shlex
import signal
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from android_runner import commands, dumpsys
from android_runner.benchmark_model import BenchmarkOutput, parse_output
from android_runner.cpuinfo import big_core_mask, parse_max_freq_khz
from android_runner.props import device_facts, parse_getprop
from android_runner.tools import runner_binary, sha256_file
from android_runner.transport import AdbTransport, DeviceTimeout
from benchlab.errors import DeviceError, DeviceLost
from benchlab.profiles import (
    DeviceProfile,
    derived_profile,
    load_profiles,
    match_profile,
)
from benchlab.records import (
    Capabilities,
    Conditions,
    DeviceInfo,
    Job,
    Measurement,
    now_iso,
)
from benchlab.tensors import dequantize, quantize

log = logging.getLogger(__name__)

RUNNER = "benchmark_model"
SHELL_TIMEOUT_S = 30.0
DELEGATE_FALLBACK = "delegate-fallback"


def _signal_name(exit_code: int) -> str | None:
    """Name the signal behind a shell exit code above 128 (SIGSEGV for 139), if any."""
    if exit_code > 128:
        try:
            return signal.Signals(exit_code - 128).name
        except ValueError:
            return None
    return None


class AndroidDevice:
    """A phone reached through an AdbTransport (direct adb-shell or an adb server)."""

    def __init__(self, transport: AdbTransport, transport_name: str,
                 profiles: Sequence[DeviceProfile] | None = None) -> None:
        self.transport = transport
        props = parse_getprop(self._shell("getprop").output)
        facts = device_facts(props)
        self.facts = facts
        max_freqs = self._max_freqs()
        profile = match_profile(profiles if profiles is not None else load_profiles(), "android",
                                facts.model, facts.soc)
        if profile is None:
            profile = derived_profile("android", facts.model, facts.soc,
                                      big_cores=big_core_mask(max_freqs) if max_freqs else None)
            log.warning("%s (%s) has no device profile: tier unknown, generic accelerators; add one "
                        "under device_profiles/android/", facts.model, transport.serial)
        self.profile = profile
        self.thermal_limits = profile.thermal
        self.cpu_mask = profile.big_cores or (big_core_mask(max_freqs, min_cores=2) if max_freqs else None)
        release = f"Android {facts.android_release}" if facts.android_release else "Android"
        self.info = DeviceInfo(
            id=transport.serial, platform="android", maker=facts.manufacturer, model=facts.model,
            soc=facts.soc, os_version=f"{release} (SDK {facts.sdk}, {facts.build_fingerprint or 'build ?'})",
            abi=facts.abi, tier=profile.tier, transport=transport_name, profile=profile.name,
        )
        self._pushed: dict[str, str] = {}  # remote path -> sha256 known to be on the phone
        self._supports_output_file: bool | None = None

    # --- Device protocol ---------------------------------------------------------------------

    def capabilities(self) -> Capabilities:
        """Return the accelerator kinds the profile lists (CPU always) for .tflite variants."""
        kinds = {"cpu"} | {a.kind for a in self.profile.accelerators}
        return Capabilities(kinds=frozenset(kinds), formats=frozenset({"tflite"}))

    def conditions(self) -> Conditions:
        """Return thermal status, temperatures and battery from dumpsys."""
        thermal = dumpsys.parse_thermal(self._shell("dumpsys thermalservice").output)
        battery = dumpsys.parse_battery(self._shell("dumpsys battery").output)
        return Conditions(timestamp=time.time(), thermal_status=thermal.status,
                          temperatures_c=dict(thermal.temperatures_c), battery_level=battery.level,
                          battery_temperature_c=battery.temperature_c, charging=battery.charging)

    def prepare(self, artifacts: Sequence[Path]) -> None:
        """Push the runner and each artifact unless the phone already has the same bytes."""
        binary = runner_binary(self.facts.abi)
        self._ensure(binary, self._remote("benchmark_model"), executable=True)
        for artifact in artifacts:
            self._ensure(artifact, self._remote(artifact.name))

    def run(self, job: Job) -> Measurement:
        """Run each repeat of the job with benchmark_model, then the evaluation set; never raises."""
        base = Measurement(
            job_id=job.job_id, run_id=job.run_id, suite=job.suite, variant=job.variant, device=self.info,
            accelerator=job.accelerator, status="ok", runner=RUNNER, started_at=now_iso(),
        )
        try:
            binary = runner_binary(self.facts.abi)
            base = replace(base, runner_version=sha256_file(binary), conditions_before=self.conditions())
            model_remote = self._remote(Path(job.variant.path).name)
            binary_remote = self._remote("benchmark_model")
            measurement = self._benchmark(job, base, binary_remote, model_remote)
            if measurement.status == "ok" and job.eval_inputs_path:
                measurement = self._evaluate(job, measurement, binary_remote, model_remote)
            return replace(measurement, conditions_after=self.conditions(), finished_at=now_iso())
        except DeviceLost:
            raise  # the executor quarantines the phone for the rest of the run
        except DeviceError as exc:
            return replace(base, status="failed", error=str(exc), finished_at=now_iso())

    def close(self) -> None:
        """Close the ADB connection; the device is not used afterwards."""
        self.transport.close()

    # --- benchmark and evaluation ------------------------------------------------------------

    def _benchmark(self, job: Job, base: Measurement, binary: str, model: str) -> Measurement:
        command = commands.benchmark_command(binary, model, job.accelerator, job.scenario,
                                             self.cpu_mask if job.accelerator.kind == "cpu" else None)
        outputs: list[BenchmarkOutput] = []
        texts: list[str] = []
        for _ in range(job.scenario.repeats):
            try:
                result = self._shell(f"{command} 2>&1", timeout_s=job.scenario.timeout_seconds)
            except DeviceTimeout as exc:
                # A hung run must not heat the next job. "[b]" keeps pkill from matching its own shell.
                self._shell("pkill -f '[b]enchlab/benchmark_model'")
                return replace(base, status="failed", runner_output="\n".join(texts),
                               error=f"{exc} (benchmark_model killed)")
            texts.append(result.output)
            parsed = parse_output(result.output)
            if result.exit_code != 0 or parsed.status != "ok":
                return replace(base, status="failed", runner_output="\n".join(texts),
                               error=self._failure(result.exit_code, parsed))
            outputs.append(parsed)
        first = outputs[0]
        stats = tuple({"count": o.count, "avg_us": o.avg_us, "median_us": o.median_us, "min_us": o.min_us,
                       "max_us": o.max_us, "std_us": o.std_us, "p5_us": o.p5_us, "p95_us": o.p95_us}
                      for o in outputs)
        delegated = next((d for d in first.delegates if d.name.lower() not in ("xnnpack",)), None)
        flags: tuple[str, ...] = ()
        if job.accelerator.kind != "cpu" and first.delegate_applied != "yes":
            flags = (DELEGATE_FALLBACK,)
        return replace(
            base, runner_output="\n".join(texts), runner_stats=stats, init_us=first.init_us,
            first_us=first.first_us, warmup_us=(first.warmup_avg_us,) if first.warmup_avg_us else (),
            samples_us=tuple(o.samples_us for o in outputs if o.samples_us),
            memory_init_mb=first.mem_init_mb, peak_memory_mb=first.peak_mb or first.mem_overall_mb,
            delegate_applied=first.delegate_applied,
            delegated_nodes=delegated.delegated_nodes if delegated else None,
            total_nodes=delegated.total_nodes if delegated else None, flags=flags,
        )

    @staticmethod
    def _failure(exit_code: int, parsed: BenchmarkOutput) -> str:
        crashed = _signal_name(exit_code)
        if crashed:
            return f"benchmark_model crashed ({crashed})" + (f": {parsed.error}" if parsed.error else "")
        return parsed.error or f"benchmark_model exited with {exit_code}"

    def _evaluate(self, job: Job, m: Measurement, binary: str, model: str) -> Measurement:
        if not self._output_file_supported(binary):
            return replace(m, accuracy_note="accuracy not measured: this benchmark_model has no "
                                            "--output_filepath flag (use a 2023 or newer build)")
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=job.variant.path)
        input_detail = interpreter.get_input_details()[0]
        output_detail = interpreter.get_output_details()[0]
        shape = [int(d) for d in input_detail["shape"]]
        samples = np.load(job.eval_inputs_path)
        quantized = np.stack([quantize(np.reshape(s, shape), input_detail) for s in samples])
        workdir = f"{commands.DEVICE_DIR}/eval/{job.job_id}"
        with tempfile.TemporaryDirectory(prefix="benchlab-eval-") as tmp:
            inputs_file = Path(tmp) / "inputs.bin"
            inputs_file.write_bytes(quantized.tobytes())
            self._shell(f"mkdir -p {shlex.quote(workdir)}")
            self.transport.push(inputs_file, f"{workdir}/inputs.bin", timeout_s=job.scenario.timeout_seconds)
            loop = commands.eval_loop_command(
                binary, model, job.accelerator, workdir, shape, quantized[0].nbytes, len(samples), self.cpu_mask if job.accelerator.kind == "cpu" else None)
            result = self._shell(loop, timeout_s=job.scenario.timeout_seconds * 10)
            if result.exit_code != 0 or "BENCHLAB_EVAL_DONE" not in result.output:
                reason = result.output.strip().splitlines()[-1:] or ["no output"]
                return replace(m, accuracy_note=f"accuracy not measured: evaluation run failed: {reason[0][:200]}")
            outputs_file = Path(tmp) / "outputs.bin"
            self.transport.pull(f"{workdir}/outputs.bin", outputs_file, timeout_s=job.scenario.timeout_seconds)
            self._shell(f"rm -rf {shlex.quote(workdir)}")
            raw = np.frombuffer(outputs_file.read_bytes(), dtype=output_detail["dtype"])
        per_sample = int(np.prod(output_detail["shape"]))
        if raw.size != per_sample * len(samples):
            return replace(m, accuracy_note=f"accuracy not measured: {raw.size} output values for "
                                            f"{len(samples)} samples of {per_sample}")
        outputs = dequantize(raw.reshape(len(samples), per_sample), output_detail)
        return replace(m, outputs=outputs)

    def _output_file_supported(self, binary: str) -> bool:
        if self._supports_output_file is None:
            help_text = self._shell(f"{shlex.quote(binary)} --help 2>&1", timeout_s=SHELL_TIMEOUT_S).output
            self._supports_output_file = "output_filepath" in help_text
        return self._supports_output_file

    # --- helpers ---------------------------------------------------------------------------

    def _shell(self, command: str, timeout_s: float = SHELL_TIMEOUT_S) -> Any:
        return self.transport.shell(command, timeout_s=timeout_s)

    def _max_freqs(self) -> dict[int, int]:
        listing = self._shell("for f in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq; "
                              "do echo \"$f $(cat $f)\"; done").output
        freqs: dict[int, int] = {}
        for line in listing.splitlines():
            path, _, value = line.partition(" ")
            core = path.split("/cpu/cpu")[-1].split("/")[0]
            khz = parse_max_freq_khz(value)
            if core.isdigit() and khz:
                freqs[int(core)] = khz
        return freqs

    @staticmethod
    def _remote(name: str) -> str:
        return f"{commands.DEVICE_DIR}/{name}"

    def _ensure(self, local: Path, remote: str, executable: bool = False) -> None:
        """Push `local` to `remote` unless the phone's copy has the same sha256."""
        local_sha = sha256_file(local) if local.is_file() else None
        if local_sha is None:
            raise DeviceError(f"{local} is not a file (only .tflite files run on Android)")
        if self._pushed.get(remote) == local_sha:
            return
        on_device = self._shell(f"sha256sum {shlex.quote(remote)} 2>/dev/null").output.split()
        if not on_device or on_device[0] != local_sha:
            self._shell(f"mkdir -p {shlex.quote(commands.DEVICE_DIR)}")
            self.transport.push(local, remote, timeout_s=max(60.0, local.stat().st_size / 1e6))
            if executable:
                self._shell(f"chmod 755 {shlex.quote(remote)}")
        self._pushed[remote] = local_sha
