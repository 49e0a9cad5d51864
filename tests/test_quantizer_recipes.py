"""Variants of a .tflite made with ai-edge-quantizer, and failed builds kept in the cache.

Every claim is checked on the built flatbuffer (weight tensor types, kernels' operand types, size)
and by running the variant through LiteRT against the original file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchlab.optimize.build import build_variants
from benchlab.cache_dir import cache_dir
from benchlab.optimize.cache import FAILURE_FILE
from benchlab.optimize.flatbuffer import constant_types, prepare_for_quantizer
from benchlab.optimize.recipes import RECIPES
from benchlab.plan.datasets import load_model_datasets
from benchlab.plan.suite import load_suite
from benchlab.records import Variant
from benchlab.tensors import describe_tflite, from_tensor, to_tensor

QUANTIZER_RECIPES = ["tflite", "fp16", "dynamic-int8", "weight-only-int8", "full-int8"]
#: The variant names they build (the as-is recipe names its variant "original").
QUANTIZER_VARIANTS = ["original", *QUANTIZER_RECIPES[1:]]


#: Build into a cache of this module's own: other test files expect to build their variants first.
pytestmark = pytest.mark.usefixtures("module_cache")


def _suite(tmp_path: Path, model: Path, dataset: Path, variants: list) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"name": "q", "models": [{"name": "m", "path": str(model)}],
                                    "dataset": {"npz": str(dataset)}, "variants": variants}))
    return path


def _build(tmp_path: Path, model: Path, dataset: Path, variants: list, **kwargs: bool) -> dict[str, Variant]:
    suite = load_suite(_suite(tmp_path, model, dataset, variants), RECIPES)
    return {v.name: v for v in build_variants(suite, load_model_datasets(suite), **kwargs)}


def _outputs(path: str | Path, samples: np.ndarray) -> np.ndarray:
    """Run each sample through LiteRT; return the first output of every sample as real numbers."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    io = describe_tflite(path)
    (input_info,), output_info = io.inputs, io.outputs[0]
    (input_detail,), output_detail = interpreter.get_input_details(), interpreter.get_output_details()[0]
    results = []
    for sample in samples:
        interpreter.set_tensor(input_detail["index"], to_tensor(sample[np.newaxis], input_info))
        interpreter.invoke()
        results.append(from_tensor(interpreter.get_tensor(output_detail["index"]), output_info)[0])
    return np.stack(results)


