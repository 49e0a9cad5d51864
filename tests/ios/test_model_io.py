"""Declared input and output names of model files, read on the host (ios_runner.model_io)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ios_runner.model_io import ModelFileError, declared_io, spec_path


def test_tflite_names_come_in_the_model_order(heads_tflite: Path) -> None:
    io = declared_io(heads_tflite, "tflite")
    assert io.inputs == ("serving_default_features:0",)
    assert io.outputs == ("PartitionedCall:0", "PartitionedCall:1")


def test_mlpackage_names_match_what_coremltools_reads(heads_mlpackage: Path) -> None:
    import coremltools as ct

    spec = ct.utils.load_spec(str(heads_mlpackage))
    io = declared_io(heads_mlpackage, "mlpackage")
    assert io.inputs == tuple(feature.name for feature in spec.description.input) == ("features",)
    assert io.outputs == tuple(feature.name for feature in spec.description.output) == ("zprobs", "ascore")


def test_a_package_without_a_manifest_is_named(tmp_path: Path) -> None:
    package = tmp_path / "empty.mlpackage"
    package.mkdir()
    with pytest.raises(ModelFileError, match=r"empty.mlpackage/Manifest.json: not an .mlpackage manifest"):
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
