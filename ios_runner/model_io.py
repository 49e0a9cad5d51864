"""The input and output names a model file declares, in the model's order, read on the host.

The runner app names a job's inputs and its outputs as the model does. The host must name the
evaluation input the same way, and pick the model's *first declared* output by name: Core ML
gives no declared order on the phone (its descriptions are dictionaries), so the app cannot.

* ``.tflite``: LiteRT's interpreter (``get_input_details`` / ``get_output_details``, the order
  of the model's signature inputs and outputs; the names are the tensor names the app's
  ``TfLiteTensorName`` reports).
* ``.mlpackage``: the package's root Core ML spec (``Manifest.json`` → ``rootModelIdentifier``
  → its ``path`` under ``Data/``). It is a protobuf ``Model`` of which only
  ``description`` (field 2) → ``input`` (1) / ``output`` (10) → ``name`` (1) is read
  (coremltools' Model.proto numbers), with a few lines of wire-format decoding, because
  importing coremltools takes seconds and the device driver must stay light (DESIGN).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchlab.errors import RunnerError

#: Model.proto field numbers.
_MODEL_DESCRIPTION = 2
_DESCRIPTION_INPUT = 1
_DESCRIPTION_OUTPUT = 10
_FEATURE_NAME = 1
_LENGTH_DELIMITED = 2


class ModelFileError(RunnerError):
    """A model file whose inputs and outputs cannot be read."""


@dataclass(frozen=True)
class ModelIO:
    """A model's input and output names, in the order the model declares them."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def declared_io(path: Path, model_format: str) -> ModelIO:
    """Return the input and output names ``path`` declares (``model_format``: tflite | mlpackage).

    Raises ModelFileError naming the file when it cannot be read.
    """
    path = Path(path)
    if model_format == "tflite":
        return _tflite_io(path)
    if model_format == "mlpackage":
        return _mlpackage_io(path)
    raise ModelFileError(f"{path}: format {model_format!r} is not tflite or mlpackage")


def _tflite_io(path: Path) -> ModelIO:
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=str(path))
    except (ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: LiteRT cannot read it: {exc}") from exc
    return ModelIO(inputs=tuple(d["name"] for d in interpreter.get_input_details()),
                   outputs=tuple(d["name"] for d in interpreter.get_output_details()))


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
        description = [value for number, value in _fields(spec.read_bytes()) if number == _MODEL_DESCRIPTION]
        inputs, outputs = [], []
        for part in description:  # protobuf merges a repeated sub-message field
            for number, value in _fields(part):
                if number in (_DESCRIPTION_INPUT, _DESCRIPTION_OUTPUT):
                    name = next((v for n, v in _fields(value) if n == _FEATURE_NAME), b"")
                    (inputs if number == _DESCRIPTION_INPUT else outputs).append(name.decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{spec}: not a Core ML model spec ({exc})") from exc
    return ModelIO(inputs=tuple(inputs), outputs=tuple(outputs))


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


def _fields(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (field number, bytes) for every length-delimited field of one protobuf message.

    Other wire types (varints, fixed 32/64-bit) are skipped. Raises ValueError on a truncated
    message or an unknown wire type.
    """
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        wire = key & 7
        if wire == 0:
            _, pos = _varint(data, pos)
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