def _kernel_operand_types(path: str) -> dict[str, set[str]]:
    """Return, per builtin op name, the types of its non-constant input tensors (what its kernel computes in)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    model = flatbuffer_utils.read_model(path)
    graph = model.subgraphs[0]
    kernels: dict[str, set[str]] = {}
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        activations = [graph.tensors[i] for i in op.inputs
                       if i >= 0 and model.buffers[graph.tensors[i].buffer].data is None]
        kernels.setdefault(op_names[max(code.builtinCode, code.deprecatedBuiltinCode)], set()).update(
            type_names[t.type] for t in activations)
    return kernels


def test_the_converter_recipe_names_mean_the_quantizer_for_a_tflite_source() -> None:
    for name in ("fp16", "dynamic-int8", "full-int8", "int16x8"):
        recipe = RECIPES[name]
        assert recipe.applies_to("keras") and recipe.applies_to("tflite")
        assert recipe.for_source("keras").TOOL == "tensorflow"
        for_tflite = recipe.for_source("tflite")
        assert for_tflite.TOOL == "ai-edge-quantizer"
        assert (for_tflite.NAME, for_tflite.OPTIONS, for_tflite.NEEDS) == (name, recipe.OPTIONS, recipe.NEEDS)
    assert RECIPES["weight-only-int8"].applies_to("tflite") and not RECIPES["weight-only-int8"].applies_to("keras")


def test_fp16_weights_are_expanded_to_fp32_without_changing_a_single_output(fp16_weights_tflite_path: Path,
                                                                           small_images_npz: Path) -> None:
    source = fp16_weights_tflite_path.read_bytes()
    prepared = prepare_for_quantizer(fp16_weights_tflite_path)
    assert constant_types(source)["FLOAT16"] == 3
    assert constant_types(prepared.model)["FLOAT16"] == 0
    assert prepared.expanded_fp16 == 3 and not prepared.added_signature
    assert prepared.notes() == "fp16 weights expanded to fp32 (3 tensors)"
    expanded = fp16_weights_tflite_path.with_name("expanded.tflite")
    expanded.write_bytes(prepared.model)
    assert len(prepared.model) > len(source)  # the weights now take 4 bytes each, the float16 copies are gone
    samples = np.load(small_images_npz)["inputs"][:8]
    np.testing.assert_array_equal(_outputs(expanded, samples), _outputs(fp16_weights_tflite_path, samples))
    assert describe_tflite(expanded) == describe_tflite(fp16_weights_tflite_path)


def test_a_signatureless_model_gets_a_signature_keyed_by_its_tensor_names(signatureless_tflite_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    original = describe_tflite(signatureless_tflite_path)
    assert original.signature is None
    prepared = prepare_for_quantizer(signatureless_tflite_path)
    assert prepared.added_signature and prepared.expanded_fp16 == 0
    assert Interpreter(model_content=prepared.model).get_signature_list() == {
        "serving_default": {"inputs": list(original.input_names), "outputs": list(original.output_names)}}


def test_the_quantizer_leaves_fp16_weights_alone_unless_they_are_expanded(tmp_path: Path,
                                                                          fp16_weights_tflite_path: Path,
                                                                          small_images_npz: Path) -> None:
    from ai_edge_quantizer import quantizer, recipe

    untouched = quantizer.Quantizer(str(fp16_weights_tflite_path))
    untouched.load_quantization_recipe(recipe.dynamic_wi8_afp32())
    size = fp16_weights_tflite_path.stat().st_size
    unchanged = bytes(untouched.quantize(enable_progress_report=False).quantized_model)
    assert constant_types(unchanged) == constant_types(fp16_weights_tflite_path.read_bytes())  # no int8 weight
    assert len(unchanged) / size > 0.95  # rewritten, not quantized: the ratio a user saw was 1.00

    variant = _build(tmp_path, fp16_weights_tflite_path, small_images_npz, ["dynamic-int8"])["dynamic-int8"]
    assert variant.status == "built", variant.error
    assert variant.size_bytes / size < 0.8
    assert variant.notes == "fp16 weights expanded to fp32 (3 tensors)"


def test_every_quantizer_recipe_builds_what_it_claims_from_an_fp16_tflite(tmp_path: Path,
                                                                         fp16_weights_tflite_path: Path,
                                                                         small_images_npz: Path) -> None:
    variants = _build(tmp_path, fp16_weights_tflite_path, small_images_npz, QUANTIZER_RECIPES)
    assert list(variants) == QUANTIZER_VARIANTS
    assert not [v.error for v in variants.values() if v.status not in ("built", "cached")]  # other tests built some
    reference = variants["original"]
    assert reference.is_reference and reference.notes is None
    assert Path(reference.path).read_bytes() == fp16_weights_tflite_path.read_bytes()  # the original, as it is
    weights = {n: constant_types(Path(v.path).read_bytes()) for n, v in variants.items()}
    assert weights["fp16"]["FLOAT16"] >= 2 and weights["fp16"]["INT8"] == 0
    for name in ("dynamic-int8", "weight-only-int8", "full-int8"):
        assert weights[name]["INT8"] >= 2 and weights[name]["FLOAT16"] == 0, (name, weights[name])
        assert variants[name].size_bytes < reference.size_bytes
        assert variants[name].parent == "original" and variants[name].format == "tflite"

    kernels = {n: _kernel_operand_types(v.path) for n, v in variants.items()}
    assert kernels["dynamic-int8"]["FULLY_CONNECTED"] == {"FLOAT32"}  # int8 weights, float activations
    assert "DEQUANTIZE" in kernels["weight-only-int8"]  # weights dequantized before a float kernel
    assert kernels["full-int8"]["CONV_2D"] == kernels["full-int8"]["FULLY_CONNECTED"] == {"INT8"}
    io = describe_tflite(variants["full-int8"].path)
    assert io.inputs[0].dtype == io.outputs[0].dtype == "int8" and io.inputs[0].quantized
    assert io.input_names == describe_tflite(reference.path).input_names

    samples = np.load(small_images_npz)["inputs"]
    expected = _outputs(reference.path, samples)
    for name, tolerance in [("fp16", 1e-3), ("dynamic-int8", 0.01), ("weight-only-int8", 0.01), ("full-int8", 0.1)]:
        error = np.abs(_outputs(variants[name].path, samples) - expected)
        assert error.max() < tolerance and error.mean() < tolerance / 4, name


def test_a_signatureless_tflite_gets_calibrated_variants_named_as_the_original(tmp_path: Path,
                                                                               signatureless_tflite_path: Path,
                                                                               small_images_npz: Path) -> None:
    variants = _build(tmp_path, signatureless_tflite_path, small_images_npz, ["tflite", "dynamic-int8", "full-int8"])
    assert not [v.error for v in variants.values() if v.status not in ("built", "cached")]
    added = "signature 'serving_default' added (tensor names as keys)"
    assert variants["full-int8"].notes == variants["dynamic-int8"].notes == added
    original = describe_tflite(signatureless_tflite_path)
    for name in ("dynamic-int8", "full-int8"):
        io = describe_tflite(variants[name].path)
        assert (io.input_names, io.output_names) == (original.input_names, original.output_names)
    samples = np.load(small_images_npz)["inputs"]
    error = np.abs(_outputs(variants["full-int8"].path, samples) - _outputs(signatureless_tflite_path, samples))
    assert error.max() < 0.1 and error.mean() < 0.025  # softmax scores quantized in steps of 1/256


def test_full_int8_with_float_io_is_a_failed_variant_for_a_tflite(tmp_path: Path, signatureless_tflite_path: Path,
                                                                  small_images_npz: Path) -> None:
    variants = _build(tmp_path, signatureless_tflite_path, small_images_npz,
                      ["tflite", {"recipe": "full-int8", "options": {"int8_io": False}}])
    assert variants["original"].status in ("built", "cached")
    assert variants["full-int8"].status == "failed"
    assert "int8_io: false is not available for a .tflite source" in variants["full-int8"].error


def test_a_failed_build_is_cached_reported_again_and_rebuilt_when_asked(tmp_path: Path, cumsum_saved_model: Path,
                                                                        digits_npz: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHLAB_CACHE_DIR", str(tmp_path / "cache"))
    seen: list[str] = []
    suite = load_suite(_suite(tmp_path, cumsum_saved_model, digits_npz, ["int16x8"]), RECIPES)
    dataset = load_model_datasets(suite)

    def failures() -> list[dict]:
        return [json.loads(p.read_text()) for p in (cache_dir() / "variants").glob(f"*/{FAILURE_FILE}")]

    (first,) = build_variants(suite, dataset, on_variant=lambda v: seen.append(v.status))
    assert first.status == "failed" and "16x8-bit not yet supported for op: 'CUMSUM'" in first.error
    assert first.notes is None
    (stored,) = failures()
    assert stored["error"] == first.error
    (entry,) = (p for p in (cache_dir() / "variants").iterdir() if p.is_dir())
    assert [f.name for f in entry.iterdir()] == [FAILURE_FILE]  # nothing half-built kept

    (second,) = build_variants(suite, dataset, on_variant=lambda v: seen.append(v.status))
    assert (second.status, second.error) == ("failed", first.error)
    assert second.notes.startswith("failed build from the cache") and "--rebuild-failed" in second.notes
    assert failures() == [stored]  # not built again: the failure record is the first one

    (third,) = build_variants(suite, dataset, on_variant=lambda v: seen.append(v.status), rebuild_failed=True)
    assert (third.status, third.error, third.notes) == ("failed", first.error, None)
    (rebuilt,) = failures()
    assert rebuilt["failed_at"] > stored["failed_at"]
    assert seen == ["failed"] * 3
    assert len([p for p in (cache_dir() / "variants").iterdir() if p.is_dir()]) == 1  # no staging folder left


def test_core_ml_converts_a_savedmodel_through_its_serving_signature(tmp_path: Path, cumsum_saved_model: Path,
                                                                     digits_npz: Path) -> None:
    import coremltools as ct

    variants = _build(tmp_path, cumsum_saved_model, digits_npz, ["fp32", "coreml-fp32", "coreml-int8"])
    assert not [v.error for v in variants.values() if v.status not in ("built", "cached")]
    spec = ct.models.MLModel(variants["coreml-fp32"].path, skip_model_load=True).get_spec()
    assert [i.name for i in spec.description.input] == ["x"]
    assert list(spec.description.input[0].type.multiArrayType.shape) == [1, 28, 28, 1]
    # Named as the signature's output (and the LiteRT variant's), not coremltools' "Identity".
    assert [o.name for o in spec.description.output] == list(describe_tflite(variants["fp32"].path).output_names)


def test_core_ml_refuses_a_savedmodel_without_a_serving_signature_before_building(tmp_path: Path) -> None:
    import tensorflow as tf

    from benchlab.errors import SuiteError
    from benchlab.optimize.recipes.coreml import CoreMLFp16

    module = tf.Module()
    module.predict = tf.function(lambda x: x * 2.0, input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    path = tmp_path / "predict_only"
    tf.saved_model.save(module, str(path), signatures={"predict": module.predict})

    class Source:  # what Recipe.check reads of a SourceModel
        name, kind = "doubler", "savedmodel"

    Source.path = path
    with pytest.raises(SuiteError) as refused:
        CoreMLFp16().check(Source())  # type: ignore[arg-type]
    assert str(refused.value) == (f"model 'doubler' ({path}): recipe coreml-fp16 cannot convert it: "
                                  "it has no serving_default signature (signatures: predict)")


def test_an_int16x8_kernel_refusing_its_range_says_it_is_the_int16x8_kernels_limit(tmp_path: Path) -> None:
    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from benchlab.litert_invoke import readable_error

    # A RELU6 convolution whose outputs are all 0: its int16 range is too narrow for the kernel, its int8 one is fine.
    image = keras.Input((8, 8, 3))
    silent = keras.layers.Conv2D(4, 3, activation="relu6", kernel_initializer="zeros",
                                 bias_initializer=keras.initializers.Constant(-1.0))(image)
    keras.Model(image, keras.layers.Dense(2)(keras.layers.Flatten()(silent))).export(str(tmp_path / "saved"),
                                                                                     verbose=False)
    rng = np.random.default_rng(12)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rng.random((1, 8, 8, 3), dtype=np.float32)] for _ in range(8))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    interpreter = Interpreter(model_content=converter.convert())
    with pytest.raises(RuntimeError) as refused:
        interpreter.allocate_tensors()
    assert readable_error(refused.value) == (
        "CONV_2D (node 1) failed to prepare: no_integer_overflow_from_quantization, a limit of LiteRT's int16x8 "
        "kernels (the op's calibrated activation range does not fit its integer arithmetic)")


def test_the_cli_reports_a_cached_failure_and_rebuilds_it_with_rebuild_failed(tmp_path: Path, cumsum_saved_model: Path,
                                                                              digits_npz: Path,
                                                                              monkeypatch: pytest.MonkeyPatch,
                                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from benchlab.cli import main

    monkeypatch.setenv("BENCHLAB_CACHE_DIR", str(tmp_path / "cache"))
    suite = yaml.safe_load(_suite(tmp_path, cumsum_saved_model, digits_npz, ["fp32", "int16x8"]).read_text())
    suite.update(targets=["host"], accelerators=[{"kind": "cpu", "threads": 1}],
                 scenario={"warmup": 1, "iterations": 5, "min_seconds": 0, "repeats": 1})
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))

    assert main(["optimize", str(path)]) == 0
    assert "failed build from the cache" not in capsys.readouterr().out
    assert main(["run", str(path), "--results", str(tmp_path / "results")]) == 0
    assert "int16x8 failed" in capsys.readouterr().out
    (run_json,) = (tmp_path / "results").glob("*/run.json")
    variants = {v["name"]: v for v in json.loads(run_json.read_text())["variants"]}
    assert variants["int16x8"]["status"] == "failed" and variants["fp32"]["status"] == "cached"
    assert variants["int16x8"]["notes"].startswith("failed build from the cache")

    stored = json.loads(next((tmp_path / "cache" / "variants").glob(f"*/{FAILURE_FILE}")).read_text())
    assert main(["run", str(path), "--results", str(tmp_path / "again"), "--rebuild-failed"]) == 0
    assert "failed build from the cache" not in capsys.readouterr().out
    (run_json,) = (tmp_path / "again").glob("*/run.json")
    variants = {v["name"]: v for v in json.loads(run_json.read_text())["variants"]}
    assert (variants["int16x8"]["status"], variants["int16x8"]["notes"]) == ("failed", None)
    rebuilt = json.loads(next((tmp_path / "cache" / "variants").glob(f"*/{FAILURE_FILE}")).read_text())
    assert rebuilt["error"] == stored["error"] and rebuilt["failed_at"] > stored["failed_at"]


class _Source:
    """What the quantizer recipes read of a SourceModel: its path, kind and representative feeds."""

    kind = "tflite"

    def __init__(self, path: Path, feeds: dict[str, np.ndarray]) -> None:
        self.path, self._feeds = path, feeds

    def calibration_feeds(self) -> dict[str, np.ndarray]:
        return self._feeds


def test_full_int8_calibrates_every_input_by_name_including_token_ids(tmp_path: Path) -> None:
    import keras

    from benchlab.optimize.recipes.litert import FullInt8Options
    from examples.production_models import (SEQUENCE, TWO_TOWER_INPUTS, VOCAB, export_tflite, token_classifier_tflite,
                                         two_tower_keras)

    rng = np.random.default_rng(13)
    two_tower = export_tflite(keras.models.load_model(two_tower_keras(tmp_path / "two_tower.keras")),
                               tmp_path / "two_tower.tflite")
    tokens = token_classifier_tflite(tmp_path / "tokens.tflite")
    # Keyed by name in the other order than the model's inputs: matched by name, not position.
    cases = {two_tower: {"meta": rng.random((16, *TWO_TOWER_INPUTS["meta"]), dtype=np.float32),
                         "image": rng.random((16, *TWO_TOWER_INPUTS["image"]), dtype=np.float32)},
             tokens: {"ids": rng.integers(0, VOCAB, (16, SEQUENCE)).astype(np.int32)}}
    recipe = RECIPES["full-int8"].for_source("tflite")
    for model, feeds in cases.items():
        out = tmp_path / f"{model.stem}-full-int8.tflite"
        assert recipe.build(_Source(model, feeds), FullInt8Options(), out) is None  # nothing to prepare
        source_io, variant_io = describe_tflite(model), describe_tflite(out)
        assert (variant_io.input_names, variant_io.output_names) == (source_io.input_names, source_io.output_names)
        assert constant_types(out.read_bytes())["INT8"] >= 1
        dtypes = {t.name: t.dtype for t in variant_io.inputs}
        assert dtypes == ({"ids": "int32"} if model == tokens else {"image": "int8", "meta": "int8"})
        expected, got = _signature_outputs(model, feeds), _signature_outputs(out, feeds)
        for name in source_io.output_names:  # every output, not only the first
            error, scale = np.abs(got[name] - expected[name]), np.abs(expected[name]).max()
            # The mean, not the worst sample: the quantizer's default calibration keeps a moving average
            # of each range, so a sample beyond it is clipped (measured here: 1.6% mean, 26% worst on "box").
            assert error.mean() < 0.05 * scale, name


def _signature_outputs(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run every sample through the model's signature; return each output (N, ...) as real numbers."""
    from ai_edge_litert.interpreter import Interpreter

    io = describe_tflite(path)
    runner = Interpreter(model_path=str(path)).get_signature_runner(io.signature)
    samples = [runner(**{t.name: to_tensor(feeds[t.name][i:i + 1], t) for t in io.inputs})
               for i in range(len(next(iter(feeds.values()))))]
    return {t.name: np.concatenate([from_tensor(s[t.name], t) for s in samples]) for t in io.outputs}


