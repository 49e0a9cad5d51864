"""The recipe registry: every recipe validates its own options, names allowed values, declares needs."""

from __future__ import annotations

import typing
from types import SimpleNamespace
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchlab.decide.check import UNQUANTIZED_RECIPES
from benchlab.errors import SuiteError
from benchlab.formats import format_named
from benchlab.optimize.recipes import RECIPES, Options, register
from benchlab.optimize.recipes.base import Need, _allowed_values
from benchlab.optimize.recipes.litert import Fp32, LiteRTRecipe
from benchlab.plan.suite import load_suite

REPO = Path(__file__).resolve().parents[1]
MODEL_KINDS = ("builtin", "keras", "savedmodel", "tflite", "mlpackage", "torch", "pte", "litertlm", "etlm", "hf")
#: A value of the wrong kind for each option, and the text its error must contain.
BAD_VALUES = {
    "bits": (5, "bits=5 is not allowed (allowed: 1, 2, 3, 4, 6, 8)"),
    "mode": ("cubic", "mode='cubic' is not allowed (allowed: linear_symmetric, linear)"),
    "int8_io": ("maybe", "int8_io='maybe' is not allowed (allowed: true, false)"),
    "sparsity": (1.5, "sparsity=1.5: Input should be less than 1"),
    "calibration_samples": (0, "calibration_samples=0: Input should be greater than or equal to 1"),
    "epochs": (0, "epochs=0: Input should be greater than or equal to 1"),
    "structured_2_4": ("maybe", "structured_2_4='maybe' is not allowed (allowed: true, false)"),
    "alpha": (1.5, "alpha=1.5: Input should be less than or equal to 1"),
    "student": (5, "student=5: Input should be a valid string"),
    "temperature": (0, "temperature=0: Input should be greater than 0"),
    "clusters": (1, "clusters=1: Input should be greater than or equal to 2"),
    "keep_int64": ("maybe", "keep_int64='maybe' is not allowed (allowed: true, false)"),
    "dynamic": ("maybe", "dynamic='maybe' is not allowed (allowed: true, false)"),
    "xnnpack": ("maybe", "xnnpack='maybe' is not allowed (allowed: true, false)"),
    "prefill_lengths": ([128, 0], "prefill_lengths.1=0: Input should be greater than 0"),
    "cache_length": (0, "cache_length=0: Input should be greater than 0"),
}


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_validates_its_default_options_and_declares_what_it_is(name: str) -> None:
    recipe = RECIPES[name]
    assert recipe.NAME == name
    options = recipe.parse_options({})
    assert isinstance(options, Options)
    assert recipe.parse_options(options.model_dump()) == options  # what a suite stores loads back the same
    assert format_named(recipe.FORMAT) is not None
    assert recipe.NEEDS <= set(typing.get_args(Need))
    assert recipe.QUANTIZES_WEIGHTS in (True, False, None)
    assert any(recipe.applies_to(kind) for kind in MODEL_KINDS)
    assert recipe.variant_name(options) and recipe.DESCRIPTION


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_refuses_an_unknown_option_naming_the_ones_it_has(name: str) -> None:
    recipe = RECIPES[name]
    allowed = ", ".join(recipe.OPTIONS.model_fields) or "none"
    with pytest.raises(ValueError, match=rf"unknown option 'colour' for recipe {name} \(allowed: {allowed}\)$"):
        recipe.parse_options({"colour": "red"})


@pytest.mark.parametrize(("name", "option"), [(n, o) for n, r in RECIPES.items() for o in r.OPTIONS.model_fields])
def test_every_option_refuses_a_bad_value_naming_the_field_and_allowed_values(name: str, option: str) -> None:
    value, expected = BAD_VALUES[option]  # a new option without a case here fails: add one
    with pytest.raises(ValueError) as error:
        RECIPES[name].parse_options({option: value})
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_allowed_values_are_read_from_the_options_model() -> None:
    palettize = RECIPES["coreml-palettize"].OPTIONS
    assert _allowed_values(palettize, "bits") == "1, 2, 3, 4, 6, 8"
    assert _allowed_values(RECIPES["coreml-prune"].OPTIONS, "sparsity") is None  # a range: pydantic says it


