"""Recipes that train: pruning (tfmot, through the tf_keras bridge) and distillation.

Every claim is checked on the built .tflite: zeros counted in the kernels the file holds (decoded
from their sparse encoding), the 2:4 pattern, parameter counts and size, and accuracy on held-out
real digits measured by running the variant through LiteRT.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchlab.cli import main
from benchlab.errors import SuiteError
from benchlab.optimize.build import build_variants
from benchlab.optimize.recipes import RECIPES
from benchlab.optimize.recipes.keras_bridge import copy_weights_back, to_tf_keras, unsupported_layer
from benchlab.optimize.recipes.kernels import distinct_values, read_kernels, zero_fraction
from benchlab.plan.datasets import load_model_datasets, mnist_splits
from benchlab.plan.suite import load_suite
from benchlab.records import Variant
from benchlab.tensors import describe_tflite, from_tensor, to_tensor

#: Held-out digits the accuracy is measured on (not in the training split below).
HELD_OUT = 300


#: Build into a cache of this module's own: other test files expect to build their variants first.
pytestmark = pytest.mark.usefixtures("module_cache")


@pytest.fixture(scope="module")
def train_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Held-out digits to evaluate and 600 real training digits with labels: a dataset with a training split."""
    train_x, train_y, eval_x, eval_y = mnist_splits()
    path = tmp_path_factory.mktemp("data") / "digits_train.npz"
    np.savez(path, inputs=eval_x[:HELD_OUT], labels=eval_y[:HELD_OUT], representative=train_x[:50],
             train_inputs=train_x[1000:1600], train_labels=train_y[1000:1600])
    return path


def _suite(tmp_path: Path, model: Path, dataset: Path, variants: list) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "models": [{"name": "tiny", "path": str(model)}],
                                    "dataset": {"npz": str(dataset)}, "variants": variants}))
    return path


def _build(tmp_path: Path, model: Path, dataset: Path, variants: list,
           progress: list[str] | None = None) -> dict[str, Variant]:
    suite = load_suite(_suite(tmp_path, model, dataset, variants), RECIPES)
    say = progress.append if progress is not None else None
    return {v.name: v for v in build_variants(suite, load_model_datasets(suite), say)}


def _accuracy(path: str | Path) -> float:
    """Top-1 accuracy of a .tflite on the held-out digits, each run through LiteRT on this machine."""
    from ai_edge_litert.interpreter import Interpreter

    _, _, eval_x, eval_y = mnist_splits()
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    (source,), (scores,) = interpreter.get_input_details(), interpreter.get_output_details()
    (source_info,), (scores_info, *_) = describe_tflite(path).inputs, describe_tflite(path).outputs
    predicted = []
    for sample in eval_x[:HELD_OUT]:
        interpreter.set_tensor(source["index"], to_tensor(sample[np.newaxis], source_info))  # int8 inputs quantized
        interpreter.invoke()
        predicted.append(int(np.argmax(from_tensor(interpreter.get_tensor(scores["index"]), scores_info))))
    return float(np.mean(np.array(predicted) == eval_y[:HELD_OUT]))


# --- the tf_keras bridge and the kernel reader, no training -------------------------------------


def test_the_bridge_rebuilds_the_model_in_tf_keras_with_the_same_outputs_and_weights_back(
        tiny_keras_path: Path) -> None:
    import keras

    model = keras.models.load_model(tiny_keras_path, compile=False)
    _, _, eval_x, _ = mnist_splits()
    twin = to_tf_keras(model)
    assert [layer.name for layer in twin.layers] == [layer.name for layer in model.layers]
    np.testing.assert_allclose(twin.predict(eval_x[:20], verbose=0), model.predict(eval_x[:20], verbose=0), atol=1e-5)

    # The classifier head, by position: Keras numbers its automatic names per process ("dense_2").
    name = model.layers[-1].name
    dense = twin.get_layer(name)
    kernel, bias = dense.get_weights()
    dense.set_weights([np.where(np.arange(kernel.size).reshape(kernel.shape) % 2, kernel, 0.0), bias])
    copy_weights_back(twin, model)
    assert np.mean(model.get_layer(name).get_weights()[0] == 0) >= 0.5


