"""Variants are built for real (LiteRT converter, coremltools), sized, hashed and cached."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from benchlab.plan.datasets import load_model_datasets
from benchlab.formats.base import deflated_size
from benchlab.optimize.build import build_variants
from benchlab.file_hash import path_sha256
from benchlab.optimize.recipes import RECIPES
from benchlab.plan.suite import load_suite

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
    suite = load_suite(suite_file(tmp_path, {"name": "tiny", "path": str(tiny_keras_path)}, digits_npz, ALL_RECIPES), RECIPES)
    dataset = load_model_datasets(suite)
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

    suite = load_suite(suite_file(tmp_path, {"name": "tiny", "path": str(tiny_keras_path)}, digits_npz, ["full-int8"]), RECIPES)
    (variant,) = build_variants(suite, load_model_datasets(suite))
    interpreter = Interpreter(model_path=variant.path)
    assert interpreter.get_input_details()[0]["dtype"].__name__ == "int8"
    assert interpreter.get_output_details()[0]["dtype"].__name__ == "int8"


def test_a_recipe_that_fails_is_a_failed_variant_and_the_rest_build(tmp_path: Path, cumsum_saved_model: Path,
                                                                    digits_npz: Path) -> None:
    model = {"name": "cumsum", "path": str(cumsum_saved_model)}
    suite = load_suite(suite_file(tmp_path, model, digits_npz, ["fp32", "int16x8", "full-int8", "coreml-fp16"]), RECIPES)
    variants = {v.name: v for v in build_variants(suite, load_model_datasets(suite))}
    assert variants["int16x8"].status == "failed"
    assert "16x8-bit not yet supported for op: 'CUMSUM'" in variants["int16x8"].error
    assert "\n" not in variants["int16x8"].error
    assert {variants[n].status for n in ("fp32", "full-int8", "coreml-fp16")} == {"built"}


def test_a_package_is_sized_deflated_as_inside_a_zip(tmp_path: Path) -> None:
    package = tmp_path / "m.mlpackage"
    (package / "Data").mkdir(parents=True)
    (package / "Data" / "weights.bin").write_bytes(b"\0" * 100_000)
    (package / "Manifest.json").write_text("{}")
    zipped = tmp_path / "m.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(package / "Data" / "weights.bin", "Data/weights.bin")
        archive.write(package / "Manifest.json", "Manifest.json")
        expected = sum(i.compress_size for i in archive.infolist())
    assert deflated_size(package) == expected < 1000


BUILD_SCRIPT = """
import json, sys
from benchlab.plan.datasets import load_model_datasets
from benchlab.optimize.build import build_variants
from benchlab.optimize.recipes import RECIPES
from benchlab.plan.suite import load_suite
suite = load_suite(sys.argv[1], RECIPES)
print(json.dumps([[v.name, v.status, v.sha256, v.error] for v in build_variants(suite, load_model_datasets(suite))]))
"""


def test_two_processes_building_into_one_cache_build_each_variant_once(tmp_path: Path, tiny_keras_path: Path,
                                                                      digits_npz: Path) -> None:
    suite = suite_file(tmp_path, {"name": "tiny", "path": str(tiny_keras_path)}, digits_npz, ["fp32", "fp16"])
    env = {**os.environ, "BENCHLAB_CACHE_DIR": str(tmp_path / "shared-cache"), "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    processes = [subprocess.Popen([sys.executable, "-c", BUILD_SCRIPT, str(suite)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err[-2000:] for _, err in outputs]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    for first, second in zip(*results):
        assert first[0] == second[0] and first[3] is None and second[3] is None, (first, second)
        # Whichever process took the key's lock first built it; the other waited and reused it.
        assert sorted([first[1], second[1]]) == ["built", "cached"]
        assert first[2] == second[2]
    variants = tmp_path / "shared-cache" / "variants"
    assert not [p.name for p in variants.iterdir() if ".partial-" in p.name or ".discarded-" in p.name]
    assert len(list(variants.glob("*/variant.json"))) == 2


def test_a_cache_entry_whose_file_changed_or_vanished_is_rebuilt(tmp_path: Path, tiny_tflite_path: Path,
                                                                digits_npz: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHLAB_CACHE_DIR", str(tmp_path / "cache"))
    suite = load_suite(suite_file(tmp_path, {"name": "tiny", "path": str(tiny_tflite_path)}, digits_npz, ["tflite"]), RECIPES)
    dataset = load_model_datasets(suite)
    (built,) = build_variants(suite, dataset)
    assert built.status == "built" and built.sha256 == path_sha256(tiny_tflite_path)
    assert build_variants(suite, dataset)[0].status == "cached"

    Path(built.path).write_bytes(b"damaged")
    (rebuilt,) = build_variants(suite, dataset)
    assert rebuilt.status == "built" and Path(rebuilt.path).read_bytes() == tiny_tflite_path.read_bytes()

    Path(rebuilt.path).unlink()
    (again,) = build_variants(suite, dataset)
    assert again.status == "built" and path_sha256(Path(again.path)) == built.sha256
    assert not [p for p in (tmp_path / "cache" / "variants").iterdir() if ".discarded-" in p.name]


def test_names_become_safe_file_names_inside_the_cache(tmp_path: Path, tiny_tflite_path: Path, digits_npz: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("BENCHLAB_CACHE_DIR", str(cache))
    model = {"name": "../../escaped/m", "path": str(tiny_tflite_path)}
    suite = load_suite(suite_file(tmp_path, model, digits_npz, [{"recipe": "tflite", "name": "/etc/passwd"}]), RECIPES)
    (variant,) = build_variants(suite, load_model_datasets(suite))
    assert (variant.model, variant.name) == ("../../escaped/m", "/etc/passwd")  # shown verbatim
    path = Path(variant.path)
    assert path.parent.parent == cache / "variants" and path.name == "_.._escaped_m-_etc_passwd.tflite"
    assert not (tmp_path / "escaped").exists()
