"""Run LiteRT's benchmark APK as a foreground Activity and read its results from logcat.

Why a second way to run: LiteRT's tools/benchmark/android README warns that a binary started from
`adb shell` is scheduled differently from a foreground app ("Android's scheduler tailors behavior
based on thread and process priorities, which differ between a foreground Activity/Application and
a regular background binary executed via `adb shell ...`", most visible with several CPU threads).
The APK wraps the same benchmark code in ``org.tensorflow.lite.benchmark/.BenchmarkModelActivity``,
which reads its flags from the ``args`` string extra (split on whitespace by its JNI code) and logs
everything to logcat instead of stdout.

One run, as shell commands on the phone (each with a timeout):

1. ``pm path org.tensorflow.lite.benchmark`` — the APK must be installed (``package:...``).
2. ``logcat -c`` — start from an empty log; the run is also located by the Activity's own first
   line (below), so a phone whose clear fails still gives the right run.
3. ``am start -S -n org.tensorflow.lite.benchmark/.BenchmarkModelActivity --es args '<flags>'``
   (``-S`` force-stops a previous instance first). ``am`` returns at once; the benchmark runs in
   the Activity's ``onCreate``.
4. ``logcat -d -v threadtime -s tflite:V tflite_BenchmarkModelActivity:V AndroidRuntime:E libc:F``,
   polled until the run has ended or ``timeout_s`` passed. The run starts at the Activity's line
   ``Running TensorFlow Lite benchmark with args: ...``; only lines of that process (its pid) count.
   It has ended when its process logs one of:

   * ``Average inference timings in us: Warmup: .., Init: .., Inference: ..`` — the JNI listener's
     OnBenchmarkEnd line (benchmark_model_jni.cc, logged at ERROR level): finished;
   * ``FATAL EXCEPTION`` (AndroidRuntime) or ``Fatal signal`` (libc): crashed;
   * the tool's summary (``Inference timings in us: ...``) and then nothing new for one more poll:
     finished (an APK build whose JNI prints no end line);
   * a failure line of the tool's initialisation (``Failed to ...``, ``Benchmarking failed``) and
     then nothing new for one more poll: failed. The APK's JNI ignores the tool's return status, so
     a failed run prints no end line of its own. The quiet poll is there because a delegate may
     log a failure and fall back, and the run goes on.

5. ``am force-stop org.tensorflow.lite.benchmark`` — always, so a hung run does not heat the next job.

The run's lines are parsed by the same parser as the binary's output (benchmark_model.py), so the
result is the same BenchmarkOutput.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from android_runner import commands
from android_runner.benchmark_model import BenchmarkOutput, parse_output
from android_runner.transport import AdbTransport
from benchlab.errors import RunnerError
from benchlab.records import AcceleratorSetting, Scenario

PACKAGE = "org.tensorflow.lite.benchmark"
ACTIVITY = f"{PACKAGE}/.BenchmarkModelActivity"
#: The Activity's own log tag and the line it logs before running (BenchmarkModelActivity.java).
ACTIVITY_TAG = "tflite_BenchmarkModelActivity"
START_LINE = "Running TensorFlow Lite benchmark with args:"
#: Tags read from logcat: the tool, the Activity, a Java crash, a native crash.
LOGCAT_FILTER = ("tflite:V", f"{ACTIVITY_TAG}:V", "AndroidRuntime:E", "libc:F")

CHECK_INSTALLED = f"pm path {PACKAGE}"
CLEAR_LOGCAT = "logcat -c"
READ_LOGCAT = "logcat -d -v threadtime -s " + " ".join(LOGCAT_FILTER)
FORCE_STOP = f"am force-stop {PACKAGE}"
#: How the APK is installed (LiteRT README: -r replace, -d allow downgrade, -g grant permissions).
INSTALL_HINT = "adb install -r -d -g android_aarch64_benchmark_model.apk (LiteRT's prebuilt benchmark APK)"

SHELL_TIMEOUT_S = 30.0

# logcat -v threadtime: "05-30 15:16:44.857  3380  3380 I tflite  : message".
_THREADTIME = re.compile(r"^\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+\s+(?P<pid>\d+)\s+\d+\s+[VDIWEFA]\s+(?P<tag>[^:]*?)\s*: ")
_END_FINISHED = re.compile(r"Average inference timings in us:")
_END_CRASHED = re.compile(r"FATAL EXCEPTION|Fatal signal \d+")
_SUMMARY = re.compile(r": Inference timings in us:")
_INIT_FAILURE = re.compile(r": (?:ERROR: )?(?:Failed to |Benchmarking failed)")

RunEnd = Literal["finished", "failed", "crashed", "timeout"]


@dataclass(frozen=True)
class ApkRun:
    """One run of the benchmark APK: its parsed output, the logcat lines it came from, how it ended.

    ``ended`` is "finished" (the end line was logged, or the summary and then silence), "failed"
    (an initialisation failure, then silence), "crashed" (the app process died) or "timeout" (none
    of these within the time allowed; ``output`` then holds what was logged so far, status
    "failed"). ``logcat`` holds the run's own lines only, to be kept as the runner output.
    """

    output: BenchmarkOutput
    logcat: str
    ended: RunEnd


def benchmark_args(model: str, accelerator: AcceleratorSetting, scenario: Scenario,
                   inputs: Sequence[commands.SampleFile] = ()) -> str:
    """Return the ``args`` extra for one repeat: the binary's flags for the same job, one string.

    The flags are exactly those `commands.benchmark_command` gives the binary (same accelerator,
    scenario and input sample files), without the binary and the taskset mask: a foreground app
    is placed by the scheduler, which is the point of this mode. Raises RunnerError when a flag
    holds whitespace or a quote (a tensor name with a space, say), which the APK's JNI would split
    apart (it splits the string on whitespace, no quoting).
    """
    argv = shlex.split(commands.benchmark_command("benchmark_model", model, accelerator, scenario, cpu_mask=None,
                                                  inputs=inputs))
    flags = argv[1:]
    for flag in flags:
        if re.search(r"[\s'\"]", flag):
            raise RunnerError(f"the benchmark APK cannot take {flag!r}: its args string is split on "
                              "whitespace, so paths and options must not contain spaces or quotes")
    return " ".join(flags)


def install_command(remote_apk: str) -> str:
    """Return the command that installs an APK already pushed to ``remote_apk`` on the phone
    (-r replace, -d allow a downgrade, -g grant its permissions, as LiteRT's README installs it)."""
    return f"pm install -r -d -g {shlex.quote(remote_apk)}"


def installed_apk(pm_path_output: str) -> str | None:
    """Return the path of the installed base APK from ``pm path`` output (``package:/data/app/...``),
    or None when the package is not installed."""
    for line in pm_path_output.splitlines():
        if line.strip().startswith("package:"):
            return line.strip().removeprefix("package:")
    return None


def install_failure(pm_install_output: str, exit_code: int) -> str | None:
    """Return why ``pm install`` did not install (its ``Failure [...]`` or ``Error:`` line), or
    None when it printed ``Success``."""
    lines = [line.strip() for line in pm_install_output.splitlines() if line.strip()]
    if exit_code == 0 and "Success" in lines:
        return None
    refusals = [line for line in lines if line.startswith(("Failure", "Error"))]
    return (refusals or lines or [f"exit code {exit_code}"])[-1][:200]


def start_command(args: str) -> str:
    """Return the ``am start`` command that launches the benchmark Activity with ``args``."""
    return f"am start -S -n {ACTIVITY} --es args {shlex.quote(args)}"


def run_lines(logcat: str) -> list[str]:
    """Return the lines of the last run in ``logcat`` (threadtime format), from its start line on,
    keeping only lines logged by that run's process; [] when no run has started."""
    lines = logcat.splitlines()
    start = None
    for index, line in enumerate(lines):
        match = _THREADTIME.match(line)
        if match and match["tag"] == ACTIVITY_TAG and START_LINE in line:
            start = index, match["pid"]
    if start is None:
        return []
    index, pid = start
    return [line for line in lines[index:] if (match := _THREADTIME.match(line)) and match["pid"] == pid]


def run_end(lines: list[str]) -> tuple[RunEnd, bool] | None:
    """Return how the run in ``lines`` (from `run_lines`) ended by its own log, and whether that
    still needs the log to stay quiet for one poll to be sure; None while it is still running."""
    if any(_END_CRASHED.search(line) for line in lines):
        return "crashed", False
    if any(_END_FINISHED.search(line) for line in lines):
        return "finished", False
    if any(_SUMMARY.search(line) for line in lines):
        return "finished", True
    if any(_INIT_FAILURE.search(line) for line in lines):
        return "failed", True
    return None


def parse_apk_logcat(logcat: str) -> BenchmarkOutput:
    """Return the BenchmarkOutput of the last run in a ``logcat -v threadtime`` text.

    Lines of other processes and of earlier runs are ignored. An excerpt without the Activity's
    start line (a ``grep`` of the log, as pasted in issue reports) is read whole. With nothing of
    the tool's in the text, the result is failed with "no summary in output". Never raises.
    """
    return parse_output("\n".join(run_lines(logcat)) or logcat)


def _shell(transport: AdbTransport, command: str) -> str:
    return transport.shell(command, timeout_s=SHELL_TIMEOUT_S).output


def run_once(transport: AdbTransport, model: str, accelerator: AcceleratorSetting, scenario: Scenario,
             poll_s: float = 0.5, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep, inputs: Sequence[commands.SampleFile] = ()) -> ApkRun:
    """Run one repeat of the job through the benchmark APK on the phone; return what it logged.

    ``model`` is the model's path on the phone, ``inputs`` the input sample files every run feeds
    (none: the tool's random values). Waits at most ``scenario.timeout_seconds`` for the
    run to end, polling logcat every ``poll_s``; the app is force-stopped afterwards in every case.
    Raises RunnerError when the APK is not installed or ``am`` refuses the start (the message
    holds am's own error line), and the transport's DeviceError / DeviceLost when the phone stops
    answering.
    """
    if installed_apk(_shell(transport, CHECK_INSTALLED)) is None:
        raise RunnerError(f"the LiteRT benchmark APK ({PACKAGE}) is not installed on {transport.serial}",
                          hint=INSTALL_HINT)
    args = benchmark_args(model, accelerator, scenario, inputs)
    _shell(transport, CLEAR_LOGCAT)
    try:
        started = transport.shell(start_command(args), timeout_s=SHELL_TIMEOUT_S)
        # am prints "Error type 3" and then "Error: Activity class {...} does not exist.": the last
        # Error line says why.
        refusals = [line.strip() for line in started.output.splitlines() if line.startswith("Error")]
        if started.exit_code != 0 or refusals:
            reason = refusals[-1] if refusals else started.output.strip()[-200:] or f"exit code {started.exit_code}"
            raise RunnerError(f"am start refused the benchmark Activity: {reason}")
        deadline = clock() + scenario.timeout_seconds
        previous: list[str] | None = None
        while True:
            lines = run_lines(_shell(transport, READ_LOGCAT))
            state = run_end(lines)
            if state is not None and (not state[1] or lines == previous):
                ended: RunEnd = state[0]
                break
            if clock() >= deadline:
                ended = "timeout"
                break
            previous = lines
            sleep(poll_s)
    finally:
        _shell(transport, FORCE_STOP)
    text = "\n".join(lines)
    output = parse_output(text)
    if ended == "timeout":
        # What was logged is kept (a slow run may have printed its numbers), but it did not end.
        output = replace(output, status="failed",
                         error=f"benchmark APK did not finish within {scenario.timeout_seconds:g} s")
    return ApkRun(output=output, logcat=text, ended=ended)
