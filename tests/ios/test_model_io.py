"""Declared input and output names of model files, read on the host (their format's `describe`, through
ios_runner.model_io)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchlab.formats.mlpackage import spec_path
from ios_runner.model_io import ModelFileError, declared_io


def test_tflite_inputs_and_outputs_come_in_the_model_order(heads_tflite: Path) -> None:
    io = declared_io(heads_tflite, "tflite")
    assert io.input_names == ("features",) and io.output_names == ("probs", "score")  # signature keys
    assert [t.tensor_name for t in io.inputs] == ["serving_default_features:0"]  # what the app names them
    assert [t.tensor_name for t in io.outputs] == ["PartitionedCall:0", "PartitionedCall:1"]
    assert io.inputs[0].dtype == "float32" and io.inputs[0].shape == (1, 4)
    assert [t.shape for t in io.outputs] == [(1, 3), ()]


def test_mlpackage_features_match_what_coremltools_reads(heads_mlpackage: Path) -> None:
    import coremltools as ct

    spec = ct.utils.load_spec(str(heads_mlpackage))
    io = declared_io(heads_mlpackage, "mlpackage")
    assert io.input_names == tuple(feature.name for feature in spec.description.input) == ("features",)
    assert io.output_names == tuple(feature.name for feature in spec.description.output) == ("zprobs", "ascore")
    assert [(t.dtype, t.shape) for t in io.inputs + io.outputs] == [("float32", (1, 4)), ("float32", (1, 3)),
                                                                   ("float32", ())]


def test_mlpackage_int32_and_flexible_inputs_are_read(tmp_path: Path) -> None:
    """Token ids (INT32) with a fixed shape, and an image whose shape is a range (every dimension dynamic)."""
    import coremltools as ct
    from coremltools.proto import FeatureTypes_pb2, Model_pb2

    spec = Model_pb2.Model(specificationVersion=7)
    ids = spec.description.input.add(name="ids")
    ids.type.multiArrayType.shape.extend([1, 12])
    ids.type.multiArrayType.dataType = FeatureTypes_pb2.ArrayFeatureType.INT32
    image = spec.description.input.add(name="image")
    image.type.multiArrayType.shape.extend([1, 8, 8, 3])
    image.type.multiArrayType.dataType = FeatureTypes_pb2.ArrayFeatureType.FLOAT16
    for low, high in ((1, 1), (8, 64), (8, 64), (3, 3)):
        image.type.multiArrayType.shapeRange.sizeRanges.add(lowerBound=low, upperBound=high)
    label = spec.description.output.add(name="label")
    label.type.stringType.SetInParent()  # not a multi-array: the app leaves it out, so does the host
    mask = spec.description.output.add(name="mask")
    mask.type.multiArrayType.shape.extend([1, 8, 8, 1])
    mask.type.multiArrayType.dataType = FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    path = tmp_path / "ids.mlpackage"
    ct.utils.save_spec(spec, str(path))
    io = declared_io(path, "mlpackage")
    assert [(t.name, t.dtype, t.shape) for t in io.inputs] == [("ids", "int32", (1, 12)),
                                                               ("image", "float16", (-1, -1, -1, -1))]
    assert io.output_names == ("mask",)


def test_a_package_without_a_manifest_is_named(tmp_path: Path) -> None:
    package = tmp_path / "empty.mlpackage"
    package.mkdir()
    with pytest.raises(ModelFileError, match=r"empty.mlpackage: not a readable Core ML model: Manifest.json: not an .mlpackage manifest"):
        declared_io(package, "mlpackage")


def test_a_manifest_naming_a_missing_spec_is_named(tmp_path: Path, heads_mlpackage: Path) -> None:
    package = tmp_path / "moved.mlpackage"
    shutil.copytree(heads_mlpackage, package)
    spec_path(package).unlink()
    with pytest.raises(ModelFileError, match="which is not in Data/"):
        declared_io(package, "mlpackage")


def test_a_truncated_spec_is_not_read_as_names(tmp_path: Path, heads_mlpackage: Path) -> None:
    package = tmp_path / "cut.mlpackage"
    shutil.copytree(heads_mlpackage, package)
    spec = spec_path(package)
    spec.write_bytes(spec.read_bytes()[:-3])
    with pytest.raises(ModelFileError, match="not a Core ML model spec"):
        declared_io(package, "mlpackage")


def test_an_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="'onnx' is not tflite or mlpackage"):
        declared_io(tmp_path / "m.onnx", "onnx")
