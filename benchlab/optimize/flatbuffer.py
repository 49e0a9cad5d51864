"""Rewrites of a .tflite flatbuffer that make a published model quantizable, and a look at its weights.

Many published .tflite files are not plain float32 in the current schema: MediaPipe's, among
others, name their ops in the old schema field, store weights as float16 behind DEQUANTIZE ops or
sparse behind DENSIFY ops, and carry no signature. ai-edge-quantizer reads only the current op code
field, only quantizes dense float32 constants (it leaves other weights unchanged, or takes them for
activations) and calibrates through a signature. `prepare_for_quantizer` fills in the current op
codes, stores sparse weights dense and float16 weights as float32 (the DENSIFY / DEQUANTIZE ops
dropped, their consumers reading the constant) and gives a signature-less model a `serving_default`
signature whose keys are the tensor names, so the variant's inputs and outputs keep the names the
data is keyed by.

The model is edited through TensorFlow's object API (tensorflow.lite.tools.flatbuffer_utils);
TensorFlow is imported inside the functions only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchlab.tensors import DEFAULT_SIGNATURE


#: Bumped whenever `prepare_for_quantizer` writes other bytes for the same file: part of the quantizer
#: variants' cache key, so a variant prepared by an older benchlab is built again.
PREPARATION_REVISION = 2


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
    #: Sparse constants (behind DENSIFY ops) stored dense, as the quantizer reads only dense weights.
    densified: int = 0

    def notes(self) -> str | None:
        """Return what was done, for the variant's row (e.g. "fp16 weights expanded to fp32; signature added")."""
        done = []
        if self.densified:
            done.append(f"sparse weights stored dense ({self.densified} tensors)")
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
    _current_operator_codes(model)
    densified = sum(_densify_constants(model, index) for index in range(len(model.subgraphs)))
    expanded = sum(_expand_fp16_constants(model, index) for index in range(len(model.subgraphs)))
    added = _add_signature(model)
    return Prepared(model=bytes(flatbuffer_utils.convert_object_to_bytearray(model)), expanded_fp16=expanded,
                    added_signature=added, float_constants=_constant_types(model)["FLOAT32"], densified=densified)


def _current_operator_codes(model: Any) -> None:
    """Set `builtinCode` on operator codes written before the schema had it (the same op, so no note).

    Files written before TFLite schema 3a (most MediaPipe models) hold an op's kind in
    `deprecated_builtin_code` only, leaving `builtin_code` 0, which is ADD. LiteRT reads the larger of
    the two (schema_utils GetBuiltinCode); ai-edge-quantizer reads `builtin_code` alone, so it took
    every op of such a model for an ADD: dynamic-range recipes quantized nothing and full int8 gave
    CONV_2D kernels an ADD's asymmetric parameters, which the kernel refuses at prepare.
    """
    for code in model.operatorCodes:
        code.builtinCode = max(code.builtinCode, code.deprecatedBuiltinCode)


