"""What running a .tflite once takes in LiteRT, shared by the host's measuring worker and the build's
proof that a variant runs: dynamic inputs resized to the data, inputs set by name, and the
runtime's error text made one readable line.

LiteRT's Python interpreter raises RuntimeError with every message its error reporter received
glued together without a separator ("failed to delegate MAX_POOL_2D node #11failed to delegate ...
tflite/kernels/conv.cc:390 ... Node number 0 (CONV_2D) failed to prepare."). `readable_error`
splits them, puts the one that stopped the model first, and folds the delegate's per-node notes
into one count. Run as ``python -m benchlab.litert_invoke MODEL SAMPLE.npz`` it loads, allocates and
invokes a model once and prints the outcome as JSON (benchlab.formats.tflite proves a variant runs
so); otherwise nothing here imports LiteRT: callers hand in their interpreter.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from typing import Any

from benchlab.tensors import Feeds, ModelIO, describe_interpreter, load_feeds, match_names, to_tensor

CUSTOM_OP = re.compile(r"unresolved custom op: (\S+?)\.?(\s|$)", re.IGNORECASE)
#: LiteRT's check that a quantized activation range fits int32 arithmetic, and the node that failed it.
INT16X8_RANGE = re.compile(r"no_integer_overflow_from_quantization was not true\.?\s*(?:Node number (\d+) \((\w+)\))?")
#: Where one message of LiteRT's error reporter starts, when several were glued together.
_MESSAGE_START = re.compile(r"\s*(?=failed to delegate |tflite/|tensorflow/lite/|Node number \d+ \(|"
                            r"Encountered unresolved|Didn't find op|Internal error|Failed to apply|"
                            r"Restored original execution plan|Ignoring failed application)")
#: The XNNPACK delegate's note that it left one node to the built-in kernels (informational).
_NOT_DELEGATED = re.compile(r"failed to delegate (\w+) node #\d+")
#: A kernel's failed check, and the node whose prepare it stopped, as LiteRT words them.
_NODE_FAILED = re.compile(r"Node number (\d+) \((\w+)\) failed to (prepare|invoke)\.?")


def resize_inputs(interpreter: Any, io: ModelIO, feeds: Feeds, indices: dict[str, int]) -> None:
    """Give dynamic inputs the data's shape (batch 1), then allocate again."""
    dynamic = [t for t in io.inputs if t.dynamic]
    for tensor in dynamic:
        interpreter.resize_tensor_input(indices[tensor.tensor_name], [1, *feeds[tensor.name].shape[1:]])
    if dynamic:
        interpreter.allocate_tensors()


def set_inputs(interpreter: Any, io: ModelIO, feeds: Feeds, sample: int, indices: dict[str, int]) -> None:
    """Set every input to sample `sample` of its feed (keyed by the input's name), in the input's dtype."""
    for tensor in io.inputs:
        interpreter.set_tensor(indices[tensor.tensor_name], to_tensor(feeds[tensor.name][sample : sample + 1], tensor))


def readable_error(error: BaseException) -> str:
    """Return LiteRT's error as one line: what stopped the model first, then what else it said once.

    A missing custom op and an int16x8 range overflow get a sentence of their own; otherwise the
    failing node leads ("CONV_2D (node 0) failed to prepare: tflite/kernels/conv.cc:390 ..."), and the
    delegate's "failed to delegate" notes follow as one count per op ("XNNPACK left MAX_POOL_2D (4
    nodes) to the built-in kernels").
    """
    text = " ".join(str(error).split())
    missing = CUSTOM_OP.search(text)
    if missing:
        return f"custom op {missing.group(1)} not available in this LiteRT runtime"
    overflow = INT16X8_RANGE.search(text)
    if overflow:
        node = f"{overflow.group(2)} (node {overflow.group(1)})" if overflow.group(1) else "an op"
        return (f"{node} failed to prepare: no_integer_overflow_from_quantization, a limit of LiteRT's int16x8 "
                "kernels (the op's calibrated activation range does not fit its integer arithmetic)")
    parts = [part.strip() for part in _MESSAGE_START.split(text) if part.strip()]
    left = Counter(match.group(1) for part in parts if (match := _NOT_DELEGATED.fullmatch(part.rstrip("."))))
    others = list(dict.fromkeys(part for part in parts if not _NOT_DELEGATED.fullmatch(part.rstrip("."))))
    failed = next((_NODE_FAILED.fullmatch(part) for part in others if _NODE_FAILED.fullmatch(part)), None)
    if failed is not None:
        others.remove(failed.group(0))
        lead = f"{failed.group(2)} (node {failed.group(1)}) failed to {failed.group(3)}"
        others = [f"{lead}: {others[0]}" if others else lead, *others[1:]]
    if left:
        others.append("XNNPACK left " + ", ".join(f"{op} ({count} node{'s' if count > 1 else ''})"
                                                  for op, count in left.items()) + " to the built-in kernels")
    return "; ".join(others) or type(error).__name__


def run_once(model_path: str, sample_path: str) -> dict[str, str]:
    """Load, allocate and invoke the model once on the saved sample; return {"runtime": version} or {"error": line}."""
    from importlib.metadata import version

    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=model_path)
        interpreter.allocate_tensors()
        io = describe_interpreter(interpreter)
        data = load_feeds(sample_path)
        mapping = match_names(list(data), io.inputs)
        feeds = {tensor.name: data[mapping[tensor.name]] for tensor in io.inputs}
        indices = {d["name"]: d["index"] for d in interpreter.get_input_details()}
        resize_inputs(interpreter, io, feeds, indices)
        set_inputs(interpreter, io, feeds, 0, indices)
        interpreter.invoke()
    except (ValueError, RuntimeError, KeyError) as exc:
        return {"error": readable_error(exc)}
    return {"runtime": version("ai-edge-litert")}


if __name__ == "__main__":
    print(json.dumps(run_once(sys.argv[1], sys.argv[2])))
