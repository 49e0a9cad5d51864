"""Plain, frozen records passed between the stages (docs/architecture.md: each stage takes and returns plain data).

Nothing here imports a heavy library or a device protocol, so every stage and every runner
package can share these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Literal

MeasurementStatus = Literal["ok", "failed", "unsupported", "skipped", "interrupted"]
#: Why a repeat did not measure. Only "model" failures belong to the model (a custom op, a delegate
#: that refuses it); the others say nothing about the model, so `--resume` runs them again.
FailureCause = Literal["model", "device", "harness", "interrupted"]
#: Failure causes `--resume` retries without being asked (`--retry-failed` adds "model").
RETRYABLE_CAUSES = frozenset({"device", "harness", "interrupted"})
VariantStatus = Literal["built", "cached", "failed"]

#: Stands in for "no accelerator of the suite fits this format", so the variant still gets a row.
NO_ACCELERATOR = "none"


@dataclass(frozen=True)
class AcceleratorSetting:
    """One way to run a model on a device: CPU with N threads, a GPU/NPU delegate, Core ML units."""

    name: str
    kind: str
    threads: int | None = None
    xnnpack: bool | None = None
    cpu_mask: str | None = None
    options: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Variant:
    """An optimized (or as-is) model file, with where it came from and how big it is."""

    model: str
    name: str
    recipe: str
    format: str
    status: VariantStatus
    parent: str | None = None
    path: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    size_compressed_bytes: int | None = None
    options: dict[str, Any] = field(default_factory=dict, hash=False)
    is_reference: bool = False
    build_seconds: float | None = None
    error: str | None = None
    #: What was done besides the recipe (e.g. "fp16 weights expanded to fp32"), or where a failure came from.
    notes: str | None = None
    #: The models it was made through, in order, when more than one step made it (a recipe that trains,
    #: a chain): each step's name and file, the sha256 of what it wrote, whether it came from the cache,
    #: its build seconds and notes. `build_seconds` is their sum (what making it costs, cached steps included).
    lineage: list[dict[str, Any]] = field(default_factory=list, hash=False)


@dataclass(frozen=True)
class DeviceInfo:
    """What identifies a device and what its results are grouped and compared by."""

    id: str
    platform: str
    maker: str | None = None
    model: str | None = None
    soc: str | None = None
    os_version: str | None = None
    abi: str | None = None
    tier: str | None = None
    transport: str | None = None
    profile: str | None = None
    state: str = "ready"


@dataclass(frozen=True)
class Capabilities:
    """Which accelerator kinds and model formats a device can run, and the ways it can measure a job."""

    kinds: frozenset[str]
    formats: frozenset[str]
    max_threads: int | None = None
    #: The ways this device can measure a job, by names of its own, its default first (Android's
    #: runner declares two); the scenario's `run_modes` picks among them. Empty: one way only.
    run_modes: tuple[str, ...] = ()
    #: The formats each run mode other than the default measures (Android's app mode: LiteRT's benchmark
    #: APK, .tflite only). A format a mode does not list is measured in the default mode alone, under its
    #: plain setting name, whatever the scenario asks.
    mode_formats: tuple[tuple[str, frozenset[str]], ...] = ()
    #: Formats this kind of device will run but whose runner is not built yet, each with the one line that
    #: says so (an iPhone's ExecuTorch .pte): their jobs are "unsupported" with that line.
    not_yet: tuple[tuple[str, str], ...] = ()

    def job_settings(self, accelerator: AcceleratorSetting, scenario: Scenario, variant_format: str
                     ) -> list[tuple[AcceleratorSetting, Scenario]]:
        """Return the (setting, scenario) of each job a (variant, accelerator) pair becomes here: one
        per run mode of this device's that the scenario asks for and that measures the variant's
        format (`mode_formats`; the default mode measures every format), in the device's order, with
        `scenario.run_mode` set; its default alone when none of them does (a .pte in Android's app
        mode). A mode other than the default has its setting named `run_mode_setting(NAME, MODE)`, so
        job ids and rows stay apart. The pair as it is on a device with one way of measuring, and for
        a pair no accelerator fits."""
        if not self.run_modes or accelerator.kind == NO_ACCELERATOR:
            return [(accelerator, scenario)]
        default = self.run_modes[0]
        measures = dict(self.mode_formats)
        modes = [mode for mode in self.run_modes if mode in scenario.run_modes
                 and (mode == default or variant_format in measures.get(mode, frozenset()))] or [default]
        return [(accelerator if mode == default else replace(accelerator, name=run_mode_setting(accelerator.name, mode)),
                 replace(scenario, run_mode=mode))
                for mode in modes]

    def refusal(self, variant_format: str, accelerator: AcceleratorSetting) -> str | None:
        """Return why this device cannot run the pair, or None when it can."""
        planned = dict(self.not_yet)
        if variant_format in planned:
            return f"not yet: {planned[variant_format]}"
        if variant_format not in self.formats:
            from benchlab.formats import format_named  # its format modules import benchlab.tensors

            fmt = format_named(variant_format)
            if fmt is not None and fmt.runs_only_on:
                return f"built, not available on this device: {fmt.runs_only_on}"
            return f"built, not runnable on this device ({variant_format} is not supported here)"
        if accelerator.kind == NO_ACCELERATOR:
            from benchlab.formats import accelerator_kinds  # its format modules import benchlab.tensors

            kinds = ", ".join(sorted(accelerator_kinds(variant_format)))
            return f"the suite has no accelerator setting for {variant_format} (add one of kind: {kinds})"
        if accelerator.kind not in self.kinds:
            return f"accelerator {accelerator.kind!r} is not available on this device"
        if accelerator.xnnpack is False:
            from benchlab.formats import format_named  # as above

            fixed = getattr(format_named(variant_format), "xnnpack_fixed", None)
            if fixed is not None:
                return f"xnnpack: false does not apply: {fixed}"
        return None


#: The one thermal scale every platform's reading is also given on (``Conditions.thermal_level``):
#: Apple's ProcessInfo.ThermalState names, since its four steps are the coarsest platform scale.
THERMAL_LEVELS = ("nominal", "fair", "serious", "critical")


@dataclass(frozen=True)
class Conditions:
    """Thermal and power state of a device at one moment; fields a device cannot read are None."""

    timestamp: float
    #: The platform's own reading, raw: Android PowerManager THERMAL_STATUS_* (0-6), iOS
    #: ProcessInfo.thermalState (0-3). Device profiles' thermal limits are on this scale.
    thermal_status: int | None = None
    temperatures_c: dict[str, float] = field(default_factory=dict, hash=False)
    battery_level: int | None = None
    battery_temperature_c: float | None = None
    charging: bool | None = None
    load_average: float | None = None
    #: Which scale `thermal_status` is on: "android-thermal-status" (0-6) or "ios-thermal-state" (0-3).
    thermal_scale: str | None = None
    #: `thermal_status` mapped onto THERMAL_LEVELS (0 nominal ... 3 critical), comparable across
    #: platforms; each runner documents its mapping where it builds Conditions.
    thermal_level: int | None = None
    #: iOS Low Power Mode / Android battery saver: the OS lowers performance while it is on.
    low_power_mode: bool | None = None
    #: Current CPU clock per core in MHz where the device exposes it (the host's cpufreq or
    #: /proc/cpuinfo): a throttled CPU shows here before its temperature says why.
    cpu_freq_mhz: dict[str, float] = field(default_factory=dict, hash=False)


#: Whether a language model's repeat starts with its engine's caches empty ("cold": a fresh cache
#: folder, so LiteRT-LM prepares its weight cache again) or filled by an untimed run before ("warm").
LlmCacheState = Literal["cold", "warm"]


@dataclass(frozen=True)
class LlmCell:
    """One cell of the LLM matrix: a prompt of exactly `prefill` tokens, then exactly `decode` generated."""

    prefill: int
    decode: int

    @property
    def label(self) -> str:
        """The cell as llama-bench names it, e.g. "pp512-tg128"."""
        return f"pp{self.prefill}-tg{self.decode}"


@dataclass(frozen=True)
class LlmScenario:
    """How a language model (a generative format) is measured: the matrix of prompt and generation lengths.

    Each (prefill, decode) pair is its own job; `cell` is the one a job measures (set when planned).
    Sampling is greedy where the runner sets it (ExecuTorch; LiteRT-LM's benchmark uses the model's own
    sampler), and the counts are exact: a run that a stop token ended early fails its cell (the
    runners check the counts the engine reports).
    """

    prefill: tuple[int, ...] = (128, 512)
    decode: tuple[int, ...] = (128,)
    #: KV cache size in tokens the engine is started with; the largest cell must fit in it.
    kv_cache: int = 1024
    cache: LlmCacheState = "warm"
    cell: LlmCell | None = None

    def cells(self) -> list[LlmCell]:
        """Return every (prefill, decode) cell, prompt lengths outermost."""
        return [LlmCell(p, d) for p in self.prefill for d in self.decode]


def run_mode_setting(name: str, mode: str) -> str:
    """Return the name of accelerator setting `name` for a job measured in a device's run mode `mode`
    other than its default, NAME@MODE ("cpu-t4@app"), so its job id, rows and comparisons never meet
    the default mode's (Capabilities.job_settings)."""
    return f"{name}@{mode}"


