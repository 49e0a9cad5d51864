"""A PyTorch program's inputs and outputs as TensorInfo, read from a torch.export ExportedProgram or an
ExecuTorch method: shared by the torch sources (benchlab.optimize.torch_source), the .pt2 and .pte
formats and their runners.

Nothing here imports torch or executorch: callers hand in the loaded objects. Outputs have no names
in either (a graph node's name is an op's name, a .pte keeps none), so they are `output_0`, `output_1`
... in order; a .pte keeps no input names either (`input_0` ...), so data reaches it by position
(benchlab.tensors.match_names).
"""

from __future__ import annotations

from typing import Any

from benchlab.tensors import ModelIO, TensorInfo

#: torch dtypes a model input or output may have, by their torch name, as numpy names.
TORCH_DTYPES = {"float32": "float32", "float16": "float16", "float64": "float64", "int64": "int64",
                "int32": "int32", "int16": "int16", "int8": "int8", "uint8": "uint8", "bool": "bool"}
#: ExecuTorch's ScalarType codes (runtime/core/portable_type/scalar_type.h) as numpy names.
EXECUTORCH_SCALAR_TYPES = {0: "uint8", 1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "float16",
                           6: "float32", 7: "float64", 11: "bool"}


def output_name(index: int) -> str:
    """Return the name of a torch program's `index`-th output."""
    return f"output_{index}"


def numpy_dtype(torch_dtype: Any) -> str:
    """Return the numpy name of a torch dtype; raises ValueError for one numpy has no match for (bfloat16)."""
    name = str(torch_dtype).removeprefix("torch.")
    if name not in TORCH_DTYPES:
        raise ValueError(f"dtype {name} has no numpy equivalent (allowed: {', '.join(TORCH_DTYPES)})")
    return TORCH_DTYPES[name]


def _info(name: str, value: Any) -> TensorInfo:
    """A placeholder's or output's fake tensor as a TensorInfo (symbolic dimensions dynamic)."""
    shape = tuple(int(d) if isinstance(d, int) else -1 for d in value.shape)
    return TensorInfo(name=name, tensor_name=name, dtype=numpy_dtype(value.dtype), shape=shape)


def exported_io(exported: Any) -> ModelIO:
    """Return an ExportedProgram's user inputs (by their placeholder names) and outputs (`output_N`).

    Raises ValueError for an input or output that is not a tensor, or of a dtype numpy lacks.
    """
    values = {node.name: node.meta.get("val") for node in exported.graph.nodes if node.op == "placeholder"}
    inputs = []
    for name in exported.graph_signature.user_inputs:
        if not hasattr(values.get(name), "dtype"):
            raise ValueError(f"input {name!r} is not a tensor (a torch program's inputs must all be tensors)")
        inputs.append(_info(name, values[name]))
    output_node = next(node for node in exported.graph.nodes if node.op == "output")
    user_outputs = set(exported.graph_signature.user_outputs)
    outputs = []
    for node in output_node.args[0]:
        if getattr(node, "name", None) not in user_outputs:
            continue  # a buffer mutation the program writes back, not one of the model's outputs
        value = node.meta.get("val")
        if not hasattr(value, "dtype"):
            raise ValueError(f"output {len(outputs)} is not a tensor")
        outputs.append(_info(output_name(len(outputs)), value))
    return ModelIO(inputs=tuple(inputs), outputs=tuple(outputs))


def executorch_io(method_meta: Any) -> ModelIO:
    """Return an ExecuTorch method's inputs (`input_N`) and outputs (`output_N`) from its MethodMeta.

    Raises ValueError for a tensor of a scalar type numpy lacks.
    """
    def info(name: str, meta: Any) -> TensorInfo:
        code = int(meta.dtype())
        if code not in EXECUTORCH_SCALAR_TYPES:
            raise ValueError(f"{name}: ExecuTorch scalar type {code} has no numpy equivalent")
        shape = tuple(int(d) for d in meta.sizes())
        return TensorInfo(name=name, tensor_name=name, dtype=EXECUTORCH_SCALAR_TYPES[code], shape=shape)

    inputs = tuple(info(f"input_{i}", method_meta.input_tensor_meta(i)) for i in range(method_meta.num_inputs()))
    outputs = tuple(info(output_name(i), method_meta.output_tensor_meta(i)) for i in range(method_meta.num_outputs()))
    return ModelIO(inputs=inputs, outputs=outputs)
