"""Knowledge distillation: a smaller student trained on the source model's soft labels.

The source model is the teacher. Its outputs on the training split, softened at a temperature T,
are the soft labels; the student learns from them and from the true labels at once (Hinton et al.
2015, "Distilling the Knowledge in a Neural Network"): loss = (1 - HARD_WEIGHT) * T² * KL(teacher_T
‖ student_T) + HARD_WEIGHT * cross-entropy(label, student). The T² keeps the soft term's gradients
the size of the hard one's as T changes. The student is either the built-in mobile-first CNN (a
MobileNet-style stack, channels scaled by a width multiplier `alpha`) or a `.keras` file the suite
names; either way its output means what the teacher's does (probabilities or logits), and it is
converted to a float32 .tflite as the `fp32` recipe converts a model, or handed to the next step of a
chain (`then: full-int8`). Keras 3 throughout (no tfmot).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from benchlab.errors import SuiteError, first_line
from benchlab.optimize.recipes.base import Options
from benchlab.optimize.recipes.training import (BATCH_SIZE, SEED, KerasTrainingRecipe, TrainingLog, as_feed,
                                                epoch_lines, outputs_probabilities, timed, training_arrays)

if TYPE_CHECKING:
    from benchlab.optimize.source import SourceModel

#: The built-in student at alpha 1: a stem convolution's channels, then (channels, stride) of each
#: depthwise-separable block; global pooling and one Dense layer follow.
STUDENT = {"stem": 32, "blocks": ((64, 2), (128, 2), (128, 1))}
#: Fewest channels a scaled layer keeps.
MIN_CHANNELS = 8
#: Weight of the true labels' cross-entropy in the loss; the soft labels take the rest.
HARD_WEIGHT = 0.5
#: Adam's learning rate: the student starts from scratch (a built-in one) or from its own training.
LEARNING_RATE = 2e-3
#: Training samples the batch normalization statistics are re-estimated on after training.
CALIBRATION_SAMPLES = 1024
#: Keeps log() finite on a probability of exactly 0.
EPSILON = 1e-7


class DistillOptions(Options):
    """Which student, the softening temperature and the training epochs."""

    alpha: float | None = Field(None, gt=0.0, le=1.0,
                                description="width multiplier of the built-in student (0.5 when no student is given)")
    student: str | None = Field(None, description="path to a student .keras instead of the built-in one")
    temperature: float = Field(4.0, gt=0.0, le=100.0, description="softening temperature of the soft labels")
    epochs: int = Field(3, ge=1, le=100, description="training epochs over the training split")

    @field_validator("student")
    @classmethod
    def _one_student(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("alpha") is not None:
            raise ValueError("give alpha (the built-in student's width) or student (a .keras path), not both")
        return value

    @property
    def width(self) -> float:
        """The built-in student's width multiplier."""
        return 0.5 if self.alpha is None else self.alpha


class Distill(KerasTrainingRecipe):
    NAME = "distill"
    DESCRIPTION = "a smaller student trained on the model's soft labels (knowledge distillation), LiteRT float32"
    OPTIONS: ClassVar[type[Options]] = DistillOptions
    QUANTIZES_WEIGHTS = False  # a float32 model, but another, smaller one
    PATH_OPTIONS = ("student",)

    def variant_name(self, options: Options) -> str:
        assert isinstance(options, DistillOptions)
        return f"{self.NAME}-{Path(options.student).stem}" if options.student else f"{self.NAME}-{options.width:g}x"

    def key_extras(self, options: Options) -> dict[str, str]:
        """Return the student file's hash: an edited student trains a new variant under the same options."""
        assert isinstance(options, DistillOptions)
        if options.student is None or not Path(options.student).is_file():
            return {}
        return {"student": hashlib.sha256(Path(options.student).read_bytes()).hexdigest()}

    def check(self, source: SourceModel) -> None:
        """Raise SuiteError when the teacher has several outputs, or other than one image input."""
        super().check(source)
        teacher = source.keras_model
        if len(teacher.inputs) != 1 or len(teacher.inputs[0].shape) != 4:
            raise SuiteError(f"{source.where}: recipe {self.NAME} distills a model with one image input "
                             f"(batch, height, width, channels); {source.name!r} has {len(teacher.inputs)} input(s) "
                             f"of shape {tuple(teacher.inputs[0].shape)}")

    def refuses_after(self, earlier: str) -> str | None:
        return (f"distill trains a new model on the source's soft labels, so it starts a chain (distill, then "
                f"{earlier}), it does not follow {earlier}")

    def train(self, source: SourceModel, options: Options) -> tuple[Any, str]:
        """Train the student on `source`'s soft labels; return it and the notes (parameters of student and
        teacher, training). Raises ValueError for a student file that will not load or does not fit the
        teacher (a failed variant saying so), and what Keras raises."""
        assert isinstance(options, DistillOptions)
        import keras

        keras.utils.set_random_seed(SEED)
        teacher = source.keras_model
        inputs, labels = training_arrays(source)
        teacher_probabilities = outputs_probabilities(teacher, inputs)
        student = (_student_file(keras, options.student, teacher) if options.student
                   else _builtin_student(keras, teacher, options.width, teacher_probabilities))
        soft = _soft_labels(np.asarray(teacher.predict(as_feed(inputs), verbose=0)), teacher_probabilities,
                            options.temperature)
        targets = np.concatenate([soft, labels[:, np.newaxis].astype(np.float32)], axis=1)
        student.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                        loss=_distillation_loss(keras, options.temperature, outputs_probabilities(student, inputs)))
        log = TrainingLog(samples=len(labels))
        with timed(log):
            student.fit(as_feed(inputs), targets, epochs=options.epochs, batch_size=BATCH_SIZE, verbose=0,
                        shuffle=True, callbacks=[epoch_lines(keras.callbacks, log, source.progress,
                                                             f"{self.variant_name(options)} {source.name}",
                                                             options.epochs)])
        _recalibrate_batch_norm(student, inputs)
        return student, (f"student {student.count_params():,} parameters, teacher {teacher.count_params():,}; "
                f"temperature {options.temperature:g}; {log.notes()}")


