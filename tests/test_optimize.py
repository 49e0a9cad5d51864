"""Variants are built for real (LiteRT converter, coremltools), sized, hashed and cached."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import yaml

from benchlab.datasets import load_dataset
from benchlab.optimize.build import build_variants, compressed_size
from benchlab.suite import load_suite

ALL_RECIPES = [
    "fp32", "fp16", "dynamic-int8", "full-int8", "int16x8", "coreml-fp16", "coreml-int8",
    {"recipe": "coreml-palettize", "options": {"bits": 4}},
    {"recipe": "coreml-palettize", "options": {"bits": 6}},
    {"recipe": "coreml-prune", "options": {"sparsity": 0.5}},
]


def suite_file(tmp_path: Path, model: dict, dataset: Path, variants: list) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"name": "opt", "models": [model], "dataset": {"npz": str(dataset)},
                                    "variants": variants}))
    return path


def test_every_recipe_builds_from_keras_and_is_reused_the_second_time(tmp_path: Path, tiny_keras_path: Path,
                                                                      digits_npz: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHLAB_CACHE_DIR", str(tmp_path / "cache"))  # other tests built some of these
    suite = load_suite(suite_file(tmp_path, {"name": "tiny", "path": str(tiny_keras_path)}, digits_npz, ALL_RECIPES))
    dataset = load_dataset(suite.dataset)
    first = build_variants(suite, dataset)
    assert [v.status for v in first] == ["built"] * 10, [v.error for v in first]
    by_name = {v.name: v for v in first}
    assert set(by_name) == {"fp32", "fp16", "dynamic-int8", "full-int8", "int16x8", "coreml-fp16", "coreml-int8",
                            "coreml-palettize-4bit", "coreml-palettize-6bit", "coreml-prune-50"}
    for variant in first:
        assert Path(variant.path).exists() and len(variant.sha256) == 64
        assert 0 < variant.size_compressed_bytes <= variant.size_bytes * 1.01
    assert by_name["fp32"].is_reference and by_name["fp32"].parent is None
    assert by_name["fp16"].parent == "fp32"
    assert by_name["fp16"].size_bytes < by_name["fp32"].size_bytes
    assert by_name["dynamic-int8"].size_bytes < by_name["fp16"].size_bytes
    assert Path(by_name["coreml-fp16"].path).name.endswith(".mlpackage")

    second = build_variants(suite, dataset)
    assert [v.status for v in second] == ["cached"] * 10
    assert [v.sha256 for v in second] == [v.sha256 for v in first]


def test_full_int8_has_int8_inputs_and_outputs(tmp_path: Path, tiny_keras_path: Path, digits_npz: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    suite = load_suite(suite_file(tmp_path, {"name": "tiny", "path": str(tiny_keras_path)}, digits_npz, ["full-int8"]))
    (variant,) = build_variants(suite, load_dataset(suite.dataset))
    interpreter = Interpreter(model_path=variant.path)
    assert interpreter.get_input_details()[0]["dtype"].__name__ == "int8"
    assert interpreter.get_output_details()[0]["dtype"].__name__ == "int8"


def test_a_recipe_that_fails_is_a_failed_variant_and_the_rest_build(tmp_path: Path, cumsum_saved_model: Path,
                                                                    digits_npz: Path) -> None:
    model = {"name": "cumsum", "path": str(cumsum_saved_model)}
    suite = load_suite(suite_file(tmp_path, model, digits_npz, ["fp32", "int16x8", "full-int8", "coreml-fp16"]))
    variants = {v.name: v for v in build_variants(suite, load_dataset(suite.dataset))}
    assert variants["int16x8"].status == "failed"
    assert "16x8-bit not yet supported for op: 'CUMSUM'" in variants["int16x8"].error
    assert "\n" not in variants["int16x8"].error
    assert {variants[n].status for n in ("fp32", "full-int8", "coreml-fp16")} == {"built"}


def test_compressed_size_is_the_deflated_size_inside_a_zip(tmp_path: Path) -> None:
    package = tmp_path / "m.mlpackage"
    (package / "Data").mkdir(parents=True)
    (package / "Data" / "weights.bin").write_bytes(b"\0" * 100_000)
    (package / "Manifest.json").write_text("{}")
    zipped = tmp_path / "m.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(package / "Data" / "weights.bin", "Data/weights.bin")
        archive.write(package / "Manifest.json", "Manifest.json")
        expected = sum(i.compress_size for i in archive.infolist())
    assert compressed_size(package) == expected < 1000
