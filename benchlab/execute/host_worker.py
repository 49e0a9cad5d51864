"""The measuring process of the host device: one LiteRT model, timed invoke by invoke.

Run as ``python -m benchlab.execute.host_worker REQUEST.json``. It runs in its own process (like pyperf's
workers) so a model that crashes the runtime or hangs costs one measurement, never the run, and so
its peak memory is the model's, not the orchestrator's. It writes RESULT.json (and the outputs on
the evaluation inputs as .npy) where the request says; the parent enforces the timeout.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchlab.tensors import dequantize, quantize

CUSTOM_OP = re.compile(r"unresolved custom op: (\S+?)\.?(\s|$)", re.IGNORECASE)
#: LiteRT's check that a quantized activation range fits int32 arithmetic, and the node that failed it.
INT16X8_RANGE = re.compile(r"no_integer_overflow_from_quantization was not true\.?\s*(?:Node number (\d+) \((\w+)\))?")
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
    parent = os.environ.get("BENCHLAB_PARENT_PID")
    if parent is not None and os.getppid() != int(parent):
        sys.exit(1)


def _status_mb(field: str) -> float:
    """Read a memory field (VmRSS, VmHWM) of this process from /proc/self/status, in MB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024.0
    raise OSError(f"/proc/self/status has no {field}")


def _timed_invoke(interpreter: Any) -> float:
    started = time.perf_counter_ns()
    interpreter.invoke()
    return (time.perf_counter_ns() - started) / 1000.0


def _readable(error: Exception) -> str:
    text = str(error)
    missing = CUSTOM_OP.search(text)
    if missing:
        return f"custom op {missing.group(1)} not available in this LiteRT runtime"
    overflow = INT16X8_RANGE.search(text)
    if overflow:
        node = f"{overflow.group(2)} (node {overflow.group(1)})" if overflow.group(1) else "an op"
        return (f"{node} failed to prepare: no_integer_overflow_from_quantization, a limit of LiteRT's int16x8 "
                "kernels (the op's calibrated activation range does not fit its integer arithmetic)")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def measure(request: dict[str, Any]) -> dict[str, Any]:
    """Load the model, time it as the request says, run the evaluation inputs; return the result."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    options: dict[str, Any] = {"num_threads": request["threads"]}
    if not request["xnnpack"]:
        options["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    rss_before = _status_mb("VmRSS")
    started = time.perf_counter_ns()
    try:
        interpreter = Interpreter(model_path=request["model_path"], **options)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        return {"status": "failed", "error": _readable(exc)}
    init_us = (time.perf_counter_ns() - started) / 1000.0
    memory_init_mb = _status_mb("VmRSS") - rss_before
    input_detail = interpreter.get_input_details()[0]
    output_detail = interpreter.get_output_details()[0]
    shape = tuple(input_detail["shape"])

    eval_inputs = np.load(request["eval_inputs_path"]) if request.get("eval_inputs_path") else None
    if eval_inputs is not None and eval_inputs[0].size != int(np.prod(shape)):
        return {"status": "failed", "error": f"evaluation samples have shape {eval_inputs.shape[1:]}, "
                                             f"the model input is {shape}"}
    # Time the same input every iteration, as benchmark_model does: a real sample, not zeros,
    # so data-dependent kernels behave as in production.
    sample = eval_inputs[0] if eval_inputs is not None else np.random.default_rng(0).random(shape)
    interpreter.set_tensor(input_detail["index"], quantize(np.reshape(sample, shape), input_detail))
    first_us = _timed_invoke(interpreter)
    warmup_us = [_timed_invoke(interpreter) for _ in range(request["warmup"])]
    samples_us: list[float] = []
    began = time.perf_counter()
    while True:
        samples_us.append(_timed_invoke(interpreter))
        elapsed = time.perf_counter() - began
        enough = len(samples_us) >= request["iterations"] and elapsed >= request["min_seconds"]
        if enough or elapsed >= request["max_seconds"]:
            break

    outputs_path = request.get("outputs_path")
    if eval_inputs is not None and outputs_path:
        outputs = []
        for inputs in eval_inputs:
            interpreter.set_tensor(input_detail["index"], quantize(np.reshape(inputs, shape), input_detail))
            interpreter.invoke()
            outputs.append(dequantize(interpreter.get_tensor(output_detail["index"]), output_detail)[0])
        np.save(outputs_path, np.stack(outputs))
    return {
        "status": "ok",
        "init_us": init_us,
        "first_us": first_us,
        "warmup_us": warmup_us,
        "samples_us": samples_us,
        "memory_init_mb": memory_init_mb,
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a worker started by the
        # TensorFlow-laden parent would report the parent's peak. VmHWM is this process's own.
        "peak_memory_mb": _status_mb("VmHWM"),
        "input_dtype": str(np.dtype(input_detail["dtype"])),
    }


def main(argv: list[str]) -> int:
    """Read the request file named in argv, measure, write the result file; exit 0 if measured."""
    die_with_parent()
    request = json.loads(Path(argv[1]).read_text())
    result = measure(request)
    Path(request["result_path"]).write_text(json.dumps(result))
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
