"""Read the output of LiteRT/TFLite's ``benchmark_model`` tool (binary or benchmark APK logcat).

What the tool prints, and what each part becomes here:

- parameter lines ``Num threads: [4]`` → ``params`` (all of them) and typed fields (``threads`` ...);
- stat lines ``count=50 first=.. curr=.. min=.. max=.. avg=.. std=..`` with optional
  ``p5=.. median=.. p95=..`` or ``(all same)``. The line after the first "Running benchmark for
  at least ..." is the warmup, the one after the second is the measured run;
- the summary: ``Inference timings in us: Init: .., First inference: .., Warmup (avg): ..,
  Inference (avg): ..`` (TFLite >= 1.14) or the older ``Average inference timings in us:
  Warmup: .., Init: .., no stats: ..`` (where "no stats" is the inference average). The benchmark
  APK's JNI listener adds ``Average inference timings in us: Warmup: .., Init: .., Inference: ..``
  at the end of a run, logged at ERROR level although it is not an error;
- memory: ``Memory footprint delta from the start of the tool (MB): init=.. overall=..`` is the
  newer label of the number older versions called ``Peak memory footprint (MB): init=..
  overall=..`` (both are max-RSS deltas), so both fill ``mem_init_mb``/``mem_overall_mb``.
  ``peak_mb`` comes only from ``Overall peak memory footprint (MB) via periodic monitoring: ..``;
- delegate lines ("Replacing N out of M node(s) with delegate (...)", "Explicitly applied X
  delegate ...", "Though X delegate is explicitly applied ...", "Failed to apply X delegate.");
- failures: the tool's ERROR lines, of which the most specific becomes the one-line ``error``.

Logcat prefixes (``05-30 15:16:44.857  3380  3380 I tflite  : ``) and the tool's own level
prefixes (``INFO: ``, ``ERROR: ``) are stripped first. Nothing is guessed: a value the text does
not state is None. The tool never prints per-iteration latencies; ``samples_us`` is filled only
where the stat line fixes every sample (``count=1`` or ``(all same)``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Literal, TypeVar

#: The error of a run block that stops before the tool's summary line and names no failure.
NO_SUMMARY_ERROR = "no summary in output"

DelegateApplied = Literal["full", "partial", "no"]

# --- line clean-up -------------------------------------------------------------------------------

# logcat -v threadtime: "05-30 15:16:44.857  3380  3380 I tflite  : message". Only a space is
# eaten after the colon so the tabs that start op-profile rows survive.
_LOGCAT_THREADTIME = re.compile(
    r"^\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+(?P<level>[VDIWEFA])\s+[^:]*?: ?"
)
# logcat -v brief: "I/tflite  ( 3380): message".
_LOGCAT_BRIEF = re.compile(r"^(?P<level>[VDIWEFA])/[^(]*\(\s*\d+\): ?")
_TOOL_LEVEL = re.compile(r"^(?P<level>INFO|WARNING|WARN|ERROR|VERBOSE|DEBUG|FATAL): ?")
_LOGCAT_ERROR_LEVELS = {"E", "F", "A"}


def _clean(raw: str) -> tuple[bool, str]:
    """Strip logcat and tool level prefixes; return (logged as an error, message)."""
    line = raw.rstrip("\r\n")
    is_error = False
    for pattern in (_LOGCAT_THREADTIME, _LOGCAT_BRIEF):
        match = pattern.match(line)
        if match:
            is_error = match["level"] in _LOGCAT_ERROR_LEVELS
            line = line[match.end() :]
            break
    match = _TOOL_LEVEL.match(line)
    if match:
        is_error = is_error or match["level"] in ("ERROR", "FATAL")
        line = line[match.end() :]
    return is_error, line


# --- stat lines ----------------------------------------------------------------------------------

_NUMBER = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_STAT_LINE = re.compile(r"^count=(?P<count>\d+)(?P<rest>.*)$")
_STAT_FIELD = re.compile(r"(?P<key>[a-z0-9]+)=(?P<value>" + _NUMBER + ")")


@dataclass(frozen=True)
class RunStats:
    """One ``count=...`` stat line in microseconds; a field the line does not print is None.

    A line with ``count=1`` or ``(all same)`` states that every sample equals ``curr``, so first,
    min, max and avg are that value and std is 0.
    """

    count: int
    first_us: float | None = None
    curr_us: float | None = None
    min_us: float | None = None
    max_us: float | None = None
    avg_us: float | None = None
    std_us: float | None = None
    p5_us: float | None = None
    median_us: float | None = None
    p95_us: float | None = None
    all_same: bool = False

    @property
    def samples_us(self) -> tuple[float, ...]:
        """Every sample when the line fixes them all (count=1 or all same), else empty."""
        if self.count > 0 and self.curr_us is not None and (self.count == 1 or self.all_same):
            return (self.curr_us,) * self.count
        return ()


def parse_stat_line(text: str) -> RunStats | None:
    """Return the stats of one ``count=N ...`` line (prefixes already stripped), or None if not one."""
    match = _STAT_LINE.match(text.strip())
    if not match:
        return None
    count = int(match["count"])
    values = {m["key"]: float(m["value"]) for m in _STAT_FIELD.finditer(match["rest"])}
    all_same = "(all same)" in match["rest"]
    curr = values.get("curr")
    if count > 0 and curr is not None and (count == 1 or all_same):
        # The tool prints only curr here because every sample had that value.
        for key in ("first", "min", "max", "avg"):
            values.setdefault(key, curr)
        values.setdefault("std", 0.0)
    return RunStats(
        count=count,
        first_us=values.get("first"),
        curr_us=curr,
        min_us=values.get("min"),
        max_us=values.get("max"),
        avg_us=values.get("avg"),
        std_us=values.get("std"),
        p5_us=values.get("p5"),
        median_us=values.get("median"),
        p95_us=values.get("p95"),
        all_same=all_same,
    )


# --- delegates -----------------------------------------------------------------------------------

# Kernel names in "Replacing ... with delegate (<kernel>)" → the names the tool uses elsewhere.
_KERNEL_NAMES = {
    "TfLiteXNNPackDelegate": "XNNPACK",
    "TfLiteGpuDelegate": "GPU",
    "TfLiteGpuDelegateV2": "GPU",
    "TfLiteNnapiDelegate": "NNAPI",
    "TfLiteHexagonDelegate": "Hexagon",
    "TfLiteCoreMlDelegate": "Core ML",
}
_CANONICAL_NAMES = {
    "xnnpack": "XNNPACK",
    "gpu": "GPU",
    "nnapi": "NNAPI",
    "hexagon": "Hexagon",
    "select tf ops": "Flex",  # "Created TensorFlow Lite delegate for select TF ops."
}
#: Delegates that run on the CPU: they do not say whether an accelerator took the model.
CPU_DELEGATES = frozenset({"XNNPACK", "Flex"})


def _delegate_name(name: str) -> str:
    name = name.strip()
    name = _KERNEL_NAMES.get(name, name)
    return _CANONICAL_NAMES.get(name.lower(), name)


@dataclass(frozen=True)
class DelegateUse:
    """What the tool said about one delegate; counts it did not print are None.

    ``applied``: "full" (the delegate runs the whole graph), "partial", "no" (created but it runs
    nothing, or it failed to apply), None (created, nothing said about how much it took).
    ``delegated_kernels`` counts delegate partitions as the tool reports them ("w/ 44 delegate
    kernels", "Created 1 GPU delegate kernels"); ``delegated_nodes``/``total_nodes`` come from
    "Replacing N out of M node(s)", summed over subgraphs.
    """

    name: str
    applied: DelegateApplied | None = None
    delegated_kernels: int | None = None
    delegated_nodes: int | None = None
    total_nodes: int | None = None
    partitions: int | None = None


_CREATED = (
    re.compile(r"^Created TensorFlow Lite (?P<name>\S+) delegate for CPU\.?"),
    re.compile(r"^Created TensorFlow Lite delegate for (?P<name>[^.]+)\.?"),
    re.compile(r"^(?P<name>\S+) delegate created\.?"),
)
_REPLACING = re.compile(
    r"Replacing (?P<nodes>\d+) out of (?P<total>\d+) node\(s\) with delegate \((?P<kernel>[^)]+)\)"
    r"(?: node, yielding (?P<partitions>\d+) partitions)?"
)
_APPLIED_FULL = re.compile(
    r"^Explicitly applied (?P<name>.+?) delegate, and the model graph will be completely executed"
)
_APPLIED_PARTIAL = re.compile(
    r"^Explicitly applied (?P<name>.+?) delegate, and the model graph will be partially executed"
    r".*?w/ (?P<kernels>\d+) delegate kernels"
)
_NOT_APPLIED = re.compile(
    r"^Though (?P<name>.+?) delegate is explicitly applied, the model graph will not be executed"
)
_FAILED_TO_APPLY = re.compile(r"^Failed to apply (?P<name>.+?) delegate")
_GPU_KERNELS = re.compile(r"^Created (?P<kernels>\d+) GPU delegate kernels")


@dataclass
class _DelegateNote:
    """What has been read so far about one delegate (mutable while lines are read)."""

    stated: DelegateApplied | None = None
    delegated_kernels: int | None = None
    delegated_nodes: int | None = None
    total_nodes: int | None = None
    partitions: int | None = None


class _DelegateNotes:
    """Notes per delegate, in order of first mention, frozen into DelegateUse at the end."""

    def __init__(self) -> None:
        self.notes: dict[str, _DelegateNote] = {}  # dicts keep insertion order

    def note(self, name: str) -> _DelegateNote:
        return self.notes.setdefault(_delegate_name(name), _DelegateNote())

    def read(self, line: str) -> bool:
        """Record what ``line`` says about a delegate; return whether it said anything."""
        for pattern in _CREATED:
            match = pattern.match(line)
            if match:
                self.note(match["name"])
                return True
        match = _REPLACING.search(line)
        if match:
            # One line per subgraph: the counts add up.
            note = self.note(match["kernel"])
            note.delegated_nodes = (note.delegated_nodes or 0) + int(match["nodes"])
            note.total_nodes = (note.total_nodes or 0) + int(match["total"])
            if match["partitions"] is not None:
                note.partitions = (note.partitions or 0) + int(match["partitions"])
            return True
        match = _APPLIED_PARTIAL.match(line)
        if match:
            note = self.note(match["name"])
            note.stated = "partial"
            note.delegated_kernels = int(match["kernels"])
            return True
        statements: tuple[tuple[re.Pattern[str], DelegateApplied], ...] = (
            (_APPLIED_FULL, "full"),
            (_NOT_APPLIED, "no"),
            (_FAILED_TO_APPLY, "no"),
        )
        for pattern, applied in statements:
            match = pattern.match(line)
            if match:
                self.note(match["name"]).stated = applied
                return True
        match = _GPU_KERNELS.match(line)
        if match:
            self.note("GPU").delegated_kernels = int(match["kernels"])
            return True
        return False

    def freeze(self) -> tuple[DelegateUse, ...]:
        uses = []
        for name, note in self.notes.items():
            applied = note.stated
            nodes, total = note.delegated_nodes, note.total_nodes
            if applied is None and nodes is not None and total is not None:
                # The tool's own statement wins; without one, the node counts say how much it took.
                applied = "no" if nodes == 0 else "full" if nodes == total else "partial"
            uses.append(
                DelegateUse(
                    name=name,
                    applied=applied,
                    delegated_kernels=note.delegated_kernels,
                    delegated_nodes=nodes,
                    total_nodes=total,
                    partitions=note.partitions,
                )
            )
        return tuple(uses)


def summarize_delegates(delegates: tuple[DelegateUse, ...]) -> str | None:
    """Return "yes" / "partial" / "no" for the run's delegation, or None when nothing was said.

    Accelerator delegates (all but ``CPU_DELEGATES``) decide when present, since XNNPACK is the
    CPU default that also picks up what an accelerator leaves; a CPU-only run is judged by its CPU
    delegates. "yes" if one of them runs the whole graph, "no" if none runs anything, else
    "partial".
    """
    accelerators = [use for use in delegates if use.name not in CPU_DELEGATES] or list(delegates)
    stated = [use.applied for use in accelerators if use.applied is not None]
    if not stated:
        return None
    if "full" in stated:
        return "yes"
    if all(applied == "no" for applied in stated):
        return "no"
    return "partial"


# --- errors --------------------------------------------------------------------------------------

# Lines that report a failure even without an ERROR prefix (older tools, plain stdout).
_FAILURE_LINE = re.compile(
    r"^Failed to |failed to prepare|^Benchmarking failed|Segmentation fault|^Aborted"
    r"|CANNOT LINK EXECUTABLE|: not found$|No such file or directory|Permission denied"
)
_PREPARE_FAILED = re.compile(r"Node number \d+ \((?P<op>[^)]+)\) failed to prepare")
# Logged at ERROR level but only report what the tool did next, not why it failed.
_GENERIC_ERRORS = re.compile(r"^Benchmarking failed|^Restored original execution plan")


def _pick_error(error_lines: list[str]) -> str | None:
    """The most specific failure reason among the tool's error lines, or None if there are none.

    In order: the node that failed to prepare when it is a real op (it names the op); the
    delegate that failed to apply (when the failing "node" is the delegate kernel itself); any
    failed-to-prepare line; "Failed to allocate tensors"; the first other error; "Benchmarking
    failed".
    """

    def first(predicate: Callable[[str], bool]) -> str | None:
        return next((line for line in error_lines if predicate(line)), None)

    def real_op_failed(line: str) -> bool:
        match = _PREPARE_FAILED.search(line)
        return match is not None and not re.fullmatch(r"TfLite\w*Delegate\w*", match["op"])

    return (
        first(real_op_failed)
        or first(lambda line: bool(_FAILED_TO_APPLY.match(line)))
        or first(lambda line: bool(_PREPARE_FAILED.search(line)))
        or first(lambda line: line.startswith("Failed to allocate tensors"))
        or first(lambda line: not _GENERIC_ERRORS.match(line))
        or first(lambda line: True)
    )


# --- one run -------------------------------------------------------------------------------------

_PARAM = re.compile(r"^(?P<name>[^:\[\]\t]+?)\s*:\s*\[(?P<value>[^\]]*)\]$")
_SUMMARY = re.compile(r"^(?:Average )?[Ii]nference timings in us:\s*(?P<body>.*)$")
_SUMMARY_FIELD = re.compile(r"(?P<label>[A-Za-z][A-Za-z ()]*?)\s*:\s*(?P<value>" + _NUMBER + ")")
_SUMMARY_LABELS = {
    "init": "init_us",
    "first inference": "first_us",
    "warmup (avg)": "warmup_avg_us",
    "warmup": "warmup_avg_us",
    "inference (avg)": "avg_us",
    "inference": "avg_us",
    "no stats": "avg_us",  # TFLite < 1.14 printed the inference average under this label.
}
_RUNNING = re.compile(r"^Running benchmark for at least")
_INIT_SESSION = re.compile(r"^Initialized session in (?P<value>" + _NUMBER + r")\s*ms")
_MODEL_SIZE = re.compile(r"^The input model file size \(MB\):\s*(?P<value>" + _NUMBER + ")")
_MEMORY_DELTA = re.compile(
    r"memory footprint.*\(MB\):\s*init=(?P<init>" + _NUMBER + r")\s+overall=(?P<overall>" + _NUMBER + ")",
    re.IGNORECASE,
)
_PEAK_MONITORED = re.compile(
    r"^Overall peak memory footprint \(MB\) via periodic monitoring:\s*(?P<value>" + _NUMBER + ")"
)
# Lines that state one number, and the field it fills.
_NUMBER_LINES = (
    ("init_session_ms", _INIT_SESSION),
    ("model_size_mb", _MODEL_SIZE),
    ("peak_mb", _PEAK_MONITORED),
)
_GPU_BACKEND = re.compile(r"^Initialized (?P<api>OpenCL|OpenGL)-based API")
_NEW_RUN = re.compile(r"^STARTING!")
_RUN_PREAMBLE = re.compile(r"^(Log parameter values|Loaded model|Initialized session|Min num runs)")


@dataclass(frozen=True)
class BenchmarkOutput:
    """One run of benchmark_model as printed; a value the text does not state is None.

    ``status`` is "ok" when the tool printed its timing summary, else "failed" with ``error``: the
    tool's most specific error line, or "no summary in output" when it printed none (a cut or
    crashed run); numbers printed before the cut are kept. Times are microseconds, memory MB.
    ``init_session_ms`` is "Initialized session in X ms"; ``init_us`` is the summary's Init,
    else that value in microseconds. ``first_us`` falls back to the warmup line's ``first=``.
    ``threads`` is "#threads used for CPU inference", else a positive "Num threads" (the
    command line is not read: a prompt may not show the flags that applied). ``count``, min, max,
    std and percentiles describe the measured runs; ``samples_us`` / ``warmup_samples_us`` hold
    every sample only when the stat line fixes them all (see RunStats), else they are empty.
    """

    status: Literal["ok", "failed"]
    error: str | None = None
    error_lines: tuple[str, ...] = ()
    has_summary: bool = False
    params: dict[str, str] = field(default_factory=dict, hash=False)
    graph: str | None = None
    threads: int | None = None
    use_gpu: bool | None = None
    use_nnapi: bool | None = None
    nnapi_accelerator: str | None = None
    nnapi_accelerators_available: tuple[str, ...] = ()
    gpu_backend: str | None = None
    init_session_ms: float | None = None
    init_us: float | None = None
    first_us: float | None = None
    warmup_count: int | None = None
    warmup_avg_us: float | None = None
    avg_us: float | None = None
    count: int | None = None
    min_us: float | None = None
    max_us: float | None = None
    std_us: float | None = None
    median_us: float | None = None
    p5_us: float | None = None
    p95_us: float | None = None
    warmup_samples_us: tuple[float, ...] = ()
    samples_us: tuple[float, ...] = ()
    mem_init_mb: float | None = None
    mem_overall_mb: float | None = None
    peak_mb: float | None = None
    model_size_mb: float | None = None
    delegates: tuple[DelegateUse, ...] = ()
    delegate_applied: str | None = None


def _param_int(params: dict[str, str], *names: str) -> int | None:
    for name in names:
        value = params.get(name, "").strip()
        if value.lstrip("-").isdigit() and int(value) > 0:
            return int(value)
    return None


def _param_bool(params: dict[str, str], *names: str) -> bool | None:
    for name in names:
        value = params.get(name, "").strip().lower()
        if value in ("1", "true"):
            return True
        if value in ("0", "false"):
            return False
    return None


def _parse_block(lines: list[tuple[bool, str]]) -> BenchmarkOutput | None:
    """Parse one run's cleaned lines; None when nothing in them is benchmark_model output."""
    params: dict[str, str] = {}
    summary: dict[str, float] = {}
    has_summary = False
    phase = 0  # how many "Running benchmark for at least ..." lines were seen
    warmup: RunStats | None = None
    inference: RunStats | None = None
    unplaced: list[RunStats] = []  # stat lines before any "Running benchmark" line (cut excerpts)
    error_lines: list[str] = []
    delegates = _DelegateNotes()
    values: dict[str, float] = {}
    gpu_backend = None
    recognized = False

    for is_error, line in lines:
        text = line.strip()
        if not text:
            continue
        if (is_error and not _SUMMARY.match(text)) or _FAILURE_LINE.search(text):
            error_lines.append(" ".join(text.split()))
            recognized = True
        if delegates.read(text):
            recognized = True
            continue
        stats = parse_stat_line(text)
        if stats is not None:
            recognized = True
            if phase == 0:
                unplaced.append(stats)
            elif phase == 1:
                warmup = stats
            else:
                inference = stats
            continue
        match = _SUMMARY.match(text)
        if match:
            recognized = has_summary = True
            for field_match in _SUMMARY_FIELD.finditer(match["body"]):
                label = field_match["label"].strip().lower()
                if label in _SUMMARY_LABELS:
                    summary[_SUMMARY_LABELS[label]] = float(field_match["value"])
            continue
        if _RUNNING.match(text):
            phase += 1
            recognized = True
            continue
        number_line = next(
            ((key, match) for key, pattern in _NUMBER_LINES if (match := pattern.match(text))), None
        )
        if number_line is not None:
            key, match = number_line
            values[key] = float(match["value"])
            recognized = True
            continue
        match = _MEMORY_DELTA.search(text)
        if match:
            values["mem_init_mb"] = float(match["init"])
            values["mem_overall_mb"] = float(match["overall"])
            recognized = True
            continue
        match = _GPU_BACKEND.match(text)
        if match:
            gpu_backend = match["api"]
            recognized = True
            continue
        match = _PARAM.match(text)
        if match:
            params.setdefault(match["name"].strip(), match["value"])
            recognized = True
            continue
        if _NEW_RUN.match(text) or _RUN_PREAMBLE.match(text):
            recognized = True

    if not recognized:
        return None

    # Stat lines with no "Running benchmark" line before them (an excerpt that starts late):
    # place them by matching the summary's averages, the only statement of which is which.
    for stats in unplaced:
        if stats.avg_us is not None and stats.avg_us == summary.get("avg_us") and inference is None:
            inference = stats
        elif stats.avg_us is not None and stats.avg_us == summary.get("warmup_avg_us") and warmup is None:
            warmup = stats

    init_session_ms = values.get("init_session_ms")
    init_us = summary.get("init_us")
    if init_us is None and init_session_ms is not None:
        init_us = round(init_session_ms * 1000.0, 3)
    first_us = summary.get("first_us", warmup.first_us if warmup else None)
    warmup_avg_us = summary.get("warmup_avg_us", warmup.avg_us if warmup else None)
    avg_us = summary.get("avg_us", inference.avg_us if inference else None)

    delegate_uses = delegates.freeze()
    error = None
    status: Literal["ok", "failed"] = "ok"
    if not has_summary:
        status = "failed"
        error = _pick_error(error_lines) or NO_SUMMARY_ERROR

    available = params.get("NNAPI accelerators available", "")
    return BenchmarkOutput(
        status=status,
        error=error,
        error_lines=tuple(error_lines),
        has_summary=has_summary,
        params=params,
        graph=params.get("Graph") or None,
        threads=_param_int(params, "#threads used for CPU inference", "Num threads"),
        use_gpu=_param_bool(params, "Use gpu", "Use GPU"),
        use_nnapi=_param_bool(params, "Use NNAPI", "Use nnapi"),
        nnapi_accelerator=params.get("NNAPI accelerator name") or None,
        nnapi_accelerators_available=tuple(name for name in available.split(",") if name),
        gpu_backend=gpu_backend,
        init_session_ms=init_session_ms,
        init_us=init_us,
        first_us=first_us,
        warmup_count=warmup.count if warmup else None,
        warmup_avg_us=warmup_avg_us,
        avg_us=avg_us,
        count=inference.count if inference else None,
        min_us=inference.min_us if inference else None,
        max_us=inference.max_us if inference else None,
        std_us=inference.std_us if inference else None,
        median_us=inference.median_us if inference else None,
        p5_us=inference.p5_us if inference else None,
        p95_us=inference.p95_us if inference else None,
        warmup_samples_us=warmup.samples_us if warmup else (),
        samples_us=inference.samples_us if inference else (),
        mem_init_mb=values.get("mem_init_mb"),
        mem_overall_mb=values.get("mem_overall_mb"),
        peak_mb=values.get("peak_mb"),
        model_size_mb=values.get("model_size_mb"),
        delegates=delegate_uses,
        delegate_applied=summarize_delegates(delegate_uses),
    )


