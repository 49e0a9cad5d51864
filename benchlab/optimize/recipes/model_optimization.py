"""tensorflow-model-optimization (tfmot) recipes: pruning, weight clustering, quantization-aware training.

Each fine-tunes the model on the suite's training split with tfmot's wrappers in place, then writes
a .tflite whose claim is checked in the written file (kernels.read_kernels) and stated in the
variant's notes. tfmot 0.8 wraps tf_keras (Keras 2) layers only, so the Keras 3 model is carried
over to tf_keras first (keras_bridge).

- `prune`: Conv2D and Dense layers wrapped by `prune_low_magnitude`; the unstructured recipe raises
  sparsity from 0 to the target over the first 70% of the steps (PolynomialDecay) and holds it; the
  2:4 recipe zeroes 2 of every 4 consecutive input-channel weights from the first step
  (ConstantSparsity with `sparsity_m_by_n=(2, 4)`). After `strip_pruning` the weights go back into
  the Keras 3 model, converted with the converter's sparsity optimisation: pruned kernels are stored
  compressed behind DENSIFY ops, which XNNPACK's sparse kernels can use.
- `cluster`: Conv2D and Dense kernels wrapped by `cluster_weights` (k-means++ centroids); each kernel
  then holds at most `clusters` distinct values (a float32 file that compresses well). Where a batch
  norm follows, the converter folds it into the kernel, scaling each output channel apart: the
  written kernel then holds at most `clusters` distinct values per output channel.
- `qat`: the whole model wrapped by `quantize_model` (fake-quantized weights and activations, ranges
  learned while training), converted to full int8 from the trained tf_keras model: the ranges come
  from training, not from calibration.

Pruning and clustering write their fine-tuned Keras model first (KerasTrainingRecipe), so a chain can
build another recipe from it. Later tfmot steps keep what earlier ones did: clustering a pruned model
keeps zero as a value of its own (`preserve_sparsity`), and QAT after either uses tfmot's
collaborative schemes (prune-preserving, cluster-preserving, both: PQAT, CQAT, PCQAT).

Depthwise kernels are left unpruned and unclustered: they hold few weights and most of a mobile
CNN's spatial information. tfmot, tf_keras and TensorFlow are imported inside the methods only.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from benchlab.errors import SuiteError
from benchlab.optimize.recipes.base import Options
from benchlab.optimize.recipes.keras_bridge import copy_weights_back, to_tf_keras, unsupported_layer
from benchlab.optimize.recipes.kernels import PRUNED_OPS, distinct_values, read_kernels, zero_fraction
from benchlab.optimize.recipes.training import (BATCH_SIZE, PRUNED_BY, SEED, KerasTrainingRecipe,
                                                TrainingLog, TrainingRecipe, as_feed,
                                                epoch_lines, import_tfmot, load_fresh, outputs_probabilities,
                                                package_version, timed, training_arrays)

if TYPE_CHECKING:
    from benchlab.optimize.source import SourceModel

#: Fraction of the fine-tuning steps over which unstructured sparsity ramps up to the target.
RAMP = 0.7
#: Mask updates during the ramp (tfmot recomputes which weights are smallest at each).
RAMP_UPDATES = 10
#: Adam's learning rate for fine-tuning: a tenth of a from-scratch rate, to stay near the trained weights.
LEARNING_RATE = 3e-4
#: Ops whose kernels QAT must leave int8.
INTEGER_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


class EpochsOptions(Options):
    """How long to fine-tune."""

    epochs: int = Field(2, ge=1, le=100, description="fine-tuning epochs over the training split")


class PruneOptions(EpochsOptions):
    """Target sparsity, fine-tuning epochs and whether to prune 2 of every 4 weights."""

    sparsity: float = Field(0.5, gt=0.0, lt=1.0, description="fraction of Conv2D/Dense weights set to zero")
    structured_2_4: bool = Field(False, strict=True,
                                 description="2:4 structured: 2 of every 4 consecutive input-channel weights zero")

    @field_validator("structured_2_4")
    @classmethod
    def _half_for_2_4(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("sparsity") != 0.5:
            raise ValueError("2:4 pruning zeroes exactly half the weights: leave sparsity at 0.5")
        return value


class ClusterOptions(EpochsOptions):
    """Distinct values per kernel and fine-tuning epochs."""

    clusters: int = Field(16, ge=2, le=256, description="distinct weight values per Conv2D/Dense kernel")


class QatOptions(EpochsOptions):
    """Fine-tuning epochs and whether inputs and outputs are int8 too."""

    int8_io: bool = Field(True, strict=True, description="int8 input and output tensors (else float32 at the edges)")


class TfmotRecipe(TrainingRecipe):
    """Fine-tune the model with tfmot's wrappers on the training split."""

    def key_extras(self, options: Options) -> dict[str, str]:
        """Return the versions of tfmot and tf_keras (TOOL is the converter's, tensorflow)."""
        return {package: package_version(package) for package in ("tensorflow-model-optimization", "tf-keras")}

    def check(self, source: SourceModel) -> None:
        """Raise SuiteError naming the layer the tf_keras bridge cannot carry, or for several outputs."""
        super().check(source)
        reason = unsupported_layer(source.keras_model)
        if reason is not None:
            raise SuiteError(f"{source.where}: recipe {self.NAME} cannot train {source.name!r}: {reason}")

    def fine_tune(self, source: SourceModel, options: Options) -> tuple[Any, Any, Any, TrainingLog]:
        """Fine-tune a fresh copy of `source` with tfmot's wrappers; return tfmot, the trained wrapped
        tf_keras model, the Keras 3 model it was carried over from (weights untouched) and the log."""
        assert isinstance(options, EpochsOptions)
        import tf_keras

        tfmot = import_tfmot()

        model = load_fresh(source)
        inputs, labels = training_arrays(source)
        tf_keras.utils.set_random_seed(SEED)
        wrapped = self.wrap(tfmot, tf_keras, to_tf_keras(model), options, len(labels), source)
        loss = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=not outputs_probabilities(model, inputs))
        wrapped.compile(optimizer=tf_keras.optimizers.Adam(LEARNING_RATE), loss=loss)
        log = TrainingLog(samples=len(labels))
        label = f"{self.variant_name(options)} {source.name}"
        with timed(log):
            wrapped.fit(as_feed(inputs), labels, epochs=options.epochs, batch_size=BATCH_SIZE, verbose=0, shuffle=True,
                        callbacks=[*self.callbacks(tfmot),
                                   epoch_lines(tf_keras.callbacks, log, source.progress, label, options.epochs)])
        return tfmot, wrapped, model, log

    def wrap(self, tfmot: Any, tf_keras: Any, model: Any, options: Options, samples: int, source: SourceModel) -> Any:
        """Return the tf_keras `model` with tfmot's wrappers in place, ready to compile; `source` says
        what earlier steps of a chain did (SourceModel.made_by), which the wrappers must keep."""
        raise NotImplementedError

    def callbacks(self, tfmot: Any) -> list[Any]:
        """Return the callbacks tfmot's wrappers need during training (none by default)."""
        return []


