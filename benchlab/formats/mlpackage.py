"""Core ML ML programs (.mlpackage): compiled and run on an iPhone, on the compute units a setting names.

Its inputs and outputs are read from the package's root Core ML spec (``Manifest.json`` →
``rootModelIdentifier`` → its ``path`` under ``Data/``). It is a protobuf ``Model`` of which only
``description`` (field 2) → ``input`` (1) / ``output`` (10) → ``name`` (1) and ``type`` (3) →
``multiArrayType`` (5) → ``shape`` (1), ``dataType`` (2) and the flexible-shape fields (21, 31) are
read (coremltools' Model.proto and FeatureTypes.proto numbers), with a few lines of wire-format
decoding, because importing coremltools takes seconds and the iPhone driver, which reads them
before each job, must stay light (docs/architecture.md). Only multi-array features are listed: the
runner app feeds and returns no others.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

from benchlab.formats.base import ModelFormat, VariantDoesNotRun
from benchlab.tensors import Feeds, ModelIO, TensorInfo

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


class MLPackage(ModelFormat):
    """An .mlpackage directory; its inputs and outputs are read from its spec (`describe`), which the
    iPhone runner does before each job (ios_runner.model_io)."""

    name = "mlpackage"
    title = "Core ML"
    suffix = ".mlpackage"
    is_directory = True
    accelerator_kinds = frozenset({"coreml"})
    app_platforms = frozenset({"ios"})

    def check_contents(self, path: Path) -> str | None:
        """Return why the path is not an .mlpackage (a directory with a Manifest.json), else None."""
        if not (path / "Manifest.json").is_file():
            return "is not an .mlpackage (a directory with a Manifest.json)"
        return None

    def describe(self, path: Path) -> ModelIO:
        """Return the multi-array inputs and outputs of the package's root spec (a flexible dimension
        is -1), read without coremltools; raises ValueError naming what cannot be read."""
        return spec_io(path)

    def prove_runs(self, path: Path, sample: Feeds) -> str:
        """Load the package's spec with coremltools and check it takes as many inputs as the data has;
        on macOS, predict once too (Core ML runs on Apple's platforms only). Return what was done.

        Raises VariantDoesNotRun when Core ML cannot load or run it, or its inputs do not fit the data.
        """
        import coremltools as ct

        try:
            model = ct.models.MLModel(str(path), skip_model_load=sys.platform != "darwin")
        except Exception as exc:  # noqa: BLE001 - coremltools raises many kinds on a package it cannot read
            raise VariantDoesNotRun(f"Core ML cannot load it: {' '.join(str(exc).split())[:300]}") from None
        description = model.get_spec().description
        inputs = [feature.name for feature in description.input]
        if len(inputs) != len(sample) or not description.output:
            raise VariantDoesNotRun(f"its spec has inputs {inputs} and {len(description.output)} outputs; "
                                    f"the data has {len(sample)} inputs")
        if sys.platform != "darwin":
            return "Core ML spec loaded, inputs checked (Core ML runs on Apple devices only)"
        try:
            model.predict(dict(zip(inputs, sample.values())))
        except Exception as exc:  # noqa: BLE001 - Core ML raises many kinds on a model it cannot run
            raise VariantDoesNotRun(f"Core ML cannot run it: {' '.join(str(exc).split())[:300]}") from None
        return "ran once in Core ML"


def spec_path(package: Path) -> Path:
    """Return the root model spec of an .mlpackage (``Manifest.json`` names it).

    Raises ValueError when the manifest is missing or does not name a spec that exists.
    """
    manifest = package / "Manifest.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        entry = data["itemInfoEntries"][data["rootModelIdentifier"]]
        spec = package / "Data" / entry["path"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{manifest.name}: not an .mlpackage manifest naming its model ({exc})") from exc
    if not spec.is_file():
        raise ValueError(f"the manifest names {entry['path']}, which is not in Data/")
    return spec


def spec_io(package: Path) -> ModelIO:
    """Return the multi-array inputs and outputs the package's root spec declares, in its order.

    Raises ValueError naming what is wrong when the package or its spec cannot be read.
    """
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
        raise ValueError(f"{spec.relative_to(package)}: not a Core ML model spec ({exc})") from exc
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


FORMAT = MLPackage()
