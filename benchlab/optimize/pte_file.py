"""What an ExecuTorch program (.pte) holds, read from the written file: which backends run which part, the
operators left to ExecuTorch's own kernels, and the datatypes of the weights inside each XNNPACK payload.

The executorch recipes check their claims here (XNNPACK runs the model; the int8 variant's weights are
int8), as the LiteRT recipes read their .tflite (benchlab.optimize.flatbuffer). The program is read with
executorch's own deserializer; an XNNPACK payload (an "XH00" header, its XNNGraph flatbuffer, constant
data) is turned into JSON by the `flatc` and the schema.fbs the executorch wheel ships. Those are
executorch's private helpers, pinned with it (executorch 1.5.1); the schema is the one the runtime reads.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

#: XNNPACK's datatype names (backends/xnnpack/serialization/schema.fbs, enum XNNDatatype) that hold int8
#: values: static per-tensor, per-channel, and dynamically quantized ones.
INT8_DATATYPES = frozenset({"xnn_datatype_qint8", "xnn_datatype_quint8", "xnn_datatype_qcint8",
                            "xnn_datatype_qdint8", "xnn_datatype_qpint8"})
#: A non-finite float as flatc prints it in JSON ("output_max": inf).
_FLATC_INFINITY = re.compile(r"(?<=: )(-?)inf\b")
#: The backend id XNNPACK-delegated parts carry in a program.
XNNPACK_BACKEND = "XnnpackBackend"


@dataclass(frozen=True)
class PteContents:
    """What one .pte's forward method is made of."""

    #: Delegate calls by backend id, e.g. {"XnnpackBackend": 3}.
    delegates: dict[str, int]
    #: Operators run by ExecuTorch's portable kernels (outside any delegate), each once.
    kernel_operators: tuple[str, ...]
    #: The XNNPACK payloads' constant tensors (weights, biases), counted by XNNPACK datatype.
    weight_datatypes: dict[str, int]

    @property
    def int8_weights(self) -> int:
        """How many of the XNNPACK payloads' constant tensors hold int8 values."""
        return sum(count for name, count in self.weight_datatypes.items() if name in INT8_DATATYPES)

    @property
    def xnnpack_calls(self) -> int:
        """How many parts of the program XNNPACK runs."""
        return self.delegates.get(XNNPACK_BACKEND, 0)


def read_pte(path: Path) -> PteContents:
    """Return what the .pte at `path` holds; raises ValueError when it is not a readable program."""
    from executorch.exir._serialize._program import _extract_delegate_payload, deserialize_pte_binary

    data = path.read_bytes()
    try:
        program = deserialize_pte_binary(data).program
    except Exception as exc:  # noqa: BLE001 - the flatbuffer reader raises many kinds on a damaged file
        raise ValueError(f"not a readable ExecuTorch program: {type(exc).__name__}: {exc}") from None
    plan = next(plan for plan in program.execution_plan if plan.name == "forward")
    calls: Counter[str] = Counter()
    for instruction in plan.chains[0].instructions:
        kind = type(instruction.instr_args).__name__
        if kind == "DelegateCall":
            calls[plan.delegates[instruction.instr_args.delegate_index].id] += 1
    kernels = tuple(sorted({operator.name for operator in plan.operators}))
    datatypes: Counter[str] = Counter()
    for index in range(sum(1 for d in plan.delegates if d.id == XNNPACK_BACKEND)):
        payload = _extract_delegate_payload(data, XNNPACK_BACKEND, index)
        if payload is not None:
            datatypes.update(_constant_datatypes(payload))
    return PteContents(delegates=dict(calls), kernel_operators=kernels, weight_datatypes=dict(datatypes))


def _constant_datatypes(payload: bytes) -> Counter[str]:
    """Count the constant tensors of one XNNPACK payload by datatype name."""
    from executorch.backends.xnnpack.serialization.xnnpack_graph_serialize import XNNHeader
    from executorch.exir._serialize._flatbuffer import _get_flatc_path

    header = XNNHeader.from_bytes(payload[:XNNHeader.EXPECTED_LENGTH])
    graph = payload[header.flatbuffer_offset : header.flatbuffer_offset + header.flatbuffer_size]
    schema = resources.files("executorch.backends.xnnpack.serialization").joinpath("schema.fbs")
    with tempfile.TemporaryDirectory(prefix="benchlab-pte-") as folder, resources.as_file(schema) as schema_path:
        binary = Path(folder) / "graph.bin"
        binary.write_bytes(graph)
        subprocess.run([_get_flatc_path(), "--json", "--strict-json", "--raw-binary", "-o", folder,
                        str(schema_path), "--", str(binary)], check=True, capture_output=True, timeout=120)
        # flatc writes an unbounded clamp as `inf`, which JSON spells Infinity.
        text = _FLATC_INFINITY.sub(lambda match: f"{match.group(1)}Infinity", (Path(folder) / "graph.json").read_text())
        document = json.loads(text)
    counted: Counter[str] = Counter()
    for value in document.get("xvalues", []):
        union = value.get("xvalue_union", {})
        tensor = union.get("tensor_value", union)  # a quantized value wraps its tensor value
        if tensor.get("constant_buffer_idx", 0) != 0:  # 0: not a constant (an activation)
            counted[tensor.get("datatype", "xnn_datatype_invalid")] += 1
    return counted
