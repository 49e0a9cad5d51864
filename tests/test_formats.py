"""Model formats are plug-ins: each module of benchlab.formats is found by the registry and read by every stage."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchlab.formats import accelerator_kinds, delivery_size, format_named, format_of, registered
from benchlab.formats.base import deflated_size
from benchlab.plan.suite import FOLDER_MODEL_SUFFIXES
from benchlab.records import NO_ACCELERATOR, AcceleratorSetting, Capabilities
from benchlab.decide.delivery import check_delivery


def test_every_format_module_is_registered_with_its_suffix() -> None:
    assert {(f.name, f.suffix) for f in registered()} == {("tflite", ".tflite"), ("mlpackage", ".mlpackage"),
                                                          ("pt2", ".pt2"), ("pte", ".pte"),
                                                          ("litertlm", ".litertlm"), ("etlm", ".etlm"),
                                                          ("aimodel", ".aimodel")}
    assert format_of(Path("m.tflite")) is format_named("tflite") and format_of(Path("m.keras")) is None


def test_a_format_says_which_accelerators_run_it() -> None:
    assert accelerator_kinds("mlpackage") == {"coreml"} and "gpu" in accelerator_kinds("tflite")
    assert accelerator_kinds("onnx") == frozenset()  # no module declares it: nothing runs it
    host = Capabilities(kinds=frozenset({"cpu"}), formats=frozenset({"tflite"}))
    refusal = host.refusal("tflite", AcceleratorSetting(name=NO_ACCELERATOR, kind=NO_ACCELERATOR))
    assert refusal is not None and "cpu, gpu, hexagon, nnapi, qnn" in refusal


def test_a_model_folder_picks_up_every_format_suffix() -> None:
    assert {".tflite", ".mlpackage", ".pt2", ".pte", ".litertlm", ".etlm", ".aimodel", ".keras",
            ".h5"} == set(FOLDER_MODEL_SUFFIXES)


@pytest.mark.parametrize(("fmt", "stores"), [("tflite", {"Google Play", "App Store"}), ("mlpackage", {"App Store"})])
def test_a_format_is_weighed_against_the_stores_of_the_platforms_that_ship_it(fmt: str, stores: set[str]) -> None:
    delivery = check_delivery("m", "v", fmt, 1000)
    assert {check.limit.store for check in delivery.checks} == stores


def test_a_file_of_no_format_is_sized_deflated_like_one_of_a_format(tmp_path: Path) -> None:
    trained = tmp_path / "trained.keras"
    trained.write_bytes(b"\0" * 10_000)
    assert delivery_size(trained) == deflated_size(trained) < 1000


def test_a_tflite_file_without_the_flatbuffer_identifier_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.tflite"
    path.write_bytes(b"12345678")
    assert format_named("tflite").check_contents(path) == "is not a TFLite flatbuffer (no TFL3 identifier)"
    package = tmp_path / "m.mlpackage"
    package.mkdir()
    assert "Manifest.json" in format_named("mlpackage").check_contents(package)


def test_every_recipe_builds_a_registered_format() -> None:
    from benchlab.optimize.recipes import RECIPES

    unknown = {name: recipe.FORMAT for name, recipe in RECIPES.items() if format_named(recipe.FORMAT) is None}
    assert unknown == {}
