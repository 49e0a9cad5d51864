"""Stand-in for LiteRT's ``benchmark_model`` on the loopback Android device.

When a loopback shell command runs a pushed ``.../benchmark_model``, this script runs instead
(with this machine's Python). It really loads the ``.tflite`` with
``ai_edge_litert.interpreter.Interpreter`` and times real inferences on this CPU, and it prints
what the real tool prints, line for line (recorded outputs in ../shared/fixtures/benchmark_model
are the reference; newest format: ``INFO:`` prefixes, p5/median/p95 on stat lines, memory
footprint delta, peak and end-of-run memory status).

Flags (the real tool's names and defaults; ``--name=value`` only, bools as true/false/1/0):

=============================================  ==========================================
``--graph``                                    model path (required)
``--num_threads`` (-1)                         CPU threads; printed as "Num threads" and
                                               "#threads used for CPU inference"
``--warmup_runs`` (1) ``--warmup_min_secs``    warmup: at least N runs and S seconds
(0.5) ``--num_runs`` (50) ``--min_secs`` (1)   measured: at least N runs and S seconds;
``--max_secs`` (150) ``--run_delay`` (-1)      both stop after max_secs
``--use_xnnpack``                              false: no XNNPACK (the runtime applies it by
                                               default otherwise); true: "Explicitly applied"
``--use_gpu`` ``--gpu_precision_loss_allowed``  GPU delegate, per personality (below)
(true) ``--gpu_backend`` ...
``--use_nnapi`` ``--nnapi_accelerator_name``    NNAPI delegate, per personality (below)
``--disable_nnapi_cpu`` (true) ...
``--external_delegate_path`` / ``_options``    cannot load Android .so files here: fails
``--enable_op_profiling``                      prints the op tables (per-op times are the
                                               measured average split by a size estimate)
``--input_layer`` ``--input_layer_shape``      the model's inputs BY POSITION (a name that
                                               differs only warns) and their shapes (resize)
``--input_layer_value_files=name:path,...``    raw tensor bytes, exactly tensor-sized, given
                                               by --input_layer name ('::' is a literal ':');
                                               an unknown name, a wrong input count or size
                                               abort (SIGABRT) with the tool's FATAL line
``--output_filepath``                          writes the outputs of the LAST run: every
                                               output tensor's raw bytes, in output order
=============================================  ==========================================

Unknown flags get the real "Unconsumed cmdline flags" warning and are ignored.

Accelerators follow the device's personality (``LOOPBACK_ADB_DEVICE`` in the environment, set by
the loopback shell; see personalities.py): a "partial" GPU prints the real "Following operations
are not supported by GPU delegate" block, "Replacing N out of M node(s) with delegate
(TfLiteGpuDelegateV2)" and "Explicitly applied GPU delegate, and the model graph will be partially
executed by the delegate w/ K delegate kernels."; an "unavailable" GPU prints the OpenCL/OpenGL
failure chain ending in "Failed to apply GPU delegate." and "Benchmarking failed." (exit 1).
Whatever is "delegated", inference runs on this machine's CPU. A model with an op the runtime
cannot resolve prints the runtime's own "Encountered unresolved custom op" error, "Failed to
allocate tensors!" and exits 1. ``crash`` in the device config makes the tool die by SIGSEGV after
loading the model; ``hang`` (a substring of the arguments) makes it sleep forever there instead.

``--help`` prints the flag table (harnesses probe it for ``--output_filepath``).

Exit status: 0 after a completed benchmark, 1 on any failure (as the real tool's main()).
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, NoReturn

_START_MAXRSS_KB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # "start of the tool"


def log(line: str = "") -> None:
    """Print one tool line now (the harness may stream the output)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def info(message: str) -> None:
    log(f"INFO: {message}")


def error(message: str) -> None:
    log(f"ERROR: {message}")


def fmt(value: float) -> str:
    """Format a double as C++ iostreams do by default (6 significant digits, like %g)."""
    return f"{value:g}"


# --- device config ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceConfig:
    """The loopback phone's answers to accelerator questions (from LOOPBACK_ADB_DEVICE)."""

    name: str = "host"
    model: str = "loopback"
    gpu: str = "unavailable"
    gpu_unsupported_ops: frozenset[str] = frozenset()
    gpu_max_batch: int | None = None
    nnapi_accelerators: tuple[str, ...] = ("nnapi-reference",)
    latency_scale: float = 1.0
    crash: bool = False
    hang: str | None = None  # hang after loading the model when the arguments contain this
    #: Thermal model (thermal.py): inferences last a simulated, temperature-dependent time, and the
    #: phone's state lives in `support_dir`.
    thermal: dict | None = None
    support_dir: str | None = None


def device_config() -> DeviceConfig:
    """Return the device config from the environment, or a CPU-only default when run by hand."""
    raw = os.environ.get("LOOPBACK_ADB_DEVICE")
    if not raw:
        return DeviceConfig()
    data = json.loads(raw)
    return DeviceConfig(
        name=data.get("name", "host"),
        model=data.get("model", "loopback"),
        gpu=data.get("gpu", "unavailable"),
        gpu_unsupported_ops=frozenset(data.get("gpu_unsupported_ops", ())),
        gpu_max_batch=data.get("gpu_max_batch"),
        nnapi_accelerators=tuple(data.get("nnapi_accelerators", ("nnapi-reference",))),
        latency_scale=float(data.get("latency_scale", 1.0)),
        crash=bool(data.get("crash", False)),
        hang=data.get("hang"),
        thermal=data.get("thermal"),
        support_dir=data.get("support_dir"),
    )


