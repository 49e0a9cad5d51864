"""A model file's inputs and outputs (names, dtypes, shapes), read on the host, and fitting
evaluation data to them for the runner app.

The runner app names a job's inputs and outputs as the model does. The host must send one tensor
file per input under that name in the input's own type, and match the outputs it gets back to the
model's by name: Core ML gives no declared order on the phone (its descriptions are
dictionaries), so the app cannot.

* ``.tflite``: ``benchlab.tensors.describe_tflite`` (the app names tensors as ``tensor_name``,
  what ``TfLiteTensorName`` reports; data is keyed by ``name``, the signature key).
* ``.mlpackage``: the package's root Core ML spec (``Manifest.json`` → ``rootModelIdentifier``
  → its ``path`` under ``Data/``). It is a protobuf ``Model`` of which only ``description``
  (field 2) → ``input`` (1) / ``output`` (10) → ``name`` (1) and ``type`` (3) →
  ``multiArrayType`` (5) → ``shape`` (1), ``dataType`` (2) and the flexible-shape fields (21, 31)
  are read (coremltools' Model.proto and FeatureTypes.proto numbers), with a few lines of
  wire-format decoding, because importing coremltools takes seconds and the device driver must
  stay light (docs/architecture.md). Only multi-array features are listed: the app feeds and returns no others.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from benchlab.errors import ModelError
from benchlab.tensors import Feeds, ModelIO, TensorInfo, describe_tflite, from_tensor, match_names, to_tensor
from ios_runner.protocol import TENSOR_DTYPES

#: Model.proto / FeatureTypes.proto field numbers.
_MODEL_DESCRIPTION = 2
_DESCRIPTION_INPUT = 1
_DESCRIPTION_OUTPUT = 10
_FEATURE_NAME = 1
_FEATURE_TYPE = 3
_MULTI_ARRAY_TYPE = 5
_ARRAY_SHAPE = 1
_ARRAY_DATA_TYPE = 2
_ARRAY_FLEXIBLE_SHAPES = (21, 31)  # enumeratedShapes, shapeRange
_VARINT = 0
_LENGTH_DELIMITED = 2
#: ArrayFeatureType.ArrayDataType values, as numpy names.
_CORE_ML_DTYPES = {65568: "float32", 65552: "float16", 65600: "float64", 131104: "int32", 131080: "int8"}


class ModelFileError(ModelError):
    """A model file whose inputs and outputs cannot be read."""


class DataMismatch(ModelError):
    """Evaluation data that cannot be read or does not fit a variant's inputs or outputs (count,
    name, shape or dtype)."""


def declared_io(path: Path, model_format: str) -> ModelIO:
    """Return the inputs and outputs ``path`` declares, in its order (``model_format``: tflite | mlpackage).

    Raises ModelFileError naming the file when it cannot be read.
    """
    path = Path(path)
    if model_format == "tflite":
        return _tflite_io(path)
    if model_format == "mlpackage":
        return _mlpackage_io(path)
    raise ModelFileError(f"{path}: format {model_format!r} is not tflite or mlpackage")


def _tflite_io(path: Path) -> ModelIO:
    try:
        return describe_tflite(path)
    except (ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: LiteRT cannot read it: {exc}") from exc


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


def spec_path(package: Path) -> Path:
    """Return the root model spec of an .mlpackage (``Manifest.json`` names it).

    Raises ModelFileError when the manifest is missing or does not name a spec that exists.
    """
    manifest = package / "Manifest.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        entry = data["itemInfoEntries"][data["rootModelIdentifier"]]
        spec = package / "Data" / entry["path"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{manifest}: not an .mlpackage manifest naming its model ({exc})") from exc
    if not spec.is_file():
        raise ModelFileError(f"{package}: the manifest names {entry['path']}, which is not in Data/")
    return spec


def _mlpackage_io(package: Path) -> ModelIO:
    spec = spec_path(package)
    try:
        description = [value for number, value in _fields(spec.read_bytes())
                       if number == _MODEL_DESCRIPTION and isinstance(value, bytes)]
        inputs: list[TensorInfo] = []
        outputs: list[TensorInfo] = []
        for part in description:  # protobuf merges a repeated sub-message field
            for number, value in _fields(part):
                if number in (_DESCRIPTION_INPUT, _DESCRIPTION_OUTPUT) and isinstance(value, bytes):
                    feature = _feature(value)
                    if feature is not None:
                        (inputs if number == _DESCRIPTION_INPUT else outputs).append(feature)
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{spec}: not a Core ML model spec ({exc})") from exc
    return ModelIO(inputs=tuple(inputs), outputs=tuple(outputs))


def _feature(description: bytes) -> TensorInfo | None:
    """A multi-array feature as a TensorInfo (its default shape; -1 for every dimension of a
    flexible one), or None for another kind of feature (image, dictionary ...)."""
    fields = list(_fields(description))
    name = next((v for n, v in fields if n == _FEATURE_NAME and isinstance(v, bytes)), b"").decode("utf-8")
    feature_type = next((v for n, v in fields if n == _FEATURE_TYPE and isinstance(v, bytes)), b"")
    array = next((v for n, v in _fields(feature_type) if n == _MULTI_ARRAY_TYPE and isinstance(v, bytes)), None)
    if array is None:
        return None
    shape: list[int] = []
    dtype, flexible = "float32", False
    for number, value in _fields(array):
        if number == _ARRAY_SHAPE:
            shape.extend(_packed_varints(value) if isinstance(value, bytes) else [value])
        elif number == _ARRAY_DATA_TYPE and isinstance(value, int):
            dtype = _CORE_ML_DTYPES.get(value, "float32")
        elif number in _ARRAY_FLEXIBLE_SHAPES:
            flexible = True
    if flexible:
        shape = [-1] * len(shape)
    return TensorInfo(name=name, tensor_name=name, dtype=dtype, shape=tuple(shape))


def _packed_varints(data: bytes) -> list[int]:
    values, pos = [], 0
    while pos < len(data):
        value, pos = _varint(data, pos)
        values.append(value)
    return values


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def _fields(data: bytes) -> Iterator[tuple[int, bytes | int]]:
    """Yield (field number, value) for the varint (an int) and length-delimited (bytes) fields of
    one protobuf message.

    Fixed 32/64-bit fields are skipped. Raises ValueError on a truncated message or an unknown
    wire type.
    """
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        wire = key & 7
        if wire == _VARINT:
            value, pos = _varint(data, pos)
            yield key >> 3, value
            continue
        if wire in (1, 5):
            pos += 8 if wire == 1 else 4
            continue
        if wire != _LENGTH_DELIMITED:
            raise ValueError(f"protobuf wire type {wire} is not supported")
        length, pos = _varint(data, pos)
        if pos + length > len(data):
            raise ValueError("truncated field")
        yield key >> 3, data[pos:pos + length]
        pos += length