@dataclass(frozen=True)
class Scenario:
    """How long and how often to measure one job."""

    warmup: int = 5
    iterations: int = 50
    min_seconds: float = 0.0
    max_seconds: float = 60.0
    repeats: int = 1
    cooldown_seconds: float = 0.0
    timeout_seconds: float = 300.0
    #: Iterations of the op-profiling pass run once per job after its first timed repeat (0: none).
    op_profile_runs: int = 5
    #: A delegated accelerator that leaves any op to the CPU fails the job (failure cause "model").
    require_full_delegation: bool = False
    #: The run modes (Capabilities.run_modes, names a device declares) to measure each job in: a
    #: device with several runs a job once per mode named here that it has, its default when it has
    #: none of them. Empty: every device's default.
    run_modes: tuple[str, ...] = ()
    #: The one run mode this job is measured in (set by Capabilities.job_settings when it plans the
    #: job); None on a device with one way of measuring.
    run_mode: str | None = None
    #: The LLM matrix, for variants of a generative format (benchlab.formats); others ignore it.
    llm: LlmScenario = field(default_factory=LlmScenario)
    #: Sustained mode (benchlab.execute.sustained): after the repeats, each job runs this long without
    #: a pause, its latency recorded in windows with the device's thermal state; None: off.
    sustained_minutes: float | None = None
    #: Measure energy per inference where the device can (Android power rails, benchlab.metrics.energy):
    #: a short idle window per device, then the meters around each repeat.
    energy: bool = False