def test_needs_and_weight_quantization_are_declared_per_recipe() -> None:
    needing_calibration = {n for n, r in RECIPES.items() if "calibration-data" in r.NEEDS}
    assert needing_calibration == {"full-int8", "int16x8", "executorch-int8"}
    assert {n for n, r in RECIPES.items() if "training-data" in r.NEEDS} == {"prune", "cluster", "qat", "distill"}
    # benchlab check asks the registry
    assert UNQUANTIZED_RECIPES == {"fp32", "coreml-fp32", "litert-torch", "executorch", "coreai", "litert-lm-fp32"}
    assert {n for n, r in RECIPES.items() if r.QUANTIZES_WEIGHTS is None} == {"tflite", "mlpackage", "torch", "pte",
                                                                                  "litertlm", "etlm"}
    assert [n for n, r in RECIPES.items() if r.IS_REFERENCE] == ["fp32", "tflite", "torch", "pte", "litertlm", "etlm"]


def test_the_registry_refuses_a_duplicate_name() -> None:
    class AnotherFp32(LiteRTRecipe):
        NAME = "fp32"
        DESCRIPTION = "a second recipe claiming fp32's name"
        QUANTIZES_WEIGHTS = False

    registry = register({}, [Fp32()])
    with pytest.raises(ValueError, match="recipe name 'fp32' is registered twice \\(Fp32 and AnotherFp32\\)"):
        register(registry, [AnotherFp32()])
    assert type(registry["fp32"]) is Fp32


def test_shipped_suites_give_the_same_variants_as_before_the_registry() -> None:
    # Recipe, options and name are what a variant's cache key and its rows are made of.
    quickstart = load_suite(REPO / "suites" / "quickstart.yaml", RECIPES)
    assert [(v.recipe, v.options, v.variant_name) for v in quickstart.variants] == [
        ("fp32", {}, "fp32"), ("fp16", {}, "fp16"), ("dynamic-int8", {}, "dynamic-int8"),
        ("full-int8", {"int8_io": True, "calibration_samples": 200}, "full-int8"),
        ("int16x8", {"calibration_samples": 200}, "int16x8"),
        ("prune", {"epochs": 2, "sparsity": 0.5, "structured_2_4": False}, "prune-50"),
        ("prune", {"epochs": 2, "sparsity": 0.5, "structured_2_4": False}, "prune-50+full-int8"),
        ("distill", {"alpha": 0.5, "student": None, "temperature": 4.0, "epochs": 3}, "distill-0.5x"),
        ("coreml-fp16", {}, "coreml-fp16"), ("coreml-int8", {"mode": "linear_symmetric"}, "coreml-int8"),
        ("coreml-palettize", {"bits": 4}, "coreml-palettize-4bit"),
        ("coreml-palettize", {"bits": 6}, "coreml-palettize-6bit"),
        ("coreml-prune", {"sparsity": 0.5}, "coreml-prune-50"),
    ]
    chained = quickstart.variants[6].then
    assert chained is not None and (chained.recipe, chained.options) == ("full-int8", {"int8_io": True,
                                                                                     "calibration_samples": 200})
    for name in ("lab", "nightly"):
        suite = load_suite(REPO / "suites" / f"{name}.yaml", RECIPES)
        assert [v.variant_name for v in suite.variants] == ["fp32", "fp16", "dynamic-int8", "full-int8"]


class _Distil(LiteRTRecipe):
    """A recipe that trains, as distillation or QAT will: it needs a labelled training split."""

    NAME = "test-distil"
    DESCRIPTION = "stands in for a training recipe"
    NEEDS = frozenset({"training-data"})
    QUANTIZES_WEIGHTS = True


def _suite(tmp_path: Path, npz: Path, recipe: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "models": [{"name": "m", "builtin": "quickstart-mnist"}],
                                    "dataset": {"npz": str(npz)}, "variants": ["fp32", recipe]}))
    return path