def custom_ops(model_bytes: bytes) -> list[str]:
    """Return the names of the custom ops the model uses (none for a model of built-in ops only)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_bytes))
    used = {op.opcodeIndex for subgraph in model.subgraphs for op in subgraph.operators}
    return sorted({code.customCode.decode() if isinstance(code.customCode, bytes) else str(code.customCode)
                   for index, code in enumerate(model.operatorCodes)
                   if index in used and max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.CUSTOM})


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

    def to_float32(tensor: Any, data: np.ndarray) -> np.ndarray | None:
        if tensor.type != schema.TensorType.FLOAT16:
            return None  # a DEQUANTIZE of an int8 constant: the model's own quantization, kept
        return np.frombuffer(data.tobytes(), dtype="<f2").astype("<f4").view(np.uint8)

    return _fold_constant_ops(model, subgraph_index, schema.BuiltinOperator.DEQUANTIZE, to_float32)


def _densify_constants(model: Any, subgraph_index: int) -> int:
    """Replace each sparse constant -> DENSIFY pair by the dense constant; return how many.

    A pruned model written with the converter's sparsity optimisation (BlazeFace full-range sparse)
    feeds its kernels through DENSIFY (and then DEQUANTIZE for float16): the quantizer sees such a
    kernel as an activation, and full int8 then gives CONV_2D asymmetric weights, which the kernel refuses.
    """
    from tensorflow.lite.python import schema_py_generated as schema

    widths = {schema.TensorType.FLOAT32: "<f4", schema.TensorType.FLOAT16: "<f2", schema.TensorType.INT8: "i1"}

    def dense(tensor: Any, data: np.ndarray) -> np.ndarray | None:
        if tensor.sparsity is None or tensor.type not in widths:
            return None
        values = np.frombuffer(data.tobytes(), dtype=widths[tensor.type])
        name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
        return densify(name, values, tuple(int(d) for d in tensor.shape), tensor.sparsity).view(np.uint8).ravel()

    return _fold_constant_ops(model, subgraph_index, schema.BuiltinOperator.DENSIFY, dense)


def _fold_constant_ops(model: Any, subgraph_index: int, opcode: int,
                       fold: Callable[[Any, np.ndarray], np.ndarray | None]) -> int:
    """Replace each op of kind `opcode` whose first input is a constant by that constant, folded.

    `fold(tensor, bytes)` returns the op's output bytes, or None to keep the op. The op's output
    tensor becomes a constant holding them; the source tensors no op reads any more are dropped (and
    their bytes, unless another tensor shares the buffer). Returns how many ops were folded.
    """
    subgraph = model.subgraphs[subgraph_index]
    codes = {i for i, code in enumerate(model.operatorCodes)
             if max(code.builtinCode, code.deprecatedBuiltinCode) == opcode}
    replacement: dict[int, int] = {}  # the op's output (now a constant) -> its source tensor
    kept_ops = []
    for op in subgraph.operators:
        source = subgraph.tensors[op.inputs[0]] if op.opcodeIndex in codes else None
        data = _data(model, source) if source is not None else None
        folded = fold(source, data) if data is not None else None
        if folded is None:
            kept_ops.append(op)
            continue
        output = int(op.outputs[0])
        buffer = _buffer_of(folded)
        model.buffers.append(buffer)
        subgraph.tensors[output].buffer = len(model.buffers) - 1
        replacement[output] = int(op.inputs[0])
    if not replacement:
        return 0
    subgraph.operators = kept_ops
    used = {int(i) for op in kept_ops for i in (*op.inputs, *op.outputs, *_indices(op.intermediates)) if i >= 0}
    used |= {int(i) for i in (*subgraph.inputs, *subgraph.outputs)}
    dropped = {subgraph.tensors[i].buffer for i in replacement.values() if i not in used}
    kept = {t.buffer for g in model.subgraphs for i, t in enumerate(g.tensors) if g is not subgraph or i in used}
    for buffer_index in dropped - kept:  # a buffer another tensor still reads keeps its bytes
        model.buffers[buffer_index].data = None
    _drop_unused_tensors(model, subgraph_index, used)
    return len(replacement)


def _buffer_of(data: np.ndarray) -> Any:
    """Return a flatbuffer Buffer object holding `data` (bytes as uint8)."""
    from tensorflow.lite.python import schema_py_generated as schema

    buffer = schema.BufferT()
    buffer.data = data
    return buffer


def densify(name: str, values: np.ndarray, shape: tuple[int, ...], sparsity: Any) -> np.ndarray:
    """Return the dense array of a sparse tensor whose leading dimensions are dense and last is CSR.

    Raises ValueError for another encoding (blocks, another traversal order): the converter writes
    only this one.
    """
    dims = sparsity.dimMetadata
    identity = list(range(len(shape)))
    dense_rows = all(d.format == 0 for d in dims[:-1]) and dims[-1].format == 1
    if not dense_rows or sparsity.blockMap is not None and len(sparsity.blockMap) \
            or list(sparsity.traversalOrder) != identity:
        raise ValueError(f"tensor {name!r} uses a sparse encoding other than dense rows with a CSR last dimension")
    segments = np.asarray(dims[-1].arraySegments.values, dtype=np.int64)
    columns = np.asarray(dims[-1].arrayIndices.values, dtype=np.int64)
    dense = np.zeros((int(np.prod(shape[:-1])), shape[-1]), dtype=values.dtype)
    rows = np.repeat(np.arange(len(segments) - 1), np.diff(segments))
    dense[rows, columns] = values
    return dense.reshape(shape)


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