@dataclass(frozen=True)
class Job:
    """One variant on one device with one accelerator setting."""

    job_id: str
    run_id: str
    suite: str
    variant: Variant
    device_id: str
    accelerator: AcceleratorSetting
    scenario: Scenario
    #: The model's evaluation inputs (.npz by input name): timed runs feed their first sample.
    eval_inputs_path: str | None = None
    #: Run every evaluation sample through this repeat and return the outputs (the first repeat only).
    evaluate: bool = False
    #: Which repeat of the job this is (0-based): one repeat is one fresh runner process.
    repeat: int = 0
    #: Position of this repeat in its round of the device's interleaved schedule.
    slot: int = 0


@dataclass(frozen=True)
class OutputFidelity:
    """How closely one output follows the reference's same output, over the evaluation samples."""

    name: str
    max_abs_error: float
    mean_abs_error: float
    #: Cosine similarity of each sample's values, averaged; None where a sample is all zeros on a side.
    cosine: float | None
    #: Signal-to-noise ratio in dB (reference power over error power); None when the outputs are equal.
    snr_db: float | None
    #: Share of samples whose highest value is at the same index; None unless the output is class scores.
    top1_agreement: float | None = None


@dataclass(frozen=True)
class Fidelity:
    """How closely a variant's outputs follow the reference (fp32) variant's on the same inputs.

    The top-level figures are those of the scored output (the one labels are read from, else the
    first); `outputs` holds every output's.
    """

    reference_variant: str
    top1_agreement: float | None
    max_abs_error: float
    mean_abs_error: float
    outputs: tuple[OutputFidelity, ...] = ()

    @property
    def worst_cosine(self) -> float | None:
        """The lowest cosine similarity of any output (None when none has one)."""
        values = [o.cosine for o in self.outputs if o.cosine is not None]
        return min(values) if values else None