def crash_now() -> None:
    """Die the way a native binary does on a bad pointer."""
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGSEGV)


# --- flags --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    name: str
    kind: type
    default: object
    description: str | None  # None: not logged by LogParams
    always_log: bool = False


# In the order the real tool logs them: BenchmarkModel, BenchmarkTfLiteModel, then the delegate
# providers (default/CPU, GPU, NNAPI, XNNPACK, external).
FLAGS: tuple[Flag, ...] = (
    Flag("num_runs", int, 50, "Min num runs"),
    Flag("min_secs", float, 1.0, "Min runs duration (seconds)"),
    Flag("max_secs", float, 150.0, "Max runs duration (seconds)"),
    Flag("run_delay", float, -1.0, "Inter-run delay (seconds)"),
    Flag("run_frequency", float, -1.0, "Number of prorated runs per second"),
    Flag("num_threads", int, -1, "Num threads"),
    Flag("use_caching", bool, False, "Use caching"),
    Flag("benchmark_name", str, "", "Benchmark name"),
    Flag("output_prefix", str, "", "Output prefix"),
    Flag("warmup_runs", int, 1, "Min warmup runs"),
    Flag("warmup_min_secs", float, 0.5, "Min warmup runs duration (seconds)"),
    Flag("verbose", bool, False, None),
    Flag("dry_run", bool, False, "Run w/o invoking kernels"),
    Flag("report_peak_memory_footprint", bool, False, "Report the peak memory footprint"),
    Flag("memory_footprint_check_interval_ms", int, 50, "Memory footprint check interval (ms)"),
    Flag("graph", str, "", "Graph", always_log=True),
    Flag("signature_to_run_for", str, "", "Signature to run", always_log=True),
    Flag("list_signatures", bool, False, None),
    Flag("input_layer", str, "", "Input layers"),
    Flag("input_layer_shape", str, "", "Input shapes"),
    Flag("input_layer_value_range", str, "", "Input value ranges"),
    Flag("input_layer_value_files", str, "", "Input value files"),
    Flag("allow_fp16", bool, False, "Allow fp16"),
    Flag("require_full_delegation", bool, False, "Require full delegation"),
    Flag("enable_op_profiling", bool, False, "Enable op profiling"),
    Flag("op_profiling_output_mode", str, "stdout", "Op profiling output mode."),
    Flag("op_profiling_output_file", str, "", "Op profiling output file."),
    Flag("max_profiling_buffer_entries", int, 1024, "Max initial profiling buffer entries"),
    Flag("allow_dynamic_profiling_buffer_increase", bool, False,
         "Allow dynamic increase on profiling buffer entries"),
    Flag("profiling_output_csv_file", str, "", "CSV File to export profiling data to"),
    Flag("print_preinvoke_state", bool, False, "Print pre-invoke interpreter state"),
    Flag("print_postinvoke_state", bool, False, "Print post-invoke interpreter state"),
    Flag("release_dynamic_tensors", bool, False, "Release dynamic tensor memory"),
    Flag("optimize_memory_for_large_tensors", int, 0, "Optimize memory usage for large tensors"),
    Flag("disable_delegate_clustering", bool, False, "Disable delegate clustering"),
    Flag("enable_builtin_cast_constant_cache", bool, False, "Constant CAST output cache"),
    Flag("output_filepath", str, "", "File path to export outputs layer to"),
    Flag("num_threads_cpu", int, -1, None),  # placeholder so "#threads ..." sorts here; see below
    Flag("max_delegated_partitions", int, 0, "Max number of delegated partitions"),
    Flag("min_nodes_per_partition", int, 0, "Min nodes per partition"),
    Flag("delegate_serialize_dir", str, "", "Directory for delegate serialization"),
    Flag("delegate_serialize_token", str, "", "Model token for delegate serialization"),
    Flag("use_gpu", bool, False, "Use gpu"),
    Flag("gpu_precision_loss_allowed", bool, True, "Allow lower precision in gpu"),
    Flag("gpu_experimental_enable_quant", bool, True, "Enable running quant models in gpu"),
    Flag("gpu_inference_for_sustained_speed", bool, False, "Prefer maximizing the throughput in gpu"),
    Flag("gpu_backend", str, "", "GPU backend"),
    Flag("use_nnapi", bool, False, "Use NNAPI"),
    Flag("nnapi_execution_preference", str, "", "NNAPI execution preference"),
    Flag("nnapi_execution_priority", str, "", "Model execution priority in nnapi"),
    Flag("nnapi_accelerator_name", str, "", "NNAPI accelerator name"),
    Flag("disable_nnapi_cpu", bool, True, "Disable NNAPI cpu"),
    Flag("nnapi_allow_fp16", bool, False, "Allow fp16 in NNAPI"),
    Flag("nnapi_allow_dynamic_dimensions", bool, False, "Allow dynamic dimensions in NNAPI"),
    Flag("nnapi_use_burst", bool, False, "Use burst in NNAPI"),
    Flag("use_xnnpack", bool, False, "Use xnnpack"),
    Flag("xnnpack_force_fp16", bool, False, "xnnpack_force_fp16"),
    Flag("external_delegate_path", str, "", "External delegate path"),
    Flag("external_delegate_options", str, "", "External delegate options"),
)
_FLAG_BY_NAME = {flag.name: flag for flag in FLAGS if flag.name != "num_threads_cpu"}