def test_an_already_integer_tflite_gets_a_failed_variant_not_a_copy(tmp_path: Path) -> None:
    from benchlab.optimize.recipes.base import Options
    from examples.production_models import quantized_io_tflite

    model = quantized_io_tflite(tmp_path / "int8.tflite")
    feeds = {"image": np.random.default_rng(14).random((4, 16, 16, 3), dtype=np.float32)}
    with pytest.raises(ValueError, match=r"no float weights to quantize \(it is already integer-quantized\)"):
        RECIPES["dynamic-int8"].for_source("tflite").build(_Source(model, feeds), Options(), tmp_path / "out.tflite")
    assert not (tmp_path / "out.tflite").exists()


def test_every_variant_of_a_tflite_with_a_custom_op_fails_first_naming_the_op(tmp_path: Path,
                                                                             custom_op_tflite_path: Path,
                                                                             digits_npz: Path) -> None:
    variants = _build(tmp_path, custom_op_tflite_path, digits_npz, ["tflite", "dynamic-int8", "full-int8"])
    missing = "does not run in LiteRT: custom op Betainc not available in this LiteRT runtime"
    # The file as it is never ran, so it is not built either; the quantizer is not even tried.
    assert variants["original"].status == "failed"
    assert variants["original"].error == f"tflite failed: {missing}"
    for name in ("dynamic-int8", "full-int8"):
        assert variants[name].status == "failed"
        assert variants[name].error == f"{name} failed: the model {missing}"