@dataclass(frozen=True)
class Measurement:
    """Everything one job produced: raw timings in microseconds first, statistics come later."""

    job_id: str
    run_id: str
    suite: str
    variant: Variant
    device: DeviceInfo
    accelerator: AcceleratorSetting
    status: MeasurementStatus
    runner: str
    runner_version: str | None = None
    error: str | None = None
    #: Set when status is not ok and the reason is known (see FailureCause); None means "model".
    failure_cause: FailureCause | None = None
    #: Which repeat this record holds, and its slot in the round (the store keeps one record per
    #: repeat; `benchlab.results.store` combines a job's repeats into one measurement).
    repeat: int = 0
    slot: int | None = None
    init_us: float | None = None
    first_us: float | None = None
    #: Core ML: compiling the .mlpackage on the device (MLModel.compileModel), kept apart from init_us.
    compile_us: float | None = None
    warmup_us: tuple[float, ...] = ()
    #: One tuple of per-iteration latencies per repeat of the runner.
    samples_us: tuple[tuple[float, ...], ...] = ()
    #: Per repeat, the runner's own statistics (count, avg_us, median_us ...) when the runner does
    #: not report each iteration (LiteRT's benchmark_model); raw text is in `runner_output`.
    runner_stats: tuple[dict[str, float | None], ...] = ()
    runner_output: str | None = None
    memory_init_mb: float | None = None
    peak_memory_mb: float | None = None
    delegated_nodes: int | None = None
    total_nodes: int | None = None
    delegate_applied: str | None = None
    #: Where each op ran, from the op-profiling pass (see OP_PROFILE_KEYS); empty when not profiled.
    op_profile: tuple[dict[str, Any], ...] = ()
    #: Share of the profiled inference time spent in the accelerator (not the CPU), in percent.
    delegated_time_pct: float | None = None
    #: Why `op_profile` is empty although a profile was asked for (pass failed, not available).
    op_profile_note: str | None = None
    accuracy_metric: str | None = None
    accuracy: float | None = None
    accuracy_delta: float | None = None
    fidelity: Fidelity | None = None
    accuracy_note: str | None = None
    conditions_before: Conditions | None = None
    conditions_after: Conditions | None = None
    flags: tuple[str, ...] = ()
    started_at: str | None = None
    finished_at: str | None = None
    outputs_file: str | None = None
    #: What a runner reports for this repeat of a metric without a field of its own here (energy per
    #: inference ...), by the metric's name (benchlab.metrics).
    metric_values: dict[str, float] = field(default_factory=dict, hash=False)
    #: Each registered metric's value per ok repeat, by metric name, in repeat order: filled when a
    #: job's repeat records are combined (benchlab.results.run_record.combine_repeats), never stored.
    repeat_values: dict[str, tuple[float, ...]] = field(default_factory=dict, hash=False)
    #: Outputs on the evaluation inputs; kept in memory until the store writes them to a file.
    outputs: Any = field(default=None, compare=False, repr=False, hash=False)

    @property
    def retryable(self) -> bool:
        """Whether `--resume` should run this again: a failure that does not belong to the model."""
        return self.status in ("failed", "skipped", "interrupted") and self.failure_cause in RETRYABLE_CAUSES

    @property
    def all_samples_us(self) -> list[float]:
        """Every measured iteration across repeats, in the order they ran."""
        return [sample for repeat in self.samples_us for sample in repeat]

    @property
    def cpu_fallback_ops(self) -> dict[str, int]:
        """Op types of the op profile that ran on the CPU, with how many nodes of each, most first.

        Empty on a CPU accelerator (everything is meant to run there) and when nothing was profiled.
        """
        if self.accelerator.kind == "cpu":
            return {}
        counts: dict[str, int] = {}
        for row in self.op_profile:
            if row["on_cpu"]:
                counts[row["op"]] = counts.get(row["op"], 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


#: The keys of one `Measurement.op_profile` row: op type (a delegate's node is its partition), node
#: name, where it ran (the delegate's name, or "CPU"), whether that is the CPU (CPU delegates such as
#: XNNPACK count as the CPU), its average time in ms and share of the profiled time in percent
#: (None where the runner reports placement without times, as Core ML's compute plan).
OP_PROFILE_KEYS = ("op", "node", "ran_on", "on_cpu", "avg_ms", "time_pct")


def describe_ops(counts: dict[str, int]) -> str:
    """Return op counts as text, e.g. "STRIDED_SLICE ×6, RESIZE_NEAREST_NEIGHBOR ×2"."""
    return ", ".join(op if n == 1 else f"{op} ×{n}" for op, n in counts.items())


def full_delegation_failure(m: Measurement) -> Measurement:
    """Return `m` failed (cause "model") when its delegate left ops to the CPU, else `m` unchanged.

    For suites with ``scenario.require_full_delegation``: the ops that fell back are named from the
    op profile when there is one, else the delegate's own statement ("partial" / "no") is the reason.
    The measured latencies stay in the record.
    """
    if m.status != "ok" or m.accelerator.kind == "cpu":
        return m
    fallback = m.cpu_fallback_ops
    if fallback:
        reason = f"{sum(fallback.values())} op(s) fell back to the CPU: {describe_ops(fallback)}"
    elif m.delegate_applied in ("no", "partial"):
        nodes = (f" ({m.delegated_nodes} of {m.total_nodes} nodes delegated)"
                 if m.delegated_nodes is not None and m.total_nodes is not None else "")
        reason = f"{m.accelerator.kind} delegate applied: {m.delegate_applied}{nodes}"
    else:
        return m
    return replace(m, status="failed", failure_cause="model",
                   error=f"require_full_delegation: {reason}")


def now_iso() -> str:
    """Return the current UTC time as an ISO 8601 string."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