def _split_runs(text: str) -> list[list[tuple[bool, str]]]:
    """Cleaned lines grouped per run: a run starts at "STARTING!", or at a run's first lines
    ("Loaded model", "Initialized session" ...) once the current group already has its summary."""
    runs: list[list[tuple[bool, str]]] = [[]]
    summary_seen = False
    for raw in text.splitlines():
        is_error, line = _clean(raw)
        text_line = line.strip()
        starts_run = bool(_NEW_RUN.match(text_line)) or (
            summary_seen and bool(_RUN_PREAMBLE.match(text_line))
        )
        if starts_run and runs[-1]:
            runs.append([])
            summary_seen = False
        runs[-1].append((is_error, line))
        if _SUMMARY.match(text_line):
            summary_seen = True
    return runs


def parse_outputs(text: str) -> list[BenchmarkOutput]:
    """Return one BenchmarkOutput per run found in ``text``, in order; [] when there is none.

    Text between runs that the tool did not print (prompts, ``echo`` lines) is ignored; a group of
    lines with nothing recognisable in it is not reported as a run. Never raises.
    """
    outputs = []
    for run_lines in _split_runs(text):
        output = _parse_block(run_lines)
        if output is not None:
            outputs.append(output)
    return outputs


def parse_output(text: str) -> BenchmarkOutput:
    """Return the result of the last complete run (one with a timing summary) in ``text``.

    When no run printed a summary, returns the last run found (status "failed"); when nothing in
    ``text`` is benchmark_model output, a failed result with error "no summary in output".
    Never raises.
    """
    outputs = parse_outputs(text)
    complete = [output for output in outputs if output.has_summary]
    if complete:
        return complete[-1]
    if outputs:
        return outputs[-1]
    return BenchmarkOutput(status="failed", error=NO_SUMMARY_ERROR)