def _every_carried_layer(keras):  # type: ignore[no-untyped-def]
    """A functional model with a residual Add, a Concatenate and every other layer the bridge carries."""
    layers = keras.layers
    inputs = keras.Input((16, 16, 3), name="image")
    x = layers.ReLU(6.0)(layers.BatchNormalization()(layers.Conv2D(8, 3, padding="same", use_bias=False)(inputs)))
    branch = layers.Activation("swish")(layers.DepthwiseConv2D(3, padding="same")(x))
    x = layers.Add()([x, layers.Conv2D(8, 1)(branch)])
    x = layers.Concatenate()([layers.MaxPooling2D(2)(x), layers.AveragePooling2D(2)(x)])
    x = layers.SeparableConv2D(8, 3, padding="same", activation="relu")(x)
    pooled = layers.GlobalAveragePooling2D()(x)
    flat = layers.Flatten()(layers.Reshape((8, 8, 8))(x))
    x = layers.Dropout(0.2)(layers.Concatenate()([pooled, flat]))
    return keras.Model(inputs, layers.Dense(4, activation="softmax")(x))


def test_the_bridge_carries_every_layer_it_lists_functional_and_sequential() -> None:
    import keras

    from benchlab.optimize.recipes.keras_bridge import LAYERS

    keras.utils.set_random_seed(0)
    functional = _every_carried_layer(keras)
    assert {type(layer).__name__ for layer in functional.layers} == LAYERS
    sequential = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                                   keras.layers.Dense(3)])
    samples = np.random.default_rng(0).random((5, 16, 16, 3), dtype=np.float32)
    for model in (functional, sequential):
        np.testing.assert_allclose(to_tf_keras(model).predict(samples, verbose=0), model.predict(samples, verbose=0),
                                   atol=1e-5)


def test_the_bridge_refuses_a_layer_it_does_not_carry_naming_it() -> None:
    import keras

    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.LayerNormalization(name="norm")(inputs)))
    assert unsupported_layer(model).startswith("layer 'norm' is a LayerNormalization, which the tf_keras bridge "
                                               "does not carry (supported: Activation, Add,")


def test_a_suite_with_a_layer_the_bridge_cannot_carry_is_refused_before_building(tmp_path: Path,
                                                                                 train_npz: Path) -> None:
    import keras

    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.LayerNormalization(name="norm")(x)
    path = tmp_path / "norm.keras"
    keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x)).save(path)
    with pytest.raises(SuiteError, match=r"models\[0\]: recipe prune cannot train 'tiny': layer 'norm' is a "
                                         r"LayerNormalization, which the tf_keras bridge does not carry"):
        _build(tmp_path, path, train_npz, ["fp32", "prune"])


