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

Depthwise kernels are left unpruned and unclustered: they hold few weights and most of a mobile
CNN's spatial information. tfmot, tf_keras and TensorFlow are imported inside build() only.
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
from benchlab.optimize.recipes.kernels import read_kernels, zero_fraction
from benchlab.optimize.recipes.training import (BATCH_SIZE, SEED, TrainingLog, TrainingRecipe, as_feed, convert,
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
    """Fine-tune the model with tfmot's wrappers on the training split, write it, check what it claims."""

    def key_extras(self, options: Options) -> dict[str, str]:
        """Return the versions of tfmot and tf_keras (TOOL is the converter's, tensorflow)."""
        return {package: package_version(package) for package in ("tensorflow-model-optimization", "tf-keras")}

    def check(self, source: SourceModel) -> None:
        """Raise SuiteError naming the layer the tf_keras bridge cannot carry, or for several outputs."""
        super().check(source)
        reason = unsupported_layer(source.keras_model)
        if reason is not None:
            raise SuiteError(f"{source.where}: recipe {self.NAME} cannot train {source.name!r}: {reason}")

    def build(self, source: SourceModel, options: Options, out_path: Path) -> str:
        """Fine-tune `source` with tfmot's wrappers, write the .tflite; return the notes (what was
        measured in the file, and the training).

        Raises ValueError when the written file does not hold what the recipe claims, and what tfmot
        or the converter raise.
        """
        assert isinstance(options, EpochsOptions)
        import tf_keras

        tfmot = import_tfmot()

        model = load_fresh(source)
        inputs, labels = training_arrays(source)
        tf_keras.utils.set_random_seed(SEED)
        wrapped = self.wrap(tfmot, tf_keras, to_tf_keras(model), options, len(labels))
        loss = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=not outputs_probabilities(model, inputs))
        wrapped.compile(optimizer=tf_keras.optimizers.Adam(LEARNING_RATE), loss=loss)
        log = TrainingLog(samples=len(labels))
        label = f"{self.variant_name(options)} {source.name}"
        with timed(log):
            wrapped.fit(as_feed(inputs), labels, epochs=options.epochs, batch_size=BATCH_SIZE, verbose=0, shuffle=True,
                        callbacks=[*self.callbacks(tfmot),
                                   epoch_lines(tf_keras.callbacks, log, source.progress, label, options.epochs)])
        self.write(tfmot, wrapped, model, options, out_path)
        return f"{self.measure(out_path, options)}; {log.notes()}"

    def wrap(self, tfmot: Any, tf_keras: Any, model: Any, options: Options, samples: int) -> Any:
        """Return the tf_keras `model` with tfmot's wrappers in place, ready to compile."""
        raise NotImplementedError

    def callbacks(self, tfmot: Any) -> list[Any]:
        """Return the callbacks tfmot's wrappers need during training (none by default)."""
        return []

    def write(self, tfmot: Any, trained: Any, model: Any, options: Options, out_path: Path) -> None:
        """Write the .tflite of the trained wrapped model; `model` is the Keras 3 original to copy weights into."""
        raise NotImplementedError

    def measure(self, out_path: Path, options: Options) -> str:
        """Return what the written file holds that the recipe claims; raise ValueError when it does not."""
        raise NotImplementedError


class Prune(TfmotRecipe):
    NAME = "prune"
    DESCRIPTION = "tfmot magnitude pruning of Conv2D/Dense weights, fine-tuned, stored sparse for XNNPACK"
    OPTIONS: ClassVar[type[Options]] = PruneOptions
    QUANTIZES_WEIGHTS = False  # float32 weights, many of them zero

    def variant_name(self, options: Options) -> str:
        assert isinstance(options, PruneOptions)
        return f"{self.NAME}-2of4" if options.structured_2_4 else f"{self.NAME}-{round(options.sparsity * 100)}"

    def wrap(self, tfmot: Any, tf_keras: Any, model: Any, options: Options, samples: int) -> Any:
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

    def write(self, tfmot: Any, trained: Any, model: Any, options: Options, out_path: Path) -> None:
        copy_weights_back(tfmot.sparsity.keras.strip_pruning(trained), model)
        convert(model, out_path, ("EXPERIMENTAL_SPARSITY",))

    def measure(self, out_path: Path, options: Options) -> str:
        assert isinstance(options, PruneOptions)
        measured = zero_fraction(read_kernels(out_path))
        if measured < options.sparsity - 0.05:
            raise ValueError(f"the written Conv2D/Dense kernels are {measured:.1%} zero, not the "
                             f"{options.sparsity:.0%} asked (a layer tfmot could not prune?)")
        return f"{measured:.1%} of Conv2D/Dense weights zero in the .tflite"


