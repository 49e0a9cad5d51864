"""Rewrites of a .tflite flatbuffer that make a published model quantizable, and a look at its weights.

Many published .tflite files are not plain float32: their weights are stored as float16 behind
DEQUANTIZE ops, and many carry no signature. ai-edge-quantizer only quantizes float32 constants (it
leaves such a model unchanged) and calibrates through a signature. `prepare_for_quantizer` expands
the float16 weights to float32 (the DEQUANTIZE ops dropped, their consumers reading the float32
constant) and gives a signature-less model a `serving_default` signature whose keys are the tensor
names, so the variant's inputs and outputs keep the names the data is keyed by.

The model is edited through TensorFlow's object API (tensorflow.lite.tools.flatbuffer_utils);
TensorFlow is imported inside the functions only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchlab.tensors import DEFAULT_SIGNATURE


@dataclass(frozen=True)
class Prepared:
    """A model ready for the quantizer, and what was changed to make it so."""

    model: bytes
    #: float16 constants expanded to float32 (each had a DEQUANTIZE op, now gone).
    expanded_fp16: int = 0
    #: True when the model had no signature and got a `serving_default` one.
    added_signature: bool = False
    #: float32 constants (weights, biases) the quantizer may quantize; 0 for an integer model.
    float_constants: int = 0

    def notes(self) -> str | None:
        """Return what was done, for the variant's row (e.g. "fp16 weights expanded to fp32; signature added")."""
        done = []
        if self.expanded_fp16:
            done.append(f"fp16 weights expanded to fp32 ({self.expanded_fp16} tensors)")
        if self.added_signature:
            done.append(f"signature {DEFAULT_SIGNATURE!r} added (tensor names as keys)")
        return "; ".join(done) or None


def prepare_for_quantizer(path: Path) -> Prepared:
    """Return the model at `path` with float16 weights expanded and a signature added where missing.

    Raises ValueError when the file is not a .tflite flatbuffer.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(path.read_bytes()))
    expanded = sum(_expand_fp16_constants(model, index) for index in range(len(model.subgraphs)))
    added = _add_signature(model)
    return Prepared(model=bytes(flatbuffer_utils.convert_object_to_bytearray(model)), expanded_fp16=expanded,
                    added_signature=added, float_constants=_constant_types(model)["FLOAT32"])


def constant_types(model_bytes: bytes) -> Counter[str]:
    """Return how many constant tensors (tensors with data) of each type the model holds, e.g. {"INT8": 4}."""
    from tensorflow.lite.tools import flatbuffer_utils

    return _constant_types(flatbuffer_utils.read_model_from_bytearray(bytearray(model_bytes)))


def _constant_types(model: Any) -> Counter[str]:
    from tensorflow.lite.python import schema_py_generated as schema

    type_names = {value: name for name, value in vars(schema.TensorType).items() if not name.startswith("_")}
    return Counter(
        type_names[tensor.type]
        for subgraph in model.subgraphs
        for tensor in subgraph.tensors
        if _data(model, tensor) is not None
    )


def _data(model: Any, tensor: Any) -> np.ndarray | None:
    """Return a tensor's constant bytes, or None for an activation (no buffer data)."""
    data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else None
    return None if data is None or len(data) == 0 else np.asarray(data, dtype=np.uint8)


def _expand_fp16_constants(model: Any, subgraph_index: int) -> int:
    """Replace each float16 constant -> DEQUANTIZE pair by a float32 constant; return how many."""
    from tensorflow.lite.python import schema_py_generated as schema

    subgraph = model.subgraphs[subgraph_index]
    dequantize_codes = {
        i for i, code in enumerate(model.operatorCodes)
        if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.DEQUANTIZE
    }
    replacement: dict[int, int] = {}  # DEQUANTIZE output (now a float32 constant) -> its float16 source tensor
    kept_ops = []
    for op in subgraph.operators:
        source = subgraph.tensors[op.inputs[0]] if op.opcodeIndex in dequantize_codes else None
        data = _data(model, source) if source is not None and source.type == schema.TensorType.FLOAT16 else None
        if data is None:  # not a DEQUANTIZE of a float16 constant
            kept_ops.append(op)
            continue
        output = int(op.outputs[0])
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(data.tobytes(), dtype="<f2").astype("<f4").view(np.uint8)
        model.buffers.append(buffer)
        subgraph.tensors[output].buffer = len(model.buffers) - 1
        replacement[output] = int(op.inputs[0])
    if not replacement:
        return 0
    subgraph.operators = kept_ops
    # The float16 tensors are now unused: drop them (and their bytes), renumbering what remains.
    used = {int(i) for op in kept_ops for i in (*op.inputs, *op.outputs, *_indices(op.intermediates)) if i >= 0}
    used |= {int(i) for i in (*subgraph.inputs, *subgraph.outputs)}
    dropped = {subgraph.tensors[i].buffer for i in replacement.values() if i not in used}
    kept = {t.buffer for g in model.subgraphs for i, t in enumerate(g.tensors) if g is not subgraph or i in used}
    for buffer in dropped - kept:  # a buffer another tensor still reads keeps its bytes
        model.buffers[buffer].data = None
    _drop_unused_tensors(model, subgraph_index, used)
    return len(replacement)


def _drop_unused_tensors(model: Any, subgraph_index: int, used: set[int]) -> None:
    """Remove the tensors not in `used` from a subgraph and renumber every reference to the rest."""
    subgraph = model.subgraphs[subgraph_index]
    new_index = {old: new for new, old in enumerate(sorted(used))}
    subgraph.tensors = [subgraph.tensors[old] for old in sorted(used)]

    def renumber(indices: Any) -> list[int]:
        return [new_index[int(i)] if i >= 0 else -1 for i in _indices(indices)]

    for op in subgraph.operators:
        op.inputs, op.outputs = renumber(op.inputs), renumber(op.outputs)
        if len(_indices(op.intermediates)):
            op.intermediates = renumber(op.intermediates)
    subgraph.inputs, subgraph.outputs = renumber(subgraph.inputs), renumber(subgraph.outputs)
    for signature in model.signatureDefs or []:
        if signature.subgraphIndex == subgraph_index:
            for entry in (*(signature.inputs or []), *(signature.outputs or [])):
                entry.tensorIndex = new_index[entry.tensorIndex]


def _indices(indices: Any) -> Any:
    """Return a tensor index list of the object API as a sequence (it may be None, a list or an array)."""
    return [] if indices is None else indices


def _add_signature(model: Any) -> bool:
    """Give a model without signatures a `serving_default` one over the main subgraph; True if added."""
    from tensorflow.lite.python import schema_py_generated as schema

    if model.signatureDefs:
        return False
    main = model.subgraphs[0]

    def entries(indices: Any) -> list[Any]:
        mapped = []
        for index in indices:
            entry = schema.TensorMapT()
            entry.name = main.tensors[index].name
            entry.tensorIndex = int(index)
            mapped.append(entry)
        return mapped

    signature = schema.SignatureDefT()
    signature.signatureKey = DEFAULT_SIGNATURE
    signature.subgraphIndex = 0
    signature.inputs, signature.outputs = entries(main.inputs), entries(main.outputs)
    model.signatureDefs = [signature]
    return True
