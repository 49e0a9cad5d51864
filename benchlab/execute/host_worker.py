"""The measuring process of the host device: one model in its format's runtime, timed invoke by invoke.

Run as ``python -m benchlab.execute.host_worker REQUEST.json``. It runs in its own process (like pyperf's
workers) so a model that crashes the runtime or hangs costs one measurement, never the run, and so
its peak memory is the model's, not the orchestrator's. The runtime is the variant format's
(benchlab.execute.host_runtimes: LiteRT for .tflite, ExecuTorch for .pte, PyTorch for .pt2); every
format is timed the same way here. It writes RESULT.json (and every output on
the evaluation inputs, by name, as .npz) where the request says; the parent enforces the timeout.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchlab.settings import PARENT_PID, read
from benchlab.errors import ModelError, RunnerError, first_line, is_disk_full
from benchlab.execute.host_device import EXIT_DISK_FULL, failed_result
from benchlab.execute.host_runtimes import runtime_for
from benchlab.execute.host_runtimes.base import ModelRefused, Session
from benchlab.process_memory import status_mb
from benchlab.tensors import Feeds, ModelIO, load_feeds, match_names, save_feeds

#: prctl option from <linux/prctl.h>: the signal a process gets when its parent exits.
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when benchlab dies, so no worker outlives a killed run.

    Set here rather than in a preexec_fn, which is unsafe in benchlab's threaded parent. A parent
    that died before the call is caught by comparing the parent pid with the one we were given.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # not Linux: the parent's timeout still bounds the worker
    parent = read(PARENT_PID)
    if parent is not None and os.getppid() != int(parent):
        sys.exit(1)


def _timed_invoke(session: Session) -> float:
    started = time.perf_counter_ns()
    session.invoke()
    return (time.perf_counter_ns() - started) / 1000.0


def _feeds(eval_inputs_path: str | None, io: ModelIO) -> Feeds:
    """Return the inputs keyed by the model's input names: the evaluation inputs, or one seeded
    random sample per input when the job has none. Raises ValueError when they do not fit."""
    if not eval_inputs_path:
        rng = np.random.default_rng(0)
        return {t.name: rng.random((1, *(max(d, 1) for d in t.sample_shape))) for t in io.inputs}
    data = load_feeds(eval_inputs_path)
    mapping = match_names(list(data), io.inputs)
    feeds = {t.name: data[mapping[t.name]] for t in io.inputs}
    for tensor in io.inputs:
        values = feeds[tensor.name]
        if tensor.misfit(values) is not None:
            raise ValueError(f"input {tensor.name!r}: the model expects {tensor.describe()}, "
                             f"the evaluation data holds {values.dtype} {values.shape[1:]}")
    return feeds


def measure(request: dict[str, Any]) -> dict[str, Any]:
    """Load the model in its format's runtime, time it as the request says, run the evaluation inputs;
    return the result."""
    runtime = runtime_for(request["format"])
    runtime.load_library()
    rss_before = status_mb("VmRSS")
    started = time.perf_counter_ns()
    try:
        session = runtime.open(request["model_path"], request["threads"], request["xnnpack"])
    except ModelRefused as exc:
        return failed_result(ModelError(str(exc)))
    init_us = (time.perf_counter_ns() - started) / 1000.0
    memory_init_mb = status_mb("VmRSS") - rss_before
    io = session.io
    try:
        feeds = _feeds(request.get("eval_inputs_path"), io)
        session.prepare(feeds)
    except ValueError as exc:  # data that does not fit the model: the model's row fails
        return failed_result(ModelError(str(exc)))
    except OSError as exc:  # the run's inputs file gone or cut: nothing to do with the model, --resume retries
        return failed_result(RunnerError(first_line(exc)))

    # Time the same inputs every iteration, as benchmark_model does: the first evaluation sample,
    # real data rather than zeros, so data-dependent kernels behave as in production.
    session.set_sample(feeds, 0)
    first_us = _timed_invoke(session)
    warmup_us = [_timed_invoke(session) for _ in range(request["warmup"])]
    samples_us: list[float] = []
    began = time.perf_counter()
    while True:
        samples_us.append(_timed_invoke(session))
        elapsed = time.perf_counter() - began
        enough = len(samples_us) >= request["iterations"] and elapsed >= request["min_seconds"]
        if enough or elapsed >= request["max_seconds"]:
            break

    outputs_path = request.get("outputs_path")
    if request.get("eval_inputs_path") and outputs_path:
        outputs: dict[str, list[np.ndarray]] = {t.name: [] for t in io.outputs}
        for sample in range(len(next(iter(feeds.values())))):
            session.set_sample(feeds, sample)
            session.invoke()
            for name, values in session.outputs().items():
                outputs[name].append(values[0])
        save_feeds(outputs_path, {name: np.stack(values) for name, values in outputs.items()})
    return {
        "status": "ok",
        "init_us": init_us,
        "first_us": first_us,
        "warmup_us": warmup_us,
        "samples_us": samples_us,
        "memory_init_mb": memory_init_mb,
        # VmHWM, this process's own peak (benchlab.process_memory: not ru_maxrss, which exec carries over).
        "peak_memory_mb": status_mb("VmHWM"),
        "input_dtype": ",".join(t.dtype for t in io.inputs),
    }


def main(argv: list[str]) -> int:
    """Read the request file named in argv, measure, write the result file; exit 0 if measured,
    EXIT_DISK_FULL when the disk filled (no fault of the model), 1 otherwise."""
    die_with_parent()
    request = json.loads(Path(argv[1]).read_text())
    try:
        result = measure(request)
        Path(request["result_path"]).write_text(json.dumps(result))
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        print(f"disk full at {exc.filename or Path(request['result_path']).parent}", file=sys.stderr)
        return EXIT_DISK_FULL
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