class Cluster(TfmotRecipe):
    NAME = "cluster"
    DESCRIPTION = "tfmot weight clustering: at most N distinct values per Conv2D/Dense kernel, fine-tuned"
    OPTIONS: ClassVar[type[Options]] = ClusterOptions
    QUANTIZES_WEIGHTS = False  # float32 weights, few distinct ones: the file compresses, its bytes stay

    def variant_name(self, options: Options) -> str:
        assert isinstance(options, ClusterOptions)
        return f"{self.NAME}-{options.clusters}"

    def wrap(self, tfmot: Any, tf_keras: Any, model: Any, options: Options, samples: int) -> Any:
        assert isinstance(options, ClusterOptions)
        clustering = tfmot.clustering.keras
        return _wrap_kernels(tf_keras, model, lambda layer: clustering.cluster_weights(
            layer, number_of_clusters=options.clusters,
            cluster_centroids_init=clustering.CentroidInitialization.KMEANS_PLUS_PLUS))

    def write(self, tfmot: Any, trained: Any, model: Any, options: Options, out_path: Path) -> None:
        copy_weights_back(tfmot.clustering.keras.strip_clustering(trained), model)
        convert(model, out_path)

    def measure(self, out_path: Path, options: Options) -> str:
        """Count distinct values per output channel: the converter folds a following batch norm into the
        kernel, scaling each output channel apart, so a whole kernel may hold up to clusters x channels."""
        assert isinstance(options, ClusterOptions)
        kernels = read_kernels(out_path).values()
        per_channel = max(len(np.unique(row)) for kernel in kernels for row in kernel.reshape(len(kernel), -1))
        per_kernel = max(len(np.unique(kernel)) for kernel in kernels)
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

    def wrap(self, tfmot: Any, tf_keras: Any, model: Any, options: Options, samples: int) -> Any:
        return tfmot.quantization.keras.quantize_model(model)

    def write(self, tfmot: Any, trained: Any, model: Any, options: Options, out_path: Path) -> None:
        assert isinstance(options, QatOptions)
        import tensorflow as tf

        # From the tf_keras model itself: its fake-quant ranges are what training learned, and the
        # converter only takes them (instead of asking for calibration data) on this path.
        converter = tf.lite.TFLiteConverter.from_keras_model(trained)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if options.int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        with warnings.catch_warnings():
            # It warns that int8 inputs have no given range: the first fake-quant op's learned one is used.
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
            out_path.write_bytes(converter.convert())

    def measure(self, out_path: Path, options: Options) -> str:
        kernels = read_kernels(out_path, INTEGER_OPS)
        floating = sorted(name for name, kernel in kernels.items() if kernel.dtype != np.int8)
        if not kernels or floating:
            raise ValueError(f"the written model keeps float kernels ({', '.join(floating) or 'no kernels at all'})")
        return f"{len(kernels)} of {len(kernels)} Conv2D/DepthwiseConv2D/Dense kernels int8 in the .tflite"


def _wrap_kernels(tf_keras: Any, model: Any, wrap: Any) -> Any:
    """Return a clone of `model` whose Conv2D and Dense layers (not depthwise) are wrapped by `wrap`."""

    def clone(layer: Any) -> Any:
        # The layer itself, not a copy: clone_model would otherwise give it fresh weights.
        if not isinstance(layer, (tf_keras.layers.Conv2D, tf_keras.layers.Dense)):  # depthwise is not a Conv2D
            return layer
        return wrap(layer)

    return tf_keras.models.clone_model(model, clone_function=clone)
