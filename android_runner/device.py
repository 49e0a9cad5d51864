"""An Android phone as a benchlab Device: identity from getprop, conditions from dumpsys, jobs run
by LiteRT's `benchmark_model` pushed to /data/local/tmp, evaluation outputs pulled back. Every
timed run feeds the first sample of the job's evaluation inputs to every model input (by tensor
name, dynamic dimensions resized to the data's), as the host runner does, instead of the tool's
random values, which can be out of range (token ids past a vocabulary) or of the wrong size (a
dynamic image left at 1x1); each input's sample is pushed once per phone and content hash. A second
run on the same phone never pulls a live run's files: what no run has used for a day (models,
samples, evaluation folders, partial pushes) is swept at a run's first prepare (IDLE_MIN says why
by idle time). The first repeat of a job also runs a short op-profiling pass
(``--enable_op_profiling``) that records where each op ran; with
``scenario.require_full_delegation`` a delegate that left ops to the CPU fails the job. A job
planned in run mode "app" (``scenario.run_mode``, one of the run modes android_runner.platform
declares; a suite asks for it with ``scenario.android_mode``) runs its timed repeats through LiteRT's
benchmark APK as a foreground Activity instead (apk_runner; installed once per phone and APK hash);
its evaluation and op profile still use the binary.

Every failure of a job (binary missing or crashing, delegate refusing the model, timeout) becomes
a Measurement with status and a one-line reason. A failed evaluation keeps the latency already
measured (the row stays ok, flagged ``eval-failed`` with the reason in ``accuracy_note``). A
phone that drops off (reboot, replug) is waited for up to ``REBOOT_WAIT_S`` and the job retried
once it is back; only a phone that stays gone raises DeviceLost, which quarantines it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import shlex
import signal
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from android_runner import apk_runner, commands, dumpsys, llama_jobs, power_rails, pte_jobs
from android_runner.benchmark_model import (
    NO_SUMMARY_ERROR,
    BenchmarkOutput,
    op_placement,
    parse_op_profile,
    parse_output,
)
from android_runner.cpuinfo import big_core_mask, parse_max_freq_khz
from android_runner.props import device_facts, parse_getprop
from android_runner import litert_lm
from android_runner.platform import ANDROID, APP_MODE
from android_runner.tools import APK_NAME, benchmark_apk, litert_lm_binary, runner_binary, sha256_file
from android_runner.transport import AdbTransport, DeviceDisconnected, DeviceTimeout, PushRefused
from benchlab.settings import ANDROID_REBOOT_WAIT, ENERGY_IDLE_WINDOW, read
from benchlab.errors import DeviceError, DeviceLost, RunnerError, SuiteError
from benchlab.metrics.energy import IDLE_KEY, RAIL_PREFIX, SOURCE_KEY, SOURCES
from benchlab.execute.failures import failure_cause
from benchlab.llm_bench import llm_metric_values
from benchlab.plan.profile_match import derived_profile, match_profile
from benchlab.plan.profiles import DeviceProfile, load_profiles
from benchlab.records import (
    Capabilities,
    Conditions,
    DeviceInfo,
    FailureCause,
    Job,
    Measurement,
    full_delegation_failure,
    now_iso,
)
from benchlab.tensors import (
    Feeds,
    ModelIO,
    TensorInfo,
    describe_interpreter,
    from_tensor,
    load_feeds,
    match_names,
    to_tensor,
)

log = logging.getLogger(__name__)

RUNNER = "benchmark_model"
#: The language-model format phones run, with LiteRT-LM's litert_lm_main (android_runner.litert_lm).
LITERTLM = "litertlm"
#: ExecuTorch's language-model bundle (a folder: model.pte + tokenizer), run by llama_main (android_runner.llama_jobs).
ETLM = "etlm"
#: The runner of jobs whose timed repeats ran through LiteRT's benchmark APK (run mode APP_MODE).
APP_RUNNER = "benchmark-apk"
#: pm install copies and verifies the APK (tens of MB): allow it more than a plain command.
INSTALL_TIMEOUT_S = 120.0
SHELL_TIMEOUT_S = 30.0
DELEGATE_FALLBACK = "delegate-fallback"
THERMAL_SCALE = "android-thermal-status"
#: PowerManager.THERMAL_STATUS_* (developer.android.com/reference/android/os/PowerManager) onto
#: benchlab.records.THERMAL_LEVELS (Apple's ProcessInfo.ThermalState names): NONE "not under
#: throttling" -> nominal; LIGHT "light throttling where UX is not impacted" -> fair; MODERATE and
#: SEVERE (throttling that reduces performance) -> serious; CRITICAL, EMERGENCY, SHUTDOWN -> critical.
_THERMAL_LEVEL = (0, 1, 2, 2, 3, 3, 3)
#: The latency was measured but the evaluation run failed; the reason is in accuracy_note.
EVAL_FAILED = "eval-failed"
#: The model or delegate refused a batched evaluation: each sample ran in its own process.
EVAL_PER_SAMPLE = "eval-per-sample"
#: The phone had dropped off (before or during the job); the job ran (again) once it was back.
RECONNECTED = "reconnected"
#: Samples per benchmark_model process in the evaluation (the input's batch dimension resized).
EVAL_BATCH = 64
#: How long a phone that dropped off (rebooting: adbd comes back after 20-90 s on real phones)
#: is waited for before it counts as lost; $BENCHLAB_ANDROID_REBOOT_WAIT_S overrides it.
REBOOT_WAIT_S = 180.0
RECONNECT_POLL_S = 1.0
#: Pushes land under `<name>.<session>` + this suffix and are renamed into place once complete.
PARTIAL_SUFFIX = ".part"
#: Timed-input sample files are `DEVICE_DIR/sample-<sha256[:16]>.bin`, named by their bytes.
SAMPLE_PREFIX = "sample-"
SAMPLE_SUFFIX = ".bin"
#: Model files are `DEVICE_DIR/<variant file name>` (only .tflite runs on Android).
MODEL_SUFFIX = ".tflite"
#: An ExecuTorch program's suffix: run by executor_runner (android_runner.pte_jobs).
PTE_SUFFIX = ".pte"
#: A job's evaluation folder is `EVAL_DIR/<session>-<job id>`.
EVAL_DIR = f"{commands.DEVICE_DIR}/eval"
#: What benchlab leaves on a phone and no session has used for this long is removed at a session's
#: first prepare: model files, sample files, partial pushes and evaluation folders. The runner
#: binary and the benchmark APK's copy are never swept: each is one file under a fixed name,
#: replaced in place when its bytes change, so they do not pile up, and every session needs them
#: (re-pushing benchmark_model's megabytes at every run would only cost time).
#:
#: Why by idle time on the phone's clock, and not removed when a session ends, nor all swept when
#: one starts, nor by asking whether the session that made them is alive: a device farm or two lab
#: engineers may run two sessions on one phone, from two hosts, and a phone cannot see a host's
#: processes; a run that is killed never reaches its end to say it is gone; and a model or sample
#: file is shared by every session whose variant or data has those bytes under that name, so no
#: session can know that nobody else still needs it. What a live session uses stays fresh instead:
#: before every job it touches every model and sample file it has used (and pushes again any it
#: finds gone), each push is touched once in place (whatever mtime the host's clock gave it), and
#: an evaluation touches its folder before every runner process it starts, each killed after the
#: scenario's timeout. So nothing a live session uses is a day idle, unless a job takes a day, and
#: whatever no session touched for a day (an interrupted or long-finished run, an old build's
#: model) goes at the next session's first prepare; a resumed run, or one that ran nothing on the
#: phone for a day, pushes again what it finds gone. The one window left: a file a session left
#: idle for a day that another session's sweep has already judged idle when the first touches it
#: again may still go just after the first saw it there; that job fails and the next pushes it.
IDLE_MIN = 24 * 60

_T = TypeVar("_T")


def reboot_wait_s() -> float:
    """Return how long to wait for a phone that dropped off: $BENCHLAB_ANDROID_REBOOT_WAIT_S or 180 s."""
    return float(read(ANDROID_REBOOT_WAIT) or REBOOT_WAIT_S)


def free_mb_from_df(text: str) -> int | None:
    """Return the "Available" column of the last line of `df -k` output in MB, or None."""
    lines = [line.split() for line in text.strip().splitlines()]
    if len(lines) < 2 or len(lines[-1]) < 4 or not lines[-1][3].isdigit():
        return None
    return int(lines[-1][3]) // 1024


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
        # (variant path, evaluation inputs path) -> sample 0 of every input, fitted to the variant,
        # with its raw bytes: worked out once, fed to every timed repeat of the variant.
        self._first_samples: dict[tuple[str, str], tuple[tuple[commands.EvalInput, bytes], ...]] = {}
        self._supports_output_file: bool | None = None
        self._installed_apk: str | None = None  # sha256 of the benchmark APK known to be installed
        self._swept = False  # leftovers of earlier runs removed from the phone
        self._in_use: set[str] = set()  # model and sample files this session uses (touched before every job)
        #: Names what this session alone writes on the phone (its evaluation folders and partial
        #: pushes), so two sessions on one phone never share a folder, and a session sweeps its own
        #: leftovers after a reconnect without waiting a day (it runs one job at a time).
        self.session = secrets.token_hex(4)
        #: The phone's power rails and idle power, looked for at the first job with energy on.
        self._rail_meter: power_rails.RailMeter | None = None
        self._rails_looked = False

    # --- Device protocol ---------------------------------------------------------------------

    def capabilities(self) -> Capabilities:
        """Return the accelerator kinds the profile lists (CPU always) for .tflite variants, measured
        from adb shell or through the benchmark APK, and CPU for ExecuTorch .pte variants (executor_runner) and
        language models (litert_lm_main), both from adb shell only."""
        return ANDROID.capabilities(kinds={"cpu"} | {a.kind for a in self.profile.accelerators})

    def conditions(self) -> Conditions:
        """Return thermal status, temperatures and battery from dumpsys (both in one shell command)."""
        thermal_text, battery_text = dumpsys.split_conditions(self._shell(dumpsys.CONDITIONS_COMMAND).output)
        thermal, battery = dumpsys.parse_thermal(thermal_text), dumpsys.parse_battery(battery_text)
        level = _THERMAL_LEVEL[thermal.status] if thermal.status in range(len(_THERMAL_LEVEL)) else None
        return Conditions(timestamp=time.time(), thermal_status=thermal.status,
                          temperatures_c=dict(thermal.temperatures_c), battery_level=battery.level,
                          battery_temperature_c=battery.temperature_c, charging=battery.charging,
                          thermal_scale=THERMAL_SCALE if thermal.status is not None else None,
                          thermal_level=level)

    def prepare(self, artifacts: Sequence[Path]) -> None:
        """Push the runner and each artifact unless the phone already has the same bytes.

        Raises DeviceError (a full phone says how much space is left; the phone stays usable)
        and DeviceLost when the phone dropped off and did not come back within reboot_wait_s().
        """
        self._reconnecting(lambda: self._prepare(artifacts))

    def run(self, job: Job) -> Measurement:
        """Run each repeat of the job with benchmark_model, then the evaluation set.

        A phone that drops off mid-job is waited for and the job run again once (flagged
        ``reconnected``). Raises DeviceLost only when the phone stays gone.
        """
        attempts: list[int] = []

        def attempt() -> Measurement:
            if attempts:  # the phone rebooted: its files may be gone, push what is missing
                self._prepare([Path(job.variant.path)])
            attempts.append(1)
            return self._run_once(job)

        measurement = self._reconnecting(attempt)
        return replace(measurement, flags=(*measurement.flags, RECONNECTED)) if len(attempts) > 1 else measurement

    def _run_once(self, job: Job) -> Measurement:
        if job.variant.format == LITERTLM:
            return self._llm_repeat(job)
        if job.variant.format == "pte":
            return pte_jobs.run(self, job)
        if job.variant.format == ETLM:
            return llama_jobs.run(self, job)
        base = Measurement(
            job_id=job.job_id, run_id=job.run_id, suite=job.suite, variant=job.variant, device=self.info,
            accelerator=job.accelerator, status="ok", started_at=now_iso(),
            runner=APP_RUNNER if job.scenario.run_mode == APP_MODE else RUNNER,
        )
        model_remote = self._model_remote(Path(job.variant.path))
        binary_remote = self._remote("benchmark_model")
        try:
            binary = runner_binary(self.facts.abi)
            base = replace(base, runner_version=sha256_file(binary), conditions_before=self.conditions())
            self._keep_fresh()
            self._use(Path(job.variant.path), model_remote)  # pushed again if another session swept it
            inputs = self._timed_inputs(job)
            measurement = self._benchmark(job, base, binary_remote, model_remote, inputs)
        except DeviceLost:
            raise  # run() waits for the phone, or the executor quarantines it
        except (DeviceError, RunnerError, SuiteError) as exc:  # SuiteError: the data does not fit the variant's inputs
            return replace(base, status="failed", error=str(exc), failure_cause=failure_cause(exc), finished_at=now_iso())
        if measurement.status == "ok" and job.repeat == 0 and job.scenario.op_profile_runs > 0:
            measurement = self._profile_ops(job, measurement, binary_remote, model_remote, inputs)
        if job.scenario.require_full_delegation:
            measurement = full_delegation_failure(measurement)
        if measurement.status == "ok" and job.evaluate and job.eval_inputs_path:
            try:
                measurement = self._evaluate(job, measurement, binary_remote, model_remote)
            except DeviceError as exc:  # also a cable pulled mid-evaluation: the latency stays
                measurement = replace(measurement, accuracy_note=f"accuracy not measured: evaluation failed: {exc}",
                                      flags=(*measurement.flags, EVAL_FAILED))
        try:
            after = self.conditions()
        except DeviceError as exc:  # a phone gone now fails the next job; this one is measured
            log.warning("%s: conditions after the job not read: %s", self.info.id, exc)
            after = None
        return replace(measurement, conditions_after=after, finished_at=now_iso())

    def _llm_repeat(self, job: Job) -> Measurement:
        """One repeat of a language model's cell with LiteRT-LM's litert_lm_main from adb shell
        (android_runner.litert_lm): its printed TTFT, prefill and decode figures and peak memory, the
        token counts checked against the cell. `warm` runs the cell once untimed first with the same
        cache folder; `cold` empties it first."""
        llm = job.scenario.llm
        base = Measurement(job_id=job.job_id, run_id=job.run_id, suite=job.suite, variant=job.variant,
                           device=self.info, accelerator=job.accelerator, status="ok", started_at=now_iso(),
                           runner=litert_lm.BINARY_NAME, flags=(f"llm-cache-{llm.cache}",))
        model_remote = self._model_remote(Path(job.variant.path))
        binary_remote = self._remote(litert_lm.BINARY_NAME)
        cache = shlex.quote(f"{commands.DEVICE_DIR}/litert-lm-cache-{self.session}")
        kill = f"pkill -9 -f {shlex.quote('[-]-model_path=' + model_remote)}; true"
        try:
            binary = litert_lm_binary(self.facts.abi)
            base = replace(base, runner_version=sha256_file(binary), conditions_before=self.conditions())
            self._ensure(binary, binary_remote, executable=True)
            self._keep_fresh()
            self._use(Path(job.variant.path), model_remote)
            command = litert_lm.benchmark_command(binary_remote, model_remote, job, cache.strip("'"))
            self._shell(f"rm -rf {cache}; mkdir -p {cache}")
            if llm.cache == "warm":
                self._shell(f"{command} >/dev/null 2>&1", timeout_s=job.scenario.timeout_seconds)
            result = self._shell(f"{command} 2>&1", timeout_s=job.scenario.timeout_seconds)
        except DeviceTimeout as exc:
            self._shell(kill)  # a hung run must not heat the next job
            return replace(base, status="failed", error=f"{exc} (litert_lm_main killed)",
                           failure_cause=failure_cause(exc), finished_at=now_iso())
        except DeviceLost:
            raise  # run() waits for the phone, or the executor quarantines it
        except (DeviceError, RunnerError) as exc:  # RunnerError: ToolMissing, no litert_lm_main here
            return replace(base, status="failed", error=str(exc), failure_cause=failure_cause(exc),
                           finished_at=now_iso())
        parsed = litert_lm.parse_output(result.output)
        error = None
        if result.exit_code != 0 or parsed is None:
            last = [line for line in result.output.splitlines() if line.strip()][-1:] or ["no output"]
            error = f"litert_lm_main exited with {result.exit_code}: {last[0][:300]}"
        elif (parsed.prefill_tokens, parsed.decode_tokens) != (llm.cell.prefill, llm.cell.decode):
            error = (f"litert_lm_main ran {parsed.prefill_tokens} prefill and {parsed.decode_tokens} decode tokens, "
                     f"not the {llm.cell.prefill} and {llm.cell.decode} asked for")
        if error is not None or parsed is None:
            return replace(base, status="failed", error=error, runner_output=result.output, finished_at=now_iso())
        values = llm_metric_values(parsed.prefill_tps, parsed.decode_tps, parsed.ttft_s, parsed.prefill_tokens,
                                   parsed.decode_tokens)
        return replace(base, runner_output=result.output, peak_memory_mb=parsed.peak_mb, metric_values=values,
                       conditions_after=self.conditions(), finished_at=now_iso())

    # --- a phone that drops off ---------------------------------------------------------------

    def _reconnecting(self, action: Callable[[], _T]) -> _T:
        """Run `action`; if the phone drops off, wait for it and run `action` once more."""
        try:
            return action()
        except DeviceDisconnected as exc:
            self._await_return(str(exc))
            return action()

    def _await_return(self, reason: str) -> None:
        """Reconnect to a phone that dropped off, polling until it has booted again.

        Raises DeviceLost when it is not back within reboot_wait_s().
        """
        wait_s = reboot_wait_s()
        log.warning("%s dropped off (%s); waiting up to %g s for it to come back", self.info.id, reason, wait_s)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self.transport.reconnect()
                # adbd answers before Android has finished booting; benchmarks wait for the boot.
                if self._shell("getprop sys.boot_completed").output.strip() == "1":
                    self._pushed.clear()  # a reboot may have cleared /data/local/tmp
                    self._swept = False  # what the interrupted job left goes at the next prepare
                    log.warning("%s is back", self.info.id)
                    return
            except DeviceError as exc:
                reason = str(exc)
            if time.monotonic() >= deadline:
                raise DeviceLost(f"{reason} (not back within {wait_s:g} s)")
            time.sleep(RECONNECT_POLL_S)

    # --- benchmark and evaluation ------------------------------------------------------------

    def _timed_inputs(self, job: Job) -> tuple[commands.SampleFile, ...]:
        """Return sample 0 of every model input as a file on the phone, for the timed runs and the
        op profile to feed (as the host runner times the first evaluation sample); () when the job
        has no evaluation inputs (the tool then makes up random values).

        The sample is fitted to the variant as the evaluation fits it (`_fit_inputs`: by name,
        checked, `to_tensor`) once per variant and inputs file, and pushed once per phone per
        content hash (the file is named by it) and kept fresh while this session runs (IDLE_MIN).
        Raises SuiteError naming the input when the data does not fit the variant, DeviceError
        when a push fails.
        """
        if not job.eval_inputs_path:
            return ()
        key = (job.variant.path, job.eval_inputs_path)
        if key not in self._first_samples:
            _, io, tensors = _fit_inputs(job.variant.path, job.eval_inputs_path)
            self._first_samples[key] = tuple((spec, values[:1].tobytes())
                                             for spec, values in zip(_input_specs(io, tensors), tensors))
        files = []
        with tempfile.TemporaryDirectory(prefix="benchlab-sample-") as tmp:
            for spec, raw in self._first_samples[key]:
                local = Path(tmp) / f"{SAMPLE_PREFIX}{hashlib.sha256(raw).hexdigest()[:16]}{SAMPLE_SUFFIX}"
                local.write_bytes(raw)
                remote = self._remote(local.name)
                self._use(local, remote)  # skipped when the phone has these bytes there
                files.append(commands.SampleFile(spec, remote))
        return tuple(files)

    def _benchmark(self, job: Job, base: Measurement, binary: str, model: str,
                   inputs: Sequence[commands.SampleFile]) -> Measurement:
        """Run the job's timed repeats with the shell binary, or through the benchmark APK for
        run mode APP_MODE, every run feeding `inputs` (`_timed_inputs`); return `base` with their
        numbers, or failed with the first failing repeat's reason. An APK not fetched (ToolMissing)
        or refused by pm (RunnerError) fails the job with cause "harness", so `--resume` runs it once
        the APK is there."""
        run_repeat = self._shell_repeat
        if job.scenario.run_mode == APP_MODE:
            try:
                apk = benchmark_apk(self.facts.abi)
                base = replace(base, runner_version=sha256_file(apk))
                self._install_apk(apk)
            except DeviceLost:
                raise  # run() waits for the phone, or the executor quarantines it
            except (DeviceError, RunnerError) as exc:
                return replace(base, status="failed", error=str(exc), failure_cause=failure_cause(exc))
            run_repeat = self._app_repeat
        outputs: list[BenchmarkOutput] = []
        texts: list[str] = []
        meter = self._energy_meter() if job.scenario.energy else None
        before = meter.read(self._shell_text) if meter else None
        for _ in range(job.scenario.repeats):
            repeat = run_repeat(job, binary, model, inputs)
            if repeat.text is not None:
                texts.append(repeat.text)
            if repeat.output is None:
                return replace(base, status="failed", runner_output="\n".join(texts), error=repeat.error,
                               failure_cause=repeat.cause)
            outputs.append(repeat.output)
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
            metric_values=self._energy_values(meter, before, outputs) if meter and before else {},
        )

    def _shell_text(self, command: str) -> str:
        return self._shell(command).output

    def _energy_meter(self) -> power_rails.RailMeter | None:
        """Return the phone's power rails with its idle power (measured once, in a window of
        BENCHLAB_ENERGY_IDLE_S, by default power_rails.IDLE_WINDOW_S, before the first job with energy
        on), None when it has none: then "energy: not available on this phone" is logged once for the run."""
        if not self._rails_looked:
            self._rails_looked = True
            idle_s = float(read(ENERGY_IDLE_WINDOW) or power_rails.IDLE_WINDOW_S)
            try:
                self._rail_meter = power_rails.RailMeter.find(self._shell_text, idle_s=idle_s)
            except ValueError as exc:
                log.warning("%s: energy: not available on this phone: its power rails did not give an idle "
                            "power (%s)", self.info.id, exc)
            else:
                if self._rail_meter is None:
                    log.warning("%s: energy: not available on this phone (no power rails: neither the ODPM "
                                "energy_value files nor a powerstats HAL answered)", self.info.id)
        return self._rail_meter

    def _energy_values(self, meter: power_rails.RailMeter, before: power_rails.RailReading,
                       outputs: Sequence[BenchmarkOutput]) -> dict[str, float]:
        """Return the repeat's energy for Measurement.metric_values (benchlab.metrics.energy): mJ per
        inference in total and per rail, idle power subtracted, over every inference the runner ran
        (warmup and timed: all of them drew power between the readings); {} when the rails were not
        readable after the repeat (logged)."""
        after = meter.read(self._shell_text)
        inferences = sum((o.count or 0) + (o.warmup_count or 0) for o in outputs)
        try:
            if after is None:
                raise ValueError("the rails did not answer after the repeat")
            rails = meter.per_inference(before, after, inferences)
        except ValueError as exc:
            log.warning("%s: energy of this repeat not measured: %s", self.info.id, exc)
            return {}
        return {"energy": sum(rails.values()), **{f"{RAIL_PREFIX}{rail}": value for rail, value in rails.items()},
                IDLE_KEY: sum(meter.idle_mw.values()), SOURCE_KEY: float(SOURCES.index(meter.reader.name))}

    def _shell_repeat(self, job: Job, binary: str, model: str, inputs: Sequence[commands.SampleFile]) -> _Repeat:
        """One timed repeat: benchmark_model started from adb shell, pinned to the big cores on CPU."""
        command = commands.benchmark_command(binary, model, job.accelerator, job.scenario,
                                             self.cpu_mask if job.accelerator.kind == "cpu" else None,
                                             marker=job.job_id, inputs=inputs)
        try:
            result = self._shell(f"{command} 2>&1", timeout_s=job.scenario.timeout_seconds)
        except DeviceTimeout as exc:
            self._kill(job)  # a hung run must not heat the next job
            return _Repeat.failed(None, exc, "benchmark_model killed")
        parsed = parse_output(result.output)
        if result.exit_code != 0 or parsed.status != "ok":
            return _Repeat(result.output, None, self._failure(result.exit_code, parsed))
        return _Repeat(result.output, parsed)

    def _app_repeat(self, job: Job, binary: str, model: str, inputs: Sequence[commands.SampleFile]) -> _Repeat:
        """One timed repeat through the benchmark APK as a foreground Activity (apk_runner), its
        logcat lines kept as the runner output; `binary` is not used (the app has the tool built in)."""
        try:
            run = apk_runner.run_once(self.transport, model, job.accelerator, job.scenario, inputs=inputs)
        except RunnerError as exc:  # am refused the Activity, or the flags cannot pass through the app
            return _Repeat.failed(None, exc)
        if run.ended == "timeout":  # the app was force-stopped, so it does not heat the next job
            # A hang of the phone's, as the shell binary's (its DeviceTimeout): `--resume` runs it again.
            return _Repeat.failed(run.logcat, DeviceTimeout(run.output.error or "the benchmark APK timed out"),
                                  "app force-stopped")
        if run.output.status != "ok":
            error = run.output.error or "the benchmark APK logged no result"
            return _Repeat(run.logcat, None, f"benchmark APK crashed: {error}" if run.ended == "crashed" else error)
        return _Repeat(run.logcat, run.output)

    def _install_apk(self, apk: Path) -> None:
        """Install the benchmark APK (push, then ``pm install``) unless the phone has these very
        bytes installed; looked at once per phone and APK hash. Raises RunnerError with pm's reason
        (benchlab could not install its runner: cause "harness"), DeviceError when the push fails."""
        sha = sha256_file(apk)
        if self._installed_apk == sha:
            return
        installed = apk_runner.installed_apk(self._shell(apk_runner.CHECK_INSTALLED).output)
        on_phone = self._shell(f"sha256sum {shlex.quote(installed)} 2>/dev/null").output.split() if installed else []
        if on_phone[:1] != [sha]:
            remote = self._remote(APK_NAME)
            self._ensure(apk, remote)
            result = self._shell(apk_runner.install_command(remote), timeout_s=INSTALL_TIMEOUT_S)
            failure = apk_runner.install_failure(result.output, result.exit_code)
            if failure is not None:
                raise RunnerError(f"{self.info.id}: pm install refused the benchmark APK: {failure}")
        self._installed_apk = sha

    def _profile_ops(self, job: Job, m: Measurement, binary: str, model: str,
                     inputs: Sequence[commands.SampleFile]) -> Measurement:
        """Run the op-profiling pass on the timed runs' `inputs` and return `m` with where each op
        ran and the accelerator's share of the time. Its times are never latency; a pass that fails
        leaves the measurement as it was, with the reason in ``op_profile_note``."""
        command = commands.op_profile_command(binary, model, job.accelerator, job.scenario.op_profile_runs,
                                              self.cpu_mask if job.accelerator.kind == "cpu" else None,
                                              marker=job.job_id, inputs=inputs)
        try:
            result = self._shell(f"{command} 2>&1", timeout_s=job.scenario.timeout_seconds)
        except DeviceTimeout as exc:
            self._kill(job)  # a hung pass must not heat the evaluation or the next job
            return replace(m, op_profile_note=f"op profile not recorded: {exc} (benchmark_model killed)")
        except DeviceError as exc:  # also a cable pulled: the latency already measured stays
            return replace(m, op_profile_note=f"op profile not recorded: {exc}")
        if result.exit_code != 0:
            reason = self._failure(result.exit_code, parse_output(result.output))
            return replace(m, op_profile_note=f"op profile not recorded: {reason}")
        profile = parse_op_profile(result.output).run
        if profile is None or not profile.run_order:
            return replace(m, op_profile_note="op profile not recorded: the tool printed no per-op table")
        placement = op_placement(profile)
        return replace(m, op_profile=placement.rows, delegated_time_pct=placement.delegated_time_pct)

    @staticmethod
    def _failure(exit_code: int, parsed: BenchmarkOutput) -> str:
        crashed = _signal_name(exit_code)
        if crashed:
            return f"benchmark_model crashed ({crashed})" + (f": {parsed.error}" if parsed.error else "")
        return parsed.error or f"benchmark_model exited with {exit_code}"

    def _evaluate(self, job: Job, m: Measurement, binary: str, model: str) -> Measurement:
        """Run the evaluation inputs through the job's binary and accelerator; return `m` with every
        output of the variant, by name. Evaluation data that does not fit the variant's inputs
        fails the job, naming the input, what it expects and what it got (the measured repeats stay
        in the record). Raises DeviceError when the evaluation cannot run (the caller keeps the
        latency)."""
        if not self._output_file_supported(binary):
            return replace(m, accuracy_note="accuracy not measured: this benchmark_model has no "
                                            "--output_filepath flag (use a 2023 or newer build)")
        try:
            data = _EvalSet.load(job.variant.path, job.eval_inputs_path)
        except SuiteError as exc:
            return replace(m, status="failed", error=str(exc))
        run = _EvalRun(self, job, binary, model, data)
        with tempfile.TemporaryDirectory(prefix="benchlab-eval-") as tmp:
            try:
                self._shell(f"mkdir -p {shlex.quote(run.workdir)}")
                for position, values in enumerate(data.tensors):
                    local = Path(tmp) / f"inputs-{position}.bin"
                    local.write_bytes(values.tobytes())
                    self._push(local, f"{run.workdir}/{local.name}", timeout_s=job.scenario.timeout_seconds)
                # Batches only where every input has a batch dimension (1 or dynamic) to resize.
                batch = min(EVAL_BATCH, data.count) if data.batchable else 1
                fallback = run.check_batch(batch, Path(tmp)) if batch > 1 else None
                chunks = [batch] if batch > 1 and fallback is None else []  # the checked first batch is kept
                if fallback is not None:
                    batch = 1
                    log.warning("%s: %s", job.job_id, fallback)
                for first in range(sum(chunks), data.count, batch):
                    chunks.append(min(batch, data.count - first))
                    run.chunk(first, chunks[-1], "outputs.bin")
                raw = run.pull("outputs.bin", Path(tmp))
            finally:
                run.clean_up()
        outputs = data.split(raw, chunks)
        if outputs is None:
            return replace(m, accuracy_note=f"accuracy not measured: {len(raw)} output bytes for {data.count} "
                                            f"samples of {data.output_sample_bytes} ({data.describe_outputs()})")
        if fallback is not None:
            return replace(m, outputs=outputs, accuracy_note=fallback, flags=(*m.flags, EVAL_PER_SAMPLE))
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

    @classmethod
    def _model_remote(cls, local: Path) -> str:
        """Where a model lives on the phone: named by its bytes (`<stem>-<sha256[:16]>.tflite`), so two
        runs on one phone whose builds of a variant differ (a retrained model, another host's cache)
        never overwrite each other's file, and one whose bytes are the same share it."""
        return cls._remote(f"{local.stem}-{sha256_file(local)[:16]}{local.suffix}")

    def _kill(self, job: Job) -> None:
        """SIGKILL the job's processes on the phone (runner and the shell loop around it)."""
        self._shell(commands.kill_command(job.job_id))

    def abort(self) -> None:
        """Nothing is killed from another thread: the transport is not shared between threads, so
        the repeat in flight ends at its own timeout (then benchmark_model is killed on the phone)."""

    def close(self) -> None:
        """Close the connection to the phone (adb-shell's USB/TCP handle or the adb-server client)."""
        self.transport.close()

    def _prepare(self, artifacts: Sequence[Path]) -> None:
        # An .etlm bundle is a folder: its program and tokenizer go to the phone as two files.
        files = [f for a in artifacts for f in (llama_jobs.bundle_files(a) if a.suffix == f".{ETLM}" else (a,))]
        if not self._swept:
            self._sweep([self._model_remote(file) for file in files])
            self._swept = True
        # Language models and a .pte push their own runner (litert_lm_main, llama_main, executor_runner).
        if not artifacts or any(a.suffix not in (f".{LITERTLM}", f".{ETLM}", PTE_SUFFIX) for a in artifacts):
            self._ensure(runner_binary(self.facts.abi), self._remote("benchmark_model"), executable=True)
        for file in files:
            self._use(file, self._model_remote(file))

    def _sweep(self, wanted: Sequence[str]) -> None:
        """Remove what earlier runs left on the phone and nobody uses (IDLE_MIN): this session's
        own evaluation folders and partial pushes (it runs no job now, so they are a job's that
        the phone's dropping off interrupted), and every model, sample, partial push and
        evaluation folder no session has touched for IDLE_MIN minutes. `wanted` (the files this
        session is about to use) is touched first, so a file it needs is not swept and pushed
        again."""
        d = shlex.quote(commands.DEVICE_DIR)
        e = shlex.quote(EVAL_DIR)
        idle = f"-mmin +{IDLE_MIN}"
        own = f"rm -rf {e}/{self.session}-*; rm -f {d}/*.{self.session}{PARTIAL_SUFFIX}"
        files = (f"find {d} -maxdepth 1 -type f \\( -name '*{MODEL_SUFFIX}' -o -name '*{PTE_SUFFIX}' -o -name "
                 f"'{SAMPLE_PREFIX}*{SAMPLE_SUFFIX}' -o -name '*{PARTIAL_SUFFIX}' \\) {idle} -exec rm -f {{}} +")
        folders = f"find {e} -mindepth 1 -maxdepth 1 -type d {idle} -exec rm -rf {{}} + 2>/dev/null"
        touch = f"touch -c {' '.join(shlex.quote(path) for path in wanted)}; " if wanted else ""
        self._shell(f"{touch}{own}; {files}; {folders}; true")

    def _keep_fresh(self) -> None:
        """Touch every model and sample file this session has used, so no other session's sweep
        takes one (IDLE_MIN), and forget those found gone (a reboot, or a sweep after a day
        unused), so `_use` pushes them again. Touched first, then looked for: a file another
        session's sweep removed before the touch is seen to be gone."""
        if not self._in_use:
            return
        paths = " ".join(shlex.quote(path) for path in sorted(self._in_use))
        gone = self._shell(f"touch -c {paths}; for f in {paths}; do [ -e \"$f\" ] || echo \"$f\"; done").output
        for path in gone.splitlines():
            self._pushed.pop(path, None)
            self._in_use.discard(path)

    def _use(self, local: Path, remote: str) -> None:
        """Make a model or sample file present (`_ensure`) and keep it fresh while this session
        runs (`_keep_fresh`). Raises as `_ensure` does."""
        self._ensure(local, remote, fresh=True)
        self._in_use.add(remote)

    def _ensure(self, local: Path, remote: str, executable: bool = False, fresh: bool = False) -> None:
        """Push `local` to `remote` unless the phone's copy has the same sha256. With `fresh` (a
        file a sweep may take) a copy found there is touched as it is looked at, so no sweep takes
        it before its first job (`_keep_fresh` keeps it fresh from then on).

        Raises DeviceError when `local` is not a file or the push fails (`_push`).
        """
        local_sha = sha256_file(local) if local.is_file() else None
        if local_sha is None:
            raise DeviceError(f"{local} is not a file (only .tflite files run on Android)")
        if self._pushed.get(remote) == local_sha:
            return
        quoted = shlex.quote(remote)
        touch = f"touch -c {quoted}; " if fresh else ""
        on_device = self._shell(f"{touch}sha256sum {quoted} 2>/dev/null").output.split()
        if not on_device or on_device[0] != local_sha:
            self._shell(f"mkdir -p {shlex.quote(commands.DEVICE_DIR)}")
            self._push(local, remote, timeout_s=max(60.0, local.stat().st_size / 1e6))
            if executable:
                self._shell(f"chmod 755 {quoted}")
        self._pushed[remote] = local_sha

    def _push(self, local: Path, remote: str, timeout_s: float) -> None:
        """Push to `remote` + ".<session>.part", then rename it into place and touch it (the
        push carries the host's clock, the sweep reads the phone's), so a push cut short never
        leaves a half file under the real name (sweeps remove stray ".part" files) and two
        sessions pushing the same file never write into one partial file.

        Raises DeviceError "no space left on device (N MB free) ..." for a full phone, which stays
        in service for smaller jobs, and DeviceDisconnected when the connection drops.
        """
        partial = f"{remote}.{self.session}{PARTIAL_SUFFIX}"
        try:
            self.transport.push(local, partial, timeout_s=timeout_s)
        except PushRefused as exc:
            self._shell(f"rm -f {shlex.quote(partial)}")
            if "No space left on device" not in exc.reason:
                raise
            free = free_mb_from_df(self._shell(f"df -k {shlex.quote(commands.DEVICE_DIR)}").output)
            raise DeviceError(f"no space left on device ({free if free is not None else '?'} MB free): "
                              f"{local.name} needs {local.stat().st_size / 1e6:.1f} MB",
                              hint="free space on the phone (Settings > Storage)") from None
        moved = self._shell(f"mv -f {shlex.quote(partial)} {shlex.quote(remote)} && touch -c {shlex.quote(remote)}")
        if moved.exit_code != 0:
            raise DeviceError(f"{self.info.id}: cannot move {partial} into place: {moved.output.strip()[:200]}")


class _EvalSet:
    """A job's evaluation inputs as the variant's input tensors want them, and how to read back
    what benchmark_model's --output_filepath writes: every output's raw bytes, in output order."""

    def __init__(self, io: ModelIO, tensors: Sequence[np.ndarray], output_shapes: Sequence[tuple[int, ...]]) -> None:
        self.io = io
        #: Per model input, in model order: (N, *sample_shape) in the tensor's dtype.
        self.tensors = tuple(tensors)
        #: Per output, one sample's shape as the tool writes it (inputs resized to batch 1).
        self.output_shapes = tuple(output_shapes)
        self.count = len(self.tensors[0]) if self.tensors else 0

    @classmethod
    def load(cls, model_path: str, inputs_path: str) -> _EvalSet:
        """Read the evaluation inputs and fit them to the model's inputs (`_fit_inputs`).

        Raises SuiteError naming the input, the expected and the given dtype and shape, and
        DeviceError when the outputs' sizes cannot be worked out on the host.
        """
        interpreter, io, tensors = _fit_inputs(model_path, inputs_path)
        return cls(io, tensors, _output_shapes(interpreter, io, tensors))

    @property
    def batchable(self) -> bool:
        """Whether samples can run as one batch: every input's batch dimension is 1 or dynamic."""
        return all(info.shape and info.shape[0] in (1, -1) for info in self.io.inputs)

    def inputs(self) -> list[commands.EvalInput]:
        """Return each input's tensor name and one sample's shape (batch 1) and size, in model order."""
        return _input_specs(self.io, self.tensors)

    @property
    def output_sample_bytes(self) -> int:
        """Bytes the tool writes per sample, all outputs together."""
        return sum(math.prod(shape) * np.dtype(info.dtype).itemsize
                   for info, shape in zip(self.io.outputs, self.output_shapes))

    def describe_outputs(self) -> str:
        """Return e.g. "scores float32 (1, 5), box float32 (1, 4)" for messages."""
        return ", ".join(f"{info.name} {info.dtype} {shape}"
                         for info, shape in zip(self.io.outputs, self.output_shapes))

    def split(self, raw: bytes, chunks: Sequence[int]) -> Feeds | None:
        """Cut the outputs of runs of `chunks` samples each, appended one after the other, into
        one array per output name, (samples, *shape), as numbers (`from_tensor`). Return None
        when the bytes are not what those runs write."""
        if len(raw) != sum(chunks) * self.output_sample_bytes:
            return None
        pieces: list[list[np.ndarray]] = [[] for _ in self.io.outputs]
        offset = 0
        for count in chunks:  # each run wrote all its outputs, one after the other
            for k, (info, shape) in enumerate(zip(self.io.outputs, self.output_shapes)):
                values = np.frombuffer(raw, dtype=info.dtype, count=count * math.prod(shape), offset=offset)
                pieces[k].append(values)
                offset += values.nbytes
        outputs: Feeds = {}
        for info, shape, parts in zip(self.io.outputs, self.output_shapes, pieces):
            # One sample's outputs keep their own shape without the batch dimension of 1.
            sample = shape[1:] if shape and shape[0] == 1 else shape
            outputs[info.name] = from_tensor(np.concatenate(parts).reshape(sum(chunks), *sample), info)
        return outputs


def _fit_inputs(model_path: str, inputs_path: str) -> tuple[Any, ModelIO, list[np.ndarray]]:
    """Read the evaluation inputs (.npz by input name, or an old single-array .npy) and fit them
    to the model's inputs: mapped by name (else position), checked, quantized or cast.

    Returns the model's (unallocated) interpreter, its inputs and outputs, and per input, in model
    order, (N, *sample_shape) in the tensor's dtype. Raises SuiteError naming the input, the
    expected and the given dtype and shape, or saying this machine's LiteRT cannot read the model.
    """
    from ai_edge_litert.interpreter import Interpreter

    try:
        feeds = load_feeds(inputs_path)
    except (OSError, ValueError) as exc:  # a missing, cut or pickled file
        raise SuiteError(f"{inputs_path}: evaluation inputs not readable: {exc}") from None
    try:  # tensors are not allocated: a custom op only the phone's build has does not matter here
        interpreter = Interpreter(model_path=model_path)
    except (ValueError, RuntimeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise SuiteError(f"{model_path}: this machine's LiteRT cannot read the model to fit its inputs: "
                         f"{reason}") from None
    io = describe_interpreter(interpreter)
    try:
        mapping = match_names(list(feeds), io.inputs)
    except ValueError as exc:
        raise SuiteError(f"{inputs_path}: {exc}") from None
    tensors = [to_tensor(_fitting(feeds[mapping[info.name]], info, inputs_path), info) for info in io.inputs]
    counts = {info.name: len(values) for info, values in zip(io.inputs, tensors)}
    if len(set(counts.values())) > 1:
        raise SuiteError(f"{inputs_path}: the inputs have different sample counts: {counts}")
    if 0 in counts.values():
        raise SuiteError(f"{inputs_path}: no evaluation samples")
    return interpreter, io, tensors


def _input_specs(io: ModelIO, tensors: Sequence[np.ndarray]) -> list[commands.EvalInput]:
    """Return each input's tensor name and one sample's shape (batch 1) and size, in model order."""
    return [commands.EvalInput(info.tensor_name, (1, *values.shape[1:]), values[:1].nbytes)
            for info, values in zip(io.inputs, tensors)]


def _fitting(values: np.ndarray, info: TensorInfo, source: str) -> np.ndarray:
    """Return `values` when its samples fit the input (shape, dynamic dimensions free; real values
    only for a float or quantized input). Raises SuiteError naming the input, expected and got."""
    if info.misfit(values) is not None:
        raise SuiteError(f"{source}: evaluation data does not fit input {info.name}: expected "
                         f"{info.describe()}, got {values.dtype.name} {tuple(values.shape[1:])}")
    return values


def _output_shapes(interpreter: Any, io: ModelIO, tensors: Sequence[np.ndarray]) -> list[tuple[int, ...]]:
    """Return each output's shape for one sample: the model's inputs resized to the data's
    (batch 1), as the tool will, since a dynamic model's output sizes are only known then.

    Raises DeviceError when the host runtime cannot size them (an op only the phone's build has)
    and an output's shape is dynamic.
    """
    try:
        for detail, values in zip(interpreter.get_input_details(), tensors):
            interpreter.resize_tensor_input(detail["index"], [1, *values.shape[1:]])
        interpreter.allocate_tensors()
        return [tuple(int(d) for d in detail["shape"]) for detail in interpreter.get_output_details()]
    except (RuntimeError, ValueError) as exc:
        if any(d < 0 for info in io.outputs for d in info.shape[1:]):
            raise DeviceError(f"the outputs' sizes are not known: this machine's LiteRT cannot size the model "
                              f"({str(exc).strip().splitlines()[0][:200]})") from None
        return [(1, *info.sample_shape) for info in io.outputs]


@dataclass(frozen=True)
class _Repeat:
    """One timed repeat: what the runner printed (None when nothing came back), its parsed output
    (None when the repeat failed), and the failure's one-line reason and cause."""

    text: str | None
    output: BenchmarkOutput | None
    error: str | None = None
    cause: FailureCause | None = None

    @classmethod
    def failed(cls, text: str | None, exc: BaseException, what_was_done: str | None = None) -> _Repeat:
        """A repeat that `exc` failed, its cause decided by the exception's class (failure_cause);
        `what_was_done` about it (the runner killed) follows the reason in brackets."""
        return cls(text, None, f"{exc} ({what_was_done})" if what_was_done else str(exc), failure_cause(exc))


class _EvalRun:
    """One job's evaluation on the phone: its folder, its runner launches, and their clean-up."""

    def __init__(self, device: AndroidDevice, job: Job, binary: str, model: str, data: _EvalSet) -> None:
        self.device, self.job, self.binary, self.model, self.data = device, job, binary, model, data
        self.workdir = f"{EVAL_DIR}/{device.session}-{job.job_id}"
        self.timeout_s = job.scenario.timeout_seconds

    def chunk(self, first: int, count: int, output: str) -> None:
        """Run samples [first, first+count) in one runner process, appending to `output`.

        Raises DeviceError with the tool's last lines; a run past the scenario's timeout is
        killed on the phone and raises DeviceError saying so.
        """
        accelerator = self.job.accelerator
        command = commands.eval_chunk_command(
            self.binary, self.model, accelerator, self.workdir, self.data.inputs(), first, count, output,
            self.device.cpu_mask if accelerator.kind == "cpu" else None, marker=self.job.job_id)
        try:
            result = self.device._shell(command, timeout_s=self.timeout_s)
        except DeviceTimeout as exc:
            self.device._kill(self.job)
            raise DeviceError(f"{exc} (evaluation run killed)") from None
        if result.exit_code != 0:
            last = result.output.strip().splitlines()[-1:] or ["no output"]
            reason = parse_output(result.output).error
            raise DeviceError(f"evaluation run failed: {(reason if reason != NO_SUMMARY_ERROR else last[0])[:200]}")

    def check_batch(self, batch: int, tmp: Path) -> str | None:
        """Run the first `batch` samples as one batch into outputs.bin and samples 0 and batch-1
        alone, and compare every output. Return None when the batch is usable, else why each
        sample must run in its own process (outputs.bin is then removed)."""
        try:
            self.chunk(0, batch, "outputs.bin")
        except DeviceError as exc:
            reason = f"batch of {batch} refused ({exc})"
        else:
            for index in (0, batch - 1):
                self.chunk(index, 1, "check.bin")
            batched = self.data.split(self.pull("outputs.bin", tmp), [batch])
            single = self.data.split(self.pull("check.bin", tmp), [1, 1])
            if batched is not None and single is not None and all(
                    _outputs_agree(batched[name][[0, batch - 1]], single[name]) for name in single):
                return None
            reason = f"a batch of {batch} gave outputs that differ from single samples"
        self.device._shell(f"rm -f {shlex.quote(self.workdir)}/outputs.bin")
        return f"evaluated one sample per process: {reason}"

    def pull(self, name: str, tmp: Path) -> bytes:
        """Pull one output file of the workdir and return its bytes."""
        local = tmp / name
        self.device.transport.pull(f"{self.workdir}/{name}", local, timeout_s=self.timeout_s)
        return local.read_bytes()

    def clean_up(self) -> None:
        """Remove the job's folder from the phone; a phone that is gone keeps it until this
        session's first prepare after it is back sweeps it (or another's, once a day idle)."""
        try:
            self.device._shell(f"rm -rf {shlex.quote(self.workdir)}")
        except DeviceError as exc:
            log.warning("%s: %s not removed from the phone: %s", self.job.job_id, self.workdir, exc)


def _outputs_agree(batched: np.ndarray, single: np.ndarray) -> bool:
    """Whether batched and single-sample outputs agree within float rounding (GPU kernels for a
    different batch size may sum in another order): 1e-3 of the outputs' largest magnitude."""
    if batched.shape != single.shape:
        return False
    scale = float(np.max(np.abs(single))) if single.size else 1.0
    return bool(np.allclose(batched, single, rtol=1e-3, atol=1e-3 * (scale or 1.0)))