# --- op profiling --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpRow:
    """One row of a "Run Order" or "Top by Computation Time" table (times in ms)."""

    node_type: str
    avg_ms: float
    percent: float
    start_ms: float | None = None
    first_ms: float | None = None
    cdf_percent: float | None = None
    mem_kb: float | None = None
    times_called: int | None = None
    name: str | None = None


@dataclass(frozen=True)
class NodeTypeRow:
    """One row of a "Summary by node type" table: ``count`` nodes of this type, their total avg."""

    node_type: str
    count: int
    avg_ms: float
    percent: float
    cdf_percent: float | None = None
    mem_kb: float | None = None
    times_called: int | None = None


@dataclass(frozen=True)
class ProfileSection:
    """The tables and totals of one profiling block (initialization, or the measured runs)."""

    run_order: tuple[OpRow, ...] = ()
    top_by_time: tuple[OpRow, ...] = ()
    by_node_type: tuple[NodeTypeRow, ...] = ()
    nodes_executed: int | None = None
    nodes_observed: int | None = None
    timings: RunStats | None = None


@dataclass(frozen=True)
class OpProfile:
    """``--enable_op_profiling`` output: ``init`` is the initialization profile, ``run`` the
    profile of the measured runs; either is None when the text does not contain it."""

    init: ProfileSection | None
    run: ProfileSection | None