def test_kernels_are_read_alike_from_a_dense_and_a_sparse_encoded_tflite(tmp_path: Path) -> None:
    import keras

    from benchlab.optimize.recipes.training import convert

    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 8))
    x = keras.layers.Conv2D(16, 1)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(12)(keras.layers.Flatten()(x)))
    rng = np.random.default_rng(0)
    for layer in model.layers[1:]:
        if layer.weights:
            kernel, bias = layer.get_weights()
            layer.set_weights([np.where(rng.random(kernel.shape) < 0.8, 0.0, kernel), bias])  # 80% zero
    convert(model, tmp_path / "dense.tflite")
    convert(model, tmp_path / "sparse.tflite", ("EXPERIMENTAL_SPARSITY",))
    dense, sparse = read_kernels(tmp_path / "dense.tflite"), read_kernels(tmp_path / "sparse.tflite")
    assert (tmp_path / "sparse.tflite").stat().st_size < 0.5 * (tmp_path / "dense.tflite").stat().st_size
    assert [k.shape for k in dense.values()] == [(16, 1, 1, 8), (12, 576)]
    for a, b in zip(dense.values(), sparse.values()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(dense[next(iter(dense))][:, 0, 0, :], model.layers[1].get_weights()[0][0, 0].T)
    assert 0.75 < zero_fraction(sparse) < 0.85


def test_distinct_values_counts_a_float16_kernel_exactly() -> None:
    # 4096 draws of 8 float16 values, like a clustered kernel behind DEQUANTIZE: NumPy's AVX-512 float16
    # sort (CPUs with AVX512_ICL, numpy 2.4.6) misorders this array, and np.unique on it counts 14.
    values = (np.arange(-4, 4) / 64).astype(np.float16)
    kernel = np.random.default_rng(0).choice(values, 4096)
    assert distinct_values(kernel) == distinct_values(kernel.astype(np.float32)) == 8
    assert distinct_values(np.array([0.0, -0.0, 1.0], dtype=np.float16)) == 2
    assert distinct_values(np.array([3, -3, 3], dtype=np.int8)) == 2


# --- pruning ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_prune_zeroes_the_target_fraction_in_the_tflite_and_keeps_accuracy(tmp_path: Path, tiny_keras_path: Path,
                                                                          train_npz: Path) -> None:
    said: list[str] = []
    built = _build(tmp_path, tiny_keras_path, train_npz,
                   ["fp32", {"recipe": "prune", "options": {"sparsity": 0.6, "epochs": 2}}], said)
    reference, pruned = built["fp32"], built["prune-60"]
    assert pruned.status == "built", pruned.error
    kernels = read_kernels(Path(pruned.path))
    assert zero_fraction(kernels) >= 0.6 - 0.01
    assert zero_fraction(read_kernels(Path(reference.path))) < 0.01
    assert pruned.size_compressed_bytes < 0.7 * reference.size_compressed_bytes
    assert _accuracy(pruned.path) >= _accuracy(reference.path) - 0.05
    assert [line.split(": ", 1)[1].split(" loss")[0] for line in said if "prune-60 tiny" in line] == \
        ["epoch 1/2", "epoch 2/2"]
    assert pruned.notes.startswith(f"{zero_fraction(kernels):.1%} of Conv2D/Dense weights zero in the .tflite; "
                                   "trained 2 epochs on 600 samples, final loss ")

    again = _build(tmp_path, tiny_keras_path, train_npz,
                   ["fp32", {"recipe": "prune", "options": {"sparsity": 0.6, "epochs": 2}}])["prune-60"]
    assert again.status == "cached" and again.sha256 == pruned.sha256 and again.notes == pruned.notes


@pytest.mark.slow
def test_prune_2_of_4_leaves_at_least_two_zeros_in_every_four_input_channel_weights(
        tmp_path: Path, tiny_keras_path: Path, train_npz: Path) -> None:
    built = _build(tmp_path, tiny_keras_path, train_npz,
                   [{"recipe": "prune", "options": {"structured_2_4": True, "epochs": 1}}])["prune-2of4"]
    assert built.status == "built", built.error
    kernels = read_kernels(Path(built.path))
    pruned = {name: k for name, k in kernels.items() if k.shape[-1] % 4 == 0}  # a 1-channel first conv cannot be
    assert sum(k.size for k in pruned.values()) > 0.99 * sum(k.size for k in kernels.values())
    for kernel in pruned.values():
        zeros_per_group = np.count_nonzero(kernel.reshape(-1, 4) == 0, axis=1)
        assert zeros_per_group.min() >= 2
    assert _accuracy(built.path) > 0.2  # it still runs through LiteRT and tells digits apart


