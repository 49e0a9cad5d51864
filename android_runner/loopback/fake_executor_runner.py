"""Stand-in for ExecuTorch's ``executor_runner`` (examples/portable/executor_runner) on the loopback phone.

When a loopback shell command runs a pushed ``.../executor_runner``, this script runs instead (with this
machine's Python). It really loads the ``.pte`` with ``executorch.runtime`` and executes it on this CPU,
and prints what the runner built with ExecuTorch's POSIX platform layer prints on stderr, in
executor_runner.cpp's format strings (``I 00:00:00.004300 executorch:executor_runner.cpp:780] Iteration
1 of 2: 3.100000 ms``; the load, per-iteration and total lines of the runner since PR #18802).

Flags (the runner's names; ``--name=value``): ``--model_path`` (model.pte), ``--inputs`` (comma-separated
raw files, one per input, exactly tensor-sized; without: tensors of ones), ``--output_file`` (each output's
raw bytes to BASE-<i>.bin), ``--num_executions`` (1), ``--cpu_threads`` (-1: the threadpool's default),
``--print_output`` (summary; only none is implemented). A model that does not load prints the runner's
"Failed to parse model file" error and exits 1, as the runner does.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

STARTED = time.perf_counter()
#: The scalar types a program's inputs may have here, as numpy names (ExecuTorch's ScalarType codes).
SCALAR_TYPES = {0: "uint8", 1: "int8", 3: "int32", 4: "int64", 5: "float16", 6: "float32", 7: "float64", 11: "bool"}


def log(level: str, line: int, message: str) -> None:
    """Print one ET_LOG line as runtime/platform/default/posix.cpp formats it."""
    elapsed = time.perf_counter() - STARTED
    hours, rest = divmod(elapsed, 3600)
    minutes, seconds = divmod(rest, 60)
    print(f"{level} {int(hours):02d}:{int(minutes):02d}:{int(seconds):02d}.{int((seconds % 1) * 1e6):06d} "
          f"executorch:executor_runner.cpp:{line}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    flags = dict(arg[2:].split("=", 1) for arg in argv if arg.startswith("--") and "=" in arg)
    model = flags.get("model_path", "model.pte")
    executions = int(flags.get("num_executions", "1"))
    threads = int(flags.get("cpu_threads", "-1"))

    import numpy as np
    import torch
    from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
    from executorch.runtime import Runtime

    if threads > 0:
        _unsafe_reset_threadpool(threads)
    before = time.perf_counter()
    try:
        program = Runtime.get().load_program(model)
    except (RuntimeError, ValueError):
        log("E", 473, f"Failed to parse model file {model}")
        return 1
    log("I", 476, f"Model file {model} is loaded.")
    log("I", 486, "Using method forward")
    method = program.load_method("forward")
    log("I", 626, f"Model loaded in {(time.perf_counter() - before) * 1000:f} ms.")
    meta = method.metadata
    files = [f for f in flags.get("inputs", "").split(",") if f]
    inputs = []
    for index in range(meta.num_inputs()):
        tensor = meta.input_tensor_meta(index)
        dtype, shape = SCALAR_TYPES[int(tensor.dtype())], tuple(tensor.sizes())
        values = np.fromfile(files[index], dtype=dtype).reshape(shape) if files else np.ones(shape, dtype=dtype)
        inputs.append(torch.from_numpy(values.copy()))
    total = 0.0
    outputs = []
    for iteration in range(1, executions + 1):
        started = time.perf_counter()
        outputs = method.execute(inputs)
        elapsed = (time.perf_counter() - started) * 1000
        total += elapsed
        log("I", 780, f"Iteration {iteration} of {executions}: {elapsed:f} ms")
    log("I", 789, f"Model executed successfully {executions} time(s) in {total:f} ms.")
    log("I", 798, f"{len(outputs)} outputs: ")
    base = flags.get("output_file", "")
    for index, output in enumerate(outputs if base else []):
        name = f"{base}-{index}.bin"
        log("I", 809, f"Writing output to file: {name}")
        Path(name).write_bytes(output.numpy().tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