_INIT_PROFILE = re.compile(r"Profiling Info for Benchmark Initialization")
_RUN_PROFILE = re.compile(r"Operator-wise Profiling Info for Regular Benchmark Runs")
_TABLE_TITLE = re.compile(r"^=+\s*(?P<title>.+?)\s*=+$")
_NODES_EXECUTED = re.compile(r"^Number of nodes executed:\s*(?P<n>\d+)")
_NODES_OBSERVED = re.compile(r"^(?P<n>\d+) nodes observed")
_PROFILE_TIMINGS = re.compile(r"^Timings \(microseconds\):\s*(?P<stats>count=.*)$")


def _cells(line: str) -> list[str]:
    """Split a table line into cells: tab-separated as printed, else on runs of 2+ spaces."""
    body = line.strip("\r\n")
    if "\t" in body:
        cells = body.split("\t")
        if cells and not cells[0].strip():
            cells = cells[1:]  # rows start with a tab
        return [cell.strip() for cell in cells]
    return [cell for cell in re.split(r"\s{2,}", body.strip())]


def _header_key(cell: str) -> str:
    return cell.strip("[]").replace(" ", "").lower()


def _number(cell: str | None) -> float | None:
    if cell is None:
        return None
    try:
        return float(cell.rstrip("%"))
    except ValueError:
        return None


