"""ExecuTorch's `executor_runner` (examples/portable/executor_runner) on a phone: its command line and what it prints.

The runner takes `--model_path`, `--inputs` (comma-separated raw files, one per input, in the program's
order), `--output_file BASE` (each output's raw bytes to BASE-<i>.bin), `--num_executions`,
`--cpu_threads` and `--print_output none|summary|all`. Its messages are ExecuTorch log lines (ET_LOG):
with the POSIX platform layer they go to stderr as ``I 00:00:00.382397 executorch:executor_runner.cpp:133]
Model file ./resnet18.pte is loaded.``; with the Android one (a build for Android) to logcat, tag
"ExecuTorch", message only. The parser reads the message wherever it sits on a line, so either text works.

Timing comes from the runner's own per-execution lines, ``Iteration 3 of 40: 2.145000 ms``, and the load
from ``Model loaded in 4.120000 ms.`` (both added with ExecuTorch's Android benchmark script, PR #18802,
April 2026). An older runner prints one total (``Model executed successfully 40 time(s) in ...``, or no
count at all before that): no per-iteration samples, so the job fails saying so rather than report an
average as samples.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

#: One execution's time, as executor_runner.cpp logs it.
_ITERATION = re.compile(r"Iteration (\d+) of (\d+): ([0-9.]+) ms")
#: The program's load time (Program::load to Method loaded).
_LOADED = re.compile(r"Model loaded in ([0-9.]+) ms\.")
#: The total; older runners print "Model executed successfully." without a count.
_EXECUTED = re.compile(r"Model executed successfully(?: (\d+) time\(s\) in ([0-9.]+) ms)?\.")
#: What stops the runner: ET_CHECK_MSG failures and the load errors it logs before exiting.
_FAILURES = (
    re.compile(r"Execution of method (\S+) failed with status (0x[0-9a-fA-F]+)"),
    re.compile(r"Failed to parse model file (\S+)"),
    re.compile(r"Loading of method (\S+) failed with status (0x[0-9a-fA-F]+)"),
    re.compile(r"Could not prepare inputs: (0x[0-9a-fA-F]+)"),
    re.compile(r"Check failed \(.*"),
)
#: The ExecuTorch release whose executor_runner logs per-execution times (what this driver needs).
PER_ITERATION_SINCE = "ExecuTorch's main branch of April 2026 (PR #18802; 1.5 and later)"


@dataclass(frozen=True)
class RunnerOutput:
    """What one executor_runner process printed: per-execution times (ms, in order), the load time, the
    count it says it executed, and the line that stopped it."""

    iterations_ms: tuple[float, ...]
    load_ms: float | None
    executed: int | None
    error: str | None

    @property
    def problem(self) -> str | None:
        """Why these numbers cannot be a measurement, in one line, or None."""
        if self.error is not None:
            return f"executor_runner failed: {self.error}"
        if not self.iterations_ms:
            if self.executed is not None or self.load_ms is not None:
                return ("executor_runner printed no per-iteration times (it predates them); build it from "
                        f"{PER_ITERATION_SINCE}")
            return "executor_runner printed neither timings nor an error (its log may have gone to logcat only)"
        return None


def parse_output(text: str) -> RunnerOutput:
    """Parse executor_runner's stdout/stderr (POSIX log lines) or `logcat -s ExecuTorch` text."""
    iterations: dict[int, float] = {}
    load_ms = executed = error = None
    for line in text.splitlines():
        if (match := _ITERATION.search(line)) is not None:
            iterations[int(match.group(1))] = float(match.group(3))
        elif (match := _LOADED.search(line)) is not None:
            load_ms = float(match.group(1))
        elif (match := _EXECUTED.search(line)) is not None:
            executed = int(match.group(1)) if match.group(1) else 1
        elif error is None:
            error = next((m.group(0) for pattern in _FAILURES if (m := pattern.search(line)) is not None), None)
    return RunnerOutput(iterations_ms=tuple(iterations[i] for i in sorted(iterations)), load_ms=load_ms,
                        executed=executed, error=error)


def run_command(binary: str, model: str, threads: int, executions: int, output_base: str,
                inputs: Sequence[str] = ()) -> str:
    """Return the shell command that runs `model` `executions` times on `threads` threads, feeding the raw
    input files `inputs` (none: the runner's tensors of ones) and writing each output's bytes to
    `output_base`-<i>.bin. `output_base` names the job, so `kill_command` finds its process by it."""
    args = [binary, f"--model_path={model}", f"--num_executions={executions}", f"--cpu_threads={threads}",
            "--print_output=none", f"--output_file={output_base}"]
    if inputs:
        args.append(f"--inputs={','.join(inputs)}")
    return " ".join(shlex.quote(a) for a in args)


def kill_command(output_base: str) -> str:
    """Return a shell command that SIGKILLs the runner writing to `output_base` (and succeeds when none runs);
    the bracket keeps pkill's own shell from matching."""
    literal = re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", f"-output_file={output_base}")
    return f"pkill -9 -f {shlex.quote('[-]' + literal)}; true"
