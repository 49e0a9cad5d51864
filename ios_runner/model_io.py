"""A model file's inputs and outputs (names, dtypes, shapes), read on the host, and fitting
evaluation data to them for the runner app.

The runner app names a job's inputs and outputs as the model does. The host must send one tensor
file per input under that name in the input's own type, and match the outputs it gets back to the
model's by name: Core ML gives no declared order on the phone (its descriptions are
dictionaries), so the app cannot.

What a file declares is its format's description (``benchlab.formats``: a ``.tflite`` read with
LiteRT, the app naming tensors as ``tensor_name``, what ``TfLiteTensorName`` reports, and data keyed
by ``name``, the signature key; an ``.mlpackage``'s root Core ML spec, read without coremltools).
Whether a sample fits an input is the description's own rule, ``TensorInfo.misfit``; what is left
here is the app's side: the type each tensor file carries and its names.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from benchlab.errors import ModelError
from benchlab.formats import format_named
from benchlab.tensors import Feeds, ModelIO, TensorInfo, from_tensor, match_names, to_tensor
from ios_runner.protocol import FORMATS, TENSOR_DTYPES


class ModelFileError(ModelError):
    """A model file whose inputs and outputs cannot be read."""


class DataMismatch(ModelError):
    """Evaluation data that cannot be read or does not fit a variant's inputs or outputs (count,
    name, shape or dtype)."""


def declared_io(path: Path, model_format: str) -> ModelIO:
    """Return the inputs and outputs ``path`` declares, in its order, as its format describes them
    (``model_format``: one of the app's FORMATS, a name of benchlab.formats).

    Raises ModelFileError naming the file when it cannot be read.
    """
    path = Path(path)
    fmt = format_named(model_format)
    if fmt is None or model_format not in FORMATS:
        raise ModelFileError(f"{path}: format {model_format!r} is not {' or '.join(sorted(FORMATS, reverse=True))}")
    try:
        return fmt.describe(path)
    except (ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: not a readable {fmt.title} model: {exc}") from exc


def _transport_dtype(info: TensorInfo, model_format: str) -> str:
    """The tensor file type the app takes for an input: LiteRT its own type (copied in as it is),
    Core ML int32 for an integer multi-array and float32 for the rest (the app converts)."""
    if model_format == "mlpackage":
        return "int32" if np.issubdtype(np.dtype(info.dtype), np.integer) else "float32"
    return info.dtype


def _dims(shape: tuple[int, ...]) -> tuple[int | None, ...]:
    return tuple(None if d < 0 else d for d in shape)


def _fit(values: np.ndarray, info: TensorInfo, data_name: str, model_format: str, where: str) -> np.ndarray:
    """One input's samples in the type its tensor file carries; raises DataMismatch when they do not fit."""
    got = f"the data{f' ({data_name!r})' if data_name != info.name else ''} is {values.dtype} {values.shape[1:]}"
    expected = f"{where}: input {info.name!r} expects {info.dtype} {_dims(info.sample_shape)}, {got}"
    problem = info.misfit(values)
    if problem == "shape":
        raise DataMismatch(expected)
    dtype = _transport_dtype(info, model_format)
    if dtype not in TENSOR_DTYPES:
        raise DataMismatch(f"{where}: input {info.name!r} is {info.dtype}; the runner app feeds "
                           f"{', '.join(TENSOR_DTYPES)} tensors")
    if problem == "values":
        raise DataMismatch(f"{expected} (real values for an integer or boolean input)")
    real = np.issubdtype(values.dtype, np.floating)
    fitted = to_tensor(values, info).astype(dtype)
    if not real and not np.array_equal(fitted.astype(values.dtype), values):  # ids or levels that would wrap
        raise DataMismatch(f"{expected} (values outside {dtype})")
    return fitted


def app_inputs(feeds: Feeds, io: ModelIO, model_format: str, where: str) -> list[tuple[str, np.ndarray]]:
    """Return, per model input in the model's order, the name the app knows it by and its samples
    ``(N, *sample_shape)`` in the type its tensor file carries (see "Tensor files" in protocol.py).

    Data is matched to the inputs by name, else by position (``benchlab.tensors.match_names``);
    a quantized LiteRT input gets real values quantized with its scale and zero point, integer
    ids pass as they are. Without declared inputs (the host could not read the model) each array
    goes under its own name (float32, int32 or bool) and the app says what does not fit.
    Raises DataMismatch naming ``where`` (the variant), the input, what it expects and what the
    data is, for a count, shape or dtype that does not fit: never a silent reshape.
    """
    if not io.inputs:
        plain = {"f": "float32", "b": "bool"}
        _same_sample_count(feeds, where)
        return [(name or "input", values.astype(plain.get(values.dtype.kind, "int32")))
                for name, values in feeds.items()]
    try:
        mapping = match_names(list(feeds), io.inputs)
    except ValueError as exc:
        raise DataMismatch(f"{where}: {exc}") from exc
    _same_sample_count({name: feeds[name] for name in mapping.values()}, where)
    return [(info.tensor_name, _fit(feeds[mapping[info.name]], info, mapping[info.name], model_format, where))
            for info in io.inputs]


def _same_sample_count(feeds: Feeds, where: str) -> None:
    if len({len(values) for values in feeds.values()}) != 1 or any(len(values) == 0 for values in feeds.values()):
        sizes = ", ".join(f"{name or 'input'} {len(values)}" for name, values in feeds.items())
        raise DataMismatch(f"{where}: every input needs the same number of samples, at least one; the data has {sizes}")


def model_outputs(pulled: Mapping[str, np.ndarray], io: ModelIO, where: str) -> Feeds:
    """Return the app's outputs ``(N, *sample_shape)`` keyed by the model's output names, in its order.

    ``pulled`` holds them under the app's names (LiteRT tensor names, Core ML feature names) in
    the type their files carry. An output in the tensor's own type goes through
    ``benchlab.tensors.from_tensor`` (quantized → float32); one that came as float32 for another
    type (apps of protocol version 1 dequantized and cast, Core ML sends float32) is kept as it is.
    Without declared outputs, each is kept under the app's name. Raises DataMismatch when an
    output the model declares is missing.
    """
    if not io.outputs:
        return {name: values.astype(np.float32) if values.dtype.kind == "f" else values
                for name, values in pulled.items()}
    missing = [info.tensor_name for info in io.outputs if info.tensor_name not in pulled]
    if missing:
        raise DataMismatch(f"{where}: the runner app returned outputs {sorted(pulled)}, without the model's "
                           f"{missing}")
    outputs: Feeds = {}
    for info in io.outputs:
        values = pulled[info.tensor_name]
        outputs[info.name] = from_tensor(values, info) if values.dtype == np.dtype(info.dtype) else values
    return outputs