class KerasTfmotRecipe(TfmotRecipe, KerasTrainingRecipe):
    """A tfmot recipe whose fine-tuned weights go back into the Keras 3 model (pruning, clustering)."""

    def train(self, source: SourceModel, options: Options) -> tuple[Any, str]:
        """Fine-tune, strip tfmot's wrappers, copy the weights back; return the Keras 3 model and the notes."""
        tfmot, wrapped, model, log = self.fine_tune(source, options)
        copy_weights_back(self.strip(tfmot, wrapped), model)
        return model, log.notes()

    def strip(self, tfmot: Any, trained: Any) -> Any:
        """Return the trained tf_keras model without tfmot's wrappers."""
        raise NotImplementedError


class Prune(KerasTfmotRecipe):
    NAME = PRUNED_BY
    DESCRIPTION = "tfmot magnitude pruning of Conv2D/Dense weights, fine-tuned, stored sparse for XNNPACK"
    OPTIONS: ClassVar[type[Options]] = PruneOptions
    QUANTIZES_WEIGHTS = False  # float32 weights, many of them zero
    CLAIM = "zeros"

    def variant_name(self, options: Options) -> str:
        assert isinstance(options, PruneOptions)
        return f"{self.NAME}-2of4" if options.structured_2_4 else f"{self.NAME}-{round(options.sparsity * 100)}"

    def refuses_after(self, earlier: str) -> str | None:
        if earlier == Cluster.NAME:
            return ("prune cannot follow cluster: fine-tuning the zeros in would undo the clusters (clustering "
                    "keeps zeros, pruning does not keep clusters): chain prune, then cluster")
        return super().refuses_after(earlier)

    def wrap(self, tfmot: Any, tf_keras: Any, model: Any, options: Options, samples: int, source: SourceModel) -> Any:
        assert isinstance(options, PruneOptions)
        steps = options.epochs * -(-samples // BATCH_SIZE)
        if options.structured_2_4:
            schedule = tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=0, frequency=1)
            extra: dict[str, Any] = {"sparsity_m_by_n": (2, 4)}
        else:
            frequency = max(1, int(steps * RAMP) // RAMP_UPDATES)
            # The last mask update lands on end_step, so the target is reached, and held after it.
            end_step = max(frequency, frequency * (int(steps * RAMP) // frequency))
            schedule = tfmot.sparsity.keras.PolynomialDecay(0.0, options.sparsity, begin_step=0, end_step=end_step,
                                                            frequency=frequency)
            extra = {}
        return _wrap_kernels(tf_keras, model, lambda layer: tfmot.sparsity.keras.prune_low_magnitude(
            layer, pruning_schedule=schedule, **extra))

    def callbacks(self, tfmot: Any) -> list[Any]:
        return [tfmot.sparsity.keras.UpdatePruningStep()]

    def strip(self, tfmot: Any, trained: Any) -> Any:
        return tfmot.sparsity.keras.strip_pruning(trained)

    def claim(self, tflite_path: Path, options: Options) -> str:
        assert isinstance(options, PruneOptions)
        measured = zero_fraction(_pruned_kernels(tflite_path))
        if measured < options.sparsity - 0.05:
            raise ValueError(f"the written Conv2D/Dense kernels are {measured:.1%} zero, not the "
                             f"{options.sparsity:.0%} asked (a layer tfmot could not prune?)")
        return f"{measured:.1%} of Conv2D/Dense weights zero in the .tflite"


class Cluster(KerasTfmotRecipe):
    NAME = "cluster"
    DESCRIPTION = "tfmot weight clustering: at most N distinct values per Conv2D/Dense kernel, fine-tuned"
    OPTIONS: ClassVar[type[Options]] = ClusterOptions
    QUANTIZES_WEIGHTS = False  # float32 weights, few distinct ones: the file compresses, its bytes stay
    CLAIM = "distinct values per channel"

    def variant_name(self, options: Options) -> str:
        assert isinstance(options, ClusterOptions)
        return f"{self.NAME}-{options.clusters}"

    def wrap(self, tfmot: Any, tf_keras: Any, model: Any, options: Options, samples: int, source: SourceModel) -> Any:
        assert isinstance(options, ClusterOptions)
        clustering = tfmot.clustering.keras
        # After pruning, zero is kept as a value of its own, so the pruned weights stay zero.
        return _wrap_kernels(tf_keras, model, lambda layer: clustering.cluster_weights(
            layer, number_of_clusters=options.clusters, preserve_sparsity=Prune.NAME in source.made_by,
            cluster_centroids_init=clustering.CentroidInitialization.KMEANS_PLUS_PLUS))

    def strip(self, tfmot: Any, trained: Any) -> Any:
        return tfmot.clustering.keras.strip_clustering(trained)

    def claim(self, tflite_path: Path, options: Options) -> str:
        """Count distinct values per output channel: the converter folds a following batch norm into the
        kernel, scaling each output channel apart, so a whole kernel may hold up to clusters x channels."""
        assert isinstance(options, ClusterOptions)
        kernels = _pruned_kernels(tflite_path).values()
        per_channel = max(distinct_values(row) for kernel in kernels for row in kernel.reshape(len(kernel), -1))
        per_kernel = max(distinct_values(kernel) for kernel in kernels)
        if per_channel > options.clusters:
            raise ValueError(f"an output channel of a written Conv2D/Dense kernel holds {per_channel} distinct "
                             f"values, more than the {options.clusters} clusters asked")
        return (f"at most {per_channel} distinct values per output channel of a Conv2D/Dense kernel in the .tflite "
                f"({per_kernel} per kernel)")


class Qat(TfmotRecipe):
    NAME = "qat"
    DESCRIPTION = "tfmot quantization-aware training, then LiteRT full integer (ranges learned, not calibrated)"
    OPTIONS: ClassVar[type[Options]] = QatOptions
    QUANTIZES_WEIGHTS = True

    def wrap(self, tfmot: Any, tf_keras: Any, model: Any, options: Options, samples: int, source: SourceModel) -> Any:
        # After pruning or clustering in a chain, tfmot's collaborative schemes keep the zeros and the
        # clusters through quantization-aware training (PQAT, CQAT, both: PCQAT); plain QAT would not.
        quantization, combine = tfmot.quantization.keras, tfmot.experimental.combine
        pruned, clustered = Prune.NAME in source.made_by, Cluster.NAME in source.made_by
        if not (pruned or clustered):
            return quantization.quantize_model(model)
        scheme = (combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=pruned) if clustered
                  else combine.Default8BitPrunePreserveQuantizeScheme())
        return quantization.quantize_apply(quantization.quantize_annotate_model(model), scheme)

    def build(self, source: SourceModel, options: Options, out_path: Path) -> str:
        """Fine-tune with fake quantization, convert the trained tf_keras model to full int8 at
        `out_path`; return the notes (int8 kernels counted in the file, the training).

        Raises ValueError when a kernel stays float, and what tfmot or the converter raise.
        """
        assert isinstance(options, QatOptions)
        import tensorflow as tf

        _, trained, _, log = self.fine_tune(source, options)
        # From the tf_keras model itself: its fake-quant ranges are what training learned, and the
        # converter only takes them (instead of asking for calibration data) on this path.
        converter = tf.lite.TFLiteConverter.from_keras_model(trained)
        # Without the sparsity optimisation even after pruning: int8 kernels stored compressed (CSR) take
        # more bytes than dense ones at 50% zeros (54.6 KB against 37.5 KB on the tests' tiny model).
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if options.int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        with warnings.catch_warnings():
            # It warns that int8 inputs have no given range: the first fake-quant op's learned one is used.
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
            out_path.write_bytes(converter.convert())
        return f"{self.claim(out_path)}; {log.notes()}"

    def claim(self, tflite_path: Path) -> str:
        """Return how many kernels the file holds, all int8; raise ValueError when one is float."""
        kernels = read_kernels(tflite_path, INTEGER_OPS)
        floating = sorted(name for name, kernel in kernels.items() if kernel.dtype != np.int8)
        if not kernels or floating:
            raise ValueError(f"the written model keeps float kernels ({', '.join(floating) or 'no kernels at all'})")
        return f"{len(kernels)} of {len(kernels)} Conv2D/DepthwiseConv2D/Dense kernels int8 in the .tflite"


def _pruned_kernels(tflite_path: Path) -> dict[str, np.ndarray]:
    """Return the file's Conv2D and Dense kernels; raise ValueError when it holds none (nothing to measure)."""
    kernels = read_kernels(tflite_path, PRUNED_OPS)
    if not kernels:
        raise ValueError(f"no Conv2D/Dense weight kernel found in {tflite_path.name}")
    return kernels


def _wrap_kernels(tf_keras: Any, model: Any, wrap: Any) -> Any:
    """Return a clone of `model` whose Conv2D and Dense layers (not depthwise) are wrapped by `wrap`."""

    def clone(layer: Any) -> Any:
        # The layer itself, not a copy: clone_model would otherwise give it fresh weights.
        if not isinstance(layer, (tf_keras.layers.Conv2D, tf_keras.layers.Dense)):  # depthwise is not a Conv2D
            return layer
        return wrap(layer)

    return tf_keras.models.clone_model(model, clone_function=clone)