def _op_row(row: dict[str, str]) -> OpRow | None:
    avg, percent = _number(row.get("avgms")), _number(row.get("%"))
    if avg is None or percent is None:
        return None
    times = _number(row.get("timescalled"))
    return OpRow(
        node_type=row["nodetype"],
        avg_ms=avg,
        percent=percent,
        start_ms=_number(row.get("start")),
        first_ms=_number(row.get("first")),
        cdf_percent=_number(row.get("cdf%")),
        mem_kb=_number(row.get("memkb")),
        times_called=int(times) if times is not None else None,
        name=row.get("name") or None,
    )


def _node_type_row(row: dict[str, str]) -> NodeTypeRow | None:
    count, avg, percent = _number(row.get("count")), _number(row.get("avgms")), _number(row.get("avg%"))
    if count is None or avg is None or percent is None:
        return None
    times = _number(row.get("timescalled"))
    return NodeTypeRow(
        node_type=row["nodetype"],
        count=int(count),
        avg_ms=avg,
        percent=percent,
        cdf_percent=_number(row.get("cdf%")),
        mem_kb=_number(row.get("memkb")),
        times_called=int(times) if times is not None else None,
    )


_Row = TypeVar("_Row", OpRow, NodeTypeRow)


def _parse_profile_section(lines: list[str]) -> ProfileSection:
    tables: dict[str, list[dict[str, str]]] = {}
    title: str | None = None
    header: list[str] | None = None
    nodes_executed = nodes_observed = None
    timings = None
    for line in lines:
        text = line.strip()
        match = _TABLE_TITLE.match(text)
        if match:
            title, header = match["title"], None
            tables.setdefault(title, [])
            continue
        if not text:
            title, header = None, None
            continue
        if title is not None:
            cells = _cells(line)
            if header is None:
                header = [_header_key(cell) for cell in cells]
            elif "nodetype" in header:
                tables[title].append(dict(zip(header, cells)))
            continue
        if match := _NODES_EXECUTED.match(text):
            nodes_executed = int(match["n"])
        elif match := _NODES_OBSERVED.match(text):
            nodes_observed = int(match["n"])
        elif match := _PROFILE_TIMINGS.match(text):
            timings = parse_stat_line(match["stats"])

    def rows(table_title: str, make: Callable[[dict[str, str]], _Row | None]) -> tuple[_Row, ...]:
        made = (make(row) for row in tables.get(table_title, []) if row.get("nodetype"))
        return tuple(row for row in made if row is not None)

    return ProfileSection(
        run_order=rows("Run Order", _op_row),
        top_by_time=rows("Top by Computation Time", _op_row),
        by_node_type=rows("Summary by node type", _node_type_row),
        nodes_executed=nodes_executed,
        nodes_observed=nodes_observed,
        timings=timings,
    )


