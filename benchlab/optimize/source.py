"""A suite's model resolved to a file on disk, checked against the data, loaded at most once."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from benchlab.plan.datasets import Dataset
from benchlab.errors import SuiteError, first_line
from benchlab.optimize.cache import path_sha256
from benchlab.plan.suite import ModelSpec
from benchlab.tensors import Feeds, describe_tflite


class SourceModel:
    """The parent of every variant of one model: its path, kind, hash and (lazily) loaded forms."""

    def __init__(self, spec: ModelSpec, dataset: Dataset, progress: Callable[[str], None],
                 where: str = "model") -> None:
        """`where` names the model in errors, e.g. "suite.yaml: models[0]"."""
        self.name = spec.name
        self.kind = spec.kind
        self.where = where
        if spec.builtin is not None:
            from benchlab.plan.builtin_models import quickstart_model_path

            self.path = quickstart_model_path(progress)
        else:
            assert spec.path is not None
            self.path = spec.path
        self.sha256 = path_sha256(self.path)
        self._dataset = dataset
        self._workdir = tempfile.TemporaryDirectory(prefix="benchlab-src-")

    def close(self) -> None:
        """Remove the temporary SavedModel export, if one was made."""
        self._workdir.cleanup()

    def check(self) -> None:
        """Load the model once and check the dataset against it, before anything is built.

        Raises SuiteError naming the file and field when the model cannot be loaded, when the
        samples do not fit its input, or when a label is not one of its outputs.
        """
        shape = self.input_shape
        try:
            fitted = self._dataset.fitted_to(shape)
        except SuiteError as exc:
            raise SuiteError(f"{exc} (model {self.name!r}, {self.where}.path)") from None
        outputs = self.output_size
        if fitted.labels is not None and outputs is not None and int(fitted.labels.max()) >= outputs:
            raise SuiteError(
                f"{fitted.origin}: labels: label {int(fitted.labels.max())} is out of range for model "
                f"{self.name!r}, which has {outputs} outputs (allowed: 0..{outputs - 1})"
            )

    def _unusable(self, what: str, exc: BaseException) -> SuiteError:
        return SuiteError(f"{self.where}.path: {self.path}: {what} ({first_line(exc)})")

    @cached_property
    def keras_model(self) -> Any:
        """The loaded Keras model (keras and builtin sources only); raises SuiteError when it will not load."""
        import keras

        try:
            return keras.models.load_model(self.path, compile=False)
        except Exception as exc:  # noqa: BLE001 - Keras raises many kinds on a foreign or damaged file
            raise self._unusable("cannot load it as a Keras model", exc) from None

    def saved_model_dir(self) -> Path:
        """Return a SavedModel directory for the TensorFlow converters, exporting Keras once."""
        if self.kind == "savedmodel":
            return self.path
        export_dir = Path(self._workdir.name) / "saved_model"
        if not export_dir.exists():
            self.keras_model.export(str(export_dir), verbose=False)
        return export_dir

    @cached_property
    def _tflite_details(self) -> tuple[dict[str, Any], dict[str, Any]]:
        from ai_edge_litert.interpreter import Interpreter

        try:
            # The constructor verifies the flatbuffer. Tensors are not allocated on purpose: a model
            # with a custom op this runtime lacks is a valid model, and a failed row, not bad input.
            interpreter = Interpreter(model_path=str(self.path))
        except (ValueError, RuntimeError) as exc:
            raise self._unusable("not a loadable TFLite model", exc) from None
        return interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    @cached_property
    def _serving_signature(self) -> Any:
        import tensorflow as tf

        try:
            return tf.saved_model.load(str(self.path)).signatures["serving_default"]
        except Exception as exc:  # noqa: BLE001 - TensorFlow raises many kinds on a damaged SavedModel
            raise self._unusable("cannot load it as a SavedModel with a serving_default signature", exc) from None

    @cached_property
    def input_shape(self) -> tuple[int, ...]:
        """The per-sample input shape (batch dimension excluded); raises SuiteError for an unloadable model."""
        if self.kind == "tflite":
            return tuple(int(d) for d in self._tflite_details[0]["shape"][1:])
        if self.kind == "mlpackage":
            return tuple(self._dataset.inputs.shape[1:])
        if self.kind == "savedmodel":
            spec = next(iter(self._serving_signature.structured_input_signature[1].values()))
            return tuple(int(d) for d in spec.shape[1:])
        return tuple(int(d) for d in self.keras_model.inputs[0].shape[1:])

    @cached_property
    def output_size(self) -> int | None:
        """Values per sample in the (first) output, or None where it is not known before building."""
        if self.kind == "tflite":
            shape: Any = self._tflite_details[1]["shape"][1:]
        elif self.kind == "savedmodel":
            shape = next(iter(self._serving_signature.structured_outputs.values())).shape[1:]
        elif self.kind == "mlpackage":
            return None
        else:
            shape = self.keras_model.outputs[0].shape[1:]
        if any(d is None for d in shape):
            return None
        return int(np.prod([int(d) for d in shape]))

    @cached_property
    def dataset(self) -> Dataset:
        """The suite's dataset shaped for this model's input."""
        return self._dataset.fitted_to(self.input_shape)

    def data_sha256(self, need: str) -> str:
        """Hash of the data a recipe needs ("calibration-data", "training-data"); reshaping does not change it."""
        return self._dataset.train_sha256 if need == "training-data" else self._dataset.sha256

    def calibration_inputs(self) -> np.ndarray:
        """Representative inputs for calibrated recipes, shaped for this model."""
        return self.dataset.representative

    def calibration_feeds(self) -> Feeds:
        """Representative inputs keyed by the model's input names (single-input models for now)."""
        name = describe_tflite(self.path).inputs[0].name if self.kind == "tflite" else "input"
        return {name: self.calibration_inputs()}