def test_2_4_pruning_refuses_another_sparsity_in_one_line() -> None:
    with pytest.raises(ValueError, match="^structured_2_4=True: Value error, 2:4 pruning zeroes exactly half the "
                                         "weights: leave sparsity at 0.5$"):
        RECIPES["prune"].parse_options({"sparsity": 0.7, "structured_2_4": True})


# --- clustering and quantization-aware training ------------------------------------------------


@pytest.mark.slow
def test_cluster_leaves_at_most_the_asked_distinct_values_in_every_kernel(tmp_path: Path, tiny_keras_path: Path,
                                                                         train_npz: Path) -> None:
    built = _build(tmp_path, tiny_keras_path, train_npz,
                   ["fp32", {"recipe": "cluster", "options": {"clusters": 8, "epochs": 1}}])
    reference, clustered = built["fp32"], built["cluster-8"]
    assert clustered.status == "built", clustered.error
    kernels = read_kernels(Path(clustered.path))
    assert len(kernels) == 3 and max(len(np.unique(k)) for k in kernels.values()) <= 8
    assert min(len(np.unique(k)) for k in read_kernels(Path(reference.path)).values()) > 8
    assert clustered.size_compressed_bytes < 0.5 * reference.size_compressed_bytes  # few values deflate well
    assert _accuracy(clustered.path) >= _accuracy(reference.path) - 0.05
    assert clustered.notes.startswith("at most 8 distinct values per output channel of a Conv2D/Dense kernel in "
                                      "the .tflite (8 per kernel); trained 1 epochs on 600 samples")


@pytest.mark.slow
def test_cluster_counts_per_output_channel_where_a_folded_batch_norm_scales_the_channels(
        tmp_path: Path, train_npz: Path) -> None:
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(16, 3, strides=2, use_bias=False)(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x)))
    model.save(tmp_path / "conv_bn.keras")
    built = _build(tmp_path, tmp_path / "conv_bn.keras", train_npz,
                   [{"recipe": "cluster", "options": {"clusters": 4, "epochs": 1}}])["cluster-4"]
    assert built.status == "built", built.error
    conv = next(k for k in read_kernels(Path(built.path)).values() if k.ndim == 4)
    assert max(len(np.unique(row)) for row in conv.reshape(16, -1)) <= 4
    assert len(np.unique(conv)) > 4  # each channel's four values scaled by its own folded batch norm


