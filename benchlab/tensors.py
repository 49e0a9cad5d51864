"""A model's inputs and outputs by name, and moving data in and out of (quantized) tensors.

Shared by every LiteRT runner and by the planning stage. Data travels as `Feeds`: one array per
input or output name, with the samples along the first axis. A tensor's `name` is its signature
key when the model has a signature (what Keras, the converters and ai-edge-quantizer keep the
same across variants), else the tensor's own name; `tensor_name` is what `benchmark_model`'s
`--input_layer` wants.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Named arrays, one per model input or output, samples along axis 0.
Feeds = dict[str, np.ndarray]
#: The signature a model with several is measured through (the converters' default).
DEFAULT_SIGNATURE = "serving_default"


@dataclass(frozen=True)
class TensorInfo:
    """One model input or output: its names, dtype, shape and quantization."""

    name: str
    tensor_name: str
    dtype: str
    #: With the batch dimension; -1 where the dimension is dynamic.
    shape: tuple[int, ...]
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        """True for an integer tensor with a scale: its values are real numbers, quantized.

        A scale of 0 means "not quantized" (token ids, masks, counts): such values pass as they are.
        """
        return self.scale != 0.0 and np.issubdtype(np.dtype(self.dtype), np.integer)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample (the batch dimension dropped)."""
        return self.shape[1:]

    @property
    def dynamic(self) -> bool:
        """True when a per-sample dimension is only known from the data."""
        return any(d < 0 for d in self.sample_shape)

    def misfit(self, values: np.ndarray) -> str | None:
        """Return why samples `values` (N, *sample shape) cannot feed this input, None when they fit.

        "shape": the rank or a fixed dimension differs (a dynamic dimension takes any size).
        "values": real values for a plain integer or boolean input (token ids, masks); a quantized
        input takes real values, which are quantized. The one fit check: the evaluation data, the
        host worker and both phone runners ask it, and each says in its own words what does not fit.
        """
        got = values.shape[1:]
        if len(got) != len(self.sample_shape) or any(w >= 0 and w != g for w, g in zip(self.sample_shape, got)):
            return "shape"
        plain_integer = not self.quantized and not np.issubdtype(np.dtype(self.dtype), np.floating)
        if plain_integer and values.dtype.kind not in "iub":
            return "values"
        return None

    def describe(self) -> str:
        """Return e.g. "image float32 (224, 224, 3)" for messages (dynamic dimensions shown as None)."""
        dims = tuple(None if d < 0 else d for d in self.sample_shape)
        return f"{self.name} {self.dtype} {dims}"


@dataclass(frozen=True)
class ModelIO:
    """A model's inputs and outputs in the model's own order, and the signature they came from."""

    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    signature: str | None = None

    @property
    def input_names(self) -> tuple[str, ...]:
        """The inputs' names, in order."""
        return tuple(t.name for t in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        """The outputs' names, in order."""
        return tuple(t.name for t in self.outputs)


def _info(name: str, detail: Mapping[str, Any]) -> TensorInfo:
    shape = detail.get("shape_signature")
    if shape is None or len(shape) == 0:
        shape = detail["shape"]
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return TensorInfo(name=name, tensor_name=str(detail["name"]), dtype=np.dtype(detail["dtype"]).name,
                      shape=tuple(int(d) for d in shape), scale=float(scale), zero_point=int(zero_point))


def describe_interpreter(interpreter: Any) -> ModelIO:
    """Return the inputs and outputs of a LiteRT interpreter's model (see `describe_tflite`)."""
    inputs = interpreter.get_input_details()
    outputs = interpreter.get_output_details()
    signatures = interpreter.get_signature_list()
    key = DEFAULT_SIGNATURE if DEFAULT_SIGNATURE in signatures else next(iter(signatures), None)
    input_names = {d["index"]: d["name"] for d in inputs}
    output_names = {d["index"]: d["name"] for d in outputs}
    if key is not None:
        runner = interpreter.get_signature_runner(key)
        signature_inputs = {d["index"]: name for name, d in runner.get_input_details().items()}
        signature_outputs = {d["index"]: name for name, d in runner.get_output_details().items()}
        # A signature on another subgraph than the main one describes other tensors: keep tensor names.
        if set(signature_inputs) == set(input_names) and set(signature_outputs) == set(output_names):
            input_names, output_names = signature_inputs, signature_outputs
        else:
            key = None
    return ModelIO(inputs=tuple(_info(input_names[d["index"]], d) for d in inputs),
                   outputs=tuple(_info(output_names[d["index"]], d) for d in outputs), signature=key)


def describe_tflite(path: Path | str) -> ModelIO:
    """Return a .tflite model's inputs and outputs, named by its signature where it has one.

    Tensors are not allocated: a model with a custom op this runtime lacks can still be described.
    Raises ValueError (or RuntimeError) when the file is not a loadable model.
    """
    from ai_edge_litert.interpreter import Interpreter

    return describe_interpreter(Interpreter(model_path=str(path)))


def match_names(data_names: Sequence[str], tensors: Sequence[TensorInfo]) -> dict[str, str]:
    """Map each tensor's name to the data name that feeds it (or that it is compared with).

    By name where every tensor's name is in the data; else by position (a converter that renamed
    the tensors keeps their order). Raises ValueError when the counts differ.
    """
    names = [t.name for t in tensors]
    if set(names) <= set(data_names):
        return {n: n for n in names}
    if len(names) != len(data_names):
        raise ValueError(f"the model has {len(names)} tensor(s) ({', '.join(names)}), "
                         f"the data {len(data_names)} ({', '.join(data_names)})")
    return dict(zip(names, data_names))


def to_tensor(values: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Return values in a tensor's dtype: quantized with its scale and zero point when it is a
    quantized tensor and the values are real numbers, else a plain cast (ids and masks unchanged)."""
    dtype = np.dtype(info.dtype)
    if info.quantized and not np.issubdtype(values.dtype, np.integer):
        limits = np.iinfo(dtype)
        return np.clip(np.round(values / info.scale + info.zero_point), limits.min, limits.max).astype(dtype)
    return values.astype(dtype)


def from_tensor(values: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Return an output's values as numbers to compare: float32 for quantized or float tensors,
    the values as they are for plain integer or boolean tensors."""
    if info.quantized:
        return (values.astype(np.float32) - info.zero_point) * np.float32(info.scale)
    if np.issubdtype(values.dtype, np.floating):
        return values.astype(np.float32)
    return values


def save_feeds(path: Path | str, feeds: Mapping[str, np.ndarray]) -> None:
    """Write named arrays as one uncompressed .npz (array order kept: the model's input order)."""
    np.savez(path, **feeds)


def load_feeds(path: Path | str) -> Feeds:
    """Read named arrays written by `save_feeds`; a single-array .npy (runs before named inputs)
    comes back under the empty name, which `match_names` maps by position."""
    if str(path).endswith(".npy"):
        return {"": np.load(path, allow_pickle=False)}
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}