class FlagError(Exception):
    """A flag value that does not parse (the real tool then prints usage and fails)."""


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError(text)


@dataclass
class Params:
    """Parsed flags: every value, which ones the command line set, and the unconsumed rest."""

    values: dict[str, object]
    set_names: set[str] = field(default_factory=set)
    unconsumed: list[str] = field(default_factory=list)

    def __getitem__(self, name: str):
        return self.values[name]

    def is_set(self, name: str) -> bool:
        return name in self.set_names


def parse_flags(argv: list[str], flags: dict[str, Flag] = _FLAG_BY_NAME) -> Params:
    """Return the parsed ``--name=value`` flags. Raises FlagError on a value of the wrong type."""
    params = Params({name: flag.default for name, flag in flags.items()})
    for arg in argv:
        match = re.fullmatch(r"--([A-Za-z0-9_]+)=(.*)", arg, flags=re.S)
        flag = flags.get(match.group(1)) if match else None
        if match is None or flag is None:
            params.unconsumed.append(arg)
            continue
        text = match.group(2)
        try:
            value = parse_bool(text) if flag.kind is bool else flag.kind(text)
        except ValueError as exc:
            raise FlagError(f"Failed to parse flag '{flag.name}' against argv '{arg}'") from exc
        params.values[flag.name] = value
        params.set_names.add(flag.name)
    return params


def _param_text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return fmt(value)
    return str(value)


def log_params(params: Params, device: DeviceConfig) -> None:
    """Print the parameter block: values set on the command line, plus the always-logged ones."""
    info("Log parameter values verbosely: [0]")
    for flag in FLAGS:
        if flag.name == "num_threads_cpu":
            if params.is_set("num_threads"):
                info(f"#threads used for CPU inference: [{params['num_threads']}]")
            continue
        if flag.description is None:
            continue
        if flag.always_log or params.is_set(flag.name):
            info(f"{flag.description}: [{_param_text(params[flag.name])}]")
        if flag.name == "nnapi_accelerator_name" and params["use_nnapi"]:
            info(f"NNAPI accelerators available: [{','.join(device.nnapi_accelerators)}]")


# --- model facts --------------------------------------------------------------------------------

_BUILTIN_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
# Ops the XNNPACK delegate takes (float and quantized variants), as far as counting goes.
_XNNPACK_OPS = frozenset({
    "ABS", "ADD", "AVERAGE_POOL_2D", "BATCH_MATMUL", "CEIL", "CONCATENATION", "CONV_2D",
    "DEPTH_TO_SPACE", "DEPTHWISE_CONV_2D", "DEQUANTIZE", "DIV", "ELU", "FLOOR", "FULLY_CONNECTED",
    "HARD_SWISH", "LEAKY_RELU", "LOGISTIC", "MAX_POOL_2D", "MAXIMUM", "MEAN", "MINIMUM", "MUL",
    "NEG", "PAD", "PRELU", "QUANTIZE", "RELU", "RELU6", "RELU_N1_TO_1", "RESHAPE",
    "RESIZE_BILINEAR", "ROUND", "RSQRT", "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT", "SQRT",
    "SQUARE", "SQUARED_DIFFERENCE", "STRIDED_SLICE", "SUB", "TANH", "TRANSPOSE",
    "TRANSPOSE_CONV", "GELU", "EXP", "LOG", "SIN", "COS",
})


def is_custom(op_name: str) -> bool:
    """True for a custom op (its code is not a builtin's UPPER_CASE name)."""
    return _BUILTIN_NAME.fullmatch(op_name) is None


def partitions(flags: list[bool]) -> int:
    """Number of maximal runs of True in execution order (delegate partitions)."""
    count, inside = 0, False
    for flag in flags:
        if flag and not inside:
            count += 1
        inside = flag
    return count


def replacing_line(kernel: str, delegated: int, total: int, parts: int) -> str:
    return (f"VERBOSE: Replacing {delegated} out of {total} node(s) with delegate ({kernel}) node, "
            f"yielding {parts} partitions for the whole graph.")


# --- delegates ----------------------------------------------------------------------------------


class BenchmarkFailure(Exception):
    """The run failed; the error lines are already printed."""


@dataclass(frozen=True)
class DelegatePlan:
    """What the explicit delegates claimed, and whether the runtime's default XNNPACK stays."""

    default_xnnpack: bool
    gpu_applied: bool = False


def gpu_supported(op_names: list[str], device: DeviceConfig) -> list[bool]:
    """Per op, whether this personality's GPU delegate takes it (custom ops and the listed ones not)."""
    return [not (is_custom(op) or op in device.gpu_unsupported_ops) for op in op_names]