@pytest.mark.slow
def test_qat_writes_int8_kernels_and_int8_io_with_learned_ranges(tmp_path: Path, tiny_keras_path: Path,
                                                                 train_npz: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    from benchlab.optimize.recipes.model_optimization import INTEGER_OPS

    built = _build(tmp_path, tiny_keras_path, train_npz, ["fp32", {"recipe": "qat", "options": {"epochs": 1}}])
    reference, qat = built["fp32"], built["qat"]
    assert qat.status == "built", qat.error
    kernels = read_kernels(Path(qat.path), INTEGER_OPS)
    assert len(kernels) == 4 and {k.dtype for k in kernels.values()} == {np.dtype(np.int8)}
    interpreter = Interpreter(model_path=qat.path)
    assert [d["dtype"] for d in (*interpreter.get_input_details(), *interpreter.get_output_details())] == \
        [np.int8, np.int8]
    assert qat.size_bytes < 0.4 * reference.size_bytes
    assert _accuracy(qat.path) >= _accuracy(reference.path) - 0.05
    assert qat.notes.startswith("4 of 4 Conv2D/DepthwiseConv2D/Dense kernels int8 in the .tflite; trained 1 epochs")


@pytest.mark.slow
def test_core_ml_variants_still_build_after_a_tfmot_recipe_in_the_same_run(tmp_path: Path, tiny_keras_path: Path,
                                                                           train_npz: Path) -> None:
    # tfmot switches TensorFlow's tf.keras to Keras 2 on import; coremltools would then not know a Keras 3 model.
    import tensorflow as tf

    built = _build(tmp_path, tiny_keras_path, train_npz,
                   [{"recipe": "cluster", "options": {"epochs": 1}}, "coreml-fp16"])
    assert [v.status for v in built.values()] == ["built", "built"], [v.error for v in built.values()]
    assert "TF_USE_LEGACY_KERAS" not in os.environ and tf.keras.version().startswith("3.")


# --- distillation -------------------------------------------------------------------------------


@pytest.mark.slow
def test_distill_trains_a_smaller_student_that_runs_and_learned(tmp_path: Path, tiny_keras_path: Path,
                                                                train_npz: Path) -> None:
    import keras

    said: list[str] = []
    built = _build(tmp_path, tiny_keras_path, train_npz,
                   ["fp32", {"recipe": "distill", "options": {"alpha": 0.5, "epochs": 3}}], said)
    reference, student = built["fp32"], built["distill-0.5x"]
    assert student.status == "built", student.error
    assert student.size_bytes < reference.size_bytes / 2
    teacher_parameters = keras.models.load_model(tiny_keras_path, compile=False).count_params()
    parameters = int(student.notes.split(" parameters")[0].removeprefix("student ").replace(",", ""))
    assert parameters < teacher_parameters / 2
    assert student.notes.startswith(f"student {parameters:,} parameters, teacher {teacher_parameters:,}; "
                                    "temperature 4; trained 3 epochs on 600 samples, final loss ")
    assert _accuracy(student.path) > 0.3  # ten classes: chance is 0.1
    assert [line.split(": ", 1)[1].split(" loss")[0] for line in said if "distill-0.5x tiny" in line] == \
        ["epoch 1/3", "epoch 2/3", "epoch 3/3"]


def test_distill_takes_a_width_or_a_student_file_not_both() -> None:
    recipe = RECIPES["distill"]
    assert recipe.variant_name(recipe.parse_options({})) == "distill-0.5x"
    assert recipe.variant_name(recipe.parse_options({"student": "models/small.keras"})) == "distill-small"
    with pytest.raises(ValueError, match="^student='s.keras': Value error, give alpha \\(the built-in student's "
                                         "width\\) or student \\(a .keras path\\), not both$"):
        recipe.parse_options({"alpha": 0.25, "student": "s.keras"})


def test_a_student_file_that_does_not_fit_the_teacher_is_a_failed_variant_saying_so(
        tmp_path: Path, tiny_keras_path: Path, train_npz: Path) -> None:
    import keras

    inputs = keras.Input((32, 32, 3))
    path = tmp_path / "wrong.keras"
    keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs))).save(path)
    built = _build(tmp_path, tiny_keras_path, train_npz,
                   [{"recipe": "distill", "options": {"student": str(path)}}])["distill-wrong"]
    assert built.status == "failed"
    assert built.error == (f"distill failed: ValueError: student {path} must take one input of shape (28, 28, 1) "
                           "and give one output of shape (10,), as the teacher does (it takes (32, 32, 3) and "
                           "gives (10,))")

    chained = _build(tmp_path, tiny_keras_path, train_npz,  # the failure is cached; the next step never runs
                     [{"recipe": "distill", "options": {"student": str(path)}, "then": "fp16"}])["distill-wrong+fp16"]
    assert (chained.status, chained.error) == ("failed", built.error)
    assert chained.notes.startswith("distill-wrong: failed build from the cache (")


# --- chains -------------------------------------------------------------------------------------

PRUNE_50 = {"recipe": "prune", "options": {"sparsity": 0.5, "epochs": 1}}


