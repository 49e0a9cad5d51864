"""Magnitude pruning with tensorflow-model-optimization, fine-tuned on the suite's training split.

The Keras 3 model is carried over to tf_keras (keras_bridge), its Conv2D and Dense layers wrapped by
tfmot's `prune_low_magnitude` and fine-tuned: the unstructured recipe raises sparsity from 0 to the
target over the first 70% of the steps (PolynomialDecay) and holds it; the 2:4 recipe zeroes 2 of
every 4 consecutive input-channel weights from the first step (ConstantSparsity with
`sparsity_m_by_n=(2, 4)`). Depthwise kernels are left dense: they hold few weights and most of a
mobile CNN's spatial information. After `strip_pruning` the weights go back into the Keras 3 model,
which is converted with the converter's sparsity optimisation, so pruned kernels are stored
compressed behind DENSIFY ops and XNNPACK's sparse kernels can use them. The zeros are then counted
in the written .tflite (kernels.read_kernels), and the variant's notes say what was measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator

from benchlab.errors import SuiteError
from benchlab.optimize.recipes.base import Options
from benchlab.optimize.recipes.keras_bridge import copy_weights_back, to_tf_keras, unsupported_layer
from benchlab.optimize.recipes.kernels import read_kernels, zero_fraction
from benchlab.optimize.recipes.training import (BATCH_SIZE, SEED, TrainingLog, TrainingRecipe, as_feed, convert,
                                                epoch_lines, load_fresh, outputs_probabilities, package_version, timed,
                                                training_arrays)

if TYPE_CHECKING:
    from benchlab.optimize.source import SourceModel

#: Fraction of the fine-tuning steps over which unstructured sparsity ramps up to the target.
RAMP = 0.7
#: Mask updates during the ramp (tfmot recomputes which weights are smallest at each).
RAMP_UPDATES = 10
#: Adam's learning rate for fine-tuning: a tenth of a from-scratch rate, to stay near the trained weights.
LEARNING_RATE = 3e-4


class PruneOptions(Options):
    """Target sparsity, fine-tuning epochs and whether to prune 2 of every 4 weights."""

    sparsity: float = Field(0.5, gt=0.0, lt=1.0, description="fraction of Conv2D/Dense weights set to zero")
    epochs: int = Field(2, ge=1, le=100, description="fine-tuning epochs over the training split")
    structured_2_4: bool = Field(False, strict=True,
                                 description="2:4 structured: 2 of every 4 consecutive input-channel weights zero")

    @field_validator("structured_2_4")
    @classmethod
    def _half_for_2_4(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("sparsity") != 0.5:
            raise ValueError("2:4 pruning zeroes exactly half the weights: leave sparsity at 0.5")
        return value


class Prune(TrainingRecipe):
    NAME = "prune"
    DESCRIPTION = "tfmot magnitude pruning of Conv2D/Dense weights, fine-tuned, stored sparse for XNNPACK"
    OPTIONS: ClassVar[type[Options]] = PruneOptions
    QUANTIZES_WEIGHTS = False  # float32 weights, many of them zero

    def variant_name(self, options: Options) -> str:
        assert isinstance(options, PruneOptions)
        return f"{self.NAME}-2of4" if options.structured_2_4 else f"{self.NAME}-{round(options.sparsity * 100)}"

    def key_extras(self, options: Options) -> dict[str, str]:
        """Return the versions of tfmot and tf_keras (TOOL is the converter's, tensorflow)."""
        return {package: package_version(package) for package in ("tensorflow-model-optimization", "tf-keras")}

    def check(self, source: SourceModel) -> None:
        """Raise SuiteError naming the layer the tf_keras bridge cannot carry, or for several outputs."""
        super().check(source)
        reason = unsupported_layer(source.keras_model)
        if reason is not None:
            raise SuiteError(f"{source.where}: recipe {self.NAME} cannot prune {source.name!r}: {reason}")

    def build(self, source: SourceModel, options: Options, out_path: Path) -> str:
        """Prune and fine-tune `source`, write the sparse .tflite; return the notes (measured sparsity, training).

        Raises ValueError when the written kernels are less sparse than asked (the recipe did not do
        what it claims), and what tfmot or the converter raise.
        """
        assert isinstance(options, PruneOptions)
        import tensorflow_model_optimization as tfmot
        import tf_keras

        model = load_fresh(source)
        inputs, labels = training_arrays(source)
        tf_keras.utils.set_random_seed(SEED)
        pruned = tf_keras.models.clone_model(to_tf_keras(model), clone_function=_wrapper(tfmot, tf_keras, options,
                                                                                        len(labels)))
        loss = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=not outputs_probabilities(model, inputs))
        pruned.compile(optimizer=tf_keras.optimizers.Adam(LEARNING_RATE), loss=loss)
        log = TrainingLog(samples=len(labels))
        with timed(log):
            pruned.fit(as_feed(inputs), labels, epochs=options.epochs, batch_size=BATCH_SIZE, verbose=0, shuffle=True,
                       callbacks=[tfmot.sparsity.keras.UpdatePruningStep(),
                                  epoch_lines(tf_keras.callbacks, log, source.progress,
                                              f"{self.variant_name(options)} {source.name}", options.epochs)])
        copy_weights_back(tfmot.sparsity.keras.strip_pruning(pruned), model)
        convert(model, out_path, ("EXPERIMENTAL_SPARSITY",))
        measured = zero_fraction(read_kernels(out_path))
        if measured < options.sparsity - 0.05:
            raise ValueError(f"the written Conv2D/Dense kernels are {measured:.1%} zero, not the "
                             f"{options.sparsity:.0%} asked (a layer tfmot could not prune?)")
        return f"{measured:.1%} of Conv2D/Dense weights zero in the .tflite; {log.notes()}"


def _wrapper(tfmot: Any, tf_keras: Any, options: PruneOptions, samples: int) -> Any:
    """Return the clone function that wraps Conv2D and Dense layers (not depthwise) for pruning."""
    steps = options.epochs * -(-samples // BATCH_SIZE)
    if options.structured_2_4:
        schedule = tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=0, frequency=1)
        extra = {"sparsity_m_by_n": (2, 4)}
    else:
        frequency = max(1, int(steps * RAMP) // RAMP_UPDATES)
        # The last mask update lands on end_step, so the target is reached, and held after it.
        end_step = max(frequency, frequency * (int(steps * RAMP) // frequency))
        schedule = tfmot.sparsity.keras.PolynomialDecay(0.0, options.sparsity, begin_step=0, end_step=end_step,
                                                        frequency=frequency)
        extra = {}

    def wrap(layer: Any) -> Any:
        # The layer itself, not a copy: clone_model would otherwise give it fresh weights.
        if not isinstance(layer, (tf_keras.layers.Conv2D, tf_keras.layers.Dense)):  # depthwise is not a Conv2D
            return layer
        return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule, **extra)

    return wrap