def apply_gpu(op_names: list[str], device: DeviceConfig, require_full: bool, batch: int = 1) -> bool:
    """Print the GPU delegate's lines for this personality; return True when it took nodes.

    Raises BenchmarkFailure when the delegate cannot be applied, also for an input batch
    (``--input_layer_shape``) above the personality's ``gpu_max_batch``.
    """
    info("Created TensorFlow Lite delegate for GPU.")
    info("GPU delegate created.")
    total = len(op_names)
    if device.gpu != "partial":
        error("Can not open OpenCL library on this device - dlopen failed: "
              'library "libOpenCL.so" not found')
        error("Falling back to OpenGL")
        error("TfLiteGpuDelegate Init: OpenGL-based API disabled")
        _gpu_prepare_failed(total)
    supported = gpu_supported(op_names, device)
    delegated = sum(supported)
    if delegated < total:
        unsupported = sorted({("CUSTOM " + op) if is_custom(op) else op
                              for op, ok in zip(op_names, supported) if not ok})
        lines = ["Following operations are not supported by GPU delegate:"]
        lines += [f"{op}: Operation is not supported." for op in unsupported]
        lines.append(f"{delegated} operations will run on the GPU, and the remaining "
                     f"{total - delegated} operations will run on the CPU.")
        error("\n".join(lines))
    if delegated == 0:
        info("Created 0 GPU delegate kernels.")
        info("Though GPU delegate is explicitly applied, the model graph will not be executed by "
             "the delegate.")
        return False
    kernels = partitions(supported)
    log(replacing_line("TfLiteGpuDelegateV2", delegated, total, kernels))
    if device.gpu_max_batch is not None and batch > device.gpu_max_batch:
        error(f"TfLiteGpuDelegate Init: Batch size mismatch, expected {device.gpu_max_batch} but got {batch}")
        _gpu_prepare_failed(total)
    info("Initialized OpenCL-based API.")
    info(f"Created {kernels} GPU delegate kernels.")
    fully = delegated == total and kernels == 1
    if require_full and not fully:
        error("Disallowed CPU fallback detected.")
        raise BenchmarkFailure
    if fully:
        info("Explicitly applied GPU delegate, and the model graph will be completely executed "
             "by the delegate.")
    else:
        info(f"Explicitly applied GPU delegate, and the model graph will be partially executed "
             f"by the delegate w/ {kernels} delegate kernels.")
    return True


def apply_nnapi(op_names: list[str], device: DeviceConfig, params: Params) -> bool:
    """Print the NNAPI delegate's lines; return True when it took nodes. Raises BenchmarkFailure."""
    info("Created TensorFlow Lite delegate for NNAPI.")
    total = len(op_names)
    accelerator = params["nnapi_accelerator_name"]
    if accelerator and accelerator not in device.nnapi_accelerators:
        error(f"Could not find the specified NNAPI accelerator: {accelerator}. Must be one of: "
              f"{{{','.join(device.nnapi_accelerators)}}}.")
        error("Restored original execution plan after delegate application failure.")
        error("Failed to apply NNAPI delegate.")
        raise BenchmarkFailure
    usable = [accelerator] if accelerator else [
        a for a in device.nnapi_accelerators
        if not (params["disable_nnapi_cpu"] and a == "nnapi-reference")]
    if not usable:
        info("Though NNAPI delegate is explicitly applied, the model graph will not be executed "
             "by the delegate.")
        return False
    supported = [not is_custom(op) for op in op_names]
    delegated = sum(supported)
    kernels = partitions(supported)
    if delegated == 0:
        info("Though NNAPI delegate is explicitly applied, the model graph will not be executed "
             "by the delegate.")
        return False
    log(replacing_line("TfLiteNnapiDelegate", delegated, total, kernels))
    if delegated == total and kernels == 1:
        info("Explicitly applied NNAPI delegate, and the model graph will be completely executed "
             "by the delegate.")
    else:
        info(f"Explicitly applied NNAPI delegate, and the model graph will be partially executed "
             f"by the delegate w/ {kernels} delegate kernels.")
    return True


def apply_external(path: str) -> None:
    """External delegates are Android shared objects; the loopback cannot load one."""
    info(f"Unable to load external delegate from : {path}")
    error("Failed to apply EXTERNAL delegate.")
    raise BenchmarkFailure


# --- running the interpreter ---------------------------------------------------------------------