def parse_op_profile(text: str) -> OpProfile:
    """Return the initialization and run op profiles printed with ``--enable_op_profiling``.

    Reads the "Profiling Info for Benchmark Initialization" and "Operator-wise Profiling Info for
    Regular Benchmark Runs" blocks (from a whole benchmark_model output or just the tables); a
    block that is absent is None. Never raises.
    """
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for raw in text.splitlines():
        _, line = _clean(raw)
        if _INIT_PROFILE.search(line):
            current = "init"
            sections[current] = []
        elif _RUN_PROFILE.search(line):
            current = "run"
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return OpProfile(
        init=_parse_profile_section(sections["init"]) if "init" in sections else None,
        run=_parse_profile_section(sections["run"]) if "run" in sections else None,
    )


# --- where each op ran ---------------------------------------------------------------------------

_DELEGATE_NODE = re.compile(r"TfLite\w*Delegate\w*")


@dataclass(frozen=True)
class OpPlacement:
    """Where each node of a run profile ran: one row per node (see benchlab.records.OP_PROFILE_KEYS)
    and the share of the profiled time the accelerator took (None when nothing was timed)."""

    rows: tuple[dict[str, object], ...]
    delegated_time_pct: float | None


def op_placement(section: ProfileSection) -> OpPlacement:
    """Return where each node of a run profile's "Run Order" table ran, and the accelerator's time share.

    A node whose type is a delegate kernel (``TfLiteGpuDelegateV2``, ``TfLiteNnapiDelegate`` ...) is one
    partition the delegate ran, named as elsewhere in this module ("GPU", "NNAPI"); any other node
    ran on the CPU with TFLite's builtin kernels. CPU delegates (``CPU_DELEGATES``: XNNPACK, Flex)
    count as the CPU: an accelerator job whose op lands there has fallen back. The time share sums
    the nodes' average times, so it does not depend on the tool's rounded percentages.
    """
    rows = []
    for op in section.run_order:
        ran_on = _delegate_name(op.node_type) if _DELEGATE_NODE.fullmatch(op.node_type) else "CPU"
        rows.append({"op": op.node_type, "node": op.name, "ran_on": ran_on,
                     "on_cpu": ran_on == "CPU" or ran_on in CPU_DELEGATES,
                     "avg_ms": op.avg_ms, "time_pct": op.percent})
    total_ms = sum(op.avg_ms for op in section.run_order)
    delegated_ms = sum(row["avg_ms"] for row in rows if not row["on_cpu"])  # type: ignore[misc]
    share = round(100.0 * delegated_ms / total_ms, 3) if total_ms > 0 else None
    return OpPlacement(rows=tuple(rows), delegated_time_pct=share)