def test_a_suite_refuses_a_recipe_whose_needs_its_dataset_cannot_meet(tmp_path: Path) -> None:
    recipes = {**RECIPES, _Distil.NAME: _Distil()}  # a plug-in recipe: the suite checks the catalogue it is given
    eval_only = tmp_path / "eval.npz"
    np.savez(eval_only, inputs=np.zeros((4, 28, 28, 1), np.float32), labels=np.arange(4))
    path = _suite(tmp_path, eval_only, _Distil.NAME)
    with pytest.raises(SuiteError) as error:
        load_suite(path, recipes)
    assert str(error.value) == (f"{path}: variants[1].recipe: test-distil needs training data for model 'm': dataset.npz: "
                                f"{eval_only} has no train_inputs and train_labels arrays "
                                "(train:NAME per input for a model with several)")

    with_train = tmp_path / "train.npz"
    np.savez(with_train, inputs=np.zeros((4, 28, 28, 1), np.float32), labels=np.arange(4),
             train_inputs=np.zeros((8, 28, 28, 1), np.float32), train_labels=np.arange(8) % 4)
    assert [v.recipe for v in load_suite(_suite(tmp_path, with_train, _Distil.NAME), recipes).variants][1] == "test-distil"


def test_a_training_split_is_loaded_and_hashed_apart_from_the_evaluation_data(tmp_path: Path) -> None:
    from benchlab.plan.datasets import load_dataset

    path = tmp_path / "train.npz"
    np.savez(path, inputs=np.ones((3, 4), np.float32), labels=np.array([0, 1, 2]),
             train_inputs=np.zeros((5, 4), np.float32), train_labels=np.array([0, 1, 2, 3, 0]))
    dataset = load_dataset(load_suite(_suite(tmp_path, path, "fp16"), RECIPES).dataset)
    assert dataset.train_inputs["inputs"].shape == (5, 4) and list(dataset.train_labels) == [0, 1, 2, 3, 0]
    np.savez(path, inputs=np.ones((3, 4), np.float32), labels=np.array([0, 1, 2]),
             train_inputs=np.zeros((5, 4), np.float32), train_labels=np.array([1, 1, 2, 3, 0]))
    changed = load_dataset(load_suite(_suite(tmp_path, path, "fp16"), RECIPES).dataset)
    assert changed.sha256 == dataset.sha256 and changed.train_sha256 != dataset.train_sha256



@pytest.mark.parametrize(("kind", "framework"), [("torch", "torch"), ("keras", "tensorflow")])
def test_a_new_converter_or_framework_changes_the_cache_key_of_every_converted_variant(
        monkeypatch: pytest.MonkeyPatch, kind: str, framework: str) -> None:
    # A converter reads a torch model after torch exports and decomposes it again, a Keras model through
    # TensorFlow: a new version of either, or of the converter, must rebuild the variant.
    from benchlab.optimize import build

    versions: dict[str, str] = {}
    monkeypatch.setattr(build, "version", lambda package: versions.get(package, "1.0"))
    suite = load_suite(REPO / "suites" / ("pytorch.yaml" if kind == "torch" else "quickstart.yaml"), RECIPES)
    source = SimpleNamespace(kind=kind, data_sha256=lambda need: "data")
    converters = [spec for spec in suite.variants if RECIPES[spec.recipe].for_source(kind).TOOL is not None]
    assert {RECIPES[spec.recipe].FORMAT for spec in converters} >= ({"pte", "tflite", "mlpackage"} if kind == "torch"
                                                                    else {"tflite", "mlpackage"})
    for spec in converters:
        recipe = RECIPES[spec.recipe].for_source(kind)
        before = build._key_extras(recipe, source, spec)
        for package in {recipe.TOOL, framework}:
            versions[package] = "2.0"
            assert build._key_extras(recipe, source, spec) != before, f"{spec.variant_name}: {package}"
            versions.clear()