@pytest.mark.slow
def test_a_chain_quantizes_the_pruned_model_trained_once_and_keeps_its_zeros(
        tmp_path: Path, tiny_keras_path: Path, train_npz: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from benchlab.optimize.recipes.model_optimization import INTEGER_OPS

    # A sparsity no other test trains: whatever the order, its training is not in the module's cache yet.
    prune = {"recipe": "prune", "options": {"sparsity": 0.55, "epochs": 1}}
    variants = ["fp32", prune, {**prune, "then": "full-int8"}]
    monkeypatch.setenv("COLUMNS", "300")  # one variant per line
    assert main(["optimize", str(_suite(tmp_path, tiny_keras_path, train_npz, variants))]) == 0
    said = capsys.readouterr().err.splitlines()
    assert len([line for line in said if "prune-55 tiny: epoch" in line]) == 1  # one training for both variants
    assert re.search(r"✓ tiny/prune-55\+full-int8 \(tflite, [\d.]+ KB\) built in [\d.]+ s \(prune-55 from the cache\)"
                     r" · prune-55: trained 1 epochs", "\n".join(said))
    built = _build(tmp_path, tiny_keras_path, train_npz, variants)
    pruned, chained = built["prune-55"], built["prune-55+full-int8"]
    assert chained.status == "cached", chained.error
    assert chained.recipe == "prune+full-int8"
    assert chained.options["then"] == {"recipe": "full-int8", "options": {"calibration_samples": 200, "int8_io": True}}
    assert [step["step"] for step in chained.lineage] == ["prune-55", "full-int8"]
    assert chained.lineage[0]["sha256"] == pruned.lineage[0]["sha256"]  # the same trained .keras
    assert chained.lineage[0]["file"].endswith(".keras") and chained.lineage[-1]["sha256"] == chained.sha256

    kernels = read_kernels(Path(chained.path), INTEGER_OPS)
    assert {kernel.dtype for kernel in kernels.values()} == {np.dtype(np.int8)}
    zeros = zero_fraction(read_kernels(Path(chained.path)))
    assert zeros >= 0.55 - 0.01  # symmetric int8 weights: a pruned zero stays zero
    assert chained.size_bytes < 0.5 * pruned.size_bytes
    assert _accuracy(chained.path) >= _accuracy(pruned.path) - 0.05
    assert chained.notes == (f"prune-55: {pruned.lineage[0]['notes']}; full-int8: kept from prune-55: {zeros:.1%} "
                             "of Conv2D/Dense weights zero in the .tflite")

    assert [step["cached"] for step in chained.lineage] == [True, True]


@pytest.mark.slow
def test_longer_chains_keep_what_every_training_step_did(tmp_path: Path, tiny_keras_path: Path,
                                                         train_npz: Path) -> None:
    import keras

    from benchlab.optimize.recipes.model_optimization import INTEGER_OPS

    cluster_8 = {"recipe": "cluster", "options": {"clusters": 8, "epochs": 1}}
    built = _build(tmp_path, tiny_keras_path, train_npz, [
        {**PRUNE_50, "then": {**cluster_8, "then": {"recipe": "qat", "options": {"epochs": 1}}}},
        {**PRUNE_50, "then": "fp16"},
        {**cluster_8, "then": "fp16"},
        {**PRUNE_50, "then": "coreml-fp16"},
        "coreml-fp16",
        {"recipe": "distill", "options": {"epochs": 1}, "then": "dynamic-int8"},
    ])
    pcqat, student = built["prune-50+cluster-8+qat"], built["distill-0.5x+dynamic-int8"]
    assert pcqat.status == "built", pcqat.error
    # Pruned, then clustered keeping the zeros, then quantization-aware trained keeping both (tfmot's PCQAT).
    assert {k.dtype for k in read_kernels(Path(pcqat.path), INTEGER_OPS).values()} == {np.dtype(np.int8)}
    kernels = read_kernels(Path(pcqat.path))
    assert zero_fraction(kernels) >= 0.5 - 0.01
    assert max(len(np.unique(row)) for kernel in kernels.values() for row in kernel.reshape(len(kernel), -1)) <= 8
    assert [step["step"] for step in pcqat.lineage] == ["prune-50", "cluster-8", "qat"]
    assert "kept from prune-50: " in pcqat.notes and "kept from cluster-8: at most 8 distinct values" in pcqat.notes

    assert student.status == "built", student.error
    teacher_parameters = keras.models.load_model(tiny_keras_path, compile=False).count_params()
    assert student.notes.startswith("distill-0.5x: student ") and f"teacher {teacher_parameters:,}" in student.notes
    assert any(k.dtype == np.int8 for k in read_kernels(Path(student.path)).values())  # the student's weights, int8
    assert _accuracy(student.path) > 0.2  # one epoch of distillation already tells digits apart (chance: 0.1)

    # float16 kernels sit behind DEQUANTIZE ops: the zeros and clusters are read where they are stored.
    for name, claim in (("prune-50+fp16", "kept from prune-50: "), ("cluster-8+fp16", "kept from cluster-8: ")):
        variant = built[name]
        assert variant.status == "built", variant.error
        assert {k.dtype for k in read_kernels(Path(variant.path)).values()} == {np.dtype(np.float16)}
        assert claim in variant.notes
    assert zero_fraction(read_kernels(Path(built["prune-50+fp16"].path))) >= 0.5 - 0.01

    # Core ML after pruning: the zeros are stored sparse (constexpr_sparse_to_dense), as coreml-prune does.
    import coremltools as ct

    sparse, dense = built["prune-50+coreml-fp16"], built["coreml-fp16"]
    assert sparse.status == "built", sparse.error
    assert "constexpr_sparse_to_dense" in str(ct.utils.load_spec(sparse.path))
    assert "constexpr_sparse_to_dense" not in str(ct.utils.load_spec(dense.path))
    assert sparse.size_bytes < 0.8 * dense.size_bytes
    assert "coreml-fp16: zeros of weight tensors at least 30% zero stored sparse" in sparse.notes


@pytest.mark.slow
def test_a_trained_model_the_next_step_cannot_take_fails_that_variant_only(tmp_path: Path, tiny_keras_path: Path,
                                                                          train_npz: Path) -> None:
    import keras

    inputs = keras.Input((28, 28, 1), name="digits")  # a student with a layer tfmot's bridge does not carry
    x = keras.layers.LayerNormalization()(keras.layers.Flatten()(inputs))
    keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x)).save(tmp_path / "normed.keras")
    student = {"recipe": "distill", "options": {"student": str(tmp_path / "normed.keras"), "epochs": 1}}
    built = _build(tmp_path, tiny_keras_path, train_npz, ["fp32", {**student, "then": "prune"}, student])
    failed = built["distill-normed+prune-50"]
    assert failed.status == "failed"
    assert failed.error.startswith("prune cannot take the model distill-normed trained: ")
    assert "LayerNormalization" in failed.error and "\n" not in failed.error
    assert [step["step"] for step in failed.lineage] == ["distill-normed", "prune-50"]
    assert {built["fp32"].status, built["distill-normed"].status} <= {"built", "cached"}  # the rest is built


def test_a_chain_whose_last_step_lost_the_zeros_fails_saying_which_step_it_undid(
        tmp_path: Path, tiny_keras_path: Path, tiny_tflite_path: Path, train_npz: Path) -> None:
    from benchlab.formats import format_named
    from benchlab.optimize.build import _with_claims

    suite = load_suite(_suite(tmp_path, tiny_keras_path, train_npz, [{**PRUNE_50, "then": "fp16"}]), RECIPES)
    prune = suite.variants[0]
    written = tmp_path / "out.tflite"

    def dense_copy(out: Path) -> None:  # a last step that wrote the model with none of its weights zero
        out.write_bytes(tiny_tflite_path.read_bytes())

    with pytest.raises(ValueError, match=r"^the chain undid prune-50: the written Conv2D/Dense kernels are 0\.0% "
                                         r"zero, not the 50% asked"):
        _with_claims(dense_copy, [(RECIPES["prune"], prune)], format_named("tflite"))(written)
