"""What a model's outputs are according to LiteRT itself: the oracle the runners' outputs are checked against."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def litert_outputs(model: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every output of a .tflite on every sample, keyed by output name, straight from LiteRT's
    signature runner one sample at a time (no benchlab runner involved): what the runners must match."""
    from ai_edge_litert.interpreter import Interpreter

    from benchlab.tensors import describe_interpreter, from_tensor, to_tensor

    interpreter = Interpreter(model_path=str(model))
    io = describe_interpreter(interpreter)
    runner = interpreter.get_signature_runner(io.signature)
    collected: dict[str, list[np.ndarray]] = {info.name: [] for info in io.outputs}
    for sample in range(len(next(iter(feeds.values())))):
        result = runner(**{info.name: to_tensor(feeds[info.name][sample : sample + 1], info) for info in io.inputs})
        for info in io.outputs:
            collected[info.name].append(from_tensor(result[info.name], info)[0])
    return {name: np.stack(values) for name, values in collected.items()}