def _student_file(keras: Any, path: str, teacher: Any) -> Any:
    """Return the student .keras at `path`, loaded; raise ValueError when it will not load or does not
    take the teacher's input shape and give its output shape."""
    try:
        student = keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many kinds on a missing or foreign file
        raise ValueError(f"student {path}: cannot load it as a Keras model ({first_line(exc)})") from None
    wanted = (tuple(teacher.inputs[0].shape[1:]), tuple(teacher.outputs[0].shape[1:]))
    got = (tuple(student.inputs[0].shape[1:]), tuple(student.outputs[0].shape[1:]))
    if len(student.inputs) != 1 or len(student.outputs) != 1 or got != wanted:
        raise ValueError(f"student {path} must take one input of shape {wanted[0]} and give one output of shape "
                         f"{wanted[1]}, as the teacher does (it takes {got[0]} and gives {got[1]})")
    return student


def _recalibrate_batch_norm(model: Any, inputs: list[np.ndarray]) -> None:
    """Set every BatchNormalization layer's moving statistics to the average of its batch statistics
    over up to CALIBRATION_SAMPLES training samples, with the trained weights.

    Why: in a few hundred steps the moving averages trail weights that still change fast, and the
    student evaluated with them is far worse than the one trained (on 600 digits: chance, against
    half right). A momentum of k/(k+1) on the k-th batch (from 0) makes the moving value the running
    mean of the batches seen.
    """
    import keras

    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms:
        return
    kept = [layer.momentum for layer in norms]
    count = min(CALIBRATION_SAMPLES, len(inputs[0]))
    try:
        for k, start in enumerate(range(0, count, BATCH_SIZE)):
            for layer in norms:
                layer.momentum = k / (k + 1)
            model(as_feed([x[start:start + BATCH_SIZE] for x in inputs]), training=True)
    finally:
        for layer, momentum in zip(norms, kept):
            layer.momentum = momentum


def _soft_labels(teacher_outputs: np.ndarray, probabilities: bool, temperature: float) -> np.ndarray:
    """Return the teacher's outputs as a distribution softened at `temperature` (softmax of logits / T)."""
    logits = np.log(np.clip(teacher_outputs, EPSILON, 1.0)) if probabilities else teacher_outputs
    scaled = logits / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)


def _distillation_loss(keras: Any, temperature: float, probabilities: bool) -> Any:
    """Return the loss of a student whose targets are the soft labels with the true label appended."""
    ops = keras.ops

    def loss(targets: Any, outputs: Any) -> Any:
        soft, hard = targets[:, :-1], ops.cast(targets[:, -1], "int32")
        logits = ops.log(ops.clip(outputs, EPSILON, 1.0)) if probabilities else outputs
        student_soft = ops.log_softmax(logits / temperature, axis=-1)
        kl = ops.sum(soft * (ops.log(ops.clip(soft, EPSILON, 1.0)) - student_soft), axis=-1)
        hard_loss = keras.losses.sparse_categorical_crossentropy(hard, logits, from_logits=True)
        return (1.0 - HARD_WEIGHT) * temperature**2 * kl + HARD_WEIGHT * hard_loss

    return loss


def _builtin_student(keras: Any, teacher: Any, alpha: float, probabilities: bool) -> Any:
    """Return the built-in mobile-first CNN at width `alpha`, taking the teacher's input and giving an
    output of the teacher's size, probabilities or logits as the teacher's are."""
    layers = keras.layers

    def width(channels: int) -> int:
        return max(MIN_CHANNELS, int(round(channels * alpha)))

    classes = int(np.prod(teacher.outputs[0].shape[1:]))
    inputs = keras.Input(teacher.inputs[0].shape[1:], name=teacher.inputs[0].name)
    x = layers.Conv2D(width(STUDENT["stem"]), 3, strides=2, padding="same", use_bias=False)(inputs)
    x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
    for channels, stride in STUDENT["blocks"]:
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
        x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
        x = layers.Conv2D(width(channels), 1, use_bias=False)(x)
        x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(classes, activation="softmax" if probabilities else None)(x)
    return keras.Model(inputs, outputs, name=f"student_{alpha:g}x")