def capture_native_stderr(action: Callable[[], object]) -> tuple[object, BaseException | None, str]:
    """Run ``action`` with fd 2 captured; return (result, exception, captured text).

    The runtime's own log lines ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.") go to
    fd 2; capturing them keeps them in order with this tool's stdout lines.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        result, failure = None, None
        try:
            result = action()
        except Exception as exc:  # the runtime raises RuntimeError/ValueError; relayed below
            failure = exc
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        text = sink.read().decode("utf-8", "replace")
    return result, failure, text


def relay(text: str) -> None:
    """Print captured runtime lines (they already carry their INFO:/ERROR: prefixes)."""
    for line in text.splitlines():
        if line.strip() and not line.startswith(("WARNING: All log messages before absl")):
            log(line)


def runtime_error_lines(exc: BaseException) -> list[str]:
    """Split a runtime exception into the ERROR lines the C++ tool prints one by one."""
    text = str(exc).strip()
    parts = re.split(r"\s*(?=Node number \d+ \()", text)
    return [part.strip() for part in parts if part.strip()]


def load_interpreter(graph: str, num_threads: int, default_xnnpack: bool):
    """Build the interpreter (no delegates beyond the runtime's default XNNPACK, if kept)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = (OpResolverType.AUTO if default_xnnpack
                else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    return Interpreter(model_path=graph, num_threads=None if num_threads < 0 else num_threads,
                       experimental_op_resolver_type=resolver)


def timed_invoke(interpreter, latency_scale: float) -> float:
    """Run one inference; return its latency in microseconds (stretched by the personality)."""
    start = time.perf_counter()
    interpreter.invoke()
    elapsed = time.perf_counter() - start
    if latency_scale > 1.0:
        extra_until = start + elapsed * latency_scale
        remaining = extra_until - time.perf_counter()
        if remaining > 0.002:
            time.sleep(remaining - 0.001)
        while time.perf_counter() < extra_until:
            pass
    return (time.perf_counter() - start) * 1e6


def record_busy(busy_us: float) -> None:
    """Tell the phone's power rails how long this run inferred (power_rails.py; a phone without rails ignores it)."""
    try:
        from power_rails import record_busy as record  # run as a script: this folder is on sys.path
    except ImportError:
        from android_runner.loopback.power_rails import record_busy as record
    record(busy_us)


def percentile(sorted_samples: list[int], fraction: float) -> int:
    index = min(len(sorted_samples) - 1, max(0, int(math.ceil(fraction * len(sorted_samples))) - 1))
    return sorted_samples[index]


def stat_line(samples: list[int]) -> str:
    """Format samples as the tool's Stat<int64_t> with percentiles (newest format)."""
    if not samples:
        return "count=0"
    ordered = sorted(samples)
    tail = (f" p5={percentile(ordered, 0.05)} median={percentile(ordered, 0.5)}"
            f" p95={percentile(ordered, 0.95)}")
    if ordered[0] == ordered[-1]:
        same = "(all same)" if len(samples) > 1 else ""
        return f"count={len(samples)} curr={samples[-1]}{same}{tail}"
    count = len(samples)
    avg = sum(samples) / count
    std = int(math.sqrt(max(0.0, sum(s * s for s in samples) / count - avg * avg)))
    return (f"count={count} first={samples[0]} curr={samples[-1]} min={ordered[0]} "
            f"max={ordered[-1]} avg={fmt(avg)} std={std}{tail}")


def run_loop(interpreter, set_inputs: Callable[[], None], min_runs: int, min_secs: float,
             max_secs: float, run_delay: float, latency_scale: float, soc=None) -> list[int]:
    """The tool's Run(): at least ``min_runs`` and ``min_secs``, never beyond ``max_secs``.

    With a simulated SoC (thermal.py) each inference still runs (the outputs stay real), but its
    latency and the loop's clock are the SoC's simulated time."""
    info(f"Running benchmark for at least {min_runs} iterations and at least {fmt(min_secs)} "
         f"seconds but terminate if exceeding {fmt(max_secs)} seconds.")
    samples: list[int] = []
    start = time.perf_counter()
    simulated_s = 0.0
    while True:
        elapsed = simulated_s if soc is not None else time.perf_counter() - start
        if not ((len(samples) < min_runs or elapsed < min_secs) and elapsed <= max_secs):
            break
        set_inputs()
        if soc is not None:
            interpreter.invoke()
            latency_us = soc.inference_us()
            simulated_s += latency_us / 1e6
            samples.append(int(round(latency_us)))
            continue
        samples.append(int(round(timed_invoke(interpreter, latency_scale))))
        if run_delay > 0:
            time.sleep(run_delay)
    info(stat_line(samples) + "\n")
    return samples


def memory_lines(init_maxrss_kb: int) -> None:
    """Print the memory block that ends the tool's report."""
    end_maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    status = {}
    try:
        with open("/proc/self/status", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if value.strip().endswith("kB"):
                    status[key] = int(value.split()[0])
    except OSError:
        pass
    init_mb = max(0, init_maxrss_kb - _START_MAXRSS_KB) / 1024
    overall_mb = max(0, end_maxrss_kb - _START_MAXRSS_KB) / 1024
    info("Note: as the benchmark tool itself affects memory footprint, the following is only "
         "APPROXIMATE to the actual memory footprint of the model at runtime. Take the "
         "information at your discretion.")
    info(f"Memory footprint delta from the start of the tool (MB): init={fmt(init_mb)} "
         f"overall={fmt(overall_mb)}")
    info(f"Overall peak memory footprint (MB) via periodic monitoring: "
         f"{fmt(status.get('VmHWM', end_maxrss_kb) / 1024)}")
    info("Memory status at the end of exeution:")
    info(f"- VmRSS              : {status.get('VmRSS', 0) // 1024} MB")
    info(f"+ RssAnnon           : {status.get('RssAnon', 0) // 1024} MB")
    info(f"+ RssFile + RssShmem : {(status.get('RssFile', 0) + status.get('RssShmem', 0)) // 1024} MB")


# --- inputs -------------------------------------------------------------------------------------


def random_input(detail: dict, rng):
    """Random data in the tool's default ranges for the tensor's type."""
    import numpy as np

    shape, dtype = tuple(int(d) for d in detail["shape"]), detail["dtype"]
    if dtype in (np.float32, np.float16, np.float64):
        return rng.uniform(-0.5, 0.5, size=shape).astype(dtype)
    if dtype == np.int8:
        return rng.integers(-127, 128, size=shape, dtype=np.int8)
    if dtype == np.uint8:
        return rng.integers(0, 255, size=shape, dtype=np.uint8)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    return rng.integers(0, 100, size=shape).astype(dtype)


def fatal(message: str) -> NoReturn:
    """TFLITE_LOG(FATAL) and failed TFLITE_TOOLS_CHECKs: print the message and abort (SIGABRT)."""
    log(f"FATAL: {message}")
    os.abort()


@dataclass(frozen=True)
class InputLayer:
    """One --input_layer entry: its name, the shape to resize to, and its value file (if any)."""

    name: str
    shape: list[int]
    value_file: str | None = None


def split_list(text: str, delimiter: str) -> list[str]:
    """The tool's Split(): nothing for an empty string, else every piece (empty ones too)."""
    return text.split(delimiter) if text else []


def split_value_file_item(item: str) -> tuple[str, str] | None:
    """SplitInputLayerNameAndValueFile: the one ':' that is not part of a '::' separates name and
    path; '::' stands for ':' in both. Prints the tool's error and returns None otherwise."""
    delimiter, i = -1, 0
    while i < len(item) - 1:
        if item[i] == ":":
            if item[i + 1] == ":":
                i += 1
            elif delimiter == -1:
                delimiter = i
            else:
                error(f"{item} contains more than one delimiter.")
                return None
        i += 1
    if delimiter == -1:
        error(f"{item} doesn't contain any delimiter.")
        return None
    return item[:delimiter].replace("::", ":"), item[delimiter + 1:].replace("::", ":")


def parse_input_layers(params: Params) -> list[InputLayer]:
    """PopulateInputLayerInfo: one InputLayer per --input_layer name (split at ',' with no
    escape), its --input_layer_shape (split at ':') and the value file --input_layer_value_files
    gives it BY NAME. Raises BenchmarkFailure; a value file for a name that --input_layer lacks
    aborts the process, as the real tool's FindLayerInfoIndex does."""
    names = split_list(params["input_layer"], ",")
    shapes = split_list(params["input_layer_shape"], ":")
    if len(names) != len(shapes):
        error(f"The number of items in --input_layer_shape ({params['input_layer_shape']}, with "
              f"{len(shapes)} items) must match the number of items in --input_layer "
              f"({params['input_layer']}, with {len(names)} items). For example "
              "--input_layer=input1,input2 --input_layer_shape=1,224,224,4:1,20")
        raise BenchmarkFailure
    layers = []
    for name, shape_text in zip(names, shapes):
        try:
            shape = [int(d) for d in shape_text.split(",")]
        except ValueError:
            fatal(f"Incorrect size string specified: {shape_text}")
        if -1 in shape:
            error("Any unknown sizes in the shapes (-1's) must be replaced with the size you want to "
                  "benchmark with.")
            raise BenchmarkFailure
        layers.append(InputLayer(name, shape))
    for item in split_list(params["input_layer_value_files"], ","):
        pair = split_value_file_item(item)
        if pair is None:
            error(f"Wrong input value file item specified: {item}")
            error("1")  # the tool then logs the status code itself
            raise BenchmarkFailure
        position = next((k for k, layer in enumerate(layers) if layer.name == pair[0]), None)
        if position is None:
            fatal(f"Cannot find the corresponding input_layer name({pair[0]}) in --input_layer as "
                  f"{params['input_layer']}")
        layers[position] = InputLayer(layers[position].name, layers[position].shape, pair[1])
    return layers


def value_file_data(layer: InputLayer, detail: dict):
    """LoadInputTensorData: the file's raw bytes as the (resized) tensor; a missing file or one not
    exactly tensor-sized aborts, as in the real tool."""
    import numpy as np

    try:
        with open(layer.value_file, "rb") as handle:
            raw = handle.read()
    except OSError:
        fatal(f"Failed to read the input_layer_value_file:{layer.value_file}")
    expected = int(np.prod(detail["shape"])) * np.dtype(detail["dtype"]).itemsize
    if len(raw) != expected:
        fatal(f"The size of {layer.value_file} is {len(raw)} bytes. It should be {expected} bytes.")
    return np.frombuffer(raw, dtype=detail["dtype"]).reshape(detail["shape"])


def _gpu_prepare_failed(total: int) -> None:
    """What the GPU delegate prints when it cannot initialise, then the run fails."""
    info("Created 0 GPU delegate kernels.")
    error("TfLiteGpuDelegate Prepare: delegate is not initialized")
    error(f"Node number {total} (TfLiteGpuDelegateV2) failed to prepare.")
    error("Restored original execution plan after delegate application failure.")
    error("Failed to apply GPU delegate.")
    raise BenchmarkFailure


# --- op profiling -------------------------------------------------------------------------------


def _profile_rows(rows: list[tuple[str, str, float, float]], total_ms: float) -> list[str]:
    """Run Order rows: (type, name, start_ms, avg_ms)."""
    out, cdf = [], 0.0
    for node_type, name, start_ms, avg_ms in rows:
        share = 100.0 * avg_ms / total_ms if total_ms else 0.0
        cdf += share
        out.append(f"\t{node_type:>24}\t{start_ms:17.3f}\t{avg_ms:9.3f}\t{avg_ms:9.3f}\t"
                   f"{share:7.3f}%\t{cdf:7.3f}%\t{0.0:10.3f}\t{1:9d}\t{name}")
    return out


def _profile_block(title: str, rows: list[tuple[str, str, float, float]], timings: str) -> None:
    total = sum(r[3] for r in rows)
    header = ("\t             [node type]\t          [start]\t  [first]\t [avg ms]\t     [%]\t"
              "  [cdf%]\t  [mem KB]\t[times called]\t[Name]")
    log(title)
    log("============================== Run Order ==============================")
    log(header)
    for line in _profile_rows(rows, total):
        log(line)
    log("")
    log("============================== Top by Computation Time ==============================")
    log(header)
    for line in _profile_rows(sorted(rows, key=lambda r: -r[3]), total):
        log(line)
    log("")
    log(f"Number of nodes executed: {len(rows)}")
    log("============================== Summary by node type ==============================")
    log("\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t"
        "[times called]")
    by_type: dict[str, list[float]] = {}
    for node_type, _name, _start, avg_ms in rows:
        by_type.setdefault(node_type, []).append(avg_ms)
    cdf = 0.0
    for node_type, values in sorted(by_type.items(), key=lambda kv: -sum(kv[1])):
        share = 100.0 * sum(values) / total if total else 0.0
        cdf += share
        log(f"\t{node_type:>24}\t{len(values):9d}\t{sum(values):10.3f}\t{share:10.3f}%\t"
            f"{cdf:10.3f}%\t{0.0:10.3f}\t{len(values):9d}")
    log("")
    log(timings)
    log("Memory (bytes): count=0")
    log(f"{len(rows)} nodes observed")
    log("")


def print_op_profile(interpreter, ops: list[dict], init_parts: list[tuple[str, float]],
                     samples: list[int], kernels: list[str | None]) -> None:
    """Print the tool's op profiling tables. Per-op times are the measured average inference
    time split in proportion to each op's tensor sizes (the loopback cannot time single ops).

    ``kernels`` names, per op, the delegate kernel that runs it (None: TFLite's builtin kernel).
    As in the real tool, consecutive ops of one delegate show up as one node of the delegate's
    kernel type, numbered after the graph's own nodes."""
    init_rows, start = [], 0.0
    for node_type, ms in init_parts:
        init_rows.append((node_type, f"{node_type}/0", start, ms))
        start += ms
    init_total_us = int(sum(ms for _, ms in init_parts) * 1000)
    _profile_block("Profiling Info for Benchmark Initialization:", init_rows,
                   f"Timings (microseconds): count=1 curr={init_total_us}")
    log("")
    log("")
    weights = []
    for op in ops:
        size = 0
        for index in list(op["inputs"]) + list(op["outputs"]):
            if index >= 0:
                size += int(max(1, interpreter._get_tensor_details(int(index), 0)["shape"].prod()))
        weights.append(size)
    nodes: list[tuple[str, str, float]] = []
    previous: str | None = None
    for op, weight, kernel in zip(ops, weights, kernels):
        if kernel is not None and kernel == previous:
            nodes[-1] = (nodes[-1][0], nodes[-1][1], nodes[-1][2] + weight)
        elif kernel is not None:
            nodes.append((kernel, f"[{op['op_name']}]:{len(ops) + len(nodes)}", float(weight)))
        else:
            nodes.append((op["op_name"], f"[{op['op_name']}]:{op['index']}", float(weight)))
        previous = kernel
    avg_ms = (sum(samples) / len(samples) / 1000.0) if samples else 0.0
    total_weight = sum(n[2] for n in nodes) or 1.0
    run_rows, start = [], 0.0
    for node_type, name, weight in nodes:
        ms = avg_ms * weight / total_weight
        run_rows.append((node_type, name, start, ms))
        start += ms
    _profile_block("Operator-wise Profiling Info for Regular Benchmark Runs:", run_rows,
                   "Timings (microseconds): " + stat_line(samples).split(" p5=")[0])


# --- main ---------------------------------------------------------------------------------------


def benchmark(params: Params, device: DeviceConfig) -> int:
    """Run the benchmark as the real tool does; return the exit status. Raises BenchmarkFailure."""
    import numpy as np

    graph = params["graph"]
    if not graph:
        error("Please specify the name of your TF Lite input file with --graph")
        raise BenchmarkFailure
    layers = parse_input_layers(params)
    log_params(params, device)
    if not os.path.isfile(graph):
        error(f"Could not open '{graph}'.")
        error(f"Failed to mmap model {graph}")
        raise BenchmarkFailure
    init_start = time.perf_counter()
    explicit = params["use_gpu"] or params["use_nnapi"] or bool(params["external_delegate_path"])
    use_xnnpack = params["use_xnnpack"] if params.is_set("use_xnnpack") else not explicit
    build_start = time.perf_counter()
    interpreter, failure, native = capture_native_stderr(
        lambda: load_interpreter(graph, params["num_threads"], use_xnnpack))
    if failure is not None:
        error("The model is not a valid Flatbuffer buffer")
        error(f"Failed to mmap model {graph}")
        raise BenchmarkFailure
    info(f"Loaded model {graph}")
    if device.crash:
        crash_now()
    if device.hang is not None and device.hang in " ".join(sys.argv[1:]):
        while True:  # a wedged driver: only a signal ends this process
            time.sleep(1)
    info("Initialized TensorFlow Lite runtime.")
    ops = interpreter._get_ops_details()
    op_names = [op["op_name"] for op in ops]

    # Init(): --input_layer entries are the model's inputs BY POSITION; a name that differs only warns.
    input_details = interpreter.get_input_details()
    if layers and len(layers) != len(input_details):
        fatal(f"Inputs mismatch: Model inputs #:{len(layers)} expected: {len(input_details)}")
    for layer, detail in zip(layers, input_details):
        if layer.name != detail["name"]:
            log(f"WARN: Tensor # {detail['index']} is named {detail['name']} but flags call it {layer.name}")
        if len(layer.shape) != len(detail["shape"]):
            error(f"Input tensor #{detail['index']} should have {len(detail['shape'])} dimensions!")
            raise BenchmarkFailure
    for layer, detail in zip(layers, input_details):
        if list(layer.shape) != list(detail["shape"]):
            interpreter.resize_tensor_input(detail["index"], layer.shape)

    placed: list[str | None] = [None] * len(op_names)  # the explicit delegate's kernel per op
    if params["use_gpu"]:
        batch = layers[0].shape[0] if layers else int(input_details[0]["shape"][0])
        if apply_gpu(op_names, device, params["require_full_delegation"], batch):
            placed = ["TfLiteGpuDelegateV2" if ok else None for ok in gpu_supported(op_names, device)]
    if params["use_nnapi"] and apply_nnapi(op_names, device, params):
        placed = [None if is_custom(op) else "TfLiteNnapiDelegate" for op in op_names]
    if params["external_delegate_path"]:
        apply_external(params["external_delegate_path"])

    alloc_start = time.perf_counter()
    _, failure, native2 = capture_native_stderr(interpreter.allocate_tensors)
    relay(native + native2)
    xnnpack_ops = [use_xnnpack and op in _XNNPACK_OPS for op in op_names]
    if use_xnnpack and failure is None and any(xnnpack_ops):
        log(replacing_line("TfLiteXNNPackDelegate", sum(xnnpack_ops), len(op_names),
                           partitions(xnnpack_ops)))
        if params.is_set("use_xnnpack"):
            how = ("completely executed by the delegate." if all(xnnpack_ops) else
                   f"partially executed by the delegate w/ {partitions(xnnpack_ops)} delegate "
                   "kernels.")
            info(f"Explicitly applied XNNPACK delegate, and the model graph will be {how}")
    if failure is not None:
        for line in runtime_error_lines(failure):
            error(line)
        error("Failed to allocate tensors!")
        raise BenchmarkFailure
    init_end = time.perf_counter()
    init_maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    info(f"The input model file size (MB): {fmt(os.path.getsize(graph) / 1e6)}")
    init_us = int((init_end - init_start) * 1e6)
    info(f"Initialized session in {fmt(init_us / 1000)}ms.")

    rng = np.random.default_rng()
    input_details = interpreter.get_input_details()
    data = [value_file_data(layers[position], detail)
            if position < len(layers) and layers[position].value_file else random_input(detail, rng)
            for position, detail in enumerate(input_details)]

    def set_inputs() -> None:
        for detail, value in zip(input_details, data):
            interpreter.set_tensor(detail["index"], value)

    soc = None
    if device.thermal is not None and device.support_dir is not None:
        from pathlib import Path

        from thermal import SimulatedSoC, ThermalModel  # a sibling of this script

        soc = SimulatedSoC(ThermalModel(**device.thermal), Path(device.support_dir))
    try:
        warmup = run_loop(interpreter, set_inputs, params["warmup_runs"], params["warmup_min_secs"],
                          params["max_secs"], params["run_delay"], device.latency_scale, soc)
        measured = run_loop(interpreter, set_inputs, params["num_runs"], params["min_secs"],
                            params["max_secs"], params["run_delay"], device.latency_scale, soc)
    except RuntimeError as exc:  # a kernel failed at Invoke (e.g. a gather index out of bounds)
        for line in runtime_error_lines(exc):
            error(line)
        raise BenchmarkFailure from None
    if soc is not None:
        soc.save()
    record_busy(sum(warmup) + sum(measured))
    warmup_avg = sum(warmup) / len(warmup) if warmup else 0.0
    inference_avg = sum(measured) / len(measured) if measured else 0.0
    first = warmup[0] if warmup else (measured[0] if measured else 0)
    info(f"Inference timings in us: Init: {init_us}, First inference: {first}, "
         f"Warmup (avg): {fmt(warmup_avg)}, Inference (avg): {fmt(inference_avg)}")
    memory_lines(init_maxrss_kb)
    if params["enable_op_profiling"]:
        print_op_profile(interpreter, ops,
                         [("ModifyGraphWithDelegate", (alloc_start - build_start) * 1000),
                          ("AllocateTensors", (init_end - alloc_start) * 1000)],
                         measured, [kernel or ("TfLiteXNNPackDelegate" if xnnpack else None)
                                    for kernel, xnnpack in zip(placed, xnnpack_ops)])
    if params["output_filepath"]:
        with open(params["output_filepath"], "wb") as handle:
            for detail in interpreter.get_output_details():
                handle.write(interpreter.get_tensor(detail["index"]).tobytes())
    return 0


def print_usage() -> None:
    """`--help`: the real tool's flag table (tflite::Flags::Usage), which harnesses probe."""
    log("usage: benchmark_model <flags>")
    log("Flags:")
    for flag in FLAGS:
        kind = {bool: "bool", int: "int32", float: "float", str: "string"}[flag.kind]
        default = str(flag.default).lower() if flag.kind is bool else flag.default
        log(f"\t--{flag.name}={default}\t{kind}\toptional\t{flag.description or ''}")


def main(argv: list[str]) -> int:
    """Entry point: the real tool's main(); returns the process exit status."""
    if "--help" in argv:
        print_usage()
        return 1  # as the real tool: usage is printed by a failed flag parse
    device = device_config()
    info("STARTING!")
    try:
        params = parse_flags(argv)
    except FlagError as exc:
        error(str(exc))
        error("Benchmarking failed.")
        return 1
    if params.unconsumed:
        log(f"WARN: Unconsumed cmdline flags: {' '.join(params.unconsumed)}")
    try:
        return benchmark(params, device)
    except BenchmarkFailure:
        error("Benchmarking failed.")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
