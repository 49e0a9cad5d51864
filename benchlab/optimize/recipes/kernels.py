"""The weight kernels of a .tflite as dense arrays, read from the flatbuffer, and how sparse they are.

A converter run with the sparsity optimisation stores a pruned kernel in a compressed (CSR) form
behind a DENSIFY op, and float16 weights sit behind a DEQUANTIZE op; the kernel is read where it is
stored and decoded back to its dense shape here, so the zeros a recipe claims are counted in what
the file really holds, whatever its encoding. TensorFlow's flatbuffer
object API (tensorflow.lite.tools.flatbuffer_utils) is imported inside the functions only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchlab.optimize.flatbuffer import densify

#: Ops whose second input is a weight kernel, and which the training recipes prune.
PRUNED_OPS: tuple[str, ...] = ("CONV_2D", "FULLY_CONNECTED")
#: Ops between a stored kernel and the op using it, expanding it when the model loads: DENSIFY
#: (a sparse-encoded kernel), DEQUANTIZE (float16 weights).
EXPANDING_OPS = ("DENSIFY", "DEQUANTIZE")
#: The dtype each constant tensor type is stored as (the kernels recipes make).
_DTYPES = {"FLOAT32": "<f4", "FLOAT16": "<f2", "INT8": "i1"}


def read_kernels(path: Path, ops: tuple[str, ...] = PRUNED_OPS) -> dict[str, np.ndarray]:
    """Return the constant weight kernel of every op of a kind in `ops`, by tensor name, as a dense array
    in the .tflite's layout (output channels first, input channels last).

    Raises ValueError for a kernel stored in a sparse encoding other than dense rows with a CSR
    last dimension (the only one the converter writes), or of a type other than float32/16, int8.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(path.read_bytes()))
    op_names = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    type_names = {value: name for name, value in vars(schema.TensorType).items() if not name.startswith("_")}
    kernels: dict[str, np.ndarray] = {}
    for subgraph in model.subgraphs:
        made_by = {int(op.outputs[0]): op for op in subgraph.operators if len(op.outputs)}

        def op_name(op: Any) -> str:
            code = model.operatorCodes[op.opcodeIndex]
            return op_names[max(code.builtinCode, code.deprecatedBuiltinCode)]

        for op in subgraph.operators:
            if op_name(op) not in ops:
                continue
            index = int(op.inputs[1])
            producer = made_by.get(index)
            while producer is not None and op_name(producer) in EXPANDING_OPS:
                index = int(producer.inputs[0])  # the stored constant the op expands (sparse, float16)
                producer = made_by.get(index)
            tensor = subgraph.tensors[index]
            data = model.buffers[tensor.buffer].data
            if data is None or len(data) == 0:
                continue  # a kernel computed at run time, not a weight
            name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
            kind = type_names[tensor.type]
            if kind not in _DTYPES:
                raise ValueError(f"kernel {name!r} is stored as {kind}, which is not read here")
            values = np.frombuffer(np.asarray(data, dtype=np.uint8).tobytes(), dtype=_DTYPES[kind])
            shape = tuple(int(d) for d in tensor.shape)
            kernels[name] = values.reshape(shape) if tensor.sparsity is None else densify(name, values, shape,
                                                                                            tensor.sparsity)
    return kernels


def zero_fraction(kernels: dict[str, np.ndarray]) -> float:
    """Return the fraction of all weights in `kernels` that are exactly zero (0.0 when there are none)."""
    total = sum(kernel.size for kernel in kernels.values())
    return sum(int(np.count_nonzero(kernel == 0)) for kernel in kernels.values()) / total if total else 0.0


def distinct_values(values: np.ndarray) -> int:
    """Return how many distinct values `values` holds, float16 ones counted exactly.

    np.unique sorts, and NumPy's AVX-512 float16 sort (x86-simd-sort, dispatched on CPUs with
    AVX512_ICL; seen with numpy 2.4.6) leaves some arrays of a few thousand values out of order, so
    np.unique counts one value several times: a float16 kernel of 8 values came out as 20. float16
    values are counted as float32 instead, which holds every one of them exactly.
    """
    return len(np.unique(values.astype(np.float32) if values.dtype == np.float16 else values))
